"""The lesson notes point only at scripts that exist, and the README links each."""

import re

import pytest
from conftest import ROOT

from trinity_foundations import catalogue

NOTES = sorted((ROOT / "notes").glob("lesson_*.md"))
GROUPS = sorted({int(e.group.split(".")[0]) for e in catalogue.LESSONS})


def scripts_in(note) -> int:
    group = note.stem.split("_")[1]
    return sum(e.group.split(".")[0] == group for e in catalogue.LESSONS)


def test_there_is_a_note_per_lesson_group():
    assert [p.name for p in NOTES] == [f"lesson_{i}.md" for i in GROUPS]


@pytest.mark.parametrize("note", NOTES, ids=lambda p: p.name)
def test_every_script_named_in_a_note_exists(note):
    text = note.read_text()
    paths = set(re.findall(r"(?:lessons|benchmarks)/[\w.]+\.py", text))
    assert paths, f"{note.name} names no script"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, missing


@pytest.mark.parametrize("note", NOTES, ids=lambda p: p.name)
def test_note_length_is_in_range(note):
    # words of prose: maths, code and the hidden <!-- run: ... --> markers left out
    prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|```.*?```|<!--.*?-->", " ", note.read_text(), flags=re.S)
    words = len(re.findall(r"[A-Za-z][A-Za-z'’-]*", prose))
    most = 1500 + 700 * scripts_in(note)  # teaching, a worked example, questions, appendix
    assert 600 <= words <= most, words


def test_readme_links_every_note():
    readme = (ROOT / "README.md").read_text()
    for note in NOTES:
        assert f"(notes/{note.name})" in readme, note.name
