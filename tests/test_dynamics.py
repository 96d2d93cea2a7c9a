"""Curve diagnostics, gradient accumulation and the vmapped sweep's optimizer."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trinity_foundations import dynamics as dyn
from trinity_foundations import language as lang
from trinity_foundations.accumulation import micro_batches
from trinity_foundations.transformer import GPTConfig

# ----------------------------------------------------------------------------
# Divergence, spikes, parting.


def decaying(n=40, start=4.0):
    return start * np.exp(-np.arange(n) / 20.0) + 1.0  # (n,) a healthy run


def test_a_constructed_divergent_run_is_detected_at_its_first_nan():
    loss = decaying()
    loss[25:] = np.nan  # a step produced NaN weights: every later loss is NaN
    assert int(dyn.divergence_step(jnp.asarray(loss), jnp.asarray(loss[0]), window=5)) == 25


def test_a_run_that_blows_up_and_stays_above_its_start_diverged_where_it_left():
    loss = decaying()
    loss[30:] = 1e3 * np.arange(1, 11)  # finite, growing, never back below loss[0]
    assert int(dyn.divergence_step(jnp.asarray(loss), jnp.asarray(loss[0]), window=5)) == 30


def test_a_spike_that_recovers_and_a_short_late_excursion_are_not_divergence():
    loss = decaying()
    loss[10:14] = 50.0  # a spike, then back to normal
    assert int(dyn.divergence_step(jnp.asarray(loss), jnp.asarray(loss[0]), window=5)) == -1
    loss[-3:] = 50.0  # above the start, but only for the last 3 steps: shorter than the window
    assert int(dyn.divergence_step(jnp.asarray(loss), jnp.asarray(loss[0]), window=5)) == -1
    loss[-1] = np.inf  # ... unless the last loss is not a number
    assert int(dyn.divergence_step(jnp.asarray(loss), jnp.asarray(loss[0]), window=5)) == 37
    healthy = decaying()
    assert int(dyn.divergence_step(jnp.asarray(healthy), jnp.asarray(healthy[0]), window=5)) == -1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 10.0), min_size=2, max_size=30))
def test_largest_spike_matches_a_loop(values):
    loss = np.asarray(values, np.float32)
    rises = [loss[t] - loss[:t].min() for t in range(1, len(loss))]
    rise, step = dyn.largest_spike(jnp.asarray(loss))
    assert float(rise) == pytest.approx(max(0.0, max(rises)), abs=1e-6)
    if max(rises) > 0:
        assert rises[int(step) - 1] == pytest.approx(max(rises), abs=1e-6)


def test_a_nan_is_an_infinite_spike():
    loss = jnp.asarray([3.0, 2.0, jnp.nan, jnp.nan])
    rise, step = dyn.largest_spike(loss)
    assert math.isinf(float(rise)) and int(step) == 2


def test_parting_point_is_the_validation_minimum_when_train_keeps_falling():
    train = jnp.asarray([3.0, 2.5, 2.0, 1.5, 1.0, 0.5])
    val = jnp.asarray([3.1, 2.8, 2.7, 2.9, 3.2, 3.5])
    assert int(dyn.parting_point(train, val, jnp.asarray(0.05))) == 2
    together = jnp.asarray([3.1, 2.8, 2.7, 2.6, 2.6, 2.55])
    assert int(dyn.parting_point(train, together, jnp.asarray(0.05))) == -1
    both_worse = jnp.asarray([3.0, 2.5, 2.0, 2.5, 3.0, 3.5])  # train rises too: no over-fit
    assert int(dyn.parting_point(both_worse, val, jnp.asarray(0.05))) == -1
    small_rise = jnp.asarray([3.1, 2.8, 2.7, 2.71, 2.72, 2.73])  # within the tolerance
    assert int(dyn.parting_point(train, small_rise, jnp.asarray(0.05))) == -1


# ----------------------------------------------------------------------------
# Gradient accumulation, in float64 so the tolerance means something.

TINY = GPTConfig(vocab_size=11, context=8, d_model=8, n_layers=1, n_heads=2, d_ff=16)


def tiny_batch(key, n):
    tokens = jnp.arange(200) * 7 % TINY.vocab_size  # (200,) a fixed, varied text
    return lang.sample_batch(key, tokens, n, TINY.context)  # (n, T) x2


def test_micro_batches_cut_along_the_first_axis():
    x = jnp.arange(24).reshape(6, 4)
    parts = micro_batches((x, x + 1), 3)
    assert parts[0].shape == (3, 2, 4) and np.array_equal(parts[0][1], x[2:4])
    with pytest.raises(ValueError, match="does not split"):
        micro_batches(x, 4)


def test_sample_batch_of_a_prefix_stays_in_it_and_the_whole_text_is_the_default():
    tokens = jnp.arange(500, dtype=jnp.int32)
    key = jax.random.key(3)
    sample = jax.jit(lang.sample_batch, static_argnums=(2, 3))
    x, y = sample(key, tokens, 16, 8, jnp.asarray(500))
    x_ref, y_ref = sample(key, tokens, 16, 8)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)
    x, y = sample(key, tokens, 64, 8, jnp.asarray(40))
    assert int(y.max()) < 40 and np.array_equal(y[:, :-1], x[:, 1:])
