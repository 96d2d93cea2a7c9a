"""benchmarks/run.py, elementwise.py and loops.py at tiny sizes: structure,
positive figures, the ratio keys, and the command line's refusals.

These check the code paths and the bookkeeping, not speed. evosax and
matplotlib come with the [bench] extra; without them the ES comparison and
the PNG are left out, and the tests check that instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, usage_line

BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # run.py imports elementwise and loops beside it

import elementwise  # noqa: E402
import loops  # noqa: E402

RATIO_KEYS = {
    "jit_over_numpy_1e6",
    "numpy_over_donated_jit_1e7",
    "list_over_jit_1e6",
    "bandwidth_fraction_1e7",
    "loop_over_scan_probe",
    "host_over_compiled_es",
    "evosax_over_ours_es",
}
HAS_EVOSAX = loops.SimpleES is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
TINY = [  # a whole run in a few seconds: tiny sizes, copy, budget, warm-up and loops
    "--quick",
    "--sizes",
    "1000",
    "100",
    "--copy-size",
    "1000",
    "--budget-ms",
    "1",
    "--warmup-ms",
    "0",
    "--epochs",
    "4",
    "--generations",
    "6",
]


def _load():
    spec = importlib.util.spec_from_file_location("bench_run", BENCHMARKS / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One whole run at tiny sizes and a tiny time budget, read back from its JSON file."""
    out = tmp_path_factory.mktemp("bench")
    bench.main([*TINY, "--json", str(out / "bench.json"), "--out", str(out)])
    return json.loads((out / "bench.json").read_text()), out


@pytest.mark.parametrize("on_device", [False, True])
def test_copy_bandwidth_either_way(on_device):
    """The accelerator's reference copy (a donated jit) runs on any backend."""
    m = elementwise.copy_bandwidth(1000, 1.0, on_device, warmup_ms=0)
    assert m["repeats"] >= 5 and m["gbps"] == pytest.approx(8e3 / m["ms"] / 1e6)


def test_json_has_every_figure_and_exactly_the_ratio_keys(tiny_run):
    doc, out = tiny_run
    assert set(doc["ratios"]) == RATIO_KEYS
    assert doc["backend"] == jax.default_backend() and doc["device"]
    assert doc["params"]["sizes"] == [100, 1000] and doc["params"]["budget_ms"] == 1.0
    r = doc["results"]
    copy = r["copy"]
    assert copy["size"] == 1000 and copy["bytes"] == 8000 and len(copy["runs"]) == 2
    assert copy["gbps"] == max(run["gbps"] for run in copy["runs"]) > 0
    assert {run["dtype"] for run in copy["runs"]} == {"float32"}
    assert r["es"]["dtype"] == str(jnp.zeros(()).dtype)  # JAX's default float, as es_init's
    assert copy["how"] == (
        "np.copyto, one thread"
        if jax.default_backend() == "cpu"
        else "jitted copy in device memory"
    )
    records = r["elementwise"]
    # every method, both operations, both sizes (the list is kept: 1000 <= the quick limit)
    assert {(x["op"], x["method"], x["size"]) for x in records} == {
        (op, m, n) for op in elementwise.OPS for m in elementwise.METHODS for n in (100, 1000)
    }
    for x in records:
        assert x["ms"] > 0 and x["min_ms"] <= x["ms"] and x["repeats"] >= 5
        assert x["faults_per_call"] >= 0 and x["dtype"] == "float32"
        assert x["matches_numpy"], x
        if x["method"] == "list":
            assert x["gbps"] is None and x["fraction_of_copy"] is None
        else:
            assert x["gbps"] == pytest.approx(12 * x["size"] / x["ms"] / 1e6)
            # of the reference copy timed in the same interleaved rounds as the record
            assert x["copy_gbps"] > 0
            assert x["fraction_of_copy"] == pytest.approx(x["gbps"] / x["copy_gbps"])
        if x["method"] == "numpy":
            assert x["over_numpy"] == 1.0
    assert len(r["compile"]) == 4
    assert all(
        c["lower_ms"] > 0 and c["compile_ms"] > 0 and c["partitions"] >= 1 for c in r["compile"]
    )
    for name in ("loop", "scan"):
        assert r["probe"][name]["ms"] > 0
    for name in ("host_loop", "compiled", "evosax") if HAS_EVOSAX else ("host_loop", "compiled"):
        assert r["es"][name]["ms"] > 0 and r["es"][name]["us_per_generation"] > 0
    assert (r["es"]["evosax"] is None) == (not HAS_EVOSAX)
    assert (out / "elementwise.png").exists() == HAS_MATPLOTLIB


