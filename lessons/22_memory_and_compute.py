"""Lesson 9.4 — what the hardware does: bytes, FLOPs, the roofline, and scaling out.

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
      [--copy-size 16777216] [--devices 8] [--processes 2] [--timeout 120] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from rich import box
from rich.table import Table

from trinity_foundations import cli, display, language, parallel, roofline, timing, training
from trinity_foundations.training import LMLoss, TrainConfig
from trinity_foundations.transformer import GPTConfig, init_gpt, param_count

DATA = Path(__file__).resolve().parents[1] / "data" / "macbeth.txt"
LAYERS, D_MODEL, HEADS, CONTEXT, BATCH = 2, 64, 4, 64, 32  # lesson 19's defaults
MATMUL_MAX, MATMUL_MIN = 1024, 64
ATTENTION_MAX, ATTENTION_MIN = 1024, 64
COPY_SIZE = 2**24  # float32 elements: 64 MB, far beyond the last-level cache
DEVICES, PROCESSES, TIMEOUT = 8, 2, 240  # a busy 2-core machine needs minutes
BUDGET_MS, ROUNDS = 30.0, 3  # each kernel's timed calls, shared out over interleaved rounds


# ----------------------------------------------------------------------------
# Memory and FLOPs from shapes; XLA's count of the compiled step.


def model_config(vocab_size: int, args) -> GPTConfig:
    """Lesson 19's GPT at the sizes the flags give (MLP width 4·d, GELU, LayerNorm)."""
    return GPTConfig(
        vocab_size=vocab_size,
        context=args.context,
        d_model=args.d_model,
        n_layers=args.layers,
        n_heads=args.heads,
        d_ff=4 * args.d_model,
    )


def doubling(lo: int, hi: int) -> list[int]:
    """lo, 2·lo, 4·lo, … up to hi."""
    sizes = [lo]
    while sizes[-1] * 2 <= hi:
        sizes.append(sizes[-1] * 2)
    return sizes


def memory(model: GPTConfig, train: TrainConfig) -> dict:
    """Parameter, optimizer-state and activation bytes, from shapes only (nothing runs)."""
    params = jax.eval_shape(lambda: init_gpt(jax.random.key(0), model))
    opt = jax.eval_shape(
        lambda p: training.init_state(p, training.hyper_of(train)).opt_state, params
    )
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    return {
        "param_count": param_count(params),
        "param_bytes": roofline.tree_bytes(params),
        "optimizer_bytes": roofline.tree_bytes(opt),
        "activation_bytes": roofline.activation_bytes(
            model, train.batch, train.context, jnp.dtype(dtype).itemsize
        ),
        "dtype": str(dtype),
    }


def compiled(fn, *args) -> dict:
    """fn jitted and compiled at these arguments, with XLA's (flops, bytes) and the arguments."""
    exe = jax.jit(fn).lower(*args).compile()
    flops, nbytes = roofline.xla_cost(exe)
    return {"exe": exe, "flops": flops, "bytes": nbytes, "args": args}


def compile_model(model: GPTConfig, train: TrainConfig, state, batch) -> dict:
    """The training step, a prefill and a decode step, compiled, with their XLA costs.

    Each is compiled with its layers unrolled (`roofline.unrolled_forward`):
    XLA's cost model counts a loop's body once, and lesson 19's GPT runs its
    layers as one `lax.scan`. Unrolled, the same arithmetic is counted whole.
    """
    params = state.params
    loss_fn = roofline.UnrolledLMLoss(model)
    step = functools.partial(parallel.step_with_grads, loss_fn=loss_fn)
    out = {"train step": compiled(step, state, batch)}
    forward = functools.partial(roofline.unrolled_forward, config=model)
    for name, t in (("prefill", model.context), ("decode", 1)):
        ids = jnp.zeros((1, t), jnp.int32)  # (1, T): one sequence
        out[name] = compiled(forward, params, ids)
    return out


