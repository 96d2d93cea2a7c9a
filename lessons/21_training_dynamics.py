"""Lesson 21 — training dynamics: how training goes right and wrong.

The GPT of lesson 19, at a small size, trained on Macbeth many times over
with one thing changed at a time, each comparison drawn as loss curves with
a verdict computed from them: SGD against AdamW; warm-up against none; a
learning-rate sweep from too small to divergent (divergence is detected and
said, never printed as a result); global-norm clipping on a run that
spikes; weight decay; the batch size at a fixed budget of tokens; and
over-fitting on a small slice of the text (the step where the training and
validation curves part).

Every run has the same shapes, so they are trained side by side in ONE
compiled program: `jax.vmap` over a table of hyper-parameters (the learning
rate, warm-up, clipping, decay, AdamW or SGD, the slice of text, even the
batch size, as a number of micro-batches accumulated per update). All runs
start from the same initial weights and see the same batches. A separate
check shows that gradient accumulation is exact: k micro-batches of B
windows give the step that one batch of k·B gives.

Run:  python lessons/21_training_dynamics.py [--steps 128] [--batch 8] [--lr 0.01]
      [--d-model 32] [--layers 2] [--context 32] [--slice 1024] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, display, sections, timing
from trinity_foundations import dynamics as dyn
from trinity_foundations import language as lang
from trinity_foundations import sweep as sw
from trinity_foundations import training as tr
from trinity_foundations import transformer as tf
from trinity_foundations.accumulation import accumulated_value_and_grad, micro_batches

DATA = Path(__file__).resolve().parents[1] / "data" / "macbeth.txt"
SEED = 0
D_MODEL, LAYERS, HEADS, CONTEXT, BATCH, STEPS, LR = 32, 2, 2, 32, 8, 128, 1e-2
WARMUP, WEIGHT_DECAY, CLIP = 10, 0.1, 1.0  # the recipe of lesson 19, scaled to the run
EVALS, VAL_WINDOWS, SLICE = 16, 64, 1024  # evaluations per run, windows scored, over-fit text
SGD_LRS = (0.3, 1.0, 3.0)  # SGD gets three tries; the last is the run that spikes
LR_FACTORS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)  # the sweep, as multiples of --lr
WEIGHT_DECAYS = (0.0, WEIGHT_DECAY, 1.0)
ACCUMULATE = (1, 4, 16)  # micro-batches per update: batches of B, 4B and 16B
CHECK_K = 4  # the accumulation check: 4 micro-batches against one batch four times larger
TIE = 0.02  # nats: the least difference that counts, however close the two recipe runs end
SPIKE = 1.0  # nats above the best loss so far: a spike, not mini-batch noise
PART_TOLERANCE = 0.05  # nats validation must climb above its minimum to count as parting
MAX_STEPS = 4096  # time only: about 16 minutes of the default sweep on a 2-core CPU

# A run is a label and its changes to the recipe (a TrainConfig field, or
# `accumulate`: micro-batches per update, `text`: the slice of training text,
# `order`: which batches). Each comparison below names the runs it needs; the
# sweep trains them all at once.
RECIPE = ("adamw", {})


@dataclass(frozen=True)
class Setup:
    """What every run shares: the text, the model, its first weights and the keys."""

    vocab: lang.Vocab
    train: np.ndarray  # (N,) int32, the training characters
    val: np.ndarray  # (M,) int32, the validation characters
    model: tf.GPTConfig
    config: tr.TrainConfig
    params: dict  # the initial weights, the same for every run
    k_sweep: jax.Array
    k_check: jax.Array


def setup(seed: int, steps: int, batch: int, lr: float, d_model: int, layers: int, context: int):
    text = DATA.read_text(encoding="ascii")
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    model = tf.GPTConfig(vocab.size, context, d_model, layers, HEADS, 4 * d_model)
    config = tr.TrainConfig(
        steps=steps, batch=batch, context=context, lr=lr, warmup=WARMUP,
        weight_decay=WEIGHT_DECAY, clip=CLIP,
    )  # fmt: skip
    k_init, k_sweep, k_check = jax.random.split(jax.random.key(seed), 3)
    return Setup(vocab, train, val, model, config, tf.init_gpt(k_init, model), k_sweep, k_check)


# ----------------------------------------------------------------------------
# One run's curves, and the words every comparison uses for them.


@dataclass(frozen=True)
class Curves:
    label: str
    loss: tuple[float, ...]  # (S,) the training loss of each micro-batch
    val: tuple[float, ...]  # (E,) validation loss at each evaluation
    train_eval: tuple[float, ...]  # (E,) training loss on fixed windows, same steps
    param_norm: tuple[float, ...]  # (E,)
    eval_steps: tuple[int, ...]  # (E,) the step of each evaluation
    diverged_at: int | None  # 1-based step, or None
    nan_at: int | None  # the first step whose loss is not a number, or None
    spike: float  # the largest jump above the best loss so far, in nats
    spike_step: int
    final_val: float | None  # None when the run diverged: no result


def summarise(label: str, loss, val, train_eval, norm, *, window: int, every: int) -> Curves:
    """One run's curves and what they say: divergence, the largest spike, the end."""
    loss = np.asarray(loss, np.float64)  # (S,)
    diverged = int(dyn.divergence_step(jnp.asarray(loss), jnp.asarray(loss[0]), window=window))
    rise, at = dyn.largest_spike(jnp.asarray(loss))
    val = np.asarray(val, np.float64)  # (E,)
    return Curves(
        label=label,
        loss=tuple(loss.tolist()),
        val=tuple(val.tolist()),
        train_eval=tuple(np.asarray(train_eval, np.float64).tolist()),
        param_norm=tuple(np.asarray(norm, np.float64).tolist()),
        eval_steps=tuple(every * (i + 1) for i in range(len(val))),
        diverged_at=None if diverged < 0 else diverged + 1,  # 1-based step
        nan_at=first_not_finite(loss),
        spike=float(rise),
        spike_step=int(at) + 1,
        final_val=None if diverged >= 0 or not math.isfinite(val[-1]) else float(val[-1]),
    )


def first_not_finite(loss: np.ndarray) -> int | None:
    """The first step (1-based) whose loss is NaN or infinite, or None."""
    bad = ~np.isfinite(loss)
    return int(np.argmax(bad)) + 1 if bad.any() else None


