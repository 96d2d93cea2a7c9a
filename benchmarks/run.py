"""Benchmarks: the list → tensor → JIT story, measured side by side in one run.

Element-wise multiply (a·b) and square-add (a² + b) of float32 vectors at
sizes 10³ … 10⁷, six ways:

  list         a Python list, one interpreted loop step per element
  numpy        NumPy, a fresh result array each call
  numpy_out    NumPy writing into a preallocated array (out=)
  jax_eager    JAX without jit: one dispatch per operation
  jit          jax.jit, the cached executable; XLA allocates a fresh output
  jit_donated  jax.jit whose output overwrites a donated buffer: the loop
               runs out = f(out, a, b), so each call hands the previous
               result's buffer back to be written again

The jit's compile time is measured apart. The memory-copy bandwidth
(np.copyto of a large array on the CPU, a jitted copy in device memory on an
accelerator; bytes read + written over time) is measured in the same run,
and each method's achieved bandwidth (12 bytes per element: two float32
read, one written) is given as a fraction of it.

Then whole loops: the linear probe's training epochs as a Python loop with a
host sync per step against one lax.scan; the simple ES of lesson 10 as the
original shaped it (one compiled call per generation, the ranking done on
the host with np.argsort) against one compiled run, and evosax's SimpleES on
the same population.

Every figure is the median of repeated calls after a warm-up, each call
waited for with block_until_ready; the repeats are as many as fit a time
budget per figure (at least 5). The calls compared with each other are timed
in three interleaved passes, so a slow spell of a busy machine falls on all
of them alike.

Run:  python benchmarks/run.py [--quick] [--json PATH] [--sizes N ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from rich.table import Table

from trinity_foundations import baselines, cli, display, probe, timing
from trinity_foundations.evolution import (
    ESConfig,
    es_init,
    es_run,
    log_rank_weights,
    noisy_sphere,
    sample_population,
)

try:  # the peer in the ES comparison, from the [bench] extra
    from evosax.algorithms import SimpleES
except ImportError:
    SimpleES = None

SIZES = (10**3, 10**4, 10**5, 10**6, 10**7)
QUICK_LIST_LIMIT = 10**6  # --quick skips the list above this (about a second per call at 10⁷)
MIN_COPY_SIZE = 10**7  # float32 elements: 40 MB per array, beyond the last-level cache
BYTES_PER_ELEMENT = 12  # two float32 inputs read, one float32 result written
MIN_REPEATS, MAX_REPEATS = 5, 201
ROUNDS = 3  # passes over the methods compared, so that they share the machine's slow spells
BUDGET_MS = {"full": 400.0, "quick": 100.0}  # time spent on each figure's repeats
OUT_DIR = Path(__file__).resolve().parent / "out"

METHODS = ("list", "numpy", "numpy_out", "jax_eager", "jit", "jit_donated")
JAX_METHODS = ("jax_eager", "jit", "jit_donated")
CHARTED = ("list", "numpy", "jit", "jit_donated")  # in the terminal chart; the PNG has all

ES_START, ES_SIGMA, ES_GENERATIONS = (5.0, -5.0), 2.0, 80  # lesson 10
ES_CONFIG = ESConfig()  # λ = 20, μ = 5, σ × 0.95 per generation after the 30th

TARGETS = {  # (comparison, bound) from tracker issue 7, for the 2-core CPU
    "jit_over_numpy_1e6": ("<=", 1.5),
    "numpy_over_donated_jit_1e7": (">=", 2.0),
    "list_over_jit_1e6": (">=", 50.0),
    "bandwidth_fraction_1e7": (">=", 0.5),
    "loop_over_scan_probe": (">=", 5.0),
    "host_over_compiled_es": (">=", 10.0),
    "evosax_over_ours_es": (">=", 1.0),
}


# ----------------------------------------------------------------------------
# Timing.


def time_side_by_side(calls: dict, budget_ms: float) -> dict[str, dict]:
    """Median time of each call, the calls measured side by side.

    Each call is warmed up and timed once to size its repeats (as many as
    fit `budget_ms`, 5 to 201); then ROUNDS passes over all the calls share
    those repeats out, so a slow spell of a busy machine falls on every call
    alike instead of on whichever ran during it.

    Args:
      calls: name -> (fn, args, sync); sync as in timing.time_call.
    Returns:
      name -> {ms (median over all repeats), min_ms, repeats, faults_per_call
      (minor page faults during the repeats, per call)}.
    """
    per_round = {}
    for name, (fn, args, sync) in calls.items():
        first = timing.time_call(fn, *args, repeats=1, warmup=1, sync=sync)
        fit = int(budget_ms / max(first.median_ms, 1e-3))
        per_round[name] = -(-min(MAX_REPEATS, max(MIN_REPEATS, fit)) // ROUNDS)  # ceil
    samples = {name: [] for name in calls}
    faults = dict.fromkeys(calls, 0.0)
    for _ in range(ROUNDS):
        for name, (fn, args, sync) in calls.items():
            for _ in range(per_round[name]):
                t = timing.time_call(fn, *args, repeats=1, warmup=0, sync=sync)
                samples[name].append(t.median_ms)
                faults[name] += t.faults_per_call
    return {
        name: {
            "ms": statistics.median(ms),
            "min_ms": min(ms),
            "repeats": len(ms),
            "faults_per_call": faults[name] / len(ms),
        }
        for name, ms in samples.items()
    }


def gbps(nbytes: float, ms: float) -> float:
    return nbytes / ms / 1e6


def copy_bandwidth(size: int, budget_ms: float, on_device: bool) -> dict:
    """Memory-copy bandwidth of `size` float32, bytes read plus bytes written.

    On the CPU: np.copyto into a preallocated array, on one thread. On an
    accelerator the arrays live in device memory, so the reference is a
    jitted copy there, written into a donated buffer (no allocation).
    Counts 8 bytes per element, the convention of the element-wise figures.
    """
    src = np.arange(size, dtype=np.float32)  # (size,)
    if on_device:
        copy = jax.jit(lambda out, x: x * 1, donate_argnums=0, keep_unused=True)
        call = (chained(copy, jnp.zeros_like(src), jnp.asarray(src)), (), True)
    else:
        call = (np.copyto, (np.empty_like(src), src), False)  # dst touched by the warm-up
    m = time_side_by_side({"copy": call}, budget_ms)["copy"]
    return {**m, "gbps": gbps(8 * size, m["ms"])}


# ----------------------------------------------------------------------------
# Element-wise kernels: one function per operation, run by every method.


def multiply(a, b):
    return a * b  # (n,)


def square_add(a, b):
    return a**2 + b  # (n,)


def numpy_multiply_into(out, a, b):
    return np.multiply(a, b, out=out)  # (n,) written into out


def numpy_square_add_into(out, a, b):
    np.square(a, out=out)  # (n,)
    return np.add(out, b, out=out)  # (n,)


OP_FORMULAS = {"multiply": "a · b", "square_add": "a² + b"}
OPS = {  # name: (array function, list baseline, NumPy into a preallocated out)
    "multiply": (multiply, baselines.list_multiply, numpy_multiply_into),
    "square_add": (square_add, baselines.list_square_add, numpy_square_add_into),
}


def written_into(op):
    """jit of op(a, b) as f(out, a, b): the result overwrites the donated `out`.

    XLA aliases the output with the donated input of the same shape and
    dtype, so no output buffer is allocated; keep_unused keeps `out` a
    parameter although its values are never read.
    """
    return jax.jit(lambda out, a, b: op(a, b), donate_argnums=0, keep_unused=True)


def chained(step, out, *inputs):
    """A no-argument call running out = step(out, *inputs): each call donates
    the previous call's result (a donated array cannot be used again)."""

    def call():
        nonlocal out
        out = step(out, *inputs)
        return out

    return call


