"""Lesson 07 — why attention divides its scores by sqrt(d_k).

A raw attention score is a dot product q · k of two D-wide vectors. With
entries of mean 0 and variance 1 it is a sum of D unit-variance terms: mean 0,
standard deviation sqrt(D), 32 at D = 1024. Fed such large scores, softmax
collapses onto the largest one, and its Jacobian diag(s) − s sᵀ, the only
road a gradient has back to the scores, shrinks towards zero. Dividing by
sqrt(D) brings the spread back to about 1. Last, why softmax subtracts the
maximum before exp: exp(1000) overflows float32 (and float64). A sweep over D,
several draws at each, shows the collapse growing with the width.

Run:  python lessons/07_softmax_collapse.py [--dim 1024] [--tokens 5] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from trinity_foundations import attention, cli, display, sections

DIM, TOKENS, SEED = 1024, 5, 42
OVERFLOW_LOGITS = [1000.0, 999.0, 998.0]
MAX_DIM = 2**24
MAX_TOKENS = 4096  # the Jacobian is tokens² numbers, four copies of it
SHOWN = 8  # rows of the charts and matrices; more are summed up as "… N more"
SWEEP_DIMS = (16, 64, 256, 1024, 4096)
SWEEP_DRAWS = 20
SWEEP_TOKENS = 64  # at most: each draw builds a tokens² Jacobian at five widths


def bytes_needed(dim: int, tokens: int) -> int:
    """The keys (tokens, D) and the query, and the Jacobians: 8-byte floats at most."""
    return 8 * (2 * (tokens + 1) * dim + 8 * tokens * tokens)


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
    s = attention.softmax(z)  # (T,)
    j = attention.softmax_jacobian(s)  # (T, T)
    autodiff = jax.jacobian(attention.softmax)(z)  # (T, T) the same matrix, by JAX
    return {
        "probs": s,
        "jacobian": j,
        "jacobian_max": jnp.max(jnp.abs(j)),
        "jacobian_l1": jnp.sum(jnp.abs(j)),
        "entropy": attention.entropy(s),
        "autodiff_error": jnp.max(jnp.abs(autodiff - j)),
    }


@jax.jit
def naive_softmax(x: jax.Array) -> jax.Array:
    """exp(x) / Σ exp(x) as written on paper, without the shift: overflows."""
    e = jnp.exp(x)  # (n,)
    return e / jnp.sum(e)  # (n,)


@partial(jax.jit, static_argnames=("dims", "tokens", "draws"))
def collapse_sweep(key: jax.Array, dims: tuple[int, ...], tokens: int, draws: int) -> dict:
    """`draws` queries and key sets, scored at every width in `dims` at once.

    The score at width D is the sum of the first D products q_i·k_i, so one
    cumulative sum over the widest vectors gives every width's scores (each
    exactly a sum of D unit-variance terms): one kernel, one compile.

    Returns:
      {"top": (W, draws) largest unscaled probability, "ratio": (W, draws) Σ|J|
       scaled over Σ|J| unscaled (inf where the unscaled Jacobian is exactly 0)}.
    """
    k_q, k_k = jax.random.split(key)
    widest = max(dims)
    q = jax.random.normal(k_q, (draws, 1, widest))  # (draws, 1, Dmax)
    keys = jax.random.normal(k_k, (draws, tokens, widest))  # (draws, T, Dmax)
    prefix = jnp.cumsum(keys * q, axis=-1)  # (draws, T, Dmax) scores of every width
    raw = jnp.moveaxis(prefix[..., jnp.array(dims) - 1], -1, 0)  # (W, draws, T)
    scale = 1 / jnp.sqrt(jnp.array(dims, raw.dtype))[:, None, None]  # (W, 1, 1)

    def l1(z):  # (T,) -> () the size of the softmax's Jacobian
        return jnp.sum(jnp.abs(attention.softmax_jacobian(attention.softmax(z))))

    unscaled = jax.vmap(jax.vmap(l1))(raw)  # (W, draws)
    scaled = jax.vmap(jax.vmap(l1))(raw * scale)  # (W, draws)
    return {"top": jnp.max(attention.softmax(raw), axis=-1), "ratio": scaled / unscaled}


def underflow_threshold(dtype) -> tuple[float, bool]:
    """(x below which exp(x) is 0 in `dtype` on this backend, whether subnormals survive).

    The smallest float32 is 1.4e-45 (subnormal, log ≈ -103.3), but XLA on CPU,
    for one, flushes subnormal results to zero, so exp already gives 0 below
    log(1.18e-38) ≈ -87.3, the smallest normal number (float64: -708.4).
    """
    info = np.finfo(dtype)
    probe = math.log(float(info.tiny)) - 5  # below the smallest normal, above the subnormals
    subnormals = bool(jnp.exp(jnp.asarray(probe, dtype)) > 0)
    smallest = float(info.smallest_subnormal) if subnormals else float(info.tiny)
    return math.log(smallest), subnormals


def scores(seed: int, dim: int, tokens: int) -> jax.Array:
    """The run's one draw: (tokens,) raw scores, each ~ N(0, sqrt(D)²)."""
    return attention_scores(jax.random.key(seed), dim, tokens)


