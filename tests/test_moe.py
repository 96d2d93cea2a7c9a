import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations.moe import aux_loss, rebalance, route, router_loss

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


@settings(max_examples=10, deadline=None)  # each new E compiles once: keep it few
@given(st.integers(min_value=1, max_value=64))
def test_aux_loss_is_one_at_perfect_balance(experts):
    even = jnp.full((experts,), 1.0 / experts)  # (E,)
    assert float(aux_loss(even, even)) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("experts", [2, 3, 4, 8])
def test_aux_loss_is_e_at_total_collapse(experts):
    one_hot = jnp.zeros(experts).at[0].set(1.0)  # (E,)
    assert float(aux_loss(one_hot, one_hot)) == experts


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=16).filter(lambda v: sum(v) > 1e-3),
    st.integers(0, 2**31 - 1),
)
def test_aux_loss_bounds(weights, seed):
    f = np.asarray(weights) / np.sum(weights)  # any distribution of the load
    p = np.random.default_rng(seed).dirichlet(np.ones(len(f)))
    E = len(f)
    # f = P: E·ΣP² lies in [1, E] (Cauchy–Schwarz); any f, P: never above E.
    assert 1 - 1e-5 <= float(aux_loss(jnp.array(f), jnp.array(f))) <= E + 1e-5
    assert float(aux_loss(jnp.array(f), jnp.array(p))) <= E + 1e-5


def test_aux_loss_can_dip_below_one_when_f_and_p_differ():
    # two tokens barely pick expert 0, one surely picks expert 1
    f, p = jnp.array([2 / 3, 1 / 3]), jnp.array([1 / 3, 2 / 3])
    assert float(aux_loss(f, p)) == pytest.approx(8 / 9, rel=1e-6)


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


def test_rebalance_first_step_is_one_gradient_step():
    x, w = jnp.array(TOKENS, dtype=jnp.float32), jnp.array(COLLAPSED, dtype=jnp.float32)
    lr = 10.0
    _, (losses, fs) = rebalance(w, x, lr=lr, steps=3)  # (3,), (3, E)
    assert losses.shape == (3,) and fs.shape == (3, 3)
    w1 = w - lr * jax.grad(router_loss)(w, x)
    _, f1, p1 = route(x, w1)
    assert float(losses[0]) == pytest.approx(float(aux_loss(f1, p1)), rel=1e-6)
    np.testing.assert_allclose(fs[0], f1)


def test_rebalance_spreads_the_collapsed_load_without_recompiling():
    x, w = jnp.array(TOKENS, dtype=jnp.float32), jnp.array(COLLAPSED, dtype=jnp.float32)
    _, (losses, fs) = rebalance(w, x, lr=10.0, steps=20)
    size = rebalance._cache_size()
    rebalance(w + 0.0, x, lr=10.0, steps=20)
    assert rebalance._cache_size() == size
    np.testing.assert_allclose(fs[-1], [1 / 3] * 3, atol=1e-6)
    assert float(losses[-1]) == pytest.approx(1.0, abs=1e-5)
