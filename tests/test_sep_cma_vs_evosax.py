"""benchmarks/sep_cma_vs_evosax.py at a tiny size: the bookkeeping of both runs,
the per-seed line, and the refusals of its flags. Needs evosax ([bench] extra)."""

from __future__ import annotations

import importlib.util
import json
import statistics

import pytest
from conftest import ROOT, usage_line

pytest.importorskip("evosax", reason="the comparison's peer comes with the [bench] extra")


def _load():
    path = ROOT / "benchmarks" / "sep_cma_vs_evosax.py"
    spec = importlib.util.spec_from_file_location("sep_cma_vs_evosax", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load()
TINY = ["--dim", "2", "--seeds", "2", "--threshold", "10", "--max-generations", "50"]


@pytest.fixture(scope="module")
def tiny():
    """Both implementations on the 2-D Rosenbrock to an easy threshold (f = 104 at the start)."""
    return bench.compare(
        dim=2, seeds=2, threshold=10.0, max_generations=50, timing_generations=5, repeats=1
    )


def test_both_runs_reach_an_easy_threshold_and_count_whole_generations(tiny):
    assert tiny["population"] == bench.default_population(2) == 6
    assert tiny["dtype"] in ("float32", "float64")
    for name in ("ours", "evosax"):
        m = tiny[name]
        assert m["converged"] == 2 and len(m["evaluations"]) == 2
        # at least one generation, whole generations of λ evaluations, within the budget
        assert all(6 <= e <= 50 * 6 and e % 6 == 0 for e in m["evaluations"])
        assert m["median_evaluations"] == statistics.median(m["evaluations"])
        assert m["ms_per_generation"] > 0 and m["first_call_ms"] > 0


def test_an_unreachable_threshold_spends_the_budget(tiny):
    # ours takes the threshold traced: the fixture's compiled loop runs again
    generations, best = bench.ours_run_until(
        bench.jax.random.key(0), dim=2, population=6, threshold=-1.0, max_generations=50
    )
    assert int(generations) == 50 and float(best) >= 0  # Rosenbrock is never negative


def test_per_seed_marks_the_runs_that_missed():
    assert bench.per_seed([96, None, 1200]) == "96, —, 1,200"


def test_history_bytes_counts_every_state_field():
    # mean, variances, two paths (D each) and sigma, generation, best loss
    assert bench.history_bytes(10, 100) == 100 * (4 * 10 + 3) * 4


def test_json_is_one_object(capsys):
    bench.main([*TINY, "--timing-generations", "5", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["lesson"] == "sep_cma_vs_evosax" and doc["results"]["dim"] == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--dim", "1"],
        ["--dim", "1000000000"],
        ["--population", "1"],
        ["--seeds", "1000000000000000000"],
        ["--max-generations", "1000000000"],
        ["--timing-generations", "-1"],
        ["--threshold", "nan"],
    ],
)
def test_bad_flags_are_one_usage_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    usage_line(capsys.readouterr().err)


def test_a_history_past_the_memory_is_refused(capsys, monkeypatch):
    monkeypatch.setattr(bench.cli, "available_bytes", lambda: 10**6)
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--dim", "1000", "--max-generations", "20000"])  # 320 MB of history
    assert exit_info.value.code == 2
    assert "--max-generations 20,000" in usage_line(capsys.readouterr().err)
