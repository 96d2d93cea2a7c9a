"""Low rank: truncating a matrix by its SVD, and LoRA adapters.

A matrix W (m, n) factors as U diag(s) Vᵀ, the singular values s sorted from
largest to smallest. Keeping the first r terms gives the best rank-r
approximation (Eckart–Young), and its error is fixed by the terms thrown
away. LoRA uses the same idea the other way round: it leaves a weight matrix
frozen and learns a low-rank correction to it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

# ----------------------------------------------------------------------------
# SVD truncation and its errors.


@functools.partial(jax.jit, static_argnames="rank")
def truncate(w: jax.Array, rank: int) -> jax.Array:
    """The best rank-`rank` approximation of w: its first `rank` SVD terms.

    W = Σᵢ sᵢ uᵢ vᵢᵀ; keeping the `rank` largest terms minimises both the
    Frobenius and the spectral error over all matrices of that rank.

    References:
      Eckart & Young, "The approximation of one matrix by another of lower
      rank", Psychometrika 1, 1936. doi:10.1007/BF02288367

    Args:
      w: (m, n) matrix.
      rank: how many singular terms to keep, 0 ≤ rank ≤ min(m, n).
    Returns:
      (m, n) the rank-`rank` reconstruction.
    """
    u, s, vt = jnp.linalg.svd(w, full_matrices=False)  # (m, k), (k,), (k, n)
    return (u[:, :rank] * s[None, :rank]) @ vt[:rank]  # (m, n)


@jax.jit
def mse(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean of the squared entries of a − b; a, b of the same shape."""
    return jnp.mean((a - b) ** 2)


@jax.jit
def frobenius_error(a: jax.Array, b: jax.Array) -> jax.Array:
    """‖a − b‖_F, the root of the summed squared entries; a, b alike."""
    return jnp.linalg.norm(a - b)


@functools.partial(jax.jit, static_argnames="rank")
def eckart_young_error(s: jax.Array, rank: int) -> jax.Array:
    """The Frobenius error of the best rank-`rank` approximation, from s alone.

    The discarded terms are orthogonal to each other, so their squared norms
    add: ‖W − W_r‖_F = sqrt(s_{r+1}² + … + s_k²).

    Args:
      s: (k,) singular values, largest first.
      rank: how many were kept.
    Returns:
      () the error.
    """
    return jnp.sqrt(jnp.sum(s[rank:] ** 2))


