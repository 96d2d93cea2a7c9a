"""training: the schedule, the decay mask, clipping, the compiled loop, checkpoints, FLOPs."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trinity_foundations import checkpoints, language, sweep, training
from trinity_foundations.training import TrainConfig
from trinity_foundations.transformer import GPTConfig, init_gpt, param_count

TINY = GPTConfig(vocab_size=12, context=8, d_model=16, n_layers=2, n_heads=2, d_ff=32)


def compiles_during(fn, *args, **kwargs) -> int:
    """How many XLA compilations a call triggers (JAX's own monitoring events)."""
    events = []

    def listen(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        jax.block_until_ready(fn(*args, **kwargs))
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return len(events)


def schedule(step, **numbers):
    return float(training.learning_rate(jnp.asarray(step), **numbers))


def test_schedule_warms_up_linearly_then_follows_the_cosine():
    cfg = dict(peak=1e-2, warmup=10, total=100, final_fraction=0.1)
    lr = [schedule(s, **cfg) for s in range(101)]
    assert lr[:10] == pytest.approx([1e-2 * (s + 1) / 10 for s in range(10)], rel=1e-6)
    assert lr[10] == pytest.approx(1e-2, rel=1e-6)  # the peak, where the cosine starts
    t = (55 - 10) / 90
    assert lr[55] == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))), rel=1e-5)
    assert lr[100] == pytest.approx(1e-3, rel=1e-5)
    assert all(b <= a + 1e-9 for a, b in zip(lr[10:], lr[11:]))


def test_no_warmup_starts_at_the_peak():
    assert schedule(0, peak=0.5, warmup=0, total=10, final_fraction=0.1) == pytest.approx(0.5)


def test_decay_mask_takes_matrices_only():
    mask = training.decay_mask(init_gpt(jax.random.key(0), TINY))
    assert mask["tok"] and not mask["pos"]
    assert mask["blocks"]["attn"]["w_q"] and mask["blocks"]["mlp"]["w_proj"]
    assert not mask["blocks"]["attn"]["b_q"] and not mask["blocks"]["norm1"]["gamma"]
    assert not mask["norm_f"]["gamma"]


def _quadratic(params, batch):
    return 0.5 * jnp.sum((params["w"] - batch) ** 2)


def test_clipping_limits_the_step_of_sgd():
    """Plain SGD, no decay: the update is lr · clip · g / |g| when |g| > clip."""
    cfg = TrainConfig(steps=10, lr=0.1, warmup=0, clip=0.5, weight_decay=0.0, optimizer="sgd")
    params = {"w": jnp.zeros((3, 4))}
    target = jnp.arange(12.0).reshape(3, 4)  # gradient -target, norm sqrt(506)
    state = training.init_state(params, training.hyper_of(cfg))
    new, aux = training.train_step(state, target, loss_fn=_quadratic)
    step = np.asarray(new.params["w"])
    assert float(aux.grad_norm) == pytest.approx(math.sqrt(506), rel=1e-6)
    assert np.linalg.norm(step) == pytest.approx(0.1 * 0.5, rel=1e-5)
    np.testing.assert_allclose(step / np.linalg.norm(step), target / np.linalg.norm(target), 1e-5)
    assert int(new.step) == 1 and float(aux.loss) == pytest.approx(0.5 * 506)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        training.hyper_of(TrainConfig(optimizer="lion"))


def test_chunks_divide_the_steps():
    assert training.chunks_for(600) == 20
    assert training.chunks_for(7) == 7 and training.chunks_for(23) == 1
    assert training.chunks_for(1) == 1 and training.chunks_for(96, most=10) == 8


@pytest.fixture(scope="module")
def tiny_run():
    """A short compiled training of a tiny GPT on a periodic text, and its second run."""
    text = np.tile(np.arange(TINY.vocab_size, dtype=np.int32), 40)  # (480,) 0 1 2 ... 11 0 1 ...
    train, val = language.split(text)
    cfg = TrainConfig(steps=40, batch=8, context=8, lr=1e-2, warmup=5)
    loss_fn = training.LMLoss(TINY)
    state = training.init_state(init_gpt(jax.random.key(0), TINY), training.hyper_of(cfg))
    windows = language.eval_windows(train, 8, limit=4), language.eval_windows(val, 8)

    def go():
        return training.fit(
            state, jax.random.key(1), jnp.asarray(train), *windows,
            config=cfg, loss_fn=loss_fn, chunks=4,
        )  # fmt: skip

    first = go()
    return first, go, windows


