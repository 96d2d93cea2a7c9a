"""Lessons 12, 13 and 14: mixture-of-experts routing and the Mini-TRINITY capstone."""

import json

import numpy as np
import pytest
from conftest import load_lesson

from trinity_foundations import display

# ----------------------------------------------------------------------------
# 12_moe_gating


def test_moe_gating_results(run_json):
    env = run_json("12_moe_gating")
    r = env["results"]
    assert env["params"] == {"seed": 0, "steps": 20, "lr": 10.0}
    collapsed, balanced = r["collapsed"], r["balanced"]
    assert collapsed["selections"] == [0] * 6 and collapsed["f"] == [1.0, 0.0, 0.0]
    assert balanced["selections"] == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(balanced["f"], [1 / 3] * 3, rtol=1e-6)
    for router in (collapsed, balanced):
        assert router["aux_loss"] == pytest.approx(3 * np.dot(router["f"], router["p"]), rel=1e-6)
        assert sum(router["p"]) == pytest.approx(1.0, rel=1e-6)
    assert collapsed["aux_loss"] == pytest.approx(3 * collapsed["p"][0], rel=1e-6)
    assert 2.9 < collapsed["aux_loss"] <= 3.0  # close to the bound E = 3
    assert balanced["aux_loss"] == pytest.approx(1.0, rel=1e-6)  # uniform f: L = ΣP = 1

    g = r["gradient"]
    assert g["grad_finite"] and g["grad_norm"] > 1e-3
    assert g["f_jacobian_max_abs"] == 0.0 and g["p_only_max_diff"] == 0.0

    rb = r["rebalance"]
    assert rb["steps"] == len(rb["aux_loss_history"]) == len(rb["f_history"]) == 20
    assert rb["final_f"] == rb["f_history"][-1]
    assert min(rb["final_f"]) > 0  # the load really spread
    assert sorted(rb["final_selections"]) == [0, 0, 1, 1, 2, 2]
    assert rb["aux_loss_history"][-1] == pytest.approx(1.0, abs=1e-5)
    assert 1 <= rb["spread_from_step"] <= 20


def test_moe_gating_too_few_steps_is_reported_honestly(run_json, capsys):
    rb = run_json("12_moe_gating", "--steps", "3")["results"]["rebalance"]
    assert rb["final_f"] == [1.0, 0.0, 0.0] and rb["spread_from_step"] is None
    load_lesson("12_moe_gating").main(["--steps", "3"])
    out = capsys.readouterr().out
    assert "still receives no token" in out and "Next: python lessons/13_loss_curve.py" in out


def test_moe_gating_one_step_is_singular(capsys):
    load_lesson("12_moe_gating").main(["--steps", "1", "--lr", "0.001"])
    out = " ".join(capsys.readouterr().out.split())
    assert "1 gradient step on L_aux" in out and "After 1 step some expert" in out


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["--lr", "1e300"], "argument --lr: must be at most 3.403e+38 (float32)"),  # L_aux was NaN
        (["--steps", "0"], "argument --steps: must be a positive integer"),
        (["--lr", "-1"], "argument --lr: must be a positive number"),
        (["--tokens", "3"], "unrecognized arguments"),
    ],
)
def test_moe_gating_bad_flags(usage_error, argv, reason):
    assert reason in usage_error("12_moe_gating", *argv)


# ----------------------------------------------------------------------------
# 13_loss_curve

SCENARIOS = {
    "balanced": [0.25] * 4,
    "mild": [0.4, 0.2, 0.2, 0.2],
    "two idle": [0.5, 0.5, 0, 0],
    "heavy": [0.7, 0.1, 0.1, 0.1],
    "collapsed": [1, 0, 0, 0],
}


def test_loss_curve_results(run_json):
    r = run_json("13_loss_curve")["results"]
    assert [s["label"] for s in r["scenarios"]] == list(SCENARIOS)
    for s in r["scenarios"]:
        f = np.array(SCENARIOS[s["label"]])
        np.testing.assert_allclose(s["f"], f, rtol=1e-6)
        assert s["p"] == s["f"]
        assert s["aux_loss"] == pytest.approx(4 * np.sum(f * f), rel=1e-6)
        assert len(s["bar"]) == 30
        assert s["bar"].count(display.FULL) == round((s["aux_loss"] - 1) / 3 * 30)
    losses = {s["label"]: s["aux_loss"] for s in r["scenarios"]}
    assert losses["balanced"] == pytest.approx(1.0) and losses["collapsed"] == 4.0
    assert losses["heavy"] == pytest.approx(2.08) and losses["two idle"] == pytest.approx(2.0)


def test_loss_curve_report(capsys):
    load_lesson("13_loss_curve").main([])
    out = capsys.readouterr().out
    assert "2.0800" in out and "Next: python lessons/14_mini_trinity.py" in out


# ----------------------------------------------------------------------------
# 14_mini_trinity