# ----------------------------------------------------------------------------
# 1. Softmax of raw and of scaled scores.


@dataclass(frozen=True)
class Softmax:
    dim: int
    dtype: str
    scale: float  # 1 / sqrt(D)
    raw_scores: list[float]  # (T,)
    unscaled: list[float]  # (T,) softmax(q·k)
    scaled: list[float]  # (T,) softmax(q·k / sqrt(D))
    entropy_unscaled: float  # nats
    entropy_scaled: float
    entropy_max: float  # ln T, the uniform distribution's
    underflow_threshold: float  # exp of a shifted score below this is 0
    subnormals: bool  # whether this backend keeps subnormal results
    shown: int  # keys charted; the rest are counted


def compute_softmax(done: dict, *, seed: int, dim: int, tokens: int) -> Softmax:
    raw = scores(seed, dim, tokens)  # (T,)
    scale = 1 / math.sqrt(dim)
    u, s = softmax_facts(raw), softmax_facts(raw * scale)
    threshold, subnormals = underflow_threshold(raw.dtype)
    return Softmax(
        dim=dim,
        dtype=str(raw.dtype),
        scale=scale,
        raw_scores=raw.tolist(),
        unscaled=u["probs"].tolist(),
        scaled=s["probs"].tolist(),
        entropy_unscaled=u["entropy"].tolist(),
        entropy_scaled=s["entropy"].tolist(),
        entropy_max=math.log(tokens),
        underflow_threshold=threshold,
        subnormals=subnormals,
        shown=SHOWN,
    )


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


def scores_sentence(raw: list[float], dim: int) -> str:
    """What was scored, and how widely the scores spread."""
    n = len(raw)
    spread = (
        f"These scores run from {min(raw):+.1f} to {max(raw):+.1f}."
        if n > 1
        else f"This score is {raw[0]:+.1f}."
    )
    return (
        f"One query scored against {display.count(n, 'key')}, every entry N(0, 1), "
        f"D = {dim}: each raw score has standard deviation sqrt({dim}) = {dim**0.5:g}. "
        f"{spread}"
    )


def underflow_sentence(probs: list[float], threshold: float, subnormals: bool, dtype: str):
    """Why some probabilities are exactly 0, or None when none is."""
    zeros = sum(p == 0.0 for p in probs)
    if not zeros:
        return None
    smallest = (
        f"the smallest {dtype}, a subnormal"
        if subnormals
        else f"the smallest normal {dtype} (this backend flushes subnormals to zero)"
    )
    return (
        f"{zeros} unscaled probabilit{'y' if zeros == 1 else 'ies'} underflowed "
        f"to exactly 0: exp of a shifted score below about {threshold:.1f} is smaller "
        f"than {smallest}."
    )


