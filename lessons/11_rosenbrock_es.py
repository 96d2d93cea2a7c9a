"""Lesson 11 — the curved valley: ES and sep-CMA-ES on Rosenbrock.

f(x) = (1 − x1)² + 100 (x2 − x1²)², minimum 0 at [1, 1], at the end of a
long, narrow, bending valley. The simple ES of lesson 10 (σ 0.5, population
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
from dataclasses import dataclass
from functools import partial

import jax
import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.optimize import minimize, rosen_der
from scipy.optimize import rosen as rosen_np

from trinity_foundations import cli, display, evolution, sections, sep_cma

START = [-1.0, 2.0]
SIGMA0 = 0.5  # the initial step size of both methods
ES_CONFIG = evolution.ESConfig(population=40, mu=8, decay=0.98, decay_after=50)
MAX_DIM = 1_000
MAX_GENERATIONS = 100_000  # per method: a cap on run time (seconds to a minute at MAX_DIM)
MAX_THRESHOLD = 1e9  # above every loss near the start at MAX_DIM: stops after one generation
MEAN_ROWS = 8  # rows of the 2-D mean-trajectory table
NEAR = 0.25  # "near a minimum": within this share of the distance between the two minima


def start_point(dim: int) -> list[float]:
    """[-1, 2] repeated to `dim` coordinates: [-1, 2, -1, 2, ...]."""
    return (START * dim)[:dim]


# ----------------------------------------------------------------------------
# One run until the threshold, and where its mean ended.


@dataclass(frozen=True)
class Minimum:
    point: list[float]  # (D,)
    loss: float


def local_minimum(dim: int) -> Minimum | None:
    """Rosenbrock's other minimum near [-1, 1, ..., 1] (D ≥ 4), by BFGS in float64.

    None where BFGS from [-1, 1, ..., 1] slides to the global minimum [1, ..., 1]
    instead (D = 2, 3: there is no local one).
    """
    x0 = np.array([-1.0] + [1.0] * (dim - 1))
    found = minimize(rosen_np, x0, jac=rosen_der, method="BFGS", options={"gtol": 1e-10})
    if np.linalg.norm(found.x - 1) < 0.5:
        return None
    return Minimum(found.x.tolist(), float(found.fun))


def basin(mean: np.ndarray, local: Minimum | None) -> str | None:
    """'global' or 'local': the minimum the mean is near (NEAR × their distance), else None."""
    minima = {"global": np.ones_like(mean)}
    if local is not None:
        minima["local"] = np.asarray(local.point)
    radius = NEAR * np.linalg.norm(minima.get("local", -minima["global"]) - minima["global"])
    for name, point in minima.items():
        if np.linalg.norm(mean - point) < radius:
            return name
    return None


@dataclass(frozen=True)
class Run:
    converged: bool
    generation: int
    population: int  # λ
    evaluations: int
    final_mean: list[float]  # (D,)
    final_sigma: float
    best_loss: float  # best sample of the last generation
    mean_loss: float  # f at the final mean, in float64
    distance: float  # from the minimum [1, ..., 1]
    basin: str | None  # 'global', 'local' or None: the minimum the mean ended near
    history: list[float]  # best loss per generation, (G,)
    lowest_loss: float  # neither method keeps its best point: an earlier one may be lower
    sigma_history: list[float]  # (G,)
    distance_history: list[float]  # (G,)
    mean_history: list[list[float]] | None  # (G, 2) in 2-D only


def run_result(final, history, population: int, threshold: float, local: Minimum | None) -> Run:
    """Plain results of one run-until-threshold, with its σ and mean trajectories."""
    generations = int(final.generation)
    # to NumPy before slicing: slicing a jax array compiles a slice for every length
    means = np.asarray(history.mean, np.float64)[:generations]  # (G, D)
    mean = np.asarray(final.mean, np.float64)  # (D,)
    losses = np.asarray(history.best_loss)[:generations]  # (G,)
    return Run(
        converged=bool(final.best_loss < threshold),
        generation=generations,
        population=population,
        evaluations=generations * population,
        final_mean=mean.tolist(),
        final_sigma=float(final.sigma),
        best_loss=float(final.best_loss),
        mean_loss=float(rosen_np(mean)),
        distance=float(np.linalg.norm(mean - 1)),
        basin=basin(mean, local),
        history=losses.tolist(),
        lowest_loss=float(np.min(losses)),
        sigma_history=np.asarray(history.sigma)[:generations].tolist(),
        distance_history=np.linalg.norm(means - 1, axis=1).tolist(),
        mean_history=means.tolist() if mean.size == 2 else None,
    )


def run_method(step, config, key, dim: int, threshold: float, budget: int, local) -> Run:
    init = evolution.es_init if step is evolution.es_step else sep_cma.sep_cma_init
    final, history = evolution.run_until(
        init(start_point(dim), SIGMA0),
        key,
        threshold,
        step=step,
        objective=evolution.rosenbrock,
        config=config,
        max_generations=budget,
    )
    return run_result(final, history, config.population, threshold, local)


def run_keys(seed: int) -> list[jax.Array]:
    """The four runs' keys: simple ES and sep-CMA-ES in 2-D, then in n-D."""
    return list(jax.random.split(jax.random.key(seed), 4))


