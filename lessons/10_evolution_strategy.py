"""Lesson 5.1 — evolution strategy versus gradient descent on a noisy bowl.

f(x) = x1² + x2² plus noise (two N(0, 0.1²) draws per evaluation), from
[5, -5]. Gradient descent follows the exact gradient 2x: the noise does not
depend on x, so it never enters a step. The evolution strategy (ES) gets no
gradient at all: each generation it samples a population around its mean,
ranks the points by their noisy values and moves the mean to a weighted
average of the best. Both runs are compiled, one lax.scan each, and both face
the same noise keys.

Run:  python lessons/10_evolution_strategy.py [--generations 80]
      [--population 20] [--mu 5] [--lr 0.1] [--seed 0] [--json] [--show-code]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations.evolution import (
    NOISE_STD,
    ESConfig,
    es_init,
    es_run,
    es_step,
    gd_run,
    log_rank_weights,
    noisy_sphere,
    recombine,
    sphere,
)

START = [5.0, -5.0]
SIGMA0 = 2.0  # initial ES step size
DECAY, DECAY_AFTER = 0.95, 30  # σ × 0.95 each generation after the 30th
REPORT_EVERY = 10


def run(seed: int, generations: int, population: int, mu: int, lr: float) -> dict:
    key = jax.random.key(seed)  # shared on purpose: both methods see the same noise keys
    config = ESConfig(population, mu, DECAY, DECAY_AFTER)
    final, es = es_run(
        es_init(START, SIGMA0), key, generations=generations, objective=noisy_sphere, config=config
    )  # es fields: (G, ...)
    gd_losses, gd_positions = gd_run(
        jnp.array(START), key, generations=generations, objective=noisy_sphere, lr=lr
    )  # (G,), (G, 2)
    # true losses in float64: squaring a float32 iterate near 1e-23 would underflow to 0
    es_true, gd_true = (
        np.sum(np.asarray(p, np.float64) ** 2, axis=-1) for p in (es.mean, gd_positions)
    )  # (G,) each, without noise

    rows = [g for g in range(1, generations + 1) if g % REPORT_EVERY == 0 or g == generations]

    def history(losses, positions, true_losses) -> list[dict]:
        """Rows: the loss a generation saw, where it went, the true loss there."""
        losses, positions, true_losses = map(np.asarray, (losses, positions, true_losses))
        return [
            {
                "generation": g,
                "loss": float(losses[g - 1]),
                "position": positions[g - 1].tolist(),
                "true_loss": float(true_losses[g - 1]),
            }
            for g in rows
        ]

    es_history = history(es.best_loss, es.mean, es_true)
    gd_history = history(gd_losses, gd_positions, gd_true)

    # GD on the sphere has a closed form: x_t = x_0 · (1 − 2·lr)^t.
    t = np.arange(1, generations + 1)[:, None]  # (G, 1)
    closed = np.array(START) * (1 - 2 * lr) ** t  # (G, 2) in float64
    # relative error where x_t is a normal float32: below float32's smallest normal
    # number the iterate is subnormal or flushed to 0 (and with lr = 0.5 it is 0 exactly)
    normal = np.abs(closed) >= np.finfo(np.float32).tiny  # (G, 2)
    rel_error = np.where(
        normal,
        np.abs(np.asarray(gd_positions) - closed) / np.where(normal, np.abs(closed), 1.0),
        0.0,
    )  # (G, 2)
    return {
        "start": START,
        "start_loss": float(sphere(jnp.array(START))),
        "noise_std": NOISE_STD * float(np.sqrt(2)),
        "weights": log_rank_weights(mu).tolist(),
        "es_history": es_history,
        "gd_history": gd_history,
        "es_final": es_history[-1],
        "gd_final": gd_history[-1],
        "es_distance": float(jnp.linalg.norm(final.mean)),
        "gd_distance": float(jnp.linalg.norm(gd_positions[-1])),
        "es_final_sigma": float(final.sigma),
        "es_true_loss": es_true.tolist(),  # per generation, for the chart
        "gd_true_loss": gd_true.tolist(),
        "gd_factor": 1 - 2 * lr,
        "gd_closed_form_max_rel_error": float(rel_error.max()),
        "gd_underflow_generation": (
            int(np.argmin(normal.all(axis=1))) + 1 if not normal.all() else None
        ),  # first x_t below normal
        "es_evaluations": generations * population,
        "gd_evaluations": generations,
    }


def _point(p) -> str:
    return "[" + ", ".join(f"{v:+.2e}" if abs(v) < 1e-3 else f"{v:+.3f}" for v in p) + "]"


def report(r: dict, console) -> None:
    console.print(
        f"Both start at {_point(r['start'])}, where f = {r['start_loss']:g}. Each evaluation "
        f"adds noise of std {r['noise_std']:.3f}. ES recombination weights (best first): "
        + ", ".join(f"{w:.3f}" for w in r["weights"])
        + "\n"
    )

    last = r["es_history"][-1]["generation"]
    table = Table(
        title=f"Every {REPORT_EVERY} generations: what each method saw, where it went"
        if last >= REPORT_EVERY
        else f"Generation {last}: what each method saw, where it went",
        caption="loss: the noisy value seen in that generation (ES: best of its "
        "population; GD: at the point it stepped from)",
    )
    for col in ("gen", "ES loss", "ES mean", "GD loss", "GD position"):
        table.add_column(col, justify="right", no_wrap=True)
    for es, gd in zip(r["es_history"], r["gd_history"]):
        table.add_row(
            str(es["generation"]),
            f"{es['loss']:+.4f}",
            _point(es["position"]),
            f"{gd['loss']:+.4f}",
            _point(gd["position"]),
        )
    console.print(table)

    console.print("\nTrue loss x1² + x2² at the ES mean and at the GD iterate, per generation:")
    console.print(
        display.line_chart(
            {"ES mean": r["es_true_loss"], "gradient descent": r["gd_true_loss"]},
            log_y=True,
            x_label="generation",
            y_label="f without noise",
        )
    )

    es, gd = r["es_final"], r["gd_final"]
    gd_factor = f"{r['gd_factor']:.10g}"
    factor = gd_factor if r["gd_factor"] >= 0 else f"({gd_factor})"
    where = (
        f"it is {r['gd_distance']:.2e} from the optimum (true loss {gd['true_loss']:.1e})"
        if r["gd_distance"] > 0
        else "its float32 iterate is exactly 0, the optimum (the chart leaves out the zeros)"
    )
    if r["gd_factor"] == 0:
        exact = "one step lands on the optimum"
    else:
        under = r["gd_underflow_generation"]
        exact = (
            f"its iterate matches x₀·{factor}^t to a relative "
            f"{r['gd_closed_form_max_rel_error']:.1e} (float32"
            + (
                f", up to step {under - 1}, where x₀·{factor}^t leaves float32's normal range"
                if under
                else ""
            )
            + "), a straight line on the log chart"
        )
    console.print(
        f"\nGradient descent multiplies x by 1 − 2·lr = {gd_factor} each step, exactly: "
        f"{exact}. After {display.count(gd['generation'], 'step')} {where}."
    )
    console.print(
        f"The ES never saw a gradient: {display.count(r['es_evaluations'], 'noisy evaluation')} "
        f"brought its mean to {r['es_distance']:.3f} from the optimum (true loss "
        f"{es['true_loss']:.1e}, final σ {r['es_final_sigma']:.3g}). Its curve is ragged: "
        "each mean is an average of random samples, ranked by noisy values."
    )
    if es["true_loss"] < r["noise_std"]:
        console.print(
            f"Its true loss is below the noise std ({r['noise_std']:.3f}): points that close "
            "differ by less than the noise, so ranking them is partly a coin toss."
            + (
                " The same noise hides GD's progress: its last reported loss is "
                f"{gd['loss']:+.3f}, its true loss {gd['true_loss']:.1e}."
                if gd["true_loss"] < r["noise_std"]
                else ""
            )
        )
    if r["gd_distance"] < r["es_distance"]:
        closer = (
            f"{r['es_distance'] / r['gd_distance']:.1e} times closer"
            if r["gd_distance"] > 0
            else "at the optimum itself"
        )
        console.print(
            f"With the exact gradient, descent ends {closer}, from "
            f"{display.count(r['gd_evaluations'], 'evaluation')} of f and its gradient against the "
            f"ES's {r['es_evaluations']} of f alone; the ES needs no gradient at all, which is "
            "its use."
        )
    else:
        console.print("In this run the ES ended closer to the optimum than gradient descent.")


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=0)
    parser.add_argument(
        "--generations",
        type=cli.positive_int,
        default=80,
        help="ES generations = GD steps (default: %(default)s)",
    )
    parser.add_argument(
        "--population",
        type=cli.positive_int,
        default=20,
        help="ES points per generation (default: %(default)s)",
    )
    parser.add_argument(
        "--mu",
        type=cli.positive_int,
        default=5,
        help="ES points recombined per generation (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.open_unit_float,
        default=0.1,
        help="gradient descent learning rate (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.mu > args.population:
        parser.error(f"--mu ({args.mu}) must not exceed --population ({args.population})")
    results = run(args.seed, args.generations, args.population, args.mu, args.lr)
    cli.finish(
        args,
        __file__,
        results,
        report,
        kernels=(noisy_sphere, log_rank_weights, recombine, es_step, gd_run),
        title=__doc__,
    )


if __name__ == "__main__":
    cli.entry(main)
