"""Random pairs of unit vectors, drawn dimension by dimension, as lessons 04a and 04b draw them.

Both lessons sample the dot products of `pairs` random pairs at each D with
`geometry.random_pair_dots`, one compiled kernel per D, and both refuse the
same sizes: this module is that shared part (the sizes, the draw and its
timing); what each lesson reads from the dot products stays in the lesson.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from trinity_foundations import cli, geometry, timing

MAX_DIM = 2**24  # one vector of 2**24 float32 is 64 MiB; past 2**32 keys overflow uint32
MAX_PAIRS = 10**7
MAX_DIMS = 20  # rows of the lessons' tables and chart
MAX_NUMBERS = 4 * 10**9  # Gaussian numbers in all: about a minute or two on a CPU


@dataclass(frozen=True)
class Draw:
    """How one dimension's sample was drawn: one kernel, compiled apart and run once."""

    dim: int
    compile_ms: float
    run_ms: float
    numbers_drawn: int
    dtype: str  # float32, or float64 under JAX_ENABLE_X64


def draw(seed: int, dim: int, pairs: int) -> tuple[Draw, np.ndarray]:
    """The (pairs,) dot products at `dim`, in float64 for summing, and how they were drawn."""
    compile_ms, run_ms, dots = timing.compile_and_run(
        geometry.random_pair_dots, geometry.dim_key(seed, dim), dim=dim, pairs=pairs
    )  # (pairs,)
    drawn = Draw(dim, compile_ms, run_ms, geometry.numbers_drawn(dim, pairs), str(dots.dtype))
    return drawn, np.asarray(dots, np.float64)


def check_sizes(parser: argparse.ArgumentParser, dims: list[int], pairs: int) -> None:
    """Usage errors for a sample too long to draw or too large to hold."""
    if len(dims) > MAX_DIMS:
        parser.error(f"argument --dims: at most {MAX_DIMS} dimensions, got {len(dims)}")
    total = sum(geometry.numbers_drawn(dim, pairs) for dim in dims)
    if total > MAX_NUMBERS:
        parser.error(
            f"--dims and --pairs: {total:.3g} Gaussian numbers to draw, more than the "
            f"{MAX_NUMBERS:.0e} this lesson allows (about a minute or two on a CPU)"
        )
    cli.require_memory(
        parser, geometry.sample_bytes(dims, pairs), f"--pairs {pairs:,} over these --dims"
    )
