"""Practice for Lesson 16 — the full pre-norm transformer block.

Write layer_norm, rms_norm, causal_mask: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=16
    python -m trinity_foundations.practice 16 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/16_transformer_block.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def layer_norm(x, gamma, beta, eps=1e-5):
    """LayerNorm over the last axis: γ · (x − μ) / sqrt(σ² + ε) + β.

    μ and σ² are the mean and the biased variance (divide by d) of each row;
    ε goes INSIDE the square root.

    Args:
      x: (T, d) float32.
      gamma, beta: (d,) float32 scale and shift.
      eps: a small float.
    Returns:
      (T, d) float32.
    """
    raise NotImplementedError


def rms_norm(x, gamma, eps=1e-5):
    """RMSNorm over the last axis: γ · x / sqrt(mean(x²) + ε).

    Args:
      x: (T, d) float32.
      gamma: (d,) float32 scale.
      eps: a small float, inside the square root.
    Returns:
      (T, d) float32.
    """
    raise NotImplementedError


def causal_mask(t):
    """The causal attention mask for t tokens.

    Args:
      t: an int >= 1.
    Returns:
      (t, t) bool, True at [i, j] when query i may attend to key j (j <= i).
    """
    raise NotImplementedError
