"""Lesson 04a — random high-dimensional vectors are nearly orthogonal.

Draw pairs of random directions (Gaussian vectors normalised to the unit
sphere) and take their dot products, the cosine of the angle between them. In
3 dimensions the dot product is spread evenly over [-1, 1]; as the dimension D
grows it crowds around 0 with standard deviation exactly 1/sqrt(D). In a few
thousand dimensions almost every pair is perpendicular to within ε: there is
room for far more nearly-orthogonal directions than there are axes, which is
why embeddings can hold many features at once.

Run:  python lessons/04a_quasi_orthogonality.py [--dims 3 64 512 4096 8192]
      [--pairs 10000] [--epsilon 0.05] [--seed 0] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import math
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, display, geometry, pair_sampling, sections

DIMS = [3, 64, 512, 4096, 8192]
PAIRS = 10_000
EPSILON = 0.05
BAR_WIDTH = 41  # characters of a dispersion bar over [-1, 1], at most


@dataclass(frozen=True)
class Row:
    """What one dimension's sample of u·v says."""

    dim: int
    mean: float
    std: float
    theory_std: float  # 1/√D, exact for uniform unit vectors
    pct_not_orthogonal: float  # share of pairs with |u·v| > ε, in percent
    count_not_orthogonal: int


# ----------------------------------------------------------------------------
# The dot products of random pairs, dimension by dimension.


@dataclass(frozen=True)
class Dims:
    pairs: int
    epsilon: float
    rows: list[Row]
    draws: list[pair_sampling.Draw]
    bar_width: int  # the widest dispersion bar drawn


def compute_dims(done: dict, *, seed: int, dims: list[int], pairs: int, epsilon: float) -> Dims:
    rows, draws = [], []
    for dim in dims:
        drawn, dots = pair_sampling.draw(seed, dim, pairs)  # (pairs,) float64
        draws.append(drawn)
        count = int(np.sum(np.abs(dots) > epsilon))
        mean, std = float(dots.mean()), float(dots.std())
        rows.append(Row(dim, mean, std, 1 / math.sqrt(dim), 100 * count / pairs, count))
    return Dims(pairs, epsilon, rows, draws, BAR_WIDTH)


def share(pct: float, digits: int = 2) -> str:
    """A percentage `pct` that never rounds to 0 or 100 % (see display.share)."""
    return display.share(pct / 100, digits)


def reading(row: Row, pairs: int, epsilon: float) -> str:
    """One line on what a row's numbers say, picked by the share beyond ε."""
    pct, count = row.pct_not_orthogonal, row.count_not_orthogonal
    if pct == 100:
        return "every pair misses perpendicular by more than ε"
    if pct > 50:
        return f"most pairs ({share(pct, 1)}) miss perpendicular by more than ε"
    if pct >= 1:
        return f"{share(pct, 1)} still miss by more than ε; the std ({row.std:.4f}) nears ε"
    if count > 0:
        verb = "misses" if count == 1 else "miss"
        return f"only {count} of {pairs:,} pairs {verb} perpendicular by more than ε"
    out = f", {epsilon / row.std:.1f} std out" if row.std > 0 else ""
    return f"none of the {pairs:,} pairs misses by more than ε{out}"


def _signed(x: float, digits: int = 4) -> str:
    """+0.0000 rather than -0.0000 for tiny negatives."""
    return f"{round(x, digits) + 0.0:+.{digits}f}"


def law_sentence(ratios: list[float]) -> str:
    """Whether the measured std follows 1/√D closely enough to read the law off."""
    follows = 0.8 <= min(ratios) and max(ratios) <= 1.25
    return f"The measured std is {display.span(ratios, 3)} times 1/√D: " + (
        "the spread shrinks like 1/√D, so a hundred times the dimensions buys a tenth "
        "of the spread."
        if follows
        else "too far from 1 to read the 1/√D law off this run; try more --pairs."
    )


def mean_sentence(zs: list[float]) -> str:
    """How far the means are from 0, in standard errors."""
    if max(zs) <= 3:
        return (
            f"Every mean is within {max(zs):.1f} standard errors of 0: no direction is preferred."
        )
    return (
        f"One mean is {max(zs):.1f} standard errors from 0, more than chance usually "
        "gives: check the sampler."
    )


def trend_sentence(lo: Row, hi: Row) -> str | None:
    """The std from the smallest D to the largest, against √(D_hi/D_lo)."""
    if hi.dim <= lo.dim:
        return None
    theory = f"√({hi.dim}/{lo.dim}) = {math.sqrt(hi.dim / lo.dim):.1f}"
    if 0 < hi.std < lo.std:
        return (
            f"From D = {lo.dim} to D = {hi.dim} the std fell from {lo.std:.4f} "
            f"to {hi.std:.4f}, {lo.std / hi.std:.1f} times, against {theory}."
        )
    return (
        f"From D = {lo.dim} to D = {hi.dim} the std went from {lo.std:.4f} "
        f"to {hi.std:.4f} instead of falling {theory} times: too few --pairs "
        "to show the trend."
    )


