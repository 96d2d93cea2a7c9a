"""Lesson 8.2 — the full pre-norm transformer block.

One block does two things to the residual stream x (B, T, d), each added
back to it: causal multi-head attention lets every token read its past, and
an MLP lets every token compute on what it read; each sub-layer sees a
normalised copy of the stream (pre-norm):

    y = x + Attention(LayerNorm(x)),    z = y + MLP(LayerNorm(y))

Part A re-creates the original's block: its X (1, 3, 8), γ = 1 and β = 0,
constant W_q, W_k, W_v, W_o and a SwiGLU MLP of width 16 with constant
matrices, 2 heads of width 4. Every stage's shape, token norms before and
after LayerNorm against their closed form, both heads' weights — and what
its constant weights do: the whole block is the identity. Then RMSNorm (what
Llama uses) beside LayerNorm, and beyond it: seeded random blocks
checked against a float64 NumPy re-implementation and against
jax.nn.dot_product_attention, causality, parameter counts against their
formulas, and a stack of blocks, pre-norm against post-norm, showing how
the residual stream's norm grows with depth (about linearly, not
exponentially). A closing section sets these beside the original's words.

Run:  python lessons/16_transformer_block.py [--layers 8] [--d-model 64] [--tokens 16]
                                             [--seed 0] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations import cli, display
from trinity_foundations import transformer as tr

# --- the original's data (16_transformer_block.exs) ----------------------------------------

X = [
    [1.0, 0.5, -0.2, 0.1, 0.8, -0.4, 0.3, 0.2],  # The
    [0.1, 2.0, 0.9, -0.3, 0.4, 0.1, 0.5, 0.0],  # cat
    [-0.3, 0.2, 1.5, 0.7, -0.2, 0.5, 0.1, 0.8],  # sat
]
TOKENS = ["The", "cat", "sat"]
ATTN_CONSTANTS = {"w_q": 0.2, "w_k": 0.1, "w_v": 0.4, "w_o": 0.3}
MLP_CONSTANTS = {"w_gate": 0.5, "w_up": 0.2, "w_down": 0.3}
ORIGINAL = tr.GPTConfig(
    vocab_size=1, context=3, d_model=8, n_layers=1, n_heads=2, d_ff=16, mlp="swiglu", eps=1e-5
)

# --- this lesson's choices ---------------------------------------------------------------

SEED, LAYERS, D_MODEL, TOKENS_T, HEADS, BATCH = 0, 8, 64, 16, 4, 2
MAX_LAYERS, MAX_D, MAX_T = 64, 1024, 1024
SMALL_SIGMA = 1e-3  # a token this flat shows where (x − μ)/(σ + ε) and the code part ways
TABLE_ROWS = 12
LLAMA_WIDTHS = (  # published configs: (model, d_model, SwiGLU width)
    ("Llama 2 7B", 4096, 11008),  # 8/3·d rounded up to a multiple of 256
    ("Llama 3 8B", 4096, 14336),
    ("Mistral 7B", 4096, 14336),
)


def original_block() -> dict:
    """The original's parameters in the `block` layout of `transformer` (zero biases)."""
    d, f = ORIGINAL.d_model, ORIGINAL.d_ff
    dtype = jnp.asarray(X).dtype
    attn = {n: jnp.full((d, d), c, dtype) for n, c in ATTN_CONSTANTS.items()}  # (d, d) each
    attn |= {f"b_{n[2:]}": jnp.zeros(d, dtype) for n in ATTN_CONSTANTS}  # (d,) each
    shapes = {"w_gate": (d, f), "w_up": (d, f), "w_down": (f, d)}
    mlp = {n: jnp.full(shapes[n], c, dtype) for n, c in MLP_CONSTANTS.items()}
    norm = {"gamma": jnp.ones(d, dtype), "beta": jnp.zeros(d, dtype)}
    return {"norm1": norm, "attn": attn, "norm2": dict(norm), "mlp": mlp}


