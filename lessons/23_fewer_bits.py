"""Lesson 23 — numbers with fewer bits.

First the formats, measured by experiment in each one's own arithmetic and
checked against jnp.finfo: float32, bfloat16, float16 and two float8s —
their machine epsilon, largest number, smallest normal and smallest
subnormal. Then 10⁴ small numbers summed in bfloat16 against float32: why
matmuls accumulate in float32. Then the lesson-19 GPT trained twice, in
float32 and in bfloat16 compute with float32 master weights: is the gap
between them larger than the gap between two float32 seeds? In float16,
how many gradient entries underflow to zero, and does scaling the loss by
2^k bring them back? Then the trained weights quantized to int8 (per tensor,
per output channel, with a zero point), to fewer bits and to QLoRA's NF4:
bytes, error and validation loss of each; a Hadamard rotation against
outlier channels; and an int8 matmul with int32 sums timed against float32.

It quantizes the checkpoint that `make train` writes when it exists (else
the float32 model it has just trained, and says so).

Run:  python lessons/23_fewer_bits.py [--checkpoint PATH] [--steps 250] [--d-model 32]
      [--layers 2] [--heads 4] [--context 32] [--batch 16] [--bits 4] [--block 32]
      [--sum-count 10000] [--matmul-max 4096] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, display, macbeth, roofline, sections, timing
from trinity_foundations import language as lang
from trinity_foundations import quantize as qz
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, init_gpt

SEED = 0
D_MODEL, LAYERS, HEADS, CONTEXT, BATCH, STEPS = 32, 2, 4, 32, 16, 250  # small: fits the budget
LR, WARMUP, EVALS = 5e-3, 30, 10
MAX_STEPS = 20_000
BITS, BLOCK, SUM_COUNT, MATMUL_MAX, MATMUL_MIN, MATMUL_ROWS = 4, 32, 10_000, 4096, 256, 8
DTYPES = ("float32", "bfloat16", "float16", "float8_e4m3fn", "float8_e5m2")
FACTS = ("eps", "max", "min_normal", "min_subnormal")
SCALE_EXPONENTS = (0, 4, 8, 12, 16, 20, 24, 28)  # loss scales 2^k tried in float16
WITHIN = 0.02  # nats: int8 per channel should cost no more than this
CLEAR = 1.1  # a speed ratio every round puts past this (or below 1/this) names a winner
TIMING_MS = 40.0


# ----------------------------------------------------------------------------
# 1. The formats, measured.


@dataclass(frozen=True)
class Formats:
    measured: dict[str, dict[str, float]]  # dtype -> fact -> value found by experiment
    finfo: dict[str, dict[str, float]]  # dtype -> fact -> jnp.finfo's value
    bits: dict[str, int]  # dtype -> bits per number


def compute_formats(done: dict) -> Formats:
    measured = {d: qz.measure(jnp.dtype(d))._asdict() for d in DTYPES}
    finfo = {d: qz.finfo_facts(jnp.dtype(d))._asdict() for d in DTYPES}
    return Formats(measured, finfo, {d: 8 * jnp.dtype(d).itemsize for d in DTYPES})


def disagreements(measured: dict[str, float], finfo: dict[str, float]) -> list[str]:
    """The facts where the experiment and jnp.finfo differ."""
    return [f for f in FACTS if measured[f] != finfo[f]]


def flush_sentence(formats: Formats) -> str:
    """What the disagreements mean: the arithmetic flushed subnormals to zero (the
    smallest number found by halving is the smallest normal), or anything else."""
    off = {d: disagreements(formats.measured[d], formats.finfo[d]) for d in DTYPES}
    off = {d: f for d, f in off.items() if f}
    if not off:
        return "Every measured fact equals jnp.finfo's."
    flushed = [
        d
        for d, f in off.items()
        if "min_subnormal" in f
        and formats.measured[d]["min_subnormal"] == formats.finfo[d]["min_normal"]
    ]
    named = ", ".join(off)
    if flushed and all(set(f) <= {"min_subnormal", "min_normal"} for f in off.values()):
        return (
            f"{named}: halving stopped at the smallest normal number, not at finfo's "
            "subnormal: this backend's arithmetic in these types flushes subnormal results "
            "to zero (for speed; formats computed by conversion, as the small ones are "
            "here, keep them)."
        )
    facts = ", ".join(sorted({x for f in off.values() for x in f}))
    return f"{named}: the experiment and jnp.finfo disagree on {facts}."


def say_formats(r: Formats, console: Console) -> None:
    table = Table(title="Formats, measured (jnp.finfo where it differs)")
    for col in ("dtype", "bits", "eps", "max", "min normal", "min subnormal"):
        table.add_column(col, justify="left" if col == "dtype" else "right")
    for d in DTYPES:
        m, f = r.measured[d], r.finfo[d]
        cells = [f"{m[x]:.3g}" + ("" if m[x] == f[x] else f" (finfo {f[x]:.3g})") for x in FACTS]
        table.add_row(d, str(r.bits[d]), *cells)
    console.print(display.fit(table, console))
    console.print(flush_sentence(r) + "\n")


# ----------------------------------------------------------------------------
# 2. Summing 10⁴ small numbers: where the total is kept matters.


@dataclass(frozen=True)
class Accumulation:
    count: int
    exact: float  # float64 sum of the bfloat16 numbers
    sums: dict[str, float]  # how it was summed -> result
    rel_errors: dict[str, float]


def compute_accumulation(done: dict, *, args) -> Accumulation:
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    x = jax.random.uniform(key, (args.sum_count,), maxval=0.02).astype(jnp.bfloat16)  # (n,)
    exact = float(np.sum(np.asarray(x, np.float64)))
    sums = {
        "running total in bfloat16": qz.running_sum(x, dtype=jnp.bfloat16),
        "running total in float32": qz.running_sum(x, dtype=jnp.float32),
        "dot, preferred_element_type=bfloat16": qz.dot_sum(x, dtype=jnp.bfloat16),
        "dot, preferred_element_type=float32": qz.dot_sum(x, dtype=jnp.float32),
    }
    sums = {k: float(v) for k, v in sums.items()}
    return Accumulation(
        args.sum_count, exact, sums, {k: abs(v - exact) / exact for k, v in sums.items()}
    )


def say_accumulation(r: Accumulation, console: Console) -> None:
    table = Table(title=f"{r.count:,} bfloat16 numbers in [0, 0.02), exact sum {r.exact:.4f}")
    for col in ("summed as", "result", "error"):
        table.add_column(col, justify="left" if col == "summed as" else "right")
    for name, value in r.sums.items():
        table.add_row(name, f"{value:.4f}", display.share(r.rel_errors[name]))
    console.print(display.fit(table, console))
    worst = max(r.rel_errors, key=r.rel_errors.get)
    console.print(
        f"Worst: {worst}, off by {display.share(r.rel_errors[worst])}. A bfloat16 total has "
        "8 bits of precision: once it is large, a small number added to it is less than half "
        "its spacing and rounds away. A float32 accumulator keeps the small numbers, which "
        "is why a matmul of bfloat16 inputs asks for float32 sums (preferred_element_type).\n"
    )


# ----------------------------------------------------------------------------
# 3. Mixed precision: bfloat16 compute, float32 master weights and moments.


def train_run(loss_fn, seed: int, args, model: GPTConfig, label: str, show: bool):
    """Lesson 19's recipe on Macbeth with `loss_fn`: (final params, History)."""
    train, val = lang.split(lang.encode(*_vocab_and_text()))
    config = tr.TrainConfig(args.steps, args.batch, args.context, LR, WARMUP, 0.1, 0.1, 1.0)
    k_init, k_train = jax.random.split(jax.random.key(seed))
    state = tr.init_state(init_gpt(k_init, model), tr.hyper_of(config))
    with display.steps_progress(args.steps, label, enabled=show) as advance:
        state, history = tr.fit(
            state, k_train, jnp.asarray(train),
            lang.eval_windows(train, args.context, limit=macbeth.TRAIN_EVAL_WINDOWS),
            lang.eval_windows(val, args.context), config=config, loss_fn=loss_fn,
            chunks=tr.chunks_for(args.steps, most=EVALS), on_chunk=advance,
        )  # fmt: skip
    return state.params, history


