"""Lesson 06 — one self-attention head, forward and one training step.

Three tokens, "The cat sat", each a 4-wide vector. Three learned matrices turn
every token into a query (what it looks for), a key (what it offers) and a
value (what it hands over). Each query is scored against every key, the
scores are divided by sqrt(d_k) and a softmax turns each row into weights
that sum to one; each token's output is its weighted mix of the values:

    output = softmax(Q Kᵀ / sqrt(d_k)) V,   Q = X W_q,  K = X W_k,  V = X W_v

Then one gradient step on W_q, W_k and W_v towards a target output, with the
gradients from jax.value_and_grad, and the loss before and after.

Run:  python lessons/06_self_attention.py [--lr 0.1] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich.columns import Columns
from rich.console import Console
from rich.markup import escape

from trinity_foundations import attention, cli, display, sections

TOKENS = ["The", "cat", "sat"]
X = [[1.0, 0.5, 0.2, 0.1], [0.1, 2.0, 0.8, 0.2], [0.2, 0.1, 1.5, 1.8]]
W_Q = [[1.0, 0.0, 0.1, 0.0], [0.0, 1.0, 0.0, 0.2], [0.1, 0.0, 1.0, 0.0], [0.0, 0.2, 0.0, 1.0]]
W_K = [[0.8, 0.1, 0.0, 0.0], [0.1, 0.9, 0.2, 0.0], [0.0, 0.2, 0.7, 0.1], [0.0, 0.0, 0.1, 0.9]]
W_V = [[0.5, 0.5, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 0.0, 0.5]]
TARGET = [[0.8, 0.2, 0.4, 0.6], [0.2, 1.2, 0.5, 0.8], [0.5, 0.3, 0.9, 1.0]]
LR = 0.1
MAX_LR = 100.0  # larger steps only blow the weights up; from about 1e17 the loss overflows float32


def table(title: str, m, cols, rows, console: Console):
    """A named matrix with four decimals, fitted to the console."""
    return display.fit(display.matrix_table(title, m, rows=rows, cols=cols), console)


def dims(m) -> list[str]:
    """'d0', 'd1', …: one name per column of m."""
    return [f"d{j}" for j in range(len(m[0]))]


# ----------------------------------------------------------------------------
# 0. The inputs.


@dataclass(frozen=True)
class Inputs:
    tokens: list[str]
    x: list  # (T, d_model), one row per token
    w_q: list  # (d_model, d_k)
    w_k: list  # (d_model, d_k)
    w_v: list  # (d_model, d_v)
    target: list  # (T, d_v), the output the gradient step moves towards
    dtype: str  # of the arrays the head computes with


def compute_inputs(done: dict) -> Inputs:
    return Inputs(TOKENS, X, W_Q, W_K, W_V, TARGET, str(jnp.array(X).dtype))


def arrays(r: Inputs) -> tuple[jax.Array, dict, jax.Array]:
    """x (T, d_model), the weights {w_q, w_k, w_v} (d_model, d) each, target (T, d_v)."""
    params = {"w_q": jnp.array(r.w_q), "w_k": jnp.array(r.w_k), "w_v": jnp.array(r.w_v)}
    return jnp.array(r.x), params, jnp.array(r.target)


def say_inputs(r: Inputs, console: Console) -> None:
    console.print("The tokens X, the three weight matrices, the target:")
    d = dims(r.x)
    console.print(
        Columns(
            [table("X", r.x, d, r.tokens, console), table("target", r.target, d, r.tokens, console)]
        )
    )
    weights = [table(f"W_{n}", getattr(r, f"w_{n}"), d, d, console) for n in "qkv"]
    console.print(Columns(weights))


# ----------------------------------------------------------------------------
# 1. Queries, keys and values.


@dataclass(frozen=True)
class Projections:
    tokens: list[str]
    q: list  # (T, d_k) what each token looks for
    k: list  # (T, d_k) what each token offers
    v: list  # (T, d_v) what each token hands over
    d_k: int


def compute_projections(done: dict) -> Projections:
    x, params, _ = arrays(done["inputs"])
    stages = attention.attention_head(x, **params)
    q, k, v = (stages.q.tolist(), stages.k.tolist(), stages.v.tolist())
    return Projections(done["inputs"].tokens, q, k, v, stages.q.shape[-1])


def say_projections(r: Projections, console: Console) -> None:
    console.print("Project each token into a query, a key and a value (X W):")
    d = dims(r.q)
    console.print(
        Columns(
            [
                table("Q = X W_q", r.q, d, r.tokens, console),
                table("K = X W_k", r.k, d, r.tokens, console),
                table("V = X W_v", r.v, d, r.tokens, console),
            ]
        )
    )


# ----------------------------------------------------------------------------
# 2. Scores and softmax.


@dataclass(frozen=True)
class Scores:
    tokens: list[str]
    d_k: int
    raw_scores: list  # (T, T) Q Kᵀ: row = query, column = key
    scaled_scores: list  # (T, T) ÷ sqrt(d_k)
    weights: list  # (T, T) softmax of each row
    row_sums: list[float]  # (T,)


def compute_scores(done: dict) -> Scores:
    x, params, _ = arrays(done["inputs"])
    s = attention.attention_head(x, **params)
    return Scores(
        tokens=done["inputs"].tokens,
        d_k=s.q.shape[-1],
        raw_scores=s.raw_scores.tolist(),
        scaled_scores=s.scaled_scores.tolist(),
        weights=s.weights.tolist(),
        row_sums=jnp.sum(s.weights, axis=1).tolist(),  # (T,)
    )


def attention_sentence(query: str, weights: list[float], tokens: list[str]) -> str:
    """'“cat” attends most to “cat” (65.1 %), then …', ranked from the weights."""
    ranked = sorted(zip(weights, tokens), reverse=True)
    parts = [f"“{t}” ({w:.1%})" for w, t in ranked]
    return f"“{query}” attends most to {parts[0]}, then {', then '.join(parts[1:])}."


def say_scores(r: Scores, console: Console) -> None:
    console.print(
        "Score every query against every key (row = query, column = key), divide by "
        f"sqrt(d_k) = sqrt({r.d_k}), softmax each row:"
    )
    with_sums = np.column_stack([r.weights, r.row_sums])  # (T, T + 1)
    t = r.tokens
    console.print(
        Columns(
            [
                table("raw scores Q Kᵀ", r.raw_scores, t, t, console),
                table(f"scaled ÷ {r.d_k**0.5:g}", r.scaled_scores, t, t, console),
                table("weights (softmax)", with_sums, [*t, "row sum"], t, console),
            ]
        )
    )
    sums = ", ".join(f"{s:.6f}" for s in r.row_sums)
    console.print(f"Row sums: {sums}: each row is a probability distribution.")
    for query, row in zip(r.tokens, r.weights, strict=True):
        console.print("  " + attention_sentence(query, row, r.tokens))


# ----------------------------------------------------------------------------
# 3. Mix the values.


@dataclass(frozen=True)
class Mix:
    tokens: list[str]
    weights: list  # (T, T)
    output: list  # (T, d_v) = weights · V


def compute_mix(done: dict) -> Mix:
    x, params, _ = arrays(done["inputs"])
    s = attention.attention_head(x, **params)
    return Mix(done["inputs"].tokens, s.weights.tolist(), s.output.tolist())


def say_mix(r: Mix, console: Console) -> None:
    console.print("Each output row is its weights times V:")
    console.print(table("output = weights · V", r.output, dims(r.output), r.tokens, console))
    i = len(r.tokens) // 2  # spell one row out
    terms = " + ".join(f"{w:.3f}·V({t})" for w, t in zip(r.weights[i], r.tokens, strict=True))
    console.print(f"For example output({r.tokens[i]}) = {terms}, row by row of V.")


# ----------------------------------------------------------------------------
# 4. One gradient step.


def mse_loss(params: dict, x: jax.Array, target: jax.Array) -> jax.Array:
    """Mean squared error of the head's output against target, both (T, d_v)."""
    output = attention.attention_head(x, **params).output  # (T, d_v)
    return jnp.mean((output - target) ** 2)


