"""Lesson 04c, gradients: its results against closed forms, its sentences, its flags."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re

import numpy as np
import pytest
import tiny_sweep
from conftest import load_lesson

NAME = "04c_gradients"
KEYS = {
    "forward_values",
    "backward_table",
    "grad_max_diff",
    "fd_errors",
    "best_h",
    "jacfwd_ms",
    "jacrev_ms",
    "per_example_mean_max_diff",
}
EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


@pytest.fixture(scope="module")
def lesson():
    return load_lesson(NAME)


@pytest.fixture(scope="module")
def envelope(lesson) -> dict:
    """The --json envelope of one run at defaults, shared by the module's tests."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lesson.main(["--json"])
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def r(envelope) -> dict:
    return envelope["results"]


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_results_have_the_contract_keys_and_defaults(envelope, r):
    assert KEYS <= r.keys()
    assert envelope["lesson"] == NAME
    assert envelope["params"] == {"seed": 0, "size": 1000}


def test_forward_values_are_the_closed_form(r):
    v = r["forward_values"]
    assert (v["w1"], v["w2"], v["b"], v["x1"], v["x2"], v["y"]) == (0.5, -1.0, 0.25, 1.0, 2.0, 1.0)
    assert v["u"] == -1.5 and v["z"] == -1.25  # exact in binary
    assert v["p"] == pytest.approx(sigmoid(-1.25), rel=1e-6)
    assert v["L"] == pytest.approx(-math.log(sigmoid(-1.25)), rel=1e-6)


def test_backward_table_is_the_chain_rule(r):
    rows = r["backward_table"]
    assert [row["node"] for row in rows] == ["L", "p", "z", "u", "b", "w1", "w2"]
    for row in rows:  # each adjoint is the adjoint flowing in times the local derivative
        assert row["adjoint"] == pytest.approx(row["local"] * row["upstream"], rel=1e-6)
    by = {row["node"]: row["adjoint"] for row in rows}
    p = sigmoid(-1.25)
    assert by["L"] == 1.0
    assert by["z"] == pytest.approx(p - 1, rel=1e-6)  # p − y
    assert (by["w1"], by["w2"], by["b"]) == pytest.approx(((p - 1), 2 * (p - 1), p - 1), rel=1e-6)
    assert r["grad_max_diff"] <= 10 * EPS["float32"]
    b = r["backward"]
    assert max(b["vjp_max_diff"], b["jvp_max_diff"]) <= 10 * EPS["float32"]


def test_finite_differences_fall_then_rise_with_the_best_h_near_theory(r):
    hs = r["fd_h"]
    assert hs[0] == pytest.approx(0.1) and hs[-1] == pytest.approx(1e-12) and len(hs) == 23
    fd = r["finite_differences"]
    guides = {"one_sided": 1 / 2, "central": 1 / 3}
    for dtype, eps in EPS.items():
        for scheme, power in guides.items():
            errors = r["fd_errors"][dtype][scheme]
            assert len(errors) == len(hs)
            best = r["best_h"][dtype][scheme]
            i = hs.index(best)
            assert errors[i] == min(errors)
            assert errors[i] < errors[0] / 10 and errors[i] < errors[-1] / 10  # a U
            ratio = best / eps**power
            assert 0.1 <= ratio <= 10, (dtype, scheme, ratio)
            assert fd["fall_slope"][dtype][scheme] == pytest.approx(
                {"one_sided": 1, "central": 2}[scheme], abs=0.4
            )
            assert -1.6 <= fd["rise_slope"][dtype][scheme] <= -0.4
        assert fd["best_error"][dtype]["central"] < fd["best_error"][dtype]["one_sided"]
    assert fd["best_error"]["float64"]["central"] < fd["best_error"]["float32"]["central"] / 1e3
    # In float32 the smallest steps vanish: θ + h == θ, estimate 0, error the whole slope.
    assert fd["vanished_h"]["float32"] > 0 and fd["vanished_h"]["float64"] == 0.0
    assert r["fd_errors"]["float32"]["one_sided"][-1] == pytest.approx(fd["grad_scale"])
    assert fd["grad_scale"] == pytest.approx(2 * (1 - sigmoid(-1.25)), rel=1e-12)


def test_scalar_section_shows_the_error_and_the_jacobian(r):
    s = r["scalar"]
    assert s["error_class"] == "TypeError" and "scalar" in s["error_message"]
    assert np.asarray(s["jacobian"]).shape == (3, 3)
    assert s["jac_max_diff"] <= 10 * EPS["float32"]
    assert s["closed_form_max_diff"] <= 10 * EPS["float32"]


def test_modes_are_timed_per_shape(r):
    m = r["modes"]
    for key in ("jacfwd_ms", "jacrev_ms"):
        assert set(r[key]) == {"wide", "tall"} and all(v > 0 for v in r[key].values())
    assert m["inputs"] == {"wide": 1000, "tall": 4} and m["outputs"] == {"wide": 1, "tall": 1000}
    assert all(len(v) >= 1 for v in m["ratio_rounds"].values())
    assert max(m["max_diff"].values()) < 1e-5
    assert all(ms > 0 for by in m["compile_ms"].values() for ms in by.values())


def test_batch_gradient_is_the_mean_of_per_example_gradients(r):
    b = r["batch"]
    assert r["per_example_mean_max_diff"] <= 1e-6
    assert b["closed_form_max_diff"] <= 1e-6 and b["value_and_grad_max_diff"] <= 1e-6
    assert b["batch"] == 256 and len(b["first_examples"]) == 3
    assert b["value"] > 0


