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
from trinity_foundations.transformer import GPTConfig, block, gpt_forward, init_gpt, param_count

DATA = Path(__file__).resolve().parents[1] / "data" / "macbeth.txt"
LAYERS, D_MODEL, HEADS, CONTEXT, BATCH = 2, 64, 4, 64, 32  # lesson 19's defaults
MATMUL_MAX, MATMUL_MIN = 1024, 64
ATTENTION_MAX, ATTENTION_MIN = 1024, 64
COPY_SIZE = 2**24  # float32 elements: 64 MB, far beyond the last-level cache
DEVICES, PROCESSES, TIMEOUT = 8, 2, 240  # a busy 2-core machine needs minutes
REPEATS = 5


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
    opt = jax.eval_shape(lambda p: training.init_state(p, config=train).opt_state, params)
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


def scan_corrected(whole: dict, layer: dict, layers: int) -> dict:
    """A whole model's cost with the scanned layers counted L times, not once.

    XLA's cost model counts a loop body once, and the L layers are one
    `lax.scan`: add L − 1 more layers, each compiled alone.
    """
    extra = layers - 1
    return {
        **whole,
        "flops": whole["flops"] + extra * layer["flops"],
        "bytes": whole["bytes"] + extra * layer["bytes"],
        "raw_flops": whole["flops"],
        "layer_flops": layer["flops"],
    }


def compile_model(model: GPTConfig, train: TrainConfig, state, batch) -> dict:
    """The training step, a prefill and a decode step, compiled, with their XLA costs."""
    params = state.params
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    one = jax.tree_util.tree_map(lambda x: x[0], params["blocks"])  # one layer's block
    step = functools.partial(parallel.step_with_grads, config=train, loss_fn=LMLoss(model))
    h = jnp.zeros((train.batch, train.context, model.d_model), dtype)  # (B, T, d)
    layer = compiled(functools.partial(roofline.block_grads, config=model), one, h)
    out = {"train step": scan_corrected(compiled(step, state, batch), layer, model.n_layers)}
    for name, t in (("prefill", model.context), ("decode", 1)):
        ids = jnp.zeros((1, t), jnp.int32)  # (1, T): one sequence
        h = jnp.zeros((1, t, model.d_model), dtype)  # (1, T, d)
        whole = compiled(functools.partial(gpt_forward, config=model), params, ids)
        layer = compiled(functools.partial(block, config=model), one, h)
        out[name] = scan_corrected(whole, layer, model.n_layers)
    return out


def compile_kernels(args, key: jax.Array, dtype) -> dict:
    """The roofline's kernels, compiled: matmuls, 2x + y, the copy, attention at each T."""
    k_mm, k_vec, k_att = jax.random.split(key, 3)
    out = {"matmul": {}, "attention": {}}
    for n, k in zip(doubling(MATMUL_MIN, args.matmul_max), jax.random.split(k_mm, 16)):
        k_a, k_b = jax.random.split(k)
        a = jax.random.normal(k_a, (n, n), dtype)  # (n, n)
        b = jax.random.normal(k_b, (n, n), dtype)  # (n, n)
        out["matmul"][n] = compiled(roofline.matmul, a, b)
    k_x, k_y = jax.random.split(k_vec)
    x = jax.random.normal(k_x, (args.copy_size,), dtype)  # (n,)
    y = jax.random.normal(k_y, (args.copy_size,), dtype)  # (n,)
    out["2x + y"] = compiled(roofline.scale_add, x, y)
    out["copy"] = chained_copy(x)
    dh = args.d_model // args.heads
    for t, k in zip(doubling(ATTENTION_MIN, args.attention_max), jax.random.split(k_att, 16)):
        q, kk, v = (
            jax.random.normal(kq, (1, args.heads, t, dh), dtype) for kq in jax.random.split(k, 3)
        )  # each (1, H, T, d_h)
        out["attention"][t] = compiled(roofline.causal_attention, q, kk, v)
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


def median_ms(c: dict) -> float:
    return timing.time_call(c["exe"], *c["args"], repeats=REPEATS).median_ms


def point(name: str, kind: str, c: dict, ms: float) -> dict:
    """A kernel on the roofline: its XLA FLOPs and bytes, intensity, time and FLOP/s."""
    return {
        "name": name,
        "kind": kind,
        "flops": c["flops"],
        "bytes": c["bytes"],
        "intensity": roofline.intensity(c["flops"], c["bytes"]),
        "ms": ms,
        "flops_per_s": c["flops"] / (ms / 1e3),
    }


