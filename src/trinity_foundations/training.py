"""Training a model with optax: AdamW, warmup + cosine, clipping, a compiled loop.

The recipe every small GPT uses. The learning rate climbs linearly from
near zero for `warmup` steps (Adam's second-moment estimates start from a
handful of gradients and would otherwise make the first steps wild), then
falls along half a cosine to `final_lr_fraction` of its peak. Before each
update the whole gradient is rescaled when its global L2 norm exceeds `clip`,
so one bad batch cannot throw the weights far. AdamW decays the weight
matrices (not gains, biases or positions' one-dimensional leaves) towards
zero, decoupled from the gradient.

There is one optimiser and one step. The optimiser is that recipe as one
optax chain whose numbers (peak rate, warm-up, run length, final fraction,
decay, clipping threshold, Adam's betas, AdamW or SGD, micro-batches per
update) are injected into its state with `optax.inject_hyperparams`: they
are traced values, so a run with another learning rate reuses the compiled
program, and `jax.vmap` over a table of them trains many runs in one
program (`sweep`). Only shapes are static.

The loop is written against any `loss_fn(params, batch) -> scalar`: a step
is `train_step(state, batch, *, loss_fn) -> (state, aux)`, a chunk of
steps is one `lax.scan` (one compiled program; batches drawn inside it from a
key), and `fit` runs the chunks from Python, evaluating after each, keeping
the parameters with the best validation loss, and returns
`(final_state, history)`. `loss_fn` must be hashable by value (a NamedTuple
with `__call__`, such as `LMLoss`, or a module-level function) so that the
same shapes never compile twice.

References:
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (AdamW, 2019),
    https://arxiv.org/abs/1711.05101
    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts"
    (cosine schedule, 2017), https://arxiv.org/abs/1608.03983
    Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural
    networks" (gradient clipping, 2013), https://arxiv.org/abs/1211.5063
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from trinity_foundations.language import cross_entropy, sample_batch
from trinity_foundations.transformer import GPTConfig, gpt_forward


class TrainConfig(NamedTuple):
    """A training run as the command line gives it (saved as JSON beside a checkpoint).

    Only `batch`, `context` and `steps` shape the compiled program; every
    other field becomes a run-time number in the optimiser's state (see
    `Hyper`), so a run with another learning rate reuses the same program.
    """

    steps: int = 600  # micro-batches in the whole run (updates, when accumulate is 1)
    batch: int = 32  # windows per micro-batch
    context: int = 64  # characters per window
    lr: float = 3e-3  # peak learning rate
    warmup: int = 50  # updates of linear warm-up (0: none)
    final_lr_fraction: float = 0.1  # the cosine ends at lr * this
    weight_decay: float = 0.1  # decoupled decay of the weight matrices
    clip: float = 1.0  # global-norm clipping threshold (0: no clipping)
    b1: float = 0.9
    b2: float = 0.99
    optimizer: str = "adamw"  # "adamw" or "sgd" (plain SGD, same schedule, clipping, decay)


class Hyper(NamedTuple):
    """The optimiser's hyper-parameters as numbers: each leaf () for one run, (C,) for C.

    They live in the optimiser state (`optax.inject_hyperparams`), so they are
    traced values: changing one never recompiles, and `jax.vmap` over a Hyper
    of (C,) leaves trains C runs in one program.
    """

    peak: jax.Array  # peak learning rate
    warmup: jax.Array  # updates of linear warm-up (0: none)
    total: jax.Array  # updates in the run: the schedule's length
    final_fraction: jax.Array  # the cosine ends at peak * this
    weight_decay: jax.Array  # decoupled decay of the weight matrices
    clip: jax.Array  # global-norm threshold (inf: no clipping)
    b1: jax.Array  # Adam's first-moment decay
    b2: jax.Array  # Adam's second-moment decay
    adam: jax.Array  # 1.0: AdamW; 0.0: SGD (the gradient itself is the direction)
    accumulate: jax.Array  # int32 k: micro-batches averaged into one update


def hyper_of(config: TrainConfig, *, accumulate: int = 1, dtype=jnp.float32) -> Hyper:
    """The Hyper of a TrainConfig, for micro-batches taken `accumulate` at a time.

    `config.steps` micro-batches make steps / accumulate updates: the schedule's length.
    """
    f = functools.partial(jnp.asarray, dtype=dtype)
    if config.optimizer not in ("adamw", "sgd"):
        raise ValueError(f"unknown optimizer {config.optimizer!r}: 'adamw' or 'sgd'")
    return Hyper(
        peak=f(config.lr),
        warmup=f(config.warmup),
        total=f(config.steps / accumulate),
        final_fraction=f(config.final_lr_fraction),
        weight_decay=f(config.weight_decay),
        clip=f(config.clip if config.clip > 0 else jnp.inf),
        b1=f(config.b1),
        b2=f(config.b2),
        adam=f(1.0 if config.optimizer == "adamw" else 0.0),
        accumulate=jnp.asarray(accumulate, jnp.int32),
    )


class TrainState(NamedTuple):
    params: Any  # the model's pytree
    opt_state: Any  # optax's state, with the Hyper numbers inside
    step: jax.Array  # () int32: micro-batches seen so far


class StepAux(NamedTuple):
    loss: jax.Array  # () the batch loss before the update
    grad_norm: jax.Array  # () global L2 norm of the gradient, before clipping
    lr: jax.Array  # () the learning rate of the update this micro-batch joins


def learning_rate(step, *, peak, warmup, total, final_fraction) -> jax.Array:
    """Linear warm-up to `peak` over `warmup` updates, then half a cosine to final_fraction·peak.

    Update s (0-based) of warm-up uses peak·(s+1)/warmup, so the first
    update is small but not zero; the cosine spans the remaining updates.
    Every argument may be a traced array.

    Args:
        step: () integer, the update being taken.
    Returns:
        () in the dtype of `peak`.
    """
    peak = jnp.asarray(peak)
    s, warmup, total = (jnp.asarray(v).astype(peak.dtype) for v in (step, warmup, total))
    warm = peak * (s + 1) / jnp.maximum(warmup, 1.0)
    t = jnp.clip((s - warmup) / jnp.maximum(total - warmup, 1.0), 0.0, 1.0)
    cosine = peak * (final_fraction + (1 - final_fraction) * 0.5 * (1 + jnp.cos(jnp.pi * t)))
    return jnp.where(s < warmup, warm, cosine)


def decay_mask(params: Any) -> Any:
    """True for weight matrices: leaves with two or more axes besides a stacked layer axis.

    Leaves under "blocks" carry a leading layer axis (L, ...), so a LayerNorm
    gain there is (L, d): one axis of its own, not decayed. The position
    table (T, d) is left alone too: decay would pull unseen positions to zero.
    """

    def is_matrix(path, leaf) -> bool:
        names = [getattr(k, "key", getattr(k, "name", None)) for k in path]
        own_axes = leaf.ndim - (1 if "blocks" in names else 0)
        return own_axes >= 2 and "pos" not in names

    return jax.tree_util.tree_map_with_path(is_matrix, params)


def adam_or_sgd(adam, b1, b2) -> optax.GradientTransformation:
    """Adam's direction where `adam` is 1, the gradient itself where it is 0.

    Adam's moments are kept either way, so SGD and AdamW runs have one state
    shape and can share a vmapped program.
    """
    inner = optax.scale_by_adam(b1=b1, b2=b2)

    def update(grads, state, params=None):
        direction, state = inner.update(grads, state, params)
        return jax.tree.map(lambda a, g: jnp.where(adam > 0, a, g), direction, grads), state

    return optax.GradientTransformation(inner.init, update)


def recipe(
    peak, warmup, total, final_fraction, weight_decay, clip, b1, b2, adam, accumulate
) -> optax.GradientTransformation:
    """Clip, AdamW (or SGD) with decoupled decay, on the warm-up + cosine schedule,
    one update every `accumulate` micro-batches (their mean gradient)."""
    schedule = functools.partial(
        learning_rate, peak=peak, warmup=warmup, total=total, final_fraction=final_fraction
    )
    update = optax.chain(
        optax.clip_by_global_norm(clip),
        adam_or_sgd(adam, b1, b2),
        optax.add_decayed_weights(weight_decay, mask=decay_mask),
        optax.scale_by_learning_rate(schedule),
    )
    # The mean gradient is kept in the parameters' dtype (inject_hyperparams gives
    # `peak` that dtype); MultiSteps' own default would be float32.
    return optax.MultiSteps(
        update, every_k_schedule=lambda _: accumulate, accumulator_dtype=jnp.asarray(peak).dtype
    ).gradient_transformation()


# The one optimiser: its hyper-parameters are read from the state at every update.
OPTIMIZER = optax.inject_hyperparams(recipe)


def init_state(params: Any, hyper: Hyper) -> TrainState:
    """The state before the first micro-batch: params, fresh moments, `hyper`, step 0."""
    opt_state = OPTIMIZER(**hyper._asdict()).init(params)
    return TrainState(params, opt_state, jnp.zeros((), jnp.int32))


def hyper_in(opt_state: Any) -> Hyper:
    """The Hyper numbers a state carries."""
    return Hyper(**opt_state.hyperparams)


def current_lr(opt_state: Any) -> jax.Array:
    """() the learning rate of the next update."""
    h = hyper_in(opt_state)
    updates_done = opt_state.inner_state.gradient_step  # MultiSteps counts updates
    return learning_rate(
        updates_done, peak=h.peak, warmup=h.warmup, total=h.total, final_fraction=h.final_fraction
    )


def global_norm(tree: Any) -> jax.Array:
    """sqrt(sum of every squared entry of every leaf): the norm clipping compares with."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree)))