def test_check_grads_tells_the_right_backward_pass_from_the_buggy_one(r):
    c = r["checks"]
    assert c["jax_passed"] and c["hand_passed"] and not c["buggy_passed"]
    p = sigmoid(-1.25)
    assert c["buggy_grad"] == pytest.approx([-1 / p, -2 / p, -1 / p], rel=1e-12)


# ----------------------------------------------------------------------------
# The sentences, each choice alone.


def test_agreement_sentences(lesson):
    eps = EPS["float32"]
    assert lesson.agreement(0.0, eps).startswith("identical")
    assert lesson.agreement(2 * eps, eps).startswith("equal up to float32 rounding")
    assert lesson.agreement(0.1, eps).startswith("different")


def test_confidence_sentences(lesson):
    assert lesson.confidence(0.2227).startswith("wrong")
    assert lesson.confidence(0.7).startswith("right but unsure")
    assert lesson.confidence(0.95).startswith("confident and right")


def test_factor_from_and_slope_sentences(lesson):
    assert lesson.factor_from(1e-4, 3.46e-4) == "3.5× below"
    assert lesson.factor_from(1e-2, 4.9e-3) == "2.0× above"
    assert lesson.factor_from(1e-5, 1.02e-5) == "right at"
    text = lesson.slope_sentence(1.0, -1.0, 1)
    assert "h^1.0" in text and text.count("as theory says") == 2
    assert "not quite" in lesson.slope_sentence(1.8, -1.0, 1)
    assert "noisier" in lesson.slope_sentence(1.0, -3.0, 1)
    assert lesson.slope_sentence(math.nan, -1.0, 1).startswith("too few steps")


def test_mode_verdicts(lesson):
    assert lesson.mode_verdict(5.0, 0.5, (9.0, 10.0, 11.0)) == "reverse mode wins, 10.0× faster"
    assert lesson.mode_verdict(0.5, 5.0, (0.1, 0.1, 0.1)) == "forward mode wins, 10.0× faster"
    noisy = lesson.mode_verdict(1.1, 1.0, (0.8, 1.1, 1.4))
    assert noisy.startswith("too noisy to call") and "0.8" in noisy and "1.4" in noisy
    assert lesson.mode_verdict(1.05, 1.0, (1.05,)).startswith("neither wins")
    assert lesson.expected_winner(1000, 1) == "reverse"
    assert lesson.expected_winner(4, 1000) == "forward"
    assert lesson.expected_winner(3, 3) == "neither"
    assert lesson.spread_note((1.0, 1.2, 1.4)) == ""
    assert lesson.spread_note((1.0, 2.0)) == " (rounds from 1 to 2)"


def test_summary_is_three_bullets_from_the_results(lesson):
    b = lesson.compute_backward({"forward": lesson.compute_forward({})})
    fd = lesson.FiniteDifferences(
        hs=(1e-1,),
        errors={},
        best_h={"float32": {"one_sided": 1e-4}, "float64": {"central": 1e-5}},
        best_error={},
        guide_h={"float32": {"one_sided": 3.46e-4}, "float64": {"central": 6.06e-6}},
        fall_slope={},
        rise_slope={},
        eps={},
        vanished_h={},
        grad_scale=1.55,
    )
    m = lesson.Modes(
        size=1000,
        inputs={"wide": 1000, "tall": 4},
        outputs={"wide": 1, "tall": 1000},
        jacfwd_ms={"wide": 5.0, "tall": 0.05},
        jacrev_ms={"wide": 0.05, "tall": 5.0},
        compile_ms={},
        ratio_rounds={"wide": (100.0,), "tall": (0.01,)},
        max_diff={},
    )
    first, second, third = lesson.summary({"backward": b, "finite_differences": fd, "modes": m})
    assert "[-0.7773, -1.5546, -0.7773]" in first
    assert "0.0001 (float32, one-sided; √ε = 0.00035)" in second
    assert third.startswith("Wide (1,000 → 1): reverse mode wins, 100.0× faster")
    assert "forward mode wins" in third


# ----------------------------------------------------------------------------
# Flags and the rendered report.


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--size", "0"], "must be from 1"),
        (["--size", "5000"], "jacfwd and jacrev build N × N"),
        (["--size", "ten"], "not a valid int"),
        (["--seed", "-1"], "must be from 0"),
        (["--steps", "3"], "unrecognized arguments"),
    ],
)
def test_bad_flags_end_in_one_line(usage_error, argv, reason):
    assert reason in usage_error(NAME, *argv)


@pytest.mark.parametrize("columns", [80, 40])
def test_report_fits_the_terminal_without_cutting(lesson, r, run_report, columns):
    out = run_report(NAME, columns=columns)  # at defaults: the JSON run compiled it all
    body = out.splitlines()[1:]  # the title rule may shorten the title with "…"
    assert max(len(line) for line in body) <= columns
    cut = [line for line in body if "…" in line and not re.search(r"… \d+ more", line)]
    assert not cut, cut
    # What it says: jax.grad's TypeError and the buggy backward pass that FAILS are the
    # results' (test_scalar_section_..., test_check_grads_tells_...), through check_word;
    # "What you saw" and the Try line are cli's (tests/test_summaries.py, test_sections.py).
    assert r["scalar"]["error_class"] == "TypeError" and not r["checks"]["buggy_passed"]
    assert (lesson.check_word(False), lesson.check_word(True)) == ("FAILS", "passes")


# Last in the file: the programs the tests above compiled are reused.
@pytest.mark.parametrize("action", tiny_sweep.flags("04c_gradients"), ids=tiny_sweep.flag_id)
def test_04c_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("04c_gradients", action, capsys, request)
