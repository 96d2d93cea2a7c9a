"""sep-CMA-ES: an evolution strategy that learns its step size and one variance per coordinate.

CMA-ES samples x = m + σ·y with y ~ N(0, C) and learns both σ and the
covariance C. sep-CMA-ES keeps only C's diagonal, so every sample and every
update is element-wise, O(D). σ is set by cumulative step-size adaptation:
a path p_σ of whitened mean steps that is longer than a random walk's says
"the steps agree: grow σ", shorter says "they cancel: shrink it".

The step has the shape of `evolution.es_step`:
`sep_cma_step(state, key, *, objective, config) -> (state, losses)`, so
`evolution.run` and `evolution.run_until` drive both ES.

References:
  Hansen, "The CMA Evolution Strategy: A Tutorial", 2016,
  https://arxiv.org/abs/1604.00772
  Ros & Hansen, "A Simple Modification in CMA-ES Achieving Linear Time
  and Space Complexity", PPSN 2008, https://inria.hal.science/inria-00287367
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations.evolution import Objective, best_indices, float_dtype


class SepCMAConfig(NamedTuple):
    """The static settings of sep-CMA-ES (hashable: jit keys on them).

    Only λ is free; μ = ⌊λ/2⌋ and the learning rates follow from λ and D
    (`sep_cma_constants`).
    """

    population: int  # λ ≥ 2, points per generation


def default_population(dim: int) -> int:
    """CMA-ES's default population, 4 + ⌊3 ln D⌋."""
    return 4 + math.floor(3 * math.log(dim))


class SepCMAConstants(NamedTuple):
    """Learning rates of sep-CMA-ES for a dimension D and population λ."""

    mu: int  # ⌊λ/2⌋ parents
    weights: tuple[float, ...]  # (μ,) recombination weights, eq. (49): ln((λ+1)/2) − ln i
    mu_eff: float  # 1 / Σ w_i², the variance-effective number of parents
    c_sigma: float  # cumulation rate of the step-size path p_σ
    d_sigma: float  # damping of the step-size change
    c_c: float  # cumulation rate of the covariance path p_c
    c_1: float  # rank-one learning rate (scaled by (D + 2) / 3)
    c_mu: float  # rank-μ learning rate (scaled by (D + 2) / 3)
    chi_n: float  # E‖N(0, I_D)‖


def sep_cma_constants(dim: int, population: int) -> SepCMAConstants:
    """The default settings of CMA-ES, with the sep-CMA covariance rates.

    The weights follow the tutorial's eq. (49), w_i ∝ ln((λ + 1)/2) − ln i
    for the ⌊λ/2⌋ best. A diagonal has D entries instead of D(D+1)/2, so it
    can be learned faster: Ros & Hansen multiply the covariance learning
    rates by (D + 2) / 3 (capped so that c_1 + c_μ ≤ 1).

    References:
      Hansen, tutorial, eqs. (49)-(58) and p. 28; Ros & Hansen, PPSN 2008.

    Args:
      dim: D, the number of coordinates.
      population: λ ≥ 2.
    Returns:
      the constants, as Python numbers.
    """
    mu = population // 2
    w = np.log((population + 1) / 2) - np.log(np.arange(1, mu + 1))  # (μ,) in float64
    w = w / w.sum()
    mu_eff = float(1 / np.sum(w**2))
    c_sigma = (mu_eff + 2) / (dim + mu_eff + 5)
    d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (dim + 1)) - 1)
    d_sigma += c_sigma
    c_c = (4 + mu_eff / dim) / (dim + 4 + 2 * mu_eff / dim)
    c_1 = 2 / ((dim + 1.3) ** 2 + mu_eff)
    c_mu = 2 * (mu_eff - 2 + 1 / mu_eff) / ((dim + 2) ** 2 + mu_eff)
    c_mu = min(1 - c_1, c_mu)
    scale = (dim + 2) / 3
    c_1 = min(1.0, c_1 * scale)
    c_mu = min(1 - c_1, c_mu * scale)
    chi_n = math.sqrt(dim) * (1 - 1 / (4 * dim) + 1 / (21 * dim**2))
    return SepCMAConstants(mu, tuple(w.tolist()), mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n)


class SepCMAState(NamedTuple):
    mean: jax.Array  # (D,)
    sigma: jax.Array  # () overall step size
    variances: jax.Array  # (D,) the diagonal of C
    p_sigma: jax.Array  # (D,) evolution path of the step size
    p_c: jax.Array  # (D,) evolution path of the covariance
    generation: jax.Array  # () int32, generations done
    best_loss: jax.Array  # () best of the last generation (inf before one)


def sep_cma_init(mean, sigma: float, dtype=None) -> SepCMAState:
    """The state before the first generation: C = I, both paths at zero.

    Every float array has `dtype` (default: JAX's float, float64 under x64).
    """
    mean = jnp.asarray(mean, float_dtype(dtype))  # (D,)
    zeros = jnp.zeros_like(mean)  # (D,)
    return SepCMAState(
        mean,
        jnp.asarray(sigma, mean.dtype),
        jnp.ones_like(mean),
        zeros,
        zeros,
        jnp.int32(0),
        jnp.asarray(jnp.inf, mean.dtype),
    )


