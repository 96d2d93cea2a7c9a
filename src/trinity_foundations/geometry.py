"""High-dimensional geometry: normalisation, cosine similarity, random
directions on the unit sphere and how their dot products concentrate."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy.special import betainc

EPS = 1e-10  # the norm is clamped below at EPS, so the zero vector stays zero

# Numbers per sampled (chunk, D) block of random_pair_dots: 4 MiB of float32
# rather than all pairs at once (2 x 10,000 x 8,192 x 4 B = 655 MB at D = 8192).
# From 2**14 to 2**23 the block size barely changed the speed on a 2-core CPU.
CHUNK_ELEMENTS = 2**20


@jax.jit
def normalize(v: jax.Array) -> jax.Array:
    """v / max(‖v‖, EPS) along the last axis; the zero vector maps to zero, not NaN.

    Args:
      v: (..., D) vectors.
    Returns:
      (..., D) unit vectors (or zeros).
    """
    norm = jnp.linalg.norm(v, axis=-1, keepdims=True)  # (..., 1)
    return v / jnp.maximum(norm, EPS)  # (..., D)


@jax.jit
def cosine_similarity(a: jax.Array, b: jax.Array) -> jax.Array:
    """cos(angle) between a and b along the last axis; 0 when either is zero.

    Args:
      a, b: (..., D) vectors of broadcast-compatible batch shapes.
    Returns:
      (...) similarities in [-1, 1].
    """
    return jnp.sum(normalize(a) * normalize(b), axis=-1)  # (...)


@functools.partial(jax.jit, static_argnames=("n", "dim"))
def random_unit_vectors(key: jax.Array, *, n: int, dim: int) -> jax.Array:
    """n independent directions drawn uniformly from the unit sphere in R^dim.

    A standard Gaussian vector looks the same from every direction (its density
    depends only on its length), so its direction is uniform on the sphere.

    Args:
      key: a PRNG key.
      n, dim: how many vectors, and their dimension D.
    Returns:
      (n, D) unit vectors, float32 (float64 under JAX_ENABLE_X64).
    """
    return normalize(jax.random.normal(key, (n, dim)))  # (n, D)


def chunking(dim: int, pairs: int) -> tuple[int, int]:
    """(pairs per chunk, chunks) for random_pair_dots: a chunk holds about
    CHUNK_ELEMENTS numbers per vector set; the last chunk may overshoot
    `pairs`, and the extra pairs are drawn and then dropped."""
    chunk = max(1, min(pairs, CHUNK_ELEMENTS // dim))
    return chunk, -(-pairs // chunk)


@functools.partial(jax.jit, static_argnames=("dim", "pairs"))
def random_pair_dots(key: jax.Array, *, dim: int, pairs: int) -> jax.Array:
    """Dot products u·v of `pairs` independent pairs of uniform unit vectors.

    Sample, normalise and dot run as one compiled loop over chunks of pairs
    (lax.map), so only one chunk of vectors exists at a time. The numbers
    drawn depend on (key, dim, pairs) alone.

    Args:
      key: a PRNG key.
      dim, pairs: the dimension D and the number of pairs.
    Returns:
      (pairs,) dot products in [-1, 1], float32 (float64 under JAX_ENABLE_X64).
    """
    chunk, n_chunks = chunking(dim, pairs)

    def chunk_dots(k_uv: jax.Array) -> jax.Array:
        u = random_unit_vectors(k_uv[0], n=chunk, dim=dim)  # (chunk, D)
        v = random_unit_vectors(k_uv[1], n=chunk, dim=dim)  # (chunk, D)
        return jnp.sum(u * v, axis=-1)  # (chunk,)

    # JAX's default ("partitionable") threefry hashes once per 32-bit number, so
    # that arrays split across devices draw the same numbers; the classic one
    # gets two numbers from each hash: half the hashing on one device. On a
    # shared 2-core CPU the lessons' sampling ran 2-3x, compiled ~1.5x faster.
    with jax.threefry_partitionable(False):
        # Every key split off at the top: splitting inside the loop body would
        # add a third copy of the RNG code to compile (~20 % more compile time).
        keys = jax.random.split(key, (n_chunks, 2))  # (n_chunks, 2)
        return jax.lax.map(chunk_dots, keys).reshape(-1)[:pairs]  # (pairs,)


def dim_key(seed: int, dim: int) -> jax.Array:
    """The key of dimension D's sample, fold_in(key(seed), D): a row's numbers
    never depend on which other dimensions are listed."""
    return jax.random.fold_in(jax.random.key(seed), dim)


def numbers_drawn(dim: int, pairs: int) -> int:
    """Gaussian numbers random_pair_dots draws for (dim, pairs), the dropped extra
    pairs of its last chunk included: its cost in time."""
    chunk, n_chunks = chunking(dim, pairs)
    return 2 * chunk * n_chunks * dim


def sample_bytes(dims: list[int], pairs: int) -> int:
    """Peak memory of sampling every D: each D's (pairs,) dots and float64 copy
    kept, plus the largest chunk's two (chunk, D) vector sets, with room for the
    normal sampler's temporaries (three times that); 8-byte floats, as under x64."""
    chunks = max(2 * chunking(dim, pairs)[0] * dim * 8 * 3 for dim in dims)
    return len(dims) * pairs * (8 + 8) + chunks


@jax.jit
def hoeffding_bound(dim: jax.Array, epsilon: jax.Array) -> jax.Array:
    """The concentration bound P(|u·v| > ε) ≤ 2·exp(-D·ε²/2).

    For independent uniform unit vectors u, v in R^D, u·v is distributed as
    one coordinate of u, and the sphere's cap beyond ε has measure at most
    exp(-D·ε²/2): a Hoeffding-type (sub-Gaussian) tail with variance proxy 1/D.
    Above 1 the bound says nothing (it is vacuous).

    References:
      K. Ball, An elementary introduction to modern convex geometry, in
      Flavors of Geometry, MSRI Publications 31 (1997), Lemma 2.2.

    Args:
      dim: (...) dimensions D.
      epsilon: (...) thresholds ε in (0, 1).
    Returns:
      (...) the bound, a probability (it may exceed 1).
    """
    return 2 * jnp.exp(-dim * epsilon**2 / 2)  # (...)


@jax.jit
def exact_tail(dim: jax.Array, epsilon: jax.Array) -> jax.Array:
    """The exact P(|u·v| > ε) for independent uniform unit vectors in R^D.

    (1 + u·v)/2 ~ Beta(a, a) with a = (D-1)/2: u·v has density proportional
    to (1 - t²)^((D-3)/2) on [-1, 1]. The law is symmetric, so both tails
    equal the regularized incomplete beta I_x(a, a) at x = (1-ε)/2 < 1/2,
    where betainc sums its continued fraction directly (no 1 - p cancellation).
    D = 1 is the sphere {-1, 1}: u·v = ±1, always beyond ε.

    Precision: betainc's log-prefactor cancels terms of size ~D·log 2, so the
    relative error grows with D. Against a float64 integration of the density,
    float32 is off by ~7e-3 at D = 8192 (ε = 0.05) and underflows to 0 below
    ~1e-38; float64 (inputs of that dtype, under jax.enable_x64) is off by
    ~1e-11 there and underflows only below ~1e-308.

    Args:
      dim: (...) dimensions D ≥ 1.
      epsilon: (...) thresholds ε in (0, 1).
    Returns:
      (...) probabilities in [0, 1].
    """
    a = (dim - 1) / 2  # (...)
    tail = 2 * betainc(a, a, (1 - epsilon) / 2)  # (...)
    return jnp.where(dim > 1, tail, 1.0)  # (...)
