import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from trinity_foundations import probe
from trinity_foundations.probe import Params

EPS = 1e-7
loss_and_grad = jax.jit(jax.value_and_grad(probe.loss))  # one compile, not one per operation


def numpy_loss_and_grad(w, b, x, y, l2):
    """The original's loss, log(p + ε) and log(1 - p + ε), and its exact gradient, in float64."""
    w, x, y = (np.asarray(a, np.float64) for a in (w, x, y))
    z = x @ w + b  # (n, 1)
    p = 1 / (1 + np.exp(-z))  # (n, 1)
    value = -np.mean(y * np.log(p + EPS) + (1 - y) * np.log(1 - p + EPS)) + l2 * np.sum(w**2)
    # d/dz of the bracket, per row, then the chain rule through z = x w + b
    dz = -(y * p * (1 - p) / (p + EPS) - (1 - y) * p * (1 - p) / (1 - p + EPS)) / len(x)  # (n, 1)
    return value, x.T @ dz + 2 * l2 * w, float(dz.sum())


N_CLUSTER = 200_001  # one size for every make_clusters call here: one compile


def sample(n=64):
    """Two float32 clusters and a random probe from NumPy (no PRNG kernels to compile)."""
    rng = np.random.default_rng(0)
    y = (np.arange(n) >= n // 2).astype(np.float32)[:, None]  # (n, 1)
    x = (rng.normal(size=(n, 2)) + np.where(y == 1, -2.0, 2.0)).astype(np.float32)  # (n, 2)
    w = rng.normal(size=(2, 1)).astype(np.float32)  # (2, 1)
    return Params(jnp.asarray(w), jnp.array(0.3)), jnp.asarray(x), jnp.asarray(y)


def test_make_clusters():
    x, y = probe.make_clusters(jax.random.key(0), N_CLUSTER)
    assert x.shape == (N_CLUSTER, 2) and y.shape == (N_CLUSTER, 1) and x.dtype == jnp.float32
    assert int(y.sum()) == N_CLUSTER - N_CLUSTER // 2 and set(np.unique(y)) == {0.0, 1.0}
    x, y = np.asarray(x), np.asarray(y)[:, 0]
    np.testing.assert_allclose(x[y == 0].mean(axis=0), [2, 2], atol=0.02)
    np.testing.assert_allclose(x[y == 1].mean(axis=0), [-2, -2], atol=0.02)
    np.testing.assert_allclose(np.cov(x[y == 0].T), np.eye(2), atol=0.02)
    again, _ = probe.make_clusters(jax.random.key(0), N_CLUSTER)
    other, _ = probe.make_clusters(jax.random.key(1), N_CLUSTER)
    assert np.array_equal(x, again) and not np.array_equal(x, other)


@pytest.mark.parametrize("l2", [0.0, 0.001, 0.5])
def test_loss_and_grad_match_numpy(l2):
    params, x, y = sample()
    value, grads = loss_and_grad(params, x, y, l2)
    ref_value, ref_gw, ref_gb = numpy_loss_and_grad(params.w, float(params.b), x, y, l2)
    assert float(value) == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(grads.w, ref_gw, rtol=1e-4, atol=1e-7)
    assert float(grads.b) == pytest.approx(ref_gb, rel=1e-4, abs=1e-7)


def test_loss_in_float64_is_the_original_formula_and_its_gradient_checks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)) + 1.0  # (32, 2) float64 inputs: no PRNG compile under x64
    y = (rng.random((32, 1)) < 0.5).astype(np.float64)  # (32, 1)
    w = rng.normal(size=(2, 1))  # (2, 1)
    ref, _, _ = numpy_loss_and_grad(w, 0.3, x, y, 0.01)
    with jax.enable_x64(True):
        params = Params(jnp.asarray(w), jnp.asarray(0.3))
        loss = jax.jit(lambda p: probe.loss(p, jnp.asarray(x), jnp.asarray(y), 0.01))
        assert float(loss(params)) == pytest.approx(ref, rel=1e-12)
        check_grads(loss, (params,), order=1, modes=["fwd", "rev"])


def test_confident_mistakes_stay_finite():
    # logits of ±400: p is exactly 0 or 1 in float32, so each log must lean on ε
    x = jnp.array([[100.0, 100.0], [-100.0, -100.0]])  # (2, 2)
    y = jnp.array([[1.0], [0.0]])  # (2, 1) both labels the opposite of the guess
    params = Params(jnp.full((2, 1), -2.0), jnp.array(0.0))
    value, grads = loss_and_grad(params, x, y, 0.0)
    assert float(value) == pytest.approx(-math.log(EPS), rel=1e-3)  # the largest a log term can be
    assert np.isfinite(np.asarray(grads.w)).all() and np.isfinite(float(grads.b))
    assert float(probe.accuracy(params, x, y)) == 0.0


