"""Lesson 8.3 — tokens, embeddings and positions.

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
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from rich.columns import Columns
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations import tokenizers as tk
from trinity_foundations.attention import attention_head
from trinity_foundations.positions import (
    rope,
    shift_rotation,
    sinusoidal_half,
    sinusoidal_interleaved,
)
from trinity_foundations.transformer import attend, causal_mask

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


# ----------------------------------------------------------------------------
# Part A: the original's tables and head.


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


def causal_head(x: jax.Array, w_q, w_k, w_v) -> jax.Array:
    """The same head with the causal mask of lessons 15–16: x (T, d) -> output (T, d)."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, d) each
    out, _ = attend(q[None, None], k[None, None], v[None, None], causal_mask(x.shape[0]))
    return out[0, 0]  # (T, d)


def swap_outputs(table, ids, perm, pe, w) -> tuple[jax.Array, jax.Array]:
    """The head's outputs on E[ids] + pe and on the permuted E[ids[perm]] + pe, (T, d) each.

    The positions stay in place: the permuted sentence's first token still
    gets pe[0], whatever word it is now.
    """
    out = attention_head(table[ids] + pe, **w).output  # (T, d)
    out_swapped = attention_head(table[ids[perm]] + pe, **w).output  # (T, d)
    return out, out_swapped


PE_KINDS = ("none", "half", "interleaved", "constant")


@jax.jit
def part_a_arrays(ids: jax.Array, perm: jax.Array) -> dict[str, jax.Array]:
    """Everything Part A measures, in one compiled call; ids, perm: (T,)."""
    table = embedding_table(len(tk.WORDS), D)  # (V, d)
    w = projections(D)
    positions = jnp.arange(ids.shape[0], dtype=table.dtype)  # (T,)
    pes = {
        "none": jnp.zeros((ids.shape[0], D), table.dtype),
        "half": sinusoidal_half(positions, dim=D),
        "interleaved": sinusoidal_interleaved(positions, dim=D),
        "constant": jnp.full((ids.shape[0], D), LEARNED_VALUE, table.dtype),
    }  # (T, d) each
    outs = {name: swap_outputs(table, ids, perm, pe, w) for name, pe in pes.items()}
    return {
        "table": table,
        "pe_half": pes["half"],
        "pe_interleaved": pes["interleaved"],
        "out": jnp.stack([outs[k][0] for k in PE_KINDS]),  # (4, T, d)
        "out_swapped": jnp.stack([outs[k][1] for k in PE_KINDS]),  # (4, T, d)
        "swapped_weights": attention_head(table[ids[perm]], **w).weights,  # (T, T)
        "causal": jnp.stack([causal_head(table[i], **w) for i in (ids, ids[perm])]),  # (2, T, d)
        "onehot_max_diff": lookup_vs_one_hot(table, ids),
    }


def swap_distances(out: np.ndarray, out_swapped: np.ndarray) -> tuple[float, float]:
    """(‖Δ‖ of the moved token: "sat" after the swap against "sat" before it,
    largest ‖Δ‖ of a token that did not move), from (T, d) outputs."""
    i, j = SWAP
    untouched = [t for t in range(out.shape[0]) if t not in SWAP]
    moved = float(np.linalg.norm(out_swapped[i] - out[j]))
    return moved, float(np.linalg.norm(out_swapped[untouched] - out[untouched], axis=1).max())


