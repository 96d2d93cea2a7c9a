"""Practice for Lesson 14 — Mini-TRINITY: a governed routing loop with receipts.

Write trinity_route, warp: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=14
    python -m trinity_foundations.practice 14 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/14_mini_trinity.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def trinity_route(task, routing):
    """Score a task against each expert and pick the best.

    Args:
      task: (2,) float32 task vector.
      routing: (E, 2) float32 routing matrix, one row per expert.
    Returns:
      (probs, chosen): probs (E,) float32 = softmax(task @ routing.T), stable
      for large scores; chosen () int, the index of the largest score.
    """
    raise NotImplementedError


def warp(task, expert):
    """Move a rejected task away from the expert that failed it.

    Expert 0 failed: x − 2.5. Expert 1 failed: y − 2.5. Expert 2 (a
    timeout): the task is reset to (−0.5, 2.0), wherever it was.

    Args:
      task: (2,) float32 task vector.
      expert: () int32 index of the expert that failed (a traced value under
        jax.jit: choose with jnp.where or indexing, not with a Python if).
    Returns:
      (2,) float32, the warped task.
    """
    raise NotImplementedError
