"""Lesson 15 — next-token prediction, step by step.

A language model reads token ids, looks each up in an embedding table, adds
a position vector, lets every token attend to itself and its past (a causal
mask), and turns each position's output into logits over the vocabulary:
row t scores the token that comes after position t. Generation reads the
last row, picks a token, appends it, and runs again.

Part A re-creates the original's toy: a 20-word vocabulary, 8-wide
embeddings, one causal head whose W_q, W_k and W_v are constant matrices,
prompt "The cat sat", three greedy steps and the loss of "The cat sat"
against "cat sat on". Then what constant weights do: every logits row is
c_t times one vector, so every position ranks the next tokens one way up to
sign, and the context sets only the scalar c_t (its sign and how sharp);
after "<eos>" c_t turns negative and the ranking reverses. The loss is worse
than a uniform guess, and the ε in log(p + ε) caps the loss and kills its
gradient. Beyond it: the same head with seeded random weights, teacher
forcing (one pass = T prefix passes), causality bit for bit, and sampling
with a temperature and top-k from an explicit key.

Run:  python lessons/15_autoregressive_lm.py [--seed 0] [--temperature 1.0] [--top-k 0]
                                             [--steps 3] [--json] [--show-code] [--original]
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

from trinity_foundations import attention, cli, display, sections, transformer

# --- the original's data (15_autoregressive_lm.exs) ----------------------------------

VOCAB = ["<pad>", "The", "cat", "sat", "on", "mat", "dog", "bites", "man", "a", "is", "happy",
         "furry", "friendly", "brown", "and", "the", "with", "sleeping", "<eos>"]  # fmt: skip
E = [  # (20, 8) token embeddings, one row per word of VOCAB
    [0.1, 0.0, -0.1, 0.2, 0.3, 0.0, 0.1, -0.2],
    [0.9, 0.2, -0.4, 0.1, -0.1, 0.8, 0.3, 0.5],
    [0.2, 0.8, 0.6, -0.2, 0.4, 0.1, 0.9, -0.1],
    [-0.1, 0.1, 0.9, 0.7, -0.3, 0.2, 0.1, 0.8],
    [0.0, 0.3, 0.1, -0.1, 0.8, 0.6, -0.2, 0.4],
    [0.3, 0.4, -0.2, 0.9, 0.1, 0.3, 0.6, 0.0],
    [0.25, 0.75, 0.5, -0.3, 0.3, 0.15, 0.85, -0.15],
    [-0.15, 0.2, 0.85, 0.65, -0.25, 0.1, 0.05, 0.75],
    [0.8, -0.1, 0.3, 0.4, 0.5, -0.2, 0.1, 0.3],
    [0.45, -0.35, 0.1, 0.2, -0.15, 0.4, -0.3, 0.2],
    [-0.2, 0.5, 0.1, 0.3, 0.1, 0.6, -0.4, 0.1],
    [0.7, 0.6, 0.8, -0.1, 0.2, 0.5, 0.3, -0.2],
    [0.15, 0.9, 0.4, -0.1, 0.5, 0.2, 0.7, -0.3],
    [0.65, 0.55, 0.45, -0.2, 0.1, 0.35, 0.25, -0.1],
    [0.3, 0.3, -0.4, 0.8, 0.2, 0.1, 0.4, 0.0],
    [-0.3, -0.2, 0.1, 0.0, 0.5, 0.4, 0.6, 0.2],
    [0.85, 0.15, -0.45, 0.05, -0.15, 0.75, 0.25, 0.45],
    [0.1, 0.2, 0.3, 0.4, -0.4, -0.3, -0.2, -0.1],
    [-0.1, -0.1, 0.5, 0.5, 0.2, 0.3, 0.1, 0.4],
    [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0],
]
P = [  # (10, 8) learned absolute positions; the last four rows are zero
    [0.0, 0.1, 0.2, 0.0, 0.1, 0.2, 0.0, 0.1],
    [0.1, 0.2, 0.0, 0.1, 0.2, 0.0, 0.1, 0.2],
    [0.2, 0.0, 0.1, 0.2, 0.0, 0.1, 0.2, 0.0],
    [0.05, 0.15, 0.25, 0.05, 0.15, 0.25, 0.05, 0.15],
    [0.15, 0.25, 0.05, 0.15, 0.25, 0.05, 0.15, 0.25],
    [0.25, 0.05, 0.15, 0.25, 0.05, 0.15, 0.25, 0.05],
    *[[0.0] * 8 for _ in range(4)],
]
W_VOCAB = [  # (8, 20) output projection, hidden -> vocabulary (not tied to E)
    [0.1, 0.8, 0.3, -0.1, 0.4, 0.2, 0.5, 0.1, -0.2, 0.3,
     0.1, 0.6, 0.2, 0.3, 0.4, -0.3, 0.8, 0.1, -0.1, -0.9],
    [0.0, 0.2, 0.9, 0.6, -0.1, 0.4, 0.7, 0.2, 0.1, -0.2,
     0.3, 0.1, 0.8, 0.5, 0.2, 0.1, 0.2, 0.3, 0.4, -0.8],
    [-0.2, 0.1, 0.5, 0.8, 0.9, -0.3, 0.1, 0.7, 0.4, 0.1,
     0.2, 0.3, 0.5, 0.2, 0.1, -0.1, 0.1, 0.0, 0.2, -0.7],
    [0.3, -0.1, 0.2, 0.1, 0.8, 0.7, -0.2, 0.4, 0.6, 0.2,
     0.1, 0.5, 0.3, 0.1, 0.9, 0.2, -0.1, 0.4, -0.3, -0.6],
    [0.1, 0.4, -0.3, 0.5, 0.2, 0.9, 0.1, 0.3, 0.2, 0.8,
     0.4, 0.1, 0.2, 0.6, 0.1, 0.5, 0.4, -0.2, 0.1, -0.5],
    [0.2, 0.3, 0.1, -0.2, 0.6, 0.5, 0.8, 0.9, -0.1, 0.3,
     0.7, 0.2, 0.1, 0.4, 0.3, 0.1, 0.3, 0.2, 0.6, -0.4],
    [-0.1, 0.9, 0.2, 0.4, -0.3, 0.1, 0.9, 0.8, 0.5, 0.2,
     0.1, 0.7, 0.4, 0.1, 0.2, 0.3, 0.9, 0.1, -0.2, -0.3],
    [0.0, 0.1, 0.4, 0.7, 0.2, 0.3, 0.1, 0.5, 0.9, 0.6,
     -0.2, 0.3, 0.6, 0.8, 0.1, 0.4, 0.1, 0.2, 0.5, -0.2],
]  # fmt: skip
CONSTANTS = {"w_q": 0.5, "w_k": 0.3, "w_v": 0.8}  # every entry of the (8, 8) matrix
PROMPT = ["The", "cat", "sat"]
STEPS = 3
TRAIN, TARGETS = ["The", "cat", "sat"], ["cat", "sat", "on"]  # targets = inputs shifted by one
EPS = 1e-9  # the original's log(p + 1e-9)
MASK_FILL = -1e9  # the original adds this to the raw scores, then divides by sqrt(d)

# --- this lesson's choices --------------------------------------------------------------

SEED = 0
TEMPERATURE, TOP_K = 1.0, 0  # top-k 0: no truncation
TEMPERATURES = (0.5, 1.0, 2.0)
OTHER_PROMPT = ["a", "dog", "sat"]  # ends in the same token as PROMPT
FLIP_PROMPT = ["The", "cat", "<eos>"]  # "<eos>" turns the toy's scalar c_t negative
TIE_RTOL = 1e-4  # probabilities this close (relative) are shown as a tie
EPS_DEMO_SCALE = 2.0  # logits times this, so that the least likely token's p falls below ε
TOP_SHOWN = 5
MAX_STEPS = len(P) - len(PROMPT)  # the position table has 10 rows


def toy_params(key=None) -> dict:
    """The original's tables; W_q, W_k, W_v constant, or normal(0, 1/d) from `key`."""
    d = len(E[0])
    params = {"tok": jnp.array(E), "pos": jnp.array(P), "w_vocab": jnp.array(W_VOCAB)}
    if key is None:
        dtype = params["tok"].dtype  # a Python scalar fill would make a weakly typed array
        params |= {n: jnp.full((d, d), c, dtype) for n, c in CONSTANTS.items()}  # (8, 8) each
    else:
        k_q, k_k, k_v = jax.random.split(key, 3)
        std = 1 / math.sqrt(d)  # Xavier-style: q, k, v come out about the size of x
        params |= {
            n: std * jax.random.normal(k, (d, d)) for n, k in zip(CONSTANTS, (k_q, k_k, k_v))
        }
    return params