def compile_kernels(args, rng: np.random.Generator, dtype) -> dict:
    """The roofline's kernels, compiled: matmuls, 2x + y, the copy, attention at each T.

    Their inputs are NumPy's normal draws: only their shapes matter to the
    timing, and jax.random would compile a new sampler for every shape.
    """

    def normal(*shape: int) -> jax.Array:
        return jnp.asarray(rng.standard_normal(shape, np.float32), dtype)

    out = {"matmul": {}, "attention": {}}
    for n in doubling(MATMUL_MIN, args.matmul_max):
        a, b = normal(n, n), normal(n, n)  # (n, n) each
        out["matmul"][n] = compiled(roofline.matmul, a, b)
    x, y = normal(args.copy_size), normal(args.copy_size)  # (n,) each
    out["2x + y"] = compiled(roofline.scale_add, x, y)
    out["copy"] = chained_copy(x)
    dh = args.d_model // args.heads
    for t in doubling(ATTENTION_MIN, args.attention_max):
        q, k, v = (normal(1, args.heads, t, dh) for _ in range(3))  # each (1, H, T, d_h)
        out["attention"][t] = compiled(roofline.causal_attention, q, k, v)
    return out


# ----------------------------------------------------------------------------
# Timing: each kernel warmed up, synced, the median of repeats.


def chained_copy(x: jax.Array):
    """A call that copies x into the previous call's donated output (no fresh memory)."""
    box = [jnp.zeros_like(x)]

    def call():
        box[0] = roofline.copy_into(box[0], x)
        return box[0]

    return call


def point(name: str, kind: str, c: dict, t: timing.Timing) -> dict:
    """A kernel on the roofline: its XLA FLOPs and bytes, intensity, time and FLOP/s."""
    return {
        "name": name,
        "kind": kind,
        "flops": c["flops"],
        "bytes": c["bytes"],
        "intensity": roofline.intensity(c["flops"], c["bytes"]),
        "ms": t.median_ms,
        "flops_per_s": c["flops"] / (t.median_ms / 1e3),
        "rounds_ms": list(t.rounds_ms),
        "repeats": t.repeats,
        "faults_per_call": t.faults_per_call,
    }


def attention_times(points: list[dict], heads: int, itemsize: int) -> dict:
    """Attention's times by T, its page faults, and the growth exponent between the two
    longest T, from the medians and round by round."""
    att = [p for p in points if p["kind"] == "attention"]
    t = [int(p["name"].split("=")[1]) for p in att]
    out = {
        "t": t,
        "ms": [p["ms"] for p in att],
        "flops": [p["flops"] for p in att],
        "faults_per_call": [p["faults_per_call"] for p in att],
        "score_bytes": [heads * n * n * itemsize for n in t],  # one (1, H, T, T) matrix
        "slope": None,
        "slope_rounds": [],
    }
    if len(att) >= 2:
        out["slope"] = roofline.loglog_slope(t[-2:], out["ms"][-2:])
        rounds = zip(att[-2]["rounds_ms"], att[-1]["rounds_ms"])
        out["slope_rounds"] = [roofline.loglog_slope(t[-2:], [a, b]) for a, b in rounds]
    return out


def measure(kernels: dict, model_parts: dict, heads: int) -> dict:
    """Time every compiled kernel side by side, in interleaved rounds (`ROUNDS` passes
    over all of them), so a slow spell of the machine falls on every kernel alike;
    nothing else this lesson started is running now."""
    parts = [(f"matmul {n}", "matmul", c) for n, c in kernels["matmul"].items()]
    parts.append(("2x + y", "element-wise", kernels["2x + y"]))
    parts += [(f"attention T={t}", "attention", c) for t, c in kernels["attention"].items()]
    parts += [(name, name, c) for name, c in model_parts.items()]
    calls = {name: (c["exe"], c["args"], True) for name, _, c in parts}
    calls["copy"] = (kernels["copy"], (), True)
    times = timing.time_side_by_side(calls, BUDGET_MS, rounds=ROUNDS)
    points = [point(name, kind, c, times[name]) for name, kind, c in parts]
    x = kernels["2x + y"]["args"][0]
    moved = 2 * x.size * x.dtype.itemsize  # the copy reads x once and writes it once
    copy = times["copy"]
    matmuls = [p for p in points if p["kind"] == "matmul"]
    return {
        "points": points,
        "bandwidth": moved / (copy.median_ms / 1e3),
        "bandwidth_rounds": [moved / (ms / 1e3) for ms in copy.rounds_ms],
        "peak_rounds": [
            max(p["flops"] / (p["rounds_ms"][i] / 1e3) for p in matmuls) for i in range(ROUNDS)
        ],
        "copy_ms": copy.median_ms,
        "attention": attention_times(points, heads, x.dtype.itemsize),
        "timing": {
            "rounds": ROUNDS,
            "repeats_min": min(t.repeats for t in times.values()),
            "repeats_max": max(t.repeats for t in times.values()),
        },
    }


