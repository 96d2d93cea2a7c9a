"""The roofline: FLOPs and bytes from shapes, and what bounds a kernel's speed.

A kernel does F floating-point operations and moves B bytes between memory
and the arithmetic units. A machine can do at most P FLOP/s (its matmul
peak) and move at most W bytes/s (its memory bandwidth), so the kernel
takes at least max(F / P, B / W) seconds and can reach at most
min(P, I · W) FLOP/s, where I = F / B is its arithmetic intensity in
FLOP/byte. Below the ridge I* = P / W a kernel is memory bound (the roof
slopes: more bandwidth helps, more arithmetic units do not); above it, it is
compute bound. A large matmul re-uses every loaded number ~n times (I grows
with n); an element-wise op touches each number once (I is a constant below
1); a decode step of a language model reads every parameter to produce one
token (I ≈ 1 FLOP per parameter byte), which is why decoding is memory bound.

This module holds the counts (pure functions of shapes), the small jitted
kernels that are placed on the roofline, and the reading of XLA's own cost
model of a compiled function. Timing them is the lesson's job.

References:
  Williams, Waterman, Patterson, "Roofline: an insightful visual performance
    model for multicore architectures", CACM 52(4), 2009. doi:10.1145/1498765.1498785
  Kaplan et al., "Scaling Laws for Neural Language Models", 2020, §2.1
    (C ≈ 6N FLOPs per training token). arXiv:2001.08361
  Chowdhery et al., "PaLM", 2022, appendix B (the attention term 12·L·T·d). arXiv:2204.02311
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from trinity_foundations import training
from trinity_foundations.language import cross_entropy
from trinity_foundations.transformer import GPTConfig, attend, block, causal_mask, norm

# ----------------------------------------------------------------------------
# Counts from shapes.


def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an (m, k) @ (k, n) product: one multiply and one add per term, 2·m·k·n."""
    return 2 * m * k * n


def matmul_bytes(m: int, k: int, n: int, itemsize: int) -> int:
    """Bytes an (m, k) @ (k, n) product must move at least: read both inputs, write the output."""
    return (m * k + k * n + m * n) * itemsize


def intensity(flops: float, nbytes: float) -> float:
    """Arithmetic intensity, FLOPs per byte moved."""
    return flops / nbytes


def attainable(intensity_: float, peak_flops: float, bandwidth: float) -> float:
    """The roof: the most FLOP/s a kernel of this intensity can reach, min(P, I·W)."""
    return min(peak_flops, intensity_ * bandwidth)


def ridge(peak_flops: float, bandwidth: float) -> float:
    """The intensity I* = P / W where the sloped roof meets the flat one (FLOP/byte)."""
    return peak_flops / bandwidth


def bound(intensity_: float, peak_flops: float, bandwidth: float) -> str:
    """'memory' below the ridge, 'compute' at or above it."""
    return "memory" if intensity_ < ridge(peak_flops, bandwidth) else "compute"