def say_softmax(r: Softmax, console: Console) -> None:
    raw, scale, shown = r.raw_scores, r.scale, r.shown
    n = len(raw)
    console.print(scores_sentence(raw, r.dim) + "\n")
    for name, probs, factor, z in (
        ("unscaled: softmax(q·k)", r.unscaled, 1.0, "z"),
        (f"scaled: softmax(q·k / {1 / scale:g})", r.scaled, scale, f"z/{1 / scale:g}"),
    ):
        labels = [f"key {i}  {z} = {x * factor:+7.2f}" for i, x in enumerate(raw[:shown])]
        percent = [100 * p for p in probs[:shown]]
        room = max(map(len, labels)) + 16  # the label, the number ("{:10.4g} %") and gaps
        width = display.chart_width(console, room, most=30, least=4)
        console.print(
            display.bar_chart(labels, percent, title=name, hi=100.0, width=width, fmt="{:10.4g} %")
        )
        if n > shown:
            console.print(f"… {n - shown:,} more keys")
        console.print()
    console.print(
        f"Unscaled, the largest score takes {largest_share(r.unscaled, 4)} of the "
        f"attention; scaled, the largest share is {largest_share(r.scaled, 1)}."
    )
    zeros = underflow_sentence(r.unscaled, r.underflow_threshold, r.subnormals, r.dtype)
    if zeros:
        console.print(zeros)
    console.print(
        f"Entropy (nats; 0 = one-hot, {r.entropy_max:.4f} = ln {n} = uniform): "
        f"unscaled {nats(r.entropy_unscaled)}, scaled {nats(r.entropy_scaled)}."
    )


# ----------------------------------------------------------------------------
# 2. The Jacobian: the gradient's road back to the scores.


@dataclass(frozen=True)
class Jacobian:
    dim: int
    tokens: int
    dtype: str
    top_gap: float | None  # largest score minus the runner-up (None: one key)
    jacobian_unscaled: list  # (T, T) diag(s) − s sᵀ
    jacobian_scaled: list  # (T, T)
    jacobian_unscaled_max: float  # max |J|
    jacobian_unscaled_l1: float  # Σ |J|
    jacobian_scaled_max: float
    jacobian_scaled_l1: float
    l1_ratio: float | None  # Σ|J| scaled ÷ unscaled; None when unscaled is exactly 0
    autodiff_max_error: float  # the formula against jax.jacobian
    shown: int  # rows and columns printed


def compute_jacobian(done: dict, *, seed: int) -> Jacobian:
    sm = done["softmax"]
    raw = scores(seed, sm.dim, len(sm.raw_scores))  # (T,)
    u = {k: v.tolist() for k, v in softmax_facts(raw).items()}
    s = {k: v.tolist() for k, v in softmax_facts(raw * sm.scale).items()}
    ordered = sorted(sm.raw_scores, reverse=True)
    return Jacobian(
        dim=sm.dim,
        tokens=len(ordered),
        dtype=sm.dtype,
        top_gap=ordered[0] - ordered[1] if len(ordered) > 1 else None,
        jacobian_unscaled=u["jacobian"],
        jacobian_scaled=s["jacobian"],
        jacobian_unscaled_max=u["jacobian_max"],
        jacobian_unscaled_l1=u["jacobian_l1"],
        jacobian_scaled_max=s["jacobian_max"],
        jacobian_scaled_l1=s["jacobian_l1"],
        l1_ratio=s["jacobian_l1"] / u["jacobian_l1"] if u["jacobian_l1"] > 0 else None,
        autodiff_max_error=max(u["autodiff_error"], s["autodiff_error"]),
        shown=SHOWN,
    )


def jacobian_reading(ratio: float | None, n: int, dim: int, top_gap: float | None, dtype: str):
    """What the two Jacobians' sizes say about this draw (not about every draw)."""
    if n == 1:
        return (
            "With a single key the softmax is always [1]: its Jacobian is zero, "
            "scaled or not, since there is nothing to choose between."
        )
    if ratio is None:
        return (
            f"The unscaled Jacobian is exactly zero in {dtype}: no gradient "
            "reaches the scores at all."
        )
    if dim == 1:
        return (
            "At D = 1 the scale 1/sqrt(D) is 1: scaled and unscaled are the same "
            "softmax, with the same Jacobian."
        )
    head = (
        f"Σ |J| is {ratio:.3g} times larger scaled than unscaled: J carries "
        "every gradient from the probabilities back to the scores, and so to "
        "the queries and keys; "
    )
    if ratio >= 1000:
        return head + "unscaled, almost nothing gets through."
    if ratio >= 2:
        return head + f"unscaled, about {display.share(1 / ratio, 1)} of it gets through."
    return head + (
        f"in this draw the two largest scores are only {top_gap:.1f} apart (the scores' "
        f"std is {dim**0.5:g}), so the unscaled softmax has not collapsed; "
        "the sweep below shows what is typical at each width."
    )


