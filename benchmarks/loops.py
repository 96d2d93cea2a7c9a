"""Whole loops: a Python loop with a host sync per step against one compiled run.

The linear probe's training epochs (lesson 05) as a Python loop of jitted
steps, each loss brought to the host, against one lax.scan; the simple ES of
lesson 10 as the original shaped it (one compiled call per generation, the
ranking done on the host with np.argsort) against one compiled run, and
evosax's SimpleES on the same population. Used by benchmarks/run.py.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from rich.table import Table

from trinity_foundations import evolution, probe, timing
from trinity_foundations.evolution import (
    ESConfig,
    es_init,
    es_step,
    log_rank_weights,
    noisy_sphere,
    sample_population,
)

try:  # the peer in the ES comparison, from the [bench] extra
    from evosax.algorithms import SimpleES
except ImportError:
    SimpleES = None

ES_START, ES_SIGMA, ES_GENERATIONS = (5.0, -5.0), 2.0, 80  # lesson 10
ES_CONFIG = ESConfig()  # λ = 20, μ = 5, σ × 0.95 per generation after the 30th
PROBE_POINTS, PROBE_EPOCHS = 1000, 100  # lesson 05
PROBE_CONFIG = probe.ProbeConfig(lr=0.1, l2=0.001)  # lesson 05


def side_by_side(runs: dict, budget_ms: float, warmup_ms: float) -> dict[str, timing.Timing]:
    """Time no-argument runs side by side; runs: name -> (fn, sync)."""
    calls = {name: (fn, (), sync) for name, (fn, sync) in runs.items()}
    return timing.time_side_by_side(calls, budget_ms, warmup_ms=warmup_ms)


# ----------------------------------------------------------------------------
# The simple ES: the original's shape against one compiled run, and evosax.


@partial(jax.jit, static_argnames=("population",))
def sample_and_score(key, mean, sigma, *, population: int):
    """The compiled part of one generation in the original's shape.

    Returns ((λ, D) points around `mean`, (λ,) their noisy losses); the keys
    are split as evolution.es_step splits them, so the trajectories agree.
    """
    k_sample, k_noise = jax.random.split(key)
    points = sample_population(k_sample, mean, sigma, population)  # (λ, D)
    return points, noisy_sphere(points, k_noise)  # (λ, D), (λ,)


def es_host_loop(key, generations: int, config: ESConfig = ES_CONFIG) -> np.ndarray:
    """The simple ES as the original wrote it: a Python loop over generations.

    Each generation makes one compiled call, brings the losses to the host,
    ranks them with np.argsort and recombines the μ best with NumPy.
    Generation g uses fold_in(key, g), as evolution.es_run does.

    Returns: (D,) the final mean, in JAX's default float (as es_init's).
    """
    start = es_init(ES_START, ES_SIGMA)
    mean, sigma = np.asarray(start.mean), np.asarray(start.sigma)  # (D,), ()
    weights = np.asarray(log_rank_weights(config.mu, dtype=mean.dtype))  # (μ,)
    for g in range(generations):
        points, losses = sample_and_score(
            jax.random.fold_in(key, g), mean, sigma, population=config.population
        )
        points, losses = np.asarray(points), np.asarray(losses)  # host sync
        best = np.argsort(losses)[: config.mu]  # (μ,)
        mean = weights @ points[best]  # (D,)
        if g + 1 >= config.decay_after:
            sigma = sigma * sigma.dtype.type(config.decay)
    return mean


@partial(jax.jit, static_argnames=("generations",))
def es_compiled(key, *, generations: int) -> jax.Array:
    """evolution.run of es_step: every generation in one lax.scan; returns the (D,) final mean."""
    final, _ = evolution.run(
        es_init(ES_START, ES_SIGMA),
        key,
        step=es_step,
        objective=noisy_sphere,
        config=ES_CONFIG,
        generations=generations,
    )
    return final.mean  # the stacked history is unused, so XLA drops it


@partial(jax.jit, static_argnames=("generations",))
def es_evosax(key, *, generations: int) -> jax.Array:
    """evosax's SimpleES on the same objective, population and recombination
    weights (zero past the μ best), its ask-evaluate-tell in one lax.scan.

    SimpleES adapts σ from the spread of the selected points instead of our
    fixed schedule; the work per generation is of the same kind.
    Returns: (D,) the final mean.
    """
    # evosax broadcasts (D,) against (λ, D) and mixes bool with float32 implicitly:
    # allow both inside it, whatever the caller's (the tests') setting
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        return _evosax_generations(key, generations)


def _evosax_generations(key, generations: int) -> jax.Array:
    config = ES_CONFIG
    es = SimpleES(population_size=config.population, solution=jnp.zeros(len(ES_START)))
    weights = (
        jnp.zeros(config.population).at[: config.mu].set(log_rank_weights(config.mu))
    )  # (λ,) by rank, best first
    params = es.default_params.replace(std_init=ES_SIGMA, weights=weights)

    def generation(state, g):
        k_ask, k_noise, k_tell = jax.random.split(jax.random.fold_in(key, g), 3)
        x, state = es.ask(k_ask, state, params)  # (λ, D)
        state, _ = es.tell(k_tell, x, noisy_sphere(x, k_noise), state, params)
        return state, None

    state = es.init(key, jnp.asarray(ES_START), params)
    state, _ = lax.scan(generation, state, jnp.arange(generations))
    return state.mean  # (D,)


def es_benchmark(seed: int, generations: int, budget_ms: float, *, warmup_ms: float) -> dict:
    key = jax.random.key(seed)
    runs = {
        "host_loop": (partial(es_host_loop, key, generations), False),
        "compiled": (partial(es_compiled, key, generations=generations), True),
        "evosax": (partial(es_evosax, key, generations=generations), True),
    }
    out = {
        "dtype": str(es_init(ES_START, ES_SIGMA).mean.dtype),
        "generations": generations,
        "population": ES_CONFIG.population,
        "mu": ES_CONFIG.mu,
        "start": list(ES_START),
        "evosax": None,
    }
    if SimpleES is None:
        del runs["evosax"]
    timings = side_by_side(runs, budget_ms, warmup_ms)
    for name, (fn, _) in runs.items():
        t = timings[name]
        mean = np.asarray(fn())  # (D,)
        out[name] = {
            "ms": t.median_ms,
            "repeats": t.repeats,
            "us_per_generation": 1e3 * t.median_ms / generations,
            "final_mean": mean.tolist(),
            "final_distance": float(np.linalg.norm(mean)),
        }
    out["host_matches_compiled"] = bool(
        np.allclose(
            out["host_loop"]["final_mean"], out["compiled"]["final_mean"], rtol=1e-4, atol=1e-5
        )
    )
    return out


# ----------------------------------------------------------------------------
# The probe's training loop: a Python loop with a host sync per step, one scan.


def probe_loop(params, batch, epochs: int):
    """The probe's training as the original wrote it: a Python loop of compiled
    steps, each loss brought to the host (the original logged every epoch).

    Returns: (final params, the epochs' losses as Python floats).
    """
    losses = []
    for _ in range(epochs):
        params, value = probe.train_step(params, batch, config=PROBE_CONFIG)
        losses.append(float(value))  # host sync: wait for this step before the next
    return params, losses


def probe_benchmark(seed: int, epochs: int, budget_ms: float, *, warmup_ms: float) -> dict:
    k_data, k_init = jax.random.split(jax.random.key(seed))
    batch = probe.make_clusters(k_data, PROBE_POINTS)  # x (n, 2), y (n, 1)
    params = probe.init_params(k_init)  # w (2, 1), b ()
    train = partial(probe.train, params, batch, config=PROBE_CONFIG, epochs=epochs)
    runs = {"loop": (partial(probe_loop, params, batch, epochs), False), "scan": (train, True)}
    out = {"epochs": epochs, "points": PROBE_POINTS}
    for name, t in side_by_side(runs, budget_ms, warmup_ms).items():
        out[name] = {
            "ms": t.median_ms,
            "repeats": t.repeats,
            "us_per_epoch": 1e3 * t.median_ms / epochs,
        }
    (w_loop, b_loop), loop_losses = probe_loop(params, batch, epochs)
    (w_scan, b_scan), (scan_losses, _) = train()
    out["same_result"] = bool(
        np.allclose(w_loop, w_scan, rtol=1e-5, atol=1e-6)
        and np.allclose(b_loop, b_scan, rtol=1e-5, atol=1e-6)
        and np.allclose(loop_losses, scan_losses, rtol=1e-5)
    )
    out["final_loss"] = float(scan_losses[-1])
    return out


# ----------------------------------------------------------------------------
# Their report.


def same_or_not(same: bool, alike: str, apart: str) -> str:
    """`alike` when two runs agreed, `apart` (in red) when they did not."""
    return alike if same else f"[red]{apart}[/]"


def report_probe(pr: dict, console) -> None:
    table = Table(
        title=f"Linear probe, {pr['epochs']} epochs of full-batch GD on {pr['points']} points"
    )
    for col in ("run", "ms", "µs / epoch"):
        table.add_column(col, justify="left" if col == "run" else "right")
    rows = {"loop": "Python loop, host sync each epoch", "scan": "one lax.scan (probe.train)"}
    for name, label in rows.items():
        table.add_row(label, f"{pr[name]['ms']:.3f}", f"{pr[name]['us_per_epoch']:.1f}")
    console.print(table)
    console.print(
        f"Both give {same_or_not(pr['same_result'], 'the same', 'DIFFERENT')} weights and losses "
        f"(final loss {pr['final_loss']:.4f})."
    )


ES_LABELS = {
    "host_loop": "Python loop, np.argsort on host",
    "compiled": "ours, one lax.scan",
    "evosax": "evosax SimpleES, one lax.scan",
}


def report_es(es: dict, console) -> None:
    table = Table(
        title=f"Simple ES ({es['dtype']}), {es['generations']} generations, "
        f"λ = {es['population']}, "
        f"μ = {es['mu']}, from {es['start']}"
    )
    for col in ("run", "ms", "µs / generation", "final distance to optimum"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, label in ES_LABELS.items():
        m = es[name]
        if m is None:
            table.add_row(label, "not installed", "", "")
            continue
        table.add_row(
            label, f"{m['ms']:.3f}", f"{m['us_per_generation']:.1f}", f"{m['final_distance']:.3g}"
        )
    console.print(table)
    ends = same_or_not(es["host_matches_compiled"], "the same mean", "DIFFERENT means")
    console.print(
        f"The host loop and the compiled run follow the same keys and end at {ends}; "
        "evosax adapts σ its own way, so its path differs."
    )
