"""benchmarks/lm.py at tiny sizes: the figures' structure and the flags' refusals."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import ROOT, usage_line


def load():
    spec = importlib.util.spec_from_file_location("bench_lm", ROOT / "benchmarks" / "lm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_gives_consistent_figures(capsys):
    # --wide equal to --width: both rows share one compiled step (the suite is mostly compiling)
    argv = ["--json", "--width", "8", "--wide", "8", "--batch", "2", "--context", "8"]
    load().main([*argv, "--decode-context", "12", "--budget-ms", "1", "--peak-n", "64"])
    r = json.loads(capsys.readouterr().out)
    for t in r["train"].values():
        assert t["mfu"] == pytest.approx(t["achieved_flops"] / r["peak_flops"])
        assert t["step_ms"] > 0 and t["tokens_per_s"] > 0
    d = r["decode"]
    assert r["ratios"]["decode_step_ratio"] == pytest.approx(
        d["step_ms_recompute"] / d["step_ms_cached"]
    )
    assert d["context"] == 12 and d["loop_tokens"] == 11
    assert set(r["targets_met"]) == {"mfu_default", "mfu_wide", "decode_step_ratio"}
    # every ratio also round by round, for the spread a busy machine shows
    assert set(r["ratio_rounds"]) == set(r["spreads"]) == set(r["ratios"])
    assert all(len(v) == 3 for v in r["ratio_rounds"].values())


@pytest.mark.parametrize("argv", [["--width", "10"], ["--budget-ms", "0"], ["--wide", "1e18"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as done:
        load().main(argv)
    assert done.value.code == 2
    usage_line(capsys.readouterr().err)


def test_sizes_past_memory_are_refused_before_anything_runs(capsys):
    # one setting asked for 146 GB and failed with an allocation traceback
    with pytest.raises(SystemExit) as done:
        load().main(["--wide", "2048", "--batch", "1024", "--context", "1024"])
    last = usage_line(capsys.readouterr().err)
    assert done.value.code == 2 and "needs about" in last and "GiB available" in last
