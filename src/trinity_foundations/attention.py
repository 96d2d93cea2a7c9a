"""Self-attention: the stable softmax and the pieces of one attention head."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import entr


def softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """exp(x) / Σ exp(x) along `axis`, computed stably.

    Subtracting the maximum first changes nothing mathematically (softmax is
    invariant to adding a constant) but keeps every exponent ≤ 0, so
    exp cannot overflow: logits like [1000, 999, 998] stay finite in float32.

    Args:
      x: logits of any shape.
      axis: the axis that sums to one.
    Returns:
      probabilities, the shape of x.
    """
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    e = jnp.exp(shifted)
    return e / jnp.sum(e, axis=axis, keepdims=True)


@jax.jit
def softmax_jacobian(s: jax.Array) -> jax.Array:
    """The Jacobian ∂s/∂x = diag(s) − s sᵀ of s = softmax(x), from s alone.

    Entry (i, j) is s_i (δ_ij − s_j). Every row sums to zero (the outputs
    always total one, so no nudge of the logits can change the total), which
    gives the diagonal as minus the rest of its row: s_i Σ_{j≠i} s_j. We build
    it that way because the textbook s_i (1 − s_i) cancels to exactly 0 in
    float32 once s_i rounds to 1, the very case of a collapsed softmax.

    Args:
      s: (n,) a probability vector (the output of softmax).
    Returns:
      (n, n) the Jacobian; symmetric, rows summing to zero.
    """
    n = s.shape[0]
    outer = jnp.outer(s, s)  # (n, n) s_i s_j
    off = jnp.where(jnp.eye(n, dtype=bool), 0.0, -outer)  # (n, n) zero diagonal
    return off - jnp.diag(jnp.sum(off, axis=1))  # (n, n)


@jax.jit
def entropy(p: jax.Array) -> jax.Array:
    """Shannon entropy −Σ p log p in nats, along the last axis.

    0 for a one-hot distribution (0 · log 0 is taken as 0), ln n for the
    uniform one over n outcomes: how spread out the attention is.

    Args:
      p: (..., n) probability vectors.
    Returns:
      (...) entropies in nats.
    """
    h = jnp.sum(entr(p), axis=-1)  # (...)
    return jnp.where(h == 0, 0.0, h)  # entr(1) is -0.0: print a one-hot's entropy as 0, not -0


class HeadStages(NamedTuple):
    """Every intermediate of one attention head, for T tokens."""

    q: jax.Array  # (T, d_k) queries: what each token looks for
    k: jax.Array  # (T, d_k) keys: what each token offers to be found by
    v: jax.Array  # (T, d_v) values: what each token hands over
    raw_scores: jax.Array  # (T, T) q_i · k_j: row = query, column = key
    scaled_scores: jax.Array  # (T, T) raw / sqrt(d_k)
    weights: jax.Array  # (T, T) softmax of each row: who attends to whom
    output: jax.Array  # (T, d_v) each token's weighted mix of the values


@jax.jit
def attention_head(x: jax.Array, w_q: jax.Array, w_k: jax.Array, w_v: jax.Array) -> HeadStages:
    """One self-attention head, softmax(Q Kᵀ / sqrt(d_k)) V, stage by stage.

    Dividing by sqrt(d_k) keeps the scores' spread near 1 whatever the width:
    the dot product of two d_k-wide vectors of independent unit-variance
    entries has variance d_k, and scores that spread out push the softmax
    towards one-hot (lesson 07).

    References:
      Vaswani et al., "Attention Is All You Need", 2017. arXiv:1706.03762

    Args:
      x: (T, d_model) one row per token.
      w_q, w_k: (d_model, d_k) query and key projections.
      w_v: (d_model, d_v) value projection.
    Returns:
      HeadStages with every intermediate; `output` is (T, d_v).
    """
    q = x @ w_q  # (T, d_k)
    k = x @ w_k  # (T, d_k)
    v = x @ w_v  # (T, d_v)
    raw = q @ k.T  # (T, T)
    scaled = raw / math.sqrt(q.shape[-1])  # (T, T)
    weights = softmax(scaled, axis=-1)  # (T, T) rows sum to 1
    output = weights @ v  # (T, d_v)
    return HeadStages(q, k, v, raw, scaled, weights, output)
