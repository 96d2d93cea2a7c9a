"""Lesson 22 (memory and compute): its results, its sentences' choices, its flags."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time
from dataclasses import replace

import jax.numpy as jnp
import pytest
import tiny_sweep
from conftest import TINY_GPT_FLAGS, load_lesson
from rich.console import Console

from trinity_foundations import parallel, training
from trinity_foundations.transformer import param_count

LESSON = "22_memory_and_compute"
TRAIN = training.TrainConfig(batch=8, context=16)
SMALL = [
    *TINY_GPT_FLAGS, "--batch", "8", "--matmul-max", "128", "--attention-max", "128",
    "--copy-size", "65536", "--devices", "0", "--processes", "0",
]  # fmt: skip
KEYS = {
    "param_bytes", "optimizer_bytes", "activation_bytes", "flops_formula", "flops_xla",
    "peak_flops", "bandwidth", "peak_rounds", "bandwidth_rounds", "timing", "roofline_points",
    "attention_times", "dp_max_diff", "allreduce_count", "allreduce_executed", "n_layers",
    "shard_map_max_diff", "multiprocess",
}  # fmt: skip


def point(**given):
    """A roofline point with the fields a test gives, the rest neutral."""
    fields = dict(name="k", kind="matmul", flops=1.0, bytes=1.0, intensity=1.0, ms=1.0,
                  flops_per_s=1e3, rounds_ms=(1.0,), repeats=1, faults_per_call=0.0, roof=1e3,
                  share_of_roof=1.0, bound="compute", share_rounds=(1.0,))  # fmt: skip
    return load_lesson(LESSON).Point(**{**fields, **given})


def attention(**given):
    """Attention times with the fields a test gives, the rest neutral."""
    fields = dict(t=(64, 128), ms=(1.0, 4.0), flops=(1.0, 4.0), faults_per_call=(0.0, 0.0),
                  score_bytes=(1, 4), slope=2.0, slope_rounds=(2.0,), spread=1.5,
                  fresh_faults=100)  # fmt: skip
    return load_lesson(LESSON).Attention(**{**fields, **given})


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
def run():
    """One small run (the only whole run of lesson 22 in the suite)."""
    return run_json_direct(*SMALL)


def test_results_keys_memory_and_flops(run):
    r = run["results"]
    assert set(r) == KEYS
    # two moments per parameter and the mean gradient of accumulation, plus counts and numbers
    assert 3 * r["param_bytes"] <= r["optimizer_bytes"] <= 3 * r["param_bytes"] + 128
    f, x = r["flops_formula"], r["flops_xla"]
    assert f["per_step"] == f["per_token"] * 8 * 16
    # at d = 16 the element-wise work the formula leaves out is a fifth of XLA's count
    assert 0.7 < f["per_step"] / x["per_step"] < 1.15
    assert x["intensity"] == x["per_step"] / x["bytes"]
    rounds = r["timing"]["rounds"]  # every kernel timed in the same interleaved rounds
    assert len(r["peak_rounds"]) == len(r["bandwidth_rounds"]) == rounds
    assert all(len(p["share_rounds"]) == rounds for p in r["roofline_points"])
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
    assert set(r["multiprocess"]) == {"ok", "reason", "processes"}  # a skipped check says why


def tiny_state_and_batch(tiny_gpt):
    """The run's model (SMALL's sizes are the suite's tiny GPT), a fresh state, a batch."""
    state = training.init_state(tiny_gpt.params, training.hyper_of(TRAIN))
    ids = jnp.zeros((TRAIN.batch, TRAIN.context), jnp.int32)  # (B, T)
    return state, (ids, ids)


def test_counts_are_the_models_own_and_recounted_alike(run, tiny_gpt):
    """Memory and FLOPs come from the model's shapes: counted again here, they agree."""
    r, model = run["results"], tiny_gpt.model
    lesson = load_lesson(LESSON)
    assert r["flops_formula"]["params"] == param_count(tiny_gpt.params)  # the same model
    mem = lesson.memory(model, TRAIN)
    for key in ("param_bytes", "optimizer_bytes", "activation_bytes"):
        assert r[key] == getattr(mem, key)
    assert r["flops_formula"]["per_token"] == training.flops_per_token(model, TRAIN.context)
    # XLA's count of the compiled step, compiled a second time, is the same count
    step = lesson.compile_model(model, TRAIN, *tiny_state_and_batch(tiny_gpt))["train step"]
    assert (step.flops, step.bytes) == (r["flops_xla"]["per_step"], r["flops_xla"]["bytes"])