def test_fit_lowers_the_validation_loss_and_keeps_the_best(tiny_run):
    (final, history), _, (_, val_windows) = tiny_run
    assert history.loss.shape == (40,) and history.eval_steps == [10, 20, 30, 40]
    assert history.val_eval[-1] < 0.5 * math.log(TINY.vocab_size)
    assert history.best_val == min(history.val_eval)
    assert history.best_step == history.eval_steps[int(np.argmin(history.val_eval))]
    best = training.evaluate(history.best_params, *val_windows, loss_fn=training.LMLoss(TINY))
    assert float(best) == history.best_val
    assert int(final.step) == 40


def test_second_fit_compiles_nothing_and_repeats_itself(tiny_run):
    (_, history), go, _ = tiny_run
    out = {}
    assert compiles_during(lambda: out.setdefault("run", go())[1].loss) == 0
    np.testing.assert_array_equal(out["run"][1].loss, history.loss)


def test_fit_refuses_chunks_that_do_not_divide():
    cfg = TrainConfig(steps=10)
    with pytest.raises(ValueError, match="do not divide"):
        training.fit(None, None, None, None, None, config=cfg, loss_fn=_quadratic, chunks=3)


def test_lm_loss_is_the_numpy_cross_entropy_of_the_logits():
    params = init_gpt(jax.random.key(2), TINY)
    x = jax.random.randint(jax.random.key(3), (3, 8), 0, TINY.vocab_size)  # (3, 8)
    y = jax.random.randint(jax.random.key(4), (3, 8), 0, TINY.vocab_size)  # (3, 8)
    from trinity_foundations.transformer import gpt_forward

    logits = np.asarray(gpt_forward(params, x, config=TINY), np.float64)  # (3, 8, V)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    expected = -np.take_along_axis(logp, np.asarray(y)[..., None], -1).mean()
    got = float(training.LMLoss(TINY)(params, (x, y)))
    assert got == pytest.approx(expected, rel=1e-5)


def test_initial_loss_is_close_to_log_vocab(tiny_gpt):
    model, params = tiny_gpt.model, tiny_gpt.params  # lesson 19's vocabulary
    x = jax.random.randint(jax.random.key(6), (16, 16), 0, model.vocab_size)  # (16, 16)
    y = jax.random.randint(jax.random.key(7), (16, 16), 0, model.vocab_size)  # (16, 16)
    loss = training.evaluate(params, x, y, loss_fn=training.LMLoss(model))
    assert float(loss) == pytest.approx(math.log(model.vocab_size), abs=0.05)


def test_checkpoint_round_trip_is_exact(tmp_path):
    params = init_gpt(jax.random.key(8), TINY)
    config = {"model": TINY._asdict(), "vocab": "abc\n", "val_loss": 1.5}
    path = tmp_path / "sub" / "ckpt.npz"
    checkpoints.save_checkpoint(path, params, config)
    loaded, cfg = checkpoints.load_checkpoint(path)
    assert cfg == config
    flat = jax.tree_util.tree_leaves_with_path(params)
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(params)
    for (_, a), b in zip(flat, jax.tree_util.tree_leaves(loaded)):
        assert b.dtype == a.dtype
        np.testing.assert_array_equal(b, np.asarray(a))
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.npz"]  # no temporary left


def test_flops_count_every_matrix_once():
    params = init_gpt(jax.random.key(9), TINY)
    matrices = sum(
        math.prod(leaf.shape)
        for path, leaf in jax.tree_util.tree_leaves_with_path(params)
        if path[-1].key.startswith("w_") or path[-1].key == "tok"
    )
    assert training.matmul_params(TINY) == matrices < param_count(params)
    assert training.flops_per_token(TINY, 8) == 6 * matrices + 12 * 2 * 8 * 16