class SGDConfig(NamedTuple):
    lr: float | jax.Array  # step size (traced: a new value reuses the compiled step)


@jax.jit
def train_step(params: dict, batch: tuple[jax.Array, jax.Array], *, config: SGDConfig):
    """One plain gradient step: (params − lr · grads, (loss, grads)).

    Args:
      params: w_q, w_k, w_v, (d_model, d_k) each.
      batch: x (T, d_model) and the target output (T, d_v).
      config: the step size.
    """
    x, target = batch
    loss, grads = jax.value_and_grad(mse_loss)(params, x, target)
    new = jax.tree.map(lambda p, g: p - config.lr * g, params, grads)
    return new, (loss, grads)


@dataclass(frozen=True)
class Step:
    lr: float
    dtype: str
    loss_before: float
    loss_after: float
    grad_norms: dict[str, float]  # ‖∂L/∂W‖ for w_q, w_k, w_v


def compute_step(done: dict, *, lr: float) -> Step:
    x, params, target = arrays(done["inputs"])
    new_params, (loss_before, grads) = train_step(params, (x, target), config=SGDConfig(lr))
    return Step(
        lr=lr,
        dtype=str(x.dtype),
        loss_before=float(loss_before),
        loss_after=float(mse_loss(new_params, x, target)),
        grad_norms={name: float(jnp.linalg.norm(grads[name])) for name in params},
    )