@jax.jit
def head_forward(params: dict, ids: jax.Array):
    """One causal head and the vocabulary projection: ids (T,) -> logits (T, V), weights (T, T).

    The head has width d = 8, the embedding width, so its scores are divided
    by sqrt(8); masked scores are set to the most negative float after scaling.
    """
    t = ids.shape[0]
    x = params["tok"][ids] + params["pos"][:t]  # (T, d) token + position
    q, k, v = (x @ params[n] for n in ("w_q", "w_k", "w_v"))  # (T, d) each
    out, weights = transformer.attend(
        q[None, None], k[None, None], v[None, None], transformer.causal_mask(t)
    )
    return out[0, 0] @ params["w_vocab"], weights[0, 0]  # (T, V), (T, T)


@partial(jax.jit, static_argnames="scale_first")
def mask_weights(params: dict, ids: jax.Array, fill: float, *, scale_first: bool):
    """Causal weights with `fill` added to the future scores, after or before the division
    by sqrt(d) (the original adds −1e9 first): ((T, T) weights, (T, T) raw scores)."""
    t = ids.shape[0]
    x = params["tok"][ids] + params["pos"][:t]  # (T, d)
    q, k = x @ params["w_q"], x @ params["w_k"]  # (T, d)
    future = jnp.triu(jnp.ones((t, t), dtype=bool), 1)  # (T, T) j > i
    added = jnp.where(future, fill, 0.0).astype(x.dtype)  # (T, T)
    raw, root = q @ k.T, math.sqrt(x.shape[1])  # (T, T)
    scores = raw / root + added if scale_first else (raw + added) / root  # (T, T)
    return attention.softmax(scores), raw


@jax.jit
def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean of −log softmax(logits)[t, target_t], from log-softmax: exact for any p."""
    logp = jax.nn.log_softmax(logits, axis=-1)  # (T, V)
    return -jnp.mean(jnp.take_along_axis(logp, targets[:, None], axis=-1))


@jax.jit
def cross_entropy_eps(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """The original's −mean log(p + 1e-9): at most −log(1e-9), and flat below p ≈ 1e-9."""
    p = attention.softmax(logits, axis=-1)  # (T, V)
    return -jnp.mean(jnp.log(jnp.take_along_axis(p, targets[:, None], axis=-1) + EPS))


@partial(jax.jit, static_argnames="top_k")
def truncate(logits: jax.Array, *, top_k: int) -> jax.Array:
    """Keep the top_k largest logits (ties at the k-th are kept), the rest to the most
    negative float; top_k = 0 keeps all. logits (V,) -> (V,)."""
    if not top_k:
        return logits
    kth = jnp.sort(logits)[-top_k]  # the k-th largest
    return jnp.where(logits >= kth, logits, jnp.finfo(logits.dtype).min)  # (V,)


@partial(jax.jit, static_argnames="top_k")
def sample_next(key: jax.Array, logits: jax.Array, temperature: float, *, top_k: int) -> jax.Array:
    """A token drawn from softmax(logits / τ), among the top_k largest (all when top_k = 0).

    Args:
      key: a JAX key, used once.
      logits: (V,) next-token logits.
      temperature: τ > 0; below 1 sharpens, above 1 flattens.
      top_k: keep the k largest logits (ties at the k-th are kept); 0 keeps all.
    Returns:
      () int token id.
    """
    # scale first, then truncate (ranks do not change for τ > 0): the sentinel stays finite
    return jax.random.categorical(key, truncate(logits / temperature, top_k=top_k))


