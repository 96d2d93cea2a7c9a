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

import argparse
import math

import jax
import numpy as np
import optax
from rich.table import Table

from trinity_foundations import cli, display, timing
from trinity_foundations.probe import (
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
from trinity_foundations.stats import Z_95, wilson_interval

SEED, VAL_SEED_OFFSET, INIT_SEED_OFFSET = 42, 957, 58  # 42, 999, 100: the original's seeds
EPOCHS, LR, L2, TRAIN_SIZE, VAL_SIZE = 100, 0.1, 0.001, 1000, 500
LOG_EVERY = 20


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

    compiled = timing.compile_timing(train, start, x, y, lr, l2, epochs=epochs)
    final, (losses, path) = compiled.compiled(start, x, y, lr, l2)  # (E,), w (E, 2, 1), b (E,)
    train_ms = timing.time_call(compiled.compiled, start, x, y, lr, l2).median_ms

    # Validation accuracy after every epoch, from the stacked params in one call.
    val_acc = jax.jit(jax.vmap(accuracy, in_axes=(0, None, None)))(path, x_val, y_val)  # (E,)
    correct = np.rint(np.asarray(val_acc) * val_size).astype(int)  # (E,) right answers
    losses = np.asarray(losses)  # (E,) on the host: indexing it compiles nothing
    logged = sorted({*range(LOG_EVERY, epochs + 1, LOG_EVERY), epochs})
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
    first = (np.asarray(path.w)[0], np.asarray(path.b)[0])  # our first step: (2, 1), ()
    optax_diff = _optax_check(start, first, x, y, lr, l2)
    distance = centre_distance()
    return {
        "initial": _floats(start),
        "final": _floats(final),
        "w": np.asarray(final.w).tolist(),
        "b": float(final.b),
        "loss_history": losses.tolist(),
        "log": log,
        "diverged_at": None if finite.all() else int(np.argmin(finite)) + 1,
        "penalty_factor": 1 - 2 * lr * l2,
        "val_correct": int(correct[-1]),
        "val_size": val_size,
        "val_accuracy": 100 * int(correct[-1]) / val_size,
        "wilson_z": Z_95,
        "wilson_ci": [100 * float(low), 100 * float(high)],
        "population_accuracy": 100 * float(population_accuracy(final)),
        "bayes_accuracy": 100 * float(bayes_accuracy(distance)),
        "centre_distance": distance,
        **_boundary(final),
        "optax_max_diff": optax_diff,
        "optax_matches": optax_diff <= 1e-6,
        "compile_ms": compiled.lower_ms + compiled.compile_ms,
        "train_ms": train_ms,
    }


def report(r: dict, console) -> None:
    epochs = len(r["loss_history"])
    if r["diverged_at"] is not None:
        console.print(
            f"[bold red]Training diverged:[/] the loss or the weights left float32's "
            f"range at epoch {r['diverged_at']} of {epochs}; the steps are too large."
        )
        if r["penalty_factor"] < -1:
            console.print(
                f"The penalty alone multiplies w by 1 - 2·lr·λ = {r['penalty_factor']:g} "
                "each step: below -1 that flips its sign and makes it grow."
            )
        console.print("Lower --lr (or --l2) and run again.")
        return
    s = "s" if epochs != 1 else ""
    console.print(f"[bold]Training: {epochs} full-batch epoch{s}, one compiled lax.scan[/]")
    table = Table()
    for col in ("epoch", "train loss", "val accuracy"):
        table.add_column(col, justify="right")
    for row in r["log"]:
        table.add_row(str(row["epoch"]), f"{row['loss']:.4f}", f"{row['val_accuracy']:.1f} %")
    console.print(table)
    console.print("[dim]train loss: where the epoch's step started; val accuracy: after it.[/]")
    console.print(
        f"The scan compiled in {r['compile_ms']:.0f} ms and runs "
        f"{'all ' if epochs > 1 else ''}{epochs} epoch{s} in {r['train_ms']:.2f} ms "
        "(median of repeats).\n"
    )

    console.print(
        display.line_chart(
            {"train loss": r["loss_history"]}, height=12, width=50, x_label="epoch", y_label="loss"
        )
    )

    params = Table(title="\nParameters")
    for col in ("", "w₁", "w₂", "b"):
        params.add_column(col, justify="right")
    for name in ("initial", "final"):
        p = r[name]
        params.add_row(name, *(f"{v:+.4f}" for v in (*p["w"], p["b"])))
    console.print(params)
    w1, w2 = r["final"]["w"]
    console.print(
        f"The probe's boundary w₁x₁ + w₂x₂ + b = 0 has normal ({w1:+.3f}, {w2:+.3f}), "
        f"{r['angle_to_best_deg']:.1f}° from the best boundary's normal (-1, -1), "
        f"and passes {r['boundary_offset']:.3f} from the origin (the best one "
        "passes through it).\n"
    )

    low, high = r["wilson_ci"]
    points = "points" if r["val_size"] != 1 else "point"
    console.print(
        f"[bold]Validation accuracy: {r['val_accuracy']:.1f} %[/] "
        f"({r['val_correct']} of {r['val_size']} {points})"
    )
    console.print(
        f"Wilson 95 % interval: [{low:.2f} %, {high:.2f} %] (z = {r['wilson_z']}, "
        f"n = {r['val_size']}): a sample of {r['val_size']} pins an accuracy down "
        f"to about ±{(high - low) / 2:.1f} percentage points."
    )
    console.print(
        f"This probe's exact accuracy on the whole distribution: {r['population_accuracy']:.2f} %."
    )
    d = r["centre_distance"]
    console.print(
        f"Best possible: {r['bayes_accuracy']:.2f} %. Each centre is {d:.2f} "
        f"standard deviations from the best boundary x₁ + x₂ = 0, so Φ({d:.2f}) "
        "of each class falls on its own side."
    )
    if low <= r["population_accuracy"] <= high:
        console.print(
            "The interval contains the probe's true accuracy, as a 95 % interval "
            "does in about 19 runs of 20.\n"
        )
    else:
        console.print(
            "The interval misses the probe's true accuracy: a 95 % interval does in "
            "about 1 run of 20, and this validation sample is one of those.\n"
        )

    verdict = "gives the same parameters as" if r["optax_matches"] else "DIFFERS from"
    console.print(
        f"One optax.sgd step {verdict} our hand-written update "
        f"(largest difference {r['optax_max_diff']:.1e})."
    )


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid float") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or a positive number, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--epochs",
        type=cli.positive_int,
        default=EPOCHS,
        help="gradient-descent epochs (default: %(default)s)",
    )
    parser.add_argument(
        "--lr", type=cli.positive_float, default=LR, help="learning rate (default: %(default)s)"
    )
    parser.add_argument(
        "--l2",
        type=_nonnegative_float,
        default=L2,
        help="weight λ of the penalty λ·sum(w²) (default: %(default)s)",
    )
    parser.add_argument(
        "--train-size",
        type=cli.positive_int,
        default=TRAIN_SIZE,
        help="training points, half per class (default: %(default)s)",
    )
    parser.add_argument(
        "--val-size",
        type=cli.positive_int,
        default=VAL_SIZE,
        help="validation points, half per class (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    results = run(args.seed, args.epochs, args.lr, args.l2, args.train_size, args.val_size)
    cli.finish(
        args,
        __file__,
        results,
        report,
        kernels=(make_clusters, logits, loss, train_step, train, wilson_interval),
        title=__doc__,
    )


if __name__ == "__main__":
    cli.entry(main)
