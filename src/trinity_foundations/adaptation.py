"""Adapting a trained GPT: LoRA on its matrices, merging, DPO and best-of-n.

LoRA freezes every weight W (d_in, d_out) of the model and learns a low-rank
correction beside it: x W + (α/r) (x Aᵀ) B with A (r, d_in) and B (r, d_out),
the layout of `lowrank.Adapters` (B starts at zero, so the adapted model
starts as the base). Merged, the correction is folded into one matrix,
W + (α/r) Aᵀ B, and the model is an ordinary GPT again.

DPO (direct preference optimisation) trains a policy π on pairs (chosen y⁺,
rejected y⁻) against a frozen reference π_ref, with no reward model:

    loss = −log σ(β [(log π(y⁺) − log π_ref(y⁺)) − (log π(y⁻) − log π_ref(y⁻))])

where log π(y) is the summed (or, a common variant, the mean) log-probability
of the response's tokens. β·(log π − log π_ref) is the implicit reward.
Best-of-n needs no training: draw n samples and keep one the rule prefers.

References:
  Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021.
    arXiv:2106.09685
  Rafailov et al., "Direct Preference Optimization: Your Language Model is
    Secretly a Reward Model", 2023. arXiv:2305.18290
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations import lowrank
from trinity_foundations import training as tr
from trinity_foundations.language import cross_entropy, sample_batch
from trinity_foundations.transformer import GPTConfig, gpt_forward

# ----------------------------------------------------------------------------
# A second text in the first one's vocabulary.


def fit_vocabulary(text: str, chars: str, stand_in: str) -> tuple[str, dict[str, int]]:
    """`text` with every character outside `chars` replaced by `stand_in`, and how often
    each was replaced: the model's embedding table has no row for them."""
    if stand_in not in chars:
        raise ValueError(f"the stand-in {stand_in!r} is not in the vocabulary")
    counts = {c: text.count(c) for c in sorted(set(text) - set(chars))}
    for c in counts:
        text = text.replace(c, stand_in)
    return text, counts


# ----------------------------------------------------------------------------
# LoRA on the GPT's matrices.


def lora_targets(config: GPTConfig) -> dict[str, tuple[str, ...]]:
    """The matrices LoRA adapts in every block: attention's four and the MLP's."""
    mlp = ("w_gate", "w_up", "w_down") if config.mlp == "swiglu" else ("w_fc", "w_proj")
    return {"attn": ("w_q", "w_k", "w_v", "w_o"), "mlp": mlp}


@functools.partial(jax.jit, static_argnames=("config", "rank"))
def init_lora(key: jax.Array, base: dict, config: GPTConfig, rank: int) -> dict:
    """Adapters for every target matrix: A normal(0, 1/d_in), B zero (L, r, ·) each.

    B = 0 makes the adapted model equal the base at the start; A's scale
    keeps x Aᵀ of order one for inputs of order one.

    Returns:
      {"attn": {"w_q": Adapters(a (L, r, d_in), b (L, r, d_out)), ...}, "mlp": {...}}.
    """
    out: dict = {}
    names = [(g, n) for g, ns in lora_targets(config).items() for n in ns]
    for (group, name), k in zip(names, jax.random.split(key, len(names))):
        layers, d_in, d_out = base["blocks"][group][name].shape  # (L, d_in, d_out)
        a = jax.random.normal(k, (layers, rank, d_in)) / math.sqrt(d_in)  # (L, r, d_in)
        b = jnp.zeros((layers, rank, d_out))  # (L, r, d_out)
        out.setdefault(group, {})[name] = lowrank.Adapters(a, b)
    return out


def lora_delta(adapters: lowrank.Adapters, alpha: float) -> jax.Array:
    """(α/r) Aᵀ B for adapters of any leading axes: a (..., r, d_in), b (..., r, d_out)
    -> (..., d_in, d_out), the correction in the GPT's x @ W layout."""
    r = adapters.a.shape[-2]
    return (alpha / r) * jnp.einsum("...ri,...ro->...io", adapters.a, adapters.b)


@jax.jit
def merge(base: dict, lora: dict, alpha: float) -> dict:
    """The base parameters with every adapted W replaced by W + (α/r) Aᵀ B."""
    blocks = {g: dict(base["blocks"][g]) for g in base["blocks"]}
    for group, adapters in lora.items():
        for name, ad in adapters.items():
            blocks[group][name] = base["blocks"][group][name] + lora_delta(ad, alpha)
    return {**base, "blocks": blocks}


@jax.tree_util.register_pytree_node_class
class LoRAWeight:
    """A frozen W with its adapters, used where the model multiplies by W.

    `x @ LoRAWeight` is x W + (α/r)(x Aᵀ) B (`lowrank.lora_forward`): W + ΔW
    is never built. A pytree, so `lax.scan` over the layers slices W, A and B
    together; the scale α is static.
    """

    def __init__(self, w: jax.Array, adapters: lowrank.Adapters, alpha: float):
        self.w, self.adapters, self.alpha = w, adapters, alpha

    def __rmatmul__(self, x: jax.Array) -> jax.Array:
        # lowrank's layer takes W as (d_out, d_in): W.T here.
        return lowrank.lora_forward(x, self.w.T, self.adapters, self.alpha)  # (..., d_out)

    def tree_flatten(self):
        return (self.w, self.adapters), self.alpha

    @classmethod
    def tree_unflatten(cls, alpha, children):
        return cls(*children, alpha)