def place(points: list[dict], peak: float, bandwidth: float, peaks: list, bandwidths: list):
    """Each point with its roof min(P, I·W), the share of the roof it reached (from the
    medians, and round by round from each round's peak and bandwidth), and its bound."""
    placed = []
    for p in points:
        roof = roofline.attainable(p["intensity"], peak, bandwidth)
        bound = roofline.bound(p["intensity"], peak, bandwidth)
        shares = [
            p["flops"] / (ms / 1e3) / roofline.attainable(p["intensity"], pk, bw)
            for ms, pk, bw in zip(p["rounds_ms"], peaks, bandwidths)
        ]
        placed.append(
            {**p, "roof": roof, "share_of_roof": p["flops_per_s"] / roof, "bound": bound,
             "share_rounds": shares}
        )  # fmt: skip
    return placed


# ----------------------------------------------------------------------------
# Scaling out: check processes started first, read back at the end.


def start_scale_out(args, spec: parallel.Spec, folder: Path, params, batch) -> dict:
    """Start the data-parallel check and the multi-process workers (they run meanwhile)."""
    if not (args.devices or args.processes):
        return {"dp": [], "workers": []}
    parallel.write_inputs(folder, params, batch)
    real = jax.default_backend() != "cpu" and jax.device_count() > 1
    dp = [parallel.launch_data_parallel(spec, folder, None if real else args.devices)]
    workers = parallel.launch_multiprocess(spec, folder, args.processes) if args.processes else []
    return {"dp": dp if args.devices else [], "workers": workers}


def finish_scale_out(children: dict, deadline: float, folder: Path, ref_params, ref_grads):
    skipped = {"ok": False, "reason": "skipped (--devices 0)"}
    dp = skipped
    if children["dp"]:
        report = parallel.collect(children["dp"][0], deadline)
        dp = parallel.data_parallel_result(report, folder, ref_params, ref_grads)
    mp = {"ok": False, "reason": "skipped (--processes 0)", "processes": 0}
    if children["workers"]:
        reports = [parallel.collect(w, deadline) for w in children["workers"]]
        mp = parallel.multiprocess_result(reports, folder, ref_params, ref_grads)
    return dp, mp


def stop(children: dict) -> None:
    for proc in [*children["dp"], *children["workers"]]:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def reference_step(model_parts: dict, model, train, state, batch) -> tuple:
    """The single-device step the checks are compared with: (new state, gradients).

    The check processes run on the CPU (unless several accelerators serve the
    data-parallel one), so on an accelerator the reference is computed on the
    CPU too: a GPU's float32 matmuls may round differently (TF32).
    """
    if jax.default_backend() == "cpu":
        new_state, _, grads = model_parts["train step"]["exe"](state, batch)
        return new_state, grads
    cpu = jax.devices("cpu")[0]
    step = functools.partial(parallel.step_with_grads, loss_fn=LMLoss(model))
    new_state, _, grads = jax.jit(step)(*jax.device_put((state, batch), cpu))
    return new_state, grads