def compare(a: float, b: float, tie: float) -> str:
    """'lower', 'higher' or 'same': a against b, with differences within `tie` the same."""
    if abs(a - b) <= tie:
        return "same"
    return "lower" if a < b else "higher"


SIDE = {"lower": "lower than", "higher": "higher than", "same": "about the same as"}


def ended(run: Curves) -> str:
    """A run's end as a table cell: its validation loss, or how it diverged."""
    if run.final_val is not None:
        return f"{run.final_val:.3f}"
    if run.nan_at is None:
        return f"diverged at step {run.diverged_at} (above its start)"
    if run.nan_at == run.diverged_at:
        return f"diverged at step {run.diverged_at} (not a number)"
    return f"diverged at step {run.diverged_at} (not a number from {run.nan_at})"


def chartable(runs) -> tuple[list[Curves], list[Curves]]:
    """(runs to draw, diverged runs left out: their losses would flatten every other curve)."""
    return [r for r in runs if r.final_val is not None], [r for r in runs if r.final_val is None]


def chart(console: Console, runs, x_label: str = "step") -> None:
    drawn, left_out = chartable(runs)
    if drawn:
        series = {r.label: list(r.loss) for r in drawn}
        console.print(display.line_chart(series, height=10, width=60, x_label=x_label))
    for r in left_out:
        console.print(f"[dim]Left out of the chart: {r.label}, {ended(r)}.[/]")


def jump(x: float) -> str:
    return "∞ (not a number)" if not math.isfinite(x) else f"{x:.2f}"


def runs_table(runs, extra: dict[str, list[str]] | None = None) -> Table:
    table = Table(show_edge=False)
    table.add_column("run")
    table.add_column("validation loss at the end", justify="right")
    table.add_column("largest jump (step)", justify="right")
    for name in extra or {}:
        table.add_column(name, justify="right")
    for i, r in enumerate(runs):
        spike = "∞" if not math.isfinite(r.spike) else f"{r.spike:.2f}"
        cells = [v[i] for v in (extra or {}).values()]
        table.add_row(r.label, ended(r), f"{spike} ({r.spike_step})", *cells)
    return table


def pick(done: dict, rows) -> tuple[Curves, ...]:
    """The sweep's curves of these runs, in order."""
    return tuple(done["sweep"].curves[label] for label, _ in rows)


# ----------------------------------------------------------------------------
# 1. The sweep: every run of every comparison below, in one vmapped program.


@dataclass(frozen=True)
class Model:
    d_model: int
    layers: int
    heads: int
    context: int


@dataclass(frozen=True)
class Sweep:
    dtype: str
    model: Model
    param_count: int
    vocab_size: int
    train_tokens: int
    tokens_per_run: int
    runs: int  # how many runs were trained side by side
    steps: int
    eval_every: int
    val_tokens_scored: int
    unigram_val_loss: float  # on the characters the runs are scored on
    init_loss: float
    uniform_loss: float  # ln V
    divergence_window: int
    compile_ms: float
    run_ms: float
    curves: dict[str, Curves]  # by label


def run_table(lr: float, slice_: int) -> list[tuple[str, dict]]:
    """(label, changes to the recipe) for every run, each once, in the order of the
    comparisons that use them."""
    rows: dict[str, dict] = {}
    for part in (
        noise_rows(), optimizer_rows(), warmup_rows(), lr_rows(lr), clipping_rows(),
        decay_rows(), batch_rows(), overfit_rows(slice_),
    ):  # fmt: skip
        for label, changes in part:
            assert rows.setdefault(label, changes) == changes, label
    return list(rows.items())


def sweep_runs(rows, config: tr.TrainConfig, text: int, dtype) -> sw.Run:
    """The table as one sweep.Run of (C,) leaves."""

    def row(changes):
        changes = dict(changes)
        accumulate = changes.pop("accumulate", 1)
        text_ = jnp.asarray(changes.pop("text", text), jnp.int32)
        order = jnp.asarray(changes.pop("order", 0), jnp.int32)
        hyper = tr.hyper_of(config._replace(**changes), accumulate=accumulate, dtype=dtype)
        return sw.Run(hyper, text_, order)

    return sw.stack([row(changes) for _, changes in rows])


def compute_sweep(done: dict, *, s: Setup, lr: float, slice_: int) -> Sweep:
    c = s.config
    dtype = s.params["tok"].dtype
    rows = run_table(lr, slice_)
    val_windows = tuple(jnp.asarray(a) for a in lang.eval_windows(s.val, c.context, VAL_WINDOWS))
    args = (s.params, sweep_runs(rows, c, len(s.train), dtype), s.k_sweep, jnp.asarray(s.train))
    args = (*args, val_windows)
    shapes = dict(steps=c.steps, batch=c.batch, context=c.context, evals=EVALS)
    program = timing.compile_once(sw.train_sweep, *args, loss_fn=tr.LMLoss(s.model), **shapes)
    run_ms, (_, hist) = timing.time_once(program.compiled, *args)
    every, window = c.steps // EVALS, max(c.steps // 8, 2)
    curves = {
        label: summarise(
            label,
            hist.aux.loss[i],
            hist.val_eval[i],
            hist.train_eval[i],
            hist.param_norm[i],
            window=window,
            every=every,
        )  # fmt: skip
        for i, (label, _) in enumerate(rows)
    }
    m = s.model
    return Sweep(
        dtype=str(dtype),
        model=Model(m.d_model, m.n_layers, m.n_heads, m.context),
        param_count=tf.param_count(s.params),
        vocab_size=s.vocab.size,
        train_tokens=int(len(s.train)),
        tokens_per_run=c.steps * c.batch * c.context,
        runs=len(rows),
        steps=c.steps,
        eval_every=every,
        val_tokens_scored=int(val_windows[0].size),
        unigram_val_loss=lang.unigram_loss(s.train, np.ravel(val_windows[1]), s.vocab.size),
        init_loss=curves["adamw"].loss[0],
        uniform_loss=lang.uniform_loss(s.vocab.size),
        divergence_window=window,
        compile_ms=program.lower_ms + program.compile_ms,
        run_ms=run_ms,
        curves=curves,
    )


