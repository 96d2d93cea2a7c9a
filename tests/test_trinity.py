import copy
import errno
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from trinity_foundations.trinity import (
    ROUTING,
    TOLERANCE,
    check_receipts,
    differences,
    file_differences,
    json_depth,
    read_receipts,
    receipt_document,
    route,
    run_case,
    verify,
    warp,
    write_receipts,
)


def numpy_probs(task):
    logits = np.asarray(ROUTING) @ np.asarray(task, dtype=float)
    e = np.exp(logits - logits.max())
    return e / e.sum()


@pytest.mark.parametrize("task", [[2.0, 0.1], [0.1, 0.15], [-0.5, 2.0], [1.0, 4.0]])
def test_route_matches_numpy(task):
    probs, choice = route(jnp.array(task), jnp.array(ROUTING))  # (3,), ()
    want = numpy_probs(task)
    np.testing.assert_allclose(probs, want, rtol=1e-5)
    assert int(choice) == int(np.argmax(want))


def test_route_probabilities_gradient():
    with jax.enable_x64(True):
        routing = jnp.array(ROUTING, dtype=jnp.float64)
        check_grads(lambda t: route(t, routing)[0], (jnp.array([0.3, -0.2]),), order=2)


def test_route_is_stable_for_large_tasks():
    probs, choice = route(jnp.array([1e5, 0.0]), jnp.array(ROUTING))
    assert np.all(np.isfinite(probs)) and int(choice) == 0


@pytest.mark.parametrize(
    "expert, task, want",
    [
        (0, [2.0, 0.1], [-0.5, 0.1]),
        (1, [1.0, 4.0], [1.0, 1.5]),
        (2, [7.0, -3.0], [-0.5, 2.0]),
    ],
)
def test_warp(expert, task, want):
    np.testing.assert_allclose(warp(jnp.array(task), jnp.array(expert)), want, rtol=1e-6)


def test_verifier():
    assert verify("math", "x", "math")[0]
    assert not verify("creative", "x", "math")[0]
    assert not verify("error", "timeout", "creative")[0]
    assert "timeout" in verify("error", "timeout", "creative")[1]


def experts(case):
    return [t["expert"] for t in case["turns"]]


def test_math_case_takes_one_turn():
    case = run_case("math", "math", [2.0, 0.1])
    assert case["status"] == "solved" and experts(case) == [0]
    assert case["total_cost"] == 0.05


def test_creative_case_fails_on_the_cheap_model_then_succeeds_on_the_writer():
    case = run_case("creative", "creative", [0.1, 0.15])
    assert experts(case) == [2, 1]
    assert [t["status"] for t in case["turns"]] == ["rejected", "accepted"]
    assert case["turns"][1]["task_vector"] == [-0.5, 2.0]  # the reset warp
    assert case["status"] == "solved"
    assert case["total_cost"] == 0.09  # exact: costs are summed in integer cents
    assert repr(case["total_cost"]) == "0.09"


def test_wordy_math_case_is_quarantined_after_three_turns():
    case = run_case("wordy math", "math", [1.0, 4.0])
    assert experts(case) == [1, 2, 1]
    assert all(t["status"] == "rejected" for t in case["turns"])
    assert case["status"] == "quarantined"
    assert case["total_cost"] == 0.17


@pytest.fixture
def receipts():
    cases = [
        run_case("creative", "creative", [0.1, 0.15]),
        run_case("wordy math", "math", [1.0, 4.0]),
    ]
    return json.loads(json.dumps(receipt_document(cases)))  # as read back from a file


def test_replay_of_an_unchanged_receipt_differs_nowhere(receipts):
    for case in check_receipts(receipts):
        assert (
            differences(case, run_case(case["name"], case["task_type"], case["task_vector"])) == []
        )


@pytest.mark.parametrize(
    "tamper, expect",
    [
        (lambda c: c["turns"][0].update(expert=0), "turn 1, expert"),
        (lambda c: c["turns"][1].update(feedback="fine"), "turn 2, feedback"),
        (lambda c: c["turns"][0]["probabilities"].__setitem__(0, 0.5), "turn 1, probabilities"),
        (lambda c: c.update(total_cost=0.08), "total_cost"),
        (lambda c: c.update(status="quarantined"), "status"),
        (lambda c: c["turns"].pop(), "only the replayed run has this turn"),
        (lambda c: c["turns"][0].update(cost=0.0101), "turn 1, cost"),  # not rounded to cents
        (lambda c: c["turns"][1].update(turn=1), "turn 2, turn"),
        (lambda c: c["turns"][1].update(output="a poem"), "turn 2, output"),
        (lambda c: c["turns"][1].update(expert_name="solver"), "turn 2, expert_name"),
        (lambda c: c["turns"][1].update(seen=True), "fields the run does not write"),
        (lambda c: c.update(case=2), "case: recorded 2"),
        (lambda c: c.update(total_cost=9), "total_cost"),  # 9 is not 0.09, nor 9.0 a 9
    ],
)
def test_a_tampered_receipt_is_caught(receipts, tamper, expect):
    recorded = copy.deepcopy(receipts["cases"][0])
    tamper(recorded)
    found = differences(recorded, run_case("creative", "creative", [0.1, 0.15]))
    assert len(found) == 1 and expect in found[0]


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda d: d.clear(), "non-empty list 'cases'"),
        (lambda d: d["cases"].append(3), "case 2 is not a JSON object"),
        (lambda d: d["cases"][0].pop("turns"), "lacks a valid 'turns'"),
        (lambda d: d["cases"][0].update(task_type="poetry"), "task_type must be one of"),
        (lambda d: d["cases"][0].update(task_vector=[1.0]), "task_vector must be 2 numbers"),
        (lambda d: d["cases"][0].update(task_vector=[1e300, 0.0]), "task_vector must be 2 numbers"),
        (lambda d: d["cases"][0]["turns"][0].update(expert="1"), "turn 1 lacks a valid 'expert'"),
        (lambda d: d["cases"][0]["turns"][0].update(probabilities=[1, 0]), "probabilities"),
        (lambda d: d["cases"][0].update(total_cost=float("nan")), "lacks a valid 'total_cost'"),
        (lambda d: d["cases"][0]["turns"][0].update(cost=float("inf")), "lacks a valid 'cost'"),
        (lambda d: d["cases"][0]["turns"][0].update(cost=1e308), "lacks a valid 'cost'"),
    ],
)
def test_malformed_receipts_are_rejected_with_a_reason(receipts, edit, reason):
    edit(receipts)
    with pytest.raises(ValueError, match=reason):
        check_receipts(receipts)


