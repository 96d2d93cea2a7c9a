"""Practice for Lesson 10 — evolution strategy vs gradient descent on a noisy bowl.

Write log_rank_weights, recombine: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=10
    python -m trinity_foundations.practice 10 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/10_evolution_strategy.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def log_rank_weights(mu):
    """Recombination weights w_i ∝ ln(μ + 1/2) − ln(i) for ranks i = 1 … μ, summing to 1.

    Args:
      mu: an int >= 1, how many of the best points are recombined.
    Returns:
      (μ,) float32, positive, decreasing, summing to 1.
    """
    raise NotImplementedError


def recombine(points, losses, weights):
    """The new mean of an evolution strategy: the weighted mean of the μ best points.

    Args:
      points: (λ, D) float32 evaluated points.
      losses: (λ,) float32 their losses (lower is better).
      weights: (μ,) float32 weights, best first (μ = len(weights) <= λ).
    Returns:
      (D,) float32, Σ_i weights[i] · (the point with the i-th smallest loss).
    """
    raise NotImplementedError