def part_a() -> dict:
    ids_list = tk.word_encode(PROMPT)
    t = len(ids_list)
    order = [SWAP[1] if k == SWAP[0] else SWAP[0] if k == SWAP[1] else k for k in range(t)]
    a = jax.tree.map(np.asarray, part_a_arrays(jnp.array(ids_list), jnp.array(order)))
    dist = {k: swap_distances(a["out"][n], a["out_swapped"][n]) for n, k in enumerate(PE_KINDS)}
    causal = swap_distances(*a["causal"])
    none, half = PE_KINDS.index("none"), PE_KINDS.index("half")
    i, j = SWAP
    return {
        "dtype": str(a["table"].dtype),
        "eps": float(np.finfo(a["table"].dtype).eps),
        "prompt": PROMPT,
        "words": PROMPT.split(),
        "word_ids": ids_list,
        "decoded": tk.word_decode(ids_list),
        "vocab_size": len(tk.WORDS),
        "table_shape": list(a["table"].shape),
        "first_rows": a["table"][ids_list[:2]].tolist(),
        "onehot_max_diff": float(a["onehot_max_diff"]),
        "pe_half": a["pe_half"].tolist(),
        "pe_interleaved": a["pe_interleaved"].tolist(),
        "swapped_weights": a["swapped_weights"].tolist(),
        "swapped_order": order,
        "swap_diff_no_pos": dist["none"][0],
        "swap_diff_pos": dist["half"][0],
        "swap_diff_interleaved": dist["interleaved"][0],
        "untouched_diff_no_pos": dist["none"][1],
        "untouched_diff_pos": dist["half"][1],
        "untouched_diff_interleaved": dist["interleaved"][1],
        "constant_table_diff": dist["constant"][0],
        "swap_diff_causal_no_pos": causal[0],
        "untouched_diff_causal_no_pos": causal[1],
        "constant_untouched_diff": dist["constant"][1],
        # The original's figure: "sat" swapped, with positions, against "sat" without.
        "original_pos_vs_raw": float(np.linalg.norm(a["out_swapped"][half][i] - a["out"][none][j])),
        # What that figure mostly measures: adding positions, no swap at all.
        "positions_effect": float(np.linalg.norm(a["out"][half][j] - a["out"][none][j])),
    }


# ----------------------------------------------------------------------------
# Beyond: byte-level BPE on Macbeth.


def piece(table: dict[int, bytes], i: int) -> str:
    """The text of one token (a partial UTF-8 character shows as �)."""
    return table[i].decode("utf-8", errors="replace")


def bpe(num_merges: int) -> dict:
    data = CORPUS.read_bytes()
    example = tk.train(BPE_EXAMPLE.encode(), BPE_EXAMPLE_MERGES)
    merges = tk.train(data, num_merges)
    table = tk.vocab(merges)
    ids = tk.encode(data, merges)
    sentence_ids = tk.encode(SENTENCE.encode(), merges)
    non_ascii = NON_ASCII.encode()
    non_ascii_ids = tk.encode(non_ascii, merges)
    prefix = data[:RECOUNT_BYTES]
    n_check = min(num_merges, RECOUNT_MERGES)
    return {
        "bpe_example": BPE_EXAMPLE,
        "bpe_example_ids": tk.encode(BPE_EXAMPLE.encode(), example),
        "bpe_example_merges": [[*m.pair, m.new_id, m.count] for m in example],
        "bpe_corpus_bytes": len(data),
        "bpe_merges_done": len(merges),
        "bpe_first_merges": [
            {
                "pair": list(m.pair),
                "halves": [piece(table, i) for i in m.pair],
                "id": m.new_id,
                "count": m.count,
                "text": piece(table, m.new_id),
            }
            for m in merges[:FIRST_SHOWN]
        ],
        "bpe_tokens_by_merges": [len(data)] + [m.length for m in merges],
        "bpe_encoded_tokens": len(ids),
        "bpe_round_trip": {
            "corpus": tk.decode(ids, merges) == data,
            "non_ascii": tk.decode(non_ascii_ids, merges) == non_ascii,
        },
        "bpe_non_ascii": {"text": NON_ASCII, "bytes": len(non_ascii), "tokens": len(non_ascii_ids)},
        "bpe_sentence": SENTENCE,
        "bpe_sentence_tokens": [piece(table, i) for i in sentence_ids],
        "bpe_sentence_ids": sentence_ids,
        "bpe_recount_check": {
            "bytes": len(prefix),
            "merges": n_check,
            "same": tk.train(prefix, n_check) == tk.train_recount(prefix, n_check),
        },
    }


# ----------------------------------------------------------------------------
# Closed forms: positions as rotations, RoPE's offsets, gradients of E.


@jax.jit
def rotation_errors(positions: jax.Array, offsets: jax.Array) -> jax.Array:
    """max |PE(p + k) − PE(p) R(k)| over positions (P,), per layout and offset: (2, K)."""

    def error(k, interleaved):
        table_fn = sinusoidal_interleaved if interleaved else sinusoidal_half
        shifted = table_fn(positions + k, dim=D)  # (P, d)
        r = shift_rotation(k, dim=D, interleaved=interleaved)  # (d, d)
        rotated = jnp.matmul(table_fn(positions, dim=D), r, precision="highest")  # (P, d)
        return jnp.max(jnp.abs(shifted - rotated))

    return jnp.stack([jax.vmap(error, (0, None))(offsets, inter) for inter in (False, True)])


