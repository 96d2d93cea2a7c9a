"""Positions: sinusoidal position tables and rotary position embeddings (RoPE).

Attention without positions treats its input as a set: permute the tokens and
the outputs are permuted the same way. Adding a position vector to each token
(or rotating queries and keys by position) breaks that symmetry.

Sinusoidal tables use the frequencies ω_i = base^(−2i/d), i = 0 … d/2 − 1,
and hold sin(p ω_i) and cos(p ω_i) for each position p. Two layouts exist:
the one the Transformer paper writes (interleaved: column 2i is sin, 2i + 1 is
cos) and the one many codes build, the original lesson's among them (all the
sines, then all the cosines). Both have the same property: the table at
p + k is the table at p times a fixed rotation that depends only on k.

RoPE rotates each pair (x_2i, x_2i+1) of a query or key by the angle p ω_i,
so the score q_m · k_n depends on the positions only through m − n.

References:
  Vaswani et al., "Attention Is All You Need" (2017), section 3.5,
  https://arxiv.org/abs/1706.03762
  Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding"
  (2021), https://arxiv.org/abs/2104.09864
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

BASE = 10_000.0


def frequencies(dim: int, base: float = BASE, dtype=None) -> jax.Array:
    """ω_i = base^(−2i/dim) for i = 0 … dim/2 − 1: (dim // 2,), fastest first."""
    i = jnp.arange(dim // 2, dtype=dtype or jnp.result_type(float))  # (d/2,)
    return base ** (-2.0 * i / dim)


def _angles(positions: jax.Array, dim: int, base: float) -> jax.Array:
    """p ω_i for every position and frequency: (T,) -> (T, dim // 2)."""
    w = frequencies(dim, base, positions.dtype)  # (d/2,)
    return positions[:, None] * w[None, :]  # (T, d/2)


@partial(jax.jit, static_argnames=("dim", "base"))
def sinusoidal_half(positions: jax.Array, *, dim: int, base: float = BASE) -> jax.Array:
    """The table as the original builds it: [sin(p ω) | cos(p ω)], halves side by side.

    Args:
      positions: (T,) float positions (0, 1, 2, … for a sequence).
      dim: even model width d.
    Returns:
      (T, d): column i < d/2 is sin(p ω_i), column d/2 + i is cos(p ω_i).
    """
    a = _angles(positions, dim, base)  # (T, d/2)
    return jnp.concatenate([jnp.sin(a), jnp.cos(a)], axis=1)  # (T, d)


@partial(jax.jit, static_argnames=("dim", "base"))
def sinusoidal_interleaved(positions: jax.Array, *, dim: int, base: float = BASE) -> jax.Array:
    """The table as the Transformer paper writes it: PE(p, 2i) = sin, PE(p, 2i+1) = cos.

    Args:
      positions: (T,) float positions.
      dim: even model width d.
    Returns:
      (T, d), sines in the even columns and cosines in the odd ones.
    """
    a = _angles(positions, dim, base)  # (T, d/2)
    return jnp.stack([jnp.sin(a), jnp.cos(a)], axis=-1).reshape(a.shape[0], dim)  # (T, d)


@partial(jax.jit, static_argnames=("dim", "base", "interleaved"))
def shift_rotation(
    offset: jax.Array, *, dim: int, base: float = BASE, interleaved: bool
) -> jax.Array:
    """The (d, d) matrix R(k) with PE(p + k) = PE(p) @ R(k) for every p.

    Per frequency, sin((p+k)ω) = sin(pω) cos(kω) + cos(pω) sin(kω) and
    cos((p+k)ω) = cos(pω) cos(kω) − sin(pω) sin(kω): a 2 × 2 rotation by kω of
    the pair (sin, cos), whichever columns the layout puts them in.

    Args:
      offset: () the shift k.
      dim: even model width d.
      interleaved: the layout (True: sin/cos alternate; False: sin half, cos half).
    Returns:
      (d, d) rotation (orthogonal, determinant 1), to multiply rows by on the right.
    """
    kw = offset * frequencies(dim, base, offset.dtype)  # (d/2,)
    c, s = jnp.cos(kw), jnp.sin(kw)  # (d/2,)
    half = dim // 2
    sin_col = jnp.arange(half) * 2 if interleaved else jnp.arange(half)  # (d/2,)
    cos_col = sin_col + 1 if interleaved else sin_col + half  # (d/2,)
    r = jnp.zeros((dim, dim), c.dtype)
    r = r.at[sin_col, sin_col].set(c).at[cos_col, cos_col].set(c)  # (d, d)
    return r.at[cos_col, sin_col].set(s).at[sin_col, cos_col].set(-s)  # (d, d)


@partial(jax.jit, static_argnames=("base",))
def rope(x: jax.Array, positions: jax.Array, *, base: float = BASE) -> jax.Array:
    """Rotate each pair (x_2i, x_2i+1) of every row by the angle p ω_i.

    Applied to queries and keys (never values): q_m · k_n then depends only
    on m − n, because rotations by mω and nω leave a rotation by (m − n)ω.

    Args:
      x: (T, d) queries or keys, d even.
      positions: (T,) the position of each row.
    Returns:
      (T, d) rotated rows, each with its norm unchanged.
    """
    t, d = x.shape
    a = _angles(positions.astype(x.dtype), d, base)  # (T, d/2)
    c, s = jnp.cos(a), jnp.sin(a)  # (T, d/2)
    pairs = x.reshape(t, d // 2, 2)  # (T, d/2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]  # (T, d/2) each
    rotated = jnp.stack([x0 * c - x1 * s, x0 * s + x1 * c], axis=-1)  # (T, d/2, 2)
    return rotated.reshape(t, d)  # (T, d)