@functools.partial(jax.jit, static_argnames="config")
def block_stages(p: dict, x: jax.Array, *, config: tr.GPTConfig) -> dict:
    """The pre-norm SwiGLU block of `transformer.block`, keeping every intermediate.

    Args:
      p: block parameters; x: (B, T, d).
    Returns:
      a dict of every stage, from "norm1" (B, T, d) to "z" (B, T, d).
    """
    h = config.n_heads
    n1 = tr.norm(p["norm1"], x, config=config)  # (B, T, d)
    q, k, v = tr.qkv(p["attn"], n1, h)  # (B, H, T, d_h) each
    heads, weights = tr.attend(q, k, v, tr.causal_mask(x.shape[1]))  # (B,H,T,d_h), (B,H,T,T)
    merged = tr.merge_heads(heads)  # (B, T, d)
    attn = merged @ p["attn"]["w_o"] + p["attn"]["b_o"][None, None]  # (B, T, d)
    y = x + attn  # (B, T, d)
    n2 = tr.norm(p["norm2"], y, config=config)  # (B, T, d)
    gate = n2 @ p["mlp"]["w_gate"]  # (B, T, f)
    mlp = tr.mlp(p["mlp"], n2, kind="swiglu")  # (B, T, d)
    z = y + mlp  # (B, T, d)
    return dict(norm1=n1, q=q, k=k, v=v, weights=weights, merged=merged, attn=attn, y=y,
                norm2=n2, gate=gate, mlp=mlp, z=z)  # fmt: skip


@jax.jit
def comment_layer_norm(x: jax.Array, eps: float) -> jax.Array:
    """The original's comment, (x − μ)/(σ + ε) with γ = 1, β = 0: not what its code does."""
    mu = jnp.mean(x, axis=-1, keepdims=True)  # (..., 1)
    sigma = jnp.std(x, axis=-1, keepdims=True)  # (..., 1)
    return (x - mu) / (sigma + eps)  # (..., d)


def row_norms(a) -> list[float]:
    return np.linalg.norm(np.asarray(a).reshape(-1, np.shape(a)[-1]), axis=-1).tolist()


STAGES = (
    "x",
    "norm1",
    "q",
    "k",
    "v",
    "weights",
    "merged",
    "attn",
    "y",
    "norm2",
    "gate",
    "mlp",
    "z",
)


def part_a() -> dict:
    cfg, p = ORIGINAL, original_block()
    x = jnp.asarray(X)[None]  # (1, 3, 8)
    s = {n: np.asarray(a) for n, a in block_stages(p, x, config=cfg).items()}  # on the host
    z_kernel = np.asarray(tr.block(p, x, config=cfg))  # the shared kernel, for comparison
    x_host = np.asarray(x)
    d, eps = cfg.d_model, cfg.eps
    var = np.var(np.asarray(X, np.float64), axis=-1)  # (T,) biased variance
    flat = np.asarray(X[0])
    small = flat.mean() + (flat - flat.mean()) * SMALL_SIGMA / flat.std()  # (d,) σ = 1e-3
    ones_d = np.ones(d, x_host.dtype)
    allowed = np.tril(np.ones((3, 3)))
    uniform = allowed / allowed.sum(axis=1, keepdims=True)  # (T, T) 1/(i+1) on the allowed keys
    w = s["weights"][0]  # (H, T, T)
    s["x"] = x_host
    return {
        "shapes": {name: list(s[name].shape) for name in STAGES},
        "norms_before": row_norms(x),
        "norms_after": row_norms(s["norm1"]),
        "norms_closed_form": np.sqrt(d * var / (var + eps)).tolist(),
        "norms_comment_formula": row_norms(comment_layer_norm(x, eps)),
        "norms_rms": row_norms(tr.rms_norm(x, ones_d, eps)),
        "small_token": {
            "sigma": SMALL_SIGMA,
            "code": row_norms(tr.layer_norm(small.astype(ones_d.dtype), ones_d, 0 * ones_d, eps))[
                0
            ],
            "comment": row_norms(comment_layer_norm(small.astype(ones_d.dtype), eps))[0],
        },
        "ln_row_sum_max": float(np.max(np.abs(np.sum(s["norm1"], axis=-1)))),
        "qkv_max": float(max(np.max(np.abs(s[n])) for n in "qkv")),
        "attn_max": float(np.max(np.abs(s["attn"]))),
        "mlp_max": float(np.max(np.abs(s["mlp"]))),
        "identity_max_diff": float(np.max(np.abs(s["z"] - x_host))),
        "rounding_scale": float(np.finfo(x_host.dtype).eps * np.max(np.abs(x_host))),
        "stages_vs_kernel": float(np.max(np.abs(s["z"] - z_kernel))),
        "head_weights": w.tolist(),
        "uniform_causal_max_diff": float(np.max(np.abs(w - uniform))),
        "dtype": str(x.dtype),
        "d": d,
        "d_ff": cfg.d_ff,
        "llama_d_ff": 8 / 3 * d,
        "llama_widths": [{"model": n, "d": dm, "d_ff": f} for n, dm, f in LLAMA_WIDTHS],
        "eps": eps,
    }