def test_a_failed_check_process_ends_in_one_sentence(tiny_gpt, tmp_path, monkeypatch):
    """A data-parallel check asked of a launcher that fails, as main() starts it."""
    lesson = load_lesson(LESSON)
    monkeypatch.setattr(parallel, "launch_data_parallel", broken_launcher)
    state, batch = tiny_state_and_batch(tiny_gpt)
    args = argparse.Namespace(devices=2, processes=0)
    spec = parallel.Spec(tiny_gpt.model, TRAIN)
    children = lesson.start_scale_out(args, spec, tmp_path, state.params, batch)
    try:
        reports = lesson.collect_checks(children, time.monotonic() + 60)
    finally:
        lesson.stop(children)
    dp, mp = lesson.read_checks(reports, tmp_path, None, None)
    r = lesson.scale_out_result(dp, mp, n_layers=1, agree=lesson.AGREE)
    assert (r.dp.ok, r.dp.reason) == (False, "exit status 1: no devices")
    assert r.allreduce_count is None and r.multiprocess.reason == "skipped (--processes 0)"
    console = Console(file=io.StringIO(), width=1000)
    lesson.say_scale_out(r, console)
    assert "Data-parallel step: not run (exit status 1: no devices)." in console.file.getvalue()


@pytest.mark.parametrize(
    ("slope", "words"),
    [(None, "only one length"), (3.0, "not from fresh memory"), (2.0, "close to the 2"),
     (1.5, "between linear"), (1.0, "near linear")],
)  # fmt: skip
def test_slope_verdict(slope, words):
    assert words in load_lesson(LESSON).slope_verdict(slope)


def test_a_steep_slope_is_explained_only_by_measured_page_faults():
    lesson = load_lesson(LESSON)
    # the reviewers' run: about 8,200 faults per call at T = 1024, few at T = 512
    a = attention(t=(512, 1024), faults_per_call=(3.0, 8200.0), score_bytes=(4e6, 16.8e6))
    text = lesson.slope_verdict(3.3, a)
    assert "8,200 page faults" in text and "16.8 MB" in text
    assert "main memory" not in text  # the unbacked explanation is gone
    assert not lesson.fresh_memory(replace(a, faults_per_call=(3.0, 50.0)))  # too few
    assert not lesson.fresh_memory(replace(a, faults_per_call=(8000.0, 8200.0)))  # both fresh
    gone = replace(a, faults_per_call=(0, 0))
    assert "not from fresh memory" in lesson.slope_verdict(3.3, gone)


def test_agreement_and_textbook_sentences():
    lesson = load_lesson(LESSON)
    agree = lesson.AGREE
    assert "equal to the single-device" in lesson.agreement(3e-7, "gradients", agree)
    assert "more than rounding" in lesson.agreement(1e-3, "gradients", agree)
    assert "not compared" in lesson.agreement(None, "gradients", agree)
    assert "already arrives summed" in lesson.textbook_sentence(8.0, 8)
    assert "not pre-summed" in lesson.textbook_sentence(1.0, 8)
    assert lesson.textbook_sentence(3.0, 8).endswith("3.000× the true gradient.")


def test_multiprocess_sentence():
    lesson = load_lesson(LESSON)
    failed = lesson.Multiprocess(ok=False, reason="timed out", processes=2)
    assert "not run here (timed out)" in lesson.multiprocess_sentence(failed, lesson.AGREE)
    ok = lesson.Multiprocess(ok=True, reason=None, processes=2, devices=2, local_devices=1,
                             params_max_diff=1e-7, grads_max_diff=1e-9,
                             between_processes_max_diff=0.0)  # fmt: skip
    text = lesson.multiprocess_sentence(ok, lesson.AGREE)
    assert "2 processes on 127.0.0.1" in text and "identical" in text


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--heads", "3"], "does not divide"), (["--batch", "12"], "do not split"),
     (["--matmul-max", "10"], "must be from"), (["--processes", "9"], "must be from"),
     (["--timeout", "0"], "must be from")],
)  # fmt: skip
def test_bad_flags_exit_2(usage_error, argv, words):
    assert words in usage_error(LESSON, *argv)


def test_formula_clause():
    lesson = load_lesson(LESSON)
    assert lesson.formula_clause(0.95).startswith("XLA also counts")
    assert lesson.formula_clause(1.02).startswith("the formula counts more")


