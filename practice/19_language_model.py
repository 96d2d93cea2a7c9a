"""Practice for Lesson 19 — a tiny GPT, trained on Macbeth.

Write learning_rate, global_norm, clip_by_global_norm: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=19
    python -m trinity_foundations.practice 19 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/19_language_model.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def learning_rate(step, *, peak, warmup, total, final_fraction):
    """The learning rate of update `step` (0-based): a linear warm-up, then half a cosine.

    During warm-up (step < warmup) update s uses peak·(s + 1)/warmup: the first
    update is small but not zero, update warmup − 1 uses peak. After it,
    with t = (step − warmup)/(total − warmup) clipped to [0, 1]:
    peak·(final_fraction + (1 − final_fraction)·(1 + cos(π t))/2),
    from peak down to final_fraction·peak at step = total.

    Args:
      step: () int32, possibly a traced value (use jnp.where, not if).
      peak: float32 the largest rate.
      warmup: int >= 1, the warm-up updates.
      total: int > warmup, all the updates.
      final_fraction: the rate at the end, as a fraction of peak.
    Returns:
      () float32.
    """
    raise NotImplementedError


def global_norm(tree):
    """The L2 norm of a whole pytree: sqrt of the sum of every squared entry of every leaf.

    Args:
      tree: a dict (or any pytree) of float32 arrays.
    Returns:
      () float32.
    """
    raise NotImplementedError


def clip_by_global_norm(grads, max_norm):
    """Scale the whole gradient tree by min(1, max_norm / global_norm(grads)).

    Args:
      grads: a dict of float32 arrays.
      max_norm: a float > 0.
    Returns:
      a dict of the same structure; its global norm is min(‖grads‖, max_norm),
      its direction unchanged.
    """
    raise NotImplementedError
