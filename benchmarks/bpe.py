"""Benchmark: BPE training with incremental pair counts against recounting.

Both trainers learn the same merges on data/macbeth.txt (asserted before any
time is reported): `tokenizers.train_recount` recounts every pair of the whole
text after each merge, O(n) per merge; `tokenizers.train` keeps the counts up
to date (a linked list over the sequence, a position set per pair, a heap),
so a merge costs time in proportion to the occurrences it touches.

The two are plain Python, with nothing to compile: a short untimed call of
each warms the interpreter's caches. Then they are timed in alternation,
incremental then recounting, `--repeats` times, so a slow spell of a busy
machine falls on both alike; the figures are medians and the speed-up is the
ratio of the medians, measured in this one run.

Run:  python benchmarks/bpe.py [--merges 512] [--repeats 3] [--bytes N] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse
import json
import statistics
from pathlib import Path

from rich.table import Table

from trinity_foundations import cli, display, timing
from trinity_foundations import tokenizers as tk

CORPUS = Path(__file__).resolve().parents[1] / "data" / "macbeth.txt"
MERGES, REPEATS = 512, 3
MAX_MERGES = 2048  # time: the recounting trainer takes about a minute per call there
MAX_REPEATS = 20
TARGET = 10.0  # the speed-up the incremental trainer must reach at the default sizes
WARMUP_MERGES = 4


def measure(data: bytes, merges: int, repeats: int) -> dict:
    """Time both trainers side by side; fail if their merges ever differ."""
    tk.train(data, WARMUP_MERGES), tk.train_recount(data, WARMUP_MERGES)
    samples: dict[str, list[float]] = {"incremental": [], "recount": []}
    reference = None
    for _ in range(repeats):
        for name, fn in (("incremental", tk.train), ("recount", tk.train_recount)):
            ms, learned = timing.time_once(fn, data, merges)
            samples[name].append(ms)
            if reference is None:
                reference = learned
            elif learned != reference:
                raise AssertionError(f"{name} learned different merges")
    medians = {name: statistics.median(ms) for name, ms in samples.items()}
    return {
        "bytes": len(data),
        "merges_asked": merges,
        "merges_learned": len(reference),
        "tokens_after": reference[-1].length if reference else len(data),
        "repeats": repeats,
        "same_merges": True,
        "ms": samples,
        "median_ms": medians,
        "recount_over_incremental": medians["recount"] / medians["incremental"],
        "target": TARGET,
    }


def verdict(ratio: float, target: float, merges: int, default_merges: int) -> str:
    """Whether the measured speed-up meets the target (set for the default sizes)."""
    shown = f"{ratio:.1f}×"
    if merges != default_merges:
        return f"{shown} (the {target:g}× target is set for {default_merges} merges)"
    word = "meets" if ratio >= target else "MISSES"
    return f"{shown}: {word} the {target:g}× target"


def report(r: dict, console) -> None:
    console.rule("[bold]BPE training: incremental pair counts vs recounting")
    console.print(
        f"{r['bytes']:,} bytes of Macbeth, {display.count(r['merges_learned'], 'merge')} "
        f"({r['tokens_after']:,} tokens after), {display.count(r['repeats'], 'repeat')} "
        "each, alternating; same merges from both: "
        f"{r['same_merges']}"
    )
    table = Table()
    for col in ("trainer", "median", "min", "max"):
        table.add_column(col, justify="left" if col == "trainer" else "right")
    for name in ("incremental", "recount"):
        ms = r["ms"][name]
        table.add_row(
            name, display.duration(statistics.median(ms)), display.duration(min(ms)),
            display.duration(max(ms)),
        )  # fmt: skip
    console.print(table)
    console.print(
        "Recounting over incremental, ratio of medians: "
        + verdict(r["recount_over_incremental"], r["target"], r["merges_asked"], MERGES)
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--merges",
        type=cli.int_in(1, MAX_MERGES, "time: the recounting trainer is O(n) per merge"),
        default=MERGES,
        help=f"merges to learn, 1 to {MAX_MERGES} (default: %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=cli.int_in(1, MAX_REPEATS, "time"),
        default=REPEATS,
        help=f"timed calls of each trainer, 1 to {MAX_REPEATS} (default: %(default)s)",
    )
    p.add_argument(
        "--bytes",
        type=cli.int_in(2, CORPUS.stat().st_size, "the corpus's size"),
        default=None,
        help="train on this many leading bytes of the corpus (default: all of it)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    data = CORPUS.read_bytes()[: args.bytes]
    results = measure(data, args.merges, args.repeats)
    if args.json:
        params = {"merges": args.merges, "repeats": args.repeats, "bytes": len(data)}
        print(json.dumps({"benchmark": "bpe", "params": params, "results": results}))
        return
    report(results, display.console())


if __name__ == "__main__":
    cli.entry(main)
