"""Lessons 12, 13 and 14: mixture-of-experts routing and the Mini-TRINITY capstone."""

import json
import os

import numpy as np
import pytest
from conftest import LESSONS, load_lesson

from trinity_foundations import catalogue, cli

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


def test_moe_gating_too_few_steps_is_reported_honestly(run_json):
    rb = run_json("12_moe_gating", "--steps", "3")["results"]["rebalance"]
    assert rb["final_f"] == [1.0, 0.0, 0.0] and rb["spread_from_step"] is None
    assert load_lesson("12_moe_gating").outcome(rb["spread_from_step"], rb["final_f"]) == "stuck"


def test_moe_gating_decisions():
    lesson = load_lesson("12_moe_gating")
    assert lesson.collapse_share(3.0, 3) == 1 and lesson.collapse_share(1.0, 3) == 0
    assert lesson.pushed([[1, 2], [-1, -2], [1, -1]]) == ([0], [1])
    assert lesson.rises([3, 2, 2.5, 1, 1.2]) == 2 and lesson.rises([1]) == 0
    assert lesson.outcome(13, [1 / 3] * 3) == "even"
    assert lesson.outcome(13, [0.5, 0.25, 0.25]) == "spread"
    assert lesson.step_rows(20) == (list(range(20)), 0)
    assert lesson.step_rows(200_000, limit=25) == ([*range(24), 199_999], 199_975)
    leaky = lesson.Gradient([[1.0]], 1.0, True, f_jacobian_max_abs=0.5, p_only_max_diff=0.25)
    said = lesson.gradient_bullet(leaky)
    assert "by up to 0.25" in said and "reached 0.5" in said
    assert "exactly 0" in lesson.gradient_bullet(lesson.compute_gradient({}))


def test_moe_gating_report(run_report, run_json):
    assert run_report("12_moe_gating")  # renders; what it says comes from these choices:
    lesson, r = load_lesson("12_moe_gating"), run_json("12_moe_gating")["results"]
    assert r["rebalance"]["spread_from_step"] == 13  # "From step 13 on every expert ..."
    assert lesson.outcome(r["rebalance"]["spread_from_step"], r["rebalance"]["final_f"]) == "even"
    # "A descent step lowers every weight of expert(s) [0] and raises ... [1, 2]"
    assert lesson.pushed(r["gradient"]["grad"]) == ([0], [1, 2])


def test_moe_gating_truncates_a_long_step_table(run_report):
    assert run_report("12_moe_gating", "--steps", "300")  # 300 rows were printed
    # 24 rows, "… 275 more", then the last step's row (step 300 counted from 1)
    assert load_lesson("12_moe_gating").step_rows(300) == ([*range(24), 299], 275)


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["--lr", "1e300"], "argument --lr: must be at most 1e+06 (larger steps only overshoot)"),
        (["--steps", "0"], "argument --steps: must be from 1 to 100,000"),
        (["--steps", "200000"], "argument --steps: must be from 1 to 100,000"),
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
        assert s["toward_collapse"] == pytest.approx((s["aux_loss"] - 1) / 3, rel=1e-6)
        assert all(
            isinstance(v, (int, float)) for k, v in s.items() if k not in ("label", "f", "p")
        )
    losses = {s["label"]: s["aux_loss"] for s in r["scenarios"]}
    assert losses["balanced"] == pytest.approx(1.0) and losses["collapsed"] == 4.0
    assert losses["heavy"] == pytest.approx(2.08) and losses["two idle"] == pytest.approx(2.0)
    assert load_lesson("13_loss_curve").concentration_beats_idleness(2.08, 2.0)


def test_loss_curve_report(run_report):
    assert run_report("13_loss_curve")  # renders; its 2.0800 is the heavy scenario's loss above


