"""Practice for Lesson 15 — next-token prediction, step by step.

Write cross_entropy, bigram_counts: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=15
    python -m trinity_foundations.practice 15 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/15_autoregressive_lm.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401
import numpy as np  # noqa: F401


def cross_entropy(logits, targets):
    """The mean cross-entropy in nats of the targets under softmax(logits).

    Args:
      logits: (T, V) float32 scores, one row per position (may be ±1e4).
      targets: (T,) int32 the next token at each position.
    Returns:
      () float32, mean over positions of −log softmax(logits[t])[targets[t]];
      finite for huge logits.
    """
    raise NotImplementedError


def bigram_counts(tokens, vocab_size):
    """Count each (previous, next) pair of consecutive tokens.

    Args:
      tokens: (n,) int NumPy array of ids in [0, vocab_size).
      vocab_size: V.
    Returns:
      (V, V) int array; entry [a, b] counts the positions i with
      tokens[i] = a and tokens[i + 1] = b.
    """
    raise NotImplementedError
