"""Lesson 05 — a linear probe: logistic regression fit with jax.grad.

Two clusters of 2-D points, class 0 around (2, 2) and class 1 around (-2, -2).
A probe p = sigmoid(x · w + b) learns to tell them apart by gradient descent
on the cross-entropy, every epoch using the whole training set. All epochs run
as ONE compiled lax.scan: Python hands the loop to XLA once. Then: how sure
are we of the validation accuracy (a Wilson interval), what is the best any
classifier could do here, and does optax's SGD take the same step as ours?

Seeds: --seed (default 42) draws the training set; the validation set uses
seed + 957 and the initial weights seed + 58, which gives the original's
seeds 42, 999 and 100 at the default.

Run:  python lessons/05_linear_probe.py [--epochs 100] [--lr 0.1] [--l2 0.001]
      [--train-size 1000] [--val-size 500] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, display, probe, sections, stats, timing

SEED, VAL_SEED_OFFSET, INIT_SEED_OFFSET = 42, 957, 58  # 42, 999, 100: the original's seeds
EPOCHS, LR, L2, TRAIN_SIZE, VAL_SIZE = 100, 0.1, 0.001, 1000, 500
LOG_EVERY = 20
MAX_EPOCHS = 10**5  # 200,000 took 12 s per run on a busy 2-core CPU; timed 4 times at most
MAX_POINTS = 10**7
# Time grows with epochs × points: a full-batch epoch touches every point once.
MAX_WORK = MAX_EPOCHS * (TRAIN_SIZE + VAL_SIZE)  # the longest default-sized run
MAX_LR = MAX_L2 = 1e4  # far past where every run fails; float32 overflows soon after


def bytes_needed(epochs: int, train_size: int, val_size: int) -> int:
    """Peak memory: the points (x, y and the logits, float32), the path of
    parameters, and the per-epoch validation, (epochs, val) logits and matches."""
    return 4 * (6 * (train_size + val_size) + 4 * epochs + 3 * epochs * val_size)


@dataclass(frozen=True)
class Weights:
    w: list[float]  # (w₁, w₂)
    b: float


def weights(params: probe.Params) -> Weights:
    return Weights(np.asarray(params.w)[:, 0].tolist(), float(params.b))


def params_of(p: Weights, dtype: str) -> probe.Params:
    """The probe's parameters back from their numbers: w (2, 1), b ()."""
    return probe.Params(jnp.array([[v] for v in p.w], dtype), jnp.array(p.b, dtype))


# ----------------------------------------------------------------------------
# 1. Training: every epoch in one compiled lax.scan.


@dataclass(frozen=True)
class Logged:
    epoch: int
    loss: float  # where the epoch's step started
    val_accuracy: float  # after it, in %


@dataclass(frozen=True)
class Training:
    seed: int  # of the training set
    val_seed: int
    init_seed: int
    epochs: int
    lr: float
    l2: float
    train_size: int
    val_size: int
    dtype: str
    initial: Weights
    final: Weights
    first_step: Weights  # after the scan's first step (section 4 checks it)
    loss_history: list[float]  # (epochs,)
    log: list[Logged]  # every log_every epochs, and the last
    diverged_at: int | None  # the first epoch whose loss or weights are not finite
    failure: str  # training_failure's reason, "" for a run that worked
    penalty_factor: float  # 1 − 2·lr·λ: what the penalty alone does to w each step
    val_correct: int  # right answers after the last epoch
    val_accuracy: float  # in %
    compile_ms: float
    train_ms: float  # median of repeats


