"""A linear probe: logistic regression on two Gaussian clusters, trained by GD.

A linear probe asks whether a property can be read off features with one
weight vector and a bias: p(class 1 | x) = sigmoid(x · w + b). Here the
features are 2-D points from two clusters, so the probe's boundary
x · w + b = 0 is a line we can compare with the best possible one.

Parameters are a `Params(w, b)` named tuple (a pytree, so `jax.grad` and
optax treat it as one object): w of shape (D, 1), b a scalar.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

CENTRE = 2.0  # class 0 sits at (+2, +2), class 1 at (-2, -2)
EPS = 1e-7  # inside each log of the cross-entropy, as in the original


class Params(NamedTuple):
    w: jax.Array  # (D, 1)
    b: jax.Array  # ()


@partial(jax.jit, static_argnames="dim")
def init_params(key: jax.Array, dim: int = 2) -> Params:
    """Weights N(0, 1) of shape (dim, 1), bias 0."""
    return Params(jax.random.normal(key, (dim, 1)), jnp.zeros(()))


@partial(jax.jit, static_argnames="n")
def make_clusters(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """n labelled 2-D points: class 0 ~ N([2, 2], I), class 1 ~ N([-2, -2], I).

    The first n // 2 points are class 0, the rest class 1 (order does not
    matter to full-batch training).

    Args:
      key: a PRNG key.
      n: number of points (static: it fixes the shapes).

    Returns:
      x of shape (n, 2) and labels y of shape (n, 1), 0.0 or 1.0.
    """
    y = (jnp.arange(n) >= n // 2).astype(jnp.float32)[:, None]  # (n, 1)
    centre = jnp.where(y == 1.0, -CENTRE, CENTRE)  # (n, 1), both coordinates
    x = jax.random.normal(key, (n, 2)) + centre  # (n, 2)
    return x, y


def logits(params: Params, x: jax.Array) -> jax.Array:
    """x · w + b for each row of x (n, D) -> (n, 1)."""
    return x @ params.w + params.b  # (n, 1)


def predict(params: Params, x: jax.Array) -> jax.Array:
    """p(class 1 | x) for each row of x (n, D) -> (n, 1)."""
    return jax.nn.sigmoid(logits(params, x))  # (n, 1)


def loss(params: Params, x: jax.Array, y: jax.Array, l2: float) -> jax.Array:
    """Mean binary cross-entropy with EPS inside each log, plus l2 · sum(w²).

    The original writes log(p + ε) and log(1 - p + ε) with p = sigmoid(z).
    ε already keeps both finite, but in float32 1 - p is exactly 0 from
    z ≈ 16.6 on and has lost digits well before (0.05 % off at z = 10).
    sigmoid(-z) is the same number without that cancellation.

    Args:
      params: w (D, 1), b ().
      x: inputs (n, D).
      y: labels (n, 1), 0.0 or 1.0.
      l2: weight of the ridge penalty on w (not on b).

    Returns:
      The scalar loss.
    """
    z = logits(params, x)  # (n, 1)
    log_p = jnp.log(jax.nn.sigmoid(z) + EPS)  # (n, 1) log p(class 1)
    log_q = jnp.log(jax.nn.sigmoid(-z) + EPS)  # (n, 1) log p(class 0)
    bce = -jnp.mean(y * log_p + (1.0 - y) * log_q)
    return bce + l2 * jnp.sum(params.w**2)


@jax.jit
def accuracy(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Fraction of rows whose predicted class (p > 0.5, i.e. z > 0) is y."""
    guess = (logits(params, x) > 0).astype(y.dtype)  # (n, 1)
    return jnp.mean(guess == y)


class ProbeConfig(NamedTuple):
    """Hyper-parameters of the probe's gradient descent (traced, not static:
    new values reuse the compiled step)."""

    lr: float | jax.Array  # step size
    l2: float | jax.Array  # ridge weight λ on w


@jax.jit
def train_step(
    params: Params, batch: tuple[jax.Array, jax.Array], *, config: ProbeConfig
) -> tuple[Params, jax.Array]:
    """One full-batch gradient-descent step: params - lr · ∇loss.

    Args:
      params: w (D, 1), b ().
      batch: inputs x (n, D) and labels y (n, 1).
      config: lr and l2.

    Returns:
      (new params, the loss at the params given).
    """
    x, y = batch
    value, grads = jax.value_and_grad(loss)(params, x, y, config.l2)
    new = jax.tree.map(lambda p, g: p - config.lr * g, params, grads)
    return new, value


@partial(jax.jit, static_argnames="epochs")
def train(params: Params, batch: tuple[jax.Array, jax.Array], *, config: ProbeConfig, epochs: int):
    """`epochs` steps of `train_step`, compiled as one lax.scan.

    Args:
      params: the starting point, w (D, 1), b ().
      batch: training inputs x (n, D) and labels y (n, 1).
      config: lr and l2.
      epochs: number of steps (static: it fixes the scan length).

    Returns:
      (final params, (losses, path)): losses (epochs,) holds the loss each
      step started from; path holds the params after each step, w
      (epochs, D, 1) and b (epochs,).
    """

    def step(p, _):
        new, value = train_step(p, batch, config=config)
        return new, (value, new)

    return jax.lax.scan(step, params, length=epochs)


def centre_distance(centre: float = CENTRE, dim: int = 2) -> float:
    """‖μ‖ for the centre μ = (centre, ..., centre): 2√2 here.

    With unit-variance clusters at ±μ this is how many standard deviations
    each centre lies from the best boundary, the plane x · μ = 0.
    """
    return math.sqrt(dim) * abs(centre)


@jax.jit
def bayes_accuracy(distance: float) -> jax.Array:
    """The best accuracy any classifier can reach on two clusters at ±μ.

    With equal priors and identity covariance the best boundary is x · μ = 0,
    and each class falls on its own side with probability Φ(‖μ‖).

    Args:
      distance: ‖μ‖, from `centre_distance`.
    """
    return norm.cdf(distance)


@jax.jit
def population_accuracy(params: Params, centre: float = CENTRE) -> jax.Array:
    """The probe's exact accuracy on the cluster distribution, not on a sample.

    For x ~ N(μ, I) the logit x · w + b ~ N(μ · w + b, ‖w‖²), so each class
    is right with probability Φ(distance of its centre to the boundary in
    units of ‖w‖); class 0 (at +μ) needs z < 0, class 1 (at -μ) z > 0.

    Args:
      params: w (D, 1), b ().
      centre: each coordinate of μ.

    Returns:
      The accuracy in [0, 1], averaged over the two equally likely classes.
    """
    mu = jnp.full((1, params.w.shape[0]), centre)  # (1, D)
    # w = 0 would divide by zero; its accuracy is 1/2 whatever b is
    scale = jnp.maximum(jnp.linalg.norm(params.w), 1e-30)
    z0 = logits(params, mu)[0, 0]  # mean logit of class 0
    z1 = logits(params, -mu)[0, 0]  # mean logit of class 1
    return 0.5 * (norm.cdf(-z0 / scale) + norm.cdf(z1 / scale))
