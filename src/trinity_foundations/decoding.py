"""Decoding: turning next-token logits into text, and the KV cache that makes it cheap.

A language model gives logits l over the vocabulary for the next token.
Greedy decoding takes argmax l; sampling draws from softmax(l / τ), where
the temperature τ sharpens (τ < 1) or flattens (τ > 1) the distribution;
top-k keeps the k most likely tokens and top-p (nucleus) the most likely
tokens whose probabilities reach p, renormalising what is kept. Every draw
here is the Gumbel-max trick: argmax(l + g) with g standard Gumbel noise is a
sample of softmax(l), which is exactly what `jax.random.categorical` does.

Generating token t + 1 needs the keys and values of tokens 0..t in every
layer; they do not change once computed (the mask is causal), so a KV cache
keeps them in fixed-shape buffers (L, B, H, T_max, d_h), written in place
with `lax.dynamic_update_slice`. A prompt is processed at once ("prefill");
each following token is one "decode" step that computes only its own
query, key and value and attends over the cache, instead of recomputing the
whole sequence.

Ties: top-k keeps every token whose logit equals the k-th largest, and
top-p keeps a token exactly when the tokens strictly more likely than it
hold less than p of the mass, so equal logits are always kept or dropped
together (the result does not depend on how a sort orders ties).

References:
    Holtzman et al., "The Curious Case of Neural Text Degeneration" (top-p, 2020),
    https://arxiv.org/abs/1904.09751
    Fan, Lewis & Dauphin, "Hierarchical Neural Story Generation" (top-k, 2018),
    https://arxiv.org/abs/1805.04833
    Gumbel (1954); Maddison, Tarlow & Minka, "A* Sampling" (2014),
    https://arxiv.org/abs/1411.0030
    Pope et al., "Efficiently Scaling Transformer Inference" (KV cache, 2022),
    https://arxiv.org/abs/2211.05102
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations.transformer import (
    GPTConfig,
    attend,
    gpt_forward,
    merge_heads,
    mlp,
    norm,
    qkv,
)

# ----------------------------------------------------------------------------
# From logits to a token.


class Sampler(NamedTuple):
    """How a token is chosen: temperature 0 is greedy; top_k 0 and top_p 1 switch those off.

    A pytree of numbers, passed to jitted functions as an ordinary argument:
    every rule shares one compiled program.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


@jax.jit
def top_k_mask(logits: jax.Array, k: jax.Array) -> jax.Array:
    """True for every token whose logit is at least the k-th largest (ties kept together).

    Args:
        logits: (V,); k: () integer, 1 <= k <= V (a traced value: no recompile per k).
    Returns:
        (V,) bool.
    """
    ascending = jnp.sort(logits)  # (V,)
    kth = ascending[logits.shape[0] - k]  # () the k-th largest logit
    return logits >= kth  # (V,)


@jax.jit
def top_p_mask(logits: jax.Array, p: float) -> jax.Array:
    """True for each token whose strictly more likely tokens hold less than `p` of the mass.

    The nucleus: the fewest most-likely tokens whose probabilities reach p
    (the most likely token is always kept), extended to every token tied
    with the last one kept.

    Args:
        logits: (V,); p: in (0, 1]. Returns: (V,) bool.
    """
    probs = jax.nn.softmax(logits)  # (V,)
    desc = jnp.sort(probs)[::-1]  # (V,) most likely first
    before = jnp.cumsum(desc) - desc  # (V,) mass of the tokens sorted ahead of each
    first = jnp.searchsorted(-desc, -probs, side="left")  # (V,) first sorted slot of each value
    return before[first] < p  # (V,)