def measure(kernels: dict, model_parts: dict) -> dict:
    """Time every compiled kernel; nothing else this lesson started is running now."""
    points = [point(f"matmul {n}", "matmul", c, median_ms(c)) for n, c in kernels["matmul"].items()]
    points.append(point("2x + y", "element-wise", kernels["2x + y"], median_ms(kernels["2x + y"])))
    x = kernels["2x + y"]["args"][0]
    copy_ms = timing.time_call(kernels["copy"], repeats=REPEATS).median_ms
    bandwidth = 2 * x.size * x.dtype.itemsize / (copy_ms / 1e3)  # read once, written once
    attention = {"t": [], "ms": [], "flops": []}
    for t, c in kernels["attention"].items():
        ms = median_ms(c)
        attention["t"].append(t)
        attention["ms"].append(ms)
        attention["flops"].append(c["flops"])
        points.append(point(f"attention T={t}", "attention", c, ms))
    last = attention["t"][-2:], attention["ms"][-2:]
    attention["slope"] = roofline.loglog_slope(*last) if len(last[0]) == 2 else None
    for name, c in model_parts.items():
        points.append(point(name, name, c, median_ms(c)))
    return {"points": points, "bandwidth": bandwidth, "copy_ms": copy_ms, "attention": attention}


def place(points: list[dict], peak: float, bandwidth: float) -> list[dict]:
    """Each point with its roof min(P, I·W), the share of the roof it reached, and its bound."""
    placed = []
    for p in points:
        roof = roofline.attainable(p["intensity"], peak, bandwidth)
        bound = roofline.bound(p["intensity"], peak, bandwidth)
        placed.append({**p, "roof": roof, "share_of_roof": p["flops_per_s"] / roof, "bound": bound})
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
    step = functools.partial(parallel.step_with_grads, config=train, loss_fn=LMLoss(model))
    new_state, _, grads = jax.jit(step)(*jax.device_put((state, batch), cpu))
    return new_state, grads


def run(args) -> dict:
    text = DATA.read_text(encoding="utf-8")
    vocab = language.build_vocab(text)
    tokens = jnp.asarray(language.encode(vocab, text))
    model = model_config(vocab.size, args)
    train = TrainConfig(batch=args.batch, context=args.context)
    k_params, k_batch, k_kernels = jax.random.split(jax.random.key(args.seed), 3)
    params = init_gpt(k_params, model)
    batch = language.sample_batch(k_batch, tokens, train.batch, train.context)  # (B, T) x2
    state = training.init_state(params, config=train)
    mem = memory(model, train)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype

    with tempfile.TemporaryDirectory(prefix="lesson22-") as tmp:
        folder = Path(tmp)
        children = start_scale_out(args, parallel.Spec(model, train), folder, params, batch)
        deadline = time.monotonic() + args.timeout
        try:
            model_parts = compile_model(model, train, state, batch)
            kernels = compile_kernels(args, k_kernels, dtype)
            ref_state, ref_grads = reference_step(model_parts, model, train, state, batch)
            dp, mp = finish_scale_out(children, deadline, folder, ref_state.params, ref_grads)
        finally:
            stop(children)
    measured = measure(kernels, model_parts)  # after the check processes have ended
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
            "raw": step["raw_flops"],
            "per_layer": step["layer_flops"],
            "layers": model.n_layers,
            "bytes": step["bytes"],
            "intensity": roofline.intensity(step["flops"], step["bytes"]),
        },
        "peak_flops": peak,
        "bandwidth": measured["bandwidth"],
        "roofline_points": place(measured["points"], peak, measured["bandwidth"]),
        "attention_times": measured["attention"],
        "dp_max_diff": dp_diffs(dp),
        "allreduce_count": dp.get("allreduce_count"),
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


def slope_verdict(slope: float | None) -> str:
    """What the measured exponent of attention's time in T says."""
    if slope is None:
        return "only one length was timed, so no growth rate is measured"
    if slope > 2.4:
        return (
            "steeper than T², as the T×T scores outgrow the caches at the longest lengths and "
            "each score costs a trip to main memory as well as its arithmetic"
        )
    if slope >= 1.7:
        return "close to the 2 of the T² score matrix, so doubling T quadruples the work"
    if slope >= 1.2:
        return "between linear and quadratic, so at these lengths fixed costs still hide part of T²"
    return "near linear, so at these lengths the per-call overhead, not the T² work, sets the time"


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
        f"Above their roof: {', '.join(over)}. Their data fits in a cache, which is faster than "
        "the main-memory copy that sets the sloped roof; a roofline per cache level would "
        "place them under a higher slope.\n"
    )


