"""What `jax.grad` computes: one small loss, its backward pass by hand, finite differences.

The computation is lesson 05's probe on a single point. Three parameters
θ = (w₁, w₂, b), an input x of shape (2,) and a label y (0 or 1) flow through
four nodes:

    u = w·x,   z = u + b,   p = σ(z),   L = −y log p − (1 − y) log(1 − p).

Reverse mode, which `jax.grad` runs, starts from ∂L/∂L = 1 and walks the nodes
backwards: each node's adjoint ∂L/∂node is the adjoint of the node it feeds
times the local derivative of that step (the chain rule). One backward pass
gives all three partial derivatives at once; at the end ∂L/∂z = p − y and
∂L/∂θ = (p − y)·(x₁, x₂, 1).

Finite differences estimate the same numbers from loss values alone:
(L(θ + h eᵢ) − L(θ)) / h is off by O(h) (truncation) plus O(ε/h) (rounding of
the two nearly equal losses), so the best h is near √ε; the central form
(L(θ + h eᵢ) − L(θ − h eᵢ)) / 2h is off by O(h²) + O(ε/h), best near ε^{1/3}.

References:
  Baydin, Pearlmutter, Radul, Siskind, "Automatic differentiation in machine
  learning: a survey", JMLR 2018, https://arxiv.org/abs/1502.05767
  Nocedal and Wright, "Numerical Optimization", 2nd ed., §8.1 (finite
  differences and the choice of h).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

NODES = ("u", "z", "p", "L")  # the forward order; the backward pass visits them reversed


def forward(theta: jax.Array, x: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """Every node of the one-point logistic loss, in forward order.

    Args:
      theta: (3,) the parameters (w₁, w₂, b).
      x: (2,) the input point.
      y: () the label, 0.0 or 1.0.

    Returns:
      {"u": w·x, "z": u + b, "p": σ(z), "L": the cross-entropy}, scalars.
    """
    w, b = theta[:2], theta[2]  # (2,), ()
    u = jnp.dot(w, x)  # ()
    z = u + b  # ()
    p = jax.nn.sigmoid(z)  # ()
    loss_ = -(y * jnp.log(p) + (1 - y) * jnp.log1p(-p))  # ()
    return {"u": u, "z": z, "p": p, "L": loss_}


def loss(theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """L(θ) = −y log σ(w·x + b) − (1 − y) log(1 − σ(w·x + b)); theta (3,), x (2,), y ()."""
    return forward(theta, x, y)["L"]


def backward(theta: jax.Array, x: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """The adjoints ∂L/∂node by the chain rule, node by node from L back to θ.

    Args:
      theta: (3,) the parameters (w₁, w₂, b); x: (2,) the input; y: () the label.

    Returns:
      {"L", "p", "z", "u", "b", "w1", "w2"} -> ∂L/∂ that node (scalars), and
      "theta" -> ∂L/∂θ of shape (3,), the gradient `jax.grad(loss)` returns.
    """
    p = forward(theta, x, y)["p"]
    d_l = jnp.ones_like(p)  # ∂L/∂L = 1: where every backward pass starts
    d_p = d_l * (-y / p + (1 - y) / (1 - p))  # ∂L/∂p
    d_z = d_p * (p * (1 - p))  # ∂p/∂z = σ'(z) = p(1 − p); the product is p − y
    d_u = d_z * 1  # ∂z/∂u = 1
    d_b = d_z * 1  # ∂z/∂b = 1
    d_w = d_u * x  # ∂u/∂w = x, (2,)
    grad = jnp.concatenate([d_w, d_b[None]])  # (3,)
    return {
        "L": d_l,
        "p": d_p,
        "z": d_z,
        "u": d_u,
        "b": d_b,
        "w1": d_w[0],
        "w2": d_w[1],
        "theta": grad,
    }


def backward_forgetting_sigmoid(theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """A realistic bug: the backward pass above without σ'(z), so ∂L/∂z is taken
    to be ∂L/∂p. Returns the wrong gradient, (3,)."""
    p = forward(theta, x, y)["p"]
    d_z = -y / p + (1 - y) / (1 - p)  # should have been multiplied by p(1 − p)
    return jnp.concatenate([d_z * x, d_z[None]])  # (3,)


def with_backward(grad_fn: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """The loss as a `jax.custom_vjp` whose backward pass is `grad_fn`, so that
    `jax.grad` (and `check_grads`) use a hand-written gradient instead of JAX's.

    Args:
      grad_fn: (theta (3,), x (2,), y ()) -> ∂L/∂θ of shape (3,).

    Returns:
      f(theta, x, y) -> L, differentiable in theta only (x and y get zero cotangents).
    """

    @jax.custom_vjp
    def f(theta, x, y):
        return loss(theta, x, y)

    def f_fwd(theta, x, y):
        return loss(theta, x, y), (theta, x, y)

    def f_bwd(saved, g):
        theta, x, y = saved
        return g * grad_fn(theta, x, y), jnp.zeros_like(x), jnp.zeros_like(y)

    f.defvjp(f_fwd, f_bwd)
    return f


def probabilities(theta: jax.Array, xs: jax.Array) -> jax.Array:
    """σ(w·x + b) for each row of xs (n, 2) -> (n,): a vector output, so no `grad`."""
    return jax.nn.sigmoid(xs @ theta[:2] + theta[2])  # (n,)


def batch_loss(theta: jax.Array, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """The mean of the one-point losses over a batch: xs (n, 2), ys (n,) -> ()."""
    return jnp.mean(jax.vmap(loss, in_axes=(None, 0, 0))(theta, xs, ys))


# ----------------------------------------------------------------------------
# Finite differences: the gradient from loss values alone.


def one_sided(f: Callable[[jax.Array], jax.Array], theta: jax.Array, h: jax.Array) -> jax.Array:
    """(f(θ + h eᵢ) − f(θ)) / h for each coordinate i: error O(h) + O(ε/h).

    Args:
      f: a scalar function of theta; theta: (P,); h: () the step, theta's dtype.

    Returns:
      (P,) the estimated gradient.
    """
    steps = h * jnp.eye(theta.shape[0], dtype=theta.dtype)  # (P, P), one step per row
    return (jax.vmap(f)(theta[None, :] + steps) - f(theta)) / h  # (P,)


def central(f: Callable[[jax.Array], jax.Array], theta: jax.Array, h: jax.Array) -> jax.Array:
    """(f(θ + h eᵢ) − f(θ − h eᵢ)) / 2h for each coordinate i: error O(h²) + O(ε/h).

    Args:
      f: a scalar function of theta; theta: (P,); h: () the step, theta's dtype.

    Returns:
      (P,) the estimated gradient.
    """
    steps = h * jnp.eye(theta.shape[0], dtype=theta.dtype)  # (P, P)
    ups, downs = theta[None, :] + steps, theta[None, :] - steps  # (P, P) each, a point per row
    return (jax.vmap(f)(ups) - jax.vmap(f)(downs)) / (2 * h)  # (P,)


SCHEMES = {"one_sided": one_sided, "central": central}


def fd_errors(f, theta: jax.Array, hs: jax.Array, exact: jax.Array, *, scheme: str) -> jax.Array:
    """max |finite difference − exact| over the coordinates, for each step h.

    Args:
      f: a scalar function of theta; theta: (P,); hs: (H,) steps in theta's
        dtype; exact: (P,) the true gradient; scheme: "one_sided" or "central".

    Returns:
      (H,) the largest error of each step's estimate.
    """
    estimate = jax.vmap(lambda h: SCHEMES[scheme](f, theta, h))(hs)  # (H, P)
    return jnp.max(jnp.abs(estimate - exact[None, :]), axis=1)  # (H,)


def best_step(hs: np.ndarray, errors: np.ndarray) -> float:
    """The step with the smallest error (the first one on a tie); hs, errors: (H,)."""
    return float(np.asarray(hs)[int(np.argmin(errors))])


def log_slope(hs: np.ndarray, errors: np.ndarray) -> float:
    """The least-squares slope of log10(error) against log10(h): the power of h
    the error follows (1 for O(h), 2 for O(h²), −1 for O(ε/h)). Zero errors
    are left out; fewer than two points left give NaN."""
    hs, errors = np.asarray(hs, dtype=float), np.asarray(errors, dtype=float)
    keep = errors > 0
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log10(hs[keep]), np.log10(errors[keep]), 1)[0])


# ----------------------------------------------------------------------------
# Forward against reverse mode: a wide and a tall function.


def wide(x: jax.Array, a: jax.Array) -> jax.Array:
    """Many inputs, one output: tanh(a·x); x, a: (N,) -> (). Its Jacobian is
    one row: one reverse pass, or N forward passes."""
    return jnp.tanh(jnp.dot(a, x))  # ()


def tall(x: jax.Array, m: jax.Array) -> jax.Array:
    """Few inputs, many outputs: tanh(M x); x: (K,), M: (N, K) -> (N,). Its
    Jacobian has K columns: K forward passes, or N reverse passes."""
    return jnp.tanh(m @ x)  # (N,)
