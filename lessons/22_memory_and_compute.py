"""Lesson 22 — the hardware: bytes, FLOPs, the roofline, scaling out.

The lesson-19 GPT seen as a machine sees it. Memory: parameters, Adam's two
moments and the activations a training step keeps, all from shapes. Compute:
training FLOPs per token by formula (6N + 12·L·T·d) against XLA's own count
of the compiled step. Then this machine's roofline, measured in this run: the
peak FLOP/s of a large matmul and the bandwidth of a large copy, with
kernels placed on it by their arithmetic intensity (FLOPs per byte moved):
matmuls of growing size, an element-wise op, causal attention at growing T
(its O(T²) cost measured), one prefill, one decode step and the training
step. Finally the same training step data-parallel: the batch sharded over 8
devices with a Mesh and NamedSharding (forced host devices in a subprocess on
the CPU, the real devices on a multi-GPU machine), then with shard_map, then
over two processes joined by jax.distributed on 127.0.0.1; each is compared
with the single-device step.

Run:  python lessons/22_memory_and_compute.py [--layers 2] [--d-model 64] [--heads 4]
      [--context 64] [--batch 32] [--matmul-max 1024] [--attention-max 1024]
      [--copy-size 16777216] [--devices 8] [--processes 2] [--timeout 240] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from trinity_foundations import (
    cli,
    display,
    language,
    macbeth,
    parallel,
    roofline,
    sections,
    timing,
    training,
    transformer,
)

LAYERS, D_MODEL, HEADS, CONTEXT, BATCH = 2, 64, 4, 64, 32  # lesson 19's defaults
MATMUL_MAX, MATMUL_MIN = 1024, 64
ATTENTION_MAX, ATTENTION_MIN = 1024, 64
COPY_SIZE = 2**24  # float32 elements: 64 MB, far beyond the last-level cache
DEVICES, PROCESSES, TIMEOUT = 8, 2, 240  # a busy 2-core machine needs minutes
BUDGET_MS, ROUNDS = 30.0, 3  # each kernel's timed calls, shared out over interleaved rounds
MODEL_PARTS = ("train step", "prefill", "decode")
AGREE = 1e-5  # largest |Δ| still called "the same step": float32 rounding of sums in another order
FRESH_FAULTS = 100  # page faults per call from which fresh memory is named as a cost
ABOVE_ROOF = 1.05  # a share of the roof past this is called above it
OVERHEAD = 4.0  # kernels whose times are this close, for 100× the FLOPs, wait on the call


def sci(x: float, digits: int = 3) -> str:
    """'1.46e9' for FLOP counts, rates and bytes; '512' when it is short anyway."""
    text = f"{x:.{digits}g}"
    return text.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


# ----------------------------------------------------------------------------
# What every section shares that is not a result: the model, one training
# state and batch, the compiled programs, and the check processes that run
# meanwhile (started first, so they work while this process compiles).


class Program(NamedTuple):
    """A compiled program, XLA's count of its FLOPs and bytes, and the arguments it runs on."""

    exe: Any
    flops: float
    bytes: float
    args: tuple


def compiled(fn, *args) -> Program:
    """fn jitted and compiled at these arguments, with XLA's (flops, bytes) by the CPU's
    cost model (roofline.counted: a GPU's leaves out library matmuls)."""
    exe = jax.jit(fn).lower(*args).compile()
    return Program(exe, *roofline.counted(exe, fn, *args), args)


@dataclass
class Bench:
    """The model and its inputs, the programs compiled so far, and the check processes."""

    model: transformer.GPTConfig
    train: training.TrainConfig
    state: Any  # training.init_state of the model's parameters
    batch: tuple  # (inputs, targets), (B, T) each
    folder: Path  # where the check processes read their inputs and write their outputs
    children: dict  # "dp": [the data-parallel check], "workers": [the jax.distributed ones]
    deadline: float  # time.monotonic() past which a check process is killed
    programs: dict = dataclasses.field(default_factory=dict)  # name -> Program
    reports: dict | None = None  # what the check processes printed, once they ended

    @property
    def dtype(self):
        return jax.tree_util.tree_leaves(self.state.params)[0].dtype


def set_up(args, folder: Path) -> Bench:
    """Lesson 19's GPT at the flags' sizes, its state and one batch; the checks started."""
    text = macbeth.read_text()
    vocab = language.build_vocab(text)
    tokens = jnp.asarray(language.encode(vocab, text))
    model = macbeth.model_config(vocab.size, args.d_model, args.layers, args.heads, args.context)
    train = training.TrainConfig(batch=args.batch, context=args.context)
    k_params, k_batch, _ = jax.random.split(jax.random.key(args.seed), 3)
    params = transformer.init_gpt(k_params, model)
    batch = language.sample_batch(k_batch, tokens, train.batch, train.context)  # (B, T) x2
    state = training.init_state(params, training.hyper_of(train))
    children = start_scale_out(args, parallel.Spec(model, train), folder, params, batch)
    deadline = time.monotonic() + args.timeout
    return Bench(model, train, state, batch, folder, children, deadline)


def start_scale_out(args, spec: parallel.Spec, folder: Path, params, batch) -> dict:
    """Start the data-parallel check and the multi-process workers (they run meanwhile)."""
    if not (args.devices or args.processes):
        return {"dp": [], "workers": []}
    parallel.write_inputs(folder, params, batch)
    real = jax.default_backend() != "cpu" and jax.device_count() > 1
    devices = None if real else args.devices
    dp = [parallel.launch_data_parallel(spec, folder, devices)] if args.devices else []
    workers = parallel.launch_multiprocess(spec, folder, args.processes) if args.processes else []
    return {"dp": dp, "workers": workers}


def collect_checks(children: dict, deadline: float) -> dict:
    """What each check process printed ({"error": why} for one that failed), once all ended."""
    return {
        name: [parallel.collect(p, deadline) for p in procs] for name, procs in children.items()
    }


