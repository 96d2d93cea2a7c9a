"""Confidence intervals for an accuracy measured on a finite sample."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.stats import binom

Z_95 = 1.96  # the two-sided 95 % quantile of the standard normal


@jax.jit
def wilson_interval(successes, n, z: float = Z_95) -> tuple:
    """Wilson score interval for a binomial proportion.

    The textbook interval p̂ ± z·sqrt(p̂(1 - p̂)/n) collapses to a point at
    p̂ = 0 or 1 and can leave [0, 1]. Wilson inverts the score test instead:
    its centre is pulled towards 1/2 by z²/(2n) and it always lies in [0, 1],
    which matters for accuracies near 100 %.

    References:
      Wilson, "Probable inference, the law of succession, and statistical
      inference", JASA 1927. https://doi.org/10.1080/01621459.1927.10502953

    Args:
      successes: number of successes k, 0 <= k <= n (scalar or array).
      n: number of trials, n > 0 (same shape as successes, or scalar).
      z: the normal quantile; 1.96 for a 95 % interval.

    Returns:
      (low, high), proportions in [0, 1], each of the broadcast shape.
    """
    k = jnp.asarray(successes, dtype=float)  # float32 (float64 under x64)
    n = jnp.asarray(n, dtype=float)
    p = k / n  # observed proportion p̂
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * jnp.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # exactly, low = 0 at k = 0 and high = 1 at k = n; rounding may miss either way
    low = jnp.where(k == 0, 0.0, jnp.clip(centre - half, 0.0, 1.0))
    high = jnp.where(k == n, 1.0, jnp.clip(centre + half, 0.0, 1.0))
    return low, high


@partial(jax.jit, static_argnames="n")
def wilson_miss_rate(p, n: int, z: float = Z_95) -> jax.Array:
    """How often the Wilson interval misses the true proportion p: its real error rate.

    The nominal 95 % holds only roughly: k ~ Binomial(n, p) takes few values
    near p = 0 or 1, and the rate jumps as an interval edge passes p. Summing
    the binomial probabilities of the k whose interval misses p gives it exactly.

    Args:
      p: the true proportion, in [0, 1] (float64 for a precise sum).
      n: the number of trials (static: it fixes the sum's length).
      z: the normal quantile of the interval.

    Returns:
      P(p outside wilson_interval(k, n)), a scalar.
    """
    p = jnp.asarray(p, dtype=float)  # float32 (float64 under x64)
    k = jnp.arange(n + 1, dtype=p.dtype)  # (n + 1,) every possible count
    low, high = wilson_interval(k, n, z)  # (n + 1,) each
    pmf = jnp.exp(binom.logpmf(k, jnp.asarray(n, p.dtype), p))  # (n + 1,)
    return jnp.sum(jnp.where((low <= p) & (p <= high), 0.0, pmf))