# --- beyond: seeded random blocks -------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("config", "noisy_norms"))
def seeded_block(key: jax.Array, config: tr.GPTConfig, noisy_norms: bool = True) -> dict:
    """A block with random leaves: matrices normal(0, 1/fan_in), biases 0.1·normal, and
    gammas 1 + 0.1·normal, betas 0.1·normal when `noisy_norms` (else γ = 1, β = 0).
    GPT-2's init (std 0.02) would leave the stream almost untouched.

    One normal draw of every scalar at once, cut into the leaves of `init_block`'s layout
    (a draw per leaf would cost a random-number kernel each to compile)."""
    shapes = jax.eval_shape(lambda k: tr.init_block(k, config), key)
    paths, tree = jax.tree.flatten_with_path(shapes)
    sizes = [math.prod(leaf.shape) for _, leaf in paths]
    draws = jax.random.normal(key, (sum(sizes),), paths[0][1].dtype)  # (n_params,)
    out, start = [], 0
    for (path, leaf), n in zip(paths, sizes):
        z = draws[start : start + n].reshape(leaf.shape)
        start += n
        name = path[-1].key
        if leaf.ndim == 2:
            out.append(z / math.sqrt(leaf.shape[0]))  # (fan_in, fan_out)
        elif name == "gamma":
            out.append(1 + 0.1 * z if noisy_norms else jnp.ones_like(z))
        elif name == "beta" and not noisy_norms:
            out.append(jnp.zeros_like(z))
        else:
            out.append(0.1 * z)
    return jax.tree.unflatten(tree, out)


