"""Lesson 01 — Python lists: the baseline for every speed-up.

Two lists of N floats, 1.0 .. N, multiplied element by element into a new
list. The interpreter runs one loop iteration per element and creates one
new float object per product, so time and memory both grow with N and with
a large constant. We time it (median of repeats), measure what each element
costs in memory, and check the sum of the products against the closed form
N(N+1)(2N+1)/6: float64 sums round at every addition, and how much that
adds up to depends on how the numbers are summed.

Run:  python lessons/01_list_math.py [--size 1000000] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import math
import operator
import sys
from dataclasses import dataclass

import numpy as np
from rich.console import Console

from trinity_foundations import baselines, cli, display, sections, timing

SIZE = 1_000_000
MAX_SIZE = 10**8  # about 5 s per timed multiply on a CPU, and it runs 8 times or more
REL_TOL = 1e-9  # float64 rounds once the sum passes 2^53: compare with a tolerance
# Bytes per element while the lesson runs: three lists (a, b, the products) and
# one more product list alive during timing, each a pointer plus a float object.
BYTES_PER_ELEMENT = 4 * (8 + sys.getsizeof(1.0))


def milliseconds(ms: float) -> str:
    """'270.42' for a time of 1 ms or more, '0.000701' below (never 0.00)."""
    return f"{ms:.2f}" if ms >= 1 else f"{ms:.3g}"


# ----------------------------------------------------------------------------
# 1. Multiplying two lists, timed.


@dataclass(frozen=True)
class Multiply:
    size: int  # N, elements per list
    list_ms: float  # median time of one list multiply
    repeats: int
    first: float  # the first and last products
    last: float
    sum_of_products: float  # sum() of the products (this Python's summation)
    sum_left_to_right: float  # one rounding per addition
    sum_fsum: float  # math.fsum: the exact sum, rounded once
    slot_bytes: float  # list bytes per element (pointer, header, spare capacity)
    float_object_bytes: float  # bytes of one float object


def compute_multiply(done: dict, *, size: int) -> Multiply:
    a, b = baselines.float_list(size), baselines.float_list(size)
    t = timing.time_call(baselines.list_multiply, a, b, sync=False)  # host code: no wait
    products = baselines.list_multiply(a, b)
    slot, obj = baselines.list_bytes_per_element(products)
    return Multiply(
        size=size,
        list_ms=t.median_ms,
        repeats=t.repeats,
        first=products[0],
        last=products[-1],
        sum_of_products=sum(products),  # float64; compensated from Python 3.12 on
        sum_left_to_right=functools.reduce(operator.add, products, 0.0),
        sum_fsum=math.fsum(products),
        slot_bytes=slot,
        float_object_bytes=obj,
    )


def say_multiply(r: Multiply, console: Console) -> None:
    per_element_ns = r.list_ms * 1e6 / r.size
    console.print(
        f"Multiplying two lists of {display.count(r.size, 'float')} took "
        f"[bold]{milliseconds(r.list_ms)} ms[/] (median of {r.repeats} runs), about "
        f"{per_element_ns:.1f} ns per element."
    )
    console.print(
        f"First product {r.first:,.1f}, last product {r.last:,.1f}, "
        f"sum of products {r.sum_of_products:,.1f}.\n"
    )


# ----------------------------------------------------------------------------
# 2. The sum against the closed form: how it was added matters.


@dataclass(frozen=True)
class Sum:
    size: int
    python: str  # this Python's version, "3.11.7"
    summation: str  # how its sum() adds floats: "compensated" or "left to right"
    expected_sum: int  # N(N+1)(2N+1)/6, exact
    sum_error: int  # sum() − exact
    left_to_right_error: int
    sum_fsum: float
    fsum_error: int
    float64_spacing: float  # the gap between float64 numbers at the exact sum
    matches: bool  # sum() within rel_tol of the exact sum
    rel_tol: float


def builtin_summation() -> str:
    """How this Python's sum() adds floats: from 3.12 on it compensates the
    rounding (Neumaier's algorithm); before, it adds left to right."""
    return "compensated" if sys.version_info >= (3, 12) else "left to right"


def compute_sum(done: dict) -> Sum:
    m, n = done["multiply"], done["multiply"].size
    expected = n * (n + 1) * (2 * n + 1) // 6  # exact: Python ints do not overflow
    return Sum(
        size=n,
        python=".".join(map(str, sys.version_info[:3])),
        summation=builtin_summation(),
        expected_sum=expected,
        sum_error=int(m.sum_of_products) - expected,  # exact integer differences
        left_to_right_error=int(m.sum_left_to_right) - expected,
        sum_fsum=m.sum_fsum,
        fsum_error=int(m.sum_fsum) - expected,
        float64_spacing=math.ulp(float(expected)),
        matches=math.isclose(m.sum_of_products, expected, rel_tol=REL_TOL),
        rel_tol=REL_TOL,
    )


def off_by(error: int, expected: int) -> str:
    """'off by -372,448 (relative 1.1e-12)', or 'exact' for no error."""
    return f"off by {error:,} (relative {abs(error) / expected:.1e})" if error else "exact"


def rounding_story(r: Sum) -> str:
    """Why the float sum is off, or why it is exact: which summation, which sum."""
    expected, spacing = r.expected_sum, r.float64_spacing
    if expected <= 2**53:
        return (
            f"The exact sum, {expected:,}, is below 2^53, so every partial float sum is "
            f"an exact integer: the error is {r.sum_error:,}."
        )
    how = (
        "compensated summation (Neumaier's, as sum() does from Python 3.12)"
        if r.summation == "compensated"
        else "left-to-right summation (sum() before Python 3.12)"
    )
    story = (
        f"The exact sum, {expected:,}, is above 2^53 = {2**53:,}: float64 numbers there "
        f"are {spacing:,.0f} apart, and an addition past it rounds to the nearest. Python "
        f"{r.python}'s sum() uses {how} and is {off_by(r.sum_error, expected)}."
    )
    if r.summation == "compensated":
        story += (
            " Adding left to right, one rounding per addition, would be "
            f"{off_by(r.left_to_right_error, expected)}: the roundings pile up."
        )
    else:
        story += (
            f" That error is the roundings of its {r.size:,} additions piling up, "
            "not a number float64 cannot hold."
        )
    return story + (
        f" math.fsum, which rounds once at the end, gives {r.sum_fsum:,.0f}: "
        f"{off_by(r.fsum_error, expected)}: the float64 nearest the exact sum "
        f"(within half the {spacing:,.0f} between neighbours)."
        if abs(r.fsum_error) <= spacing / 2
        else f" math.fsum gives {r.sum_fsum:,.0f}, {off_by(r.fsum_error, expected)}."
    )


def rounding_bullet(r: Sum) -> str:
    """What summing in float64 gave: the exact sum both ways, or how far off each was."""
    if r.sum_error == 0 and r.fsum_error == 0:
        return (
            f"Summed in float64, both sum() and math.fsum gave N(N+1)(2N+1)/6 = "
            f"{r.expected_sum:,} exactly."
        )
    return (
        f"Summed in float64, sum() was {off_by(r.sum_error, r.expected_sum)} and math.fsum, "
        f"rounding once, {off_by(r.fsum_error, r.expected_sum)}: how you add changes the answer."
    )


def closed_form_verdict(r: Sum) -> str:
    """Whether sum() is within the relative tolerance of N(N+1)(2N+1)/6."""
    verdict = "matches" if r.matches else "does NOT match"
    return f"Within a relative tolerance of {r.rel_tol:g} it {verdict} N(N+1)(2N+1)/6."


def say_sum(r: Sum, console: Console) -> None:
    console.print(f"{rounding_story(r)} {closed_form_verdict(r)}\n")


# ----------------------------------------------------------------------------
# 3. What one element costs in memory.


@dataclass(frozen=True)
class Memory:
    slot_bytes: float
    float_object_bytes: float
    list_bytes: float  # the two together: one list element
    f32_bytes: int  # one element of a float32 array
    f64_bytes: int


def compute_memory(done: dict) -> Memory:
    m = done["multiply"]
    return Memory(
        slot_bytes=m.slot_bytes,
        float_object_bytes=m.float_object_bytes,
        list_bytes=m.slot_bytes + m.float_object_bytes,
        f32_bytes=np.dtype(np.float32).itemsize,
        f64_bytes=np.dtype(np.float64).itemsize,
    )


def say_memory(r: Memory, console: Console) -> None:
    console.print(
        f"Memory per element, measured with sys.getsizeof: {r.slot_bytes:.2f} bytes "
        f"of list (one pointer each, plus the list's header and spare capacity) + "
        f"{r.float_object_bytes:.0f} bytes of float object = [bold]{r.list_bytes:.2f} "
        f"bytes[/], against {r.f32_bytes} bytes in a float32 array "
        f"({r.list_bytes / r.f32_bytes:.1f}× more) and {r.f64_bytes} in a float64 array, "
        f"the same precision as the list ({r.list_bytes / r.f64_bytes:.1f}× more), before "
        "any arithmetic."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    return [
        sections.Section(
            "multiply",
            functools.partial(compute_multiply, size=args.size),
            say_multiply,
            doing=f"timing the multiply of two lists of {args.size:,} floats",
        ),
        sections.Section("sum", compute_sum, say_sum),
        sections.Section("memory", compute_memory, say_memory),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    m, s, mem = done["multiply"], done["sum"], done["memory"]
    return {
        "size": m.size,
        "list_ms": m.list_ms,
        "repeats": m.repeats,
        "summation": s.summation,
        "python": s.python,
        "sum_of_products": m.sum_of_products,
        "sum_left_to_right": m.sum_left_to_right,
        "sum_fsum": m.sum_fsum,
        "expected_sum": s.expected_sum,
        "sum_error": s.sum_error,
        "left_to_right_error": s.left_to_right_error,
        "fsum_error": s.fsum_error,
        "float64_spacing": s.float64_spacing,
        "sum_matches": s.matches,
        "first": m.first,
        "last": m.last,
        "slot_bytes": mem.slot_bytes,
        "float_object_bytes": mem.float_object_bytes,
        "bytes_per_element_list": mem.list_bytes,
        "bytes_per_element_f32": mem.f32_bytes,
        "bytes_per_element_f64": mem.f64_bytes,
    }


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    m, mem = done["multiply"], done["memory"]
    return [
        f"Multiplying two lists of {display.count(m.size, 'float')} took "
        f"{milliseconds(m.list_ms)} ms, about {m.list_ms * 1e6 / m.size:.1f} ns per element: "
        "one interpreter step and one new float each.",
        rounding_bullet(done["sum"]),
        f"Each list element costs {mem.list_bytes:.2f} bytes (a pointer and a float object), "
        f"{mem.list_bytes / mem.f32_bytes:.1f}× the {mem.f32_bytes} bytes of a float32 array "
        "element.",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--size",
        type=cli.int_in(1, MAX_SIZE, "about 5 s per timed multiply at the top"),
        default=SIZE,
        help=f"elements per list, at most {MAX_SIZE:,} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.require_memory(parser, BYTES_PER_ELEMENT * args.size, f"--size {args.size:,} (4 lists)")
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=(baselines.float_list, baselines.list_multiply),  # after --mine swapped them
    )


if __name__ == "__main__":
    cli.entry(main)