def say_sweep(r: Sweep, console: Console) -> None:
    m = r.model
    console.print(
        f"{r.runs} runs of one GPT ({r.param_count:,} parameters: d = {m.d_model}, "
        f"{display.count(m.layers, 'layer')}, {m.heads} heads, context {m.context}; "
        f"{r.dtype}), each {display.count(r.steps, 'step')} of "
        f"{r.tokens_per_run // r.steps:,} tokens ({r.tokens_per_run:,} tokens a run), "
        "from the same initial weights and, all but the slice and the other-batches run, on "
        "the same batches, trained side by side in one "
        f"vmapped program: compiled in {display.duration(r.compile_ms)}, "
        f"run once in {display.duration(r.run_ms)}."
    )
    console.print(
        f"The recipe starts at loss {r.init_loss:.3f} (ln V = {r.uniform_loss:.3f}). "
        f"Validation: {r.val_tokens_scored:,} characters of unseen text, scored every "
        f"{display.count(r.eval_every, 'step')}. Counting characters alone (unigram) "
        f"scores {r.unigram_val_loss:.3f}: a run that ends there has learnt nothing else. "
        f"A run has diverged when its loss stays above where it started (or is not a number) "
        f"for its last {display.count(r.divergence_window, 'step')} or more; its loss is "
        "then no result."
    )


# ----------------------------------------------------------------------------
# 2. Chance: the recipe twice, on two orders of batches. Its gap is the yardstick
# of every comparison below.


@dataclass(frozen=True)
class Noise:
    runs: tuple[Curves, Curves]
    tie: float  # the difference that counts
    least: float  # TIE: the tie is never smaller


def noise_rows() -> list:
    return [RECIPE, ("adamw, other batches", {"order": 1})]


def noise(recipe: Curves, other: Curves, least: float = TIE) -> float:
    """The difference that counts: how far apart the recipe ends on two batch orders
    (at least `least`), or `least` if either diverged."""
    if recipe.final_val is None or other.final_val is None:
        return least
    return max(least, abs(recipe.final_val - other.final_val))


def compute_noise(done: dict) -> Noise:
    a, b = pick(done, noise_rows())
    return Noise((a, b), noise(a, b, TIE), TIE)


def say_noise(r: Noise, console: Console) -> None:
    a, b = r.runs
    console.print(
        f"How much is chance? The recipe run twice, on two orders of batches, ends at "
        f"{ended(a)} and {ended(b)}: below {r.tie:.3f} nats (that gap, or "
        f"{r.least} at least) two runs are called about the same.\n"
    )


# ----------------------------------------------------------------------------
# 3. SGD against AdamW.


@dataclass(frozen=True)
class OptimizerVerdict:
    winner: str  # 'adamw', 'sgd', 'tie', or 'neither' (every run diverged)
    best_sgd_lr: float | None
    margin: float | None  # SGD's best end minus AdamW's


@dataclass(frozen=True)
class Optimizers:
    runs: tuple[Curves, ...]  # AdamW, then SGD at each rate
    sgd_lrs: tuple[float, ...]
    verdict: OptimizerVerdict
    tie: float


def optimizer_rows() -> list:
    return [RECIPE, *[(f"sgd lr {g:g}", {"optimizer": "sgd", "lr": g}) for g in SGD_LRS]]


def optimizer_verdict(adamw: Curves, sgd, lrs, tie: float) -> OptimizerVerdict:
    """AdamW against SGD at its best learning rate (of those that did not diverge).

    'neither' when every run diverged; 'adamw' or 'sgd' when only that side finished."""
    finals = [(r.final_val, g) for r, g in zip(sgd, lrs) if r.final_val is not None]
    best_val, best_lr = min(finals) if finals else (None, None)
    if best_val is None or adamw.final_val is None:
        alive = {(True, True): "neither", (True, False): "sgd", (False, True): "adamw"}
        return OptimizerVerdict(alive[(adamw.final_val is None, best_val is None)], best_lr, None)
    side = compare(adamw.final_val, best_val, tie)
    winner = {"lower": "adamw", "higher": "sgd", "same": "tie"}[side]
    return OptimizerVerdict(winner, best_lr, best_val - adamw.final_val)


def compute_optimizers(done: dict) -> Optimizers:
    adamw, *sgd = pick(done, optimizer_rows())
    tie = done["noise"].tie
    return Optimizers((adamw, *sgd), SGD_LRS, optimizer_verdict(adamw, sgd, SGD_LRS, tie), tie)


OPTIMIZER_WORDS = {
    "neither": "AdamW and every SGD run diverged: no comparison can be made.",
    "adamw": "Every SGD run diverged; AdamW did not.",
    "sgd": "AdamW diverged; at least one SGD run did not.",
}


def say_optimizers(r: Optimizers, console: Console) -> None:
    v = r.verdict
    chart(console, r.runs)
    console.print(runs_table(r.runs))
    if v.margin is None:
        console.print(OPTIMIZER_WORDS[v.winner] + "\n")
        return
    adamw, best = r.runs[0], r.runs[1 + r.sgd_lrs.index(v.best_sgd_lr)]
    console.print(
        f"AdamW ends at {adamw.final_val:.3f}, "
        f"{SIDE[compare(adamw.final_val, best.final_val, r.tie)]} "
        "SGD at its best learning "
        f"rate ({v.best_sgd_lr:g}, of {display.vector(r.sgd_lrs)}): "
        f"{best.final_val:.3f}. Adam divides each coordinate's step by a running "
        "estimate of its gradient's size, so rarely updated embeddings and busy weight "
        "matrices move at comparable speeds; SGD gives them one rate for all.\n"
    )


def saw_optimizers(r: Optimizers) -> str:
    """What you saw, on the optimizers: which one ended lower, and by how much."""
    v = r.verdict
    if v.margin is None:
        return OPTIMIZER_WORDS[v.winner]
    best = r.runs[1 + r.sgd_lrs.index(v.best_sgd_lr)].final_val
    return (
        f"AdamW ended at {r.runs[0].final_val:.3f}, "
        f"{SIDE[compare(r.runs[0].final_val, best, r.tie)]} SGD at its best rate "
        f"({v.best_sgd_lr:g}: {best:.3f}), with the same batches and the same first weights."
    )


# ----------------------------------------------------------------------------
# 4. Warm-up against none.


