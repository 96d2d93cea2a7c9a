"""Honest timers for asynchronous JAX code.

JAX returns from a call as soon as the work is queued; the numbers are ready
later. A timer that stops before `block_until_ready` measures dispatch, not
computation. Everything here waits for the result, warms up first (so the
compile of a first call is not counted as run time), and reports the median
of several repeats, which one slow outlier cannot move.
"""

from __future__ import annotations

import functools
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax


@dataclass(frozen=True)
class Timing:
    """Wall-clock milliseconds over `repeats` calls."""

    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    faults_per_call: float = 0.0  # minor page faults during the timed calls, per call
    rounds_ms: tuple[float, ...] = ()  # median of each round (`time_side_by_side` only)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


def minor_faults() -> int:
    """Minor page faults of this process so far, all threads: each is a page
    of freshly mapped memory touched for the first time, which the kernel
    must zero-fill. A call that allocates a fresh 4 MB result can pay ~1,000."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


WARMUP_MS = 100.0


def _drain(out: Any) -> None:
    """Wait for a JAX array that was not waited for; host results need nothing."""
    if isinstance(out, jax.Array):
        out.block_until_ready()


def time_call(
    fn: Callable,
    *args: Any,
    repeats: int = 7,
    warmup: int = 1,
    sync: bool = True,
    warmup_ms: float = WARMUP_MS,
) -> Timing:
    """Median time of `fn(*args)` after an untimed warm-up.

    The warm-up makes at least `warmup` calls and goes on until they have
    taken `warmup_ms` in all (warmup=0 skips it). One call is not enough:
    on a 2-core virtual machine the first few dozen calls of a jitted 10⁶
    multiply took 2-4 ms before settling at 0.2 ms (fresh memory for the
    first results, threads and an idle core waking up).

    sync=True waits for every result (`jax.block_until_ready`); sync=False
    times only the dispatch of JAX work, or host code (lists, NumPy) where
    nothing runs asynchronously and a pytree walk would add cost of its own.
    """
    start, calls = time.perf_counter(), 0
    while calls < warmup or (calls and _ms(start) < warmup_ms):
        out = fn(*args)
        jax.block_until_ready(out) if sync else _drain(out)
        calls += 1
    samples = []
    out = None
    faults = minor_faults()
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        if sync:
            jax.block_until_ready(out)
        samples.append(_ms(start))
    if not sync:
        _drain(out)  # before anything else is timed
    faults = minor_faults() - faults
    return Timing(statistics.median(samples), min(samples), max(samples), repeats, faults / repeats)


def time_once(fn: Callable, *args: Any) -> tuple[float, Any]:
    """(milliseconds, result) of a single synced call: for first calls."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return _ms(start), out


@dataclass(frozen=True)
class CompileTiming:
    lower_ms: float  # trace the Python function and lower it to StableHLO
    compile_ms: float  # XLA optimisation and code generation
    compiled: Any  # the executable, callable with the same arguments


def compile_timing(jitted: Callable, *args: Any, **kwargs: Any) -> CompileTiming:
    """Time the two stages of a jit's first call apart: lowering and compiling."""
    start = time.perf_counter()
    lowered = jitted.lower(*args, **kwargs)
    lower_ms = _ms(start)
    start = time.perf_counter()
    compiled = lowered.compile()
    return CompileTiming(lower_ms, _ms(start), compiled)


_PROGRAMS: dict = {}  # compile_once's programs, by function, static arguments and shapes


def compile_once(jitted: Callable, *args: Any, **static: Any) -> CompileTiming:
    """`compile_timing`, once per process for these shapes, dtypes and static arguments.

    Only shapes and static arguments key a program, so a second run with other
    numbers in its arrays (another learning rate in the optimiser state) reuses
    the first one's executable and its compile times.
    """
    shapes = jax.tree.map(lambda a: (getattr(a, "shape", a), str(getattr(a, "dtype", ""))), args)
    key = (jitted, str(shapes), tuple(sorted(static.items())))
    if key not in _PROGRAMS:
        _PROGRAMS[key] = compile_timing(jitted, *args, **static)
    return _PROGRAMS[key]