def rotation_check() -> dict:
    errors = np.asarray(rotation_errors(jnp.arange(50.0), jnp.array(SHIFTS, dtype=float)))
    worst = {"half": float(errors[0].max()), "interleaved": float(errors[1].max())}
    return {"rotation_max_diff": max(worst.values()), "rotation_by_layout": worst}


@jax.jit
def pair_scores(q, k, q_pos, k_pos) -> tuple[jax.Array, jax.Array]:
    """q·k with q at q_pos and k at k_pos: after RoPE, and after adding sinusoidal
    positions instead. q, k: (d,); q_pos, k_pos: (S,). Returns (S,) and (S,)."""
    s, d = q_pos.shape[0], q.shape[0]
    qs = rope(jnp.broadcast_to(q, (s, d)), q_pos)  # (S, d)
    ks = rope(jnp.broadcast_to(k, (s, d)), k_pos)  # (S, d)
    qa = q[None, :] + sinusoidal_interleaved(q_pos, dim=d)  # (S, d)
    ka = k[None, :] + sinusoidal_interleaved(k_pos, dim=d)  # (S, d)
    return jnp.sum(qs * ks, axis=1), jnp.sum(qa * ka, axis=1)  # (S,), (S,)


def rope_check(q: jax.Array, k: jax.Array) -> dict:
    """RoPE scores under shifts of both positions; q, k: (d,)."""
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
    by_offset = [  # score(n + offset, n) for each start n
        pair_scores(q, k, offsets + n0, jnp.full_like(offsets, n0))[0].tolist() for n0 in starts
    ]
    return {
        "rope_offset_max_diff": rope_diff,
        "rope_score_scale": float(np.max(np.abs(base))),
        "additive_offset_max_diff": add_diff,
        "rope_by_offset": {"starts": list(starts), "scores": by_offset},
    }


def next_token_loss(table, w_out, ids, w, *, tied: bool) -> jax.Array:
    """Cross-entropy of predicting ids[1:] from the inputs ids[:-1] through the causal
    head: position t reads inputs 0..t only, never its target ids[t + 1].

    Untied: logits = h @ W_out. Tied: logits = h @ Eᵀ, the table itself.
    """
    inputs = ids[:-1]  # (T - 1,) the last token is only a target
    pe = sinusoidal_half(jnp.arange(inputs.shape[0], dtype=table.dtype), dim=D)  # (T - 1, d)
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


def gradient_check(w_out: jax.Array) -> dict:
    table = embedding_table(len(tk.WORDS), D)  # (V, d)
    ids, other = tk.word_encode(PROMPT), tk.word_encode(OTHER_BATCH)
    out = embedding_gradients(table, w_out, jnp.array(ids), jnp.array(other), projections(D))
    out = jax.tree.map(np.asarray, out)
    present = np.isin(np.arange(len(tk.WORDS)), ids[:-1])  # (V,) among the inputs
    absent = ~present
    cat = tk.WORD_IDS["cat"]
    assert cat in ids and cat not in other  # the momentum example needs it so
    row_norm = np.linalg.norm(out["grad"], axis=1)  # (V,)
    tied_norm = np.linalg.norm(out["grad_tied"], axis=1)  # (V,)
    row_l2s = np.linalg.norm(np.asarray(table), axis=1)  # (V,)
    return {
        "absent_rows": int(absent.sum()),
        "absent_row_grad_max": float(np.max(np.abs(out["grad"][absent]))),
        "present_row_grad_min": float(row_norm[present].min()),
        "absent_row_adamw_move": float(out["adamw"][absent].max()),
        "absent_row_adamw_predicted": float(LR * WEIGHT_DECAY * row_l2s[absent].max()),
        "absent_row_adam_move": float(out["adam"][absent].max()),
        "momentum_move": float(out["momentum"][cat]),
        "tied_absent_row_grad_min": float(tied_norm[absent].min()),
        "tied_zero_rows": int((tied_norm == 0).sum()),
        "tied_absent_zero_rows": int((tied_norm[absent] == 0).sum()),
        "lr": LR,
        "weight_decay": WEIGHT_DECAY,
    }


