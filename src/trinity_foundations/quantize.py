"""Numbers with fewer bits: floating-point formats measured, quantizers, NF4, Hadamard.

A floating-point format keeps a sign, an exponent and a few mantissa bits.
Its facts can be found by experiment in the format itself: the machine
epsilon (halve x while 1 + x/2 still differs from 1), the largest finite
number (double 1 until the next doubling overflows, then add the halves
that still fit), the smallest normal number (halve while x·(1 + eps) still
differs from x: full precision holds) and the smallest subnormal (halve
until the next half is 0). Arithmetic that flushes subnormals to zero
makes the last two the same number.

A weight matrix W of shape (d_in, d_out) (a layer computes x @ W) is
quantized to a few integer codes and a float scale: symmetric (codes
round(W / s), s = max|W| / (2^(b-1) - 1)), per tensor (one s) or per
output channel (one s per column); asymmetric (a zero point z as well, so
the codes span [min, max] instead of [-max, max]); or to a codebook of
levels in [-1, 1] per block of `block` input rows, scaled by the block's
absolute maximum: evenly spaced levels for int-b, the normal quantiles of
QLoRA's NF4. A rotation by a normalised Hadamard matrix H (H Hᵀ = I)
before quantizing, W → Hᵀ W and x → x H, leaves x @ W unchanged and
spreads a large input channel over all of them.

References:
  Goldberg, "What every computer scientist should know about floating-point
    arithmetic", ACM Computing Surveys 23(1), 1991. doi:10.1145/103162.103163
  Micikevicius et al., "Mixed Precision Training", 2018. arXiv:1710.03740
  Jacob et al., "Quantization and Training of Neural Networks for Efficient
    Integer-Arithmetic-Only Inference", 2018. arXiv:1712.05877
  Dettmers et al., "QLoRA: Efficient Finetuning of Quantized LLMs", 2023
    (NF4, bitsandbytes' create_normal_map). arXiv:2305.14314
  Ashkboos et al., "QuaRot: Outlier-Free 4-Bit Inference in Rotated LLMs",
    2024. arXiv:2404.00456
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from trinity_foundations.language import cross_entropy
from trinity_foundations.transformer import GPTConfig, gpt_forward

# ----------------------------------------------------------------------------
# Formats, measured in the format itself.


class Facts(NamedTuple):
    """What a floating-point format can hold (Python floats)."""

    eps: float  # the gap between 1 and the next number
    max: float  # the largest finite number
    min_normal: float  # the smallest number with full precision
    min_subnormal: float  # the smallest number above 0


def machine_epsilon(dtype) -> float:
    """The smallest power of two x with 1 + x ≠ 1, computed in `dtype`."""
    one = x = jnp.asarray(1, dtype)
    while one + x / 2 != one:
        x = x / 2
    return float(x)


def largest_finite(dtype) -> float:
    """Double 1 in `dtype` until the next doubling is not finite, then add each
    half of that power of two that keeps the sum finite (and changes it)."""
    x = jnp.asarray(1, dtype)
    while jnp.isfinite(x * 2):
        x = x * 2
    half = x / 2
    while half != 0 and x + half != x:
        if jnp.isfinite(x + half):
            x = x + half
        half = half / 2
    return float(x)


def smallest_normal(dtype) -> float:
    """The smallest power of two x (halving 1 in `dtype`) with x·(1 + eps) ≠ x: below
    it the mantissa has lost bits (or, flushed to zero, there is nothing)."""
    step = jnp.asarray(1, dtype) + jnp.asarray(machine_epsilon(dtype), dtype)  # 1 + eps
    x = jnp.asarray(1, dtype)
    while x / 2 != 0 and (x / 2) * step != x / 2:
        x = x / 2
    return float(x)


def smallest_subnormal(dtype) -> float:
    """Halve 1 in `dtype` until the next half is 0: the last number above 0."""
    x = jnp.asarray(1, dtype)
    while x / 2 != 0:
        x = x / 2
    return float(x)


def measure(dtype) -> Facts:
    """The four facts of `dtype`, each found by experiment in `dtype`'s own arithmetic."""
    return Facts(
        machine_epsilon(dtype), largest_finite(dtype), smallest_normal(dtype),
        smallest_subnormal(dtype),
    )  # fmt: skip


