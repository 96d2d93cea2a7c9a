"""Benchmarks: the list → tensor → JIT story, measured side by side in one run.

Element-wise multiply (a·b) and square-add (a² + b) of float32 vectors at
sizes 10³ … 10⁷, six ways (a Python list, NumPy, NumPy into a preallocated
array, eager JAX, jax.jit, jax.jit writing into a donated buffer), with the
jit's compile time apart and each method's bandwidth as a fraction of the
memory-copy bandwidth measured in the same run (benchmarks/elementwise.py).
Then whole loops: the linear probe's training and the simple ES of lesson 10
as Python loops with a host sync per step against one compiled run, and
evosax's SimpleES beside ours (benchmarks/loops.py). This file runs them,
computes the headline ratios and prints the report.

Every figure is the median of repeated calls after a warm-up, each call
waited for with block_until_ready; the repeats are as many as fit a time
budget per figure (at least 5). The calls compared with each other are timed
in three interleaved passes (timing.time_side_by_side), so a slow spell of a
busy machine falls on all of them alike.

Run:  python benchmarks/run.py [--quick] [--json PATH] [--sizes N ...] [--out DIR]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse
import json
import os
import sys
from pathlib import Path

import elementwise
import jax
import loops
import numpy as np

from trinity_foundations import cli, display, timing

SIZES = (10**3, 10**4, 10**5, 10**6, 10**7)
QUICK_LIST_LIMIT = 10**6  # --quick skips the list above this (about a second per call at 10⁷)
BUDGET_MS = {"full": 400.0, "quick": 100.0}  # time spent on each figure's repeats
OUT_DIR = Path(__file__).resolve().parent / "out"

# Upper bounds of the flags that only cost time (memory is checked apart).
MAX_SIZE = 10**8  # the list takes about 7 s a call there, and runs at least 8 times per op
MAX_BUDGET_MS = 10_000.0  # per figure; a full run has about 70 figures
MAX_WARMUP_MS = 10_000.0
MAX_EPOCHS = 10_000  # the probe's Python loop: about 70 µs an epoch, 8 calls or more
MAX_GENERATIONS = 2_000  # the ES host loop: about 0.5 ms a generation, 8 calls or more

TARGETS = {  # (comparison, bound) for the 2-core CPU; benchmarks/README.md explains each
    "jit_over_numpy_1e6": ("<=", 1.5),
    "numpy_over_donated_jit_1e7": (">=", 2.0),
    "list_over_jit_1e6": (">=", 50.0),
    "bandwidth_fraction_1e7": (">=", 0.5),
    "loop_over_scan_probe": (">=", 5.0),
    "host_over_compiled_es": (">=", 10.0),
    "evosax_over_ours_es": (">=", 1.0),
}


# ----------------------------------------------------------------------------
# The run and its ratios.


def ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None else num / den


def ratios(results: dict) -> dict:
    """The headline ratios, on the multiply (the original's example); None
    where a figure was not measured in this run (a size not in --sizes)."""
    rec = results["elementwise"]

    def ms(method: str, size: int) -> float | None:
        r = elementwise.find(rec, "multiply", method, size)
        return r["ms"] if r else None

    fractions = [elementwise.find(rec, "multiply", m, 10**7) for m in elementwise.JAX_METHODS]
    pr, es = results["probe"], results["es"]
    return {
        "jit_over_numpy_1e6": ratio(ms("jit", 10**6), ms("numpy", 10**6)),
        "numpy_over_donated_jit_1e7": ratio(ms("numpy", 10**7), ms("jit_donated", 10**7)),
        "list_over_jit_1e6": ratio(ms("list", 10**6), ms("jit", 10**6)),
        "bandwidth_fraction_1e7": max(
            (r["fraction_of_copy"] for r in fractions if r), default=None
        ),
        "loop_over_scan_probe": ratio(pr["loop"]["ms"], pr["scan"]["ms"]),
        "host_over_compiled_es": ratio(es["host_loop"]["ms"], es["compiled"]["ms"]),
        "evosax_over_ours_es": ratio(
            es["evosax"]["ms"] if es["evosax"] else None, es["compiled"]["ms"]
        ),
    }


def default_copy_size(sizes) -> int:
    """The reference copy's length: past the last-level cache, and no shorter than any size."""
    return max(elementwise.MIN_COPY_SIZE, *sizes)


def with_list_at(size: int, list_limit: int | None) -> bool:
    return list_limit is None or size <= list_limit


def run(
    sizes,
    *,
    budget_ms: float,
    list_limit: int | None,
    seed: int,
    epochs: int,
    generations: int,
    copy_size: int | None = None,
    warmup_ms: float = timing.WARMUP_MS,
    progress=lambda step: None,
) -> dict:
    """Every figure of the benchmark; the list is skipped above `list_limit`.

    `progress(step)` is called with a short description before each stage.
    """
    copy_size = copy_size or default_copy_size(sizes)
    on_device = jax.default_backend() != "cpu"
    progress(f"memory-copy bandwidth, {copy_size:,} elements")
    copy_before = elementwise.copy_bandwidth(copy_size, budget_ms, on_device, warmup_ms=warmup_ms)
    records, compiles, skipped = [], [], []
    reference = (elementwise.copy_call(copy_size, on_device), copy_size)  # in every round
    for size in sizes:
        with_list = with_list_at(size, list_limit)
        if not with_list:
            skipped.append(size)
        progress(f"element-wise kernels at {size:,} elements")
        r, c = elementwise.measure(
            size, budget_ms=budget_ms, with_list=with_list, warmup_ms=warmup_ms, copy=reference
        )
        records += r
        compiles += c
    # Other work on the machine can slow one copy measurement: take two, keep the faster.
    progress("memory-copy bandwidth again")
    after = elementwise.copy_bandwidth(copy_size, budget_ms, on_device, warmup_ms=warmup_ms)
    runs = [copy_before, after]
    copy = {
        "size": copy_size,
        "bytes": 8 * copy_size,
        "runs": runs,
        "how": "jitted copy in device memory" if on_device else "np.copyto, one thread",
        "gbps": max(r["gbps"] for r in runs),
    }
    elementwise.add_derived(records, copy)
    progress(f"probe training, {epochs:,} epochs")
    probe = loops.probe_benchmark(seed, epochs, budget_ms, warmup_ms=warmup_ms)
    progress(f"simple ES, {generations:,} generations")
    es = loops.es_benchmark(seed, generations, budget_ms, warmup_ms=warmup_ms)
    results = {
        "copy": copy,
        "elementwise": records,
        "compile": compiles,
        "list_skipped": skipped,
        "bytes_per_element": elementwise.BYTES_PER_ELEMENT,
        "probe": probe,
        "es": es,
    }
    results["ratios"] = ratios(results)
    return results


def environment() -> dict:
    backend, device = cli.device_info()
    return {
        "backend": backend,
        "device": device,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax_platforms": os.environ.get("JAX_PLATFORMS", ""),
        "cpu_async_dispatch": bool(jax.config.values["jax_cpu_enable_async_dispatch"]),
    }


# ----------------------------------------------------------------------------
# The report.


def target_met(name: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, bound = TARGETS[name]
    return value <= bound if op == "<=" else value >= bound


def report_environment(env: dict, console) -> None:
    console.rule("[bold]Benchmarks: the list → tensor → JIT story")
    console.print(
        f"[dim]JAX {env['jax']} · NumPy {env['numpy']} · backend: {env['backend']} · "
        f"device: {env['device']} · {env['cpu_count']} CPU cores[/]"
    )
    console.print(
        f"[dim]XLA_FLAGS: {env['xla_flags'] or '(none)'} · JAX_PLATFORMS: "
        f"{env['jax_platforms'] or '(unset)'} · CPU async dispatch: "
        f"{env['cpu_async_dispatch']}[/]\n"
    )


def targets_caption(backend: str) -> str | None:
    """Off the CPU, a word that the targets are the 2-core CPU's, not this machine's."""
    if backend == "cpu":
        return None
    return f"The targets were set for a 2-core CPU; on this {backend} they judge nothing."


def report_ratios(values: dict, console, backend: str = "cpu") -> None:
    from rich.table import Table

    table = Table(
        title="Headline ratios (multiply; ES and probe as above)",
        caption=targets_caption(backend),
    )
    for col in ("ratio", "value", "target", "met"):
        table.add_column(col, justify="left" if col == "ratio" else "right")
    for name, value in values.items():
        op, bound = TARGETS[name]
        table.add_row(
            name,
            elementwise.fmt(value, ".3g", "not measured"),
            f"{op} {bound:g}",
            {None: "—", True: "yes", False: "[red]no[/]"}[target_met(name, value)],
        )
    console.print(table)


def report(results: dict, env: dict, console, png: Path | None) -> None:
    report_environment(env, console)
    elementwise.report(results, console, png)
    loops.report_probe(results["probe"], console)
    loops.report_es(results["es"], console)
    report_ratios(results["ratios"], console, env["backend"])


# ----------------------------------------------------------------------------
# The command line: every flag bounded, every output path checked before the run.


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path("/")


def _write_probe(path: Path) -> str | None:
    """Why a device or pipe at `path` takes no output, or None: /dev/full
    opens fine and fails only on a write, so one newline is written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"\n")  # JSON allows leading white space
        finally:
            os.close(fd)
    except OSError as error:
        return error.strerror or str(error)
    return None


def output_problem(path: Path, *, folder: bool) -> str | None:
    """Why `path` cannot take this run's output, or None.

    Checked before the run, so a bad --json or --out costs seconds, not the
    whole run. `folder`: the path is a folder to write into (--out), not a file.
    """
    path = path.expanduser().absolute()
    if path.exists():
        if folder and not path.is_dir():
            return f"{path} exists and is not a folder"
        if not folder and path.is_dir():
            return f"{path} is a folder, not a file"
        if not os.access(path, os.W_OK):
            return f"{path} is not writable"
        if not folder and not path.is_file():
            why = _write_probe(path)
            return f"cannot write to {path}: {why}" if why else None
        return None
    above = _nearest_existing(path.parent)
    if not above.is_dir():
        return f"{above} is not a folder, so {path} cannot be created"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"cannot create {path}: {above} is not writable"
    return None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a shorter time budget per figure; skip the list above 10^6",
    )
    p.add_argument(
        "--sizes",
        type=cli.int_in(1, MAX_SIZE, "time: the list takes seconds a call there"),
        nargs="+",
        default=list(SIZES),
        help="vector lengths, 1 to 10^8 (default: %(default)s)",
    )
    p.add_argument(
        "--copy-size",
        type=cli.int_in(1, MAX_SIZE, "time"),
        default=None,
        help="float32 elements in the reference copy (default: 10^7 or the largest size)",
    )
    p.add_argument(
        "--budget-ms",
        type=cli.positive_float_at_most(MAX_BUDGET_MS, " ms per figure"),
        default=None,
        help="time spent on each figure's repeats (default: 400, 100 with --quick)",
    )
    p.add_argument(
        "--warmup-ms",
        type=cli.float_in(0.0, MAX_WARMUP_MS, "ms per figure"),
        default=timing.WARMUP_MS,
        help="untimed calls before each figure, for at least this long (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=cli.int_in(1, MAX_EPOCHS, "time: the probe's Python loop"),
        default=loops.PROBE_EPOCHS,
        help=f"probe training epochs, at most {MAX_EPOCHS:,} (default: %(default)s)",
    )
    p.add_argument(
        "--generations",
        type=cli.int_in(1, MAX_GENERATIONS, "time: the ES host loop"),
        default=loops.ES_GENERATIONS,
        help=f"ES generations, at most {MAX_GENERATIONS:,} (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=cli.seed_int,
        default=0,
        help="seed of every random key, 0 to 2**32-1 (default: %(default)s)",
    )
    p.add_argument(
        "--cpu-sync-dispatch",
        action="store_true",
        help="run CPU computations inline on the calling thread instead of JAX's "
        "default asynchronous dispatch (jax_cpu_enable_async_dispatch=False)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here")
    p.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR,
        help="folder for the PNG chart (default: benchmarks/out)",
    )
    return p


def check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors for what the flags ask together: memory, and the output paths."""
    sizes = args.sizes
    list_limit = QUICK_LIST_LIMIT if args.quick else None
    with_list = with_list_at(max(sizes), list_limit)
    copy_size = args.copy_size or default_copy_size(sizes)
    what = (
        f"--sizes {max(sizes):,} (float32 arrays{' and Python lists' if with_list else ''}) "
        f"with a {copy_size:,}-element copy"
    )
    cli.require_memory(p, elementwise.memory_needed(sizes, copy_size, with_list=with_list), what)
    for flag, path, folder in (("--json", args.json, False), ("--out", args.out, True)):
        why = path and output_problem(path, folder=folder)
        if why:
            p.error(f"argument {flag}: {why}")


def write_json(path: Path, env: dict, args: argparse.Namespace, results: dict) -> None:
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    figures = {k: v for k, v in results.items() if k != "ratios"}
    doc = {"benchmark": "run", **env, "params": params, "results": figures}
    doc["ratios"] = results["ratios"]
    if path.parent != path:
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write(json.dumps(cli.to_jsonable(doc), indent=1, allow_nan=False))


def progress_line(step: str) -> None:
    print(f"· {step}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    args.sizes = sorted(set(args.sizes))
    check(p, args)
    if args.cpu_sync_dispatch:  # read when the CPU client starts, so set before any array
        jax.config.update("jax_cpu_enable_async_dispatch", False)

    env = environment()
    args.budget_ms = args.budget_ms or BUDGET_MS["quick" if args.quick else "full"]
    results = run(
        args.sizes,
        budget_ms=args.budget_ms,
        list_limit=QUICK_LIST_LIMIT if args.quick else None,
        seed=args.seed,
        epochs=args.epochs,
        generations=args.generations,
        copy_size=args.copy_size,
        warmup_ms=args.warmup_ms,
        progress=progress_line,
    )
    if args.json:  # first, so that nothing after the run can lose its figures
        write_json(args.json, env, args, results)
    png = elementwise.save_png(
        results["elementwise"], results["copy"]["gbps"], args.out / "elementwise.png"
    )
    console = display.console()
    report(results, env, console, png)
    if args.json:
        console.print(f"\nWrote {args.json}")


if __name__ == "__main__":
    cli.entry(main)
