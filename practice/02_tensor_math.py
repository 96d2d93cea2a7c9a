"""Practice for Lesson 02 — arrays on a device: NumPy, transfer, dispatch, jax.jit.

Write to_device, multiply: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=02
    python -m trinity_foundations.practice 02 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/02_tensor_math.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def to_device(values):
    """A list of Python floats as a jax.Array of dtype float32.

    Args:
      values: a list of N floats.
    Returns:
      (N,) float32 jax.Array with the same numbers (rounded to float32).
    """
    raise NotImplementedError


def multiply(a, b):
    """The element-wise product of two float32 arrays, without a Python loop.

    Args:
      a, b: (N,) float32 jax.Arrays.
    Returns:
      (N,) float32, a * b. Checked with a time budget: 10**5 elements in
      a quarter of a second, which no Python loop meets.
    """
    raise NotImplementedError
