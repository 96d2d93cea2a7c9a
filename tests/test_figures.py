"""The notes' figures: each one draws from its lesson's envelope, and the command's flags.

The envelopes are the saved notes/results/*.json (no lesson runs here); the
figures are drawn at a tiny dpi, so the whole file takes a few seconds.
"""

import json

import numpy as np
import pytest
from conftest import ROOT

from trinity_foundations import figures
from trinity_foundations import notes_check as nc

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(figures, "DPI", 30)


def saved(stem: str) -> dict:
    path = nc.RESULTS / f"{stem}.json"
    if not path.is_file():
        pytest.skip(f"no {path.relative_to(ROOT)}: run make figures")
    return json.loads(path.read_text())


@pytest.mark.parametrize("drawing", figures.FIGURES, ids=lambda d: d.name)
def test_every_figure_draws_from_its_lesson_results(drawing, tmp_path, tiny):
    path = figures.render(drawing, saved(drawing.stem), tmp_path)
    data = path.read_bytes()
    assert path.name == drawing.name and data.startswith(PNG) and len(data) > 1000


def test_the_same_results_give_the_same_bytes(tmp_path):
    drawing = figures.select("06_self_attention")[0]
    one = figures.render(drawing, saved(drawing.stem), tmp_path / "a").read_bytes()
    two = figures.render(drawing, saved(drawing.stem), tmp_path / "b").read_bytes()
    assert one == two and b"Software" not in one


def test_a_figure_draws_from_a_synthetic_envelope(tmp_path, tiny):
    envelope = {"results": {"tokens": ["a", "b"], "weights": [[0.9, 0.1], [0.5, 0.5]]}}
    drawing = figures.select("06_attention_weights.png")[0]
    assert figures.render(drawing, envelope, tmp_path).read_bytes().startswith(PNG)


def test_from_results_redraws_without_running(tmp_path, tiny, monkeypatch, capsys):
    stem = "06_self_attention"
    nc.save_results(saved(stem), tmp_path / "results")
    monkeypatch.setattr(nc, "run_lesson", lambda s: pytest.fail(f"ran {s}"))
    args = ["--only", stem, "--from-results", "--results", str(tmp_path / "results")]
    assert figures.main([*args, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "06_attention_weights.png").read_bytes().startswith(PNG)
    assert capsys.readouterr().err == ""


def test_a_run_saves_the_envelope_then_draws(tmp_path, tiny, monkeypatch, capsys):
    envelope = saved("06_self_attention")
    monkeypatch.setattr(nc, "run_lesson", lambda stem: envelope)
    args = ["--only", "06_attention_weights", "--results", str(tmp_path / "r")]
    assert figures.main([*args, "--out", str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "r" / "06_self_attention.json").read_text()) == envelope
    assert capsys.readouterr().err.startswith(
        "running 06_self_attention (~3 s on a 2-core CPU)... "
    )
    assert (tmp_path / "out" / "06_attention_weights.png").is_file()


@pytest.mark.parametrize(
    "args, says",
    [
        ("--only nonsense", "--only nonsense: no such figure or lesson"),
        ("--only 06_self_attention --from-results --results {tmp}", "--from-results: no "),
        ("--from-results --results", "expected one argument"),
    ],
)
def test_bad_input_ends_in_one_line_and_exit_2(args, says, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        figures.main(args.format(tmp=tmp_path).split())
    assert stop.value.code == 2
    assert says in capsys.readouterr().err.splitlines()[-1]


def test_a_failed_lesson_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    def fails(stem):
        raise RuntimeError(f"{stem} failed (exit 2): error: bad")

    monkeypatch.setattr(nc, "run_lesson", fails)
    assert figures.main(["--only", "06_self_attention", "--results", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "running 06_self_attention (~3 s on a 2-core CPU)...",
        "error: 06_self_attention failed (exit 2): error: bad",
    ]


def test_select_reads_a_file_name_a_bare_name_or_a_stem():
    by_name = figures.select("12_expert_loads.png")
    assert by_name == figures.select("12_expert_loads") == figures.select("12_moe_gating")
    assert [d.stem for d in by_name] == ["12_moe_gating"]
    assert figures.select("12") == by_name
    assert figures.select(None) == figures.FIGURES
    for name in ("13", "nonsense"):  # lesson 13 has no figure
        with pytest.raises(LookupError):
            figures.select(name)


def test_registry_names_are_unique_and_lessons_exist():
    names = [d.name for d in figures.FIGURES]
    assert len(set(names)) == len(names)
    assert all((ROOT / "lessons" / f"{d.stem}.py").is_file() for d in figures.FIGURES)


@pytest.mark.parametrize(
    "values, expected",
    [
        ([3.0, 2.5], "lr 0.01"),
        ([9.0, 2.5], "lr 0.01 (off the top)"),
        ([3.0, np.nan], "lr 0.01 (not finite)"),
        ([3.0, np.inf], "lr 0.01 (not finite)"),
    ],
)
def test_curve_label_says_when_a_curve_leaves_the_plot(values, expected):
    assert figures.curve_label(0.01, values, top=5.0) == expected


def test_above_roof_names_only_the_kernels_past_the_slack():
    points = [
        {"name": "a", "share_of_roof": 0.5},
        {"name": "b", "share_of_roof": 1.04},
        {"name": "c", "share_of_roof": 3.0},
    ]
    assert figures.above_roof(points) == ["c"]


@pytest.mark.parametrize(
    "share, text", [(0.907, "91%"), (0.086, "8.6%"), (1.4e-5, "0.0014%"), (0.9996, "100%")]
)
def test_percent_keeps_two_significant_digits(share, text):
    assert figures._percent(share) == text