def finfo_facts(dtype) -> Facts:
    """The same four facts as `jnp.finfo` states them."""
    f = jnp.finfo(dtype)
    return Facts(float(f.eps), float(f.max), float(f.smallest_normal), float(f.smallest_subnormal))


@functools.partial(jax.jit, static_argnames="dtype")
def running_sum(x: jax.Array, *, dtype) -> jax.Array:
    """x[0] + x[1] + ... one at a time, the running total kept in `dtype` (rounded
    after every add). x: (n,) -> () of `dtype`."""

    def add(total, v):
        return total + v.astype(dtype), None

    total, _ = jax.lax.scan(add, jnp.zeros((), dtype), x)
    return total


@functools.partial(jax.jit, static_argnames="dtype")
def dot_sum(x: jax.Array, *, dtype) -> jax.Array:
    """The same sum as a matmul does it: ones · x with `preferred_element_type=dtype`,
    the accumulator (and the result) in `dtype`. x: (n,) -> ()."""
    return jax.lax.dot(jnp.ones_like(x), x, preferred_element_type=dtype)


# ----------------------------------------------------------------------------
# Mixed precision: float32 master weights, the forward and backward in `dtype`.


class CastLoss(NamedTuple):
    """The GPT's loss with its parameters cast to `dtype` inside, times `scale`.

    The optimiser keeps float32 parameters and moments (the master copy);
    the forward and backward run in `dtype`, and the cast's own gradient
    brings each gradient back to float32. `scale` multiplies the loss (loss
    scaling: 2^k lifts small gradients above float16's underflow); divide
    the gradients by it afterwards. Hashable by value, as training.fit needs.
    """

    model: GPTConfig
    dtype: str = "bfloat16"
    scale: float = 1.0

    def __call__(self, params: dict, batch: tuple) -> jax.Array:
        x, y = batch  # (B, T), (B, T)
        low = jax.tree.map(lambda a: a.astype(self.dtype), params)
        logits = gpt_forward(low, x, config=self.model)  # (B, T, V) in dtype
        return cross_entropy(logits.astype(jnp.float32), y) * self.scale


@functools.partial(jax.jit, static_argnames=("model", "dtype"))
def logit_grads(params: dict, batch: tuple, scale: jax.Array, *, model: GPTConfig, dtype: str):
    """The loss's gradient with respect to the logits, as a backward pass in `dtype`
    holds it: the loss (in float32) times `scale`, its gradient cast to `dtype` where
    the backward pass enters the model, then divided by `scale` in float32.

    Each entry is (softmax − one-hot) / (B·T): with B·T tokens in the mean, an
    unlikely character's entry is tiny, and float16 flushes it to zero unless the
    loss was scaled up first.

    Returns:
      (B, T, V) float32.
    """
    x, y = batch  # (B, T), (B, T)
    low = jax.tree.map(lambda a: a.astype(dtype), params)
    logits = gpt_forward(low, x, config=model)  # (B, T, V) in dtype

    def loss(out):
        return cross_entropy(out.astype(jnp.float32), y) * scale

    grads = jax.grad(loss)(logits)  # (B, T, V) in dtype
    # The barrier keeps the round trip through dtype: XLA on a GPU may otherwise
    # drop a convert to float16 and straight back (it allows excess precision).
    return jax.lax.optimization_barrier(grads).astype(jnp.float32) / scale  # (B, T, V)


def flushed_share(reference: Any, low: Any) -> float:
    """Share of the gradient entries that are not 0 in `reference` (float32) but
    are exactly 0 in `low`: the ones that underflowed. Both: arrays or pytrees of them."""
    ref = jnp.concatenate([jnp.ravel(a) for a in jax.tree.leaves(reference)])  # (N,)
    got = jnp.concatenate([jnp.ravel(a) for a in jax.tree.leaves(low)])  # (N,)
    alive = ref != 0
    return float(jnp.sum(alive & (got == 0)) / jnp.maximum(jnp.sum(alive), 1))


# ----------------------------------------------------------------------------
# Quantizers of one (d_in, d_out) matrix. Each returns the codes and what
# dequantizing needs; `dequantize_*` gives back a float32 matrix of W's shape.


