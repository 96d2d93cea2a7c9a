"""benchmarks/run.py at tiny sizes: structure, positive figures, the ratio keys.

These check the code paths and the bookkeeping, not speed.
"""

from __future__ import annotations

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT

RATIO_KEYS = {
    "jit_over_numpy_1e6",
    "numpy_over_donated_jit_1e7",
    "list_over_jit_1e6",
    "bandwidth_fraction_1e7",
    "loop_over_scan_probe",
    "host_over_compiled_es",
    "evosax_over_ours_es",
}


def _load():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One whole run at tiny sizes and a tiny time budget, read back from its JSON file."""
    out = tmp_path_factory.mktemp("bench")
    bench.main(
        [
            "--quick",
            "--sizes",
            "1000",
            "100",
            "--budget-ms",
            "1",
            "--epochs",
            "4",
            "--generations",
            "6",
            "--json",
            str(out / "bench.json"),
            "--out",
            str(out),
        ]
    )
    return json.loads((out / "bench.json").read_text()), out


@pytest.mark.parametrize("on_device", [False, True])
def test_copy_bandwidth_either_way(on_device):
    """The accelerator's reference copy (a donated jit) runs on any backend."""
    m = bench.copy_bandwidth(1000, 1.0, on_device)
    assert m["repeats"] >= bench.MIN_REPEATS and m["gbps"] == pytest.approx(8e3 / m["ms"] / 1e6)


def test_json_has_every_figure_and_exactly_the_ratio_keys(tiny_run):
    doc, out = tiny_run
    assert set(doc["ratios"]) == RATIO_KEYS
    assert doc["backend"] == jax.default_backend() and doc["device"]
    assert doc["params"]["sizes"] == [1000, 100] and doc["params"]["budget_ms"] == 1.0
    r = doc["results"]
    copy = r["copy"]
    assert copy["size"] == bench.MIN_COPY_SIZE and len(copy["runs"]) == 2
    assert copy["gbps"] == max(run["gbps"] for run in copy["runs"]) > 0
    assert copy["how"] == (
        "np.copyto, one thread"
        if jax.default_backend() == "cpu"
        else "jitted copy in device memory"
    )
    records = r["elementwise"]
    # every method, both operations, both sizes (the list is kept: 1000 <= the quick limit)
    assert {(x["op"], x["method"], x["size"]) for x in records} == {
        (op, m, n) for op in bench.OPS for m in bench.METHODS for n in (100, 1000)
    }
    for x in records:
        assert x["ms"] > 0 and x["min_ms"] <= x["ms"] and x["repeats"] >= bench.MIN_REPEATS
        assert x["faults_per_call"] >= 0
        assert x["matches_numpy"], x
        if x["method"] == "list":
            assert x["gbps"] is None and x["fraction_of_copy"] is None
        else:
            assert x["gbps"] == pytest.approx(12 * x["size"] / x["ms"] / 1e6)
            assert x["fraction_of_copy"] == pytest.approx(x["gbps"] / copy["gbps"])
        if x["method"] == "numpy":
            assert x["over_numpy"] == 1.0
    assert len(r["compile"]) == 4
    assert all(
        c["lower_ms"] > 0 and c["compile_ms"] > 0 and c["partitions"] >= 1 for c in r["compile"]
    )
    for name in ("loop", "scan"):
        assert r["probe"][name]["ms"] > 0
    for name in ("host_loop", "compiled", "evosax"):
        assert r["es"][name]["ms"] > 0 and r["es"][name]["us_per_generation"] > 0
    assert (out / "elementwise.png").stat().st_size > 0


def test_ratios_at_unmeasured_sizes_are_null_and_the_rest_positive(tiny_run):
    ratios = tiny_run[0]["ratios"]
    for key in (
        "jit_over_numpy_1e6",
        "numpy_over_donated_jit_1e7",
        "list_over_jit_1e6",
        "bandwidth_fraction_1e7",
    ):
        assert ratios[key] is None  # 10^6 and 10^7 were not in --sizes
    for key in ("loop_over_scan_probe", "host_over_compiled_es", "evosax_over_ours_es"):
        assert ratios[key] > 0


