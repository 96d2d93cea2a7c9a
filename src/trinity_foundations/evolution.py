"""Black-box optimisation: objectives, a simple evolution strategy, sep-CMA-ES.

An evolution strategy (ES) never asks for a gradient. Each generation it
samples a population of points around a mean, evaluates the objective at
each, keeps the μ best and moves the mean to their weighted average. The
simple ES here shrinks its step size σ on a fixed schedule; sep-CMA-ES learns
σ from the path the mean travels and learns one variance per coordinate
(a diagonal covariance), at O(D) cost per sample.

Every step is a pure function of `(state, key)`; the runs compile a whole
optimisation into one call (`lax.scan` for a fixed number of generations,
`lax.while_loop` until a loss threshold), so no generation goes back to the
host. Generation g of a run draws its randomness from
`jax.random.fold_in(key, g)`, so a fixed-length run and a run-until-threshold
started from the same key follow the same trajectory.

Objectives take `(x, key)` with x of shape (..., D) and return (...): the
noisy ones use the key, the deterministic ones ignore it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Objective = Callable[[jax.Array, jax.Array], jax.Array]

NOISE_STD = 0.1  # std of each of the two noise draws added per evaluation


# ----------------------------------------------------------------------------
# Objectives.


def sphere(x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Σ x_i²: a round bowl with its minimum 0 at the origin (key ignored).

    Args:
      x: (..., D) points.
    Returns:
      (...) values.
    """
    return jnp.sum(x**2, axis=-1)  # (...)


def noisy_sphere(x: jax.Array, key: jax.Array) -> jax.Array:
    """Σ x_i² plus the sum of two N(0, NOISE_STD²) draws per point.

    The noise has std NOISE_STD·√2 ≈ 0.14 and does not depend on x, so the
    gradient of one evaluation is exactly 2x: gradient descent sees no noise
    in its steps, only in the loss it reports.

    Args:
      x: (..., D) points.
      key: the noise key of this evaluation.
    Returns:
      (...) noisy values.
    """
    draws = NOISE_STD * jax.random.normal(key, (*x.shape[:-1], 2))  # (..., 2)
    return sphere(x) + jnp.sum(draws, axis=-1)  # (...)


