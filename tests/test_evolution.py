import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import compilations
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations import evolution as ev
from trinity_foundations import sep_cma as sc

ROSENBROCK_ES = ev.ESConfig(population=40, mu=8, decay=0.98, decay_after=50)


def ellipsoid(x, key=None):
    """Σ 10^(6 i / (D-1)) x_i²: separable, condition number 1e6."""
    d = x.shape[-1]
    scales = 10.0 ** (6 * jnp.arange(d) / (d - 1))  # (D,)
    return x**2 @ scales


# ----------------------------------------------------------------------------
# Objectives.


def test_rosenbrock_matches_numpy_and_its_minimum():
    x = np.random.default_rng(0).normal(size=(7, 5))  # (7, 5)
    expected = np.sum(100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2, axis=1)
    np.testing.assert_allclose(ev.rosenbrock(jnp.asarray(x, jnp.float32)), expected, rtol=1e-5)
    assert float(ev.rosenbrock(jnp.ones(4))) == 0.0
    x1, x2 = -1.0, 2.0  # the lessons' start: (1 - x1)² + 100 (x2 - x1²)² = 4 + 100
    assert float(ev.rosenbrock(jnp.array([x1, x2]))) == pytest.approx(104.0)


def test_noisy_sphere_adds_two_draws_of_std_0_1_independent_of_x():
    key = jax.random.key(0)
    x = jnp.zeros((20_000, 2))  # (N, 2)
    noise = np.asarray(ev.noisy_sphere(x, key), np.float64)  # (N,) pure noise
    assert abs(noise.mean()) < 0.005
    assert noise.std() == pytest.approx(0.1 * math.sqrt(2), rel=0.02)
    shifted = ev.noisy_sphere(x + 3.0, key) - 18.0  # same key: the same noise, wherever x is
    np.testing.assert_allclose(shifted, noise, atol=1e-5)


def test_gradients_of_the_objectives():
    with jax.enable_x64(True):
        x = jnp.array([0.3, -1.2, 0.7], jnp.float64)
        check_grads(jax.jit(ev.rosenbrock), (x,), order=1)
        key = jax.random.key(1)
        # the noise does not depend on x, so the gradient is exactly 2x
        np.testing.assert_array_equal(jax.grad(ev.noisy_sphere)(x, key), 2 * x)


# ----------------------------------------------------------------------------
# The pieces of one generation.


@given(st.integers(1, 50))
@settings(deadline=None, max_examples=25)
def test_log_rank_weights_positive_decreasing_sum_to_one(mu):
    w = np.asarray(ev.log_rank_weights(mu), np.float64)  # (μ,)
    raw = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
    np.testing.assert_allclose(w, raw / raw.sum(), rtol=1e-5)
    assert w.shape == (mu,) and np.all(w > 0)
    assert np.all(np.diff(w) < 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-6)


def test_log_rank_weights_for_mu_5():
    raw = [math.log(5.5) - math.log(i) for i in range(1, 6)]
    np.testing.assert_allclose(ev.log_rank_weights(5), np.array(raw) / sum(raw), rtol=1e-6)


def test_recombine_is_the_weighted_mean_of_the_best():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(10, 3)).astype(np.float32)  # (λ, D)
    losses = rng.permutation(10).astype(np.float32)  # (λ,) distinct
    w = np.array([0.5, 0.3, 0.2], np.float32)  # (μ,)
    expected = w @ points[np.argsort(losses)[:3]]  # (D,)
    np.testing.assert_allclose(ev.recombine(points, losses, w), expected, rtol=1e-6)


# ----------------------------------------------------------------------------
# The simple ES.


