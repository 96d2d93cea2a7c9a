"""Practice for Lesson 26 — knowing whether it worked: noise, error bars, leaks.

Write block_bootstrap_means, ngram_overlap: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=26
    python -m trinity_foundations.practice 26 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/26_evaluation.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def block_bootstrap_means(losses, idx, block):
    """The mean loss of each bootstrap resample of contiguous blocks.

    Cut `losses` into count = N // block blocks of `block` neighbours (leave
    out a tail shorter than a block) and average each block; resample d
    takes the blocks idx[d] (repeats allowed) and averages their means.

    Args:
      losses: (N,) float32 per-character losses, in the text's order.
      idx: (D, count) int32 block numbers, each from 0 to count - 1.
      block: an int >= 1, characters per block.
    Returns:
      (D,) float32, the mean of each resample.
    """
    raise NotImplementedError


def ngram_overlap(reference, text, n):
    """The share of `text`'s n-gram positions whose n-gram also occurs in `reference`.

    An n-gram is a run of n consecutive characters; text has
    len(text) - n + 1 of them. Count positions, not distinct n-grams: a
    phrase the text repeats ten times counts ten times.

    Args:
      reference, text: Python strings.
      n: an int >= 1.
    Returns:
      a Python float from 0 to 1; 0.0 when text is shorter than n.
    """
    raise NotImplementedError