@jax.jit
def entropy_at(logits: jax.Array, temperature: float) -> jax.Array:
    """Entropy in nats of softmax(logits / τ); logits (V,) -> ()."""
    return attention.entropy(attention.softmax(logits / temperature))


@jax.jit
def original_sample(logits: jax.Array, temperature: float):
    """The original's `sample_token`: softmax(l/τ) and its argmax — no random draw at all."""
    probs = attention.softmax(logits / temperature)  # (V,)
    return probs, jnp.argmax(probs)


def numerical_rank(m) -> tuple[int, list[float], float]:
    """(rank, singular values, tolerance): values above s_max · max(shape) · eps of the dtype."""
    m = np.asarray(m)
    s = np.linalg.svd(m, compute_uv=False)  # (min(T, V),) in m's own precision
    tol = float(s[0]) * max(m.shape) * float(np.finfo(m.dtype).eps)
    return int(np.sum(s > tol)), s.tolist(), tol


def np_softmax(x: np.ndarray) -> np.ndarray:
    """Bookkeeping on the host (the kernels' softmax is `attention.softmax`)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def logits_of(params: dict, ids) -> np.ndarray:
    """(T, V) logits of a pass over `ids`, on the host."""
    return np.asarray(head_forward(params, np.asarray(ids, np.int32))[0])


def ids_of(words: list[str]) -> np.ndarray:
    return np.array([VOCAB.index(w) for w in words], np.int32)


def words_of(ids) -> list[str]:
    return [VOCAB[int(i)] for i in ids]


def tie_groups(probs, k: int, rtol: float) -> list[list[int]]:
    """The likeliest ids, grouped into ties: probabilities equal to within `rtol` (relative)
    share a group, listed in id order; groups by falling p, as many as hold k ids."""
    probs = np.asarray(probs)
    groups: list[list[int]] = []
    for i in np.argsort(-probs, kind="stable"):
        if groups and probs[groups[-1][0]] - probs[i] <= rtol * probs[groups[-1][0]]:
            groups[-1].append(int(i))  # tied with the group's largest
        elif sum(len(g) for g in groups) >= k:
            break
        else:
            groups.append([int(i)])
    return [sorted(g) for g in groups]


def scalars(logits: np.ndarray, colsum: np.ndarray) -> np.ndarray:
    """c_t in logits[t] ≈ c_t · colsum, the least-squares scalar of each row. (T, V) -> (T,)"""
    return logits @ colsum / (colsum @ colsum)


# ----------------------------------------------------------------------------
# A. The original's toy, step by step.


@dataclass(frozen=True)
class StepShapes:
    ids: list[int]
    embeddings: list[int]
    with_positions: list[int]
    logits: list[int]
    last_row: list[int]


@dataclass(frozen=True)
class Top:
    id: int
    token: str
    p: float
    group: int  # tied tokens share a group


@dataclass(frozen=True)
class Step:
    ids: list[int]
    tokens: list[str]
    shapes: StepShapes
    top: list[Top]  # the likeliest next tokens, ties kept whole
    scalar: float  # c in last row ≈ c · colsum(W_vocab)
    chosen: int
    chosen_token: str


def greedy(params: dict, prompt: list[str], steps: int) -> tuple[list[Step], list[int], np.ndarray]:
    """`steps` greedy steps after `prompt`: (steps, final ids, the step-1 weights)."""
    ids, out, first_weights = list(ids_of(prompt)), [], None
    d = len(E[0])
    colsum = np.asarray(params["w_vocab"]).sum(axis=0)  # (V,)
    for _ in range(steps):  # a Python loop on purpose: one forward pass per new token
        logits, weights = head_forward(params, np.array(ids, np.int32))  # (T, V), (T, T)
        logits = np.asarray(logits)
        last = logits[-1]  # (V,) the only row that predicts a token not yet seen
        probs = np_softmax(last)  # (V,)
        chosen = int(np.argmax(last))
        t = len(ids)
        groups = tie_groups(probs, TOP_SHOWN, TIE_RTOL)
        top = [
            Top(i, VOCAB[i], float(probs[i]), g) for g, group in enumerate(groups) for i in group
        ]
        shapes = StepShapes([t], [t, d], [t, d], list(logits.shape), list(last.shape))
        scalar = float(scalars(last, colsum))
        ids_now = [int(i) for i in ids]
        out.append(Step(ids_now, words_of(ids), shapes, top, scalar, chosen, VOCAB[chosen]))
        first_weights = np.asarray(weights) if first_weights is None else first_weights
        ids.append(chosen)
    return out, [int(i) for i in ids], first_weights


@dataclass(frozen=True)
class Toy:
    vocab: int
    width: int  # of the embeddings and the head
    constants: dict[str, float]  # every entry of W_q, W_k, W_v
    steps: list[Step]
    text: str
    weights_step1: list[list[float]]  # (T, T) causal weights of the first step
    weights_upper_max: float  # their largest entry above the diagonal
    tie_rtol: float


def compute_toy(done: dict) -> Toy:
    steps, final_ids, weights1 = greedy(toy_params(), PROMPT, STEPS)
    return Toy(
        vocab=len(VOCAB),
        width=len(E[0]),
        constants=dict(CONSTANTS),
        steps=steps,
        text=" ".join(words_of(final_ids)),
        weights_step1=weights1.tolist(),
        weights_upper_max=float(np.max(np.triu(weights1, 1))),
        tie_rtol=TIE_RTOL,
    )


def shape(dims: list[int]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + (",)" if len(dims) == 1 else ")")


def tops_text(top: list[Top]) -> str:
    """'bites 61.1%, dog = friendly 5.5%': tied tokens (one group) joined by '='."""
    groups: dict[int, list[Top]] = {}
    for t in top:
        groups.setdefault(t.group, []).append(t)
    return ", ".join(
        " = ".join(t.token for t in g) + f" {display.share(max(t.p for t in g))}"
        for g in groups.values()
    )


def say_toy(r: Toy, console: Console) -> None:
    console.print(
        f"{r.vocab} words, {r.width}-wide embeddings, one causal head with "
        + ", ".join(f"{n.upper()} = {c:g}" for n, c in r.constants.items())
        + " everywhere"
    )
    for i, step in enumerate(r.steps, 1):
        s = step.shapes
        console.print(
            f"\n[bold]Step {i}[/] {' '.join(step.tokens)!r}: ids {shape(s.ids)} → "
            f"embeddings {shape(s.embeddings)} → + positions {shape(s.with_positions)} → "
            f"logits {shape(s.logits)} → last row {shape(s.last_row)}"
        )
        console.print(f"  top next tokens: {tops_text(step.top)}; chosen: "
                      f"[bold]{step.chosen_token}[/]")  # fmt: skip
        if i == 1:
            console.print(
                f"  (“=” joins a tie: probabilities within a relative {r.tie_rtol:g}, "
                "listed in vocabulary order.)"
            )
            words = step.tokens
            console.print(
                display.matrix_table(
                    "causal weights, step 1", r.weights_step1, rows=words, cols=words
                )  # fmt: skip
            )
            console.print(
                f"  Above the diagonal the largest weight is {r.weights_upper_max:g}: "
                "a token never reads its future."
            )
    console.print(f"\nFinal text: [bold]{r.text!r}[/]")
    first = r.steps[0].tokens
    console.print(
        f"The last row is read because it is the only one that predicts an unseen token: "
        f"in step 1 row 0 predicts what follows “{first[0]}”, which we already know is "
        f"“{first[1]}”. The mask is what makes those rows honest in training, not why we "
        "read the last."
    )


# ----------------------------------------------------------------------------
# 2. What constant weights do: one ranking, up to sign.


@dataclass(frozen=True)
class Context:
    """The last rows of one head after two prompts that end in the same token."""

    top: list[str]
    p_top: list[float]
    same_order: bool  # the whole ranking the same
    cosine: float
    max_diff: float


def context_rows(params: dict) -> Context:
    a, b = (logits_of(params, ids_of(p))[-1] for p in (PROMPT, OTHER_PROMPT))  # (V,) each
    return Context(
        top=[VOCAB[int(np.argmax(r))] for r in (a, b)],
        p_top=[float(np_softmax(r).max()) for r in (a, b)],
        same_order=bool(np.array_equal(np.argsort(-a), np.argsort(-b))),
        cosine=float(cosine(a, b)),
        max_diff=float(np.max(np.abs(a - b))),
    )


@dataclass(frozen=True)
class Flip:
    prompt: str
    scalars: list[float]  # c_t of each row over the prompt
    top: Top  # the first greedy step's likeliest token
    text: str  # greedy decoding after it


@dataclass(frozen=True)
class ConstantWeights:
    rank: int  # numerical rank of the logits over the final text
    rows: int
    singular_values: list[float]
    rank_tolerance: float
    colsum_min_abs_cosine: float  # min over rows of |cos(row, colsum(W_vocab))|
    colsum_argmax: str
    colsum_argmin: str
    scalars: list[float]  # c_t of each row
    flip: Flip
    prompts: list[str]
    context: Context


def compute_constant_weights(done: dict) -> ConstantWeights:
    params = toy_params()
    last = done["toy"].steps[-1]
    final_ids = [*last.ids, last.chosen]
    logits = logits_of(params, final_ids)  # (T, V) over the final text
    rank, singular, tol = numerical_rank(logits)
    colsum = np.asarray(params["w_vocab"]).sum(axis=0)  # (V,) what every row is a multiple of
    flip_steps, flip_ids, _ = greedy(params, FLIP_PROMPT, STEPS)
    flip = Flip(
        prompt=" ".join(FLIP_PROMPT),
        scalars=scalars(logits_of(params, ids_of(FLIP_PROMPT)), colsum).tolist(),  # (3,)
        top=flip_steps[0].top[0],
        text=" ".join(words_of(flip_ids)),
    )
    return ConstantWeights(
        rank=rank,
        rows=len(final_ids),
        singular_values=singular,
        rank_tolerance=tol,
        colsum_min_abs_cosine=float(np.min(np.abs(cosine(logits, colsum[None])))),
        colsum_argmax=VOCAB[int(np.argmax(colsum))],
        colsum_argmin=VOCAB[int(np.argmin(colsum))],
        scalars=scalars(logits, colsum).tolist(),
        flip=flip,
        prompts=[" ".join(PROMPT), " ".join(OTHER_PROMPT)],
        context=context_rows(params),
    )


def rank_sentence(rank: int, rows: int) -> str:
    """What the numerical rank of a (T, V) logits matrix says about the context."""
    if rank == 1:
        return (
            f"rank 1: all {rows} rows are multiples of one vector, so they rank the next "
            "tokens one way, up to sign"
        )
    return f"rank {rank} of {rows} rows: the rows differ in direction, so the context matters"


def sign_kind(c: list[float]) -> str:
    """'positive', 'negative' or 'mixed': the signs of the scalars c_t."""
    return "positive" if min(c) > 0 else "negative" if max(c) < 0 else "mixed"


def sign_sentence(c: list[float]) -> str:
    """What the scalars c_t of logits[t] = c_t · colsum say about each row's ranking."""
    span = f"c_t runs from {min(c):.3g} to {max(c):.3g}"
    kind = sign_kind(c)
    if kind == "positive":
        return (
            f"{span}, positive in every row: every row ranks the tokens the same way, and "
            "the context only sets how sharp (|c_t|)"
        )
    if kind == "negative":
        return f"{span}, negative in every row: every row ranks the tokens in reverse"
    return f"{span} and changes sign: a row with c_t < 0 ranks the tokens in reverse"


