import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trinity_foundations.stats import Z_95, wilson_interval


def wilson_reference(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The textbook formula in float64 Python arithmetic."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def interval(k, n, **kw) -> tuple[float, float]:
    low, high = wilson_interval(k, n, **kw)
    return float(low), float(high)


def test_original_lesson_interval():
    # the original reported 99.6 % of 500, i.e. 498 correct, as [98.55 %, 99.89 %]
    low, high = interval(498, 500)
    assert (round(100 * low, 2), round(100 * high, 2)) == (98.55, 99.89)


@pytest.mark.parametrize("k, n", [(1, 1), (3, 10), (5, 10), (50, 100), (496, 500), (9999, 10000)])
def test_matches_the_formula(k, n):
    np.testing.assert_allclose(interval(k, n), wilson_reference(k, n), rtol=1e-6)


def test_matches_the_formula_in_float64():
    with jax.enable_x64(True):
        np.testing.assert_allclose(interval(7, 13), wilson_reference(7, 13), rtol=1e-14)


def test_half_is_symmetric_about_one_half():
    low, high = interval(50, 100)
    assert low + high == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n", [1, 7, 500, 10**6])
def test_edges_stay_inside_the_unit_interval(n):
    z2 = Z_95**2
    low, high = interval(0, n)
    assert low == 0.0 and high == pytest.approx(z2 / (n + z2), rel=1e-5)
    low, high = interval(n, n)
    assert high == 1.0 and low == pytest.approx(n / (n + z2), rel=1e-5)


def test_wider_z_wider_interval_and_arrays():
    low90, high90 = interval(40, 50, z=1.645)
    low95, high95 = interval(40, 50)
    assert low95 < low90 < 0.8 < high90 < high95
    lows, highs = wilson_interval(np.arange(11), 10)  # (11,), (11,)
    assert lows.shape == highs.shape == (11,)
    np.testing.assert_allclose(
        np.stack([lows, highs], axis=1),
        [wilson_reference(k, 10) for k in range(11)],
        rtol=1e-5,
        atol=1e-7,
    )


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_properties(kn):
    k, n = kn
    low, high = interval(k, n)
    assert 0.0 <= low <= k / n + 1e-6 and k / n - 1e-6 <= high <= 1.0
    mirror_low, mirror_high = interval(n - k, n)  # failures instead of successes
    assert low == pytest.approx(1 - mirror_high, abs=1e-6)
    assert high == pytest.approx(1 - mirror_low, abs=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_miss_rate_sums_the_binomial_outside_the_interval(dtype):
    from scipy.stats import binom

    from trinity_foundations.stats import wilson_miss_rate

    with jax.enable_x64(dtype == jnp.float64):
        miss = float(wilson_miss_rate(jnp.asarray(0.997, dtype), 500))
    k = np.arange(501)
    low, high = (np.asarray(v, np.float64) for v in wilson_interval(k, 500))
    outside = (low > 0.997) | (high < 0.997)
    assert miss == pytest.approx(binom.pmf(k[outside], 500, 0.997).sum(), rel=1e-3)
    assert miss == pytest.approx(0.0654, abs=5e-4)  # not the nominal 5 %
