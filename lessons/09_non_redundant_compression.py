"""Lesson 09 — compressing a matrix with no redundancy: Eckart–Young.

A random matrix has all its singular values non-zero, so any low-rank
version loses something. The SVD still gives the best one, and the
Eckart–Young theorem says exactly what it loses: keeping the first r
singular values leaves a Frobenius error of sqrt(s_{r+1}² + … + s_n²). We
check that on the run's own numbers. Entries uniform on [0, 10) do share one
pattern, their mean 5: the all-fives matrix is rank 1, and it is most of s₁.
The centred matrix W − 5 shows what is left.

Appendix: a pretrained weight matrix is full rank like this one; LoRA's
hypothesis is that the *update* a task needs is low rank. An update
ΔW = B·A with B (D, 1) and A (1, D) is rank 1 by construction: one non-zero
singular value, equal to ‖B‖·‖A‖.

Run:  python lessons/09_non_redundant_compression.py [--size 4] [--rank 1]
      [--seed 1234] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console

from trinity_foundations import cli, display, lowrank, sections

SIZE, RANK, HIGH = 4, 1, 10.0  # a SIZE × SIZE matrix uniform on [0, HIGH)
MAX_SIZE = 2_000  # the SVD costs O(n³): about a minute on two CPU cores at this size
MAX_TABLE = 8  # wider matrices do not fit a terminal: their cells print empty
MAX_BARS = 12  # singular values charted; the rest are counted ("… N more")
MAX_TERMS = 6  # terms written out in sqrt(s² + …)
DELTA_B = [[0.9], [0.1], [-0.4], [0.6]]  # (D, r) = (4, 1), the paper's shape
DELTA_A = [[1.0, 2.0, 1.0, 0.5]]  # (r, D) = (1, 4)


def draw(seed: int, size: int, high: float) -> jax.Array:
    """The lesson's random matrix, (size, size), uniform on [0, high)."""
    return jax.random.uniform(jax.random.key(seed), (size, size), maxval=high)


def show_matrix(console: Console, title: str, m, n: int, limit: int) -> None:
    """The n×n matrix as a table, or a line saying it is too wide (n > limit)."""
    if n <= limit and m is not None:
        console.print(display.matrix_table(title, m))
    else:
        console.print(f"({title} is {n}×{n}, too wide to print here; --json has every entry.)")


def singular_value_chart(values: list[float], title: str, bars: int):
    """The first `bars` values charted, the rest counted."""
    labels = [f"s{i + 1}" for i in range(min(len(values), bars))]
    chart = display.bar_chart(labels, values[:bars], title=title, width=30)
    if len(values) > bars:
        chart.add_row("…", f"{len(values) - bars:,} more", "")
    return chart


def numerical_rank(s: jax.Array, shape: tuple[int, ...]) -> tuple[float, int]:
    """(the tolerance s₁ · n · ε, how many singular values lie above it)."""
    tol = lowrank.rank_tolerance(s, shape)
    return tol, int(np.sum(np.asarray(s) > tol))


# ----------------------------------------------------------------------------
# 1. A random matrix.


@dataclass(frozen=True)
class Random:
    size: int
    high: float  # entries uniform on [0, high)
    dtype: str
    matrix: list  # (n, n)
    singular_values: list[float]  # (n,) largest first
    rank_tolerance: float  # s₁ · n · ε: below it a singular value is numerically zero
    numerical_rank: int
    table_limit: int  # matrices wider than this are named, not drawn
    bars: int  # singular values charted


def compute_random(done: dict, *, seed: int, size: int) -> Random:
    w = draw(seed, size, HIGH)  # (n, n)
    s = jnp.linalg.svd(w, compute_uv=False)  # (n,) largest first
    tol, rank = numerical_rank(s, w.shape)
    return Random(size, HIGH, str(w.dtype), w.tolist(), s.tolist(), tol, rank, MAX_TABLE, MAX_BARS)


def rank_sentence(n: int, rank: int) -> str:
    """Whether every direction of the n×n matrix carries something."""
    if rank == n:
        return f"all of them, rank {n}. No direction is redundant, so dropping any costs something."
    return (
        f"only {rank}, rank {rank}. This draw happens to have redundant directions, "
        "which cost nothing to drop."
    )


def say_random(r: Random, console: Console) -> None:
    n = r.size
    console.print(f"Uniform on [0, {r.high:g}):")
    show_matrix(console, "W", r.matrix, n, r.table_limit)
    console.print(singular_value_chart(r.singular_values, "singular values of W", r.bars))
    console.print(
        f"Non-zero (above s₁ · {n} · ε_{r.dtype} = {r.rank_tolerance:.3g}): "
        + rank_sentence(n, r.numerical_rank)
    )


