"""Lesson 16 — the full pre-norm transformer block.

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
                                             [--seed 0] [--json] [--show-code] [--original]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console

from trinity_foundations import cli, display, sections, transformer

# --- the original's data (16_transformer_block.exs) ----------------------------------------

X = [
    [1.0, 0.5, -0.2, 0.1, 0.8, -0.4, 0.3, 0.2],  # The
    [0.1, 2.0, 0.9, -0.3, 0.4, 0.1, 0.5, 0.0],  # cat
    [-0.3, 0.2, 1.5, 0.7, -0.2, 0.5, 0.1, 0.8],  # sat
]
TOKENS = ["The", "cat", "sat"]
ATTN_CONSTANTS = {"w_q": 0.2, "w_k": 0.1, "w_v": 0.4, "w_o": 0.3}
MLP_CONSTANTS = {"w_gate": 0.5, "w_up": 0.2, "w_down": 0.3}
ORIGINAL = transformer.GPTConfig(
    vocab_size=1, context=3, d_model=8, n_layers=1, n_heads=2, d_ff=16, mlp="swiglu", eps=1e-5
)

# --- this lesson's choices ---------------------------------------------------------------

SEED, LAYERS, D_MODEL, TOKENS_T, HEADS, BATCH = 0, 8, 64, 16, 4, 2
MAX_LAYERS, MAX_D, MAX_T = 64, 1024, 1024
SMALL_SIGMA = 1e-3  # a token this flat shows where (x − μ)/(σ + ε) and the code part ways
TABLE_ROWS = 12
TOLERANCE = 1e-5  # float32 against float64 (times the output's scale) and against jax.nn
LLAMA_WIDTHS = (  # published configs: (model, d_model, SwiGLU width)
    ("Llama 2 7B", 4096, 11008),  # 8/3·d rounded up to a multiple of 256
    ("Llama 3 8B", 4096, 14336),
    ("Mistral 7B", 4096, 14336),
)


def row_norms(a) -> list[float]:
    """The L2 norm of every row of a (..., d) array, flattened to a list."""
    return np.linalg.norm(np.asarray(a).reshape(-1, np.shape(a)[-1]), axis=-1).tolist()


def shape(dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


# ----------------------------------------------------------------------------
# A. The original's block, stage by stage.


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
def block_stages(p: dict, x: jax.Array, *, config: transformer.GPTConfig) -> dict:
    """The pre-norm SwiGLU block of `transformer.block`, keeping every intermediate.

    Args:
      p: block parameters; x: (B, T, d).
    Returns:
      a dict of every stage, from "norm1" (B, T, d) to "z" (B, T, d).
    """
    h = config.n_heads
    n1 = transformer.norm(p["norm1"], x, config=config)  # (B, T, d)
    q, k, v = transformer.qkv(p["attn"], n1, h)  # (B, H, T, d_h) each
    heads, weights = transformer.attend(q, k, v, transformer.causal_mask(x.shape[1]))
    merged = transformer.merge_heads(heads)  # (B, T, d); weights (B, H, T, T)
    attn = merged @ p["attn"]["w_o"] + p["attn"]["b_o"][None, None]  # (B, T, d)
    y = x + attn  # (B, T, d)
    n2 = transformer.norm(p["norm2"], y, config=config)  # (B, T, d)
    gate = n2 @ p["mlp"]["w_gate"]  # (B, T, f)
    mlp = transformer.mlp(p["mlp"], n2, kind="swiglu")  # (B, T, d)
    z = y + mlp  # (B, T, d)
    return dict(norm1=n1, q=q, k=k, v=v, weights=weights, merged=merged, attn=attn, y=y,
                norm2=n2, gate=gate, mlp=mlp, z=z)  # fmt: skip


STAGES = ("x", "norm1", "q", "k", "v", "weights", "merged", "attn", "y", "norm2", "gate",
          "mlp", "z")  # fmt: skip


def original_stages() -> dict[str, np.ndarray]:
    """Every stage of the original's block on its X, on the host, with "x" itself."""
    x = jnp.asarray(X)[None]  # (1, 3, 8)
    stages = block_stages(original_block(), x, config=ORIGINAL)
    return {"x": np.asarray(x)} | {n: np.asarray(a) for n, a in stages.items()}


