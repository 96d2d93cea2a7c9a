"""training: the schedule, the decay mask, clipping, the compiled loop, checkpoints, FLOPs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trinity_foundations import language, training
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


def test_schedule_warms_up_linearly_then_follows_the_cosine():
    cfg = TrainConfig(steps=100, lr=1e-2, warmup=10, final_lr_fraction=0.1)
    lr = [float(training.learning_rate(jnp.asarray(s), config=cfg)) for s in range(101)]
    assert lr[:10] == pytest.approx([1e-2 * (s + 1) / 10 for s in range(10)], rel=1e-6)
    assert lr[10] == pytest.approx(1e-2, rel=1e-6)  # the peak, where the cosine starts
    t = (55 - 10) / 90
    assert lr[55] == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))), rel=1e-5)
    assert lr[100] == pytest.approx(1e-3, rel=1e-5)
    assert all(b <= a + 1e-9 for a, b in zip(lr[10:], lr[11:]))


def test_no_warmup_starts_at_the_peak():
    cfg = TrainConfig(steps=10, lr=0.5, warmup=0)
    assert float(training.learning_rate(jnp.asarray(0), config=cfg)) == pytest.approx(0.5)


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
    state = training.init_state(params, config=cfg)
    new, aux = training.train_step(state, target, config=cfg, loss_fn=_quadratic)
    step = np.asarray(new.params["w"])
    assert float(aux.grad_norm) == pytest.approx(math.sqrt(506), rel=1e-6)
    assert np.linalg.norm(step) == pytest.approx(0.1 * 0.5, rel=1e-5)
    np.testing.assert_allclose(step / np.linalg.norm(step), target / np.linalg.norm(target), 1e-5)
    assert int(new.step) == 1 and float(aux.loss) == pytest.approx(0.5 * 506)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        training.optimizer(TrainConfig(optimizer="lion"))


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
    state = training.init_state(init_gpt(jax.random.key(0), TINY), config=cfg)
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


def test_initial_loss_is_close_to_log_vocab():
    model = GPTConfig(vocab_size=65, context=16, d_model=32, n_layers=2, n_heads=4, d_ff=128)
    params = init_gpt(jax.random.key(5), model)
    x = jax.random.randint(jax.random.key(6), (16, 16), 0, 65)  # (16, 16)
    y = jax.random.randint(jax.random.key(7), (16, 16), 0, 65)  # (16, 16)
    assert float(training.LMLoss(model)(params, (x, y))) == pytest.approx(math.log(65), abs=0.05)


def test_checkpoint_round_trip_is_exact(tmp_path):
    params = init_gpt(jax.random.key(8), TINY)
    config = {"model": TINY._asdict(), "vocab": "abc\n", "val_loss": 1.5}
    path = tmp_path / "sub" / "ckpt.npz"
    training.save_checkpoint(path, params, config)
    loaded, cfg = training.load_checkpoint(path)
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
