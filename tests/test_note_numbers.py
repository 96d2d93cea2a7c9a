"""Every number a note quotes from a run matches that run's saved results,
and every figure is in notes/figures and shown in a note.

The saved results (notes/results/*.json) are written by `make figures`;
`make notes-check` checks the same markers against fresh runs.
"""

import functools
import json
import re
from decimal import Decimal

import pytest
from conftest import ROOT

from trinity_foundations import catalogue, figures
from trinity_foundations import notes_check as nc

NOTES = ROOT / "notes"
MARKERS, PROBLEMS = nc.note_markers(NOTES)


# ----------------------------------------------------------------------------
# The parser and the matcher.


@pytest.mark.parametrize(
    "number, value, half",
    [
        ("0.875", "0.875", "0.0005"),
        ("42", "42", "0.5"),
        ("−0.25", "-0.25", "0.005"),
        ("-3", "-3", "0.5"),
        ("12,345.6", "12345.6", "0.05"),
        ("1,000", "1000", "0.5"),
        (".5", "0.5", "0.05"),
        ("1.5e-3", "0.0015", "0.00005"),
        ("2E+2", "200", "50"),
        ("1.5e−3", "0.0015", "0.00005"),
        ("1.5 × 10⁻³", "0.0015", "0.00005"),
        ("3×10⁴", "30000", "5000"),
    ],
)
def test_quoted_reads_each_form(number, value, half):
    assert nc.quoted(number) == (Decimal(value), Decimal(half))


@pytest.mark.parametrize("number", ["", "abc", "1.2.3", "0x10", "1,23"])
def test_quoted_refuses_what_is_not_a_number(number):
    with pytest.raises(ValueError):
        nc.quoted(number)


@pytest.mark.parametrize(
    "value, number, scale, expected",
    [
        (0.8746, "0.875", 1, True),
        (0.87549, "0.875", 1, True),
        (0.8744, "0.875", 1, False),
        (0.8756, "0.875", 1, False),
        (0.8755, "0.875", 1, True),  # exactly half a unit away still rounds to it
        (0.87549, "87.5", 100, True),
        (0.8746, "87.5", 100, True),
        (0.8740, "87.5", 100, False),
        (-0.2549, "−0.25", 1, True),
        (0.25, "−0.25", 1, False),
        (12345.64, "12,345.6", 1, True),
        (41.5, "42", 1, True),
        (41.4, "42", 1, False),
        (0.00154, "1.5e-3", 1, True),
        (0.0016, "1.5 × 10⁻³", 1, False),
        (float("inf"), "42", 1, False),
        (float("nan"), "42", 1, False),
    ],
)
def test_holds_within_half_a_unit_in_the_last_place(value, number, scale, expected):
    assert nc.holds(value, number, scale) is expected


def test_parse_reads_a_marker_after_its_number():
    text = "intro\nthe probe reaches 0.875<!-- run: 05_linear_probe test_accuracy -->.\n"
    (marker,), problems = nc.parse(text, "n.md")
    assert problems == []
    assert marker == nc.Marker("n.md", 2, "0.875", "05_linear_probe", "test_accuracy", 1.0)


@pytest.mark.parametrize(
    "written, number, scale",
    [
        ("87.5 %<!-- run: s a.b ×100 -->", "87.5", 100.0),
        ("87.5%  <!--run: s a.b x100-->", "87.5", 100.0),
        ("$−1,234.5$<!-- run: s a.-1 -->", "−1,234.5", 1.0),
        ("**3**<!-- run: s a -->", "3", 1.0),
        ("`2.5e-3` <!-- run: s a -->", "2.5e-3", 1.0),
        ("1.5 × 10⁻³<!-- run: s a -->", "1.5 × 10⁻³", 1.0),
    ],
)
def test_parse_reads_the_number_forms_and_closers(written, number, scale):
    (marker,), problems = nc.parse(f"x {written}", "n.md")
    assert (marker.number, marker.scale, problems) == (number, scale, [])


