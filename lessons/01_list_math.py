"""Lesson 1.1 — Python lists: the baseline for every speed-up.

Two lists of N floats, 1.0 .. N, multiplied element by element into a new
list. The interpreter runs one loop iteration per element and creates one
new float object per product, so time and memory both grow with N and with
a large constant. We time it (median of repeats), measure what each element
costs in memory, and check the sum of the products against the closed form
N(N+1)(2N+1)/6.

Run:  python lessons/01_list_math.py [--size 1000000] [--json] [--show-code]
"""

from __future__ import annotations

import math

import numpy as np

from trinity_foundations import cli, timing
from trinity_foundations.baselines import float_list, list_bytes_per_element, list_multiply

SIZE = 1_000_000
REL_TOL = 1e-9  # float64 rounds once the sum passes 2^53: compare with a tolerance


def run(size: int) -> dict:
    a, b = float_list(size), float_list(size)
    t = timing.time_call(list_multiply, a, b, sync=False)  # host code: nothing to wait for
    products = list_multiply(a, b)
    total = sum(products)  # float64; Python >= 3.12 compensates the rounding, older ones do not
    expected = size * (size + 1) * (2 * size + 1) // 6  # exact: Python ints do not overflow
    slot, obj = list_bytes_per_element(products)
    return {
        "size": size,
        "list_ms": t.median_ms,
        "repeats": t.repeats,
        "sum_of_products": total,
        "expected_sum": expected,
        "sum_error": int(total) - expected,  # exact integer difference
        "sum_matches": math.isclose(total, expected, rel_tol=REL_TOL),
        "first": products[0],
        "last": products[-1],
        "slot_bytes": slot,
        "float_object_bytes": obj,
        "bytes_per_element_list": slot + obj,
        "bytes_per_element_f32": np.dtype(np.float32).itemsize,
    }


def report(r: dict, console) -> None:
    n, ms = r["size"], r["list_ms"]
    per_element_ns = ms * 1e6 / n
    took = f"{ms:.2f}" if ms >= 1 else f"{ms:.3g}"  # 0.000701 ms, not 0.00 ms
    console.print(
        f"Multiplying two lists of {n:,} float{'s' if n != 1 else ''} took [bold]{took} ms[/] "
        f"(median of {r['repeats']} runs), about {per_element_ns:.1f} ns per element."
    )
    console.print(
        f"First product {r['first']:,.1f}, last product {r['last']:,.1f}, "
        f"sum of products {r['sum_of_products']:,.1f}.\n"
    )

    expected, error = r["expected_sum"], r["sum_error"]
    verdict = "matches" if r["sum_matches"] else "does NOT match"
    if expected > 2**53:
        off = (
            f"off by {error:,} (relative {abs(error) / expected:.1e})"
            if error
            else "exact all the same"
        )
        drift = (
            f"The exact sum, {expected:,}, is above 2^53 = {2**53:,}, past which float64 "
            f"cannot hold every integer; the float sum is {off}."
        )
    else:
        drift = (
            f"The exact sum, {expected:,}, is below 2^53, so every partial float sum is "
            f"an exact integer: the error is {error:,}."
        )
    console.print(
        f"{drift} Within a relative tolerance of {REL_TOL:g} it {verdict} N(N+1)(2N+1)/6.\n"
    )

    list_bytes, f32 = r["bytes_per_element_list"], r["bytes_per_element_f32"]
    console.print(
        f"Memory per element, measured with sys.getsizeof: {r['slot_bytes']:.2f} bytes "
        f"of list (one pointer each, plus the list's header and spare capacity) + "
        f"{r['float_object_bytes']:.0f} bytes of float object = [bold]{list_bytes:.2f} "
        f"bytes[/], against {f32} bytes in a float32 array: {list_bytes / f32:.1f}× more, "
        "before any arithmetic."
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--size",
        type=cli.positive_int,
        default=SIZE,
        help="elements per list (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.finish(
        args, __file__, run(args.size), report, kernels=(float_list, list_multiply), title=__doc__
    )


if __name__ == "__main__":
    cli.entry(main)