def matrix(title: str, m: list[list[float]], shown: int, console: Console) -> None:
    """A Jacobian in full, or its first `shown` rows and columns and how many are left."""
    n = len(m)
    cut = [[v + 0.0 for v in row[:shown]] for row in m[:shown]]  # + 0.0: no "-0.00e+00"
    names = [f"key {i}" for i in range(len(cut))]
    table = display.matrix_table(title, cut, rows=names, cols=names, fmt="{:+.2e}")
    console.print(display.fit(table, console))
    if n > shown:
        console.print(f"… {n - shown:,} more rows and columns")


def say_jacobian(r: Jacobian, console: Console) -> None:
    table = display.matrix_table(
        "Jacobian J = diag(s) − s sᵀ, its size",
        [
            [r.jacobian_unscaled_max, r.jacobian_unscaled_l1],
            [r.jacobian_scaled_max, r.jacobian_scaled_l1],
        ],
        rows=["unscaled", "scaled"],
        cols=["max |J|", "Σ |J|"],
        fmt="{:.3e}",
    )
    matrix("J unscaled", r.jacobian_unscaled, r.shown, console)
    matrix("J scaled", r.jacobian_scaled, r.shown, console)
    console.print(display.fit(table, console))
    console.print(jacobian_reading(r.l1_ratio, r.tokens, r.dim, r.top_gap, r.dtype))
    console.print(
        f"The formula matches jax.jacobian of the softmax to within "
        f"{r.autodiff_max_error:.1e} (largest entry difference, {r.dtype})."
    )


# ----------------------------------------------------------------------------
# 3. The collapse by width: many draws at each D.


@dataclass(frozen=True)
class SweepRow:
    dim: int
    top_median: float  # the largest unscaled probability, median over the draws
    ratio_median: float  # Σ|J| scaled ÷ unscaled
    ratio_min: float
    ratio_max: float  # inf where an unscaled Jacobian is exactly 0


@dataclass(frozen=True)
class Sweep:
    tokens: int  # keys per draw (at most SWEEP_TOKENS)
    draws: int  # at each D
    rows: list[SweepRow]  # one per D; [] for a single key


def compute_sweep(done: dict, *, seed: int, tokens: int) -> Sweep:
    tokens = min(tokens, SWEEP_TOKENS)
    if tokens == 1:
        return Sweep(tokens, SWEEP_DRAWS, [])
    key = jax.random.fold_in(jax.random.key(seed), 1)  # a stream apart from the run's draw
    out = collapse_sweep(key, tuple(SWEEP_DIMS), tokens, SWEEP_DRAWS)
    top, ratio = (np.asarray(out[k], np.float64) for k in ("top", "ratio"))  # (W, draws) each
    rows = [
        SweepRow(
            dim=dim,
            top_median=float(np.median(top[i])),
            ratio_median=float(np.median(ratio[i])),
            ratio_min=float(np.min(ratio[i])),
            ratio_max=float(np.max(ratio[i])),
        )
        for i, dim in enumerate(SWEEP_DIMS)
    ]
    return Sweep(tokens, SWEEP_DRAWS, rows)


def growth(values: list[float]) -> str:
    """'at every step', or 'overall, not at every step', or 'not' for a list by D."""
    if all(b > a for a, b in zip(values, values[1:])):
        return "grows at every step"
    return "grows overall, not at every step" if values[-1] > values[0] else "does not grow"