def filter_logits(logits: jax.Array, *, sampler: Sampler) -> jax.Array:
    """Logits divided by the temperature, with tokens outside top-k / top-p set to -inf.

    Temperature 0 (greedy) leaves the logits unscaled here; `choose` takes
    their argmax. top_k 0 (or above V) and top_p >= 1 keep every token.

    Args:
        logits: (V,). Returns: (V,) the logits that are sampled from.
    """
    v = logits.shape[0]
    scaled = logits / jnp.where(sampler.temperature > 0, sampler.temperature, 1.0)  # (V,)
    k = jnp.where((sampler.top_k > 0) & (sampler.top_k < v), sampler.top_k, v)
    keep = top_k_mask(scaled, k)  # (V,)
    keep = keep & (top_p_mask(scaled, sampler.top_p) | (sampler.top_p >= 1.0))  # (V,)
    return jnp.where(keep, scaled, -jnp.inf)  # (V,)


def entropy(logits: jax.Array) -> jax.Array:
    """Entropy of softmax(logits) in nats; -inf logits are tokens of probability 0.

    Args: logits: (..., V). Returns: (...).
    """
    logp = jax.nn.log_softmax(logits, axis=-1)  # (..., V)
    p = jnp.exp(logp)  # (..., V)
    return -jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=-1)


def choose(key: jax.Array, logits: jax.Array, *, sampler: Sampler):
    """(token, entropy of the distribution it was drawn from) for logits (V,).

    Greedy (temperature 0) is argmax with entropy 0; otherwise one
    categorical draw (Gumbel-max) from the filtered logits.
    """
    filtered = filter_logits(logits, sampler=sampler)  # (V,)
    greedy = sampler.temperature == 0
    token = jnp.where(greedy, jnp.argmax(logits), jax.random.categorical(key, filtered))
    return token, jnp.where(greedy, jnp.zeros((), logits.dtype), entropy(filtered))


@jax.jit
def gumbel_argmax(key: jax.Array, logits: jax.Array) -> jax.Array:
    """argmax(logits + Gumbel noise drawn from `key`): a sample of softmax(logits).

    If g_i = -log(-log u_i) with u_i uniform, P(argmax_i (l_i + g_i) = j) =
    softmax(l)_j. `jax.random.categorical` is built this way, so with the same
    key it returns the same token.

    Args: key; logits: (..., V). Returns: (...) int.
    """
    return jnp.argmax(jax.random.gumbel(key, logits.shape, logits.dtype) + logits, axis=-1)


# ----------------------------------------------------------------------------
# Statistics of samples.


def chi2_sf(stat: float, dof: int) -> float:
    """P(χ²_dof ≥ stat): the χ² survival function, Q(dof/2, stat/2), the regularised
    upper incomplete gamma function (computed by JAX in float64 terms where enabled)."""
    with jax.numpy_dtype_promotion("standard"):
        return float(jax.scipy.special.gammaincc(dof / 2.0, stat / 2.0))


def chi2_test(counts: np.ndarray, probs: np.ndarray, min_expected: float = 5.0):
    """Pearson's χ² test of observed `counts` (V,) against probabilities `probs` (V,).

    Categories expected fewer than `min_expected` times are pooled into one
    (the χ² approximation needs about five per cell); the pool is dropped if
    it is still too small.

    Returns:
        (statistic, degrees of freedom, p-value). With fewer than two cells
        left (dof 0, or -1 when no cell is big enough) there is nothing to
        test: the p-value is NaN, not a reassuring 1.
    """
    counts = np.asarray(counts, np.float64)
    expected = counts.sum() * np.asarray(probs, np.float64)  # (V,)
    big = expected >= min_expected
    obs, exp = list(counts[big]), list(expected[big])
    if expected[~big].sum() >= min_expected:
        obs.append(counts[~big].sum())
        exp.append(expected[~big].sum())
    obs, exp = np.array(obs), np.array(exp)
    stat = float(np.sum((obs - exp) ** 2 / exp))
    dof = len(obs) - 1
    return stat, dof, chi2_sf(stat, dof) if dof > 0 else math.nan


