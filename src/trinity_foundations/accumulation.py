"""Gradient accumulation: one step on k·B examples, computed B at a time.

A mean loss over k·B examples is the mean of k means over B each (when the
micro-batches are equally sized), and the gradient is linear, so

    ∇ (1/k) Σ_i L_i(θ) = (1/k) Σ_i ∇ L_i(θ).

Running the k micro-batches one after the other and averaging their
gradients therefore gives the gradient of the large batch, exactly up to
floating-point rounding, while holding the activations of only B examples
at a time. The optimizer then takes one step with it, as it would on the
large batch. (Exact for a loss that is a mean over examples with nothing
computed across the batch, such as the cross-entropy of a language model;
batch normalisation would break it.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def micro_batches(batch: Any, k: int) -> Any:
    """Cut every array of `batch` along its first axis into k equal micro-batches.

    Args:
      batch: a pytree of arrays with a leading axis of k·B (e.g. (x, y), each (k·B, T)).
      k: the number of micro-batches; must divide the leading axis.

    Returns:
      The same pytree with leaves of shape (k, B, ...): micro-batch i is leaf[i].
    """

    def cut(a):
        if a.shape[0] % k:
            raise ValueError(f"a batch of {a.shape[0]} does not split into {k} equal parts")
        return a.reshape(k, a.shape[0] // k, *a.shape[1:])  # (k, B, ...)

    return jax.tree.map(cut, batch)


def accumulated_value_and_grad(loss_fn: Callable) -> Callable:
    """`jax.value_and_grad(loss_fn)`, but over micro-batches taken one at a time.

    The returned function takes (params, batches), where every leaf of
    `batches` has a leading axis of k micro-batches (see `micro_batches`), and
    returns the mean loss and the mean gradient over them. A `lax.scan` runs
    the micro-batches in turn, so only one micro-batch's activations are
    alive at once; the running sums have the parameters' shapes.

    Args:
      loss_fn: loss_fn(params, batch) -> () mean loss over the batch.

    Returns:
      f(params, batches) -> (() mean loss, gradient pytree shaped like params).
    """
    value_and_grad = jax.value_and_grad(loss_fn)

    def accumulated(params, batches):
        k = jax.tree.leaves(batches)[0].shape[0]
        first = value_and_grad(params, jax.tree.map(lambda a: a[0], batches))
        rest = jax.tree.map(lambda a: a[1:], batches)  # (k-1, B, ...) leaves

        def add(total, batch):
            return jax.tree.map(jnp.add, total, value_and_grad(params, batch)), None

        (value, grads), _ = jax.lax.scan(add, first, rest)
        return value / k, jax.tree.map(lambda g: g / k, grads)

    return accumulated
