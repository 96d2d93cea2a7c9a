"""Lesson 18 — shapes before numbers.

Every tensor program has a shape story before it has numbers: which axes a
product contracts, which survive, what broadcasts. jax.eval_shape runs that
story without spending a single multiply — it traces the function on abstract
arrays and returns the result's shape and dtype — so shapes, and what they cost
in memory, can be checked before anything is allocated.

The original's shapes are re-created here, each with the einsum string that
names its axes: vectors and matrices, the linear probe's data, the "survival
rule" of a matrix product, Q, K and V, the heads split and merged; and two
shapes the original does not give, the scores per head and the causal mask
broadcast over them. Then the broadcasting trap (N,) + (N, 1) → (N, N), and how
jax_numpy_rank_promotion="raise" catches it; the memory of attention's score
matrices, GPT-2 small's parameter count from the shapes of an init, and its KV
cache per token. --original ends with what the original said differently
(doc 0020's "32 × 268 MB ≈ 8.4 GB", corrected).

Run:  python lessons/18_shape_literacy.py [--json] [--show-code] [--original]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, sections, transformer

# --- the original's shapes (18_shape_literacy.exs and doc 0020) ------------------------------

B, T, D, H = 32, 128, 768, 12  # batch, tokens, hidden width, heads: d_h = 64
PROBE_N = 1000
LONG_T, HEAD_DIM, LAYER_HEADS, LAYERS = 8192, 64, 32, 32  # doc 0020, section 12


@dataclass(frozen=True)
class DocClaim:
    """Doc 0020's words: "32 × 268 MB = 8,576 MB ≈ 8.4 GB"."""

    mb_per_matrix: int
    count: int
    total_mb: int
    total_gb: float


DOC_CLAIM = DocClaim(mb_per_matrix=268, count=32, total_mb=8576, total_gb=8.4)
GPT2_SMALL = transformer.GPTConfig(vocab_size=50257, context=1024, d_model=768, n_layers=12,
                                   n_heads=12, d_ff=3072)  # fmt: skip
CACHE_DTYPES = ("float32", "bfloat16")


def spec(*shape, dtype="float32") -> jax.ShapeDtypeStruct:
    """An abstract array: a shape and a dtype, no memory."""
    return jax.ShapeDtypeStruct(shape, jnp.dtype(dtype))


def einsum(expr: str):
    return lambda *xs: jnp.einsum(expr, *xs)


def nbytes(s: jax.ShapeDtypeStruct) -> int:
    return int(np.prod(s.shape, dtype=np.int64)) * s.dtype.itemsize


def shape(dims) -> str:
    """'(1,000, 2)', '(3,)': a shape as Python writes it, thousands separated."""
    return "(" + ", ".join(f"{d:,}" for d in dims) + ("," if len(dims) == 1 else "") + ")"


def size(n: int) -> str:
    """'268,435,456 B = 268.4 MB = 256 MiB': bytes in decimal and binary units."""
    mib, gib = n / 2**20, n / 2**30
    if gib >= 1:
        return f"{n:,} B = {n / 1e9:.2f} GB = {gib:.2f} GiB"
    return f"{n:,} B = {n / 1e6:.1f} MB = {mib:.1f} MiB"


# ----------------------------------------------------------------------------
# 1. The shape story, from jax.eval_shape.


@dataclass(frozen=True)
class ShapeRow:
    name: str
    expr: str  # the einsum string (or what makes the array)
    inputs: list[list[int]]  # the input shapes
    shape: list[int]  # the result's, from jax.eval_shape
    dtype: str
    expected: list[int]  # by the original's assertion, or here for "added"
    source: str  # "original", or "added" (in neither the original script nor doc 0020)


@dataclass(frozen=True)
class Shapes:
    rows: tuple[ShapeRow, ...]


def masked_scores(scores: jax.Array, mask: jax.Array) -> jax.Array:
    """The causal mask (T, T) applied to scores (B, H, T, T): explicitly broadcast."""
    return jnp.where(mask[None, None], scores, -jnp.inf)  # (B, H, T, T)