def np_block(p: dict, x: np.ndarray, cfg: tr.GPTConfig) -> np.ndarray:
    """The pre-norm GELU/LayerNorm block in float64 NumPy, from the formulas."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)

    def ln(n, a):
        mu, var = a.mean(-1, keepdims=True), a.var(-1, keepdims=True)
        return (a - mu) / np.sqrt(var + cfg.eps) * n["gamma"] + n["beta"]

    def heads(a):  # (B, T, d) -> (B, H, T, d_h)
        b, t, d = a.shape
        return a.reshape(b, t, cfg.n_heads, d // cfg.n_heads).transpose(0, 2, 1, 3)

    a, t = p["attn"], x.shape[1]
    h = ln(p["norm1"], x)
    q, k, v = (heads(h @ a[f"w_{n}"] + a[f"b_{n}"]) for n in "qkv")
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    o = (w / w.sum(-1, keepdims=True)) @ v  # (B, H, T, d_h)
    x = x + o.transpose(0, 2, 1, 3).reshape(x.shape) @ a["w_o"] + a["b_o"]
    m, u = p["mlp"], ln(p["norm2"], x) @ p["mlp"]["w_fc"] + p["mlp"]["b_fc"]
    g = 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u**3)))  # GELU (tanh)
    return x + g @ m["w_proj"] + m["b_proj"]


@functools.partial(jax.jit, static_argnames="config")
def sdpa_gap(p: dict, x: jax.Array, *, config: tr.GPTConfig) -> jax.Array:
    """max |our causal attention − jax.nn.dot_product_attention(is_causal=True)| on the block's
    queries, keys and values; p a block, x (B, T, d)."""
    h = tr.norm(p["norm1"], x, config=config)  # (B, T, d)
    q, k, v = tr.qkv(p["attn"], h, config.n_heads)  # (B, H, T, d_h) each
    ours, _ = tr.attend(q, k, v, tr.causal_mask(q.shape[2]))  # (B, H, T, d_h)
    bthd = [a.transpose(0, 2, 1, 3) for a in (q, k, v)]  # (B, T, H, d_h), jax's layout
    theirs = jax.nn.dot_product_attention(*bthd, is_causal=True)  # (B, T, H, d_h)
    return jnp.max(jnp.abs(ours - theirs.transpose(0, 2, 1, 3)))


def stream_norms(blocks: dict, x: jax.Array, *, config: tr.GPTConfig) -> jax.Array:
    """Mean token norm of the residual stream before and after each of L stacked blocks.

    Args:
      blocks: block parameters stacked along a leading layer axis (L, ...).
      x: (B, T, d) the input stream.
    Returns:
      (L + 1,) mean over tokens of ‖x_t‖, the input first.
    """

    def layer(x, p):
        x = tr.block(p, x, config=config)  # (B, T, d)
        return x, jnp.mean(jnp.linalg.norm(x, axis=-1))

    _, norms = jax.lax.scan(layer, x, blocks)  # (L,)
    return jnp.concatenate([jnp.mean(jnp.linalg.norm(x, axis=-1))[None], norms])  # (L + 1,)


@functools.partial(jax.jit, static_argnames="config")
def pre_and_post(key: jax.Array, x: jax.Array, *, config: tr.GPTConfig):
    """L seeded blocks (γ = 1, β = 0) run as a pre-norm and as a post-norm stack.

    One compiled program for the draw and both stacks. Returns two (L + 1,) arrays of
    mean token norms (see `stream_norms`); x (B, T, d).
    """
    keys = jax.random.split(key, config.n_layers)  # (L,) one key per block
    blocks = jax.vmap(lambda k: seeded_block(k, config, noisy_norms=False))(keys)  # (L, ...)
    post = config._replace(prenorm=False)
    return stream_norms(blocks, x, config=config), stream_norms(blocks, x, config=post)


def param_counts(d: int) -> dict:
    """Parameters read off the pytrees, beside the formulas, for width d and f = 4d."""
    f = 4 * d
    gpt2 = tr.GPTConfig(1, 1, d, 1, 1, f)
    swiglu = gpt2._replace(mlp="swiglu", norm="rms")
    shapes = {  # eval_shape: the shapes of an init, no numbers drawn
        name: jax.eval_shape(lambda k, c=cfg: tr.init_block(k, c), jax.random.key(0))
        for name, cfg in (("gelu", gpt2), ("swiglu", swiglu))
    }
    return {
        "d": d,
        "f": f,
        "gelu_mlp": tr.param_count(shapes["gelu"]["mlp"]),
        "gelu_mlp_weights_formula": 2 * d * f,
        "gelu_mlp_biases": f + d,
        "swiglu_mlp": tr.param_count(shapes["swiglu"]["mlp"]),
        "swiglu_mlp_formula": 3 * d * f,
        "attention": tr.param_count(shapes["gelu"]["attn"]),
        "attention_formula": 4 * d * d + 4 * d,
        "gpt2_layer": tr.param_count(shapes["gelu"]),
        "gpt2_layer_formula": 12 * d * d + 13 * d,
        "original_block": tr.param_count(original_block()),
        "original_block_biases": tr.param_count(
            {n: a for n, a in original_block()["attn"].items() if n.startswith("b_")}
        ),
    }


def beyond(seed: int, layers: int, d: int, t: int) -> dict:
    cfg = tr.GPTConfig(1, t, d, layers, HEADS, 4 * d)
    k_x, k_block, k_stack = jax.random.split(jax.random.key(seed), 3)
    x = np.asarray(jax.random.normal(k_x, (BATCH, t, d)))  # (B, T, d) a unit-variance stream
    p = seeded_block(k_block, cfg)
    z = np.asarray(tr.block(p, x, config=cfg))  # (B, T, d)
    ref = np_block(p, x.astype(np.float64), cfg)
    cut = t // 2
    x2 = x.copy()
    x2[:, cut] *= -1.0  # change token `cut` (adding a constant would not: LayerNorm removes it)
    z2 = np.asarray(tr.block(p, x2, config=cfg))
    pre, post = pre_and_post(k_stack, x, config=cfg)  # (L + 1,) each
    return {
        "reference_max_diff": float(np.max(np.abs(z - ref))),
        "reference_scale": float(np.max(np.abs(ref))),
        "sdpa_max_diff": float(sdpa_gap(p, x, config=cfg)),
        "causal_t": cut,
        "causal_tokens": t,
        "causal_max_diff_before": float(np.max(np.abs(z2[:, :cut] - z[:, :cut]), initial=0.0)),
        "causal_max_diff_after": float(
            np.max(np.abs(z2[:, cut + 1 :] - z[:, cut + 1 :]), initial=0.0)
        ),
        "param_counts": param_counts(d),
        "residual_norms_prenorm": pre.tolist(),
        "residual_norms_postnorm": post.tolist(),
        "random_dtype": str(z.dtype),
        "sqrt_d": math.sqrt(d),
    }


def run(seed=SEED, layers=LAYERS, d_model=D_MODEL, tokens=TOKENS_T) -> dict:
    return {**part_a(), **beyond(seed, layers, d_model, tokens)}


# --- the report ---------------------------------------------------------------------------------


def shape(dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


def identity_sentence(diff: float, scale: float) -> str:
    """Whether max|Z − X| is rounding (the block is the identity) or a real change."""
    if diff <= 10 * scale:
        return (
            f"max|Z − X| = {diff:.3g}, within rounding of the input (10 machine ε · max|X| = "
            f"{10 * scale:.3g}): the block is the identity"
        )
    return f"max|Z − X| = {diff:.3g}, well above rounding ({10 * scale:.3g}): the block changed X"


def agreement(diff: float, tol: float) -> str:
    return f"{diff:.3g} ({'agree' if diff <= tol else 'DISAGREE'} within {tol:.2g})"


def unchanged_phrase(before: float) -> str:
    return "bit for bit unchanged" if before == 0.0 else "the mask leaks"


def causal_sides(t: int, tokens: int) -> tuple[int, int]:
    """(outputs before token t, outputs after it) in a sequence of `tokens`."""
    return t, tokens - t - 1


def causal_sentence(t: int, tokens: int, before: float, after: float) -> str:
    """What changing token t showed: only the sides of t that hold tokens are reported."""
    n_before, n_after = causal_sides(t, tokens)
    if n_before == n_after == 0:
        return (
            "With one token there is no output before or after it: causality is not tested "
            "(try --tokens 2 or more)."
        )
    parts = []
    if n_before:
        parts.append(
            f"moved the {display.count(n_before, 'output')} before it by {before:g} "
            f"({unchanged_phrase(before)})"
        )
    if n_after:
        parts.append(f"the {display.count(n_after, 'output')} after it by up to {after:.3g}")
    return f"Changing token {t} " + " and ".join(parts) + "."


def growth_kind(norms: list[float]) -> str:
    """The shape of the stream's growth over blocks: 'none', 'too short' (one block),
    'exponential' (the factor per block holds), 'linear' (the step per block holds to
    within a factor 2) or 'slower' (the step shrinks more)."""
    n = np.asarray(norms, dtype=float)
    if n[-1] <= 1.05 * n[0]:
        return "none"
    if len(n) < 3:
        return "too short"
    steps, factors = np.diff(n), n[1:] / n[:-1]
    half = len(steps) // 2
    if factors[half:].mean() - 1 >= 0.8 * (factors[:half].mean() - 1):
        return "exponential"
    return "linear" if steps[half:].mean() >= 0.5 * steps[:half].mean() else "slower"


GROWTH_WORDS = {
    "none": "it did not grow",
    "too short": "it grew (one block is too few to tell how)",
    "exponential": "it grew by a steady factor per block: exponentially",
    "linear": "it grew about linearly, not exponentially",
    "slower": "it grew, ever more slowly: slower than linearly",
}


def doc_0023_verdict(kind: str) -> str:
    """Whether a growth kind agrees with doc 0023 (no exponential growth), or cannot tell."""
    if kind == "too short":
        return "cannot test that"
    return "disagrees" if kind == "exponential" else "agrees"


def growth_sentence(pre: list[float], post: list[float], sqrt_d: float) -> str:
    """What the two stacks did to the stream's norm."""
    steps, factors = np.diff(pre), np.asarray(pre[1:]) / np.asarray(pre[:-1])
    post_span = display.span(post[1:], 3)
    shape = GROWTH_WORDS[growth_kind(pre)]
    ends = (
        f" (the first {steps[0]:+.3g}, ×{factors[0]:.3f}; the last {steps[-1]:+.3g}, "
        f"×{factors[-1]:.3f})"
        if len(steps) > 1
        else ""
    )
    return (
        f"Pre-norm: the stream's mean token norm went from {pre[0]:.3g} to {pre[-1]:.3g} "
        f"over {display.count(len(pre) - 1, 'block')}, {steps.mean():+.3g} per block on average"
        f"{ends}: {shape}. The stream itself is never normalised, only the "
        f"copies the sub-layers read. Post-norm: {post_span} after every block, √d = "
        f"{sqrt_d:.3f}, because each block ends in a LayerNorm."
    )


