"""Element-wise kernels six ways, the memory-copy bandwidth, their table and chart.

Multiply (a·b) and square-add (a² + b) of float32 vectors, run by:

  list         a Python list, one interpreted loop step per element
  numpy        NumPy, a fresh result array each call
  numpy_out    NumPy writing into a preallocated array (out=)
  jax_eager    JAX without jit: one dispatch per operation
  jit          jax.jit, the cached executable; XLA allocates a fresh output
  jit_donated  jax.jit whose output overwrites a donated buffer: the loop
               runs out = f(out, a, b), so each call hands the previous
               result's buffer back to be written again

The jit's compile time is measured apart. The memory-copy bandwidth
(np.copyto of a large array on the CPU, a jitted copy in device memory on an
accelerator; bytes read + written over time) is the reference each method's
achieved bandwidth (12 bytes per element: two float32 read, one written) is
divided by; benchmarks/run.py times it in the same interleaved rounds as the
methods, so both sides of that fraction share the machine's slow spells.
"""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from trinity_foundations import baselines, display, timing

MIN_COPY_SIZE = 10**7  # float32 elements: 40 MB per array, beyond the last-level cache
BYTES_PER_ELEMENT = 12  # two float32 inputs read, one float32 result written

METHODS = ("list", "numpy", "numpy_out", "jax_eager", "jit", "jit_donated")
JAX_METHODS = ("jax_eager", "jit", "jit_donated")
CHARTED = ("list", "numpy", "jit", "jit_donated")  # in the terminal chart; the PNG has all

# Memory per element at the largest size: a, b, 10·a and NumPy's expected
# result on the host, a and b on the device, and the outputs of the methods
# alive at once (numpy_out's buffer, the donated buffer, a fresh result, its
# host copy): ten float32, 40 bytes. The list adds two input lists and a
# result list: a pointer and a 24-byte float object per element each, 96 bytes.
ARRAY_BYTES_PER_ELEMENT = 40
LIST_BYTES_PER_ELEMENT = 96


def memory_needed(sizes, copy_size: int, *, with_list: bool) -> int:
    """Bytes the element-wise runs and the copy hold at their peak (one size at a time)."""
    largest = max(sizes)
    per_element = ARRAY_BYTES_PER_ELEMENT + (LIST_BYTES_PER_ELEMENT if with_list else 0)
    return max(per_element * largest, 2 * 4 * copy_size)  # the copy: source and target


def gbps(nbytes: float, ms: float) -> float:
    return nbytes / ms / 1e6


def figures(t: timing.Timing) -> dict:
    """The JSON fields of one side-by-side timing."""
    return {
        "ms": t.median_ms,
        "min_ms": t.min_ms,
        "repeats": t.repeats,
        "faults_per_call": t.faults_per_call,
    }


# ----------------------------------------------------------------------------
# The kernels: one function per operation, run by every method.


def multiply(a, b):
    return a * b  # (n,)


def square_add(a, b):
    return a**2 + b  # (n,)


def numpy_multiply_into(out, a, b):
    return np.multiply(a, b, out=out)  # (n,) written into out


def numpy_square_add_into(out, a, b):
    np.square(a, out=out)  # (n,)
    return np.add(out, b, out=out)  # (n,)


OP_FORMULAS = {"multiply": "a · b", "square_add": "a² + b"}
OPS = {  # name: (array function, list baseline, NumPy into a preallocated out)
    "multiply": (multiply, baselines.list_multiply, numpy_multiply_into),
    "square_add": (square_add, baselines.list_square_add, numpy_square_add_into),
}


def written_into(op):
    """jit of op(a, b) as f(out, a, b): the result overwrites the donated `out`.

    XLA aliases the output with the donated input of the same shape and
    dtype, so no output buffer is allocated; keep_unused keeps `out` a
    parameter although its values are never read.
    """
    return jax.jit(lambda out, a, b: op(a, b), donate_argnums=0, keep_unused=True)


def chained(step, out, *inputs):
    """A no-argument call running out = step(out, *inputs): each call donates
    the previous call's result (a donated array cannot be used again)."""

    def call():
        nonlocal out
        out = step(out, *inputs)
        return out

    return call


def partitions(compiled) -> int:
    """How many threads XLA:CPU splits the element-wise loop over (1 if not split)."""
    found = re.search(r'outer_dimension_partitions":\["(\d+)"', compiled.as_text())
    return int(found.group(1)) if found else 1


# ----------------------------------------------------------------------------
# Measurements.


def copy_bandwidth(size: int, budget_ms: float, on_device: bool, *, warmup_ms: float) -> dict:
    """Memory-copy bandwidth of `size` float32, bytes read plus bytes written.

    On the CPU: np.copyto into a preallocated array, on one thread. On an
    accelerator the arrays live in device memory, so the reference is a
    jitted copy there, written into a donated buffer (no allocation).
    Counts 8 bytes per element, the convention of the element-wise figures.
    """
    t = timing.time_side_by_side(
        {"copy": copy_call(size, on_device)}, budget_ms, warmup_ms=warmup_ms
    )["copy"]
    return {**figures(t), "dtype": "float32", "gbps": gbps(8 * size, t.median_ms)}


