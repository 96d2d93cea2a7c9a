"""The transformer: norms, causal multi-head attention, MLPs, the block and a small GPT.

Everything is batched: activations are (B, T, d) — batch, time (tokens),
model width — and attention works per head on (B, H, T, d_h) with
d_h = d / H. No Python loop runs over tokens or heads; the layers of a GPT
are one `lax.scan` over parameters stacked along a leading layer axis.
Every function is pure and jit-friendly; the configuration is a hashable
NamedTuple passed as a static argument (`static_argnames="config"`).

Parameter layout (plain dicts of arrays, so `jax.tree_util` and optax see
every leaf):

    norm   = {"gamma": (d,), "beta": (d,)}        config.norm == "layer" (LayerNorm)
           = {"gamma": (d,)}                      config.norm == "rms"   (RMSNorm)
    attn   = {"w_q": (d, d), "b_q": (d,), "w_k": (d, d), "b_k": (d,),
              "w_v": (d, d), "b_v": (d,), "w_o": (d, d), "b_o": (d,)}
             x @ w + b; the d output columns of w_q/w_k/w_v are H heads of d_h side by side
    mlp    = {"w_fc": (d, f), "b_fc": (f,), "w_proj": (f, d), "b_proj": (d,)}
             config.mlp == "gelu":   gelu(x @ w_fc + b_fc) @ w_proj + b_proj  (2·d·f weights)
           = {"w_gate": (d, f), "w_up": (d, f), "w_down": (f, d)}
             config.mlp == "swiglu": (silu(x @ w_gate) * (x @ w_up)) @ w_down  (3·d·f, no bias)
    block  = {"norm1": norm, "attn": attn, "norm2": norm, "mlp": mlp}
    gpt    = {"tok": (V, d), "pos": (T_max, d),
              "blocks": block with every leaf stacked along a leading layer axis (L, ...),
              "norm_f": norm}
             logits = final hidden state @ tok.T: the output matrix is tied to the
             token embeddings, so there is no separate (d, V) head.

With GELU, LayerNorm and f = 4d this is GPT-2's layer: 12·d² + 13·d parameters.

Initialisation follows GPT-2 / nanoGPT: every weight matrix and both
embeddings normal with standard deviation 0.02, the two projections that
write into the residual stream (`w_o`, and `w_proj` or `w_down`) scaled by
1/sqrt(2L) so the stream's variance does not grow with depth at init;
biases 0, gammas 1, betas 0.

References:
  Vaswani et al., "Attention Is All You Need", 2017. arXiv:1706.03762
  Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2), 2019.
  Ba, Kiros, Hinton, "Layer Normalization", 2016. arXiv:1607.06450
  Zhang, Sennrich, "Root Mean Square Layer Normalization", 2019. arXiv:1910.07467
  Shazeer, "GLU Variants Improve Transformer", 2020. arXiv:2002.05202
  Xiong et al., "On Layer Normalization in the Transformer Architecture", 2020.
    arXiv:2002.04745 (pre-norm against post-norm)
  Karpathy, nanoGPT, model.py: https://github.com/karpathy/nanoGPT
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from trinity_foundations.attention import softmax


class GPTConfig(NamedTuple):
    """The shape of a GPT; hashable, so it can be a static argument of `jax.jit`."""

    vocab_size: int  # V, number of token ids
    context: int  # T_max, the longest sequence (rows of the position table)
    d_model: int  # d, the residual stream's width
    n_layers: int  # L
    n_heads: int  # H; d_model must be a multiple of it
    d_ff: int  # f, the MLP's hidden width
    mlp: str = "gelu"  # "gelu" (2·d·f weights) or "swiglu" (3·d·f)
    norm: str = "layer"  # "layer" (LayerNorm, gamma+beta) or "rms" (RMSNorm, gamma only)
    prenorm: bool = True  # False: the original transformer's post-norm block
    eps: float = 1e-5  # added to the variance inside the square root


def _lift(v: jax.Array, ndim: int) -> jax.Array:
    """Prepend singleton axes so `v` has `ndim` axes (explicit broadcasting)."""
    return v.reshape((1,) * (ndim - v.ndim) + v.shape)


# --- norms -------------------------------------------------------------------


@jax.jit
def layer_norm(x: jax.Array, gamma: jax.Array, beta: jax.Array, eps: float = 1e-5) -> jax.Array:
    """LayerNorm: γ · (x − μ) / sqrt(σ² + ε) + β over the last axis.

    Each token's vector is centred and scaled to unit variance, then given a
    learned scale γ and shift β. ε sits inside the square root, added to the
    (biased) variance, as in PyTorch and GPT-2. With γ = 1 and β = 0 a token
    of variance σ² comes out with L2 norm sqrt(d·σ²/(σ² + ε)), just under
    sqrt(d), and its entries sum to zero.

    References:
      Ba, Kiros, Hinton, "Layer Normalization", 2016. arXiv:1607.06450

    Args:
      x: (..., d) activations.
      gamma, beta: (d,) scale and shift.
      eps: added to the variance.
    Returns:
      (..., d) normalised activations.
    """
    mu = jnp.mean(x, axis=-1, keepdims=True)  # (..., 1)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)  # (..., 1) biased variance
    xhat = (x - mu) * jax.lax.rsqrt(var + eps)  # (..., d)
    return xhat * _lift(gamma, x.ndim) + _lift(beta, x.ndim)  # (..., d)


@jax.jit
def rms_norm(x: jax.Array, gamma: jax.Array, eps: float = 1e-5) -> jax.Array:
    """RMSNorm: γ · x / sqrt(mean(x²) + ε) over the last axis (Llama's norm).

    No centring and no β: only the scale of each token is normalised, so it
    costs one reduction instead of two and keeps the direction of x.

    References:
      Zhang, Sennrich, "Root Mean Square Layer Normalization", 2019. arXiv:1910.07467

    Args:
      x: (..., d) activations.
      gamma: (d,) scale.
      eps: added to the mean square.
    Returns:
      (..., d) normalised activations.
    """
    ms = jnp.mean(jnp.square(x), axis=-1, keepdims=True)  # (..., 1)
    return x * jax.lax.rsqrt(ms + eps) * _lift(gamma, x.ndim)  # (..., d)


def norm(norm_params: dict, x: jax.Array, *, config: GPTConfig) -> jax.Array:
    """The norm `config.norm` names, with its parameters. x: (..., d) -> (..., d)."""
    if config.norm == "layer":
        return layer_norm(x, norm_params["gamma"], norm_params["beta"], config.eps)
    if config.norm == "rms":
        return rms_norm(x, norm_params["gamma"], config.eps)
    raise ValueError(f"unknown norm {config.norm!r}")


# --- attention -----------------------------------------------------------------


def split_heads(x: jax.Array, n_heads: int) -> jax.Array:
    """(B, T, d) -> (B, H, T, d_h): the d columns as H heads of d_h = d / H side by side."""
    b, t, d = x.shape
    return x.reshape(b, t, n_heads, d // n_heads).transpose(0, 2, 1, 3)  # (B, H, T, d_h)


def merge_heads(x: jax.Array) -> jax.Array:
    """(B, H, T, d_h) -> (B, T, H·d_h): the inverse of `split_heads`, exactly."""
    b, h, t, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * dh)  # (B, T, d)


def causal_mask(t: int) -> jax.Array:
    """(T, T) bool, True where query i may attend to key j, i.e. j <= i."""
    return jnp.tril(jnp.ones((t, t), dtype=bool))  # (T, T) lower triangle


@jax.jit
def attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array):
    """Scaled dot-product attention with a boolean mask: softmax(q kᵀ/sqrt(d_h)) v.

    Scores are scaled first, then masked: a forbidden score becomes the most
    negative finite number of its dtype (a finite stand-in for −∞), so its
    weight is exp(min − max) = 0 exactly, and a row with every key masked
    gives uniform weights rather than NaN.

    Args:
      q: (B, H, T_q, d_h) queries.
      k: (B, H, T_k, d_h) keys.
      v: (B, H, T_k, d_h) values.
      mask: (T_q, T_k) bool, True where attention is allowed.
    Returns:
      (out, weights): out (B, H, T_q, d_h), weights (B, H, T_q, T_k) with rows summing to 1.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = jnp.einsum("bhqd,bhkd->bhqk", q, k) * scale  # (B, H, T_q, T_k)
    neg = jnp.array(jnp.finfo(scores.dtype).min, dtype=scores.dtype)
    scores = jnp.where(_lift(mask, scores.ndim), scores, neg)  # (B, H, T_q, T_k)
    weights = softmax(scores, axis=-1)  # (B, H, T_q, T_k)
    out = jnp.einsum("bhqk,bhkd->bhqd", weights, v)  # (B, H, T_q, d_h)
    return out, weights


def qkv(attn_params: dict, x: jax.Array, n_heads: int):
    """Project x to queries, keys and values and split them into heads.

    Args:
      attn_params: the `attn` dict (see the module docstring).
      x: (B, T, d) the (normalised) residual stream.
      n_heads: H.
    Returns:
      q, k, v: each (B, H, T, d_h).
    """
    p = attn_params
    q = x @ p["w_q"] + _lift(p["b_q"], x.ndim)  # (B, T, d)
    k = x @ p["w_k"] + _lift(p["b_k"], x.ndim)  # (B, T, d)
    v = x @ p["w_v"] + _lift(p["b_v"], x.ndim)  # (B, T, d)
    return split_heads(q, n_heads), split_heads(k, n_heads), split_heads(v, n_heads)


@functools.partial(jax.jit, static_argnames="n_heads")
def attention(attn_params: dict, x: jax.Array, *, n_heads: int) -> jax.Array:
    """Causal multi-head self-attention: every token mixes the values of itself and its past.

    Args:
      attn_params: the `attn` dict (see the module docstring).
      x: (B, T, d) the (normalised) residual stream.
      n_heads: H, a divisor of d.
    Returns:
      (B, T, d) what attention writes back into the stream (after W_o).
    """
    q, k, v = qkv(attn_params, x, n_heads)  # each (B, H, T, d_h)
    out, _ = attend(q, k, v, causal_mask(x.shape[1]))  # (B, H, T, d_h)
    merged = merge_heads(out)  # (B, T, d)
    return merged @ attn_params["w_o"] + _lift(attn_params["b_o"], x.ndim)  # (B, T, d)


# --- MLP, block, GPT -------------------------------------------------------------


@functools.partial(jax.jit, static_argnames="kind")
def mlp(mlp_params: dict, x: jax.Array, *, kind: str) -> jax.Array:
    """The position-wise feed-forward network, applied to every token alone.

    "gelu" (GPT-2): gelu(x W_fc + b_fc) W_proj + b_proj, GELU in its tanh form.
    "swiglu" (Llama): (silu(x W_gate) ⊙ (x W_up)) W_down, a gated unit with a
    third matrix and no biases.

    References:
      Hendrycks, Gimpel, "Gaussian Error Linear Units (GELUs)", 2016. arXiv:1606.08415
      Shazeer, "GLU Variants Improve Transformer", 2020. arXiv:2002.05202

    Args:
      mlp_params: the `mlp` dict of that kind (see the module docstring).
      x: (B, T, d).
      kind: "gelu" or "swiglu".
    Returns:
      (B, T, d).
    """
    p = mlp_params
    if kind == "gelu":
        h = jax.nn.gelu(x @ p["w_fc"] + _lift(p["b_fc"], x.ndim), approximate=True)  # (B, T, f)
        return h @ p["w_proj"] + _lift(p["b_proj"], x.ndim)  # (B, T, d)
    if kind == "swiglu":
        h = jax.nn.silu(x @ p["w_gate"]) * (x @ p["w_up"])  # (B, T, f)
        return h @ p["w_down"]  # (B, T, d)
    raise ValueError(f"unknown mlp {kind!r}")


@functools.partial(jax.jit, static_argnames="config")
def block(block_params: dict, x: jax.Array, *, config: GPTConfig) -> jax.Array:
    """One transformer block: attention then MLP, each added to the residual stream.

    Pre-norm (GPT-2, Llama): x + attn(norm1(x)), then + mlp(norm2(·)); the
    stream itself is never normalised, so its norm can grow with depth.
    Post-norm (the 2017 original): norm1(x + attn(x)), then norm2(· + mlp(·));
    the stream is renormalised after every sub-layer.

    Args:
      block_params: the `block` dict (see the module docstring).
      x: (B, T, d) the residual stream.
      config: the GPTConfig (n_heads, mlp, norm, prenorm, eps are read).
    Returns:
      (B, T, d) the stream after the block.
    """
    p = block_params
    if config.prenorm:
        x = x + attention(p["attn"], norm(p["norm1"], x, config=config), n_heads=config.n_heads)
        return x + mlp(p["mlp"], norm(p["norm2"], x, config=config), kind=config.mlp)
    x = norm(p["norm1"], x + attention(p["attn"], x, n_heads=config.n_heads), config=config)
    return norm(p["norm2"], x + mlp(p["mlp"], x, kind=config.mlp), config=config)


def _init_norm(config: GPTConfig) -> dict:
    d = config.d_model
    if config.norm == "rms":
        return {"gamma": jnp.ones((d,))}
    return {"gamma": jnp.ones((d,)), "beta": jnp.zeros((d,))}


@functools.partial(jax.jit, static_argnames="config")
def init_block(key: jax.Array, config: GPTConfig) -> dict:
    """GPT-2 initialisation of one block (see the module docstring for the layout).

    Args:
      key: a JAX key, split at the top; no key is reused.
      config: the GPTConfig.
    Returns:
      the `block` dict; weights normal(0.02), residual projections 0.02/sqrt(2L),
      biases 0, gammas 1, betas 0.
    """
    d, f = config.d_model, config.d_ff
    if d % config.n_heads:
        raise ValueError(f"d_model={d} is not a multiple of n_heads={config.n_heads}")
    std, std_res = 0.02, 0.02 / math.sqrt(2 * config.n_layers)
    k_q, k_k, k_v, k_o, k_1, k_2, k_3 = jax.random.split(key, 7)
    attn = {
        "w_q": std * jax.random.normal(k_q, (d, d)),
        "b_q": jnp.zeros((d,)),
        "w_k": std * jax.random.normal(k_k, (d, d)),
        "b_k": jnp.zeros((d,)),
        "w_v": std * jax.random.normal(k_v, (d, d)),
        "b_v": jnp.zeros((d,)),
        "w_o": std_res * jax.random.normal(k_o, (d, d)),
        "b_o": jnp.zeros((d,)),
    }
    if config.mlp == "swiglu":
        ff = {
            "w_gate": std * jax.random.normal(k_1, (d, f)),
            "w_up": std * jax.random.normal(k_2, (d, f)),
            "w_down": std_res * jax.random.normal(k_3, (f, d)),
        }
    else:
        ff = {
            "w_fc": std * jax.random.normal(k_1, (d, f)),
            "b_fc": jnp.zeros((f,)),
            "w_proj": std_res * jax.random.normal(k_3, (f, d)),
            "b_proj": jnp.zeros((d,)),
        }
    return {"norm1": _init_norm(config), "attn": attn, "norm2": _init_norm(config), "mlp": ff}


@functools.partial(jax.jit, static_argnames="config")
def init_gpt(key: jax.Array, config: GPTConfig) -> dict:
    """GPT-2 initialisation of a whole GPT; the L blocks stacked along axis 0.

    Args:
      key: a JAX key, split at the top; no key is reused.
      config: the GPTConfig.
    Returns:
      {"tok": (V, d), "pos": (T_max, d), "blocks": (L, ...) leaves, "norm_f": norm}.
    """
    k_tok, k_pos, k_blocks = jax.random.split(key, 3)
    keys = jax.random.split(k_blocks, config.n_layers)  # (L,) one key per block
    blocks = jax.vmap(lambda k: init_block(k, config))(keys)  # leaves (L, ...)
    return {
        "tok": 0.02 * jax.random.normal(k_tok, (config.vocab_size, config.d_model)),
        "pos": 0.02 * jax.random.normal(k_pos, (config.context, config.d_model)),
        "blocks": blocks,
        "norm_f": _init_norm(config),
    }


@functools.partial(jax.jit, static_argnames="config")
def gpt_hidden(params: dict, ids: jax.Array, *, config: GPTConfig) -> jax.Array:
    """Token ids to the final hidden states: embed, add positions, L blocks, final norm.

    Args:
      params: the `gpt` dict (see the module docstring).
      ids: (B, T) int token ids, T <= config.context.
      config: the GPTConfig.
    Returns:
      (B, T, d) hidden states after the final norm.
    """
    t = ids.shape[1]
    x = params["tok"][ids] + params["pos"][None, :t]  # (B, T, d)

    def layer(x, block_params):
        return block(block_params, x, config=config), None  # (B, T, d)

    x, _ = jax.lax.scan(layer, x, params["blocks"])  # (B, T, d) after L blocks
    return norm(params["norm_f"], x, config=config)  # (B, T, d)


@functools.partial(jax.jit, static_argnames="config")
def gpt_forward(params: dict, ids: jax.Array, *, config: GPTConfig) -> jax.Array:
    """Token ids to next-token logits; row t predicts token t + 1 from tokens 0..t.

    Args:
      params: the `gpt` dict (see the module docstring).
      ids: (B, T) int token ids.
      config: the GPTConfig.
    Returns:
      (B, T, V) logits, hidden @ tokᵀ (output tied to the token embeddings).
    """
    h = gpt_hidden(params, ids, config=config)  # (B, T, d)
    return h @ params["tok"].T  # (B, T, V)


def param_count(params) -> int:
    """Number of scalars in a parameter pytree (works on arrays and ShapeDtypeStructs)."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params))
