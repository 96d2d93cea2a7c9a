"""Practice for Lesson 08 — SVD and LoRA: what a few directions of a matrix hold.

Write truncate, lora_forward, lora_merge: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=08
    python -m trinity_foundations.practice 08 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/08_lora_and_svd.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def truncate(w, rank):
    """The best rank-`rank` approximation of w, from its SVD.

    Args:
      w: (m, n) float32 matrix.
      rank: an int, 0 <= rank <= min(m, n).
    Returns:
      (m, n) float32: Σ over the `rank` LARGEST singular values of s_i u_i v_iᵀ.
    """
    raise NotImplementedError


def lora_forward(x, w0, a, b, alpha=1.0):
    """The LoRA layer on a batch of rows: x W₀ᵀ + (α/r) (x Aᵀ) B.

    Args:
      x: (N, D) float32 inputs, one per row.
      w0: (D, D) float32 frozen weights.
      a: (r, D) float32 down-projection A.
      b: (r, D) float32 up-projection B (stored (r, D), the transpose of the paper's).
      alpha: the scale; the update is multiplied by alpha / r.
    Returns:
      (N, D) float32. With b = 0 it equals x @ w0.T.
    """
    raise NotImplementedError


def lora_merge(w0, a, b, alpha=1.0):
    """The merged weight matrix W = W₀ + (α/r) Bᵀ A of a LoRA layer.

    After merging, x @ W.T equals lora_forward(x, w0, a, b, alpha) for every x.

    Args:
      w0: (D, D) float32 frozen weights.
      a: (r, D) float32 A; b: (r, D) float32 B (stored (r, D)).
      alpha: the scale; the update is multiplied by alpha / r.
    Returns:
      (D, D) float32.
    """
    raise NotImplementedError