def test_mini_trinity_cases(run_json):
    cases = {c["name"]: c for c in run_json("14_mini_trinity")["results"]["cases"]}
    expected = {  # name: (task type, experts per turn, status, total cost)
        "math": ("math", [0], "solved", 0.05),
        "creative": ("creative", [2, 1], "solved", 0.09),
        "wordy math": ("math", [1, 2, 1], "quarantined", 0.17),
    }
    assert set(cases) == set(expected)
    for name, (task_type, experts, status, cost) in expected.items():
        c = cases[name]
        assert c["task_type"] == task_type and c["status"] == status
        assert [t["expert"] for t in c["turns"]] == experts
        assert c["total_cost"] == cost
        assert c["total_cost"] == round(sum(t["cost"] for t in c["turns"]), 2)
        for t in c["turns"]:
            assert sum(t["probabilities"]) == pytest.approx(1.0, rel=1e-6)
            assert t["expert"] == int(np.argmax(t["probabilities"]))


def test_mini_trinity_report(capsys):
    load_lesson("14_mini_trinity").main([])
    out = capsys.readouterr().out
    assert "0.01 + 0.08 = 0.09" in out and "QUARANTINED" in out
    assert "0.09000" not in out and "Next:" not in out
    assert out.rstrip().endswith("`make bench`.")  # the last lesson points to the benchmarks


def test_receipt_then_replay_reports_no_difference(run_json, tmp_path):
    path = tmp_path / "receipts.json"
    written = run_json("14_mini_trinity", "--receipt", str(path))["results"]
    assert json.loads(path.read_text())["cases"] == written["cases"]
    replay = run_json("14_mini_trinity", "--replay", str(path))["results"]["replay"]
    assert replay == {"cases_checked": 3, "differences": []}


def test_tampered_receipt_is_caught_on_replay(run_json, tmp_path, capsys):
    path = tmp_path / "receipts.json"
    run_json("14_mini_trinity", "--receipt", str(path))
    data = json.loads(path.read_text())
    data["cases"][1]["turns"][1]["expert"] = 0  # claim the solver wrote the poem
    path.write_text(json.dumps(data))
    found = run_json("14_mini_trinity", "--replay", str(path))["results"]["replay"]["differences"]
    assert found == ["case 'creative', turn 2, expert: recorded 0, replayed 1"]
    load_lesson("14_mini_trinity").main(["--replay", str(path)])
    assert "1 decision(s) differ" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "cannot read"),
        ("{oops", "is not valid JSON"),
        ('{"cases": []}', "non-empty list 'cases'"),
        ('{"cases": [{"name": "x"}]}', "case 0 lacks a valid"),
    ],
)
def test_bad_replay_file_is_a_one_line_usage_error(usage_error, tmp_path, content, reason):
    path = tmp_path / "receipts.json"
    if content is not None:
        path.write_text(content)
    line = usage_error("14_mini_trinity", "--replay", str(path))
    assert "argument --replay:" in line and reason in line


def test_replay_prints_names_from_the_file_literally(run_json, tmp_path, capsys):
    # a receipt file is untrusted text: '[/x]' in it once raised rich's MarkupError
    path = tmp_path / "receipts.json"
    run_json("14_mini_trinity", "--receipt", str(path))
    data = json.loads(path.read_text())
    data["cases"][0]["name"] = "m[/x]"
    data["cases"][0]["turns"][0]["feedback"] = "[/oops]"
    path.write_text(json.dumps(data))
    load_lesson("14_mini_trinity").main(["--replay", str(path)])
    out = capsys.readouterr().out
    assert "Receipt · m[/x] (math task)" in out and "recorded '[/oops]'" in out
    assert "SOLVED after 1 turn: 0 ✓; cost 0.05\n" in out  # no "0.05 = 0.05"
    receipt = tmp_path / "[red]r.json"  # so is a file name: "[red]" would vanish
    load_lesson("14_mini_trinity").main(["--receipt", str(receipt)])
    out = capsys.readouterr().out
    assert "Receipts written to" in out and "[red]r.json" in out.replace("\n", "")


def test_unwritable_receipt_is_a_usage_error(usage_error, tmp_path):
    line = usage_error("14_mini_trinity", "--receipt", str(tmp_path / "no" / "r.json"))
    assert "argument --receipt: cannot write" in line


@pytest.mark.parametrize(
    "flag, reason", [("--replay", "cannot read"), ("--receipt", "cannot write")]
)
def test_empty_file_name_is_a_usage_error(usage_error, flag, reason):
    # an empty name used to be read as "no file" and silently ignored
    assert f"argument {flag}: {reason}" in usage_error("14_mini_trinity", flag, "")


# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["12_moe_gating", "13_loss_curve", "14_mini_trinity"])
def test_same_seed_same_results(run_json, name):
    assert run_json(name)["results"] == run_json(name)["results"]


def test_replay_of_a_receipt_with_a_nan_cost_is_a_usage_error(run_json, usage_error, tmp_path):
    path = tmp_path / "r.json"
    run_json("14_mini_trinity", "--receipt", str(path))
    path.write_text(path.read_text().replace('"total_cost": 0.09', '"total_cost": NaN', 1))
    assert "lacks a valid 'total_cost'" in usage_error("14_mini_trinity", "--replay", str(path))
