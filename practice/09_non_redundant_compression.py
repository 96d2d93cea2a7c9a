"""Practice for Lesson 09 — compressing a matrix with no redundancy: Eckart–Young.

Write eckart_young_error, energy_share, numerical_rank: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=09
    python -m trinity_foundations.practice 09 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/09_non_redundant_compression.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401
import numpy as np  # noqa: F401


def eckart_young_error(s, rank):
    """The Frobenius error of the best rank-`rank` approximation, from s alone.

    Args:
      s: (k,) float32 singular values, largest first.
      rank: how many are kept, 0 <= rank <= k.
    Returns:
      () float32, sqrt(s[rank]² + … + s[k−1]²).
    """
    raise NotImplementedError


def energy_share(s):
    """The energy share of each singular value, s_i² / Σ s².

    Σ s² is ‖W‖_F², so the share left out by a truncation is its squared
    relative error. (s_i / Σ s has no such meaning.)

    Args:
      s: (k,) float32 singular values, not all zero.
    Returns:
      (k,) float32 summing to 1.
    """
    raise NotImplementedError


def numerical_rank(s, shape):
    """The numerical rank of an (m, n) matrix from its singular values.

    In floating point a rank-deficient matrix has tiny, not zero, trailing
    singular values. Count those above s₁ · max(m, n) · ε, with ε the machine
    epsilon of s's dtype (np.finfo(s.dtype).eps): NumPy's matrix_rank rule.

    Args:
      s: (k,) float32 NumPy array of singular values, largest first.
      shape: (m, n), the matrix's shape.
    Returns:
      an int.
    """
    raise NotImplementedError