def say_sweep(r: Sweep, console: Console) -> None:
    if not r.rows:
        console.print("With a single key there is nothing to collapse onto: no sweep.")
        return
    table = Table(title=f"{r.draws} draws of {r.tokens} keys at each D")
    for col in ("D", "median top share", "median Σ|J| scaled ÷ unscaled", "range"):
        table.add_column(col, justify="right")
    for row in r.rows:
        table.add_row(
            str(row.dim),
            display.share(row.top_median, 1),
            f"{row.ratio_median:.3g}",
            f"{row.ratio_min:.3g} to {row.ratio_max:.3g}",
        )
    console.print(display.fit(table, console))
    medians = [row.ratio_median for row in r.rows]
    grows = growth(medians)
    console.print(
        f"The median ratio {grows} from D = {r.rows[0].dim} to "
        f"D = {r.rows[-1].dim} ({medians[0]:.3g} to {medians[-1]:.3g}): "
        + (
            "this sweep does not show the collapse growing with the width."
            if grows == "does not grow"
            else "the collapse grows with the width, though one draw can land anywhere "
            "in its range."
        )
    )


# ----------------------------------------------------------------------------
# 4. Overflow, and why softmax subtracts the maximum.


@dataclass(frozen=True)
class Overflow:
    dtype: str
    overflow_logits: list[float]
    overflow_exp: list[float]  # inf in float32
    naive_overflow: list[float]  # exp(x) / Σ exp(x)
    naive_overflow_is_nan: bool
    stable_overflow: list[float]  # the package's softmax, shifted by the maximum


def compute_overflow(done: dict) -> Overflow:
    overflow = jnp.array(OVERFLOW_LOGITS)  # (3,) float32 (float64 under x64)
    naive = naive_softmax(overflow)  # (3,)
    return Overflow(
        dtype=str(overflow.dtype),
        overflow_logits=OVERFLOW_LOGITS,
        overflow_exp=jnp.exp(overflow).tolist(),
        naive_overflow=naive.tolist(),
        naive_overflow_is_nan=bool(jnp.any(jnp.isnan(naive))),
        stable_overflow=attention.softmax(overflow).tolist(),
    )