def sampling_sentence(draws: list[pair_sampling.Draw]) -> str:
    """How many numbers were drawn, and how long compiling and running took."""
    compile_ms = sum(d.compile_ms for d in draws)
    run_ms = sum(d.run_ms for d in draws)
    numbers = sum(d.numbers_drawn for d in draws)
    return (
        f"Sampling: {numbers:,} Gaussian numbers, drawn, normalised and dotted by one "
        f"compiled kernel per D: compile {display.duration(compile_ms)}, "
        f"run {display.duration(run_ms)} "
        f"(one timed run each, {draws[0].dtype}, "
        f"{numbers / run_ms / 1e3:.3g} million numbers/s)."
    )


def by_dim(rows: list[Row]) -> tuple[Row, Row]:
    """The rows of the smallest and the largest D."""
    ordered = sorted(rows, key=lambda row: row.dim)
    return ordered[0], ordered[-1]


def say_dims(r: Dims, console: Console) -> None:
    table = Table(title=f"u·v for {r.pairs:,} random pairs of unit vectors")
    for col in ("D", "mean", "std", "1/√D", f"|u·v| > {r.epsilon:g}"):
        table.add_column(col, justify="right")
    for row in r.rows:
        table.add_row(
            str(row.dim),
            _signed(row.mean),
            f"{row.std:.4f}",
            f"{row.theory_std:.4f}",
            share(row.pct_not_orthogonal),
        )
    console.print(display.fit(table, console))

    width = max(11, min(r.bar_width, console.width - 12))  # odd: 0 in the middle
    width -= 1 - width % 2
    console.print(f"\nWhere u·v falls: mean ± 2 std filled, {display.MARK} at the mean")
    console.print(f"{'':>10}-1{'0':^{width - 3}}+1")
    for row in r.rows:
        bar = display.dispersion_bar(row.mean, row.std, width=width)
        console.print(f"D = {row.dim:>5} {bar}")

    console.print(f"\nWhat each dimension says (ε = {r.epsilon:g}):")
    for row in r.rows:
        console.print(f"  D = {row.dim:>5}: {reading(row, r.pairs, r.epsilon)}.")
    console.print("\n" + law_sentence([row.std / row.theory_std for row in r.rows]))
    # How far each mean is from 0, in standard errors (std / √pairs).
    zs = [abs(row.mean) / row.std * math.sqrt(r.pairs) for row in r.rows if row.std > 0]
    if zs:
        console.print(mean_sentence(zs))
    trend = trend_sentence(*by_dim(r.rows))
    if trend:
        console.print(trend)
    console.print("\n" + sampling_sentence(r.draws))


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    dims = display.count(len(args.dims), "dimension")
    return [
        sections.Section(
            "dims",
            functools.partial(
                compute_dims, seed=args.seed, dims=args.dims, pairs=args.pairs, epsilon=args.epsilon
            ),
            say_dims,
            doing=f"sampling {args.pairs:,} random pairs in {dims}, one compiled kernel each",
        ),
    ]


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract."""
    r = done["dims"]
    return {"pairs": r.pairs, "epsilon": r.epsilon, "dims": r.rows, "timing": r.draws}


def spread_bullet(lo: Row, hi: Row) -> str:
    """How the spread of u·v changed from the smallest D to the largest."""
    if hi.dim <= lo.dim:
        return (
            f"At D = {hi.dim} the std of u·v was {hi.std:.4f}, against "
            f"1/√D = {hi.theory_std:.4f}: the spread shrinks like 1/√D."
        )
    verb = "fell" if 0 < hi.std < lo.std else "went"
    return (
        f"From D = {lo.dim} to D = {hi.dim} the std of u·v {verb} from "
        f"{lo.std:.4f} to {hi.std:.4f}, against 1/√D = {lo.theory_std:.4f} "
        f"to {hi.theory_std:.4f}."
    )


def room_bullet(hi: Row, epsilon: float) -> str:
    """Whether the largest D leaves room for many nearly perpendicular directions."""
    if hi.pct_not_orthogonal < 1:
        return (
            f"So D = {hi.dim} has room for far more directions perpendicular to within "
            f"{epsilon:g} than it has axes: how embeddings hold many features at once."
        )
    return (
        f"At D = {hi.dim} pairs are not yet perpendicular to within {epsilon:g}: "
        "try a larger D in --dims, or a larger --epsilon."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    r = done["dims"]
    lo, hi = by_dim(r.rows)
    shares = f"{share(hi.pct_not_orthogonal)} at D = {hi.dim}"
    if hi.dim > lo.dim:
        shares = f"{share(lo.pct_not_orthogonal)} at D = {lo.dim}, {shares}"
    return [
        spread_bullet(lo, hi),
        f"Of {r.pairs:,} random pairs, the share with |u·v| > ε = {r.epsilon:g} was {shares}.",
        room_bullet(hi, r.epsilon),
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
        type=cli.int_in(2, pair_sampling.MAX_PAIRS, "a spread needs at least 2 pairs"),
        default=PAIRS,
        help="random pairs per dimension (default: %(default)s)",
    )
    parser.add_argument(
        "--epsilon",
        type=cli.open_unit_float,
        default=EPSILON,
        help="|u·v| above ε counts as not orthogonal (default: %(default)s)",
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
        kernels=(geometry.random_pair_dots, geometry.random_unit_vectors, geometry.normalize),
    )


if __name__ == "__main__":
    cli.entry(main)