@dataclass(frozen=True)
class Block:
    tokens: tuple[str, ...]  # the rows of X
    constants: dict[str, float]  # every constant weight matrix's value
    n_heads: int
    d: int
    d_ff: int
    eps: float
    shapes: dict[str, list[int]]  # stage -> shape, in forward order
    norms_before: list[float]  # ‖x_t‖ per token
    norms_after: list[float]  # after LayerNorm
    norms_closed_form: list[float]  # √(d·var/(var + ε)), in float64
    norms_rms: list[float]  # after RMSNorm
    head_weights: list  # (H, T, T) attention weights


def compute_block(done: dict) -> Block:
    s, d, eps = original_stages(), ORIGINAL.d_model, ORIGINAL.eps
    x = s["x"]  # (1, 3, 8)
    var = np.var(np.asarray(X, np.float64), axis=-1)  # (T,) biased variance
    ones_d = np.ones(d, x.dtype)
    return Block(
        tokens=tuple(TOKENS),
        constants={**ATTN_CONSTANTS, **MLP_CONSTANTS},
        n_heads=ORIGINAL.n_heads,
        d=d,
        d_ff=ORIGINAL.d_ff,
        eps=eps,
        shapes={name: list(s[name].shape) for name in STAGES},
        norms_before=row_norms(x),
        norms_after=row_norms(s["norm1"]),
        norms_closed_form=np.sqrt(d * var / (var + eps)).tolist(),
        norms_rms=row_norms(transformer.rms_norm(x, ones_d, eps)),
        head_weights=s["weights"][0].tolist(),
    )


def say_block(r: Block, console: Console) -> None:
    console.print(
        f"X {shape(r.shapes['x'])}, γ = 1, β = 0, "
        + ", ".join(f"{n.upper()} = {c:g}" for n, c in r.constants.items())
        + f", {r.n_heads} heads, SwiGLU width {r.d_ff}"
    )
    console.print("  " + " → ".join(f"{n} {shape(s)}" for n, s in r.shapes.items()))
    t = display.matrix_table(
        "token L2 norms",
        np.column_stack([r.norms_before, r.norms_after, r.norms_closed_form]),
        rows=list(r.tokens),
        cols=["before", "after LayerNorm", "√(d·var/(var+ε))"],
    )
    console.print(t)
    console.print(
        f"After LayerNorm each norm is √(d·var/(var+ε)), just under √d = {math.sqrt(r.d):.4f}: "
        "ε sits inside the square root, added to the variance."
    )
    rms = display.vector(r.norms_rms, "{:.4f}")
    console.print(
        f"RMSNorm, what Llama uses, is x/√(mean(x²) + ε)·γ: no centring and no β (norms of X "
        f"after it: {rms}). This block, like the original's, uses LayerNorm."
    )
    tokens = list(r.tokens)
    for h, w in enumerate(r.head_weights):
        console.print(display.matrix_table(f"head {h} weights", w, rows=tokens, cols=tokens))


# ----------------------------------------------------------------------------
# A. What constant weights do: the block is the identity.


@dataclass(frozen=True)
class Identity:
    identity_max_diff: float  # max |Z − X|
    rounding_scale: float  # machine ε · max |X|
    stages_vs_kernel: float  # max |Z − transformer.block(X)|: the stages are the kernel
    ln_row_sum_max: float  # max |Σ_i LayerNorm(x)_i| over tokens
    qkv_max: float  # max |Q|, |K|, |V|
    attn_max: float  # max |attention output|
    mlp_max: float  # max |MLP output|
    uniform_causal_max_diff: float  # max |weights − 1/(i+1) on the past|
    dtype: str


def compute_identity(done: dict) -> Identity:
    s = original_stages()
    x = s["x"]  # (1, 3, 8)
    z_kernel = np.asarray(transformer.block(original_block(), jnp.asarray(x), config=ORIGINAL))
    allowed = np.tril(np.ones((3, 3)))
    uniform = allowed / allowed.sum(axis=1, keepdims=True)  # (T, T) 1/(i+1) on the allowed keys
    return Identity(
        identity_max_diff=float(np.max(np.abs(s["z"] - x))),
        rounding_scale=float(np.finfo(x.dtype).eps * np.max(np.abs(x))),
        stages_vs_kernel=float(np.max(np.abs(s["z"] - z_kernel))),
        ln_row_sum_max=float(np.max(np.abs(np.sum(s["norm1"], axis=-1)))),
        qkv_max=float(max(np.max(np.abs(s[n])) for n in "qkv")),
        attn_max=float(np.max(np.abs(s["attn"]))),
        mlp_max=float(np.max(np.abs(s["mlp"]))),
        uniform_causal_max_diff=float(np.max(np.abs(s["weights"][0] - uniform))),
        dtype=str(x.dtype),
    )