def flip_sentence(prompt: str, c_last: float, top: str, p: float, text: str) -> str:
    """The toy after a prompt whose last scalar may be negative (a reversed ranking)."""
    if c_last < 0:
        return (
            f"After {prompt!r} the last row has c = {c_last:.3g} < 0: the ranking reverses, "
            f"“{top}” leads with {display.share(p)}, and greedy decoding gives {text!r}."
        )
    return f"After {prompt!r} c = {c_last:.3g} > 0: the usual ranking, “{top}” first ({text!r})."


def context_kind(tops: list[str], cos: float) -> str:
    """'different top', 'one direction' or 'same top': two last rows after two prompts."""
    if tops[0] != tops[1]:
        return "different top"
    return "one direction" if abs(cos) >= 1 - 1e-6 else "same top"


def context_sentence(tops: list[str], ps: list[float], cos: float, same_order: bool) -> str:
    """What the last rows after two prompts share: top token, ranking, direction."""
    kind = context_kind(tops, cos)
    if kind == "different top":
        return (
            f"different top tokens, “{tops[0]}” ({display.share(ps[0])}) and “{tops[1]}” "
            f"({display.share(ps[1])}), cosine {cos:.4f}"
        )
    probs = f"{display.share(ps[0])} against {display.share(ps[1])}"
    if kind == "one direction":
        return (
            f"one direction (cosine {cos:.6f}): the same top token “{tops[0]}”, at {probs}; "
            "the context changes how sharp, not the order"
        )
    order = "the same ranking below it" if same_order else "rankings that differ below it"
    return (
        f"the same top token “{tops[0]}” ({probs}) and {order}; the rows point different "
        f"ways (cosine {cos:.4f})"
    )


