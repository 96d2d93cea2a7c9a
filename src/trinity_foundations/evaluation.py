"""Knowing whether it worked: noise, error bars, contamination and what the data wastes.

A validation loss is one number from one run on one stretch of text. Three
things decide whether it means what it seems to:

- Noise. The same recipe with another seed (other first weights, other
  batches) ends somewhere else; a difference between two recipes smaller
  than that spread says nothing. `train_runs` trains many seeds (and
  variants) of one GPT in ONE compiled program, `jax.vmap` over a table of
  keys and hyper-parameters, and returns each run's per-character losses on
  the whole validation text.
- Error bars. The validation text is a sample too. Neighbouring characters'
  losses are correlated (a hard name is hard for several characters), so
  resampling single characters understates the uncertainty; the bootstrap
  here resamples contiguous blocks (`block_bootstrap`). Two models scored on
  the SAME windows are compared by bootstrapping their per-character
  difference: what makes a window hard for one makes it hard for the other,
  and that shared part cancels.
- Contamination and data. Character n-grams of the validation text found in
  the training text (`ngram_overlap`), lines repeated exactly or nearly
  (`duplicates`), and the padding a batch of documents wastes against
  packing them end to end (`padding_waste`, `packed_waste`).

References:
    Efron & Tibshirani, "An Introduction to the Bootstrap" (1993), ch. 13 (percentile
    intervals); Künsch, "The Jackknife and the Bootstrap for General Stationary
    Observations" (1989), https://doi.org/10.1214/aos/1176347265 (blocks);
    Brown et al., "Language Models are Few-Shot Learners" (2020), appendix C
    (n-gram contamination), https://arxiv.org/abs/2005.14165;
    Lee et al., "Deduplicating Training Data Makes Language Models Better" (2022),
    https://arxiv.org/abs/2107.06499; Krell et al., "Efficient Sequence Packing
    without Cross-contamination" (2021), https://arxiv.org/abs/2107.02027
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from trinity_foundations.language import sample_batch
from trinity_foundations.training import Hyper, LMLoss, init_state, train_step
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt

# ----------------------------------------------------------------------------
# Many seeds of one recipe, in one program.


class Row(NamedTuple):
    """One training run; each leaf () for one run, (C,) for C runs."""

    key: jax.Array  # its key: first weights and batches (equal keys: equal both)
    hyper: Hyper  # the optimiser's numbers
    text: jax.Array  # int32: windows are drawn from the first `text` tokens


def token_losses(params: dict, x: jax.Array, y: jax.Array, *, model: GPTConfig) -> jax.Array:
    """The loss of every character of windows x, y (each (W, T) int32): (W·T,) nats,
    in the text's order when the windows are consecutive."""
    logits = gpt_forward(params, x, config=model)  # (W, T, V)
    logp = jax.nn.log_softmax(logits, axis=-1)  # (W, T, V)
    return -jnp.take_along_axis(logp, y[..., None], axis=-1).reshape(-1)  # (W·T,)


@partial(jax.jit, static_argnames=("model", "steps", "batch", "context"))
def train_runs(
    rows: Row, tokens: jax.Array, val_x: jax.Array, val_y: jax.Array, *,
    model: GPTConfig, steps: int, batch: int, context: int,
):  # fmt: skip
    """Train one GPT per row, all in one compiled program, and score each on validation.

    Each run draws its first weights and its `steps` micro-batches of
    (batch, context) from its own key, and takes `training.train_step` on
    each: the step lesson 19 trains with.

    Args:
      rows: a Row of (C,) leaves; tokens: (n,) int32 text the windows come from.
      val_x, val_y: (W, T) int32 consecutive validation windows.
    Returns:
      (loss (C, steps): each micro-batch's training loss,
       val (C, W·T): every validation character's loss after training).
    """
    loss_fn = LMLoss(model)

    def one(row: Row):
        k_init, k_steps = jax.random.split(row.key)
        state = init_state(init_gpt(k_init, model), row.hyper)

        def step(state, step_key):
            xy = sample_batch(step_key, tokens, batch, context, row.text)  # (B, T) x2
            return train_step(state, xy, loss_fn=loss_fn)

        state, aux = jax.lax.scan(step, state, jax.random.split(k_steps, steps))
        return aux.loss, token_losses(state.params, val_x, val_y, model=model)

    return jax.vmap(one)(rows)