def train_step(state: TrainState, batch: Any, *, loss_fn: Callable):
    """One micro-batch: loss and gradient of `loss_fn(params, batch)`, then the optimiser.

    Args:
        state: the TrainState; batch: whatever `loss_fn` reads, e.g. (x, y) of (B, T).
    Returns:
        (new state, StepAux of the loss before the update, gradient norm and lr).
    """
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    return apply_gradients(state, loss, grads)


def apply_gradients(state: TrainState, loss: jax.Array, grads: Any):
    """The optimiser's half of `train_step`: (new state, StepAux), from one micro-batch's
    () loss and its gradient (a pytree like the params).

    The optimiser clips, moves and decays the weights every `accumulate`-th
    micro-batch, with the hyper-parameters the state carries; in between it
    only adds the gradient to the mean it keeps.
    """
    aux = StepAux(loss, global_norm(grads), current_lr(state.opt_state))
    # optax (0.2.8) mixes int32 counters with float hyper-parameters, a
    # promotion JAX's strict mode refuses; the update stays in the params' dtype.
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = OPTIMIZER(**hyper_in(state.opt_state)._asdict()).update(
            grads, state.opt_state, state.params
        )
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state, state.step + 1), aux


@functools.partial(jax.jit, static_argnames=("loss_fn", "steps", "batch", "context"))
def train_chunk(
    state: TrainState, key: jax.Array, tokens: jax.Array, *, loss_fn, steps: int, batch: int,
    context: int,
):  # fmt: skip
    """`steps` micro-batches in one compiled `lax.scan`, each drawn fresh from `tokens`.

    Only shapes are static here: the hyper-parameters ride in `state`.

    Args:
        state: TrainState; key: this chunk's key (split into one per step);
        tokens: (n,) int32 training text; batch, context: B and T of each micro-batch.
    Returns:
        (state after the chunk, StepAux with (steps,) arrays).
    """

    def body(state, step_key):
        xy = sample_batch(step_key, tokens, batch, context)  # (B, T) x2
        return train_step(state, xy, loss_fn=loss_fn)

    return jax.lax.scan(body, state, jax.random.split(key, steps))