def _vocab_and_text():
    text = macbeth.read_text()
    return lang.build_vocab(text), text


def val_loss(params: dict, model: GPTConfig) -> float:
    """Validation loss in float32 over every window of Macbeth's last 10 %."""
    vocab, text = _vocab_and_text()
    _, val = lang.split(lang.encode(vocab, text))
    x, y = lang.eval_windows(val, model.context)  # (W, T) each
    return float(tr.evaluate(params, jnp.asarray(x), jnp.asarray(y), loss_fn=tr.LMLoss(model)))


@dataclass(frozen=True)
class Mixed:
    model: dict  # the GPTConfig's fields
    steps: int
    eval_steps: list[int]
    val_curves: dict[str, list[float]]  # run -> validation loss after each chunk
    loss_curves: dict[str, list[float]]  # run -> batch loss of every step
    val_float32: float  # final validation loss, evaluated in float32
    val_bf16: float
    val_float32_other_seed: float
    seed_noise: float  # |float32 - float32 at seed + 1|
    params: dict = field(repr=False, compare=False)  # the float32 run's final parameters


def compute_mixed(done: dict, *, args) -> Mixed:
    vocab, _ = _vocab_and_text()
    model = macbeth.model_config(vocab.size, args.d_model, args.layers, args.heads, args.context)
    show = not args.json
    runs = {
        "float32": (tr.LMLoss(model), args.seed),
        "bfloat16 compute": (qz.CastLoss(model, "bfloat16"), args.seed),
        "float32, seed + 1": (tr.LMLoss(model), args.seed + 1),
    }
    trained = {
        name: train_run(loss, seed, args, model, f"training ({name})", show)
        for name, (loss, seed) in runs.items()
    }
    finals = {name: val_loss(p, model) for name, (p, _) in trained.items()}
    history = trained["float32"][1]
    return Mixed(
        model._asdict(), args.steps, list(history.eval_steps),
        {n: list(h.val_eval) for n, (_, h) in trained.items()},
        {n: np.asarray(h.loss).tolist() for n, (_, h) in trained.items()},
        finals["float32"], finals["bfloat16 compute"], finals["float32, seed + 1"],
        abs(finals["float32"] - finals["float32, seed + 1"]), trained["float32"][0],
    )  # fmt: skip


def noise_verdict(gap: float, noise: float) -> str:
    """How the bfloat16-float32 gap compares with the seed-to-seed gap."""
    if gap <= noise:
        return "within the seed-to-seed noise: bfloat16 compute cost nothing measurable here"
    if gap <= 2 * noise:
        return "larger than the seed-to-seed gap, but less than twice it: one seed pair cannot tell"
    return "more than twice the seed-to-seed gap: here bfloat16 compute cost accuracy"