def log_every(epochs: int, rows: int = 10) -> int:
    """Epochs between logged rows: LOG_EVERY, or a multiple of it that keeps the
    table to about `rows` rows (a million epochs log every 100,000)."""
    return LOG_EVERY * max(1, -(-epochs // (LOG_EVERY * rows)))


def training_failure(losses: list[float], val_accuracy: float, diverged_at: int | None) -> str:
    """Why a run failed ('diverged', 'loss rose', 'below chance'), or '' for a run
    that worked. A finite run can fail too: too large a step overshoots and
    flips the probe (--lr 1000 ends with the loss up and accuracy near 0)."""
    if diverged_at is not None:
        return "diverged"
    if len(losses) > 1 and losses[-1] > losses[0]:
        return "loss rose"
    if val_accuracy < 50:
        return "below chance"
    return ""


def compute_training(done: dict, *, args) -> Training:
    seed, epochs, val_size = args.seed, args.epochs, args.val_size
    x, y = probe.make_clusters(jax.random.key(seed), args.train_size)  # (N, 2), (N, 1)
    val_key = jax.random.key(seed + VAL_SEED_OFFSET)
    x_val, y_val = probe.make_clusters(val_key, val_size)  # (V, 2), (V, 1)
    start = probe.init_params(jax.random.key(seed + INIT_SEED_OFFSET))  # w (2, 1), b ()

    config = probe.ProbeConfig(args.lr, args.l2)
    compiled = timing.compile_timing(probe.train, start, (x, y), config=config, epochs=epochs)
    run = compiled.compiled
    final, (losses, path) = run(start, (x, y), config=config)  # (E,), w (E, 2, 1), b (E,)
    repeats = 7 if epochs <= 10**4 else 3  # long scans: fewer repeats, each is seconds
    train_ms = timing.time_call(lambda: run(start, (x, y), config=config), repeats=repeats)

    # Validation accuracy after every epoch, from the stacked params in one call.
    per_epoch = jax.jit(jax.vmap(probe.accuracy, in_axes=(0, None, None)))
    correct = np.rint(np.asarray(per_epoch(path, x_val, y_val)) * val_size).astype(int)  # (E,)
    losses = np.asarray(losses)  # (E,) on the host: indexing it compiles nothing
    every = log_every(epochs)
    logged = sorted({*range(every, epochs + 1, every), epochs})
    log = [Logged(e, float(losses[e - 1]), 100 * int(correct[e - 1]) / val_size) for e in logged]

    finite = (
        np.isfinite(losses)
        & np.isfinite(np.asarray(path.b))
        & np.isfinite(np.asarray(path.w)).all(axis=(1, 2))
    )  # (E,)
    diverged_at = None if finite.all() else int(np.argmin(finite)) + 1
    val_accuracy = 100 * int(correct[-1]) / val_size
    return Training(
        seed=seed,
        val_seed=seed + VAL_SEED_OFFSET,
        init_seed=seed + INIT_SEED_OFFSET,
        epochs=epochs,
        lr=args.lr,
        l2=args.l2,
        train_size=args.train_size,
        val_size=val_size,
        dtype=str(x.dtype),
        initial=weights(start),
        final=weights(final),
        first_step=Weights(np.asarray(path.w)[0][:, 0].tolist(), float(np.asarray(path.b)[0])),
        loss_history=losses.tolist(),
        log=log,
        diverged_at=diverged_at,
        failure=training_failure(losses.tolist(), val_accuracy, diverged_at),
        penalty_factor=1 - 2 * args.lr * args.l2,
        val_correct=int(correct[-1]),
        val_accuracy=val_accuracy,
        compile_ms=compiled.lower_ms + compiled.compile_ms,
        train_ms=train_ms.median_ms,
    )


def hyper_parameters(t: Training) -> str:
    return (
        f"lr = {t.lr:g}, λ = {t.l2:g}, {display.count(t.epochs, 'epoch')}, "
        f"{display.count(t.train_size, 'training point')}, "
        f"{display.count(t.val_size, 'validation point')}, {t.dtype}; seeds "
        f"{t.seed} (training set), {t.val_seed} (validation), {t.init_seed} "
        "(initial weights)"
    )


def failure_sentence(failure: str, losses: list[float], val_accuracy: float, lr: float) -> str:
    """The warning for a finite run that failed, from its own numbers."""
    first, last = losses[0], losses[-1]
    if failure == "loss rose":
        why = f"the loss rose from {first:.4g} to {last:.4g}"
    else:
        why = f"validation accuracy is {val_accuracy:.1f}%, below the 50% of a coin toss"
    return (
        f"[bold red]Training failed:[/] {why}. The steps overshoot (lr = {lr:g}): "
        "lower --lr and run again. The numbers below are those of a failed run."
    )


def say_diverged(t: Training, console: Console) -> None:
    console.print(
        f"[bold red]Training diverged:[/] the loss or the weights left {t.dtype}'s "
        f"range at epoch {t.diverged_at} of {len(t.loss_history)}; the steps are too large."
    )
    if t.penalty_factor < -1:
        console.print(
            f"The penalty alone multiplies w by 1 - 2·lr·λ = {t.penalty_factor:g} "
            "each step: below -1 that flips its sign and makes it grow."
        )
    console.print("Lower --lr (or --l2) and run again.")


def say_training(t: Training, console: Console) -> None:
    console.print(f"Hyper-parameters: {hyper_parameters(t)}.\n")
    if t.failure == "diverged":
        say_diverged(t, console)
        return
    if t.failure:
        console.print(failure_sentence(t.failure, t.loss_history, t.val_accuracy, t.lr) + "\n")
    epochs = len(t.loss_history)
    console.print(f"[bold]{display.count(epochs, 'full-batch epoch')}, one compiled lax.scan:[/]")
    table = Table()
    for col in ("epoch", "train loss", "val accuracy"):
        table.add_column(col, justify="right")
    for row in t.log:
        table.add_row(str(row.epoch), f"{row.loss:.4f}", f"{row.val_accuracy:.1f} %")
    console.print(display.fit(table, console))
    console.print("[dim]train loss: where the epoch's step started; val accuracy: after it.[/]")
    console.print(
        f"The scan compiled in {t.compile_ms:.0f} ms and runs "
        f"{'all ' if epochs > 1 else ''}{display.count(epochs, 'epoch')} in "
        f"{t.train_ms:.2f} ms (median of repeats).\n"
    )
    width = display.chart_width(console, 12)
    chart = display.line_chart(
        {"train loss": t.loss_history}, height=12, width=width, x_label="epoch", y_label="loss"
    )
    console.print(chart)


# ----------------------------------------------------------------------------
# 2. The parameters, and the boundary they draw.


@dataclass(frozen=True)
class Parameters:
    initial: Weights
    final: Weights
    angle_to_best_deg: float  # between w and the best boundary's normal (-1, -1)
    boundary_offset: float  # distance of the line w · x + b = 0 from the origin
    diverged: bool


def compute_parameters(done: dict) -> Parameters:
    t = done["training"]
    w = np.array(t.final.w, dtype=np.float64)  # (2,) float64: no overflow in the norms
    ideal = np.array([-1.0, -1.0])  # (2,) the best boundary's normal, towards class 1
    cos = w @ ideal / (np.linalg.norm(w) * np.linalg.norm(ideal))
    return Parameters(
        initial=t.initial,
        final=t.final,
        angle_to_best_deg=math.degrees(math.acos(np.clip(cos, -1.0, 1.0))),
        boundary_offset=abs(t.final.b) / float(np.linalg.norm(w)),
        diverged=t.failure == "diverged",
    )


def say_parameters(r: Parameters, console: Console) -> None:
    if r.diverged:
        console.print("[dim]None worth reading: training diverged.[/]")
        return
    params = Table()
    for col in ("", "w₁", "w₂", "b"):
        params.add_column(col, justify="right")
    for name, p in (("initial", r.initial), ("final", r.final)):
        params.add_row(name, *(f"{v:+.4f}" for v in (*p.w, p.b)))
    console.print(display.fit(params, console))
    w1, w2 = r.final.w
    console.print(
        f"The probe's boundary w₁x₁ + w₂x₂ + b = 0 has normal ({w1:+.3f}, {w2:+.3f}), "
        f"{r.angle_to_best_deg:.1f}° from the best boundary's normal (-1, -1), "
        f"and passes {r.boundary_offset:.3f} from the origin (the best one "
        "passes through it)."
    )


# ----------------------------------------------------------------------------
# 3. Validation: how sure we are, and the best anyone could do.


@dataclass(frozen=True)
class Validation:
    val_correct: int
    val_size: int
    val_accuracy: float  # in %
    wilson_z: float
    wilson_ci: list[float]  # [low, high] in %
    wilson_miss_pct: float  # how often such an interval misses the true accuracy
    population_accuracy: float  # the probe's exact accuracy on the whole distribution, %
    bayes_accuracy: float  # the best any classifier can do, %
    centre_distance: float  # ‖μ‖, in standard deviations
    diverged: bool


def compute_validation(done: dict) -> Validation:
    t = done["training"]
    low, high = stats.wilson_interval(t.val_correct, t.val_size)
    true_accuracy = float(probe.population_accuracy(params_of(t.final, t.dtype)))
    with jax.enable_x64(True):  # a sum of up to 10**7 binomial terms, in float64
        miss = float(stats.wilson_miss_rate(np.float64(true_accuracy), t.val_size))
    distance = probe.centre_distance()
    return Validation(
        val_correct=t.val_correct,
        val_size=t.val_size,
        val_accuracy=t.val_accuracy,
        wilson_z=stats.Z_95,
        wilson_ci=[100 * float(low), 100 * float(high)],
        wilson_miss_pct=100 * miss,  # at the true accuracy and this val_size
        population_accuracy=100 * true_accuracy,
        bayes_accuracy=100 * float(probe.bayes_accuracy(distance)),
        centre_distance=distance,
        diverged=t.failure == "diverged",
    )


def interval_sentence(v: Validation) -> str:
    """The Wilson interval with both of its sides, which differ near 0 or 100 %."""
    (low, high), acc = v.wilson_ci, v.val_accuracy
    below, above = acc - low, high - acc
    return (
        f"Wilson 95 % interval: [{low:.2f} %, {high:.2f} %] (z = {v.wilson_z}, "
        f"n = {v.val_size}): {below:.2f} percentage points below the measured "
        f"{acc:.1f} % and {above:.2f} above"
        + (
            ", lopsided: near 100 % there is little room above."
            if above < below / 1.5 and acc > 50
            else ", lopsided: near 0 % there is little room below."
            if below < above / 1.5
            else "."
        )
    )


def coverage_sentence(v: Validation) -> str:
    """Whether this interval caught the true accuracy, against its real miss rate."""
    low, high = v.wilson_ci
    true, miss = v.population_accuracy, v.wilson_miss_pct
    if abs(miss - 5) < 0.05:
        against = "the nominal 5 %"
    else:
        against = f"{'more' if miss > 5 else 'less'} than the nominal 5 %"
    rate = (
        f"For a probe whose true accuracy is {true:.2f} %, a 95 % Wilson interval from "
        f"{display.count(v.val_size, 'point')} misses it in "
        f"{display.share(miss / 100, 1)} of validation samples (summed exactly over "
        f"the binomial): {against}."
    )
    caught = (
        "This sample's interval contains it."
        if low <= true <= high
        else "This sample's interval misses it: this validation sample is one of those."
    )
    return f"{rate} {caught}"


def say_validation(v: Validation, console: Console) -> None:
    if v.diverged:
        console.print("[dim]No accuracy worth reading: training diverged.[/]")
        return
    console.print(
        f"[bold]Validation accuracy: {v.val_accuracy:.1f} %[/] "
        f"({v.val_correct} of {display.count(v.val_size, 'point')})"
    )
    console.print(interval_sentence(v))
    console.print(
        f"This probe's exact accuracy on the whole distribution: {v.population_accuracy:.2f} %."
    )
    d = v.centre_distance
    console.print(
        f"Best possible: {v.bayes_accuracy:.2f} %. Each centre is {d:.2f} "
        f"standard deviations from the best boundary x₁ + x₂ = 0, so Φ({d:.2f}) "
        "of each class falls on its own side."
    )
    console.print(coverage_sentence(v))


# ----------------------------------------------------------------------------
# 4. The same step through optax.


@jax.jit
def optax_step(params, x, y, lr: float, l2: float):
    """The same step through optax: sgd's update is -lr · grad."""
    optimizer = optax.sgd(lr)
    grads = jax.grad(probe.loss)(params, x, y, l2)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    return optax.apply_updates(params, updates)


@dataclass(frozen=True)
class Optax:
    optax_max_diff: float  # largest difference between optax's first step and ours
    optax_matches: bool
    diverged: bool


def compute_optax(done: dict) -> Optax:
    t = done["training"]
    x, y = probe.make_clusters(jax.random.key(t.seed), t.train_size)  # (N, 2), (N, 1)
    start = probe.init_params(jax.random.key(t.init_seed))  # w (2, 1), b ()
    via_optax = weights(optax_step(start, x, y, t.lr, t.l2))
    ours = t.first_step
    diff = max(abs(a - b) for a, b in zip([*via_optax.w, via_optax.b], [*ours.w, ours.b]))
    return Optax(float(diff), diff <= 1e-6, t.failure == "diverged")


def say_optax(r: Optax, console: Console) -> None:
    if r.diverged:
        console.print("[dim]Not compared: training diverged.[/]")
        return
    verdict = "gives the same parameters as" if r.optax_matches else "DIFFERS from"
    console.print(
        f"One optax.sgd step {verdict} our hand-written update "
        f"(largest difference {r.optax_max_diff:.1e})."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S = sections.Section
    return [
        S(
            "training",
            partial(compute_training, args=args),
            say_training,
            title="1. Training in one lax.scan",
            doing=f"compiling and running {display.count(args.epochs, 'epoch')} in one lax.scan",
        ),
        S("parameters", compute_parameters, say_parameters, title="2. Parameters"),
        S(
            "validation",
            compute_validation,
            say_validation,
            title="3. Validation",
            doing="summing the interval's miss rate over the binomial",
        ),
        S("optax", compute_optax, say_optax, title="4. The same step in optax"),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    t, p, v, o = (done[n] for n in ("training", "parameters", "validation", "optax"))
    return {
        "seed": t.seed,
        "epochs": t.epochs,
        "lr": t.lr,
        "l2": t.l2,
        "train_size": t.train_size,
        "dtype": t.dtype,
        "initial": t.initial,
        "final": t.final,
        "w": [[v] for v in t.final.w],
        "b": t.final.b,
        "loss_history": t.loss_history,
        "log": t.log,
        "diverged_at": t.diverged_at,
        "failure": t.failure,
        "penalty_factor": t.penalty_factor,
        "val_correct": v.val_correct,
        "val_size": v.val_size,
        "val_accuracy": v.val_accuracy,
        "wilson_z": v.wilson_z,
        "wilson_ci": v.wilson_ci,
        "wilson_miss_pct": v.wilson_miss_pct,
        "population_accuracy": v.population_accuracy,
        "bayes_accuracy": v.bayes_accuracy,
        "centre_distance": v.centre_distance,
        "angle_to_best_deg": p.angle_to_best_deg,
        "boundary_offset": p.boundary_offset,
        "optax_max_diff": o.optax_max_diff,
        "optax_matches": o.optax_matches,
        "val_seed": t.val_seed,
        "init_seed": t.init_seed,
        "compile_ms": t.compile_ms,
        "train_ms": t.train_ms,
    }


def training_bullet(t: Training) -> str:
    """What the compiled training loop did: learned, or failed and how."""
    epochs, losses = len(t.loss_history), t.loss_history
    if t.failure == "diverged":
        return (
            f"Training diverged at epoch {t.diverged_at} of {epochs}: with lr = {t.lr:g} "
            f"the loss or the weights left {t.dtype}'s range."
        )
    head = f"One compiled lax.scan ran {display.count(epochs, 'epoch')} in {t.train_ms:.2f} ms"
    first, last = f"{losses[0]:.4f}", f"{losses[-1]:.4f}"
    if first == last:
        return f"{head}; the training loss stayed at {first}."
    went = "rose" if losses[-1] > losses[0] else "fell"
    return f"{head}; the training loss {went} from {first} to {last}."


def interval_bullet(v: Validation) -> str:
    """The validation accuracy, its interval, and whether it caught the true accuracy."""
    low, high = v.wilson_ci
    true = v.population_accuracy
    head = (
        f"Validation accuracy {v.val_accuracy:.1f} % ({v.val_size:,} points), Wilson "
        f"95 % interval [{low:.2f} %, {high:.2f} %]: it"
    )
    if low <= true <= high:
        return f"{head} contains the probe's true accuracy, {true:.2f} %."
    miss = display.share(v.wilson_miss_pct / 100, 1)
    return f"{head} misses the true {true:.2f} %, as {miss} of such intervals do."


def short_of(gap: float) -> str:
    """'0.42 points short of it', or 'level with it' when the gap prints as zero."""
    shown = f"{gap:.2f}"
    return "level with it" if float(shown) <= 0 else f"{shown} points short of it"


def ceiling_bullet(v: Validation, failed: bool, angle_deg: float) -> str:
    """The probe against the best any classifier can do on these clusters."""
    gap = v.bayes_accuracy - v.population_accuracy
    best = f"The best any classifier can do here is {v.bayes_accuracy:.2f} %"
    if failed:
        return f"{best}; this failed run is {short_of(gap)}: lower --lr and run again."
    return f"{best}; the probe is {short_of(gap)}, its boundary {angle_deg:.1f}° off the best one."


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    t, v = done["training"], done["validation"]
    if t.failure == "diverged":
        return [
            training_bullet(t),
            "A diverged probe has no accuracy worth reading: its steps grew instead of "
            "settling towards the minimum.",
            f"Lower --lr (it was {t.lr:g}) and run again to watch the probe learn.",
        ]
    angle = done["parameters"].angle_to_best_deg
    return [training_bullet(t), interval_bullet(v), ceiling_bullet(v, bool(t.failure), angle)]


KERNELS = (
    probe.make_clusters,
    probe.logits,
    probe.loss,
    probe.train_step,
    probe.train,
    stats.wilson_interval,
    stats.wilson_miss_rate,
)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--epochs",
        type=cli.int_in(1, MAX_EPOCHS, "each epoch is a full-batch step, timed several times"),
        default=EPOCHS,
        help=f"gradient-descent epochs, at most {MAX_EPOCHS:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float_at_most(MAX_LR),
        default=LR,
        help=f"learning rate, at most {MAX_LR:g} (default: %(default)s)",
    )
    parser.add_argument(
        "--l2",
        type=cli.float_in(0, MAX_L2),
        default=L2,
        help="weight λ of the penalty λ·sum(w²) (default: %(default)s)",
    )
    parser.add_argument(
        "--train-size",
        type=cli.int_in(1, MAX_POINTS),
        default=TRAIN_SIZE,
        help="training points, half per class (default: %(default)s)",
    )
    parser.add_argument(
        "--val-size",
        type=cli.int_in(1, MAX_POINTS),
        default=VAL_SIZE,
        help="validation points, half per class (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    work = args.epochs * (args.train_size + args.val_size)
    if work > MAX_WORK:
        parser.error(
            f"--epochs {args.epochs:,} over {args.train_size + args.val_size:,} points "
            f"(--train-size + --val-size) is {work:,} point-epochs; a bound on time allows "
            f"{MAX_WORK:,}, as many as --epochs {MAX_EPOCHS:,} at the default sizes"
        )
    cli.require_memory(
        parser,
        bytes_needed(args.epochs, args.train_size, args.val_size),
        f"--epochs {args.epochs:,} with --val-size {args.val_size:,}",
    )
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=KERNELS
    )


if __name__ == "__main__":
    cli.entry(main)
