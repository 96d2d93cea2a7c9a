"""Lesson 24 — kernels written by hand: softmax, tiles, Pallas.

Softmax three ways (two passes, one online pass, tiles), each checked against
jax.nn.softmax; then a tiled matmul and FlashAttention's forward pass written
as Pallas kernels and checked against jnp.dot and plain attention; then the
same tiling in plain JAX, whose compiled program holds one tile of scores
where naive attention holds a (T, T) matrix per head: watch the temporary
memory XLA reports as T grows, and where both land on this machine's
roofline. On a CPU the Pallas kernels are interpreted (emulated, not timed).

Run:  python lessons/24_kernels.py [--length 1024] [--block-q 128] [--block-k 128]
      [--heads 4] [--head-dim 64] [--pallas-length 128] [--memory-max 4096] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import dataclasses
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, kernels, roofline, sections, timing
from trinity_foundations import pallas_kernels as pk

LENGTH, BLOCK_Q, BLOCK_K, HEADS, HEAD_DIM = 1024, 128, 128, 4, 64
PALLAS_LENGTH, PALLAS_BLOCK = 128, 32  # interpreted Pallas is slow: small sizes on a CPU
MEMORY_MIN, MEMORY_MAX, PINNED_T = 256, 4096, 2048
SOFTMAX_SHAPE, SOFTMAX_TILE, SOFTMAX_SCALE = (8, 1024), 128, 30.0
MATMUL_SHAPE = (128, 64, 96)  # (m, k, n), in blocks of PALLAS_BLOCK
PEAK_N, COPY_SIZE, BUDGET_MS = 1024, 2**24, 40.0  # lesson 22's roofline, measured again
TOLERANCE = 1e-5  # float32: the largest |Δ| still called equal


def doubling(lo: int, hi: int) -> list[int]:
    """lo, 2·lo, 4·lo, … up to hi."""
    out = [lo]
    while out[-1] * 2 <= hi:
        out.append(out[-1] * 2)
    return out


def qkv(key, heads: int, t: int, d: int):
    """Queries, keys and values of one sequence, each (H, T, d), float32 normal draws."""
    return tuple(
        jax.random.normal(k, (heads, t, d), jnp.float32) for k in jax.random.split(key, 3)
    )  # float32 also under JAX_ENABLE_X64: the tolerances and byte counts are float32's


def agree_word(diff: float, tol: float) -> str:
    """'equal' when a largest difference is within the float32 tolerance, else 'DIFFERENT'."""
    return "equal" if diff <= tol else "DIFFERENT"


def matched(ok: bool) -> str:
    """The summary's verb for a check within its tolerance, or one that failed."""
    return "matched" if ok else "did NOT match"