@dataclass(frozen=True)
class WarmupVerdict:
    better: str  # 'warmup', 'none', 'tie', or 'neither' (both diverged)
    margin: float | None  # the end without warm-up minus the end with it
    spike_with: float | None  # the largest jumps (None when a run diverged)
    spike_without: float | None


@dataclass(frozen=True)
class Warmup:
    runs: tuple[Curves, Curves]  # with warm-up, without
    warmup_steps: int
    verdict: WarmupVerdict
    tie: float


def warmup_rows() -> list:
    return [RECIPE, ("adamw, no warm-up", {"warmup": 0})]


def warmup_verdict(with_: Curves, without: Curves, tie: float) -> WarmupVerdict:
    """Warm-up against none: the end, and the worst jump early on."""
    if without.final_val is None or with_.final_val is None:
        alive = {(True, True): "neither", (True, False): "none", (False, True): "warmup"}
        return WarmupVerdict(alive[(with_.final_val is None, without.final_val is None)],
                             None, None, None)  # fmt: skip
    side = compare(with_.final_val, without.final_val, tie)
    return WarmupVerdict(
        {"lower": "warmup", "higher": "none", "same": "tie"}[side],
        without.final_val - with_.final_val,
        with_.spike,
        without.spike,
    )


def compute_warmup(done: dict) -> Warmup:
    with_, without = pick(done, warmup_rows())
    tie = done["noise"].tie
    return Warmup((with_, without), WARMUP, warmup_verdict(with_, without, tie), tie)


def say_warmup(r: Warmup, console: Console) -> None:
    v = r.verdict
    chart(console, r.runs)
    console.print(runs_table(r.runs))
    with_, without = r.runs
    if v.margin is None:
        console.print(f"Only one of the two finished: {ended(with_)} against {ended(without)}.\n")
        return
    console.print(
        f"With {display.count(r.warmup_steps, 'step')} of warm-up the run ends at "
        f"{with_.final_val:.3f}, {SIDE[compare(with_.final_val, without.final_val, r.tie)]} "
        f"without ({without.final_val:.3f}); its largest jump is {v.spike_with:.2f} "
        f"against {v.spike_without:.2f} without. Adam's first steps are sized by a "
        "second-moment estimate built from a handful of gradients; warm-up keeps them short "
        "while that estimate settles.\n"
    )


# ----------------------------------------------------------------------------
# 5. A learning-rate sweep, from too small to divergent.


@dataclass(frozen=True)
class LRVerdict:
    best_lr: float | None
    best_val: float | None
    status: tuple[str, ...]  # one per rate: see lr_status
    diverged_lrs: tuple[float, ...]


@dataclass(frozen=True)
class LearningRate:
    runs: tuple[Curves, ...]
    lrs: tuple[float, ...]
    verdict: LRVerdict
    tie: float
    unigram_val_loss: float  # counting characters: what a run that learnt nothing scores


def lr_rows(lr: float) -> list:
    return [RECIPE if f == 1.0 else (f"lr {lr * f:.3g}", {"lr": lr * f}) for f in LR_FACTORS]


def lr_status(run: Curves, best: float | None, lr: float, best_lr, tie: float) -> str:
    """What a run of the sweep did: 'diverged', 'spiked', 'best', 'near best', 'too small'
    or 'too large' (worse than the best by more than `tie`, on its side of it)."""
    if run.final_val is None:
        return "diverged"
    if run.final_val == best:
        return "best"
    if compare(run.final_val, best, tie) == "same":
        return "near best"
    if run.spike > SPIKE and lr > best_lr:
        return "spiked"
    return "too small" if lr < best_lr else "too large"


def lr_verdict(runs, lrs, tie: float) -> LRVerdict:
    """The best learning rate of the sweep, and a status for each."""
    ok = [(r.final_val, g) for r, g in zip(runs, lrs) if r.final_val is not None]
    best, best_lr = min(ok) if ok else (None, None)
    statuses = tuple(lr_status(r, best, g, best_lr, tie) for r, g in zip(runs, lrs))
    diverged = tuple(g for g, s in zip(lrs, statuses) if s == "diverged")
    return LRVerdict(best_lr, best, statuses, diverged)


def compute_learning_rate(done: dict, *, lr: float) -> LearningRate:
    runs, lrs = pick(done, lr_rows(lr)), tuple(lr * f for f in LR_FACTORS)
    tie = done["noise"].tie
    return LearningRate(runs, lrs, lr_verdict(runs, lrs, tie), tie, done["sweep"].unigram_val_loss)


def how_diverged(run: Curves) -> str:
    """How a diverged run left: above its starting value from step s on, and, when it
    came to that, not a number from step n on."""
    if run.nan_at == run.diverged_at:
        return f"its loss was not a number from step {run.diverged_at} on"
    said = f"its loss was above its starting value from step {run.diverged_at} on"
    if run.nan_at is None:
        return said
    return f"{said}, and not a number from step {run.nan_at} on"


def against_unigram(final: float, unigram: float, tie: float) -> str:
    """'worse', 'same' (within `tie`) or 'better': a run's end against counting characters."""
    return {"lower": "better", "higher": "worse", "same": "same"}[compare(final, unigram, tie)]


UNIGRAM_WORDS = {
    "worse": ", worse than counting characters ({u:.3f}).",
    "same": ", within the noise of counting characters ({u:.3f}).",
    "better": ".",
}


def say_learning_rate(r: LearningRate, console: Console) -> None:
    v = r.verdict
    chart(console, r.runs)
    console.print(runs_table(r.runs, {"verdict": list(v.status)}))
    if v.best_lr is None:
        console.print("Every rate of the sweep diverged.\n")
        return
    console.print(f"Best: lr {v.best_lr:.3g}, validation loss {v.best_val:.3f}.")
    for run, lr, status in zip(r.runs, r.lrs, v.status):
        if status == "diverged":
            console.print(f"lr {lr:.3g} [bold red]diverged[/]: {how_diverged(run)}.")
        elif status == "spiked":
            side = against_unigram(run.final_val, r.unigram_val_loss, r.tie)
            console.print(
                f"lr {lr:.3g} jumped {run.spike:.2f} nats above its best at step "
                f"{run.spike_step} and ended at {run.final_val:.3f}"
                + UNIGRAM_WORDS[side].format(u=r.unigram_val_loss)
            )
    console.print()


