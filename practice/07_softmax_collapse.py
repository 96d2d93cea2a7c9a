"""Practice for Lesson 07 — why attention divides its scores by sqrt(d_k).

Write softmax_jacobian, entropy: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=07
    python -m trinity_foundations.practice 07 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/07_softmax_collapse.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def softmax_jacobian(s):
    """The Jacobian ∂s/∂x of s = softmax(x), from s alone: diag(s) − s sᵀ.

    Args:
      s: (n,) float32 probabilities (a softmax output).
    Returns:
      (n, n) float32, symmetric, every row summing to zero.
    """
    raise NotImplementedError


def entropy(p):
    """The Shannon entropy −Σ p log p in nats along the last axis.

    0·log 0 counts as 0, so a one-hot distribution has entropy 0 (not NaN).

    Args:
      p: (..., n) float32 probability vectors.
    Returns:
      (...) float32.
    """
    raise NotImplementedError
