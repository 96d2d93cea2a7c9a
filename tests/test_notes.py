"""The chapter notes point only at scripts that exist, and the README links each."""

import ast
import re

import pytest
from conftest import ROOT

from trinity_foundations import catalogue

NOTES = sorted((ROOT / "notes").glob("chapter_*.md"), key=lambda p: int(p.stem.split("_")[1]))


def lessons_of(note) -> list[catalogue.Entry]:
    return [e for e in catalogue.LESSONS if e.chapter == note.stem.split("_")[1]]


def scripts_in(note) -> int:
    return len(lessons_of(note))


def test_there_is_a_note_per_chapter():
    assert [p.name for p in NOTES] == [f"chapter_{c}.md" for c in catalogue.CHAPTERS]


@pytest.mark.parametrize("note", NOTES, ids=lambda p: p.name)
def test_a_note_is_headed_by_its_chapter_and_lists_its_lessons_by_their_titles(note):
    chapter = note.stem.split("_")[1]
    text = note.read_text()
    assert text.startswith(f"# Chapter {chapter} — {catalogue.CHAPTERS[chapter]}\n")
    for e in lessons_of(note):
        doc = ast.get_docstring(ast.parse((ROOT / "lessons" / f"{e.stem}.py").read_text()))
        title = doc.splitlines()[0].rstrip(".")  # the title line, as the lesson prints it
        assert f"- [{title}](../lessons/{e.stem}.py)" in text, title


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