def test_loops_and_compiled_runs_compute_the_same_thing(tiny_run):
    r = tiny_run[0]["results"]
    assert r["probe"]["same_result"]
    es = r["es"]
    assert es["host_matches_compiled"]
    np.testing.assert_allclose(
        es["host_loop"]["final_mean"], es["compiled"]["final_mean"], rtol=1e-4, atol=1e-5
    )


def test_without_evosax_the_es_comparison_is_left_out(monkeypatch):
    monkeypatch.setattr(bench, "SimpleES", None)
    es = bench.es_benchmark(seed=0, generations=6, budget_ms=1)  # compiled in tiny_run already
    assert es["evosax"] is None and es["compiled"]["ms"] > 0
    results = {"elementwise": [], "es": es, "probe": {"loop": {"ms": 2.0}, "scan": {"ms": 1.0}}}
    assert bench.ratios(results)["evosax_over_ours_es"] is None


def test_ratios_read_the_right_cells():
    def rec(method, size, ms, fraction=None):
        return {
            "op": "multiply",
            "method": method,
            "size": size,
            "ms": ms,
            "fraction_of_copy": fraction,
        }

    results = {
        "elementwise": [
            rec("numpy", 10**6, 1.0),
            rec("jit", 10**6, 1.25),
            rec("list", 10**6, 100.0),
            rec("numpy", 10**7, 12.0),
            rec("jit_donated", 10**7, 4.0, 0.9),
            rec("jit", 10**7, 30.0, 0.1),
            rec("jax_eager", 10**7, 35.0, 0.08),
            {**rec("jit", 10**6, 99.0), "op": "square_add"},  # another op: ignored
        ],
        "probe": {"loop": {"ms": 8.0}, "scan": {"ms": 2.0}},
        "es": {"host_loop": {"ms": 50.0}, "compiled": {"ms": 1.0}, "evosax": {"ms": 1.5}},
    }
    assert bench.ratios(results) == {
        "jit_over_numpy_1e6": 1.25,
        "numpy_over_donated_jit_1e7": 3.0,
        "list_over_jit_1e6": 80.0,
        "bandwidth_fraction_1e7": 0.9,
        "loop_over_scan_probe": 4.0,
        "host_over_compiled_es": 50.0,
        "evosax_over_ours_es": 1.5,
    }


def test_donated_call_writes_into_the_buffer_it_was_given():
    a, b = jnp.arange(4.0), jnp.full(4, 3.0)  # (4,) each
    out = jnp.zeros(4)  # (4,)
    pointer = out.unsafe_buffer_pointer()
    result = bench.written_into(bench.square_add)(out, a, b)  # (4,)
    assert out.is_deleted()
    assert result.unsafe_buffer_pointer() == pointer
    assert result.tolist() == [3.0, 4.0, 7.0, 12.0]


def test_chained_call_donates_each_result_to_the_next():
    call = bench.chained(
        bench.written_into(bench.multiply), jnp.zeros(3), jnp.arange(3.0), jnp.full(3, 2.0)
    )
    first = call()
    second = call()
    assert first.is_deleted() and second.tolist() == [0.0, 2.0, 4.0]


def test_side_by_side_takes_at_least_the_minimum_of_repeats():
    calls = {"a": (sum, (range(100),), False), "b": (max, (range(100),), False)}
    timings = bench.time_side_by_side(calls, budget_ms=1e-6)
    assert set(timings) == {"a", "b"}
    for m in timings.values():
        assert bench.MIN_REPEATS <= m["repeats"] < bench.MIN_REPEATS + bench.ROUNDS
        assert 0 < m["min_ms"] <= m["ms"]


def test_side_by_side_counts_the_page_faults_of_fresh_memory():
    n = 16 * 2**20  # 64 MiB of float32: past glibc's largest mmap threshold, so always fresh
    reused = np.empty(n, np.float32)
    timings = bench.time_side_by_side(
        {
            "fresh": (np.ones, (n, np.float32), False),
            "refill": (reused.fill, (1.0,), False),
        },
        budget_ms=1,
    )
    assert timings["fresh"]["faults_per_call"] >= 1  # 2 MiB huge pages or 4 KiB pages
    assert timings["refill"]["faults_per_call"] < 1


@pytest.mark.parametrize(
    "argv", [["--sizes", "0"], ["--budget-ms", "-1"], ["--epochs", "x"], ["--bogus"]]
)
def test_bad_input_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err.strip().splitlines()[-1]