def run(merges: int = MERGES, seed: int = 0) -> dict:
    # One draw for every random number (one compile of the sampler): q and k for
    # RoPE, then the untied output matrix.
    draws = jax.random.normal(jax.random.key(seed), (2 * ROPE_D + D * len(tk.WORDS),))
    q, k = draws[:ROPE_D], draws[ROPE_D : 2 * ROPE_D]  # (d_rope,) each
    w_out = 0.3 * draws[2 * ROPE_D :].reshape(D, len(tk.WORDS))  # (d, V)
    return {
        **part_a(),
        **bpe(merges),
        **rotation_check(),
        **rope_check(q, k),
        **gradient_check(w_out),
    }


# ----------------------------------------------------------------------------
# Sentences: each choice is a small pure function.


def zero_or_rounding(diff: float, eps: float, dtype: str, scale: float = 1.0) -> str:
    """Say what a difference that should vanish measured: exactly 0, rounding, or real."""
    if diff == 0.0:
        return f"exactly 0 in {dtype}"
    if diff <= 1e3 * eps * max(scale, 1.0):
        return f"{diff:.2g}: not exactly 0, rounding error of {dtype} (ε = {eps:.2g})"
    return f"{diff:.3g}: a real difference, far above {dtype} rounding (ε = {eps:.2g})"


def symmetry_verdict(diff: float, eps: float) -> str:
    """Whether a swap left the moved token's output in place (up to rounding) or changed it."""
    if diff <= 1e3 * eps:
        return "the output moved with the token: the head cannot tell the two orders apart"
    return "the output changed: the head now tells the two orders apart"


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


def layouts_sentence(half: float, interleaved: float, eps: float) -> str:
    """Compare the two sinusoidal layouts' swap differences: numbers and verdicts."""
    same_verdict = symmetry_verdict(half, eps) == symmetry_verdict(interleaved, eps)
    numbers = "the same numbers" if half == interleaved else "different numbers"
    prop = "the same property" if same_verdict else "a different verdict"
    return f"The two layouts give {numbers} and {prop}."


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


# ----------------------------------------------------------------------------
# Report sections.


def show_words(r: dict, console) -> None:
    console.print("[bold]1. Words to ids[/] (a 20-word vocabulary, split on whitespace)")
    pairs = ", ".join(f"{w}→{i}" for w, i in zip(r["words"], r["word_ids"]))
    console.print(f"“{r['prompt']}” → {display.vector(r['word_ids'])}   ({pairs})")
    console.print(f"Decoded back: “{r['decoded']}”. Vocabulary size {r['vocab_size']}.")


def show_lookup(r: dict, console) -> None:
    v, d = r["table_shape"]
    console.print(f"\n[bold]2. Embedding lookup[/]: E is {v} × {d}, E = 0.5·sin(iota)")
    rows = display.matrix_table("E[ids[:2]]", r["first_rows"], rows=r["words"][:2])
    console.print(rows)
    console.print(
        escape("A lookup is a product with one-hot rows: max |one_hot(ids) @ E − E[ids]| = ")
        + f"{zero_or_rounding(r['onehot_max_diff'], r['eps'], r['dtype'])}."
    )


def show_positions(r: dict, console) -> None:
    console.print(
        f"\n[bold]3. Sinusoidal positions[/], base 10,000, d = {D}: the original's code puts "
        "all sines first, then all cosines (its comment says interleaved)"
    )
    cols = [f"d{j}" for j in range(D)]
    rows = [f"p{p}" for p in range(len(r["pe_half"]))]
    console.print(
        Columns(
            [
                display.matrix_table("sin half | cos half", r["pe_half"], rows=rows, cols=cols),
                display.matrix_table("interleaved", r["pe_interleaved"], rows=rows, cols=cols),
            ]
        )
    )


