"""The transformer kernels against a float64 NumPy re-implementation and closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from trinity_foundations import transformer as tr

SMALL = tr.GPTConfig(vocab_size=13, context=8, d_model=16, n_layers=2, n_heads=4, d_ff=48)
VARIANTS = {  # between them: both MLPs, both norms, both layouts
    "gelu-layer-pre": SMALL,
    "swiglu-rms-post": SMALL._replace(mlp="swiglu", norm="rms", prenorm=False),
}


# --- a float64 NumPy transformer, written from the formulas ----------------------


def np_layer_norm(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def np_norm(p, x, cfg):
    if cfg.norm == "rms":
        return x / np.sqrt((x**2).mean(-1, keepdims=True) + cfg.eps) * p["gamma"]
    return np_layer_norm(x, p["gamma"], p["beta"], cfg.eps)


def np_softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_attention(p, x, n_heads):
    """Causal MHA head by head, with explicit loops: the slow, obvious way."""
    b, t, d = x.shape
    dh = d // n_heads
    q, k, v = (x @ p[f"w_{n}"] + p[f"b_{n}"] for n in "qkv")
    out = np.zeros_like(q)
    for h in range(n_heads):
        cols = slice(h * dh, (h + 1) * dh)
        for i in range(b):
            s = q[i, :, cols] @ k[i, :, cols].T / math.sqrt(dh)  # (T, T)
            s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
            out[i, :, cols] = np_softmax(s) @ v[i, :, cols]
    return out @ p["w_o"] + p["b_o"]


def np_gelu(z):
    return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))


def np_mlp(p, x, kind):
    if kind == "swiglu":
        g = x @ p["w_gate"]
        return (g / (1 + np.exp(-g)) * (x @ p["w_up"])) @ p["w_down"]
    return np_gelu(x @ p["w_fc"] + p["b_fc"]) @ p["w_proj"] + p["b_proj"]


def np_block(p, x, cfg):
    if cfg.prenorm:
        x = x + np_attention(p["attn"], np_norm(p["norm1"], x, cfg), cfg.n_heads)
        return x + np_mlp(p["mlp"], np_norm(p["norm2"], x, cfg), cfg.mlp)
    x = np_norm(p["norm1"], x + np_attention(p["attn"], x, cfg.n_heads), cfg)
    return np_norm(p["norm2"], x + np_mlp(p["mlp"], x, cfg.mlp), cfg)


def np_gpt(params, ids, cfg):
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    x = p["tok"][ids] + p["pos"][: ids.shape[1]]
    for layer in range(cfg.n_layers):
        x = np_block(jax.tree.map(lambda a, i=layer: a[i], p["blocks"]), x, cfg)
    return np_norm(p["norm_f"], x, cfg) @ p["tok"].T


def f64(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


@jax.jit
def _noisy(params, key, scale):
    leaves, tree = jax.tree.flatten(params)
    draws = jax.random.normal(key, (sum(leaf.size for leaf in leaves),), leaves[0].dtype)
    out, start = [], 0
    for leaf in leaves:  # one draw cut into pieces: one random kernel to compile, not one a leaf
        out.append(leaf + scale * draws[start : start + leaf.size].reshape(leaf.shape))
        start += leaf.size
    return jax.tree.unflatten(tree, out)


def random_block(cfg, seed=0, scale=0.3):
    """A block whose biases, gammas and betas are random too (init makes them 0 and 1)."""
    return _noisy(tr.init_block(jax.random.key(seed), cfg), jax.random.key(seed + 1), scale)


def random_x(cfg, b=2, t=7, seed=3):
    return jax.random.normal(jax.random.key(seed), (b, t, cfg.d_model))


# --- norms -------------------------------------------------------------------------


def test_layer_norm_matches_numpy_and_closed_form():
    x = jax.random.normal(jax.random.key(0), (3, 5, 16)) * 3 + 1
    g, b = jnp.linspace(0.5, 2, 16), jnp.linspace(-1, 1, 16)
    got = tr.layer_norm(x, g, b, 1e-5)
    np.testing.assert_allclose(got, np_layer_norm(f64(x), f64(g), f64(b), 1e-5), atol=1e-5)
    # gamma = 1, beta = 0: rows sum to 0 and have norm sqrt(d var / (var + eps))
    y = np.asarray(tr.layer_norm(x, jnp.ones(16), jnp.zeros(16), 0.5), np.float64)
    var = np.asarray(x, np.float64).var(-1)
    np.testing.assert_allclose(y.sum(-1), 0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.sqrt(16 * var / (var + 0.5)), 1e-5)


def test_rms_norm_matches_numpy():
    x = jax.random.normal(jax.random.key(1), (4, 16)) + 2
    g = jnp.linspace(0.5, 2, 16)
    want = f64(x) / np.sqrt((f64(x) ** 2).mean(-1, keepdims=True) + 1e-5) * f64(g)
    np.testing.assert_allclose(tr.rms_norm(x, g), want, rtol=1e-5)


# --- attention ---------------------------------------------------------------------


@settings(max_examples=5, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 6), h=st.sampled_from([1, 2, 4]), dh=st.integers(1, 5))
def test_split_then_merge_is_exact(b, t, h, dh):
    x = jnp.arange(b * t * h * dh, dtype=jnp.float32).reshape(b, t, h * dh)
    heads = tr.split_heads(x, h)
    assert heads.shape == (b, h, t, dh)
    assert np.array_equal(heads[:, 1 % h, :, 0], x[:, :, (1 % h) * dh])  # head j is columns j·dh..
    assert np.array_equal(tr.merge_heads(heads), x)


def test_causal_mask():
    m = np.asarray(tr.causal_mask(4))
    assert m.dtype == bool and np.array_equal(m, np.tril(np.ones((4, 4), bool)))


def test_attend_weights_are_causal_and_sum_to_one():
    q, k, v = jax.random.normal(jax.random.key(2), (3, 2, 3, 5, 4)) * 5
    out, w = tr.attend(q, k, v, tr.causal_mask(5))
    assert out.shape == (2, 3, 5, 4) and w.shape == (2, 3, 5, 5)
    assert np.all(np.asarray(w)[..., np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] == 0)
    np.testing.assert_allclose(w.sum(-1), 1, atol=1e-6)


def test_fully_masked_row_is_uniform_not_nan():
    q = jnp.ones((1, 1, 2, 3))
    _, w = tr.attend(q, q, q, jnp.array([[True, False], [False, False]]))
    np.testing.assert_allclose(w[0, 0, 1], [0.5, 0.5])


def test_causal_mha_equals_jax_dot_product_attention():
    cfg = SMALL
    p, x = random_block(cfg)["attn"], random_x(cfg)
    q, k, v = tr.qkv(p, x, cfg.n_heads)  # (B, H, T, dh)
    ours, _ = tr.attend(q, k, v, tr.causal_mask(x.shape[1]))
    bthd = [a.transpose(0, 2, 1, 3) for a in (q, k, v)]  # jax wants (B, T, N, H)
    theirs = jax.nn.dot_product_attention(*bthd, is_causal=True).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_attention_matches_numpy():
    p, x = random_block(SMALL)["attn"], random_x(SMALL)
    want = np_attention(f64(p), f64(x), SMALL.n_heads)
    np.testing.assert_allclose(tr.attention(p, x, n_heads=SMALL.n_heads), want, atol=1e-5)


# --- block and GPT -----------------------------------------------------------------


@pytest.mark.parametrize("name", VARIANTS)
def test_block_matches_float64_numpy(name):
    cfg = VARIANTS[name]
    p, x = random_block(cfg), random_x(cfg)
    got = tr.block(p, x, config=cfg)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, np_block(f64(p), f64(x), cfg), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", VARIANTS)
def test_gpt_forward_matches_float64_numpy(name):
    cfg = VARIANTS[name]
    params = tr.init_gpt(jax.random.key(4), cfg)
    params = jax.tree.map(lambda a: a * 10, params)  # big enough that every part matters
    ids = jax.random.randint(jax.random.key(5), (2, cfg.context), 0, cfg.vocab_size)
    got = tr.gpt_forward(params, ids, config=cfg)
    assert got.shape == (2, cfg.context, cfg.vocab_size)
    want = np_gpt(params, np.asarray(ids), cfg)
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=1e-5)


def test_block_gradients_in_float64():
    with jax.enable_x64(True):
        cfg = tr.GPTConfig(5, 3, 8, 1, 2, 16, mlp="swiglu")
        p, x = random_block(cfg), random_x(cfg, b=1, t=3)
        assert x.dtype == jnp.float64
        check_grads(lambda p, x: tr.block(p, x, config=cfg), (p, x), order=1, modes=("rev",))


@pytest.mark.parametrize("name", VARIANTS)
def test_changing_token_t_leaves_earlier_logits_bit_for_bit(name):
    cfg = VARIANTS[name]
    params = tr.init_gpt(jax.random.key(6), cfg)
    ids = jax.random.randint(jax.random.key(7), (1, cfg.context), 0, cfg.vocab_size)
    t = 5
    changed = ids.at[0, t].set((ids[0, t] + 1) % cfg.vocab_size)
    a, b = tr.gpt_forward(params, ids, config=cfg), tr.gpt_forward(params, changed, config=cfg)
    assert np.array_equal(a[:, :t], b[:, :t])
    assert np.abs(a[:, t:] - b[:, t:]).max() > 0  # the change is seen from t on


def test_teacher_forcing_equals_prefix_passes():
    cfg = SMALL
    params = tr.init_gpt(jax.random.key(8), cfg)
    ids = jax.random.randint(jax.random.key(9), (1, cfg.context), 0, cfg.vocab_size)
    full = tr.gpt_forward(params, ids, config=cfg)  # (1, T, V)
    for t in range(1, cfg.context + 1):
        prefix = tr.gpt_forward(params, ids[:, :t], config=cfg)
        np.testing.assert_allclose(prefix[0, -1], full[0, t - 1], atol=1e-6)


def test_init_statistics_and_layout():
    cfg = tr.GPTConfig(vocab_size=50, context=16, d_model=64, n_layers=4, n_heads=4, d_ff=256)
    p = tr.init_gpt(jax.random.key(10), cfg)
    assert p["blocks"]["attn"]["w_q"].shape == (4, 64, 64)
    assert p["blocks"]["mlp"]["w_proj"].shape == (4, 256, 64)
    assert np.std(p["tok"]) == pytest.approx(0.02, rel=0.1)
    assert np.std(p["blocks"]["attn"]["w_o"]) == pytest.approx(0.02 / math.sqrt(8), rel=0.1)
    assert np.all(p["blocks"]["attn"]["b_q"] == 0) and np.all(p["norm_f"]["gamma"] == 1)
    layers = [np.asarray(p["blocks"]["attn"]["w_q"][i]) for i in range(4)]
    assert not any(np.array_equal(layers[0], w) for w in layers[1:])  # no key reused
    assert not np.array_equal(p["blocks"]["attn"]["w_q"][0], p["blocks"]["attn"]["w_k"][0])
    again = tr.init_gpt(jax.random.key(10), cfg)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, p, again)))


@pytest.mark.parametrize("mlp, norm", [("gelu", "layer"), ("swiglu", "rms")])
def test_param_count_formulas(mlp, norm):
    d, f = 32, 128
    cfg = tr.GPTConfig(100, 10, d, 3, 4, f, mlp=mlp, norm=norm)
    p = jax.eval_shape(lambda k: tr.init_gpt(k, cfg), jax.random.key(0))  # shapes, no compile
    attn = 4 * d * d + 4 * d
    ff = 2 * d * f + f + d if mlp == "gelu" else 3 * d * f  # GELU 2df (+ biases), SwiGLU 3df
    norms = 2 * (2 * d if norm == "layer" else d)
    layer = tr.param_count(jax.eval_shape(lambda k: tr.init_block(k, cfg), jax.random.key(0)))
    assert tr.param_count(p["blocks"]) == 3 * layer
    assert layer == attn + ff + norms
    if mlp == "gelu":  # with f = 4d: GPT-2's layer, 12d² + 13d
        assert layer == 12 * d * d + 13 * d
    assert tr.param_count(p) == 100 * d + 10 * d + 3 * layer + norms // 2


def test_gpt2_small_param_count_from_shapes():
    cfg = tr.GPTConfig(50257, 1024, 768, 12, 12, 3072)
    shapes = jax.eval_shape(lambda k: tr.init_gpt(k, cfg), jax.random.key(0))
    assert tr.param_count(shapes) == 124_439_808  # GPT-2 small, tied output


def test_jitted_forward_does_not_recompile():
    cfg = SMALL
    params = tr.init_gpt(jax.random.key(11), cfg)
    ids = jnp.zeros((2, cfg.context), jnp.int32)
    other, short = ids + 1, ids[:, :3]  # made before counting: eager ops compile too
    tr.gpt_forward(params, ids, config=cfg).block_until_ready()
    compiles = []

    def listener(name, *_, **__):
        if name == "/jax/core/compile/backend_compile_duration":
            compiles.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        tr.gpt_forward(params, other, config=cfg).block_until_ready()
        tr.gpt_forward(params, other, config=cfg._replace()).block_until_ready()  # equal config
        assert compiles == []
        tr.gpt_forward(params, short, config=cfg).block_until_ready()  # a new shape does
        assert compiles
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_bad_width_is_refused():
    with pytest.raises(ValueError, match="multiple"):
        tr.init_block(jax.random.key(0), SMALL._replace(n_heads=3))
