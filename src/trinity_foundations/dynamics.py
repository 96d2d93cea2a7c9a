"""Reading loss curves: divergence, spikes, and where train and validation part.

A training run is judged by its curves, and three shapes recur. A run
*diverges* when its loss leaves the range it started in and never comes back
(or stops being a number at all: once a parameter is NaN every later loss
is). A run *spikes* when the loss jumps well above the best it had reached,
then comes down again. A run *over-fits* when the training loss keeps
falling while the validation loss, after a minimum, climbs: the step of
that minimum is where the two curves part.

Each test here is a short pure function of the curves (arrays of shape
(S,), one value per step or per evaluation), written with `jax.numpy` so it
runs on the host or inside a compiled, vmapped training program alike.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


@partial(jax.jit, static_argnames="window")
def divergence_step(losses: jax.Array, limit: jax.Array, *, window: int) -> jax.Array:
    """The step from which a run has diverged, or -1 if it has not.

    A step is bad when its loss is not finite or exceeds `limit` (the loss
    the run started from is the natural limit: a run that ends worse than it
    began has learnt nothing). A run has diverged at step s when every step
    from s to the end is bad and that stretch lasts at least `window` steps,
    or the last loss is not a number at all (NaN or inf never recover).
    A short excursion above the limit that comes back down is a spike, not a
    divergence (see `largest_spike`).

    Args:
      losses: (S,) the loss at each step.
      limit: () the highest loss a healthy run may keep.
      window: the shortest bad stretch, at the end of the run, that counts.

    Returns:
      () int32: the first step (0-based) of the final bad stretch, or -1.
    """
    bad = ~jnp.isfinite(losses) | (losses > limit)  # (S,)
    to_the_end = jnp.flip(jnp.cumprod(jnp.flip(bad).astype(jnp.int32))) > 0  # (S,) bad from here on
    start = jnp.argmax(to_the_end).astype(jnp.int32)  # first True (0 if none: checked below)
    length = jnp.sum(to_the_end)  # steps in the final bad stretch
    diverged = (length >= window) | ~jnp.isfinite(losses[-1])
    return jnp.where(diverged & (length > 0), start, -1)


@jax.jit
def largest_spike(losses: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The largest rise of the loss above the best value reached before it.

    rise_t = loss_t − min_{s<t} loss_s. A smooth run has rises near zero
    (mini-batch noise); a spike is a rise of a good fraction of the loss;
    a non-finite loss is an infinite rise.

    Args:
      losses: (S,) the loss at each step.

    Returns:
      (rise, step): () the largest rise (0 for a run that never rose) and
      () int32 the step where it happened.
    """
    best_before = jax.lax.cummin(losses)  # (S,) running minimum, including step t
    best_before = jnp.concatenate([losses[:1], best_before[:-1]])  # (S,) minimum before t
    rise = jnp.where(jnp.isfinite(losses), losses - best_before, jnp.inf)  # (S,)
    step = jnp.argmax(rise).astype(jnp.int32)
    return jnp.maximum(rise[step], 0.0), step


@jax.jit
def parting_point(train: jax.Array, val: jax.Array, tolerance: jax.Array) -> jax.Array:
    """The evaluation where train and validation part, or -1 if they never do.

    Over-fitting shows as the validation loss reaching a minimum and then
    rising while the training loss goes on falling. The parting point is the
    minimum of the validation curve, reported only when, by the end of the
    run, validation has risen more than `tolerance` above it and training
    has fallen below where it was there; otherwise the curves still go
    together (or both got worse, which is a different illness).

    Args:
      train: (E,) training loss at each evaluation (measured on fixed
        windows, so that mini-batch noise does not move it).
      val: (E,) validation loss at the same evaluations.
      tolerance: () how far validation must rise to count, in nats.

    Returns:
      () int32: the index of the evaluation where they part, or -1.
    """
    best = jnp.argmin(jnp.where(jnp.isfinite(val), val, jnp.inf)).astype(jnp.int32)
    rose = val[-1] - val[best] > tolerance
    fell = train[-1] < train[best]
    return jnp.where(rose & fell, best, -1)