def partitions(compiled) -> int:
    """How many threads XLA:CPU splits the element-wise loop over (1 if not split)."""
    found = re.search(r'outer_dimension_partitions":\["(\d+)"', compiled.as_text())
    return int(found.group(1)) if found else 1


def elementwise(size: int, *, budget_ms: float, with_list: bool) -> tuple[list, list]:
    """Time every method on both operations at one size.

    Data as in lesson 3: a = 0 … n−1, b = 10·a, float32.
    Returns (timing records, compile records).
    """
    a_np = np.arange(size, dtype=np.float32)  # (n,)
    b_np = 10 * a_np  # (n,)
    a, b = jnp.asarray(a_np), jnp.asarray(b_np)  # (n,) each, on the device
    jitted, compiles = {}, []
    for name, (op, _, _) in OPS.items():
        jitted[name] = jax.jit(op)
        ct = timing.compile_timing(jitted[name], a, b)
        compiles.append(
            {
                "op": name,
                "size": size,
                "lower_ms": ct.lower_ms,
                "compile_ms": ct.compile_ms,
                "partitions": partitions(ct.compiled),
            }
        )
    # Built after compiling: Python's garbage collector walks every item of
    # a live list, which would lengthen a tracing pass that happens to trigger it.
    lists = (a_np.tolist(), b_np.tolist()) if with_list else None
    records = []
    for name, (op, list_op, numpy_into) in OPS.items():
        calls = {  # method: (call, args, sync)
            "list": (list_op, lists, False),
            "numpy": (op, (a_np, b_np), False),
            "numpy_out": (numpy_into, (np.empty_like(a_np), a_np, b_np), False),
            "jax_eager": (op, (a, b), True),
            "jit": (jitted[name], (a, b), True),
            "jit_donated": (chained(written_into(op), jnp.zeros_like(a), a, b), (), True),
        }
        calls = {method: call for method, call in calls.items() if call[1] is not None}
        expected = op(a_np, b_np)  # (n,) NumPy's float32 result
        for method, m in time_side_by_side(calls, budget_ms).items():
            fn, args, _ = calls[method]
            got = np.asarray(fn(*args), dtype=np.float32)  # (n,)
            records.append(
                {
                    "op": name,
                    "method": method,
                    "size": size,
                    **m,
                    # fused a² + b may round once (FMA) where NumPy rounds twice
                    "matches_numpy": bool(np.allclose(got, expected, rtol=1e-6, atol=0)),
                }
            )
    return records, compiles