def repeated_ngram_share(tokens, n: int = 4) -> float:
    """Share of the n-grams of `tokens` (a sequence of ids) that occurred earlier in it."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def loop_start(tokens, min_repeats: int = 3, min_length: int = 24) -> tuple[int, int] | None:
    """Where a sequence has fallen into a loop: (start, period), or None.

    A sequence ends in a loop when its tail is one stretch of `period`
    tokens repeated at least `min_repeats` times and over at least
    `min_length` tokens (so "..." closing a sentence is not a loop); `start`
    is the first index from which every token equals the one `period` before
    it (the smallest period is taken, then traced back as far as it holds).
    """
    n = len(tokens)
    for period in range(1, n // min_repeats + 1):
        span = max(period * min_repeats, min_length)
        if span > n:
            break
        tail = tokens[n - span :]
        if all(tail[i] == tail[i - period] for i in range(period, span)):
            start = n - span
            while start > 0 and tokens[start - 1] == tokens[start - 1 + period]:
                start -= 1
            return start, period
    return None


# ----------------------------------------------------------------------------
# The KV cache.


class KVCache(NamedTuple):
    k: jax.Array  # (L, B, H, T_max, d_h) keys of every layer, filled up to `length`
    v: jax.Array  # (L, B, H, T_max, d_h) values
    length: jax.Array  # () default int (int32, or int64 under x64): positions written so far


def init_cache(config: GPTConfig, batch: int, dtype=jnp.float32) -> KVCache:
    """An empty cache for `batch` sequences of up to `config.context` tokens."""
    shape = (
        config.n_layers,
        batch,
        config.n_heads,
        config.context,
        config.d_model // config.n_heads,
    )
    length = jnp.zeros((), jnp.result_type(int))  # the dtype of jnp.arange, for the mask
    return KVCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), length)


def cache_bytes(cache: KVCache) -> int:
    """Bytes the cache's key and value buffers occupy."""
    return cache.k.nbytes + cache.v.nbytes


def _cached_block(x, layer, start, *, config: GPTConfig):
    """One pre-norm block on new tokens x (B, T_new, d) at positions start.., reading and
    writing this layer's cache (k, v each (B, H, T_max, d_h)). Returns (x, k, v)."""
    p, k_cache, v_cache = layer
    zero = jnp.zeros_like(start)  # JAX wants every index of a dynamic slice in one dtype
    q, k, v = qkv(p["attn"], norm(p["norm1"], x, config=config), config.n_heads)  # (B,H,Tn,dh)
    k_cache = jax.lax.dynamic_update_slice(
        k_cache, k, (zero, zero, start, zero)
    )  # (B, H, T_max, d_h)
    v_cache = jax.lax.dynamic_update_slice(
        v_cache, v, (zero, zero, start, zero)
    )  # (B, H, T_max, d_h)
    q_pos = start + jnp.arange(x.shape[1])  # (T_new,) absolute positions of the queries
    mask = jnp.arange(config.context)[None, :] <= q_pos[:, None]  # (T_new, T_max)
    out, _ = attend(q, k_cache, v_cache, mask)  # (B, H, T_new, d_h)
    b_o = p["attn"]["b_o"].reshape(1, 1, -1)  # (1, 1, d)
    x = x + merge_heads(out) @ p["attn"]["w_o"] + b_o  # (B, T_new, d)
    x = x + mlp(p["mlp"], norm(p["norm2"], x, config=config), kind=config.mlp)  # (B, T_new, d)
    return x, (k_cache, v_cache)


@functools.partial(jax.jit, static_argnames="config")
def cached_forward(params: dict, ids: jax.Array, cache: KVCache, *, config: GPTConfig):
    """Logits of new tokens `ids` that follow the `cache.length` tokens already cached.

    Prefill is a call with the whole prompt and an empty cache; a decode step
    is a call with one token. The new tokens must fit: cache.length + T_new <=
    config.context (the caller checks; a dynamic slice would clamp silently).

    Args:
        params: the GPT's parameters (pre-norm); ids: (B, T_new) int;
        cache: KVCache. Returns: (logits (B, T_new, V), updated cache).
    """
    if not config.prenorm:
        raise ValueError("the KV cache is written for pre-norm blocks")
    t_new, d = ids.shape[1], config.d_model
    start = (cache.length, jnp.zeros_like(cache.length))
    pos = jax.lax.dynamic_slice(params["pos"], start, (t_new, d))  # (T_new, d)
    x = params["tok"][ids] + pos[None]  # (B, T_new, d)

    def layer(x, stacked):
        return _cached_block(x, stacked, cache.length, config=config)

    x, (k, v) = jax.lax.scan(layer, x, (params["blocks"], cache.k, cache.v))  # k, v (L, ...)
    h = norm(params["norm_f"], x, config=config)  # (B, T_new, d)
    logits = h @ params["tok"].T  # (B, T_new, V)
    return logits, KVCache(k, v, cache.length + t_new)


