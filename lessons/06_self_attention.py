"""Lesson 3.1 — one self-attention head, forward and one training step.

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
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich.columns import Columns
from rich.markup import escape

from trinity_foundations import cli, display
from trinity_foundations.attention import attention_head, softmax

TOKENS = ["The", "cat", "sat"]
X = [[1.0, 0.5, 0.2, 0.1], [0.1, 2.0, 0.8, 0.2], [0.2, 0.1, 1.5, 1.8]]
W_Q = [[1.0, 0.0, 0.1, 0.0], [0.0, 1.0, 0.0, 0.2], [0.1, 0.0, 1.0, 0.0], [0.0, 0.2, 0.0, 1.0]]
W_K = [[0.8, 0.1, 0.0, 0.0], [0.1, 0.9, 0.2, 0.0], [0.0, 0.2, 0.7, 0.1], [0.0, 0.0, 0.1, 0.9]]
W_V = [[0.5, 0.5, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 0.0, 0.5]]
TARGET = [[0.8, 0.2, 0.4, 0.6], [0.2, 1.2, 0.5, 0.8], [0.5, 0.3, 0.9, 1.0]]
LR = 0.1
MAX_LR = 100.0  # larger steps only blow the weights up; from about 1e17 the loss overflows float32


def mse_loss(params: dict, x: jax.Array, target: jax.Array) -> jax.Array:
    """Mean squared error of the head's output against target, both (T, d_v)."""
    output = attention_head(x, **params).output  # (T, d_v)
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


def run(lr: float) -> dict:
    x, target = jnp.array(X), jnp.array(TARGET)  # (T, d_model), (T, d_v)
    params = {"w_q": jnp.array(W_Q), "w_k": jnp.array(W_K), "w_v": jnp.array(W_V)}  # (4, 4) each
    stages = attention_head(x, **params)
    new_params, (loss_before, grads) = train_step(params, (x, target), config=SGDConfig(lr))
    return {
        "tokens": TOKENS,
        "dtype": str(x.dtype),
        "x": X,
        "w_q": W_Q,
        "w_k": W_K,
        "w_v": W_V,
        "target": TARGET,
        "d_k": stages.q.shape[-1],
        "q": stages.q.tolist(),
        "k": stages.k.tolist(),
        "v": stages.v.tolist(),
        "raw_scores": stages.raw_scores.tolist(),
        "scaled_scores": stages.scaled_scores.tolist(),
        "weights": stages.weights.tolist(),
        "output": stages.output.tolist(),
        "row_sums": jnp.sum(stages.weights, axis=1).tolist(),  # (T,)
        "lr": lr,
        "loss_before": float(loss_before),
        "loss_after": float(mse_loss(new_params, x, target)),
        "grad_norms": {name: float(jnp.linalg.norm(grads[name])) for name in params},
    }


def attention_sentence(query: str, weights: list[float], tokens: list[str]) -> str:
    """'“cat” attends most to “cat” (65.1 %), then …', ranked from the weights."""
    ranked = sorted(zip(weights, tokens), reverse=True)
    parts = [f"“{t}” ({w:.1%})" for w, t in ranked]
    return f"“{query}” attends most to {parts[0]}, then {', then '.join(parts[1:])}."


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


def report(r: dict, console) -> None:
    tokens, d_k = r["tokens"], r["d_k"]
    dims = [f"d{j}" for j in range(len(r["q"][0]))]

    def table(title, m, cols=tokens, fmt="{:.4f}", rows=tokens):
        return display.fit(display.matrix_table(title, m, rows=rows, cols=cols, fmt=fmt), console)

    console.print("[bold]0. The inputs[/]: the tokens X, the three weight matrices, the target")
    console.print(Columns([table("X", r["x"], dims), table("target", r["target"], dims)]))
    console.print(Columns([table(f"W_{n}", r[f"w_{n}"], dims, rows=dims) for n in ("q", "k", "v")]))

    console.print("[bold]1. Project each token[/] into a query, a key and a value (X W)")
    console.print(
        Columns(
            [
                table("Q = X W_q", r["q"], dims),
                table("K = X W_k", r["k"], dims),
                table("V = X W_v", r["v"], dims),
            ]
        )
    )

    console.print(
        f"\n[bold]2. Score every query against every key[/] (row = query, "
        f"column = key), divide by sqrt(d_k) = sqrt({d_k}), softmax each row"
    )
    with_sums = np.column_stack([r["weights"], r["row_sums"]])  # (T, T + 1)
    console.print(
        Columns(
            [
                table("raw scores Q Kᵀ", r["raw_scores"]),
                table(f"scaled ÷ {d_k**0.5:g}", r["scaled_scores"]),
                table("weights (softmax)", with_sums, [*tokens, "row sum"]),
            ]
        )
    )
    sums = ", ".join(f"{s:.6f}" for s in r["row_sums"])
    console.print(f"Row sums: {sums}: each row is a probability distribution.")
    for query, row in zip(tokens, r["weights"]):
        console.print("  " + attention_sentence(query, row, tokens))

    console.print("\n[bold]3. Mix the values[/]: each output row is its weights times V")
    console.print(table("output = weights · V", r["output"], dims))
    i = len(tokens) // 2  # spell one row out
    terms = " + ".join(f"{w:.3f}·V({t})" for w, t in zip(r["weights"][i], tokens))
    console.print(f"For example output({tokens[i]}) = {terms}, row by row of V.")

    console.print(f"\n[bold]4. One gradient step[/] towards the target, MSE loss, lr = {r['lr']:g}")
    norms = r["grad_norms"]
    console.print(
        display.bar_chart(
            [f"‖∂L/∂{n}‖" for n in norms],
            list(norms.values()),
            title="L2 norm of each gradient",
            width=display.chart_width(console, 22, most=30),
        )
    )
    console.print(gradient_sentence(norms))
    before, after = r["loss_before"], r["loss_after"]
    change = (after - before) / before
    if after < before:
        verdict = "lower: the step went downhill"
    elif after == before:
        verdict = (
            f"unchanged in {r['dtype']}: a step this small does not register; try a larger --lr"
        )
    else:
        verdict = "NOT lower: the step overshot; try a smaller --lr"
    console.print(
        f"Loss before {before:.6f}, after {after:.6f} "
        f"({display.share(change, 1, signed=True)}): {verdict}."
    )


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


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    tokens, weights = r["tokens"], r["weights"]
    w, q, k = max((w, q, k) for q, row in enumerate(weights) for k, w in enumerate(row))
    sums = display.span(r["row_sums"], 6)
    return [
        f"Each row of softmax(Q Kᵀ / √{r['d_k']}) sums to {sums}: every token's output is a "
        "weighted mix of the value rows.",
        f"The strongest attention: “{escape(tokens[q])}” gave "
        f"{'itself' if q == k else '“' + escape(tokens[k]) + '”'} {w:.1%} of its weight; "
        "the weights come from Q and K, what is mixed from V.",
        step_bullet(r["loss_before"], r["loss_after"], r["lr"], r["dtype"]),
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
    cli.finish(
        args,
        __file__,
        run(args.lr),
        report,
        kernels=(attention_head, softmax, mse_loss, train_step),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