def say_mixed(r: Mixed, console: Console) -> None:
    width = display.chart_width(console, 10)
    console.print(
        display.line_chart(
            r.val_curves,
            width=width,
            height=10,
            y_label="validation loss (nats)",
            x_label=f"evaluation (every {r.eval_steps[0]:,} steps)",
        )  # fmt: skip
    )
    gap = abs(r.val_bf16 - r.val_float32)
    console.print(
        f"Final validation loss (evaluated in float32): float32 {r.val_float32:.4f}, "
        f"bfloat16 compute {r.val_bf16:.4f}, a gap of {gap:.4f} nats; two float32 seeds "
        f"differ by {r.seed_noise:.4f}. The gap is {noise_verdict(gap, r.seed_noise)}. (Where "
        "curves share a cell the chart draws the one listed last, so the float32 curve can "
        "hide under the others.)\n"
    )


# ----------------------------------------------------------------------------
# 4. float16 without loss scaling: gradients that underflow.


@dataclass(frozen=True)
class Flush:
    exponents: list[int]  # k of each loss scale 2^k tried
    shares: list[float]  # share of gradient entries flushed to zero, per k
    finite: list[bool]  # whether every gradient entry stayed finite, per k
    entries: int  # gradient entries at the logits: B·T·V
    without: float  # the share at k = 0
    best_k: int  # the k with the fewest flushed among the finite ones
    with_scaling: float


def compute_flush(done: dict, *, args) -> Flush:
    mixed = done["mixed"]
    model = GPTConfig(**mixed.model)
    vocab, text = _vocab_and_text()
    train, _ = lang.split(lang.encode(vocab, text))
    key = jax.random.fold_in(jax.random.key(args.seed), 2)
    batch = lang.sample_batch(key, jnp.asarray(train), args.batch, args.context)  # (B, T) x2
    grads = partial(qz.logit_grads, mixed.params, batch, model=model)
    reference = grads(jnp.float32(1.0), dtype="float32")
    shares, finite = [], []
    for k in SCALE_EXPONENTS:
        low = grads(jnp.float32(2.0**k), dtype="float16")
        finite.append(all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(low)))
        shares.append(qz.flushed_share(reference, low))
    best = min(
        ((s, k) for s, k, ok in zip(shares, SCALE_EXPONENTS, finite) if ok), default=(1.0, 0)
    )
    entries = int(reference.size)
    return Flush(list(SCALE_EXPONENTS), shares, finite, entries, shares[0], best[1], best[0])


def say_flush(r: Flush, console: Console) -> None:
    title = f"{r.entries:,} float16 gradient entries at the logits"
    table = Table(title=title, min_width=len(title))  # the title on one line
    for col in ("loss × 2^k", "flushed", "all finite"):
        table.add_column(col, justify="right")
    for k, s, ok in zip(r.exponents, r.shares, r.finite):
        table.add_row(f"k = {k}", display.share(s, 3), "yes" if ok else "NO (overflow)")
    console.print(display.fit(table, console))
    console.print(
        "The backward pass starts at the logits: one gradient entry per token and "
        f"character, (softmax − one-hot) / (B·T). {unscaled_clause(r.without)} "
        f"Scaling the loss by "
        f"2^{r.best_k} (and the gradients back by 2^-{r.best_k} in float32) leaves "
        f"{display.share(r.with_scaling, 3)}; {overflow_clause(r)} bfloat16 has float32's "
        "exponent range and needs no scaling.\n"
    )


def unscaled_clause(without: float) -> str:
    """What float16 did to the unscaled gradient: some entries flushed to zero, or none."""
    if without == 0:
        return "Without scaling, no entry that is not zero in float32 came out as zero in float16."
    return (
        f"Without scaling {display.share(without, 3)} of the entries that are not zero in "
        "float32 come out as exactly zero in float16: they were at most half its smallest "
        "subnormal (2^-25), so they rounded to 0, and everything computed from them is lost."
    )


def overflow_clause(r: Flush) -> str:
    """Whether a scale tried was too large: the first k that overflowed, if any."""
    over = [k for k, ok in zip(r.exponents, r.finite) if not ok]
    if not over:
        return f"no scale up to 2^{r.exponents[-1]} overflowed."
    return f"from 2^{over[0]} on the scaled entries overflow instead."


# ----------------------------------------------------------------------------
# 5. Quantizing the trained weights.


def matrices(params: dict) -> dict[str, jax.Array]:
    """The blocks' weight matrices by name ("attn.w_q", ...): each (L, d_in, d_out)."""
    return {
        f"{part}.{name}": leaf
        for part in ("attn", "mlp")
        for name, leaf in params["blocks"][part].items()
        if leaf.ndim == 3
    }


def with_matrices(params: dict, new: dict[str, jax.Array]) -> dict:
    """`params` with the named block matrices replaced (everything else shared)."""
    blocks = {k: dict(v) if k in ("attn", "mlp") else v for k, v in params["blocks"].items()}
    for full, leaf in new.items():
        part, name = full.split(".")
        blocks[part][name] = leaf
    return {**params, "blocks": blocks}


