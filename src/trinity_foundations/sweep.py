"""Many training runs in one compiled program: `vmap` over hyper-parameters.

Runs that differ only in numbers — a learning rate, a warm-up length, a
clipping threshold, a weight decay, even the choice between AdamW and SGD
— have the same shapes, so one program can train them all side by side:
`jax.vmap` over a `Hyper` whose leaves have a leading axis of C
configurations turns every matrix multiply of one run into a batched one
of C. The compile is paid once instead of C times, and the CPU or GPU works
on bigger arrays. `training.TrainConfig` keeps everything that fixes shapes
or program structure (steps, batch, context, Adam's betas) static; `Hyper`
carries the rest as traced arrays — even the batch size, as a number of
micro-batches accumulated per update (see `accumulation`).

The optimizer is `training.optimizer`'s recipe (clip, then AdamW or SGD with
decoupled decay of the weight matrices, on the warm-up + cosine schedule)
written with its hyper-parameters as arrays; at equal values it takes the
same steps (tests/test_dynamics.py checks it). Every configuration sees
the same batches in the same order, drawn from one key, so the curves
differ only by the hyper-parameters (and by `text`, which limits the
windows to a prefix of the training text: a small slice to over-fit).

References:
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (AdamW, 2019),
    https://arxiv.org/abs/1711.05101
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from trinity_foundations.training import StepAux, TrainConfig, decay_mask, global_norm


class Hyper(NamedTuple):
    """The hyper-parameters a sweep varies; each leaf () for one run or (C,) for C runs."""

    lr: jax.Array  # peak learning rate
    warmup: jax.Array  # steps of linear warm-up (0: none), as a float
    weight_decay: jax.Array  # decoupled decay of the weight matrices
    clip: jax.Array  # global-norm threshold (inf: no clipping)
    adam: jax.Array  # 1.0: AdamW; 0.0: plain SGD with the same schedule, clipping and decay
    text: jax.Array  # int32: training windows come from the first `text` tokens
    accumulate: jax.Array  # int32 k: micro-batches per update (the batch is k·config.batch)
    order: jax.Array  # int32: which batches; runs with equal `order` (and `text`) see the same


def hyper_of(config: TrainConfig, *, text: int, accumulate: int = 1, dtype=jnp.float32) -> Hyper:
    """The Hyper that trains as `training.optimizer(config)` does (exactly so for accumulate=1)."""
    f = partial(jnp.asarray, dtype=dtype)
    return Hyper(
        lr=f(config.lr),
        warmup=f(config.warmup),
        weight_decay=f(config.weight_decay),
        clip=f(config.clip if config.clip > 0 else jnp.inf),
        adam=f(1.0 if config.optimizer == "adamw" else 0.0),
        text=jnp.asarray(text, jnp.int32),
        accumulate=jnp.asarray(accumulate, jnp.int32),
        order=jnp.asarray(0, jnp.int32),
    )


def stack(hypers: list[Hyper]) -> Hyper:
    """C Hypers of () leaves as one Hyper of (C,) leaves."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *hypers)


def learning_rate(step: jax.Array, hyper: Hyper, *, config: TrainConfig) -> jax.Array:
    """`training.learning_rate` with the peak, the warm-up and the run's length as arrays.

    Update s of warm-up uses lr·(s+1)/warmup; the cosine then falls over the
    remaining updates to `config.final_lr_fraction` of the peak. A run of
    `config.steps` micro-batches taken `accumulate` at a time makes
    steps/accumulate updates: the schedule's length.

    Args:
      step: () updates so far; hyper: a Hyper of () leaves. Returns: () like hyper.lr.
    """
    s = jnp.asarray(step, hyper.lr.dtype)
    updates = config.steps / hyper.accumulate.astype(hyper.lr.dtype)
    warm = hyper.lr * (s + 1) / jnp.maximum(hyper.warmup, 1.0)
    decay_steps = jnp.maximum(updates - hyper.warmup, 1.0)
    t = jnp.clip((s - hyper.warmup) / decay_steps, 0.0, 1.0)
    floor = config.final_lr_fraction
    cosine = hyper.lr * (floor + (1 - floor) * 0.5 * (1 + jnp.cos(jnp.pi * t)))
    return jnp.where(s < hyper.warmup, warm, cosine)