def apply_lora(base: dict, lora: dict, alpha: float) -> dict:
    """The base parameters with every adapted W wrapped as a LoRAWeight (the adapter
    forward: the model runs unchanged, each multiply adds its low-rank path)."""
    blocks = {g: dict(base["blocks"][g]) for g in base["blocks"]}
    for group, adapters in lora.items():
        for name, ad in adapters.items():
            blocks[group][name] = LoRAWeight(base["blocks"][group][name], ad, alpha)
    return {**base, "blocks": blocks}


class LoRALoss(NamedTuple):
    """Next-token cross-entropy of the adapted model; differentiated in the adapters only.

    Call as `LoRALoss(model, alpha)(lora, (base, x, y))`: the frozen base rides
    in the batch, so `train_step`'s gradient (of its first argument) never
    touches it and the optimiser state holds the adapters alone.
    """

    model: GPTConfig
    alpha: float

    def __call__(self, lora: dict, batch: tuple) -> jax.Array:
        base, x, y = batch  # the frozen params, (B, T), (B, T)
        params = apply_lora(base, lora, self.alpha)
        return cross_entropy(gpt_forward(params, x, config=self.model), y)  # (B, T, V) -> ()


@functools.partial(jax.jit, static_argnames=("loss_fn", "steps", "batch", "context"))
def lora_chunk(state, key, tokens, base, *, loss_fn, steps: int, batch: int, context: int):
    """`steps` LoRA steps in one `lax.scan`: `training.train_step` on the adapters, with
    batches drawn as `training.train_chunk` draws them (the same keys, the same windows).

    Args:
      state: TrainState of the adapters; key: the chunk's key; tokens: (n,) int32;
      base: the frozen parameters. Returns: (state, StepAux of (steps,) arrays).
    """

    def body(state, step_key):
        x, y = sample_batch(step_key, tokens, batch, context)  # (B, T) each
        return tr.train_step(state, (base, x, y), loss_fn=loss_fn)

    return jax.lax.scan(body, state, jax.random.split(key, steps))


def lora_param_count(config: GPTConfig, rank: int) -> int:
    """Trainable numbers of rank-r LoRA on every target: r (d_in + d_out) per matrix."""
    d, f = config.d_model, config.d_ff
    sizes = {"w_q": (d, d), "w_k": (d, d), "w_v": (d, d), "w_o": (d, d), "w_fc": (d, f),
             "w_proj": (f, d), "w_gate": (d, f), "w_up": (d, f), "w_down": (f, d)}  # fmt: skip
    names = [n for ns in lora_targets(config).values() for n in ns]
    return config.n_layers * sum(rank * sum(sizes[n]) for n in names)


def lora_shortfall(lora_val: float, full_val: float, tolerance: float = 0.1) -> float:
    """Nats by which LoRA misses "within `tolerance` of full fine-tuning" (0 when it
    does not miss): max(0, lora − full − tolerance)."""
    return max(0.0, lora_val - full_val - tolerance)


# ----------------------------------------------------------------------------
# A preference anyone can check.

PUNCTUATION = ".,;:!?"


def line_passes(line: str) -> bool:
    """A line starts with a capital letter and ends with one of . , ; : ! ?"""
    return bool(line) and "A" <= line[0] <= "Z" and line[-1] in PUNCTUATION


def complete_lines(text: str) -> list[str]:
    """The non-empty lines of `text` that a newline ends (the last, cut off, is not one)."""
    return [line for line in text.split("\n")[:-1] if line]


def rule_passes(text: str) -> bool:
    """The rule: at least one complete line, and every complete line passes `line_passes`."""
    lines = complete_lines(text)
    return bool(lines) and all(line_passes(line) for line in lines)


def response_length(text: str) -> int:
    """Characters the rule reads: up to and including the last newline (all, without one)."""
    end = text.rfind("\n")
    return len(text) if end < 0 else end + 1


def pair_up(passes: list[bool]) -> list[tuple[int, int]]:
    """(chosen, rejected) indices: the i-th passing sample with the i-th failing one."""
    good = [i for i, p in enumerate(passes) if p]
    bad = [i for i, p in enumerate(passes) if not p]
    return list(zip(good, bad))


def best_of_n_rate(passes: list[bool], n: int) -> float:
    """Share of groups of n consecutive samples with at least one passing: the pass rate
    of best-of-n, which keeps a passing sample whenever the group has one."""
    groups = [passes[i : i + n] for i in range(0, len(passes) - n + 1, n)]
    return float(np.mean([any(g) for g in groups])) if groups else float("nan")


# ----------------------------------------------------------------------------
# DPO.


