"""Practice for Lesson 04a — random high-dimensional vectors are nearly orthogonal.

Write random_unit_vectors, pair_dots: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=04a
    python -m trinity_foundations.practice 04a NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/04a_quasi_orthogonality.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def random_unit_vectors(key, *, n, dim):
    """n directions drawn uniformly from the unit sphere in R^dim.

    Args:
      key: a jax.random key.
      n, dim: how many vectors, and their dimension.
    Returns:
      (n, dim) float32, every row of norm 1, no direction preferred (the
      mean of many rows is near the origin). The same key gives the same rows.
    """
    raise NotImplementedError


def pair_dots(u, v):
    """The dot product of each row of u with the same row of v.

    Args:
      u, v: (P, D) float32, P pairs of D-dimensional vectors.
    Returns:
      (P,) float32, entry i = u[i] · v[i]. Not u @ v.T, which is (P, P).
    """
    raise NotImplementedError
