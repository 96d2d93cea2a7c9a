"""Lesson 2.1 — a linear probe: logistic regression trained with jax.grad.

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

import jax
import numpy as np
import optax
from rich.table import Table

from trinity_foundations import cli, display, timing
from trinity_foundations.probe import (
    ProbeConfig,
    accuracy,
    bayes_accuracy,
    centre_distance,
    init_params,
    logits,
    loss,
    make_clusters,
    population_accuracy,
    train,
    train_step,
)
from trinity_foundations.stats import Z_95, wilson_interval, wilson_miss_rate

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


@jax.jit
def optax_step(params, x, y, lr: float, l2: float):
    """The same step through optax: sgd's update is -lr · grad."""
    optimizer = optax.sgd(lr)
    grads = jax.grad(loss)(params, x, y, l2)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    return optax.apply_updates(params, updates)


def _floats(params) -> dict:
    return {"w": np.asarray(params.w)[:, 0].tolist(), "b": float(params.b)}


def _boundary(params) -> dict:
    """How the probe's line w · x + b = 0 sits against the best one, x₁ + x₂ = 0."""
    w = np.asarray(params.w, dtype=np.float64)[:, 0]  # (2,) float64: no overflow in the norms
    ideal = np.array([-1.0, -1.0])  # (2,) the best boundary's normal, towards class 1
    cos = w @ ideal / (np.linalg.norm(w) * np.linalg.norm(ideal))
    return {
        "angle_to_best_deg": math.degrees(math.acos(np.clip(cos, -1.0, 1.0))),
        "boundary_offset": abs(float(params.b)) / float(np.linalg.norm(w)),
    }


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


def _optax_check(start, first, x, y, lr: float, l2: float) -> float:
    """Largest difference between optax's step from `start` and ours (`first`)."""
    via_optax = optax_step(start, x, y, lr, l2)
    return max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(via_optax, first)
    )


def run(seed: int, epochs: int, lr: float, l2: float, train_size: int, val_size: int) -> dict:
    x, y = make_clusters(jax.random.key(seed), train_size)  # (N, 2), (N, 1)
    x_val, y_val = make_clusters(jax.random.key(seed + VAL_SEED_OFFSET), val_size)  # (V, 2), (V, 1)
    start = init_params(jax.random.key(seed + INIT_SEED_OFFSET))  # w (2, 1), b ()

    config = ProbeConfig(lr, l2)
    compiled = timing.compile_timing(train, start, (x, y), config=config, epochs=epochs)
    run = compiled.compiled
    final, (losses, path) = run(start, (x, y), config=config)  # (E,), w (E, 2, 1), b (E,)
    repeats = 7 if epochs <= 10**4 else 3  # long scans: fewer repeats, each is seconds
    train_ms = timing.time_call(lambda: run(start, (x, y), config=config), repeats=repeats)
    train_ms = train_ms.median_ms

    # Validation accuracy after every epoch, from the stacked params in one call.
    val_acc = jax.jit(jax.vmap(accuracy, in_axes=(0, None, None)))(path, x_val, y_val)  # (E,)
    correct = np.rint(np.asarray(val_acc) * val_size).astype(int)  # (E,) right answers
    losses = np.asarray(losses)  # (E,) on the host: indexing it compiles nothing
    every = log_every(epochs)
    logged = sorted({*range(every, epochs + 1, every), epochs})
    log = [
        {
            "epoch": e,
            "loss": float(losses[e - 1]),
            "val_accuracy": 100 * int(correct[e - 1]) / val_size,
        }
        for e in logged
    ]

    finite = (
        np.isfinite(losses)
        & np.isfinite(np.asarray(path.b))
        & np.isfinite(np.asarray(path.w)).all(axis=(1, 2))
    )  # (E,)
    low, high = wilson_interval(int(correct[-1]), val_size)
    true_accuracy = float(population_accuracy(final))
    with jax.enable_x64(True):  # a sum of up to 10**7 binomial terms, in float64
        miss = float(wilson_miss_rate(np.float64(true_accuracy), val_size))
    diverged_at = None if finite.all() else int(np.argmin(finite)) + 1
    first = (np.asarray(path.w)[0], np.asarray(path.b)[0])  # our first step: (2, 1), ()
    optax_diff = _optax_check(start, first, x, y, lr, l2)
    distance = centre_distance()
    val_accuracy = 100 * int(correct[-1]) / val_size
    return {
        "seed": seed,
        "epochs": epochs,
        "lr": lr,
        "l2": l2,
        "train_size": train_size,
        "dtype": str(x.dtype),
        "initial": _floats(start),
        "final": _floats(final),
        "w": np.asarray(final.w).tolist(),
        "b": float(final.b),
        "loss_history": losses.tolist(),
        "log": log,
        "diverged_at": diverged_at,
        "failure": training_failure(losses.tolist(), val_accuracy, diverged_at),
        "penalty_factor": 1 - 2 * lr * l2,
        "val_correct": int(correct[-1]),
        "val_size": val_size,
        "val_accuracy": val_accuracy,
        "wilson_z": Z_95,
        "wilson_ci": [100 * float(low), 100 * float(high)],
        "wilson_miss_pct": 100 * miss,  # at the true accuracy and this val_size
        "population_accuracy": 100 * true_accuracy,
        "bayes_accuracy": 100 * float(bayes_accuracy(distance)),
        "centre_distance": distance,
        **_boundary(final),
        "optax_max_diff": optax_diff,
        "optax_matches": optax_diff <= 1e-6,
        "val_seed": seed + VAL_SEED_OFFSET,
        "init_seed": seed + INIT_SEED_OFFSET,
        "compile_ms": compiled.lower_ms + compiled.compile_ms,
        "train_ms": train_ms,
    }


