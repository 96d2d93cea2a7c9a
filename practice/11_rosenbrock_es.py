"""Practice for Lesson 11 — the curved valley: ES and sep-CMA-ES on Rosenbrock.

Write rosenbrock, best_indices: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=11
    python -m trinity_foundations.practice 11 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/11_rosenbrock_es.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def rosenbrock(x):
    """The n-dimensional Rosenbrock function along the last axis.

    Σ_i 100 (x_{i+1} − x_i²)² + (1 − x_i)² for i = 0 … D − 2; 0 at (1, …, 1).

    Args:
      x: (..., D) float32 points, D >= 2.
    Returns:
      (...) float32.
    """
    raise NotImplementedError


def best_indices(losses, mu):
    """The indices of the μ smallest losses, the smallest first.

    Args:
      losses: (λ,) float32, all different.
      mu: an int, 1 <= mu <= λ.
    Returns:
      (μ,) int indices into losses.
    """
    raise NotImplementedError