def test_ratios_at_unmeasured_sizes_are_null_and_the_rest_positive(tiny_run):
    ratios = tiny_run[0]["ratios"]
    for key in (
        "jit_over_numpy_1e6",
        "numpy_over_donated_jit_1e7",
        "list_over_jit_1e6",
        "bandwidth_fraction_1e7",
    ):
        assert ratios[key] is None  # 10^6 and 10^7 were not in --sizes
    assert ratios["loop_over_scan_probe"] > 0 and ratios["host_over_compiled_es"] > 0
    assert (ratios["evosax_over_ours_es"] or 0) > 0 if HAS_EVOSAX else True


def test_loops_and_compiled_runs_compute_the_same_thing(tiny_run):
    r = tiny_run[0]["results"]
    assert r["probe"]["same_result"]
    es = r["es"]
    assert es["host_matches_compiled"]
    np.testing.assert_allclose(
        es["host_loop"]["final_mean"], es["compiled"]["final_mean"], rtol=1e-4, atol=1e-5
    )


def test_without_evosax_the_es_comparison_is_left_out(monkeypatch):
    monkeypatch.setattr(loops, "SimpleES", None)
    es = loops.es_benchmark(seed=0, generations=6, budget_ms=1, warmup_ms=0)  # compiled already
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


@pytest.mark.parametrize(
    ("name", "value", "met"),
    [
        ("jit_over_numpy_1e6", 1.5, True),  # the bound itself meets it
        ("jit_over_numpy_1e6", 1.51, False),
        ("numpy_over_donated_jit_1e7", 1.99, False),
        ("numpy_over_donated_jit_1e7", 2.0, True),
        ("evosax_over_ours_es", None, None),  # not measured
    ],
)
def test_target_met_reads_the_direction_of_each_bound(name, value, met):
    assert bench.target_met(name, value) is met


def test_the_cpu_targets_are_said_to_judge_nothing_on_a_gpu():
    """On an H200 the 10⁷ copy was a call's fixed cost, and 1.44 'met' >= 0.5."""
    assert bench.targets_caption("cpu") is None
    assert "2-core CPU; on this gpu they judge nothing" in bench.targets_caption("gpu")


def test_default_copy_is_past_the_cache_and_no_shorter_than_any_size():
    assert bench.default_copy_size([100, 1000]) == elementwise.MIN_COPY_SIZE
    assert bench.default_copy_size([100, 3 * 10**7]) == 3 * 10**7


def test_memory_estimate_counts_the_lists_only_where_they_run():
    arrays = elementwise.memory_needed([10**6, 10], 1000, with_list=False)
    assert arrays == elementwise.ARRAY_BYTES_PER_ELEMENT * 10**6
    with_lists = elementwise.memory_needed([10**6], 1000, with_list=True)
    assert with_lists == arrays + elementwise.LIST_BYTES_PER_ELEMENT * 10**6
    assert elementwise.memory_needed([10], 10**8, with_list=True) == 8 * 10**8  # the copy


def test_results_that_differ_from_numpy_are_named():
    records = [
        {"op": "multiply", "method": "jit", "size": 1000, "matches_numpy": True},
        {"op": "square_add", "method": "jax_eager", "size": 10**6, "matches_numpy": False},
    ]
    wrong = elementwise.mismatches(records)
    assert wrong == ["square_add jax_eager at 1e6"]
    assert "agrees" in elementwise.agreement_line([])
    assert "square_add jax_eager at 1e6" in elementwise.agreement_line(wrong)


def test_size_labels():
    assert [elementwise.size_label(n) for n in (1000, 10**7, 2500)] == ["1e3", "1e7", "2,500"]


