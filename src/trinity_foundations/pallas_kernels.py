"""Kernels written by hand with Pallas: a tiled matmul and FlashAttention's forward pass.

A Pallas kernel is a Python function over *refs* (views of memory), run once
per point of a grid. `pallas_call` says how big the grid is and, with one
BlockSpec per array, which block of each array a grid point sees: the block
shape and an index map from grid indices to block indices. Inside, the
kernel reads a block with ref indexing (`x_ref[...]`, or a slice
`k_ref[pl.ds(start, size), :]`), computes with jax.numpy, and writes its
output block (`o_ref[...] = ...`). On a GPU the kernel compiles to one GPU
program (Triton); the blocks live in on-chip memory.

On the CPU, Pallas only runs with `interpret=True`: each grid point is
emulated by ordinary XLA operations, one after another. That checks the
kernel's arithmetic, not its speed: an interpreted kernel is not timed.

References:
  Dao et al., "FlashAttention", 2022 (algorithm 1, the forward pass). arXiv:2205.14135
  JAX documentation, "Pallas: a JAX kernel language" (pallas_call, BlockSpec, grid).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from trinity_foundations import kernels

# ----------------------------------------------------------------------------
# A tiled matmul.


def matmul_kernel(x_ref, y_ref, o_ref, *, bk: int):
    """One (bm, bn) output block: the sum over k of (bm, bk) @ (bk, bn) products.

    x_ref: (bm, K) this grid point's rows of x; y_ref: (K, bn) its columns of
    y. The point walks k one block at a time and keeps the running sum in
    registers. It writes its output block once: on a GPU the grid points run
    at the same time, so no two of them may add into the same block.
    """

    def step(s, acc):
        start = pl.multiple_of(s * bk, bk)
        return acc + x_ref[:, pl.ds(start, bk)] @ y_ref[pl.ds(start, bk), :]  # (bm, bn)

    acc = jnp.zeros(o_ref.shape, jnp.promote_types(o_ref.dtype, jnp.float32))  # (bm, bn)
    o_ref[...] = jax.lax.fori_loop(0, x_ref.shape[1] // bk, step, acc).astype(o_ref.dtype)


@functools.partial(jax.jit, static_argnames=("bm", "bn", "bk", "interpret"))
def matmul(x: jax.Array, y: jax.Array, *, bm: int, bn: int, bk: int, interpret: bool):
    """x @ y in (bm, bn) output blocks over a (m/bm, n/bn) grid, k walked in steps of bk.

    Args:
      x: (m, k), y: (k, n); bm, bn, bk divide m, n, k.
      interpret: True on the CPU (emulated), False to compile for a GPU.
    Returns:
      (m, n).
    """
    m, k = x.shape
    n = y.shape[1]
    return pl.pallas_call(
        functools.partial(matmul_kernel, bk=bk),
        out_shape=jax.ShapeDtypeStruct((m, n), x.dtype),
        grid=(m // bm, n // bn),
        in_specs=[
            pl.BlockSpec((bm, k), lambda i, j: (i, 0)),  # row block i, all of k
            pl.BlockSpec((k, bn), lambda i, j: (0, j)),  # all of k, column block j
        ],
        out_specs=pl.BlockSpec((bm, bn), lambda i, j: (i, j)),
        interpret=interpret,
    )(x, y)


# ----------------------------------------------------------------------------
# FlashAttention's forward pass.


def flash_kernel(q_ref, k_ref, v_ref, o_ref, *, block_k: int, causal: bool):
    """One head's block of bq queries against its keys, a tile of block_k at a time.

    q_ref: (bq, d) this grid point's queries; k_ref, v_ref: (T, d) the head's
    keys and values; o_ref: (bq, d). The running max, sum and output of the
    online softmax (`kernels.attend_tile`, the very step the plain-JAX form
    takes) stay on chip; no (T, T) matrix exists. With `causal`, the loop
    stops at the tile holding the block's last query: the tiles past it are
    entirely masked, so they are skipped, not computed.
    """
    bq, d = q_ref.shape
    i = pl.program_id(1)  # which block of queries
    q = q_ref[...] / math.sqrt(d)  # (bq, d)

    def step(j, carry):
        k_start = pl.multiple_of(j * block_k, block_k)
        k = k_ref[pl.ds(k_start, block_k), :]  # (bk, d)
        v = v_ref[pl.ds(k_start, block_k), :]  # (bk, d)
        return kernels.attend_tile(carry, q, k, v, q_start=i * bq, k_start=k_start, causal=causal)

    start = (
        jnp.full((bq,), -jnp.inf, q.dtype),  # m: nothing seen yet
        jnp.zeros((bq,), q.dtype),  # s
        jnp.zeros((bq, d), q.dtype),  # acc
    )
    n = kernels.tiles_to_visit(i, bq, block_k, k_ref.shape[0], causal)
    m, s, acc = jax.lax.fori_loop(0, n, step, start)
    o_ref[...] = (acc / s[:, None]).astype(o_ref.dtype)  # (bq, d)


@functools.partial(jax.jit, static_argnames=("causal", "block_q", "block_k", "interpret"))
def flash_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    causal: bool,
    block_q: int,
    block_k: int,
    interpret: bool,
) -> jax.Array:
    """softmax(q·kᵀ/√d)·v over a (heads, T/block_q) grid of query blocks.

    Args:
      q, k, v: (H, T, d); block_q and block_k divide T.
      interpret: True on the CPU (emulated), False to compile for a GPU.
    Returns:
      (H, T, d).
    """
    h, t, d = q.shape
    query_block = pl.BlockSpec((None, block_q, d), lambda head, i: (head, i, 0))  # (bq, d)
    whole_head = pl.BlockSpec((None, t, d), lambda head, i: (head, 0, 0))  # (T, d)
    return pl.pallas_call(
        functools.partial(flash_kernel, block_k=block_k, causal=causal),
        out_shape=jax.ShapeDtypeStruct(q.shape, q.dtype),
        grid=(h, t // block_q),
        in_specs=[query_block, whole_head, whole_head],
        out_specs=query_block,
        interpret=interpret,
    )(q, k, v)
