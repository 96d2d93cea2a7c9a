"""Practice for Lesson 04b — Hoeffding's bound against exact and measured tails.

Write hoeffding_bound, tail_share: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=04b
    python -m trinity_foundations.practice 04b NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/04b_hoeffding_bound.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def hoeffding_bound(dim, epsilon):
    """The bound P(|u·v| > ε) ≤ 2·exp(−D·ε²/2) for random unit vectors in R^D.

    Args:
      dim: () or (k,) dimensions D (float32 or int).
      epsilon: () or (k,) thresholds in (0, 1).
    Returns:
      the bound, of the broadcast shape (it may exceed 1: then it is vacuous).
    """
    raise NotImplementedError


def tail_share(dots, epsilon):
    """The share of the dot products further than ε from zero, on either side.

    Args:
      dots: (P,) float32 dot products of P pairs.
      epsilon: a float threshold > 0.
    Returns:
      () float32 in [0, 1], the fraction of |dots| > ε (strictly).
    """
    raise NotImplementedError
