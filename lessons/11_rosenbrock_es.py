"""Lesson 5.2 — the curved valley: a simple ES and sep-CMA-ES on Rosenbrock.

f(x) = (1 − x1)² + 100 (x2 − x1²)², minimum 0 at [1, 1], at the end of a
long, narrow, bending valley. The simple ES of lesson 5.1 (σ 0.5, population
40, μ 8, σ × 0.98 per generation after the 50th) runs from [-1, 2] until its
best loss falls below 0.01, as one compiled lax.while_loop.

Beyond the original: sep-CMA-ES, written from scratch, needs no σ schedule.
It learns the step size from the path its mean travels and one variance per
coordinate (a diagonal covariance, O(D) per sample). Both methods run on the
2-D valley and on the n-dimensional Rosenbrock Σ 100 (x_{i+1} − x_i²)² +
(1 − x_i)², started from [-1, 2, -1, 2, ...]; the table counts generations
and function evaluations to the threshold.

Run:  python lessons/11_rosenbrock_es.py [--dim 10] [--max-generations 200]
      [--cma-max-generations 5000] [--threshold 0.01] [--seed 0] [--json]
      [--show-code]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations.evolution import (
    ESConfig,
    adapt_step_size,
    adapt_variances,
    default_population,
    es_init,
    es_run_until,
    es_step,
    rebalance,
    rosenbrock,
    sep_cma_init,
    sep_cma_run_until,
    sep_cma_step,
)

START = [-1.0, 2.0]
SIGMA0 = 0.5  # the initial step size of both methods
ES_CONFIG = ESConfig(population=40, mu=8, decay=0.98, decay_after=50)


def start_point(dim: int) -> list[float]:
    """[-1, 2] repeated to `dim` coordinates: [-1, 2, -1, 2, ...]."""
    return (START * dim)[:dim]


def summary(final, history, population: int, threshold: float) -> dict:
    """Plain results of one run-until-threshold."""
    generations = int(final.generation)
    return {
        "converged": bool(final.best_loss < threshold),
        "generation": generations,
        "population": population,
        "evaluations": generations * population,
        "final_mean": final.mean.tolist(),
        "final_sigma": float(final.sigma),
        "best_loss": float(final.best_loss),  # best of the last generation
        "history": np.asarray(history[:generations]).tolist(),  # best loss per generation
        # neither method keeps its best point, so an earlier generation may have done better
        "lowest_loss": float(np.min(history[:generations])),
    }


def run_es(key, dim: int, threshold: float, max_generations: int) -> dict:
    final, history = es_run_until(
        es_init(start_point(dim), SIGMA0),
        key,
        threshold,
        max_generations=max_generations,
        objective=rosenbrock,
        config=ES_CONFIG,
    )
    return summary(final, history, ES_CONFIG.population, threshold)


def run_sep_cma(key, dim: int, threshold: float, max_generations: int) -> dict:
    population = default_population(dim)
    final, history = sep_cma_run_until(
        sep_cma_init(start_point(dim), SIGMA0),
        key,
        threshold,
        max_generations=max_generations,
        objective=rosenbrock,
        population=population,
    )
    return summary(final, history, population, threshold)


def run(
    seed: int, dim: int, max_generations: int, cma_max_generations: int, threshold: float
) -> dict:
    k_es, k_cma, k_es_nd, k_cma_nd = jax.random.split(jax.random.key(seed), 4)
    es = run_es(k_es, 2, threshold, max_generations)
    return {
        **es,
        "threshold": threshold,
        "dim": dim,
        "sep_cma": run_sep_cma(k_cma, 2, threshold, cma_max_generations),
        "es_nd": run_es(k_es_nd, dim, threshold, max_generations),
        "sep_cma_nd": run_sep_cma(k_cma_nd, dim, threshold, cma_max_generations),
    }


def _verdict(es: dict, cma: dict, where: str) -> str:
    if es["converged"] and cma["converged"]:
        a, b = es["evaluations"], cma["evaluations"]
        if a == b:
            return f"{where}: both reached it with {a} evaluations."
        fewer = "the simple ES" if a < b else "sep-CMA-ES"
        return (
            f"{where}: both reached it; {fewer} used fewer evaluations "
            f"({min(a, b)} against {max(a, b)})."
        )
    if es["converged"] or cma["converged"]:
        winner, loser, run = (
            ("the simple ES", "sep-CMA-ES", cma)
            if es["converged"]
            else ("sep-CMA-ES", "the simple ES", es)
        )
        return (
            f"{where}: only {winner} reached it; {loser} stopped after "
            f"{run['evaluations']} evaluations, {_best(run)}."
        )
    return f"{where}: neither reached it (simple ES: {_best(es)}; sep-CMA-ES: {_best(cma)})."


def _best(run: dict) -> str:
    """'best loss 0.12 in the last generation, lowest seen 0.03' of a run that stopped."""
    text = f"best loss {run['best_loss']:.3g} in the last generation"
    if f"{run['lowest_loss']:.3g}" != f"{run['best_loss']:.3g}":
        text += f", lowest seen {run['lowest_loss']:.3g}"
    return text


def report(r: dict, console) -> None:
    runs = [
        ("simple ES", 2, r),
        ("sep-CMA-ES", 2, r["sep_cma"]),
        ("simple ES", r["dim"], r["es_nd"]),
        ("sep-CMA-ES", r["dim"], r["sep_cma_nd"]),
    ]
    table = Table(
        title=f"Rosenbrock: generations and evaluations until best loss < {r['threshold']:g}",
        caption="D: dimension, λ: population, best loss: of the last generation",
    )
    for col in ("method", "D", "λ", "generations", "evaluations", "best loss", "reached"):
        table.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for name, dim, run in runs:
        table.add_row(
            name,
            str(dim),
            str(run["population"]),
            str(run["generation"]),
            str(run["evaluations"]),
            f"{run['best_loss']:.2e}",
            "yes" if run["converged"] else "[red]no[/]",
        )
    console.print(table)

    if r["converged"]:
        console.print(
            f"\nThe simple ES reached best loss {r['best_loss']:.3g} at generation "
            f"{r['generation']}; its mean is then "
            f"[{', '.join(f'{v:.3f}' for v in r['final_mean'])}], on its way along the valley "
            "to [1, 1]."
        )
    else:
        console.print(
            f"\nThe simple ES did not reach {r['threshold']:g} in {r['generation']} "
            f"generation{'s' if r['generation'] != 1 else ''} ({_best(r)})."
        )
    console.print(_verdict(r, r["sep_cma"], "In 2-D"))
    again = " again, with other keys" if r["dim"] == 2 else ""
    console.print(_verdict(r["es_nd"], r["sep_cma_nd"], f"In {r['dim']}-D{again}"))
    console.print(
        f"\nThe simple ES shrinks σ on a schedule that ignores progress: {SIGMA0} for "
        f"{ES_CONFIG.decay_after} generations, then × {ES_CONFIG.decay} each; it ended at σ "
        f"{r['es_nd']['final_sigma']:.3g} in {r['dim']}-D. sep-CMA-ES sets σ from its own "
        f"progress (it ended at {r['sep_cma_nd']['final_sigma']:.3g} in {r['dim']}-D, with "
        "the learned variances averaging 1). Its covariance is diagonal, "
        "so it cannot align with the valley's bend (x_{i+1} ≈ x_i² couples neighbouring "
        "coordinates): it has to follow the curve in many small steps."
    )

    for label, es, cma in (
        ("2-D", r, r["sep_cma"]),
        (f"{r['dim']}-D{again}", r["es_nd"], r["sep_cma_nd"]),
    ):
        n = max(es["evaluations"], cma["evaluations"])
        series = {}
        for name, run in (("simple ES", es), ("sep-CMA-ES", cma)):
            curve = np.repeat(run["history"], run["population"])  # one value per evaluation
            series[name] = np.pad(curve, (0, n - curve.size), constant_values=np.nan)
        console.print(f"\nBest loss per generation against evaluations, {label}:")
        console.print(
            display.line_chart(series, log_y=True, x_label="evaluations", y_label="best loss")
        )


def dimension(text: str) -> int:
    value = cli.positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"Rosenbrock needs at least 2 coordinates, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=0)
    parser.add_argument(
        "--dim",
        type=dimension,
        default=10,
        help="dimension of the n-D Rosenbrock (default: %(default)s)",
    )
    parser.add_argument(
        "--max-generations",
        type=cli.positive_int,
        default=200,
        help="budget of the simple ES (default: %(default)s)",
    )
    parser.add_argument(
        "--cma-max-generations",
        type=cli.positive_int,
        default=5000,
        help="budget of sep-CMA-ES (default: %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=cli.positive_float,
        default=0.01,
        help="stop once the best loss is below this (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    results = run(
        args.seed, args.dim, args.max_generations, args.cma_max_generations, args.threshold
    )
    cli.finish(
        args,
        __file__,
        results,
        report,
        kernels=(rosenbrock, es_step, sep_cma_step, adapt_step_size, adapt_variances, rebalance),
        title=__doc__,
    )


if __name__ == "__main__":
    cli.entry(main)
