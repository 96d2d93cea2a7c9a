import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import compilations
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations.moe import (
    DescentConfig,
    aux_descent_step,
    aux_loss,
    descend_aux_loss,
    route,
    router_loss,
)

DTYPES = [jnp.float32, jnp.float64]


def as_dtype(x, dtype):
    """x as a JAX array of dtype (float64 needs x64, which the test turns on)."""
    return jnp.asarray(np.asarray(x), dtype)


TOKENS = np.array(
    [
        [1, 0.1, 0.2, 0.1],
        [0.1, 1.2, 0.1, 0.2],
        [0.2, 0.1, 1.5, 0.1],
        [1.1, 0.2, 0.1, 0.3],
        [0.1, 1, 0.3, 0.1],
        [0.3, 0.2, 1.4, 0.2],
    ]
)
COLLAPSED = np.array([[2.0] * 4, [-1.0] * 4, [-2.0] * 4])
BALANCED = np.array([[2, -1, -1, 0], [-1, 2, -1, 0], [-1, -1, 2, 0]], dtype=float)


def numpy_route(x, w):
    logits = x @ w.T
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    choice = logits.argmax(axis=1)
    f = np.bincount(choice, minlength=w.shape[0]) / len(x)
    return choice, f, probs.mean(axis=0)


@pytest.mark.parametrize("router", [COLLAPSED, BALANCED], ids=["collapsed", "balanced"])
def test_route_matches_numpy(router):
    selections, f, p = route(
        jnp.array(TOKENS, dtype=jnp.float32), jnp.array(router, dtype=jnp.float32)
    )
    want_sel, want_f, want_p = numpy_route(TOKENS, router)
    np.testing.assert_array_equal(selections, want_sel)
    np.testing.assert_allclose(f, want_f, atol=1e-7)
    np.testing.assert_allclose(p, want_p, rtol=1e-5, atol=1e-7)
    assert float(aux_loss(f, p)) == pytest.approx(3 * np.sum(want_f * want_p), rel=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=10, deadline=None)  # each new E compiles once: keep it few
@given(st.integers(min_value=1, max_value=64))
def test_aux_loss_is_one_at_perfect_balance(dtype, experts):
    with jax.enable_x64(dtype == jnp.float64):
        even = jnp.full((experts,), 1.0 / experts, dtype)  # (E,)
        loss = aux_loss(even, even)
        assert loss.dtype == dtype
        assert float(loss) == pytest.approx(1.0, rel=10 * float(jnp.finfo(dtype).eps))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("experts", [2, 3, 4, 8])
def test_aux_loss_is_e_at_total_collapse(dtype, experts):
    with jax.enable_x64(dtype == jnp.float64):
        one_hot = jnp.zeros(experts, dtype).at[0].set(1.0)  # (E,)
        assert float(aux_loss(one_hot, one_hot)) == experts


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=16).filter(lambda v: sum(v) > 1e-3),
    st.integers(0, 2**31 - 1),
)
def test_aux_loss_bounds_and_numpy(dtype, weights, seed):
    f = np.asarray(weights) / np.sum(weights)  # any distribution of the load
    p = np.random.default_rng(seed).dirichlet(np.ones(len(f)))
    E, tol = len(f), 10 * float(jnp.finfo(dtype).eps) * len(f)
    with jax.enable_x64(dtype == jnp.float64):
        same = float(aux_loss(as_dtype(f, dtype), as_dtype(f, dtype)))
        any_ = float(aux_loss(as_dtype(f, dtype), as_dtype(p, dtype)))
    # f = P: E·ΣP² lies in [1, E] (Cauchy–Schwarz); any f, P: never above E.
    assert 1 - tol <= same <= E + tol and any_ <= E + tol
    assert any_ == pytest.approx(E * np.sum(f * p), rel=tol, abs=tol)  # against float64 NumPy


@pytest.mark.parametrize("dtype", DTYPES)
def test_aux_loss_can_dip_below_one_when_f_and_p_differ(dtype):
    # two tokens barely pick expert 0, one surely picks expert 1
    with jax.enable_x64(dtype == jnp.float64):
        f, p = jnp.array([2 / 3, 1 / 3], dtype), jnp.array([1 / 3, 2 / 3], dtype)
        assert float(aux_loss(f, p)) == pytest.approx(8 / 9, rel=10 * float(jnp.finfo(dtype).eps))


def test_aux_loss_batches_over_leading_axes():
    loads = jnp.array([[0.25] * 4, [1.0, 0, 0, 0]])  # (2, 4)
    np.testing.assert_allclose(aux_loss(loads, loads), [1.0, 4.0])


def test_gradient_flows_through_p_only():
    with jax.enable_x64(True):
        x, w = jnp.array(TOKENS), jnp.array(COLLAPSED)  # float64
        grad = jax.grad(router_loss)(w, x)  # (E, D)
        assert np.all(np.isfinite(grad)) and float(jnp.linalg.norm(grad)) > 1e-3
        f_jac = jax.jacobian(lambda v: route(x, v).f)(w)  # (E, E, D)
        assert not np.any(f_jac)

        def p_only(v):
            _, f, p = route(x, v)
            return aux_loss(jax.lax.stop_gradient(f), p)

        np.testing.assert_allclose(grad, jax.grad(p_only)(w), rtol=1e-12)
        # with f held fixed the loss is smooth: its gradient matches finite differences
        check_grads(lambda v: router_loss(v, x), (w,), order=1, modes=["rev"])


def test_descent_first_step_is_one_gradient_step():
    x, w = jnp.array(TOKENS, dtype=jnp.float32), jnp.array(COLLAPSED, dtype=jnp.float32)
    config = DescentConfig(10.0)
    _, (losses, fs) = descend_aux_loss(w, x, config=config, steps=3)  # (3,), (3, E)
    assert losses.shape == (3,) and fs.shape == (3, 3)
    w1 = w - 10.0 * jax.grad(router_loss)(w, x)
    _, f1, p1 = route(x, w1)
    assert float(losses[0]) == pytest.approx(float(aux_loss(f1, p1)), rel=1e-6)
    np.testing.assert_allclose(fs[0], f1)
    stepped, (loss, f) = aux_descent_step(w, x, config=config)
    np.testing.assert_allclose(stepped, w1, rtol=1e-6)
    assert float(loss) == pytest.approx(float(losses[0]), rel=1e-6)


def test_descent_spreads_the_collapsed_load_without_recompiling():
    x, w = jnp.array(TOKENS, dtype=jnp.float32), jnp.array(COLLAPSED, dtype=jnp.float32)
    _, (losses, fs) = descend_aux_loss(w, x, config=DescentConfig(10.0), steps=20)
    other = w * 0.5  # a new router (made outside the block: w * 0.5 compiles a multiply)
    with compilations() as compiled:  # a new router and a new lr: both traced
        descend_aux_loss(other, x, config=DescentConfig(5.0), steps=20)
    assert compiled == []
    np.testing.assert_allclose(fs[-1], [1 / 3] * 3, atol=1e-6)
    assert float(losses[-1]) == pytest.approx(1.0, abs=1e-5)
