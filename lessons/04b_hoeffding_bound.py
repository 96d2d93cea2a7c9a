"""Lesson 04b — Hoeffding's bound against exact and measured tails.

How likely is a random pair of unit vectors in D dimensions to be further than
ε from perpendicular, |u·v| > ε? Three answers side by side:
  measured  the share of sampled pairs (the same sampling as lesson 04a),
  exact     the true probability: (1 + u·v)/2 follows a Beta((D-1)/2, (D-1)/2)
            law, whose tail jax.scipy.special.betainc evaluates,
  bound     the concentration bound P(|u·v| > ε) ≤ 2·exp(-D·ε²/2).
The bound is not free of assumptions: it holds for u and v drawn independently
and uniformly from the unit sphere (or any law whose u·v is as concentrated).
For other laws it can fail: u = v gives |u·v| = 1 > ε with probability 1 in
every dimension. Above 100 % it is true and useless (vacuous), which it is
for every D up to 2·ln 2/ε²; past that it is a real guarantee, and the exact
tail shows how much room it leaves.

Run:  python lessons/04b_hoeffding_bound.py [--dims 3 64 512 4096 8192]
      [--pairs 10000] [--epsilon 0.05] [--seed 0] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, display, geometry, pair_sampling, sections

DIMS = [3, 64, 512, 4096, 8192]
PAIRS = 10_000
EPSILON = 0.05
NORMAL_COUNT = 5  # expected pairs on each side of ε for standard errors to mean something


# ----------------------------------------------------------------------------
# 1. The bound, and from which D on it says something.


@dataclass(frozen=True)
class Bound:
    epsilon: float
    first_useful_dim: float  # the smallest D with 2·exp(-D·ε²/2) < 1 (inf past float64)


def first_useful_dim(epsilon: float) -> float:
    """The smallest D at which 2·exp(-D·ε²/2) < 1: D > 2·ln 2/ε² (inf past float64)."""
    log10_edge = math.log10(2 * math.log(2)) - 2 * math.log10(epsilon)
    if log10_edge > 300:
        return math.inf
    return math.floor(2 * math.log(2) / epsilon**2) + 1


def compute_bound(done: dict, *, epsilon: float) -> Bound:
    return Bound(epsilon, first_useful_dim(epsilon))


def useful_from(edge: float) -> str:
    """Where the bound drops below 1, or that it never does for a D float64 can count."""
    if math.isfinite(edge):
        return f"below 1 (useful) from D = {edge:,} on"
    return "above 1 (vacuous) for every D float64 can count"


def say_bound(r: Bound, console: Console) -> None:
    console.print(
        "[bold]The bound[/]: P(|u·v| > ε) ≤ 2·exp(−D·ε²/2), for u and v independent "
        "and uniform on the unit sphere in D dimensions (ε: the threshold). It assumes "
        "that law: u = v would give |u·v| = 1 > ε always."
    )
    console.print(
        f"At ε = {r.epsilon:g} it is {useful_from(r.first_useful_dim)}: "
        "2·exp(−D·ε²/2) < 1 exactly when D > 2·ln 2/ε².\n"
    )


# ----------------------------------------------------------------------------
# 2. Measured, exact and bound, dimension by dimension.


@dataclass(frozen=True)
class Row:
    """P(|u·v| > ε) at one D, three ways, and how they compare."""

    dim: int
    count: int  # sampled pairs with |u·v| > ε
    empirical_pct: float
    exact_pct: float
    bound_pct: float
    satisfied: bool  # measured ≤ bound
    vacuous: bool  # bound ≥ 100 %
    gap_pct: float  # bound − measured, in percentage points
    looseness: float | None  # bound / exact (None: the exact tail underflowed)
    looseness_estimate: float  # ε·√(2πD), the factor the bound drops
    z: float | None  # (measured − exact) in binomial standard errors
    expected_count: float  # pairs the exact tail predicts beyond ε


@dataclass(frozen=True)
class Dims:
    pairs: int
    rows: list[Row]
    draws: list[pair_sampling.Draw]
    epsilon: float
    normal_count: int  # expected pairs each side of ε below which z is not said


def make_row(dim: int, count: int, pairs: int, bound: float, exact: float, epsilon: float) -> Row:
    """One D's row from its count beyond ε and the bound and exact tail (as fractions)."""
    empirical = count / pairs
    exact = min(1.0, max(0.0, exact))  # betainc's rounding can leave [0, 1] by an ulp
    std_error = math.sqrt(exact * (1 - exact) / pairs)  # of the measured share
    return Row(
        dim=dim,
        count=count,
        empirical_pct=100 * count / pairs,
        exact_pct=100 * exact,
        bound_pct=100 * bound,
        satisfied=empirical <= bound,
        vacuous=bound >= 1,
        gap_pct=100 * (bound - empirical),
        looseness=bound / exact if exact > 0 else None,
        # the Gaussian tail's leading term: exact ≈ 2·exp(-Dε²/2)/(ε·√(2πD))
        looseness_estimate=epsilon * math.sqrt(2 * math.pi * dim),
        z=(empirical - exact) / std_error if std_error > 0 else None,
        expected_count=exact * pairs,
    )


