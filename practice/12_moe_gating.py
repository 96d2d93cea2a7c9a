"""Practice for Lesson 12 — top-1 routing and the load-balancing loss.

Write load_balancing_loss, top1_route: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=12
    python -m trinity_foundations.practice 12 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/12_moe_gating.py` gives you the stubs back.
"""

import jax  # noqa: F401  (you will need these)
import jax.numpy as jnp  # noqa: F401


def load_balancing_loss(router_probs, expert_index, n_experts):
    """The Switch Transformer load-balancing loss, N_E · Σ_i f_i P_i.

    f_i is the fraction of tokens sent to expert i, P_i the mean router
    probability of expert i over the tokens.

    Args:
      router_probs: (N, E) float32, each row a softmax over the E experts.
      expert_index: (N,) int, the expert each token was sent to.
      n_experts: E, an int.
    Returns:
      () float32: 1.0 for perfect balance, E when every token goes to one
      expert with probability 1.
    """
    raise NotImplementedError


def top1_route(tokens, router):
    """Route every token to one expert and measure the load.

    Args:
      tokens: (N, D) float32 token vectors.
      router: (E, D) float32, one row of router weights per expert.
    Returns:
      (selections, f, p):
        selections (N,) int, argmax over experts of tokens @ router.T;
        f (E,) float32, the fraction of tokens sent to each expert;
        p (E,) float32, the mean over tokens of softmax(tokens @ router.T).
    """
    raise NotImplementedError