def width_matches(d: int, d_ff: int, widths: list[dict]) -> bool:
    """Whether d_ff/d is the ratio of one of the published models."""
    return any(w["d_ff"] * d == d_ff * w["d"] for w in widths)


def width_sentence(d: int, d_ff: int, widths: list[dict]) -> str:
    """The original's SwiGLU width against published Llama-family widths."""
    theirs = "; ".join(f"{w['model']} {w['d_ff']:,} = {w['d_ff'] / w['d']:.3g}·d" for w in widths)
    same = width_matches(d, d_ff, widths)
    verdict = "a ratio one of these models uses" if same else "a ratio none of these models uses"
    return f"{d_ff} = {d_ff / d:g}·d, {verdict} ({theirs})"


def report_part_a(r: dict, console) -> None:
    console.print(
        "[bold]A. The original's block[/]: X (1, 3, 8), γ = 1, β = 0, "
        + ", ".join(f"{n.upper()} = {c:g}" for n, c in {**ATTN_CONSTANTS, **MLP_CONSTANTS}.items())
        + f", {ORIGINAL.n_heads} heads, SwiGLU width {r['d_ff']}"
    )
    console.print("  " + " → ".join(f"{n} {shape(s)}" for n, s in r["shapes"].items()))
    t = display.matrix_table(
        "token L2 norms",
        np.column_stack([r["norms_before"], r["norms_after"], r["norms_closed_form"]]),
        rows=TOKENS,
        cols=["before", "after LayerNorm", "√(d·var/(var+ε))"],
    )
    console.print(t)
    console.print(
        f"After LayerNorm each norm is √(d·var/(var+ε)), just under √d = {math.sqrt(r['d']):.4f}: "
        "ε sits inside the square root, added to the variance."
    )
    rms = display.vector(r["norms_rms"], "{:.4f}")
    console.print(
        f"RMSNorm, what Llama uses, is x/√(mean(x²) + ε)·γ: no centring and no β (norms of X "
        f"after it: {rms}). This block, like the original's, uses LayerNorm."
    )
    for h, w in enumerate(r["head_weights"]):
        console.print(display.matrix_table(f"head {h} weights", w, rows=TOKENS, cols=TOKENS))