def say_constant_weights(r: ConstantWeights, console: Console) -> None:
    sv = display.vector(r.singular_values[:3], "{:.3g}")
    console.print(
        f"• Constant W_q, W_k, W_v make every row of Q, K and V a multiple of (1, …, 1), so "
        f"logits row t is c_t times the column sums of W_vocab (|cosine| ≥ "
        f"{r.colsum_min_abs_cosine:.6f}). The logits over the final text have "
        f"{rank_sentence(r.rank, r.rows)} (singular values {sv} …, tolerance "
        f"{r.rank_tolerance:.2g}); {sign_sentence(r.scalars)}. The largest "
        f"column sum belongs to “{r.colsum_argmax}”, which is why it wins while "
        f"c_t > 0; the smallest to “{r.colsum_argmin}”."
    )
    f = r.flip
    flip = flip_sentence(f.prompt, f.scalars[-1], f.top.token, f.top.p, f.text)
    console.print(f"• {flip} Over that prompt {sign_sentence(f.scalars)}.")
    c = r.context
    console.print(
        f"• After {r.prompts[0]!r} and {r.prompts[1]!r} the last rows have "
        + context_sentence(c.top, c.p_top, c.cosine, c.same_order)
        + "."
    )


# ----------------------------------------------------------------------------
# 3. The loss, from log-softmax.


@dataclass(frozen=True)
class EpsDemo:
    """A target so unlikely that p < ε: the loss and its gradient, both ways."""

    scale: float  # the last row's logits times this
    target: str  # the least likely token
    p_target: float
    log_p_target: float
    eps: float
    cap: float  # −ln ε, the most log(p + ε) can say
    loss: float
    loss_eps: float
    grad_norm: float
    grad_norm_eps: float


@dataclass(frozen=True)
class Loss:
    train: list[str]
    targets: list[str]  # the inputs shifted by one
    loss: float  # from log-softmax
    loss_eps: float  # the original's −log(p + ε)
    target_probs: list[float]
    uniform: float  # ln V
    eps_demo: EpsDemo


def eps_demo(params: dict) -> EpsDemo:
    """Why log(p + ε) is wrong: a target so unlikely that p < ε, loss and gradient both ways."""
    row = EPS_DEMO_SCALE * logits_of(params, ids_of(PROMPT))[-1:]  # (1, V)
    target = np.argmin(row[0], keepdims=True).astype(np.int32)  # (1,) the least likely token
    loss, grad = jax.value_and_grad(cross_entropy)(row, target)
    loss_eps, grad_eps = jax.value_and_grad(cross_entropy_eps)(row, target)
    logp = row[0] - row[0].max() - np.log(np.sum(np.exp(row[0] - row[0].max())))  # (V,)
    return EpsDemo(
        scale=EPS_DEMO_SCALE,
        target=VOCAB[int(target[0])],
        p_target=float(np_softmax(row[0])[target[0]]),
        log_p_target=float(logp[target[0]]),
        eps=EPS,
        cap=-math.log(EPS),
        loss=float(loss),
        loss_eps=float(loss_eps),
        grad_norm=float(np.linalg.norm(grad)),
        grad_norm_eps=float(np.linalg.norm(grad_eps)),
    )


def compute_loss(done: dict) -> Loss:
    params = toy_params()
    train_logits = logits_of(params, ids_of(TRAIN))  # (3, V)
    targets = ids_of(TARGETS)
    return Loss(
        train=TRAIN,
        targets=TARGETS,
        loss=float(cross_entropy(train_logits, targets)),
        loss_eps=float(cross_entropy_eps(train_logits, targets)),
        target_probs=np_softmax(train_logits)[np.arange(len(targets)), targets].tolist(),
        uniform=math.log(len(VOCAB)),
        eps_demo=eps_demo(params),
    )


def loss_sentence(loss: float, uniform: float) -> str:
    """The toy's loss against the uniform guess's ln V."""
    if loss > uniform:
        return f"worse than guessing uniformly (ln V = {uniform:.4f}): these weights are harmful"
    if loss < uniform:
        return f"better than a uniform guess (ln V = {uniform:.4f})"
    return f"exactly the uniform guess's ln V = {uniform:.4f}"