def update(grads, opt_state, params, step, hyper: Hyper, *, config: TrainConfig):
    """One optimizer update: clip, Adam's direction or the gradient itself, decay, −lr·.

    Args:
      grads, params: pytrees of the same shapes; opt_state: Adam's moments
      (`optax.scale_by_adam`'s state, kept for SGD runs too, so every
      configuration has one state shape); step: () updates so far; hyper: () leaves.

    Returns:
      (updates to add to params, new opt_state, () learning rate used).
    """
    clipped, _ = optax.clip_by_global_norm(hyper.clip).update(grads, optax.EmptyState())
    # optax 0.2.8 raises a Python-float beta to an int32 count inside Adam, a
    # promotion strict mode refuses (as training.train_step notes).
    with jax.numpy_dtype_promotion("standard"):
        adam = optax.scale_by_adam(b1=config.b1, b2=config.b2)
        adam_dir, opt_state = adam.update(clipped, opt_state)
    direction = jax.tree.map(lambda a, g: jnp.where(hyper.adam > 0, a, g), adam_dir, clipped)
    decay = optax.add_decayed_weights(hyper.weight_decay, mask=decay_mask)
    direction, _ = decay.update(direction, decay.init(params), params)
    lr = learning_rate(step, hyper, config=config)
    updates = jax.tree.map(lambda d: (-lr * d).astype(d.dtype), direction)
    return updates, opt_state, lr


class SweepState(NamedTuple):
    """A run's state between micro-batches."""

    params: Any  # the model's pytree
    opt_state: Any  # Adam's moments
    step: jax.Array  # () int32 updates applied so far
    micro: jax.Array  # () int32 micro-batches since the last update
    grads: Any  # the sum of their gradients, shaped like params


def init_state(params: Any, *, config: TrainConfig) -> SweepState:
    """The state before the first micro-batch."""
    opt_state = optax.scale_by_adam(b1=config.b1, b2=config.b2).init(params)
    zero = jnp.zeros((), jnp.int32)
    return SweepState(params, opt_state, zero, zero, jax.tree.map(jnp.zeros_like, params))


def sweep_step(state: SweepState, batch: Any, *, config: TrainConfig, loss_fn: Callable, hyper):
    """One micro-batch: add its gradient to the sum; every `accumulate`-th, update.

    With accumulate = 1 this is `training.train_step` with `hyper`'s values.
    With k it is gradient accumulation: the mean of k micro-batch gradients
    is the gradient of their union (see `accumulation`), so every k-th
    micro-batch the run takes the step a batch k times larger would take.
    The update is computed at every micro-batch and kept only when due
    (`jnp.where`), so configurations with different k share one program.

    Args:
      state: SweepState; batch: whatever `loss_fn` reads, e.g. (x, y) of (B, T);
      hyper: a Hyper of () leaves.

    Returns:
      (new SweepState, StepAux: this micro-batch's loss and gradient norm, the lr).
    """
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    total = jax.tree.map(jnp.add, state.grads, grads)
    due = state.micro + 1 == hyper.accumulate
    mean = jax.tree.map(lambda g: g / hyper.accumulate.astype(g.dtype), total)
    updates, opt_state, lr = update(
        mean, state.opt_state, state.params, state.step, hyper, config=config
    )
    params = jax.tree.map(lambda p, u: jnp.where(due, p + u, p), state.params, updates)
    opt_state = jax.tree.map(lambda n, o: jnp.where(due, n, o), opt_state, state.opt_state)
    new = SweepState(
        params,
        opt_state,
        state.step + due.astype(jnp.int32),
        jnp.where(due, 0, state.micro + 1),
        jax.tree.map(lambda g: jnp.where(due, jnp.zeros_like(g), g), total),
    )
    return new, StepAux(loss, global_norm(grads), lr)