def rosenbrock(x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Σ_i 100 (x_{i+1} − x_i²)² + (1 − x_i)²: a curved valley.

    In 2-D this is (1 − x1)² + 100 (x2 − x1²)². The minimum is 0 at
    (1, ..., 1), at the end of a long, narrow, bending valley: easy to fall
    into, slow to follow. The key is ignored.

    Args:
      x: (..., D) points, D ≥ 2.
    Returns:
      (...) values.
    """
    head, tail = x[..., :-1], x[..., 1:]  # (..., D-1) each
    terms = 100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2  # (..., D-1)
    return jnp.sum(terms, axis=-1)  # (...)


# ----------------------------------------------------------------------------
# The pieces of one generation.


def log_rank_weights(mu: int) -> jax.Array:
    """Recombination weights w_i ∝ ln(μ + 1/2) − ln(i), i = 1..μ, sum 1.

    The best point gets the largest weight and the weights fall off with the
    log of the rank, so a lucky outlier cannot drag the mean on its own. They
    depend only on μ, a static number, so they are computed once in float64
    with NumPy and enter compiled code as constants.

    References:
      Hansen, "The CMA Evolution Strategy: A Tutorial", eq. (49),
      https://arxiv.org/abs/1604.00772

    Args:
      mu: how many of the best points are recombined.
    Returns:
      (μ,) float32 positive, decreasing weights that sum to 1.
    """
    raw = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))  # (μ,)
    return jnp.asarray(raw / raw.sum(), jnp.float32)  # (μ,)


def sample_population(
    key: jax.Array, mean: jax.Array, sigma: jax.Array, population: int
) -> jax.Array:
    """`population` points from N(mean, σ² I).

    Args:
      key: the sampling key.
      mean: (D,) centre.
      sigma: () step size.
      population: λ, the number of points.
    Returns:
      (λ, D) points.
    """
    z = jax.random.normal(key, (population, mean.shape[0]))  # (λ, D)
    return mean[None, :] + sigma * z  # (λ, D)


def best_indices(losses: jax.Array, mu: int) -> jax.Array:
    """Indices of the μ smallest losses, best first.

    Args:
      losses: (λ,) values.
    Returns:
      (μ,) int indices.
    """
    return jnp.argsort(losses)[:mu]  # (μ,)


def recombine(points: jax.Array, losses: jax.Array, weights: jax.Array) -> jax.Array:
    """The weighted mean of the μ best points (μ = len(weights)).

    Args:
      points: (λ, D) evaluated points.
      losses: (λ,) their values.
      weights: (μ,) recombination weights, best first.
    Returns:
      (D,) the new mean.
    """
    best = best_indices(losses, weights.shape[0])  # (μ,)
    return weights @ points[best]  # (D,)


# ----------------------------------------------------------------------------
# The simple ES: sample, select, recombine, shrink σ on a schedule.


class ESConfig(NamedTuple):
    """The static settings of the simple ES (hashable: jit keys on them)."""

    population: int = 20  # λ, points per generation
    mu: int = 5  # how many of the best are recombined
    decay: float = 0.95  # σ is multiplied by this each generation ...
    decay_after: int = 30  # ... once this many generations are done


class ESState(NamedTuple):
    mean: jax.Array  # (D,)
    sigma: jax.Array  # ()
    generation: jax.Array  # () int32, generations done
    best_loss: jax.Array  # () best of the last generation (inf before one)


def es_init(mean, sigma: float) -> ESState:
    """The state before the first generation."""
    return ESState(
        jnp.asarray(mean, jnp.float32), jnp.float32(sigma), jnp.int32(0), jnp.float32(jnp.inf)
    )


@partial(jax.jit, static_argnames=("objective", "config"))
def es_step(state: ESState, key: jax.Array, *, objective: Objective, config: ESConfig) -> ESState:
    """One generation of the simple ES.

    Sample λ points around the mean, evaluate them, move the mean to the
    log-rank-weighted mean of the μ best. Generations 1..decay_after sample
    with the initial σ; each later one with `decay` times its predecessor's.

    Args:
      state: the state after the previous generation.
      key: this generation's key (split into a sampling and a noise key).
      objective: f(x (λ, D), key) -> (λ,).
      config: population, μ and the σ schedule.
    Returns:
      the state after this generation.
    """
    k_sample, k_noise = jax.random.split(key)
    points = sample_population(k_sample, state.mean, state.sigma, config.population)  # (λ, D)
    losses = objective(points, k_noise)  # (λ,)
    mean = recombine(points, losses, log_rank_weights(config.mu))  # (D,)
    generation = state.generation + 1
    decays = generation >= config.decay_after
    sigma = jnp.where(decays, state.sigma * config.decay, state.sigma)
    return ESState(mean, sigma, generation, jnp.min(losses))


# ----------------------------------------------------------------------------
# sep-CMA-ES: step size and a diagonal covariance, both learned.


class SepCMAConstants(NamedTuple):
    """Learning rates of sep-CMA-ES for a dimension D and population λ."""

    mu: int  # λ // 2 parents
    mu_eff: float  # 1 / Σ w_i², the variance-effective number of parents
    c_sigma: float  # cumulation rate of the step-size path p_σ
    d_sigma: float  # damping of the step-size change
    c_c: float  # cumulation rate of the covariance path p_c
    c_1: float  # rank-one learning rate (scaled by (D + 2) / 3)
    c_mu: float  # rank-μ learning rate (scaled by (D + 2) / 3)
    chi_n: float  # E‖N(0, I_D)‖


def default_population(dim: int) -> int:
    """CMA-ES's default population, 4 + ⌊3 ln D⌋."""
    return 4 + math.floor(3 * math.log(dim))


def sep_cma_constants(dim: int, population: int) -> SepCMAConstants:
    """The default settings of CMA-ES, with the sep-CMA covariance rates.

    A diagonal has D entries instead of D(D+1)/2, so it can be learned faster:
    Ros & Hansen multiply the covariance learning rates by (D + 2) / 3
    (capped so that c_1 + c_μ ≤ 1).

    References:
      Hansen, "The CMA Evolution Strategy: A Tutorial", eqs. (49)-(58) and
      p. 28, https://arxiv.org/abs/1604.00772
      Ros & Hansen, "A Simple Modification in CMA-ES Achieving Linear Time
      and Space Complexity", PPSN 2008, https://inria.hal.science/inria-00287367

    Args:
      dim: D, the number of coordinates.
      population: λ ≥ 2.
    Returns:
      the constants, as Python numbers.
    """
    mu = population // 2
    w = [math.log(mu + 0.5) - math.log(i) for i in range(1, mu + 1)]
    mu_eff = sum(w) ** 2 / sum(v * v for v in w)
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
    return SepCMAConstants(mu, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n)


class SepCMAState(NamedTuple):
    mean: jax.Array  # (D,)
    sigma: jax.Array  # () overall step size
    variances: jax.Array  # (D,) the diagonal of C
    p_sigma: jax.Array  # (D,) evolution path of the step size
    p_c: jax.Array  # (D,) evolution path of the covariance
    generation: jax.Array  # () int32, generations done
    best_loss: jax.Array  # () best of the last generation (inf before one)


def sep_cma_init(mean, sigma: float) -> SepCMAState:
    """The state before the first generation: C = I, both paths at zero."""
    mean = jnp.asarray(mean, jnp.float32)  # (D,)
    zeros = jnp.zeros_like(mean)  # (D,)
    return SepCMAState(
        mean,
        jnp.float32(sigma),
        jnp.ones_like(mean),
        zeros,
        zeros,
        jnp.int32(0),
        jnp.float32(jnp.inf),
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
    p_sigma = (1 - c.c_sigma) * state.p_sigma + math.sqrt(
        c.c_sigma * (2 - c.c_sigma) * c.mu_eff
    ) * z_w  # (D,)
    norm = jnp.linalg.norm(p_sigma)  # ()
    change = c.c_sigma / c.d_sigma * (norm / c.chi_n - 1)  # ()
    sigma = state.sigma * jnp.exp(change)  # ()
    g = state.generation + 1
    bias = jnp.sqrt(1 - (1 - c.c_sigma) ** (2 * g))  # () p_σ starts at 0
    limit = (1.4 + 2 / (p_sigma.shape[0] + 1)) * c.chi_n
    h_sigma = (norm / bias < limit).astype(jnp.float32)  # ()
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
      h_σ: () 1.0, or 0.0 to stall p_c (see adapt_step_size).
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


def rebalance(sigma: jax.Array, variances: jax.Array, p_c: jax.Array):
    """Move the overall scale of C into σ, so that mean(C) = 1.

    Samples come from N(m, σ²C), and the algorithm is invariant under
    (σ, C, p_c) → (σ·a, C/a², p_c/a): the same points are drawn and the
    same updates follow. So the split of the scale between σ and C is
    arbitrary, but it drifts: on a non-separable valley such as
    Rosenbrock's, C shrinks and σ grows generation after generation, and in
    float32 C underflows to zero within a few thousand generations (the
    search then freezes). Rebalancing each generation keeps both in range
    and changes nothing else.

    Returns:
      (σ (), variances (D,), p_c (D,)), rescaled.
    """
    a = jnp.sqrt(jnp.mean(variances))  # ()
    return sigma * a, variances / a**2, p_c / a


@partial(jax.jit, static_argnames=("objective", "population"))
def sep_cma_step(
    state: SepCMAState, key: jax.Array, *, objective: Objective, population: int
) -> SepCMAState:
    """One generation of sep-CMA-ES (Ros & Hansen 2008).

    Sample x = m + σ·√C ⊙ z with z ~ N(0, I); recombine the μ best into
    the new mean; adapt σ by the length of the path p_σ; adapt the diagonal
    C by the rank-one and rank-μ updates. Each sample costs O(D).

    References:
      Hansen, https://arxiv.org/abs/1604.00772 ; Ros & Hansen, PPSN 2008.

    Args:
      state: the state after the previous generation.
      key: this generation's key (split into a sampling and a noise key).
      objective: f(x (λ, D), key) -> (λ,).
      population: λ ≥ 2; μ = λ // 2.
    Returns:
      the state after this generation.
    """
    dim = state.mean.shape[0]
    c = sep_cma_constants(dim, population)
    weights = log_rank_weights(c.mu)  # (μ,)
    k_sample, k_noise = jax.random.split(key)
    z = jax.random.normal(k_sample, (population, dim))  # (λ, D)
    y = z * jnp.sqrt(state.variances)[None, :]  # (λ, D) ~ N(0, C)
    x = state.mean[None, :] + state.sigma * y  # (λ, D)
    losses = objective(x, k_noise)  # (λ,)
    best = best_indices(losses, c.mu)  # (μ,)
    mean = state.mean + state.sigma * (weights @ y[best])  # (D,)
    p_sigma, sigma, h_sigma = adapt_step_size(state, weights @ z[best], c)
    variances, p_c = adapt_variances(state, y[best], weights, h_sigma, c)
    sigma, variances, p_c = rebalance(sigma, variances, p_c)
    return SepCMAState(mean, sigma, variances, p_sigma, p_c, state.generation + 1, jnp.min(losses))


# ----------------------------------------------------------------------------
# Compiled runs: a whole optimisation is one call.


def _scan(step, state, key, generations: int):
    """`generations` steps in one lax.scan: (final state, stacked states)."""

    def body(state, _):
        state = step(state, jax.random.fold_in(key, state.generation))
        return state, state

    return lax.scan(body, state, None, length=generations)


def _until(step, state, key, threshold, max_generations: int):
    """Steps in one lax.while_loop until best_loss < threshold or budget ends.

    Returns (final state, (max_generations,) best loss per generation, NaN
    after the last one run).
    """
    history = jnp.full((max_generations,), jnp.nan, jnp.float32)  # (G,)

    def cond(carry):
        state, _ = carry
        searching = state.best_loss >= threshold
        return searching & (state.generation < max_generations)

    def body(carry):
        state, history = carry
        state = step(state, jax.random.fold_in(key, state.generation))
        return state, history.at[state.generation - 1].set(state.best_loss)

    return lax.while_loop(cond, body, (state, history))


@partial(jax.jit, static_argnames=("generations", "objective", "config"))
def es_run(
    state: ESState, key: jax.Array, *, generations: int, objective: Objective, config: ESConfig
):
    """`generations` simple-ES generations compiled as one lax.scan.

    Args:
      state: the start (es_init).
      key: the run's key; generation g uses fold_in(key, g).
      generations, objective, config: static; see es_step.
    Returns:
      (final state, the state after every generation, fields stacked (G, ...)).
    """
    step = partial(es_step, objective=objective, config=config)
    return _scan(step, state, key, generations)


@partial(jax.jit, static_argnames=("max_generations", "objective", "config"))
def es_run_until(
    state: ESState,
    key: jax.Array,
    threshold,
    *,
    max_generations: int,
    objective: Objective,
    config: ESConfig,
):
    """Simple-ES generations in one lax.while_loop until best loss < threshold.

    Args: as es_run, with `threshold` (traced) and the budget `max_generations`.
    Returns:
      (final state, (max_generations,) best loss per generation, NaN after
       the last generation run).
    """
    step = partial(es_step, objective=objective, config=config)
    return _until(step, state, key, threshold, max_generations)


@partial(jax.jit, static_argnames=("generations", "objective", "population"))
def sep_cma_run(
    state: SepCMAState, key: jax.Array, *, generations: int, objective: Objective, population: int
):
    """`generations` sep-CMA-ES generations compiled as one lax.scan.

    Args: as es_run, with `population` (λ) for `config`; start from
    sep_cma_init.
    Returns:
      (final state, the state after every generation, fields stacked (G, ...)).
    """
    step = partial(sep_cma_step, objective=objective, population=population)
    return _scan(step, state, key, generations)


@partial(jax.jit, static_argnames=("max_generations", "objective", "population"))
def sep_cma_run_until(
    state: SepCMAState,
    key: jax.Array,
    threshold,
    *,
    max_generations: int,
    objective: Objective,
    population: int,
):
    """sep-CMA-ES generations in one lax.while_loop until best loss < threshold.

    Args: as sep_cma_run, with `threshold` and the budget `max_generations`.
    Returns:
      (final state, (max_generations,) best loss per generation, NaN after
       the last generation run).
    """
    step = partial(sep_cma_step, objective=objective, population=population)
    return _until(step, state, key, threshold, max_generations)


# ----------------------------------------------------------------------------
# Gradient descent, the method that does get to see the gradient.


@partial(jax.jit, static_argnames=("generations", "objective"))
def gd_run(x0: jax.Array, key: jax.Array, *, generations: int, objective: Objective, lr: float):
    """Plain gradient descent x ← x − lr ∇f(x), compiled as one lax.scan.

    Step t evaluates f with the noise key the ES uses in its generation t
    (the second half of `split(fold_in(key, t))`), so both methods face the
    same noise stream.

    Args:
      x0: (D,) start.
      key: the run's key, the same one the ES run gets.
      generations: the number of steps (static).
      objective: f(x (D,), key) -> () (static).
      lr: the learning rate.
    Returns:
      (losses (G,): f at the point each step started from,
       positions (G, D): the point after each step).
    """

    def step(x, t):
        _, k_noise = jax.random.split(jax.random.fold_in(key, t))
        loss, grad = jax.value_and_grad(objective)(x, k_noise)  # (), (D,)
        x = x - lr * grad  # (D,)
        return x, (loss, x)

    x0 = jnp.asarray(x0, jnp.float32)  # (D,)
    _, (losses, positions) = lax.scan(step, x0, jnp.arange(generations))
    return losses, positions  # (G,), (G, D)