def test_noisy_rounds_are_named_with_their_spread():
    lesson = load_lesson(LESSON)
    assert lesson.spread_note([10.0, 12.0, 14.0], ".1f", 1.5) == ""  # within 1.5×
    assert lesson.spread_note([8.0, 12.5, 14.0], ".1f", 1.5) == " (rounds: 8.0 to 14.0)"
    steady = point(name="a", share_rounds=(0.5, 0.6, 0.55))
    noisy = point(name="b", share_rounds=(0.2, 0.5, 0.4))
    assert lesson.noisy_rows([steady], 1.5) == ""
    said = lesson.noisy_rows([steady, noisy], 1.5)
    assert "on b 20% to 50% (share" in said and "more than 1.5×" in said


def test_above_roof_names_the_kernels_that_beat_it():
    lesson = load_lesson(LESSON)
    points = [point(name="a", share_of_roof=1.5), point(name="b", share_of_roof=0.9)]
    assert lesson.above_roof(points, 1.05).startswith("Above their roof: a. ")
    assert lesson.above_roof(points[1:], 1.05) == ""


def test_allreduce_sentence_counts_what_runs_per_step():
    lesson = load_lesson(LESSON)
    looped = lesson.allreduce_sentence(2, 5, 4)
    assert "2 all-reduces, 5 run per step" in looped and "4 layers is one loop" in looped
    flat = lesson.allreduce_sentence(2, 2, 1)
    assert "2 run per step." in flat and "loop" not in flat


def test_a_kv_cache_keeps_the_weights_intensity():
    lesson = load_lesson(LESSON)
    assert lesson.cache_intensity("float32") == 0.5 and lesson.cache_intensity("float64") == 0.25


def test_a_decode_step_above_its_roof_is_not_called_held_back_by_it():
    lesson = load_lesson(LESSON)
    # the review's busy run: decode at 0.174 FLOP/byte reached 204% of its memory roof
    above = lesson.decode_bound("memory", 2.04, 1.05)
    assert "by its intensity decode is memory bound, though this run it beat that roof" in above
    assert "204%" in above
    below = lesson.decode_bound("memory", 0.4, 1.05)
    assert below == "decode is memory bound (40% of its roof)"


def test_a_slope_far_under_one_is_not_called_near_linear():
    # a small run's T^0.51 (T = 64 to 128) was called "near linear"
    said = load_lesson(LESSON).slope_verdict(0.51)
    assert said.startswith("below linear") and "per-call overhead" in said


# ----------------------------------------------------------------------------
# What you saw: each bullet's choice, on hand-built results.


def memory_and_flops(param_bytes, activation_bytes, xla_per_step=100.0):
    lesson = load_lesson(LESSON)
    m = lesson.Memory(params=param_bytes // 4, dtype="float32", param_bytes=param_bytes,
                      optimizer_bytes=3 * param_bytes, activation_bytes=activation_bytes,
                      tokens_per_step=128)  # fmt: skip
    formula = lesson.Formula(80, 1, 80, 10, m.params, "float32")
    xla = lesson.XlaCount(xla_per_step, 1, 50.0, xla_per_step / 50.0)
    return m, lesson.Flops(formula, xla)


def test_memory_bullet_names_the_largest_part():
    lesson = load_lesson(LESSON)
    # parameters, gradients and Adam's state: 5 × 2**18 bytes; activations more or less
    said = lesson.memory_bullet(*memory_and_flops(2**18, 2**21))
    assert "65,536-parameter GPT holds about 3.25 MiB" in said
    assert "the activations, which grow with batch × context, are most of it" in said
    assert "came to 0.800× XLA's count" in said
    said = lesson.memory_bullet(*memory_and_flops(2**18, 2**18))
    assert "about 1.50 MiB" in said and "optimizer state are most of it" in said


def roofline_of(*points):
    lesson = load_lesson(LESSON)
    return lesson.Roofline(peak_flops=4e10, bandwidth=2e10, peak_rounds=(4e10,),
                           bandwidth_rounds=(2e10,), ridge=2.0, ridge_rounds=(2.0,), rounds=1,
                           repeats_min=1, repeats_max=1, points=points, spread=1.5,
                           above_roof=1.05)  # fmt: skip


