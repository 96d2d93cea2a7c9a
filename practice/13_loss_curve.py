"""Practice for Lesson 13 — the load-balancing penalty in five routing scenarios.

Write aux_loss, scenario_loss: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=13
    python -m trinity_foundations.practice 13 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/13_loss_curve.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def aux_loss(f, p):
    """E · Σ_i f_i P_i along the last axis, E = f.shape[-1].

    Args:
      f: (..., E) float32 token fractions per expert.
      p: (..., E) float32 mean router probabilities per expert.
    Returns:
      (...) float32.
    """
    raise NotImplementedError


def scenario_loss(p):
    """The lesson's scenarios, where the token shares equal the probabilities:
    L = E · Σ P_i².

    Args:
      p: (E,) float32 probabilities summing to 1.
    Returns:
      () float32 in [1, E].
    """
    raise NotImplementedError
