"""Lesson 23 (numbers with fewer bits): one tiny run's results, and every verdict alone."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_sweep
from conftest import TINY_GPT_FLAGS, load_lesson

from trinity_foundations import macbeth
from trinity_foundations import quantize as qz

STEM = "23_fewer_bits"
TINY = [
    *TINY_GPT_FLAGS,
    *"--batch 4 --steps 10 --block 16 --matmul-max 256 --sum-count 1000".split(),
    *"--checkpoint none".split(),
]


@pytest.fixture(scope="module")
def lesson():
    return load_lesson(STEM)


@pytest.fixture(scope="module")
def tiny(lesson) -> dict:
    """The results of one tiny run (--json), shared by the tests of this file."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lesson.main([*TINY, "--json"])
    return json.loads(out.getvalue())["results"]


def test_formats_are_measured_and_checked(tiny):
    f = tiny["formats"]
    assert set(f) == {"float32", "bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"}
    for name in ("float16", "float8_e4m3fn", "float8_e5m2"):  # emulated: subnormals kept
        assert f[name]["finfo_agrees"], name
    for name, facts in f.items():
        for fact in ("eps", "max", "min_normal"):
            assert facts[fact] == facts["finfo"][fact], (name, fact)
    assert f["float8_e4m3fn"]["max"] == 448.0 and f["float16"]["eps"] == 2.0**-10


def test_accumulation_in_bfloat16_stalls(tiny):
    a = tiny["accumulation"]
    assert a["rel_errors"]["running total in bfloat16"] > 0.1
    assert a["rel_errors"]["dot, preferred_element_type=float32"] < 1e-5


def test_nf4_levels_are_printed_and_pinned(tiny):
    levels = tiny["nf4_levels"]
    assert len(levels) == 16 and levels == sorted(levels)
    np.testing.assert_allclose(levels, np.asarray(qz.nf4_levels()), atol=0)