# ----------------------------------------------------------------------------
# Error bars: the bootstrap over contiguous blocks.


def resample_indices(key: jax.Array, count: int, draws: int) -> jax.Array:
    """(draws, count) int32: each row `count` block numbers drawn with replacement."""
    return jax.random.randint(key, (draws, count), 0, count)


def block_bootstrap_means(losses: jax.Array, idx: jax.Array, block: int) -> jax.Array:
    """The mean loss of each resample of contiguous blocks.

    `losses` is cut into count = N // block blocks of `block` neighbours (a
    tail shorter than a block is left out); resample d takes the blocks
    idx[d] (with repeats) and averages their losses.

    Args:
      losses: (N,) per-character losses, in the text's order.
      idx: (D, count) int block numbers; block: characters per block.
    Returns:
      (D,) the mean of each resample.
    """
    count = losses.shape[0] // block
    means = losses[: count * block].reshape(count, block).mean(axis=1)  # (count,)
    return means[idx].mean(axis=1)  # (D, count) -> (D,)


@partial(jax.jit, static_argnames=("block", "draws"))
def block_bootstrap(key: jax.Array, losses: jax.Array, *, block: int, draws: int) -> jax.Array:
    """(draws,) bootstrap means of `losses` (N,), resampled in blocks of `block`."""
    idx = resample_indices(key, losses.shape[0] // block, draws)  # (D, count)
    return block_bootstrap_means(losses, idx, block)


def percentile_interval(means: jax.Array, level: float = 0.95) -> tuple[float, float]:
    """The central `level` share of bootstrap means (D,): (low, high)."""
    tail = (1 - level) / 2
    low, high = jnp.quantile(means, jnp.asarray([tail, 1 - tail], means.dtype))  # (2,)
    return float(low), float(high)


# ----------------------------------------------------------------------------
# Contamination: character n-grams shared by two texts.


def ngrams(text: str, n: int) -> set[str]:
    """Every distinct run of n consecutive characters of `text`."""
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def ngram_overlap(reference: str, text: str, n: int) -> float:
    """The share of `text`'s n-gram positions whose n-gram also occurs in `reference`.

    Counted by position, not by distinct n-gram: a phrase `text` repeats ten
    times counts ten times, as it would in a loss. 0.0 when `text` is
    shorter than n.
    """
    seen = ngrams(reference, n)
    total = len(text) - n + 1
    if total <= 0:
        return 0.0
    return sum(text[i : i + n] in seen for i in range(total)) / total


# ----------------------------------------------------------------------------
# The data: duplicate lines, and packing against padding.

_NOT_WORD = re.compile(r"[^a-z0-9 ]+")


def normalize_line(line: str) -> str:
    """A line as "near" compares it: lower case, only letters, digits and single spaces."""
    return " ".join(_NOT_WORD.sub(" ", line.lower()).split())


class Duplicates(NamedTuple):
    lines: int  # non-empty lines
    exact: int  # lines equal (after stripping the ends) to an earlier line
    near: int  # lines equal to an earlier one after normalize_line (exact ones included)
    top: list  # [(line, copies)] the most repeated lines, most first


def duplicates(text: str, top: int = 3) -> Duplicates:
    """Exact and near-duplicate lines of `text` (blank lines and lines of no letters skipped
    for near ones)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    near = [normalize_line(line) for line in lines]
    near = [line for line in near if line]
    counts = Counter(lines)
    return Duplicates(
        lines=len(lines),
        exact=len(lines) - len(counts),
        near=len(near) - len(set(near)),
        top=[(line, c) for line, c in counts.most_common(top) if c > 1],
    )


def documents(text: str) -> list[str]:
    """The blocks of `text` between blank lines (a speech, a stage direction, a heading)."""
    return [d.strip("\n") for d in re.split(r"\n\s*\n", text) if d.strip()]


def padding_waste(lengths: list[int], context: int) -> float:
    """The share of a padded batch's slots that hold padding.

    Each document gets rows of its own: ceil(length / context) rows of
    `context` slots, the last one padded.
    """
    rows = sum(math.ceil(n / context) for n in lengths)
    return 1 - sum(lengths) / (rows * context) if rows else 0.0


def packed_waste(lengths: list[int], context: int) -> float:
    """The share of slots left empty when the documents are packed end to end
    (only the last row is padded)."""
    total = sum(lengths)
    rows = math.ceil(total / context)
    return 1 - total / (rows * context) if rows else 0.0