def is_identity(diff: float, scale: float) -> bool:
    """Whether max|Z − X| is within rounding: 10 machine ε · max|X|."""
    return diff <= 10 * scale


def identity_sentence(diff: float, scale: float) -> str:
    """Whether max|Z − X| is rounding (the block is the identity) or a real change."""
    if is_identity(diff, scale):
        return (
            f"max|Z − X| = {diff:.3g}, within rounding of the input (10 machine ε · max|X| = "
            f"{10 * scale:.3g}): the block is the identity"
        )
    return f"max|Z − X| = {diff:.3g}, well above rounding ({10 * scale:.3g}): the block changed X"


def say_identity(r: Identity, console: Console) -> None:
    console.print(
        f"With constant weights and β = 0, "
        f"{identity_sentence(r.identity_max_diff, r.rounding_scale)} ({r.dtype}). "
        f"A LayerNorm row sums to zero (here to within {r.ln_row_sum_max:.2g}), and a row "
        f"that sums to zero times a constant matrix is zero: Q, K and V are at most "
        f"{r.qkv_max:.2g}, attention adds at most {r.attn_max:.2g} and the MLP "
        f"{r.mlp_max:.2g}. So both heads' weights are plain uniform-causal (1/(i+1) on the "
        f"past, to within {r.uniform_causal_max_diff:.2g}): they attend to nothing in "
        "particular."
    )


# ----------------------------------------------------------------------------
# B. Seeded random blocks: against float64 NumPy, against jax.nn, causal.


@functools.partial(jax.jit, static_argnames=("config", "noisy_norms"))
def seeded_block(key: jax.Array, config: transformer.GPTConfig, noisy_norms: bool = True) -> dict:
    """A block with random leaves: matrices normal(0, 1/fan_in), biases 0.1·normal, and
    gammas 1 + 0.1·normal, betas 0.1·normal when `noisy_norms` (else γ = 1, β = 0).
    GPT-2's init (std 0.02) would leave the stream almost untouched.

    One normal draw of every scalar at once, cut into the leaves of `init_block`'s layout
    (a draw per leaf would cost a random-number kernel each to compile)."""
    shapes = jax.eval_shape(lambda k: transformer.init_block(k, config), key)
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


def np_block(p: dict, x: np.ndarray, cfg: transformer.GPTConfig) -> np.ndarray:
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
def sdpa_gap(p: dict, x: jax.Array, *, config: transformer.GPTConfig) -> jax.Array:
    """max |our causal attention − jax.nn.dot_product_attention(is_causal=True)| on the block's
    queries, keys and values; p a block, x (B, T, d)."""
    h = transformer.norm(p["norm1"], x, config=config)  # (B, T, d)
    q, k, v = transformer.qkv(p["attn"], h, config.n_heads)  # (B, H, T, d_h) each
    ours, _ = transformer.attend(q, k, v, transformer.causal_mask(q.shape[2]))  # (B, H, T, d_h)
    bthd = [a.transpose(0, 2, 1, 3) for a in (q, k, v)]  # (B, T, H, d_h), jax's layout
    theirs = jax.nn.dot_product_attention(*bthd, is_causal=True)  # (B, T, H, d_h)
    return jnp.max(jnp.abs(ours - theirs.transpose(0, 2, 1, 3)))


def random_setup(seed: int, layers: int, d: int, t: int):
    """(config, the input stream x (B, T, d) on the host, the block's key, the stack's key)."""
    cfg = transformer.GPTConfig(1, t, d, layers, HEADS, 4 * d)
    k_x, k_block, k_stack = jax.random.split(jax.random.key(seed), 3)
    x = np.asarray(jax.random.normal(k_x, (BATCH, t, d)))  # (B, T, d) a unit-variance stream
    return cfg, x, k_block, k_stack