def wait_for_checks(bench: Bench) -> dict:
    if bench.reports is None:
        bench.reports = collect_checks(bench.children, bench.deadline)
    return bench.reports


def stop(children: dict) -> None:
    for proc in [*children["dp"], *children["workers"]]:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------
# 1. Memory, from shapes (nothing runs).


@dataclass(frozen=True)
class Memory:
    params: int  # parameter count
    dtype: str
    param_bytes: int
    optimizer_bytes: int  # Adam's two moments and the mean gradient of accumulation
    activation_bytes: int  # what the backward pass keeps, for one step's batch
    tokens_per_step: int


def memory(model: transformer.GPTConfig, train: training.TrainConfig) -> Memory:
    """Parameter, optimizer-state and activation bytes, from shapes only."""
    params = jax.eval_shape(lambda: transformer.init_gpt(jax.random.key(0), model))
    opt = jax.eval_shape(
        lambda p: training.init_state(p, training.hyper_of(train)).opt_state, params
    )
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    return Memory(
        params=transformer.param_count(params),
        dtype=str(dtype),
        param_bytes=roofline.tree_bytes(params),
        optimizer_bytes=roofline.tree_bytes(opt),
        activation_bytes=roofline.activation_bytes(
            model, train.batch, train.context, jnp.dtype(dtype).itemsize
        ),
        tokens_per_step=train.batch * train.context,
    )


def say_memory(r: Memory, console: Console) -> None:
    table = Table(show_header=True)
    for col in ("what", "bytes", "MiB", "× parameters"):
        table.add_column(col, justify="right" if col != "what" else "left")
    rows = (
        ("parameters", r.param_bytes),
        ("optimizer state (Adam's moments, mean gradient)", r.optimizer_bytes),
        (
            f"activations kept for backward ({display.count(r.tokens_per_step, 'token')})",
            r.activation_bytes,
        ),
    )
    for name, nbytes in rows:
        table.add_row(name, f"{nbytes:,}", f"{nbytes / 2**20:.2f}", f"{nbytes / r.param_bytes:.2f}")
    console.print(table)
    console.print(
        f"{r.params:,} parameters in {r.dtype}. Training holds the parameters, their "
        f"gradients (as many bytes again) and the optimizer state, "
        f"{r.optimizer_bytes / r.param_bytes:.2f}× the parameters (Adam's two moments, "
        "and the mean gradient kept for accumulating micro-batches); the activations grow "
        "with batch × context (and the attention scores with context²), the weights do not."
    )


# ----------------------------------------------------------------------------
# 2. FLOPs: the formula against XLA's count of the compiled step.


@dataclass(frozen=True)
class Formula:  # 6N + 12·L·T·d per token
    per_step: int
    per_token: int
    tokens_per_step: int
    matmul_params: int  # N: the weights in matmuls, the tied output head included
    params: int
    dtype: str


@dataclass(frozen=True)
class XlaCount:  # XLA's cost model of the compiled training step
    per_step: float
    layers: int
    bytes: float
    intensity: float  # FLOP/byte


@dataclass(frozen=True)
class Flops:
    formula: Formula
    xla: XlaCount


def compile_model(model, train, state, batch) -> dict[str, Program]:
    """The training step, a prefill and a decode step, compiled, with their XLA costs.

    Each is compiled with its layers unrolled (`roofline.unrolled_forward`):
    XLA's cost model counts a loop's body once, and lesson 19's GPT runs its
    layers as one `lax.scan`. Unrolled, the same arithmetic is counted whole.
    """
    loss_fn = roofline.UnrolledLMLoss(model)
    step = partial(parallel.step_with_grads, loss_fn=loss_fn)
    out = {"train step": compiled(step, state, batch)}
    forward = partial(roofline.unrolled_forward, config=model)
    for name, t in (("prefill", model.context), ("decode", 1)):
        ids = jnp.zeros((1, t), jnp.int32)  # (1, T): one sequence
        out[name] = compiled(forward, state.params, ids)
    return out


def compute_flops(done: dict, *, bench: Bench) -> Flops:
    bench.programs.update(compile_model(bench.model, bench.train, bench.state, bench.batch))
    step, mem = bench.programs["train step"], done["memory"]
    per_token = training.flops_per_token(bench.model, bench.train.context)
    formula = Formula(
        per_step=per_token * mem.tokens_per_step,
        per_token=per_token,
        tokens_per_step=mem.tokens_per_step,
        matmul_params=training.matmul_params(bench.model),
        params=mem.params,
        dtype=mem.dtype,
    )
    xla = XlaCount(
        step.flops, bench.model.n_layers, step.bytes, roofline.intensity(step.flops, step.bytes)
    )
    return Flops(formula, xla)


def formula_clause(ratio: float) -> str:
    """What the formula's share of XLA's count says (the formula counts matmuls only)."""
    if ratio < 1:
        return (
            "XLA also counts the element-wise work of the optimizer, the softmax and the "
            "norms, which the formula leaves out"
        )
    return "the formula counts more than XLA here, so its matmul count is an upper bound"


def say_flops(r: Flops, console: Console) -> None:
    f, x = r.formula, r.xla
    ratio = f.per_step / x.per_step
    console.print(
        f"Formula: 6N + 12·L·T·d = {f.per_token:,} FLOPs per token (N = {f.matmul_params:,} "
        f"weights in matmuls, the tied output head included), {sci(f.per_step)} per step of "
        f"{f.tokens_per_step:,} tokens.\n"
        f"XLA's cost model counts a loop's body once, and the {x.layers} layers are one "
        "lax.scan, so here the step is compiled with its layers unrolled (the same "
        f"arithmetic): XLA counts {sci(x.per_step)}{roofline.count_note()}. The formula is "
        f"{ratio:.3f}× that count: {formula_clause(ratio)}.\n"
        f"Bytes accessed, by the same count: {sci(x.bytes)}; arithmetic intensity "
        f"{x.intensity:.1f} FLOP/byte."
    )


