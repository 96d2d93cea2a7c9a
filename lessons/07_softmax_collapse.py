"""Lesson 3.2 — why attention divides its scores by sqrt(d_k).

A raw attention score is a dot product q · k of two D-wide vectors. With
entries of mean 0 and variance 1 it is a sum of D unit-variance terms: mean 0,
standard deviation sqrt(D), 32 at D = 1024. Fed such large scores, softmax
collapses onto the largest one, and its Jacobian diag(s) − s sᵀ, the only
road a gradient has back to the scores, shrinks towards zero. Dividing by
sqrt(D) brings the spread back to about 1. Last, why softmax subtracts the
maximum before exp: exp(1000) overflows float32.

Run:  python lessons/07_softmax_collapse.py [--dim 1024] [--tokens 5] [--json] [--show-code]
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations import cli, display
from trinity_foundations.attention import entropy, softmax, softmax_jacobian

DIM, TOKENS, SEED = 1024, 5, 42
OVERFLOW_LOGITS = [1000.0, 999.0, 998.0]


@partial(jax.jit, static_argnames=("dim", "tokens"))
def attention_scores(key: jax.Array, dim: int, tokens: int) -> jax.Array:
    """Scores q · k_t of one query against `tokens` keys, all entries N(0, 1).

    Returns:
      (tokens,) scores, each with mean 0 and variance dim.
    """
    k_q, k_k = jax.random.split(key)
    q = jax.random.normal(k_q, (dim,))  # (D,) the query
    keys = jax.random.normal(k_k, (tokens, dim))  # (T, D) the keys it scores
    return keys @ q  # (T,)


@jax.jit
def softmax_facts(z: jax.Array) -> dict:
    """Softmax of scores z (T,): its Jacobian size, entropy, autodiff check."""
    s = softmax(z)  # (T,)
    j = softmax_jacobian(s)  # (T, T)
    autodiff = jax.jacobian(softmax)(z)  # (T, T) the same matrix, by JAX
    return {
        "probs": s,
        "jacobian_max": jnp.max(jnp.abs(j)),
        "jacobian_l1": jnp.sum(jnp.abs(j)),
        "entropy": entropy(s),
        "autodiff_error": jnp.max(jnp.abs(autodiff - j)),
    }


@jax.jit
def naive_softmax(x: jax.Array) -> jax.Array:
    """exp(x) / Σ exp(x) as written on paper, without the shift: overflows."""
    e = jnp.exp(x)  # (n,)
    return e / jnp.sum(e)  # (n,)


def underflow_threshold() -> tuple[float, bool]:
    """(x below which exp(x) is 0 in float32 on this backend, whether subnormals survive).

    The smallest float32 is 1.4e-45 (subnormal, log ≈ -103.3), but XLA on CPU,
    for one, flushes subnormal results to zero, so exp already gives 0 below
    log(1.18e-38) ≈ -87.3, the smallest normal number.
    """
    info = np.finfo(np.float32)
    subnormals = bool(jnp.exp(jnp.float32(-100.0)) > 0)  # exp(-100) ≈ 3.7e-44 is subnormal
    smallest = float(info.smallest_subnormal) if subnormals else float(info.tiny)
    return math.log(smallest), subnormals


def run(dim: int, tokens: int, seed: int) -> dict:
    raw = attention_scores(jax.random.key(seed), dim, tokens)  # (T,) each ~ N(0, sqrt(D)²)
    scale = 1 / math.sqrt(dim)
    u = {k: v.tolist() for k, v in softmax_facts(raw).items()}
    s = {k: v.tolist() for k, v in softmax_facts(raw * scale).items()}
    overflow = jnp.array(OVERFLOW_LOGITS)  # (3,) float32
    naive = naive_softmax(overflow)  # (3,)
    threshold, subnormals = underflow_threshold()
    return {
        "dim": dim,
        "scale": scale,
        "raw_scores": raw.tolist(),
        "unscaled": u["probs"],
        "scaled": s["probs"],
        "jacobian_unscaled_max": u["jacobian_max"],
        "jacobian_unscaled_l1": u["jacobian_l1"],
        "jacobian_scaled_max": s["jacobian_max"],
        "jacobian_scaled_l1": s["jacobian_l1"],
        # None when the unscaled Jacobian is exactly zero: no gradient at all
        "l1_ratio": s["jacobian_l1"] / u["jacobian_l1"] if u["jacobian_l1"] > 0 else None,
        "entropy_unscaled": u["entropy"],
        "entropy_scaled": s["entropy"],
        "entropy_max": math.log(tokens),
        "underflow_threshold": threshold,
        "subnormals": subnormals,
        "autodiff_max_error": max(u["autodiff_error"], s["autodiff_error"]),
        "overflow_logits": OVERFLOW_LOGITS,
        "overflow_exp": jnp.exp(overflow).tolist(),  # (3,) inf in float32
        "naive_overflow": naive.tolist(),
        "naive_overflow_is_nan": bool(jnp.any(jnp.isnan(naive))),
        "stable_overflow": softmax(overflow).tolist(),
    }


def largest_share(probs: list[float], digits: int) -> str:
    """'41.6%', or '100.0000% (the other 4 keys share 1.1e-14%)' when the rest rounds away."""
    top = max(probs)
    text = display.share(top, digits)
    others = len(probs) - 1
    if others and top == 1:
        rest = sum(sorted(probs)[:-1])
        who = "the other key has" if others == 1 else f"the other {others} keys share"
        text += f" ({who} {100 * rest:.3g}%)"
    return text


def nats(h: float) -> str:
    """An entropy: 4 decimals, or 3 significant digits when that would hide it."""
    return f"{h:.4f}" if h >= 0.01 else f"{h:.3g}"


def report(r: dict, console) -> None:
    dim, scale = r["dim"], r["scale"]
    raw = r["raw_scores"]
    n = len(raw)
    spread = (
        f"These scores run from {min(raw):+.1f} to {max(raw):+.1f}."
        if n > 1
        else f"This score is {raw[0]:+.1f}."
    )
    console.print(
        f"One query scored against {n} key{'s' if n > 1 else ''}, every entry N(0, 1), "
        f"D = {dim}: each raw score has standard deviation sqrt({dim}) = {dim**0.5:g}. "
        f"{spread}\n"
    )
    for name, key, factor, z in (
        ("unscaled: softmax(q·k)", "unscaled", 1.0, "z"),
        (f"scaled: softmax(q·k / {1 / scale:g})", "scaled", scale, f"z/{1 / scale:g}"),
    ):
        labels = [f"key {i}  {z} = {x * factor:+7.2f}" for i, x in enumerate(raw)]
        percent = [100 * p for p in r[key]]
        console.print(
            display.bar_chart(labels, percent, title=name, hi=100.0, width=30, fmt="{:10.4g} %")
        )
        console.print()
    console.print(
        f"Unscaled, the largest score takes {largest_share(r['unscaled'], 4)} of the "
        f"attention; scaled, the largest share is {largest_share(r['scaled'], 1)}."
    )
    zeros = sum(p == 0.0 for p in r["unscaled"])
    if zeros:
        smallest = (
            "the smallest float32, a subnormal"
            if r["subnormals"]
            else "the smallest normal float32 (this backend flushes subnormals to zero)"
        )
        console.print(
            f"{zeros} unscaled probabilit{'y' if zeros == 1 else 'ies'} underflowed "
            f"to exactly 0: exp of a shifted score below about "
            f"{r['underflow_threshold']:.1f} is smaller than {smallest}."
        )

    h_max = r["entropy_max"]
    console.print(
        f"Entropy (nats; 0 = one-hot, {h_max:.4f} = ln {len(raw)} = uniform): "
        f"unscaled {nats(r['entropy_unscaled'])}, scaled {nats(r['entropy_scaled'])}.\n"
    )

    table = display.matrix_table(
        "Jacobian J = diag(s) − s sᵀ",
        [
            [r["jacobian_unscaled_max"], r["jacobian_unscaled_l1"]],
            [r["jacobian_scaled_max"], r["jacobian_scaled_l1"]],
        ],
        rows=["unscaled", "scaled"],
        cols=["max |J|", "Σ |J|"],
        fmt="{:.3e}",
    )
    console.print(table)
    ratio = r["l1_ratio"]
    if n == 1:
        console.print(
            "With a single key the softmax is always [1]: its Jacobian is zero, "
            "scaled or not, since there is nothing to choose between."
        )
    elif ratio is None:
        console.print(
            "The unscaled Jacobian is exactly zero in float32: no gradient "
            "reaches the scores at all."
        )
    elif dim == 1:
        console.print(
            "At D = 1 the scale 1/sqrt(D) is 1: scaled and unscaled are the same "
            "softmax, with the same Jacobian."
        )
    else:
        reading = (
            "unscaled, almost nothing gets through"
            if ratio >= 10
            else "at this width the unscaled scores sit too close together to collapse it"
        )
        console.print(
            f"Σ |J| is {ratio:.3g} times larger scaled than unscaled: J carries "
            "every gradient from the probabilities back to the scores, and so to "
            f"the queries and keys; {reading}."
        )
    console.print(
        f"The formula matches jax.jacobian of the softmax to within "
        f"{r['autodiff_max_error']:.1e} (largest entry difference, float32).\n"
    )

    logits, exps = display.vector(r["overflow_logits"]), display.vector(r["overflow_exp"])
    naive, stable = (
        display.vector(r["naive_overflow"]),
        display.vector(r["stable_overflow"], "{:.4f}"),
    )
    console.print(
        f"[bold]Overflow[/]: logits {logits} in float32. exp gives {exps}, so "
        f"exp(x) / Σ exp(x) gives {naive}"
        + (" (inf / inf is NaN)." if r["naive_overflow_is_nan"] else ".")
    )
    console.print(
        f"Subtracting the maximum first gives {stable}, the right answer: softmax "
        "ignores a constant added to every logit, and after the shift every "
        "exponent is ≤ 0."
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--dim",
        type=cli.positive_int,
        default=DIM,
        help="width D of the query and key vectors (default: %(default)s)",
    )
    parser.add_argument(
        "--tokens",
        type=cli.positive_int,
        default=TOKENS,
        help="number of keys scored (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.finish(
        args,
        __file__,
        run(args.dim, args.tokens, args.seed),
        report,
        kernels=(
            attention_scores,
            softmax,
            softmax_jacobian,
            entropy,
            softmax_facts,
            naive_softmax,
        ),
        title=__doc__,
    )


if __name__ == "__main__":
    cli.entry(main)
