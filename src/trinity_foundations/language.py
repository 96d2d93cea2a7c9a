"""Character-level language modelling: vocabulary, split, batches, baselines, loss.

A character language model predicts the next character from the ones before
it. Everything it is measured against lives here: the vocabulary (the sorted
distinct characters of the text), a contiguous 90/10 train/validation split
(contiguous, so validation text is text the model never saw, not shuffled
neighbours of training text), random training windows drawn from a key, the
cross-entropy in nats, and three count-based baselines on the same split —
uniform (ln V), unigram and bigram with add-one (Laplace) smoothing. A model
that cannot beat the bigram has learnt nothing a table of pair counts does
not already know.

References:
    Shannon, "Prediction and entropy of printed English" (1951),
    https://doi.org/10.1002/j.1538-7305.1951.tb01366.x
    Jurafsky & Martin, "Speech and Language Processing", ch. 3 (n-gram models,
    Laplace smoothing), https://web.stanford.edu/~jurafsky/slp3/
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Vocab(NamedTuple):
    """The sorted distinct characters of a text; a token is an index into `chars`."""

    chars: str

    @property
    def size(self) -> int:
        return len(self.chars)


def build_vocab(text: str) -> Vocab:
    """The vocabulary of `text`: its distinct characters, sorted by code point."""
    return Vocab("".join(sorted(set(text))))


def encode(vocab: Vocab, text: str) -> np.ndarray:
    """Token ids of `text`, shape (len(text),) int32; a character outside the vocabulary
    raises KeyError (a character model has no unknown token)."""
    index = {c: i for i, c in enumerate(vocab.chars)}
    return np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))


def decode(vocab: Vocab, tokens) -> str:
    """The text of token ids `tokens` (any integer sequence or array, shape (n,))."""
    return "".join(vocab.chars[int(t)] for t in np.asarray(tokens).reshape(-1))


def split(tokens: np.ndarray, train_fraction: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(train, val): the first `train_fraction` of `tokens` (shape (n,)) and the rest,
    contiguous, in order."""
    cut = int(len(tokens) * train_fraction)
    return tokens[:cut], tokens[cut:]


def sample_batch(key: jax.Array, tokens: jax.Array, batch: int, context: int, length=None):
    """`batch` random windows of `tokens` (shape (n,)) and their next-token targets.

    Start positions are uniform over every window that fits in the first
    `length` tokens (all n by default; `length` may be traced, so runs that
    train on different slices of a text share one program); the target of
    x[b, t] is the character after it, so y is x shifted left by one.

    Returns:
        x: (batch, context) int32 inputs; y: (batch, context) int32 targets.
    """
    n = tokens.shape[0] if length is None else length
    starts = jax.random.randint(key, (batch,), 0, n - context)  # (B,)
    offsets = jnp.arange(context + 1)  # (T+1,)
    windows = tokens[starts[:, None] + offsets[None, :]]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)


def eval_windows(tokens: np.ndarray, context: int, limit: int | None = None):
    """Non-overlapping windows of `tokens` (shape (n,)), for evaluation.

    Every target in the returned windows is scored once; the tail shorter
    than a window is left out. `limit` keeps at most that many windows,
    spread evenly over the whole text: the first few windows of a play are
    its cast list, which no later line resembles.

    Returns:
        x: (W, context) int32, y: (W, context) int32 with W = (n - 1) // context
        (or `limit`, when smaller).
    """
    count = (len(tokens) - 1) // context
    if count < 1:
        raise ValueError(f"{len(tokens)} tokens hold no window of {context} + 1")
    x = np.asarray(tokens[: count * context]).reshape(count, context)  # (W, T)
    y = np.asarray(tokens[1 : count * context + 1]).reshape(count, context)  # (W, T)
    if limit is not None and limit < count:
        keep = np.linspace(0, count - 1, limit).round().astype(int)  # (limit,) evenly spaced
        x, y = x[keep], y[keep]  # (limit, T) each
    return x, y


@jax.jit
def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean negative log-likelihood of `targets` in nats, from a stable log-softmax.

    Args:
        logits: (..., V) unnormalised scores; targets: (...) integer ids.
    Returns:
        () the mean over every position of -log softmax(logits)[target].
    """
    logp = jax.nn.log_softmax(logits, axis=-1)  # (..., V)
    picked = jnp.take_along_axis(logp, targets[..., None], axis=-1)  # (..., 1)
    return -jnp.mean(picked)


def uniform_loss(vocab_size: int) -> float:
    """Cross-entropy of the uniform guess over `vocab_size` tokens: ln V nats."""
    return math.log(vocab_size)


def unigram_loss(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Validation cross-entropy of add-one smoothed character frequencies of `train`.

    p(c) = (count(c) + 1) / (N + V); `train`, `val` are (n,) token ids.
    """
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0  # (V,)
    logp = np.log(counts / counts.sum())  # (V,)
    return float(-logp[val].mean())


def bigram_counts(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """(V, V) counts of each (previous, next) pair of consecutive tokens (shape (n,))."""
    pairs = tokens[:-1].astype(np.int64) * vocab_size + tokens[1:]  # (n-1,)
    return np.bincount(pairs, minlength=vocab_size * vocab_size).reshape(vocab_size, vocab_size)


def bigram_loss(train: np.ndarray, val: np.ndarray, vocab_size: int, add: float = 1.0) -> float:
    """Validation cross-entropy of the add-k smoothed bigram p(next | previous).

    p(b | a) = (count(a, b) + k) / (count(a, ·) + k·V) with k = `add` (add-one
    by default), counted on `train` and scored on every consecutive pair of
    `val` (both (n,) token ids).
    """
    counts = bigram_counts(train, vocab_size).astype(np.float64) + add  # (V, V)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))  # (V, V) rows sum to 1
    return float(-logp[val[:-1], val[1:]].mean())


def perplexity(loss_nats: float) -> float:
    """exp(loss): the size of a uniform choice as uncertain as the model."""
    return math.exp(loss_nats)