def test_es_step_is_deterministic_for_a_key_and_compiles_once():
    state = ev.es_init([5.0, -5.0], 2.0)

    def step(k):
        return ev.es_step(state, k, objective=ev.noisy_sphere, config=ev.ESConfig())

    (a, losses), (b, _) = step(jax.random.key(3)), step(jax.random.key(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    with compilations() as compiled:
        other, _ = step(jax.random.key(4))
    assert compiled == [] and not np.array_equal(a.mean, other.mean)
    assert losses.shape == (20,) and float(a.best_loss) == float(losses.min())
    assert int(a.generation) == 1 and float(a.best_loss) < float(ev.sphere(state.mean))


def test_run_until_follows_the_same_trajectory_as_the_scan():
    state, key = ev.es_init([-1.0, 2.0], 0.5), jax.random.key(5)
    kwargs = dict(step=ev.es_step, objective=ev.rosenbrock, config=ROSENBROCK_ES)
    final, hist = ev.run(state, key, generations=200, **kwargs)
    # a threshold below every reachable loss: the loop runs the whole budget
    final_until, until = ev.run_until(state, key, -1.0, max_generations=200, **kwargs)
    np.testing.assert_array_equal(final_until.mean, final.mean)
    for got, want in zip(until, hist):  # the same history, field by field
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(hist.generation, np.arange(1, 201))


def test_es_sigma_schedule():
    _, hist = ev.run(
        ev.es_init([-1.0, 2.0], 0.5),
        jax.random.key(5),
        step=ev.es_step,
        generations=200,
        objective=ev.rosenbrock,
        config=ROSENBROCK_ES,
    )
    # σ after generation g: 0.5 while g < 50, then × 0.98 after each generation from the 50th,
    # so generations 1..50 sample with 0.5 and generation 51 with 0.5 · 0.98
    g = np.arange(1, 201)
    expected = 0.5 * 0.98 ** np.maximum(0, g - 49)
    np.testing.assert_allclose(hist.sigma, expected, rtol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_es_reaches_the_2d_rosenbrock_threshold(seed):
    final, hist = ev.run_until(
        ev.es_init([-1.0, 2.0], 0.5),
        jax.random.key(seed),
        0.01,
        step=ev.es_step,
        max_generations=200,
        objective=ev.rosenbrock,
        config=ROSENBROCK_ES,
    )
    g, losses = int(final.generation), np.asarray(hist.best_loss)
    assert g < 200 and float(final.best_loss) < 0.01
    assert float(losses[g - 1]) == float(final.best_loss)
    assert np.all(losses[: g - 1] >= 0.01) and np.all(np.isnan(losses[g:]))
    np.testing.assert_array_equal(hist.mean[g - 1], final.mean)
    assert np.all(np.isnan(hist.mean[g:])) and np.all(np.asarray(hist.generation[g:]) == 0)


def test_a_new_threshold_does_not_recompile_the_run():
    kwargs = dict(step=ev.es_step, objective=ev.rosenbrock, config=ROSENBROCK_ES)
    state, key = ev.es_init([-1.0, 2.0], 0.5), jax.random.key(0)
    ev.run_until(state, key, 0.01, max_generations=50, **kwargs)
    with compilations() as compiled:
        ev.run_until(state, key, 0.5, max_generations=50, **kwargs)
    assert compiled == []


@pytest.mark.parametrize(
    "init, step, config",
    [
        (ev.es_init, ev.es_step, ROSENBROCK_ES),
        (sc.sep_cma_init, sc.sep_cma_step, sc.SepCMAConfig(6)),
    ],
    ids=["es", "sep_cma"],
)
def test_both_es_run_in_float64_under_x64(init, step, config):
    # JAX_ENABLE_X64=1 once crashed both: a float32 carry met float64 samples in the scan
    with jax.enable_x64(True):
        state = init([-1.0, 2.0], 0.5)
        final, hist = ev.run(
            state,
            jax.random.key(0),
            step=step,
            objective=ev.rosenbrock,
            config=config,
            generations=5,
        )
        until, _ = ev.run_until(
            state,
            jax.random.key(0),
            1e-9,
            step=step,
            objective=ev.rosenbrock,
            config=config,
            max_generations=5,
        )
    assert state.mean.dtype == final.mean.dtype == hist.sigma.dtype == jnp.float64
    np.testing.assert_array_equal(until.mean, final.mean)


# ----------------------------------------------------------------------------
# sep-CMA-ES.


def test_sep_cma_constants():
    dim, lam = 10, 10
    c = sc.sep_cma_constants(dim, lam)
    w = np.log(5.5) - np.log(np.arange(1, 6))
    w /= w.sum()
    mu_eff = 1 / np.sum(w**2)
    assert c.mu == 5 and c.mu_eff == pytest.approx(mu_eff)
    assert c.c_sigma == pytest.approx((mu_eff + 2) / (dim + mu_eff + 5))
    assert c.c_1 == pytest.approx(2 / ((dim + 1.3) ** 2 + mu_eff) * (dim + 2) / 3)
    full_c_mu = 2 * (mu_eff - 2 + 1 / mu_eff) / ((dim + 2) ** 2 + mu_eff)
    assert c.c_mu == pytest.approx(full_c_mu * (dim + 2) / 3)
    assert sc.default_population(dim) == 10 and sc.default_population(2) == 6


@pytest.mark.parametrize("lam", [7, 9, 10])
def test_sep_cma_weights_follow_the_tutorials_equation_49(lam):
    # ln((λ + 1)/2) − ln i, not ln(μ + 1/2) − ln i: the two differ for odd λ
    c = sc.sep_cma_constants(5, lam)
    raw = np.log((lam + 1) / 2) - np.log(np.arange(1, lam // 2 + 1))
    np.testing.assert_allclose(c.weights, raw / raw.sum(), rtol=1e-12)
    simple = np.asarray(ev.log_rank_weights(lam // 2), np.float64)
    assert np.allclose(c.weights, simple, rtol=1e-6) == (lam % 2 == 0)


@given(st.integers(2, 2000), st.integers(2, 200))
@settings(deadline=None, max_examples=50)
def test_sep_cma_rates_are_valid(dim, population):
    c = sc.sep_cma_constants(dim, population)
    assert 0 < c.c_1 and 0 <= c.c_mu and c.c_1 + c.c_mu <= 1 + 1e-12
    assert 0 < c.c_sigma < 1 and 0 < c.c_c <= 1 and c.d_sigma >= 1


def _numpy_generation(state, z, f, population):
    """One sep-CMA-ES generation in float64, written from the tutorial's equations."""
    m, sigma, C, p_s, p_c, g = (np.asarray(v, np.float64) for v in state[:6])
    dim = m.size
    mu = population // 2
    w = np.log((population + 1) / 2) - np.log(np.arange(1, mu + 1))
    w /= w.sum()
    mu_eff = 1 / np.sum(w**2)
    cs = (mu_eff + 2) / (dim + mu_eff + 5)
    ds = 1 + 2 * max(0, np.sqrt((mu_eff - 1) / (dim + 1)) - 1) + cs
    cc = (4 + mu_eff / dim) / (dim + 4 + 2 * mu_eff / dim)
    c1 = 2 / ((dim + 1.3) ** 2 + mu_eff) * (dim + 2) / 3
    cmu = 2 * (mu_eff - 2 + 1 / mu_eff) / ((dim + 2) ** 2 + mu_eff) * (dim + 2) / 3
    chi = np.sqrt(dim) * (1 - 1 / (4 * dim) + 1 / (21 * dim**2))

    y = z * np.sqrt(C)  # (λ, D)
    order = np.argsort(f(m + sigma * y))[:mu]
    y_w = w @ y[order]
    p_s = (1 - cs) * p_s + np.sqrt(cs * (2 - cs) * mu_eff) * (y_w / np.sqrt(C))
    new_sigma = sigma * np.exp(cs / ds * (np.linalg.norm(p_s) / chi - 1))
    h = float(
        np.linalg.norm(p_s) / np.sqrt(1 - (1 - cs) ** (2 * (g + 1))) < (1.4 + 2 / (dim + 1)) * chi
    )
    p_c = (1 - cc) * p_c + h * np.sqrt(cc * (2 - cc) * mu_eff) * y_w
    C = (1 - c1 - cmu + c1 * (1 - h) * cc * (2 - cc)) * C + c1 * p_c**2 + cmu * (w @ y[order] ** 2)
    a = np.sqrt(C.mean())
    return m + sigma * y_w, new_sigma * a, C / a**2, p_s, p_c / a, h


@functools.cache
def sphere_run(seed: int):
    """200 generations of sep-CMA-ES (λ = 10) on the 10-D sphere from [3, ..., 3], σ 1."""
    init = sc.sep_cma_init(jnp.full(10, 3.0), 1.0)
    _, hist = ev.run(
        init,
        jax.random.key(seed),
        step=sc.sep_cma_step,
        generations=200,
        objective=ev.sphere,
        config=sc.SepCMAConfig(10),
    )
    return init, hist


def test_sep_cma_generations_match_numpy():
    init, hist = sphere_run(0)
    key, h_seen = jax.random.key(0), set()
    for g in range(30):  # generation g + 1, from the state after generation g
        before = init if g == 0 else jax.tree.map(lambda a, g=g: a[g - 1], hist)
        after = jax.tree.map(lambda a, g=g: a[g], hist)
        k_sample, _ = jax.random.split(jax.random.fold_in(key, g))
        z = np.asarray(jax.random.normal(k_sample, (10, 10)), np.float64)  # (λ, D)
        *want, h = _numpy_generation(before, z, lambda x: np.sum(x**2, axis=1), 10)
        h_seen.add(h)
        for got, w in zip(
            (after.mean, after.sigma, after.variances, after.p_sigma, after.p_c), want
        ):
            np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-6)
    assert h_seen == {0.0, 1.0}  # both branches of the stall indicator were compared


def test_moving_the_scale_keeps_the_distribution_and_centres_the_variances():
    sigma, var, p_c = jnp.float32(3.0), jnp.array([1e-6, 4e-6, 2e-6]), jnp.array([1e-3, 0.0, -2e-3])
    s, v, p = sc.move_scale_into_sigma(sigma, var, p_c)
    assert float(jnp.mean(v)) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(s**2 * v, sigma**2 * var, rtol=1e-5)  # σ²C: the sampling covariance
    np.testing.assert_allclose(s * p, sigma * p_c, rtol=1e-5)  # σ·p_c: the path in x units


@pytest.mark.parametrize("seed", range(3))
def test_sep_cma_reaches_1e_minus_6_on_the_10d_sphere_as_sigma_shrinks(seed):
    _, hist = sphere_run(seed)  # a budget of 200 generations of λ = 10: 2,000 evaluations
    losses, sigma = np.asarray(hist.best_loss), np.asarray(hist.sigma)  # (G,), (G,)
    reached = int(np.argmax(losses < 1e-6))  # first generation below 1e-6
    assert losses[reached] < 1e-6 and reached < 150
    # the step size shrinks as the mean closes in: by over 1000× when the loss is 1e-6
    assert sigma[reached] < 1e-3 * sigma[0]
    assert np.all(sigma[reached:] < sigma[reached // 2]) and np.all(
        sigma[reached // 2 :] < sigma[5]
    )


def test_sep_cma_learns_the_scales_of_a_separable_ellipsoid():
    final, _ = ev.run_until(
        sc.sep_cma_init(jnp.ones(10), 1.0),
        jax.random.key(0),
        1e-8,
        step=sc.sep_cma_step,
        max_generations=400,
        objective=ellipsoid,
        config=sc.SepCMAConfig(10),
    )
    assert float(final.best_loss) < 1e-8
    var = np.asarray(final.variances)  # ideal: ∝ 1 / scale, a ratio of 1e6 end to end
    assert var[0] / var[-1] > 1e4
    assert np.corrcoef(np.log(var), np.arange(10))[0, 1] < -0.95


# ----------------------------------------------------------------------------
# Gradient descent.


def test_gradient_descent_on_the_sphere_is_x0_times_0_8_to_the_t():
    x0 = jnp.array([5.0, -5.0])
    key = jax.random.key(0)
    final, (losses, positions) = ev.gd_run(
        x0, key, generations=20, objective=ev.noisy_sphere, lr=0.1
    )
    t = np.arange(1, 21)[:, None]  # (G, 1)
    np.testing.assert_allclose(positions, np.array([5.0, -5.0]) * 0.8**t, rtol=1e-5)
    np.testing.assert_array_equal(final, positions[-1])
    # the loss of step t is f at x_{t-1}, with the noise key the ES uses in generation t
    _, k_noise = jax.random.split(jax.random.fold_in(key, 4))
    assert float(losses[4]) == pytest.approx(
        float(ev.noisy_sphere(positions[3], k_noise)), rel=1e-5
    )