def compute_dims(done: dict, *, seed: int, dims: list[int], pairs: int, epsilon: float) -> Dims:
    counts, draws = [], []
    for dim in dims:
        drawn, dots = pair_sampling.draw(seed, dim, pairs)  # (pairs,) float64
        draws.append(drawn)
        counts.append(int(np.sum(np.abs(dots) > epsilon)))
    # The theory in float64: in float32 the exact tail is off by ~0.7 % at
    # D = 8192 and underflows to 0 below ~1e-38 (see exact_tail's docstring).
    with jax.enable_x64(True):
        d, eps = jnp.asarray(dims, jnp.float64), jnp.float64(epsilon)  # (n,), ()
        bounds = np.asarray(geometry.hoeffding_bound(d, eps)).tolist()  # (n,)
        exacts = np.asarray(geometry.exact_tail(d, eps)).tolist()  # (n,)
    rows = [
        make_row(dim, count, pairs, bound, exact, epsilon)
        for dim, count, bound, exact in zip(dims, counts, bounds, exacts, strict=True)
    ]
    return Dims(pairs, rows, draws, epsilon, NORMAL_COUNT)


def pct(x: float, *, underflow: bool = False) -> str:
    """A percentage `x` (3 significant digits below 0.001 %, 4 decimals below 10 %,
    2 above); `underflow` marks a 0 that is a positive value too small for float64."""
    if x == 0 and underflow:
        return "< 1e-300%"
    if 0 < x < 1e-3:  # three significant digits, where four decimals would keep one
        return f"{x:.2e}%"
    return display.share(x / 100, 2 if x >= 10 else 4)


def _dims(rows: list[Row]) -> str:
    return ", ".join(str(row.dim) for row in rows)


def holds(row: Row) -> str:
    """The table's verdict on one D: 'NO' (measured above the bound), 'vacuous', 'yes'."""
    return "NO" if not row.satisfied else "vacuous" if row.vacuous else "yes"


def looseness_sentence(useful: list[Row]) -> str:
    """How far above the exact tail the useful bound sits, and why."""
    ratios = [row.looseness for row in useful if row.looseness is not None]
    head = f"At D = {_dims(useful)} the bound is a real guarantee"
    if not ratios:
        return head + "."
    estimates = [row.looseness_estimate for row in useful if row.looseness is not None]
    return (
        f"{head}, yet {display.span(ratios)} times the exact tail. The exact tail is about "
        "2·exp(−D·ε²/2)/(ε·√(2πD)) (a Gaussian tail); the bound keeps its exponential "
        f"and drops the factor ε·√(2πD) = {display.span(estimates)}, which grows with D."
    )


def held_sentence(failed: list[Row], pairs: int) -> str:
    if not failed:
        return "The bound held at every D."
    return (
        f"The measured share exceeded the bound at D = {_dims(failed)}. The bound is on "
        f"the true probability (the exact column); a sample of {pairs:,} can land "
        "above it by chance, the smaller the sample the likelier."
    )


def noise_sentence(zs: list[float]) -> str:
    """How far the measured shares are from the exact tail, in binomial standard errors."""
    return (
        f"The measured shares sit within {max(zs):.1f} standard errors (binomial, one "
        "draw per pair) of the exact tail: "
        + (
            "what sampling noise allows."
            if max(zs) <= 3
            else "more than sampling noise usually allows."
        )
    )


def rare_sentence(row: Row, pairs: int) -> str | None:
    """Where the exact tail predicts under one pair beyond ε: what this run saw."""
    if not 0 < row.expected_count < 1:
        return None
    return (
        f"At D = {row.dim} the exact tail predicts {row.expected_count:.2g} "
        f"pairs beyond ε in a sample of {pairs:,}; this run saw {row.count}. "
        f"One pair in about {100 / row.exact_pct:,.0f} lands there."
    )