# ----------------------------------------------------------------------------
# What both sections say: the race table, its verdict, the charts.


def verdict(es: Run, cma: Run, where: str) -> str:
    """Who reached the threshold, and with how many evaluations."""
    if es.converged and cma.converged:
        a, b = es.evaluations, cma.evaluations
        if a == b:
            return f"{where}: both reached it with {a} evaluations."
        fewer = "the simple ES" if a < b else "sep-CMA-ES"
        return (
            f"{where}: both reached it; {fewer} used fewer evaluations "
            f"({min(a, b):,} against {max(a, b):,})."
        )
    if es.converged or cma.converged:
        winner, loser, run = (
            ("the simple ES", "sep-CMA-ES", cma)
            if es.converged
            else ("sep-CMA-ES", "the simple ES", es)
        )
        return (
            f"{where}: only {winner} reached it; {loser} stopped after "
            f"{run.evaluations:,} evaluations, {best(run.best_loss, run.lowest_loss)}."
        )
    return (
        f"{where}: neither reached it (simple ES: {best(es.best_loss, es.lowest_loss)}; "
        f"sep-CMA-ES: {best(cma.best_loss, cma.lowest_loss)})."
    )


def best(best_loss: float, lowest_loss: float) -> str:
    """'best loss 0.12 in the last generation, lowest seen 0.03' of a run that stopped."""
    text = f"best loss {best_loss:.3g} in the last generation"
    if f"{lowest_loss:.3g}" != f"{best_loss:.3g}":
        text += f", lowest seen {lowest_loss:.3g}"
    return text


def vec(v, limit: int = 4) -> str:
    shown = ", ".join(f"{x:.3f}" for x in v[:limit])
    more = f", … {len(v) - limit} more" if len(v) > limit else ""
    return f"[{shown}{more}]"


def race_table(title: str, runs: list[tuple[str, int, Run]], caption: str | None) -> Table:
    table = Table(title=title, caption=caption)
    cols = ("method", "D", "λ", "generations", "evaluations", "best sample", "f(mean)", "reached")
    for col in cols:
        table.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for name, dim, run in runs:
        table.add_row(
            name,
            str(dim),
            str(run.population),
            f"{run.generation:,}",
            f"{run.evaluations:,}",
            f"{run.best_loss:.2e}",
            f"{run.mean_loss:.2e}",
            "yes" if run.converged else "[red]no[/]",
        )
    return table


def padded(runs: dict[str, Run], field: str, per: str) -> dict:
    """Each run's `field` series, one value per generation (per='generation') or per
    evaluation, padded with NaN to the longest so the charts share one x axis."""
    series = {
        name: np.repeat(getattr(run, field), run.population if per == "evaluation" else 1)
        for name, run in runs.items()
    }
    n = max(v.size for v in series.values())
    return {k: np.pad(v, (0, n - v.size), constant_values=np.nan) for k, v in series.items()}


def say_charts(es: Run, cma: Run, label: str, console: Console) -> None:
    runs = {"simple ES": es, "sep-CMA-ES": cma}
    console.print(f"\nStep size σ per generation, {label}:")
    console.print(
        display.line_chart(
            padded(runs, "sigma_history", "generation"),
            log_y=True,
            x_label="generation",
            y_label="σ",
        )
    )
    console.print(f"\nBest loss per generation against evaluations, {label}:")
    console.print(
        display.line_chart(
            padded(runs, "history", "evaluation"),
            log_y=True,
            x_label="evaluations",
            y_label="best loss",
        )
    )