@jax.jit
def token_logps(logits: jax.Array, tokens: jax.Array) -> jax.Array:
    """log p(token) at every position: logits (B, K, V), tokens (B, K) -> (B, K)."""
    logp = jax.nn.log_softmax(logits, axis=-1)  # (B, K, V)
    return jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]  # (B, K)


def sequence_logps(logps: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(summed, mean) log-probability of each response: logps, mask (B, K) -> (B,), (B,)."""
    total = jnp.sum(logps * mask, axis=-1)  # (B,)
    return total, total / jnp.maximum(jnp.sum(mask, axis=-1), 1.0)  # (B,), (B,)


def dpo_loss(pi_c, pi_r, ref_c, ref_r, beta) -> tuple[jax.Array, jax.Array]:
    """(mean DPO loss, mean implicit reward margin) over pairs; each log-prob (P,).

    z = β[(log π(y⁺) − log π_ref(y⁺)) − (log π(y⁻) − log π_ref(y⁻))], the
    difference of the implicit rewards; loss = −log σ(z), which is log 2 when
    π = π_ref (z = 0).
    """
    z = beta * ((pi_c - ref_c) - (pi_r - ref_r))  # (P,)
    return -jnp.mean(jax.nn.log_sigmoid(z)), jnp.mean(z)


class Pairs(NamedTuple):
    """Preference pairs as token arrays, and the reference's log-probs of them."""

    inputs_c: jax.Array  # (P, K) the model's input for each chosen response (prompt + all but last)
    chosen: jax.Array  # (P, K) the chosen response's tokens
    mask_c: jax.Array  # (P, K) 1.0 where a token belongs to the response
    inputs_r: jax.Array  # (P, K) likewise for the rejected ones
    rejected: jax.Array  # (P, K)
    mask_r: jax.Array  # (P, K)
    ref_c: jax.Array  # (2, P) π_ref's summed and mean log-prob of each chosen response
    ref_r: jax.Array  # (2, P) and of each rejected one


class DPOLoss(NamedTuple):
    """The DPO loss of a GPT policy; call as `DPOLoss(model)(params, (pairs, beta, mean))`.

    `mean` (a 0/1 number, traced) picks mean per-token log-probs instead of
    summed ones, so both variants and every β share one compiled program.
    """

    model: GPTConfig

    def __call__(self, params: dict, batch: tuple) -> jax.Array:
        return dpo_stats(params, batch, model=self.model)[0]


def dpo_stats(params: dict, batch: tuple, *, model: GPTConfig):
    """(loss, reward margin) of DPO on `batch` = (Pairs, beta (), mean ())."""
    p, beta, mean = batch
    ids = jnp.concatenate([p.inputs_c, p.inputs_r])  # (2P, K)
    logits = gpt_forward(params, ids, config=model)  # (2P, K, V)
    n = p.chosen.shape[0]
    lp = token_logps(logits, jnp.concatenate([p.chosen, p.rejected]))  # (2P, K)
    s_c, m_c = sequence_logps(lp[:n], p.mask_c)  # (P,) each
    s_r, m_r = sequence_logps(lp[n:], p.mask_r)  # (P,) each
    pick = lambda s, m: jnp.where(mean > 0, m, s)  # noqa: E731
    return dpo_loss(pick(s_c, m_c), pick(s_r, m_r), pick(*p.ref_c), pick(*p.ref_r), beta)


@functools.partial(jax.jit, static_argnames=("model", "steps"))
def dpo_train(params, pairs: Pairs, beta, mean, hyper: tr.Hyper, *, model, steps: int):
    """`steps` DPO steps from `params` on all the pairs: `training.train_step` with `DPOLoss`.

    β and `mean` are traced numbers, so every β, and both kinds of log-prob,
    run this one compiled program. (A `jax.vmap` over the βs would train them
    in one call, but on a CPU its program took twice as long to compile as
    this one takes for all of them.)

    Args:
      params: the reference GPT, where the policy starts; pairs: Pairs;
      beta: () β; mean: () 1.0 for mean log-probs, 0.0 for summed; hyper: the Hyper.
    Returns:
      (the policy's params, (steps,) loss before each step, final loss, final margin).
    """
    state = tr.init_state(params, hyper)

    def body(state, _):
        return tr.train_step(state, (pairs, beta, mean), loss_fn=DPOLoss(model))

    state, aux = jax.lax.scan(body, state, length=steps)
    loss, margin = dpo_stats(state.params, (pairs, beta, mean), model=model)
    return state.params, aux.loss, loss, margin


@jax.jit
def kl_per_sample(policy_logits: jax.Array, ref_logits: jax.Array) -> jax.Array:
    """Σ over positions of KL(π ‖ π_ref) of the next-token laws: (B, K, V) x2 -> (B,).

    Along samples drawn from π this averages to the KL of the whole
    continuations (the chain rule of KL).
    """
    lp = jax.nn.log_softmax(policy_logits, axis=-1)  # (B, K, V)
    lq = jax.nn.log_softmax(ref_logits, axis=-1)  # (B, K, V)
    return jnp.sum(jnp.exp(lp) * (lp - lq), axis=(-2, -1))  # (B,)