# ----------------------------------------------------------------------------
# 2. Keep the largest singular values.


@dataclass(frozen=True)
class Truncation:
    size: int
    rank: int  # k, the singular values kept
    dtype: str
    reconstruction: list  # (n, n) W_k, of rank k
    mse: float  # per entry, of W − W_k
    frobenius_error: float  # ‖W − W_k‖_F, measured
    eckart_young_error: float  # sqrt(s_{k+1}² + … + s_n²), predicted
    dropped: list[float]  # s_{k+1} … s_n
    energy_kept: float  # (s₁² + … + s_k²) / Σ s²
    stored_numbers: int  # k columns of U·s and k rows of Vᵀ
    table_limit: int
    terms: int  # dropped values written out in the sum


def compute_truncation(done: dict, *, seed: int, rank: int) -> Truncation:
    w_random = done["random"]
    w = draw(seed, w_random.size, w_random.high)  # (n, n)
    s = jnp.array(w_random.singular_values, w.dtype)  # (n,)
    w_k = lowrank.truncate(w, rank)  # (n, n) of rank k
    _, energy = lowrank.singular_value_shares(s)  # (n,)
    return Truncation(
        size=w_random.size,
        rank=rank,
        dtype=w_random.dtype,
        reconstruction=w_k.tolist(),
        mse=float(lowrank.mse(w, w_k)),
        frobenius_error=float(lowrank.frobenius_error(w, w_k)),
        eckart_young_error=float(lowrank.eckart_young_error(s, rank)),
        dropped=w_random.singular_values[rank:],
        energy_kept=float(np.sum(np.asarray(energy)[:rank])),
        stored_numbers=rank * 2 * w_random.size,
        table_limit=MAX_TABLE,
        terms=MAX_TERMS,
    )


def terms(values: list[float], limit: int = MAX_TERMS) -> str:
    """'7.7571² + 6.1000² + 1.5862²', the first `limit` terms and '… N more'; '0' if none."""
    shown = " + ".join(f"{v:.4f}²" for v in values[:limit]) or "0"
    return shown + (f" + … {len(values) - limit:,} more" if len(values) > limit else "")


def storage(n: int, stored: int) -> str:
    """How the rank-r factors compare with W's n² numbers."""
    if stored < n * n:
        return f"It stores {stored:,} numbers instead of {n * n:,}"
    than = "as many as" if stored == n * n else "more than"
    return (
        f"It stores {stored:,} numbers, {than} the {n * n:,} of W itself (at this "
        "rank the factors save nothing),"
    )


def say_truncation(r: Truncation, console: Console) -> None:
    n, k = r.size, r.rank
    console.print(
        f"Keep the largest {display.count(k, 'singular value')} (rank-{k} reconstruction):"
    )
    show_matrix(console, f"W_{k}", r.reconstruction, n, r.table_limit)
    console.print(
        f"{storage(n, r.stored_numbers)} and keeps {display.share(r.energy_kept, 2)} of "
        f"the energy Σ s². Error: MSE {r.mse:.6f} per entry, "
        f"Frobenius ‖W − W_{k}‖ = {r.frobenius_error:.6f}."
    )
    gap = abs(r.frobenius_error - r.eckart_young_error)
    console.print(
        f"Eckart–Young: sqrt({terms(r.dropped, r.terms)}) = {r.eckart_young_error:.6f}; "
        f"measured and predicted differ by {gap:.2g} ({r.dtype}). No rank-{k} matrix can "
        "come closer."
    )


# ----------------------------------------------------------------------------
# 3. The pattern every entry shares.


@dataclass(frozen=True)
class Centred:
    size: int
    rank: int
    level: float  # the mean every entry shares, high / 2
    level_s1: float  # the all-level matrix's one singular value, level · n
    s1: float  # W's largest singular value
    energy_kept: float  # W's, at rank k (section 2)
    centred: list | None  # (n, n) W − level, None when too wide to print
    singular_values: list[float]  # (n,) of W − level
    centred_energy_kept: float  # at rank k
    table_limit: int
    bars: int