@pytest.mark.parametrize(
    "written, why",
    [
        ("a word<!-- run: s a -->", "no number"),
        ("1234,567<!-- run: s a -->", "no number"),  # not a thousands separator
        ("0.5<!-- run: s -->", "should be"),
        ("0.5<!-- run: s a b c -->", "should be"),
        ("0.5<!-- run: s a ÷100 -->", "scale"),
    ],
)
def test_parse_names_each_marker_it_cannot_read(written, why):
    markers, (problem,) = nc.parse(f"line one\n{written}", "n.md")
    assert markers == [] and problem.startswith("n.md:2: ") and why in problem


def test_lookup_follows_keys_and_list_indices():
    results = {"a": [1, {"b": 2.5}], "c": "Infinity", "d": True, "e": [1, 2]}
    assert nc.lookup(results, "a.-1.b") == 2.5
    assert nc.lookup(results, "a.0") == 1.0
    assert nc.lookup(results, "c") == float("inf")
    for path, why in [("x", "not in the results"), ("a.5", "no item"), ("d", "not a number")]:
        with pytest.raises(LookupError, match=why):
            nc.lookup(results, path)
    with pytest.raises(LookupError, match="not a number"):
        nc.lookup(results, "e")


def test_check_says_what_the_run_gives():
    marker = nc.Marker("n.md", 3, "0.9", "s", "acc", 1.0)
    assert nc.check(marker, {"acc": 0.91}) is None
    assert nc.check(marker, {"acc": 0.96}) == "n.md:3: quotes 0.9, the run gives 0.96 (acc)"
    assert "not in the results" in nc.check(marker, {})
    percent = marker._replace(number="90", scale=100.0)
    assert nc.check(percent, {"acc": 0.96}).endswith("gives 96 (0.96 ×100) (acc)")


def test_notes_check_against_saved_results(tmp_path, capsys):
    notes, saved = tmp_path / "notes", tmp_path / "results"
    notes.mkdir()
    (notes / "chapter_1.md").write_text(
        "w 0.5<!-- run: 06_self_attention lr ×5 --> and 3<!-- run: 06_self_attention d_k -->\n"
    )
    nc.save_results({"lesson": "06_self_attention", "results": {"lr": 0.1, "d_k": 4}}, saved)
    assert nc.main(["--notes", str(notes), "--saved", str(saved)]) == 1
    out = capsys.readouterr().out
    assert "06_self_attention: 1 of 2 quoted numbers do not hold" in out
    assert "chapter_1.md:1: quotes 3, the run gives 4 (d_k)" in out


def test_notes_check_refuses_a_missing_notes_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        nc.main(["--notes", str(tmp_path / "none")])
    assert stop.value.code == 2
    assert "no such folder" in capsys.readouterr().err.splitlines()[-1]


def test_saved_results_are_sorted_pretty_and_whole(tmp_path):
    envelope = {"lesson": "x", "results": {"b": [1, 2], "a": "NaN"}}
    path = nc.save_results(envelope, tmp_path)
    text = path.read_text()
    assert json.loads(text) == envelope and text.index('"a"') < text.index('"b"')
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left
    assert path.stat().st_mode & 0o777 == 0o644


# ----------------------------------------------------------------------------
# The notes as they are.


def test_every_marker_in_the_notes_parses_and_names_a_lesson():
    assert not PROBLEMS, "\n".join(PROBLEMS)
    assert all(m.stem in catalogue.STEMS for m in MARKERS)


@functools.cache
def saved_results(stem: str) -> dict:
    path = nc.RESULTS / f"{stem}.json"
    assert path.is_file(), f"no {path.relative_to(ROOT)}: run make figures"
    return nc.load_results(stem)["results"]


@pytest.mark.parametrize("marker", MARKERS, ids=lambda m: f"{m.note}:{m.line}")
def test_quoted_number_holds_for_the_saved_run(marker):
    assert nc.check(marker, saved_results(marker.stem)) is None


def test_every_figure_is_drawn_and_shown_in_a_note_with_alt_text():
    shown = {}
    for note in sorted(NOTES.glob("*.md")):
        for alt, name in re.findall(r"!\[([^\]]*)\]\(figures/([^)\s]+)\)", note.read_text()):
            if alt.strip():
                shown.setdefault(name, note.name)
    for drawing in figures.FIGURES:
        assert (figures.FOLDER / drawing.name).is_file(), f"{drawing.name}: run make figures"
    missing = [d.name for d in figures.FIGURES if d.name not in shown]
    assert not missing, f"no note shows (with alt text): {', '.join(missing)}"
