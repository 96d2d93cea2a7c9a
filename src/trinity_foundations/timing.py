"""Honest timers for asynchronous JAX code.

JAX returns from a call as soon as the work is queued; the numbers are ready
later. A timer that stops before `block_until_ready` measures dispatch, not
computation. Everything here waits for the result, warms up first (so the
compile of a first call is not counted as run time), and reports the median
of several repeats, which one slow outlier cannot move.
"""

from __future__ import annotations

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
