"""Terminal output: the rich console, tables of numbers, and text charts.

Every chart here is a pure function from numbers to a string, so tests can
check it and lessons can put it in a table cell or print it as it is.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import math
import sys
import unicodedata
from collections.abc import Sequence

import numpy as np
from rich import box
from rich.columns import Columns
from rich.console import Console, Group
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

FULL, EMPTY, MARK = "█", "·", "┃"


class LessonConsole(Console):
    """rich's Console, with two changes for lessons.

    A table too wide for the terminal is printed stacked, one "header: value"
    line per cell, instead of being cut with "…" (rich's way to fit it): a
    learner on a narrow terminal loses no digit. And a reader closing the
    pipe (`| head`) raises BrokenPipeError for `cli.entry` to end the run
    quietly with exit 141: rich's own handler exits 1 at once, before the
    script can say anything.
    """

    def print(self, *objects, **kwargs) -> None:
        super().print(*(self.fitted(o) for o in objects), **kwargs)

    def rule(self, title="", **kwargs) -> None:
        """rich's rule, with a title too long for it printed in full below a plain rule
        (rich would cut it with "…")."""
        plain = Text.from_markup(title) if isinstance(title, str) else title
        if plain.cell_len + 6 <= self.width:
            super().rule(title, **kwargs)
            return
        super().rule(**kwargs)
        self.print(title)

    def fitted(self, renderable):
        """A table too wide stacked, also inside Columns (laid side by side when they fit)."""
        if isinstance(renderable, Table) and too_wide(renderable, self):
            return stacked(renderable)
        if isinstance(renderable, Columns):
            renderable.renderables = [self.fitted(r) for r in renderable.renderables]
        return renderable

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(32, "Broken pipe")


def too_wide(table: Table, console: Console) -> bool:
    """Whether rich would cut a cell ('1.02…') to fit `table` in the console's width:
    the table is drawn once, off screen, and its ellipses counted against its cells'."""
    trial = Console(width=console.width, file=io.StringIO(), color_system=None)
    trial.print(table)
    cells = [str(table.title or ""), *(str(c.header) for c in table.columns)]
    cells += [str(cell) for column in table.columns for cell in column.cells]
    return trial.file.getvalue().count("…") > sum(cell.count("…") for cell in cells)


def stacked(table: Table) -> Group:
    """A table as lines: its title, then each row as "header: cell" lines, rows apart."""

    def text(cell) -> Text:
        return Text.from_markup(cell) if isinstance(cell, str) else cell

    lines = [text(str(table.title)).copy()] if table.title else []
    if lines:
        lines[0].stylize("italic")
    columns = [(text(str(c.header)), list(c.cells)) for c in table.columns]
    for r in range(table.row_count):
        for header, cells in columns:
            lines.append(Text.assemble(header, ": ", text(cells[r])) if header else text(cells[r]))
        lines.append(Text(""))
    return Group(*lines)


def console() -> Console:
    """The console lessons print to; a COLUMNS of 0 (or less) counts as unset,
    since rich would take it literally and print nothing."""
    out = LessonConsole(highlight=False)
    if out.width <= 0:
        out = LessonConsole(highlight=False, width=80)
    return out


@contextlib.contextmanager
def steps_progress(total: int, label: str, *, enabled: bool = True):
    """A transient progress bar on stderr, only when stderr is a terminal and `enabled`
    (not under --json); yields `advance(steps_done, *ignored)` for a training loop's
    on_chunk callback. Elsewhere it draws nothing and the callback does nothing."""
    err = LessonConsole(stderr=True)
    if not (enabled and err.is_terminal):
        yield lambda done, *_: None
        return
    bar = Progress(
        TextColumn(escape(label)),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task(label, total=total)
    with bar:
        yield lambda done, *_: bar.update(task, completed=done)


# ----------------------------------------------------------------------------
# Terminals without Unicode (LANG=C): ASCII stand-ins instead of an error.

ASCII = {
    "—": "--", "–": "-", "−": "-", "…": "...", "·": ".", "×": "x", "÷": "/",
    "≈": "~", "≥": ">=", "≤": "<=", "≠": "!=", "→": "->", "←": "<-", "↑": "^",
    "↓": "v", "±": "+/-", "√": "sqrt", "∞": "inf", "‖": "||", "∑": "sum",
    "²": "^2", "³": "^3", "ᵀ": "^T", "⁻": "^-", "¹": "^1", "⊙": "*", "∈": " in ",
    "∂": "d", "∇": "grad", "✓": "v", "✗": "x", "█": "#", "░": ".",
    "┃": "|", "┤": "|", "├": "|", "│": "|",
    "└": "+", "┌": "+", "─": "-", "━": "-", "●": "*", "○": "o", "◆": "+", "◇": "x",
    "↵": "<nl>", "▲": "^", "△": "^", "■": "#", "□": "o", "’": "'", "‘": "'", "“": '"', "”": '"',
}  # fmt: skip
FALLBACK = "trinity-ascii"  # the codec error handler's name


def ascii_stand_in(char: str) -> str:
    """An ASCII stand-in for one character: from ASCII, a Greek letter's name
    ('σ' -> 'sigma'), the letter without its accent ('é' -> 'e'), or '?'."""
    if char in ASCII:
        return ASCII[char]
    name = unicodedata.name(char, "")
    if name.startswith("GREEK SMALL LETTER "):
        return name.split()[-1].lower()
    if name.startswith("GREEK CAPITAL LETTER "):
        return name.split()[-1].title()
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return plain or "?"


def _fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(ascii_stand_in(c) for c in bad), error.end


codecs.register_error(FALLBACK, _fallback)


def ascii_fallback(*streams) -> None:
    """Make each stream (stdout and stderr by default) write stand-ins for the
    characters its encoding lacks, instead of raising UnicodeEncodeError."""
    for stream in streams or (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "—·█".encode(encoding)
        except UnicodeEncodeError:
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors=FALLBACK)
        except LookupError:
            pass


def vector(values: Sequence[float], fmt: str = "{:g}") -> str:
    """'[1, 0.5, inf]': the values formatted with `fmt`, escaped so that rich
    does not read a bracket followed by a letter ('[inf') as markup."""
    return escape("[" + ", ".join(fmt.format(x) for x in values) + "]")


def count(n: int, noun: str) -> str:
    """'1 step', '2 steps', '1,000 steps': a number and its noun, agreed."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def share(p: float, digits: int = 1, *, signed: bool = False) -> str:
    """'41.6%': a fraction `p` as a percentage that never rounds to 0 % or 100 %.

    `digits` decimals as a rule; a share that is not 0 but would print as 0
    gets two significant digits instead ('0.0012%', '3.1e-14%'), and one that
    is not 1 but would print as 100 gets as many decimals as it takes
    ('99.99997%'). `signed` writes '+' before a positive value (a change).
    """
    pct = 100 * p
    fmt = "+" if signed else ""
    if not math.isfinite(pct) or p == 0 or abs(p) == 1:
        return f"{pct:{fmt}.{digits}f}%"
    text = f"{pct:{fmt}.{digits}f}"
    if float(text) == 0:
        return f"{pct:{fmt}.2g}%"
    while abs(float(text)) == 100 and digits < 17:
        digits += 1
        text = f"{pct:{fmt}.{digits}f}"
    return f"{text}%"


def how_much(ms: float, than_ms: float, than: str) -> str:
    """'4.6× faster than {than}', '12× slower than {than}', or 'about as fast
    as {than}' when the ratio prints as 1.0: a time `ms` against `than_ms`."""
    ratio, word = (than_ms / ms, "faster") if ms <= than_ms else (ms / than_ms, "slower")
    shown = f"{ratio:.{0 if ratio >= 10 else 1}f}"
    return f"about as fast as {than}" if shown == "1.0" else f"{shown}× {word} than {than}"


def span(values: Sequence[float], digits: int = 1) -> str:
    """'a to b' over the values, or just 'a' when both print the same."""
    lo, hi = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return lo if lo == hi else f"{lo} to {hi}"


def shown(text: str, limit: int) -> str:
    """`text`, cut at `limit` characters with a note of how many more there are."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … {len(text) - limit:,} more characters"


def duration(ms: float) -> str:
    """'4.45 s', or '3.21 ms' below a tenth of a second (rather than '0.00 s')."""
    return f"{ms / 1e3:.2f} s" if ms >= 100 else f"{ms:.3g} ms"  # .3g: 99.96 -> '100'


def _fraction(value: float, lo: float, hi: float) -> float:
    """Position of value in [lo, hi] as a fraction, clamped to [0, 1]."""
    if not math.isfinite(value) or hi <= lo:
        return 0.0
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


def bar(value: float, *, lo: float = 0.0, hi: float = 1.0, width: int = 30) -> str:
    """A horizontal bar of `width` characters filled in proportion to value.

    Values outside [lo, hi] are clamped, so a bar can never overflow its cell.
    """
    filled = round(_fraction(value, lo, hi) * width)
    return FULL * filled + EMPTY * (width - filled)


def dispersion_bar(
    mean: float, std: float, *, lo: float = -1.0, hi: float = 1.0, width: int = 41
) -> str:
    """A strip over [lo, hi] filled across mean ± 2·std, with a mark at the mean."""

    def column(x: float) -> int:
        return round(_fraction(x, lo, hi) * (width - 1))

    left, right, centre = column(mean - 2 * std), column(mean + 2 * std), column(mean)
    cells = [FULL if left <= i <= right else EMPTY for i in range(width)]
    cells[centre] = MARK
    return "".join(cells)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str = "",
    width: int = 40,
    lo: float = 0.0,
    hi: float | None = None,
    fmt: str = "{:.4f}",
) -> Table:
    """One row per value: label, a bar scaled to [lo, hi] (hi = largest value), number."""
    hi = max(values) if hi is None else hi
    table = Table(title=title or None, show_header=False, box=None, pad_edge=False)
    for label, value in zip(labels, values):
        table.add_row(str(label), bar(value, lo=lo, hi=hi, width=width), fmt.format(value))
    return table


def matrix_table(
    title: str,
    matrix,
    *,
    rows: Sequence[str] | None = None,
    cols: Sequence[str] | None = None,
    fmt: str = "{:.4f}",
) -> Table:
    """A 2-D array as a table, rows and columns named (by index if not given)."""
    m = np.atleast_2d(np.asarray(matrix))
    rows = rows or [str(i) for i in range(m.shape[0])]
    cols = cols or [str(j) for j in range(m.shape[1])]
    table = Table(title=title)
    table.add_column("")
    for c in cols:
        table.add_column(c, justify="right")
    for name, row in zip(rows, m):
        table.add_row(name, *(fmt.format(v) for v in row))
    return table


def fit(table: Table, console: Console) -> Table:
    """The table, made to show every digit at the console's width.

    rich shrinks a table that is too wide by cutting its cells ('1.02…');
    here the cells fold onto more lines instead, and a table still too wide
    loses its outer edge and keeps one space of padding.
    """
    for column in table.columns:
        column.overflow, column.no_wrap = "fold", False
    unbounded = console.options.update(max_width=10**6)
    if Measurement.get(console, unbounded, table).maximum > console.width:
        table.box, table.show_edge, table.pad_edge = box.SIMPLE_HEAD, False, False
        table.padding, table.collapse_padding = (0, 1), True
    return table


def chart_width(console: Console, room: int, *, most: int = 50, least: int = 10) -> int:
    """Columns a chart may take: the console's width less `room` for its labels."""
    return max(least, min(most, console.width - room))


def line_chart(
    series: dict[str, Sequence[float]],
    *,
    height: int = 12,
    width: int = 50,
    log_y: bool = False,
    x_label: str = "step",
    y_label: str = "",
    x_first: int = 1,
) -> str:
    """Plot one or more series as text: `height` rows by `width` columns.

    Each series is sampled at `width` evenly spaced points of its own length
    and drawn with its own marker; the y axis is shared (log10 when `log_y`:
    zeros and negative values have no place on it and are left out, as NaN
    and infinities always are). The x axis counts points from `x_first` (1:
    step 1 is the first; 0: a curve that starts before any block or merge).
    Returns the chart with axes and a legend.
    """
    markers = "●○◆◇▲△"

    def transform(v):
        v = np.asarray(v, dtype=float)
        if not log_y:
            return v
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, np.log10(v), np.nan)

    ys = {name: transform(v) for name, v in series.items()}
    finite = np.concatenate([y[np.isfinite(y)] for y in ys.values()])
    top, bottom = float(finite.max()), float(finite.min())
    if top == bottom:
        top, bottom = top + 0.5, bottom - 0.5
    grid = [[" "] * width for _ in range(height)]
    for marker, y in zip(markers, ys.values()):
        idx = np.round(np.linspace(0, len(y) - 1, width)).astype(int)
        for col, value in enumerate(y[idx]):
            if np.isfinite(value):
                row = round((top - value) / (top - bottom) * (height - 1))
                grid[row][col] = marker

    def label(v: float) -> str:
        return f"{10**v:.3g}" if log_y else f"{v:.3g}"

    ticks = {0: label(top), (height - 1) // 2: label((top + bottom) / 2), height - 1: label(bottom)}
    pad = max(len(t) for t in ticks.values())
    lines = [f"{y_label}{' (log scale)' if log_y else ''}".strip()] if y_label or log_y else []
    for r, cells in enumerate(grid):
        lines.append(f"{ticks.get(r, ''):>{pad}} ┤{''.join(cells)}")
    last = x_first + max(len(v) for v in series.values()) - 1
    axis = f"{'':>{pad}} └{'─' * width}"
    first = str(x_first)
    span = f"{'':>{pad}}  {first}{x_label + ' ' + str(last):>{width - len(first)}}"
    legend = "   ".join(f"{m} {name}" for m, name in zip(markers, series))
    return "\n".join(lines + [axis, span, f"{'':>{pad}}  {legend}"])


def loglog_scatter(
    points: dict[str, Sequence[tuple[float, float]]],
    *,
    lines: dict[str, Sequence[tuple[float, float]]] | None = None,
    height: int = 14,
    width: int = 56,
    x_label: str = "",
    y_label: str = "",
) -> str:
    """Points (x, y) on log-log axes as text, each series with its own marker;
    `lines` are drawn as dots under the points (a roofline, a T² guide).

    Only positive finite coordinates have a place on log axes; others are left
    out. Returns the chart with tick labels at both ends of each axis and a legend.
    """
    markers, dots = "●○◆◇▲△■□", "·:"
    lines = lines or {}
    every = [xy for s in (*points.values(), *lines.values()) for xy in s]
    good = [
        (math.log10(x), math.log10(y))
        for x, y in every
        if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y)
    ]
    if not good:
        return "(nothing to plot)"
    xs, ys = [g[0] for g in good], [g[1] for g in good]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    x1 = x1 + 0.5 if x1 == x0 else x1  # one column or row of points: give the axis a span
    y1 = y1 + 0.5 if y1 == y0 else y1
    grid = [[" "] * width for _ in range(height)]

    def put(series, marks, fill):
        for mark, xy in zip(marks, series.values()):
            for x, y in xy:
                if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y):
                    col = round((math.log10(x) - x0) / (x1 - x0) * (width - 1))
                    row = round((y1 - math.log10(y)) / (y1 - y0) * (height - 1))
                    if fill or grid[row][col] == " ":
                        grid[row][col] = mark

    put(lines, dots * len(lines), False)
    put(points, markers, True)
    top, bottom = f"{10**y1:.3g}", f"{10**y0:.3g}"
    pad = max(len(top), len(bottom))
    rows = [f"{y_label} (log-log)".strip()]
    for r, cells in enumerate(grid):
        tick = top if r == 0 else bottom if r == height - 1 else ""
        rows.append(f"{tick:>{pad}} ┤{''.join(cells)}")
    rows.append(f"{'':>{pad}} └{'─' * width}")
    left, right = f"{10**x0:.3g}", f"{10**x1:.3g} {x_label}".rstrip()
    rows.append(f"{'':>{pad}}  {left}{right:>{width - len(left)}}")
    rows.append(f"{'':>{pad}}  " + "   ".join(f"{m} {n}" for m, n in zip(markers, points)))
    if lines:
        rows.append(f"{'':>{pad}}  " + "   ".join(f"{d} {n}" for d, n in zip(dots, lines)))
    return "\n".join(rows)
