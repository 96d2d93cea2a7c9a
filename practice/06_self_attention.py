"""Practice for Lesson 06 — one self-attention head, forward and one training step.

Write softmax, attention: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=06
    python -m trinity_foundations.practice 06 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/06_self_attention.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along `axis`, stable for logits as large as ±1e4.

    Args:
      x: float32 array of any shape.
      axis: the axis along which the result sums to 1.
    Returns:
      probabilities, the shape of x; finite even for x = [1e4, 0].
    """
    raise NotImplementedError


def attention(q, k, v, *, causal=False):
    """Scaled dot-product attention: softmax(q kᵀ / √d) v, one row per query.

    Args:
      q, k, v: (T, d) float32 queries, keys and values.
      causal: when True, query i may look only at keys j <= i (set the
        other scores to −inf, or a very negative number, before the softmax).
    Returns:
      (T, d) float32; row i is a weighted mean of the rows of v.
    """
    raise NotImplementedError