def run(args) -> dict:
    text = DATA.read_text(encoding="utf-8")
    vocab = language.build_vocab(text)
    tokens = jnp.asarray(language.encode(vocab, text))
    model = model_config(vocab.size, args)
    train = TrainConfig(batch=args.batch, context=args.context)
    k_params, k_batch, _ = jax.random.split(jax.random.key(args.seed), 3)
    params = init_gpt(k_params, model)
    batch = language.sample_batch(k_batch, tokens, train.batch, train.context)  # (B, T) x2
    state = training.init_state(params, training.hyper_of(train))
    mem = memory(model, train)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype

    with tempfile.TemporaryDirectory(prefix="lesson22-") as tmp:
        folder = Path(tmp)
        children = start_scale_out(args, parallel.Spec(model, train), folder, params, batch)
        deadline = time.monotonic() + args.timeout
        try:
            model_parts = compile_model(model, train, state, batch)
            kernels = compile_kernels(args, np.random.default_rng(args.seed), dtype)
            ref_state, ref_grads = reference_step(model_parts, model, train, state, batch)
            dp, mp = finish_scale_out(children, deadline, folder, ref_state.params, ref_grads)
        finally:
            stop(children)
    measured = measure(kernels, model_parts, args.heads)  # after the check processes ended
    peak = max(p["flops_per_s"] for p in measured["points"] if p["kind"] == "matmul")
    step = model_parts["train step"]
    tokens_per_step = train.batch * train.context
    per_token = training.flops_per_token(model, train.context)
    return {
        "param_bytes": mem["param_bytes"],
        "optimizer_bytes": mem["optimizer_bytes"],
        "activation_bytes": mem["activation_bytes"],
        "flops_formula": {
            "per_step": per_token * tokens_per_step,
            "per_token": per_token,
            "tokens_per_step": tokens_per_step,
            "matmul_params": training.matmul_params(model),
            "params": mem["param_count"],
            "dtype": mem["dtype"],
        },
        "flops_xla": {
            "per_step": step["flops"],
            "layers": model.n_layers,
            "bytes": step["bytes"],
            "intensity": roofline.intensity(step["flops"], step["bytes"]),
        },
        "peak_flops": peak,
        "bandwidth": measured["bandwidth"],
        "peak_rounds": measured["peak_rounds"],
        "bandwidth_rounds": measured["bandwidth_rounds"],
        "timing": measured["timing"],
        "roofline_points": place(
            measured["points"],
            peak,
            measured["bandwidth"],
            measured["peak_rounds"],
            measured["bandwidth_rounds"],
        ),
        "attention_times": measured["attention"],
        "dp_max_diff": dp_diffs(dp),
        "allreduce_count": dp.get("allreduce_count"),
        "allreduce_executed": dp.get("allreduce_executed"),
        "n_layers": model.n_layers,
        "shard_map_max_diff": shard_map_diffs(dp),
        "multiprocess": mp,
    }


def dp_diffs(dp: dict) -> dict:
    """The jit-sharded step against one device: ok, devices, max |Δ| of params and grads."""
    keep = ("ok", "reason", "backend", "devices", "params_max_diff", "grads_max_diff")
    return {k: dp.get(k) for k in keep}


def shard_map_diffs(dp: dict) -> dict:
    """The shard_map step against one device, and the textbook pmean-of-grads ratio."""
    return {
        "ok": dp["ok"],
        "params_max_diff": dp.get("shard_map_params_max_diff"),
        "grads_max_diff": dp.get("shard_map_grads_max_diff"),
        "textbook_grads_ratio": dp.get("textbook_grads_ratio"),
    }


# ----------------------------------------------------------------------------
# Report: the choices between sentences are small functions, each tested.

AGREE = 1e-5  # largest |Δ| still called "the same step": float32 rounding of sums in another order
MiB = 2**20


def sci(x: float, digits: int = 3) -> str:
    """'1.46e9' for FLOP counts, rates and bytes; '512' when it is short anyway."""
    text = f"{x:.{digits}g}"
    return text.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


FRESH_FAULTS = 100  # page faults per call from which fresh memory is named as a cost


def fresh_memory(a: dict) -> bool:
    """Whether the longest attention took many page faults per call, and many more
    than the length before it: fresh memory for its scores, zero-filled page by page."""
    faults = a.get("faults_per_call", [])
    return len(faults) >= 2 and faults[-1] >= FRESH_FAULTS and faults[-1] > 4 * faults[-2]


def slope_verdict(slope: float | None, a: dict | None = None) -> str:
    """What the measured exponent of attention's time in T says; `a` (the attention
    times, with their page faults) backs the explanation of a slope steeper than 2."""
    if slope is None:
        return "only one length was timed, so no growth rate is measured"
    if slope > 2.4:
        if a and fresh_memory(a):
            t, faults, scores = a["t"], a["faults_per_call"], a["score_bytes"][-1]
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