def test_loss_curve_orders_and_names_the_scenarios():
    lesson = load_lesson("13_loss_curve")
    r = lesson.compute_scenarios({})
    assert r.experts == 4 and r.bar_width == 30
    order = [s.label for s in lesson.by_loss(r)]
    assert order == ["balanced", "mild", "two idle", "heavy", "collapsed"]
    assert lesson.named(r)["heavy"] == pytest.approx(2.08)
    assert "concentration, not idleness" in lesson.idle_bullet({"heavy": 2.08, "two idle": 2.0})
    assert lesson.idle_bullet({"heavy": 1.9, "two idle": 2.0}).startswith("Two idle experts")
    assert lesson.idle_bullet({}) == "The penalty measures how concentrated the load is."


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


def test_mini_trinity_names_experts_tried_twice():
    lesson = load_lesson("14_mini_trinity")
    cases = lesson.compute_cases({}, inputs=lesson.CASES).cases
    assert [lesson.repeated_experts(c) for c in cases] == [[], [], [1]]  # wordy math: 1 → 2 → 1
    experts = lesson.compute_experts({})
    assert experts.names == ["solver", "writer", "cheap"] and experts.costs == [0.05, 0.08, 0.01]
    assert experts.timeout == 2 and experts.max_turns == 3 and experts.reset == [-0.5, 2.0]


def test_mini_trinity_report(run_report):
    out = run_report("14_mini_trinity")
    # its costs (0.01 + 0.08 = 0.09) and statuses (QUARANTINED) are test_mini_trinity_cases'
    assert "creative: a short poem" in out and "answers: error: timeout" in out  # outputs shown


def test_the_next_line_comes_from_the_catalogue():
    # 14 was the last lesson; now the catalogue decides, and lesson 15 follows once it exists
    following = cli.next_lesson(str(LESSONS / "14_mini_trinity.py"))
    expected = catalogue.next_after("14_mini_trinity")
    assert following == (expected if (LESSONS / f"{expected}.py").exists() else None)


@pytest.mark.parametrize("x, y, kind", [("-1", "-3", "math"), ("3", "-2", "creative")])
def test_mini_trinity_routes_a_task_of_your_own(run_json, x, y, kind):
    cases = run_json("14_mini_trinity", "--task", x, y, "--task-type", kind)["results"]["cases"]
    mine = cases[-1]
    assert len(cases) == 4 and mine["name"] == "your task" and mine["case"] == 4
    assert mine["task_vector"] == [float(x), float(y)] and mine["task_type"] == kind
    logits = np.array([[2, -1], [-1, 2], [1.2, 1.2]]) @ np.array([float(x), float(y)])
    assert mine["turns"][0]["expert"] == int(np.argmax(logits))


@pytest.fixture
def receipt(run_json, tmp_path):
    """(path of a fresh receipt file, its parsed content)."""
    path = tmp_path / "receipts.json"
    run_json("14_mini_trinity", "--receipt", str(path))
    return path, json.loads(path.read_text())


def replay_of(path, data, capsys):
    """(exit status, differences) of --replay on `data` written to `path`."""
    path.write_text(json.dumps(data))
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        load_lesson("14_mini_trinity").main(["--replay", str(path), "--json"])
    return done.value.code, json.loads(capsys.readouterr().out)["results"]["replay"]["differences"]


TAMPERS = [  # (edit of the parsed receipt, what the one difference names)
    (lambda d: d["cases"][1]["turns"][1].update(expert=0), "turn 2, expert: recorded 0"),
    (lambda d: d["cases"][1]["turns"][1].update(expert_name="solver"), "expert_name"),
    (lambda d: d["cases"][1]["turns"][1].update(output="math: a proof"), "output"),
    (lambda d: d["cases"][1]["turns"][1].update(turn=3), "turn 2, turn: recorded 3"),
    (lambda d: d["cases"][1]["turns"][0].update(cost=0.011), "cost: recorded 0.011"),
    (lambda d: d["cases"][1].update(total_cost=0.0901), "total_cost: recorded 0.0901"),
    (lambda d: d["cases"][1]["turns"][0].update(note="x"), "fields the run does not write"),
    (lambda d: d["cases"][0].update(extra=1), "fields the run does not write: ['extra']"),
    (lambda d: d.update(version=2), "the file: the receipt has fields"),
]


