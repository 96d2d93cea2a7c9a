"""Lesson 1.1 — Python lists: the baseline for every speed-up.

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

import numpy as np

from trinity_foundations import cli, display, timing
from trinity_foundations.baselines import float_list, list_bytes_per_element, list_multiply

SIZE = 1_000_000
MAX_SIZE = 10**8  # about 5 s per timed multiply on a CPU, and it runs 8 times or more
REL_TOL = 1e-9  # float64 rounds once the sum passes 2^53: compare with a tolerance
# Bytes per element while the lesson runs: three lists (a, b, the products) and
# one more product list alive during timing, each a pointer plus a float object.
BYTES_PER_ELEMENT = 4 * (8 + sys.getsizeof(1.0))


def builtin_summation() -> str:
    """How this Python's sum() adds floats: from 3.12 on it compensates the
    rounding (Neumaier's algorithm); before, it adds left to right."""
    return "compensated" if sys.version_info >= (3, 12) else "left to right"


def run(size: int) -> dict:
    a, b = float_list(size), float_list(size)
    t = timing.time_call(list_multiply, a, b, sync=False)  # host code: nothing to wait for
    products = list_multiply(a, b)
    total = sum(products)  # float64; Python >= 3.12 compensates the rounding, older ones do not
    left_to_right = functools.reduce(operator.add, products, 0.0)  # one rounding per addition
    correctly_rounded = math.fsum(products)  # exact sum, rounded once to float64
    expected = size * (size + 1) * (2 * size + 1) // 6  # exact: Python ints do not overflow
    slot, obj = list_bytes_per_element(products)
    return {
        "size": size,
        "list_ms": t.median_ms,
        "repeats": t.repeats,
        "summation": builtin_summation(),
        "python": ".".join(map(str, sys.version_info[:3])),
        "sum_of_products": total,
        "sum_left_to_right": left_to_right,
        "sum_fsum": correctly_rounded,
        "expected_sum": expected,
        "sum_error": int(total) - expected,  # exact integer difference
        "left_to_right_error": int(left_to_right) - expected,
        "fsum_error": int(correctly_rounded) - expected,
        "float64_spacing": math.ulp(float(expected)),  # gap between float64s at the sum
        "sum_matches": math.isclose(total, expected, rel_tol=REL_TOL),
        "first": products[0],
        "last": products[-1],
        "slot_bytes": slot,
        "float_object_bytes": obj,
        "bytes_per_element_list": slot + obj,
        "bytes_per_element_f32": np.dtype(np.float32).itemsize,
        "bytes_per_element_f64": np.dtype(np.float64).itemsize,
    }


def timing_section(r: dict, console) -> None:
    n, ms = r["size"], r["list_ms"]
    per_element_ns = ms * 1e6 / n
    took = f"{ms:.2f}" if ms >= 1 else f"{ms:.3g}"  # 0.000701 ms, not 0.00 ms
    console.print(
        f"Multiplying two lists of {display.count(n, 'float')} took [bold]{took} ms[/] "
        f"(median of {r['repeats']} runs), about {per_element_ns:.1f} ns per element."
    )
    console.print(
        f"First product {r['first']:,.1f}, last product {r['last']:,.1f}, "
        f"sum of products {r['sum_of_products']:,.1f}.\n"
    )


def off_by(error: int, expected: int) -> str:
    """'off by -372,448 (relative 1.1e-12)', or 'exact' for no error."""
    return f"off by {error:,} (relative {abs(error) / expected:.1e})" if error else "exact"


def rounding_story(r: dict) -> str:
    """Why the float sum is off, or why it is exact: which summation, which sum."""
    expected, spacing = r["expected_sum"], r["float64_spacing"]
    if expected <= 2**53:
        return (
            f"The exact sum, {expected:,}, is below 2^53, so every partial float sum is "
            f"an exact integer: the error is {r['sum_error']:,}."
        )
    how = (
        "compensated summation (Neumaier's, as sum() does from Python 3.12)"
        if r["summation"] == "compensated"
        else "left-to-right summation (sum() before Python 3.12)"
    )
    story = (
        f"The exact sum, {expected:,}, is above 2^53 = {2**53:,}: float64 numbers there "
        f"are {spacing:,.0f} apart, and an addition past it rounds to the nearest. Python "
        f"{r['python']}'s sum() uses {how} and is {off_by(r['sum_error'], expected)}."
    )
    if r["summation"] == "compensated":
        story += (
            " Adding left to right, one rounding per addition, would be "
            f"{off_by(r['left_to_right_error'], expected)}: the roundings pile up."
        )
    else:
        story += (
            f" That error is the roundings of its {r['size']:,} additions piling up, "
            "not a number float64 cannot hold."
        )
    return story + (
        f" math.fsum, which rounds once at the end, gives {r['sum_fsum']:,.0f}: "
        f"{off_by(r['fsum_error'], expected)}: the float64 nearest the exact sum "
        f"(within half the {spacing:,.0f} between neighbours)."
        if abs(r["fsum_error"]) <= spacing / 2
        else f" math.fsum gives {r['sum_fsum']:,.0f}, {off_by(r['fsum_error'], expected)}."
    )


def sum_section(r: dict, console) -> None:
    verdict = "matches" if r["sum_matches"] else "does NOT match"
    console.print(
        f"{rounding_story(r)} Within a relative tolerance of {REL_TOL:g} it {verdict} "
        "N(N+1)(2N+1)/6.\n"
    )


def memory_section(r: dict, console) -> None:
    list_bytes, f32, f64 = (
        r["bytes_per_element_list"],
        r["bytes_per_element_f32"],
        r["bytes_per_element_f64"],
    )
    console.print(
        f"Memory per element, measured with sys.getsizeof: {r['slot_bytes']:.2f} bytes "
        f"of list (one pointer each, plus the list's header and spare capacity) + "
        f"{r['float_object_bytes']:.0f} bytes of float object = [bold]{list_bytes:.2f} "
        f"bytes[/], against {f32} bytes in a float32 array ({list_bytes / f32:.1f}× more) "
        f"and {f64} in a float64 array, the same precision as the list "
        f"({list_bytes / f64:.1f}× more), before any arithmetic."
    )


def report(r: dict, console) -> None:
    timing_section(r, console)
    sum_section(r, console)
    memory_section(r, console)


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    n, ms = r["size"], r["list_ms"]
    took = f"{ms:.2f}" if ms >= 1 else f"{ms:.3g}"
    expected = r["expected_sum"]
    if r["sum_error"] == 0 and r["fsum_error"] == 0:
        rounding = (
            f"Summed in float64, both sum() and math.fsum gave N(N+1)(2N+1)/6 = {expected:,} "
            "exactly."
        )
    else:
        rounding = (
            f"Summed in float64, sum() was {off_by(r['sum_error'], expected)} and math.fsum, "
            f"rounding once, {off_by(r['fsum_error'], expected)}: how you add changes the answer."
        )
    per = r["bytes_per_element_list"]
    f32 = r["bytes_per_element_f32"]
    return [
        f"Multiplying two lists of {display.count(n, 'float')} took {took} ms, about "
        f"{ms * 1e6 / n:.1f} ns per element: one interpreter step and one new float each.",
        rounding,
        f"Each list element costs {per:.2f} bytes (a pointer and a float object), "
        f"{per / f32:.1f}× the {f32} bytes of a float32 array element.",
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
    cli.finish(
        args,
        __file__,
        run(args.size),
        report,
        kernels=(float_list, list_multiply),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
