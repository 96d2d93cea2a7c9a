"""gradients: the hand-written backward pass, finite differences and the two modes,
against float64 NumPy, closed forms and jax.test_util.check_grads."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations import gradients as gr

finite = st.floats(-3.0, 3.0, allow_nan=False, width=32)


def numpy_nodes(theta, x, y) -> dict[str, float]:
    """The forward pass in float64 NumPy: the reference."""
    theta, x = np.asarray(theta, dtype=float), np.asarray(x, dtype=float)
    u = float(theta[:2] @ x)
    z = u + float(theta[2])
    p = 1 / (1 + math.exp(-z))
    return {"u": u, "z": z, "p": p, "L": -(y * math.log(p) + (1 - y) * math.log(1 - p))}


def point(theta, x, y, dtype="float64"):
    return jnp.array(theta, dtype), jnp.array(x, dtype), jnp.array(y, dtype)


@jax.jit
def all_three(theta, x, y):
    """The nodes, the hand-written adjoints and jax.grad, in one compiled call."""
    return gr.forward(theta, x, y), gr.backward(theta, x, y), jax.grad(gr.loss)(theta, x, y)


@settings(max_examples=15, deadline=None)
@given(st.lists(finite, min_size=3, max_size=3), st.lists(finite, min_size=2, max_size=2),
       st.sampled_from([0.0, 1.0]))  # fmt: skip
def test_forward_and_backward_match_float64_numpy(theta, x, y):
    with jax.enable_x64(True):
        nodes, adj, jax_grad = all_three(*point(theta, x, y))
        grad = adj["theta"]
        ref = numpy_nodes(theta, x, y)
        for k in gr.NODES:
            assert float(nodes[k]) == pytest.approx(ref[k], rel=1e-12, abs=1e-12), k
        # The closed form the table arrives at: ∂L/∂z = p − y, ∂L/∂θ = (p − y)(x₁, x₂, 1).
        assert float(adj["z"]) == pytest.approx(ref["p"] - y, abs=1e-12)
        closed = (ref["p"] - y) * np.array([x[0], x[1], 1.0])
        np.testing.assert_allclose(np.asarray(grad), closed, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(grad), np.asarray(jax_grad), rtol=1e-10, atol=1e-12)


def test_backward_adjoints_are_products_along_the_chain():
    with jax.enable_x64(True):
        nodes, adj, _ = all_three(*point([0.5, -1.0, 0.25], [1.0, 2.0], 1.0))
        p = float(nodes["p"])
    assert float(adj["L"]) == 1.0
    assert float(adj["p"]) == pytest.approx(-1 / p)
    assert float(adj["z"]) == pytest.approx(float(adj["p"]) * p * (1 - p))
    assert float(adj["u"]) == float(adj["b"]) == float(adj["z"])
    assert float(adj["w2"]) == pytest.approx(2 * float(adj["w1"]))


def test_check_grads_accepts_jax_and_the_table_and_rejects_the_bug():
    with jax.enable_x64(True):
        theta, x, y = point([0.5, -1.0, 0.25], [1.0, 2.0], 1.0)
        check_grads(jax.jit(lambda t: gr.loss(t, x, y)), (theta,), order=1, modes=("fwd", "rev"))
        hand = gr.with_backward(lambda t, x_, y_: gr.backward(t, x_, y_)["theta"])
        check_grads(jax.jit(lambda t: hand(t, x, y)), (theta,), order=1, modes=("rev",))
        buggy = gr.with_backward(gr.backward_forgetting_sigmoid)
        with pytest.raises(AssertionError):
            check_grads(jax.jit(lambda t: buggy(t, x, y)), (theta,), order=1, modes=("rev",))


def test_finite_differences_of_a_cubic_follow_their_closed_forms():
    # f(θ) = Σθ³: one-sided gives 3θ² + 3θh + h², central 3θ² + h², exactly.
    with jax.enable_x64(True):
        theta = jnp.array([0.5, -1.0, 2.0])
        h = jnp.array(1e-3)

        def f(t):
            return jnp.sum(t**3)

        @jax.jit
        def estimates(theta, h, hs):
            exact = 3 * theta**2  # (3,)
            return (
                gr.one_sided(f, theta, h),
                gr.central(f, theta, h),
                gr.fd_errors(f, theta, hs, exact, scheme="central"),
                gr.fd_errors(f, theta, hs, exact, scheme="one_sided"),
            )

        hs = jnp.array([1e-1, 1e-2, 1e-3])
        one_h, central_h, errors, one = estimates(theta, h, hs)
        np.testing.assert_allclose(one_h, 3 * theta**2 + 3 * theta * h + h**2, rtol=1e-9)
        np.testing.assert_allclose(central_h, 3 * theta**2 + h**2, rtol=1e-9)
        assert errors.shape == (3,)
        np.testing.assert_allclose(errors, hs**2, rtol=1e-6)
        np.testing.assert_allclose(one, 3 * 2.0 * hs + hs**2, rtol=1e-6)  # θ = 2 is the worst


def test_float32_step_below_rounding_gives_a_zero_estimate():
    theta, x, y = point([0.5, -1.0, 0.25], [1.0, 2.0], 1.0, "float32")
    step = jax.jit(lambda t, h: gr.one_sided(lambda t_: gr.loss(t_, x, y), t, h))
    estimate = step(theta, jnp.array(1e-9, "float32"))
    assert np.all(np.asarray(estimate) == 0.0)  # θ + h rounds back to θ


def test_best_step_and_log_slope():
    hs = 10.0 ** -np.arange(1, 8)
    assert gr.best_step(hs, np.array([5, 4, 3, 1, 2, 3, 4.0])) == 1e-4
    assert gr.best_step(hs, np.array([1, 1, 2, 2, 2, 2, 2.0])) == 0.1  # the first on a tie
    assert gr.log_slope(hs, 7 * hs**2) == pytest.approx(2.0)
    assert gr.log_slope(hs, 1e-16 / hs) == pytest.approx(-1.0)
    assert gr.log_slope(hs, np.where(hs > 1e-3, hs, 0.0)) == pytest.approx(1.0)  # zeros left out
    assert math.isnan(gr.log_slope(hs[:1], hs[:1]))


def test_a_vector_output_has_no_grad_but_a_jacobian():
    theta = jnp.array([0.5, -1.0, 0.25])
    xs = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)  # (2, 2)
    with pytest.raises(TypeError, match="scalar-output"):
        jax.grad(gr.probabilities)(theta, xs)  # refused while tracing
    p = 1 / (1 + np.exp(-(xs.astype(float) @ [0.5, -1.0] + 0.25)))  # (2,), float64
    closed = (p * (1 - p))[:, None] * np.c_[xs, np.ones(2)]  # (2, 3)
    jacobians = jax.jit(
        lambda t, xs: [j(gr.probabilities)(t, xs) for j in (jax.jacrev, jax.jacfwd)]
    )
    for jac in jacobians(theta, xs):
        np.testing.assert_allclose(jac, closed, rtol=1e-5)


def test_wide_and_tall_jacobians_match_their_closed_forms():
    rng = np.random.default_rng(0)
    x, a = rng.normal(size=16).astype(np.float32), rng.normal(size=16).astype(np.float32) / 4
    xt, m = rng.normal(size=3).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)
    wide = (1 - np.tanh(float(a @ x)) ** 2) * a  # (N,)
    tall = (1 - np.tanh(m @ xt) ** 2)[:, None] * m  # (N, K)

    @jax.jit
    def jacobians(x, a, xt, m):
        return [(jac(gr.wide)(x, a), jac(gr.tall)(xt, m)) for jac in (jax.jacfwd, jax.jacrev)]

    for got_wide, got_tall in jacobians(x, a, xt, m):
        np.testing.assert_allclose(got_wide, wide, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_tall, tall, rtol=1e-5, atol=1e-6)


def test_batch_gradient_is_the_mean_of_per_example_gradients():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(32, 2)).astype(np.float32)  # (B, 2)
    ys = (rng.uniform(size=32) > 0.5).astype(np.float32)  # (B,)
    theta = jnp.array([0.5, -1.0, 0.25])

    @jax.jit
    def both(theta, xs, ys):
        per_example = jax.vmap(jax.grad(gr.loss), in_axes=(None, 0, 0))(theta, xs, ys)  # (B, 3)
        return jnp.mean(per_example, axis=0), jax.grad(gr.batch_loss)(theta, xs, ys)

    mean, grad = both(theta, xs, ys)
    np.testing.assert_allclose(mean, grad, atol=1e-6)
    p = 1 / (1 + np.exp(-(xs.astype(float) @ [0.5, -1.0] + 0.25)))  # (B,), float64
    closed = np.mean((p - ys)[:, None] * np.c_[xs, np.ones(32)], axis=0)  # (3,)
    np.testing.assert_allclose(grad, closed, atol=1e-6)
