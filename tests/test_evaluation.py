"""The evaluation kernels against float64 NumPy references and hand-counted texts."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trinity_foundations import evaluation as ev
from trinity_foundations import language as lang
from trinity_foundations import macbeth
from trinity_foundations import training as tr


def np_block_means(losses: np.ndarray, idx: np.ndarray, block: int) -> np.ndarray:
    """The reference: block means in float64, then the mean of each resample."""
    count = len(losses) // block
    means = losses[: count * block].astype(np.float64).reshape(count, block).mean(axis=1)
    return means[idx].mean(axis=1)


LOSSES = np.random.default_rng(0).gamma(2.0, 1.0, size=103).astype(np.float32)  # (103,)


@pytest.mark.parametrize("block", [1, 4, 10])
def test_block_bootstrap_means_match_numpy(block):
    count = len(LOSSES) // block
    idx = np.random.default_rng(1).integers(0, count, size=(50, count))  # (50, count)
    got = ev.block_bootstrap_means(jnp.asarray(LOSSES), jnp.asarray(idx), block)
    np.testing.assert_allclose(got, np_block_means(LOSSES, idx, block), rtol=1e-5)


def test_block_bootstrap_with_a_fixed_key_matches_numpy_on_its_indices():
    key = jax.random.key(3)
    got = ev.block_bootstrap(key, jnp.asarray(LOSSES), block=10, draws=200)  # (200,)
    idx = np.asarray(ev.resample_indices(key, 10, 200))  # (200, 10)
    assert idx.min() >= 0 and idx.max() <= 9
    np.testing.assert_allclose(got, np_block_means(LOSSES, idx, 10), rtol=1e-5)
    low, high = ev.percentile_interval(got, 0.9)
    want = np.quantile(np.asarray(got, np.float64), [0.05, 0.95])
    np.testing.assert_allclose([low, high], want, rtol=1e-5)
    assert low <= float(np.mean(LOSSES[:100])) <= high


def test_a_constant_loss_has_an_interval_of_zero_width():
    means = ev.block_bootstrap(jax.random.key(0), jnp.full((64,), 2.0), block=8, draws=100)
    assert ev.percentile_interval(means) == (2.0, 2.0)


def test_ngram_overlap_by_hand():
    assert ev.ngrams("abcab", 2) == {"ab", "bc", "ca"}
    assert ev.ngram_overlap("abcab", "abcd", 2) == pytest.approx(2 / 3)  # ab, bc of ab bc cd
    assert ev.ngram_overlap("abcab", "ababab", 2) == pytest.approx(3 / 5)  # ab ×3 of 5
    assert ev.ngram_overlap("abc", "abc", 3) == 1.0
    assert ev.ngram_overlap("abc", "ab", 3) == 0.0  # too short to hold one
    assert ev.ngram_overlap("xyz", "abc", 1) == 0.0


def test_near_lines_ignore_case_and_punctuation():
    assert ev.normalize_line("  [Exit  MACBETH.] ") == "exit macbeth"
    assert ev.normalize_line("--!") == ""


def test_duplicates_by_hand():
    text = "Exit.\n[Exit.]\nexit\n  Exit.\n\nHello\n--\n--\n"
    d = ev.duplicates(text)
    assert d.lines == 7  # blank lines skipped
    assert d.exact == 2  # the second "Exit." and the second "--"
    assert d.near == 3  # four lines read "exit"; "--" reads as nothing and is skipped
    assert d.top == [("Exit.", 2), ("--", 2)]


def test_duplicates_of_macbeth_match_a_plain_count():
    text = macbeth.read_text()
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    assert ev.duplicates(text).exact == len(lines) - len(set(lines))


def test_documents_are_the_blocks_between_blank_lines():
    assert ev.documents("A.\nline\n\n\nB.\n \nC.\n") == ["A.\nline", "B.", "C."]


def test_padding_and_packing_waste_by_hand():
    lengths = [3, 5, 9]  # 17 tokens; rows of 4
    assert ev.padding_waste(lengths, 4) == pytest.approx(7 / 24)  # 1 + 2 + 3 rows
    assert ev.packed_waste(lengths, 4) == pytest.approx(3 / 20)  # 5 rows
    assert ev.padding_waste([4, 8], 4) == 0.0 == ev.packed_waste([4, 8], 4)
    assert ev.padding_waste([], 4) == 0.0 == ev.packed_waste([], 4)
    assert ev.packed_waste(lengths, 64) <= ev.padding_waste(lengths, 64)


def test_token_losses_average_to_the_training_loss(tiny_gpt):
    tokens = lang.encode(tiny_gpt.vocab, tiny_gpt.text[:400])
    x, y = lang.eval_windows(tokens, tiny_gpt.model.context)  # (W, T) each
    per = ev.token_losses(tiny_gpt.params, jnp.asarray(x), jnp.asarray(y), model=tiny_gpt.model)
    assert per.shape == (x.size,) and bool(jnp.all(per > 0))
    whole = tr.LMLoss(tiny_gpt.model)(tiny_gpt.params, (jnp.asarray(x), jnp.asarray(y)))
    assert math.isclose(float(jnp.mean(per)), float(whole), rel_tol=1e-5)