def saw_learning_rate(r: LearningRate) -> str:
    """What you saw, on the sweep: the best rate, and which rates diverged."""
    v = r.verdict
    if v.best_lr is None:
        return "Every rate of the learning-rate sweep diverged: none gave a result."
    gone = (
        "none diverged"
        if not v.diverged_lrs
        else f"lr {', '.join(f'{g:.3g}' for g in v.diverged_lrs)} diverged, "
        "detected and never reported as a loss"
    )
    return (
        f"Of {len(r.lrs)} learning rates from {min(r.lrs):.3g} to {max(r.lrs):.3g}, "
        f"lr {v.best_lr:.3g} ended lowest ({v.best_val:.3f}); {gone}."
    )


# ----------------------------------------------------------------------------
# 6. Global-norm clipping on a run that spikes.


@dataclass(frozen=True)
class ClipVerdict:
    outcome: str  # a key of CLIP_OUTCOME
    spike_with: float
    spike_without: float
    diverged_without: int | None


@dataclass(frozen=True)
class Clipping:
    runs: tuple[Curves, Curves]  # with clipping, without
    lr: float
    clip: float
    verdict: ClipVerdict


def clipping_rows() -> list:
    g = SGD_LRS[-1]
    clipped = (f"sgd lr {g:g}", {"optimizer": "sgd", "lr": g})
    return [clipped, (f"sgd lr {g:g}, no clipping", {"optimizer": "sgd", "lr": g, "clip": 0})]


def clipping_verdict(clipped: Curves, unclipped: Curves) -> ClipVerdict:
    """What clipping did to the run that spikes: rescued it, tamed it, or neither."""
    if unclipped.diverged_at is not None and clipped.diverged_at is None:
        outcome = "rescued"
    elif clipped.diverged_at is not None:
        outcome = "not enough" if unclipped.diverged_at is not None else "worse"
    elif clipped.spike < unclipped.spike / 2:
        outcome = "tamed"
    else:
        outcome = "no difference"
    return ClipVerdict(outcome, clipped.spike, unclipped.spike, unclipped.diverged_at)


def compute_clipping(done: dict) -> Clipping:
    clipped, unclipped = pick(done, clipping_rows())
    verdict = clipping_verdict(clipped, unclipped)
    return Clipping((clipped, unclipped), SGD_LRS[-1], CLIP, verdict)


CLIP_OUTCOME = {
    "rescued": "without clipping the run diverges; with it, it survives its spikes",
    "tamed": "clipping halves (at least) the largest jump",
    "not enough": "even with clipping the run diverges: the rate itself is too high",
    "worse": "with clipping the run diverges and without it does not: here it did harm",
    "no difference": "clipping makes no clear difference here",
}


def say_clipping(r: Clipping, console: Console) -> None:
    v = r.verdict
    chart(console, r.runs)
    console.print(runs_table(r.runs))
    console.print(
        f"SGD at lr {r.lr:g}, with the gradient rescaled to norm {r.clip:g} whenever "
        f"it is longer, and without: {CLIP_OUTCOME[v.outcome]} (largest jump "
        f"{jump(v.spike_with)} with, {jump(v.spike_without)} without). A spike's "
        "gradient is huge; unclipped, SGD's step is the gradient times the rate, and one "
        "step can throw the weights where the next gradient is larger still.\n"
    )


# ----------------------------------------------------------------------------
# 7. Weight decay.


@dataclass(frozen=True)
class DecayVerdict:
    norm_change: tuple[float, ...]  # each run's final parameter norm against no decay, − 1
    spread: float | None  # the validation losses' range (None if a run diverged)
    matters: bool  # the spread is larger than chance
    best_decay: float | None


@dataclass(frozen=True)
class WeightDecay:
    runs: tuple[Curves, ...]
    decays: tuple[float, ...]
    verdict: DecayVerdict
    tie: float


def decay_rows() -> list:
    return [
        RECIPE if w == WEIGHT_DECAY else (f"weight decay {w:g}", {"weight_decay": w})
        for w in WEIGHT_DECAYS
    ]


def decay_verdict(runs, decays, tie: float) -> DecayVerdict:
    """Weight decay: how much it shrank the weights, and what it did to validation."""
    norms = [r.param_norm[-1] for r in runs]
    finals = [r.final_val for r in runs]
    none = list(decays).index(0.0)
    usable = [v for v in finals if v is not None]
    spread = max(usable) - min(usable) if len(usable) == len(finals) else None
    return DecayVerdict(
        tuple(n / norms[none] - 1 for n in norms),
        spread,
        spread is not None and spread > tie,
        decays[finals.index(min(usable))] if usable else None,
    )


def compute_weight_decay(done: dict) -> WeightDecay:
    runs, tie = pick(done, decay_rows()), done["noise"].tie
    return WeightDecay(runs, WEIGHT_DECAYS, decay_verdict(runs, WEIGHT_DECAYS, tie), tie)


DECAY_WORDS = {  # whether the decays' validation losses differ by more than chance
    False: "in a run this short it mostly shrinks the weights; its use is against "
    "over-fitting in long runs",
    True: "here it also moved the validation loss, by more than chance",
}


def say_weight_decay(r: WeightDecay, console: Console) -> None:
    v = r.verdict
    norms = [f"{x.param_norm[-1]:.2f}" for x in r.runs]
    console.print(runs_table(r.runs, {"parameter norm": norms}))
    changes = ", ".join(
        f"decay {d:g}: {display.share(ch, signed=True)}"
        for d, ch in zip(r.decays, v.norm_change)
        if d != 0.0
    )
    spread = (
        "one run diverged"
        if v.spread is None
        else (
            f"the validation losses span {v.spread:.3f} nats, "
            + ("more than" if v.matters else "within")
            + f" the {r.tie:.3f} that counts as a difference here"
        )
    )
    console.print(
        f"Against no decay, the parameters' norm at the end changes by {changes}; {spread}. "
        "AdamW's decay pulls every weight matrix towards zero by lr·λ·θ each step, apart "
        f"from the gradient: {DECAY_WORDS[v.matters]}.\n"
    )