@pytest.mark.parametrize("edit, expect", TAMPERS)
def test_a_tampered_receipt_fails_its_replay(receipt, capsys, edit, expect):
    path, data = receipt
    edit(data)
    code, found = replay_of(path, data, capsys)
    assert code == 1 and len(found) == 1 and expect in found[0], found


def test_duplicated_and_reordered_cases_fail_the_replay(receipt, capsys):
    path, data = receipt
    dup = {**data, "cases": [*data["cases"], data["cases"][0]]}
    code, found = replay_of(path, dup, capsys)
    assert code == 1 and "case 'math' appears 2 times" in found
    swapped = {**data, "cases": [data["cases"][1], data["cases"][0], data["cases"][2]]}
    code, found = replay_of(path, swapped, capsys)
    assert code == 1 and "case 'creative', case: recorded 2, replayed 1" in found


def test_a_receipt_with_a_case_left_out_fails_its_replay(receipt, capsys):
    # every remaining case replayed exactly, so the replay once said all matched
    path, data = receipt
    code, found = replay_of(path, {**data, "cases": data["cases"][:-1]}, capsys)
    assert code == 1 and "the file records 3 cases and holds 2" in found


def test_receipt_then_replay_matches_and_exits_0(run_json, receipt, tmp_path):
    path, data = receipt
    replay = run_json("14_mini_trinity", "--replay", str(path))["results"]["replay"]
    assert replay == {"cases_checked": 3, "differences": []}
    mine = tmp_path / "mine.json"
    run_json("14_mini_trinity", "--task", "-2", "0.5", "--receipt", str(mine))
    assert (
        run_json("14_mini_trinity", "--replay", str(mine))["results"]["replay"]["differences"] == []
    )


def test_replay_refuses_files_it_cannot_use(usage_error, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # open() would block for ever
    assert "is not a regular file" in usage_error("14_mini_trinity", "--replay", str(fifo))
    assert "is not a regular file" in usage_error("14_mini_trinity", "--replay", "/dev/zero")
    big = tmp_path / "big.json"
    big.write_text(" " * 1_000_001)
    assert "a receipt has at most 1,000,000" in usage_error("14_mini_trinity", "--replay", str(big))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)  # json.loads raised RecursionError
    assert "nests deeper than 16 levels" in usage_error("14_mini_trinity", "--replay", str(deep))


def test_task_and_replay_exclude_each_other(usage_error, receipt):
    path, _ = receipt
    line = usage_error("14_mini_trinity", "--replay", str(path), "--task", "1", "2")
    assert "not allowed with --replay" in line


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


def test_replay_prints_names_from_the_file_literally(receipt, capsys, run_report, tmp_path):
    # a receipt file is untrusted text: '[/x]' in it once raised rich's MarkupError
    path, data = receipt
    data["cases"][0]["name"] = "m[/x]"
    data["cases"][0]["turns"][0]["feedback"] = "[/oops]"
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit):
        load_lesson("14_mini_trinity").main(["--replay", str(path)])
    out = capsys.readouterr().out
    assert "Receipt · m[/x] (math task)" in out and "recorded '[/oops]'" in out
    receipt_file = tmp_path / "[red]r.json"  # so is a file name: "[red]" would vanish
    out = run_report("14_mini_trinity", "--receipt", str(receipt_file))
    assert "[red]r.json" in out.replace("\n", "")


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


def test_replay_of_a_receipt_with_a_nan_cost_is_a_usage_error(receipt, usage_error):
    path, _ = receipt
    path.write_text(path.read_text().replace('"total_cost": 0.09', '"total_cost": NaN', 1))
    assert "lacks a valid 'total_cost'" in usage_error("14_mini_trinity", "--replay", str(path))