@dataclass(frozen=True)
class RandomBlock:
    reference_max_diff: float  # max |ours − float64 NumPy|
    reference_scale: float  # max |float64 NumPy output|
    reference_tol: float  # TOLERANCE · max(1, that scale)
    sdpa_max_diff: float  # max |our attention − jax.nn.dot_product_attention|
    sdpa_tol: float
    causal_t: int  # the token changed
    causal_tokens: int  # tokens in the sequence
    causal_max_diff_before: float  # how far the outputs before it moved
    causal_max_diff_after: float  # and the ones after it
    dtype: str


def compute_random_block(done: dict, *, seed: int, layers: int, d: int, t: int) -> RandomBlock:
    cfg, x, k_block, _ = random_setup(seed, layers, d, t)
    p = seeded_block(k_block, cfg)
    z = np.asarray(transformer.block(p, x, config=cfg))  # (B, T, d)
    ref = np_block(p, x.astype(np.float64), cfg)  # (B, T, d)
    cut = t // 2
    x2 = x.copy()
    x2[:, cut] *= -1.0  # change token `cut` (adding a constant would not: LayerNorm removes it)
    z2 = np.asarray(transformer.block(p, x2, config=cfg))  # (B, T, d)
    scale = float(np.max(np.abs(ref)))
    return RandomBlock(
        reference_max_diff=float(np.max(np.abs(z - ref))),
        reference_scale=scale,
        reference_tol=TOLERANCE * max(1.0, scale),
        sdpa_max_diff=float(sdpa_gap(p, x, config=cfg)),
        sdpa_tol=TOLERANCE,
        causal_t=cut,
        causal_tokens=t,
        causal_max_diff_before=float(np.max(np.abs(z2[:, :cut] - z[:, :cut]), initial=0.0)),
        causal_max_diff_after=float(
            np.max(np.abs(z2[:, cut + 1 :] - z[:, cut + 1 :]), initial=0.0)
        ),
        dtype=str(z.dtype),
    )


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


def say_random_block(r: RandomBlock, console: Console) -> None:
    console.print(f"A block with seeded random weights, run in {r.dtype}:")
    console.print(
        f"• Against a float64 NumPy re-implementation: max difference "
        f"{agreement(r.reference_max_diff, r.reference_tol)}."
    )
    console.print(
        "• Causal attention against jax.nn.dot_product_attention(is_causal=True): "
        f"{agreement(r.sdpa_max_diff, r.sdpa_tol)}."
    )
    console.print(
        "• "
        + causal_sentence(
            r.causal_t, r.causal_tokens, r.causal_max_diff_before, r.causal_max_diff_after
        )
    )


# ----------------------------------------------------------------------------
# B. Parameters, read off the pytrees, against their formulas.


@dataclass(frozen=True)
class ParamCounts:
    d: int
    f: int  # 4d
    gelu_mlp: int
    gelu_mlp_weights_formula: int  # 2df
    gelu_mlp_biases: int  # f + d
    swiglu_mlp: int
    swiglu_mlp_formula: int  # 3df
    attention: int
    attention_formula: int  # 4d² + 4d
    gpt2_layer: int
    gpt2_layer_formula: int  # 12d² + 13d
    original_block: int  # in this layout, with attention's zero biases
    original_block_biases: int  # those biases


def compute_param_counts(done: dict, *, d: int) -> ParamCounts:
    f = 4 * d
    gpt2 = transformer.GPTConfig(1, 1, d, 1, 1, f)
    swiglu = gpt2._replace(mlp="swiglu", norm="rms")
    shapes = {  # eval_shape: the shapes of an init, no numbers drawn
        name: jax.eval_shape(lambda k, c=cfg: transformer.init_block(k, c), jax.random.key(0))
        for name, cfg in (("gelu", gpt2), ("swiglu", swiglu))
    }
    original = original_block()
    return ParamCounts(
        d=d,
        f=f,
        gelu_mlp=transformer.param_count(shapes["gelu"]["mlp"]),
        gelu_mlp_weights_formula=2 * d * f,
        gelu_mlp_biases=f + d,
        swiglu_mlp=transformer.param_count(shapes["swiglu"]["mlp"]),
        swiglu_mlp_formula=3 * d * f,
        attention=transformer.param_count(shapes["gelu"]["attn"]),
        attention_formula=4 * d * d + 4 * d,
        gpt2_layer=transformer.param_count(shapes["gelu"]),
        gpt2_layer_formula=12 * d * d + 13 * d,
        original_block=transformer.param_count(original),
        original_block_biases=transformer.param_count(
            {n: a for n, a in original["attn"].items() if n.startswith("b_")}
        ),
    )