# ----------------------------------------------------------------------------
# 8. The batch size at a fixed budget of tokens (larger batches: accumulated).


@dataclass(frozen=True)
class BatchVerdict:
    best_batch: int | None
    best_updates: int | None
    spread: float | None  # the worst end minus the best
    clear: bool  # the best is ahead of the runner-up by more than chance


@dataclass(frozen=True)
class BatchSize:
    runs: tuple[Curves, ...]
    batches: tuple[int, ...]  # windows per update
    updates: tuple[int, ...]
    verdict: BatchVerdict
    tie: float
    tokens_per_run: int
    steps: int  # micro-batches per run


def batch_rows() -> list:
    return [
        RECIPE if k == 1 else (f"{k} micro-batches", {"accumulate": k, "warmup": WARMUP / k})
        for k in ACCUMULATE
    ]


def batch_verdict(runs, batches, updates, tie: float) -> BatchVerdict:
    """The batch size that did best with the same number of tokens, and whether its
    lead is larger than chance (`tie`)."""
    finals = [r.final_val for r in runs]
    usable = [(v, b, u) for v, b, u in zip(finals, batches, updates) if v is not None]
    if not usable:
        return BatchVerdict(None, None, None, False)
    best = min(usable)
    runner_up = min((u[0] for u in usable if u is not best), default=None)
    return BatchVerdict(
        best[1],
        best[2],
        max(u[0] for u in usable) - best[0],
        runner_up is not None and runner_up - best[0] > tie,
    )


def compute_batch_size(done: dict, *, batch: int) -> BatchSize:
    sweep, runs, tie = done["sweep"], pick(done, batch_rows()), done["noise"].tie
    batches = tuple(k * batch for k in ACCUMULATE)
    updates = tuple(sweep.steps // k for k in ACCUMULATE)
    verdict = batch_verdict(runs, batches, updates, tie)
    return BatchSize(runs, batches, updates, verdict, tie, sweep.tokens_per_run, sweep.steps)


def say_batch_size(r: BatchSize, console: Console) -> None:
    v = r.verdict
    chart(console, r.runs, x_label=f"micro-batch of {r.tokens_per_run // r.steps:,} tokens")
    updates = [display.count(u, "update") for u in r.updates]
    console.print(runs_table(r.runs, {"batch": [str(b) for b in r.batches], "updates": updates}))
    if v.best_batch is None:
        console.print("Every batch size diverged.\n")
        return
    best = (
        f"Best: batch {v.best_batch} with {display.count(v.best_updates, 'update')}, "
        f"ahead of the others by more than the {r.tie:.3f} that chance gives"
        if v.clear
        else f"The lowest end (batch {v.best_batch}) is within the "
        f"{r.tie:.3f} nats that chance gives of another: no batch size is "
        "clearly better here"
    )
    console.print(
        f"Each run reads the same {r.tokens_per_run:,} tokens; a batch k times larger "
        f"makes k times fewer updates (the larger batches are accumulated micro-batches, "
        f"exact as the check below shows). {best}; the worst ends {v.spread:.3f} nats "
        "higher. A larger batch gives a less noisy gradient but fewer steps to follow it.\n"
    )


# ----------------------------------------------------------------------------
# 9. Over-fitting a small slice of the text.


@dataclass(frozen=True)
class OverfitVerdict:
    split_step: int | None  # the step where validation turned up while train fell
    shape: str  # 'rising' (they part), 'gap' (apart, validation flat) or 'together'
    gap: float  # validation minus train at the end
    val_min: float
    val_final: float
    train_final: float
    full_text_val: float | None  # the same run on the whole text


@dataclass(frozen=True)
class Overfit:
    runs: tuple[Curves]
    slice: int  # characters of text the run saw
    verdict: OverfitVerdict
    eval_every: int
    steps: int


def overfit_rows(slice_: int) -> list:
    return [(f"slice of {slice_:,}", {"text": slice_})]


def overfit_verdict(run: Curves, full: Curves, tolerance: float = PART_TOLERANCE):
    """Where train and validation part on the slice, against the run on the whole text."""
    train, val = jnp.asarray(run.train_eval), jnp.asarray(run.val)
    point = int(dyn.parting_point(train, val, jnp.asarray(tolerance)))
    gap = run.val[-1] - run.train_eval[-1]
    return OverfitVerdict(
        split_step=None if point < 0 else run.eval_steps[point],
        shape="rising" if point >= 0 else ("gap" if gap > tolerance else "together"),
        gap=gap,
        val_min=min(run.val),
        val_final=run.val[-1],
        train_final=run.train_eval[-1],
        full_text_val=full.final_val,
    )


def compute_overfit(done: dict, *, slice_: int) -> Overfit:
    (run,), sweep = pick(done, overfit_rows(slice_)), done["sweep"]
    verdict = overfit_verdict(run, sweep.curves["adamw"])
    return Overfit((run,), slice_, verdict, sweep.eval_every, sweep.steps)


def say_overfit(r: Overfit, console: Console) -> None:
    v, run, steps = r.verdict, r.runs[0], display.count(r.steps, "step")
    console.print(
        display.line_chart(
            {"train (the slice)": list(run.train_eval), "validation": list(run.val)},
            height=10,
            width=60,
            x_label=f"evaluation, every {r.eval_every} steps:",
        )
    )
    if v.shape == "gap":
        console.print(
            f"Trained on the first {r.slice:,} characters only, the training loss ends at "
            f"{v.train_final:.3f} and validation at {v.val_final:.3f} (its minimum "
            f"{v.val_min:.3f}): {v.gap:.3f} nats apart. The model fits its slice "
            f"far better than unseen text, though validation has not yet turned upwards "
            f"within {steps}.\n"
        )
    elif v.shape == "together":
        console.print(
            f"On the first {r.slice:,} characters alone, train and validation losses "
            f"stayed together within {steps} (train {v.train_final:.3f}, validation "
            f"{v.val_final:.3f}, its minimum {v.val_min:.3f}).\n"
        )
    else:
        full = "—" if v.full_text_val is None else format(v.full_text_val, ".3f")
        console.print(
            f"Trained on the first {r.slice:,} characters only, the training loss falls to "
            f"{v.train_final:.3f} while the validation loss, lowest at step "
            f"{v.split_step} ({v.val_min:.3f}), climbs to {v.val_final:.3f}: the curves "
            f"part at step {v.split_step}. The model memorises its slice instead of learning "
            f"English; on the whole text the same run ends at {full}.\n"
        )


def saw_overfit(r: Overfit) -> str:
    """What you saw, on the slice: where train and validation parted, or how far apart."""
    v = r.verdict
    if v.shape == "rising":
        return (
            f"On a slice of {r.slice:,} characters, train and validation parted at step "
            f"{v.split_step}: training kept falling ({v.train_final:.3f}) while validation "
            f"climbed from {v.val_min:.3f} to {v.val_final:.3f}."
        )
    if v.shape == "gap":
        return (
            f"On a slice of {r.slice:,} characters, training ended {v.gap:.3f} nats below "
            f"validation ({v.train_final:.3f} against {v.val_final:.3f}), though validation "
            "had not yet turned upwards."
        )
    return (
        f"On a slice of {r.slice:,} characters, train and validation stayed together "
        f"({v.train_final:.3f} and {v.val_final:.3f}): no over-fitting in this run."
    )


# ----------------------------------------------------------------------------
# 10. Gradient accumulation is exact.


@dataclass(frozen=True)
class Accumulation:
    k: int
    micro_batch: int
    max_grad_diff: float  # k micro-batches against one batch of k·B
    max_grad: float  # the largest gradient entry, for scale
    loss_diff: float
    step_size: float  # the largest change one AdamW step made to a parameter
    params_max_diff: float  # the parameters after that step, the two ways
    dtype: str


@partial(jax.jit, static_argnames="loss_fn")
def big_batch_step(state, batch, *, loss_fn):
    """One batch (x, y), each (k·B, T) int32: its loss and gradient (the reference), and
    the parameters after training.train_step takes it (XLA computes the gradient once)."""
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    return loss, grads, tr.train_step(state, batch, loss_fn=loss_fn)[0].params


@partial(jax.jit, static_argnames="loss_fn")
def micro_batch_steps(state, batches, *, loss_fn):
    """k micro-batches (x, y), each (k, B, T) int32: their mean loss and gradient taken
    one at a time, and the parameters after training.train_step has taken all k."""
    loss, grads = accumulated_value_and_grad(loss_fn)(state.params, batches)

    def step(state, xy):
        return tr.train_step(state, xy, loss_fn=loss_fn)

    return loss, grads, jax.lax.scan(step, state, batches)[0].params


def max_abs(a, b) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def max_leaf(a) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64)))) for x in jax.tree.leaves(a))