def say_loss(r: Loss, console: Console) -> None:
    probs = ", ".join(f"{t} {display.share(p)}" for t, p in zip(r.targets, r.target_probs))
    console.print(
        f"• Loss of {' '.join(r.train)!r} against {' '.join(r.targets)!r}: "
        f"{r.loss:.4f} nats (target probabilities {probs}), "
        f"{loss_sentence(r.loss, r.uniform)}."
    )
    e = r.eps_demo
    console.print(
        f"• Cross-entropy from log-softmax, not log(p + ε): on the toy the two agree "
        f"({r.loss:.6f} and {r.loss_eps:.6f}). But scale the last row by "
        f"{e.scale:g} and ask for “{e.target}” (p = {e.p_target:.3g}, log p = "
        f"{e.log_p_target:.2f}): log-softmax gives loss {e.loss:.2f} and a gradient of "
        f"norm {e.grad_norm:.3f}; log(p + {e.eps:g}) gives {e.loss_eps:.2f} (its cap is "
        f"−ln ε = {e.cap:.2f}) and a gradient of norm {e.grad_norm_eps:.3g}: the model "
        "is most wrong exactly where it stops learning."
    )


# ----------------------------------------------------------------------------
# 4. The same head with seeded random weights: the context matters.


def random_params(seed: int) -> tuple[dict, jax.Array]:
    """The toy's tables with W_q, W_k, W_v drawn from `seed`, and the sampling key."""
    k_weights, k_sample = jax.random.split(jax.random.key(seed))
    return toy_params(k_weights), k_sample


@dataclass(frozen=True)
class Pick:
    token: str
    p: float  # under the distribution it was drawn from


def generate(params: dict, key: jax.Array, steps: int, temperature: float, top_k: int):
    """`steps` sampled tokens after PROMPT, one key per step: (ids, picks)."""
    ids, chosen = list(ids_of(PROMPT)), []
    for k in jax.random.split(key, steps):
        last = logits_of(params, ids)[-1]  # (V,)
        nxt = int(sample_next(k, last, temperature, top_k=top_k))
        drawn_from = np_softmax(np.asarray(truncate(last / temperature, top_k=top_k)))  # (V,)
        chosen.append(Pick(VOCAB[nxt], float(drawn_from[nxt])))
        ids.append(nxt)
    return np.array(ids, np.int32), chosen


@dataclass(frozen=True)
class RandomHead:
    dtype: str
    temperature: float
    top_k: int  # 0: off
    ids: list[int]  # the prompt and the sampled tokens
    text: str
    steps: list[Pick]
    logits_rank: int  # over the sampled text
    context: Context


def compute_random_head(
    done: dict, *, seed: int, steps: int, temperature: float, top_k: int
) -> RandomHead:
    params, k_sample = random_params(seed)
    ids, chosen = generate(params, k_sample, steps, temperature, top_k)
    rank, _, _ = numerical_rank(logits_of(params, ids))
    return RandomHead(
        dtype=str(logits_of(params, ids_of(PROMPT)).dtype),
        temperature=temperature,
        top_k=top_k,
        ids=ids.tolist(),
        text=" ".join(words_of(ids)),
        steps=chosen,
        logits_rank=rank,
        context=context_rows(params),
    )


def say_random_head(r: RandomHead, console: Console) -> None:
    console.print(f"W_q, W_k, W_v drawn from the seed ({r.dtype}).")
    c = r.context
    console.print(
        f"• After the same two prompts this head's last rows have "
        f"{context_sentence(c.top, c.p_top, c.cosine, c.same_order)}, and differ "
        f"by up to {c.max_diff:.3g}. Its logits over the sampled text have rank "
        f"{r.logits_rank}."
    )
    picks = ", ".join(f"{s.token} ({display.share(s.p)})" for s in r.steps)
    console.print(f"• Sampled (τ = {r.temperature:g}, top-k {r.top_k or 'off'}): "
                  f"[bold]{r.text!r}[/] — each pick with its probability "
                  f"under the distribution it was drawn from: {picks}")  # fmt: skip


# ----------------------------------------------------------------------------
# 5. One pass gives every prefix, and no row sees its future.


@dataclass(frozen=True)
class OnePass:
    tokens: int
    teacher_forcing_max_diff: float  # max |row t of one pass − last row of the prefix pass|
    causal_t: int  # the token changed
    causal_max_diff_before: float  # how far the rows before it moved
    causal_max_diff_from_t: float


def teacher_forcing_diff(params: dict, ids: np.ndarray) -> float:
    """max |one pass's row t − the last row of a pass over ids[: t + 1]| over every t."""
    full = logits_of(params, ids)  # (T, V)
    prefix = np.stack([logits_of(params, ids[: t + 1])[-1] for t in range(len(ids))])  # (T, V)
    return float(np.max(np.abs(full - prefix)))


def compute_one_pass(done: dict, *, seed: int) -> OnePass:
    params, _ = random_params(seed)
    ids = np.array(done["random_head"].ids, np.int32)
    t = len(ids) // 2
    changed = ids.copy()
    changed[t] = (ids[t] + 1) % len(VOCAB)
    a, b = logits_of(params, ids), logits_of(params, changed)  # (T, V) each
    return OnePass(
        tokens=len(ids),
        teacher_forcing_max_diff=teacher_forcing_diff(params, ids),
        causal_t=t,
        causal_max_diff_before=float(np.max(np.abs(a[:t] - b[:t]))),
        causal_max_diff_from_t=float(np.max(np.abs(a[t:] - b[t:]))),
    )


def causal_sentence(before: float, from_t: float, t: int) -> str:
    if before == 0.0:
        return (
            f"changing token {t} left every logit row before it bit for bit unchanged "
            f"(max difference 0.0), while rows {t} on moved by up to {from_t:.3g}"
        )
    return f"changing token {t} moved earlier rows by {before:.3g}: the mask leaks"


