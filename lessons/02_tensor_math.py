"""Lesson 02 — arrays on a device: NumPy, transfer, dispatch, jax.jit.

The products of lesson 01 again, now as float32 arrays: one contiguous block
of 4-byte numbers, multiplied by compiled loops instead of the interpreter.
We time each step on its own: NumPy on the host, the copy to the device
(jax.device_put), an eager jnp.multiply, and a jax.jit multiply on its first
call (trace + compile + run) and on later, cached calls. Then the classic
timing trap: JAX returns before the work is done, so a timer that does not
wait with block_until_ready measures only the dispatch.

Run:  python lessons/02_tensor_math.py [--size 1000000] [--skip-list] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import resource
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from trinity_foundations import baselines, cli, display, sections, timing

SIZE = 1_000_000
MAX_SIZE = 10**9  # arrays; memory decides first (see bytes_needed)
MAX_LIST_SIZE = 10**8  # the list baseline: about 5 s per timed call at the top, as in 01
REPEATS = 51  # sub-millisecond calls: many repeats cost little and steady the median
STEPS = ("numpy", "transfer", "eager", "jit_cached", "unsynced")  # the steps timed in repeats


def bytes_needed(size: int, skip_list: bool) -> int:
    """Memory the run holds at its peak: nine float32 arrays (inputs, copies, results,
    timing's), three float64 temporaries for the comparison, and without
    --skip-list four lists of Python floats (8-byte pointer + 24-byte object each)."""
    return size * (9 * 4 + 3 * 8 + (0 if skip_list else 4 * 32))


def multiply(a, b):
    """Element-wise product of two (N,) arrays: one kernel once jitted."""
    return a * b  # (N,)


def inputs(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (N,) float32 arrays on the host, 1.0 .. N, as in lesson 01."""
    x = np.arange(1, size + 1, dtype=np.float32)  # (N,)
    y = np.arange(1, size + 1, dtype=np.float32)  # (N,) a second array
    return x, y


# ----------------------------------------------------------------------------
# 1. Each step timed on its own, and what the times say.


@dataclass(frozen=True)
class Steps:
    size: int
    dtype: str  # of the jitted result
    repeats: int  # timed runs per step (the first jit call: one)
    numpy_ms: float
    transfer_ms: float  # jax.device_put of one array
    transfer_copied: bool  # False: the CPU backend aliased the NumPy buffer
    eager_ms: float
    jit_first_ms: float  # trace + compile + run
    jit_cached_ms: float
    unsynced_ms: float  # the cached call without block_until_ready
    list_ms: float | None  # lesson 01's list multiply (None: --skip-list)
    list_repeats: int | None
    faults_per_call: dict[str, float]  # step -> minor page faults per timed call
    result_pages: int  # memory pages one float32 result fills
    backend: str = "cpu"  # where JAX's results live


def compute_steps(done: dict, *, size: int, skip_list: bool) -> Steps:
    x, y = inputs(size)  # (N,) each, on the host
    numpy_t = timing.time_call(np.multiply, x, y, sync=False, repeats=REPEATS)
    transfer_t = timing.time_call(jax.device_put, x, repeats=REPEATS)
    a, b = jax.device_put(x), jax.device_put(y)  # (N,) each, on the device
    copied = a.unsafe_buffer_pointer() != x.ctypes.data  # CPU may alias aligned host memory
    eager_t = timing.time_call(jnp.multiply, a, b, repeats=REPEATS)
    jitted = jax.jit(timing.cold(multiply))  # a new function: its first call compiles
    first_ms, out = timing.time_once(jitted, a, b)  # (N,)
    cached_t = timing.time_call(jitted, a, b, repeats=REPEATS)
    unsynced_t = timing.time_call(jitted, a, b, repeats=REPEATS, sync=False)
    list_t = None
    if not skip_list:
        lists = baselines.float_list(size), baselines.float_list(size)
        list_t = timing.time_call(baselines.list_multiply, *lists, sync=False)  # host code
    timed = dict(zip(STEPS, (numpy_t, transfer_t, eager_t, cached_t, unsynced_t), strict=True))
    return Steps(
        size=size,
        dtype=str(out.dtype),
        repeats=REPEATS,
        numpy_ms=numpy_t.median_ms,
        transfer_ms=transfer_t.median_ms,
        transfer_copied=bool(copied),
        eager_ms=eager_t.median_ms,
        jit_first_ms=first_ms,
        jit_cached_ms=cached_t.median_ms,
        unsynced_ms=unsynced_t.median_ms,
        list_ms=None if list_t is None else list_t.median_ms,
        list_repeats=None if list_t is None else list_t.repeats,
        # minor page faults per timed call: fresh memory touched for the first time
        faults_per_call={name: t.faults_per_call for name, t in timed.items()},
        result_pages=-(-4 * size // resource.getpagesize()),  # pages of one float32 result
        backend=jax.default_backend(),
    )


def _count(x: float) -> str:
    """A mean count per call: 977, 0.22 (not 0), 0."""
    return f"{x:,.0f}" if x >= 10 or x == 0 else f"{x:.2g}"


def page_faults(faults: dict, pages: int, backend: str = "cpu") -> str:
    """What the page-fault column says: which calls paid for fresh memory.

    A call whose result lands in freshly mapped memory faults once per page
    of it; one that reuses memory already mapped, hardly at all. The mean
    per call over the repeats therefore tells the share of fresh results.
    Page faults count the host's memory: off the CPU, JAX's results are out of sight.
    """
    if backend != "cpu":
        return (
            f"Page faults count the host's memory only: NumPy faulted "
            f"{_count(faults['numpy'])} times per call, and JAX's results live on the "
            f"{backend}, where the count does not see them."
        )
    names = {"numpy": "NumPy", "eager": "eager jnp.multiply", "jit_cached": "the cached jit call"}
    fresh = [
        f"{names[k]} {_count(faults[k])} ({min(1, faults[k] / pages):.0%})"
        for k in names
        if faults[k] >= pages / 10
    ]
    head = f"Page faults: one result fills {pages:,} page{'s' if pages != 1 else ''} of memory. "
    if not fresh:
        return head + (
            "No step faulted on a tenth of them per call: the results went to "
            "memory already mapped, freed by earlier calls and handed out again."
        )
    return head + (
        f"Faults per call: {', '.join(fresh)} of a result's pages, as if that "
        "share of the results went to memory freshly mapped from the kernel, "
        "which zero-fills each page on first touch, at a greater cost than "
        "multiplying the numbers on it. Whether a freed result's memory is handed "
        "out again or returned to the kernel is the C allocator's choice, and it "
        "changes from run to run. Writing into a buffer you already own avoids it "
        "(benchmarks: jit_donated); with glibc, so do MALLOC_TRIM_THRESHOLD_ and "
        "MALLOC_MMAP_THRESHOLD_ set high, which keep freed memory mapped."
    )


def transfer_sentence(n: int, ms: float, copied: bool, itemsize: int = 4) -> str:
    """What device_put did: a copy at some bandwidth, or (CPU) an alias of the buffer."""
    mb = itemsize * n / 1e6
    if copied:
        how = f"copied {mb:.3g} MB in {ms:.3f} ms ({mb / ms:.3g} GB/s)"
    else:
        how = (
            f"took {ms:.3f} ms for {mb:.3g} MB and copied nothing: on this CPU backend it "
            "aliased the NumPy buffer, which happened to be aligned as XLA needs (zero-copy)"
        )
    return (
        f"Transfer: jax.device_put {how}. On a discrete GPU it crosses the host–device "
        "link (PCIe): keep data on the device between steps."
    )


def trap_sentence(synced: float, unsynced: float) -> str:
    """The async-dispatch trap: how much less an unsynced timer claims."""
    if unsynced < synced / 2:
        return (
            f"The trap: without block_until_ready the same call seemed to take "
            f"{unsynced:.4f} ms, {synced / unsynced:.0f}× less than the {synced:.3f} ms it "
            "really takes. JAX returns as soon as the work is queued (async dispatch) and "
            "the numbers arrive later: a timer that does not wait for them times the queueing."
        )
    return (
        f"Without block_until_ready the call took {unsynced:.3f} ms against "
        f"{synced:.3f} ms synced: at this size dispatching is most of the cost. "
        "Still, JAX returns as soon as the work is queued: wait for the result "
        "before you stop a timer."
    )


def list_sentence(list_ms: float | None, jit_cached_ms: float, numpy_ms: float) -> str:
    """The list of lesson 01 against the cached jit call and NumPy, or that it was skipped."""
    if list_ms is None:
        return "(The list timing was skipped: --skip-list.)"
    return (
        f"At the same size the Python list took {list_ms:.3g} ms: the cached jit "
        f"call is [bold]{display.how_much(jit_cached_ms, list_ms, 'the list')}"
        f"[/], NumPy {display.how_much(numpy_ms, list_ms, 'the list')}."
    )


def say_steps(r: Steps, console: Console) -> None:
    table = Table(title=f"{display.count(r.size, r.dtype + ' product')}, step by step")
    table.add_column("step")
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("× NumPy", justify="right", no_wrap=True)
    table.add_column("page faults / call", justify="right", no_wrap=True)
    faults = r.faults_per_call
    rows = [
        ("NumPy multiply (host)", r.numpy_ms, faults["numpy"]),
        ("jax.device_put host → device, one array", r.transfer_ms, faults["transfer"]),
        ("eager jnp.multiply (on device)", r.eager_ms, faults["eager"]),
        ("jit first call: trace + compile + run", r.jit_first_ms, None),
        ("jit cached call", r.jit_cached_ms, faults["jit_cached"]),
        ("jit cached call, no block_until_ready", r.unsynced_ms, faults["unsynced"]),
    ]
    if r.list_ms is not None:
        rows.insert(0, ("Python list (lesson 01)", r.list_ms, None))
    for label, ms, fault in rows:
        table.add_row(
            label, f"{ms:.3f}", f"{ms / r.numpy_ms:.2f}", "" if fault is None else _count(fault)
        )
    console.print(display.fit(table, console))
    lists = f" (the list: {r.list_repeats})" if r.list_ms is not None else ""
    console.print(
        f"[dim]Medians of {r.repeats} timed runs after a warm-up{lists}; the "
        "first call is timed once, as it happens once.[/]\n"
    )
    console.print(transfer_sentence(r.size, r.transfer_ms, r.transfer_copied))
    console.print(
        f"Compute: the cached jit call took {r.jit_cached_ms / r.numpy_ms:.2f}× NumPy's time "
        f"and eager jnp.multiply {r.eager_ms / r.numpy_ms:.2f}×. One multiply per element "
        "leaves the compiler nothing to fuse: both are a single pass over the arrays. "
        "jit pays off when several operations fuse into one pass (lesson 03)."
    )
    console.print(page_faults(r.faults_per_call, r.result_pages, r.backend))
    console.print(
        f"Compile: the first jit call took {r.jit_first_ms:.1f} ms, "
        f"{r.jit_first_ms / r.jit_cached_ms:.0f}× the cached call. JAX keeps the "
        "compiled kernel for this input shape and dtype, so later calls only run it."
    )
    console.print(trap_sentence(r.jit_cached_ms, r.unsynced_ms))
    console.print(list_sentence(r.list_ms, r.jit_cached_ms, r.numpy_ms))


# ----------------------------------------------------------------------------
# 2. The products: eager and jit against NumPy.


@dataclass(frozen=True)
class Products:
    size: int
    dtype: str
    max_abs_diff: float  # largest |eager or jit − NumPy|
    last_product: float  # N·N as the array stores it


MULTIPLY = jax.jit(multiply)


def compute_products(done: dict, *, size: int) -> Products:
    x, y = inputs(size)  # (N,) each
    expected = np.multiply(x, y)  # (N,)
    a, b = jax.device_put(x), jax.device_put(y)  # (N,) each
    eager, jitted = jnp.multiply(a, b), MULTIPLY(a, b)  # (N,) each
    diffs = [np.max(np.abs(np.asarray(r, np.float64) - expected)) for r in (eager, jitted)]
    return Products(size, str(jitted.dtype), float(max(diffs)), float(expected[-1]))


def agreement_sentence(n: int, diff: float) -> str:
    agree = "exactly" if diff == 0 else f"to within {diff:g}"
    products = (
        f"All {n:,} products from eager and jit agree"
        if n != 1
        else "The product from eager and jit agrees"
    )
    return f"{products} with NumPy's {agree} (largest difference {diff:g})."


def rounding_note(n: int, last: float, dtype: str) -> str | None:
    """Why the last product is not n² (float32 keeps 24 significant bits), if it is not."""
    exact = n * n
    if last == exact:
        return None
    held = " (lesson 01's float64 list held it exactly)" if exact < 2**53 else ""
    bits = {"float32": 24, "float64": 53}.get(dtype)
    keeps = f"{dtype} keeps {bits} significant bits" if bits else f"{dtype} rounds"
    return f"{keeps}: the last product, {exact:,} exactly, is stored as {last:,.0f}{held}."


def say_products(r: Products, console: Console) -> None:
    console.print("\n" + agreement_sentence(r.size, r.max_abs_diff))
    note = rounding_note(r.size, r.last_product, r.dtype)
    if note:
        console.print(note)


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    runs = f"{REPEATS} runs each" + ("" if args.skip_list else ", then the Python list")
    return [
        sections.Section(
            "steps",
            functools.partial(compute_steps, size=args.size, skip_list=args.skip_list),
            say_steps,
            doing=f"timing NumPy, transfer, eager and jit: {runs}",
        ),
        sections.Section(
            "products", functools.partial(compute_products, size=args.size), say_products
        ),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    steps, products = done["steps"], done["products"]
    speedup = None if steps.list_ms is None else steps.list_ms / steps.jit_cached_ms
    return {
        "size": steps.size,
        "dtype": steps.dtype,
        "repeats": steps.repeats,
        "numpy_ms": steps.numpy_ms,
        "transfer_ms": steps.transfer_ms,
        "transfer_copied": steps.transfer_copied,
        "eager_ms": steps.eager_ms,
        "jit_first_ms": steps.jit_first_ms,
        "jit_cached_ms": steps.jit_cached_ms,
        "unsynced_ms": steps.unsynced_ms,
        "max_abs_diff": products.max_abs_diff,
        "last_product": products.last_product,
        "list_ms": steps.list_ms,
        "list_repeats": steps.list_repeats,
        "speedup_vs_list": speedup,
        "faults_per_call": steps.faults_per_call,
        "result_pages": steps.result_pages,
    }


def trap_bullet(synced: float, unsynced: float) -> str:
    """The closing bullet on async dispatch: a large gap, or dispatch-bound."""
    if unsynced < synced / 2:
        return (
            f"Without block_until_ready the call seemed to take {unsynced:.4f} ms, "
            f"{synced / unsynced:.0f}× less than its real {synced:.3f} ms: JAX returns before "
            "the work is done."
        )
    return (
        f"Without block_until_ready the call took {unsynced:.3f} ms against {synced:.3f} ms: "
        "at this size dispatch is most of the cost, but wait for results before timing."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    r = done["steps"]
    first, cached, numpy_ms = r.jit_first_ms, r.jit_cached_ms, r.numpy_ms
    compiled = (
        f"jax.jit's first call took {first:.1f} ms (trace, compile, run), "
        f"{first / cached:.0f}× the cached call: the compiled kernel is kept per shape and dtype."
    )
    against = f"took {cached / numpy_ms:.2f}× NumPy's time (one multiply: nothing to fuse)"
    if r.list_ms is not None:
        against = f"was {display.how_much(cached, r.list_ms, 'the Python list')} and {against}"
    return [compiled, trap_bullet(cached, r.unsynced_ms), f"The cached jit call {against}."]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--size",
        type=cli.int_in(1, MAX_SIZE),
        default=SIZE,
        help=f"elements per array, at most {MAX_SIZE:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--skip-list",
        action="store_true",
        help="do not time the Python list baseline (speedup_vs_list is null)",
    )
    args = parser.parse_args(argv)
    if not args.skip_list and args.size > MAX_LIST_SIZE:
        parser.error(
            f"argument --size: the list baseline stops at {MAX_LIST_SIZE:,} elements "
            "(about 5 s per timed call); add --skip-list for larger arrays"
        )
    lists = "" if args.skip_list else " and four float lists"
    cli.require_memory(
        parser, bytes_needed(args.size, args.skip_list), f"--size {args.size:,} (arrays{lists})"
    )
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=(multiply,),
    )


if __name__ == "__main__":
    cli.entry(main)