def tree_bytes(tree: Any) -> int:
    """Bytes of every leaf of a pytree of arrays or ShapeDtypeStructs (nothing is computed)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return sum(math.prod(x.shape) * jnp.dtype(x.dtype).itemsize for x in leaves)


def attention_flops_per_token(config: GPTConfig, t: int) -> int:
    """Forward FLOPs of attention's two T-long products per token, 4·L·T·d.

    q·kᵀ and weights·v each cost 2·d per (query, key) pair, over T keys, in
    every layer. Counted over all T keys: the causal mask halves the useful
    work, not what a dense kernel computes. (Training triples it: the
    12·L·T·d of `training.flops_per_token`.)
    """
    return 4 * config.n_layers * t * config.d_model


def forward_flops_per_token(config: GPTConfig, t: int) -> int:
    """Inference FLOPs per token with T keys attended: 2N + 4·L·T·d.

    N is `training.matmul_params`: each weight in a matmul is one multiply-add.
    """
    return 2 * training.matmul_params(config) + attention_flops_per_token(config, t)


def activation_bytes(config: GPTConfig, batch: int, t: int, itemsize: int) -> int:
    """Bytes of the activations a training step keeps for its backward pass.

    Per token and layer: the block input and the two normalised inputs
    (3·d), q, k, v (3·d), the attention scores before and after the softmax
    (2·H·T: one row of T per head each), the merged heads (d), the MLP's
    hidden layer before and after its non-linearity (2·f, 3·f for SwiGLU's
    two halves and product). After the last layer: the final norm's input
    and output (2·d) and the logits with their softmax (2·V). A count of
    what the backward formulas read, not of XLA's buffers, which fuse some
    away and add temporaries.
    """
    d, f, h = config.d_model, config.d_ff, config.n_heads
    hidden = (3 if config.mlp == "swiglu" else 2) * f
    per_layer = 3 * d + 3 * d + 2 * h * t + d + hidden
    per_token = config.n_layers * per_layer + 2 * d + 2 * config.vocab_size
    return batch * t * per_token * itemsize


# ----------------------------------------------------------------------------
# XLA's own count.


def xla_cost(compiled: Any) -> tuple[float, float]:
    """(flops, bytes accessed) from XLA's cost model of a compiled function.

    `compiled` is `jax.jit(f).lower(...).compile()`. The counts are XLA's
    static estimate of the optimised program (every HLO op's FLOPs, and the
    bytes of every operand and result it touches), not a measurement.
    Older JAX returned a list with one dict per program; 0.4.30+ a dict.
    """
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost.get("flops", 0.0)), float(cost.get("bytes accessed", 0.0))


def count_note(backend: str | None = None) -> str:
    """What a lesson adds after "XLA's count" on a backend whose count comes from the CPU."""
    if (backend or jax.default_backend()) == "cpu":
        return ""
    return " (by XLA's CPU cost model: a GPU's leaves out the matmuls it hands to a library)"


def compiled_for_cpu(fn: Callable, *args) -> Any:
    """fn compiled for the CPU at the shapes of these arguments (arrays or shapes),
    whatever the default device; raises RuntimeError when JAX_PLATFORMS has no CPU."""
    cpu = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=cpu), args)
    return jax.jit(fn).lower(*shapes).compile()


def counted(compiled: Any, fn: Callable, *args) -> tuple[float, float]:
    """XLA's (flops, bytes accessed) of fn at these arguments, by the CPU's cost model.

    `compiled` is fn compiled for the default device; on the CPU its own count is
    used. A GPU's cost model leaves out the matmuls it hands to a library (on an
    H200 a 512² float32 product counted 7.9e5 FLOPs instead of 2.7e8, a 1024² one
    -1), so there the same function is compiled for the CPU, only to be counted.
    """
    if jax.default_backend() == "cpu":
        return xla_cost(compiled)
    try:
        return xla_cost(compiled_for_cpu(fn, *args))
    except RuntimeError:  # JAX_PLATFORMS names no CPU: the device's own count
        return xla_cost(compiled)


def unrolled_forward(params: dict, ids: jax.Array, *, config: GPTConfig) -> jax.Array:
    """`transformer.gpt_forward` with its L layers written out one after another.

    XLA's cost model counts the body of a loop once, and `gpt_forward` runs
    its layers as a `lax.scan` (a while loop to XLA): its count holds one
    layer. Unrolled, the same arithmetic is L straight-line blocks, and the
    count holds them all (FLOPs and bytes alike). Same parameters, same logits.

    Args:
      params: the `gpt` dict (layers stacked along a leading axis).
      ids: (B, T) int token ids, T <= config.context.
    Returns:
      (B, T, V) logits.
    """
    t = ids.shape[1]
    x = params["tok"][ids] + params["pos"][None, :t]  # (B, T, d)
    for i in range(config.n_layers):
        layer = jax.tree_util.tree_map(lambda a, i=i: a[i], params["blocks"])  # layer i
        x = block(layer, x, config=config)  # (B, T, d)
    h = norm(params["norm_f"], x, config=config)  # (B, T, d)
    return h @ params["tok"].T  # (B, T, V)


class UnrolledLMLoss(NamedTuple):
    """`training.LMLoss` on `unrolled_forward`: the same loss, countable by XLA."""

    model: GPTConfig

    def __call__(self, params: dict, batch: tuple) -> jax.Array:
        x, y = batch  # (B, T), (B, T)
        return cross_entropy(unrolled_forward(params, x, config=self.model), y)


# ----------------------------------------------------------------------------
# Kernels placed on the roofline.


@jax.jit
def matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b. a: (m, k), b: (k, n) -> (m, n)."""
    return a @ b  # (m, n)


@jax.jit
def scale_add(x: jax.Array, y: jax.Array) -> jax.Array:
    """2·x + y element by element: 2 FLOPs per 12 bytes (two reads, one write). x, y: (n,)."""
    return 2.0 * x + y  # (n,)


@functools.partial(jax.jit, donate_argnums=0, keep_unused=True)
def copy_into(out: jax.Array, x: jax.Array) -> jax.Array:
    """A copy of x written into the donated buffer `out` (no fresh allocation).

    The bandwidth reference: each element read once and written once, and
    `out`'s memory re-used so that no page of a new result has to be
    zero-filled by the kernel first. x, out: (n,) of one dtype.
    """
    return x * 1  # (n,) XLA keeps the copy: out's buffer must receive it


@jax.jit
def causal_attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """The GPT's causal attention (`transformer.attend`), its output only.

    Args:
      q, k, v: (B, H, T, d_h).
    Returns:
      (B, H, T, d_h). FLOPs ≈ 4·B·H·T²·d_h: the T×T scores make it O(T²).
    """
    out, _ = attend(q, k, v, causal_mask(q.shape[2]))  # (B, H, T, d_h)
    return out


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x: the exponent p in y ∝ x^p."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sxx