def say_param_counts(c: ParamCounts, console: Console) -> None:
    rows = [
        ("GELU MLP", c.gelu_mlp, f"2df + f + d = {c.gelu_mlp_weights_formula:,} + "
                                 f"{c.gelu_mlp_biases:,}"),
        ("SwiGLU MLP", c.swiglu_mlp, f"3df = {c.swiglu_mlp_formula:,}"),
        ("attention", c.attention, f"4d² + 4d = {c.attention_formula:,}"),
        ("GPT-2 layer", c.gpt2_layer, f"12d² + 13d = {c.gpt2_layer_formula:,}"),
    ]  # fmt: skip
    console.print(f"Parameters at d = {c.d}, f = 4d = {c.f}, read off the pytrees:")
    for name, n, formula in rows:
        console.print(f"    {name:<12} {n:>12,}   {formula}")
    orig, biases = c.original_block, c.original_block_biases
    console.print(
        f"  (the original's block: {orig - biases:,} parameters; {orig:,} in this layout, "
        f"which gives attention {biases} zero biases the original does not have)"
    )


# ----------------------------------------------------------------------------
# B. A stack of blocks: how the residual stream grows, pre-norm against post-norm.


def stream_norms(blocks: dict, x: jax.Array, *, config: transformer.GPTConfig) -> jax.Array:
    """Mean token norm of the residual stream before and after each of L stacked blocks.

    Args:
      blocks: block parameters stacked along a leading layer axis (L, ...).
      x: (B, T, d) the input stream.
    Returns:
      (L + 1,) mean over tokens of ‖x_t‖, the input first.
    """

    def layer(x, p):
        x = transformer.block(p, x, config=config)  # (B, T, d)
        return x, jnp.mean(jnp.linalg.norm(x, axis=-1))

    _, norms = jax.lax.scan(layer, x, blocks)  # (L,)
    return jnp.concatenate([jnp.mean(jnp.linalg.norm(x, axis=-1))[None], norms])  # (L + 1,)


@functools.partial(jax.jit, static_argnames="config")
def pre_and_post(key: jax.Array, x: jax.Array, *, config: transformer.GPTConfig):
    """L seeded blocks (γ = 1, β = 0) run as a pre-norm and as a post-norm stack.

    One compiled program for the draw and both stacks. Returns two (L + 1,) arrays of
    mean token norms (see `stream_norms`); x (B, T, d).
    """
    keys = jax.random.split(key, config.n_layers)  # (L,) one key per block
    blocks = jax.vmap(lambda k: seeded_block(k, config, noisy_norms=False))(keys)  # (L, ...)
    post = config._replace(prenorm=False)
    return stream_norms(blocks, x, config=config), stream_norms(blocks, x, config=post)


@dataclass(frozen=True)
class Stack:
    prenorm: list[float]  # (L + 1,) mean token norm, the input first
    postnorm: list[float]  # (L + 1,)
    sqrt_d: float
    rows_shown: int  # of the table of norms


def compute_stack(done: dict, *, seed: int, layers: int, d: int, t: int) -> Stack:
    cfg, x, _, k_stack = random_setup(seed, layers, d, t)
    pre, post = pre_and_post(k_stack, x, config=cfg)  # (L + 1,) each
    return Stack(pre.tolist(), post.tolist(), math.sqrt(d), TABLE_ROWS)


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


def say_stack(r: Stack, console: Console) -> None:
    pre, post = r.prenorm, r.postnorm
    chart = display.line_chart(
        {"pre-norm": pre, "post-norm": post},
        x_label="blocks",
        y_label="mean token norm of the residual stream",
        x_first=0,
    )
    console.print(chart)
    shown = min(len(pre), r.rows_shown)
    for i in range(shown):
        console.print(f"    after {i:>2} blocks: pre-norm {pre[i]:8.3f}   post-norm {post[i]:8.3f}")
    if len(pre) > shown:
        console.print(f"    … {len(pre) - shown} more")
    console.print(growth_sentence(pre, post, r.sqrt_d))


