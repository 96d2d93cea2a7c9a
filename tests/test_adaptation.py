"""adaptation kernels against NumPy in float64, hand-made pairs and closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from trinity_foundations import adaptation as ad
from trinity_foundations import language as lang
from trinity_foundations import lowrank, macbeth
from trinity_foundations.transformer import gpt_forward, param_count

HAMLET = macbeth.DATA.parent / "hamlet.txt"


# ------------------------------------------------------------------ the second play


def test_hamlet_digits_become_one_existing_symbol():
    chars = lang.build_vocab(macbeth.read_text()).chars
    text = HAMLET.read_text(encoding="ascii")
    fitted, counts = ad.fit_vocabulary(text, chars, "I")
    assert counts == {"1": text.count("1"), "2": text.count("2")} and set(counts) == {"1", "2"}
    assert set(fitted) <= set(chars) and len(fitted) == len(text)
    assert fitted.count("I") == text.count("I") + sum(counts.values())
    assert "I Clown." in fitted and "1 Clown." not in fitted
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ad.fit_vocabulary(text, chars, "1")


# ------------------------------------------------------------------ LoRA


def rng(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize(("d_in", "d_out", "r"), [(4, 4, 1), (3, 5, 2), (6, 2, 3)])
def test_lora_weight_and_merge_match_numpy(d_in, d_out, r):
    x, w, a, b = (
        rng(2, 3, d_in),
        rng(d_in, d_out, seed=1),
        rng(r, d_in, seed=2),
        rng(r, d_out, seed=3),
    )
    alpha = 2.5
    want = x @ w + (alpha / r) * (x @ a.T) @ b  # float64
    with jax.enable_x64(True):
        adapters = lowrank.Adapters(jnp.asarray(a), jnp.asarray(b))
        got = jnp.asarray(x) @ ad.LoRAWeight(jnp.asarray(w), adapters, alpha)
        delta = ad.lora_delta(adapters, alpha)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(delta), (alpha / r) * a.T @ b, rtol=1e-12)


def test_lora_starts_as_the_base_and_merges_exactly(tiny_gpt):
    # rank 1, α = 1 and eight windows: the shapes lesson 25's tests run, so programs are shared
    p, model = tiny_gpt.params, tiny_gpt.model
    lora = ad.init_lora(jax.random.key(1), p, model, 1)
    assert all(float(jnp.abs(a.b).max()) == 0 for g in lora.values() for a in g.values())
    assert param_count(lora) == ad.lora_param_count(model, 1)
    assert set(lora) == {"attn", "mlp"} and set(lora["mlp"]) == {"w_fc", "w_proj"}
    x = jnp.asarray(lang.encode(tiny_gpt.vocab, tiny_gpt.text[:128])).reshape(8, 16)  # (8, T)
    base = gpt_forward(p, x, config=model)
    # B = 0 adds exactly 0; a GPU may still pick another matmul kernel for the changed
    # program, which rounds differently in the last bits
    ulps = 0 if jax.default_backend() == "cpu" else 1e-6
    lora_out = gpt_forward(ad.apply_lora(p, lora, 1.0), x, config=model)
    np.testing.assert_allclose(lora_out, base, atol=ulps)
    moved = jax.tree.map(lambda a: a + 0.3 * jnp.ones_like(a), lora)
    adapter = gpt_forward(ad.apply_lora(p, moved, 1.0), x, config=model)
    merged = ad.merge(p, moved, 1.0)
    assert float(jnp.max(jnp.abs(adapter - gpt_forward(merged, x, config=model)))) < 1e-4
    assert float(jnp.max(jnp.abs(adapter - base))) > 1e-3  # the adapters do change the model
    w = p["blocks"]["attn"]["w_q"]  # (L, d, d)
    ab = moved["attn"]["w_q"]
    want = np.asarray(w, np.float64) + np.einsum(
        "lri,lro->lio", np.asarray(ab.a, np.float64), np.asarray(ab.b, np.float64)
    )  # α/r = 1
    np.testing.assert_allclose(merged["blocks"]["attn"]["w_q"], want, rtol=1e-5, atol=1e-6)


def test_lora_shortfall():
    assert ad.lora_shortfall(2.05, 2.0) == 0.0
    assert ad.lora_shortfall(2.0, 2.1) == 0.0
    assert ad.lora_shortfall(2.25, 2.0) == pytest.approx(0.15)
    assert ad.lora_shortfall(2.25, 2.0, tolerance=0.3) == 0.0


# ------------------------------------------------------------------ the rule


def test_the_rule():
    assert ad.line_passes("Farewell.") and ad.line_passes("Ham?")
    assert not ad.line_passes("farewell.") and not ad.line_passes("Farewell")
    assert not ad.line_passes("") and not ad.line_passes("[Exit.]")
    assert ad.complete_lines("A.\n\nB,\nC") == ["A.", "B,"]
    assert ad.rule_passes("King.\nWe doubt it nothing.\nand")
    assert not ad.rule_passes("King.\nGiving to you\n")
    assert not ad.rule_passes("No newline at all.")
    assert ad.response_length("ab\ncd") == 3 and ad.response_length("abcd") == 4
    assert ad.pair_up([True, False, False, True, True]) == [(0, 1), (3, 2)]
    assert ad.pair_up([True, True]) == []
    assert ad.best_of_n_rate([False, False, True, False, False, False], 2) == pytest.approx(1 / 3)
    assert ad.best_of_n_rate([True], 2) != ad.best_of_n_rate([True], 2)  # no group: NaN


# ------------------------------------------------------------------ DPO


def np_dpo(pc, pr, rc, rr, beta):
    z = beta * ((pc - rc) - (pr - rr))
    return np.mean(np.log1p(np.exp(-z))), np.mean(z)


def test_dpo_loss_on_a_hand_made_pair():
    # log π(y⁺) = −3, log π(y⁻) = −5; the reference −4 for both: z = β·2
    pc, pr, rc, rr = (np.array([v]) for v in (-3.0, -5.0, -4.0, -4.0))
    with jax.enable_x64(True):
        loss, margin = ad.dpo_loss(*(jnp.asarray(v) for v in (pc, pr, rc, rr)), 0.5)
    assert float(loss) == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-12)
    assert float(margin) == pytest.approx(1.0, rel=1e-12)
    same = jnp.zeros(4)
    loss, margin = ad.dpo_loss(same, same, same, same, 3.0)
    assert float(loss) == pytest.approx(math.log(2)) and float(margin) == 0.0


def test_dpo_loss_matches_numpy_and_its_gradient():
    args = [rng(5, seed=s) for s in range(4)]
    with jax.enable_x64(True):
        got = ad.dpo_loss(*(jnp.asarray(a) for a in args), 0.7)
        check_grads(lambda *a: ad.dpo_loss(*a, 0.7)[0], [jnp.asarray(a) for a in args], order=1)
    np.testing.assert_allclose([float(g) for g in got], np_dpo(*args, 0.7), rtol=1e-12)


def test_sequence_logps_sum_and_mean_with_a_mask():
    logits, tokens = rng(2, 3, 4), np.array([[0, 3, 1], [2, 2, 0]])
    mask = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, tokens[..., None], -1)[..., 0]  # (2, 3)
    with jax.enable_x64(True):
        lp = ad.token_logps(jnp.asarray(logits), jnp.asarray(tokens))
        total, mean = ad.sequence_logps(lp, jnp.asarray(mask))
    np.testing.assert_allclose(lp, picked, rtol=1e-12)
    np.testing.assert_allclose(total, (picked * mask).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(mean, (picked * mask).sum(-1) / mask.sum(-1), rtol=1e-12)


def test_kl_per_sample_matches_numpy():
    p, q = rng(2, 3, 5), rng(2, 3, 5, seed=1)
    lp = p - np.log(np.exp(p).sum(-1, keepdims=True))
    lq = q - np.log(np.exp(q).sum(-1, keepdims=True))
    want = (np.exp(lp) * (lp - lq)).sum(axis=(-2, -1))
    with jax.enable_x64(True):
        got = ad.kl_per_sample(jnp.asarray(p), jnp.asarray(q))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert float(jnp.max(jnp.abs(ad.kl_per_sample(jnp.asarray(p), jnp.asarray(p) + 2.0)))) < 1e-5


def test_dpo_starts_at_log2_when_the_policy_is_the_reference(tiny_gpt):
    p, model = tiny_gpt.params, tiny_gpt.model
    ids = jnp.asarray(lang.encode(tiny_gpt.vocab, tiny_gpt.text[:64])).reshape(4, 16)  # (4, T)
    mask = jnp.ones((2, 16))
    lp = ad.token_logps(gpt_forward(p, ids, config=model), ids)  # (4, T) (inputs as targets)
    ref = jnp.stack(ad.sequence_logps(lp, jnp.ones((4, 16))))  # (2, 4)
    pairs = ad.Pairs(ids[:2], ids[:2], mask, ids[2:], ids[2:], mask, ref[:, :2], ref[:, 2:])
    loss, margin = ad.dpo_stats(p, (pairs, 1.0, 0.0), model=model)
    assert float(loss) == pytest.approx(math.log(2), abs=1e-5) and abs(float(margin)) < 1e-4