def say_dims(r: Dims, console: Console) -> None:
    table = Table(
        title=f"P(|u·v| > {r.epsilon:g}) for random unit vectors (pairs per D: {r.pairs:,})",
        box=box.SIMPLE_HEAD,
    )
    for col in ("D", "measured", "exact", "bound", "gap", "holds", "bound/exact"):
        table.add_column(col, justify="right", no_wrap=True)
    for row in r.rows:
        table.add_row(
            str(row.dim),
            pct(row.empirical_pct),
            pct(row.exact_pct, underflow=True),
            pct(row.bound_pct, underflow=True),
            f"{row.gap_pct:.2f} pp",
            holds(row),
            f"{row.looseness:.1f}×" if row.looseness is not None else "—",
        )
    console.print(display.fit(table, console))
    console.print("[dim]gap: bound minus measured, in percentage points[/]\n")

    vacuous = [row for row in r.rows if row.vacuous]
    useful = [row for row in r.rows if not row.vacuous]
    if vacuous:
        console.print(
            f"At D = {_dims(vacuous)} the bound is 100 % or more: true, since no probability "
            "exceeds 100 %, but it says nothing."
        )
    if useful:
        console.print(looseness_sentence(useful))
    console.print(held_sentence([row for row in r.rows if not row.satisfied], r.pairs))
    # Standard errors mean something where the binomial is near normal:
    # at least a few expected on each side of ε.
    lo, hi = r.normal_count, r.pairs - r.normal_count
    zs = [abs(row.z) for row in r.rows if lo <= row.expected_count <= hi]
    if zs:
        console.print(noise_sentence(zs))
    for row in r.rows:
        if rare := rare_sentence(row, r.pairs):
            console.print(rare)

    compile_ms = sum(d.compile_ms for d in r.draws)
    run_ms = sum(d.run_ms for d in r.draws)
    console.print(
        f"\nSampling: compile {display.duration(compile_ms)}, run {display.duration(run_ms)} "
        "(one compiled kernel per D, one timed run each)."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    dims = display.count(len(args.dims), "dimension")
    sample = functools.partial(
        compute_dims, seed=args.seed, dims=args.dims, pairs=args.pairs, epsilon=args.epsilon
    )
    return [
        sections.Section(
            "bound", functools.partial(compute_bound, epsilon=args.epsilon), say_bound
        ),
        sections.Section(
            "dims",
            sample,
            say_dims,
            doing=f"sampling {args.pairs:,} random pairs in {dims}, one compiled kernel each",
        ),
    ]


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract."""
    dims = done["dims"]
    return {
        "pairs": dims.pairs,
        "epsilon": dims.epsilon,
        "dims": dims.rows,
        "first_useful_dim": done["bound"].first_useful_dim,
        "timing": dims.draws,
    }


def held_bullet(rows: list[Row]) -> str:
    """Whether the measured share stayed under the bound at every D."""
    failed = [row for row in rows if not row.satisfied]
    if not failed:
        return (
            f"The bound 2·exp(−D·ε²/2) held at every D sampled ({_dims(rows)}): no "
            "measured share went above it."
        )
    return (
        f"The measured share went above the bound at D = {_dims(failed)}: the bound is on "
        "the true probability, and a finite sample can land above it by chance."
    )


def vacuous_bullet(rows: list[Row], edge: float, epsilon: float) -> str:
    """Where the bound says nothing (100 % or more) at this ε."""
    if not math.isfinite(edge):
        return f"At ε = {epsilon:g} the bound is 100 % or more for every D float64 can count."
    vacuous = [row for row in rows if row.vacuous]
    where = f"here D = {_dims(vacuous)}" if vacuous else "none of the D sampled here"
    return (
        f"At ε = {epsilon:g} the bound is 100 % or more (true but empty) for every D "
        f"under {edge:,}: {where}."
    )


def looseness_bullet(rows: list[Row], edge: float) -> str:
    """How far above the exact tail the useful bound sits."""
    useful = [row for row in rows if not row.vacuous]
    if not useful:
        where = f"D = {edge:,} or more" if math.isfinite(edge) else "a D float64 cannot count"
        return f"None of these D is large enough for a useful bound: that takes {where}."
    ratios = [row.looseness for row in useful if row.looseness is not None]
    if not ratios:
        return (
            f"At D = {_dims(useful)} the bound is a real guarantee; the exact tail there is "
            "too small for float64 to compare it with."
        )
    return (
        f"Where it is useful (D = {_dims(useful)}) it is {display.span(ratios)} times the "
        "exact tail: it drops the Gaussian tail's factor ε·√(2πD)."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    rows, bound = done["dims"].rows, done["bound"]
    return [
        held_bullet(rows),
        vacuous_bullet(rows, bound.first_useful_dim, bound.epsilon),
        looseness_bullet(rows, bound.first_useful_dim),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=0)
    parser.add_argument(
        "--dims",
        type=cli.int_in(1, pair_sampling.MAX_DIM),
        nargs="+",
        default=DIMS,
        help="dimensions D to sample (default: %(default)s)",
    )
    parser.add_argument(
        "--pairs",
        type=cli.int_in(1, pair_sampling.MAX_PAIRS),
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
    pair_sampling.check_sizes(parser, args.dims, args.pairs)
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=(geometry.random_pair_dots, geometry.hoeffding_bound, geometry.exact_tail),
    )


if __name__ == "__main__":
    cli.entry(main)
