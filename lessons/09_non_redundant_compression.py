"""Lesson 4.2 — compressing a matrix with no redundancy: Eckart–Young, live.

A random matrix has no repeated pattern: all its singular values are
non-zero, so any low-rank version loses something. The SVD still gives the
best one, and the Eckart–Young theorem says exactly what it loses: keeping
the first r singular values leaves a Frobenius error of
sqrt(s_{r+1}² + … + s_n²). We check that on the run's own numbers.

Appendix: a LoRA update ΔW = B·A with B (D, 1) and A (1, D) is rank 1 by
construction: one non-zero singular value, equal to ‖B‖·‖A‖.

Run:  python lessons/09_non_redundant_compression.py [--size 4] [--rank 1]
      [--seed 1234] [--json] [--show-code]
"""

from __future__ import annotations

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
MAX_TABLE = 8  # wider matrices do not fit a terminal: their cells print empty
DELTA_B = [[0.9], [0.1], [-0.4], [0.6]]  # (D, r) = (4, 1), the paper's shape
DELTA_A = [[1.0, 2.0, 1.0, 0.5]]  # (r, D) = (1, 4)


def run(seed: int, size: int, rank: int) -> dict:
    w = jax.random.uniform(jax.random.key(seed), (size, size), maxval=HIGH)  # (n, n)
    s = jnp.linalg.svd(w, compute_uv=False)  # (n,) largest first
    w_r = truncate(w, rank)  # (n, n) of rank `rank`
    _, energy = singular_value_shares(s)  # (n,)
    tol = rank_tolerance(s, w.shape)

    b, a = jnp.array(DELTA_B), jnp.array(DELTA_A)  # (D, 1), (1, D)
    delta = b @ a  # (D, D) rank 1
    s_delta = jnp.linalg.svd(delta, compute_uv=False)  # (D,)
    return {
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
        "stored_numbers": rank * 2 * size,  # r columns of U·s and r rows of Vᵀ
        "delta": delta.tolist(),
        "delta_singular_values": s_delta.tolist(),
        "delta_rank": int(np.sum(np.asarray(s_delta) > rank_tolerance(s_delta, delta.shape))),
        "expected_s1": float(np.linalg.norm(DELTA_B) * np.linalg.norm(DELTA_A)),  # ‖B‖·‖A‖
    }


def percent(p: float) -> str:
    """'83.45%', but never a rounded '100.00%' or '0.00%' for a share that is not exactly so."""
    text = f"{p:.2%}"
    if p < 1 and text == "100.00%":
        return "over 99.99%"
    if p > 0 and text == "0.00%":
        return "under 0.01%"
    return text


def report(r: dict, console) -> None:
    n, k, s = r["size"], r["rank"], r["singular_values"]

    def matrix(title: str, m) -> None:
        if n <= MAX_TABLE:
            console.print(display.matrix_table(title, m))
        else:
            console.print(f"({title} is {n}×{n}, too wide to print here; --json has every entry.)")

    console.print(f"[bold]1. A random {n}×{n} matrix[/], uniform on [0, {HIGH:g})")
    matrix("W", r["matrix"])
    console.print(
        display.bar_chart(
            [f"s{i + 1}" for i in range(n)], s, title="singular values of W", width=30
        )
    )
    full = r["numerical_rank"] == n
    console.print(
        f"Non-zero (above s₁ · {n} · ε_float32 = {r['rank_tolerance']:.3g}): "
        f"{'all of them' if full else 'only ' + str(r['numerical_rank'])}, "
        f"rank {r['numerical_rank']}. "
        + (
            "No direction is redundant, so dropping any costs something."
            if full
            else "This draw happens to have redundant directions, which cost nothing to drop."
        )
    )

    plural = "" if k == 1 else "s"
    console.print(
        f"\n[bold]2. Keep the largest {k} singular value{plural}[/] (rank-{k} reconstruction)"
    )
    matrix(f"W_{k}", r["reconstruction"])
    dropped = " + ".join(f"{v:.4f}²" for v in s[k:]) or "0"  # nothing dropped at k = n
    stored = r["stored_numbers"]
    if stored < n * n:
        storage = f"It stores {stored} numbers instead of {n * n}"
    else:  # r (2n) ≥ n²: the factors are no smaller than W
        than = "as many as" if stored == n * n else "more than"
        storage = (
            f"It stores {stored} numbers, {than} the {n * n} of W itself (at this "
            "rank the factors save nothing),"
        )
    console.print(
        f"{storage} and keeps {percent(r['energy_kept'])} of the energy Σ s². "
        f"Error: MSE {r['mse']:.6f} per entry, "
        f"Frobenius ‖W − W_{k}‖ = {r['frobenius_error']:.6f}."
    )
    gap = abs(r["frobenius_error"] - r["eckart_young_error"])
    console.print(
        f"Eckart–Young: sqrt({dropped}) = {r['eckart_young_error']:.6f}; measured and "
        f"predicted differ by {gap:.2g} (float32). No rank-{k} matrix can come closer."
    )

    console.print("\n[bold]Appendix: a LoRA update is low-rank by construction[/]")
    console.print(
        f"ΔW = B·A with B = {display.vector([row[0] for row in DELTA_B], '{:g}')}ᵀ (D×1, the "
        f"paper's shape) and A = {display.vector(DELTA_A[0], '{:g}')} (1×D)."
    )
    console.print(display.matrix_table("ΔW = B·A", r["delta"]))
    console.print(
        f"Its singular values: {display.vector(r['delta_singular_values'], '{:.4g}')}; "
        f"{r['delta_rank']} above the tolerance. The one non-zero value equals "
        f"‖B‖·‖A‖ = {r['expected_s1']:.4f}: every row of ΔW is a multiple of A, so one "
        "direction holds it all."
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=1234)
    parser.add_argument(
        "--size",
        type=cli.positive_int,
        default=SIZE,
        help="rows and columns of the random matrix (default: %(default)s)",
    )
    parser.add_argument(
        "--rank",
        type=cli.positive_int,
        default=RANK,
        help="singular values to keep, at most --size (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.rank > args.size:
        parser.error(f"argument --rank: must be at most --size ({args.size}), got {args.rank}")
    cli.finish(
        args,
        __file__,
        run(args.seed, args.size, args.rank),
        report,
        kernels=(truncate, mse, frobenius_error, eckart_young_error, singular_value_shares),
        title=__doc__,
    )


if __name__ == "__main__":
    cli.entry(main)