def test_router_floats_match_within_the_tolerance_and_nothing_else_does(receipts):
    recorded = copy.deepcopy(receipts["cases"][0])
    recorded["turns"][0]["probabilities"][0] += TOLERANCE / 2  # float32 rounding elsewhere
    assert differences(recorded, run_case("creative", "creative", [0.1, 0.15])) == []
    recorded["total_cost"] = 0.09 + 1e-12  # a cost is not a router float: exact
    assert len(differences(recorded, run_case("creative", "creative", [0.1, 0.15]))) == 1


def test_file_differences_finds_duplicates_and_extra_fields(receipts):
    assert file_differences(receipts) == []
    doubled = {"cases": [*receipts["cases"], receipts["cases"][0]], "meta": 1}
    found = file_differences(doubled)
    assert any("'meta'" in line for line in found)
    assert "case 'creative' appears 2 times" in found


@pytest.mark.parametrize(
    "text, depth", [("[]", 1), ('{"a": [1, {"b": "[[[\\"["}]}', 3), ("[" * 40 + "]" * 40, 40)]
)
def test_json_depth_skips_brackets_in_strings(text, depth):
    assert json_depth(text) == depth


def test_receipt_file_round_trip_and_read_errors(tmp_path, receipts):
    path = tmp_path / "receipts.json"
    write_receipts(str(path), receipts["cases"])
    assert read_receipts(str(path)) == receipts
    with pytest.raises(ValueError, match="cannot read"):
        read_receipts(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_receipts(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="cannot write"):
        write_receipts(str(tmp_path / "no" / "such" / "dir.json"), receipts["cases"])


@pytest.mark.parametrize(
    "text",
    [
        '{"cases": [], "cases": [], "case_count": 0, "chain": []}',
        '{"cases": [{"turns": [{"expert": 0, "expert": 1}]}]}',
    ],
)
def test_a_key_given_twice_is_refused(tmp_path, text):
    # json.loads keeps the last one, other readers the first: the replay and a
    # person's tool would read two different receipts
    path = tmp_path / "twice.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="twice"):
        read_receipts(str(path))


RESHUFFLES = [  # a subset, a reorder or a superset, renumbered so each case looks right
    lambda cases: cases[:-1],
    lambda cases: [cases[0], cases[2]],
    lambda cases: [cases[1], cases[0], cases[2]],
    lambda cases: [*cases, {**cases[0], "name": "copy"}],
]


@pytest.mark.parametrize("reshuffle", RESHUFFLES)
def test_a_case_left_out_added_or_moved_breaks_the_chain(receipts, reshuffle):
    cases = receipts["cases"] + [run_case("math", "math", [2.0, 0.1], number=3)]
    data = json.loads(json.dumps(receipt_document(cases)))
    shuffled = [{**c, "case": i + 1} for i, c in enumerate(reshuffle(data["cases"]))]
    assert file_differences(data) == []
    found = file_differences({**data, "cases": shuffled})
    assert any("hash chain" in line for line in found), found
    # the count alone catches a change of length even when the chain is rewritten
    rewritten = {**data, "cases": shuffled, "chain": receipt_document(shuffled)["chain"]}
    assert (len(shuffled) != len(cases)) == any(
        "records 3 cases" in x for x in file_differences(rewritten)
    )


def test_a_failed_write_keeps_the_previous_receipt(tmp_path, receipts, monkeypatch):
    path = tmp_path / "receipts.json"
    write_receipts(str(path), receipts["cases"])
    before = path.read_text()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        write_receipts(str(path), receipts["cases"][:1])
    assert path.read_text() == before and os.listdir(tmp_path) == ["receipts.json"]
    monkeypatch.undo()
    with pytest.raises(OSError) as full:  # a device is written directly, not replaced
        write_receipts("/dev/full", receipts["cases"])
    assert full.value.errno == errno.ENOSPC
