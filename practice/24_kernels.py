"""Practice for Lesson 24 — kernels written by hand: softmax, tiles, Pallas.

Write merge_stats, softmax_online: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=24
    python -m trinity_foundations.practice 24 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/24_kernels.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def merge_stats(m_a, s_a, m_b, s_b):
    """Merge two running softmax statistics into the statistics of both parts.

    A part's statistics are its maximum m and its sum s = Σ exp(x − m). The
    merged maximum is max(m_a, m_b); each sum is rescaled to it by
    exp(m − m_new) before adding. A part with nothing in it yet has m = −inf
    and s = 0, and must leave the other part unchanged (no NaN).

    Args:
      m_a, s_a, m_b, s_b: float32 arrays of one shape (one entry per row).
    Returns:
      (m, s): the merged maximum and sum, that shape.
    """
    raise NotImplementedError


def softmax_online(x):
    """Softmax along the last axis, reading the row once for its statistics.

    Walk the columns (jax.lax.scan over x moved to put the last axis first),
    keeping per row a running maximum m and a running sum s of exp(x − m):
    when a column raises the maximum, rescale s by exp(m_old − m_new). Then
    return exp(x − m) / s.

    Args:
      x: (..., n) float32 logits, finite or −inf (at least one finite per row).
    Returns:
      (..., n) probabilities; stable for logits as large as ±1e4.
    """
    raise NotImplementedError
