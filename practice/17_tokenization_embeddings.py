"""Practice for Lesson 17 — tokens, embeddings and positions.

Write merge, rope, pair_counts: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=17
    python -m trinity_foundations.practice 17 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/17_tokenization_embeddings.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def merge(ids, pair, new_id):
    """Replace every occurrence of `pair` in `ids` by `new_id`, left to right.

    Occurrences do not overlap: merging (1, 1) in [1, 1, 1] gives [new, 1].
    Linear time: checked on 200,000 ids with a budget.

    Args:
      ids: list[int].
      pair: a tuple (a, b) of ints.
      new_id: an int.
    Returns:
      a new list[int]; ids is left unchanged.
    """
    raise NotImplementedError


def rope(x, positions, base=10000.0):
    """Rotary position embedding: rotate each pair (x[2i], x[2i+1]) of row t
    by the angle positions[t] · ω_i, with ω_i = base^(−2i/d).

    Args:
      x: (T, d) float32 queries or keys, d even.
      positions: (T,) int32 position of each row.
      base: the frequency base.
    Returns:
      (T, d) float32; every row keeps its norm, and rope(q, m)·rope(k, n)
      depends only on m − n.
    """
    raise NotImplementedError


def pair_counts(ids):
    """Count every adjacent pair of ids (overlapping occurrences all count).

    Args:
      ids: list[int].
    Returns:
      dict mapping (a, b) to how often b directly follows a.
    """
    raise NotImplementedError