# ----------------------------------------------------------------------------
# 1. The 2-D valley: the simple ES against sep-CMA-ES, mean against mean.


@dataclass(frozen=True)
class Waypoint:
    method: str
    generation: int
    mean: list[float]  # (2,)
    mean_loss: float  # f at the mean
    sigma: float


@dataclass(frozen=True)
class TwoD:
    dtype: str
    threshold: float
    es: Run
    sep_cma: Run
    waypoints: list[Waypoint]  # the means on their way, a few per method


def mean_rows(run: Run, rows: int = MEAN_ROWS) -> list[int]:
    """Up to `rows` generations, evenly spread from the first to the last."""
    g = run.generation
    return sorted({round(x) for x in np.linspace(1, g, min(rows, g))})


def compute_two_d(
    done: dict, *, seed: int, max_generations: int, cma_max_generations: int, threshold: float
) -> TwoD:
    k_es, k_cma, _, _ = run_keys(seed)
    cma = sep_cma.SepCMAConfig(sep_cma.default_population(2))
    es = run_method(evolution.es_step, ES_CONFIG, k_es, 2, threshold, max_generations, None)
    cma = run_method(sep_cma.sep_cma_step, cma, k_cma, 2, threshold, cma_max_generations, None)
    waypoints = [
        Waypoint(
            name,
            g,
            run.mean_history[g - 1],
            float(rosen_np(np.asarray(run.mean_history[g - 1]))),
            run.sigma_history[g - 1],
        )
        for name, run in (("simple ES", es), ("sep-CMA-ES", cma))
        for g in mean_rows(run)
    ]
    dtype = str(evolution.es_init(START, SIGMA0).mean.dtype)
    return TwoD(dtype, threshold, es, cma, waypoints)


def closer_mean(es_mean_loss: float, cma_mean_loss: float) -> str:
    """Which method's mean ends closer to the optimum in f: 'es', 'sep_cma' or 'tie'."""
    a, b = es_mean_loss, cma_mean_loss
    return "tie" if f"{a:.3g}" == f"{b:.3g}" else ("es" if a < b else "sep_cma")


def say_two_d(r: TwoD, console: Console) -> None:
    es, cma = r.es, r.sep_cma
    console.print(
        race_table(
            f"Rosenbrock: generations and evaluations until best loss < {r.threshold:g}",
            [("simple ES", 2, es), ("sep-CMA-ES", 2, cma)],
            caption="D: dimension, λ: population, best sample: lowest f of the last "
            "generation (what the stop tests), f(mean): at the mean the run ended with",
        )
    )
    where = (
        f"its mean was then {vec(es.final_mean)}, where f = {es.mean_loss:.3g}, "
        f"{es.distance:.3g} from the minimum [1, 1]"
    )
    if es.converged:
        console.print(
            f"\nThe simple ES stopped at generation {es.generation}, when its best sample "
            f"reached f = {es.best_loss:.3g}; {where}."
        )
    else:
        console.print(
            f"\nThe simple ES did not reach {r.threshold:g} in "
            f"{display.count(es.generation, 'generation')} "
            f"({best(es.best_loss, es.lowest_loss)}); {where}."
        )
    winner = closer_mean(es.mean_loss, cma.mean_loss)
    same = (
        "the two means are equally good"
        if winner == "tie"
        else f"{'the simple ES' if winner == 'es' else 'sep-CMA-ES'}'s mean is the better one"
    )
    console.print(
        f"Like with like, mean against mean: sep-CMA-ES ended with its mean at f = "
        f"{cma.mean_loss:.3g} ({cma.distance:.3g} from [1, 1]), so {same}. A stop on "
        f"the best sample favours the wider population: {es.population} samples around a "
        "mean far up the valley can include one lucky point near the floor."
    )
    console.print(verdict(es, cma, "In 2-D"))

    table = Table(title="The 2-D means on their way (f at the mean)", box=None)
    table.add_column("method")
    for col in ("generation", "mean", "f(mean)", "σ"):
        table.add_column(col, justify="right")
    for w in r.waypoints:
        table.add_row(
            w.method, f"{w.generation:,}", vec(w.mean), f"{w.mean_loss:.3g}", f"{w.sigma:.3g}"
        )
    console.print()
    console.print(table)
    say_charts(es, cma, "2-D", console)