@functools.partial(jax.jit, static_argnames=("loss_fn",))
def evaluate(params: Any, x: jax.Array, y: jax.Array, *, loss_fn: Callable) -> jax.Array:
    """Mean loss over windows x, y (each (W, T) int32), in one call: () float."""
    return loss_fn(params, (x, y))


def chunks_for(steps: int, most: int = 20) -> int:
    """How many equal chunks `fit` cuts `steps` into: the largest divisor of `steps`
    that is at most `most` (equal chunks share one compiled program)."""
    return max(n for n in range(1, min(steps, most) + 1) if steps % n == 0)


class History(NamedTuple):
    loss: np.ndarray  # (steps,) training batch loss of every update
    grad_norm: np.ndarray  # (steps,)
    lr: np.ndarray  # (steps,)
    eval_steps: list  # steps after which the model was evaluated
    train_eval: list  # loss on the fixed training windows at each evaluation
    val_eval: list  # validation loss at each evaluation
    best_step: int  # evaluation step with the lowest validation loss
    best_val: float
    best_params: Any  # the parameters at best_step


def fit(
    state: TrainState,
    key: jax.Array,
    tokens: jax.Array,
    train_windows: tuple,
    val_windows: tuple,
    *,
    config: TrainConfig,
    loss_fn: Callable,
    chunks: int,
    run_chunk: Callable | None = None,
    on_chunk: Callable | None = None,
):
    """Train for `config.steps` in `chunks` equal compiled chunks, evaluating after each.

    Args:
        state: TrainState; key: the run's key (one split per chunk);
        tokens: (n,) training text; train_windows, val_windows: (x, y) of (W, T)
        fixed windows scored after every chunk; chunks: must divide config.steps;
        run_chunk: (state, key, tokens) -> (state, aux), by default `train_chunk`
        with these static arguments (pass an ahead-of-time compiled one to reuse it);
        on_chunk: called as on_chunk(steps_done, val_loss, last_batch_loss) after each chunk.
    Returns:
        (final TrainState, History).
    """
    if config.steps % chunks:
        raise ValueError(f"{chunks} chunks do not divide {config.steps} steps")
    per = config.steps // chunks
    if run_chunk is None:
        run_chunk = functools.partial(
            train_chunk, loss_fn=loss_fn, steps=per, batch=config.batch, context=config.context
        )
    parts, steps, train_eval, val_eval = [], [], [], []
    best = (float("inf"), 0, state.params)
    for i, chunk_key in enumerate(jax.random.split(key, chunks)):
        state, aux = run_chunk(state, chunk_key, tokens)
        parts.append(aux)
        steps.append((i + 1) * per)
        train_eval.append(float(evaluate(state.params, *train_windows, loss_fn=loss_fn)))
        val_eval.append(float(evaluate(state.params, *val_windows, loss_fn=loss_fn)))
        if val_eval[-1] < best[0]:
            best = (val_eval[-1], steps[-1], state.params)
        if on_chunk is not None:
            on_chunk(steps[-1], val_eval[-1], float(aux.loss[-1]))
    joined = [np.concatenate([np.asarray(getattr(p, f)) for p in parts]) for f in StepAux._fields]
    history = History(*joined, steps, train_eval, val_eval, best[1], best[0], best[2])
    return state, history