def show_swap(r: dict, console) -> None:
    eps, dtype = r["eps"], r["dtype"]
    console.print(
        '\n[bold]4. Swap "cat" and "sat"[/], no positions; the head, like the original\'s, '
        "has no causal mask: every token reads every other"
    )
    console.print(
        "‖out_swapped(sat) − out(sat)‖ = "
        f"{zero_or_rounding(r['swap_diff_no_pos'], eps, dtype)}: "
        f"{symmetry_verdict(r['swap_diff_no_pos'], eps)}."
    )
    console.print(
        display.matrix_table(
            "attention weights, swapped sentence",
            r["swapped_weights"],
            rows=[r["words"][k] for k in r["swapped_order"]],
            cols=[r["words"][k] for k in r["swapped_order"]],
        )
    )
    console.print(
        f"The same head with the causal mask of lessons 15–16, still no positions: the moved "
        f"token's ‖Δ‖ is {zero_or_rounding(r['swap_diff_causal_no_pos'], eps, dtype)}: "
        f"{symmetry_verdict(r['swap_diff_causal_no_pos'], eps)}. A mask alone encodes order: "
        "“sat” now reads one token fewer before it. Without a mask, only positions can."
    )
    console.print("\n[bold]5. The same swap with positions added[/] (both outputs with positions)")
    table = Table(box=None)
    for col in ("position table", "moved token ‖Δ‖", "largest untouched ‖Δ‖"):
        table.add_column(col, justify="right" if "‖" in col else "left")
    for name, moved, untouched in (
        ("none", r["swap_diff_no_pos"], r["untouched_diff_no_pos"]),
        ("sin half | cos half", r["swap_diff_pos"], r["untouched_diff_pos"]),
        ("interleaved", r["swap_diff_interleaved"], r["untouched_diff_interleaved"]),
        (f"constant {LEARNED_VALUE:g}", r["constant_table_diff"], r["constant_untouched_diff"]),
    ):
        table.add_row(name, f"{moved:.3g}", f"{untouched:.3g}")
    console.print(table)
    console.print(
        f"With the original's layout: {symmetry_verdict(r['swap_diff_pos'], eps)}; "
        f"interleaved: {symmetry_verdict(r['swap_diff_interleaved'], eps)}. "
        + layouts_sentence(r["swap_diff_pos"], r["swap_diff_interleaved"], eps)
    )
    untouched = zero_or_rounding(r["untouched_diff_no_pos"], eps, dtype)
    console.print(
        f"Untouched tokens without positions: {untouched}; with positions "
        f"{r['untouched_diff_pos']:.3g}: their context is a different sequence now."
    )
    console.print(
        f"A constant table (every entry {LEARNED_VALUE:g}) adds the same vector at every "
        f"position: the moved token's ‖Δ‖ is "
        f"{zero_or_rounding(r['constant_table_diff'], eps, dtype)}: "
        f"{symmetry_verdict(r['constant_table_diff'], eps)}."
    )


def show_bpe(r: dict, console) -> None:
    console.print("\n[bold]6. Byte-level BPE[/] (minbpe's rules), trained from scratch")
    ex = ", ".join(f"({a}, {b})→{c} ×{n}" for a, b, c, n in r["bpe_example_merges"])
    console.print(
        f"“{r['bpe_example']}” with {len(r['bpe_example_merges'])} merges [{ex}] encodes to "
        f"{display.vector(r['bpe_example_ids'])}."
    )
    n, done = r["bpe_corpus_bytes"], r["bpe_merges_done"]
    console.print(f"Macbeth: {n:,} bytes, {display.count(done, 'merge')} learned.")
    table = Table(title=f"The first {len(r['bpe_first_merges'])} merges")
    for col in ("id", "pair", "count", "token"):
        table.add_column(col, justify="right" if col in ("id", "count") else "left")
    for m in r["bpe_first_merges"]:
        halves = " + ".join(repr(h) for h in m["halves"])
        table.add_row(str(m["id"]), escape(halves), f"{m['count']:,}", escape(repr(m["text"])))
    if table.rows:
        console.print(table)
    more = done - len(r["bpe_first_merges"])
    if more > 0:
        console.print(f"… {more:,} more")
    tokens = r["bpe_tokens_by_merges"]  # (merges + 1,): before any merge, then after each
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
    trip = r["bpe_round_trip"]
    na = r["bpe_non_ascii"]
    console.print(
        f"Round trip decode(encode(text)) == text: whole corpus {trip['corpus']}, "
        f"non-ASCII text “{na['text']}” ({na['bytes']} bytes, {na['tokens']} tokens) "
        f"{trip['non_ascii']}."
    )
    pieces = " | ".join(escape(repr(t)) for t in r["bpe_sentence_tokens"])
    console.print(
        f"“{r['bpe_sentence']}” → {display.count(len(r['bpe_sentence_tokens']), 'token')}: {pieces}"
    )
    rc = r["bpe_recount_check"]
    console.print(
        f"Incremental pair counts against recounting the whole text per merge, first "
        f"{rc['bytes']:,} bytes, {display.count(rc['merges'], 'merge')}: same merges {rc['same']} "
        "(benchmarks/bpe.py times the two)."
    )


