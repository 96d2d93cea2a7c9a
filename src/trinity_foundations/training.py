"""Training a model with optax: AdamW, warmup + cosine, clipping, a compiled loop.

The recipe every small GPT uses. The learning rate climbs linearly from
near zero for `warmup` steps (Adam's second-moment estimates start from a
handful of gradients and would otherwise make the first steps wild), then
falls along half a cosine to `final_lr_fraction` of its peak. Before each
update the whole gradient is rescaled when its global L2 norm exceeds `clip`,
so one bad batch cannot throw the weights far. AdamW decays the weight
matrices (not gains, biases or positions' one-dimensional leaves) towards
zero, decoupled from the gradient.

The loop is written against any `loss_fn(params, batch) -> scalar`: a step
is `train_step(state, batch, *, config, loss_fn) -> (state, aux)`, a chunk of
steps is one `lax.scan` (one compiled program; batches drawn inside it from a
key), and `fit` runs the chunks from Python, evaluating after each, keeping
the parameters with the best validation loss, and returns
`(final_state, history)`. `loss_fn` must be hashable by value (a NamedTuple
with `__call__`, such as `LMLoss`, or a module-level function) so that the
same configuration never compiles twice.

Checkpoints are plain `.npz` files: one array per parameter, named by its
path in the pytree ("blocks/wq"), and the configuration as JSON in the
array "config.json", readable with nothing but NumPy.

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
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from trinity_foundations.language import cross_entropy, sample_batch
from trinity_foundations.transformer import GPTConfig, gpt_forward


class TrainConfig(NamedTuple):
    """Hyper-parameters of a training run (one NamedTuple, hashable, static under jit)."""

    steps: int = 600  # optimiser updates in the whole run (the schedule's length)
    batch: int = 32  # windows per step
    context: int = 64  # characters per window
    lr: float = 3e-3  # peak learning rate
    warmup: int = 50  # steps of linear warm-up (0: none)
    final_lr_fraction: float = 0.1  # the cosine ends at lr * this
    weight_decay: float = 0.1  # AdamW's decoupled decay of the weight matrices
    clip: float = 1.0  # global-norm clipping threshold (0: no clipping)
    b1: float = 0.9
    b2: float = 0.99
    optimizer: str = "adamw"  # "adamw" or "sgd" (plain SGD, same schedule, clipping, decay)


class TrainState(NamedTuple):
    params: Any  # the model's pytree
    opt_state: Any  # optax's state
    step: jax.Array  # () int32: updates applied so far


class StepAux(NamedTuple):
    loss: jax.Array  # () the batch loss before the update
    grad_norm: jax.Array  # () global L2 norm of the gradient, before clipping
    lr: jax.Array  # () the learning rate this update used


def learning_rate(step: jax.Array, *, config: TrainConfig) -> jax.Array:
    """Linear warm-up to `lr` over `warmup` steps, then cosine decay to `final_lr_fraction`·lr.

    Step s (0-based) of warm-up uses lr·(s+1)/warmup, so the first update is
    small but not zero; the cosine spans the remaining steps.

    Args:
        step: () integer, the update being taken.
    Returns:
        () in the default float dtype (float64 under JAX_ENABLE_X64).
    """
    s = jnp.asarray(step).astype(jnp.result_type(float))
    warm = config.lr * (s + 1) / max(config.warmup, 1)
    decay_steps = max(config.steps - config.warmup, 1)
    t = jnp.clip((s - config.warmup) / decay_steps, 0.0, 1.0)
    floor = config.final_lr_fraction
    cosine = config.lr * (floor + (1 - floor) * 0.5 * (1 + jnp.cos(jnp.pi * t)))
    return jnp.where(s < config.warmup, warm, cosine)


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


def optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Clipping, then AdamW (or SGD with decoupled decay) on the warm-up + cosine schedule."""
    schedule = functools.partial(learning_rate, config=config)
    clip = optax.clip_by_global_norm(config.clip) if config.clip > 0 else optax.identity()
    if config.optimizer == "adamw":
        update = optax.adamw(
            schedule, b1=config.b1, b2=config.b2, weight_decay=config.weight_decay, mask=decay_mask
        )
    elif config.optimizer == "sgd":
        update = optax.chain(
            optax.add_decayed_weights(config.weight_decay, mask=decay_mask), optax.sgd(schedule)
        )
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}: 'adamw' or 'sgd'")
    return optax.chain(clip, update)


def init_state(params: Any, *, config: TrainConfig) -> TrainState:
    """The state before the first update: params, fresh optimiser moments, step 0."""
    return TrainState(params, optimizer(config).init(params), jnp.zeros((), jnp.int32))


def global_norm(tree: Any) -> jax.Array:
    """sqrt(sum of every squared entry of every leaf): the norm clipping compares with."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree)))


def train_step(state: TrainState, batch: Any, *, config: TrainConfig, loss_fn: Callable):
    """One update: loss and gradient of `loss_fn(params, batch)`, clip, optimiser step.

    Args:
        state: the TrainState; batch: whatever `loss_fn` reads, e.g. (x, y) of (B, T).
    Returns:
        (new state, StepAux of the loss before the update, gradient norm and lr).
    """
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    # optax (0.2.8) raises a Python-float b1 to an int32 step count inside Adam,
    # a promotion JAX's strict mode refuses; the update itself stays in the
    # parameters' dtype either way.
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimizer(config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    aux = StepAux(loss, global_norm(grads), learning_rate(state.step, config=config))
    return TrainState(params, opt_state, state.step + 1), aux


@functools.partial(jax.jit, static_argnames=("config", "loss_fn", "steps"))
def train_chunk(
    state: TrainState, key: jax.Array, tokens: jax.Array, *, config, loss_fn, steps: int
):
    """`steps` updates in one compiled `lax.scan`, each on a fresh batch drawn from `tokens`.

    Args:
        state: TrainState; key: this chunk's key (split into one per step);
        tokens: (n,) int32 training text.
    Returns:
        (state after the chunk, StepAux with (steps,) arrays).
    """

    def body(state, step_key):
        batch = sample_batch(step_key, tokens, config.batch, config.context)  # (B, T) x2
        return train_step(state, batch, config=config, loss_fn=loss_fn)

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
        run_chunk = functools.partial(train_chunk, config=config, loss_fn=loss_fn, steps=per)
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


# ----------------------------------------------------------------------------
# Checkpoints: .npz of flattened pytree paths plus the configuration as JSON.


def _flatten(params: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {"/".join(str(k.key) for k in path): np.asarray(leaf) for path, leaf in leaves}


def _unflatten(arrays: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for name, value in arrays.items():
        *parents, last = name.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def save_checkpoint(path: str | Path, params: dict, config: dict) -> None:
    """Write `params` (nested dicts of arrays) and `config` (JSON-able) to `path` (.npz).

    Written to a temporary file beside `path` and renamed, so a crash never
    leaves half a checkpoint under the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _flatten(params)
    arrays["config.json"] = np.array(json.dumps(config, sort_keys=True))
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """(params as nested dicts of NumPy arrays, config dict) from a `save_checkpoint` file."""
    with np.load(Path(path), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    config = json.loads(str(arrays.pop("config.json")))
    return _unflatten(arrays), config
