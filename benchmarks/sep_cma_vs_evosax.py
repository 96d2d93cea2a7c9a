"""Our sep-CMA-ES against evosax's Sep_CMA_ES on the n-dimensional Rosenbrock.

Both start from [-1, 2, -1, 2, ...] with σ 0.5 and the same population
(CMA-ES's default 4 + ⌊3 ln D⌋ unless --population says otherwise). Two
measurements, each side by side in one run:

- evaluations until the best loss of a generation falls below the threshold,
  median over several seeds (each run one compiled lax.while_loop);
- milliseconds per generation: a fixed number of generations compiled as one
  lax.scan, warmed up, synced with block_until_ready, median of repeats.

The two implementations differ in their settings, not in the algorithm:
evosax's Sep_CMA_ES keeps full CMA-ES's covariance learning rates and loads
the diagonal with 1e-8 each generation; ours scales those rates by (D + 2) / 3
as Ros & Hansen do, and moves the scale of C into σ each generation.

Run:  python benchmarks/sep_cma_vs_evosax.py [--dim 10] [--seeds 5] [--json]
Import:  from sep_cma_vs_evosax import compare   (with benchmarks/ on sys.path)
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse
import contextlib
import json
import statistics
from functools import partial

import jax
import jax.numpy as jnp
from evosax.algorithms import Sep_CMA_ES
from jax import lax
from rich.table import Table

from trinity_foundations import cli, display, evolution, timing
from trinity_foundations.evolution import rosenbrock
from trinity_foundations.sep_cma import (
    SepCMAConfig,
    default_population,
    sep_cma_init,
    sep_cma_step,
)

SIGMA0 = 0.5
# Upper bounds of the flags: each costs time (the runs are compiled loops of
# O(λ·D) work per generation) or memory (run_until keeps a (max_generations, D)
# history of every state field).
MAX_DIM = 1_000
MAX_POPULATION = 1_000
MAX_SEEDS = 50
MAX_GENERATIONS = 20_000
MAX_TIMING_GENERATIONS = 10_000
STATE_VECTORS = 4  # (D,) fields of SepCMAState: mean, variances and the two paths


def history_bytes(dim: int, max_generations: int, itemsize: int = 4) -> int:
    """Bytes of run_until's history: every state field for each of max_generations."""
    return max_generations * (STATE_VECTORS * dim + 3) * itemsize


def start_point(dim: int) -> jax.Array:
    return jnp.resize(jnp.array([-1.0, 2.0]), dim)  # (D,) [-1, 2, -1, 2, ...]


# ----------------------------------------------------------------------------
# evosax, driven the same way as ours: generation g uses fold_in(key, g).


@contextlib.contextmanager
def evosax_promotion():
    """evosax broadcasts ranks and mixes dtypes implicitly: allow both inside it,
    whatever the caller's setting (the tests raise on either)."""
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield


def _evosax_init(es: Sep_CMA_ES, key: jax.Array, dim: int):
    params = es.default_params.replace(std_init=SIGMA0)
    return params, es.init(key, start_point(dim), params)


def _evosax_step(es: Sep_CMA_ES, params, state, key):
    """One ask-evaluate-tell generation; returns (state, best loss of the generation)."""
    k_ask, k_tell = jax.random.split(jax.random.fold_in(key, state.generation_counter))
    x, state = es.ask(k_ask, state, params)  # (λ, D)
    losses = rosenbrock(x)  # (λ,)
    state, _ = es.tell(k_tell, x, losses, state, params)
    return state, jnp.min(losses)


@partial(jax.jit, static_argnames=("dim", "population", "threshold", "max_generations"))
def evosax_run_until(key, *, dim: int, population: int, threshold: float, max_generations: int):
    """Generations until the best loss < threshold; returns (generations, best loss)."""
    with evosax_promotion():
        es = Sep_CMA_ES(population_size=population, solution=jnp.zeros(dim))
        params, state = _evosax_init(es, key, dim)

        def cond(carry):
            state, best = carry
            return (best >= threshold) & (state.generation_counter < max_generations)

        def body(carry):
            return _evosax_step(es, params, carry[0], key)

        best = jnp.asarray(jnp.inf, state.mean.dtype)
        state, best = lax.while_loop(cond, body, (state, best))
    return state.generation_counter, best


@partial(jax.jit, static_argnames=("dim", "population", "generations"))
def evosax_run(key, *, dim: int, population: int, generations: int):
    """`generations` generations as one lax.scan; returns the final mean (D,)."""
    with evosax_promotion():
        es = Sep_CMA_ES(population_size=population, solution=jnp.zeros(dim))
        params, state = _evosax_init(es, key, dim)
        state, _ = lax.scan(
            lambda s, _: _evosax_step(es, params, s, key), state, None, length=generations
        )
    return state.mean


@partial(jax.jit, static_argnames=("dim", "population", "generations"))
def ours_run(key, *, dim: int, population: int, generations: int):
    """Our sep-CMA-ES for `generations` generations; returns the final mean (D,)."""
    final, _ = evolution.run(
        sep_cma_init(start_point(dim), SIGMA0),
        key,
        step=sep_cma_step,
        objective=rosenbrock,
        config=SepCMAConfig(population),
        generations=generations,
    )
    return final.mean  # the stacked history is unused, so XLA drops it


def ours_run_until(key, *, dim: int, population: int, threshold: float, max_generations: int):
    """Generations until the best loss < threshold; returns (generations, best loss)."""
    final, _ = evolution.run_until(
        sep_cma_init(start_point(dim), SIGMA0),
        key,
        threshold,
        step=sep_cma_step,
        objective=rosenbrock,
        config=SepCMAConfig(population),
        max_generations=max_generations,
    )
    return final.generation, final.best_loss