def copy_call(size: int, on_device: bool) -> tuple:
    """(fn, args, sync) of the reference copy of `size` float32 (see copy_bandwidth)."""
    src = np.arange(size, dtype=np.float32)  # (size,)
    if on_device:
        copy = jax.jit(lambda out, x: x * 1, donate_argnums=0, keep_unused=True)
        return (chained(copy, jnp.zeros_like(src), jnp.asarray(src)), (), True)
    return (np.copyto, (np.empty_like(src), src), False)  # dst touched by the warm-up


def compile_records(size: int, a, b) -> tuple[dict, list]:
    """jax.jit of each operation, lowered and compiled apart from any run."""
    jitted, records = {}, []
    for name, (op, _, _) in OPS.items():
        jitted[name] = jax.jit(op)
        ct = timing.compile_timing(jitted[name], a, b)
        records.append(
            {
                "op": name,
                "size": size,
                "lower_ms": ct.lower_ms,
                "compile_ms": ct.compile_ms,
                "partitions": partitions(ct.compiled),
            }
        )
    return jitted, records


def measure(
    size: int, *, budget_ms: float, with_list: bool, warmup_ms: float, copy: tuple | None = None
) -> tuple[list, list]:
    """Time every method on both operations at one size.

    Data as in lesson 03: a = 0 … n−1, b = 10·a, float32. `copy`, when given, is
    (copy_call(n), n): the reference copy of n elements, timed in the same
    interleaved rounds as the methods, so that each record's fraction of the
    copy bandwidth divides two figures measured side by side.
    Returns (timing records, compile records).
    """
    a_np = np.arange(size, dtype=np.float32)  # (n,)
    b_np = 10 * a_np  # (n,)
    a, b = jnp.asarray(a_np), jnp.asarray(b_np)  # (n,) each, on the device
    jitted, compiles = compile_records(size, a, b)
    # Built after compiling: Python's garbage collector walks every item of
    # a live list, which would lengthen a tracing pass that happens to trigger it.
    lists = (a_np.tolist(), b_np.tolist()) if with_list else None
    records = []
    for name, (op, list_op, numpy_into) in OPS.items():
        calls = {  # method: (call, args, sync)
            "list": (list_op, lists, False),
            "numpy": (op, (a_np, b_np), False),
            "numpy_out": (numpy_into, (np.empty_like(a_np), a_np, b_np), False),
            "jax_eager": (op, (a, b), True),
            "jit": (jitted[name], (a, b), True),
            "jit_donated": (chained(written_into(op), jnp.zeros_like(a), a, b), (), True),
        }
        calls = {method: call for method, call in calls.items() if call[1] is not None}
        if copy is not None:
            calls["copy"] = copy[0]
        expected = op(a_np, b_np)  # (n,) NumPy's float32 result
        timings = timing.time_side_by_side(calls, budget_ms, warmup_ms=warmup_ms)
        copy_gbps = None if copy is None else gbps(8 * copy[1], timings.pop("copy").median_ms)
        for method, t in timings.items():
            fn, args, _ = calls[method]
            got = np.asarray(fn(*args), dtype=np.float32)  # (n,)
            records.append(
                {
                    "op": name,
                    "method": method,
                    "size": size,
                    "dtype": str(a.dtype),
                    **figures(t),
                    "copy_gbps": copy_gbps,  # the reference copy, in the same rounds
                    # fused a² + b may round once (FMA) where NumPy rounds twice
                    "matches_numpy": bool(np.allclose(got, expected, rtol=1e-6, atol=0)),
                }
            )
    return records, compiles


def add_derived(records: list, copy: dict) -> None:
    """Fill in the ratio to NumPy, GB/s and the fraction of copy bandwidth: of the copy
    timed side by side with the record when there is one, else of `copy`'s."""
    numpy_ms = {(r["op"], r["size"]): r["ms"] for r in records if r["method"] == "numpy"}
    for r in records:
        r["over_numpy"] = r["ms"] / numpy_ms[r["op"], r["size"]]
        # a list moves pointers and float objects, not 12 bytes per element
        r["gbps"] = None if r["method"] == "list" else gbps(BYTES_PER_ELEMENT * r["size"], r["ms"])
        reference = r.get("copy_gbps") or copy["gbps"]
        r["fraction_of_copy"] = None if r["gbps"] is None else r["gbps"] / reference


def find(records: list, op: str, method: str, size: int) -> dict | None:
    return next(
        (r for r in records if (r["op"], r["method"], r["size"]) == (op, method, size)), None
    )


# ----------------------------------------------------------------------------
# The table, the terminal chart and the PNG.


def fmt(value, spec: str = ".3g", none: str = "—") -> str:
    return none if value is None else format(value, spec)


def size_label(n: int) -> str:
    """1e3 for powers of ten, 2,500 otherwise."""
    k = round(np.log10(n))
    return f"1e{k}" if 10**k == n else f"{n:,}"


