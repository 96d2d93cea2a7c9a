"""geometry: normalize and cosine against NumPy float64, unit-vector sampling,
the concentration bound and the exact tail against closed forms and a
numerically integrated density."""

import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations.geometry import (
    chunking,
    cosine_similarity,
    dim_key,
    exact_tail,
    hoeffding_bound,
    normalize,
    numbers_drawn,
    random_pair_dots,
    random_unit_vectors,
    sample_bytes,
)

# Entries are 0 or at least 1e-3 in size, so a vector is zero or far above
# the 1e-10 clamp (below it, normalize returns v / 1e-10 on purpose).
entries = st.one_of(st.just(0.0), st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3))
vectors = hnp.arrays(
    np.float32, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4), elements=entries
)


# ---------------------------------------------------------------------------
# normalize and cosine_similarity


@pytest.mark.parametrize(("dtype", "rtol"), [(jnp.float32, 1e-6), (jnp.float64, 1e-14)])
def test_normalize_and_cosine_match_numpy(dtype, rtol):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))  # (5, 7) float64 each
    expected = x / np.linalg.norm(x, axis=-1, keepdims=True)
    cos = np.sum(expected * y, axis=-1) / np.linalg.norm(y, axis=-1)  # (5,)
    with jax.enable_x64(dtype == jnp.float64):
        out = normalize(jnp.asarray(x, dtype))
        assert out.dtype == dtype
        np.testing.assert_allclose(out, expected, rtol=rtol)
        sims = cosine_similarity(jnp.asarray(x, dtype), jnp.asarray(y, dtype))
        np.testing.assert_allclose(sims, cos, rtol=10 * rtol, atol=rtol)


def test_normalize_keeps_the_zero_vector_zero():
    out = normalize(jnp.zeros((2, 3)))  # (2, 3)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out, 0.0)


@settings(max_examples=30, deadline=None)
@given(vectors)
def test_normalized_vectors_have_unit_norm_or_are_zero(v):
    norms = np.linalg.norm(np.asarray(normalize(v), np.float64), axis=-1)
    is_zero = ~np.any(v != 0, axis=-1)
    np.testing.assert_allclose(norms[~is_zero], 1.0, rtol=1e-5)
    np.testing.assert_array_equal(norms[is_zero], 0.0)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_cosine_lies_in_minus_one_one_and_matches_numpy(data):
    a = data.draw(vectors)
    b = data.draw(hnp.arrays(np.float32, a.shape, elements=entries))
    cos = np.asarray(cosine_similarity(a, b), np.float64)
    assert np.all(np.abs(cos) <= 1 + 1e-6)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a64, axis=-1), np.linalg.norm(b64, axis=-1)
    denom = np.where((na > 0) & (nb > 0), na * nb, 1.0)
    expected = np.sum(a64 * b64, axis=-1) / denom  # 0 where either vector is zero
    np.testing.assert_allclose(cos, expected, atol=1e-5)


def test_gradients_of_normalize_and_cosine():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        a = jnp.asarray(rng.normal(size=(3, 4)) + 0.5)  # (3, 4) float64, far from 0
        b = jnp.asarray(rng.normal(size=(3, 4)) - 0.5)  # (3, 4)
        check_grads(normalize, (a,), order=1, modes=("fwd", "rev"))
        check_grads(cosine_similarity, (a, b), order=1, modes=("fwd", "rev"))


# ---------------------------------------------------------------------------
# sampling


