import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax.test_util import check_grads

from trinity_foundations.attention import attention_head, entropy, softmax, softmax_jacobian


def numpy_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


SHAPE = (4, 6)  # one shape for every hypothesis example: one compile per test


def float32_arrays(shape, lo, hi):
    """float32 arrays of `shape` with entries in [lo, hi] (bounds exact in float32)."""
    lo, hi = float(np.float32(lo)), float(np.float32(hi))
    return hnp.arrays(np.float32, shape, elements=st.floats(lo, hi, width=32))


softmax_rows = jax.jit(lambda x: softmax(x, axis=1))  # (R, C) -> (R, C)
softmax_cols = jax.jit(lambda x: softmax(x, axis=0))  # (R, C) -> (R, C)


# ---------------------------------------------------------------- softmax


@settings(max_examples=50, deadline=None)
@given(float32_arrays(SHAPE, -1e30, 1e30))
def test_softmax_sums_to_one_and_stays_finite(x):
    for axis, fn in ((1, softmax_rows), (0, softmax_cols)):
        s = np.asarray(fn(x))
        assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
        np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(float32_arrays(SHAPE, -20, 20), float32_arrays((SHAPE[0], 1), -100, 100))
def test_softmax_ignores_a_constant_added_to_each_row(x, shift):
    # x + shift rounds in float32 (by up to ~1e-5 near 100): tolerances allow for it
    np.testing.assert_allclose(softmax_rows(x + shift), softmax_rows(x), rtol=1e-4, atol=1e-6)


# (dtype, relative tolerance against float64 NumPy): each kernel runs in both
DTYPES = [(jnp.float32, 1e-6), (jnp.float64, 1e-13)]


@pytest.mark.parametrize(("dtype", "rtol"), DTYPES)
def test_softmax_matches_numpy_and_survives_overflow(dtype, rtol):
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 999.0, 998.0], [-1e30, 0.0, 1e30]])
    with jax.enable_x64(dtype == jnp.float64):
        s = softmax(jnp.asarray(x, dtype))
        assert s.dtype == dtype
        np.testing.assert_allclose(s, numpy_softmax(x), rtol=rtol, atol=rtol / 10)


# --------------------------------------------------------------- Jacobian


@jax.jit
def both_jacobians(x):
    """(formula, autodiff) Jacobians of softmax at logits x (n,): (n, n) each."""
    return softmax_jacobian(softmax(x)), jax.jacobian(softmax)(x)


@settings(max_examples=40, deadline=None)
@given(float32_arrays((7,), -30, 30))
def test_jacobian_matches_autodiff(x):
    formula, autodiff = both_jacobians(x)
    np.testing.assert_allclose(formula, autodiff, atol=1e-6)


def test_jacobian_closed_form_in_float64():
    s = numpy_softmax(np.array([0.3, -1.2, 2.0, 0.0]))
    with jax.enable_x64(True):
        j = np.asarray(softmax_jacobian(jnp.asarray(s)))
    np.testing.assert_allclose(j, np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(j, j.T, atol=0)
    np.testing.assert_allclose(j.sum(axis=1), 0.0, atol=1e-15)


def test_jacobian_keeps_the_diagonal_of_a_collapsed_softmax():
    # s_0 rounds to 1 in float32, where the textbook s_0 (1 - s_0) is exactly 0;
    # in float64, 1 - s_0 ≈ 2e-9 still has about 7 correct digits for the reference.
    x = np.array([20.0, 0.0, -5.0])
    s = numpy_softmax(x)
    j = np.asarray(softmax_jacobian(jnp.asarray(s, jnp.float32)))
    assert np.float32(s[0]) == 1.0
    np.testing.assert_allclose(j, np.diag(s) - np.outer(s, s), rtol=1e-5, atol=1e-30)


# ---------------------------------------------------------------- entropy


@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_entropy_of_uniform_and_one_hot(n):
    assert float(entropy(jnp.full((n,), 1.0 / n))) == pytest.approx(np.log(n), abs=1e-6)
    one_hot = jnp.zeros(n).at[0].set(1.0)  # (n,)
    h = float(entropy(one_hot))
    assert h == 0.0 and math.copysign(1.0, h) == 1.0  # 0 · log 0 counts as 0; never "-0"


@pytest.mark.parametrize(("dtype", "rtol"), [(jnp.float32, 1e-5), (jnp.float64, 1e-12)])
def test_entropy_matches_numpy_row_by_row(dtype, rtol):
    p = numpy_softmax(np.random.default_rng(0).normal(size=(4, 6)))
    want = -(p * np.log(p)).sum(axis=1)
    with jax.enable_x64(dtype == jnp.float64):
        h = entropy(jnp.asarray(p, dtype))
        assert h.dtype == dtype
        np.testing.assert_allclose(h, want, rtol=rtol)


# ------------------------------------------------------------------- head


def numpy_head(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    raw = q @ k.T
    scaled = raw / np.sqrt(q.shape[1])
    weights = numpy_softmax(scaled)
    return q, k, v, raw, scaled, weights, weights @ v


def random_head_inputs(seed, tokens=3, d_model=4, d_k=2, d_v=3):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(tokens, d_model)),
        rng.normal(size=(d_model, d_k)),
        rng.normal(size=(d_model, d_k)),
        rng.normal(size=(d_model, d_v)),
    )


def test_head_stages_match_numpy():
    args = random_head_inputs(1)
    stages = attention_head(*(jnp.asarray(a, jnp.float32) for a in args))
    for got, want in zip(stages, numpy_head(*args)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stages.weights.sum(axis=1), 1.0, rtol=1e-6)


def test_head_gradients():
    with jax.enable_x64(True):
        args = tuple(jnp.asarray(a) for a in random_head_inputs(2))  # float64
        # first order, forward and reverse (order 2 quadruples the time of this file)
        check_grads(lambda *a: attention_head(*a).output, args, order=1, modes=("fwd", "rev"))
