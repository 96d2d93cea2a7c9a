"""Lesson 17 — tokens, embeddings and positions.

Text becomes integer ids (a tokenizer), ids become vectors (a row lookup in an
embedding table, the same as one-hot times the table), and attention reads
those vectors as a set: swap two tokens and, without positions or a causal
mask, their outputs only swap. Adding sinusoidal position vectors (or
rotating queries and keys, RoPE) breaks that symmetry, and so does the causal
mask of lessons 15–16 on its own.

Part A re-creates the original: a 20-word vocabulary, a fixed 20 × 6 table
E = 0.5·sin(iota), one attention head without a causal mask (as the
original's), and the swap of "cat" and "sat" with and without positions, in
both layouts of the sinusoidal table, and with the mask. Beyond it: a
byte-level BPE tokenizer trained from scratch on Macbeth, the closed forms
behind positions (a shift is a rotation; RoPE scores depend only on the
offset) and what the gradient does to rows of E whose tokens are absent.

Run:  python lessons/17_tokenization_embeddings.py [--merges 512] [--seed 0] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from rich.columns import Columns
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trinity_foundations import attention, cli, display, positions, sections, transformer
from trinity_foundations import tokenizers as tk

CORPUS = Path(__file__).resolve().parents[1] / "data" / "macbeth.txt"
PROMPT = "The cat sat on the mat"
SWAP = (1, 2)  # "cat" and "sat"
OTHER_BATCH = "a dog bites the furry man"  # a second batch without "cat", for momentum
D = 6  # hidden width of Part A
LEARNED_VALUE = 0.05  # the original's constant "learned" position table
MERGES = 512
MAX_MERGES = 8192  # time only: 1.3 s more CPU than the default 512 (measured, 2-core VM)
BPE_EXAMPLE, BPE_EXAMPLE_MERGES = "aaabdaaabac", 3
FIRST_SHOWN = 12  # merges listed
SENTENCE = "Fair is foul, and foul is fair"  # Act 1, scene 1
NON_ASCII = "Glamis, Cawdor — « thane » 麦克白 ∂x/∂t 🗡"
RECOUNT_BYTES, RECOUNT_MERGES = 20_000, 32  # the reference trainer's check, kept short
SHIFTS = (1, 5, 20)  # PE(p + k) = PE(p) R(k)
ROPE_D, ROPE_SHIFTS = 8, (1, 10, 100)
LR, WEIGHT_DECAY = 1e-2, 1e-2
SEED = 0


# ----------------------------------------------------------------------------
# Sentences every section uses: each choice is a small pure function.


def zero_or_rounding(diff: float, eps: float, dtype: str, scale: float = 1.0) -> str:
    """Say what a difference that should vanish measured: exactly 0, rounding, or real."""
    if diff == 0.0:
        return f"exactly 0 in {dtype}"
    if diff <= 1e3 * eps * max(scale, 1.0):
        return f"{diff:.2g}: not exactly 0, rounding error of {dtype} (ε = {eps:.2g})"
    return f"{diff:.3g}: a real difference, far above {dtype} rounding (ε = {eps:.2g})"


def moved_with_token(diff: float, eps: float) -> bool:
    """Whether a swap left the moved token's output in place, up to rounding."""
    return diff <= 1e3 * eps


def symmetry_verdict(diff: float, eps: float) -> str:
    """Whether a swap left the moved token's output in place (up to rounding) or changed it."""
    if moved_with_token(diff, eps):
        return "the output moved with the token: the head cannot tell the two orders apart"
    return "the output changed: the head now tells the two orders apart"


# ----------------------------------------------------------------------------
# 1. Words to ids.


@dataclass(frozen=True)
class Words:
    prompt: str
    words: tuple[str, ...]
    word_ids: tuple[int, ...]  # (T,)
    decoded: str
    vocab_size: int


def compute_words(done: dict) -> Words:
    ids = tk.word_encode(PROMPT)
    return Words(PROMPT, tuple(PROMPT.split()), tuple(ids), tk.word_decode(ids), len(tk.WORDS))


def say_words(r: Words, console: Console) -> None:
    console.print(f"A {r.vocab_size}-word vocabulary, split on whitespace:")
    pairs = ", ".join(f"{w}→{i}" for w, i in zip(r.words, r.word_ids, strict=True))
    console.print(f"“{r.prompt}” → {display.vector(r.word_ids)}   ({pairs})")
    console.print(f"Decoded back: “{r.decoded}”. Vocabulary size {r.vocab_size}.")


# ----------------------------------------------------------------------------
# 2. An embedding lookup is a product with one-hot rows.


def embedding_table(vocab: int, dim: int) -> jax.Array:
    """E = 0.5·sin(iota): entry (r, c) is 0.5·sin(r·dim + c), (vocab, dim)."""
    return 0.5 * jnp.sin(jnp.arange(vocab * dim, dtype=float).reshape(vocab, dim))  # (V, d)


def projections(dim: int) -> dict[str, jax.Array]:
    """W_q, W_k, W_v = 0.05, 0.03, 0.07 × iota({d, d}) (iota counts the flattened matrix)."""
    iota = jnp.arange(dim * dim, dtype=float).reshape(dim, dim)  # (d, d)
    return {"w_q": 0.05 * iota, "w_k": 0.03 * iota, "w_v": 0.07 * iota}


@jax.jit
def lookup_vs_one_hot(table: jax.Array, ids: jax.Array) -> jax.Array:
    """max |one_hot(ids) @ E − E[ids]|: a lookup is a matrix product with one-hot rows."""
    one_hot = jax.nn.one_hot(ids, table.shape[0], dtype=table.dtype)  # (T, V)
    # Full float32 products: a GPU's default TF32 would round E's entries first.
    product = jnp.matmul(one_hot, table, precision="highest")  # (T, d)
    return jnp.max(jnp.abs(product - table[ids]))  # (T, d) compared


