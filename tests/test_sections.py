"""sections: a lesson's sections run in order, stream, and give one JSON object."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from trinity_foundations import cli, sections

DOC = """Lesson X — a title.

What the learner will see, in a few lines:
the intro.

Run:  python lessons/x.py
"""


@dataclass(frozen=True)
class Count:
    n: int


def lesson(calls: list):
    def compute_a(done):
        calls.append("compute a")
        return Count(2)

    def compute_b(done):
        calls.append("compute b")
        return Count(done["a"].n * 10)  # a later section reads an earlier one

    def say(result, console):
        calls.append(f"say {result.n}")
        console.print(f"n = {result.n}")

    return [
        sections.Section("a", compute_a, say, title="First"),
        sections.Section("b", compute_b, say, doing="working"),
    ]


def test_intro_is_the_first_paragraph_after_the_title():
    assert cli.intro(DOC) == "What the learner will see, in a few lines: the intro."
    assert cli.intro("Only a title.") == ""


def test_sections_say_each_result_before_the_next_computes(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    calls: list = []
    args = argparse.Namespace(json=False, show_code=False)
    done = sections.run(
        args, str(tmp_path / "x.py"), DOC, lesson(calls),
        summary=lambda d: [f"a was {d['a'].n}", f"b was {d['b'].n}"],
    )  # fmt: skip
    assert calls == ["compute a", "say 2", "compute b", "say 20"]  # streamed, in order
    assert done["b"] == Count(20)
    out = capsys.readouterr().out
    assert out.index("the intro.") < out.index("First") < out.index("n = 2") < out.index("b was 20")


def test_mine_is_named_under_the_intro_and_kept_out_of_the_params(capsys, tmp_path):
    args = argparse.Namespace(json=False, show_code=False, mine=True, swapped=["softmax"])
    sections.run(args, str(tmp_path / "x.py"), DOC, lesson([]), summary=lambda d: [])
    out = capsys.readouterr().out
    assert out.index("the intro.") < out.index("--mine: your softmax from practice/x.py")
    assert out.index("--mine: your softmax") < out.index("First")
    assert cli.run_params(args) == {"mine": True}


def test_a_lesson_may_open_before_setting_up_and_is_opened_once(capsys, tmp_path):
    args = argparse.Namespace(json=False, show_code=False)
    sections.open_lesson(args, str(tmp_path / "x.py"), DOC)
    assert "the intro." in capsys.readouterr().out  # at once, before any set-up
    sections.run(args, str(tmp_path / "x.py"), DOC, lesson([]), summary=lambda d: [])
    out = capsys.readouterr().out
    assert "the intro." not in out and "First" in out
    assert "opened" not in cli.run_params(args)


def test_json_is_one_object_of_the_same_results(capsys, tmp_path):
    args = argparse.Namespace(json=True, show_code=False, size=3)
    sections.run(args, str(tmp_path / "x.py"), DOC, lesson([]), summary=lambda d: [])
    envelope = json.loads(capsys.readouterr().out)
    assert envelope["results"] == {"a": {"n": 2}, "b": {"n": 20}}
    assert envelope["params"] == {"size": 3} and envelope["lesson"] == "x"


def test_what_the_original_did_differently_waits_for_the_flag(capsys, tmp_path):
    def original(r, console):
        console.print(f"original said {r['x']}")

    for flag in (False, True):
        args = argparse.Namespace(json=False, show_code=False, original=flag)
        cli.finish(args, str(tmp_path / "x.py"), {"x": 7}, lambda r, c: None, title="T",
                   original=original)  # fmt: skip
        out = capsys.readouterr().out
        assert ("original said 7" in out) == flag and ("--original adds" in out) != flag
    assert cli.parser(None, seed=0, original=True).parse_args(["--original"]).original
    args = argparse.Namespace(json=True, show_code=False, original=True, size=2)
    cli.finish(args, str(tmp_path / "x.py"), {"x": 7}, lambda r, c: None, title="T")
    assert json.loads(capsys.readouterr().out)["params"] == {"size": 2}