def scheme_fn(scheme: str, bits: int, block: int):
    """w -> dequantized w for one (d_in, d_out) matrix, for a scheme's name."""
    if scheme == "float32":
        return lambda w: w
    if scheme in ("int8_per_tensor", "int8_per_channel", "int_per_channel"):
        b = bits if scheme == "int_per_channel" else 8
        per_channel = scheme != "int8_per_tensor"
        return lambda w: qz.dequantize_symmetric(*qz.quantize_symmetric(w, b, per_channel))
    if scheme == "int8_asymmetric":
        return lambda w: qz.dequantize_asymmetric(*qz.quantize_asymmetric(w, 8))
    levels = qz.nf4_levels() if scheme == "nf4" else qz.int_levels(bits)
    return lambda w: qz.dequantize_codebook(*qz.quantize_codebook(w, levels, block), levels, block)


@partial(jax.jit, static_argnames=("scheme", "bits", "block"))
def dequantized(ws: dict, rs: dict, *, scheme: str, bits: int, block: int) -> dict:
    """Every matrix of `ws` (name -> (L, d_in, d_out)) quantized by `scheme` and back,
    layer by layer. rs: str(d_in) -> an orthogonal (d_in, d_in) R; where there is one,
    Rᵀ W is quantized and R folded back: x @ R q(Rᵀ W) = (x R) @ q(Rᵀ W)."""
    fn = scheme_fn(scheme, bits, block)

    def one(w):  # (d_in, d_out)
        r = rs.get(str(w.shape[0]))
        return fn(w) if r is None else r @ fn(r.T @ w)  # (d_in, d_out)

    return {name: jax.vmap(one)(w) for name, w in ws.items()}