@dataclass(frozen=True)
class Lookup:
    dtype: str
    eps: float
    table_shape: tuple[int, int]  # (V, d)
    first_rows: tuple[tuple[float, ...], ...]  # E[ids[:2]], (2, d)
    first_words: tuple[str, ...]
    onehot_max_diff: float


@jax.jit
def lookup_arrays(ids: jax.Array) -> tuple[jax.Array, jax.Array]:
    """E (V, d) and the lookup's difference from the one-hot product, ()."""
    table = embedding_table(len(tk.WORDS), D)  # (V, d)
    return table, lookup_vs_one_hot(table, ids)


def compute_lookup(done: dict) -> Lookup:
    words = done["words"]
    table, diff = (np.asarray(a) for a in lookup_arrays(jnp.array(words.word_ids)))
    return Lookup(
        dtype=str(table.dtype),
        eps=float(np.finfo(table.dtype).eps),
        table_shape=table.shape,
        first_rows=tuple(map(tuple, table[list(words.word_ids[:2])].tolist())),
        first_words=words.words[:2],
        onehot_max_diff=float(diff),
    )


def say_lookup(r: Lookup, console: Console) -> None:
    v, d = r.table_shape
    console.print(f"E is {v} × {d}, E = 0.5·sin(iota).")
    console.print(display.matrix_table("E[ids[:2]]", r.first_rows, rows=r.first_words))
    console.print(
        escape("A lookup is a product with one-hot rows: max |one_hot(ids) @ E − E[ids]| = ")
        + f"{zero_or_rounding(r.onehot_max_diff, r.eps, r.dtype)}."
    )


# ----------------------------------------------------------------------------
# 3. Sinusoidal positions, in two layouts.


@dataclass(frozen=True)
class Positions:
    base: float
    dim: int
    pe_half: tuple[tuple[float, ...], ...]  # (T, d): all sines, then all cosines
    pe_interleaved: tuple[tuple[float, ...], ...]  # (T, d): sin, cos, sin, cos, ...


@partial(jax.jit, static_argnames="length")
def position_tables(length: int) -> dict[str, jax.Array]:
    """The four position tables Part A adds, (T, d) each."""
    where = jnp.arange(length, dtype=float)  # (T,), float32 (float64 under x64) as E
    return {
        "none": jnp.zeros((length, D), where.dtype),
        "half": positions.sinusoidal_half(where, dim=D),
        "interleaved": positions.sinusoidal_interleaved(where, dim=D),
        "constant": jnp.full((length, D), LEARNED_VALUE, where.dtype),
    }


def compute_positions(done: dict) -> Positions:
    pes = position_tables(len(done["words"].word_ids))
    half, inter = (tuple(map(tuple, np.asarray(pes[k]).tolist())) for k in ("half", "interleaved"))
    return Positions(positions.BASE, D, half, inter)


def say_positions(r: Positions, console: Console) -> None:
    console.print(
        f"Base {r.base:,g}, d = {r.dim}: the original's code puts all sines first, then all "
        "cosines (its comment says interleaved)."
    )
    cols = [f"d{j}" for j in range(r.dim)]
    rows = [f"p{p}" for p in range(len(r.pe_half))]
    console.print(
        Columns(
            [
                display.matrix_table("sin half | cos half", r.pe_half, rows=rows, cols=cols),
                display.matrix_table("interleaved", r.pe_interleaved, rows=rows, cols=cols),
            ]
        )
    )


# ----------------------------------------------------------------------------
# 4. Swap two tokens: without positions or a mask, attention reads a set.


