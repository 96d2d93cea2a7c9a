"""Black-box optimisation: objectives, a simple evolution strategy, sep-CMA-ES.

An evolution strategy (ES) never asks for a gradient. Each generation it
samples a population of points around a mean, evaluates the objective at
each, keeps the μ best and moves the mean to their weighted average. The
simple ES here shrinks its step size σ on a fixed schedule; sep-CMA-ES learns
σ from the path the mean travels and learns one variance per coordinate
(a diagonal covariance), at O(D) cost per sample.

Both ES have one shape: `step(state, key, *, objective, config) -> (state,
losses)`, the hyper-parameters in a NamedTuple config (`ESConfig` here,
`sep_cma.SepCMAConfig` for sep-CMA-ES). `run` and `run_until` compile a whole
optimisation of either into one call (`lax.scan` for a fixed number of
generations, `lax.while_loop` until a loss threshold), so no generation goes
back to the host, and return `(final_state, history)`: the state after every
generation. Generation g draws its randomness from `jax.random.fold_in(key,
g)`, so a fixed-length run and a run-until-threshold started from the same key
follow the same trajectory.

Every array of a state has the dtype of its mean (float32 by default, float64
under JAX_ENABLE_X64=1); samples, noise and weights are drawn or cast to it.

Objectives take `(x, key)` with x of shape (..., D) and return (...): the
noisy ones use the key, the deterministic ones ignore it.
"""

from __future__ import annotations

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
    draws = NOISE_STD * jax.random.normal(key, (*x.shape[:-1], 2), x.dtype)  # (..., 2)
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


def log_rank_weights(mu: int, dtype=jnp.float32) -> jax.Array:
    """Recombination weights w_i ∝ ln(μ + 1/2) − ln(i), i = 1..μ, sum 1.

    The best point gets the largest weight and the weights fall off with the
    log of the rank, so a lucky outlier cannot drag the mean on its own. They
    depend only on μ, a static number, so they are computed once in float64
    with NumPy and enter compiled code as constants of `dtype`.

    This is the original curriculum's form, for a μ chosen freely. Hansen's
    eq. (49) writes ln((λ + 1)/2) − ln(i) with μ = ⌊λ/2⌋: the same weights
    when λ = 2μ, different ones for odd λ ((λ + 1)/2 = μ + 1), which is why
    sep-CMA-ES computes its own (`sep_cma.sep_cma_constants`).

    References:
      Hansen, "The CMA Evolution Strategy: A Tutorial", eq. (49),
      https://arxiv.org/abs/1604.00772

    Args:
      mu: how many of the best points are recombined.
      dtype: of the result.
    Returns:
      (μ,) positive, decreasing weights that sum to 1.
    """
    raw = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))  # (μ,)
    return jnp.asarray(raw / raw.sum(), dtype)  # (μ,)


def sample_population(
    key: jax.Array, mean: jax.Array, sigma: jax.Array, population: int
) -> jax.Array:
    """`population` points from N(mean, σ² I), in the mean's dtype.

    Args:
      key: the sampling key.
      mean: (D,) centre.
      sigma: () step size.
      population: λ, the number of points.
    Returns:
      (λ, D) points.
    """
    z = jax.random.normal(key, (population, mean.shape[0]), mean.dtype)  # (λ, D)
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


def float_dtype(dtype=None):
    """`dtype`, or JAX's default float: float32, float64 under JAX_ENABLE_X64=1."""
    return jnp.dtype(jnp.result_type(float) if dtype is None else dtype)


def es_init(mean, sigma: float, dtype=None) -> ESState:
    """The state before the first generation, in `dtype` (default: JAX's float)."""
    dtype = float_dtype(dtype)
    return ESState(
        jnp.asarray(mean, dtype),
        jnp.asarray(sigma, dtype),
        jnp.int32(0),
        jnp.asarray(jnp.inf, dtype),
    )