def check_lengths(length: int, block_q: int, block_k: int) -> list[int]:
    """T/4, T/2 and T, those that both block sizes divide (T itself always qualifies)."""
    return [t for t in (length // 4, length // 2, length) if t % block_q == 0 == t % block_k]


# ----------------------------------------------------------------------------
# 1. Softmax, three ways.


@dataclass(frozen=True)
class Softmax:
    shape: tuple[int, int]
    tile: int
    max_diff: dict[str, float]  # method -> largest |Δ| from jax.nn.softmax
    tolerance: float


def compute_softmax(done: dict, *, seed: int) -> Softmax:
    x = jax.random.normal(jax.random.key(seed), SOFTMAX_SHAPE, jnp.float32)  # (rows, n)
    x = SOFTMAX_SCALE * x  # (rows, n)
    want = jax.nn.softmax(x, axis=-1)  # (rows, n)
    methods = {
        "two_pass": jax.jit(kernels.softmax_two_pass),
        "online": jax.jit(kernels.softmax_online),
        "tiled": jax.jit(partial(kernels.softmax_tiled, tile=SOFTMAX_TILE)),
    }
    diffs = {name: float(jnp.max(jnp.abs(f(x) - want))) for name, f in methods.items()}
    return Softmax(SOFTMAX_SHAPE, SOFTMAX_TILE, diffs, TOLERANCE)


def say_softmax(r: Softmax, console: Console) -> None:
    rows, n = r.shape
    table = Table(title=f"Softmax of {rows} rows of {n:,} logits")
    for col in ("method", "reads for m and s", "max |Δ| vs jax.nn"):
        table.add_column(col, justify="left" if col == "method" else "right")
    reads = {"two_pass": "twice", "online": "once", "tiled": f"once, {r.tile} at a time"}
    for name, diff in r.max_diff.items():
        table.add_row(name.replace("_", " "), reads[name], f"{diff:.1e}")
    console.print(table)
    worst = max(r.max_diff.values())
    console.print(
        f"All three are {agree_word(worst, r.tolerance)} to jax.nn.softmax (largest "
        f"|Δ| {worst:.1e}, tolerance {r.tolerance:g}). The online form keeps a running "
        "maximum m and sum s; a larger maximum m' rescales the sum by exp(m − m'). The "
        "same rule merges two tiles' statistics, which is what lets attention work a "
        "tile at a time."
    )


# ----------------------------------------------------------------------------
# 2. Two Pallas kernels, checked.


@dataclass(frozen=True)
class Pallas:
    interpret: bool  # True: emulated on the CPU, not compiled for a GPU
    backend: str
    matmul_shape: tuple[int, int, int]
    block: int
    matmul_max_diff: float  # vs jnp.dot
    lengths: list[int]
    flash_max_diff: dict[str, dict[int, float]]  # causal/full -> T -> |Δ| vs naive attention
    tolerance: float


def compute_pallas(done: dict, *, args) -> Pallas:
    interpret = jax.default_backend() != "gpu"
    k_x, k_y, k_att = jax.random.split(jax.random.key(args.seed + 1), 3)
    m, k, n = MATMUL_SHAPE
    x = jax.random.normal(k_x, (m, k), jnp.float32)  # (m, k)
    y = jax.random.normal(k_y, (k, n), jnp.float32)  # (k, n)
    b = PALLAS_BLOCK
    product = pk.matmul(x, y, bm=b, bn=b, bk=b, interpret=interpret)  # (m, n)
    want = jnp.dot(x, y, precision="highest")  # (m, n)
    lengths = doubling(2 * b, args.pallas_length)
    flash: dict[str, dict[int, float]] = {"full": {}, "causal": {}}
    for t in lengths:
        q, kk, v = qkv(jax.random.fold_in(k_att, t), args.heads, t, args.head_dim)  # (H, T, d)
        for name, causal in (("full", False), ("causal", True)):
            got = pk.flash_attention(
                q, kk, v, causal=causal, block_q=b, block_k=b, interpret=interpret
            )  # (H, T, d)
            ref = kernels.naive_attention_jit(q, kk, v, causal=causal)  # (H, T, d)
            flash[name][t] = float(jnp.max(jnp.abs(got - ref)))
    return Pallas(
        interpret=interpret,
        backend=jax.default_backend(),
        matmul_shape=MATMUL_SHAPE,
        block=b,
        matmul_max_diff=float(jnp.max(jnp.abs(product - want))),
        lengths=lengths,
        flash_max_diff=flash,
        tolerance=TOLERANCE,
    )


def interpret_sentence(interpret: bool, backend: str) -> str:
    """How the Pallas kernels ran: emulated (and so not timed) or compiled for the GPU."""
    if interpret:
        return (
            f"The backend is {backend}, so the kernels ran with interpret=True: Pallas "
            "emulates each grid point with ordinary XLA operations, one after another. "
            "That checks their arithmetic, not their speed, so they are not timed here; "
            "the timing below is of the same tiling written in plain JAX."
        )
    return (
        f"The backend is {backend}: the kernels were compiled for it (interpret=False), "
        "each grid point one program instance on the chip; they are timed at the end."
    )


def say_pallas(r: Pallas, console: Console) -> None:
    m, k, n = r.matmul_shape
    console.print(
        f"Tiled matmul: ({m}, {k}) @ ({k}, {n}) in {r.block} × {r.block} output blocks over a "
        f"({m // r.block}, {n // r.block}) grid, each point walking k in {k // r.block} steps "
        f"of {r.block}; largest |Δ| from jnp.dot "
        f"{r.matmul_max_diff:.1e}: {agree_word(r.matmul_max_diff, r.tolerance * 10)} within "
        f"{r.tolerance * 10:g} (a float32 sum taken in another order rounds differently)."
    )
    title = "FlashAttention's forward pass vs plain attention (max |Δ|)"
    table = Table(title=title, min_width=len(title))  # the title on one line
    for col in ("T", "full", "causal"):
        table.add_column(col, justify="right")
    for t in r.lengths:
        table.add_row(
            f"{t:,}", f"{r.flash_max_diff['full'][t]:.1e}", f"{r.flash_max_diff['causal'][t]:.1e}"
        )
    console.print(table)
    worst = max(max(v.values()) for v in r.flash_max_diff.values())
    console.print(
        f"Blocks of {r.block} queries, tiles of {r.block} keys: "
        f"{agree_word(worst, r.tolerance)} to plain attention within {r.tolerance:g}. "
        + interpret_sentence(r.interpret, r.backend)
    )


# ----------------------------------------------------------------------------
# 3. The same tiling in plain JAX, checked up to T = --length.


@dataclass(frozen=True)
class Tiled:
    block_q: int
    block_k: int
    lengths: list[int]
    max_diff: dict[str, dict[int, float]]  # causal/full -> T -> |Δ| vs naive attention
    steps: dict[str, dict[int, int]]  # causal/full -> T -> (query block, key tile) steps
    tolerance: float


def compute_tiled(done: dict, *, args) -> Tiled:
    key = jax.random.key(args.seed + 2)
    lengths = check_lengths(args.length, args.block_q, args.block_k)
    diffs: dict[str, dict[int, float]] = {"full": {}, "causal": {}}
    counts: dict[str, dict[int, int]] = {"full": {}, "causal": {}}
    for t in lengths:
        q, k, v = qkv(jax.random.fold_in(key, t), args.heads, t, args.head_dim)  # (H, T, d)
        for name, causal in (("full", False), ("causal", True)):
            got = kernels.tiled_attention_jit(
                q, k, v, causal=causal, block_q=args.block_q, block_k=args.block_k
            )  # (H, T, d)
            ref = kernels.naive_attention_jit(q, k, v, causal=causal)  # (H, T, d)
            diffs[name][t] = float(jnp.max(jnp.abs(got - ref)))
            counts[name][t] = kernels.steps(t, args.block_q, args.block_k, causal)
    return Tiled(args.block_q, args.block_k, lengths, diffs, counts, TOLERANCE)


def say_tiled(r: Tiled, console: Console) -> None:
    table = Table(title="Tiled attention in plain JAX vs naive (max |Δ|)")
    for col in ("T", "full", "causal", "steps", "causal steps"):
        table.add_column(col, justify="right")
    for t in r.lengths:
        table.add_row(
            f"{t:,}",
            f"{r.max_diff['full'][t]:.1e}",
            f"{r.max_diff['causal'][t]:.1e}",
            f"{r.steps['full'][t]:,}",
            f"{r.steps['causal'][t]:,}",
        )
    console.print(table)
    worst = max(max(v.values()) for v in r.max_diff.values())
    console.print(
        f"Blocks of {r.block_q} queries (lax.map) against tiles of {r.block_k} keys "
        f"(lax.fori_loop): {agree_word(worst, r.tolerance)} to naive attention within "
        f"{r.tolerance:g} up to T = {r.lengths[-1]:,}. "
        + skip_sentence(r.steps["causal"][r.lengths[-1]], r.steps["full"][r.lengths[-1]])
    )


def skip_sentence(causal_steps: int, full_steps: int) -> str:
    """What stopping causal blocks at the diagonal saved, in steps (none at all when
    every key tile holds a key that some query of its block sees)."""
    if causal_steps < full_steps:
        return (
            f"A causal block stops at the diagonal: {causal_steps:,} of the {full_steps:,} "
            "steps; the tiles wholly past it are never computed."
        )
    return (
        f"With these block sizes no key tile lies wholly past its query block's last "
        f"query, so the causal form takes all {full_steps:,} steps and skips nothing."
    )


# ----------------------------------------------------------------------------
# 4. Memory and cost, from the compiled programs (compiled only: nothing runs).


@dataclass(frozen=True)
class Memory:
    lengths: list[int]
    naive_temp_bytes: dict[int, int]  # XLA's temporary buffers of the compiled program
    tiled_temp_bytes: dict[int, int]
    score_bytes: dict[int, int]  # one (H, T, T) score matrix
    naive_flops: dict[int, float]  # XLA's count of the whole program
    naive_bytes: dict[int, float]
    tiled_flops: dict[int, float]  # XLA's count of one step, times the steps
    tiled_bytes: dict[int, float]
    step_flops: float  # XLA's count of one (query block, key tile) step
    step_bytes: float
    pinned_t: int  # the T whose factor the lesson quotes
    factor: float  # naive temp bytes / tiled temp bytes at pinned_t


def compiled_costs(fn, *shapes) -> tuple[int, float, float]:
    """(temp bytes, FLOPs, bytes accessed) of fn compiled at these shapes, without running it."""
    exe = jax.jit(fn).lower(*shapes).compile()
    flops, nbytes = roofline.counted(exe, fn, *shapes)
    return exe.memory_analysis().temp_size_in_bytes, flops, nbytes


def compute_memory(done: dict, *, args) -> Memory:
    h, d, bq, bk = args.heads, args.head_dim, args.block_q, args.block_k
    f32 = jnp.float32
    # One step of the tiled loop, compiled alone: XLA's cost model counts a loop body once.
    carry = (
        jax.ShapeDtypeStruct((h, bq), f32),
        jax.ShapeDtypeStruct((h, bq), f32),
        jax.ShapeDtypeStruct((h, bq, d), f32),
    )
    tile_q, tile_k = jax.ShapeDtypeStruct((h, bq, d), f32), jax.ShapeDtypeStruct((h, bk, d), f32)
    step = partial(kernels.attend_tile, q_start=0, k_start=0, causal=True)
    _, step_flops, step_bytes = compiled_costs(step, carry, tile_q, tile_k, tile_k)
    lengths = doubling(MEMORY_MIN, args.memory_max)
    out = {k: {} for k in ("nt", "tt", "sb", "nf", "nb", "tf", "tb")}
    for t in lengths:
        s = jax.ShapeDtypeStruct((h, t, d), f32)  # (H, T, d): shapes only, no data
        naive = partial(kernels.naive_attention, causal=True)
        tiled = partial(kernels.tiled_attention, causal=True, block_q=bq, block_k=bk)
        out["nt"][t], out["nf"][t], out["nb"][t] = compiled_costs(naive, s, s, s)
        out["tt"][t], _, _ = compiled_costs(tiled, s, s, s)
        n = kernels.steps(t, bq, bk, causal=True)
        out["tf"][t], out["tb"][t] = n * step_flops, n * step_bytes
        out["sb"][t] = kernels.score_bytes(h, t, 4)
    pinned = PINNED_T if PINNED_T in lengths else lengths[-1]
    return Memory(
        lengths, out["nt"], out["tt"], out["sb"], out["nf"], out["nb"], out["tf"], out["tb"],
        step_flops, step_bytes, pinned, out["nt"][pinned] / out["tt"][pinned],
    )  # fmt: skip


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def say_memory(r: Memory, console: Console) -> None:
    table = Table(title="Temporary memory of the compiled causal programs (MiB)")
    for col in ("T", "naive", "(T, T) scores", "tiled", "naive / tiled"):
        table.add_column(col, justify="right")
    for t in r.lengths:
        nt, tt = r.naive_temp_bytes[t], r.tiled_temp_bytes[t]
        table.add_row(f"{t:,}", mib(nt), mib(r.score_bytes[t]), mib(tt), f"{nt / tt:.1f}×")
    console.print(table)
    t = r.pinned_t
    console.print(
        "From jax.jit(f).lower(shapes).compile().memory_analysis(): nothing was run. "
        "Naive attention's temporaries grow as T² (the score matrix); the tiled "
        "program's grow as T (one tile of scores, and the output blocks before they are "
        f"put in place). At T = {t:,} the naive program needs "
        f"{r.factor:.1f}× the tiled one's temporary memory "
        f"({mib(r.naive_temp_bytes[t])} MiB against {mib(r.tiled_temp_bytes[t])} MiB)."
        f"{fixed_sentence(r, jax.default_backend())}"
    )


def fixed_part(r: Memory) -> float | None:
    """The tiled program's temporaries that do not grow with T: its bytes at the two
    smallest T, extended back along their line to T = 0 (None with one T)."""
    if len(r.lengths) < 2:
        return None
    t0, t1 = r.lengths[:2]
    b0, b1 = r.tiled_temp_bytes[t0], r.tiled_temp_bytes[t1]
    return b0 - (b1 - b0) * t0 / (t1 - t0)


def fixed_sentence(r: Memory, backend: str) -> str:
    """Said only when most of the tiled program's temporaries at the pinned T are fixed."""
    fixed, t = fixed_part(r), r.pinned_t
    if fixed is None or fixed < r.tiled_temp_bytes[t] / 2:
        return ""
    why = (
        " On a GPU that is mostly the scratch space XLA sets aside for the matmul library "
        "(32 MiB on a Hopper chip)."
        if backend == "gpu"
        else ""
    )
    return (
        f" Most of the tiled program's {mib(r.tiled_temp_bytes[t])} MiB do not grow with T: "
        f"the line through its two smallest T meets T = 0 at {mib(fixed)} MiB, and that "
        f"fixed part keeps the factor small until the naive scores outgrow it.{why}"
    )


# ----------------------------------------------------------------------------
# 5. Timed side by side, and placed on the roofline.


@dataclass(frozen=True)
class Speed:
    length: int
    naive_ms: float
    tiled_ms: float
    ratio: float  # tiled / naive
    ratio_rounds: list[float]
    spread: tuple[float, float] | None  # the rounds' lowest and highest ratio, when > 1.5× apart
    peak_flops: float  # matmul PEAK_N, measured now
    bandwidth: float  # a copy, bytes read plus written per second
    ridge: float
    flops: dict[str, float]  # naive/tiled at --length, XLA's counts
    intensity: dict[str, float]
    flops_per_s: dict[str, float]
    bound: dict[str, str]  # naive/tiled -> memory/compute
    sweep_intensity: dict[str, dict[int, float]]  # naive/tiled -> T -> FLOP/byte
    causal_steps: int  # (query block, key tile) steps of the causal tiled form at `length`
    full_steps: int  # the same without the mask
    backend: str = "cpu"


def chained_copy(x: jax.Array):
    """A call that copies x into the previous call's donated output (no fresh memory)."""
    box = [jnp.zeros_like(x)]

    def call():
        box[0] = roofline.copy_into(box[0], x)
        return box[0]

    return call


def compute_speed(done: dict, *, args) -> Speed:
    t, mem = args.length, done["memory"]
    q, k, v = qkv(jax.random.key(args.seed + 3), args.heads, t, args.head_dim)  # (H, T, d)
    naive_fn = partial(kernels.naive_attention, causal=True)
    naive = jax.jit(naive_fn).lower(q, k, v).compile()
    tiled_fn = partial(
        kernels.tiled_attention, causal=True, block_q=args.block_q, block_k=args.block_k
    )
    tiled = jax.jit(tiled_fn).lower(q, k, v).compile()
    a = jax.random.normal(jax.random.key(args.seed + 4), (PEAK_N, PEAK_N), jnp.float32)  # (n, n)
    x = jnp.ones(COPY_SIZE, jnp.float32)  # (n,) 4 bytes each, as the bandwidth counts
    times = timing.time_side_by_side(
        {
            "naive": (naive, (q, k, v), True),
            "tiled": (tiled, (q, k, v), True),
            "matmul": (roofline.matmul, (a, a), True),
            "copy": (chained_copy(x), (), True),
        },
        BUDGET_MS,
    )
    peak = roofline.matmul_flops(PEAK_N, PEAK_N, PEAK_N) / (times["matmul"].median_ms / 1e3)
    bandwidth = 2 * COPY_SIZE * 4 / (times["copy"].median_ms / 1e3)
    n_f, n_b = roofline.counted(naive, naive_fn, q, k, v)
    n = kernels.steps(t, args.block_q, args.block_k, True)
    flops = {"naive": n_f, "tiled": n * mem.step_flops}
    nbytes = {"naive": n_b, "tiled": n * mem.step_bytes}
    intensity = {name: roofline.intensity(flops[name], nbytes[name]) for name in flops}
    ratios = timing.round_ratios(times["tiled"], times["naive"])
    return Speed(
        length=t,
        naive_ms=times["naive"].median_ms,
        tiled_ms=times["tiled"].median_ms,
        ratio=times["tiled"].median_ms / times["naive"].median_ms,
        ratio_rounds=ratios,
        spread=timing.spread(ratios),
        peak_flops=peak,
        bandwidth=bandwidth,
        ridge=roofline.ridge(peak, bandwidth),
        flops=flops,
        intensity=intensity,
        flops_per_s={name: flops[name] / (times[name].median_ms / 1e3) for name in flops},
        bound={name: roofline.bound(i, peak, bandwidth) for name, i in intensity.items()},
        sweep_intensity={
            "naive": {s: mem.naive_flops[s] / mem.naive_bytes[s] for s in mem.lengths},
            "tiled": {s: mem.tiled_flops[s] / mem.tiled_bytes[s] for s in mem.lengths},
        },
        causal_steps=n,
        full_steps=kernels.steps(t, args.block_q, args.block_k, False),
        backend=jax.default_backend(),
    )


def speed_clause(ratio: float, spread: tuple[float, float] | None) -> str:
    """How the tiled time compares with the naive one, with the rounds' spread when noisy
    (rounds on both sides of 1 name no winner)."""
    said = f"the tiled form took {ratio:.2f}× the naive time"
    if spread is not None:
        said += f" (rounds from {spread[0]:.2f}× to {spread[1]:.2f}×)"
        if spread[0] < 1 < spread[1]:
            return said + ": the rounds disagree on which is faster"
    return said + (": faster" if ratio < 1 else ": slower")


def flops_reason(causal_steps: int, full_steps: int) -> str:
    """Why the tiled causal form's FLOPs differ from the naive form's, or not."""
    if causal_steps < full_steps:
        return (
            f"it takes {causal_steps:,} of {full_steps:,} steps, skipping the tiles past the "
            "diagonal, which the naive form computes and then masks"
        )
    return "with these block sizes it skips no tile, so both compute every score"


def side_of_ridge(intensity: float, ridge: float) -> str:
    """Where a kernel sits relative to the ridge point: 'below (memory bound)' or 'above'."""
    if intensity < ridge:
        return f"{intensity:.1f} FLOP/byte, below the ridge (memory bound)"
    return f"{intensity:.1f} FLOP/byte, above the ridge (compute bound)"


def memory_gain(backend: str) -> str:
    """Where FlashAttention's other gain, the (T, T) matrix never leaving the chip, shows."""
    if backend == "gpu":
        return (
            "Written in plain JAX, the tiled form sends each tile of scores out to the GPU's "
            "memory and back; only a kernel that keeps it on chip (Pallas, below) gets "
            "FlashAttention's other gain."
        )
    return (
        "Both work in the same memory and caches here; FlashAttention's other gain comes "
        "on a GPU, where the tile stays in on-chip memory and the (T, T) matrix would have "
        "to go out to the GPU's DRAM and back."
    )


def say_speed(r: Speed, console: Console) -> None:
    console.print(
        f"Causal attention at T = {r.length:,}, both compiled by XLA and timed side by "
        f"side: naive {r.naive_ms:.2f} ms, tiled {r.tiled_ms:.2f} ms; "
        f"{speed_clause(r.ratio, r.spread)}. By XLA's counts the tiled form does "
        f"{r.flops['tiled'] / r.flops['naive']:.2f}× the naive FLOPs: "
        f"{flops_reason(r.causal_steps, r.full_steps)}. {memory_gain(r.backend)}\n"
        f"This machine's roofline, measured in the same rounds: peak "
        f"{r.peak_flops / 1e9:.1f} GFLOP/s (a {PEAK_N}² matmul), bandwidth "
        f"{r.bandwidth / 1e9:.1f} GB/s (a copy), ridge {r.ridge:.1f} FLOP/byte. By XLA's "
        f"counts, naive attention sits at {side_of_ridge(r.intensity['naive'], r.ridge)} and "
        f"reached {r.flops_per_s['naive'] / 1e9:.1f} GFLOP/s; the tiled form sits at "
        f"{side_of_ridge(r.intensity['tiled'], r.ridge)} and reached "
        f"{r.flops_per_s['tiled'] / 1e9:.1f} GFLOP/s. Its count is one step's times the "
        "steps (XLA counts a loop body once), and in plain JAX each step's tile of scores "
        "goes to memory and back; a Pallas kernel on a GPU keeps it on chip."
    )


# ----------------------------------------------------------------------------
# 6. On a GPU only: the Pallas kernel compiled for real, timed.


@dataclass(frozen=True)
class Gpu:
    ran: bool  # False on a CPU: nothing here ran
    length: int
    ms: dict[str, float]  # pallas / pallas (TF32) / xla naive / jax.nn -> median ms
    max_diff: dict[str, float]  # the others -> |Δ| from XLA's naive attention
    precision: str = ""  # JAX_DEFAULT_MATMUL_PRECISION of the run's other matmuls


@jax.jit
def nn_attention(q, k, v):
    """jax.nn.dot_product_attention, causal, on (H, T, d) arrays (it wants (T, H, d))."""
    out = jax.nn.dot_product_attention(q.swapaxes(0, 1), k.swapaxes(0, 1), v.swapaxes(0, 1),
                                       is_causal=True)  # fmt: skip
    return out.swapaxes(0, 1)  # (H, T, d)


def under_precision(fn, precision: str):
    """fn called under jax.default_matmul_precision(precision): its own compiled program."""

    def call(*args):
        with jax.default_matmul_precision(precision):
            return fn(*args)

    return call


def compute_gpu(done: dict, *, args) -> Gpu:
    if jax.default_backend() != "gpu":
        return Gpu(False, args.length, {}, {})
    q, k, v = qkv(jax.random.key(args.seed + 5), args.heads, args.length, args.head_dim)
    bq, bk = args.block_q, args.block_k
    pallas = partial(pk.flash_attention, causal=True, block_q=bq, block_k=bk, interpret=False)
    calls = {
        "pallas": under_precision(pallas, "highest"),  # float32 dots, whatever the default
        "pallas (TF32)": under_precision(pallas, "tensorfloat32"),
        "xla naive": partial(kernels.naive_attention_jit, causal=True),
        "jax.nn": nn_attention,
    }
    ref = calls["xla naive"](q, k, v)  # (H, T, d)
    diffs = {n: float(jnp.max(jnp.abs(calls[n](q, k, v) - ref))) for n in calls if n != "xla naive"}
    times = timing.time_side_by_side({n: (f, (q, k, v), True) for n, f in calls.items()}, 50.0)
    ms = {n: t.median_ms for n, t in times.items()}
    return Gpu(True, args.length, ms, diffs, jax.config.jax_default_matmul_precision)


def precision_sentence(ms: dict[str, float], tf32_diff: float, precision: str) -> str:
    """What TF32 inputs did to the Pallas kernel's time and output."""
    ratio = ms["pallas"] / ms["pallas (TF32)"]
    if ratio > 2:
        cost = (
            f"took {ratio:.1f}× its time with TF32 inputs: Triton computes a float32 dot "
            "without the tensor cores, which take TF32 inputs and keep float32 sums"
        )
    else:
        cost = f"took {ratio:.2f}× its time with TF32 inputs: no clear cost on this GPU"
    return (
        f"With float32 dots the Pallas kernel {cost}. TF32 keeps 10 bits of mantissa and "
        f"moved its output by up to {tf32_diff:.1e}. This run's other matmuls use "
        f"JAX_DEFAULT_MATMUL_PRECISION={precision} (this package sets highest, float32, "
        "unless you set it); tensorfloat32 makes that trade for every matmul."
    )


def say_gpu(r: Gpu, console: Console) -> None:
    if not r.ran:
        console.print(
            "No GPU here: the Pallas kernels above were interpreted, so they are not timed. "
            "On a GPU this section compiles them (interpret=False) and times them against "
            "XLA's attention and jax.nn.dot_product_attention."
        )
        return
    said = ", ".join(f"{name} {ms:.3f} ms" for name, ms in r.ms.items())
    worst = max(r.max_diff["pallas"], r.max_diff["jax.nn"])
    console.print(
        f"Causal attention at T = {r.length:,} on the GPU, compiled, timed side by side: "
        f"{said}. Pallas and jax.nn differ from XLA's naive attention by at most "
        f"{worst:.1e}. {precision_sentence(r.ms, r.max_diff['pallas (TF32)'], r.precision)}"
    )


# ----------------------------------------------------------------------------
# The lesson.


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract."""
    s, p, t, m, sp, g = (done[k] for k in ("softmax", "pallas", "tiled", "memory", "speed", "gpu"))
    return {
        "softmax_max_diff": s.max_diff,
        "matmul_max_diff": p.matmul_max_diff,
        "flash_max_diff": p.flash_max_diff,
        "tiled_max_diff": t.max_diff,
        "tiled_steps": t.steps,
        "interpret": p.interpret,
        "memory": {
            str(n): {
                "naive_temp_bytes": m.naive_temp_bytes[n],
                "tiled_temp_bytes": m.tiled_temp_bytes[n],
                "score_bytes": m.score_bytes[n],
                "naive_flops": m.naive_flops[n],
                "naive_bytes": m.naive_bytes[n],
                "tiled_flops": m.tiled_flops[n],
                "tiled_bytes": m.tiled_bytes[n],
            }
            for n in m.lengths
        },
        "memory_factor": {"t": m.pinned_t, "naive_over_tiled": m.factor},
        "speed": dataclasses.asdict(sp),
        "gpu": dataclasses.asdict(g),
    }


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    s, p, t, m, sp = (done[k] for k in ("softmax", "pallas", "tiled", "memory", "speed"))
    worst_flash = max(max(v.values()) for v in p.flash_max_diff.values())
    worst_tiled = max(max(v.values()) for v in t.max_diff.values())
    how = "interpreted on the CPU" if p.interpret else "compiled for the GPU"
    pallas_ok = p.matmul_max_diff <= 10 * p.tolerance and worst_flash <= p.tolerance
    return [
        f"Softmax in two passes, in one online pass and in tiles all "
        f"{matched(max(s.max_diff.values()) <= s.tolerance)} jax.nn.softmax "
        f"(largest |Δ| {max(s.max_diff.values()):.1e}): a running max and a rescaled sum "
        "are enough.",
        f"The Pallas matmul and FlashAttention kernels ({how}) "
        f"{matched(pallas_ok)} jnp.dot and plain "
        f"attention (|Δ| ≤ {max(p.matmul_max_diff, worst_flash):.1e}); the plain-JAX "
        f"tiling {matched(worst_tiled <= t.tolerance)} naive attention up to "
        f"T = {t.lengths[-1]:,} (|Δ| ≤ {worst_tiled:.1e}).",
        f"At T = {m.pinned_t:,} naive attention's compiled program needed {m.factor:.1f}× "
        f"the tiled one's temporary memory; at T = {sp.length:,} on this machine "
        f"{speed_clause(sp.ratio, sp.spread)}.",
    ]


def build(args) -> list[sections.Section]:
    S = sections.Section
    return [
        S("softmax", partial(compute_softmax, seed=args.seed), say_softmax,
          title="Softmax three ways", doing="compiling the three softmaxes"),
        S("pallas", partial(compute_pallas, args=args), say_pallas,
          title="Kernels in Pallas: a tiled matmul and FlashAttention",
          doing="running the Pallas kernels (interpreted on a CPU: slow)"),
        S("tiled", partial(compute_tiled, args=args), say_tiled,
          title="The same tiling in plain JAX", doing="checking tiled attention"),
        S("memory", partial(compute_memory, args=args), say_memory,
          title="Memory: one tile instead of a (T, T) matrix",
          doing="compiling naive and tiled attention at growing T"),
        S("speed", partial(compute_speed, args=args), say_speed,
          title="Timed, and on the roofline", doing="timing in interleaved rounds"),
        S("gpu", partial(compute_gpu, args=args), say_gpu, title="On a GPU"),
    ]  # fmt: skip


KERNELS = (
    kernels.softmax_online,
    kernels.merge_stats,
    kernels.attend_tile,
    kernels.tiled_attention,
    pk.matmul_kernel,
    pk.flash_kernel,
)


def parse(argv: list[str] | None):
    p = cli.parser(__doc__, seed=0)

    flag = partial(cli.int_flag, p)

    flag("--length", 64, 4096, LENGTH, "memory: H·T² scores", "sequence length T checked and timed")
    flag("--block-q", 16, 256, BLOCK_Q, "a divisor of --length", "queries per block")
    flag("--block-k", 16, 256, BLOCK_K, "a divisor of --length", "keys per tile")
    flag("--heads", 2, 16, HEADS, "memory and time", "attention heads H")
    flag("--head-dim", 8, 256, HEAD_DIM, "memory and time", "head width d")
    flag(
        "--pallas-length", 2 * PALLAS_BLOCK, 512, PALLAS_LENGTH,
        "interpreted Pallas is slow", "longest T of the Pallas checks (64, 128, … up to it)",
    )  # fmt: skip
    flag(
        "--memory-max", MEMORY_MIN, 32768, MEMORY_MAX,
        "compile time; nothing runs", "longest T compiled for the memory table",
    )  # fmt: skip
    args = p.parse_args(argv)
    for name in ("block_q", "block_k"):
        block, flag_name = getattr(args, name), "--" + name.replace("_", "-")
        if args.length % block:
            p.error(f"argument {flag_name}: {block} does not divide --length {args.length}")
        if MEMORY_MIN % block:
            p.error(
                f"argument {flag_name}: {block} does not divide {MEMORY_MIN}, the shortest T "
                "of the memory table"
            )
    # Naive attention at --length: scores, weights and their exp, (H, T, T) each, plus q, k, v.
    need = 4 * (3 * args.heads * args.length**2 + 4 * args.heads * args.length * args.head_dim)
    need += 4 * 3 * COPY_SIZE  # the roofline's copy and its output
    cli.require_memory(p, need, "--length and --heads (naive attention's (H, T, T) scores)")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the lesson; returns its results by section name (for tests)."""
    args = parse(argv)
    return sections.run(args, __file__, __doc__, build(args), summary=summary, results=results,
                        kernels=KERNELS)  # fmt: skip


if __name__ == "__main__":
    cli.entry(main)