def causal_head(x: jax.Array, w_q, w_k, w_v) -> jax.Array:
    """The same head with the causal mask of lessons 15–16: x (T, d) -> output (T, d)."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, d) each
    mask = transformer.causal_mask(x.shape[0])  # (T, T)
    out, _ = transformer.attend(q[None, None], k[None, None], v[None, None], mask)
    return out[0, 0]  # (T, d)


def swap_outputs(table, ids, perm, pe, w) -> tuple[jax.Array, jax.Array]:
    """The head's outputs on E[ids] + pe and on the permuted E[ids[perm]] + pe, (T, d) each.

    The positions stay in place: the permuted sentence's first token still
    gets pe[0], whatever word it is now.
    """
    out = attention.attention_head(table[ids] + pe, **w).output  # (T, d)
    out_swapped = attention.attention_head(table[ids[perm]] + pe, **w).output  # (T, d)
    return out, out_swapped


def swap_distances(out: np.ndarray, out_swapped: np.ndarray) -> tuple[float, float]:
    """(‖Δ‖ of the moved token: "sat" after the swap against "sat" before it,
    largest ‖Δ‖ of a token that did not move), from (T, d) outputs."""
    i, j = SWAP
    untouched = [t for t in range(out.shape[0]) if t not in SWAP]
    moved = float(np.linalg.norm(out_swapped[i] - out[j]))
    return moved, float(np.linalg.norm(out_swapped[untouched] - out[untouched], axis=1).max())


def swapped_order(length: int) -> list[int]:
    """The permutation that swaps the two tokens of SWAP: (T,)."""
    i, j = SWAP
    return [j if k == i else i if k == j else k for k in range(length)]


@dataclass(frozen=True)
class Swap:
    dtype: str
    eps: float
    pair: tuple[str, str]  # the two swapped words, in sentence order
    swapped_words: tuple[str, ...]
    swapped_order: tuple[int, ...]
    swapped_weights: tuple[tuple[float, ...], ...]  # (T, T), the swapped sentence
    swap_diff_no_pos: float
    untouched_diff_no_pos: float
    swap_diff_causal_no_pos: float
    untouched_diff_causal_no_pos: float


@jax.jit
def unordered_arrays(ids: jax.Array, perm: jax.Array) -> dict[str, jax.Array]:
    """The head without positions, on ids and ids[perm]: no mask, then the causal mask."""
    table = embedding_table(len(tk.WORDS), D)  # (V, d)
    w = projections(D)
    none = position_tables(ids.shape[0])["none"]  # (T, d)
    return {
        "out": jnp.stack(swap_outputs(table, ids, perm, none, w)),  # (2, T, d)
        "weights": attention.attention_head(table[ids[perm]], **w).weights,  # (T, T)
        "causal": jnp.stack([causal_head(table[i], **w) for i in (ids, ids[perm])]),  # (2, T, d)
    }


def compute_swap(done: dict) -> Swap:
    words, lookup = done["words"], done["lookup"]
    order = swapped_order(len(words.word_ids))
    ids = jnp.array(words.word_ids)
    a = jax.tree.map(np.asarray, unordered_arrays(ids, jnp.array(order)))
    plain, causal = swap_distances(*a["out"]), swap_distances(*a["causal"])
    return Swap(
        dtype=lookup.dtype,
        eps=lookup.eps,
        pair=(words.words[SWAP[0]], words.words[SWAP[1]]),
        swapped_words=tuple(words.words[k] for k in order),
        swapped_order=tuple(order),
        swapped_weights=tuple(map(tuple, a["weights"].tolist())),
        swap_diff_no_pos=plain[0],
        untouched_diff_no_pos=plain[1],
        swap_diff_causal_no_pos=causal[0],
        untouched_diff_causal_no_pos=causal[1],
    )


def say_swap(r: Swap, console: Console) -> None:
    a, b = r.pair
    console.print(
        f"Swap “{a}” and “{b}”, no positions; the head, like the original's, has no causal "
        "mask: every token reads every other."
    )
    console.print(
        f"‖out_swapped({b}) − out({b})‖ = "
        f"{zero_or_rounding(r.swap_diff_no_pos, r.eps, r.dtype)}: "
        f"{symmetry_verdict(r.swap_diff_no_pos, r.eps)}."
    )
    console.print(
        display.matrix_table(
            "attention weights, swapped sentence",
            r.swapped_weights,
            rows=r.swapped_words,
            cols=r.swapped_words,
        )
    )
    console.print(
        f"The same head with the causal mask of lessons 15–16, still no positions: the moved "
        f"token's ‖Δ‖ is {zero_or_rounding(r.swap_diff_causal_no_pos, r.eps, r.dtype)}: "
        f"{symmetry_verdict(r.swap_diff_causal_no_pos, r.eps)}. A mask alone encodes order: "
        f"“{b}” now reads one token fewer before it. Without a mask, only positions can."
    )


# ----------------------------------------------------------------------------
# 5. The same swap with positions added.


@dataclass(frozen=True)
class WithPositions:
    dtype: str
    eps: float
    constant_value: float  # every entry of the constant table
    swap_diff_no_pos: float  # section 4's, for the table
    untouched_diff_no_pos: float
    swap_diff_pos: float  # sin half | cos half, the original's layout
    untouched_diff_pos: float
    swap_diff_interleaved: float
    untouched_diff_interleaved: float
    constant_table_diff: float
    constant_untouched_diff: float
    original_pos_vs_raw: float  # the original's figure: swapped with positions vs raw
    positions_effect: float  # what that figure mostly measures: positions, no swap


PE_KINDS = ("none", "half", "interleaved", "constant")


@jax.jit
def positioned_arrays(ids: jax.Array, perm: jax.Array) -> dict[str, jax.Array]:
    """The head's outputs on ids and ids[perm] with each position table: (4, T, d) each."""
    table = embedding_table(len(tk.WORDS), D)  # (V, d)
    w = projections(D)
    pes = position_tables(ids.shape[0])  # (T, d) each
    outs = {name: swap_outputs(table, ids, perm, pe, w) for name, pe in pes.items()}
    return {
        "out": jnp.stack([outs[k][0] for k in PE_KINDS]),  # (4, T, d)
        "out_swapped": jnp.stack([outs[k][1] for k in PE_KINDS]),  # (4, T, d)
    }


def compute_with_positions(done: dict) -> WithPositions:
    words, swap = done["words"], done["swap"]
    ids, perm = jnp.array(words.word_ids), jnp.array(swap.swapped_order)
    a = jax.tree.map(np.asarray, positioned_arrays(ids, perm))
    dist = {k: swap_distances(a["out"][n], a["out_swapped"][n]) for n, k in enumerate(PE_KINDS)}
    none, half = PE_KINDS.index("none"), PE_KINDS.index("half")
    i, j = SWAP
    return WithPositions(
        dtype=swap.dtype,
        eps=swap.eps,
        constant_value=LEARNED_VALUE,
        swap_diff_no_pos=swap.swap_diff_no_pos,
        untouched_diff_no_pos=swap.untouched_diff_no_pos,
        swap_diff_pos=dist["half"][0],
        untouched_diff_pos=dist["half"][1],
        swap_diff_interleaved=dist["interleaved"][0],
        untouched_diff_interleaved=dist["interleaved"][1],
        constant_table_diff=dist["constant"][0],
        constant_untouched_diff=dist["constant"][1],
        original_pos_vs_raw=float(np.linalg.norm(a["out_swapped"][half][i] - a["out"][none][j])),
        positions_effect=float(np.linalg.norm(a["out"][half][j] - a["out"][none][j])),
    )


def layouts_sentence(half: float, interleaved: float, eps: float) -> str:
    """Compare the two sinusoidal layouts' swap differences: numbers and verdicts."""
    same_verdict = symmetry_verdict(half, eps) == symmetry_verdict(interleaved, eps)
    numbers = "the same numbers" if half == interleaved else "different numbers"
    prop = "the same property" if same_verdict else "a different verdict"
    return f"The two layouts give {numbers} and {prop}."


