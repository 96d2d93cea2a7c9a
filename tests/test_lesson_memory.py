"""Lesson 22 (memory and compute): its results, its sentences' choices, its flags."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest
from conftest import load_lesson
from rich.console import Console

from trinity_foundations import parallel

LESSON = "22_memory_and_compute"
SMALL = [
    "--layers", "1", "--d-model", "16", "--heads", "2", "--context", "16", "--batch", "8",
    "--matmul-max", "128", "--attention-max", "128", "--copy-size", "65536",
    "--devices", "0", "--processes", "0",
]  # fmt: skip
KEYS = {
    "param_bytes", "optimizer_bytes", "activation_bytes", "flops_formula", "flops_xla",
    "peak_flops", "bandwidth", "roofline_points", "attention_times", "dp_max_diff",
    "allreduce_count", "shard_map_max_diff", "multiprocess",
}  # fmt: skip


def run_json_direct(*argv: str) -> dict:
    """main([*argv, "--json"]) parsed, without pytest's per-test capture (module fixtures)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        load_lesson(LESSON).main([*argv, "--json"])
    return json.loads(out.getvalue())


def broken_launcher(spec, folder, devices):
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; print('no devices', file=sys.stderr); exit(1)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs():
    """Two small runs of one seed: the second asks for 2 devices from a launcher that fails."""
    first = run_json_direct(*SMALL)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel, "launch_data_parallel", broken_launcher)
        second = run_json_direct(*SMALL, "--devices", "2")  # the last --devices wins
    return first, second


def test_results_keys_memory_and_flops(runs):
    r = runs[0]["results"]
    assert set(r) == KEYS
    # AdamW keeps two moments per parameter, plus a step count or two
    assert 2 * r["param_bytes"] <= r["optimizer_bytes"] <= 2 * r["param_bytes"] + 64
    f, x = r["flops_formula"], r["flops_xla"]
    assert f["per_step"] == f["per_token"] * 8 * 16
    # at d = 16 the element-wise work the formula leaves out is a fifth of XLA's count
    assert 0.7 < f["per_step"] / x["per_step"] < 1.15
    assert x["per_step"] == x["raw"] + (x["layers"] - 1) * x["per_layer"]
    names = [p["name"] for p in r["roofline_points"]]
    assert names[:2] == ["matmul 64", "matmul 128"]
    kinds = {"2x + y", "attention T=64", "attention T=128", "prefill", "decode", "train step"}
    assert kinds <= set(names)
    assert r["peak_flops"] == max(p["flops_per_s"] for p in r["roofline_points"][:2])
    assert r["bandwidth"] > 0 and r["attention_times"]["t"] == [64, 128]
    by = {p["name"]: p for p in r["roofline_points"]}
    assert by["decode"]["intensity"] < by["prefill"]["intensity"]  # one token per weight read
    assert by["2x + y"]["intensity"] == pytest.approx(2 / 12)  # 2 FLOPs per 12 bytes
    assert r["dp_max_diff"]["reason"] == "skipped (--devices 0)"
    assert r["multiprocess"]["ok"] is False


def test_same_seed_same_counts(runs):
    a, b = (run["results"] for run in runs)
    for key in ("param_bytes", "optimizer_bytes", "activation_bytes", "flops_formula", "flops_xla"):
        assert a[key] == b[key]


def test_a_failed_check_process_ends_in_one_sentence(runs):
    r = runs[1]["results"]
    assert r["dp_max_diff"] == {**r["dp_max_diff"], "ok": False,
                                "reason": "exit status 1: no devices"}  # fmt: skip
    console = Console(file=io.StringIO(), width=1000)
    load_lesson(LESSON).scale_out_section(r, console)
    assert "Data-parallel step: not run (exit status 1: no devices)." in console.file.getvalue()


@pytest.mark.parametrize(
    ("slope", "words"),
    [(None, "only one length"), (3.0, "steeper than T²"), (2.0, "close to the 2"),
     (1.5, "between linear"), (1.0, "near linear")],
)  # fmt: skip
def test_slope_verdict(slope, words):
    assert words in load_lesson(LESSON).slope_verdict(slope)


def test_agreement_and_textbook_sentences():
    lesson = load_lesson(LESSON)
    assert "equal to the single-device" in lesson.agreement(3e-7, "gradients")
    assert "more than rounding" in lesson.agreement(1e-3, "gradients")
    assert "not compared" in lesson.agreement(None, "gradients")
    assert "already arrives summed" in lesson.textbook_sentence(8.0, 8)
    assert "not pre-summed" in lesson.textbook_sentence(1.0, 8)
    assert lesson.textbook_sentence(3.0, 8).endswith("3.000× the true gradient.")


def test_multiprocess_sentence():
    lesson = load_lesson(LESSON)
    assert "not run here (timed out)" in lesson.multiprocess_sentence(
        {"ok": False, "reason": "timed out", "processes": 2}
    )
    ok = {"ok": True, "processes": 2, "devices": 2, "local_devices": 1, "params_max_diff": 1e-7,
          "grads_max_diff": 1e-9, "between_processes_max_diff": 0.0}  # fmt: skip
    text = lesson.multiprocess_sentence(ok)
    assert "2 processes on 127.0.0.1" in text and "identical" in text


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--heads", "3"], "does not divide"), (["--batch", "12"], "do not split"),
     (["--matmul-max", "10"], "must be from"), (["--processes", "9"], "must be from"),
     (["--timeout", "0"], "must be from")],
)  # fmt: skip
def test_bad_flags_exit_2(usage_error, argv, words):
    assert words in usage_error(LESSON, *argv)


def test_scan_clause():
    lesson = load_lesson(LESSON)
    assert "for one layer is the whole model" in lesson.scan_clause(1, 5.0, 5.0)
    assert "so 2 × 5 (one block's" in lesson.scan_clause(3, 5.0, 20.0)


def test_above_roof_names_the_kernels_that_beat_it():
    lesson = load_lesson(LESSON)
    points = [{"name": "a", "share_of_roof": 1.5}, {"name": "b", "share_of_roof": 0.9}]
    assert lesson.above_roof(points).startswith("Above their roof: a. ")
    assert lesson.above_roof(points[1:]) == ""