def agreement(diff: float | None, what: str) -> str:
    """'equal to one device's …' within AGREE, or the size of the disagreement."""
    if diff is None:
        return f"{what}: not compared"
    if diff <= AGREE:
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


def multiprocess_sentence(mp: dict) -> str:
    if not mp["ok"]:
        return f"Two processes joined by jax.distributed: not run here ({mp['reason']})."
    worst = max(mp["params_max_diff"], mp["grads_max_diff"])
    same = "identical" if mp["between_processes_max_diff"] == 0 else "nearly identical"
    return (
        f"{mp['processes']} processes on 127.0.0.1, {mp['local_devices']} CPU device each, saw "
        f"{mp['devices']} devices after jax.distributed.initialize (gloo collectives) and ran "
        f"the sharded step, each feeding its own rows of the batch: "
        f"{agreement(worst, 'new parameters and gradients')}"
        f"; the processes' copies are {same} (max |Δ| {mp['between_processes_max_diff']:.1e})."
    )


def above_roof(points: list[dict]) -> str:
    """A sentence for kernels that beat their roof, or '' when none does."""
    over = [p["name"] for p in points if p["share_of_roof"] > 1.05]
    if not over:
        return ""
    return (
        f"Above their roof: {', '.join(over)}. The sloped roof is one copy's bandwidth, "
        "and a kernel can read faster than that copy did, for instance from a cache that "
        "holds its data; this run measures no cache level, so a roofline per level (and "
        "the reason here) is beyond it.\n"
    )


def formula_clause(ratio: float) -> str:
    """What the formula's share of XLA's count says (the formula counts matmuls only)."""
    if ratio < 1:
        return (
            "XLA also counts the element-wise work of the optimizer, the softmax and the "
            "norms, which the formula leaves out"
        )
    return "the formula counts more than XLA here, so its matmul count is an upper bound"


def spread_note(values: list[float], fmt: str) -> str:
    """' (rounds: lo to hi)' when the per-round values disagree by more than
    timing.SPREAD, else '': a noisy machine's figure says so."""
    found = timing.spread(values)
    return "" if found is None else f" (rounds: {found[0]:{fmt}} to {found[1]:{fmt}})"


def noisy_rows(points: list[dict]) -> str:
    """A sentence naming the kernels whose share of the roof disagreed between rounds
    by more than timing.SPREAD, or '' when none did."""
    rows = []
    for p in points:
        found = timing.spread(p["share_rounds"])
        if found:
            rows.append(f"{p['name']} {found[0]:.0%} to {found[1]:.0%}")
    if not rows:
        return ""
    return (
        f"The machine was busy: the rounds disagreed by more than {timing.SPREAD}× on "
        f"{', '.join(rows)} (share of the roof, lowest to highest round); read those rows "
        "as rough.\n"
    )


def memory_section(r: dict, console) -> None:
    f = r["flops_formula"]
    console.rule("Memory, from shapes")
    table = Table(show_header=True)
    for col in ("what", "bytes", "MiB", "× parameters"):
        table.add_column(col, justify="right" if col != "what" else "left")
    rows = (
        ("parameters", r["param_bytes"]),
        ("optimizer state (Adam's moments, mean gradient)", r["optimizer_bytes"]),
        (
            f"activations kept for backward ({display.count(f['tokens_per_step'], 'token')})",
            r["activation_bytes"],
        ),
    )
    for name, nbytes in rows:
        table.add_row(
            name, f"{nbytes:,}", f"{nbytes / MiB:.2f}", f"{nbytes / r['param_bytes']:.2f}"
        )
    console.print(table)
    console.print(
        f"{f['params']:,} parameters in {f['dtype']}. Training holds the parameters, their "
        f"gradients (as many bytes again) and the optimizer state, "
        f"{r['optimizer_bytes'] / r['param_bytes']:.2f}× the parameters (Adam's two moments, "
        "and the mean gradient kept for accumulating micro-batches); the activations grow "
        "with batch × context (and the attention scores with context²), the weights do not.\n"
    )


