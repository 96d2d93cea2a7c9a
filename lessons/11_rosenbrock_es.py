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
and function evaluations to the threshold. Both stop on the best sample of a
generation, so the table also gives f at each final mean (like with like);
charts show σ per generation, and a run whose mean ends at Rosenbrock's local
minimum near [-1, 1, ..., 1] (D ≥ 4) is flagged.

Run:  python lessons/11_rosenbrock_es.py [--dim 10] [--max-generations 200]
      [--cma-max-generations 5000] [--threshold 0.01] [--seed 0] [--json]
      [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse

import jax
import numpy as np
from rich.table import Table
from scipy.optimize import minimize, rosen_der
from scipy.optimize import rosen as rosen_np

from trinity_foundations import cli, display
from trinity_foundations.evolution import (
    ESConfig,
    es_init,
    es_step,
    rosenbrock,
    run_until,
)
from trinity_foundations.sep_cma import (
    SepCMAConfig,
    adapt_step_size,
    adapt_variances,
    default_population,
    move_scale_into_sigma,
    sep_cma_constants,
    sep_cma_init,
    sep_cma_step,
)

START = [-1.0, 2.0]
SIGMA0 = 0.5  # the initial step size of both methods
ES_CONFIG = ESConfig(population=40, mu=8, decay=0.98, decay_after=50)
MAX_DIM = 1_000
MAX_GENERATIONS = 100_000  # per method: a cap on run time (seconds to a minute at MAX_DIM)
MAX_THRESHOLD = 1e9  # above every loss near the start at MAX_DIM: stops after one generation
MEAN_ROWS = 8  # rows of the 2-D mean-trajectory table
NEAR = 0.25  # "near a minimum": within this share of the distance between the two minima


def start_point(dim: int) -> list[float]:
    """[-1, 2] repeated to `dim` coordinates: [-1, 2, -1, 2, ...]."""
    return (START * dim)[:dim]


def local_minimum(dim: int) -> dict | None:
    """Rosenbrock's other minimum near [-1, 1, ..., 1] (D ≥ 4), by BFGS in float64.

    None where BFGS from [-1, 1, ..., 1] slides to the global minimum [1, ..., 1]
    instead (D = 2, 3: there is no local one).
    """
    x0 = np.array([-1.0] + [1.0] * (dim - 1))
    found = minimize(rosen_np, x0, jac=rosen_der, method="BFGS", options={"gtol": 1e-10})
    if np.linalg.norm(found.x - 1) < 0.5:
        return None
    return {"point": found.x.tolist(), "loss": float(found.fun)}


def basin(mean: np.ndarray, local: dict | None) -> str | None:
    """'global' or 'local': the minimum the mean is near (NEAR × their distance), else None."""
    minima = {"global": np.ones_like(mean)}
    if local is not None:
        minima["local"] = np.asarray(local["point"])
    radius = NEAR * np.linalg.norm(minima.get("local", -minima["global"]) - minima["global"])
    for name, point in minima.items():
        if np.linalg.norm(mean - point) < radius:
            return name
    return None


def summary(final, history, population: int, threshold: float, local: dict | None) -> dict:
    """Plain results of one run-until-threshold, with its σ and mean trajectories."""
    generations = int(final.generation)
    # to NumPy before slicing: slicing a jax array compiles a slice for every length
    means = np.asarray(history.mean, np.float64)[:generations]  # (G, D)
    mean = np.asarray(final.mean, np.float64)  # (D,)
    losses = np.asarray(history.best_loss)[:generations]  # (G,)
    return {
        "converged": bool(final.best_loss < threshold),
        "generation": generations,
        "population": population,
        "evaluations": generations * population,
        "final_mean": mean.tolist(),
        "final_sigma": float(final.sigma),
        "best_loss": float(final.best_loss),  # best sample of the last generation
        "mean_loss": float(rosen_np(mean)),  # f at the final mean, in float64
        "distance": float(np.linalg.norm(mean - 1)),  # from the minimum [1, ..., 1]
        "basin": basin(mean, local),
        "history": losses.tolist(),  # best loss per generation
        # neither method keeps its best point, so an earlier generation may have done better
        "lowest_loss": float(np.min(losses)),
        "sigma_history": np.asarray(history.sigma)[:generations].tolist(),
        "distance_history": np.linalg.norm(means - 1, axis=1).tolist(),
        "mean_history": means.tolist() if mean.size == 2 else None,  # (G, 2) in 2-D only
    }


def run_method(step, config, key, dim: int, threshold: float, budget: int, local):
    init = es_init if step is es_step else sep_cma_init
    final, history = run_until(
        init(start_point(dim), SIGMA0),
        key,
        threshold,
        step=step,
        objective=rosenbrock,
        config=config,
        max_generations=budget,
    )
    return summary(final, history, config.population, threshold, local)


def run(
    seed: int, dim: int, max_generations: int, cma_max_generations: int, threshold: float
) -> dict:
    k_es, k_cma, k_es_nd, k_cma_nd = jax.random.split(jax.random.key(seed), 4)
    local = local_minimum(dim)
    cma_2d, cma_nd = SepCMAConfig(default_population(2)), SepCMAConfig(default_population(dim))
    es = run_method(es_step, ES_CONFIG, k_es, 2, threshold, max_generations, None)
    return {
        **es,
        "dtype": str(es_init(START, SIGMA0).mean.dtype),
        "threshold": threshold,
        "dim": dim,
        "local_minimum": local,
        "cma_weights": list(sep_cma_constants(dim, cma_nd.population).weights),
        "sep_cma": run_method(sep_cma_step, cma_2d, k_cma, 2, threshold, cma_max_generations, None),
        "es_nd": run_method(es_step, ES_CONFIG, k_es_nd, dim, threshold, max_generations, local),
        "sep_cma_nd": run_method(
            sep_cma_step, cma_nd, k_cma_nd, dim, threshold, cma_max_generations, local
        ),
    }


def _verdict(es: dict, cma: dict, where: str) -> str:
    if es["converged"] and cma["converged"]:
        a, b = es["evaluations"], cma["evaluations"]
        if a == b:
            return f"{where}: both reached it with {a} evaluations."
        fewer = "the simple ES" if a < b else "sep-CMA-ES"
        return (
            f"{where}: both reached it; {fewer} used fewer evaluations "
            f"({min(a, b):,} against {max(a, b):,})."
        )
    if es["converged"] or cma["converged"]:
        winner, loser, run = (
            ("the simple ES", "sep-CMA-ES", cma)
            if es["converged"]
            else ("sep-CMA-ES", "the simple ES", es)
        )
        return (
            f"{where}: only {winner} reached it; {loser} stopped after "
            f"{run['evaluations']:,} evaluations, {_best(run)}."
        )
    return f"{where}: neither reached it (simple ES: {_best(es)}; sep-CMA-ES: {_best(cma)})."


def _best(run: dict) -> str:
    """'best loss 0.12 in the last generation, lowest seen 0.03' of a run that stopped."""
    text = f"best loss {run['best_loss']:.3g} in the last generation"
    if f"{run['lowest_loss']:.3g}" != f"{run['best_loss']:.3g}":
        text += f", lowest seen {run['lowest_loss']:.3g}"
    return text


def closer_mean(es: dict, cma: dict) -> str:
    """Which method's mean ends closer to the optimum in f: 'es', 'sep_cma' or 'tie'."""
    a, b = es["mean_loss"], cma["mean_loss"]
    return "tie" if f"{a:.3g}" == f"{b:.3g}" else ("es" if a < b else "sep_cma")


def stuck_runs(r: dict) -> list[str]:
    """Names of the n-D runs whose mean ended near Rosenbrock's local minimum."""
    runs = (("the simple ES", r["es_nd"]), ("sep-CMA-ES", r["sep_cma_nd"]))
    return [name for name, run in runs if run["basin"] == "local"]


def _vec(v, limit: int = 4) -> str:
    shown = ", ".join(f"{x:.3f}" for x in v[:limit])
    more = f", … {len(v) - limit} more" if len(v) > limit else ""
    return f"[{shown}{more}]"


def report_table(r: dict, console) -> None:
    runs = [
        ("simple ES", 2, r),
        ("sep-CMA-ES", 2, r["sep_cma"]),
        ("simple ES", r["dim"], r["es_nd"]),
        ("sep-CMA-ES", r["dim"], r["sep_cma_nd"]),
    ]
    table = Table(
        title=f"Rosenbrock: generations and evaluations until best loss < {r['threshold']:g}",
        caption="D: dimension, λ: population, best sample: lowest f of the last "
        "generation (what the stop tests), f(mean): at the mean the run ended with",
    )
    cols = ("method", "D", "λ", "generations", "evaluations", "best sample", "f(mean)", "reached")
    for col in cols:
        table.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for name, dim, run in runs:
        table.add_row(
            name,
            str(dim),
            str(run["population"]),
            f"{run['generation']:,}",
            f"{run['evaluations']:,}",
            f"{run['best_loss']:.2e}",
            f"{run['mean_loss']:.2e}",
            "yes" if run["converged"] else "[red]no[/]",
        )
    console.print(table)


def report_2d(r: dict, console) -> None:
    es, cma = r, r["sep_cma"]
    where = (
        f"its mean was then {_vec(es['final_mean'])}, where f = {es['mean_loss']:.3g}, "
        f"{es['distance']:.3g} from the minimum [1, 1]"
    )
    if es["converged"]:
        console.print(
            f"\nThe simple ES stopped at generation {es['generation']}, when its best sample "
            f"reached f = {es['best_loss']:.3g}; {where}."
        )
    else:
        console.print(
            f"\nThe simple ES did not reach {r['threshold']:g} in "
            f"{display.count(es['generation'], 'generation')} ({_best(es)}); {where}."
        )
    winner = closer_mean(es, cma)
    same = (
        "the two means are equally good"
        if winner == "tie"
        else f"{'the simple ES' if winner == 'es' else 'sep-CMA-ES'}'s mean is the better one"
    )
    console.print(
        f"Like with like, mean against mean: sep-CMA-ES ended with its mean at f = "
        f"{cma['mean_loss']:.3g} ({cma['distance']:.3g} from [1, 1]), so {same}. A stop on "
        "the best sample favours the wider population: 40 samples around a mean far up the "
        "valley can include one lucky point near the floor."
    )
    console.print(_verdict(es, cma, "In 2-D"))


def report_nd(r: dict, console) -> None:
    again = " again, with other keys" if r["dim"] == 2 else ""
    console.print(_verdict(r["es_nd"], r["sep_cma_nd"], f"In {r['dim']}-D{again}"))
    local = r["local_minimum"]
    for name in stuck_runs(r):
        run = r["es_nd"] if name == "the simple ES" else r["sep_cma_nd"]
        console.print(
            f"[bold]{name} ended in the wrong valley[/]: its mean {_vec(run['final_mean'])} "
            f"(f = {run['mean_loss']:.3g}) is near Rosenbrock's local minimum "
            f"{_vec(local['point'])}, f = {local['loss']:.4g} (found by BFGS in float64), "
            f"not the global one at [1, …, 1]. Every small step from there goes uphill, "
            f"and σ had shrunk to {run['final_sigma']:.3g}: a different seed, or a restart "
            "with a larger σ, may land elsewhere."
        )
    console.print(
        f"\nThe simple ES shrinks σ on a schedule that ignores progress: {SIGMA0} for "
        f"{ES_CONFIG.decay_after} generations, then × {ES_CONFIG.decay} each; it ended at σ "
        f"{r['es_nd']['final_sigma']:.3g} in {r['dim']}-D. sep-CMA-ES sets σ from its own "
        f"progress (it ended at {r['sep_cma_nd']['final_sigma']:.3g} in {r['dim']}-D, with "
        "the learned variances averaging 1). Its covariance is diagonal, "
        "so it cannot align with the valley's bend (x_{i+1} ≈ x_i² couples neighbouring "
        "coordinates): it has to follow the curve in many small steps."
    )
    weights = ", ".join(f"{w:.3f}" for w in r["cma_weights"])
    console.print(
        f"Its weights follow Hansen's tutorial, eq. (49): w_i ∝ ln((λ + 1)/2) − ln i for the "
        f"⌊λ/2⌋ best ({weights} in {r['dim']}-D); the simple ES keeps the original's "
        f"ln(μ + ½) − ln i with μ = {ES_CONFIG.mu} of λ = {ES_CONFIG.population}. "
        f"Arithmetic in {r['dtype']}."
    )


def _padded(runs: dict, key: str, per: str) -> dict:
    """Each run's `key` series, one value per generation (per='generation') or per
    evaluation, padded with NaN to the longest so the charts share one x axis."""
    series = {
        name: np.repeat(run[key], run["population"] if per == "evaluation" else 1)
        for name, run in runs.items()
    }
    n = max(v.size for v in series.values())
    return {k: np.pad(v, (0, n - v.size), constant_values=np.nan) for k, v in series.items()}


def mean_rows(run: dict, rows: int = MEAN_ROWS) -> list[int]:
    """Up to `rows` generations, evenly spread from the first to the last."""
    g = run["generation"]
    return sorted({round(x) for x in np.linspace(1, g, min(rows, g))})


def report_trajectories(r: dict, console) -> None:
    table = Table(title="The 2-D means on their way (f at the mean)", box=None)
    table.add_column("method")
    table.add_column("generation", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("f(mean)", justify="right")
    table.add_column("σ", justify="right")
    for name, run in (("simple ES", r), ("sep-CMA-ES", r["sep_cma"])):
        for g in mean_rows(run):
            m = run["mean_history"][g - 1]
            table.add_row(
                name,
                f"{g:,}",
                _vec(m),
                f"{rosen_np(np.asarray(m)):.3g}",
                f"{run['sigma_history'][g - 1]:.3g}",
            )
    console.print()
    console.print(table)
    again = " again, with other keys" if r["dim"] == 2 else ""
    for label, es, cma in (
        ("2-D", r, r["sep_cma"]),
        (f"{r['dim']}-D{again}", r["es_nd"], r["sep_cma_nd"]),
    ):
        runs = {"simple ES": es, "sep-CMA-ES": cma}
        console.print(f"\nStep size σ per generation, {label}:")
        console.print(
            display.line_chart(
                _padded(runs, "sigma_history", "generation"),
                log_y=True,
                x_label="generation",
                y_label="σ",
            )
        )
        console.print(f"\nBest loss per generation against evaluations, {label}:")
        console.print(
            display.line_chart(
                _padded(runs, "history", "evaluation"),
                log_y=True,
                x_label="evaluations",
                y_label="best loss",
            )
        )


def report(r: dict, console) -> None:
    report_table(r, console)
    report_2d(r, console)
    report_nd(r, console)
    report_trajectories(r, console)


def race_bullet(es: dict, cma: dict, where: str) -> str:
    """Which method reached the threshold, and at what cost: the report's verdict, with
    the reason a wide population can win on evaluations."""
    lucky = (
        es["converged"]
        and cma["converged"]
        and es["evaluations"] < cma["evaluations"]
        and es["population"] > cma["population"]
    )
    if lucky:  # a wide population's best sample can reach the floor before its mean
        return f"{_verdict(es, cma, where)[:-1]}: its stop tests the best of {es['population']}."
    return _verdict(es, cma, where)


def step_size_bullet(r: dict) -> str:
    """What the n-D runs show: a run caught in the local minimum, or σ set by progress."""
    stuck, dim = stuck_runs(r), r["dim"]
    if stuck:
        return (
            f"In {dim}-D, {' and '.join(stuck)} ended near Rosenbrock's local minimum "
            f"(f = {r['local_minimum']['loss']:.4g}), not the global one: a shrunken σ "
            "cannot climb out."
        )
    return (
        f"sep-CMA-ES sets σ from its own progress (it ended at "
        f"{r['sep_cma_nd']['final_sigma']:.3g} in {dim}-D); the simple ES shrinks σ on a "
        f"fixed schedule (it ended at {r['es_nd']['final_sigma']:.3g})."
    )


def what_you_saw(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results (`summary` above is a run's)."""
    again = " again, with other keys" if r["dim"] == 2 else ""
    return [
        race_bullet(r, r["sep_cma"], f"To best loss < {r['threshold']:g} in 2-D"),
        race_bullet(r["es_nd"], r["sep_cma_nd"], f"In {r['dim']}-D{again}"),
        step_size_bullet(r),
    ]


def dimension(text: str) -> int:
    value = cli.int_in(1, MAX_DIM, "a cap on run time and memory")(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"Rosenbrock needs at least 2 coordinates, got {value}")
    return value


def history_bytes(dim: int, es_generations: int, cma_generations: int, itemsize: int) -> int:
    """Memory of the four runs' histories: every state field, every generation.

    The simple ES keeps (mean (D,), σ, generation, best loss); sep-CMA-ES four
    (D,) vectors and three scalars. Twice that, for the copies XLA and NumPy make.
    """
    es = es_generations * ((dim + 3) + (2 + 3))
    cma = cma_generations * ((4 * dim + 3) + (4 * 2 + 3))
    return 2 * (es + cma) * itemsize


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=0)
    parser.add_argument(
        "--dim",
        type=dimension,
        default=10,
        help=f"dimension of the n-D Rosenbrock, 2 to {MAX_DIM:,} (default: %(default)s)",
    )
    budget = cli.int_in(1, MAX_GENERATIONS, "a cap on run time")
    parser.add_argument(
        "--max-generations",
        type=budget,
        default=200,
        help=f"budget of the simple ES, at most {MAX_GENERATIONS:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--cma-max-generations",
        type=budget,
        default=5000,
        help=f"budget of sep-CMA-ES, at most {MAX_GENERATIONS:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=cli.positive_float_at_most(
            MAX_THRESHOLD, ": a larger one stops after the first generation as well"
        ),
        default=0.01,
        help="stop once the best loss is below this (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    itemsize = es_init(START, SIGMA0).mean.dtype.itemsize
    cli.require_memory(
        parser,
        history_bytes(args.dim, args.max_generations, args.cma_max_generations, itemsize),
        f"--dim {args.dim} with --max-generations {args.max_generations} and "
        f"--cma-max-generations {args.cma_max_generations} (every generation's state)",
    )
    results = run(
        args.seed, args.dim, args.max_generations, args.cma_max_generations, args.threshold
    )
    cli.finish(
        args,
        __file__,
        results,
        report,
        kernels=(
            rosenbrock,
            es_step,
            sep_cma_step,
            adapt_step_size,
            adapt_variances,
            move_scale_into_sigma,
            run_until,
        ),
        title=__doc__,
        summary=what_you_saw,
    )


if __name__ == "__main__":
    cli.entry(main)