def compute_centred(done: dict, *, seed: int) -> Centred:
    w_random, kept = done["random"], done["truncation"]
    n, level = w_random.size, w_random.high / 2
    centred = draw(seed, n, w_random.high) - level  # (n, n): the rank-1 level taken away
    s_c = jnp.linalg.svd(centred, compute_uv=False)  # (n,)
    _, energy_c = lowrank.singular_value_shares(s_c)  # (n,)
    return Centred(
        size=n,
        rank=kept.rank,
        level=level,
        level_s1=level * n,
        s1=w_random.singular_values[0],
        energy_kept=kept.energy_kept,
        centred=centred.tolist() if n <= MAX_TABLE else None,
        singular_values=s_c.tolist(),
        centred_energy_kept=float(np.sum(np.asarray(energy_c)[: kept.rank])),
        table_limit=MAX_TABLE,
        bars=MAX_BARS,
    )


def level_share(level_s1: float, s1: float) -> float:
    """(level · n / s₁)²: the share of s₁² the all-level matrix alone accounts for."""
    return min(1.0, (level_s1 / s1) ** 2)


def level_words(share: float) -> str:
    """'most of' s₁² when the shared level is at least half of it, else 'part of'."""
    return "most of" if share >= 0.5 else "only part of"


def say_centred(r: Centred, console: Console) -> None:
    share = level_share(r.level_s1, r.s1)
    lv = f"{r.level:g}"
    console.print(
        f"Uniform entries on [0, {2 * r.level:g}) average {lv}, so W is the all-{lv}s "
        f"matrix plus noise. That matrix is rank 1 with s₁ = {lv}·{r.size} = "
        f"{r.level_s1:g}, against W's s₁ = {r.s1:.4f}: "
        f"({r.level_s1:g} / {r.s1:.4f})² = {display.share(share, 1)}, "
        f"{level_words(share)} s₁², is that shared level, which is why rank {r.rank} keeps "
        f"{display.share(r.energy_kept, 2)} of W's energy."
    )
    show_matrix(console, f"W − {lv}", r.centred, r.size, r.table_limit)
    console.print(singular_value_chart(r.singular_values, f"singular values of W − {lv}", r.bars))
    console.print(
        f"Centred, the same rank {r.rank} keeps only {display.share(r.centred_energy_kept, 2)} "
        "of the energy: without the shared level, no direction dominates."
    )


# ----------------------------------------------------------------------------
# Appendix: a LoRA update is low-rank by construction.


@dataclass(frozen=True)
class Appendix:
    size: int  # of W above
    dtype: str
    b: list[float]  # B, (D, 1) written as its one column
    a: list[float]  # A, (1, D) written as its one row
    delta: list  # (D, D) ΔW = B·A
    singular_values: list[float]  # (D,) of ΔW
    tolerance: float  # s₁ · D · ε
    rank: int  # singular values above the tolerance
    expected_s1: float  # ‖B‖·‖A‖


def compute_appendix(done: dict) -> Appendix:
    b, a = jnp.array(DELTA_B), jnp.array(DELTA_A)  # (D, 1), (1, D)
    delta = b @ a  # (D, D) rank 1
    s = jnp.linalg.svd(delta, compute_uv=False)  # (D,)
    tol, rank = numerical_rank(s, delta.shape)
    return Appendix(
        size=done["random"].size,
        dtype=done["random"].dtype,
        b=[row[0] for row in DELTA_B],
        a=DELTA_A[0],
        delta=delta.tolist(),
        singular_values=s.tolist(),
        tolerance=tol,
        rank=rank,
        expected_s1=float(np.linalg.norm(DELTA_B) * np.linalg.norm(DELTA_A)),
    )