def say_overflow(r: Overflow, console: Console) -> None:
    logits, exps = display.vector(r.overflow_logits), display.vector(r.overflow_exp)
    naive = display.vector(r.naive_overflow)
    stable = display.vector(r.stable_overflow, "{:.4f}")
    console.print(
        f"Logits {logits} in {r.dtype}. exp gives {exps}, so "
        f"exp(x) / Σ exp(x) gives {naive}"
        + (" (inf / inf is NaN)." if r.naive_overflow_is_nan else ".")
    )
    console.print(
        f"Subtracting the maximum first gives {stable}, the right answer: softmax "
        "ignores a constant added to every logit, and after the shift every "
        "exponent is ≤ 0."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S, seed = sections.Section, args.seed
    widths = len(SWEEP_DIMS)
    return [
        S(
            "softmax",
            partial(compute_softmax, seed=seed, dim=args.dim, tokens=args.tokens),
            say_softmax,
            title="1. Softmax of large scores",
            doing=f"compiling the scores of {display.count(args.tokens, 'key')} and their softmax",
        ),
        S(
            "jacobian",
            partial(compute_jacobian, seed=seed),
            say_jacobian,
            title="2. The gradient's road back",
        ),
        S(
            "sweep",
            partial(compute_sweep, seed=seed, tokens=args.tokens),
            say_sweep,
            title="3. The collapse by width",
            doing=f"the sweep: {widths} widths × {SWEEP_DRAWS} draws in one program",
        ),
        S("overflow", compute_overflow, say_overflow, title="4. Overflow"),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    s, j, w, o = (done[n] for n in ("softmax", "jacobian", "sweep", "overflow"))
    return {
        "dim": s.dim,
        "dtype": s.dtype,
        "top_gap": j.top_gap,
        "jacobian_unscaled": j.jacobian_unscaled,
        "jacobian_scaled": j.jacobian_scaled,
        "sweep_tokens": w.tokens,
        "sweep": w.rows,
        "scale": s.scale,
        "raw_scores": s.raw_scores,
        "unscaled": s.unscaled,
        "scaled": s.scaled,
        "jacobian_unscaled_max": j.jacobian_unscaled_max,
        "jacobian_unscaled_l1": j.jacobian_unscaled_l1,
        "jacobian_scaled_max": j.jacobian_scaled_max,
        "jacobian_scaled_l1": j.jacobian_scaled_l1,
        "l1_ratio": j.l1_ratio,
        "entropy_unscaled": s.entropy_unscaled,
        "entropy_scaled": s.entropy_scaled,
        "entropy_max": s.entropy_max,
        "underflow_threshold": s.underflow_threshold,
        "subnormals": s.subnormals,
        "autodiff_max_error": j.autodiff_max_error,
        "overflow_logits": o.overflow_logits,
        "overflow_exp": o.overflow_exp,
        "naive_overflow": o.naive_overflow,
        "naive_overflow_is_nan": o.naive_overflow_is_nan,
        "stable_overflow": o.stable_overflow,
    }


def collapse_bullet(s: Softmax) -> str:
    """How much of the attention the largest score took, unscaled and scaled."""
    if len(s.raw_scores) == 1:
        return "With a single key the softmax is always [1]: there is nothing to collapse onto."
    root = 1 / s.scale
    return (
        f"Unscaled (std √{s.dim} = {root:g}), the largest score took "
        f"{display.share(max(s.unscaled), 4)} of the attention; divided by {root:g}, "
        f"the largest share was {display.share(max(s.scaled), 1)}."
    )


def gradient_bullet(j: Jacobian, rows: list[SweepRow]) -> str:
    """How much more gradient the scaled softmax passes back, in this draw and typically."""
    ratio = j.l1_ratio
    if j.tokens == 1:
        return "Its Jacobian is zero, scaled or not: one key leaves nothing to choose between."
    if ratio is None:
        return (
            f"Unscaled, the softmax's Jacobian was exactly zero in {j.dtype}: no gradient "
            "reached the scores, the queries or the keys."
        )
    if j.dim == 1:
        return "At D = 1 the scale is 1: scaled and unscaled have the same Jacobian."
    head = f"Scaling made the Jacobian, the gradient's road back to the scores, {ratio:.3g}× larger"
    if ratio >= 2:
        return f"{head}: unscaled, only {display.share(1 / ratio, 1)} of it got through."
    if not rows:
        return head + "."
    return (
        f"{head}: this draw's top scores were close; the sweep's median is "
        f"{rows[-1].ratio_median:.3g}× at D = {rows[-1].dim}."
    )


def overflow_bullet(o: Overflow) -> str:
    """What exp did to large logits, and what the shift by the maximum fixed."""
    logits, naive = display.vector(o.overflow_logits), display.vector(o.naive_overflow)
    stable = display.vector(o.stable_overflow, "{:.4f}")
    fixed = f"subtracting the maximum first gave {stable}"
    if o.naive_overflow_is_nan:
        return f"exp of {logits} overflows {o.dtype}, so exp(x) / Σ exp(x) gave {naive}; {fixed}."
    return f"exp(x) / Σ exp(x) of {logits} gave {naive} in {o.dtype}; {fixed}."


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [
        collapse_bullet(done["softmax"]),
        gradient_bullet(done["jacobian"], done["sweep"].rows),
        overflow_bullet(done["overflow"]),
    ]


KERNELS = (
    attention_scores,
    attention.softmax,
    attention.softmax_jacobian,
    attention.entropy,
    softmax_facts,
    collapse_sweep,
    naive_softmax,
)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--dim",
        type=cli.int_in(1, MAX_DIM),
        default=DIM,
        help="width D of the query and key vectors (default: %(default)s)",
    )
    parser.add_argument(
        "--tokens",
        type=cli.int_in(1, MAX_TOKENS, "the Jacobian holds tokens² numbers"),
        default=TOKENS,
        help="number of keys scored (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.require_memory(
        parser, bytes_needed(args.dim, args.tokens), f"--dim {args.dim:,} --tokens {args.tokens:,}"
    )
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=KERNELS
    )


if __name__ == "__main__":
    cli.entry(main)
