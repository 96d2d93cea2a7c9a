"""quantize.py against float64 NumPy references and closed forms."""

from __future__ import annotations

import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from trinity_foundations import quantize as qz

FLOATS = ["bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"]  # emulated: no flushing


@pytest.mark.parametrize("name", FLOATS)
def test_measured_facts_equal_finfo(name):
    dtype = jnp.dtype(name)
    assert qz.measure(dtype) == qz.finfo_facts(dtype) or name == "bfloat16"


@pytest.mark.parametrize("name", ["float32", *FLOATS])
def test_eps_max_and_normal_equal_ml_dtypes(name):
    got, ref = qz.measure(jnp.dtype(name)), ml_dtypes.finfo(name)
    assert got.eps == float(ref.eps)
    assert got.max == float(ref.max)
    assert got.min_normal == float(ref.smallest_normal)
    # float32 and bfloat16 arithmetic may flush subnormals (XLA on CPU does): then
    # halving stops at the smallest normal; otherwise at the smallest subnormal.
    assert got.min_subnormal in (float(ref.smallest_subnormal), float(ref.smallest_normal))


def test_float8_e4m3fn_closed_forms():
    f = qz.measure(jnp.dtype("float8_e4m3fn"))  # 4 exponent bits (bias 7), 3 mantissa bits
    assert (f.eps, f.max, f.min_normal, f.min_subnormal) == (2**-3, 448.0, 2**-6, 2**-9)


def test_running_sum_rounds_after_every_add():
    x = np.full(1000, 0.01, np.float32)
    ref = 0.0
    for v in x.astype(ml_dtypes.bfloat16):  # the same running total in NumPy's bfloat16
        ref = np.asarray(ref, ml_dtypes.bfloat16) + v
    got = qz.running_sum(jnp.asarray(x), dtype=jnp.bfloat16)
    assert float(got) == float(ref)
    assert float(got) < 0.9 * 1000 * 0.01  # it stalls well short of 10
    exact = float(np.sum(x.astype(np.float64)))
    assert abs(float(qz.running_sum(jnp.asarray(x), dtype=jnp.float32)) - exact) < 1e-3
    assert abs(float(qz.dot_sum(jnp.asarray(x), dtype=jnp.float32)) - exact) < 1e-3


def test_nf4_levels_are_qlora_normal_quantiles():
    nd = NormalDist()
    pos = [nd.inv_cdf(p) for p in np.linspace(0.9677083, 0.5, 9)[:-1]]
    neg = [-nd.inv_cdf(p) for p in np.linspace(0.9677083, 0.5, 8)[:-1]]
    ref = np.sort(np.array([*pos, 0.0, *neg]))
    ref /= ref[-1]
    got = np.asarray(qz.nf4_levels(), np.float64)
    assert got.shape == (16,) and np.all(np.diff(got) > 0)
    np.testing.assert_allclose(got, ref, atol=2e-6)
    assert got[0] == -1.0 and got[-1] == 1.0 and 0.0 in got
    # the table printed in the QLoRA paper's appendix (rounded there to 4 places)
    np.testing.assert_allclose(got[[1, 8, 14]], [-0.6962, 0.0796, 0.7230], atol=1e-4)