def compute_accumulation(done: dict, *, s: Setup) -> Accumulation:
    c, loss_fn = s.config, tr.LMLoss(s.model)
    # One batch of k·B against its k micro-batches of B, then one AdamW step each.
    check = lang.sample_batch(s.k_check, jnp.asarray(s.train), CHECK_K * c.batch, c.context)
    parts = micro_batches(check, CHECK_K)  # (k, B, T) x2
    state_1, state_k = (tr.init_state(s.params, tr.hyper_of(c, accumulate=k)) for k in (1, CHECK_K))
    loss_big, g_big, big = big_batch_step(state_1, check, loss_fn=loss_fn)
    loss_acc, g_acc, acc = micro_batch_steps(state_k, parts, loss_fn=loss_fn)
    return Accumulation(
        k=CHECK_K,
        micro_batch=c.batch,
        max_grad_diff=max_abs(g_big, g_acc),
        max_grad=max_leaf(g_big),
        loss_diff=abs(float(loss_big) - float(loss_acc)),
        step_size=max_abs(big, s.params),
        params_max_diff=max_abs(big, acc),
        dtype=str(s.params["tok"].dtype),
    )


def say_accumulation(a: Accumulation, console: Console) -> None:
    console.print(
        f"{a.k} micro-batches of {a.micro_batch} windows, their gradients averaged, "
        f"against one batch of {a.k * a.micro_batch} ({a.dtype}): the losses differ "
        f"by {a.loss_diff:.1e}, the gradients by at most {a.max_grad_diff:.1e} (the "
        f"largest gradient entry is {a.max_grad:.2g}), and after one AdamW step the "
        f"parameters differ by at most {a.params_max_diff:.1e}, against a step of "
        f"up to {a.step_size:.1e}: {step_verdict(a.params_max_diff, a.step_size)}. The mean "
        "of k means of B is the mean of k·B, and the gradient is linear."
    )


def step_verdict(diff: float, step: float) -> str:
    """Rounding when the parameters differ by at most a hundredth of the step, else not."""
    if diff <= step / 100:
        return "rounding, not a different step"
    return f"{diff / step:.0%} of a step, more than rounding: the two steps differ"


# ----------------------------------------------------------------------------
# The lesson.


def build(args: argparse.Namespace) -> list[sections.Section]:
    s = setup(args.seed, args.steps, args.batch, args.lr, args.d_model, args.layers, args.context)
    runs = len(run_table(args.lr, args.slice))
    doing = (
        f"compiling and training {runs} runs of {args.steps:,} steps side by side, in one program…"
    )
    S = sections.Section
    # fmt: off
    return [
        S("sweep", partial(compute_sweep, s=s, lr=args.lr, slice_=args.slice), say_sweep,
          doing=doing),
        S("noise", compute_noise, say_noise),
        S("optimizers", compute_optimizers, say_optimizers, title="SGD against AdamW"),
        S("warmup", compute_warmup, say_warmup, title="Warm-up against none"),
        S("learning_rate", partial(compute_learning_rate, lr=args.lr), say_learning_rate,
          title="A learning-rate sweep"),
        S("clipping", compute_clipping, say_clipping,
          title="Global-norm clipping on a run that spikes"),
        S("weight_decay", compute_weight_decay, say_weight_decay, title="Weight decay"),
        S("batch_size", partial(compute_batch_size, batch=args.batch), say_batch_size,
          title="Batch size at a fixed budget of tokens"),
        S("overfit", partial(compute_overfit, slice_=args.slice), say_overfit,
          title="Over-fitting a small slice"),
        S("accumulation", partial(compute_accumulation, s=s), say_accumulation,
          title="Gradient accumulation",
          doing="checking gradient accumulation: one batch against its micro-batches…"),
    ]
    # fmt: on


