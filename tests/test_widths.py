"""The narrow-terminal check every lesson run passes through (tests/conftest.py)."""

from __future__ import annotations

import pytest
from conftest import check_widths, render
from rich.table import Table

WIDE = "a label that is long"


def report(r, console):
    table = Table(title="figures")
    for name in ("name", "value", "another column", "a third column", "and a fourth"):
        table.add_column(name)
    table.add_row(WIDE, f"{r['x']:.6f}", "1,234,567", "7,654,321", "0.000123")
    console.print(table)
    console.print(f"A sentence with {r['x']:.4f} in it, wrapped where it must be.")


def test_a_table_too_wide_is_stacked_and_loses_no_digit():
    check_widths(report, {"x": 3.14159})  # LessonConsole stacks the table at 40 columns
    stacked = render(report, {"x": 3.14159}, 40)
    assert "value: 3.141590" in stacked and "and a fourth: 0.000123" in stacked


def test_a_cut_number_fails_the_check():
    def cutting(r, console):  # a line rich is told to cut, not wrap
        console.print("9" * 60, no_wrap=True, overflow="ellipsis")

    with pytest.raises(AssertionError, match="lost|cut"):
        check_widths(cutting, {})
