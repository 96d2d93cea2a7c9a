"""Lesson 4.2 — compressing a matrix with no redundancy: Eckart–Young, live.

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
import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations import cli, display
from trinity_foundations.lowrank import (
    eckart_young_error,
    frobenius_error,
    mse,
    rank_tolerance,
    singular_value_shares,
    truncate,
)

SIZE, RANK, HIGH = 4, 1, 10.0  # a SIZE × SIZE matrix uniform on [0, HIGH)
MAX_SIZE = 2_000  # the SVD costs O(n³): about a minute on two CPU cores at this size
MAX_TABLE = 8  # wider matrices do not fit a terminal: their cells print empty
MAX_BARS = 12  # singular values charted; the rest are counted ("… N more")
MAX_TERMS = 6  # terms written out in sqrt(s² + …)
DELTA_B = [[0.9], [0.1], [-0.4], [0.6]]  # (D, r) = (4, 1), the paper's shape
DELTA_A = [[1.0, 2.0, 1.0, 0.5]]  # (r, D) = (1, 4)


def run(seed: int, size: int, rank: int) -> dict:
    w = jax.random.uniform(jax.random.key(seed), (size, size), maxval=HIGH)  # (n, n)
    s = jnp.linalg.svd(w, compute_uv=False)  # (n,) largest first
    w_r = truncate(w, rank)  # (n, n) of rank `rank`
    _, energy = singular_value_shares(s)  # (n,)
    tol = rank_tolerance(s, w.shape)
    centred = w - HIGH / 2  # (n, n): the all-fives rank-1 pattern taken away
    s_c = jnp.linalg.svd(centred, compute_uv=False)  # (n,)
    _, energy_c = singular_value_shares(s_c)  # (n,)

    b, a = jnp.array(DELTA_B), jnp.array(DELTA_A)  # (D, 1), (1, D)
    delta = b @ a  # (D, D) rank 1
    s_delta = jnp.linalg.svd(delta, compute_uv=False)  # (D,)
    return {
        "dtype": str(w.dtype),
        "size": size,
        "rank": rank,
        "matrix": w.tolist(),
        "singular_values": s.tolist(),
        "rank_tolerance": tol,
        "numerical_rank": int(np.sum(np.asarray(s) > tol)),
        "reconstruction": w_r.tolist(),
        "mse": float(mse(w, w_r)),
        "frobenius_error": float(frobenius_error(w, w_r)),
        "eckart_young_error": float(eckart_young_error(s, rank)),
        "energy_kept": float(np.sum(np.asarray(energy)[:rank])),
        "fives_s1": HIGH / 2 * size,  # the all-fives matrix's one singular value, 5·n
        "centred": centred.tolist() if size <= MAX_TABLE else None,
        "centred_singular_values": s_c.tolist(),
        "centred_energy_kept": float(np.sum(np.asarray(energy_c)[:rank])),
        "stored_numbers": rank * 2 * size,  # r columns of U·s and r rows of Vᵀ
        "delta": delta.tolist(),
        "delta_singular_values": s_delta.tolist(),
        "delta_tolerance": rank_tolerance(s_delta, delta.shape),
        "delta_rank": int(np.sum(np.asarray(s_delta) > rank_tolerance(s_delta, delta.shape))),
        "expected_s1": float(np.linalg.norm(DELTA_B) * np.linalg.norm(DELTA_A)),  # ‖B‖·‖A‖
    }


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


def report_matrix(r: dict, console, title: str, m) -> None:
    n = r["size"]
    if n <= MAX_TABLE and m is not None:
        console.print(display.matrix_table(title, m))
    else:
        console.print(f"({title} is {n}×{n}, too wide to print here; --json has every entry.)")


def singular_value_chart(values: list[float], title: str):
    labels = [f"s{i + 1}" for i in range(min(len(values), MAX_BARS))]
    chart = display.bar_chart(labels, values[:MAX_BARS], title=title, width=30)
    if len(values) > MAX_BARS:
        chart.add_row("…", f"{len(values) - MAX_BARS:,} more", "")
    return chart


def report_random(r: dict, console) -> None:
    n, s = r["size"], r["singular_values"]
    console.print(f"[bold]1. A random {n}×{n} matrix[/], uniform on [0, {HIGH:g})")
    report_matrix(r, console, "W", r["matrix"])
    console.print(singular_value_chart(s, "singular values of W"))
    full = r["numerical_rank"] == n
    console.print(
        f"Non-zero (above s₁ · {n} · ε_{r['dtype']} = {r['rank_tolerance']:.3g}): "
        f"{'all of them' if full else 'only ' + str(r['numerical_rank'])}, "
        f"rank {r['numerical_rank']}. "
        + (
            "No direction is redundant, so dropping any costs something."
            if full
            else "This draw happens to have redundant directions, which cost nothing to drop."
        )
    )


def report_truncation(r: dict, console) -> None:
    n, k, s = r["size"], r["rank"], r["singular_values"]
    console.print(
        f"\n[bold]2. Keep the largest {display.count(k, 'singular value')}[/] "
        f"(rank-{k} reconstruction)"
    )
    report_matrix(r, console, f"W_{k}", r["reconstruction"] if n <= MAX_TABLE else None)
    console.print(
        f"{storage(n, r['stored_numbers'])} and keeps {display.share(r['energy_kept'], 2)} of "
        f"the energy Σ s². Error: MSE {r['mse']:.6f} per entry, "
        f"Frobenius ‖W − W_{k}‖ = {r['frobenius_error']:.6f}."
    )
    gap = abs(r["frobenius_error"] - r["eckart_young_error"])
    console.print(
        f"Eckart–Young: sqrt({terms(s[k:])}) = {r['eckart_young_error']:.6f}; measured and "
        f"predicted differ by {gap:.2g} ({r['dtype']}). No rank-{k} matrix can come closer."
    )


def level_share(r: dict) -> float:
    """(5·n / s₁)²: the share of s₁² the all-fives matrix alone accounts for."""
    return min(1.0, (r["fives_s1"] / r["singular_values"][0]) ** 2)


def level_words(share: float) -> str:
    """'most of' s₁² when the shared level is at least half of it, else 'part of'."""
    return "most of" if share >= 0.5 else "only part of"


def report_centred(r: dict, console) -> None:
    n, k = r["size"], r["rank"]
    share = level_share(r)
    console.print(f"\n[bold]3. The pattern every entry shares: its mean {HIGH / 2:g}[/]")
    console.print(
        f"Uniform entries on [0, {HIGH:g}) average {HIGH / 2:g}, so W is the all-{HIGH / 2:g}s "
        f"matrix plus noise. That matrix is rank 1 with s₁ = {HIGH / 2:g}·{n} = "
        f"{r['fives_s1']:g}, against W's s₁ = {r['singular_values'][0]:.4f}: "
        f"({r['fives_s1']:g} / {r['singular_values'][0]:.4f})² = {display.share(share, 1)}, "
        f"{level_words(share)} s₁², is that shared level, which is why rank {k} keeps "
        f"{display.share(r['energy_kept'], 2)} of W's energy."
    )
    report_matrix(r, console, f"W − {HIGH / 2:g}", r["centred"])
    console.print(
        singular_value_chart(r["centred_singular_values"], f"singular values of W − {HIGH / 2:g}")
    )
    console.print(
        f"Centred, the same rank {k} keeps only {display.share(r['centred_energy_kept'], 2)} "
        "of the energy: without the shared level, no direction dominates."
    )


def report_appendix(r: dict, console) -> None:
    console.print("\n[bold]Appendix: a LoRA update is low-rank by construction[/]")
    console.print(
        f"A pretrained weight matrix is full rank, like W above: fine-tuning it in full "
        f"changes all {r['size'] ** 2:,} numbers of a matrix this size. LoRA's hypothesis is "
        "that the update ΔW a task needs is low rank, so it trains only the thin factors. "
        f"ΔW = B·A with B = {display.vector([row[0] for row in DELTA_B], '{:g}')}ᵀ (D×1, the "
        f"paper's shape) and A = {display.vector(DELTA_A[0], '{:g}')} (1×D)."
    )
    console.print(display.matrix_table("ΔW = B·A", r["delta"]))
    rest = len(r["delta_singular_values"]) - r["delta_rank"]
    console.print(
        f"Its singular values: {display.vector(r['delta_singular_values'], '{:.4g}')}; "
        f"{r['delta_rank']} above the tolerance s₁ · D · ε_{r['dtype']} = "
        f"{r['delta_tolerance']:.2g}, the other {rest} numerically zero. The one non-zero "
        f"value equals ‖B‖·‖A‖ = {r['expected_s1']:.4f}: every row of ΔW is a multiple of A, "
        "so one direction holds it all."
    )


def report(r: dict, console) -> None:
    report_random(r, console)
    report_truncation(r, console)
    report_centred(r, console)
    report_appendix(r, console)


def rank_bullet(r: dict) -> str:
    """Whether the random matrix is full rank, and what keeping k values then costs."""
    n, k, rank = r["size"], r["rank"], r["numerical_rank"]
    which = f"all {n}" if rank == n else f"only {rank} of {n}"
    head = f"The random {n}×{n} matrix has {which} singular values non-zero"
    if n == 1:
        head = f"The random 1×1 matrix has {'a non-zero' if rank else 'a zero'} singular value"
    if k >= n:
        return f"{head}; keeping all {n} reproduces it, error {r['frobenius_error']:.6f}."
    return (
        f"{head}; keeping {k} leaves a Frobenius error of {r['frobenius_error']:.6f}, "
        f"the least a rank-{k} matrix can."
    )


def level_bullet(r: dict) -> str:
    """How much of the kept energy is the level every entry shares, against the centred matrix."""
    level, k = r["fives_s1"] / r["size"], r["rank"]
    share = level_share(r)
    kept, centred = r["energy_kept"], r["centred_energy_kept"]
    head = (
        f"The mean {level:g} every entry shares (a rank-1 matrix) is {level_words(share)} "
        f"s₁²: rank {k} kept {display.share(kept, 2)} of W's energy"
    )
    if centred < kept:
        return f"{head}, only {display.share(centred, 2)} of W − {level:g}'s."
    return f"{head}, and {display.share(centred, 2)} of W − {level:g}'s."


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [
        rank_bullet(r),
        level_bullet(r),
        f"A LoRA update ΔW = B·A has rank {r['delta_rank']} by construction: its one non-zero "
        f"singular value is ‖B‖·‖A‖ = {r['expected_s1']:.4f}.",
    ]


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
    cli.finish(
        args,
        __file__,
        run(args.seed, args.size, args.rank),
        report,
        kernels=(truncate, mse, frobenius_error, eckart_young_error, singular_value_shares),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