# ----------------------------------------------------------------------------
# 2. n dimensions: the schedule that ignores progress, and the wrong valley.


@dataclass(frozen=True)
class ND:
    dim: int
    dtype: str
    threshold: float
    es: Run
    sep_cma: Run
    local_minimum: Minimum | None  # (D ≥ 4)
    cma_weights: list[float]  # sep-CMA-ES's, eq. (49)
    sigma0: float  # the simple ES's schedule: σ₀ for decay_after generations, then × decay
    es_decay_after: int
    es_decay: float
    es_mu: int


def compute_nd(
    done: dict,
    *,
    seed: int,
    dim: int,
    max_generations: int,
    cma_max_generations: int,
    threshold: float,
) -> ND:
    _, _, k_es, k_cma = run_keys(seed)
    local = local_minimum(dim)
    cma = sep_cma.SepCMAConfig(sep_cma.default_population(dim))
    es_run = run_method(evolution.es_step, ES_CONFIG, k_es, dim, threshold, max_generations, local)
    cma_run = run_method(
        sep_cma.sep_cma_step, cma, k_cma, dim, threshold, cma_max_generations, local
    )
    return ND(
        dim=dim,
        dtype=str(evolution.es_init(START, SIGMA0).mean.dtype),
        threshold=threshold,
        es=es_run,
        sep_cma=cma_run,
        local_minimum=local,
        cma_weights=list(sep_cma.sep_cma_constants(dim, cma.population).weights),
        sigma0=SIGMA0,
        es_decay_after=ES_CONFIG.decay_after,
        es_decay=ES_CONFIG.decay,
        es_mu=ES_CONFIG.mu,
    )


def stuck_runs(es_basin: str | None, cma_basin: str | None) -> list[str]:
    """Names of the n-D runs whose mean ended near Rosenbrock's local minimum."""
    runs = (("the simple ES", es_basin), ("sep-CMA-ES", cma_basin))
    return [name for name, where in runs if where == "local"]


def again(dim: int) -> str:
    """What the n-D section adds to its label when D = 2 (the same valley, other keys)."""
    return " again, with other keys" if dim == 2 else ""


def say_nd(r: ND, console: Console) -> None:
    es, cma = r.es, r.sep_cma
    console.print(
        race_table(
            f"Rosenbrock: generations and evaluations until best loss < {r.threshold:g}",
            [("simple ES", r.dim, es), ("sep-CMA-ES", r.dim, cma)],
            caption=None,
        )
    )
    console.print(verdict(es, cma, f"In {r.dim}-D{again(r.dim)}"))
    local = r.local_minimum
    for name in stuck_runs(es.basin, cma.basin):
        run = es if name == "the simple ES" else cma
        console.print(
            f"[bold]{name} ended in the wrong valley[/]: its mean {vec(run.final_mean)} "
            f"(f = {run.mean_loss:.3g}) is near Rosenbrock's local minimum "
            f"{vec(local.point)}, f = {local.loss:.4g} (found by BFGS in float64), "
            f"not the global one at [1, …, 1]. Every small step from there goes uphill, "
            f"and σ had shrunk to {run.final_sigma:.3g}: a different seed, or a restart "
            "with a larger σ, may land elsewhere."
        )
    console.print(
        f"\nThe simple ES shrinks σ on a schedule that ignores progress: {r.sigma0} for "
        f"{r.es_decay_after} generations, then × {r.es_decay} each; it ended at σ "
        f"{es.final_sigma:.3g} in {r.dim}-D. sep-CMA-ES sets σ from its own "
        f"progress (it ended at {cma.final_sigma:.3g} in {r.dim}-D, with "
        "the learned variances averaging 1). Its covariance is diagonal, "
        "so it cannot align with the valley's bend (x_{i+1} ≈ x_i² couples neighbouring "
        "coordinates): it has to follow the curve in many small steps."
    )
    weights = ", ".join(f"{w:.3f}" for w in r.cma_weights)
    console.print(
        f"Its weights follow Hansen's tutorial, eq. (49): w_i ∝ ln((λ + 1)/2) − ln i for the "
        f"⌊λ/2⌋ best ({weights} in {r.dim}-D); the simple ES keeps the original's "
        f"ln(μ + ½) − ln i with μ = {r.es_mu} of λ = {es.population}. "
        f"Arithmetic in {r.dtype}."
    )
    say_charts(es, cma, f"{r.dim}-D{again(r.dim)}", console)


