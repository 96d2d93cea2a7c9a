"""Finding a lesson by what a learner types, remembering what they finished, the map."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trinity_foundations import catalogue, progress
from trinity_foundations.__main__ import course_map


@pytest.mark.parametrize(
    "name",
    ["06", "6", "06_self_attention", "06_self_attention.py", "lessons/06_self_attention.py"],
)
def test_a_number_prefix_or_a_file_name_finds_the_lesson(name):
    assert catalogue.find(name) == "06_self_attention"


@pytest.mark.parametrize("name", ["04a", "4a", "quasi", "04a_quasi_orthogonality"])
def test_a_lettered_number_or_a_word_finds_the_lesson(name):
    assert catalogue.find(name) == "04a_quasi_orthogonality"


def test_the_number_04_is_the_dot_product_not_its_lettered_neighbours():
    assert catalogue.find("04") == catalogue.find("4") == "04_dot_product"
    assert catalogue.short("04b_hoeffding_bound") == "04b"


def test_unknown_names_list_the_course():
    with pytest.raises(LookupError, match="names no lesson.*01_list_math"):
        catalogue.find("99")


def test_a_prefix_of_two_lessons_is_refused(monkeypatch):
    monkeypatch.setattr(catalogue, "STEMS", ("quasi_a", "quasi_b"))
    with pytest.raises(LookupError, match="more than one"):
        catalogue.find("quasi")


@pytest.fixture
def record(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "progress.json"
    monkeypatch.setenv("TRINITY_PROGRESS", str(path))
    return path


def test_progress_starts_at_the_first_lesson_and_moves_on(record):
    assert progress.completed() == set() and progress.first_not_done() == catalogue.STEMS[0]
    progress.mark_done(catalogue.STEMS[0])
    progress.mark_done("not_a_lesson")
    assert progress.completed() == {catalogue.STEMS[0]}
    assert progress.first_not_done() == catalogue.STEMS[1]
    assert json.loads(record.read_text()) == {"done": [catalogue.STEMS[0]]}
    assert [p.name for p in record.parent.iterdir()] == ["progress.json"]  # no temporary left


def test_a_damaged_record_counts_as_empty(record):
    record.parent.mkdir(parents=True)
    for text in ("", "[1, 2]", '{"done": [3, "01_list_math", "nope"]}', "{"):
        record.write_text(text)
        assert progress.completed() <= {"01_list_math"}
    record.write_text('{"done": "01_list_math"}')
    assert progress.completed() == set()  # a string is not a list of lessons


def test_an_unwritable_record_is_skipped_quietly(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TRINITY_PROGRESS", str(blocker / "progress.json"))  # under a file
    progress.mark_done(catalogue.STEMS[0])
    assert progress.completed() == set()


def test_the_map_ticks_finished_lessons_and_names_the_next():
    done = set(catalogue.STEMS[:2])
    lines = course_map(done)
    assert (
        lines[0].startswith(f"The course: {len(catalogue.STEMS)} lessons") and "2 done" in lines[0]
    )
    ticked = [line.split()[1] for line in lines if line.startswith("  ✓")]
    assert ticked == list(catalogue.STEMS[:2])
    assert any(catalogue.STEMS[2] in line and "<- next" in line for line in lines)
    assert lines[-1] == f"Next: make run   (it runs {catalogue.STEMS[2]})"
    chapters = [line for line in lines if line.startswith("Chapter ")]
    assert len(chapters) == len(catalogue.CHAPTERS)


def test_make_run_resolves_what_the_learner_typed(record):
    find = [sys.executable, "-m", "trinity_foundations.catalogue", "--find"]
    out = subprocess.run([*find, "08"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "08_lora_and_svd"
    out = subprocess.run([*find, ""], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == catalogue.STEMS[0]  # nothing finished yet
    bad = subprocess.run([*find, "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "names no lesson" in bad.stderr and not bad.stdout


def test_the_map_says_how_long_each_lesson_runs_and_what_a_chapter_needs():
    lines = course_map(set())
    for e in catalogue.LESSONS:
        row = next(line for line in lines if line.split()[:1] == [e.stem])
        assert row.split()[1:3] == [f"~{e.seconds}", "s"]
    assert "  builds on chapters 2 and 8" in lines  # chapter 9's line
    assert all(len(line) <= 80 for line in lines)
    # a chapter builds only on earlier ones, so the course can be read in order
    assert all(int(n) < int(c) for c, needs in catalogue.NEEDS.items() for n in needs)
    assert set(catalogue.NEEDS) == set(catalogue.CHAPTERS)


def test_the_map_ends_quietly_when_the_reader_closes_the_pipe():
    shell = f"{sys.executable} -m trinity_foundations | head -1; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True)
    assert done.stdout.startswith("The course:") and done.stderr == ""
    assert done.returncode in (0, 141)  # 0 when the whole map fit in the pipe first