def test_quantized_schemes(tiny, tiny_gpt):
    q, d = tiny["quantized"], tiny_gpt.model.d_model
    assert set(q) == {"int8_per_tensor", "int8_per_channel", "int8_asymmetric", "int4", "nf4"}
    # one layer of d = 16: four (16, 16) attention matrices, (16, 64) and (64, 16) MLP ones
    shapes = [(d, d)] * 4 + [(d, 4 * d), (4 * d, d)]
    total = sum(i * o for i, o in shapes)
    per_tensor = sum((i * o + 4) for i, o in shapes) / total
    per_channel = sum((i * o + 4 * o) for i, o in shapes) / total
    blocks = sum((i * o / 2 + 4 * (i // 16) * o) for i, o in shapes) / total
    assert q["int8_per_tensor"]["bytes_per_param"] == pytest.approx(per_tensor)
    assert q["int8_per_channel"]["bytes_per_param"] == pytest.approx(per_channel)
    assert q["nf4"]["bytes_per_param"] == pytest.approx(blocks)
    assert q["int4"]["bytes_per_param"] == pytest.approx(blocks)
    assert q["int8_per_channel"]["weight_error"] <= q["int8_per_tensor"]["weight_error"]
    assert q["int8_per_channel"]["weight_error"] < q["int4"]["weight_error"]
    assert all(math.isfinite(s["val_loss"]) for s in q.values())
    delta = q["int8_per_channel"]["val_loss"] - tiny["float32_val_loss"]
    assert tiny["int8_per_channel_within"] == (abs(delta) <= 0.02)
    assert tiny["source"] == "trained"


def test_hadamard_keeps_the_float_function(tiny):
    h = tiny["hadamard"]
    assert h["orthogonality"] < 1e-6 and h["function_diff"] < 1e-4
    assert {"error_before", "error_after", "val_before", "val_after"} <= set(h)


def test_mixed_precision_and_flushing(tiny):
    m = tiny["mixed_precision"]
    assert m["seed_noise"] == pytest.approx(abs(m["val_float32"] - m["val_float32_other_seed"]))
    assert len(m["val_curves"]) == 3 and len(m["loss_curves"]["float32"]) == 10
    f = tiny["fp16_flushed_share"]
    assert 0 <= f["with"] <= f["without"] <= 1 and len(f["shares"]) == len(f["exponents"])


def test_int8_matmul(tiny):
    mm = tiny["int8_matmul"]
    assert list(mm) == ["256"] and tiny["int8_matmul_exact"]
    assert mm["256"]["float32_bytes"] > 3 * mm["256"]["int8_bytes"]


def test_summary_has_three_bullets(lesson, tiny):
    assert tiny  # the run above filled the caches; the summary is checked on hand-built results
    assert lesson.within_verdict(0.019) and not lesson.within_verdict(-0.021)


# ----------------------------------------------------------------------------
# The verdicts, each alone.


def test_disagreements_and_flush_sentence(lesson):
    same = {"eps": 1.0, "max": 2.0, "min_normal": 3.0, "min_subnormal": 4.0}
    assert lesson.disagreements(same, same) == []
    flushed = {**same, "min_subnormal": 3.0}
    assert lesson.disagreements(flushed, same) == ["min_subnormal"]
    both = {d: same for d in lesson.DTYPES}
    f = lesson.Formats(both, both, {d: 8 for d in lesson.DTYPES})
    assert "equals" in lesson.flush_sentence(f)
    f = lesson.Formats({**both, "float32": flushed}, both, {d: 8 for d in lesson.DTYPES})
    assert "flushes subnormal" in lesson.flush_sentence(f)
    f = lesson.Formats({**both, "float16": {**same, "max": 1.0}}, both, {})
    assert "disagree on max" in lesson.flush_sentence(f)


def test_noise_verdict(lesson):
    assert "within" in lesson.noise_verdict(0.01, 0.02)
    assert "cannot tell" in lesson.noise_verdict(0.03, 0.02)
    assert "cost accuracy" in lesson.noise_verdict(0.05, 0.02)


def test_rotation_verdict(lesson):
    assert "lowered" in lesson.rotation_verdict(2.5, 2.4)
    assert "raised" in lesson.rotation_verdict(2.4, 2.5)
    assert "less than" in lesson.rotation_verdict(2.4, 2.4005)


def test_outlier_sentence_follows_both_numbers(lesson):
    """It says 'lowered' only when the largest entry fell and 'fell' only when the
    error did; it never claims the weights are Gaussian or that steps got finer."""
    down = lesson.outlier_sentence(7.63, 5.46, 0.104, 0.102)
    assert "lowered the largest entry (7.63 → 5.46" in down and "error fell" in down
    up = lesson.outlier_sentence(4.88, 6.36, 0.1013, 0.1028)
    assert "did not lower" in up and "did not fall (10.13% → 10.28%)" in up
    mixed = lesson.outlier_sentence(7.0, 5.0, 0.10, 0.11)
    assert "lowered" in mixed and "did not fall" in mixed
    for s in (down, up, mixed):
        assert "normally distributed" not in s and "finer" not in s


def test_float16_flushes_at_half_its_smallest_subnormal():
    """What the flush sentence says: a float32 value becomes 0 in float16 exactly when
    it is at most 2^-25, half the smallest subnormal; above that it rounds up to 2^-24."""
    f16 = lambda v: float(np.float32(v).astype(np.float16))  # noqa: E731
    assert f16(2.0**-25) == 0.0 and f16(2.0**-25 * 1.01) == 2.0**-24
    assert f16(2.0**-24 * 0.9) == 2.0**-24  # below the subnormal, not flushed


def test_exactness_is_claimed_where_float32_can_hold_it(lesson):
    """The int8 matmul is checked against float32 at the smallest size only; the
    sentence says so, and there every partial sum of ±127² products is below 2^24."""
    assert lesson.MATMUL_MIN * 127**2 < 2**24


def test_no_power_of_two_width_rotates_nothing(lesson):
    """--d-model 48 (input widths 48 and 192): no Hadamard matrix fits; the lesson says
    so instead of failing on an empty max()."""
    assert lesson.orthogonality_error({}) == 0.0
    h = qz.random_hadamard(jax.random.key(0), 8)  # (8, 8)
    assert 0.0 <= lesson.orthogonality_error({"8": h}) < 1e-6
    console = lesson.Console(file=io.StringIO(), width=80)
    r = lesson.Rotation("int4 per channel", [], 0, 6, 0.0, 0.0, 4.0, 4.0, 0.1, 0.1, 2.5, 2.5)
    lesson.say_rotation(r, console)
    assert "nothing was rotated" in console.file.getvalue()


def test_winner_needs_every_round(lesson):
    assert lesson.winner([2.0, 3.0, 1.2]) == "int8"
    assert lesson.winner([0.5, 0.8]) == "float32"
    assert lesson.winner([0.5, 2.0]) == "neither"
    assert lesson.winner([1.05, 1.05]) == "neither"


def _matmuls(lesson, rounds):
    return lesson.Matmuls(8, [4096], [1.0], [3.0], [rounds], [16_000_000], [64_000_000], [1], True)


def test_matmul_sentence_follows_the_winner(lesson):
    assert "int8 wins" in lesson.matmul_sentence(_matmuls(lesson, [2.5, 3.5]))
    assert "float32 wins" in lesson.matmul_sentence(_matmuls(lesson, [0.5, 0.6]))
    assert "supports no claim" in lesson.matmul_sentence(_matmuls(lesson, [0.7, 3.0]))


def test_memory_bound_is_claimed_only_when_time_follows_the_bytes(lesson):
    one = _matmuls(lesson, [2.5, 3.5])
    assert "should be memory bound" in lesson.bytes_clause(one, 4.0)
    grows = lesson.Matmuls(
        8, [256, 4096], [0.1, 1.0], [0.2, 3.0], [[2.0], [3.0]],
        [10**6, 16 * 10**6], [4 * 10**6, 64 * 10**6], [1, 1], True,
    )  # fmt: skip
    assert "grew 15.0× for 16× the bytes: it is memory bound" in lesson.bytes_clause(grows, 4.0)
    flat = dataclasses.replace(grows, float32_ms=[0.068, 0.097])  # a GPU's launch cost
    assert "not the bytes but something else" in lesson.bytes_clause(flat, 4.0)
    assert "no entry" in lesson.unscaled_clause(0.0)
    assert "rounded to 0" in lesson.unscaled_clause(0.25)


def test_matmul_sizes(lesson):
    assert lesson.matmul_sizes(256) == [256]
    assert lesson.matmul_sizes(4096) == [256, 1024, 4096]
    assert lesson.matmul_sizes(2048) == [256, 1024, 2048]


def test_overflow_clause(lesson):
    r = lesson.Flush([0, 8, 16], [0.3, 0.1, 0.0], [True, True, False], 10, 0.3, 8, 0.1)
    assert "from 2^16 on" in lesson.overflow_clause(r)
    r = lesson.Flush([0, 8], [0.3, 0.1], [True, True], 10, 0.3, 8, 0.1)
    assert "no scale up to 2^8" in lesson.overflow_clause(r)


def test_source_sentence(lesson):
    assert "checkpoint x.npz" in lesson.source_sentence("checkpoint", "x.npz")
    assert "trained above" in lesson.source_sentence("trained", "none")


def test_summary_bullets(lesson):
    m = lesson.Mixed({}, 10, [1], {}, {}, 2.50, 2.51, 2.48, 0.02, {})
    fl = lesson.Flush([0, 8], [0.3, 0.0], [True, True], 10, 0.3, 8, 0.0)
    names = ("int8_per_channel", "nf4")
    q = lesson.Quantized(
        "trained", "none", {}, 1, 1, [], dict.fromkeys(names, ""), dict.fromkeys(names, 1.0),
        dict.fromkeys(names, 0.01), {"int8_per_channel": 2.501, "nf4": 2.55}, 2.50, {},
    )  # fmt: skip
    mm = _matmuls(lesson, [2.5, 3.5])
    lines = lesson.summary({"mixed": m, "flush": fl, "quantized": q, "matmuls": mm})
    assert len(lines) == 3
    assert "within the seed-to-seed noise" in lines[0] and "2^8" in lines[0]
    assert "+0.0010" in lines[1] and "(within 0.02)" in lines[1]
    assert "winner int8" in lines[2]


def test_open_checkpoint(tiny_checkpoint, tmp_path):
    assert macbeth.open_checkpoint("none") is None
    params, model = macbeth.open_checkpoint(str(tiny_checkpoint), dtype=jnp.float32)
    assert model.d_model == 16 and params["tok"].dtype == np.float32
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        macbeth.open_checkpoint(str(bad))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--bits", "9"], "from 2 to 8"),
        (["--bits", "1"], "from 2 to 8"),
        (["--block", "5"], "does not divide"),
        (["--d-model", "30", "--heads", "4"], "not a multiple"),
        (["--matmul-max", "100000"], "--matmul-max"),
        (["--checkpoint", "/no/such/file.npz"], "--checkpoint"),
    ],
)
def test_bad_input_is_one_line(usage_error, argv, says):
    assert says in usage_error(STEM, *argv)


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 23, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize("action", tiny_sweep.flags("23_fewer_bits"), ids=tiny_sweep.flag_id)
def test_23_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("23_fewer_bits", action, capsys, request)