def table(records: list, op: str) -> Table:
    out = Table(title=f"{op} ({OP_FORMULAS[op]}): median ms per call")
    for col in ("size", "method", "ms", "× NumPy", "GB/s", "of copy", "faults/call"):
        out.add_column(col, justify="left" if col in ("size", "method") else "right", no_wrap=True)
    for size in sorted({r["size"] for r in records}):
        for method in METHODS:
            r = find(records, op, method, size)
            if r is None:
                out.add_row(size_label(size), method, "skipped", "", "", "", "")
                continue
            out.add_row(
                size_label(size),
                method,
                f"{r['ms']:.4g}",
                f"{r['over_numpy']:.3g}",
                fmt(r["gbps"], ".2f"),
                fmt(r["fraction_of_copy"], ".0%"),
                f"{r['faults_per_call']:.0f}",
            )
        out.add_section()
    return out


def series(records: list, op: str, methods=METHODS) -> dict[str, list[float]]:
    """ms per size for each method, NaN where a method was skipped."""
    sizes = sorted({r["size"] for r in records})
    out = {}
    for method in methods:
        found = [find(records, op, method, s) for s in sizes]
        out[method] = [r["ms"] if r else float("nan") for r in found]
    return out


def chart(records: list, op: str):
    """Log-scale terminal chart of ms per call against the size points."""
    return display.line_chart(
        series(records, op, CHARTED),
        height=12,
        width=40,
        log_y=True,
        x_label="size point",
        y_label=f"{op}: ms per call",
    )


def save_png(records: list, copy_gbps: float, path: Path) -> Path | None:
    """Log-log time against size, one panel per operation; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = np.array(sorted({r["size"] for r in records}), dtype=float)
    fig, axes = plt.subplots(1, len(OPS), figsize=(12, 5), sharey=True)
    for ax, op in zip(axes, OPS):
        for method, ms in series(records, op).items():
            ax.loglog(sizes, ms, marker="o", label=method)
        floor = BYTES_PER_ELEMENT * sizes / copy_gbps / 1e6  # ms at copy speed
        ax.loglog(sizes, floor, "k--", label="12 bytes/element at copy bandwidth")
        ax.set(title=op, xlabel="elements", ylabel="median ms per call")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def mismatches(records: list) -> list[str]:
    """The (op, method, size) whose result differs from NumPy's, as labels."""
    return [
        f"{r['op']} {r['method']} at {size_label(r['size'])}"
        for r in records
        if not r["matches_numpy"]
    ]


def agreement_line(wrong: list[str]) -> str:
    if not wrong:
        return "Every method's result agrees with NumPy's (relative tolerance 1e-6)."
    return f"[red]Results that differ from NumPy's: {', '.join(wrong)}[/]"


def report_copy(copy: dict, console) -> None:
    before, after = (f"{r['ms']:.2f} ms ({r['gbps']:.1f} GB/s)" for r in copy["runs"])
    console.print(
        f"Memory-copy bandwidth ({copy['how']}) of {copy['size']:,} {copy['runs'][0]['dtype']} "
        f"({copy['bytes'] / 2e6:.3g} MB read, as many written) took "
        f"{before} before the element-wise runs and {after} after; the faster, "
        f"[bold]{copy['gbps']:.1f} GB/s[/], is the bandwidth below.\n"
    )


def report_compile(compiles: list, console) -> None:
    out = Table(title="jax.jit compile time, apart from run time")
    for col in ("op", "size", "lower ms", "compile ms", "threads"):
        out.add_column(col, justify="left" if col == "op" else "right")
    for c in compiles:
        out.add_row(
            c["op"],
            size_label(c["size"]),
            f"{c['lower_ms']:.1f}",
            f"{c['compile_ms']:.1f}",
            str(c["partitions"]),
        )
    console.print(out)


def report(results: dict, console, png: Path | None) -> None:
    """The element-wise section: copy bandwidth, one table and chart per operation."""
    report_copy(results["copy"], console)
    records = results["elementwise"]
    sizes = sorted({r["size"] for r in records})
    points = ", ".join(f"{i} = {size_label(n)}" for i, n in enumerate(sizes, 1))
    for op in OPS:
        console.print(table(records, op))
        console.print(chart(records, op))
        console.print(f"size points: {points}\n")
    console.print(agreement_line(mismatches(records)))
    dtype = records[0]["dtype"] if records else "float32"
    console.print(
        f"GB/s counts {BYTES_PER_ELEMENT} bytes per element (two {dtype} read, one "
        "written); 'of copy' divides it by the copy bandwidth above, which reads as many "
        "bytes as it writes. It can exceed 100 % where the arrays fit in a cache, or where "
        "the memory serves two reads per write faster than a copy's one. faults/call: "
        "minor page faults, one per fresh page touched."
    )
    if results["list_skipped"]:
        skipped = ", ".join(size_label(s) for s in results["list_skipped"])
        console.print(f"--quick skips the list at {skipped} elements (about a second per call).")
    console.print(
        f"PNG with every method: {png}" if png else "No PNG: matplotlib is not installed."
    )
    report_compile(results["compile"], console)
