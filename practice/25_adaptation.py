"""Practice for Lesson 25 — adapting a trained model.

Write dpo_loss, kl_per_sample: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=25
    python -m trinity_foundations.practice 25 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/25_adaptation.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def dpo_loss(pi_c, pi_r, ref_c, ref_r, beta):
    """The DPO loss over P preference pairs, from log-probabilities of whole responses.

    Args:
      pi_c, pi_r: (P,) float32 log π of each chosen and each rejected response.
      ref_c, ref_r: (P,) float32 the same under the frozen reference π_ref.
      beta: a float32 β > 0.
    Returns:
      () float32: the mean over pairs of −log σ(β[(pi_c − ref_c) − (pi_r − ref_r)]).
      It is log 2 when the policy equals the reference. Use a stable log-sigmoid.
    """
    raise NotImplementedError


def kl_per_sample(policy_logits, ref_logits):
    """The KL divergence KL(π ‖ π_ref) of every position's next-token law, summed over
    the positions of each sample.

    Args:
      policy_logits: (B, K, V) float32 logits of the policy π at each of K positions.
      ref_logits: (B, K, V) float32 logits of the reference at the same positions.
    Returns:
      (B,) float32: Σ_k Σ_v p_v (log p_v − log q_v), p = softmax(policy), q = softmax(ref).
      Zero when the logits differ by a constant per position; never negative.
    """
    raise NotImplementedError