def say_one_pass(r: OnePass, console: Console) -> None:
    console.print(
        f"• Teacher forcing: one pass over the {r.tokens} tokens gives "
        f"every prefix pass's last row to within {r.teacher_forcing_max_diff:.3g}."
    )
    console.print(
        "• Causality: "
        + causal_sentence(r.causal_max_diff_before, r.causal_max_diff_from_t, r.causal_t)
        + "."
    )


# ----------------------------------------------------------------------------
# 6. Temperature: how sharp the next-token distribution is.


@dataclass(frozen=True)
class Temperature:
    entropy: dict[str, float]  # τ -> entropy in nats after the prompt
    max_entropy: float  # ln V


def compute_temperature(done: dict, *, seed: int) -> Temperature:
    params, _ = random_params(seed)
    last = logits_of(params, ids_of(PROMPT))[-1]  # (V,) next token after the prompt
    entropy = {f"{tau:g}": float(entropy_at(last, tau)) for tau in TEMPERATURES}
    return Temperature(entropy, math.log(len(VOCAB)))


def say_temperature(r: Temperature, console: Console) -> None:
    table = Table(title="next-token entropy after the prompt")
    table.add_column("τ", justify="right")
    table.add_column("entropy (nats)", justify="right")
    table.add_column("")
    for tau, h in r.entropy.items():
        table.add_row(tau, f"{h:.4f}", display.bar(h, hi=r.max_entropy, width=30))
    console.print(table)
    console.print(
        f"Lower τ sharpens the distribution, higher τ flattens it towards ln V = "
        f"{r.max_entropy:.4f}."
    )


# ----------------------------------------------------------------------------
# What the Nx original did differently (--original).


@dataclass(frozen=True)
class Original:
    shown: bool  # --original
    mask_order_max_diff: float  # its −1e9 added before the division by √d, against after
    mask_fill_max_diff: float  # its −1e9 against −∞
    mask_fill: float
    mask_eps: float
    max_abs_score: float
    width: int  # d, of the head
    sample_ids: list[int]  # its sample_token at each temperature
    sample_tokens: list[str]
    temperatures: list[float]
    sample_is_argmax: bool


def compute_original(done: dict, *, shown: bool) -> Original:
    params, prompt = toy_params(), ids_of(PROMPT)
    exact, raw = mask_weights(params, prompt, -np.inf, scale_first=True)  # (3, 3) each
    first = mask_weights(params, prompt, MASK_FILL, scale_first=False)[0]  # the original's
    after = mask_weights(params, prompt, MASK_FILL, scale_first=True)[0]
    last = done["toy"].steps[-1]
    final = logits_of(params, [*last.ids, last.chosen])[-1]  # (V,) after the final text
    sampled = [int(original_sample(final, tau)[1]) for tau in TEMPERATURES]
    return Original(
        shown=shown,
        mask_order_max_diff=float(np.max(np.abs(first - after))),
        mask_fill_max_diff=float(np.max(np.abs(first - exact))),
        mask_fill=MASK_FILL,
        mask_eps=float(np.finfo(first.dtype).eps),
        max_abs_score=float(np.max(np.abs(raw))),
        width=len(E[0]),
        sample_ids=sampled,
        sample_tokens=[VOCAB[i] for i in sampled],
        temperatures=list(TEMPERATURES),
        sample_is_argmax=all(s == int(np.argmax(final)) for s in sampled),
    )


def apart_kind(diff: float, eps: float) -> str:
    """'same', 'rounding' (within 8 machine ε) or 'apart': two sets of weights."""
    return "same" if diff == 0 else "rounding" if diff <= 8 * eps else "apart"


def apart(diff: float, eps: float) -> str:
    """How far two sets of weights are: the same, the same up to rounding, or apart."""
    kind = apart_kind(diff, eps)
    if kind == "same":
        return "the same weights"
    if kind == "rounding":
        return f"the same weights up to rounding ({diff:.1g})"
    return f"weights {diff:.2g} apart"


def mask_sentence(
    order_diff: float, fill_diff: float, max_score: float, fill: float, eps: float, d: int
) -> str:
    """The original masks with a finite fill before scaling: did either choice matter?"""
    fill_text = f"{fill:g}".replace("e+0", "e").replace("-", "−")
    order = f"Masking before or after the division by √{d}: {apart(order_diff, eps)}"
    if apart_kind(fill_diff, eps) != "apart" and max_score * 1e3 < abs(fill):
        return (
            f"{order}; −∞/√{d} is still −∞. A finite {fill_text} instead of −∞: "
            f"{apart(fill_diff, eps)}, since every score is far smaller (largest |score| "
            f"{max_score:.3g})."
        )
    return (
        f"{order}. A finite {fill_text} instead of −∞: {apart(fill_diff, eps)}; the scores "
        f"(up to {max_score:.3g}) are not small beside it."
    )


def sample_sentence(tokens: list[str], temperatures: list[float], is_argmax: bool) -> str:
    """The original's sample_token at several temperatures."""
    taus = ", ".join(f"{t:g}" for t in temperatures)
    if is_argmax:
        return (
            f"The original's sample_token is greedy, as its comment says: at τ = {taus} it returns "
            f"{', '.join(tokens)}, the argmax each time (dividing by τ > 0 never moves the "
            "argmax). Part B draws from the distribution instead."
        )
    return f"Its sample_token at τ = {taus} returns {', '.join(tokens)}: not always the argmax."


