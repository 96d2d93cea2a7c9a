"""decoding: the masks (ties included), Gumbel-max, χ², repetition and the KV cache."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trinity_foundations import decoding as dec
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt

# Ten logits from a few values, so that ties are common (one length: one compile per k).
LOGITS = st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]), min_size=10, max_size=10)


@settings(max_examples=200, deadline=None)
@given(LOGITS, st.data())
def test_top_k_keeps_exactly_the_tokens_at_or_above_the_kth_largest(values, data):
    k = data.draw(st.integers(1, len(values)))
    kth = sorted(values, reverse=True)[k - 1]
    expected = [v >= kth for v in values]
    assert np.asarray(dec.top_k_mask(jnp.array(values), k)).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(LOGITS, st.floats(0.01, 1.0))
def test_top_p_keeps_a_token_when_the_likelier_ones_hold_less_than_p(values, p):
    logits = np.array(values, np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    above = np.array([probs[probs > q].sum() for q in probs])  # mass strictly more likely
    assume(np.all(np.abs(above - p) > 1e-5))  # float32 cannot settle a boundary this close
    expected = (above < p).tolist()
    assert np.asarray(dec.top_p_mask(jnp.array(values, jnp.float32), p)).tolist() == expected


def test_top_p_of_one_keeps_everything_and_a_tiny_p_the_mode():
    logits = jnp.array([0.0, 2.0, 1.0, 2.0])  # a tie for the mode
    assert np.asarray(dec.top_p_mask(logits, 1.0)).all()
    assert np.asarray(dec.top_p_mask(logits, 1e-6)).tolist() == [False, True, False, True]


def test_filter_scales_by_temperature_and_masks_with_minus_infinity():
    logits = jnp.array([1.0, 2.0, 3.0, 4.0])
    out = dec.filter_logits(logits, sampler=dec.Sampler(temperature=2.0, top_k=2))
    assert np.asarray(out).tolist() == [-np.inf, -np.inf, 1.5, 2.0]
    assert float(dec.entropy(out)) == pytest.approx(
        -sum(p * math.log(p) for p in np.exp([1.5, 2.0]) / np.exp([1.5, 2.0]).sum())
    )


def test_entropy_of_uniform_is_log_v():
    assert float(dec.entropy(jnp.zeros(7))) == pytest.approx(math.log(7))


def test_gumbel_max_is_exactly_jax_categorical():
    logits = 3 * jax.random.normal(jax.random.key(0), (4, 30))  # (4, 30)
    keys = jax.random.split(jax.random.key(1), 300)
    via_cat = jax.vmap(lambda k: jax.random.categorical(k, logits))(keys)  # (300, 4)
    via_gumbel = jax.vmap(lambda k: dec.gumbel_argmax(k, logits))(keys)  # (300, 4)
    np.testing.assert_array_equal(via_cat, via_gumbel)


def test_top_k_one_is_greedy():
    keys = jax.random.split(jax.random.key(2), 50)
    logits = jax.random.normal(jax.random.key(3), (50, 20))  # (50, 20) no ties, surely
    picks = jax.vmap(lambda k, row: dec.choose(k, row, sampler=dec.Sampler(top_k=1))[0])(
        keys, logits
    )
    np.testing.assert_array_equal(picks, jnp.argmax(logits, axis=-1))


def test_chi2_survival_function_closed_forms():
    for x in (0.1, 1.0, 4.6, 20.0):
        assert dec.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-5)
        assert dec.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-4)


def test_chi2_test_pools_rare_categories():
    counts = np.array([50, 30, 15, 3, 2])
    probs = np.array([0.5, 0.3, 0.15, 0.03, 0.02])  # expected 50, 30, 15, 3, 2: pool the last two
    stat, dof, p = dec.chi2_test(counts, probs)
    assert stat == 0.0 and dof == 3 and p == pytest.approx(1.0)
    stat, dof, _ = dec.chi2_test(np.array([60, 40]), np.array([0.5, 0.5]))
    assert stat == pytest.approx(4.0) and dof == 1


@pytest.mark.parametrize("counts, dof", [([100, 0, 0], 0), ([4, 0, 0], -1)])
def test_chi2_test_with_too_few_cells_has_no_p_value(counts, dof):
    # one cell (dof 0) or none big enough (dof -1): p was reported as 1.000
    _, got, p = dec.chi2_test(np.array(counts), np.array([0.98, 0.01, 0.01]))
    assert got == dof and math.isnan(p)


def test_draws_match_the_softmax():
    logits = jnp.array([2.0, 1.0, 0.0, -1.0, 0.5])
    draws = jax.random.categorical(jax.random.key(4), logits, shape=(20_000,))
    counts = np.bincount(np.asarray(draws), minlength=5)
    _, dof, p = dec.chi2_test(counts, np.asarray(jax.nn.softmax(logits), np.float64))
    assert dof == 4 and p > 0.001


def test_repeated_ngram_share():
    assert dec.repeated_ngram_share([1, 2, 3, 1, 2, 3], 3) == pytest.approx(0.25)
    assert dec.repeated_ngram_share([1, 2, 3, 4], 2) == 0.0
    assert dec.repeated_ngram_share([1, 2], 4) == 0.0
    assert dec.repeated_ngram_share([7] * 10, 4) == pytest.approx(1 - 1 / 7)


MODEL = GPTConfig(vocab_size=11, context=16, d_model=16, n_layers=2, n_heads=4, d_ff=32)
# Cached against full-pass logits (about 2 in size): float32 sums taken in another order,
# amplified by the weights scaled up below. Measured: 6.2e-6 on a CPU at XLA's default
# optimisation, 2.0e-5 with LLVM's turned off (as the suite runs), 5.7e-5 on an H200.
CACHE_TOL = 1e-4


@pytest.fixture(scope="module")
def params():
    """A tiny GPT with weights scaled up, so its logits vary a lot along the sequence."""
    p = init_gpt(jax.random.key(5), MODEL)
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(a) * (10 if a.ndim >= 2 else 1)), p)


def test_cached_logits_equal_full_recompute(params):
    ids = jax.random.randint(jax.random.key(6), (2, 12), 0, MODEL.vocab_size)  # (2, 12)
    full = gpt_forward(params, ids, config=MODEL)  # (2, 12, V)
    logits, cache = dec.cached_forward(params, ids[:, :5], dec.init_cache(MODEL, 2), config=MODEL)
    rows = [logits]
    for t in range(5, 12):  # one token at a time after a 5-token prefill
        step, cache = dec.cached_forward(params, ids[:, t : t + 1], cache, config=MODEL)
        rows.append(step)
    cached = jnp.concatenate(rows, axis=1)  # (2, 12, V)
    assert int(cache.length) == 12
    assert float(jnp.max(jnp.abs(cached - full))) <= CACHE_TOL
    last = dec.recompute_logits(
        params, jnp.pad(ids, ((0, 0), (0, 4))), jnp.asarray(12), config=MODEL
    )
    assert float(jnp.max(jnp.abs(last - full[:, -1]))) <= CACHE_TOL


def test_cached_and_windowed_greedy_generation_agree(params):
    prompt = jnp.array([3, 1, 4], jnp.int32)
    greedy = dec.Sampler(temperature=0.0)
    key = jax.random.key(7)
    tokens, ents, seen = dec.generate(
        params, prompt[None], key, config=MODEL, sampler=greedy, steps=13
    )
    window, _ = dec.generate_window(params, prompt, key, config=MODEL, sampler=greedy, steps=13)
    np.testing.assert_array_equal(tokens[0], window)
    assert float(jnp.max(ents)) == 0.0 and seen.shape == (1, 13, MODEL.vocab_size)
    full = gpt_forward(params, jnp.concatenate([prompt[None], tokens], 1), config=MODEL)
    assert float(jnp.max(jnp.abs(seen - full[:, 2:15]))) <= CACHE_TOL


def test_window_generation_runs_past_the_context_and_sampling_depends_on_the_key(params):
    prompt = jnp.array([0], jnp.int32)
    sampler = dec.Sampler()
    a, _ = dec.generate_window(
        params, prompt, jax.random.key(8), config=MODEL, sampler=sampler, steps=40
    )
    b, _ = dec.generate_window(
        params, prompt, jax.random.key(8), config=MODEL, sampler=sampler, steps=40
    )
    c, _ = dec.generate_window(
        params, prompt, jax.random.key(9), config=MODEL, sampler=sampler, steps=40
    )
    assert a.shape == (40,) and bool(jnp.all(a == b)) and not bool(jnp.all(a == c))


def test_cache_size_from_shapes():
    cache = dec.init_cache(MODEL, 3)
    assert cache.k.shape == (2, 3, 4, 16, 4)
    assert dec.cache_bytes(cache) == 2 * 2 * 3 * 4 * 16 * 4 * cache.k.dtype.itemsize


def test_loop_start_finds_the_tail_that_repeats():
    assert dec.loop_start([1, 2, 3, 4, 5, 6]) is None
    assert dec.loop_start([9, 9, 9], min_length=3) == (0, 1)
    assert dec.loop_start([5, 1, 2, 1, 2, 1, 2, 1], min_length=6) == (1, 2)  # 1 2 from index 1
    assert dec.loop_start([7, 3, 4, 5, 3, 4, 5], min_length=6) is None  # twice: not yet a loop
    assert dec.loop_start(list("ab" + "\n" * 30)) == (2, 1)  # a sample gone to blank lines
    assert dec.loop_start(list("So fair and foul a day..." * 1)) is None  # '...' is no loop
    assert dec.loop_start(list("xy" + "the " * 8)) == (2, 4)