@functools.partial(jax.jit, static_argnames="config")
def recompute_logits(params: dict, buffer: jax.Array, length: jax.Array, *, config: GPTConfig):
    """Next-token logits by a full forward pass over a padded buffer: the no-cache way.

    The buffer always has config.context columns, so every step reuses one
    compiled program; the causal mask makes the padding after `length`
    irrelevant to position length - 1.

    Args:
        buffer: (B, T_max) int ids, valid up to `length`; length: () int.
    Returns:
        (B, V) logits at position length - 1.
    """
    logits = gpt_forward(params, buffer, config=config)  # (B, T_max, V)
    row = jax.lax.dynamic_slice_in_dim(logits, length - 1, 1, axis=1)  # (B, 1, V)
    return row[:, 0]  # (B, V)


@functools.partial(jax.jit, static_argnames=("config", "steps"))
def generate(params, prompt, key, sampler: Sampler, *, config: GPTConfig, steps: int):
    """Prefill `prompt` then decode `steps` tokens with the KV cache, one key per step.

    Args:
        prompt: (B, P) int with P + steps <= config.context; key: the run's key.
    Returns:
        tokens (B, steps), entropies (B, steps) of the distributions drawn from,
        logits (B, steps, V) each token was chosen from.
    """
    b = prompt.shape[0]
    empty = init_cache(config, b, params["tok"].dtype)
    logits, cache = cached_forward(params, prompt, empty, config=config)
    pick = jax.vmap(functools.partial(choose, sampler=sampler))

    def body(carry, step_key):
        last, cache = carry  # (B, V)
        token, ent = pick(jax.random.split(step_key, b), last)  # (B,), (B,)
        nxt, cache = cached_forward(params, token[:, None], cache, config=config)  # (B, 1, V)
        return (nxt[:, 0], cache), (token, ent, last)

    keys = jax.random.split(key, steps)
    _, (tokens, ents, seen) = jax.lax.scan(body, (logits[:, -1], cache), keys)  # (S, B, ...)
    return tokens.T, ents.T, seen.transpose(1, 0, 2)


@functools.partial(jax.jit, static_argnames=("config", "steps"))
def generate_window(params, prompt, key, sampler: Sampler, *, config: GPTConfig, steps: int):
    """Generate `steps` tokens of any length by full recompute over the last T tokens.

    No cache: each step runs the model on a window of config.context tokens
    ending at the newest one (positions 0..T-1 within the window, as the
    model was trained), so the text may run past the context length.

    Args:
        prompt: (P,) int, 1 <= P; key: one key for the whole run.
    Returns:
        (steps,) int tokens, (steps,) entropies of the distributions they came from.
    """
    t, p = config.context, prompt.shape[0]
    buffer = jnp.zeros((max(p + steps, t),), prompt.dtype).at[:p].set(prompt)  # (P + S,)

    def body(buffer, step):
        n = p + step  # tokens so far
        start = jnp.maximum(n - t, 0)
        window = jax.lax.dynamic_slice(buffer, (start,), (t,))  # (T,)
        logits = gpt_forward(params, window[None], config=config)[0]  # (T, V)
        last = jax.lax.dynamic_index_in_dim(logits, n - start - 1, keepdims=False)  # (V,)
        token, ent = choose(jax.random.fold_in(key, step), last, sampler=sampler)
        return buffer.at[n].set(token.astype(buffer.dtype)), (token, ent)

    _, (tokens, ents) = jax.lax.scan(body, buffer, jnp.arange(steps))  # (S,), (S,)
    return tokens, ents