def fields(x, *names: str) -> dict:
    """Some of a result's fields, by name, for --json."""
    return {name: getattr(x, name) for name in names}


def results(done: dict) -> dict:
    """The --json results, as documented: the sweep's numbers, one object per
    comparison with its curves and verdict, then the accumulation check."""
    sweep, noise_, warmup = done["sweep"], done["noise"], done["warmup"]
    before = (
        "dtype", "model", "param_count", "vocab_size", "train_tokens", "tokens_per_run", "runs",
        "steps", "eval_every", "val_tokens_scored", "unigram_val_loss", "init_loss",
        "uniform_loss", "divergence_window",
    )  # fmt: skip
    warm = fields(warmup, "runs", "warmup_steps", "verdict")
    if warmup.verdict.margin is None:  # a run diverged: no jumps to compare
        warm["verdict"] = fields(warmup.verdict, "better", "margin")
    acc = done["accumulation"]
    return {
        **fields(sweep, *before),
        "noise": fields(noise_, "runs", "tie"),
        **fields(sweep, "compile_ms", "run_ms"),
        "optimizers": fields(done["optimizers"], "runs", "sgd_lrs", "verdict"),
        "warmup": warm,
        "learning_rate": fields(done["learning_rate"], "runs", "lrs", "verdict"),
        "clipping": fields(done["clipping"], "runs", "lr", "clip", "verdict"),
        "weight_decay": fields(done["weight_decay"], "runs", "decays", "verdict"),
        "batch_size": fields(done["batch_size"], "runs", "batches", "updates", "verdict"),
        "overfit": fields(done["overfit"], "runs", "slice", "verdict"),
        "accumulation": fields(
            acc, "k", "micro_batch", "max_grad_diff", "max_grad", "loss_diff", "step_size"
        ),
        "accumulation_max_diff": acc.params_max_diff,
        "overfit_split_step": done["overfit"].verdict.split_step,
    }


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [
        saw_optimizers(done["optimizers"]),
        saw_learning_rate(done["learning_rate"]),
        saw_overfit(done["overfit"]),
    ]


KERNELS = (
    sw.train_sweep, tr.train_step, tr.recipe, tr.learning_rate, dyn.divergence_step,
    dyn.largest_spike, dyn.parting_point, accumulated_value_and_grad, big_batch_step,
    micro_batch_steps,
)  # fmt: skip


# ----------------------------------------------------------------------------
# The flags, and what they may ask for.


def memory_needed(runs: int, d: int, layers: int, context: int, batch: int, vocab: int = 128):
    """Rough bytes: per run, params + Adam's two moments + the gradient sum + updates,
    and the activations of one micro-batch and of the validation windows (about
    48·d + 5·H·T numbers per token and layer, plus the logits)."""
    n = 12 * layers * d * d + (vocab + context) * d
    per_token = layers * (48 * d + 5 * HEADS * context) + 3 * vocab
    tokens = batch * context + VAL_WINDOWS * context
    return runs * 4 * (6 * n + per_token * tokens)


def sweep_work(steps: int, batch: int, d: int, layers: int, context: int) -> float:
    """Training FLOPs of one run: what the sweep's time grows with (runs are fixed)."""
    model = tf.GPTConfig(128, context, d, layers, HEADS, 4 * d)
    return steps * batch * context * tr.flops_per_token(model, context)


DEFAULT_WORK = sweep_work(STEPS, BATCH, D_MODEL, LAYERS, CONTEXT)
DEFAULT_SECONDS = 30  # the default sweep on a busy 2-core CPU (4,096 steps took 16 minutes)
MAX_WORK_FACTOR = 4  # about two minutes there: past it a learner waits with no word


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    unit = math.lcm(EVALS, *ACCUMULATE)
    parser.add_argument(
        "--steps",
        type=cli.multiple_in(unit, unit, MAX_STEPS, "a bound on time"),
        default=STEPS,
        help=f"micro-batches per run, a multiple of {unit} (%(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=cli.int_in(2, 64),
        default=BATCH,
        help="windows per micro-batch (%(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.float_in(1e-5, 0.1),
        default=LR,
        help="AdamW's peak rate; the sweep goes from 0.01× to 1000× it (%(default)s)",
    )
    parser.add_argument(
        "--d-model",
        type=cli.multiple_in(HEADS, 8, 256, "a bound on time"),
        default=D_MODEL,
        help=f"width d, a multiple of the {HEADS} heads (%(default)s)",
    )
    parser.add_argument(
        "--layers", type=cli.int_in(1, 8, "a bound on time"), default=LAYERS, help="(%(default)s)"
    )
    parser.add_argument(
        "--context",
        type=cli.int_in(8, 256),
        default=CONTEXT,
        help="characters per window (%(default)s)",
    )
    parser.add_argument(
        "--slice",
        type=cli.int_in(300, 50_000, "a slice, not the text"),
        default=SLICE,
        help="characters of the text the over-fitting run sees (%(default)s)",
    )
    args = parser.parse_args(argv)  # --slice >= 300 always holds a window of --context <= 256
    work = sweep_work(args.steps, args.batch, args.d_model, args.layers, args.context)
    if work > MAX_WORK_FACTOR * DEFAULT_WORK:
        parser.error(
            f"--steps, --batch, --d-model, --layers and --context ask for "
            f"{work / DEFAULT_WORK:.1f}× the default run's arithmetic, about "
            f"{work / DEFAULT_WORK * DEFAULT_SECONDS / 60:.0f} minutes on a 2-core CPU; "
            f"a bound on time allows {MAX_WORK_FACTOR}× (about "
            f"{MAX_WORK_FACTOR * DEFAULT_SECONDS / 60:.0f} minutes): lower one of them"
        )
    runs = len(run_table(args.lr, args.slice))
    need = memory_needed(runs, args.d_model, args.layers, args.context, args.batch)
    itemsize = 8 if jax.config.jax_enable_x64 else 4
    cli.require_memory(parser, need * itemsize / 4, "--d-model, --layers, --context, --batch")
    sections.open_lesson(args, __file__, __doc__)  # build() sets up the model and the data
    sections.run(args, __file__, __doc__, build(args), summary=summary, results=results,
                 kernels=KERNELS)  # fmt: skip


if __name__ == "__main__":
    cli.entry(main)