def test_donated_call_writes_into_the_buffer_it_was_given():
    a, b = jnp.arange(4.0), jnp.full(4, 3.0)  # (4,) each
    out = jnp.zeros(4)  # (4,)
    pointer = out.unsafe_buffer_pointer()
    result = elementwise.written_into(elementwise.square_add)(out, a, b)  # (4,)
    assert out.is_deleted()
    assert result.unsafe_buffer_pointer() == pointer
    assert result.tolist() == [3.0, 4.0, 7.0, 12.0]


def test_chained_call_donates_each_result_to_the_next():
    call = elementwise.chained(
        elementwise.written_into(elementwise.multiply),
        jnp.zeros(3),
        jnp.arange(3.0),
        jnp.full(3, 2.0),
    )
    first = call()
    second = call()
    assert first.is_deleted() and second.tolist() == [0.0, 2.0, 4.0]


# ----------------------------------------------------------------------------
# The command line: refusals come before the run, in one line.


def _usage_error(argv, capsys, monkeypatch) -> str:
    """argparse's one-line reason for refusing argv; fails if the run started."""

    def no_run(*args, **kwargs):
        raise AssertionError("the benchmark ran before refusing its flags")

    monkeypatch.setattr(bench, "run", no_run)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    return usage_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--sizes", "0"], "from 1 to"),
        (["--budget-ms", "-1"], "positive"),
        (["--epochs", "x"], "not a valid int"),
        (["--bogus"], "unrecognized"),
        (["--seed", "99999999999999999999"], "0 to 4294967295"),
        (["--seed", "-1"], "0 to 4294967295"),
        (["--generations", "1000000000"], "2,000"),
        (["--epochs", "1000000000"], "10,000"),
        (["--sizes", "10000000000"], "100,000,000"),
        (["--warmup-ms", "nan"], "finite"),
    ],
)
def test_bad_flags_are_a_usage_error(argv, reason, capsys, monkeypatch):
    assert reason in _usage_error(argv, capsys, monkeypatch)


def test_sizes_past_the_memory_are_refused_before_the_run(capsys, monkeypatch):
    monkeypatch.setattr(bench.cli, "available_bytes", lambda: 10**9)  # 1 GB free
    line = _usage_error(["--sizes", "10000000"], capsys, monkeypatch)  # lists: 1.4 GB
    assert "--sizes 10,000,000" in line and "GiB" in line

    class Started(Exception):
        pass

    def started(*args, **kwargs):
        raise Started

    # --quick leaves out the list at 10^7, and 10^7 float32 arrays fit
    monkeypatch.setattr(bench, "run", started)
    with pytest.raises(Started):
        bench.main(["--quick", "--sizes", "10000000", "--copy-size", "1000"])


@pytest.mark.parametrize(
    ("flag", "where", "reason"),
    [
        ("--json", "folder", "is a folder, not a file"),
        ("--out", "file", "is not a folder"),
        ("--json", "file/below.json", "is not a folder"),
        ("--json", "/dev/full", "cannot write"),
    ],
)
def test_output_paths_are_checked_before_the_run(
    flag, where, reason, tmp_path, capsys, monkeypatch
):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    if where.startswith("/dev/") and not os.path.exists(where):
        pytest.skip(f"{where} does not exist here")
    line = _usage_error([*TINY, flag, str(tmp_path / where)], capsys, monkeypatch)
    assert flag in line and reason in line


def test_good_output_paths_pass(tmp_path):
    assert bench.output_problem(tmp_path / "new" / "deeper" / "bench.json", folder=False) is None
    assert bench.output_problem(tmp_path / "out", folder=True) is None
    assert bench.output_problem(tmp_path, folder=True) is None
    assert bench.output_problem(tmp_path / "old.json", folder=False) is None
    assert bench.output_problem(type(tmp_path)("/dev/null"), folder=False) is None


def test_ctrl_c_ends_with_one_line(tmp_path):
    """SIGINT during the run: 'interrupted', exit 130, no traceback."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    argv = [*TINY, "--warmup-ms", "10000", "--out", str(tmp_path)]  # sits in a warm-up
    proc = subprocess.Popen(
        [sys.executable, str(BENCHMARKS / "run.py"), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = proc.stderr.readline()  # the first progress line: the run has begun
    assert first.startswith("·"), first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
