"""Practice for Lesson 04 — cosine similarity: the angle between two vectors.

Write cosine_similarity, normalize: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=04
    python -m trinity_foundations.practice 04 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/04_dot_product.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def cosine_similarity(a, b):
    """The cosine of the angle between a and b: a·b / (‖a‖ ‖b‖).

    Args:
      a, b: (d,) float32 vectors.
    Returns:
      () float32 in [-1, 1]; 0.0 (not NaN) when either vector is zero.
    """
    raise NotImplementedError


def normalize(v):
    """v scaled to unit length, v / ‖v‖; the zero vector stays zero (no NaN).

    Args:
      v: (d,) float32.
    Returns:
      (d,) float32 of norm 1, or all zeros when v is zero.
    """
    raise NotImplementedError
