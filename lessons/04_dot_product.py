"""Lesson 04 — cosine similarity: the angle between two vectors.

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
from dataclasses import dataclass

import jax.numpy as jnp
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, geometry, sections

UP, RIGHT, DIAGONAL = [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]
PAIRS = {  # name -> (first, second, label)
    "up_right": (UP, RIGHT, "up · right"),
    "up_diagonal": (UP, DIAGONAL, "up · diagonal"),
    "up_up": (UP, UP, "up · up"),
}


def degrees(cos: float) -> float:
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


# ----------------------------------------------------------------------------
# 1. Three pairs of directions, one at a time.


@dataclass(frozen=True)
class Pairs:
    labels: dict[str, str]  # name -> "up · right"
    cos: dict[str, float]  # name -> cosine similarity
    angles_deg: dict[str, float]  # name -> the angle it stands for


def compute_pairs(done: dict) -> Pairs:
    cos = {
        name: float(geometry.cosine_similarity(jnp.array(a), jnp.array(b)))  # (2,), (2,) -> ()
        for name, (a, b, _) in PAIRS.items()
    }
    return Pairs(
        labels={name: label for name, (_, _, label) in PAIRS.items()},
        cos=cos,
        angles_deg={name: degrees(c) for name, c in cos.items()},
    )


def say_pairs(r: Pairs, console: Console) -> None:
    table = Table(title="Cosine similarity of 2-D directions")
    for col in ("pair", "cos", "angle"):
        table.add_column(col, justify="right" if col != "pair" else "left")
    for name, label in r.labels.items():
        table.add_row(label, f"{r.cos[name]:.4f}", f"{r.angles_deg[name]:.1f}°")
    console.print(table)
    turn = r.angles_deg["up_diagonal"]
    console.print(
        f"Perpendicular vectors score {r.cos['up_right']:.4f}; a {turn:.0f}° turn scores "
        f"{r.cos['up_diagonal']:.4f} (that is cos {turn:.0f}° = 1/√2); the same direction "
        f"scores {r.cos['up_up']:.4f}."
    )


# ----------------------------------------------------------------------------
# 2. The zero vector: no direction, and no NaN.


@dataclass(frozen=True)
class Zero:
    similarity: float  # cosine similarity of (0, 0) with up
    normalized: list[float]  # (0, 0) normalised
    clamp: float  # the smallest norm normalize divides by


def compute_zero(done: dict) -> Zero:
    zero = jnp.zeros(2)  # (2,)
    return Zero(
        similarity=float(geometry.cosine_similarity(zero, jnp.array(UP))),
        normalized=geometry.normalize(zero).tolist(),
        clamp=geometry.EPS,
    )


def say_zero(r: Zero, console: Console) -> None:
    console.print(
        f"The zero vector normalises to {r.normalized} and its "
        f"similarity to anything is {r.similarity:.1f}, not NaN: "
        f"the norm is clamped at {r.clamp:g} before dividing."
    )


def zero_bullet(similarity: float) -> str:
    """What the zero vector scored: 0 thanks to the clamp, or NaN without it."""
    if math.isnan(similarity):
        return "The zero vector scored NaN: its norm was not clamped before dividing."
    return (
        f"The zero vector scored {similarity:.1f}, not NaN: its norm is clamped before "
        "dividing, so a direction that is not there counts as unrelated."
    )


# ----------------------------------------------------------------------------
# 3. Every pair in one call.


@dataclass(frozen=True)
class Batched:
    values: list[float]  # one similarity per pair, from one call
    matches: bool  # whether they equal the pairwise ones (allclose)


def compute_batched(done: dict) -> Batched:
    a = jnp.array([first for first, _, _ in PAIRS.values()])  # (3, 2)
    b = jnp.array([second for _, second, _ in PAIRS.values()])  # (3, 2)
    batched = geometry.cosine_similarity(a, b)  # (3,)
    pairwise = jnp.array(list(done["pairs"].cos.values()))  # (3,)
    return Batched(values=batched.tolist(), matches=bool(jnp.allclose(batched, pairwise)))


def match_word(matches: bool, past: bool = False) -> str:
    """'matches' or 'does NOT match' (in the past tense: 'matched', 'did NOT match')."""
    if past:
        return "matched" if matches else "did NOT match"
    return "matches" if matches else "does NOT match"


def say_batched(r: Batched, console: Console) -> None:
    console.print(
        f"The batched form (all {len(r.values)} pairs in one call) {match_word(r.matches)} "
        "the pairwise one."
    )


# ----------------------------------------------------------------------------
# The lesson.

SECTIONS = [
    sections.Section("pairs", compute_pairs, say_pairs),
    sections.Section("zero", compute_zero, say_zero),
    sections.Section("batched", compute_batched, say_batched),
]


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract."""
    pairs, zero, batched = done["pairs"], done["zero"], done["batched"]
    return {
        **pairs.cos,
        "angles_deg": pairs.angles_deg,
        "zero_vector_similarity": zero.similarity,
        "zero_vector_normalized": zero.normalized,
        "batched": batched.values,
        "batched_matches": batched.matches,
    }


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    pairs, batched = done["pairs"], done["batched"]
    turn = pairs.angles_deg["up_diagonal"]
    return [
        f"Perpendicular vectors scored {pairs.cos['up_right']:.4f}, a {turn:.0f}° turn "
        f"{pairs.cos['up_diagonal']:.4f}, the same direction {pairs.cos['up_up']:.4f}: the "
        "score is the cosine of the angle.",
        zero_bullet(done["zero"].similarity),
        f"One batched call scored all {len(batched.values)} pairs at once and "
        f"{match_word(batched.matches, past=True)} the pairwise results.",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    args = parser.parse_args(argv)
    sections.run(
        args,
        __file__,
        __doc__,
        SECTIONS,
        summary=summary,
        results=results,
        kernels=(geometry.normalize, geometry.cosine_similarity),  # after --mine swapped them
    )


if __name__ == "__main__":
    cli.entry(main)