def show_closed_forms(r: dict, console) -> None:
    eps, dtype = r["eps"], r["dtype"]
    console.print("\n[bold]7. Closed forms[/]")
    console.print(
        f"PE(p + k) = PE(p) R(k), a fixed rotation per frequency pair, k in {list(SHIFTS)}: "
        f"max error {r['rotation_by_layout']['half']:.2g} with the sin|cos halves, "
        f"{r['rotation_by_layout']['interleaved']:.2g} interleaved ({dtype})."
    )
    scale = r["rope_score_scale"]
    console.print(
        f"RoPE: q·k at positions (m + s, n + s) against (m, n), s in {list(ROPE_SHIFTS)}: "
        f"max change {zero_or_rounding(r['rope_offset_max_diff'], eps, dtype, scale)}; "
        f"with added sinusoidal positions instead it changes by "
        f"{r['additive_offset_max_diff']:.3g}."
    )
    by = r["rope_by_offset"]
    console.print("RoPE score q·k at positions (n + offset, n):")
    table = Table(box=None)
    table.add_column("offset", justify="right")
    for s0 in by["starts"]:
        table.add_column(f"n = {s0:g}", justify="right")
    for o, row in enumerate(zip(*by["scores"])):
        table.add_row(str(o), *(f"{x:.5f}" for x in row))
    console.print(table)
    console.print(
        f"Gradient of the next-token loss on “{PROMPT}” (untied output, causal head; the "
        f"inputs are all but the last word): the {r['absent_rows']} rows of E whose tokens "
        f"are not among the inputs get {zero_or_rounding(r['absent_row_grad_max'], eps, dtype)};"
        f" the inputs' rows at least {r['present_row_grad_min']:.3g}."
    )
    console.print(
        f"One AdamW step (lr {r['lr']:g}, weight decay {r['weight_decay']:g}) moves an "
        f"absent row by up to {r['absent_row_adamw_move']:.3g} (lr·wd·‖row‖ = "
        f"{r['absent_row_adamw_predicted']:.3g}); one Adam step without decay, by "
        f"{r['absent_row_adam_move']:.3g} (its moments for those rows are still zero). On a "
        f"second batch, “{OTHER_BATCH}”, Adam moves “cat”, now absent, by "
        f"{r['momentum_move']:.3g}: its momentum."
    )
    console.print(
        f"With the output tied to E (logits = h Eᵀ): the smallest absent-row gradient norm is "
        f"{r['tied_absent_row_grad_min']:.3g}, {display.count(r['tied_zero_rows'], 'row')} of "
        f"{r['vocab_size']} at zero."
    )


def show_original(r: dict, console) -> None:
    """The closing section: two of the original's claims against this run."""
    console.print("\n[bold]Beside the original[/]")
    console.print(
        "• "
        + original_figure_sentence(
            r["original_pos_vs_raw"], r["positions_effect"], r["swap_diff_pos"]
        )
    )
    cases = doc_0022_cases(
        r["absent_row_grad_max"],
        r["absent_row_adam_move"],
        r["absent_row_adamw_move"],
        r["momentum_move"],
        r["tied_absent_zero_rows"],
        r["absent_rows"],
    )
    console.print("• " + doc_0022_verdict(cases))


def report(r: dict, console) -> None:
    show_words(r, console)
    show_lookup(r, console)
    show_positions(r, console)
    show_swap(r, console)
    show_bpe(r, console)
    show_closed_forms(r, console)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=0, original=True)
    parser.add_argument(
        "--merges",
        type=cli.int_in(0, MAX_MERGES, "time: plain-Python training"),
        default=MERGES,
        help=f"BPE merges to learn on Macbeth, 0 to {MAX_MERGES} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.finish(
        args,
        __file__,
        run(args.merges, args.seed),
        report,
        title=__doc__,
        original=show_original,
        kernels=(
            tk.train,
            tk.encode,
            sinusoidal_half,
            sinusoidal_interleaved,
            shift_rotation,
            rope,
            attention_head,
            causal_head,
            swap_outputs,
            next_token_loss,
            last_step_moves,
        ),
    )


if __name__ == "__main__":
    cli.entry(main)