def compute_section(r: dict, console) -> None:
    f, x = r["flops_formula"], r["flops_xla"]
    console.rule("FLOPs: the formula against XLA's count")
    console.print(
        f"Formula: 6N + 12·L·T·d = {f['per_token']:,} FLOPs per token (N = {f['matmul_params']:,} "
        f"weights in matmuls, the tied output head included), {sci(f['per_step'])} per step of "
        f"{f['tokens_per_step']:,} tokens.\n"
        f"XLA's cost model counts a loop's body once, and the {x['layers']} layers are one "
        "lax.scan, so here the step is compiled with its layers unrolled (the same "
        f"arithmetic): XLA counts {sci(x['per_step'])}. The formula is "
        f"{f['per_step'] / x['per_step']:.3f}× that count: "
        f"{formula_clause(f['per_step'] / x['per_step'])}.\n"
        f"Bytes accessed, by the same count: {sci(x['bytes'])}; arithmetic intensity "
        f"{x['intensity']:.1f} FLOP/byte.\n"
    )


def roofline_chart(r: dict) -> str:
    pts = r["roofline_points"]
    peak, bw = r["peak_flops"], r["bandwidth"]
    kinds = {}
    for p in pts:
        kinds.setdefault(p["kind"], []).append((p["intensity"], p["flops_per_s"]))
    lo = min(p["intensity"] for p in pts) / 2
    hi = max(p["intensity"] for p in pts) * 2
    xs = np.geomspace(lo, hi, 120)
    roof = [(float(i), roofline.attainable(float(i), peak, bw)) for i in xs]
    return display.loglog_scatter(
        kinds,
        lines={"roof: min(peak, I × bandwidth)": roof},
        x_label="FLOP/byte",
        y_label="FLOP/s",
    )


