"""Lesson 1.6 — Hoeffding's bound against the exact tail and the measured one.

How likely is a random pair of unit vectors in D dimensions to be further than
ε from perpendicular, |u·v| > ε? Three answers side by side:
  measured  the share of sampled pairs (the same sampling as lesson 1.5),
  exact     the true probability: (1 + u·v)/2 follows a Beta((D-1)/2, (D-1)/2)
            law, whose tail jax.scipy.special.betainc evaluates,
  bound     the concentration bound 2·exp(-D·ε²/2), which needs no
            distribution at all, only the dimension.
A bound above 100 % is true and useless (vacuous); once D·ε² is large it
becomes a real guarantee, and the exact tail shows how much room it leaves.

Run:  python lessons/hoeffding_bound.py [--dims 3 64 512 4096 8192]
      [--pairs 10000] [--epsilon 0.05] [--seed 0] [--json] [--show-code]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from rich import box
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations.geometry import (
    exact_tail,
    hoeffding_bound,
    random_pair_dots,
    sample_dots_per_dim,
)

DIMS = [3, 64, 512, 4096, 8192]
PAIRS = 10_000
EPSILON = 0.05


def run(seed: int, dims: list[int], pairs: int, epsilon: float) -> dict:
    samples, timings = sample_dots_per_dim(seed, dims, pairs)
    counts = [int(np.sum(np.abs(dots) > epsilon)) for dots in samples]

    # The theory in float64: in float32 the exact tail is off by ~0.7 % at
    # D = 8192 and underflows to 0 below ~1e-38 (see exact_tail's docstring).
    with jax.enable_x64(True):
        d, eps = jnp.asarray(dims, jnp.float64), jnp.float64(epsilon)  # (n,), ()
        bounds = np.asarray(hoeffding_bound(d, eps))  # (n,)
        exacts = np.asarray(exact_tail(d, eps))  # (n,)

    rows = []
    for dim, count, bound, exact in zip(dims, counts, bounds.tolist(), exacts.tolist()):
        empirical = count / pairs
        std_error = math.sqrt(exact * (1 - exact) / pairs)  # of the measured share
        rows.append(
            {
                "dim": dim,
                "count": count,
                "empirical_pct": 100 * count / pairs,
                "exact_pct": 100 * exact,
                "bound_pct": 100 * bound,
                "satisfied": empirical <= bound,
                "vacuous": bound >= 1,
                "gap_pct": 100 * (bound - empirical),
                "looseness": bound / exact if exact > 0 else None,
                "z": (empirical - exact) / std_error if std_error > 0 else None,
                "expected_count": exact * pairs,
            }
        )
    return {"pairs": pairs, "epsilon": epsilon, "dims": rows, "timing": timings}


def pct(x: float, *, underflow: bool = False) -> str:
    """A percentage `x` (4 decimals below 10 %, 2 above); `underflow` marks a 0 that
    is a positive value too small for float64."""
    if x == 0 and underflow:
        return "< 1e-300%"
    return display.share(x / 100, 2 if x >= 10 else 4)


def _dims(rows: list[dict]) -> str:
    return ", ".join(str(row["dim"]) for row in rows)


def report(r: dict, console) -> None:
    table = Table(
        title=f"P(|u·v| > {r['epsilon']:g}) for random unit vectors (pairs per D: {r['pairs']:,})",
        box=box.SIMPLE_HEAD,
    )
    for col in ("D", "measured", "exact", "bound", "gap", "holds", "bound/exact"):
        table.add_column(col, justify="right", no_wrap=True)
    for row in r["dims"]:
        holds = "NO" if not row["satisfied"] else "vacuous" if row["vacuous"] else "yes"
        ratio = f"{row['looseness']:.1f}×" if row["looseness"] is not None else "—"
        table.add_row(
            str(row["dim"]),
            pct(row["empirical_pct"]),
            pct(row["exact_pct"], underflow=True),
            pct(row["bound_pct"], underflow=True),
            f"{row['gap_pct']:.2f} pp",
            holds,
            ratio,
        )
    console.print(table)
    console.print("[dim]gap: bound minus measured, in percentage points[/]\n")

    rows = r["dims"]
    vacuous = [row for row in rows if row["vacuous"]]
    useful = [row for row in rows if not row["vacuous"]]
    failed = [row for row in rows if not row["satisfied"]]
    if vacuous:
        console.print(
            f"At D = {_dims(vacuous)} the bound is 100 % or more: true, since no probability "
            "exceeds 100 %, but it says nothing."
        )
    if useful:
        ratios = [row["looseness"] for row in useful if row["looseness"] is not None]
        console.print(
            f"At D = {_dims(useful)} the bound is a real guarantee"
            + (
                f", yet {display.span(ratios)} times the exact tail: a bound "
                "built from D and ε alone must cover the worst case, the exact tail is the "
                "truth for this one law."
                if ratios
                else "."
            )
        )
    console.print(
        "The bound held at every D."
        if not failed
        else f"The measured share exceeded the bound at D = {_dims(failed)}. The bound is on "
        f"the true probability (the exact column); a sample of {r['pairs']:,} can land "
        "above it by chance, the smaller the sample the likelier."
    )

    # Standard errors mean something where the binomial is near normal:
    # at least 5 expected on each side of ε.
    zs = [abs(row["z"]) for row in rows if 5 <= row["expected_count"] <= r["pairs"] - 5]
    if zs:
        console.print(
            f"The measured shares sit within {max(zs):.1f} standard errors (binomial, one "
            "draw per pair) of the exact tail: "
            + (
                "what sampling noise allows."
                if max(zs) <= 3
                else "more than sampling noise usually allows."
            )
        )
    for row in rows:
        if 0 < row["expected_count"] < 1:
            console.print(
                f"At D = {row['dim']} the exact tail predicts {row['expected_count']:.2g} "
                f"pairs beyond ε in a sample of {r['pairs']:,}; this run saw {row['count']}. "
                f"One pair in about {100 / row['exact_pct']:,.0f} lands there."
            )

    compile_ms = sum(t["compile_ms"] for t in r["timing"])
    run_ms = sum(t["run_ms"] for t in r["timing"])
    console.print(
        f"\nSampling: compile {display.duration(compile_ms)}, run {display.duration(run_ms)} "
        "(one compiled kernel per D, one timed run each)."
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=0)
    parser.add_argument(
        "--dims",
        type=cli.positive_int,
        nargs="+",
        default=DIMS,
        help="dimensions D to sample (default: %(default)s)",
    )
    parser.add_argument(
        "--pairs",
        type=cli.positive_int,
        default=PAIRS,
        help="random pairs per dimension (default: %(default)s)",
    )
    parser.add_argument(
        "--epsilon",
        type=cli.open_unit_float,
        default=EPSILON,
        help="the threshold ε on |u·v| (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    results = run(args.seed, args.dims, args.pairs, args.epsilon)
    cli.finish(
        args,
        __file__,
        results,
        report,
        kernels=(random_pair_dots, hoeffding_bound, exact_tail),
        title=__doc__,
    )


if __name__ == "__main__":
    cli.entry(main)
