import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trinity_foundations import display


@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(1, 60))
def test_bar_has_fixed_width_whatever_the_value(value, width):
    b = display.bar(value, lo=1.0, hi=4.0, width=width)
    assert len(b) == width and set(b) <= {display.FULL, display.EMPTY}


def test_bar_ends():
    assert display.bar(4.0, lo=1, hi=4, width=30) == display.FULL * 30
    assert display.bar(1.0, lo=1, hi=4, width=30) == display.EMPTY * 30
    assert display.bar(2.5, lo=1, hi=4, width=30).count(display.FULL) == 15


def test_dispersion_bar_covers_two_std_and_marks_mean():
    b = display.dispersion_bar(0.0, 0.25)
    assert len(b) == 41
    assert b[20] == display.MARK
    # mean ± 2 std = [-0.5, 0.5] covers columns 10..30
    assert b[10] == display.FULL and b[30] == display.FULL
    assert b[9] == display.EMPTY and b[31] == display.EMPTY


def test_dispersion_bar_uniform_fills_everything():
    b = display.dispersion_bar(0.0, 0.6)
    assert display.EMPTY not in b


def test_line_chart_shape_and_extremes():
    chart = display.line_chart({"loss": np.linspace(1.0, 0.0, 100)}, height=12, width=50)
    lines = chart.splitlines()
    plot = [row for row in lines if "┤" in row]
    assert len(plot) == 12
    assert all(len(row.split("┤")[1]) == 50 for row in plot)
    assert plot[0].split("┤")[1][0] == "●"  # first point is the maximum, top-left
    assert plot[-1].split("┤")[1][-1] == "●"  # last point is the minimum, bottom-right


def test_line_chart_log_scale_two_series():
    chart = display.line_chart({"a": [100.0, 10.0, 1.0], "b": [1.0, 1.0, 1.0]}, log_y=True)
    assert "(log scale)" in chart and "● a" in chart and "○ b" in chart
    assert "100" in chart


def test_line_chart_log_scale_leaves_out_zeros_and_negatives():
    chart = display.line_chart({"a": [100.0, 1.0, 0.0, -5.0]}, log_y=True, height=5, width=4)
    rows = chart.splitlines()[1:6]
    assert rows[0].startswith("100 ┤") and rows[-1].startswith("  1 ┤")  # axis 1 … 100
    assert sum(row.count("●") for row in rows) == 2  # 0 and -5 are not drawn


def test_matrix_table_renders_labels():
    from rich.console import Console

    c = Console(width=100, record=True)
    c.print(display.matrix_table("W", [[1, 2], [3, 4]], rows=["r0", "r1"], cols=["c0", "c1"]))
    text = c.export_text()
    assert "r1" in text and "c0" in text and "4.0000" in text


@pytest.mark.parametrize(
    "values, fmt, text",
    [
        ([1.0, 0.5], "{:g}", "[1, 0.5]"),
        ([0.123456, -2.0], "{:.2f}", "[0.12, -2.00]"),
        ([float("inf"), float("nan")], "{:g}", "\\[inf, nan]"),  # '[inf' would be rich markup
    ],
)
def test_vector_formats_and_escapes(values, fmt, text):
    assert display.vector(values, fmt) == text


def test_vector_prints_literally():
    console = display.console()
    with console.capture() as out:
        console.print(display.vector([float("inf"), 1.0]))
    assert out.get().strip() == "[inf, 1]"


@pytest.mark.parametrize(
    "ms, than, text",
    [
        (1.0, 4.6, "4.6× faster than NumPy"),
        (1.0, 250.0, "250× faster than NumPy"),
        (1.2, 1.0, "1.2× slower than NumPy"),
        (2.0, 2.0, "about as fast as NumPy"),
        (1.0, 1.04, "about as fast as NumPy"),
        (1.06, 1.0, "1.1× slower than NumPy"),
    ],
)
def test_how_much(ms, than, text):
    assert display.how_much(ms, than, "NumPy") == text


def test_span_collapses_equal_ends():
    assert display.span([0.981, 1.012], 3) == "0.981 to 1.012"
    assert display.span([2.04, 2.01]) == "2.0"


def test_count_agrees_the_noun():
    assert [display.count(n, "step") for n in (0, 1, 2, 1000)] == [
        "0 steps",
        "1 step",
        "2 steps",
        "1,000 steps",
    ]


@pytest.mark.parametrize(
    ("p", "digits", "signed", "text"),
    [
        (0.416, 1, False, "41.6%"),
        (0.0, 2, False, "0.00%"),
        (1.0, 2, False, "100.00%"),
        (1e-5, 2, False, "0.001%"),
        (3.1e-16, 1, False, "3.1e-14%"),
        (1 - 3e-7, 2, False, "99.99997%"),
        (0.123, 1, True, "+12.3%"),
        (-0.123, 1, True, "-12.3%"),
        (-2e-6, 1, True, "-0.0002%"),
        (-1.0, 1, True, "-100.0%"),
    ],
)
def test_share_cases(p, digits, signed, text):
    assert display.share(p, digits, signed=signed) == text


@given(st.floats(0, 1, exclude_min=True, exclude_max=True), st.integers(0, 6))
def test_share_never_reads_0_or_100_for_a_share_that_is_neither(p, digits):
    shown = float(display.share(p, digits).rstrip("%"))
    assert 0 < shown < 100


def _table():
    from rich.table import Table

    table = Table(title="weights")
    table.add_column("")
    for j in range(4):
        table.add_column(f"d{j}", justify="right", no_wrap=True)
    table.add_row("The", *["-0.0123"] * 4)
    return table


@pytest.mark.parametrize("width", [30, 40, 200])
def test_fit_never_cuts_a_number(width):
    from rich.console import Console

    out = Console(width=width, record=True)
    out.print(display.fit(_table(), out))
    text = out.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    if width >= 40:  # room for every number on one line, once the borders go
        assert text.count("-0.0123") == 4


def test_console_treats_zero_columns_as_unset(monkeypatch):
    monkeypatch.setenv("COLUMNS", "0")
    assert display.console().width == 80


def test_chart_width_follows_the_console():
    from rich.console import Console

    assert display.chart_width(Console(width=40), 12) == 28
    assert display.chart_width(Console(width=300), 12) == 50
    assert display.chart_width(Console(width=15), 12) == 10


def test_an_ascii_terminal_gets_stand_ins_not_an_error():
    # LANG=C without UTF-8 mode: lessons 05 and 12 ended in UnicodeEncodeError
    import io

    from rich.table import Table

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    display.ascii_fallback(stream)
    out = display.LessonConsole(file=stream, width=60, color_system=None)
    table = Table("σ", "L_aux")
    table.add_row("Σ f·P ≥ 1 — ✓", display.bar(0.5, width=4))
    out.print(table)
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "sigma" in text and "Sigma f.P >= 1 -- v" in text and "##.." in text
    assert display.ascii_stand_in("é") == "e" and display.ascii_stand_in("∂") == "d"
    assert display.ascii_stand_in("\u2603") == "?"  # a snowman has no stand-in