def cold(fn: Callable) -> Callable:
    """A new function object that calls `fn`: JAX's trace and compile caches are
    keyed on the function, so `jax.jit(cold(fn))` compiles from scratch while
    every other compiled kernel of the process stays cached (unlike
    `jax.clear_caches()`)."""

    @functools.wraps(fn)
    def copy(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return copy


MIN_REPEATS, MAX_REPEATS = 5, 201
ROUNDS = 3  # passes over the calls compared, so that they share the machine's slow spells


def time_side_by_side(
    calls: dict[str, tuple[Callable, tuple, bool]],
    budget_ms: float,
    *,
    rounds: int = ROUNDS,
    warmup_ms: float = WARMUP_MS,
) -> dict[str, Timing]:
    """Median time of each call, the calls measured side by side.

    Each call is warmed up (for `warmup_ms`, as in `time_call`) and timed
    once to size its repeats: as many as fit `budget_ms`, from MIN_REPEATS to
    MAX_REPEATS. Then `rounds` passes over all the calls share those repeats
    out, so a slow spell of a busy machine falls on every call alike instead
    of on whichever ran during it.

    Args:
      calls: name -> (fn, args, sync); sync as in `time_call`.
      budget_ms: time to spend on each call's repeats.
    Returns:
      name -> Timing over all its repeats (median, min, max, page faults per
      call) and the median of each round, for `round_ratios`.
    """
    per_round = {}
    for name, (fn, args, sync) in calls.items():
        first = time_call(fn, *args, repeats=1, warmup=1, sync=sync, warmup_ms=warmup_ms)
        fit = int(budget_ms / max(first.median_ms, 1e-3))
        per_round[name] = -(-min(MAX_REPEATS, max(MIN_REPEATS, fit)) // rounds)  # ceil
    samples: dict[str, list[float]] = {name: [] for name in calls}
    medians: dict[str, list[float]] = {name: [] for name in calls}
    faults = dict.fromkeys(calls, 0.0)
    for _ in range(rounds):
        for name, (fn, args, sync) in calls.items():
            this_round = []
            for _ in range(per_round[name]):
                t = time_call(fn, *args, repeats=1, warmup=0, sync=sync)
                this_round.append(t.median_ms)
                faults[name] += t.faults_per_call
            samples[name] += this_round
            medians[name].append(statistics.median(this_round))
    return {
        name: Timing(
            statistics.median(ms),
            min(ms),
            max(ms),
            len(ms),
            faults[name] / len(ms),
            tuple(medians[name]),
        )
        for name, ms in samples.items()
    }


SPREAD = 1.5  # a ratio whose rounds differ by more than this factor is printed with its spread


def round_ratios(num: Timing, den: Timing) -> list[float]:
    """num's time over den's, round by round (both from one `time_side_by_side`):
    each round's two medians were measured during the same spell of the machine."""
    return [a / b for a, b in zip(num.rounds_ms, den.rounds_ms, strict=True)]


def spread(values: list[float], limit: float = SPREAD) -> tuple[float, float] | None:
    """(lowest, highest) of a ratio's per-round values when the highest is more
    than `limit` times the lowest, else None: a busy machine's ratio is printed
    with its spread instead of as one confident number."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    return (lo, hi) if hi > limit * lo else None


def compile_and_run(jitted: Callable, *args: Any, **static: Any) -> tuple[float, float, Any]:
    """(compile ms, run ms, result) of one cold call: lowered and compiled apart
    (trace, lower and XLA compile together), then run once and waited for."""
    stages = compile_timing(jitted, *args, **static)
    run_ms, out = time_once(stages.compiled, *args)
    return stages.lower_ms + stages.compile_ms, run_ms, out
