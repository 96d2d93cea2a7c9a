"""lowrank kernels against NumPy in float64 and against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import compilations
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations.lowrank import (
    Adapters,
    Batch,
    LoRAConfig,
    eckart_young_error,
    fit_lora,
    frobenius_error,
    lora_forward,
    lora_loss,
    lora_step,
    mse,
    rank_tolerance,
    singular_value_shares,
    truncate,
)

SHAPES = [(4, 4), (3, 5), (6, 2), (1, 4)]


def numpy_lora(x, w0, a, b, alpha):
    """Y = X W₀ᵀ + (α/r) (X Aᵀ) B in float64."""
    return x @ w0.T + (alpha / a.shape[0]) * (x @ a.T) @ b


def numpy_lora_grads(x, w0, a, b, target, alpha):
    """Loss and (∂L/∂A, ∂L/∂B) of the MSE, derived by hand.

    With E = Y − T and G = ∂L/∂Y = 2E / (N·D): Y depends on B through
    c·(X Aᵀ) B, so ∂L/∂B = c (X Aᵀ)ᵀ G; and on A through X Aᵀ, whose
    gradient is c G Bᵀ, so ∂L/∂A = c (G Bᵀ)ᵀ X = c B Gᵀ X  (c = α/r).
    """
    c = alpha / a.shape[0]
    err = numpy_lora(x, w0, a, b, alpha) - target  # (N, D)
    g = 2 * err / err.size  # (N, D)
    return np.mean(err**2), c * b @ g.T @ x, c * (x @ a.T).T @ g


# ------------------------------------------------------------- truncation


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SHAPES), st.integers(0, 6), st.integers(0, 2**32 - 1))
def test_truncation_error_is_the_eckart_young_value(shape, rank, seed):
    rank = min(rank, min(shape))
    w = np.random.default_rng(seed).normal(size=shape)  # float64
    s = np.linalg.svd(w, compute_uv=False)
    with jax.enable_x64(True):
        w_r = np.asarray(truncate(jnp.asarray(w), rank))
        ours = float(eckart_young_error(jnp.asarray(s), rank))
    expected = np.sqrt(np.sum(s[rank:] ** 2))
    assert np.linalg.norm(w - w_r) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert np.linalg.matrix_rank(w_r) == rank
    # the kept singular values are W's own, the discarded ones are gone
    np.testing.assert_allclose(np.linalg.svd(w_r, compute_uv=False)[:rank], s[:rank], rtol=1e-9)


def test_truncation_at_full_rank_gives_back_the_matrix():
    w = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    np.testing.assert_allclose(truncate(jnp.asarray(w), 3), w, atol=1e-5)
    np.testing.assert_allclose(truncate(jnp.asarray(w), 0), 0.0)


def test_errors_match_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3, 4))
    with jax.enable_x64(True):
        assert float(mse(jnp.asarray(a), jnp.asarray(b))) == pytest.approx(
            np.mean((a - b) ** 2), rel=1e-12
        )
        assert float(frobenius_error(jnp.asarray(a), jnp.asarray(b))) == pytest.approx(
            np.sqrt(np.sum((a - b) ** 2)), rel=1e-12
        )


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1e3), min_size=5, max_size=5).filter(lambda v: sum(v) > 1e-3))
def test_shares_sum_to_one(values):
    s = np.sort(np.array(values, np.float32))[::-1]
    share, energy = map(np.asarray, singular_value_shares(jnp.asarray(s)))
    np.testing.assert_allclose([share.sum(), energy.sum()], 1.0, rtol=1e-5)
    np.testing.assert_allclose(share, s / s.sum(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(energy, s**2 / np.sum(s**2), rtol=1e-5, atol=1e-7)


def test_rank_tolerance_counts_a_float32_rank_one_matrix_as_rank_one():
    v = np.arange(1.0, 7.0, dtype=np.float32)
    w = jnp.asarray(np.outer(v, v))  # (6, 6) rank 1, s1 = ‖v‖² = 91
    s = jnp.linalg.svd(w, compute_uv=False)
    tol = rank_tolerance(s, w.shape)
    assert tol == pytest.approx(91 * 6 * np.finfo(np.float32).eps, rel=1e-5)
    assert int(jnp.sum(s > tol)) == 1


# ------------------------------------------------------------------- LoRA


def random_lora(rng, n=3, d=5, r=2):
    x, w0, a, b = (rng.normal(size=s) for s in [(n, d), (d, d), (r, d), (r, d)])
    return x, w0, a, b, rng.normal(size=(n, d))


def test_lora_forward_matches_numpy_and_the_merged_matrix():
    x, w0, a, b, _ = random_lora(np.random.default_rng(2))
    with jax.enable_x64(True):
        y = np.asarray(
            lora_forward(*map(jnp.asarray, (x, w0)), Adapters(jnp.asarray(a), jnp.asarray(b)), 0.7)
        )
    np.testing.assert_allclose(y, numpy_lora(x, w0, a, b, 0.7), rtol=1e-12)
    merged = w0 + (0.7 / 2) * b.T @ a  # (D, D): W₀ + (α/r) Bᵀ A
    np.testing.assert_allclose(y, x @ merged.T, rtol=1e-10)


def test_lora_with_zero_b_is_the_frozen_layer():
    x, w0, a, _, _ = random_lora(np.random.default_rng(3))
    x, w0, a = (jnp.asarray(v, jnp.float32) for v in (x, w0, a))
    y = lora_forward(x, w0, Adapters(a, jnp.zeros_like(a)), 4.0)
    np.testing.assert_array_equal(y, x @ w0.T)


def test_lora_loss_gradients():
    x, w0, a, b, t = random_lora(np.random.default_rng(4))
    with jax.enable_x64(True):
        x, w0, t = map(jnp.asarray, (x, w0, t))
        adapters = Adapters(jnp.asarray(a), jnp.asarray(b))
        check_grads(
            jax.jit(lambda ad: lora_loss(ad, w0, x, t, 1.5)),
            (adapters,),
            order=1,
            modes=("fwd", "rev"),
        )
        _, grads = jax.value_and_grad(lora_loss)(adapters, w0, x, t, 1.5)
    _, grad_a, grad_b = numpy_lora_grads(*map(np.asarray, (x, w0)), a, b, np.asarray(t), 1.5)
    np.testing.assert_allclose(grads.a, grad_a, rtol=1e-10)
    np.testing.assert_allclose(grads.b, grad_b, rtol=1e-10)


def test_lora_step_is_one_gradient_step_and_does_not_recompile():
    x, w0, a, b, t = random_lora(np.random.default_rng(5))
    with jax.enable_x64(True):
        batch, w0_ = Batch(jnp.asarray(x), jnp.asarray(t)), jnp.asarray(w0)
        adapters = Adapters(jnp.asarray(a), jnp.asarray(b))
        new, loss = lora_step(adapters, batch, w0=w0_, config=LoRAConfig(0.1, 1.0))
        with compilations() as compiled:  # new adapters and a new lr: traced, no recompile
            lora_step(new, batch, w0=w0_, config=LoRAConfig(0.2, 1.0))
        assert compiled == []
    expected_loss, grad_a, grad_b = numpy_lora_grads(x, w0, a, b, t, 1.0)
    assert float(loss) == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(new.a, a - 0.1 * grad_a, rtol=1e-10)
    np.testing.assert_allclose(new.b, b - 0.1 * grad_b, rtol=1e-10)


def test_fit_lora_with_sgd_repeats_lora_step():
    x, w0, a, b, t = (jnp.asarray(v, jnp.float32) for v in random_lora(np.random.default_rng(6)))
    adapters = start = Adapters(a, b)
    batch, step_losses = Batch(x, t), []
    for _ in range(4):
        adapters, loss = lora_step(adapters, batch, w0=w0, config=LoRAConfig(0.01, 1.0))
        step_losses.append(float(loss))
    fitted, losses = fit_lora(start, batch, w0=w0, optimizer=optax.sgd(0.01), steps=4, alpha=1.0)
    assert losses.shape == (4,)
    np.testing.assert_allclose(losses, step_losses, rtol=1e-5)
    np.testing.assert_allclose(fitted.a, adapters.a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fitted.b, adapters.b, rtol=1e-5, atol=1e-6)