def sample_prefix(key: jax.Array, tokens: jax.Array, text: jax.Array, batch: int, context: int):
    """`language.sample_batch` over the first `text` tokens only (`text` may be traced).

    Args:
      key: a key; tokens: (n,) int32; text: () int, at most n; batch, context: B, T.

    Returns:
      x, y: (B, T) int32 windows and their next-token targets.
    """
    starts = jax.random.randint(key, (batch,), 0, text - context)  # (B,)
    offsets = jnp.arange(context + 1)  # (T+1,)
    windows = tokens[starts[:, None] + offsets[None, :]]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)


class SweepHistory(NamedTuple):
    """What a sweep records; leading axis C (configurations)."""

    aux: StepAux  # loss, grad_norm, lr: each (C, S), one value per micro-batch
    train_eval: jax.Array  # (C, E) loss on fixed training windows after each chunk
    val_eval: jax.Array  # (C, E) loss on the fixed validation windows after each chunk
    param_norm: jax.Array  # (C, E) global L2 norm of the parameters after each chunk


@partial(jax.jit, static_argnames=("config", "loss_fn", "evals"))
def train_sweep(
    params: Any,
    hypers: Hyper,
    key: jax.Array,
    tokens: jax.Array,
    val_windows: tuple,
    *,
    config: TrainConfig,
    loss_fn: Callable,
    evals: int,
):
    """Train one model per configuration of `hypers`, all in one compiled program.

    Each configuration starts from the same `params` and sees the same batch
    keys (so the same windows, unless its `text` prefix or `order` differs); its
    `config.steps` micro-batches run as `evals` chunks of a `lax.scan`, and
    after each chunk the model is scored on fixed windows: training ones
    drawn from the configuration's own `text` prefix with a key of their
    own, and `val_windows`. Every configuration sees the same number of
    tokens, config.steps · config.batch · config.context.

    Args:
      params: the initial model pytree (shared).
      hypers: a Hyper of (C,) leaves.
      key: the run's key; tokens: (n,) int32 training text.
      val_windows: (x, y), each (W, T) int32.
      config: static shapes and run length; loss_fn: loss_fn(params, (x, y)) -> ().
      evals: E, the number of chunks; must divide config.steps.

    Returns:
      (final SweepState with (C, ...) leaves, SweepHistory).
    """
    if config.steps % evals:
        raise ValueError(f"{evals} evaluations do not divide {config.steps} steps")
    k_steps, k_eval = jax.random.split(key)
    keys = jax.random.split(k_steps, config.steps).reshape(evals, config.steps // evals)
    n_windows = val_windows[0].shape[0]

    def one(hyper: Hyper):
        train_windows = sample_prefix(k_eval, tokens, hyper.text, n_windows, config.context)

        def step(state, step_key):
            step_key = jax.random.fold_in(step_key, hyper.order)
            batch = sample_prefix(step_key, tokens, hyper.text, config.batch, config.context)
            return sweep_step(state, batch, config=config, loss_fn=loss_fn, hyper=hyper)

        def chunk(state, chunk_keys):
            state, aux = jax.lax.scan(step, state, chunk_keys)  # aux leaves (S/E,)
            scores = (
                loss_fn(state.params, train_windows),
                loss_fn(state.params, val_windows),
                global_norm(state.params),
            )
            return state, (aux, scores)

        start = init_state(params, config=config)
        state, (aux, scores) = jax.lax.scan(chunk, start, keys)  # aux (E, S/E), scores (E,)
        aux = jax.tree.map(lambda a: a.reshape(-1), aux)  # (S,)
        return state, SweepHistory(aux, *scores)

    return jax.vmap(one)(hypers)
