"""Practice for Lesson 04c — what jax.grad computes.

Write logistic_gradient, central_difference: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=04c
    python -m trinity_foundations.practice 04c NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/04c_gradients.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def logistic_gradient(theta, x, y):
    """The gradient ∂L/∂θ of the one-point logistic loss, by the chain rule (no jax.grad).

    u = w·x, z = u + b, p = σ(z), L = −y log p − (1 − y) log(1 − p),
    with θ = (w₁, w₂, b). Walk back from ∂L/∂L = 1: ∂L/∂p, then ∂L/∂z
    (times σ'(z) = p(1 − p)), then ∂L/∂w = ∂L/∂z · x and ∂L/∂b = ∂L/∂z.

    Args:
      theta: (3,) float32 (w₁, w₂, b).
      x: (2,) float32 the input.
      y: () float32 the label, 0.0 or 1.0.
    Returns:
      (3,) float32, equal to jax.grad(loss)(theta, x, y).
    """
    raise NotImplementedError


def central_difference(f, theta, h):
    """The central finite-difference estimate of the gradient of f at theta.

    Coordinate i: (f(θ + h eᵢ) − f(θ − h eᵢ)) / 2h, where eᵢ is the i-th unit
    vector. Its error is O(h²) (the one-sided form is only O(h)).

    Args:
      f: a scalar function of a (P,) float32 array.
      theta: (P,) float32.
      h: () float32 the step.
    Returns:
      (P,) float32.
    """
    raise NotImplementedError