@jax.jit
def singular_value_shares(s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(share of the sum sᵢ/Σs, energy share sᵢ²/Σs²) of each singular value.

    The energy share measures "how much of the matrix": Σs² is ‖W‖_F², so
    the energy a truncation leaves out is its squared error (Eckart–Young).
    For a centred data matrix it is the fraction of variance explained; the
    share of the plain sum has no such meaning.

    Args:
      s: (k,) singular values.
    Returns:
      two (k,) arrays, each summing to 1.
    """
    return s / jnp.sum(s), s**2 / jnp.sum(s**2)


def rank_tolerance(s: jax.Array, shape: tuple[int, int]) -> float:
    """Singular values below s₁ · max(m, n) · ε (of s's dtype) count as zero.

    An exactly rank-deficient matrix in floating point has tiny, not zero,
    trailing singular values; their size scales with s₁ and the matrix
    size. This is the tolerance of `numpy.linalg.matrix_rank`. Host-side:
    s is read back as NumPy, a number comes out.
    """
    s = np.asarray(s)  # (k,) largest first
    return float(s[0]) * max(shape) * float(np.finfo(s.dtype).eps)


# ----------------------------------------------------------------------------
# LoRA: a frozen matrix plus a trained low-rank correction.


class Adapters(NamedTuple):
    """The two LoRA factors; the only trainable parameters.

    Both are stored (r, D) as in the original curriculum, so `b` here is the
    transpose of the paper's B, which is (D, r).
    """

    a: jax.Array  # (r, D) down-projection: D inputs -> r numbers
    b: jax.Array  # (r, D) up-projection: r numbers -> D outputs


@jax.jit
def lora_forward(x: jax.Array, w0: jax.Array, adapters: Adapters, alpha: float = 1.0) -> jax.Array:
    """The adapted layer on a batch of rows: Y = X W₀ᵀ + (α/r) (X Aᵀ) B.

    This is W = W₀ + (α/r) Bᵀ A applied to every row x as W x. Computing
    (X Aᵀ) B first never builds the (D, D) update: 2·r·D multiplications
    per row instead of D². With B = 0 the layer equals the frozen one.

    References:
      Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
      2021. arXiv:2106.09685

    Args:
      x: (N, D) one input per row.
      w0: (D, D) the frozen weight matrix.
      adapters: A (r, D) and B (r, D).
      alpha: scale; the update is multiplied by alpha / r.
    Returns:
      (N, D) outputs.
    """
    r = adapters.a.shape[0]
    down = x @ adapters.a.T  # (N, r)
    return x @ w0.T + (alpha / r) * (down @ adapters.b)  # (N, D)


def lora_loss(
    adapters: Adapters, w0: jax.Array, x: jax.Array, target: jax.Array, alpha: float = 1.0
) -> jax.Array:
    """MSE between the adapted layer's output (N, D) and target (N, D)."""
    return mse(lora_forward(x, w0, adapters, alpha), target)


class Batch(NamedTuple):
    """What one step trains on."""

    x: jax.Array  # (N, D) inputs, one per row
    target: jax.Array  # (N, D) the outputs wanted


class LoRAConfig(NamedTuple):
    """Hyper-parameters of the gradient-descent step (traced: new values do not recompile)."""

    lr: float = 0.05  # step size
    alpha: float = 1.0  # the update is scaled by alpha / r


@jax.jit
def lora_step(
    adapters: Adapters, batch: Batch, *, w0: jax.Array, config: LoRAConfig
) -> tuple[Adapters, jax.Array]:
    """One gradient-descent step on the adapters: (new adapters, loss before the step).

    `value_and_grad` differentiates with respect to its first argument only,
    the adapters; w0 is a plain input, so no gradient for it is ever formed
    and it cannot move.

    Args:
      adapters: A (r, D) and B (r, D).
      batch: x (N, D) and target (N, D).
      w0: (D, D) the frozen weight matrix.
      config: lr and alpha.
    Returns:
      (the adapters after the step, () the loss before it).
    """
    grad_fn = jax.value_and_grad(lora_loss)  # d/d(first argument) only
    loss, grads = grad_fn(adapters, w0, batch.x, batch.target, config.alpha)
    return jax.tree.map(lambda p, g: p - config.lr * g, adapters, grads), loss


@functools.partial(jax.jit, static_argnames=("optimizer", "steps"))
def fit_lora(
    adapters: Adapters,
    batch: Batch,
    *,
    w0: jax.Array,
    optimizer: optax.GradientTransformation,
    steps: int,
    alpha: float = 1.0,
) -> tuple[Adapters, jax.Array]:
    """`steps` optimiser updates of the adapters, compiled as one `lax.scan`.

    Args:
      adapters: the start, A (r, D) and B (r, D).
      batch: x (N, D) and target (N, D).
      w0: (D, D) frozen.
      optimizer: an optax transformation (static).
      steps: the number of updates (static: it fixes the scan length).
      alpha: the update's scale is alpha / r.
    Returns:
      (the final adapters, (steps,) the loss at each step, before its update).
    """
    grad_fn = jax.value_and_grad(lora_loss)

    def step(carry, _):
        params, state = carry
        loss, grads = grad_fn(params, w0, batch.x, batch.target, alpha)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    init = (adapters, optimizer.init(adapters))
    (adapters, _), losses = jax.lax.scan(step, init, length=steps)
    return adapters, losses