def scan_clause(layers: int, per_layer: float, total: float) -> str:
    """Why XLA's count of a scanned model needs L − 1 more layers (or, for one layer, not)."""
    if layers == 1:
        return "it counts a loop's body once, which for one layer is the whole model"
    return (
        f"it counts a loop's body once, and the {layers} layers are one lax.scan, so "
        f"{layers - 1} × {sci(per_layer)} (one block's forward and backward, compiled alone) "
        f"is added: {sci(total)}"
    )


def memory_section(r: dict, console) -> None:
    f = r["flops_formula"]
    console.rule("Memory, from shapes")
    table = Table(show_header=True)
    for col in ("what", "bytes", "MiB", "× parameters"):
        table.add_column(col, justify="right" if col != "what" else "left")
    rows = (
        ("parameters", r["param_bytes"]),
        ("optimizer state (AdamW: two moments)", r["optimizer_bytes"]),
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
        f"{r['optimizer_bytes'] / r['param_bytes']:.2f}× the parameters; the activations grow "
        "with batch × context (and the attention scores with context²), the weights do not.\n"
    )


def compute_section(r: dict, console) -> None:
    f, x = r["flops_formula"], r["flops_xla"]
    console.rule("FLOPs: the formula against XLA's count")
    console.print(
        f"Formula: 6N + 12·L·T·d = {f['per_token']:,} FLOPs per token (N = {f['matmul_params']:,} "
        f"weights in matmuls, the tied output head included), {sci(f['per_step'])} per step of "
        f"{f['tokens_per_step']:,} tokens.\n"
        f"XLA's cost model of the compiled step counts {sci(x['raw'])}; "
        f"{scan_clause(x['layers'], x['per_layer'], x['per_step'])}. The formula is "
        f"{f['per_step'] / x['per_step']:.3f}× that count (XLA also counts the optimizer's, "
        "softmax's and norms' element-wise work, which the formula leaves out).\n"
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
    console.print(
        f"Peak: {sci(peak)} FLOP/s, the fastest of the matmuls below. Bandwidth: "
        f"{bw / 1e9:.1f} GB/s, a copy in memory (bytes read plus bytes written). Ridge: "
        f"{ridge:.1f} FLOP/byte; below it a kernel is memory bound. FLOPs and bytes of each "
        "kernel are XLA's count of its compiled program; times are medians of "
        f"{REPEATS} synced calls after a warm-up.\n"
    )
    table = Table(show_header=True, padding=(0, 1), box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("kernel", "FLOPs", "bytes", "FLOP/B", "ms", "FLOP/s", "of roof", "bound"):
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
    console.print(above_roof(r["roofline_points"]) + roofline_chart(r))


def attention_section(r: dict, console) -> None:
    a = r["attention_times"]
    console.rule("Attention's O(T²), measured")
    times = ", ".join(f"T={t}: {ms:.3g} ms" for t, ms in zip(a["t"], a["ms"]))
    slope = (
        "" if a["slope"] is None else f"Between the two longest, time grows as T^{a['slope']:.2f}: "
    )
    console.print(
        f"Causal attention, one sequence: {times}.\n{slope}{slope_verdict(a['slope'])}.\n"
    )


def inference_section(r: dict, console) -> None:
    by_name = {p["name"]: p for p in r["roofline_points"]}
    pre, dec = by_name["prefill"], by_name["decode"]
    console.rule("Prefill against decode")
    console.print(
        f"Prefill (the whole context of one sequence at once) does {pre['intensity']:.3g} "
        f"FLOP/byte; a decode step (one new token) {dec['intensity']:.3g}: every weight is read "
        "to produce one token, one multiply-add per weight read, so decode is "
        f"{dec['bound']} bound ({dec['share_of_roof']:.0%} of its roof) and batching "
        "requests, not faster arithmetic, is what speeds it up. (This decode step reads no "
        "KV cache; a cache adds bytes, not FLOPs, and lowers the intensity further.)\n"
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
            f"{agreement(dp['grads_max_diff'], 'gradients')}. The compiled step holds "
            f"{display.count(r['allreduce_count'], 'all-reduce')}: XLA averages the gradient "
            "(one number per parameter, whatever the batch) and combines the leaves into few "
            "messages.\n"
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