# ----------------------------------------------------------------------------
# 3. This machine's roofline: every kernel timed side by side, in the same rounds.


@dataclass(frozen=True)
class Point:  # one kernel on the roofline
    name: str
    kind: str  # matmul, element-wise, attention, train step, prefill, decode
    flops: float  # XLA's count of its compiled program
    bytes: float
    intensity: float  # FLOP/byte
    ms: float  # median of its timed calls
    flops_per_s: float
    rounds_ms: tuple[float, ...]  # the median of each round
    repeats: int
    faults_per_call: float  # minor page faults per timed call
    roof: float  # min(peak, intensity × bandwidth)
    share_of_roof: float
    bound: str  # "memory" below the ridge, "compute" at or above it
    share_rounds: tuple[float, ...]  # the share, round by round


@dataclass(frozen=True)
class Roofline:
    peak_flops: float  # the fastest matmul
    bandwidth: float  # bytes read plus bytes written per second by a large copy
    peak_rounds: tuple[float, ...]
    bandwidth_rounds: tuple[float, ...]
    ridge: float  # peak / bandwidth, FLOP/byte
    ridge_rounds: tuple[float, ...]
    rounds: int
    repeats_min: int
    repeats_max: int
    points: tuple[Point, ...]
    spread: float  # rounds further apart than this factor are called noisy
    above_roof: float  # a share of the roof past this is called above it
    uncounted: tuple[str, ...] = ()  # kernels XLA's cost model gave no count for: left off


def doubling(lo: int, hi: int) -> list[int]:
    """lo, 2·lo, 4·lo, … up to hi."""
    sizes = [lo]
    while sizes[-1] * 2 <= hi:
        sizes.append(sizes[-1] * 2)
    return sizes


def chained_copy(x: jax.Array) -> Callable[[], jax.Array]:
    """A call that copies x into the previous call's donated output (no fresh memory)."""
    box = [jnp.zeros_like(x)]

    def call():
        box[0] = roofline.copy_into(box[0], x)
        return box[0]

    return call


def compile_kernels(args, rng: np.random.Generator, dtype) -> tuple[list, Callable, int]:
    """The roofline's kernels compiled, as (name, kind, Program): matmuls, 2x + y and
    attention at each T; and the copy, as a call, with the bytes it moves.

    Their inputs are NumPy's normal draws: only their shapes matter to the
    timing, and jax.random would compile a new sampler for every shape.
    """

    def normal(*shape: int) -> jax.Array:
        return jnp.asarray(rng.standard_normal(shape, np.float32), dtype)

    parts = []
    for n in doubling(MATMUL_MIN, args.matmul_max):
        a, b = normal(n, n), normal(n, n)  # (n, n) each
        parts.append((f"matmul {n}", "matmul", compiled(roofline.matmul, a, b)))
    x, y = normal(args.copy_size), normal(args.copy_size)  # (n,) each
    parts.append(("2x + y", "element-wise", compiled(roofline.scale_add, x, y)))
    dh = args.d_model // args.heads
    for t in doubling(ATTENTION_MIN, args.attention_max):
        q, k, v = (normal(1, args.heads, t, dh) for _ in range(3))  # each (1, H, T, d_h)
        parts.append(
            (f"attention T={t}", "attention", compiled(roofline.causal_attention, q, k, v))
        )
    moved = 2 * x.size * x.dtype.itemsize  # the copy reads x once and writes it once
    return parts, chained_copy(x), moved


def place(name, kind, c: Program, t: timing.Timing, peak, bandwidth, peaks, bandwidths) -> Point:
    """A kernel on the roofline: its roof min(P, I·W), the share of the roof it reached
    (from the medians, and round by round from each round's peak and bandwidth)."""
    at = roofline.intensity(c.flops, c.bytes)
    flops_per_s = c.flops / (t.median_ms / 1e3)
    roof = roofline.attainable(at, peak, bandwidth)
    shares = tuple(
        c.flops / (ms / 1e3) / roofline.attainable(at, pk, bw)
        for ms, pk, bw in zip(t.rounds_ms, peaks, bandwidths)
    )
    return Point(
        name, kind, c.flops, c.bytes, at, t.median_ms, flops_per_s, tuple(t.rounds_ms),
        t.repeats, t.faults_per_call, roof, flops_per_s / roof,
        roofline.bound(at, peak, bandwidth), shares,
    )  # fmt: skip


def compute_roofline(done: dict, *, bench: Bench, args) -> Roofline:
    parts, copy, moved = compile_kernels(args, np.random.default_rng(args.seed), bench.dtype)
    parts += [(name, name, bench.programs[name]) for name in MODEL_PARTS]
    uncounted = tuple(name for name, _, c in parts if min(c.flops, c.bytes) < 0)
    parts = [part for part in parts if part[0] not in uncounted]
    # The check processes end before anything is timed: nothing else this lesson
    # started competes for the machine. Every kernel is timed in the same
    # interleaved rounds, so a slow spell of the machine falls on all alike.
    wait_for_checks(bench)
    calls = {name: (c.exe, c.args, True) for name, _, c in parts}
    calls["copy"] = (copy, (), True)
    times = timing.time_side_by_side(calls, BUDGET_MS, rounds=ROUNDS)
    bandwidth = moved / (times["copy"].median_ms / 1e3)
    bandwidths = tuple(moved / (ms / 1e3) for ms in times["copy"].rounds_ms)
    matmuls = [(c, times[name]) for name, kind, c in parts if kind == "matmul"]
    peak = max(c.flops / (t.median_ms / 1e3) for c, t in matmuls)
    peaks = tuple(max(c.flops / (t.rounds_ms[i] / 1e3) for c, t in matmuls) for i in range(ROUNDS))
    points = tuple(
        place(name, kind, c, times[name], peak, bandwidth, peaks, bandwidths)
        for name, kind, c in parts
    )
    return Roofline(
        peak_flops=peak,
        bandwidth=bandwidth,
        peak_rounds=peaks,
        bandwidth_rounds=bandwidths,
        ridge=roofline.ridge(peak, bandwidth),
        ridge_rounds=tuple(roofline.ridge(p, b) for p, b in zip(peaks, bandwidths)),
        rounds=ROUNDS,
        repeats_min=min(t.repeats for t in times.values()),
        repeats_max=max(t.repeats for t in times.values()),
        points=points,
        spread=timing.SPREAD,
        above_roof=ABOVE_ROOF,
        uncounted=uncounted,
    )


