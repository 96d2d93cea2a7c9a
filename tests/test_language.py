"""language: vocabulary, split, batches, cross-entropy and the count baselines."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trinity_foundations import language as lang

TEXT = "to be, or not to be: that is the question.\n"


def test_vocab_is_the_sorted_distinct_characters_and_round_trips():
    vocab = lang.build_vocab(TEXT)
    assert vocab.chars == "".join(sorted(set(TEXT))) and vocab.size == len(set(TEXT))
    ids = lang.encode(vocab, TEXT)
    assert ids.dtype == np.int32 and lang.decode(vocab, ids) == TEXT
    assert lang.decode(vocab, jnp.asarray(ids[:5])) == TEXT[:5]
    with pytest.raises(KeyError):
        lang.encode(vocab, "Z")


def test_split_is_contiguous_ninety_ten():
    tokens = np.arange(1000)
    train, val = lang.split(tokens)
    assert len(train) == 900 and len(val) == 100
    np.testing.assert_array_equal(np.concatenate([train, val]), tokens)


def test_batches_are_windows_and_their_shifted_targets():
    tokens = jnp.arange(50, dtype=jnp.int32) * 3
    x, y = lang.sample_batch(jax.random.key(0), tokens, 16, 7)
    assert x.shape == y.shape == (16, 7)
    assert bool(jnp.all(y[:, :-1] == x[:, 1:])) and bool(jnp.all(y[:, -1] == x[:, -1] + 3))
    assert bool(jnp.all(x[:, 1:] - x[:, :-1] == 3))  # contiguous windows of the text
    x2, _ = lang.sample_batch(jax.random.key(0), tokens, 16, 7)
    assert bool(jnp.all(x == x2))  # one key, one batch


def test_eval_windows_score_each_target_once():
    tokens = np.arange(23)
    x, y = lang.eval_windows(tokens, 5)
    assert x.shape == (4, 5)
    np.testing.assert_array_equal(x.ravel(), np.arange(20))
    np.testing.assert_array_equal(y.ravel(), np.arange(1, 21))
    x2, y2 = lang.eval_windows(tokens, 5, limit=2)  # the first and the last window
    np.testing.assert_array_equal(x2, x[[0, 3]])
    np.testing.assert_array_equal(y2, y[[0, 3]])
    assert lang.eval_windows(tokens, 5, limit=9)[0].shape == (4, 5)  # at most every window
    with pytest.raises(ValueError):
        lang.eval_windows(tokens[:3], 5)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 100.0), st.integers(0, 2**31 - 1))
def test_cross_entropy_equals_numpy_log_softmax(scale, seed):
    rng = np.random.default_rng(seed)  # one shape: one compile
    logits = jnp.asarray(scale * rng.standard_normal((3, 6, 9)), jnp.float32)  # (B, T, V)
    targets = jnp.asarray(rng.integers(0, 9, (3, 6)), jnp.int32)  # (B, T)
    l64 = np.asarray(logits, np.float64)
    logp = l64 - l64.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    expected = -np.take_along_axis(logp, np.asarray(targets)[..., None], -1).mean()
    assert float(lang.cross_entropy(logits, targets)) == pytest.approx(expected, rel=1e-5)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = jnp.array([[1e30, 0.0, -1e30]])  # (1, 3)
    assert float(lang.cross_entropy(logits, jnp.array([0]))) == 0.0
    assert math.isfinite(float(lang.cross_entropy(logits, jnp.array([1]))))


def test_bigram_baseline_equals_a_direct_count():
    rng = np.random.default_rng(0)
    train, val = rng.integers(0, 5, 300), rng.integers(0, 5, 60)
    counts = np.zeros((5, 5))
    for a, b in zip(train[:-1], train[1:]):
        counts[a, b] += 1
    np.testing.assert_array_equal(lang.bigram_counts(train, 5), counts)
    nll = [-math.log((counts[a, b] + 1) / (counts[a].sum() + 5)) for a, b in zip(val[:-1], val[1:])]
    assert lang.bigram_loss(train, val, 5) == pytest.approx(np.mean(nll), rel=1e-12)


def test_unigram_and_uniform_baselines():
    train, val = np.array([0, 0, 0, 1]), np.array([0, 1, 2])
    probs = np.array([4, 2, 1]) / 7  # add-one counts over V = 3
    assert lang.unigram_loss(train, val, 3) == pytest.approx(-np.log(probs).mean())
    assert lang.uniform_loss(67) == math.log(67)
    assert lang.perplexity(math.log(11.5)) == pytest.approx(11.5)


def test_bigram_loss_add_k_is_add_one_by_default_and_a_closed_form():
    train, val = np.array([0, 1, 0, 1, 1, 2]), np.array([0, 1, 2, 2])
    counts = np.zeros((3, 3))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    p = (counts + 0.1) / (counts + 0.1).sum(axis=1, keepdims=True)
    nll = -np.log(p[val[:-1], val[1:]])
    assert lang.bigram_loss(train, val, 3, 0.1) == pytest.approx(np.mean(nll), rel=1e-12)
    assert lang.bigram_loss(train, val, 3) == lang.bigram_loss(train, val, 3, 1.0)