def say_with_positions(r: WithPositions, console: Console) -> None:
    console.print("Both outputs with positions added:")
    table = Table(box=None)
    for col in ("position table", "moved token ‖Δ‖", "largest untouched ‖Δ‖"):
        table.add_column(col, justify="right" if "‖" in col else "left")
    for name, moved, untouched in (
        ("none", r.swap_diff_no_pos, r.untouched_diff_no_pos),
        ("sin half | cos half", r.swap_diff_pos, r.untouched_diff_pos),
        ("interleaved", r.swap_diff_interleaved, r.untouched_diff_interleaved),
        (f"constant {r.constant_value:g}", r.constant_table_diff, r.constant_untouched_diff),
    ):
        table.add_row(name, f"{moved:.3g}", f"{untouched:.3g}")
    console.print(table)
    console.print(
        f"With the original's layout: {symmetry_verdict(r.swap_diff_pos, r.eps)}; "
        f"interleaved: {symmetry_verdict(r.swap_diff_interleaved, r.eps)}. "
        + layouts_sentence(r.swap_diff_pos, r.swap_diff_interleaved, r.eps)
    )
    untouched = zero_or_rounding(r.untouched_diff_no_pos, r.eps, r.dtype)
    console.print(
        f"Untouched tokens without positions: {untouched}; with positions "
        f"{r.untouched_diff_pos:.3g}: their context is a different sequence now."
    )
    console.print(
        f"A constant table (every entry {r.constant_value:g}) adds the same vector at every "
        f"position: the moved token's ‖Δ‖ is "
        f"{zero_or_rounding(r.constant_table_diff, r.eps, r.dtype)}: "
        f"{symmetry_verdict(r.constant_table_diff, r.eps)}."
    )


# ----------------------------------------------------------------------------
# 6. Byte-level BPE on Macbeth.


@dataclass(frozen=True)
class Merge:
    pair: tuple[int, int]
    halves: tuple[str, str]
    id: int
    count: int
    text: str


@dataclass(frozen=True)
class RoundTrip:  # decode(encode(text)) == text
    corpus: bool
    non_ascii: bool


@dataclass(frozen=True)
class NonAscii:
    text: str
    bytes: int
    tokens: int


@dataclass(frozen=True)
class Recount:  # the incremental trainer against recounting every pair per merge
    bytes: int
    merges: int
    same: bool


@dataclass(frozen=True)
class Bpe:
    example: str
    example_ids: tuple[int, ...]
    example_merges: tuple[tuple[int, int, int, int], ...]  # (a, b, new id, count)
    corpus_bytes: int
    merges_done: int
    first_merges: tuple[Merge, ...]
    tokens_by_merges: tuple[int, ...]  # before any merge, then after each
    encoded_tokens: int
    round_trip: RoundTrip
    non_ascii: NonAscii
    sentence: str
    sentence_tokens: tuple[str, ...]
    sentence_ids: tuple[int, ...]
    recount_check: Recount


def piece(table: dict[int, bytes], i: int) -> str:
    """The text of one token (a partial UTF-8 character shows as �)."""
    return table[i].decode("utf-8", errors="replace")


def compute_bpe(done: dict, *, merges: int) -> Bpe:
    data = CORPUS.read_bytes()
    example = tk.train(BPE_EXAMPLE.encode(), BPE_EXAMPLE_MERGES)
    learned = tk.train(data, merges)
    table = tk.vocab(learned)
    ids = tk.encode(data, learned)
    sentence_ids = tk.encode(SENTENCE.encode(), learned)
    non_ascii = NON_ASCII.encode()
    non_ascii_ids = tk.encode(non_ascii, learned)
    prefix = data[:RECOUNT_BYTES]
    n_check = min(merges, RECOUNT_MERGES)
    return Bpe(
        example=BPE_EXAMPLE,
        example_ids=tuple(tk.encode(BPE_EXAMPLE.encode(), example)),
        example_merges=tuple((*m.pair, m.new_id, m.count) for m in example),
        corpus_bytes=len(data),
        merges_done=len(learned),
        first_merges=tuple(
            Merge(
                m.pair,
                (piece(table, m.pair[0]), piece(table, m.pair[1])),
                m.new_id,
                m.count,
                piece(table, m.new_id),
            )
            for m in learned[:FIRST_SHOWN]
        ),  # fmt: skip
        tokens_by_merges=(len(data), *(m.length for m in learned)),
        encoded_tokens=len(ids),
        round_trip=RoundTrip(
            tk.decode(ids, learned) == data, tk.decode(non_ascii_ids, learned) == non_ascii
        ),
        non_ascii=NonAscii(NON_ASCII, len(non_ascii), len(non_ascii_ids)),
        sentence=SENTENCE,
        sentence_tokens=tuple(piece(table, i) for i in sentence_ids),
        sentence_ids=tuple(sentence_ids),
        recount_check=Recount(
            len(prefix), n_check, tk.train(prefix, n_check) == tk.train_recount(prefix, n_check)
        ),
    )


def say_bpe(r: Bpe, console: Console) -> None:
    console.print("minbpe's rules, trained from scratch.")
    ex = ", ".join(f"({a}, {b})→{c} ×{n}" for a, b, c, n in r.example_merges)
    console.print(
        f"“{r.example}” with {len(r.example_merges)} merges [{ex}] encodes to "
        f"{display.vector(r.example_ids)}."
    )
    n, done = r.corpus_bytes, r.merges_done
    console.print(f"Macbeth: {n:,} bytes, {display.count(done, 'merge')} learned.")
    table = Table(title=f"The first {len(r.first_merges)} merges")
    for col in ("id", "pair", "count", "token"):
        table.add_column(col, justify="right" if col in ("id", "count") else "left")
    for m in r.first_merges:
        halves = " + ".join(repr(h) for h in m.halves)
        table.add_row(str(m.id), escape(halves), f"{m.count:,}", escape(repr(m.text)))
    if table.rows:
        console.print(table)
    more = done - len(r.first_merges)
    if more > 0:
        console.print(f"… {more:,} more")
    tokens = r.tokens_by_merges
    chart = display.line_chart(
        {"bytes per token": [n / t for t in tokens]},
        x_label="merges",
        y_label="bytes per token",
        height=8,
        width=50,
        x_first=0,
    )
    console.print(chart)
    console.print(
        f"{n:,} bytes → {tokens[-1]:,} tokens: {n / tokens[-1]:.2f} bytes per token after "
        f"{display.count(done, 'merge')}."
    )
    trip, na, rc = r.round_trip, r.non_ascii, r.recount_check
    console.print(
        f"Round trip decode(encode(text)) == text: whole corpus {trip.corpus}, "
        f"non-ASCII text “{na.text}” ({na.bytes} bytes, {na.tokens} tokens) {trip.non_ascii}."
    )
    pieces = " | ".join(escape(repr(t)) for t in r.sentence_tokens)
    console.print(f"“{r.sentence}” → {display.count(len(r.sentence_tokens), 'token')}: {pieces}")
    console.print(
        f"Incremental pair counts against recounting the whole text per merge, first "
        f"{rc.bytes:,} bytes, {display.count(rc.merges, 'merge')}: same merges {rc.same} "
        "(benchmarks/bpe.py times the two)."
    )