@partial(jax.jit, static_argnames=("objective", "config"))
def es_step(
    state: ESState, key: jax.Array, *, objective: Objective, config: ESConfig
) -> tuple[ESState, jax.Array]:
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
      (the state after this generation, (λ,) the losses it saw).
    """
    k_sample, k_noise = jax.random.split(key)
    points = sample_population(k_sample, state.mean, state.sigma, config.population)  # (λ, D)
    losses = objective(points, k_noise)  # (λ,)
    weights = log_rank_weights(config.mu, dtype=state.mean.dtype)  # (μ,)
    mean = recombine(points, losses, weights)  # (D,)
    generation = state.generation + 1
    decays = generation >= config.decay_after
    sigma = jnp.where(decays, state.sigma * config.decay, state.sigma)
    return ESState(mean, sigma, generation, jnp.min(losses)), losses


# ----------------------------------------------------------------------------
# Compiled runs of either ES: a whole optimisation is one call.

Step = Callable[..., tuple]  # es_step or sep_cma.sep_cma_step


@partial(jax.jit, static_argnames=("step", "objective", "config", "generations"))
def run(state, key: jax.Array, *, step: Step, objective: Objective, config, generations: int):
    """`generations` generations of `step` compiled as one lax.scan.

    Args:
      state: the start (es_init or sep_cma.sep_cma_init).
      key: the run's key; generation g uses fold_in(key, g).
      step: es_step or sep_cma.sep_cma_step (static), with its objective
        and config (static).
      generations: G, the number of generations (static).
    Returns:
      (final state, history: the state after every generation, each field
       stacked (G, ...)).
    """

    def body(state, _):
        state, _ = step(
            state, jax.random.fold_in(key, state.generation), objective=objective, config=config
        )
        return state, state

    return lax.scan(body, state, None, length=generations)


def _blank(x: jax.Array, length: int) -> jax.Array:
    """(length, *x.shape) of NaN (floats) or 0 (integers): a history not yet written."""
    fill = jnp.nan if jnp.issubdtype(x.dtype, jnp.floating) else 0
    return jnp.full((length, *x.shape), fill, x.dtype)


@partial(jax.jit, static_argnames=("step", "objective", "config", "max_generations"))
def run_until(
    state,
    key: jax.Array,
    threshold,
    *,
    step: Step,
    objective: Objective,
    config,
    max_generations: int,
):
    """Generations of `step` in one lax.while_loop until best loss < threshold.

    Stops after the first generation whose best loss is below `threshold`
    (traced, so a new threshold does not recompile), or after
    `max_generations`.

    Args: as `run`, with `threshold` and the budget `max_generations` (static).
    Returns:
      (final state, history: the state after every generation, fields stacked
       (max_generations, ...); rows after the last generation run are NaN,
       their `generation` 0).
    """
    history = jax.tree.map(lambda x: _blank(x, max_generations), state)

    def searching(carry):
        state, _ = carry
        return (state.best_loss >= threshold) & (state.generation < max_generations)

    def body(carry):
        state, history = carry
        state, _ = step(
            state, jax.random.fold_in(key, state.generation), objective=objective, config=config
        )
        history = jax.tree.map(lambda h, x: h.at[state.generation - 1].set(x), history, state)
        return state, history

    return lax.while_loop(searching, body, (state, history))


# ----------------------------------------------------------------------------
# Gradient descent, the method that does get to see the gradient.


class GDHistory(NamedTuple):
    loss: jax.Array  # (G,) f at the point each step started from
    position: jax.Array  # (G, D) the point after each step


@partial(jax.jit, static_argnames=("generations", "objective"))
def gd_run(x0: jax.Array, key: jax.Array, *, generations: int, objective: Objective, lr: float):
    """Plain gradient descent x ← x − lr ∇f(x), compiled as one lax.scan.

    Step t evaluates f with the noise key the ES uses in its generation t
    (the second half of `split(fold_in(key, t))`), so both methods face the
    same noise stream.

    Args:
      x0: (D,) start, cast to JAX's default float (float_dtype()).
      key: the run's key, the same one the ES run gets.
      generations: the number of steps (static).
      objective: f(x (D,), key) -> () (static).
      lr: the learning rate.
    Returns:
      (final x (D,), GDHistory(loss (G,), position (G, D))).
    """

    def step(x, t):
        _, k_noise = jax.random.split(jax.random.fold_in(key, t))
        loss, grad = jax.value_and_grad(objective)(x, k_noise)  # (), (D,)
        x = x - lr * grad  # (D,)
        return x, GDHistory(loss, x)

    x0 = jnp.asarray(x0, float_dtype())  # (D,)
    return lax.scan(step, x0, jnp.arange(generations))