def roofline_section(r: dict, console) -> None:
    peak, bw = r["peak_flops"], r["bandwidth"]
    console.rule("This machine's roofline, measured now")
    ridge = roofline.ridge(peak, bw)
    ridges = [roofline.ridge(p, b) for p, b in zip(r["peak_rounds"], r["bandwidth_rounds"])]
    t = r["timing"]
    console.print(
        f"Peak: {sci(peak)} FLOP/s, the fastest of the matmuls below. Bandwidth: "
        f"{bw / 1e9:.1f} GB/s, a copy in memory (bytes read plus bytes written). Ridge: "
        f"{ridge:.1f} FLOP/byte{spread_note(ridges, '.1f')}; below it a kernel is memory "
        "bound. FLOPs and bytes of each kernel are XLA's count of its compiled program; "
        f"times are medians of {t['repeats_min']} to {t['repeats_max']} synced calls after "
        f"a warm-up, every kernel timed in the same {t['rounds']} interleaved rounds.\n"
    )
    table = Table(show_header=True, padding=(0, 1), box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("kernel", "FLOPs", "bytes", "FLOP/B", "ms", "FLOP/s", "of\nroof", "bound"):
        table.add_column(
            col, justify="left" if col in ("kernel", "bound") else "right", no_wrap=True
        )
    for p in r["roofline_points"]:
        table.add_row(
            p["name"],
            sci(p["flops"], 2),
            sci(p["bytes"], 2),
            f"{p['intensity']:.3g}",
            f"{p['ms']:.3g}",
            sci(p["flops_per_s"], 2),
            f"{p['share_of_roof']:.0%}",
            p["bound"],
        )
    console.print(table)
    console.print(
        noisy_rows(r["roofline_points"]) + above_roof(r["roofline_points"]) + roofline_chart(r)
    )


def attention_section(r: dict, console) -> None:
    a = r["attention_times"]
    console.rule("Attention's O(T²), measured")
    times = ", ".join(f"T={t}: {ms:.3g} ms" for t, ms in zip(a["t"], a["ms"]))
    slope = ""
    if a["slope"] is not None:
        noise = spread_note(a["slope_rounds"], ".2f")
        slope = f"Between the two longest, time grows as T^{a['slope']:.2f}{noise}: "
    console.print(
        f"Causal attention, one sequence: {times}.\n{slope}{slope_verdict(a['slope'], a)}.\n"
    )


def inference_section(r: dict, console) -> None:
    by_name = {p["name"]: p for p in r["roofline_points"]}
    pre, dec = by_name["prefill"], by_name["decode"]
    console.rule("Prefill against decode")
    console.print(
        f"Prefill (the whole context of one sequence at once) does {pre['intensity']:.3g} "
        f"FLOP/byte; a decode step (one new token) {dec['intensity']:.3g}: every weight is read "
        f"to produce one token, one multiply-add per weight read, so {decode_bound(dec)}, and "
        "batching requests, not faster arithmetic, is what speeds it up. (This decode step "
        "reads no KV cache. A cache of T positions adds 4·L·T·d FLOPs per token and 2·L·T·d cached "
        f"numbers to read: two FLOPs per number, {cache_intensity(r['flops_formula']['dtype']):g} "
        "FLOP/byte in this dtype, one multiply-add per number read as for the weights: as "
        "the context grows, a decode step's intensity tends to that figure.)\n"
    )


def decode_bound(p: dict) -> str:
    """Which side of the ridge the decode step's intensity puts it, and how close to its
    roof it ran: a step above its roof was not held back by the copy's bandwidth."""
    share = f"{p['share_of_roof']:.0%}"
    if p["share_of_roof"] > 1.05:
        return (
            f"by its intensity decode is {p['bound']} bound, though this run it beat that roof "
            f"({share}: it read faster than the copy did, as above)"
        )
    return f"decode is {p['bound']} bound ({share} of its roof)"


def cache_intensity(dtype: str) -> float:
    """FLOP/byte of attending over a KV cache: 4·L·T·d FLOPs per 2·L·T·d numbers read."""
    return 4 / (2 * np.dtype(dtype).itemsize)


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


def scale_out_section(r: dict, console) -> None:
    dp, sm = r["dp_max_diff"], r["shard_map_max_diff"]
    console.rule("Scaling out: one step, many devices")
    if not dp["ok"]:
        console.print(f"Data-parallel step: not run ({dp['reason']}).")
    else:
        console.print(
            f"Mesh of {dp['devices']} {dp['backend']} devices, batch sharded "
            "(NamedSharding(mesh, P('data'))), parameters replicated (P()): "
            f"{agreement(dp['params_max_diff'], 'new parameters')}; "
            f"{agreement(dp['grads_max_diff'], 'gradients')} (Adam's step hardly changes "
            "when every gradient is scaled alike, so the gradients carry this check). "
            f"{allreduce_sentence(r['allreduce_count'], r['allreduce_executed'], r['n_layers'])}\n"
            f"shard_map with the mean loss, lax.pmean(loss): "
            f"{agreement(sm['params_max_diff'], 'new parameters')}; "
            f"{agreement(sm['grads_max_diff'], 'gradients')}.\n"
            f"{textbook_sentence(sm['textbook_grads_ratio'], dp['devices'])}"
        )
    console.print(multiprocess_sentence(r["multiprocess"]))


def report(r: dict, console) -> None:
    memory_section(r, console)
    compute_section(r, console)
    roofline_section(r, console)
    attention_section(r, console)
    inference_section(r, console)
    scale_out_section(r, console)


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


def main(argv: list[str] | None = None) -> None:
    p = cli.parser(__doc__, seed=0)

    def flag(name, lo, hi, default, why, what):
        p.add_argument(
            name,
            type=cli.int_in(lo, hi, why),
            default=default,
            help=f"{what}, {lo:,} to {hi:,} (default: %(default)s)",
        )

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
    model = GPTConfig(vocab, args.context, args.d_model, args.layers, args.heads, 4 * args.d_model)
    need = itemsize * (
        3 * args.matmul_max**2 + 4 * args.copy_size + 6 * args.heads * args.attention_max**2
    ) + 6 * roofline.activation_bytes(model, args.batch, args.context, itemsize)
    cli.require_memory(p, need, "--matmul-max, --copy-size, --attention-max and the model")
    cli.finish(
        args,
        __file__,
        run(args),
        report,
        title=__doc__,
        kernels=(
            roofline.matmul,
            roofline.copy_into,
            roofline.causal_attention,
            parallel.batch_sharded,
            parallel.shard_map_step,
        ),
    )


if __name__ == "__main__":
    cli.entry(main)