def say_appendix(r: Appendix, console: Console) -> None:
    console.print(
        "A LoRA update is low-rank by construction. "
        f"A pretrained weight matrix is full rank, like W above: fine-tuning it in full "
        f"changes all {r.size**2:,} numbers of a matrix this size. LoRA's hypothesis is "
        "that the update ΔW a task needs is low rank, so it trains only the thin factors. "
        f"ΔW = B·A with B = {display.vector(r.b, '{:g}')}ᵀ (D×1, the "
        f"paper's shape) and A = {display.vector(r.a, '{:g}')} (1×D)."
    )
    console.print(display.matrix_table("ΔW = B·A", r.delta))
    rest = len(r.singular_values) - r.rank
    console.print(
        f"Its singular values: {display.vector(r.singular_values, '{:.4g}')}; "
        f"{r.rank} above the tolerance s₁ · D · ε_{r.dtype} = "
        f"{r.tolerance:.2g}, the other {rest} numerically zero. The one non-zero "
        f"value equals ‖B‖·‖A‖ = {r.expected_s1:.4f}: every row of ΔW is a multiple of A, "
        "so one direction holds it all."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S, n = sections.Section, args.size
    svd = f"the SVD of a {n}×{n} matrix"
    return [
        S(
            "random",
            partial(compute_random, seed=args.seed, size=n),
            say_random,
            title=f"1. A random {n}×{n} matrix",
            doing=svd,
        ),
        S(
            "truncation",
            partial(compute_truncation, seed=args.seed, rank=args.rank),
            say_truncation,
            title=f"2. A rank-{args.rank} reconstruction",
            doing=svd,
        ),
        S(
            "centred",
            partial(compute_centred, seed=args.seed),
            say_centred,
            title="3. What every entry shares",
            doing=svd,
        ),
        S("appendix", compute_appendix, say_appendix, title="Appendix: LoRA's low-rank update"),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    w, t, c, d = (done[n] for n in ("random", "truncation", "centred", "appendix"))
    return {
        "dtype": w.dtype,
        "size": w.size,
        "rank": t.rank,
        "matrix": w.matrix,
        "singular_values": w.singular_values,
        "rank_tolerance": w.rank_tolerance,
        "numerical_rank": w.numerical_rank,
        "reconstruction": t.reconstruction,
        "mse": t.mse,
        "frobenius_error": t.frobenius_error,
        "eckart_young_error": t.eckart_young_error,
        "energy_kept": t.energy_kept,
        "fives_s1": c.level_s1,
        "centred": c.centred,
        "centred_singular_values": c.singular_values,
        "centred_energy_kept": c.centred_energy_kept,
        "stored_numbers": t.stored_numbers,
        "delta": d.delta,
        "delta_singular_values": d.singular_values,
        "delta_tolerance": d.tolerance,
        "delta_rank": d.rank,
        "expected_s1": d.expected_s1,
    }


def rank_bullet(w: Random, t: Truncation) -> str:
    """Whether the random matrix is full rank, and what keeping k values then costs."""
    n, k, rank = w.size, t.rank, w.numerical_rank
    which = f"all {n}" if rank == n else f"only {rank} of {n}"
    head = f"The random {n}×{n} matrix has {which} singular values non-zero"
    if n == 1:
        head = f"The random 1×1 matrix has {'a non-zero' if rank else 'a zero'} singular value"
    if k >= n:
        return f"{head}; keeping all {n} reproduces it, error {t.frobenius_error:.6f}."
    return (
        f"{head}; keeping {k} leaves a Frobenius error of {t.frobenius_error:.6f}, "
        f"the least a rank-{k} matrix can."
    )


def level_bullet(c: Centred) -> str:
    """How much of the kept energy is the level every entry shares, against the centred matrix."""
    share, lv = level_share(c.level_s1, c.s1), f"{c.level:g}"
    kept, centred = c.energy_kept, c.centred_energy_kept
    head = (
        f"The mean {lv} every entry shares (a rank-1 matrix) is {level_words(share)} "
        f"s₁²: rank {c.rank} kept {display.share(kept, 2)} of W's energy"
    )
    if centred < kept:
        return f"{head}, only {display.share(centred, 2)} of W − {lv}'s."
    return f"{head}, and {display.share(centred, 2)} of W − {lv}'s."


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    d = done["appendix"]
    return [
        rank_bullet(done["random"], done["truncation"]),
        level_bullet(done["centred"]),
        f"A LoRA update ΔW = B·A has rank {d.rank} by construction: its one non-zero "
        f"singular value is ‖B‖·‖A‖ = {d.expected_s1:.4f}.",
    ]


KERNELS = (
    lowrank.truncate,
    lowrank.mse,
    lowrank.frobenius_error,
    lowrank.eckart_young_error,
    lowrank.singular_value_shares,
)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=1234)
    parser.add_argument(
        "--size",
        type=cli.int_in(1, MAX_SIZE, "the SVD's run time grows as size³"),
        default=SIZE,
        help=f"rows and columns of the random matrix, at most {MAX_SIZE:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--rank",
        type=cli.int_in(1, MAX_SIZE, "at most --size"),
        default=RANK,
        help="singular values to keep, at most --size (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.rank > args.size:
        parser.error(f"argument --rank: must be at most --size ({args.size}), got {args.rank}")
    itemsize = jnp.zeros(()).dtype.itemsize  # 4, or 8 under JAX_ENABLE_X64=1
    cli.require_memory(  # W, W − 5, W_r, U, Vᵀ and the SVD's workspace: about 8 n² numbers
        parser, 8 * args.size**2 * itemsize, f"--size {args.size} (eight {args.size}² arrays)"
    )
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=KERNELS
    )


if __name__ == "__main__":
    cli.entry(main)