def test_roofline_bullet_names_each_memory_bound_kind_once():
    lesson = load_lesson(LESSON)
    inference = lesson.Inference(1.61, 0.449, "memory", 0.5, 0.5, 1.05)
    slow = [point(kind=kind, bound="memory") for kind in ("attention", "attention", "decode")]
    r = roofline_of(point(kind="matmul"), *slow)
    said = lesson.roofline_bullet(r, inference)
    assert "peaked at 4e10 FLOP/s and copied 20.0 GB/s, a ridge at 2.0 FLOP/byte" in said
    assert "3 of 4 kernels were memory bound, of kinds attention, decode." in said
    assert "Decode did 0.449 FLOP/byte against prefill's 1.61." in said
    assert "no kernel was memory bound" in lesson.roofline_bullet(roofline_of(point()), inference)


def test_a_launch_bound_roofline_says_so_and_uncounted_kernels_are_named():
    """On a GPU every small kernel took 0.07 to 0.13 ms for FLOPs over 500× apart, and
    XLA counted one matmul as -1: the lesson says both instead of reading them as data."""
    lesson = load_lesson(LESSON)
    gpu = [point(ms=0.0692, flops=5.2e5), point(ms=0.131, flops=2.9e8, kind="attention"),
           point(ms=1.22, flops=1.5e9, kind="train step")]  # fmt: skip
    assert lesson.overhead_bound(gpu) == (0.0692, 0.131)  # the model's step aside
    said = lesson.overhead_sentence(gpu)
    assert "between 0.0692 and 0.131 ms" in said and "cost of a call" in said
    cpu = [point(ms=0.01, flops=5.2e5), point(ms=30.0, flops=2.1e9)]
    assert lesson.overhead_bound(cpu) is None and lesson.overhead_sentence(cpu) == ""
    same_work = [point(ms=1.0, flops=1e6), point(ms=1.5, flops=2e6)]
    assert lesson.overhead_bound(same_work) is None  # close times for close work
    inference = lesson.Inference(1.61, 0.449, "memory", 0.5, 0.5, 1.05)
    assert "mostly the cost of a call" in lesson.roofline_bullet(roofline_of(*gpu), inference)
    assert "cost of a call" not in lesson.roofline_bullet(roofline_of(*cpu), inference)
    assert lesson.uncounted_sentence(()) == ""
    assert "Left off: matmul 1024. XLA's cost model gave no count for its" in (
        lesson.uncounted_sentence(("matmul 1024",))
    )


def scale_out(dp_ok, mp_ok, diff=1e-8):
    lesson = load_lesson(LESSON)
    if dp_ok:
        dp = lesson.DataParallel(True, None, "cpu", 8, diff, diff)
        sm = lesson.ShardMap(True, diff, diff, 8.0)
    else:
        dp = lesson.DataParallel(False, "skipped (--devices 0)", None, None, None, None)
        sm = lesson.ShardMap(False, None, None, None)
    if mp_ok:
        mp = lesson.Multiprocess(True, None, 2, 2, 1, diff, diff, 0.0)
    else:
        mp = lesson.Multiprocess(False, "skipped (--processes 0)", 0)
    return lesson.ScaleOut(dp, sm, 1, 2, 2, mp, lesson.AGREE)


def test_scale_out_bullet_says_what_ran_and_whether_it_agreed():
    bullet = load_lesson(LESSON).scale_out_bullet
    none = bullet(scale_out(False, False))
    assert none.startswith("No scale-out check ran here: the data-parallel step (skipped")
    both = bullet(scale_out(True, True))
    assert "on 8 cpu devices (jit with NamedSharding, and shard_map) and on 2 processes" in both
    assert "was equal to the single-device step (max |Δ| 1.0e-08)." in both
    one = bullet(scale_out(True, False))
    assert one.endswith("; not run: the two-process step (skipped (--processes 0)).")
    assert "beyond rounding" in bullet(scale_out(True, True, diff=1e-3))


def test_summary_is_three_bullets_from_the_sections():
    lesson = load_lesson(LESSON)
    m, f = memory_and_flops(2**18, 2**21)
    done = {"memory": m, "flops": f, "roofline": roofline_of(point()),
            "inference": lesson.Inference(1.6, 0.45, "memory", 0.5, 0.5, 1.05),
            "scale_out": scale_out(False, True)}  # fmt: skip
    bullets = lesson.summary(done)
    assert len(bullets) == 3 and bullets[2].startswith("The training step on 2 processes")


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 22, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize(
    "action", tiny_sweep.flags("22_memory_and_compute"), ids=tiny_sweep.flag_id
)
def test_22_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("22_memory_and_compute", action, capsys, request)
