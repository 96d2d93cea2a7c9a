"""Lesson 1.4 — cosine similarity: the angle between two vectors as one number.

Normalise each vector to unit length, then take the dot product: the result is
cos(angle), 1 for the same direction, 0 for perpendicular, -1 for opposite.
The zero vector has no direction; we clamp its norm at 1e-10 so it maps to
zero (similarity 0) instead of dividing by zero (NaN).

Run:  python lessons/04_dot_product.py [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import math

import jax.numpy as jnp
from rich.table import Table

from trinity_foundations import cli
from trinity_foundations.geometry import cosine_similarity, normalize

UP, RIGHT, DIAGONAL = [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]


def degrees(cos: float) -> float:
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def run() -> dict:
    up, right, diagonal = jnp.array(UP), jnp.array(RIGHT), jnp.array(DIAGONAL)  # (2,) each
    pairs = {
        "up_right": (up, right),
        "up_diagonal": (up, diagonal),
        "up_up": (up, up),
    }
    sims = {name: float(cosine_similarity(a, b)) for name, (a, b) in pairs.items()}

    # The batched form: every pair at once, one row per pair.
    a = jnp.stack([p[0] for p in pairs.values()])  # (3, 2)
    b = jnp.stack([p[1] for p in pairs.values()])  # (3, 2)
    batched = cosine_similarity(a, b)  # (3,)

    zero = jnp.zeros(2)  # (2,)
    return {
        **sims,
        "angles_deg": {name: degrees(s) for name, s in sims.items()},
        "zero_vector_similarity": float(cosine_similarity(zero, up)),
        "zero_vector_normalized": normalize(zero).tolist(),
        "batched": batched.tolist(),
        "batched_matches": bool(jnp.allclose(batched, jnp.array(list(sims.values())))),
    }


def report(r: dict, console) -> None:
    table = Table(title="Cosine similarity of 2-D directions")
    for col in ("pair", "cos", "angle"):
        table.add_column(col, justify="right" if col != "pair" else "left")
    names = {"up_right": "up · right", "up_diagonal": "up · diagonal", "up_up": "up · up"}
    for key, label in names.items():
        table.add_row(label, f"{r[key]:.4f}", f"{r['angles_deg'][key]:.1f}°")
    console.print(table)
    turn = r["angles_deg"]["up_diagonal"]
    console.print(
        f"Perpendicular vectors score {r['up_right']:.4f}; a {turn:.0f}° turn scores "
        f"{r['up_diagonal']:.4f} (that is cos {turn:.0f}° = 1/√2); the same direction "
        f"scores {r['up_up']:.4f}."
    )
    console.print(
        f"The zero vector normalises to {r['zero_vector_normalized']} and its "
        f"similarity to anything is {r['zero_vector_similarity']:.1f}, not NaN: "
        "the norm is clamped at 1e-10 before dividing."
    )
    verdict = "matches" if r["batched_matches"] else "does NOT match"
    console.print(f"The batched form (all three pairs in one call) {verdict} the pairwise one.")


def zero_bullet(similarity: float) -> str:
    """What the zero vector scored: 0 thanks to the clamp, or NaN without it."""
    if math.isnan(similarity):
        return "The zero vector scored NaN: its norm was not clamped before dividing."
    return (
        f"The zero vector scored {similarity:.1f}, not NaN: its norm is clamped before "
        "dividing, so a direction that is not there counts as unrelated."
    )


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    turn = r["angles_deg"]["up_diagonal"]
    verdict = "matched" if r["batched_matches"] else "did NOT match"
    return [
        f"Perpendicular vectors scored {r['up_right']:.4f}, a {turn:.0f}° turn "
        f"{r['up_diagonal']:.4f}, the same direction {r['up_up']:.4f}: the score is the "
        "cosine of the angle.",
        zero_bullet(r["zero_vector_similarity"]),
        f"One batched call scored all {len(r['batched'])} pairs at once and {verdict} the "
        "pairwise results.",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    args = parser.parse_args(argv)
    cli.finish(
        args,
        __file__,
        run(),
        report,
        kernels=(normalize, cosine_similarity),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