def add_derived(records: list, copy: dict) -> None:
    """Fill in the ratio to NumPy, GB/s and the fraction of copy bandwidth."""
    numpy_ms = {(r["op"], r["size"]): r["ms"] for r in records if r["method"] == "numpy"}
    for r in records:
        r["over_numpy"] = r["ms"] / numpy_ms[r["op"], r["size"]]
        # a list moves pointers and float objects, not 12 bytes per element
        r["gbps"] = None if r["method"] == "list" else gbps(BYTES_PER_ELEMENT * r["size"], r["ms"])
        r["fraction_of_copy"] = None if r["gbps"] is None else r["gbps"] / copy["gbps"]


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

    Returns: (D,) the final mean.
    """
    weights = np.asarray(log_rank_weights(config.mu))  # (μ,)
    mean, sigma = np.asarray(ES_START, np.float32), np.float32(ES_SIGMA)  # (D,), ()
    for g in range(generations):
        points, losses = sample_and_score(
            jax.random.fold_in(key, g), mean, sigma, population=config.population
        )
        points, losses = np.asarray(points), np.asarray(losses)  # host sync
        best = np.argsort(losses)[: config.mu]  # (μ,)
        mean = weights @ points[best]  # (D,)
        if g + 1 >= config.decay_after:
            sigma = sigma * np.float32(config.decay)
    return mean


@partial(jax.jit, static_argnames=("generations",))
def es_compiled(key, *, generations: int) -> jax.Array:
    """evolution.es_run: every generation in one lax.scan; returns the (D,) final mean."""
    final, _ = es_run(
        es_init(ES_START, ES_SIGMA),
        key,
        generations=generations,
        objective=noisy_sphere,
        config=ES_CONFIG,
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

    # evosax broadcasts (D,) against (λ, D) implicitly: allow it whatever the caller's setting
    with jax.numpy_rank_promotion("allow"):
        state = es.init(key, jnp.asarray(ES_START), params)
        state, _ = lax.scan(generation, state, jnp.arange(generations))
    return state.mean  # (D,)


def es_benchmark(seed: int, generations: int, budget_ms: float) -> dict:
    key = jax.random.key(seed)
    runs = {
        "host_loop": (partial(es_host_loop, key, generations), False),
        "compiled": (partial(es_compiled, key, generations=generations), True),
        "evosax": (partial(es_evosax, key, generations=generations), True),
    }
    out = {
        "generations": generations,
        "population": ES_CONFIG.population,
        "mu": ES_CONFIG.mu,
        "start": list(ES_START),
        "evosax": None,
    }
    if SimpleES is None:
        del runs["evosax"]
    timings = time_side_by_side(
        {name: (fn, (), sync) for name, (fn, sync) in runs.items()}, budget_ms
    )
    for name, (fn, _) in runs.items():
        m = timings[name]
        mean = np.asarray(fn())  # (D,)
        out[name] = {
            "ms": m["ms"],
            "repeats": m["repeats"],
            "us_per_generation": 1e3 * m["ms"] / generations,
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


PROBE_POINTS, PROBE_LR, PROBE_L2 = 1000, 0.1, 0.001  # lesson 5


def probe_loop(params, x, y, epochs: int):
    """The probe's training as the original wrote it: a Python loop of compiled
    steps, each loss brought to the host (the original logged every epoch).

    Returns: (final params, the epochs' losses as Python floats).
    """
    losses = []
    for _ in range(epochs):
        params, value = probe.train_step(params, x, y, PROBE_LR, PROBE_L2)
        losses.append(float(value))  # host sync: wait for this step before the next
    return params, losses


def probe_benchmark(seed: int, epochs: int, budget_ms: float) -> dict:
    k_data, k_init = jax.random.split(jax.random.key(seed))
    x, y = probe.make_clusters(k_data, PROBE_POINTS)  # (n, 2), (n, 1)
    params = probe.init_params(k_init)  # w (2, 1), b ()
    runs = {
        "loop": (partial(probe_loop, params, x, y, epochs), False),
        "scan": (partial(probe.train, params, x, y, PROBE_LR, PROBE_L2, epochs=epochs), True),
    }
    out = {"epochs": epochs, "points": PROBE_POINTS}
    timings = time_side_by_side(
        {name: (fn, (), sync) for name, (fn, sync) in runs.items()}, budget_ms
    )
    for name, m in timings.items():
        out[name] = {"ms": m["ms"], "repeats": m["repeats"], "us_per_epoch": 1e3 * m["ms"] / epochs}
    (w_loop, b_loop), loop_losses = probe_loop(params, x, y, epochs)
    (w_scan, b_scan), (scan_losses, _) = probe.train(
        params, x, y, PROBE_LR, PROBE_L2, epochs=epochs
    )
    out["same_result"] = bool(
        np.allclose(w_loop, w_scan, rtol=1e-5, atol=1e-6)
        and np.allclose(b_loop, b_scan, rtol=1e-5, atol=1e-6)
        and np.allclose(loop_losses, scan_losses, rtol=1e-5)
    )
    out["final_loss"] = float(scan_losses[-1])
    return out


# ----------------------------------------------------------------------------
# The run, its ratios, and the report.


def find(records: list, op: str, method: str, size: int) -> dict | None:
    return next(
        (r for r in records if (r["op"], r["method"], r["size"]) == (op, method, size)), None
    )


def ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None else num / den


def ratios(results: dict) -> dict:
    """The headline ratios, on the multiply (the original's example); None
    where a figure was not measured in this run (a size not in --sizes)."""
    rec = results["elementwise"]

    def ms(method: str, size: int) -> float | None:
        r = find(rec, "multiply", method, size)
        return r["ms"] if r else None

    fractions = [find(rec, "multiply", m, 10**7) for m in JAX_METHODS]
    pr, es = results["probe"], results["es"]
    return {
        "jit_over_numpy_1e6": ratio(ms("jit", 10**6), ms("numpy", 10**6)),
        "numpy_over_donated_jit_1e7": ratio(ms("numpy", 10**7), ms("jit_donated", 10**7)),
        "list_over_jit_1e6": ratio(ms("list", 10**6), ms("jit", 10**6)),
        "bandwidth_fraction_1e7": max(
            (r["fraction_of_copy"] for r in fractions if r), default=None
        ),
        "loop_over_scan_probe": ratio(pr["loop"]["ms"], pr["scan"]["ms"]),
        "host_over_compiled_es": ratio(es["host_loop"]["ms"], es["compiled"]["ms"]),
        "evosax_over_ours_es": ratio(
            es["evosax"]["ms"] if es["evosax"] else None, es["compiled"]["ms"]
        ),
    }


def run(
    sizes, *, budget_ms: float, list_limit: int | None, seed: int, epochs: int, generations: int
) -> dict:
    """Every figure of the benchmark; the list is skipped above `list_limit`."""
    copy_size = max(MIN_COPY_SIZE, *sizes)
    on_device = jax.default_backend() != "cpu"
    copy_before = copy_bandwidth(copy_size, budget_ms, on_device)
    records, compiles, skipped = [], [], []
    for size in sizes:
        with_list = list_limit is None or size <= list_limit
        if not with_list:
            skipped.append(size)
        r, c = elementwise(size, budget_ms=budget_ms, with_list=with_list)
        records += r
        compiles += c
    # Other work on the machine can slow one copy measurement: take two, keep the faster.
    runs = [copy_before, copy_bandwidth(copy_size, budget_ms, on_device)]
    copy = {
        "size": copy_size,
        "bytes": 8 * copy_size,
        "runs": runs,
        "how": "jitted copy in device memory" if on_device else "np.copyto, one thread",
        "gbps": max(r["gbps"] for r in runs),
    }
    add_derived(records, copy)
    results = {
        "copy": copy,
        "elementwise": records,
        "compile": compiles,
        "list_skipped": skipped,
        "bytes_per_element": BYTES_PER_ELEMENT,
        "probe": probe_benchmark(seed, epochs, budget_ms),
        "es": es_benchmark(seed, generations, budget_ms),
    }
    results["ratios"] = ratios(results)
    return results


def environment() -> dict:
    backend, device = cli.device_info()
    return {
        "backend": backend,
        "device": device,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax_platforms": os.environ.get("JAX_PLATFORMS", ""),
        "cpu_async_dispatch": bool(jax.config.values["jax_cpu_enable_async_dispatch"]),
    }


def target_met(name: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, bound = TARGETS[name]
    return value <= bound if op == "<=" else value >= bound


def fmt(value, spec: str = ".3g", none: str = "—") -> str:
    return none if value is None else format(value, spec)


def size_label(n: int) -> str:
    """1e3 for powers of ten, 2,500 otherwise."""
    k = round(np.log10(n))
    return f"1e{k}" if 10**k == n else f"{n:,}"


def elementwise_table(results: dict, op: str) -> Table:
    table = Table(title=f"{op} ({OP_FORMULAS[op]}): median ms per call")
    for col in ("size", "method", "ms", "× NumPy", "GB/s", "of copy", "faults/call"):
        table.add_column(
            col, justify="left" if col in ("size", "method") else "right", no_wrap=True
        )
    for size in sorted({r["size"] for r in results["elementwise"]}):
        for method in METHODS:
            r = find(results["elementwise"], op, method, size)
            if r is None:
                table.add_row(size_label(size), method, "skipped", "", "", "", "")
                continue
            table.add_row(
                size_label(size),
                method,
                f"{r['ms']:.4g}",
                f"{r['over_numpy']:.3g}",
                fmt(r["gbps"], ".2f"),
                fmt(r["fraction_of_copy"], ".0%"),
                f"{r['faults_per_call']:.0f}",
            )
        table.add_section()
    return table


def series(results: dict, op: str, methods=METHODS) -> dict[str, list[float]]:
    """ms per size for each method, NaN where a method was skipped."""
    sizes = sorted({r["size"] for r in results["elementwise"]})
    out = {}
    for method in methods:
        found = [find(results["elementwise"], op, method, s) for s in sizes]
        out[method] = [r["ms"] if r else float("nan") for r in found]
    return out


def save_png(results: dict, path: Path) -> Path | None:
    """Log-log time against size, one panel per operation; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = np.array(sorted({r["size"] for r in results["elementwise"]}), dtype=float)
    fig, axes = plt.subplots(1, len(OPS), figsize=(12, 5), sharey=True)
    for ax, op in zip(axes, OPS):
        for method, ms in series(results, op).items():
            ax.loglog(sizes, ms, marker="o", label=method)
        floor = BYTES_PER_ELEMENT * sizes / results["copy"]["gbps"] / 1e6  # ms at copy speed
        ax.loglog(sizes, floor, "k--", label="12 bytes/element at copy bandwidth")
        ax.set(title=op, xlabel="elements", ylabel="median ms per call")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report(results: dict, env: dict, console, png: Path | None) -> None:
    console.rule("[bold]Benchmarks: the list → tensor → JIT story")
    console.print(
        f"[dim]JAX {env['jax']} · NumPy {env['numpy']} · backend: {env['backend']} · "
        f"device: {env['device']} · {env['cpu_count']} CPU cores[/]"
    )
    console.print(
        f"[dim]XLA_FLAGS: {env['xla_flags'] or '(none)'} · JAX_PLATFORMS: "
        f"{env['jax_platforms'] or '(unset)'} · CPU async dispatch: "
        f"{env['cpu_async_dispatch']}[/]\n"
    )
    copy = results["copy"]
    before, after = (f"{r['ms']:.2f} ms ({r['gbps']:.1f} GB/s)" for r in copy["runs"])
    console.print(
        f"Memory-copy bandwidth ({copy['how']}) of {copy['size']:,} float32 "
        f"({copy['bytes'] / 2e6:.0f} MB read, as many written) took "
        f"{before} before the element-wise runs and {after} after; the faster, "
        f"[bold]{copy['gbps']:.1f} GB/s[/], is the bandwidth below.\n"
    )
    sizes = sorted({r["size"] for r in results["elementwise"]})
    points = ", ".join(f"{i} = {size_label(n)}" for i, n in enumerate(sizes, 1))
    for op in OPS:
        console.print(elementwise_table(results, op))
        console.print(
            display.line_chart(
                series(results, op, CHARTED),
                height=12,
                width=40,
                log_y=True,
                x_label="size point",
                y_label=f"{op}: ms per call",
            )
        )
        console.print(f"size points: {points}\n")
    wrong = [
        f"{r['op']} {r['method']} at {size_label(r['size'])}"
        for r in results["elementwise"]
        if not r["matches_numpy"]
    ]
    console.print(
        "Every method's result agrees with NumPy's (relative tolerance 1e-6)."
        if not wrong
        else f"[red]Results that differ from NumPy's: {', '.join(wrong)}[/]"
    )
    console.print(
        f"GB/s counts {BYTES_PER_ELEMENT} bytes per element (two float32 read, one "
        "written); 'of copy' divides it by the copy bandwidth above, so arrays that "
        "fit in cache can exceed 100 %. faults/call: minor page faults, one per "
        "fresh page touched."
    )
    if results["list_skipped"]:
        skipped = ", ".join(size_label(s) for s in results["list_skipped"])
        console.print(f"--quick skips the list at {skipped} elements (about a second per call).")
    console.print(
        f"PNG with every method: {png}" if png else "No PNG: matplotlib is not installed."
    )

    table = Table(title="jax.jit compile time, apart from run time")
    for col in ("op", "size", "lower ms", "compile ms", "threads"):
        table.add_column(col, justify="left" if col == "op" else "right")
    for c in results["compile"]:
        table.add_row(
            c["op"],
            size_label(c["size"]),
            f"{c['lower_ms']:.1f}",
            f"{c['compile_ms']:.1f}",
            str(c["partitions"]),
        )
    console.print(table)

    pr = results["probe"]
    table = Table(
        title=f"Linear probe, {pr['epochs']} epochs of full-batch GD on {pr['points']} points"
    )
    for col in ("run", "ms", "µs / epoch"):
        table.add_column(col, justify="left" if col == "run" else "right")
    table.add_row(
        "Python loop, host sync each epoch",
        f"{pr['loop']['ms']:.3f}",
        f"{pr['loop']['us_per_epoch']:.1f}",
    )
    table.add_row(
        "one lax.scan (probe.train)", f"{pr['scan']['ms']:.3f}", f"{pr['scan']['us_per_epoch']:.1f}"
    )
    console.print(table)
    same = "the same" if pr["same_result"] else "[red]DIFFERENT[/]"
    console.print(f"Both give {same} weights and losses (final loss {pr['final_loss']:.4f}).")

    es = results["es"]
    table = Table(
        title=f"Simple ES, {es['generations']} generations, λ = {es['population']}, "
        f"μ = {es['mu']}, from {es['start']}"
    )
    for col in ("run", "ms", "µs / generation", "final distance to optimum"):
        table.add_column(col, justify="left" if col == "run" else "right")
    labels = {
        "host_loop": "Python loop, np.argsort on host",
        "compiled": "ours, one lax.scan",
        "evosax": "evosax SimpleES, one lax.scan",
    }
    for name, label in labels.items():
        m = es[name]
        if m is None:
            table.add_row(label, "not installed", "", "")
            continue
        table.add_row(
            label, f"{m['ms']:.3f}", f"{m['us_per_generation']:.1f}", f"{m['final_distance']:.3g}"
        )
    console.print(table)
    same = "the same" if es["host_matches_compiled"] else "[red]a DIFFERENT[/]"
    console.print(
        f"The host loop and the compiled run follow the same keys and end at {same} "
        "mean; evosax adapts σ its own way, so its path differs."
    )

    table = Table(title="Headline ratios (multiply; ES and probe as above)")
    for col in ("ratio", "value", "target", "met"):
        table.add_column(col, justify="left" if col == "ratio" else "right")
    for name, value in results["ratios"].items():
        op, bound = TARGETS[name]
        met = target_met(name, value)
        table.add_row(
            name,
            fmt(value, ".3g", "not measured"),
            f"{op} {bound:g}",
            {None: "—", True: "yes", False: "[red]no[/]"}[met],
        )
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a shorter time budget per figure; skip the list above 10^6",
    )
    p.add_argument(
        "--sizes",
        type=cli.positive_int,
        nargs="+",
        default=list(SIZES),
        help="vector lengths (default: %(default)s)",
    )
    p.add_argument(
        "--budget-ms",
        type=cli.positive_float,
        default=None,
        help="time spent on each figure's repeats (default: 400, 100 with --quick)",
    )
    p.add_argument(
        "--epochs",
        type=cli.positive_int,
        default=100,
        help="probe training epochs (default: %(default)s)",
    )
    p.add_argument(
        "--generations",
        type=cli.positive_int,
        default=ES_GENERATIONS,
        help="ES generations (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--cpu-sync-dispatch",
        action="store_true",
        help="run CPU computations inline on the calling thread instead of JAX's "
        "default asynchronous dispatch (jax_cpu_enable_async_dispatch=False)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here")
    p.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR,
        help="folder for the PNG chart (default: benchmarks/out)",
    )
    args = p.parse_args(argv)
    if args.cpu_sync_dispatch:  # read when the CPU client starts, so set before any array
        jax.config.update("jax_cpu_enable_async_dispatch", False)

    env = environment()
    args.budget_ms = args.budget_ms or BUDGET_MS["quick" if args.quick else "full"]
    results = run(
        sorted(set(args.sizes)),
        budget_ms=args.budget_ms,
        list_limit=QUICK_LIST_LIMIT if args.quick else None,
        seed=args.seed,
        epochs=args.epochs,
        generations=args.generations,
    )
    png = save_png(results, args.out / "elementwise.png")
    console = display.console()
    report(results, env, console, png)
    if args.json:
        params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        figures = {k: v for k, v in results.items() if k != "ratios"}
        doc = {
            "benchmark": "run",
            **env,
            "params": params,
            "results": figures,
            "ratios": results["ratios"],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(cli.to_jsonable(doc), indent=1, allow_nan=False))
        console.print(f"\nWrote {args.json}")


if __name__ == "__main__":
    main()