# ----------------------------------------------------------------------------
# One step for every lesson: its numbers are run-time values.


def test_a_new_learning_rate_compiles_nothing(tiny_gpt_setup):
    """Two runs that differ in every number of the recipe share one program."""
    params, tokens, loss_fn = tiny_gpt_setup
    shapes = dict(loss_fn=loss_fn, steps=3, batch=4, context=8)
    first = TrainConfig(steps=30, lr=1e-2, warmup=5, weight_decay=0.1, clip=1.0)
    other = first._replace(lr=3e-2, warmup=0, weight_decay=0.0, clip=0.0, b2=0.95)
    out = {}
    for name, cfg in (("first", first), ("other", other)):
        state = training.init_state(params, training.hyper_of(cfg))
        count = compiles_during(
            lambda s=state, n=name: out.setdefault(
                n, training.train_chunk(s, KEY, tokens, **shapes)
            )
        )
        out[name + "_compiles"] = count
    assert out["other_compiles"] == 0
    assert float(out["other"][1].lr[0]) == pytest.approx(3e-2)  # no warm-up: the peak at once
    assert not np.array_equal(out["first"][1].loss, out["other"][1].loss)


KEY = jax.random.key(7)


@pytest.fixture(scope="module")
def tiny_gpt_setup():
    model = TINY._replace(n_layers=1, d_model=8, d_ff=16)  # small: these tests compile a lot
    params = init_gpt(jax.random.key(0), model)
    tokens = jax.random.randint(jax.random.key(1), (300,), 0, model.vocab_size)  # (300,)
    return params, tokens, training.LMLoss(model)


def reference_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """The recipe built from optax's own aliases, with constant hyper-parameters."""
    lr = functools.partial(
        training.learning_rate, peak=cfg.lr, warmup=cfg.warmup, total=cfg.steps,
        final_fraction=cfg.final_lr_fraction,
    )  # fmt: skip
    clip = optax.clip_by_global_norm(cfg.clip) if cfg.clip > 0 else optax.identity()
    if cfg.optimizer == "adamw":
        step = optax.adamw(
            lr, cfg.b1, cfg.b2, weight_decay=cfg.weight_decay, mask=training.decay_mask
        )
    else:
        step = optax.chain(
            optax.add_decayed_weights(cfg.weight_decay, mask=training.decay_mask), optax.sgd(lr)
        )
    return optax.chain(clip, step)


def quadratic_params():
    rng = np.random.default_rng(0)
    return {
        "blocks": {"w": jnp.asarray(rng.normal(size=(2, 3, 3))), "g": jnp.ones((2, 3))},
        "tok": jnp.asarray(rng.normal(size=(5, 3))),
        "pos": jnp.asarray(rng.normal(size=(4, 3))),
    }


def target_at(t):
    """A batch that moves each step and is far away at step 2 (clipping bites there)."""
    return jnp.where(t == 2, 30.0, 0.1 * t)