# ----------------------------------------------------------------------------
# Beside the original (shown with --original): its comment, its width, doc 0023.


@jax.jit
def comment_layer_norm(x: jax.Array, eps: float) -> jax.Array:
    """The original's comment, (x − μ)/(σ + ε) with γ = 1, β = 0: not what its code does."""
    mu = jnp.mean(x, axis=-1, keepdims=True)  # (..., 1)
    sigma = jnp.std(x, axis=-1, keepdims=True)  # (..., 1)
    return (x - mu) / (sigma + eps)  # (..., d)


@dataclass(frozen=True)
class Original:
    norms_comment_formula: list[float]  # token norms of X under (x − μ)/(σ + ε)
    small_token: dict[str, float]  # a flat token (σ = sigma): its norm under code and comment
    d: int
    d_ff: int
    llama_d_ff: float  # 8/3·d
    llama_widths: list[dict]  # published (model, d, d_ff)
    eps: float
    growth: str  # the pre-norm stack's growth_kind


def compute_original(done: dict) -> Original:
    d, eps = ORIGINAL.d_model, ORIGINAL.eps
    x = jnp.asarray(X)[None]  # (1, 3, 8)
    ones_d = np.ones(d, np.asarray(x).dtype)
    flat = np.asarray(X[0])
    small = flat.mean() + (flat - flat.mean()) * SMALL_SIGMA / flat.std()  # (d,) σ = 1e-3
    small = small.astype(ones_d.dtype)
    code = transformer.layer_norm(small, ones_d, 0 * ones_d, eps)  # (d,)
    return Original(
        norms_comment_formula=row_norms(comment_layer_norm(x, eps)),
        small_token={
            "sigma": SMALL_SIGMA,
            "code": row_norms(code)[0],
            "comment": row_norms(comment_layer_norm(small, eps))[0],
        },
        d=d,
        d_ff=ORIGINAL.d_ff,
        llama_d_ff=8 / 3 * d,
        llama_widths=[{"model": n, "d": dm, "d_ff": f} for n, dm, f in LLAMA_WIDTHS],
        eps=eps,
        growth=growth_kind(done["stack"].prenorm),
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


def doc_0023_verdict(kind: str) -> str:
    """Whether a growth kind agrees with doc 0023 (no exponential growth), or cannot tell."""
    if kind == "too short":
        return "cannot test that"
    return "disagrees" if kind == "exponential" else "agrees"


def say_original(r: Original, console: Console) -> None:
    norms = display.vector(r.norms_comment_formula, "{:.6f}")
    sm = r.small_token
    console.print(
        "• The original's comment says (x − μ)/(σ + ε); its code computes "
        "(x − μ)/√(σ² + ε), as here. "
        f"On X the two differ little ({norms} against the code's norms above), but on a flat "
        f"token (σ = {sm['sigma']:g}) the comment's norm is {sm['comment']:.4f} and the code's "
        f"{sm['code']:.4f}: ε only matters next to σ², so where it sits matters."
    )
    console.print(
        "• It calls its SwiGLU MLP “Llama style”, rightly; the width, “for toy size”, is "
        f"{width_sentence(r.d, r.d_ff, r.llama_widths)}."
    )
    console.print(
        "• Doc 0023 says normalisation keeps hidden states from growing exponentially with "
        f"depth. The pre-norm stream above {doc_0023_verdict(r.growth)}: "
        f"{GROWTH_WORDS[r.growth]}."
    )


def say_original_hint(r: Original, console: Console) -> None:
    console.print("\n[dim]--original adds what the Nx original computed differently.[/]")


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S = sections.Section
    size = dict(seed=args.seed, layers=args.layers, d=args.d_model, t=args.tokens)
    shown = getattr(args, "original", False)
    return [
        S("block", compute_block, say_block, title="A. The original's block",
          doing="compiling the original's block…"),
        S("identity", compute_identity, say_identity, title="A. What constant weights do"),
        S("random_block", functools.partial(compute_random_block, **size), say_random_block,
          title="B. Seeded random blocks", doing="compiling a seeded random block…"),
        S("param_counts", functools.partial(compute_param_counts, d=args.d_model),
          say_param_counts, title="B. Parameters against their formulas"),
        S("stack", functools.partial(compute_stack, **size), say_stack,
          title="B. A stack of blocks: pre-norm against post-norm",
          doing=f"compiling and running {display.count(args.layers, 'block')}, pre and post-norm…"),
        S("original", compute_original, say_original if shown else say_original_hint,
          title="Beside the original" if shown else ""),
    ]  # fmt: skip


def pick(result, *names: str) -> dict:
    return {name: getattr(result, name) for name in names}


def results(done: dict) -> dict:
    """The --json results: the flat keys of LESSONS.md and the notes, in their old order."""
    b, i, o, rb, s = (done[n] for n in ("block", "identity", "original", "random_block", "stack"))
    return {
        **pick(b, "shapes", "norms_before", "norms_after", "norms_closed_form"),
        **pick(o, "norms_comment_formula"),
        **pick(b, "norms_rms"),
        **pick(o, "small_token"),
        **pick(i, "ln_row_sum_max", "qkv_max", "attn_max", "mlp_max", "identity_max_diff"),
        **pick(i, "rounding_scale", "stages_vs_kernel"),
        **pick(b, "head_weights"),
        **pick(i, "uniform_causal_max_diff", "dtype"),
        **pick(b, "d", "d_ff"),
        **pick(o, "llama_d_ff", "llama_widths"),
        **pick(b, "eps"),
        **pick(rb, "reference_max_diff", "reference_scale", "sdpa_max_diff", "causal_t"),
        **pick(rb, "causal_tokens", "causal_max_diff_before", "causal_max_diff_after"),
        "param_counts": done["param_counts"],
        "residual_norms_prenorm": s.prenorm,
        "residual_norms_postnorm": s.postnorm,
        "random_dtype": rb.dtype,
        "sqrt_d": s.sqrt_d,
    }


def identity_bullet(r: Identity) -> str:
    """What you saw, 1: whether the original's constant block left X as it was."""
    if is_identity(r.identity_max_diff, r.rounding_scale):
        return (
            f"With constant weights the original's block is the identity: max|Z − X| = "
            f"{r.identity_max_diff:.3g}, within rounding ({10 * r.rounding_scale:.3g}), "
            "because a LayerNorm row sums to zero and a constant matrix maps it to zero."
        )
    return (
        f"The original's constant block changed X by up to {r.identity_max_diff:.3g}, "
        f"above rounding ({10 * r.rounding_scale:.3g})."
    )


def checks_bullet(r: RandomBlock) -> str:
    """What you saw, 2: the seeded block against float64 NumPy and jax.nn, and causality."""
    ok = {"ref": r.reference_max_diff <= r.reference_tol, "sdpa": r.sdpa_max_diff <= r.sdpa_tol}
    said = (
        f"A seeded random block {'matched' if ok['ref'] else 'did NOT match'} a float64 NumPy "
        f"re-implementation ({r.reference_max_diff:.3g}) and its attention "
        f"{'matched' if ok['sdpa'] else 'did NOT match'} jax.nn.dot_product_attention "
        f"({r.sdpa_max_diff:.3g})"
    )
    n_before, _ = causal_sides(r.causal_t, r.causal_tokens)
    if n_before == 0:
        return said + "; causality needs two tokens or more to test."
    if r.causal_max_diff_before == 0.0:
        return said + f"; changing token {r.causal_t} left every output before it unchanged."
    return said + f"; changing token {r.causal_t} moved earlier outputs: the mask leaks."


def growth_bullet(r: Stack) -> str:
    """What you saw, 3: how the stream's norm grew with depth, pre-norm and post-norm."""
    return (
        f"Over {display.count(len(r.prenorm) - 1, 'block')} the pre-norm stream's norm went "
        f"from {r.prenorm[0]:.3g} to {r.prenorm[-1]:.3g}: {GROWTH_WORDS[growth_kind(r.prenorm)]}; "
        f"post-norm it was {display.span(r.postnorm[1:], 3)} after every block (√d = "
        f"{r.sqrt_d:.3f})."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [
        identity_bullet(done["identity"]),
        checks_bullet(done["random_block"]),
        growth_bullet(done["stack"]),
    ]


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
    kernels = (  # read after parse_args, which swaps in the learner's kernels for --mine
        transformer.layer_norm,
        transformer.rms_norm,
        transformer.attend,
        transformer.attention,
        transformer.mlp,
        transformer.block,
    )
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=kernels
    )


if __name__ == "__main__":
    cli.entry(main)