def report_truths(r: dict, console) -> None:
    console.print("\n[bold]What constant weights do[/]")
    console.print(
        f"• With constant weights and β = 0, "
        f"{identity_sentence(r['identity_max_diff'], r['rounding_scale'])} ({r['dtype']}). "
        f"A LayerNorm row sums to zero (here to within {r['ln_row_sum_max']:.2g}), and a row "
        f"that sums to zero times a constant matrix is zero: Q, K and V are at most "
        f"{r['qkv_max']:.2g}, attention adds at most {r['attn_max']:.2g} and the MLP "
        f"{r['mlp_max']:.2g}. So both heads' weights are plain uniform-causal (1/(i+1) on the "
        f"past, to within {r['uniform_causal_max_diff']:.2g}): they attend to nothing in "
        "particular."
    )


def report_beyond(r: dict, console) -> None:
    console.print(f"\n[bold]B. Seeded random blocks[/] ({r['random_dtype']})")
    console.print(
        f"• Against a float64 NumPy re-implementation: max difference "
        f"{agreement(r['reference_max_diff'], 1e-5 * max(1.0, r['reference_scale']))}."
    )
    console.print(
        "• Causal attention against jax.nn.dot_product_attention(is_causal=True): "
        f"{agreement(r['sdpa_max_diff'], 1e-5)}."
    )
    console.print(
        "• "
        + causal_sentence(
            r["causal_t"],
            r["causal_tokens"],
            r["causal_max_diff_before"],
            r["causal_max_diff_after"],
        )
    )
    c = r["param_counts"]
    rows = [
        ("GELU MLP", c["gelu_mlp"], f"2df + f + d = {c['gelu_mlp_weights_formula']:,} + "
                                    f"{c['gelu_mlp_biases']:,}"),
        ("SwiGLU MLP", c["swiglu_mlp"], f"3df = {c['swiglu_mlp_formula']:,}"),
        ("attention", c["attention"], f"4d² + 4d = {c['attention_formula']:,}"),
        ("GPT-2 layer", c["gpt2_layer"], f"12d² + 13d = {c['gpt2_layer_formula']:,}"),
    ]  # fmt: skip
    console.print(f"• Parameters at d = {c['d']}, f = 4d = {c['f']}, read off the pytrees:")
    for name, n, formula in rows:
        console.print(f"    {name:<12} {n:>12,}   {formula}")
    orig, biases = c["original_block"], c["original_block_biases"]
    console.print(
        f"  (the original's block: {orig - biases:,} parameters; {orig:,} in this layout, "
        f"which gives attention {biases} zero biases the original does not have)"
    )
    pre, post = r["residual_norms_prenorm"], r["residual_norms_postnorm"]
    chart = display.line_chart(
        {"pre-norm": pre, "post-norm": post},
        x_label="blocks",
        y_label="mean token norm of the residual stream",
        x_first=0,
    )
    console.print(chart)
    shown = min(len(pre), TABLE_ROWS)
    for i in range(shown):
        console.print(f"    after {i:>2} blocks: pre-norm {pre[i]:8.3f}   post-norm {post[i]:8.3f}")
    if len(pre) > shown:
        console.print(f"    … {len(pre) - shown} more")
    console.print(growth_sentence(pre, post, r["sqrt_d"]))


