"""Practice for Lesson 03 — what jax.jit does: trace, lower, compile, fuse.

Write square_add, count_primitives: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=03
    python -m trinity_foundations.practice 03 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/03_compiler.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def square_add(a, b):
    """a**2 + b element-wise: the function the lesson traces and compiles.

    Args:
      a, b: (N,) float32 arrays.
    Returns:
      (N,) float32. It must work under jax.jit and be differentiable.
    """
    raise NotImplementedError


def count_primitives(fn, *args):
    """The number of primitive operations in the jaxpr that jax traces fn(*args) into.

    jax.make_jaxpr(fn)(*args) shows what jax.jit sees: a list of equations,
    one per primitive (mul, add, integer_pow, ...).

    Args:
      fn: a function of arrays.
      args: example arguments (their shapes and dtypes matter, not values).
    Returns:
      an int, the number of equations at the top level of the jaxpr.
    """
    raise NotImplementedError
