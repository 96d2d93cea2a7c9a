"""Lesson 24 (kernels written by hand): its results at tiny sizes, its judges, its bad input."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import pytest
import tiny_sweep
from conftest import load_lesson

STEM = "24_kernels"
TINY = [
    *"--length 128 --block-q 64 --block-k 64 --heads 2 --head-dim 16".split(),
    *"--pallas-length 64 --memory-max 256".split(),
]


@pytest.fixture(scope="module")
def lesson():
    return load_lesson(STEM)


@pytest.fixture(scope="module")
def run(lesson):
    """One --json run at tiny sizes, shared below: (the envelope, the results by section)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        done = lesson.main([*TINY, "--json"])
    return json.loads(out.getvalue()), done


@pytest.fixture(scope="module")
def env(run):
    return run[0]


def test_results_keep_the_contract(env):
    r = env["results"]
    assert env["lesson"] == STEM
    assert set(r["softmax_max_diff"]) == {"two_pass", "online", "tiled"}
    assert max(r["softmax_max_diff"].values()) <= 1e-5
    assert r["matmul_max_diff"] <= 1e-4
    assert set(r["flash_max_diff"]) == {"full", "causal"}
    assert all(d <= 1e-5 for v in r["flash_max_diff"].values() for d in v.values())
    assert list(r["flash_max_diff"]["causal"]) == ["64"]
    assert all(d <= 1e-5 for v in r["tiled_max_diff"].values() for d in v.values())
    assert list(r["tiled_max_diff"]["full"]) == ["64", "128"]  # T/4 = 32: no multiple of 64
    assert r["interpret"] is (env["backend"] != "gpu")
    assert list(r["memory"]) == ["256"]
    for row in r["memory"].values():
        assert row["naive_temp_bytes"] > row["tiled_temp_bytes"] > 0
        assert row["naive_temp_bytes"] >= row["score_bytes"]
    assert r["memory_factor"]["t"] == 256  # 2048 is past --memory-max: the largest T
    assert r["speed"]["peak_flops"] > 0 and r["speed"]["ridge"] > 0
    assert set(r["speed"]["bound"].values()) <= {"memory", "compute"}
    assert r["gpu"]["ran"] is (env["backend"] == "gpu")


def test_causal_steps_stop_at_the_diagonal(env):
    steps = env["results"]["tiled_steps"]
    assert steps["full"]["128"] == 4 and steps["causal"]["128"] == 3


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--block-q", "96"], "does not divide --length 1024"),
        (["--length", "320", "--block-k", "64", "--block-q", "80"], "does not divide 256"),
        (["--length", "5000"], "must be from 64 to 4,096"),
        (["--pallas-length", "1024"], "interpreted Pallas is slow"),
    ],
)
def test_bad_input_is_one_usage_line(usage_error, argv, says):
    assert says in usage_error(STEM, *argv)


def test_length_past_memory_is_refused(usage_error, monkeypatch):
    from trinity_foundations import cli

    monkeypatch.setattr(cli, "available_bytes", lambda: 2**26)
    assert "GiB" in usage_error(STEM, "--length", "4096", "--heads", "16")


def test_judges(lesson):
    assert lesson.agree_word(1e-6, 1e-5) == "equal"
    assert lesson.agree_word(1e-3, 1e-5) == "DIFFERENT"
    assert "interpret=True" in lesson.interpret_sentence(True, "cpu")
    assert "not timed" in lesson.interpret_sentence(True, "cpu")
    assert "interpret=False" in lesson.interpret_sentence(False, "gpu")
    assert lesson.speed_clause(0.5, None).endswith("faster")
    assert lesson.speed_clause(2.0, None).endswith("slower")
    assert lesson.speed_clause(0.9, (0.8, 1.3)).endswith("disagree on which is faster")
    assert lesson.speed_clause(2.0, (1.6, 2.5)).endswith("slower")
    assert "below the ridge" in lesson.side_of_ridge(1.0, 10.0)
    assert "above the ridge" in lesson.side_of_ridge(20.0, 10.0)
    assert lesson.check_lengths(1024, 128, 64) == [256, 512, 1024]
    assert "same memory and caches here" in lesson.memory_gain("cpu")
    assert "GPU's memory and back" in lesson.memory_gain("gpu")
    assert "caches here" not in lesson.memory_gain("gpu")
    assert lesson.check_lengths(192, 64, 64) == [192]  # 48 and 96 are no multiples of 64
    assert lesson.doubling(64, 200) == [64, 128]


def test_summary_and_report_read_from_the_results(lesson, run):
    env, done = run
    bullets = lesson.summary(done)
    assert len(bullets) == 3
    factor = env["results"]["memory_factor"]["naive_over_tiled"]
    assert f"{factor:.1f}×" in bullets[2]
    # The factor the memory section prints is its table's last row, naive over tiled;
    # how the Pallas kernels ran is r["interpret"] (above) through interpret_sentence.
    row = env["results"]["memory"][str(done["memory"].pinned_t)]
    assert done["memory"].factor == factor == row["naive_temp_bytes"] / row["tiled_temp_bytes"]
    assert done["pallas"].interpret is env["results"]["interpret"]


