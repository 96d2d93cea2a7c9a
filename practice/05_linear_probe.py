"""Practice for Lesson 05 — a linear probe: logistic regression fit with jax.grad.

Write wilson_interval, binary_cross_entropy, accuracy: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=05
    python -m trinity_foundations.practice 05 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/05_linear_probe.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def wilson_interval(successes, n, z=1.96):
    """The Wilson score interval for a proportion measured as successes / n.

    centre = (p̂ + z²/2n) / (1 + z²/n),
    half   = z·sqrt(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n),  with p̂ = successes / n.

    Args:
      successes: an int k, 0 <= k <= n.
      n: an int > 0.
      z: the normal quantile (1.96 for 95 %).
    Returns:
      (low, high) as Python floats, both in [0, 1].
    """
    raise NotImplementedError


def binary_cross_entropy(z, y):
    """The mean binary cross-entropy of labels y under p = sigmoid(z), in nats.

    −mean(y·log p + (1 − y)·log(1 − p)), computed from the logits so that it
    stays finite for |z| in the hundreds (sigmoid rounds to 0 or 1 there).

    Args:
      z: (n,) float32 logits.
      y: (n,) float32 labels, 0.0 or 1.0.
    Returns:
      () float32.
    """
    raise NotImplementedError


def accuracy(w, b, x, y):
    """The fraction of points the linear probe classifies correctly.

    The probe predicts class 1 when p = sigmoid(x·w + b) > 0.5, that is when
    the logit x·w + b > 0.

    Args:
      w: (D,) float32 weights; b: () float32 bias.
      x: (n, D) float32 points; y: (n,) float32 labels, 0.0 or 1.0.
    Returns:
      () float32 in [0, 1].
    """
    raise NotImplementedError
