"""The lessons form one chain: each report ends by naming the next written lesson.

Checked here once for every lesson, from the catalogue and `cli.finish`, instead
of as a fragment of each lesson's rendered report.
"""

from __future__ import annotations

import argparse

from conftest import LESSONS

from trinity_foundations import catalogue, cli

WRITTEN = [s for s in catalogue.STEMS if (LESSONS / f"{s}.py").exists()]


def test_each_lesson_names_the_next_written_one_and_the_last_none():
    following = [cli.next_lesson(str(LESSONS / f"{stem}.py")) for stem in WRITTEN]
    assert following == [*WRITTEN[1:], None]


def test_finish_ends_the_report_with_the_next_lesson(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    args = argparse.Namespace(json=False, show_code=False)
    for stem, following in zip(WRITTEN, [*WRITTEN[1:], None]):
        capsys.readouterr()
        cli.finish(args, str(LESSONS / f"{stem}.py"), {}, lambda r, c: None, title="T")
        last = capsys.readouterr().out.rstrip().splitlines()[-1]
        if following:
            assert last == f"Next: make run LESSON={catalogue.short(following)}"
        else:
            assert last.startswith("This was the last lesson.")
