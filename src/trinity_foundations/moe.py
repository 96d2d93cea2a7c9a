"""Mixture of experts: top-1 routing and the auxiliary load-balancing loss.

A router matrix W_g (E × D) scores every token against every expert; each
token goes to its highest-scoring expert (top-1). Left alone, a router tends
to collapse: one expert gets every token and the others learn nothing. The
Switch Transformer adds a penalty that is smallest when the load is spread:

    L_aux = E · Σ_i f_i · P_i

f_i is the fraction of tokens sent to expert i (an argmax count, so it has no
gradient) and P_i the mean router probability of expert i (a softmax, so it
does). The penalty is 1 at perfect balance (f = P = 1/E) and reaches its
maximum, E, at total collapse (f = P = one-hot).

References:
  Fedus, Zoph, Shazeer, "Switch Transformers: Scaling to Trillion Parameter
  Models with Simple and Efficient Sparsity", 2021. arXiv:2101.03961
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from trinity_foundations.attention import softmax


class Routing(NamedTuple):
    selections: jax.Array  # (N,) int: the expert each token goes to
    f: jax.Array  # (E,) fraction of tokens sent to each expert
    p: jax.Array  # (E,) mean router probability of each expert


@jax.jit
def route(tokens: jax.Array, router: jax.Array) -> Routing:
    """Top-1 routing of a batch of tokens.

    Args:
      tokens: (N, D) token vectors.
      router: (E, D) one row of weights per expert (W_g).
    Returns:
      Routing(selections (N,), f (E,), p (E,)); E is read from router's shape.
    """
    experts = router.shape[0]
    logits = tokens @ router.T  # (N, E)
    probs = softmax(logits, axis=-1)  # (N, E)
    selections = jnp.argmax(logits, axis=-1)  # (N,)
    f = jnp.mean(jax.nn.one_hot(selections, experts), axis=0)  # (E,)
    p = jnp.mean(probs, axis=0)  # (E,)
    return Routing(selections, f, p)


@jax.jit
def aux_loss(f: jax.Array, p: jax.Array) -> jax.Array:
    """Switch Transformer load-balancing loss E · Σ_i f_i P_i.

    Args:
      f: (..., E) token fractions per expert.
      p: (..., E) mean router probabilities per expert.
    Returns:
      (...) the loss: 1 when f = P = 1/E, E when f = P is one-hot.
    """
    return f.shape[-1] * jnp.sum(f * p, axis=-1)  # (...)


@jax.jit
def router_loss(router: jax.Array, tokens: jax.Array) -> jax.Array:
    """L_aux as a function of the router matrix, for jax.grad.

    Args:
      router: (E, D) router weights.
      tokens: (N, D) token vectors.
    Returns:
      () the auxiliary loss. Its gradient flows through P only: f is built
      from an argmax, whose derivative is zero wherever it is defined.
    """
    _, f, p = route(tokens, router)  # (E,), (E,)
    return aux_loss(f, p)


class DescentConfig(NamedTuple):
    """Gradient descent on L_aux alone (traced: a new lr does not recompile)."""

    lr: float = 10.0  # a saturated router has tiny gradients: a large step


class DescentHistory(NamedTuple):
    loss: jax.Array  # (S,) L_aux after each step
    f: jax.Array  # (S, E) token shares after each step


@jax.jit
def aux_descent_step(
    router: jax.Array, tokens: jax.Array, *, config: DescentConfig
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """One gradient step on L_aux: (new router, (L_aux, f) measured after it).

    Args:
      router: (E, D) router weights.
      tokens: (N, D) token vectors (the batch).
      config: the step size.
    Returns:
      (router (E, D), (() L_aux, (E,) f)) after the step.
    """
    router = router - config.lr * jax.grad(router_loss)(router, tokens)  # (E, D)
    _, f, p = route(tokens, router)  # (E,), (E,)
    return router, (aux_loss(f, p), f)


@partial(jax.jit, static_argnames="steps")
def descend_aux_loss(
    router: jax.Array, tokens: jax.Array, *, config: DescentConfig, steps: int
) -> tuple[jax.Array, DescentHistory]:
    """`steps` plain gradient steps on L_aux, compiled as one lax.scan.

    Args:
      router: (E, D) starting router weights.
      tokens: (N, D) token vectors.
      config: the step size.
      steps: number of steps (static: it fixes the scan length).
    Returns:
      (router (E, D) after the last step, DescentHistory(loss (S,), f (S, E))).
    """

    def body(w, _):
        w, (loss, f) = aux_descent_step(w, tokens, config=config)
        return w, DescentHistory(loss, f)

    return jax.lax.scan(body, router, length=steps)