def spread_note(values, fmt: str, spread: float) -> str:
    """' (rounds: lo to hi)' when the per-round values disagree by more than `spread`
    times, else '': a noisy machine's figure says so."""
    found = timing.spread(list(values), spread)
    return "" if found is None else f" (rounds: {found[0]:{fmt}} to {found[1]:{fmt}})"


def noisy_rows(points, spread: float) -> str:
    """A sentence naming the kernels whose share of the roof disagreed between rounds
    by more than `spread` times, or '' when none did."""
    rows = []
    for p in points:
        found = timing.spread(list(p.share_rounds), spread)
        if found:
            rows.append(f"{p.name} {found[0]:.0%} to {found[1]:.0%}")
    if not rows:
        return ""
    return (
        f"The machine was busy: the rounds disagreed by more than {spread}× on "
        f"{', '.join(rows)} (share of the roof, lowest to highest round); read those rows "
        "as rough.\n"
    )


def above_roof(points, limit: float) -> str:
    """A sentence for kernels that beat their roof (a share past `limit`), or '' when none does."""
    over = [p.name for p in points if p.share_of_roof > limit]
    if not over:
        return ""
    return (
        f"Above their roof: {', '.join(over)}. The sloped roof is one copy's bandwidth, "
        "and a kernel can read faster than that copy did, for instance from a cache that "
        "holds its data; this run measures no cache level, so a roofline per level (and "
        "the reason here) is beyond it.\n"
    )


def overhead_bound(points) -> tuple[float, float] | None:
    """(fastest, slowest) median ms of the kernels (the model's parts aside) when their
    times are within OVERHEAD× of each other though their FLOPs span 100× or more: a
    per-call cost, not the work, set them. None when the times spread with the work."""
    kernels = [p for p in points if p.kind not in MODEL_PARTS]
    ms, flops = [p.ms for p in kernels], [p.flops for p in kernels]
    if not kernels or max(ms) > OVERHEAD * min(ms) or max(flops) < 100 * min(flops):
        return None
    return min(ms), max(ms)


def overhead_sentence(points) -> str:
    found = overhead_bound(points)
    if found is None:
        return ""
    return (
        f"Every kernel here took between {found[0]:.3g} and {found[1]:.3g} ms, though their "
        "FLOPs span orders of magnitude: the cost of a call (launch and sync) set these "
        "times, not the work, so the peak and bandwidth above are far below what this "
        "machine can do. Larger --matmul-max, --copy-size and --attention-max bring the "
        "measurements closer to its roofs.\n"
    )


def uncounted_sentence(names) -> str:
    if not names:
        return ""
    return (
        f"Left off: {', '.join(names)}. XLA's cost model gave no count for "
        f"{'its' if len(names) == 1 else 'their'} compiled program (it reports -1).\n"
    )


def roofline_chart(r: Roofline) -> str:
    kinds = {}
    for p in r.points:
        kinds.setdefault(p.kind, []).append((p.intensity, p.flops_per_s))
    lo = min(p.intensity for p in r.points) / 2
    hi = max(p.intensity for p in r.points) * 2
    xs = np.geomspace(lo, hi, 120)
    roof = [(float(i), roofline.attainable(float(i), r.peak_flops, r.bandwidth)) for i in xs]
    return display.loglog_scatter(
        kinds,
        lines={"roof: min(peak, I × bandwidth)": roof},
        x_label="FLOP/byte",
        y_label="FLOP/s",
    )


