"""The README's lesson catalogue tells the truth about what exists."""

import re

from conftest import LESSONS, ROOT

from trinity_foundations import catalogue as lessons


def catalogue() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)\.py` \|.*\| (\w+) \|$", text, flags=re.M)
    return dict(rows)


def test_every_lesson_file_is_listed_as_available():
    listed = catalogue()
    for path in LESSONS.glob("*.py"):
        assert listed.get(path.stem) == "available", path.name


def test_nothing_missing_is_listed_as_available():
    for name, status in catalogue().items():
        assert (status == "available") == (LESSONS / f"{name}.py").exists(), name


def test_readme_lists_the_package_catalogue_in_its_order():
    assert list(catalogue()) == list(lessons.STEMS)


def test_every_lesson_file_is_in_the_package_catalogue():
    assert {p.stem for p in LESSONS.glob("*.py")} <= set(lessons.STEMS)


def test_readme_gives_each_lesson_its_chapter_and_time():
    text = (ROOT / "README.md").read_text()
    for e in lessons.LESSONS:
        row = f"| `{e.stem}.py` | {e.chapter} | {lessons.duration(e)} | "
        assert row in text, row


def test_makefile_reads_the_order_from_the_package_catalogue():
    makefile = (ROOT / "Makefile").read_text()
    assert "-m trinity_foundations.catalogue" in makefile
    assert "LESSONS :=" not in makefile