def hyper_parameters(r: dict) -> str:
    return (
        f"lr = {r['lr']:g}, λ = {r['l2']:g}, {display.count(r['epochs'], 'epoch')}, "
        f"{display.count(r['train_size'], 'training point')}, "
        f"{display.count(r['val_size'], 'validation point')}, {r['dtype']}; seeds "
        f"{r['seed']} (training set), {r['val_seed']} (validation), {r['init_seed']} "
        "(initial weights)"
    )


def diverged_section(r: dict, console) -> None:
    epochs = len(r["loss_history"])
    console.print(
        f"[bold red]Training diverged:[/] the loss or the weights left {r['dtype']}'s "
        f"range at epoch {r['diverged_at']} of {epochs}; the steps are too large."
    )
    if r["penalty_factor"] < -1:
        console.print(
            f"The penalty alone multiplies w by 1 - 2·lr·λ = {r['penalty_factor']:g} "
            "each step: below -1 that flips its sign and makes it grow."
        )
    console.print("Lower --lr (or --l2) and run again.")


def failure_sentence(r: dict) -> str:
    """The warning for a finite run that failed, from its own numbers."""
    first, last = r["loss_history"][0], r["loss_history"][-1]
    if r["failure"] == "loss rose":
        why = f"the loss rose from {first:.4g} to {last:.4g}"
    else:
        why = f"validation accuracy is {r['val_accuracy']:.1f}%, below the 50% of a coin toss"
    return (
        f"[bold red]Training failed:[/] {why}. The steps overshoot (lr = {r['lr']:g}): "
        "lower --lr and run again. The numbers below are those of a failed run."
    )


def training_section(r: dict, console) -> None:
    epochs = len(r["loss_history"])
    console.print(
        f"[bold]Training: {display.count(epochs, 'full-batch epoch')}, one compiled lax.scan[/]"
    )
    table = Table()
    for col in ("epoch", "train loss", "val accuracy"):
        table.add_column(col, justify="right")
    for row in r["log"]:
        table.add_row(str(row["epoch"]), f"{row['loss']:.4f}", f"{row['val_accuracy']:.1f} %")
    console.print(display.fit(table, console))
    console.print("[dim]train loss: where the epoch's step started; val accuracy: after it.[/]")
    console.print(
        f"The scan compiled in {r['compile_ms']:.0f} ms and runs "
        f"{'all ' if epochs > 1 else ''}{display.count(epochs, 'epoch')} in "
        f"{r['train_ms']:.2f} ms (median of repeats).\n"
    )
    width = display.chart_width(console, 12)
    console.print(
        display.line_chart(
            {"train loss": r["loss_history"]},
            height=12,
            width=width,
            x_label="epoch",
            y_label="loss",
        )
    )


def parameters_section(r: dict, console) -> None:
    params = Table(title="\nParameters")
    for col in ("", "w₁", "w₂", "b"):
        params.add_column(col, justify="right")
    for name in ("initial", "final"):
        p = r[name]
        params.add_row(name, *(f"{v:+.4f}" for v in (*p["w"], p["b"])))
    console.print(display.fit(params, console))
    w1, w2 = r["final"]["w"]
    console.print(
        f"The probe's boundary w₁x₁ + w₂x₂ + b = 0 has normal ({w1:+.3f}, {w2:+.3f}), "
        f"{r['angle_to_best_deg']:.1f}° from the best boundary's normal (-1, -1), "
        f"and passes {r['boundary_offset']:.3f} from the origin (the best one "
        "passes through it).\n"
    )


def interval_sentence(r: dict) -> str:
    """The Wilson interval with both of its sides, which differ near 0 or 100 %."""
    low, high, acc = *r["wilson_ci"], r["val_accuracy"]
    below, above = acc - low, high - acc
    return (
        f"Wilson 95 % interval: [{low:.2f} %, {high:.2f} %] (z = {r['wilson_z']}, "
        f"n = {r['val_size']}): {below:.2f} percentage points below the measured "
        f"{acc:.1f} % and {above:.2f} above"
        + (
            ", lopsided: near 100 % there is little room above."
            if above < below / 1.5 and acc > 50
            else ", lopsided: near 0 % there is little room below."
            if below < above / 1.5
            else "."
        )
    )