# ----------------------------------------------------------------------------
# The lesson.


def race_bullet(es: Run, cma: Run, where: str) -> str:
    """Which method reached the threshold, and at what cost: the report's verdict, with
    the reason a wide population can win on evaluations."""
    lucky = (
        es.converged
        and cma.converged
        and es.evaluations < cma.evaluations
        and es.population > cma.population
    )
    if lucky:  # a wide population's best sample can reach the floor before its mean
        return f"{verdict(es, cma, where)[:-1]}: its stop tests the best of {es.population}."
    return verdict(es, cma, where)


def step_size_bullet(r: ND) -> str:
    """What the n-D runs show: a run caught in the local minimum, or σ set by progress."""
    stuck = stuck_runs(r.es.basin, r.sep_cma.basin)
    if stuck:
        return (
            f"In {r.dim}-D, {' and '.join(stuck)} ended near Rosenbrock's local minimum "
            f"(f = {r.local_minimum.loss:.4g}), not the global one: a shrunken σ "
            "cannot climb out."
        )
    return (
        f"sep-CMA-ES sets σ from its own progress (it ended at "
        f"{r.sep_cma.final_sigma:.3g} in {r.dim}-D); the simple ES shrinks σ on a "
        f"fixed schedule (it ended at {r.es.final_sigma:.3g})."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    two, nd = done["two_d"], done["nd"]
    return [
        race_bullet(two.es, two.sep_cma, f"To best loss < {two.threshold:g} in 2-D"),
        race_bullet(nd.es, nd.sep_cma, f"In {nd.dim}-D{again(nd.dim)}"),
        step_size_bullet(nd),
    ]


def results(done: dict) -> dict:
    """The --json results of the lesson's contract: the 2-D simple ES's run at the top
    level, then the other three runs under their names."""
    two, nd = done["two_d"], done["nd"]
    return {
        **vars(two.es),
        "dtype": two.dtype,
        "threshold": two.threshold,
        "dim": nd.dim,
        "local_minimum": nd.local_minimum,
        "cma_weights": nd.cma_weights,
        "sep_cma": two.sep_cma,
        "es_nd": nd.es,
        "sep_cma_nd": nd.sep_cma,
    }


def build(args) -> list[sections.Section]:
    budgets = dict(
        seed=args.seed,
        max_generations=args.max_generations,
        cma_max_generations=args.cma_max_generations,
        threshold=args.threshold,
    )
    S = sections.Section
    return [
        S(
            "two_d",
            partial(compute_two_d, **budgets),
            say_two_d,
            title="The 2-D valley",
            doing="compiling and running the simple ES and sep-CMA-ES in 2-D",
        ),
        S(
            "nd",
            partial(compute_nd, dim=args.dim, **budgets),
            say_nd,
            title="The n-dimensional valley",
            doing=f"running both in {args.dim}-D, sep-CMA-ES for up to "
            f"{display.count(args.cma_max_generations, 'generation')}",
        ),
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
    itemsize = evolution.es_init(START, SIGMA0).mean.dtype.itemsize
    cli.require_memory(
        parser,
        history_bytes(args.dim, args.max_generations, args.cma_max_generations, itemsize),
        f"--dim {args.dim} with --max-generations {args.max_generations} and "
        f"--cma-max-generations {args.cma_max_generations} (every generation's state)",
    )
    kernels = (evolution.rosenbrock, evolution.es_step, sep_cma.sep_cma_step)
    kernels += (sep_cma.adapt_step_size, sep_cma.adapt_variances, sep_cma.move_scale_into_sigma)
    kernels += (evolution.run_until,)
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=kernels
    )


if __name__ == "__main__":
    cli.entry(main)
