"""Softmax three ways, tiled attention and the Pallas kernels, against float64 NumPy."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from trinity_foundations import kernels, roofline
from trinity_foundations import pallas_kernels as pk


def np_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_attention(q, k, v, causal: bool) -> np.ndarray:
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (H, T, T)
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], bool)), scores, -np.inf)
    return np_softmax(scores) @ v  # (H, T, d)


def qkv(t: int, heads: int = 2, d: int = 16, seed: int = 0):
    keys = jax.random.split(jax.random.key(seed), 3)
    return tuple(jax.random.normal(k, (heads, t, d)) for k in keys)


SOFTMAXES = {
    "two_pass": jax.jit(kernels.softmax_two_pass),
    "online": jax.jit(kernels.softmax_online),
    "tiled": jax.jit(functools.partial(kernels.softmax_tiled, tile=16)),
}


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_matches_float64_numpy(name):
    x = 30.0 * jax.random.normal(jax.random.key(1), (4, 64))  # (4, 64) large logits
    np.testing.assert_allclose(SOFTMAXES[name](x), np_softmax(x), atol=1e-6)


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_survives_huge_logits_and_minus_inf(name):
    x = jnp.array([[1e4, -1e4] + [0.0] * 14, [-jnp.inf, 1.0] + [2.0] * 14])  # (2, 16)
    got = np.asarray(SOFTMAXES[name](x))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, np_softmax(np.asarray(x)), atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(
    hnp.arrays(np.float32, (3, 32), elements=st.floats(-50, 50, width=32)),
    st.floats(-100, 100, width=32),
)
def test_online_softmax_rows_sum_to_one_and_ignore_shifts(x, shift):
    p = np.asarray(SOFTMAXES["online"](x))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)
    shifted = np.asarray(SOFTMAXES["online"](x + np.float32(shift)))
    np.testing.assert_allclose(shifted, p, atol=1e-5)


def test_merge_stats_equals_the_statistics_of_the_whole():
    x = np.random.default_rng(0).normal(size=(2, 10)) * 5
    a, b = x[:, :4], x[:, 4:]

    def stats(part):
        m = part.max(axis=-1)
        return m, np.exp(part - m[:, None]).sum(axis=-1)

    got_m, got_s = kernels.merge_stats(*map(jnp.asarray, (*stats(a), *stats(b))))
    want_m, want_s = stats(x)
    np.testing.assert_allclose(got_m, want_m, rtol=1e-6)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-5)
    # nothing seen yet (-inf, 0) merged with anything gives that thing, no NaN
    m, s = kernels.merge_stats(
        jnp.array([-jnp.inf]), jnp.array([0.0]), jnp.array([-jnp.inf]), jnp.array([0.0])
    )
    assert float(s[0]) == 0.0 and float(m[0]) == -np.inf


@pytest.mark.parametrize("causal", [False, True])
def test_naive_attention_matches_numpy(causal):
    q, k, v = qkv(32)
    got = kernels.naive_attention_jit(q, k, v, causal=causal)
    np.testing.assert_allclose(got, np_attention(q, k, v, causal), atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("t", "block_q", "block_k"), [(64, 16, 32), (64, 32, 16), (1024, 128, 64)])
def test_tiled_attention_matches_naive_within_1e_5(t, block_q, block_k, causal):
    q, k, v = qkv(t)
    got = kernels.tiled_attention_jit(q, k, v, causal=causal, block_q=block_q, block_k=block_k)
    naive = kernels.naive_attention_jit(q, k, v, causal=causal)
    assert float(jnp.max(jnp.abs(got - naive))) <= 1e-5
    np.testing.assert_allclose(got, np_attention(q, k, v, causal), atol=1e-5)


def test_steps_count_the_tiles_a_causal_block_visits():
    assert kernels.steps(256, 64, 64, causal=False) == 16
    assert kernels.steps(256, 64, 64, causal=True) == 1 + 2 + 3 + 4
    assert kernels.steps(256, 64, 128, causal=True) == 1 + 1 + 2 + 2
    assert kernels.tiles_to_visit(3, 64, 64, 256, causal=True) == 4
    assert kernels.score_bytes(4, 2048, 4) == 64 * 2**20
    assert kernels.tile_bytes(4, 128, 128, 4) == 2**18
    assert kernels.attention_flops(1, 2, 3) == 48


def test_pallas_matmul_matches_numpy():
    x = jax.random.normal(jax.random.key(2), (64, 32))  # (m, k)
    y = jax.random.normal(jax.random.key(3), (32, 48))  # (k, n)
    got = pk.matmul(x, y, bm=16, bn=16, bk=16, interpret=True)  # (m, n)
    want = np.asarray(x, np.float64) @ np.asarray(y, np.float64)
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("causal", [False, True])
def test_pallas_flash_attention_matches_numpy(causal):
    q, k, v = qkv(64)
    got = pk.flash_attention(q, k, v, causal=causal, block_q=16, block_k=32, interpret=True)
    np.testing.assert_allclose(got, np_attention(q, k, v, causal), atol=1e-5)


def test_pallas_flash_attention_keeps_float64_in_float64():
    """Its running max, sum and output take the inputs' dtype (they were float32 once,
    and float64 inputs failed to trace)."""
    with jax.enable_x64(True):
        q, k, v = (x.astype(jnp.float64) for x in qkv(32))
        got = pk.flash_attention(q, k, v, causal=True, block_q=16, block_k=16, interpret=True)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, np_attention(q, k, v, True), atol=1e-12)


@pytest.fixture(scope="module")
def temp_bytes_at_2048():
    """XLA:CPU's temporary bytes of naive and tiled causal attention at T = 2048 (compiled
    only). A GPU's add the same fixed scratch space to both (32 MiB on an H200)."""
    s = jax.ShapeDtypeStruct((4, 2048, 64), jnp.float32)  # (H, T, d)
    naive = functools.partial(kernels.naive_attention, causal=True)
    tiled = functools.partial(kernels.tiled_attention, causal=True, block_q=128, block_k=128)
    return tuple(
        roofline.compiled_for_cpu(f, s, s, s).memory_analysis().temp_size_in_bytes
        for f in (naive, tiled)
    )


def test_tiled_temporaries_are_at_least_10x_below_naive_at_t_2048(temp_bytes_at_2048):
    naive, tiled = temp_bytes_at_2048
    assert naive >= kernels.score_bytes(4, 2048, 4)  # it holds the (H, T, T) scores
    assert naive >= 10 * tiled