def qmax(bits: int) -> int:
    """The largest code of a symmetric signed b-bit integer: 2^(b-1) - 1 (127 for int8)."""
    return 2 ** (bits - 1) - 1


def quantize_symmetric(w: jax.Array, bits: int = 8, per_channel: bool = False):
    """Codes round(W / s) in [-qmax, qmax] and the scale s = max|W| / qmax, one for the
    whole tensor or one per output channel (column).

    Args:
      w: (d_in, d_out) float32.
    Returns:
      (codes (d_in, d_out) int8, scale (1, d_out) or (1, 1) float32).
    """
    top = jnp.max(jnp.abs(w), axis=0 if per_channel else None, keepdims=True)  # (1, d_out)|(1, 1)
    scale = jnp.where(top > 0, top, 1.0) / qmax(bits)
    codes = jnp.clip(jnp.round(w / scale), -qmax(bits), qmax(bits))  # (d_in, d_out)
    return codes.astype(jnp.int8), scale


def dequantize_symmetric(codes: jax.Array, scale: jax.Array) -> jax.Array:
    return codes.astype(jnp.float32) * scale  # (d_in, d_out)


def quantize_asymmetric(w: jax.Array, bits: int = 8):
    """Codes round(W / s) + z in [-2^(b-1), 2^(b-1) - 1] per output channel, with
    s = (max - min) / (2^b - 1) and the zero point z chosen so that min maps to the
    lowest code: the codes cover [min, max] of each column, not [-max|W|, max|W|].

    Args:
      w: (d_in, d_out) float32.
    Returns:
      (codes (d_in, d_out) int8, scale (1, d_out) float32, zero (1, d_out) int8).
    """
    lo_code, hi_code = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    lo = jnp.minimum(jnp.min(w, axis=0, keepdims=True), 0.0)  # (1, d_out) 0 stays exact
    hi = jnp.maximum(jnp.max(w, axis=0, keepdims=True), 0.0)  # (1, d_out)
    scale = jnp.where(hi > lo, hi - lo, 1.0) / (2**bits - 1)  # (1, d_out)
    zero = jnp.clip(jnp.round(lo_code - lo / scale), lo_code, hi_code)  # (1, d_out)
    codes = jnp.clip(jnp.round(w / scale) + zero, lo_code, hi_code)  # (d_in, d_out)
    return codes.astype(jnp.int8), scale, zero.astype(jnp.int8)


def dequantize_asymmetric(codes: jax.Array, scale: jax.Array, zero: jax.Array) -> jax.Array:
    return (codes.astype(jnp.float32) - zero.astype(jnp.float32)) * scale  # (d_in, d_out)


def int_levels(bits: int) -> jax.Array:
    """The codebook of a symmetric b-bit integer, scaled into [-1, 1]: k / qmax for
    k = -qmax..qmax (2^b - 1 levels; int4 has 15). (2^b - 1,) float32."""
    return jnp.arange(-qmax(bits), qmax(bits) + 1, dtype=jnp.float32) / qmax(bits)


def nf4_levels(offset: float = 0.9677083) -> jax.Array:
    """QLoRA's NormalFloat-4 codebook: 16 levels at quantiles of the standard normal.

    Eight positive levels at the quantiles of 8 equal steps from `offset` down
    to (not including) 0.5, seven negative ones at 7 such steps, and an exact
    0; all divided by the largest, so they span [-1, 1]. Each level stands
    for an equal share of normally distributed weights (bitsandbytes'
    `create_normal_map(offset=0.9677083, use_extra_value=True)`).

    Returns:
      (16,) float32, ascending.
    """
    ppf = jax.scipy.special.ndtri
    positive = ppf(jnp.linspace(offset, 0.5, 9, dtype=jnp.float32)[:-1])  # (8,)
    negative = -ppf(jnp.linspace(offset, 0.5, 8, dtype=jnp.float32)[:-1])  # (7,)
    levels = jnp.sort(jnp.concatenate([positive, jnp.zeros(1), negative]))  # (16,)
    levels = levels / levels[-1]  # a GPU's division may miss -x/x = -1 by an ulp:
    return levels.at[jnp.array([0, -1])].set(jnp.array([-1.0, 1.0]))  # the ends exactly


