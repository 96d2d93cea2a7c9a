import mmap
import time

import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations import timing


def test_time_call_reports_ordered_positive_stats():
    f = jax.jit(lambda x: x * 2)
    t = timing.time_call(f, jnp.ones(1000), repeats=5)
    assert 0 < t.min_ms <= t.median_ms <= t.max_ms
    assert t.repeats == 5


def test_time_call_host_code_without_sync():
    t = timing.time_call(lambda: [i * i for i in range(1000)], sync=False, repeats=3)
    assert t.median_ms > 0


def _counting_sleeper(ms):
    calls = []

    def f():
        calls.append(1)
        time.sleep(ms / 1e3)

    return f, calls


def test_warm_up_lasts_at_least_warmup_ms():
    f, calls = _counting_sleeper(2)
    timing.time_call(f, sync=False, repeats=3, warmup=1, warmup_ms=30)
    assert 3 + 1 < len(calls) <= 3 + 16  # 30 ms of 2 ms calls: about 15 warm-up calls


def test_warmup_zero_skips_the_warm_up():
    f, calls = _counting_sleeper(1)
    timing.time_call(f, sync=False, repeats=3, warmup=0, warmup_ms=30)
    assert len(calls) == 3


def test_compile_timing_returns_working_executable():
    f = jax.jit(lambda a, b: a**2 + b)
    a = jnp.arange(4.0)
    ct = timing.compile_timing(f, a, a)
    assert ct.lower_ms > 0 and ct.compile_ms > 0
    assert ct.compiled(a, a).tolist() == [0.0, 2.0, 6.0, 12.0]


def test_time_once_returns_result():
    ms, out = timing.time_once(jax.jit(lambda x: x + 1), jnp.zeros(2))
    assert ms > 0 and out.tolist() == [1.0, 1.0]


def test_time_call_counts_the_page_faults_of_fresh_memory():
    page = mmap.PAGESIZE

    def touch_fresh_pages():  # 64 pages mapped anew and written each call
        with mmap.mmap(-1, 64 * page) as m:
            for i in range(0, len(m), page):
                m[i] = 1

    t = timing.time_call(touch_fresh_pages, sync=False, repeats=5, warmup_ms=0)
    assert t.faults_per_call >= 64
    assert timing.time_call(lambda: None, sync=False, repeats=5).faults_per_call < 8


def test_side_by_side_takes_at_least_the_minimum_of_repeats():
    calls = {"a": (sum, (range(100),), False), "b": (max, (range(100),), False)}
    timings = timing.time_side_by_side(calls, budget_ms=1e-6, warmup_ms=0)
    assert set(timings) == {"a", "b"}
    for t in timings.values():
        # the minimum, rounded up to whole rounds
        assert timing.MIN_REPEATS <= t.repeats < timing.MIN_REPEATS + timing.ROUNDS
        assert 0 < t.min_ms <= t.median_ms <= t.max_ms


def test_side_by_side_fits_the_repeats_to_the_budget():
    f, calls = _counting_sleeper(1)  # about 1 ms a call: a 30 ms budget fits about 30
    t = timing.time_side_by_side({"sleep": (f, (), False)}, budget_ms=30, warmup_ms=0)["sleep"]
    assert timing.MIN_REPEATS < t.repeats <= 30 + timing.ROUNDS
    assert len(calls) == 2 + t.repeats  # one warm-up, one sizing call, then the repeats


def test_side_by_side_interleaves_the_calls_in_rounds():
    order = []
    calls = {name: (order.append, (name,), False) for name in ("a", "b")}
    timing.time_side_by_side(calls, budget_ms=1e-6, warmup_ms=0, rounds=3)
    timed = order[4:]  # after each call's warm-up and sizing call
    per_round = timing.MIN_REPEATS // 3 + 1  # ceil(5 / 3) = 2
    assert timed == (["a"] * per_round + ["b"] * per_round) * 3


def test_side_by_side_counts_the_page_faults_of_fresh_memory():
    n = 16 * 2**20  # 64 MiB of float32: past glibc's largest mmap threshold, so always fresh
    reused = np.empty(n, np.float32)
    timings = timing.time_side_by_side(
        {
            "fresh": (np.ones, (n, np.float32), False),
            "refill": (reused.fill, (1.0,), False),
        },
        budget_ms=1,
        warmup_ms=0,
    )
    assert timings["fresh"].faults_per_call >= 1  # 2 MiB huge pages or 4 KiB pages
    assert timings["refill"].faults_per_call < 1


def test_side_by_side_keeps_the_median_of_each_round():
    calls = {"a": (sum, (range(100),), False), "b": (max, (range(100),), False)}
    timings = timing.time_side_by_side(calls, budget_ms=1e-6, warmup_ms=0, rounds=4)
    for t in timings.values():
        assert len(t.rounds_ms) == 4
        assert all(t.min_ms <= ms <= t.max_ms for ms in t.rounds_ms)


def _rounds(*ms):
    return timing.Timing(sorted(ms)[len(ms) // 2], min(ms), max(ms), len(ms), 0.0, ms)


def test_round_ratios_divide_round_by_round():
    ratios = timing.round_ratios(_rounds(2.0, 6.0, 3.0), _rounds(1.0, 2.0, 3.0))
    assert ratios == [2.0, 3.0, 1.0]


def test_spread_only_when_the_rounds_disagree_by_more_than_the_limit():
    assert timing.spread([2.0, 2.9, 2.5]) is None  # 2.9 < 1.5 × 2.0
    assert timing.spread([2.0, 3.0]) is None  # exactly 1.5×: still agreeing
    assert timing.spread([2.5, 2.0, 3.1]) == (2.0, 3.1)
    assert timing.spread([0.5, 0.9]) == (0.5, 0.9)  # ratios below 1 alike
    assert timing.spread([4.0]) is None and timing.spread([]) is None
    assert timing.spread([2.0, 2.9], limit=1.2) == (2.0, 2.9)
