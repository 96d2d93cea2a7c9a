"""Lesson 8.4 — shapes before numbers.

Every tensor program has a shape story before it has numbers: which axes a
product contracts, which survive, what broadcasts. jax.eval_shape runs that
story without spending a single multiply — it traces the function on
abstract arrays and returns the result's shape and dtype — so shapes, and
what they cost in memory, can be checked before anything is allocated.

The original's shapes are re-created here, each with the einsum string that
names its axes: vectors and matrices, the linear probe's data, the "survival
rule" of a matrix product, Q, K and V, the heads split and merged; and two
shapes the original does not give, the scores per head and the causal mask
broadcast over them. Then the broadcasting trap (N,) + (N, 1) → (N, N), and how
jax_numpy_rank_promotion="raise" catches it; the memory of attention's
score matrices (doc 0020's "32 × 268 MB ≈ 8.4 GB" corrected), GPT-2 small's
parameter count from the shapes of an init, and its KV cache per token.

Run:  python lessons/18_shape_literacy.py [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import jax
import jax.numpy as jnp
import numpy as np
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli
from trinity_foundations import transformer as tr

# --- the original's shapes (18_shape_literacy.exs and doc 0020) ------------------------------

B, T, D, H = 32, 128, 768, 12  # batch, tokens, hidden width, heads: d_h = 64
PROBE_N = 1000
LONG_T, HEAD_DIM, LAYER_HEADS, LAYERS = 8192, 64, 32, 32  # doc 0020, section 12
DOC_CLAIM = {"mb_per_matrix": 268, "count": 32, "total_mb": 8576, "total_gb": 8.4}  # its words
GPT2_SMALL = tr.GPTConfig(vocab_size=50257, context=1024, d_model=768, n_layers=12, n_heads=12,
                          d_ff=3072)  # fmt: skip
CACHE_DTYPES = ("float32", "bfloat16")
MIB, GIB = 2**20, 2**30


def spec(*shape, dtype="float32") -> jax.ShapeDtypeStruct:
    """An abstract array: a shape and a dtype, no memory."""
    return jax.ShapeDtypeStruct(shape, jnp.dtype(dtype))


def einsum(expr: str):
    return lambda *xs: jnp.einsum(expr, *xs)


def masked_scores(scores: jax.Array, mask: jax.Array) -> jax.Array:
    """The causal mask (T, T) applied to scores (B, H, T, T): explicitly broadcast."""
    return jnp.where(mask[None, None], scores, -jnp.inf)  # (B, H, T, T)


def shape_story() -> list[dict]:
    """Each of the original's shapes, from jax.eval_shape: (name, expression, inputs, shape)."""
    f32 = jnp.float32
    added = {"scores per head", "causal mask"}  # in neither the original script nor doc 0020
    rows = [  # name, expression, function, input specs, the expected shape
        ("vector", "[1, 2, 3]", lambda: jnp.array([1.0, 2.0, 3.0], f32), [], (3,)),
        ("matrix", "3 rows of 4", lambda: jnp.ones((3, 4), f32), [], (3, 4)),
        ("probe inputs X", "zeros", lambda: jnp.zeros((PROBE_N, 2), f32), [], (PROBE_N, 2)),
        ("probe labels Y", "zeros", lambda: jnp.zeros((PROBE_N, 1), f32), [], (PROBE_N, 1)),
        ("survival rule", "ik,kj->ij", einsum("ik,kj->ij"), [spec(3, 4), spec(4, 6)], (3, 6)),
        ("Q = X W_q", "td,de->te", einsum("td,de->te"), [spec(3, 4), spec(4, 4)], (3, 4)),
        ("scores Q Kᵀ", "td,sd->ts", einsum("td,sd->ts"), [spec(3, 4), spec(3, 4)], (3, 3)),
        ("weights V", "ts,sd->td", einsum("ts,sd->td"), [spec(3, 3), spec(3, 4)], (3, 4)),
        ("split heads", "btd -> bthe -> bhte", lambda x: tr.split_heads(x, H),
         [spec(B, T, D)], (B, H, T, D // H)),
        ("scores per head", "bhqe,bhke->bhqk", einsum("bhqe,bhke->bhqk"),
         [spec(B, H, T, D // H)] * 2, (B, H, T, T)),
        ("causal mask", "(T,T) over (B,H,T,T)", masked_scores,
         [spec(B, H, T, T), spec(T, T, dtype="bool")], (B, H, T, T)),
        ("weights V per head", "bhqk,bhke->bhqe", einsum("bhqk,bhke->bhqe"),
         [spec(B, H, T, T), spec(B, H, T, D // H)], (B, H, T, D // H)),
        ("merge heads", "bhte -> bthe -> btd", tr.merge_heads,
         [spec(B, H, T, D // H)], (B, T, D)),
    ]  # fmt: skip
    story = []
    for name, expr, fn, inputs, expected in rows:
        out = jax.eval_shape(fn, *inputs)
        story.append(
            {
                "name": name,
                "expr": expr,
                "inputs": [list(s.shape) for s in inputs],
                "shape": list(out.shape),
                "dtype": str(out.dtype),
                "expected": list(expected),
                "source": "added" if name in added else "original",
            }
        )
    return story


@jax.jit
def split_merge_roundtrip(x: jax.Array):
    """(merge(split(x)) == x everywhere, head 1 == columns d_h..2·d_h): x (B, T, d)."""
    heads = tr.split_heads(x, H)  # (B, H, T, d_h)
    dh = x.shape[-1] // H
    return jnp.array_equal(tr.merge_heads(heads), x), jnp.array_equal(
        heads[:, 1], x[:, :, dh : 2 * dh]
    )


def mask_rank_check() -> dict:
    """The mask (T, T) against scores (B, H, T, T) with no axes added: the shape of the
    original's add under NumPy's rules, and whether jax_numpy_rank_promotion="raise"
    refuses that add and the jnp.where this lesson uses."""

    def add(scores, mask):  # the original: scores + a (T, T) matrix of 0 and −∞
        return scores + jnp.where(mask, 0.0, -jnp.inf)  # (B, H, T, T) + (T, T)

    def where(scores, mask):
        return jnp.where(mask, scores, -jnp.inf)  # (T, T) and (B, H, T, T)

    args = (spec(B, H, T, T), spec(T, T, dtype="bool"))
    with jax.numpy_rank_promotion("allow"):
        shape = list(jax.eval_shape(add, *args).shape)
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
    return {
        "plain_shape": shape,
        "add_caught_by_raise": caught["add"],
        "where_caught_by_raise": caught["where"],
        "explicit_shape": explicit,
    }


def mask_broadcast_check() -> bool:
    """On small real arrays: every (batch, head) weight matrix is zero above the diagonal."""
    q = jnp.ones((2, 3, 5, 4))  # (B, H, T, d_h)
    _, w = tr.attend(q, q, q, tr.causal_mask(5))  # (B, H, T, T)
    return bool(jnp.all(jnp.triu(w, 1) == 0))


def broadcasting_trap() -> dict:
    """labels (N,) + logits (N, 1): an (N, N) matrix under NumPy's rules, an error under "raise"."""

    def trap(labels, logits):
        return labels + logits

    args = (spec(PROBE_N), spec(PROBE_N, 1))
    with jax.numpy_rank_promotion("allow"):
        shape = list(jax.eval_shape(trap, *args).shape)
    try:
        with jax.numpy_rank_promotion("raise"):
            jax.eval_shape(trap, *args)
        caught, message = False, ""
    except ValueError as error:
        caught, message = True, str(error).splitlines()[0]
    return {
        "shape": shape,
        "caught": caught,
        "message": message,
        "inputs": [[PROBE_N], [PROBE_N, 1]],
    }


def nbytes(s: jax.ShapeDtypeStruct) -> int:
    return int(np.prod(s.shape, dtype=np.int64)) * s.dtype.itemsize


def score_memory() -> dict:
    """Bytes of attention's score matrices at T = 8,192, from eval_shape of the einsum."""
    scores = einsum("bhqe,bhke->bhqk")
    one = jax.eval_shape(scores, spec(1, 1, LONG_T, HEAD_DIM), spec(1, 1, LONG_T, HEAD_DIM))
    layer = jax.eval_shape(
        scores, spec(1, LAYER_HEADS, LONG_T, HEAD_DIM), spec(1, LAYER_HEADS, LONG_T, HEAD_DIM)
    )
    return {
        "tokens": LONG_T,
        "dtype": str(one.dtype),
        "one_shape": list(one.shape),
        "one": nbytes(one),
        "layer_shape": list(layer.shape),
        "layer": nbytes(layer),
        "heads": LAYER_HEADS,
        "layers": LAYERS,
        "model": LAYERS * nbytes(layer),
        "doc": DOC_CLAIM,
        "doc_count_bytes": DOC_CLAIM["count"] * nbytes(one),
    }


def gpt2_small() -> dict:
    """GPT-2 small's parameters from the shapes of init_gpt: no weight is drawn."""
    c = GPT2_SMALL
    shapes = jax.eval_shape(lambda k: tr.init_gpt(k, c), jax.random.key(0))
    layer = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), shapes["blocks"])
    d = c.d_model
    return {
        "total": tr.param_count(shapes),
        "tok": tr.param_count(shapes["tok"]),
        "pos": tr.param_count(shapes["pos"]),
        "per_layer": tr.param_count(layer),
        "layers": c.n_layers,
        "norm_f": tr.param_count(shapes["norm_f"]),
        "formula": c.vocab_size * d + c.context * d + c.n_layers * (12 * d * d + 13 * d) + 2 * d,
        "dtype": str(shapes["tok"].dtype),
        "bytes": sum(nbytes(s) for s in jax.tree.leaves(shapes)),
        "config": c._asdict(),
    }


def kv_cache() -> dict:
    """Bytes per token of GPT-2 small's KV cache: K and V, every layer, every head."""
    c = GPT2_SMALL
    per_token, full = {}, {}
    for dtype in CACHE_DTYPES:  # cache (L, 2, B, H, T, d_h)
        layout = (c.n_layers, 2, 1, c.n_heads)
        one = spec(*layout, 1, c.d_model // c.n_heads, dtype=dtype)
        whole = spec(*layout, c.context, c.d_model // c.n_heads, dtype=dtype)
        per_token[dtype] = nbytes(jax.eval_shape(lambda a: a, one))
        full[dtype] = nbytes(jax.eval_shape(lambda a: a, whole))
    return {"per_token": per_token, "full_context": full, "context": c.context}


def run() -> dict:
    x = jnp.arange(B * T * D, dtype=jnp.float32).reshape(B, T, D)  # exact in float32 (< 2**24)
    exact, head_is_columns = split_merge_roundtrip(x)
    trap = broadcasting_trap()
    memory = score_memory()
    gpt2 = gpt2_small()
    kv = kv_cache()
    return {
        "shapes": shape_story(),
        "split_merge_exact": bool(exact),
        "head_is_columns": bool(head_is_columns),
        "roundtrip_dtype": str(x.dtype),
        "mask_broadcast_ok": mask_broadcast_check(),
        "mask_rank": mask_rank_check(),
        "trap_shape": trap["shape"],
        "trap_caught": trap["caught"],
        "trap": trap,
        "score_matrix_bytes": memory["one"],
        "score_memory": memory,
        "gpt2_small_params": gpt2["total"],
        "gpt2_small": gpt2,
        "kv_bytes_per_token": kv["per_token"],
        "kv_cache": kv,
    }


# --- the report ----------------------------------------------------------------------------------


def shape(dims) -> str:
    return "(" + ", ".join(f"{d:,}" for d in dims) + ("," if len(dims) == 1 else "") + ")"


def size(n: int) -> str:
    """'268,435,456 B = 268.4 MB = 256 MiB': bytes in decimal and binary units."""
    mb, mib, gib = n / 1e6, n / MIB, n / GIB
    if gib >= 1:
        return f"{n:,} B = {n / 1e9:.2f} GB = {gib:.2f} GiB"
    return f"{n:,} B = {mb:.1f} MB = {mib:.1f} MiB"


def doc_verdict(claim_gb: float, true_bytes: int) -> str:
    """Doc 0020's total against the truth in both units."""
    gb, gib = true_bytes / 1e9, true_bytes / GIB
    if abs(claim_gb - gb) < 0.05 or abs(claim_gb - gib) < 0.05:
        return "right"
    return f"neither: the product is {gb:.2f} GB or {gib:.2f} GiB"


def shape_counts(shapes: list[dict]) -> dict[str, int]:
    """How many shapes come from the original, how many of those agree, how many are added."""
    original = [s for s in shapes if s["source"] == "original"]
    return {
        "original": len(original),
        "agree": sum(s["shape"] == s["expected"] for s in original),
        "added": len(shapes) - len(original),
        "added_agree": sum(s["shape"] == s["expected"] for s in shapes if s not in original),
    }


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


def mask_rank_sentence(m: dict) -> str:
    """How the (T, T) mask meets (B, H, T, T) scores, with and without strict ranks."""
    plain = (
        "The original adds its causal mask (T, T) to the scores as it is, and that needs no "
        f"added axes: NumPy's rules prepend the two missing ones, giving "
        f"{shape(m['plain_shape'])}."
    )
    if not m["add_caught_by_raise"]:
        return f'{plain} Even jax_numpy_rank_promotion="raise" lets that add pass.'
    where = "and jnp.where too" if m["where_caught_by_raise"] else "though not jnp.where"
    return (
        f'{plain} Only jax_numpy_rank_promotion="raise" refuses that add ({where}); this '
        "lesson writes mask[None, None] so that the change of rank shows."
    )


def report_shapes(r: dict, console) -> None:
    table = Table(title="shapes, from jax.eval_shape (no arithmetic spent)")
    for col in ("", "expression", "inputs", "result", "origin"):
        table.add_column(col, overflow="fold")  # a long einsum wraps, never loses a letter
    for s in r["shapes"]:
        ok = "✓" if s["shape"] == s["expected"] else "✗"
        inputs = " · ".join(shape(i) for i in s["inputs"]) or "—"
        origin = f"{ok} {'original' if s['source'] == 'original' else 'added'}"
        table.add_row(s["name"], s["expr"], inputs, shape(s["shape"]), origin)
    console.print(table)
    console.print("✓: the shape expected (by the original's assertion, or here for “added”). "
                  + origin_sentence(shape_counts(r["shapes"])))  # fmt: skip
    exact = "exactly" if r["split_merge_exact"] else "NOT exactly"
    console.print(
        f"Split then merge returns {shape([B, T, D])} ({r['roundtrip_dtype']}) {exact}: "
        f"a reshape and a transpose move numbers, never change them; head 1 "
        f"{'is' if r['head_is_columns'] else 'is NOT'} columns {D // H}…{2 * D // H - 1}."
    )
    console.print(
        mask_rank_sentence(r["mask_rank"])
        + " On real arrays every (batch, head) matrix is "
        + f"{'zero' if r['mask_broadcast_ok'] else 'NOT zero'} above the diagonal."
    )


def report_trap(r: dict, console) -> None:
    t = r["trap"]
    console.print(
        f"\n[bold]The broadcasting trap[/]: labels {shape(t['inputs'][0])} + logits "
        f"{shape(t['inputs'][1])} is {shape(r['trap_shape'])} — "
        f"{r['trap_shape'][0] * r['trap_shape'][1]:,} numbers where {t['inputs'][0][0]:,} "
        "were meant, and no error."
    )
    if r["trap_caught"]:
        console.print(
            f'With jax.numpy_rank_promotion("raise") the same line fails at once: '
            f"[dim]{escape(t['message'])}[/]"
        )
    else:
        console.print('jax.numpy_rank_promotion("raise") did NOT catch it.')


def report_memory(r: dict, console) -> None:
    m = r["score_memory"]
    console.print(
        f"\n[bold]Memory from shapes[/]: one score matrix {shape(m['one_shape'])} in {m['dtype']}: "
        f"{size(m['one'])}."
    )
    console.print(
        f"One layer of {m['heads']} heads {shape(m['layer_shape'])}: {size(m['layer'])}; "
        f"{m['layers']} such layers kept at once (as a backward pass would): {size(m['model'])}."
    )
    doc = m["doc"]
    console.print(
        f"Doc 0020 says {doc['count']} × {doc['mb_per_matrix']} MB = {doc['total_mb']:,} MB ≈ "
        f"{doc['total_gb']} GB. {doc['count']} matrices are {size(m['doc_count_bytes'])}; "
        f"its {doc['total_gb']} GB is {doc_verdict(doc['total_gb'], m['doc_count_bytes'])} "
        f"({doc['total_mb']:,} MB ÷ 1,024 = {doc['total_mb'] / 1024:.3f}: decimal megabytes "
        "divided as if they were binary). And it counts one "
        f"head per layer: a layer with {m['heads']} heads holds {m['heads']} matrices by itself."
    )
    g = r["gpt2_small"]
    console.print(
        f"\n[bold]GPT-2 small[/] (V = {g['config']['vocab_size']:,}, T = "
        f"{g['config']['context']:,}, d = {g['config']['d_model']}, {g['layers']} layers, "
        f"{g['config']['n_heads']} heads, output tied to the embeddings), from eval_shape of "
        f"init_gpt: [bold]{r['gpt2_small_params']:,}[/] parameters = {g['tok']:,} token + "
        f"{g['pos']:,} position + {g['layers']} × {g['per_layer']:,} (12d² + 13d) + "
        f"{g['norm_f']:,} final norm; the formula gives {g['formula']:,}. In {g['dtype']}: "
        f"{size(g['bytes'])}."
    )
    kv = r["kv_cache"]
    parts = [
        f"{dt} {n:,} B per token ({size(kv['full_context'][dt])} for all {kv['context']:,})"
        for dt, n in r["kv_bytes_per_token"].items()
    ]
    console.print(
        "Its KV cache (K and V, every layer and head, 2 · L · d numbers a token): "
        + "; ".join(parts)
    )


def report(r: dict, console) -> None:
    report_shapes(r, console)
    report_trap(r, console)
    report_memory(r, console)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    args = parser.parse_args(argv)
    cli.finish(
        args,
        __file__,
        run(),
        report,
        title=__doc__,
        kernels=(split_merge_roundtrip, masked_scores, tr.split_heads, tr.merge_heads),
    )


if __name__ == "__main__":
    cli.entry(main)
