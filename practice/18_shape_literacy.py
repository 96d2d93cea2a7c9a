"""Practice for Lesson 18 — shapes before numbers.

Write split_heads, merge_heads, head_scores: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=18
    python -m trinity_foundations.practice 18 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/18_shape_literacy.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def split_heads(x, n_heads):
    """Split the model width into H heads side by side.

    Args:
      x: (B, T, d) float32, d divisible by n_heads.
      n_heads: H.
    Returns:
      (B, H, T, d_h) float32 with d_h = d / H; head h holds the columns
      h·d_h … (h + 1)·d_h − 1 of every token.
    """
    raise NotImplementedError


def merge_heads(x):
    """Put the heads back side by side: the inverse of split_heads.

    Args:
      x: (B, H, T, d_h) float32.
    Returns:
      (B, T, H·d_h) float32; merge_heads(split_heads(x, H)) == x.
    """
    raise NotImplementedError


def head_scores(q, k):
    """The attention scores of every head, scaled: q kᵀ / sqrt(d_h) per (batch, head).

    Args:
      q, k: (B, H, T, d_h) float32 queries and keys.
    Returns:
      (B, H, T, T) float32; entry [b, h, i, j] = q[b, h, i] · k[b, h, j] / sqrt(d_h).
    """
    raise NotImplementedError