# ----------------------------------------------------------------------------
# 7. A shift of position is a rotation.


@dataclass(frozen=True)
class ByLayout:  # max |PE(p + k) − PE(p) R(k)| per layout
    half: float  # sin | cos halves
    interleaved: float


@dataclass(frozen=True)
class Rotation:
    dtype: str
    shifts: tuple[int, ...]
    rotation_by_layout: ByLayout
    rotation_max_diff: float


@jax.jit
def rotation_errors(where: jax.Array, offsets: jax.Array) -> jax.Array:
    """max |PE(p + k) − PE(p) R(k)| over positions (P,), per layout and offset: (2, K)."""

    def error(k, interleaved):
        table_fn = positions.sinusoidal_interleaved if interleaved else positions.sinusoidal_half
        shifted = table_fn(where + k, dim=D)  # (P, d)
        r = positions.shift_rotation(k, dim=D, interleaved=interleaved)  # (d, d)
        rotated = jnp.matmul(table_fn(where, dim=D), r, precision="highest")  # (P, d)
        return jnp.max(jnp.abs(shifted - rotated))

    return jnp.stack([jax.vmap(error, (0, None))(offsets, inter) for inter in (False, True)])


def compute_rotation(done: dict) -> Rotation:
    errors = np.asarray(rotation_errors(jnp.arange(50.0), jnp.array(SHIFTS, dtype=float)))
    half, inter = float(errors[0].max()), float(errors[1].max())
    return Rotation(str(errors.dtype), SHIFTS, ByLayout(half, inter), max(half, inter))


def say_rotation(r: Rotation, console: Console) -> None:
    console.print(
        f"PE(p + k) = PE(p) R(k), a fixed rotation per frequency pair, k in {list(r.shifts)}: "
        f"max error {r.rotation_by_layout.half:.2g} with the sin|cos halves, "
        f"{r.rotation_by_layout.interleaved:.2g} interleaved ({r.dtype})."
    )


# ----------------------------------------------------------------------------
# 8. RoPE: a score depends only on the offset.