# ----------------------------------------------------------------------------


def compare(
    dim: int = 10,
    population: int | None = None,
    seeds: int = 5,
    threshold: float = 0.01,
    max_generations: int = 10_000,
    timing_generations: int = 500,
    repeats: int = 5,
) -> dict:
    """Evaluations to threshold and time per generation, ours against evosax.

    Returns a dict with `dim`, `dtype` (of both runs' arrays), `population`,
    `threshold`, `max_generations`, `timing_generations`, and for "ours" and "evosax" each:
    `evaluations` (per seed, None where the budget ran out), `converged`
    (how many seeds), `median_evaluations` (over the converged seeds, None if
    none), `ms_per_generation` (median) and `first_call_ms` (trace, compile and run).
    """
    population = population or default_population(dim)
    runners = {"ours": (ours_run_until, ours_run), "evosax": (evosax_run_until, evosax_run)}
    out = {
        "dim": dim,
        "dtype": str(start_point(dim).dtype),
        "population": population,
        "threshold": threshold,
        "max_generations": max_generations,
        "timing_generations": timing_generations,
    }
    for name, (run_until, run_fixed) in runners.items():
        evaluations = []
        for seed in range(seeds):
            generations, best = run_until(
                jax.random.key(seed),
                dim=dim,
                population=population,
                threshold=threshold,
                max_generations=max_generations,
            )
            evaluations.append(int(generations) * population if float(best) < threshold else None)
        reached = [e for e in evaluations if e is not None]

        fixed = partial(run_fixed, dim=dim, population=population, generations=timing_generations)
        key = jax.random.key(0)
        first_ms, _ = timing.time_once(fixed, key)  # trace + compile + run
        t = timing.time_call(fixed, key, repeats=repeats)
        out[name] = {
            "evaluations": evaluations,
            "converged": len(reached),
            "median_evaluations": statistics.median(reached) if reached else None,
            "ms_per_generation": t.median_ms / timing_generations,
            "first_call_ms": first_ms,
        }
    return out


def per_seed(evaluations: list[int | None]) -> str:
    """'96, —, 120': each seed's evaluations, '—' where the budget ran out."""
    return ", ".join("—" if e is None else f"{e:,}" for e in evaluations)


def report(r: dict, console) -> None:
    table = Table(
        title=f"sep-CMA-ES on the {r['dim']}-D Rosenbrock, λ = {r['population']}, "
        f"threshold {r['threshold']:g}, {r['dtype']}"
    )
    for col in (
        "implementation",
        "reached",
        "median evaluations",
        "µs / generation",
        "first call ms",
    ):
        table.add_column(col, justify="left" if col == "implementation" else "right")
    for name in ("ours", "evosax"):
        m = r[name]
        median = m["median_evaluations"]
        table.add_row(
            name,
            f"{m['converged']}/{len(m['evaluations'])}",
            "—" if median is None else f"{median:g}",
            f"{1e3 * m['ms_per_generation']:.1f}",
            f"{m['first_call_ms']:.0f}",
        )
    console.print(table)
    for name in ("ours", "evosax"):
        console.print(f"{name} evaluations per seed: {per_seed(r[name]['evaluations'])}")
    console.print(
        f"'—': no threshold within {r['max_generations']} generations. Time per generation: "
        f"median of repeated {r['timing_generations']}-generation runs compiled as one "
        "lax.scan, after a warm-up call; the first call includes tracing and compiling."
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--dim",
        type=cli.int_in(2, MAX_DIM, "time"),
        default=10,
        help=f"dimensions D, 2 to {MAX_DIM:,} (default: %(default)s)",
    )
    p.add_argument(
        "--population",
        type=cli.int_in(2, MAX_POPULATION, "time"),
        default=None,
        help=f"λ, 2 to {MAX_POPULATION:,} (default: 4 + floor(3 ln D))",
    )
    p.add_argument(
        "--seeds",
        type=cli.int_in(1, MAX_SEEDS, "time"),
        default=5,
        help="runs to the threshold, seeds 0 … N-1 (default: %(default)s)",
    )
    p.add_argument(
        "--threshold",
        type=cli.positive_float,
        default=0.01,
        help="best loss that ends a run (default: %(default)s)",
    )
    p.add_argument(
        "--max-generations",
        type=cli.int_in(1, MAX_GENERATIONS, "time"),
        default=10_000,
        help="budget of each run to the threshold (default: %(default)s)",
    )
    p.add_argument(
        "--timing-generations",
        type=cli.int_in(1, MAX_TIMING_GENERATIONS, "time"),
        default=500,
        help="generations of each timed run (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    return p


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    itemsize = start_point(args.dim).dtype.itemsize
    cli.require_memory(
        p,
        history_bytes(args.dim, args.max_generations, itemsize),
        f"--dim {args.dim:,} with --max-generations {args.max_generations:,} (the run's history)",
    )
    r = compare(
        args.dim,
        args.population,
        args.seeds,
        args.threshold,
        args.max_generations,
        args.timing_generations,
    )
    if args.json:
        print(json.dumps(cli.envelope("sep_cma_vs_evosax", vars(args), r), allow_nan=False))
        return
    console = display.console()
    cli.header(console, "sep-CMA-ES: ours against evosax")
    report(r, console)


if __name__ == "__main__":
    cli.entry(main)