def compute_shapes(done: dict) -> Shapes:
    f32 = jnp.float32
    added = {"scores per head", "causal mask"}
    rows = [  # name, expression, function, input specs, the expected shape
        ("vector", "[1, 2, 3]", lambda: jnp.array([1.0, 2.0, 3.0], f32), [], (3,)),
        ("matrix", "3 rows of 4", lambda: jnp.ones((3, 4), f32), [], (3, 4)),
        ("probe inputs X", "zeros", lambda: jnp.zeros((PROBE_N, 2), f32), [], (PROBE_N, 2)),
        ("probe labels Y", "zeros", lambda: jnp.zeros((PROBE_N, 1), f32), [], (PROBE_N, 1)),
        ("survival rule", "ik,kj->ij", einsum("ik,kj->ij"), [spec(3, 4), spec(4, 6)], (3, 6)),
        ("Q = X W_q", "td,de->te", einsum("td,de->te"), [spec(3, 4), spec(4, 4)], (3, 4)),
        ("scores Q Kᵀ", "td,sd->ts", einsum("td,sd->ts"), [spec(3, 4), spec(3, 4)], (3, 3)),
        ("weights V", "ts,sd->td", einsum("ts,sd->td"), [spec(3, 3), spec(3, 4)], (3, 4)),
        ("split heads", "btd -> bthe -> bhte", lambda x: transformer.split_heads(x, H),
         [spec(B, T, D)], (B, H, T, D // H)),
        ("scores per head", "bhqe,bhke->bhqk", einsum("bhqe,bhke->bhqk"),
         [spec(B, H, T, D // H)] * 2, (B, H, T, T)),
        ("causal mask", "(T,T) over (B,H,T,T)", masked_scores,
         [spec(B, H, T, T), spec(T, T, dtype="bool")], (B, H, T, T)),
        ("weights V per head", "bhqk,bhke->bhqe", einsum("bhqk,bhke->bhqe"),
         [spec(B, H, T, T), spec(B, H, T, D // H)], (B, H, T, D // H)),
        ("merge heads", "bhte -> bthe -> btd", transformer.merge_heads,
         [spec(B, H, T, D // H)], (B, T, D)),
    ]  # fmt: skip
    story = []
    for name, expr, fn, inputs, expected in rows:
        out = jax.eval_shape(fn, *inputs)
        source = "added" if name in added else "original"
        ins = [list(s.shape) for s in inputs]
        story.append(
            ShapeRow(name, expr, ins, list(out.shape), str(out.dtype), [*expected], source)
        )
    return Shapes(tuple(story))


def shapes_sentence(agree: int, total: int) -> str:
    """How many shapes came out as expected."""
    if agree == total:
        return f"All {total} shapes come out as expected, and no multiply was spent on them."
    return f"Only {agree} of {total} shapes come out as expected: a ✗ marks the others."


def say_shapes(r: Shapes, console: Console) -> None:
    table = Table(title="shapes, from jax.eval_shape (no arithmetic spent)")
    for col in ("", "expression", "inputs", "result", "✓"):
        table.add_column(col, overflow="fold")  # a long einsum wraps, never loses a letter
    for s in r.rows:
        inputs = " · ".join(shape(i) for i in s.inputs) or "—"
        ok = "✓" if s.shape == s.expected else "✗"
        table.add_row(s.name, s.expr, inputs, shape(s.shape), ok)
    console.print(table)
    agree = sum(s.shape == s.expected for s in r.rows)
    console.print(shapes_sentence(agree, len(r.rows)))


# ----------------------------------------------------------------------------
# 2. Heads split and merged, and the mask broadcast over them.


@dataclass(frozen=True)
class MaskRank:
    plain_shape: list[int]  # scores (B, H, T, T) + mask (T, T) under NumPy's rules
    add_caught_by_raise: bool  # jax_numpy_rank_promotion="raise" refuses that add
    where_caught_by_raise: bool  # ... and jnp.where(mask, scores, −∞)
    explicit_shape: list[int]  # mask[None, None], which passes under "raise"


@dataclass(frozen=True)
class Heads:
    batch_shape: list[int]  # (B, T, d) split into H heads
    heads: int
    split_merge_exact: bool  # merge(split(x)) == x, bit for bit
    head_is_columns: bool  # head 1 == columns d_h..2·d_h − 1
    roundtrip_dtype: str
    mask_broadcast_ok: bool  # on real arrays: every (batch, head) matrix zero above the diagonal
    mask_rank: MaskRank


@jax.jit
def split_merge_roundtrip(x: jax.Array):
    """(merge(split(x)) == x everywhere, head 1 == columns d_h..2·d_h): x (B, T, d)."""
    heads = transformer.split_heads(x, H)  # (B, H, T, d_h)
    dh = x.shape[-1] // H
    return jnp.array_equal(transformer.merge_heads(heads), x), jnp.array_equal(
        heads[:, 1], x[:, :, dh : 2 * dh]
    )


def mask_rank_check() -> MaskRank:
    """The mask (T, T) against scores (B, H, T, T) with no axes added: the shape of the
    add under NumPy's rules, and whether jax_numpy_rank_promotion="raise" refuses that
    add and the jnp.where this lesson uses."""

    def add(scores, mask):  # scores + a (T, T) matrix of 0 and −∞
        return scores + jnp.where(mask, 0.0, -jnp.inf)  # (B, H, T, T) + (T, T)

    def where(scores, mask):
        return jnp.where(mask, scores, -jnp.inf)  # (T, T) and (B, H, T, T)

    args = (spec(B, H, T, T), spec(T, T, dtype="bool"))
    with jax.numpy_rank_promotion("allow"):
        plain = list(jax.eval_shape(add, *args).shape)
    caught = {}
    for name, fn in (("add", add), ("where", where)):
        try:
            with jax.numpy_rank_promotion("raise"):
                jax.eval_shape(fn, *args)
            caught[name] = False
        except ValueError:
            caught[name] = True
    with jax.numpy_rank_promotion("raise"):  # the explicit axes pass under "raise"
        explicit = list(jax.eval_shape(masked_scores, *args).shape)
    return MaskRank(plain, caught["add"], caught["where"], explicit)


def mask_broadcast_check() -> bool:
    """On small real arrays: every (batch, head) weight matrix is zero above the diagonal."""
    q = jnp.ones((2, 3, 5, 4))  # (B, H, T, d_h)
    _, w = transformer.attend(q, q, q, transformer.causal_mask(5))  # (B, H, T, T)
    return bool(jnp.all(jnp.triu(w, 1) == 0))


def compute_heads(done: dict) -> Heads:
    x = jnp.arange(B * T * D, dtype=jnp.float32).reshape(B, T, D)  # exact in float32 (< 2**24)
    exact, head_is_columns = split_merge_roundtrip(x)
    return Heads(
        batch_shape=[B, T, D],
        heads=H,
        split_merge_exact=bool(exact),
        head_is_columns=bool(head_is_columns),
        roundtrip_dtype=str(x.dtype),
        mask_broadcast_ok=mask_broadcast_check(),
        mask_rank=mask_rank_check(),
    )


def mask_rank_sentence(m: MaskRank) -> str:
    """How the (T, T) mask meets (B, H, T, T) scores, with and without strict ranks."""
    plain = (
        "Adding the causal mask (T, T) to the scores as it is needs no added axes: "
        f"NumPy's rules prepend the two missing ones, giving {shape(m.plain_shape)}."
    )
    if not m.add_caught_by_raise:
        return f'{plain} Even jax_numpy_rank_promotion="raise" lets that add pass.'
    where = "and jnp.where too" if m.where_caught_by_raise else "though not jnp.where"
    return (
        f'{plain} Only jax_numpy_rank_promotion="raise" refuses that add ({where}); this '
        "lesson writes mask[None, None] so that the change of rank shows."
    )


def roundtrip_sentence(r: Heads) -> str:
    """Whether split then merge gave the array back, and head 1 is its columns."""
    exact = "exactly" if r.split_merge_exact else "NOT exactly"
    dh = r.batch_shape[-1] // r.heads
    return (
        f"Split then merge returns {shape(r.batch_shape)} ({r.roundtrip_dtype}) {exact}: "
        f"a reshape and a transpose move numbers, never change them; head 1 "
        f"{'is' if r.head_is_columns else 'is NOT'} columns {dh}…{2 * dh - 1}."
    )


def mask_sentence(r: Heads) -> str:
    """How the mask meets the scores, and whether real weights are zero above the diagonal."""
    zero = "zero" if r.mask_broadcast_ok else "NOT zero"
    return (
        f"{mask_rank_sentence(r.mask_rank)} On real arrays every (batch, head) matrix is "
        f"{zero} above the diagonal."
    )


def say_heads(r: Heads, console: Console) -> None:
    console.print(roundtrip_sentence(r))
    console.print(mask_sentence(r))


# ----------------------------------------------------------------------------
# 3. The broadcasting trap.


@dataclass(frozen=True)
class Trap:
    shape: list[int]  # labels (N,) + logits (N, 1) under NumPy's rules
    caught: bool  # by jax.numpy_rank_promotion("raise")
    message: str  # the first line of its error
    inputs: list[list[int]]


def compute_trap(done: dict) -> Trap:
    """labels (N,) + logits (N, 1): an (N, N) matrix under NumPy's rules, an error under "raise"."""

    def trap(labels, logits):
        return labels + logits

    args = (spec(PROBE_N), spec(PROBE_N, 1))
    with jax.numpy_rank_promotion("allow"):
        out = list(jax.eval_shape(trap, *args).shape)
    try:
        with jax.numpy_rank_promotion("raise"):
            jax.eval_shape(trap, *args)
        caught, message = False, ""
    except ValueError as error:
        caught, message = True, str(error).splitlines()[0]
    return Trap(out, caught, message, [[PROBE_N], [PROBE_N, 1]])


def caught_sentence(r: Trap) -> str:
    """Whether jax.numpy_rank_promotion("raise") caught the trap, with its message."""
    if r.caught:
        return (
            f'With jax.numpy_rank_promotion("raise") the same line fails at once: '
            f"[dim]{escape(r.message)}[/]"
        )
    return 'jax.numpy_rank_promotion("raise") did NOT catch it.'


def say_trap(r: Trap, console: Console) -> None:
    console.print(
        f"Labels {shape(r.inputs[0])} + logits {shape(r.inputs[1])} is {shape(r.shape)} — "
        f"{r.shape[0] * r.shape[1]:,} numbers where {r.inputs[0][0]:,} were meant, and no error."
    )
    console.print(caught_sentence(r))


# ----------------------------------------------------------------------------
# 4. Memory from shapes: attention's score matrices.


@dataclass(frozen=True)
class ScoreMemory:
    tokens: int
    dtype: str
    one_shape: list[int]  # one head's score matrix (1, 1, T, T)
    one: int  # its bytes
    layer_shape: list[int]  # a layer's heads (1, heads, T, T)
    layer: int
    heads: int
    layers: int
    model: int  # every layer's, kept at once
    doc: DocClaim
    doc_count_bytes: int  # the bytes of doc 0020's count of matrices


def compute_score_memory(done: dict) -> ScoreMemory:
    """Bytes of attention's score matrices at T = 8,192, from eval_shape of the einsum."""
    scores = einsum("bhqe,bhke->bhqk")
    one = jax.eval_shape(scores, spec(1, 1, LONG_T, HEAD_DIM), spec(1, 1, LONG_T, HEAD_DIM))
    layer = jax.eval_shape(
        scores, spec(1, LAYER_HEADS, LONG_T, HEAD_DIM), spec(1, LAYER_HEADS, LONG_T, HEAD_DIM)
    )
    return ScoreMemory(
        tokens=LONG_T,
        dtype=str(one.dtype),
        one_shape=list(one.shape),
        one=nbytes(one),
        layer_shape=list(layer.shape),
        layer=nbytes(layer),
        heads=LAYER_HEADS,
        layers=LAYERS,
        model=LAYERS * nbytes(layer),
        doc=DOC_CLAIM,
        doc_count_bytes=DOC_CLAIM.count * nbytes(one),
    )


def say_score_memory(r: ScoreMemory, console: Console) -> None:
    console.print(f"One score matrix {shape(r.one_shape)} in {r.dtype}: {size(r.one)}.")
    console.print(
        f"One layer of {r.heads} heads {shape(r.layer_shape)}: {size(r.layer)}; "
        f"{r.layers} such layers kept at once (as a backward pass would): {size(r.model)}."
    )


# ----------------------------------------------------------------------------
# 5. GPT-2 small, counted from the shapes of its init.


@dataclass(frozen=True)
class Gpt2Small:
    total: int
    tok: int
    pos: int
    per_layer: int
    layers: int
    norm_f: int
    formula: int  # Vd + Td + L(12d² + 13d) + 2d
    dtype: str
    bytes: int
    config: dict


def compute_gpt2_small(done: dict) -> Gpt2Small:
    """GPT-2 small's parameters from the shapes of init_gpt: no weight is drawn."""
    c = GPT2_SMALL
    shapes = jax.eval_shape(lambda k: transformer.init_gpt(k, c), jax.random.key(0))
    layer = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), shapes["blocks"])
    d = c.d_model
    return Gpt2Small(
        total=transformer.param_count(shapes),
        tok=transformer.param_count(shapes["tok"]),
        pos=transformer.param_count(shapes["pos"]),
        per_layer=transformer.param_count(layer),
        layers=c.n_layers,
        norm_f=transformer.param_count(shapes["norm_f"]),
        formula=c.vocab_size * d + c.context * d + c.n_layers * (12 * d * d + 13 * d) + 2 * d,
        dtype=str(shapes["tok"].dtype),
        bytes=sum(nbytes(s) for s in jax.tree.leaves(shapes)),
        config=c._asdict(),
    )


def say_gpt2_small(g: Gpt2Small, console: Console) -> None:
    c = g.config
    console.print(
        f"GPT-2 small (V = {c['vocab_size']:,}, T = {c['context']:,}, d = {c['d_model']}, "
        f"{g.layers} layers, {c['n_heads']} heads, output tied to the embeddings), from "
        f"eval_shape of init_gpt: [bold]{g.total:,}[/] parameters = {g.tok:,} token + "
        f"{g.pos:,} position + {g.layers} × {g.per_layer:,} (12d² + 13d) + "
        f"{g.norm_f:,} final norm; the formula gives {g.formula:,}. In {g.dtype}: "
        f"{size(g.bytes)}."
    )


@dataclass(frozen=True)
class KvCache:
    per_token: dict[str, int]  # dtype -> bytes of K and V, every layer and head, one token
    full_context: dict[str, int]  # dtype -> bytes for the whole context
    context: int


def compute_kv_cache(done: dict) -> KvCache:
    """Bytes per token of GPT-2 small's KV cache: K and V, every layer, every head."""
    c = GPT2_SMALL
    per_token, full = {}, {}
    for dtype in CACHE_DTYPES:  # cache (L, 2, B, H, T, d_h)
        layout = (c.n_layers, 2, 1, c.n_heads)
        one = spec(*layout, 1, c.d_model // c.n_heads, dtype=dtype)
        whole = spec(*layout, c.context, c.d_model // c.n_heads, dtype=dtype)
        per_token[dtype] = nbytes(jax.eval_shape(lambda a: a, one))
        full[dtype] = nbytes(jax.eval_shape(lambda a: a, whole))
    return KvCache(per_token, full, c.context)


def say_kv_cache(r: KvCache, console: Console) -> None:
    parts = [
        f"{dt} {n:,} B per token ({size(r.full_context[dt])} for all {r.context:,})"
        for dt, n in r.per_token.items()
    ]
    console.print(
        "Its KV cache (K and V, every layer and head, 2 · L · d numbers a token): "
        + "; ".join(parts)
        + "."
    )


# ----------------------------------------------------------------------------
# What the Nx original said differently (--original).


@dataclass(frozen=True)
class Original:
    shown: bool  # --original
    counts: dict[str, int]  # from shape_counts
    plain_shape: list[int]  # its mask add, under NumPy's rules
    doc: DocClaim
    doc_count_bytes: int
    heads: int  # a layer's heads


def shape_counts(shapes: list[dict]) -> dict[str, int]:
    """How many shapes come from the original, how many of those agree, how many are added."""
    original = [s for s in shapes if s["source"] == "original"]
    return {
        "original": len(original),
        "agree": sum(s["shape"] == s["expected"] for s in original),
        "added": len(shapes) - len(original),
        "added_agree": sum(s["shape"] == s["expected"] for s in shapes if s not in original),
    }


def compute_original(done: dict, *, shown: bool) -> Original:
    rows = [cli.to_jsonable(s) for s in done["shapes"].rows]
    m = done["score_memory"]
    plain = done["heads"].mask_rank.plain_shape
    return Original(shown, shape_counts(rows), plain, m.doc, m.doc_count_bytes, m.heads)


def origin_sentence(c: dict[str, int]) -> str:
    """One sentence from `shape_counts`."""
    first = f"{c['agree']} of the original's {c['original']} shapes come out as it asserts"
    if c["added"] == 0:
        return first + "."
    return (
        f"{first}; the {c['added']} marked “added” (the scores per head and the mask over "
        f"them) are in neither its script nor doc 0020, and {c['added_agree']} of them come "
        "out as expected here."
    )


def doc_verdict(claim_gb: float, true_bytes: int) -> str:
    """Doc 0020's total against the truth in both units."""
    gb, gib = true_bytes / 1e9, true_bytes / 2**30
    if abs(claim_gb - gb) < 0.05 or abs(claim_gb - gib) < 0.05:
        return "right"
    return f"neither: the product is {gb:.2f} GB or {gib:.2f} GiB"


def say_original(r: Original, console: Console) -> None:
    if not r.shown:
        console.print("\n[dim]--original adds what the Nx original computed differently.[/]")
        return
    console.rule("[bold]What the original did differently")
    console.print(
        "A ✓ in the table is the shape the original asserts (the one expected here, for "
        f"the shapes it does not give). {origin_sentence(r.counts)}"
    )
    console.print(
        "The original adds its causal mask (T, T) to the scores as it is (scores + a (T, T) "
        f"matrix of 0 and −∞), which NumPy's rules broadcast to {shape(r.plain_shape)}."
    )
    doc = r.doc
    console.print(
        f"Doc 0020 says {doc.count} × {doc.mb_per_matrix} MB = {doc.total_mb:,} MB ≈ "
        f"{doc.total_gb} GB. {doc.count} matrices are {size(r.doc_count_bytes)}; "
        f"its {doc.total_gb} GB is {doc_verdict(doc.total_gb, r.doc_count_bytes)} "
        f"({doc.total_mb:,} MB ÷ 1,024 = {doc.total_mb / 1024:.3f}: decimal megabytes "
        "divided as if they were binary). And it counts one "
        f"head per layer: a layer with {r.heads} heads holds {r.heads} matrices by itself."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S = sections.Section
    return [
        S("shapes", compute_shapes, say_shapes, title="1. Shapes, before any number"),
        S("heads", compute_heads, say_heads, title="2. Heads split and merged, and the mask"),
        S("trap", compute_trap, say_trap, title="3. The broadcasting trap"),
        S(
            "score_memory",
            compute_score_memory,
            say_score_memory,
            title="4. Memory from shapes: attention's scores",
        ),
        S("gpt2_small", compute_gpt2_small, say_gpt2_small, title="5. GPT-2 small from shapes"),
        S("kv_cache", compute_kv_cache, say_kv_cache),
        S("original", partial(compute_original, shown=args.original), say_original),
    ]


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract, and the sections they come from."""
    h, t = done["heads"], done["trap"]
    return {
        "shapes": list(done["shapes"].rows),
        "split_merge_exact": h.split_merge_exact,
        "head_is_columns": h.head_is_columns,
        "roundtrip_dtype": h.roundtrip_dtype,
        "mask_broadcast_ok": h.mask_broadcast_ok,
        "mask_rank": h.mask_rank,
        "trap_shape": t.shape,
        "trap_caught": t.caught,
        "trap": t,
        "score_matrix_bytes": done["score_memory"].one,
        "score_memory": done["score_memory"],
        "gpt2_small_params": done["gpt2_small"].total,
        "gpt2_small": done["gpt2_small"],
        "kv_bytes_per_token": done["kv_cache"].per_token,
        "kv_cache": done["kv_cache"],
    }


def shapes_bullet(agree: int, total: int, exact: bool) -> str:
    """The first bullet: the shape story and the round trip."""
    first = (
        f"jax.eval_shape gave all {total} shapes as expected"
        if agree == total
        else f"jax.eval_shape gave {agree} of {total} shapes as expected"
    )
    trip = "exactly" if exact else "but NOT exactly"
    return f"{first}, without a multiply; split heads then merge gave the array back {trip}."


def trap_bullet(t: Trap) -> str:
    """The second bullet: the broadcasting trap, and whether "raise" caught it."""
    made = f"Labels {shape(t.inputs[0])} + logits {shape(t.inputs[1])} made {shape(t.shape)}"
    if t.caught:
        return f'{made} with no error; jax.numpy_rank_promotion("raise") caught it at once.'
    return f'{made} with no error, and jax.numpy_rank_promotion("raise") did NOT catch it.'


def memory_bullet(m: ScoreMemory, g: Gpt2Small, kv: KvCache) -> str:
    """The third bullet: what the shapes cost."""
    return (
        f"One {m.tokens:,} × {m.tokens:,} {m.dtype} score matrix is {m.one / 2**20:,.1f} MiB and "
        f"a layer of {m.heads} heads {m.layer / 2**30:,.2f} GiB; GPT-2 small has {g.total:,} "
        f"parameters and caches {kv.per_token['float32']:,} B per token in float32."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    rows, h = done["shapes"].rows, done["heads"]
    agree = sum(s.shape == s.expected for s in rows)
    return [
        shapes_bullet(agree, len(rows), h.split_merge_exact),
        trap_bullet(done["trap"]),
        memory_bullet(done["score_memory"], done["gpt2_small"], done["kv_cache"]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None, original=True)
    args = parser.parse_args(argv)
    kernels = (split_merge_roundtrip, masked_scores, transformer.split_heads,
               transformer.merge_heads)  # fmt: skip
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=kernels
    )


if __name__ == "__main__":
    cli.entry(main)