def schemes(bits: int, block: int) -> dict[str, tuple[str, Callable]]:
    """name -> (label, (d_in, d_out) -> bytes per weight, scales and zero points included)."""
    return {
        "int8_per_tensor": ("int8, per tensor", lambda i, o: qz.bytes_per_param(i, o, 8, 1)),
        "int8_per_channel": ("int8, per channel", lambda i, o: qz.bytes_per_param(i, o, 8, o)),
        "int8_asymmetric": (  # a float32 scale and an int8 zero point per column
            "int8, zero point",
            lambda i, o: qz.bytes_per_param(i, o, 8, o) + o / (i * o),
        ),
        f"int{bits}": (
            f"int{bits}, blocks of {block}",
            lambda i, o: qz.bytes_per_param(i, o, bits, i // block * o),
        ),
        "nf4": (
            f"NF4, blocks of {block}",
            lambda i, o: qz.bytes_per_param(i, o, 4, i // block * o),
        ),
    }


def apply(params: dict, scheme: str, args, rs: dict | None = None) -> tuple[dict, float]:
    """(params with every block matrix quantized by `scheme` and back, the relative
    error ‖Ŵ − W‖/‖W‖ over all of them together)."""
    old = matrices(params)
    new = dequantized(old, rs or {}, scheme=scheme, bits=args.bits, block=args.block)
    flat = lambda ws: jnp.concatenate([jnp.ravel(w) for w in ws.values()])  # noqa: E731
    return with_matrices(params, new), qz.relative_error(flat(old), flat(new))


def weighted_bytes(params: dict, per) -> float:
    """Bytes per weight over all block matrices, each weighted by its size."""
    shapes = [w.shape for w in matrices(params).values()]  # (L, d_in, d_out)
    total = sum(math.prod(s) for s in shapes)
    return sum(per(s[1], s[2]) * math.prod(s) for s in shapes) / total


@dataclass(frozen=True)
class Quantized:
    source: str  # "checkpoint" or "trained"
    checkpoint: str
    model: dict
    matrix_params: int  # weights in the blocks' matrices, the ones quantized
    other_params: int  # embeddings, norms, biases: kept in float32
    nf4_levels: list[float]
    labels: dict[str, str]
    bytes_per_param: dict[str, float]
    weight_error: dict[str, float]
    val_loss: dict[str, float]
    float32_val_loss: float
    params: dict = field(repr=False, compare=False)


def compute_quantized(done: dict, *, args, loaded) -> Quantized:
    if loaded is None:
        params, model, source = done["mixed"].params, GPTConfig(**done["mixed"].model), "trained"
    else:
        (params, model), source = loaded, "checkpoint"
    labels, errors, losses, nbytes = {}, {}, {}, {}
    for name, (label, per) in schemes(args.bits, args.block).items():
        scheme = "int" if name == f"int{args.bits}" else name
        quantized, errors[name] = apply(params, scheme, args)
        labels[name], losses[name] = label, val_loss(quantized, model)
        nbytes[name] = weighted_bytes(params, per)
    n_matrix = sum(int(w.size) for w in matrices(params).values())
    n_all = sum(int(a.size) for a in jax.tree.leaves(params))
    return Quantized(
        source, str(args.checkpoint), model._asdict(), n_matrix, n_all - n_matrix,
        qz.nf4_levels().tolist(), labels, nbytes, errors, losses, val_loss(params, model), params,
    )  # fmt: skip


def signed(delta: float) -> str:
    """A change in nats with its sign, '+0.0000' when it rounds to zero (never '-0.0000')."""
    text = f"{delta:+.4f}"
    return "+0.0000" if text == "-0.0000" else text


def within_verdict(delta: float, limit: float = WITHIN) -> bool:
    """Whether int8 per channel cost at most `limit` nats of validation loss."""
    return abs(delta) <= limit


def source_sentence(source: str, checkpoint: str) -> str:
    if source == "checkpoint":
        return f"Quantizing the checkpoint {checkpoint}."
    return (
        f"No checkpoint used ({checkpoint}): quantizing the float32 model trained above "
        "(`make train` writes a larger one, which this lesson then reads)."
    )


def say_quantized(r: Quantized, console: Console) -> None:
    console.print(source_sentence(r.source, r.checkpoint))
    levels = ", ".join(f"{v:+.4f}" for v in r.nf4_levels)
    console.print(f"NF4's 16 levels (normal quantiles, scaled to [-1, 1]): {levels}")
    table = Table(title=f"{r.matrix_params:,} block weights quantized")
    for col in ("scheme", "bytes/weight", "weight error", "val loss", "Δ vs float32"):
        table.add_column(col, justify="left" if col == "scheme" else "right")
    table.add_row("float32", "4", "0", f"{r.float32_val_loss:.4f}", "")
    for name, label in r.labels.items():
        delta = r.val_loss[name] - r.float32_val_loss
        table.add_row(
            label, f"{r.bytes_per_param[name]:.3f}", display.share(r.weight_error[name]),
            f"{r.val_loss[name]:.4f}", signed(delta),
        )  # fmt: skip
    console.print(display.fit(table, console))
    delta = r.val_loss["int8_per_channel"] - r.float32_val_loss
    said = "within" if within_verdict(delta) else "NOT within"
    console.print(
        f"int8 per channel costs {signed(delta)} nats: {said} {WITHIN} nats of float32. "
        f"Embeddings, norms and biases ({r.other_params:,} numbers) stay in float32; the "
        "scales count in the bytes.\n"
    )


# ----------------------------------------------------------------------------
# 6. Outlier channels, and a Hadamard rotation before quantizing.


@dataclass(frozen=True)
class Rotation:
    scheme: str
    top_channels: list[tuple[str, int, int, float]]  # (matrix, layer, input channel, max |w| / rms)
    rotated: int  # matrices rotated (input width a power of two)
    matrices: int
    orthogonality: float  # max |R Rᵀ − I|
    function_diff: float  # |val loss of the rotated float model − float32|
    outlier_before: float  # max |w| / rms(w), largest over the matrices
    outlier_after: float
    error_before: float
    error_after: float
    val_before: float
    val_after: float


def top_channels(params: dict, n: int = 3) -> list[tuple[str, int, int, float]]:
    """The n input channels (rows) whose largest |weight| stands out most: max|row| / rms(W)."""
    found = []
    for name, w in matrices(params).items():  # (L, d_in, d_out)
        rms = jnp.sqrt(jnp.mean(jnp.square(w), axis=(1, 2)))  # (L,)
        rows = jnp.max(jnp.abs(w), axis=2) / rms[:, None]  # (L, d_in)
        for layer, channel in zip(
            *np.unravel_index(np.argsort(-np.asarray(rows), axis=None)[:n], rows.shape)
        ):
            found.append((name, int(layer), int(channel), float(rows[layer, channel])))
    return sorted(found, key=lambda t: -t[3])[:n]


def orthogonality_error(hs: dict) -> float:
    """The largest |H Hᵀ − I| over the rotations; 0 when there is none (no input width
    is a power of two, so nothing is rotated)."""
    return max(
        (float(jnp.max(jnp.abs(h @ h.T - jnp.eye(h.shape[0])))) for h in hs.values()),
        default=0.0,
    )


def compute_rotation(done: dict, *, args) -> Rotation:
    q = done["quantized"]
    params, model = q.params, GPTConfig(**q.model)
    old = matrices(params)
    widths = {w.shape[1] for w in old.values() if w.shape[1] & (w.shape[1] - 1) == 0}
    key = jax.random.fold_in(jax.random.key(args.seed), 3)
    hs = {str(n): qz.random_hadamard(jax.random.fold_in(key, n), n) for n in widths}  # (n, n)
    ortho = orthogonality_error(hs)
    same, _ = apply(params, "float32", args, hs)
    before, err_before = apply(params, "int_per_channel", args)
    after, err_after = apply(params, "int_per_channel", args, hs)
    ratio = lambda ws: max(qz.max_over_rms(w[i]) for w in ws.values() for i in range(w.shape[0]))  # noqa: E731
    turned = {
        k: jnp.einsum("ij,lio->ljo", hs[str(w.shape[1])], w) if str(w.shape[1]) in hs else w
        for k, w in old.items()
    }
    rotated_count = sum(str(w.shape[1]) in hs for w in old.values())
    return Rotation(
        f"int{args.bits} per channel", top_channels(params), rotated_count,
        len(old), ortho, abs(val_loss(same, model) - q.float32_val_loss), ratio(old), ratio(turned),
        err_before, err_after, val_loss(before, model), val_loss(after, model),
    )  # fmt: skip


def outlier_sentence(before: float, after: float, err_before: float, err_after: float) -> str:
    """What the rotation did to the largest entry (in rms of its matrix) and to the
    weight error, and what a rotation of the input channels can and cannot spread."""
    moved = "lowered" if after < before else "did not lower"
    err = "fell" if err_after < err_before else "did not fall"
    return (
        f"The rotation {moved} the largest entry ({before:.2f} → {after:.2f} times its "
        f"matrix's rms), and the weight error {err} ({display.share(err_before, 2)} → "
        f"{display.share(err_after, 2)}). Rᵀ W mixes the input channels (rows) within each "
        "column and keeps each column's length: it spreads one large entry over its column, "
        "but a column long as a whole (a loud output channel) keeps its size, spread evenly "
        "over its entries."
    )


def rotation_verdict(val_before: float, val_after: float, floor: float = 1e-3) -> str:
    """Whether the rotation helped the validation loss (by more than `floor` nats)."""
    if val_after < val_before - floor:
        return "the rotation lowered the quantized model's validation loss"
    if val_after > val_before + floor:
        return "here the rotation raised the quantized model's validation loss"
    return "the rotation changed the validation loss by less than 0.001 nats"


def say_rotation(r: Rotation, console: Console) -> None:
    rows = "; ".join(
        f"{m} layer {layer} channel {c} ({v:.1f}× rms)" for m, layer, c, v in r.top_channels
    )
    console.print(f"Largest input channels (max |w| of the row over the matrix's rms): {rows}.")
    if r.rotated == 0:
        console.print(
            "No matrix here has an input width that is a power of two, which a "
            "Sylvester-Hadamard matrix needs: nothing was rotated (try --d-model 32 or 64).\n"
        )
        return
    console.print(
        f"Rotating {r.rotated} of {r.matrices} matrices by R = D H, a normalised Hadamard "
        f"matrix with random row signs (max |R Rᵀ − I| = {r.orthogonality:.1e}): "
        "x @ W = (x R) @ (Rᵀ W), and the float "
        f"model's validation loss moves by {r.function_diff:.1e} nats (float32 rounding at most)."
    )
    table = Table(title=f"{r.scheme}, without and with the rotation")
    for col in ("", "max|w| / rms", "weight error", "val loss"):
        table.add_column(col, justify="right")
    table.add_row(
        "W", f"{r.outlier_before:.2f}", display.share(r.error_before), f"{r.val_before:.4f}"
    )
    table.add_row(
        "Rᵀ W", f"{r.outlier_after:.2f}", display.share(r.error_after), f"{r.val_after:.4f}"
    )
    console.print(display.fit(table, console))
    console.print(
        outlier_sentence(r.outlier_before, r.outlier_after, r.error_before, r.error_after)
    )
    verdict = rotation_verdict(r.val_before, r.val_after)
    console.print(f"{verdict[0].upper()}{verdict[1:]}.\n")


# ----------------------------------------------------------------------------
# 7. An int8 matmul with int32 sums against float32.


@dataclass(frozen=True)
class Matmuls:
    rows: int
    sizes: list[int]  # n of each (rows, n) @ (n, n)
    int8_ms: list[float]
    float32_ms: list[float]
    ratio_rounds: list[list[float]]  # float32 time / int8 time, round by round
    int8_bytes: list[int]
    float32_bytes: list[int]
    flops: list[int]
    exact: bool  # int8 result equals the float32 product of the same integers


def matmul_sizes(top: int) -> list[int]:
    """MATMUL_MIN, then ×4 while it stays within `top` (the last one `top` itself)."""
    sizes = [MATMUL_MIN]
    while sizes[-1] * 4 <= top:
        sizes.append(sizes[-1] * 4)
    return sizes if sizes[-1] == top else [*sizes, top]


def compute_matmuls(done: dict, *, args) -> Matmuls:
    rng = np.random.default_rng(args.seed)
    m, sizes, calls, nbytes, exact = MATMUL_ROWS, matmul_sizes(args.matmul_max), {}, {}, True
    for n in sizes:
        a8 = jnp.asarray(rng.integers(-127, 128, (m, n), dtype=np.int8))  # (m, n)
        b8 = jnp.asarray(rng.integers(-127, 128, (n, n), dtype=np.int8))  # (n, n)
        a32, b32 = a8.astype(jnp.float32), b8.astype(jnp.float32)
        calls[f"int8 {n}"] = (qz.int8_matmul, (a8, b8), True)
        calls[f"float32 {n}"] = (qz.float32_matmul, (a32, b32), True)
        if n == sizes[0]:  # products of ±127 summed over n: exact in float32 up to 2^24
            exact = bool(
                jnp.all(qz.int8_matmul(a8, b8) == qz.float32_matmul(a32, b32).astype(jnp.int32))
            )
        nbytes[n] = ((m * n + n * n) + 4 * m * n, 4 * (m * n + n * n) + 4 * m * n)
    times = timing.time_side_by_side(calls, TIMING_MS)
    return Matmuls(
        m, sizes, [times[f"int8 {n}"].median_ms for n in sizes],
        [times[f"float32 {n}"].median_ms for n in sizes],
        [timing.round_ratios(times[f"float32 {n}"], times[f"int8 {n}"]) for n in sizes],
        [nbytes[n][0] for n in sizes], [nbytes[n][1] for n in sizes],
        [roofline.matmul_flops(m, n, n) for n in sizes], exact,
    )  # fmt: skip


def winner(ratios: list[float], clear: float = CLEAR) -> str:
    """'int8', 'float32' or 'neither' from float32/int8 time ratios, round by round:
    a winner only when every round says so by more than `clear`."""
    if all(r > clear for r in ratios):
        return "int8"
    if all(r < 1 / clear for r in ratios):
        return "float32"
    return "neither"


def bytes_clause(r: Matmuls, bytes_ratio: float) -> str:
    """Whether the float32 product's time grew with its bytes over the last two sizes
    (at least half as fast) or something else set it; with one size, what should hold."""
    if len(r.sizes) < 2:
        return (
            "So it should be memory bound, its time following the bytes it moves, which "
            f"int8 cuts {bytes_ratio:.1f}×."
        )
    time_growth = r.float32_ms[-1] / r.float32_ms[-2]
    byte_growth = r.float32_bytes[-1] / r.float32_bytes[-2]
    grew = f"From n = {r.sizes[-2]:,} its time grew {time_growth:.1f}×"
    grew += f" for {byte_growth:.0f}× the bytes"
    if time_growth >= byte_growth / 2:
        return f"{grew}: it is memory bound, and int8 cuts the bytes {bytes_ratio:.1f}×."
    return (
        f"{grew}: not the bytes but something else (a call's fixed cost, or a cache that "
        f"holds both sizes) sets its time here, so int8's {bytes_ratio:.1f}× fewer bytes "
        "need not save time."
    )


def matmul_sentence(r: Matmuls) -> str:
    """Which wins at the largest size, and how that sits with the roofline."""
    ratios, n = r.ratio_rounds[-1], r.sizes[-1]
    w, bytes_ratio = winner(ratios), r.float32_bytes[-1] / r.int8_bytes[-1]
    gbs = r.float32_bytes[-1] / r.float32_ms[-1] / 1e6
    lo, hi = min(ratios), max(ratios)
    where = (
        f"At n = {n:,} the float32 product moves {r.float32_bytes[-1] / 1e6:.1f} MB (read and "
        f"written) at {gbs:.1f} GB/s; its intensity is "
        f"{r.flops[-1] / r.float32_bytes[-1]:.1f} FLOP/byte, below a CPU's or a GPU's float32 "
        f"ridge (lesson 22 measures this machine's). {bytes_clause(r, bytes_ratio)}"
    )
    if w == "int8":
        return f"{where} Here int8 wins, {lo:.1f}× to {hi:.1f}× faster over the rounds."
    if w == "float32":
        return (
            f"{where} Here float32 wins ({1 / hi:.1f}× to {1 / lo:.1f}× faster): this "
            "backend's int8 kernel does not turn the saved bytes into time."
        )
    return (
        f"{where} The rounds disagree (int8 {lo:.2f}× to {hi:.2f}× as fast), so this busy "
        "machine supports no claim of a winner."
    )


def say_matmuls(r: Matmuls, console: Console) -> None:
    table = Table(title=f"({r.rows}, n) @ (n, n): int8 with int32 sums vs float32")
    for col in ("n", "int8", "float32", "float32/int8", "winner"):
        table.add_column(col, justify="right")
    for n, a, b, rr in zip(r.sizes, r.int8_ms, r.float32_ms, r.ratio_rounds):
        table.add_row(
            f"{n:,}", display.duration(a), display.duration(b), f"{b / a:.2f}×", winner(rr)
        )
    console.print(display.fit(table, console))
    same = "equals" if r.exact else "does NOT equal"
    console.print(
        f"At n = {r.sizes[0]:,} the int32 result {same} the float32 product of the same "
        f"integers (every partial sum there is below 2^24, so float32 holds it exactly). "
        f"{matmul_sentence(r)}"
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args, loaded) -> list[sections.Section]:
    S = sections.Section
    return [
        S(
            "formats",
            compute_formats,
            say_formats,
            "Formats",
            "halving and doubling in each format",
        ),
        S(
            "accumulation",
            partial(compute_accumulation, args=args),
            say_accumulation,
            "Accumulating",
        ),
        S("mixed", partial(compute_mixed, args=args), say_mixed, "Mixed precision", ""),
        S(
            "flush",
            partial(compute_flush, args=args),
            say_flush,
            "float16 and loss scaling",
            "float16 gradients at 7 loss scales",
        ),
        S(
            "quantized",
            partial(compute_quantized, args=args, loaded=loaded),
            say_quantized,
            "Quantizing the weights",
            "quantizing five ways, evaluating each",
        ),
        S(
            "rotation",
            partial(compute_rotation, args=args),
            say_rotation,
            "Outliers and a rotation",
            "rotating and quantizing",
        ),
        S(
            "matmuls",
            partial(compute_matmuls, args=args),
            say_matmuls,
            "int8 matmul",
            "timing int8 against float32 side by side",
        ),
    ]


def results(done: dict) -> dict:
    f, a, m, fl, q, rot, mm = (
        done[k]
        for k in ("formats", "accumulation", "mixed", "flush", "quantized", "rotation", "matmuls")
    )
    return {
        "formats": {
            d: {
                **f.measured[d],
                "finfo": f.finfo[d],
                "finfo_agrees": not disagreements(f.measured[d], f.finfo[d]),
            }
            for d in DTYPES
        },
        "accumulation": {
            "count": a.count,
            "exact": a.exact,
            "sums": a.sums,
            "rel_errors": a.rel_errors,
        },
        "mixed_precision": {
            "val_float32": m.val_float32,
            "val_bf16": m.val_bf16,
            "val_float32_other_seed": m.val_float32_other_seed,
            "seed_noise": m.seed_noise,
            "eval_steps": m.eval_steps,
            "val_curves": m.val_curves,
            "loss_curves": m.loss_curves,
            "model": m.model,
        },
        "fp16_flushed_share": {
            "without": fl.without,
            "with": fl.with_scaling,
            "scale_exponent": fl.best_k,
            "exponents": fl.exponents,
            "shares": fl.shares,
            "finite": fl.finite,
        },
        "source": q.source,
        "model": q.model,
        "nf4_levels": q.nf4_levels,
        "quantized": {
            n: {
                "label": q.labels[n],
                "bytes_per_param": q.bytes_per_param[n],
                "weight_error": q.weight_error[n],
                "val_loss": q.val_loss[n],
            }
            for n in q.labels
        },
        "float32_val_loss": q.float32_val_loss,
        "int8_per_channel_within": within_verdict(
            q.val_loss["int8_per_channel"] - q.float32_val_loss
        ),
        "hadamard": {
            "scheme": rot.scheme,
            "error_before": rot.error_before,
            "error_after": rot.error_after,
            "val_before": rot.val_before,
            "val_after": rot.val_after,
            "orthogonality": rot.orthogonality,
            "function_diff": rot.function_diff,
            "outlier_before": rot.outlier_before,
            "outlier_after": rot.outlier_after,
            "top_channels": rot.top_channels,
        },
        "int8_matmul": {
            str(n): {
                "int8_ms": a8,
                "float32_ms": f32,
                "ratio_rounds": rr,
                "int8_bytes": b8,
                "float32_bytes": b32,
            }
            for n, a8, f32, rr, b8, b32 in zip(
                mm.sizes,
                mm.int8_ms,
                mm.float32_ms,
                mm.ratio_rounds,
                mm.int8_bytes,
                mm.float32_bytes,
            )
        },
        "int8_matmul_exact": mm.exact,
    }


def summary(done: dict) -> list[str]:
    m, fl, q, mm = done["mixed"], done["flush"], done["quantized"], done["matmuls"]
    gap = abs(m.val_bf16 - m.val_float32)
    d8 = q.val_loss["int8_per_channel"] - q.float32_val_loss
    nf4 = q.val_loss["nf4"] - q.float32_val_loss
    return [
        f"bfloat16 compute with float32 master weights ended {gap:.4f} nats from float32 "
        f"(two float32 seeds: {m.seed_noise:.4f}), {noise_verdict(gap, m.seed_noise)}; "
        "float16 flushed "
        f"{display.share(fl.without, 3)} of the gradient entries at the logits, "
        f"{display.share(fl.with_scaling, 3)} with the loss scaled by 2^{fl.best_k}.",
        f"int8 per channel cost {signed(d8)} nats at {q.bytes_per_param['int8_per_channel']:.3f} "
        f"bytes per weight ({'within' if within_verdict(d8) else 'NOT within'} {WITHIN}); NF4 "
        f"cost {signed(nf4)} at {q.bytes_per_param['nf4']:.3f}.",
        f"An int8 matmul at n = {mm.sizes[-1]:,}: winner {winner(mm.ratio_rounds[-1])} "
        f"(float32/int8 time {mm.float32_ms[-1] / mm.int8_ms[-1]:.2f}×).",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--checkpoint", default=str(macbeth.CHECKPOINT),
        help="the model to quantize (%(default)s); none: the float32 model trained here",
    )  # fmt: skip
    flag = partial(cli.int_flag, parser)
    flag("--d-model", 8, 512, D_MODEL, "", "width of the trained GPT")
    flag("--layers", 1, 12, LAYERS, "", "transformer blocks")
    flag(
        "--heads",
        2,
        64,
        HEADS,
        "attention of several heads, as lesson 19 trains it",
        "attention heads",
    )
    flag("--context", 8, 512, CONTEXT, "", "characters per window")
    flag("--batch", 2, 1024, BATCH, "", "windows per step")
    flag("--steps", 10, MAX_STEPS, STEPS, "a bound on time", "steps of each training run")
    flag(
        "--bits",
        2,
        8,
        BITS,
        "the integer codes are kept in int8",
        "bits of the narrow integer scheme",
    )
    flag(
        "--block",
        2,
        4096,
        BLOCK,
        "one scale per weight saves nothing",
        "input rows per scale of int-b and NF4",
    )
    flag("--sum-count", 100, 10**7, SUM_COUNT, "a bound on time", "numbers summed in bfloat16")
    flag("--matmul-max", MATMUL_MIN, 16_384, MATMUL_MAX, "", "largest n of the timed matmuls")
    args = parser.parse_args(argv)
    if args.d_model % args.heads:
        parser.error(f"--d-model {args.d_model} is not a multiple of --heads {args.heads}")
    try:
        loaded = macbeth.open_checkpoint(args.checkpoint, dtype=jnp.float32)
    except ValueError as e:
        parser.error(f"argument --checkpoint: {e}")
    model = (
        loaded[1] if loaded else GPTConfig(1, args.context, args.d_model, 1, 1, 4 * args.d_model)
    )
    widths = {model.d_model, model.d_ff}
    if any(w % args.block for w in widths):
        parser.error(
            f"argument --block: {args.block} does not divide the input widths {sorted(widths)}"
        )
    n = args.matmul_max
    cli.require_memory(
        parser, 2 * 5 * n * n, f"--matmul-max {n:,} (an int8 and a float32 n × n matrix, twice)"
    )
    need = roofline.activation_bytes(
        GPTConfig(100, args.context, args.d_model, args.layers, args.heads, 4 * args.d_model),
        args.batch,
        args.context,
        4,
    )
    cli.require_memory(parser, 4 * need, "--d-model, --layers, --context, --batch")
    sections.run(
        args,
        __file__,
        __doc__,
        build(args, loaded),
        summary=summary,
        results=results,
        kernels=(
            qz.machine_epsilon,
            qz.running_sum,
            qz.CastLoss.__call__,
            qz.logit_grads,
            qz.quantize_symmetric,
            qz.quantize_asymmetric,
            qz.nf4_levels,
            qz.quantize_codebook,
            qz.hadamard,
            qz.random_hadamard,
            qz.int8_matmul,
        ),
    )


if __name__ == "__main__":
    cli.entry(main)