def report_original(r: dict, console) -> None:
    """The closing section: the original's words beside what this lesson measured."""
    console.print("\n[bold]Beside the original[/]")
    norms = display.vector(r["norms_comment_formula"], "{:.6f}")
    sm = r["small_token"]
    console.print(
        "• The original's comment says (x − μ)/(σ + ε); its code computes "
        "(x − μ)/√(σ² + ε), as here. "
        f"On X the two differ little ({norms} against the code's norms above), but on a flat "
        f"token (σ = {sm['sigma']:g}) the comment's norm is {sm['comment']:.4f} and the code's "
        f"{sm['code']:.4f}: ε only matters next to σ², so where it sits matters."
    )
    console.print(
        "• It calls its SwiGLU MLP “Llama style”, rightly; the width, “for toy size”, is "
        f"{width_sentence(r['d'], r['d_ff'], r['llama_widths'])}."
    )
    kind = growth_kind(r["residual_norms_prenorm"])
    console.print(
        "• Doc 0023 says normalisation keeps hidden states from growing exponentially with "
        f"depth. The pre-norm stream above {doc_0023_verdict(kind)}: {GROWTH_WORDS[kind]}."
    )


def report(r: dict, console) -> None:
    report_part_a(r, console)
    report_truths(r, console)
    report_beyond(r, console)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED, original=True)
    parser.add_argument(
        "--layers",
        type=cli.int_in(1, MAX_LAYERS),
        default=LAYERS,
        help=f"blocks in the pre/post-norm stack, 1 to {MAX_LAYERS} (default: %(default)s)",
    )
    parser.add_argument(
        "--d-model",
        type=cli.int_in(HEADS, MAX_D, f"a multiple of {HEADS} heads"),
        default=D_MODEL,
        help=f"width of the random blocks, a multiple of {HEADS} (default: %(default)s)",
    )
    parser.add_argument(
        "--tokens",
        type=cli.int_in(1, MAX_T),
        default=TOKENS_T,
        help=f"tokens per sequence in the random blocks, 1 to {MAX_T} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.d_model % HEADS:
        parser.error(f"argument --d-model: must be a multiple of {HEADS}, got {args.d_model}")
    d, t, n = args.d_model, args.tokens, args.layers
    floats = (2 * n + 1) * (12 * d * d + 13 * d) + 40 * BATCH * t * (d + t)  # params + activations
    cli.require_memory(parser, 8 * floats, f"--layers {n} --d-model {d} --tokens {t}")
    cli.finish(
        args,
        __file__,
        run(args.seed, n, d, t),
        report,
        title=__doc__,
        original=report_original,
        kernels=(tr.layer_norm, tr.rms_norm, tr.attend, tr.attention, tr.mlp, tr.block),
    )


if __name__ == "__main__":
    cli.entry(main)
