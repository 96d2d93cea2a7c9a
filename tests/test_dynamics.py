"""Curve diagnostics, gradient accumulation and the vmapped sweep's optimizer."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trinity_foundations import dynamics as dyn
from trinity_foundations import language as lang
from trinity_foundations import sweep as sw
from trinity_foundations import training as tr
from trinity_foundations.accumulation import accumulated_value_and_grad, micro_batches
from trinity_foundations.transformer import GPTConfig, init_gpt

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


# ----------------------------------------------------------------------------
# The sweep's optimizer is training.optimizer with arrays for hyper-parameters.


def quadratic_params():
    rng = np.random.default_rng(0)
    return {
        "blocks": {"w": jnp.asarray(rng.normal(size=(2, 3, 3))), "g": jnp.ones((2, 3))},
        "tok": jnp.asarray(rng.normal(size=(5, 3))),
        "pos": jnp.asarray(rng.normal(size=(4, 3))),
    }


def quadratic_grads(params, t):
    """Gradients that change from step to step and grow large at step 2 (clipping bites)."""
    scale = jnp.where(t == 2, 30.0, 1.0)
    return jax.tree.map(lambda p: scale * (p - 0.1 * t) ** 3, params)


@pytest.mark.parametrize(
    "config",
    [
        tr.TrainConfig(steps=6, lr=0.05, warmup=2, weight_decay=0.1, clip=1.0),
        tr.TrainConfig(steps=6, lr=0.05, warmup=0, weight_decay=0.0, clip=0.0),
        tr.TrainConfig(steps=6, lr=0.01, warmup=3, weight_decay=0.5, clip=2.0, optimizer="sgd"),
    ],
    ids=["adamw-clip", "adamw-plain", "sgd"],
)
def test_swept_update_takes_the_steps_of_training_optimizer(config):
    with jax.enable_x64(True):
        params = quadratic_params()
        hyper = sw.hyper_of(config, text=100, dtype=jnp.float64)
        opt = tr.optimizer(config)
        ref_state, state = opt.init(params), sw.init_state(params, config=config).opt_state
        ref, mine = params, params

        @jax.jit
        def both(ref, ref_state, mine, state, t):
            with jax.numpy_dtype_promotion("standard"):
                u_ref, ref_state = opt.update(quadratic_grads(ref, t), ref_state, ref)
            u, state, lr = sw.update(quadratic_grads(mine, t), state, mine, t, hyper, config=config)
            return (
                optax.apply_updates(ref, u_ref),
                ref_state,
                optax.apply_updates(mine, u),
                state,
                lr,
            )

        for t in range(config.steps):
            ref, ref_state, mine, state, lr = both(ref, ref_state, mine, state, jnp.asarray(t))
            lr_ref = float(tr.learning_rate(jnp.asarray(t), config=config))
            assert float(lr) == pytest.approx(lr_ref, rel=1e-6)  # theirs is float32
            for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(ref)):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_swept_schedule_matches_training_over_a_whole_run():
    config = tr.TrainConfig(steps=50, lr=3e-3, warmup=10, final_lr_fraction=0.1)
    hyper = sw.hyper_of(config, text=100)
    steps = jnp.arange(50)
    mine = jax.jit(jax.vmap(lambda s: sw.learning_rate(s, hyper, config=config)))(steps)  # (50,)
    ref = jax.jit(jax.vmap(lambda s: tr.learning_rate(s, config=config)))(steps)  # (50,)
    np.testing.assert_allclose(mine, ref, rtol=1e-6)
    # 50 micro-batches taken 5 at a time: the schedule of a 10-update run
    five = hyper._replace(accumulate=jnp.asarray(5, jnp.int32), warmup=jnp.asarray(2.0))
    mine = jax.jit(jax.vmap(lambda s: sw.learning_rate(s, five, config=config)))(jnp.arange(10))
    short = config._replace(steps=10, warmup=2)
    ref = jax.jit(jax.vmap(lambda s: tr.learning_rate(s, config=short)))(jnp.arange(10))
    np.testing.assert_allclose(mine, ref, rtol=1e-6)


def test_accumulation_equals_the_large_batch_in_float64():
    """accumulated_value_and_grad, and the sweep's one-micro-batch-per-call accumulation,
    against the gradient and the AdamW step of one batch of k·B."""
    with jax.enable_x64(True):
        config = tr.TrainConfig(steps=8, batch=3, context=TINY.context, lr=0.01, warmup=1)
        big = config._replace(steps=2, batch=12)
        loss_fn = tr.LMLoss(TINY)
        params = init_gpt(jax.random.key(0), TINY)
        assert params["tok"].dtype == jnp.float64
        micro = [tiny_batch(jax.random.key(10 + i), 3) for i in range(4)]  # 4 of (3, T)
        union = tuple(jnp.concatenate(parts) for parts in zip(*micro))  # (12, T) x2

        value, grads = jax.jit(jax.value_and_grad(loss_fn))(params, union)
        acc_value, acc_grads = jax.jit(accumulated_value_and_grad(loss_fn))(
            params, micro_batches(union, 4)
        )
        assert float(acc_value) == pytest.approx(float(value), rel=1e-13)
        for g, a in zip(jax.tree.leaves(grads), jax.tree.leaves(acc_grads)):
            np.testing.assert_allclose(a, g, rtol=1e-10, atol=1e-14)

        opt = tr.optimizer(big)  # training.train_step's update, on the large batch's gradient

        @jax.jit
        def one_step(params, grads):
            with jax.numpy_dtype_promotion("standard"):
                updates, _ = opt.update(grads, opt.init(params), params)
            return optax.apply_updates(params, updates)

        ref = one_step(params, grads)
        hyper = sw.hyper_of(config, text=100, accumulate=4, dtype=jnp.float64)
        state = sw.init_state(params, config=config)
        step = jax.jit(
            lambda s, b: sw.sweep_step(s, b, config=config, loss_fn=loss_fn, hyper=hyper)
        )
        for i, batch in enumerate(micro):
            state, _ = step(state, batch)
            assert int(state.step) == (1 if i == 3 else 0)
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(ref)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        assert int(state.micro) == 0
        assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(state.grads))


def test_sample_prefix_is_sample_batch_on_the_whole_text_and_stays_in_its_prefix():
    tokens = jnp.arange(500, dtype=jnp.int32)
    key = jax.random.key(3)
    prefix = jax.jit(sw.sample_prefix, static_argnums=(3, 4))
    x, y = prefix(key, tokens, jnp.asarray(500), 16, 8)
    x_ref, y_ref = jax.jit(lang.sample_batch, static_argnums=(2, 3))(key, tokens, 16, 8)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)
    x, y = prefix(key, tokens, jnp.asarray(40), 64, 8)
    assert int(y.max()) < 40 and np.array_equal(y[:, :-1], x[:, 1:])