def gradient_sentence(norms: dict) -> str:
    """Which matrix got the largest gradient in this run, and by how much: a fact of
    these inputs, not a law (another X, target or W can order them otherwise)."""
    ranked = sorted(norms, key=norms.get, reverse=True)
    top, second = ranked[0], ranked[1]
    ratio = norms[top] / norms[second] if norms[second] > 0 else float("inf")
    why = (
        " The output is linear in V, while W_q and W_k reach the loss only through "
        "the softmax, which here damps their effect."
        if top == "w_v"
        else ""
    )
    return (
        f"In this run {top.replace('w_', 'W_')} gets the largest gradient, "
        f"{ratio:.3g}× the next ({second.replace('w_', 'W_')}): a fact of these inputs, "
        f"not a law.{why}"
    )


def step_verdict(before: float, after: float, dtype: str) -> str:
    """What the loss after one step says about the step: downhill, too small, too big."""
    if after < before:
        return "lower: the step went downhill"
    if after == before:
        return f"unchanged in {dtype}: a step this small does not register; try a larger --lr"
    return "NOT lower: the step overshot; try a smaller --lr"


def say_step(r: Step, console: Console) -> None:
    console.print(f"Towards the target, MSE loss, lr = {r.lr:g}:")
    console.print(
        display.bar_chart(
            [f"‖∂L/∂{n}‖" for n in r.grad_norms],
            list(r.grad_norms.values()),
            title="L2 norm of each gradient",
            width=display.chart_width(console, 22, most=30),
        )
    )
    console.print(gradient_sentence(r.grad_norms))
    change = (r.loss_after - r.loss_before) / r.loss_before
    console.print(
        f"Loss before {r.loss_before:.6f}, after {r.loss_after:.6f} "
        f"({display.share(change, 1, signed=True)}): "
        f"{step_verdict(r.loss_before, r.loss_after, r.dtype)}."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S = sections.Section
    return [
        S("inputs", compute_inputs, say_inputs, title="0. The inputs"),
        S("projections", compute_projections, say_projections, title="1. Queries, keys, values"),
        S("scores", compute_scores, say_scores, title="2. Scores and softmax"),
        S("mix", compute_mix, say_mix, title="3. Mix the values"),
        S(
            "step",
            partial(compute_step, lr=args.lr),
            say_step,
            title="4. One gradient step",
            doing="compiling one step of jax.value_and_grad",
        ),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    i, p, s, m, t = (done[n] for n in ("inputs", "projections", "scores", "mix", "step"))
    return {
        "tokens": i.tokens,
        "dtype": i.dtype,
        "x": i.x,
        "w_q": i.w_q,
        "w_k": i.w_k,
        "w_v": i.w_v,
        "target": i.target,
        "d_k": p.d_k,
        "q": p.q,
        "k": p.k,
        "v": p.v,
        "raw_scores": s.raw_scores,
        "scaled_scores": s.scaled_scores,
        "weights": s.weights,
        "output": m.output,
        "row_sums": s.row_sums,
        "lr": t.lr,
        "loss_before": t.loss_before,
        "loss_after": t.loss_after,
        "grad_norms": t.grad_norms,
    }


def step_bullet(before: float, after: float, lr: float, dtype: str) -> str:
    """Where one gradient step took the loss: down, nowhere, or up."""
    head = (
        f"One jax.value_and_grad step with lr = {lr:g} took the loss from {before:.6f} "
        f"to {after:.6f}"
    )
    if after < before:
        return head + ": downhill, as a gradient step should."
    if after == before:
        return head + f": a step this small does not register in {dtype}."
    return head + ": it overshot; a smaller --lr goes downhill."


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    s, t = done["scores"], done["step"]
    w, q, k = max((w, q, k) for q, row in enumerate(s.weights) for k, w in enumerate(row))
    return [
        f"Each row of softmax(Q Kᵀ / √{s.d_k}) sums to {display.span(s.row_sums, 6)}: every "
        "token's output is a weighted mix of the value rows.",
        f"The strongest attention: “{escape(s.tokens[q])}” gave "
        f"{'itself' if q == k else '“' + escape(s.tokens[k]) + '”'} {w:.1%} of its weight; "
        "the weights come from Q and K, what is mixed from V.",
        step_bullet(t.loss_before, t.loss_after, t.lr, t.dtype),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--lr",
        type=cli.positive_float_at_most(MAX_LR),
        default=LR,
        help=f"gradient step size, at most {MAX_LR:g} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=(attention.attention_head, attention.softmax, mse_loss, train_step),
    )


if __name__ == "__main__":
    cli.entry(main)