def adapt_step_size(state: SepCMAState, z_w: jax.Array, c: SepCMAConstants):
    """Cumulative step-size adaptation (CSA).

    p_σ accumulates the whitened mean steps. Under random selection it is
    N(0, I) distributed, of length about E‖N(0, I)‖; a longer path means
    the steps point the same way (σ too small: grow it), a shorter one that
    they cancel (σ too large: shrink it).

    Args:
      state: the state before this generation.
      z_w: (D,) the weighted mean of the selected z, i.e. C^(-1/2) times the
        mean step in units of σ.
      c: the constants.
    Returns:
      (p_σ (D,), σ (), h_σ ()): h_σ = 0 while ‖p_σ‖ is large (σ far
      too small); it stalls the p_c update so that C does not grow too
      fast while σ catches up.
    """
    dtype = state.mean.dtype
    p_sigma = (1 - c.c_sigma) * state.p_sigma + math.sqrt(
        c.c_sigma * (2 - c.c_sigma) * c.mu_eff
    ) * z_w  # (D,)
    norm = jnp.linalg.norm(p_sigma)  # ()
    change = c.c_sigma / c.d_sigma * (norm / c.chi_n - 1)  # ()
    sigma = state.sigma * jnp.exp(change)  # ()
    g = (state.generation + 1).astype(dtype)  # () generations done after this one
    bias = jnp.sqrt(1 - (1 - c.c_sigma) ** (2 * g))  # () p_σ starts at 0
    limit = (1.4 + 2 / (p_sigma.shape[0] + 1)) * c.chi_n
    h_sigma = (norm / bias < limit).astype(dtype)  # ()
    return p_sigma, sigma, h_sigma


def adapt_variances(
    state: SepCMAState,
    y_best: jax.Array,
    weights: jax.Array,
    h_sigma: jax.Array,
    c: SepCMAConstants,
):
    """Rank-one and rank-μ updates of the diagonal of C.

    Rank one: p_c, the smoothed path of mean steps, stretches C along the
    direction the mean keeps travelling. Rank μ: the weighted spread of the
    selected steps, coordinate by coordinate. Only the diagonal is kept, so
    each update is element-wise: O(D).

    Args:
      state: the state before this generation.
      y_best: (μ, D) the selected steps (x − m) / σ, best first.
      weights: (μ,) recombination weights.
      h_sigma: () 1, or 0 to stall p_c (see adapt_step_size).
      c: the constants.
    Returns:
      (variances (D,), p_c (D,)).
    """
    y_w = weights @ y_best  # (D,)
    p_c = (1 - c.c_c) * state.p_c + h_sigma * math.sqrt(
        c.c_c * (2 - c.c_c) * c.mu_eff
    ) * y_w  # (D,)
    # while p_c stalls, δ makes up for the variance it would have carried
    delta = (1 - h_sigma) * c.c_c * (2 - c.c_c)  # ()
    rank_one = p_c**2  # (D,)
    rank_mu = weights @ y_best**2  # (D,)
    variances = (
        (1 - c.c_1 - c.c_mu + c.c_1 * delta) * state.variances + c.c_1 * rank_one + c.c_mu * rank_mu
    )  # (D,)
    return variances, p_c


def move_scale_into_sigma(sigma: jax.Array, variances: jax.Array, p_c: jax.Array):
    """Move the overall scale of C into σ, so that mean(C) = 1.

    Samples come from N(m, σ²C), and the algorithm is invariant under
    (σ, C, p_c) → (σ·a, C/a², p_c/a): the same points are drawn and the
    same updates follow. So the split of the scale between σ and C is
    arbitrary, but it drifts: on a non-separable valley such as
    Rosenbrock's, C shrinks and σ grows generation after generation, and in
    float32 C underflows to zero within a few thousand generations (the
    search then freezes). Moving the scale each generation keeps both in
    range and changes nothing else.

    Args:
      sigma: () step size; variances: (D,) the diagonal of C; p_c: (D,).
    Returns:
      (σ (), variances (D,), p_c (D,)), rescaled.
    """
    a = jnp.sqrt(jnp.mean(variances))  # ()
    return sigma * a, variances / a**2, p_c / a


@partial(jax.jit, static_argnames=("objective", "config"))
def sep_cma_step(
    state: SepCMAState, key: jax.Array, *, objective: Objective, config: SepCMAConfig
) -> tuple[SepCMAState, jax.Array]:
    """One generation of sep-CMA-ES (Ros & Hansen 2008).

    Sample x = m + σ·√C ⊙ z with z ~ N(0, I); recombine the μ best into
    the new mean; adapt σ by the length of the path p_σ; adapt the diagonal
    C by the rank-one and rank-μ updates. Each sample costs O(D).

    Args:
      state: the state after the previous generation.
      key: this generation's key (split into a sampling and a noise key).
      objective: f(x (λ, D), key) -> (λ,).
      config: λ ≥ 2; μ = ⌊λ/2⌋.
    Returns:
      (the state after this generation, (λ,) the losses it saw).
    """
    dim, population = state.mean.shape[0], config.population
    c = sep_cma_constants(dim, population)
    weights = jnp.asarray(c.weights, state.mean.dtype)  # (μ,)
    k_sample, k_noise = jax.random.split(key)
    z = jax.random.normal(k_sample, (population, dim), state.mean.dtype)  # (λ, D)
    y = z * jnp.sqrt(state.variances)[None, :]  # (λ, D) ~ N(0, C)
    x = state.mean[None, :] + state.sigma * y  # (λ, D)
    losses = objective(x, k_noise)  # (λ,)
    best = best_indices(losses, c.mu)  # (μ,)
    mean = state.mean + state.sigma * (weights @ y[best])  # (D,)
    p_sigma, sigma, h_sigma = adapt_step_size(state, weights @ z[best], c)
    variances, p_c = adapt_variances(state, y[best], weights, h_sigma, c)
    sigma, variances, p_c = move_scale_into_sigma(sigma, variances, p_c)
    state = SepCMAState(mean, sigma, variances, p_sigma, p_c, state.generation + 1, jnp.min(losses))
    return state, losses
