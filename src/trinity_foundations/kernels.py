"""Softmax three ways and attention in tiles: the arithmetic of FlashAttention in plain JAX.

Softmax needs the row's maximum (to keep exp from overflowing) and the sum
of the exponentials. The textbook form reads the row twice: once for the
maximum, once for the sum. The online form reads it once, keeping a running
maximum m and a running sum s of exp(x − m); when a larger maximum m' turns
up, the sum so far is rescaled by exp(m − m'). The same rule merges the
statistics of two tiles of a row, so a row can be processed a tile at a
time, and attention's weights·V can be accumulated a tile of keys at a time:
softmax(q·Kᵀ)·V without ever holding the (T, T) score matrix. That is
FlashAttention's forward pass; `pallas_kernels` writes it as a kernel.

References:
  Milakov, Gimelshein, "Online normalizer calculation for softmax", 2018.
    arXiv:1805.02867
  Dao, Fu, Ermon, Rudra, Ré, "FlashAttention: Fast and Memory-Efficient Exact
    Attention with IO-Awareness", NeurIPS 2022. arXiv:2205.14135
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

# ----------------------------------------------------------------------------
# Softmax, three ways. Each takes x: (..., n) and returns the same shape.


def softmax_two_pass(x: jax.Array) -> jax.Array:
    """Softmax along the last axis: one pass for the maximum, one for the sum."""
    m = jnp.max(x, axis=-1, keepdims=True)  # (..., 1) pass 1
    e = jnp.exp(x - m)  # (..., n)
    return e / jnp.sum(e, axis=-1, keepdims=True)  # (..., n) pass 2: the sum


def merge_stats(m_a: jax.Array, s_a: jax.Array, m_b: jax.Array, s_b: jax.Array):
    """Merge two running softmax statistics (max m, sum s of exp(x − m)) into one.

    Each sum is rescaled to the larger maximum: s·exp(m − m_new). A maximum
    of −inf (nothing seen yet) contributes nothing.
    """
    m = jnp.maximum(m_a, m_b)
    safe = jnp.where(jnp.isfinite(m), m, 0.0)  # -inf - -inf would be NaN
    return m, s_a * jnp.exp(m_a - safe) + s_b * jnp.exp(m_b - safe)


def softmax_online(x: jax.Array) -> jax.Array:
    """Softmax along the last axis with one pass over it: a running max and rescaled sum."""

    def step(carry, x_j):  # x_j: (...,) one column
        m, s = merge_stats(*carry, x_j, jnp.ones_like(x_j))
        return (m, s), None

    start = (jnp.full(x.shape[:-1], -jnp.inf, x.dtype), jnp.zeros(x.shape[:-1], x.dtype))
    (m, s), _ = jax.lax.scan(step, start, jnp.moveaxis(x, -1, 0))  # (...,) each
    return jnp.exp(x - m[..., None]) / s[..., None]  # (..., n)


def softmax_tiled(x: jax.Array, tile: int) -> jax.Array:
    """Softmax along the last axis a tile of `tile` columns at a time (tile divides n)."""
    *lead, n = x.shape
    tiles = jnp.moveaxis(x.reshape(*lead, n // tile, tile), -2, 0)  # (n/tile, ..., tile)

    def step(carry, xt):  # xt: (..., tile)
        m_t = jnp.max(xt, axis=-1)  # (...,)
        s_t = jnp.sum(jnp.exp(xt - m_t[..., None]), axis=-1)  # (...,)
        return merge_stats(*carry, m_t, s_t), None

    start = (jnp.full(lead, -jnp.inf, x.dtype), jnp.zeros(lead, x.dtype))
    (m, s), _ = jax.lax.scan(step, start, tiles)  # (...,) each
    return jnp.exp(x - m[..., None]) / s[..., None]  # (..., n)


# ----------------------------------------------------------------------------
# Attention: naive, and in tiles of keys. q, k, v: (H, T, d) — one sequence,
# H heads. Scores are scaled by 1/√d; causal means query i sees keys 0..i.


def naive_attention(q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool) -> jax.Array:
    """softmax(q·kᵀ/√d)·v with the whole (H, T, T) score matrix in memory. Returns (H, T, d)."""
    t, d = q.shape[-2:]
    scores = q @ jnp.swapaxes(k, -1, -2) / math.sqrt(d)  # (H, T, T)
    if causal:
        keep = jnp.broadcast_to(jnp.tril(jnp.ones((t, t), bool)), scores.shape)  # (H, T, T)
        scores = jnp.where(keep, scores, -jnp.inf)  # (H, T, T)
    return jax.nn.softmax(scores, axis=-1) @ v  # (H, T, d)


def attend_tile(carry, q, k, v, *, q_start, k_start, causal: bool):
    """One step of the online softmax: a tile of keys and values folded into the running state.

    Args:
      carry: (m, s, acc): running max (..., bq), running sum of exp(score − m)
        (..., bq) and running output (..., bq, d) of a block of queries.
      q: (..., bq, d) the block's queries, already scaled by 1/√d.
      k, v: (..., bk, d) one tile of keys and values.
      q_start, k_start: positions of the block's first query and the tile's first key.
    Returns:
      The new (m, s, acc). After the last tile, acc / s is the attention output.
    """
    m, s, acc = carry
    scores = q @ jnp.swapaxes(k, -1, -2)  # (..., bq, bk) the one tile of scores held
    if causal:
        shape = scores.shape[-2:]
        rows = q_start + jax.lax.broadcasted_iota(jnp.int32, shape, 0)  # (bq, bk) query positions
        cols = k_start + jax.lax.broadcasted_iota(jnp.int32, shape, 1)  # (bq, bk) key positions
        scores = jnp.where(jnp.broadcast_to(cols <= rows, scores.shape), scores, -jnp.inf)
    m_new = jnp.maximum(m, jnp.max(scores, axis=-1))  # (..., bq)
    p = jnp.exp(scores - m_new[..., None])  # (..., bq, bk)
    scale = jnp.exp(m - m_new)  # (..., bq) rescales what came before
    return m_new, s * scale + jnp.sum(p, axis=-1), acc * scale[..., None] + p @ v


def tiles_to_visit(i, block_q: int, block_k: int, t: int, causal: bool):
    """How many key tiles query block i needs: all T/block_k, or with `causal` only up
    to the tile holding its last query (the later ones are entirely masked)."""
    if not causal:
        return t // block_k
    return ((i + 1) * block_q + block_k - 1) // block_k


def tiled_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool, block_q: int, block_k: int
) -> jax.Array:
    """Attention a (block_q, block_k) tile at a time, with the online softmax: no (T, T) matrix.

    For each block of queries (`lax.map`), a loop over the key/value tiles
    (`lax.fori_loop`: a `lax.scan` when the count is fixed, a while loop
    when it depends on the block, as with `causal`) folds each tile into the
    running (m, s, acc) with `attend_tile`. Causal blocks stop at the
    diagonal: the tiles past it are never computed. block_q and block_k divide T.

    Args:
      q, k, v: (H, T, d).
    Returns:
      (H, T, d), equal to `naive_attention` up to float rounding.
    """
    h, t, d = q.shape

    def query_block(i):
        q_start = i * block_q
        qb = jax.lax.dynamic_slice_in_dim(q, q_start, block_q, axis=1) / math.sqrt(d)  # (H, bq, d)

        def step(j, carry):
            k_start = j * block_k
            kt = jax.lax.dynamic_slice_in_dim(k, k_start, block_k, axis=1)  # (H, bk, d)
            vt = jax.lax.dynamic_slice_in_dim(v, k_start, block_k, axis=1)  # (H, bk, d)
            return attend_tile(carry, qb, kt, vt, q_start=q_start, k_start=k_start, causal=causal)

        start = (
            jnp.full((h, block_q), -jnp.inf, q.dtype),  # m: nothing seen yet
            jnp.zeros((h, block_q), q.dtype),  # s
            jnp.zeros((h, block_q, d), q.dtype),  # acc
        )
        n = tiles_to_visit(i, block_q, block_k, t, causal)
        m, s, acc = jax.lax.fori_loop(0, n, step, start)
        return acc / s[..., None]  # (H, bq, d)

    blocks = jax.lax.map(query_block, jnp.arange(t // block_q))  # (T/bq, H, bq, d)
    return jnp.swapaxes(blocks, 0, 1).reshape(h, t, d)  # (H, T, d)


def steps(t: int, block_q: int, block_k: int, causal: bool) -> int:
    """How many (query block, key tile) steps `tiled_attention` takes."""
    return sum(tiles_to_visit(i, block_q, block_k, t, causal) for i in range(t // block_q))


@functools.partial(jax.jit, static_argnames="causal")
def naive_attention_jit(q, k, v, *, causal: bool):
    """`naive_attention`, jitted (what the lesson compiles, times and measures)."""
    return naive_attention(q, k, v, causal=causal)


@functools.partial(jax.jit, static_argnames=("causal", "block_q", "block_k"))
def tiled_attention_jit(q, k, v, *, causal: bool, block_q: int, block_k: int):
    """`tiled_attention`, jitted."""
    return tiled_attention(q, k, v, causal=causal, block_q=block_q, block_k=block_k)


# ----------------------------------------------------------------------------
# Counts from shapes.


def score_bytes(heads: int, t: int, itemsize: int) -> int:
    """Bytes of one (H, T, T) score matrix: what naive attention materialises."""
    return heads * t * t * itemsize


def tile_bytes(heads: int, block_q: int, block_k: int, itemsize: int) -> int:
    """Bytes of one (H, block_q, block_k) tile of scores: what the tiled form holds instead."""
    return heads * block_q * block_k * itemsize


def attention_flops(heads: int, t: int, d: int) -> int:
    """FLOPs of q·kᵀ and weights·v over every (query, key) pair: 4·H·T²·d."""
    return 4 * heads * t * t * d
