"""Practice for Lesson 20 — generating text.

Write top_p_filter, apply_temperature, top_k_filter: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=20
    python -m trinity_foundations.practice 20 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/20_decoding.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def top_p_filter(logits, p):
    """Keep the nucleus: the most likely tokens until their probability reaches p.

    Sort the probabilities (softmax of the logits) in decreasing order; keep
    a token when the tokens strictly before it hold less than p of the mass.
    So the token whose probability CROSSES p is kept, the most likely token
    is always kept, and tokens tied with a kept token are all kept.

    Args:
      logits: (V,) float32.
      p: a float in (0, 1].
    Returns:
      (V,) float32: the kept logits unchanged, every other entry −inf.
    """
    raise NotImplementedError


def apply_temperature(logits, temperature):
    """Scale the logits by 1 / temperature before sampling.

    Below 1 the distribution sharpens, above 1 it flattens. Temperature 0
    means greedy decoding: return the logits unchanged (the argmax is taken
    elsewhere) rather than dividing by zero. The temperature may be a traced
    value: choose with jnp.where, not with a Python if.

    Args:
      logits: (V,) float32.
      temperature: () float32 >= 0.
    Returns:
      (V,) float32.
    """
    raise NotImplementedError


def top_k_filter(logits, k):
    """Keep the k largest logits (and every logit equal to the k-th largest).

    Args:
      logits: (V,) float32.
      k: an int, 1 <= k <= V.
    Returns:
      (V,) float32: kept logits unchanged, the rest −inf.
    """
    raise NotImplementedError