def draws(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Every random number of the lesson from one draw: q and k for RoPE, (d_rope,)
    each, then the untied output matrix (d, V)."""
    x = jax.random.normal(jax.random.key(seed), (2 * ROPE_D + D * len(tk.WORDS),))
    w_out = 0.3 * x[2 * ROPE_D :].reshape(D, len(tk.WORDS))  # (d, V)
    return x[:ROPE_D], x[ROPE_D : 2 * ROPE_D], w_out


@dataclass(frozen=True)
class ByOffset:
    starts: tuple[float, ...]
    scores: tuple[tuple[float, ...], ...]  # per start n: q·k at (n + offset, n)


@dataclass(frozen=True)
class Rope:
    dtype: str
    eps: float
    shifts: tuple[int, ...]
    rope_offset_max_diff: float  # max change of q·k when both positions shift
    rope_score_scale: float  # max |q·k| before the shift
    additive_offset_max_diff: float  # the same with added sinusoids instead
    rope_by_offset: ByOffset


@jax.jit
def pair_scores(q, k, q_pos, k_pos) -> tuple[jax.Array, jax.Array]:
    """q·k with q at q_pos and k at k_pos: after RoPE, and after adding sinusoidal
    positions instead. q, k: (d,); q_pos, k_pos: (S,). Returns (S,) and (S,)."""
    s, d = q_pos.shape[0], q.shape[0]
    qs = positions.rope(jnp.broadcast_to(q, (s, d)), q_pos)  # (S, d)
    ks = positions.rope(jnp.broadcast_to(k, (s, d)), k_pos)  # (S, d)
    qa = q[None, :] + positions.sinusoidal_interleaved(q_pos, dim=d)  # (S, d)
    ka = k[None, :] + positions.sinusoidal_interleaved(k_pos, dim=d)  # (S, d)
    return jnp.sum(qs * ks, axis=1), jnp.sum(qa * ka, axis=1)  # (S,), (S,)


def compute_rope(done: dict, *, seed: int) -> Rope:
    q, k, _ = draws(seed)  # (d_rope,) each
    grid = np.arange(16.0)
    m, n = (jnp.asarray(a.ravel()) for a in np.meshgrid(grid, grid, indexing="ij"))  # (S,) each
    m, n = m.astype(q.dtype), n.astype(q.dtype)
    base, add_base = (np.asarray(x) for x in pair_scores(q, k, m, n))  # (S,) each
    rope_diff = add_diff = 0.0
    for shift in ROPE_SHIFTS:
        rope_s, add_s = (np.asarray(x) for x in pair_scores(q, k, m + shift, n + shift))
        rope_diff = max(rope_diff, float(np.max(np.abs(rope_s - base))))
        add_diff = max(add_diff, float(np.max(np.abs(add_s - add_base))))
    offsets = jnp.arange(5, dtype=q.dtype)  # (5,)
    starts = (0.0, 50.0)
    by_offset = tuple(  # score(n + offset, n) for each start n
        tuple(pair_scores(q, k, offsets + n0, jnp.full_like(offsets, n0))[0].tolist())
        for n0 in starts
    )
    return Rope(
        dtype=str(q.dtype),
        eps=float(jnp.finfo(q.dtype).eps),
        shifts=ROPE_SHIFTS,
        rope_offset_max_diff=rope_diff,
        rope_score_scale=float(np.max(np.abs(base))),
        additive_offset_max_diff=add_diff,
        rope_by_offset=ByOffset(starts, by_offset),
    )


def say_rope(r: Rope, console: Console) -> None:
    change = zero_or_rounding(r.rope_offset_max_diff, r.eps, r.dtype, r.rope_score_scale)
    console.print(
        f"RoPE: q·k at positions (m + s, n + s) against (m, n), s in {list(r.shifts)}: "
        f"max change {change}; with added sinusoidal positions instead it changes by "
        f"{r.additive_offset_max_diff:.3g}."
    )
    console.print("RoPE score q·k at positions (n + offset, n):")
    table = Table(box=None)
    table.add_column("offset", justify="right")
    by = r.rope_by_offset
    for s0 in by.starts:
        table.add_column(f"n = {s0:g}", justify="right")
    for o, row in enumerate(zip(*by.scores, strict=True)):
        table.add_row(str(o), *(f"{x:.5f}" for x in row))
    console.print(table)


# ----------------------------------------------------------------------------
# 9. The rows of E a batch does not use.


@dataclass(frozen=True)
class Gradients:
    dtype: str
    eps: float
    prompt: str
    other_batch: str
    vocab_size: int
    absent_rows: int  # rows of E whose tokens are not among the inputs
    absent_row_grad_max: float
    present_row_grad_min: float  # smallest gradient norm of an input's row
    absent_row_adamw_move: float
    absent_row_adamw_predicted: float  # lr · wd · ‖row‖
    absent_row_adam_move: float
    momentum_word: str  # a word of the first batch that the second lacks
    momentum_move: float  # how far its row moves on the second batch
    tied_absent_row_grad_min: float
    tied_zero_rows: int
    tied_absent_zero_rows: int
    lr: float
    weight_decay: float


def next_token_loss(table, w_out, ids, w, *, tied: bool) -> jax.Array:
    """Cross-entropy of predicting ids[1:] from the inputs ids[:-1] through the causal
    head: position t reads inputs 0..t only, never its target ids[t + 1].

    Untied: logits = h @ W_out. Tied: logits = h @ Eᵀ, the table itself.
    """
    inputs = ids[:-1]  # (T - 1,) the last token is only a target
    where = jnp.arange(inputs.shape[0], dtype=table.dtype)  # (T - 1,)
    pe = positions.sinusoidal_half(where, dim=D)  # (T - 1, d)
    h = causal_head(table[inputs] + pe, **w)  # (T - 1, d)
    logits = h @ (table.T if tied else w_out)  # (T - 1, V)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, ids[1:]))


def last_step_moves(table, w_out, batches, w, weight_decay: float) -> jax.Array:
    """How far each row of E moved on the last of len(batches) AdamW steps (untied), (V,)."""
    opt = optax.adamw(LR, weight_decay=weight_decay)
    state, before = opt.init(table), table
    for ids in batches:
        before = table
        grads = jax.grad(next_token_loss)(table, w_out, ids, w, tied=False)  # (V, d)
        # optax's bias correction mixes a float and int32 step count, which
        # strict dtype promotion (the tests' setting) refuses: allow it here.
        with jax.numpy_dtype_promotion("standard"):
            updates, state = opt.update(grads, state, table)
        table = optax.apply_updates(table, updates)  # (V, d)
    return jnp.linalg.norm(table - before, axis=1)  # (V,)


@jax.jit
def embedding_gradients(table, w_out, ids, other, w) -> dict[str, jax.Array]:
    """∂L/∂E untied and tied, (V, d) each, and the rows' moves (V,) under AdamW
    with decay, Adam without, and Adam on a second batch `other` after `ids`."""
    return {
        "grad": jax.grad(next_token_loss)(table, w_out, ids, w, tied=False),
        "grad_tied": jax.grad(next_token_loss)(table, w_out, ids, w, tied=True),
        "adamw": last_step_moves(table, w_out, [ids], w, WEIGHT_DECAY),
        "adam": last_step_moves(table, w_out, [ids], w, 0.0),
        "momentum": last_step_moves(table, w_out, [ids, other], w, 0.0),
    }


def compute_gradients(done: dict, *, seed: int) -> Gradients:
    _, _, w_out = draws(seed)  # (d, V)
    table = embedding_table(len(tk.WORDS), D)  # (V, d)
    ids, other = tk.word_encode(PROMPT), tk.word_encode(OTHER_BATCH)
    out = embedding_gradients(table, w_out, jnp.array(ids), jnp.array(other), projections(D))
    out = jax.tree.map(np.asarray, out)
    present = np.isin(np.arange(len(tk.WORDS)), ids[:-1])  # (V,) among the inputs
    absent = ~present
    word = "cat"
    cat = tk.WORD_IDS[word]
    assert cat in ids and cat not in other  # the momentum example needs it so
    row_norm = np.linalg.norm(out["grad"], axis=1)  # (V,)
    tied_norm = np.linalg.norm(out["grad_tied"], axis=1)  # (V,)
    row_l2s = np.linalg.norm(np.asarray(table), axis=1)  # (V,)
    return Gradients(
        dtype=str(table.dtype),
        eps=float(jnp.finfo(table.dtype).eps),
        prompt=PROMPT,
        other_batch=OTHER_BATCH,
        vocab_size=len(tk.WORDS),
        absent_rows=int(absent.sum()),
        absent_row_grad_max=float(np.max(np.abs(out["grad"][absent]))),
        present_row_grad_min=float(row_norm[present].min()),
        absent_row_adamw_move=float(out["adamw"][absent].max()),
        absent_row_adamw_predicted=float(LR * WEIGHT_DECAY * row_l2s[absent].max()),
        absent_row_adam_move=float(out["adam"][absent].max()),
        momentum_word=word,
        momentum_move=float(out["momentum"][cat]),
        tied_absent_row_grad_min=float(tied_norm[absent].min()),
        tied_zero_rows=int((tied_norm == 0).sum()),
        tied_absent_zero_rows=int((tied_norm[absent] == 0).sum()),
        lr=LR,
        weight_decay=WEIGHT_DECAY,
    )


def say_gradients(r: Gradients, console: Console) -> None:
    console.print(
        f"Gradient of the next-token loss on “{r.prompt}” (untied output, causal head; the "
        f"inputs are all but the last word): the {r.absent_rows} rows of E whose tokens "
        f"are not among the inputs get {zero_or_rounding(r.absent_row_grad_max, r.eps, r.dtype)};"
        f" the inputs' rows at least {r.present_row_grad_min:.3g}."
    )
    console.print(
        f"One AdamW step (lr {r.lr:g}, weight decay {r.weight_decay:g}) moves an "
        f"absent row by up to {r.absent_row_adamw_move:.3g} (lr·wd·‖row‖ = "
        f"{r.absent_row_adamw_predicted:.3g}); one Adam step without decay, by "
        f"{r.absent_row_adam_move:.3g} (its moments for those rows are still zero). On a "
        f"second batch, “{r.other_batch}”, Adam moves “{r.momentum_word}”, now absent, by "
        f"{r.momentum_move:.3g}: its momentum."
    )
    console.print(
        f"With the output tied to E (logits = h Eᵀ): the smallest absent-row gradient norm is "
        f"{r.tied_absent_row_grad_min:.3g}, {display.count(r.tied_zero_rows, 'row')} of "
        f"{r.vocab_size} at zero."
    )


# ----------------------------------------------------------------------------
# Beside the original (shown with --original): two of its claims against this run.


@dataclass(frozen=True)
class Original:
    figure: float  # the original's "pos 1 vs raw"
    positions_effect: float
    meaningful: float  # the swap, both outputs with positions
    held: tuple[str, ...]  # where doc 0022's claim held
    failed: tuple[str, ...]


def original_figure_sentence(original: float, effect: float, meaningful: float) -> str:
    """Why the original's 'pos 1 vs raw' number measures nothing about the swap."""
    head = (
        f"The original's “pos 1 vs raw” figure, {original:.4f}, compares “sat” swapped with "
        "positions against “sat” without them. "
    )
    if original > 0 and effect >= 0.5 * original:
        why = (
            f"Adding positions to the unswapped sentence already moves that output by "
            f"{effect:.4f} ({effect / original:.0%} of the figure): it measures the positions, "
            "not the swap. "
        )
    else:
        why = "It mixes the effect of the positions with that of the swap. "
    return head + why + f"The meaningful comparison, both with positions, is {meaningful:.4f}."


def doc_0022_cases(
    grad_max: float, adam_move: float, decay_move: float, momentum_move: float, tied_zero: int,
    absent: int,
) -> dict[str, list[str]]:  # fmt: skip
    """Doc 0022 says rows of E absent from a batch are not updated: where it held, where not."""
    held, failed = [], []
    if grad_max == 0:
        held.append("plain SGD (their gradient is exactly 0 with an untied output)")
        (held if adam_move == 0 else failed).append("one Adam step without decay")
    (failed if decay_move > 0 else held).append("AdamW's weight decay")
    (failed if momentum_move > 0 else held).append("Adam's momentum from an earlier batch")
    (failed if tied_zero < absent else held).append("a tied output (every row gets a gradient)")
    return {"held": held, "failed": failed}


def doc_0022_verdict(cases: dict[str, list[str]]) -> str:
    """One sentence from `doc_0022_cases`."""
    if not cases["failed"]:
        return "Doc 0022 says absent rows are not updated: it held in every case measured."
    held = f"It holds for {listed(cases['held'], 'and')}" if cases["held"] else "It never holds"
    return (
        f"Doc 0022 says rows absent from the batch are not updated. {held}; not with "
        f"{listed(cases['failed'], 'or')}."
    )


def listed(items: list[str], word: str) -> str:
    """'a, b and c' (or 'a, b or c')."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def compute_original(done: dict) -> Original:
    p, g = done["with_positions"], done["gradients"]
    cases = doc_0022_cases(
        g.absent_row_grad_max,
        g.absent_row_adam_move,
        g.absent_row_adamw_move,
        g.momentum_move,
        g.tied_absent_zero_rows,
        g.absent_rows,
    )
    return Original(
        p.original_pos_vs_raw,
        p.positions_effect,
        p.swap_diff_pos,
        tuple(cases["held"]),
        tuple(cases["failed"]),
    )


def say_original(r: Original, console: Console) -> None:
    console.print("• " + original_figure_sentence(r.figure, r.positions_effect, r.meaningful))
    console.print("• " + doc_0022_verdict({"held": list(r.held), "failed": list(r.failed)}))


def say_original_hint(r: Original, console: Console) -> None:
    console.print("\n[dim]--original adds what the Nx original computed differently.[/]")


# ----------------------------------------------------------------------------
# What you saw: three bullets, each chosen by a pure function of the results.


def order_bullet(
    pair: tuple[str, str], no_pos: float, half: float, interleaved: float, causal: float,
    eps: float,
) -> str:  # fmt: skip
    """What the swap showed: attention alone reads a set; positions or a mask give order."""
    a, b = pair
    if moved_with_token(no_pos, eps) and not any(
        moved_with_token(x, eps) for x in (half, interleaved, causal)
    ):
        return (
            f"Without positions or a mask, swapping “{a}” and “{b}” only swapped their outputs "
            f"(‖Δ‖ {no_pos:.2g}, within rounding); sinusoidal positions changed the moved "
            f"output by {half:.3g} (sin | cos halves) or {interleaved:.3g} (interleaved), and "
            f"the causal mask alone by {causal:.3g}."
        )
    return (
        f"Swapping “{a}” and “{b}” changed the moved output by {no_pos:.3g} without positions, "
        f"{half:.3g} and {interleaved:.3g} with the two sinusoidal layouts, and {causal:.3g} "
        "with the causal mask alone."
    )


def bpe_bullet(merges: int, corpus_bytes: int, tokens: int, round_trip: bool) -> str:
    """What BPE did to Macbeth, and whether decoding gave it back."""
    back = "decoding gave every byte back" if round_trip else "decoding did NOT give it back"
    if merges == 0:
        return f"With no merges, BPE keeps Macbeth's {corpus_bytes:,} bytes as tokens; {back}."
    return (
        f"{display.count(merges, 'BPE merge')} took Macbeth's {corpus_bytes:,} bytes to "
        f"{tokens:,} tokens ({corpus_bytes / tokens:.2f} bytes per token), and {back}."
    )


def rows_bullet(absent: int, grad_max: float, adamw_move: float, tied_absent_zero: int) -> str:
    """What happens to rows of E a batch does not use."""
    grad = "exactly zero gradient" if grad_max == 0 else f"gradients up to {grad_max:.3g}"
    decay = (
        f"yet AdamW's weight decay still moved them (by up to {adamw_move:.3g})"
        if adamw_move > 0
        else "and AdamW left them in place"
    )
    tied = (
        "with the output tied to E, every one of them got a gradient"
        if tied_absent_zero == 0
        else f"with the output tied to E, {tied_absent_zero} of them still got none"
    )
    return f"The {absent} rows of E absent from the inputs got {grad}, {decay}; {tied}."


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    s, p, b, g = done["swap"], done["with_positions"], done["bpe"], done["gradients"]
    return [
        order_bullet(
            s.pair,
            s.swap_diff_no_pos,
            p.swap_diff_pos,
            p.swap_diff_interleaved,
            s.swap_diff_causal_no_pos,
            s.eps,
        ),
        bpe_bullet(
            b.merges_done,
            b.corpus_bytes,
            b.encoded_tokens,
            b.round_trip.corpus and b.round_trip.non_ascii,
        ),
        rows_bullet(
            g.absent_rows, g.absent_row_grad_max, g.absent_row_adamw_move, g.tied_absent_zero_rows
        ),
    ]


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S = sections.Section
    return [
        S("words", compute_words, say_words, title="1. Words to ids"),
        S(
            "lookup",
            compute_lookup,
            say_lookup,
            title="2. Embedding lookup",
            doing="compiling the lookup",
        ),
        S("positions", compute_positions, say_positions, title="3. Sinusoidal positions"),
        S(
            "swap",
            compute_swap,
            say_swap,
            title="4. Swap two tokens",
            doing="compiling the head, with and without a mask",
        ),
        S(
            "with_positions",
            compute_with_positions,
            say_with_positions,
            title="5. The same swap with positions",
            doing="compiling the head with four position tables",
        ),
        S(
            "bpe",
            partial(compute_bpe, merges=args.merges),
            say_bpe,
            title="6. Byte-level BPE",
            doing=f"training BPE on Macbeth: {display.count(args.merges, 'merge')}",
        ),
        S(
            "rotation",
            compute_rotation,
            say_rotation,
            title="7. A shift is a rotation",
            doing="compiling the rotation check",
        ),
        S(
            "rope",
            partial(compute_rope, seed=args.seed),
            say_rope,
            title="8. RoPE: only the offset counts",
            doing="compiling RoPE's scores",
        ),
        S(
            "gradients",
            partial(compute_gradients, seed=args.seed),
            say_gradients,
            title="9. Rows a batch does not use",
            doing="compiling the gradients and three Adam steps",
        ),
        S(
            "original",
            compute_original,
            say_original if args.original else say_original_hint,
            title="Beside the original" if args.original else "",
        ),
    ]


RESULTS = """
dtype eps prompt words word_ids decoded vocab_size table_shape first_rows onehot_max_diff
pe_half pe_interleaved swapped_weights swapped_order swap_diff_no_pos swap_diff_pos
swap_diff_interleaved untouched_diff_no_pos untouched_diff_pos untouched_diff_interleaved
constant_table_diff swap_diff_causal_no_pos untouched_diff_causal_no_pos
constant_untouched_diff original_pos_vs_raw positions_effect
bpe_example bpe_example_ids bpe_example_merges bpe_corpus_bytes bpe_merges_done
bpe_first_merges bpe_tokens_by_merges bpe_encoded_tokens bpe_round_trip bpe_non_ascii
bpe_sentence bpe_sentence_tokens bpe_sentence_ids bpe_recount_check
rotation_max_diff rotation_by_layout rope_offset_max_diff rope_score_scale
additive_offset_max_diff rope_by_offset absent_rows absent_row_grad_max
present_row_grad_min absent_row_adamw_move absent_row_adamw_predicted absent_row_adam_move
momentum_move tied_absent_row_grad_min tied_zero_rows tied_absent_zero_rows lr weight_decay
""".split()  # the --json results of the lesson's contract (LESSONS.md), in this order


def results(done: dict) -> dict:
    """The --json results: RESULTS, read from the sections' fields of the same names
    (the BPE section's with a bpe_ prefix)."""
    fields = {}
    for name, r in done.items():
        prefix = "bpe_" if name == "bpe" else ""
        fields |= {prefix + f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
    return {key: fields[key] for key in RESULTS}


def kernels() -> tuple:
    """What --show-code prints: looked up after --mine has swapped in the learner's."""
    return (
        tk.train,
        tk.encode,
        positions.sinusoidal_half,
        positions.sinusoidal_interleaved,
        positions.shift_rotation,
        positions.rope,
        attention.attention_head,
        causal_head,
        swap_outputs,
        next_token_loss,
        last_step_moves,
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED, original=True)
    parser.add_argument(
        "--merges",
        type=cli.int_in(0, MAX_MERGES, "time: plain-Python training"),
        default=MERGES,
        help=f"BPE merges to learn on Macbeth, 0 to {MAX_MERGES} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=kernels(),
    )


if __name__ == "__main__":
    cli.entry(main)