def _cubic(params, target):
    return sum(jnp.sum((p - target) ** 4) / 4 for p in jax.tree.leaves(params))


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(steps=6, lr=0.05, warmup=2, weight_decay=0.1, clip=1.0),
        TrainConfig(steps=6, lr=0.05, warmup=0, weight_decay=0.0, clip=0.0, b1=0.8, b2=0.9),
        TrainConfig(steps=6, lr=0.01, warmup=3, weight_decay=0.5, clip=2.0, optimizer="sgd"),
    ],
    ids=["adamw-clip", "adamw-plain", "sgd"],
)
def test_train_step_takes_the_steps_of_optax_aliases_in_float64(cfg):
    with jax.enable_x64(True):
        ref_opt = reference_optimizer(cfg)
        mine = training.init_state(quadratic_params(), training.hyper_of(cfg, dtype=jnp.float64))
        ref, ref_state = quadratic_params(), ref_opt.init(quadratic_params())

        @jax.jit
        def both(mine, ref, ref_state, t):
            mine, aux = training.train_step(mine, target_at(t), loss_fn=_cubic)
            with jax.numpy_dtype_promotion("standard"):
                u, ref_state = ref_opt.update(jax.grad(_cubic)(ref, target_at(t)), ref_state, ref)
            return mine, aux, optax.apply_updates(ref, u), ref_state

        for t in range(cfg.steps):
            mine, aux, ref, ref_state = both(mine, ref, ref_state, jnp.asarray(t, jnp.float64))
            lr = schedule(t, peak=cfg.lr, warmup=cfg.warmup, total=cfg.steps,
                          final_fraction=cfg.final_lr_fraction)  # fmt: skip
            assert float(aux.lr) == pytest.approx(lr, rel=1e-12)
            for a, b in zip(jax.tree.leaves(mine.params), jax.tree.leaves(ref)):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_accumulated_micro_batches_take_the_large_batch_step_in_float64():
    """k micro-batches with accumulate=k: one update, equal to the step on their union."""
    with jax.enable_x64(True):
        model = TINY._replace(n_layers=1, d_model=8, d_ff=16)
        loss_fn = training.LMLoss(model)
        params = init_gpt(jax.random.key(0), model)
        tokens = jnp.arange(200) * 7 % model.vocab_size  # (200,) a fixed, varied text
        micro = [language.sample_batch(jax.random.key(10 + i), tokens, 3, 8) for i in range(4)]
        union = tuple(jnp.concatenate(parts) for parts in zip(*micro))  # (12, T) x2
        cfg = TrainConfig(steps=8, lr=0.01, warmup=1)
        step = jax.jit(training.train_step, static_argnames="loss_fn")

        big, _ = step(training.init_state(params, training.hyper_of(cfg, dtype=jnp.float64)),
                      union, loss_fn=loss_fn)  # fmt: skip
        state = training.init_state(params, training.hyper_of(cfg, accumulate=4, dtype=jnp.float64))
        for i, xy in enumerate(micro):
            before = state.params
            state, aux = step(state, xy, loss_fn=loss_fn)
            moved = any(not np.array_equal(a, b) for a, b in
                        zip(jax.tree.leaves(before), jax.tree.leaves(state.params)))  # fmt: skip
            assert moved == (i == 3)  # only the fourth micro-batch updates
            assert float(aux.lr) == pytest.approx(0.01 / 1)  # update 0 of warm-up 1
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(big.params)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_a_swept_row_is_a_plain_run_with_its_numbers(tiny_gpt_setup):
    """jax.vmap of the step over three recipes: each row equals its own run."""
    params, tokens, loss_fn = tiny_gpt_setup
    base = TrainConfig(steps=8, batch=4, context=8, lr=1e-2, warmup=2)
    configs = [(base, 1), (base._replace(lr=0.3, optimizer="sgd", clip=0.0), 1), (base, 2)]
    runs = sweep.stack([
        sweep.Run(training.hyper_of(c, accumulate=k), jnp.asarray(300, jnp.int32),
                  jnp.asarray(0, jnp.int32)) for c, k in configs
    ])  # fmt: skip
    val = language.eval_windows(np.asarray(tokens), 8, limit=4)
    shapes = dict(loss_fn=loss_fn, steps=8, batch=4, context=8, evals=2)
    final, history = sweep.train_sweep(params, runs, KEY, tokens, val, **shapes)
    keys = jax.random.split(jax.random.split(KEY)[0], 8)  # the sweep's batch keys

    @jax.jit
    def plain(state):
        def body(state, k):
            xy = language.sample_batch(jax.random.fold_in(k, 0), tokens, 4, 8)
            return training.train_step(state, xy, loss_fn=loss_fn)

        return jax.lax.scan(body, state, keys)

    for row, (cfg, k) in enumerate(configs):
        state, aux = plain(training.init_state(params, training.hyper_of(cfg, accumulate=k)))
        np.testing.assert_allclose(history.aux.loss[row], aux.loss, rtol=2e-5, atol=1e-6)
        # atol: the key bias has no gradient in exact arithmetic (softmax ignores a shift
        # shared by all keys), so Adam turns float32 rounding into steps of about 1e-6.
        for a, b in zip(jax.tree.leaves(final.params), jax.tree.leaves(state.params)):
            np.testing.assert_allclose(a[row], b, rtol=1e-4, atol=1e-5)