def say_roofline(r: Roofline, console: Console) -> None:
    console.print(
        f"Peak: {sci(r.peak_flops)} FLOP/s, the fastest of the matmuls below. Bandwidth: "
        f"{r.bandwidth / 1e9:.1f} GB/s, a copy in memory (bytes read plus bytes written). "
        f"Ridge: {r.ridge:.1f} FLOP/byte{spread_note(r.ridge_rounds, '.1f', r.spread)}; below "
        "it a kernel is memory bound. FLOPs and bytes of each kernel are XLA's count of its "
        f"compiled program{roofline.count_note()}; times are "
        f"medians of {r.repeats_min} to {r.repeats_max} synced "
        f"calls after a warm-up, every kernel timed in the same {r.rounds} interleaved rounds.\n"
    )
    table = Table(show_header=True, padding=(0, 1), box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("kernel", "FLOPs", "bytes", "FLOP/B", "ms", "FLOP/s", "of\nroof", "bound"):
        table.add_column(
            col, justify="left" if col in ("kernel", "bound") else "right", no_wrap=True
        )
    for p in r.points:
        table.add_row(
            p.name,
            sci(p.flops, 2),
            sci(p.bytes, 2),
            f"{p.intensity:.3g}",
            f"{p.ms:.3g}",
            sci(p.flops_per_s, 2),
            f"{p.share_of_roof:.0%}",
            p.bound,
        )
    console.print(table)
    console.print(
        noisy_rows(r.points, r.spread)
        + above_roof(r.points, r.above_roof)
        + overhead_sentence(r.points)
        + uncounted_sentence(r.uncounted)
        + roofline_chart(r)
    )


# ----------------------------------------------------------------------------
# 4. Attention's O(T²), measured: its times from the roofline's rounds.


@dataclass(frozen=True)
class Attention:
    t: tuple[int, ...]  # the lengths timed
    ms: tuple[float, ...]
    flops: tuple[float, ...]
    faults_per_call: tuple[float, ...]
    score_bytes: tuple[int, ...]  # one (1, H, T, T) score matrix
    slope: float | None  # the growth exponent between the two longest T
    slope_rounds: tuple[float, ...]  # the same, round by round
    spread: float  # rounds further apart than this factor are called noisy
    fresh_faults: int  # page faults per call from which fresh memory is named as a cost


def attention_times(points, heads: int, itemsize: int, spread: float) -> Attention:
    """Attention's times by T, its page faults, and the growth exponent between the two
    longest T, from the medians and round by round."""
    att = [p for p in points if p.kind == "attention"]
    t = tuple(int(p.name.split("=")[1]) for p in att)
    ms = tuple(p.ms for p in att)
    slope, rounds = None, ()
    if len(att) >= 2:
        slope = roofline.loglog_slope(t[-2:], ms[-2:])
        pairs = zip(att[-2].rounds_ms, att[-1].rounds_ms)
        rounds = tuple(roofline.loglog_slope(t[-2:], [a, b]) for a, b in pairs)
    return Attention(
        t=t,
        ms=ms,
        flops=tuple(p.flops for p in att),
        faults_per_call=tuple(p.faults_per_call for p in att),
        score_bytes=tuple(heads * n * n * itemsize for n in t),
        slope=slope,
        slope_rounds=rounds,
        spread=spread,
        fresh_faults=FRESH_FAULTS,
    )


def compute_attention(done: dict, *, heads: int, bench: Bench) -> Attention:
    r = done["roofline"]
    return attention_times(r.points, heads, bench.dtype.itemsize, r.spread)


def fresh_memory(a: Attention) -> bool:
    """Whether the longest attention took many page faults per call, and many more
    than the length before it: fresh memory for its scores, zero-filled page by page."""
    faults = a.faults_per_call
    return len(faults) >= 2 and faults[-1] >= a.fresh_faults and faults[-1] > 4 * faults[-2]


def slope_verdict(slope: float | None, a: Attention | None = None) -> str:
    """What the measured exponent of attention's time in T says; `a` (the attention
    times, with their page faults) backs the explanation of a slope steeper than 2."""
    if slope is None:
        return "only one length was timed, so no growth rate is measured"
    if slope > 2.4:
        if a and fresh_memory(a):
            t, faults, scores = a.t, a.faults_per_call, a.score_bytes[-1]
            return (
                f"steeper than T². At T = {t[-1]:,} each call also took {faults[-1]:,.0f} page "
                f"faults (against {faults[-2]:,.0f} at T = {t[-2]:,}): its "
                f"{scores / 1e6:.1f} MB of scores land in fresh memory, which the operating "
                "system zero-fills a page at a time, a cost on top of the arithmetic"
            )
        return (
            "steeper than T², and not from fresh memory (few page faults per call): this "
            "run does not show why, and a busy machine can do it"
        )
    if slope >= 1.7:
        return "close to the 2 of the T² score matrix, so doubling T quadruples the work"
    if slope >= 1.2:
        return "between linear and quadratic, so at these lengths fixed costs still hide part of T²"
    shape = "near linear" if slope >= 0.8 else "below linear"
    return f"{shape}, so at these lengths the per-call overhead, not the T² work, sets the time"


def say_attention(a: Attention, console: Console) -> None:
    times = ", ".join(f"T={t}: {ms:.3g} ms" for t, ms in zip(a.t, a.ms))
    slope = ""
    if a.slope is not None:
        noise = spread_note(a.slope_rounds, ".2f", a.spread)
        slope = f"Between the two longest, time grows as T^{a.slope:.2f}{noise}: "
    console.print(f"Causal attention, one sequence: {times}.\n{slope}{slope_verdict(a.slope, a)}.")


# ----------------------------------------------------------------------------
# 5. Prefill against decode.


@dataclass(frozen=True)
class Inference:
    prefill_intensity: float  # FLOP/byte of the whole context of one sequence at once
    decode_intensity: float  # of one new token
    decode_bound: str  # "memory" or "compute", by its intensity
    decode_share: float  # of its roof, this run
    cache_intensity: float  # FLOP/byte of attending over a KV cache in this dtype
    above_roof: float  # a share of the roof past this is called above it


def cache_intensity(dtype: str) -> float:
    """FLOP/byte of attending over a KV cache: 4·L·T·d FLOPs per 2·L·T·d numbers read."""
    return 4 / (2 * np.dtype(dtype).itemsize)


def compute_inference(done: dict) -> Inference:
    r = done["roofline"]
    by_name = {p.name: p for p in r.points}
    pre, dec = by_name["prefill"], by_name["decode"]
    return Inference(
        prefill_intensity=pre.intensity,
        decode_intensity=dec.intensity,
        decode_bound=dec.bound,
        decode_share=dec.share_of_roof,
        cache_intensity=cache_intensity(done["memory"].dtype),
        above_roof=r.above_roof,
    )


def decode_bound(bound: str, share: float, limit: float) -> str:
    """Which side of the ridge the decode step's intensity puts it, and how close to its
    roof it ran: a step above its roof (a share past `limit`) was not held back by the
    copy's bandwidth."""
    if share > limit:
        return (
            f"by its intensity decode is {bound} bound, though this run it beat that roof "
            f"({share:.0%}: it read faster than the copy did, as above)"
        )
    return f"decode is {bound} bound ({share:.0%} of its roof)"


def say_inference(r: Inference, console: Console) -> None:
    console.print(
        f"Prefill (the whole context of one sequence at once) does {r.prefill_intensity:.3g} "
        f"FLOP/byte; a decode step (one new token) {r.decode_intensity:.3g}: every weight is "
        "read to produce one token, one multiply-add per weight read, so "
        f"{decode_bound(r.decode_bound, r.decode_share, r.above_roof)}, and batching "
        "requests, not faster arithmetic, is what speeds it up. (This decode step reads no "
        "KV cache. A cache of T positions adds 4·L·T·d FLOPs per token and 2·L·T·d cached "
        f"numbers to read: two FLOPs per number, {r.cache_intensity:g} FLOP/byte in this "
        "dtype, one multiply-add per number read as for the weights: as the context grows, "
        "a decode step's intensity tends to that figure.)"
    )


# ----------------------------------------------------------------------------
# 6. Scaling out: the same step on many devices, against the single-device step.


@dataclass(frozen=True)
class DataParallel:  # the jit-sharded step: batch P('data'), parameters P()
    ok: bool
    reason: str | None  # why it did not run
    backend: str | None
    devices: int | None
    params_max_diff: float | None  # max |Δ| against the single-device step
    grads_max_diff: float | None


@dataclass(frozen=True)
class ShardMap:  # the same step written with shard_map and pmean(loss)
    ok: bool
    params_max_diff: float | None
    grads_max_diff: float | None
    textbook_grads_ratio: float | None  # |pmean of each device's gradient| / |true gradient|


@dataclass(frozen=True)
class Multiprocess:  # processes on 127.0.0.1 joined by jax.distributed
    ok: bool
    reason: str | None
    processes: int
    devices: int | None = None
    local_devices: int | None = None
    params_max_diff: float | None = None
    grads_max_diff: float | None = None
    between_processes_max_diff: float | None = None


@dataclass(frozen=True)
class ScaleOut:
    dp: DataParallel
    shard_map: ShardMap
    allreduce_count: int | None  # all-reduce instructions in the sharded step's HLO
    allreduce_executed: int | None  # how many run per step
    n_layers: int
    multiprocess: Multiprocess
    agree: float  # largest |Δ| still called "the same step"


def reference_step(bench: Bench) -> tuple:
    """The single-device step the checks are compared with: (new state, gradients).

    The check processes run on the CPU (unless several accelerators serve the
    data-parallel one), so on an accelerator the reference is computed on the
    CPU too: a GPU's float32 matmuls may round differently (TF32).
    """
    if jax.default_backend() == "cpu":
        new_state, _, grads = bench.programs["train step"].exe(bench.state, bench.batch)
        return new_state, grads
    cpu = jax.devices("cpu")[0]
    loss_fn = training.LMLoss(bench.model)
    step = partial(parallel.step_with_grads, loss_fn=loss_fn)
    new_state, _, grads = jax.jit(step)(*jax.device_put((bench.state, bench.batch), cpu))
    return new_state, grads


def read_checks(reports: dict, folder: Path, ref_params, ref_grads) -> tuple[dict, dict]:
    """The checks' reports and outputs against the single-device step: (dp, multiprocess)."""
    dp = {"ok": False, "reason": "skipped (--devices 0)"}
    if reports["dp"]:
        dp = parallel.data_parallel_result(reports["dp"][0], folder, ref_params, ref_grads)
    mp = {"ok": False, "reason": "skipped (--processes 0)", "processes": 0}
    if reports["workers"]:
        mp = parallel.multiprocess_result(reports["workers"], folder, ref_params, ref_grads)
    return dp, mp


def scale_out_result(dp: dict, mp: dict, *, n_layers: int, agree: float) -> ScaleOut:
    return ScaleOut(
        dp=DataParallel(**{f.name: dp.get(f.name) for f in dataclasses.fields(DataParallel)}),
        shard_map=ShardMap(
            ok=dp["ok"],
            params_max_diff=dp.get("shard_map_params_max_diff"),
            grads_max_diff=dp.get("shard_map_grads_max_diff"),
            textbook_grads_ratio=dp.get("textbook_grads_ratio"),
        ),
        allreduce_count=dp.get("allreduce_count"),
        allreduce_executed=dp.get("allreduce_executed"),
        n_layers=n_layers,
        multiprocess=Multiprocess(**mp),
        agree=agree,
    )


def compute_scale_out(done: dict, *, bench: Bench) -> ScaleOut:
    ref_state, ref_grads = reference_step(bench)
    dp, mp = read_checks(wait_for_checks(bench), bench.folder, ref_state.params, ref_grads)
    return scale_out_result(dp, mp, n_layers=bench.model.n_layers, agree=AGREE)


def agreement(diff: float | None, what: str, agree: float) -> str:
    """'equal to one device's …' within `agree`, or the size of the disagreement."""
    if diff is None:
        return f"{what}: not compared"
    if diff <= agree:
        return f"{what} equal to the single-device step's up to rounding (max |Δ| {diff:.1e})"
    return f"{what} differ from the single-device step's by up to {diff:.1e}: more than rounding"


def textbook_sentence(ratio: float | None, devices: int | None) -> str:
    """What a pmean of the per-device gradients gave inside shard_map."""
    if ratio is None:
        return "The pmean-of-gradients recipe was not run."
    if devices and abs(ratio - devices) < 0.01 * devices:
        return (
            f"A pmean of each device's own gradient gives {ratio:.3f}× the true gradient, "
            f"the device count ({devices}): inside shard_map the gradient of a replicated "
            "parameter already arrives summed over the devices (the transpose of copying one "
            "value to every device is summing over them), so averaging afterwards leaves the "
            "sum. Differentiate pmean(loss) instead, as the step above does."
        )
    if abs(ratio - 1) < 0.01:
        return (
            f"A pmean of each device's own gradient gives {ratio:.3f}× the true gradient: in this "
            "JAX the per-device gradients are not pre-summed, and the textbook recipe is right."
        )
    return f"A pmean of each device's own gradient gives {ratio:.3f}× the true gradient."


def allreduce_sentence(instructions: int, executed: int, layers: int) -> str:
    """What the sharded training step sends: its all-reduce instructions, and how many
    run per step (one inside the scan over layers runs once per layer)."""
    said = (
        f"The compiled training step holds {display.count(instructions, 'all-reduce')}, "
        f"{executed:,} run per step"
    )
    if executed > instructions:
        said += (
            f": the backward pass over the {display.count(layers, 'layer')} is one loop, "
            "and each trip averages that layer's gradient"
        )
    return (
        f"{said}. XLA averages the gradient (one number per parameter, whatever the "
        "batch) and packs many leaves into each message."
    )


def multiprocess_sentence(mp: Multiprocess, agree: float) -> str:
    if not mp.ok:
        return f"Two processes joined by jax.distributed: not run here ({mp.reason})."
    worst = max(mp.params_max_diff, mp.grads_max_diff)
    same = "identical" if mp.between_processes_max_diff == 0 else "nearly identical"
    return (
        f"{mp.processes} processes on 127.0.0.1, {mp.local_devices} CPU device each, saw "
        f"{mp.devices} devices after jax.distributed.initialize (gloo collectives) and ran "
        f"the sharded step, each feeding its own rows of the batch: "
        f"{agreement(worst, 'new parameters and gradients', agree)}"
        f"; the processes' copies are {same} (max |Δ| {mp.between_processes_max_diff:.1e})."
    )


def say_scale_out(r: ScaleOut, console: Console) -> None:
    dp, sm, agree = r.dp, r.shard_map, r.agree
    if not dp.ok:
        console.print(f"Data-parallel step: not run ({dp.reason}).")
    else:
        console.print(
            f"Mesh of {dp.devices} {dp.backend} devices, batch sharded "
            "(NamedSharding(mesh, P('data'))), parameters replicated (P()): "
            f"{agreement(dp.params_max_diff, 'new parameters', agree)}; "
            f"{agreement(dp.grads_max_diff, 'gradients', agree)} (Adam's step hardly changes "
            "when every gradient is scaled alike, so the gradients carry this check). "
            f"{allreduce_sentence(r.allreduce_count, r.allreduce_executed, r.n_layers)}\n"
            f"shard_map with the mean loss, lax.pmean(loss): "
            f"{agreement(sm.params_max_diff, 'new parameters', agree)}; "
            f"{agreement(sm.grads_max_diff, 'gradients', agree)}.\n"
            f"{textbook_sentence(sm.textbook_grads_ratio, dp.devices)}"
        )
    console.print(multiprocess_sentence(r.multiprocess, agree))


# ----------------------------------------------------------------------------
# What you saw.


def memory_bullet(m: Memory, f: Flops) -> str:
    """Where a training step's bytes go, and how close the FLOP formula came."""
    weights = 2 * m.param_bytes + m.optimizer_bytes  # parameters, gradients, optimizer state
    most = (
        "the activations, which grow with batch × context, are most of it"
        if m.activation_bytes > weights
        else "the parameters, their gradients and the optimizer state are most of it"
    )
    total = (weights + m.activation_bytes) / 2**20
    ratio = f.formula.per_step / f.xla.per_step
    return (
        f"A training step of the {m.params:,}-parameter GPT holds about {total:.2f} MiB, and "
        f"{most}; the formula 6N + 12·L·T·d came to {ratio:.3f}× XLA's count of its FLOPs."
    )


def roofline_bullet(r: Roofline, i: Inference) -> str:
    """The machine's two roofs, and which kinds of kernel sat under the sloped one."""
    slow = [p.kind for p in r.points if p.bound == "memory"]
    under = (
        f"{len(slow)} of {len(r.points)} kernels were memory bound, of kinds "
        f"{', '.join(dict.fromkeys(slow))}"
        if slow
        else "no kernel was memory bound"
    )
    overhead = (
        " (every kernel's time was mostly the cost of a call)" if overhead_bound(r.points) else ""
    )
    return (
        f"This machine peaked at {sci(r.peak_flops)} FLOP/s and copied {r.bandwidth / 1e9:.1f} "
        f"GB/s{overhead}, a ridge at {r.ridge:.1f} FLOP/byte; {under}. Decode did "
        f"{i.decode_intensity:.3g} FLOP/byte against prefill's {i.prefill_intensity:.3g}."
    )


def scale_out_bullet(r: ScaleOut) -> str:
    """Which scale-out checks ran, and whether they gave the single-device step."""
    ran, diffs, missing = [], [], []
    if r.dp.ok:
        ran.append(f"{r.dp.devices} {r.dp.backend} devices (jit with NamedSharding, and shard_map)")
        sm = r.shard_map
        diffs += [r.dp.params_max_diff, r.dp.grads_max_diff, sm.params_max_diff]
        diffs.append(sm.grads_max_diff)
    else:
        missing.append(f"the data-parallel step ({r.dp.reason})")
    mp = r.multiprocess
    if mp.ok:
        ran.append(f"{mp.processes} processes joined by jax.distributed")
        diffs += [mp.params_max_diff, mp.grads_max_diff]
    else:
        missing.append(f"the {mp.processes or 'two'}-process step ({mp.reason})")
    if not ran:
        return f"No scale-out check ran here: {' and '.join(missing)}."
    worst = max(diffs)
    verdict = "equal to" if worst <= r.agree else "different, beyond rounding, from"
    said = (
        f"The training step on {' and on '.join(ran)} was {verdict} the single-device step "
        f"(max |Δ| {worst:.1e})"
    )
    return said + (f"; not run: {', '.join(missing)}." if missing else ".")


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [
        memory_bullet(done["memory"], done["flops"]),
        roofline_bullet(done["roofline"], done["inference"]),
        scale_out_bullet(done["scale_out"]),
    ]


# ----------------------------------------------------------------------------
# The lesson.


def build(args, bench: Bench) -> list[sections.Section]:
    S = sections.Section
    return [
        S("memory", lambda done: memory(bench.model, bench.train), say_memory,
          title="Memory, from shapes"),
        S("flops", partial(compute_flops, bench=bench), say_flops,
          title="FLOPs: the formula against XLA's count",
          doing="compiling the training step, a prefill and a decode step"),
        S("roofline", partial(compute_roofline, bench=bench, args=args), say_roofline,
          title="This machine's roofline, measured now",
          doing=f"compiling the kernels, letting the checks finish, timing {ROUNDS} rounds"),
        S("attention", partial(compute_attention, heads=args.heads, bench=bench),
          say_attention, title="Attention's O(T²), measured"),
        S("inference", compute_inference, say_inference, title="Prefill against decode"),
        S("scale_out", partial(compute_scale_out, bench=bench), say_scale_out,
          title="Scaling out: one step, many devices",
          doing="comparing the checks with the single-device step"),
    ]  # fmt: skip


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract."""
    m, f, r, a, s = (done[k] for k in ("memory", "flops", "roofline", "attention", "scale_out"))
    asdict = dataclasses.asdict
    attention = {k: v for k, v in asdict(a).items() if k not in ("spread", "fresh_faults")}
    mp = asdict(s.multiprocess)
    if not s.multiprocess.ok:  # a check that did not run says only why
        mp = {k: mp[k] for k in ("ok", "reason", "processes")}
    return {
        "param_bytes": m.param_bytes,
        "optimizer_bytes": m.optimizer_bytes,
        "activation_bytes": m.activation_bytes,
        "flops_formula": asdict(f.formula),
        "flops_xla": asdict(f.xla),
        "peak_flops": r.peak_flops,
        "bandwidth": r.bandwidth,
        "peak_rounds": r.peak_rounds,
        "bandwidth_rounds": r.bandwidth_rounds,
        "timing": {"rounds": r.rounds, "repeats_min": r.repeats_min, "repeats_max": r.repeats_max},
        "roofline_points": [asdict(p) for p in r.points],
        "attention_times": attention,
        "dp_max_diff": asdict(s.dp),
        "allreduce_count": s.allreduce_count,
        "allreduce_executed": s.allreduce_executed,
        "n_layers": s.n_layers,
        "shard_map_max_diff": asdict(s.shard_map),
        "multiprocess": mp,
    }


KERNELS = (
    roofline.matmul,
    roofline.copy_into,
    roofline.causal_attention,
    parallel.batch_sharded,
    parallel.shard_map_step,
)


# ----------------------------------------------------------------------------
# Command line.


def zero_or(lo: int, hi: int, why: str):
    """The type of a count that is 0 (skip the check) or from lo to hi: one device or one
    process has nobody to share the batch with."""
    between = cli.int_in(lo, hi, why)

    def parse(text: str) -> int:
        try:
            if int(text) == 0:
                return 0
        except ValueError:
            pass  # `between` says what is wrong with it
        return between(text)

    return parse


def parse(argv: list[str] | None):
    p = cli.parser(__doc__, seed=0)

    flag = partial(cli.int_flag, p)

    flag("--layers", 1, 12, LAYERS, "compile time", "transformer blocks")
    flag("--d-model", 8, 1024, D_MODEL, "memory and time", "model width d")
    flag("--heads", 1, 16, HEADS, "a divisor of d", "attention heads")
    flag("--context", 8, 1024, CONTEXT, "memory and time", "tokens per sequence T")
    flag(
        "--batch",
        8,
        1024,
        BATCH,
        "memory and time",
        "sequences per step (a multiple of --devices and --processes)",
    )
    flag(
        "--matmul-max",
        MATMUL_MIN,
        4096,
        MATMUL_MAX,
        "time: 2·n³ FLOPs per call",
        "largest matmul side n",
    )
    flag(
        "--attention-max",
        ATTENTION_MIN,
        4096,
        ATTENTION_MAX,
        "memory: H·T² scores",
        "longest attention T",
    )
    flag("--copy-size", 2**16, 2**28, COPY_SIZE, "memory", "elements of the copy and 2x + y")
    p.add_argument(
        "--devices",
        type=zero_or(2, 64, "host devices in one process"),
        default=DEVICES,
        help="devices of the data-parallel check, 2 to 64, or 0 to skip (default: %(default)s)",
    )
    p.add_argument(
        "--processes",
        type=zero_or(2, 4, "processes on this machine"),
        default=PROCESSES,
        help="processes of the jax.distributed check, 2 to 4, or 0 to skip (default: %(default)s)",
    )
    flag("--timeout", 10, 600, TIMEOUT, "seconds", "time limit of the check processes, seconds")
    args = p.parse_args(argv)
    if args.d_model % args.heads:
        p.error(f"argument --heads: {args.heads} does not divide --d-model {args.d_model}")
    for n, name in ((args.devices, "--devices"), (args.processes, "--processes")):
        if n and args.batch % n:
            p.error(f"argument --batch: {args.batch} sequences do not split over {name} {n}")
    itemsize = 8 if jax.config.jax_enable_x64 else 4
    vocab = 128  # at most: Macbeth's characters are fewer
    model = macbeth.model_config(vocab, args.d_model, args.layers, args.heads, args.context)
    need = itemsize * (
        3 * args.matmul_max**2 + 4 * args.copy_size + 6 * args.heads * args.attention_max**2
    ) + 6 * roofline.activation_bytes(model, args.batch, args.context, itemsize)
    cli.require_memory(p, need, "--matmul-max, --copy-size, --attention-max and the model")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    sections.open_lesson(args, __file__, __doc__)  # before the seconds of setting up
    with tempfile.TemporaryDirectory(prefix="lesson22-") as tmp:
        with cli.working(args, "building the model, starting the check processes"):
            bench = set_up(args, Path(tmp))
        try:
            sections.run(
                args,
                __file__,
                __doc__,
                build(args, bench),
                summary=summary,
                results=results,
                kernels=KERNELS,
            )
        finally:
            stop(bench.children)


if __name__ == "__main__":
    cli.entry(main)
