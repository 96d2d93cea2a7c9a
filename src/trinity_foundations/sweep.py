"""Many training runs in one compiled program: `jax.vmap` over hyper-parameters.

Runs that differ only in numbers — a learning rate, a warm-up length, a
clipping threshold, a weight decay, AdamW or SGD, even the batch size (as a
number of micro-batches averaged per update) — have the same shapes, so one
program can train them all side by side. The step is `training.train_step`,
unchanged: its hyper-parameters are numbers in the optimiser state, and
`jax.vmap` over a `training.Hyper` of (C,) leaves turns every matrix
multiply of one run into a batched one of C. The compile is paid once
instead of C times.

Every run sees the same batches in the same order, drawn from one key, so
the curves differ only by the hyper-parameters — unless a run's `order`
differs (other batches: the noise between two runs of one recipe) or its
`text` is shorter (windows from a prefix of the text: a small slice to
over-fit).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax

from trinity_foundations.language import sample_batch
from trinity_foundations.training import Hyper, StepAux, global_norm, init_state, train_step


class Run(NamedTuple):
    """One row of a sweep; each leaf () for one run or (C,) for C runs."""

    hyper: Hyper  # the optimiser's numbers
    text: jax.Array  # int32: training windows come from the first `text` tokens
    order: jax.Array  # int32: which batches; runs with equal `order` (and `text`) see the same


def stack(rows: list) -> Any:
    """C pytrees of () leaves as one pytree of (C,) leaves."""
    return jax.tree.map(lambda *leaves: jax.numpy.stack(leaves), *rows)


class SweepHistory(NamedTuple):
    """What a sweep records; leading axis C (runs)."""

    aux: StepAux  # loss, grad_norm, lr: each (C, S), one value per micro-batch
    train_eval: jax.Array  # (C, E) loss on fixed training windows after each chunk
    val_eval: jax.Array  # (C, E) loss on the fixed validation windows after each chunk
    param_norm: jax.Array  # (C, E) global L2 norm of the parameters after each chunk


@partial(jax.jit, static_argnames=("loss_fn", "steps", "batch", "context", "evals"))
def train_sweep(
    params: Any, runs: Run, key: jax.Array, tokens: jax.Array, val_windows: tuple, *,
    loss_fn: Callable, steps: int, batch: int, context: int, evals: int,
):  # fmt: skip
    """Train one model per row of `runs`, all in one compiled program.

    Each run starts from the same `params`; its `steps` micro-batches of
    (batch, context) run as `evals` chunks of a `lax.scan`, and after each
    chunk the model is scored on fixed windows: training ones drawn from the
    run's own `text` prefix, and `val_windows`. Every run sees the same
    number of tokens, steps · batch · context.

    Args:
      params: the initial model pytree (shared).
      runs: a Run of (C,) leaves.
      key: the sweep's key; tokens: (n,) int32 training text.
      val_windows: (x, y), each (W, T) int32.
      loss_fn: loss_fn(params, (x, y)) -> (); evals: E, must divide steps.

    Returns:
      (final TrainState with (C, ...) leaves, SweepHistory).
    """
    if steps % evals:
        raise ValueError(f"{evals} evaluations do not divide {steps} steps")
    k_steps, k_eval = jax.random.split(key)
    keys = jax.random.split(k_steps, steps).reshape(evals, steps // evals)
    n_windows = val_windows[0].shape[0]

    def one(run: Run):
        train_windows = sample_batch(k_eval, tokens, n_windows, context, run.text)  # (W, T) x2

        def step(state, step_key):
            step_key = jax.random.fold_in(step_key, run.order)
            xy = sample_batch(step_key, tokens, batch, context, run.text)  # (B, T) x2
            return train_step(state, xy, loss_fn=loss_fn)

        def chunk(state, chunk_keys):
            state, aux = jax.lax.scan(step, state, chunk_keys)  # aux leaves (S/E,)
            scores = (
                loss_fn(state.params, train_windows),
                loss_fn(state.params, val_windows),
                global_norm(state.params),
            )
            return state, (aux, scores)

        state, (aux, scores) = jax.lax.scan(chunk, init_state(params, run.hyper), keys)
        aux = jax.tree.map(lambda a: a.reshape(-1), aux)  # (S,) from (E, S/E)
        return state, SweepHistory(aux, *scores)

    return jax.vmap(one)(runs)