def test_predict_and_accuracy():
    params = Params(jnp.array([[-1.0], [-1.0]]), jnp.array(0.0))  # class 1 where x1 + x2 < 0
    x = jnp.array([[1.0, 1.0], [-1.0, -2.0], [3.0, -1.0], [0.5, -1.0]])  # (4, 2)
    np.testing.assert_allclose(
        probe.predict(params, x)[:, 0], 1 / (1 + np.exp([2.0, -3.0, 2.0, -0.5])), rtol=1e-6
    )
    y = jnp.array([[0.0], [1.0], [1.0], [1.0]])  # (4, 1) the third is wrong
    assert float(probe.accuracy(params, x, y)) == 0.75


COMPILES: list[str] = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, _secs, **_: (
        COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


@contextlib.contextmanager
def no_new_compile():
    """Fails unless the block compiles nothing (JAX's compile events, counted)."""
    before = len(COMPILES)
    yield
    assert len(COMPILES) == before, "the block compiled again"


def test_train_step_is_gradient_descent_and_compiles_once():
    params, x, y = sample()
    new, value = probe.train_step(params, (x, y), config=probe.ProbeConfig(0.1, 0.001))
    ref_value, ref_gw, ref_gb = numpy_loss_and_grad(params.w, float(params.b), x, y, 0.001)
    assert float(value) == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(new.w, np.asarray(params.w) - 0.1 * ref_gw, rtol=1e-5)
    assert float(new.b) == pytest.approx(float(params.b) - 0.1 * ref_gb, rel=1e-5)

    with no_new_compile():  # new values of lr and l2: traced, no new compile
        probe.train_step(new, (x, y), config=probe.ProbeConfig(0.05, 0.01))


def test_no_new_compile_catches_a_compile():
    with pytest.raises(AssertionError, match="compiled again"), no_new_compile():
        jax.jit(lambda v: v * 3.0)(jnp.ones(2))


def test_scan_equals_a_python_loop_of_train_step():
    params, x, y = sample(n=100)
    config = probe.ProbeConfig(0.1, 0.001)
    final, (losses, path) = probe.train(params, (x, y), config=config, epochs=25)
    assert losses.shape == (25,) and path.w.shape == (25, 2, 1) and path.b.shape == (25,)
    p, by_hand = params, []
    for _ in range(25):
        p, value = probe.train_step(p, (x, y), config=config)
        by_hand.append(float(value))
    np.testing.assert_allclose(losses, by_hand, rtol=1e-6)
    np.testing.assert_allclose(final.w, p.w, rtol=1e-6)
    assert float(final.b) == pytest.approx(float(p.b), rel=1e-6, abs=1e-7)
    np.testing.assert_array_equal(path.w[-1], final.w)
    assert np.all(np.diff(losses) < 0)  # a small step on a convex loss: every epoch lowers it

    with no_new_compile():
        probe.train(params, (x, y), config=probe.ProbeConfig(0.2, 0.0), epochs=25)


def test_best_and_population_accuracy():
    distance = probe.centre_distance()
    assert distance == pytest.approx(2 * math.sqrt(2))
    best = float(probe.bayes_accuracy(distance))
    assert best == pytest.approx(0.5 * (1 + math.erf(2.0)), rel=1e-6)  # Φ(2√2) = (1 + erf 2) / 2
    ideal = Params(jnp.array([[-3.0], [-3.0]]), jnp.array(0.0))  # any positive scale of -(1, 1)
    assert float(probe.population_accuracy(ideal)) == pytest.approx(best, rel=1e-6)
    flat = Params(jnp.zeros((2, 1)), jnp.array(0.7))  # always guesses class 1
    assert float(probe.population_accuracy(flat)) == 0.5


def test_population_accuracy_matches_a_large_sample():
    params = Params(jnp.array([[-0.3], [-1.0]]), jnp.array(1.5))  # tilted and shifted
    x, y = probe.make_clusters(jax.random.key(7), N_CLUSTER)
    exact = float(probe.population_accuracy(params))
    sampled = float(probe.accuracy(params, x, y))
    assert abs(sampled - exact) < 4 * math.sqrt(exact * (1 - exact) / N_CLUSTER)
    assert exact < float(probe.bayes_accuracy(probe.centre_distance()))
