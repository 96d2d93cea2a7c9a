"""Practice for Lesson 23 — numbers with fewer bits.

Write quantize_symmetric, nf4_levels: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=23
    python -m trinity_foundations.practice 23 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/23_fewer_bits.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def quantize_symmetric(w, bits=8, per_channel=False):
    """Symmetric b-bit quantization of a weight matrix used as x @ w.

    The scale s = max|w| / qmax with qmax = 2**(bits - 1) - 1 (127 for int8),
    over the whole matrix, or over each output channel (column) when
    per_channel; a scale of 0 (an all-zero column) is taken as 1 / qmax.
    The codes are round(w / s) clipped to [-qmax, qmax].

    Args:
      w: (d_in, d_out) float32.
      bits: 2 to 8.
      per_channel: one scale per column instead of one for the matrix.
    Returns:
      (codes, scale): codes (d_in, d_out) int8; scale (1, d_out) float32 when
      per_channel, else (1, 1).
    """
    raise NotImplementedError


def nf4_levels(offset=0.9677083):
    """QLoRA's NormalFloat-4 codebook.

    Eight positive levels: the standard normal's quantiles (its inverse CDF,
    jax.scipy.special.ndtri) at jnp.linspace(offset, 0.5, 9)[:-1]; seven
    negative ones: minus the quantiles at jnp.linspace(offset, 0.5, 8)[:-1];
    and 0. Sorted ascending and divided by the largest, so they span [-1, 1].

    Args:
      offset: the top probability, a float in (0.5, 1).
    Returns:
      (16,) float32, ascending, from -1 to 1, with an exact 0.
    """
    raise NotImplementedError