def test_a_failed_check_is_never_summarised_as_a_match(lesson, run):
    """A Pallas matmul off by 26 (as a grid that added into one block from parallel
    program instances once was on a GPU) is said to fail, in the section and the summary."""
    _, done = run
    broken = dict(done, pallas=dataclasses.replace(done["pallas"], matmul_max_diff=26.0))
    bullets = lesson.summary(broken)
    assert "did NOT match jnp.dot" in bullets[1]
    assert "did NOT match" not in lesson.summary(done)[1]
    assert lesson.matched(True) == "matched" and lesson.matched(False) == "did NOT match"


def test_the_gpu_sections_jax_nn_call_is_plain_attention(lesson):
    """The GPU path runs only on a GPU; its jax.nn call (heads moved) is checked here."""
    import jax
    import jax.numpy as jnp

    from trinity_foundations import kernels

    q, k, v = lesson.qkv(jax.random.key(0), 2, 32, 8)  # (H, T, d) each
    got = lesson.nn_attention(q, k, v)
    want = kernels.naive_attention_jit(q, k, v, causal=True)
    assert float(jnp.max(jnp.abs(got - want))) <= 1e-5


def test_a_fixed_part_is_named_only_when_it_is_most_of_the_tiled_temporaries(lesson, run):
    """The H200's tiled temporaries (MiB) were 32.8, 33.0, 33.5, 34.5 at T = 256 … 2,048:
    32.6 that do not grow with T. This CPU's start near 0.9 and grow as T."""
    mib = 2**20
    gpu = dataclasses.replace(
        run[1]["memory"], lengths=[256, 512, 1024, 2048], pinned_t=2048,
        tiled_temp_bytes={256: 32.8 * mib, 512: 33.0 * mib, 1024: 33.5 * mib, 2048: 34.5 * mib},
    )  # fmt: skip
    assert lesson.fixed_part(gpu) == pytest.approx(32.6 * mib)
    assert "32 MiB on a Hopper chip" in lesson.fixed_sentence(gpu, "gpu")
    on_cpu = lesson.fixed_sentence(gpu, "cpu")
    assert on_cpu and "Hopper" not in on_cpu
    grows = dataclasses.replace(gpu, tiled_temp_bytes={256: 1, 512: 2, 1024: 4, 2048: 8})
    assert lesson.fixed_part(grows) == 0.0 and lesson.fixed_sentence(grows, "gpu") == ""
    assert lesson.fixed_sentence(run[1]["memory"], "cpu") == ""  # this run's, on a CPU
    one = dataclasses.replace(gpu, lengths=[2048])
    assert lesson.fixed_part(one) is None and lesson.fixed_sentence(one, "gpu") == ""


def test_tf32_is_credited_with_speed_only_when_it_is_clearly_faster(lesson):
    slow = {"pallas": 6.88, "pallas (TF32)": 0.167}  # an H200's, T = 1,024
    assert "41.2× its time" in lesson.precision_sentence(slow, 1e-3, "highest")
    even = {"pallas": 0.2, "pallas (TF32)": 0.15}
    assert "no clear cost" in lesson.precision_sentence(even, 1e-3, "highest")


def test_the_gpu_section_reads_its_figures_from_the_results(lesson):
    """Its say path runs only on a GPU: rendered here from an H200's figures."""
    import io

    from rich.console import Console

    ms = {"pallas": 6.67, "pallas (TF32)": 0.238, "xla naive": 0.166, "jax.nn": 0.19}
    diffs = {"pallas": 5e-7, "pallas (TF32)": 1.6e-3, "jax.nn": 4e-7}
    out = io.StringIO()
    lesson.say_gpu(lesson.Gpu(True, 1024, ms, diffs, "highest"), Console(file=out, width=1000))
    assert lesson.precision_sentence(ms, 1.6e-3, "highest") in out.getvalue()


def test_skipping_is_claimed_only_when_steps_are_skipped(lesson, env):
    """'stops at the diagonal' and 'skips the tiles' only when the causal form takes
    fewer steps; one query block as long as T (or one key tile) skips nothing."""
    assert "36 of the 64 steps" in lesson.skip_sentence(36, 64)
    assert "skips nothing" in lesson.skip_sentence(16, 16)
    assert "36 of 64 steps, skipping" in lesson.flops_reason(36, 64)
    assert "skips no tile" in lesson.flops_reason(4, 4)
    sp = env["results"]["speed"]
    assert (sp["causal_steps"], sp["full_steps"]) == (3, 4)  # T = 128 in blocks of 64


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 24, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize("action", tiny_sweep.flags("24_kernels"), ids=tiny_sweep.flag_id)
def test_24_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("24_kernels", action, capsys, request)