def quantize_codebook(w: jax.Array, levels: jax.Array, block: int):
    """Each block of `block` input rows of each column scaled by its absolute maximum
    into [-1, 1], each entry replaced by the index of its nearest level.

    Args:
      w: (d_in, d_out) float32, d_in a multiple of `block`.
      levels: (K,) ascending, within [-1, 1], K <= 256.
    Returns:
      (codes (d_in, d_out) uint8, absmax (d_in // block, d_out) float32).
    """
    d_in, d_out = w.shape
    blocks = w.reshape(d_in // block, block, d_out)  # (nb, block, d_out)
    top = jnp.max(jnp.abs(blocks), axis=1)  # (nb, d_out)
    absmax = jnp.where(top > 0, top, 1.0)
    scaled = blocks / absmax[:, None, :]  # (nb, block, d_out) within [-1, 1]
    dist = jnp.abs(scaled[..., None] - levels.reshape(1, 1, 1, -1))  # (nb, block, d_out, K)
    codes = jnp.argmin(dist, axis=-1).reshape(d_in, d_out)  # (d_in, d_out)
    return codes.astype(jnp.uint8), absmax


def dequantize_codebook(codes: jax.Array, absmax: jax.Array, levels: jax.Array, block: int):
    d_in, d_out = codes.shape
    values = levels[codes].reshape(d_in // block, block, d_out)  # (nb, block, d_out)
    return (values * absmax[:, None, :]).reshape(d_in, d_out)  # (d_in, d_out)


def bytes_per_param(d_in: int, d_out: int, bits: int, scales: int, scale_bytes: int = 4):
    """Bytes per weight of a (d_in, d_out) matrix stored as b-bit codes plus `scales`
    numbers of `scale_bytes` each (scales, zero points): b/8 + scales·bytes/(d_in·d_out)."""
    return bits / 8 + scales * scale_bytes / (d_in * d_out)


def relative_error(w: jax.Array, w_hat: jax.Array) -> float:
    """‖Ŵ − W‖ / ‖W‖ (Frobenius)."""
    return float(jnp.linalg.norm(w_hat - w) / jnp.linalg.norm(w))


# ----------------------------------------------------------------------------
# Rotation, and integer matmuls.


def hadamard(n: int) -> jax.Array:
    """The normalised Sylvester–Hadamard matrix of order n (a power of two):
    entries ±1/sqrt(n), symmetric, H Hᵀ = I. (n, n) float32."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"a Sylvester-Hadamard matrix needs a power of two, got {n}")
    h = jnp.ones((1, 1), jnp.float32)
    while h.shape[0] < n:
        h = jnp.block([[h, h], [h, -h]])  # (2m, 2m)
    return h / math.sqrt(n)


def random_hadamard(key: jax.Array, n: int) -> jax.Array:
    """R = D H: the rows of the normalised Hadamard matrix times random signs (D = diag(±1)).

    Still orthogonal (R Rᵀ = I) with entries ±1/sqrt(n). The signs matter: H's
    first column is all ones, so Hᵀ W gathers each column's mean into one row
    (a new outlier); Rᵀ W = Hᵀ (D W) flips the rows' signs first, and nothing
    is gathered.

    Returns:
      (n, n) float32.
    """
    signs = jax.random.rademacher(key, (n,), dtype=jnp.float32)  # (n,)
    return signs[:, None] * hadamard(n)  # (n, n)


def max_over_rms(w: jax.Array) -> float:
    """max|W| / rms(W): how far the largest entry stands out (3 to 4 for Gaussian
    entries of a few thousand; far more with an outlier)."""
    return float(jnp.max(jnp.abs(w)) / jnp.sqrt(jnp.mean(jnp.square(w))))


@jax.jit
def int8_matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """int8 (m, k) @ int8 (k, n) with every product summed in int32: (m, n) int32.
    (An int8 accumulator would overflow after two products of 127 · 127.)"""
    return jax.lax.dot(a, b, preferred_element_type=jnp.int32)


@jax.jit
def float32_matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """float32 (m, k) @ (k, n): (m, n) float32."""
    return jax.lax.dot(a, b, preferred_element_type=jnp.float32)