def _matrix(seed=0, shape=(64, 24)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("per_channel", [False, True])
def test_symmetric_round_trip_matches_numpy(per_channel):
    w = _matrix()
    codes, scale = qz.quantize_symmetric(jnp.asarray(w), 8, per_channel)
    w64 = w.astype(np.float64)
    s = np.abs(w64).max(axis=0 if per_channel else None, keepdims=True) / 127
    assert scale.shape == ((1, 24) if per_channel else (1, 1))
    np.testing.assert_allclose(np.asarray(scale), s, rtol=1e-6)
    ref = np.clip(np.round(w64 / s), -127, 127)
    assert np.mean(np.asarray(codes) == ref) > 0.999  # ties at .5 may round apart
    back = np.asarray(qz.dequantize_symmetric(codes, scale), np.float64)
    assert np.max(np.abs(back - w64) / s) <= 0.5 + 1e-4  # half a step at most


def test_asymmetric_covers_min_to_max():
    w = _matrix() + 1.5  # mostly positive columns: symmetric codes would waste half
    codes, scale, zero = qz.quantize_asymmetric(jnp.asarray(w), 8)
    c = np.asarray(codes, np.int64)
    assert c.min() == -128 and c.max() >= 126
    back = np.asarray(qz.dequantize_asymmetric(codes, scale, zero), np.float64)
    step = np.asarray(scale, np.float64)
    assert np.max(np.abs(back - w) / step) <= 0.5 + 1e-3
    sym = qz.relative_error(
        jnp.asarray(w), qz.dequantize_symmetric(*qz.quantize_symmetric(jnp.asarray(w), 8, True))
    )
    assert qz.relative_error(jnp.asarray(w), jnp.asarray(back, jnp.float32)) < sym


def test_codebook_picks_the_nearest_level_per_block():
    w = _matrix(1, (32, 8))
    levels = qz.nf4_levels()
    codes, absmax = qz.quantize_codebook(jnp.asarray(w), levels, 16)
    ref_max = np.abs(w.reshape(2, 16, 8)).max(axis=1)  # (2, 8)
    np.testing.assert_allclose(np.asarray(absmax), ref_max, rtol=1e-7)
    scaled = (w.reshape(2, 16, 8) / ref_max[:, None, :]).reshape(32, 8)
    lv = np.asarray(levels, np.float64)
    ref = np.argmin(np.abs(scaled[..., None] - lv), axis=-1)
    np.testing.assert_array_equal(np.asarray(codes), ref)
    back = qz.dequantize_codebook(codes, absmax, levels, 16)
    np.testing.assert_allclose(
        np.asarray(back), lv[ref] * np.repeat(ref_max, 16, axis=0), rtol=1e-6
    )


def test_int_levels_codebook_equals_symmetric_rounding():
    w = jnp.asarray(_matrix(2, (16, 8)))
    via_book = qz.dequantize_codebook(
        *qz.quantize_codebook(w, qz.int_levels(4), 16), qz.int_levels(4), 16
    )
    via_round = qz.dequantize_symmetric(*qz.quantize_symmetric(w, 4, True))
    np.testing.assert_allclose(np.asarray(via_book), np.asarray(via_round), rtol=1e-5, atol=1e-6)
    assert qz.int_levels(4).shape == (15,)


def test_bytes_per_param():
    assert qz.bytes_per_param(64, 64, 8, 1) == 1 + 4 / 4096
    assert qz.bytes_per_param(64, 128, 4, 2 * 128) == 0.5 + 4 * 256 / (64 * 128)


@pytest.mark.parametrize("n", [1, 2, 16, 64])
def test_hadamard_is_orthogonal_and_keeps_the_product(n):
    h = np.asarray(qz.hadamard(n), np.float64)
    np.testing.assert_allclose(h @ h.T, np.eye(n), atol=1e-6)
    assert np.all(np.abs(np.abs(h) - 1 / math.sqrt(n)) < 1e-7)
    rng = np.random.default_rng(n)
    x, w = rng.standard_normal((3, n)), rng.standard_normal((n, 5))
    np.testing.assert_allclose((x @ h) @ (h.T @ w), x @ w, atol=1e-5)


def test_hadamard_refuses_other_sizes():
    with pytest.raises(ValueError, match="power of two"):
        qz.hadamard(12)


def test_rotation_spreads_an_outlier():
    w = _matrix(3, (64, 16))
    w[5] *= 20  # one loud input channel
    h = qz.hadamard(64)
    assert qz.max_over_rms(h.T @ jnp.asarray(w)) < qz.max_over_rms(jnp.asarray(w)) / 2


def test_int8_matmul_is_exact_in_int32():
    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, (4, 300), dtype=np.int8)
    b = rng.integers(-127, 128, (300, 5), dtype=np.int8)
    got = qz.int8_matmul(jnp.asarray(a), jnp.asarray(b))
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), a.astype(np.int64) @ b.astype(np.int64))


def test_flushed_share_counts_only_entries_alive_in_the_reference():
    ref = {"a": jnp.array([1e-3, 0.0, 2e-8, 1e-9])}
    low = {"a": jnp.array([1e-3, 0.0, 0.0, 0.0])}
    assert qz.flushed_share(ref, low) == pytest.approx(2 / 3)
    f16 = jnp.asarray(ref["a"]).astype(jnp.float16).astype(jnp.float32)  # 2e-8, 1e-9 flush
    assert qz.flushed_share(ref, {"a": f16}) == pytest.approx(2 / 3)


def test_cast_loss_in_float32_is_the_lm_loss(tiny_gpt):
    from trinity_foundations import language as lang
    from trinity_foundations import training as tr

    x = jnp.asarray(lang.encode(tiny_gpt.vocab, tiny_gpt.text[:34])[:32].reshape(2, 16))
    batch = (x, jnp.roll(x, -1, axis=1))
    ref = tr.LMLoss(tiny_gpt.model)(tiny_gpt.params, batch)
    got = qz.CastLoss(tiny_gpt.model, "float32")(tiny_gpt.params, batch)
    assert float(got) == pytest.approx(float(ref), rel=1e-6)
    # the gradient comes back in the master copy's dtype (shapes only: nothing compiled)
    grads = jax.eval_shape(
        jax.grad(qz.CastLoss(tiny_gpt.model, "bfloat16")), tiny_gpt.params, batch
    )
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))


def test_random_hadamard_is_orthogonal_and_gathers_no_mean():
    r = np.asarray(qz.random_hadamard(jax.random.key(0), 32), np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(32), atol=1e-6)
    w = np.ones((32, 4), np.float32)  # constant columns: Hᵀ W puts everything in row 0
    plain = qz.hadamard(32).T @ jnp.asarray(w)
    signed = jnp.asarray(r.T, jnp.float32) @ jnp.asarray(w)
    assert qz.max_over_rms(plain) == pytest.approx(math.sqrt(32), rel=1e-5)
    assert qz.max_over_rms(signed) < qz.max_over_rms(plain)
