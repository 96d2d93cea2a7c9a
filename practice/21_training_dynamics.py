"""Practice for Lesson 21 — training dynamics: how training goes right and wrong.

Write largest_spike, divergence_step: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=21
    python -m trinity_foundations.practice 21 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/21_training_dynamics.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def largest_spike(losses):
    """The largest rise of the loss above the best value reached before it.

    rise_t = loss_t − min_{s<t} loss_s for t >= 1 (rise_0 = 0); an inf loss
    is an infinite rise.

    Args:
      losses: (S,) float32, S >= 1.
    Returns:
      (rise, step): () float32 the largest rise, clipped at 0 (a run that
      only fell has rise 0), and () int32 the step where it happened
      (the first such step).
    """
    raise NotImplementedError


def divergence_step(losses, limit, window):
    """The first step of a final bad stretch, or −1 when the run has not diverged.

    A step is bad when its loss is not finite or exceeds `limit`. The run has
    diverged at step s when every step from s to the end is bad and that
    stretch is at least `window` long, or when the last loss is NaN or inf.

    Args:
      losses: (S,) float32.
      limit: a float, the highest loss a healthy run may keep.
      window: an int >= 1.
    Returns:
      () int32, s or −1.
    """
    raise NotImplementedError
