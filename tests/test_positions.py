"""Positions: both sinusoidal layouts against NumPy, the shift rotation, RoPE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import compilations
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations import positions as P


def numpy_angles(t: int, d: int, base: float = 10_000.0) -> np.ndarray:
    p = np.arange(t, dtype=np.float64)[:, None]  # (T, 1)
    i = np.arange(d // 2, dtype=np.float64)[None, :]  # (1, d/2)
    return p / base ** (2 * i / d)  # (T, d/2)


@pytest.mark.parametrize("d", [2, 6, 16])
def test_half_layout_is_the_originals_code(d):
    a = numpy_angles(9, d)
    with jax.enable_x64(True):
        pe = np.asarray(P.sinusoidal_half(jnp.arange(9.0), dim=d))
    np.testing.assert_allclose(pe, np.concatenate([np.sin(a), np.cos(a)], axis=1), atol=1e-14)


@pytest.mark.parametrize("d", [2, 6, 16])
def test_interleaved_layout_is_the_papers_formula(d):
    a = numpy_angles(9, d)
    with jax.enable_x64(True):
        pe = np.asarray(P.sinusoidal_interleaved(jnp.arange(9.0), dim=d))
    np.testing.assert_allclose(pe[:, 0::2], np.sin(a), atol=1e-14)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(a), atol=1e-14)


def test_layouts_hold_the_same_numbers_in_different_columns():
    half = np.asarray(P.sinusoidal_half(jnp.arange(6.0), dim=6))
    inter = np.asarray(P.sinusoidal_interleaved(jnp.arange(6.0), dim=6))
    np.testing.assert_array_equal(half[:, [0, 3, 1, 4, 2, 5]], inter)
    assert not np.allclose(half, inter)


def test_original_table_first_rows():
    pe = np.asarray(P.sinusoidal_half(jnp.arange(2.0), dim=6))
    np.testing.assert_allclose(pe[0], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(pe[1, 0], np.sin(1.0), rtol=1e-6)
    np.testing.assert_allclose(pe[1, 1], np.sin(10_000 ** (-1 / 3)), rtol=1e-6)


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("k", [0.0, 1.0, 7.0, 123.0])
def test_shift_is_a_fixed_rotation(interleaved, k):
    table = P.sinusoidal_interleaved if interleaved else P.sinusoidal_half
    with jax.enable_x64(True):
        pos = jnp.arange(40.0)
        r = P.shift_rotation(jnp.asarray(k), dim=8, interleaved=interleaved)  # (d, d)
        np.testing.assert_allclose(table(pos + k, dim=8), table(pos, dim=8) @ r, atol=1e-12)
        np.testing.assert_allclose(r @ r.T, np.eye(8), atol=1e-14)
        assert np.linalg.det(np.asarray(r)) == pytest.approx(1.0)


def test_rotation_composes():
    with jax.enable_x64(True):
        r = lambda k: P.shift_rotation(jnp.asarray(k), dim=6, interleaved=True)  # noqa: E731
        np.testing.assert_allclose(r(2.0) @ r(3.0), r(5.0), atol=1e-14)


def numpy_rope(x: np.ndarray, pos: np.ndarray, base: float = 10_000.0) -> np.ndarray:
    """RoPE as complex multiplication: (x_2i + i x_2i+1) e^{i p ω_i}."""
    d = x.shape[1]
    w = base ** (-2 * np.arange(d // 2) / d)
    z = (x[:, 0::2] + 1j * x[:, 1::2]) * np.exp(1j * pos[:, None] * w[None, :])
    out = np.empty_like(x)
    out[:, 0::2], out[:, 1::2] = z.real, z.imag
    return out


def test_rope_matches_complex_rotation():
    rng = np.random.default_rng(0)
    x, pos = rng.normal(size=(5, 8)), np.array([0.0, 1.0, 2.0, 17.0, 1000.0])
    with jax.enable_x64(True):
        out = np.asarray(P.rope(jnp.asarray(x), jnp.asarray(pos)))
    np.testing.assert_allclose(out, numpy_rope(x, pos), atol=1e-12)
    np.testing.assert_allclose(out[0], x[0])  # position 0: no rotation
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(x, axis=1))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(0, 10_000),
    st.integers(0, 2**31 - 1),
)
def test_rope_score_depends_only_on_the_offset(m, n, shift, seed):
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(1, 8)), rng.normal(size=(1, 8))
    with jax.enable_x64(True):

        def score(a, b):
            qa = P.rope(jnp.asarray(q), jnp.array([float(a)]))
            kb = P.rope(jnp.asarray(k), jnp.array([float(b)]))
            return float(jnp.sum(qa * kb))

        assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-9)


def test_rope_gradients():
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        x, pos = jnp.asarray(rng.normal(size=(4, 6))), jnp.array([0.0, 1.0, 5.0, 9.0])
        check_grads(lambda v: P.rope(v, pos), (x,), order=2, modes=["fwd", "rev"])
        check_grads(lambda v: P.sinusoidal_half(v, dim=6), (pos,), order=1, modes=["fwd", "rev"])


def test_float32_in_float32_out_and_no_recompile():
    x = jnp.ones((3, 4), jnp.float32)
    pos = jnp.arange(3.0, dtype=jnp.float32)
    assert P.rope(x, pos).dtype == jnp.float32
    assert P.sinusoidal_half(pos, dim=4).dtype == jnp.float32
    # inputs made before the blocks, so only rope's own compilations are counted
    x1, pos1, x2, pos2 = x + 1, pos + 1, jnp.ones((2, 4), jnp.float32), pos[:2]
    with compilations() as compiled:
        P.rope(x1, pos1)
    assert compiled == []  # new values, same shapes: the program compiled above is reused
    with compilations() as compiled:
        P.rope(x2, pos2)
    assert compiled  # a new shape is a new program: the counter sees compilations