def say_original(r: Original, console: Console) -> None:
    if not r.shown:
        console.print("\n[dim]--original adds what the Nx original computed differently.[/]")
        return
    console.rule("[bold]Beside the original")
    order, fill = r.mask_order_max_diff, r.mask_fill_max_diff
    mask = mask_sentence(order, fill, r.max_abs_score, r.mask_fill, r.mask_eps, r.width)
    console.print(f"• {mask}")
    console.print("• " + sample_sentence(r.sample_tokens, r.temperatures, r.sample_is_argmax))


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S, seed = sections.Section, args.seed
    sampling = {"steps": args.steps, "temperature": args.temperature, "top_k": args.top_k}
    return [
        S(
            "toy",
            compute_toy,
            say_toy,
            title="A. The original's toy, step by step",
            doing="compiling the head for each prompt length",
        ),
        S(
            "constant_weights",
            compute_constant_weights,
            say_constant_weights,
            title="What constant weights do",
        ),
        S(
            "loss",
            compute_loss,
            say_loss,
            title="The loss, from log-softmax",
            doing="the loss and its gradient, both ways",
        ),
        S(
            "random_head",
            partial(compute_random_head, seed=seed, **sampling),
            say_random_head,
            title="B. The same head with seeded random weights",
            doing=f"sampling {display.count(args.steps, 'token')}",
        ),
        S(
            "one_pass",
            partial(compute_one_pass, seed=seed),
            say_one_pass,
            title="One pass, every prefix",
            doing="a pass over every prefix",
        ),
        S(
            "temperature",
            partial(compute_temperature, seed=seed),
            say_temperature,
            title="Temperature",
        ),
        S(
            "original",
            partial(compute_original, shown=args.original),
            say_original,
            doing="the original's mask and sampler",
        ),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    toy, cw, loss, rnd = (done[n] for n in ("toy", "constant_weights", "loss", "random_head"))
    one, temp, orig = done["one_pass"], done["temperature"], done["original"]
    return {
        "toy_steps": toy.steps,
        "toy_text": toy.text,
        "toy_weights_step1": toy.weights_step1,
        "toy_weights_upper_max": toy.weights_upper_max,
        "mask_order_max_diff": orig.mask_order_max_diff,
        "mask_fill_max_diff": orig.mask_fill_max_diff,
        "mask_fill": orig.mask_fill,
        "mask_eps": orig.mask_eps,
        "max_abs_score": orig.max_abs_score,
        "toy_logits_rank": cw.rank,
        "toy_singular_values": cw.singular_values,
        "toy_rank_tolerance": cw.rank_tolerance,
        "toy_colsum_min_abs_cosine": cw.colsum_min_abs_cosine,
        "toy_colsum_argmax": cw.colsum_argmax,
        "toy_colsum_argmin": cw.colsum_argmin,
        "toy_scalars": cw.scalars,
        "toy_flip": cw.flip,
        "tie_rtol": toy.tie_rtol,
        "toy_loss": loss.loss,
        "toy_loss_eps": loss.loss_eps,
        "toy_target_probs": loss.target_probs,
        "uniform_loss": loss.uniform,
        "eps_demo": loss.eps_demo,
        "original_sample_ids": orig.sample_ids,
        "original_sample_temperatures": orig.temperatures,
        "original_sample_is_argmax": orig.sample_is_argmax,
        "train": loss.train,
        "targets": loss.targets,
        "context": {"prompts": cw.prompts, "toy": cw.context, "random": rnd.context},
        "random_logits_rank": rnd.logits_rank,
        "random_text": rnd.text,
        "random_steps": rnd.steps,
        "teacher_forcing_max_diff": one.teacher_forcing_max_diff,
        "causal_max_diff_before": one.causal_max_diff_before,
        "causal_max_diff_from_t": one.causal_max_diff_from_t,
        "causal_t": one.causal_t,
        "entropy_by_temperature": temp.entropy,
        "max_entropy": temp.max_entropy,
        "dtype": rnd.dtype,
        "temperature": rnd.temperature,
        "top_k": rnd.top_k,
    }


def toy_bullet(rank: int, text: str, c: list[float]) -> str:
    """The first bullet: what the toy's constant weights did to its predictions."""
    if rank == 1 and sign_kind(c) == "positive":
        return (
            f"The toy's constant weights made every logits row a multiple of one vector "
            f"(rank 1), ranked the same way, so greedy decoding gave {text!r}."
        )
    if rank == 1:
        return (
            f"The toy's constant weights made every logits row a multiple of one vector "
            f"(rank 1), reversed where c_t < 0; greedy decoding gave {text!r}."
        )
    return f"The toy's logits had rank {rank}; greedy decoding gave {text!r}."


def loss_bullet(r: Loss) -> str:
    """The second bullet: the toy's loss, and the ε that hides a large one."""
    e = r.eps_demo
    return (
        f"Its loss, {r.loss:.4f} nats, is {loss_sentence(r.loss, r.uniform)}; log(p + ε) "
        f"reports a loss of {e.loss:.2f} as {e.loss_eps:.2f}, with a gradient of norm "
        f"{e.grad_norm_eps:.3g} instead of {e.grad_norm:.3f}."
    )


def random_bullet(r: RandomHead, p: OnePass) -> str:
    """The third bullet: the random head's rank, teacher forcing and causality."""
    return (
        f"With seeded random weights the logits have rank {r.logits_rank}; one pass gave "
        f"every prefix's last row to within {p.teacher_forcing_max_diff:.3g}, and "
        + causal_sentence(p.causal_max_diff_before, p.causal_max_diff_from_t, p.causal_t)
        + "."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    toy, cw = done["toy"], done["constant_weights"]
    return [
        toy_bullet(cw.rank, toy.text, cw.scalars),
        loss_bullet(done["loss"]),
        random_bullet(done["random_head"], done["one_pass"]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED, original=True)
    parser.add_argument(
        "--temperature",
        type=cli.float_in(0.01, 100.0),
        default=TEMPERATURE,
        help="sampling temperature τ, 0.01 to 100 (default: %(default)s)",
    )
    parser.add_argument(
        "--top-k",
        type=cli.int_in(0, len(VOCAB), "the vocabulary's size"),
        default=TOP_K,
        help="sample among the k likeliest tokens, 0 for all (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=cli.int_in(1, MAX_STEPS, "the position table's rows"),
        default=STEPS,
        help=f"tokens to sample after the prompt, 1 to {MAX_STEPS} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    kernels = (head_forward, transformer.attend, cross_entropy, cross_entropy_eps, truncate,
               sample_next)  # fmt: skip
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=kernels
    )


if __name__ == "__main__":
    cli.entry(main)