def test_random_unit_vectors_are_unit_and_seeded():
    k1, k2 = jax.random.split(jax.random.key(0))
    u = random_unit_vectors(k1, n=100, dim=16)  # (100, 16)
    assert u.shape == (100, 16) and u.dtype == jnp.float32
    np.testing.assert_allclose(np.linalg.norm(np.asarray(u, np.float64), axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(u, random_unit_vectors(k1, n=100, dim=16))
    assert not np.allclose(u, random_unit_vectors(k2, n=100, dim=16))


def test_pair_dots_are_uniform_on_minus_one_one_in_three_dimensions():
    # At D = 3, u·v is uniform on [-1, 1] (Archimedes' hat-box theorem): its CDF
    # is (1 + t)/2. Each empirical CDF value has sd ≤ 0.5/√n = 0.0079 at n = 4000.
    dots = np.asarray(random_pair_dots(jax.random.key(3), dim=3, pairs=4000), np.float64)
    assert dots.shape == (4000,)
    assert np.all(np.abs(dots) <= 1 + 1e-6)
    for t in (-0.9, -0.5, -0.05, 0.05, 0.5, 0.9):
        assert np.mean(dots <= t) == pytest.approx((1 + t) / 2, abs=0.04)  # 5 sd
    assert np.std(dots) == pytest.approx(1 / math.sqrt(3), rel=0.04)


def test_pair_dots_across_chunks():
    # D = 8192 gives chunks of 128 pairs: 8 chunks, the last one cut short.
    # Every pair must be fresh (a reused key would repeat a chunk) and the
    # spread must be 1/√D (relative sd of a sample std: 1/√(2n) = 2.2 %).
    dim, pairs = 8192, 1000
    dots = np.asarray(random_pair_dots(jax.random.key(4), dim=dim, pairs=pairs), np.float64)
    assert dots.shape == (pairs,)
    assert len(np.unique(dots)) == pairs
    assert np.std(dots) == pytest.approx(1 / math.sqrt(dim), rel=0.1)
    again = random_pair_dots(jax.random.key(4), dim=dim, pairs=pairs)
    np.testing.assert_array_equal(dots, again)


def test_pair_dots_tail_matches_exact_tail():
    dim, pairs, eps = 64, 4000, 0.2
    dots = np.asarray(random_pair_dots(jax.random.key(5), dim=dim, pairs=pairs), np.float64)
    p = float(exact_tail(dim, eps))
    sd = math.sqrt(p * (1 - p) / pairs)
    assert np.mean(np.abs(dots) > eps) == pytest.approx(p, abs=5 * sd)


# ---------------------------------------------------------------------------
# the bound and the exact tail


def tail_by_integration(dim: int, eps: float, n: int = 200_000) -> float:
    """P(|u·v| > ε) in float64 from the density ∝ (1 - t²)^((D-3)/2).

    With t = cos θ the density becomes ∝ sin^(D-2) θ on [0, π], smooth at the
    ends, so Simpson's rule converges fast. The tail is the mass beyond ε on
    both sides: 2 ∫_0^acos ε over ∫_0^π.
    """

    def simpson(hi: float) -> float:
        theta = np.linspace(0.0, hi, n + 1)  # (n+1,), n even
        f = np.sin(theta) ** (dim - 2)  # (n+1,)
        return (hi / n / 3) * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())

    return 2 * simpson(math.acos(eps)) / simpson(math.pi)


def test_bound_at_the_lesson_defaults():
    # The facts of the original: 199.25 %, 184.62 %, 105.46 %, 1.1952 %, 0.0071 %.
    dims = jnp.array([3, 64, 512, 4096, 8192], jnp.float32)  # (5,)
    bound = 100 * np.asarray(hoeffding_bound(dims, 0.05), np.float64)
    closed = [200 * math.exp(-d * 0.05**2 / 2) for d in (3, 64, 512, 4096, 8192)]
    np.testing.assert_allclose(bound, closed, rtol=1e-6)
    np.testing.assert_allclose(bound, [199.25, 184.62, 105.46, 1.1952, 0.0071], atol=5e-3)


def test_exact_tail_closed_forms():
    with jax.enable_x64(True):
        eps = jnp.array([0.01, 0.05, 0.3, 0.9], jnp.float64)  # (4,)
        one = jnp.ones(4, jnp.float64)  # (4,)
        np.testing.assert_array_equal(exact_tail(one, eps), 1.0)  # u·v = ±1
        # D = 2: u·v = cos of a uniform angle (arcsine law); D = 3: uniform.
        np.testing.assert_allclose(
            exact_tail(2 * one, eps), 1 - 2 / np.pi * np.arcsin(np.asarray(eps)), rtol=1e-12
        )
        np.testing.assert_allclose(exact_tail(3 * one, eps), 1 - np.asarray(eps), rtol=1e-12)


@pytest.mark.parametrize(
    "dim,eps",
    [(4, 0.3), (5, 0.05), (64, 0.05), (512, 0.05), (4096, 0.05), (8192, 0.05), (8192, 0.2)],
)
def test_exact_tail_matches_the_integrated_density(dim, eps):
    expected = tail_by_integration(dim, eps)
    with jax.enable_x64(True):
        got = float(exact_tail(jnp.float64(dim), jnp.float64(eps)))
    assert got == pytest.approx(expected, rel=1e-9)


def test_exact_tail_in_float32_keeps_percent_level_accuracy():
    # The docstring's claim: float32 loses ~7e-3 relative at D = 8192.
    got = float(exact_tail(jnp.float32(8192), jnp.float32(0.05)))
    assert got == pytest.approx(tail_by_integration(8192, 0.05), rel=2e-2)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 100_000), st.floats(0.001, 0.999))
def test_exact_tail_never_exceeds_the_bound(dim, eps):
    with jax.enable_x64(True):
        d, e = jnp.float64(dim), jnp.float64(eps)
        exact, bound = float(exact_tail(d, e)), float(hoeffding_bound(d, e))
    assert 0.0 <= exact <= 1.0
    assert exact <= bound * (1 + 1e-9)


@pytest.mark.parametrize("dim, pairs", [(3, 10), (8192, 10_000), (5000, 7), (1, 1)])
def test_numbers_drawn_counts_every_number_drawn(dim, pairs):
    chunk, n_chunks = chunking(dim, pairs)
    assert chunk * n_chunks >= pairs > chunk * (n_chunks - 1)  # the last chunk overshoots, no more
    assert numbers_drawn(dim, pairs) == 2 * dim * chunk * n_chunks
    if dim * pairs <= 10**4:  # the large case only counts: its run takes seconds
        assert random_pair_dots(dim_key(0, dim), dim=dim, pairs=pairs).shape == (pairs,)


def test_sample_bytes_counts_the_kept_dots_and_the_largest_chunk():
    assert sample_bytes([3], 10) == 10 * 16 + 2 * 10 * 3 * 8 * 3
    assert sample_bytes([3, 2**24], 1) == 2 * 16 + 2 * 2**24 * 8 * 3


def test_dim_key_depends_on_the_dimension_only():
    same = jax.random.key_data(dim_key(5, 64)) == jax.random.key_data(dim_key(5, 64))
    assert bool(same.all())
    assert not bool(
        (jax.random.key_data(dim_key(5, 64)) == jax.random.key_data(dim_key(5, 3))).all()
    )


def test_geometry_imports_no_helper():
    import trinity_foundations.geometry as geometry

    source = open(geometry.__file__).read()
    assert "import timing" not in source and "import cli" not in source