class LMLoss(NamedTuple):
    """The language-model loss of a GPT: mean next-token cross-entropy, in nats.

    A NamedTuple holding the model's shape, so it is hashable by value and
    two equal losses share one compiled program. Call it as
    `LMLoss(model)(params, (x, y))` with x, y of shape (B, T) int32.
    """

    model: GPTConfig

    def __call__(self, params: dict, batch: tuple) -> jax.Array:
        x, y = batch  # (B, T), (B, T)
        logits = gpt_forward(params, x, config=self.model)  # (B, T, V)
        return cross_entropy(logits, y)


def matmul_params(model: GPTConfig) -> int:
    """Weights that take part in a matrix multiply, per token: every block's
    matrices and the tied output projection (V·d). Biases, norms and the two
    embedding lookups cost (next to) no multiply-adds and are left out."""
    d, f, L = model.d_model, model.d_ff, model.n_layers
    mlp = (3 if model.mlp == "swiglu" else 2) * d * f
    return L * (4 * d * d + mlp) + model.vocab_size * d


def flops_per_token(model: GPTConfig, context: int) -> int:
    """Training FLOPs per token: 6·N for the weight matmuls plus 12·L·T·d for attention.

    Forward, each weight is one multiply-add (2 FLOPs) per token; backward
    costs twice the forward (the gradients of activations and of weights),
    hence 6·N. Attention's q·k scores and weighted sum of values are
    2·T·d FLOPs each per token and layer forward, times 3 for training,
    counted over the full T (as PaLM's appendix B does), although the causal
    mask makes half of them multiply a masked score.

    References:
        Kaplan et al., "Scaling Laws for Neural Language Models" (2020), sec. 2.1,
        https://arxiv.org/abs/2001.08361; Chowdhery et al., "PaLM" (2022),
        appendix B, https://arxiv.org/abs/2204.02311
    """
    return 6 * matmul_params(model) + 12 * model.n_layers * context * model.d_model
