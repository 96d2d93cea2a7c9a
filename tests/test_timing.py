import mmap
import time

import jax
import jax.numpy as jnp

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