def coverage_sentence(r: dict) -> str:
    """Whether this interval caught the true accuracy, against its real miss rate."""
    low, high = r["wilson_ci"]
    true, miss = r["population_accuracy"], r["wilson_miss_pct"]
    if abs(miss - 5) < 0.05:
        against = "the nominal 5 %"
    else:
        against = f"{'more' if miss > 5 else 'less'} than the nominal 5 %"
    rate = (
        f"For a probe whose true accuracy is {true:.2f} %, a 95 % Wilson interval from "
        f"{display.count(r['val_size'], 'point')} misses it in "
        f"{display.share(miss / 100, 1)} of validation samples (summed exactly over "
        f"the binomial): {against}."
    )
    caught = (
        "This sample's interval contains it."
        if low <= true <= high
        else "This sample's interval misses it: this validation sample is one of those."
    )
    return f"{rate} {caught}"


def validation_section(r: dict, console) -> None:
    console.print(
        f"[bold]Validation accuracy: {r['val_accuracy']:.1f} %[/] "
        f"({r['val_correct']} of {display.count(r['val_size'], 'point')})"
    )
    console.print(interval_sentence(r))
    console.print(
        f"This probe's exact accuracy on the whole distribution: {r['population_accuracy']:.2f} %."
    )
    d = r["centre_distance"]
    console.print(
        f"Best possible: {r['bayes_accuracy']:.2f} %. Each centre is {d:.2f} "
        f"standard deviations from the best boundary x₁ + x₂ = 0, so Φ({d:.2f}) "
        "of each class falls on its own side."
    )
    console.print(coverage_sentence(r) + "\n")
    verdict = "gives the same parameters as" if r["optax_matches"] else "DIFFERS from"
    console.print(
        f"One optax.sgd step {verdict} our hand-written update "
        f"(largest difference {r['optax_max_diff']:.1e})."
    )


def report(r: dict, console) -> None:
    console.print(f"Hyper-parameters: {hyper_parameters(r)}.\n")
    if r["failure"] == "diverged":
        diverged_section(r, console)
        return
    if r["failure"]:
        console.print(failure_sentence(r) + "\n")
    training_section(r, console)
    parameters_section(r, console)
    validation_section(r, console)


def training_bullet(r: dict) -> str:
    """What the compiled training loop did: learned, or failed and how."""
    epochs, losses = len(r["loss_history"]), r["loss_history"]
    if r["failure"] == "diverged":
        return (
            f"Training diverged at epoch {r['diverged_at']} of {epochs}: with lr = {r['lr']:g} "
            f"the loss or the weights left {r['dtype']}'s range."
        )
    head = f"One compiled lax.scan ran {display.count(epochs, 'epoch')} in {r['train_ms']:.2f} ms"
    first, last = f"{losses[0]:.4f}", f"{losses[-1]:.4f}"
    if first == last:
        return f"{head}; the training loss stayed at {first}."
    went = "rose" if losses[-1] > losses[0] else "fell"
    return f"{head}; the training loss {went} from {first} to {last}."


def interval_bullet(r: dict) -> str:
    """The validation accuracy, its interval, and whether it caught the true accuracy."""
    low, high = r["wilson_ci"]
    true = r["population_accuracy"]
    head = (
        f"Validation accuracy {r['val_accuracy']:.1f} % ({r['val_size']:,} points), Wilson "
        f"95 % interval [{low:.2f} %, {high:.2f} %]: it"
    )
    if low <= true <= high:
        return f"{head} contains the probe's true accuracy, {true:.2f} %."
    miss = display.share(r["wilson_miss_pct"] / 100, 1)
    return f"{head} misses the true {true:.2f} %, as {miss} of such intervals do."


def short_of(gap: float) -> str:
    """'0.42 points short of it', or 'level with it' when the gap prints as zero."""
    shown = f"{gap:.2f}"
    return "level with it" if float(shown) <= 0 else f"{shown} points short of it"


def ceiling_bullet(r: dict) -> str:
    """The probe against the best any classifier can do on these clusters."""
    gap = r["bayes_accuracy"] - r["population_accuracy"]
    best = f"The best any classifier can do here is {r['bayes_accuracy']:.2f} %"
    if r["failure"]:
        return f"{best}; this failed run is {short_of(gap)}: lower --lr and run again."
    return (
        f"{best}; the probe is {short_of(gap)}, its boundary "
        f"{r['angle_to_best_deg']:.1f}° off the best one."
    )


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    if r["failure"] == "diverged":
        return [
            training_bullet(r),
            "A diverged probe has no accuracy worth reading: its steps grew instead of "
            "settling towards the minimum.",
            f"Lower --lr (it was {r['lr']:g}) and run again to watch the probe learn.",
        ]
    return [training_bullet(r), interval_bullet(r), ceiling_bullet(r)]


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
    results = run(args.seed, args.epochs, args.lr, args.l2, args.train_size, args.val_size)
    cli.finish(
        args,
        __file__,
        results,
        report,
        kernels=(make_clusters, logits, loss, train_step, train, wilson_interval, wilson_miss_rate),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
