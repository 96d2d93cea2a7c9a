"""Lesson 7 — Mini-TRINITY: a governed routing loop with receipts.

A task is a 2-D vector (x: how much it looks like maths, y: like creative
writing). A compiled router scores it against three experts (a stable softmax
over task · routing matrixᵀ) and picks the best. The experts stand in for
external models: a math solver (costs 0.05), a writer (0.08) and a cheap
model that always times out (0.01). A verifier rejects errors and outputs
that do not fit the task; on a rejection the task vector is warped away from
the expert that failed and routed again. After three rejected turns the task
is quarantined. Every turn goes on a receipt that can be written and replayed.
Route a task of your own with --task X Y (and --task-type).

Run:  python lessons/14_mini_trinity.py [--task X Y] [--task-type math|creative]
      [--receipt FILE] [--replay FILE] [--json] [--show-code]

A replay that finds any difference from the receipt exits with status 1. A
receipt records how many cases it holds and a hash chain over their inputs,
so a case left out, added, copied or moved is a difference too; a file that
gives a key twice is refused (JSON readers differ on which one counts).
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import sys

from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations.trinity import (
    EXPERTS,
    MAX_ABS,
    MAX_TURNS,
    RESET,
    ROUTING,
    SHIFT,
    TASK_TYPES,
    TIMEOUT,
    differences,
    file_differences,
    read_receipts,
    route,
    run_case,
    warp,
    write_receipts,
)

CASES = [  # (name, task type, task vector)
    ("math", "math", [2.0, 0.1]),
    ("creative", "creative", [0.1, 0.15]),
    # Designed to end in quarantine: a math task worded like prose. The writer
    # fails it, the warp lands near the timeout expert, and the reset after the
    # timeout sends it straight back to the writer.
    ("wordy math", "math", [1.0, 4.0]),
]


YOUR_TASK = "your task"  # the name of the case --task adds


def run(recorded: dict | None = None, task: tuple | None = None) -> dict:
    """Run the lesson's cases (and a task of the learner's, `task` = (type, [x, y])),
    or re-run the cases of a parsed receipt file and compare every field."""
    if recorded is not None:
        inputs = [(c["name"], c["task_type"], c["task_vector"]) for c in recorded["cases"]]
    else:
        inputs = list(CASES) + ([(YOUR_TASK, task[0], list(task[1]))] if task else [])
    cases = [run_case(*case, number=i + 1) for i, case in enumerate(inputs)]
    results = {"cases": cases}
    if recorded is not None:
        pairs = zip(recorded["cases"], cases)
        results["replay"] = {
            "cases_checked": len(cases),
            "differences": file_differences(recorded)
            + [d for old, new in pairs for d in differences(old, new)],
        }
    return results


def _receipt(case: dict) -> Table:
    # names come from the receipt file on --replay: escape them, '[/x]' is rich markup
    table = Table(
        title=f"Receipt · {escape(case['name'])} ({case['task_type']} task)",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )
    for col in (
        "turn",
        "task vector",
        "expert",
        "router P",
        "output",
        "status",
        "cost",
        "verifier",
    ):
        table.add_column(col, justify="right" if col in ("turn", "cost") else "left")
    for t in case["turns"]:
        probs = " ".join(
            f"[bold]{p:.2f}[/]" if i == t["expert"] else f"{p:.2f}"
            for i, p in enumerate(t["probabilities"])
        )
        table.add_row(
            str(t["turn"]),
            display.vector(t["task_vector"], "{:.3g}"),
            f"{t['expert']} {t['expert_name']}",
            probs,
            escape(t["output"]),
            t["status"],
            f"{t['cost']:.2f}",
            t["feedback"],
        )
    return table


def report(r: dict, console) -> None:
    for i, (e, row) in enumerate(zip(EXPERTS, ROUTING)):
        console.print(
            f"Expert {i} {e.name:<7} routing row {display.vector(row, '{:.3g}'):<11} "
            f"cost {e.cost_cents / 100:.2f}  answers: {e.output_kind}: {e.output}"
        )
    shifts = [
        f"expert {i} → task − {display.vector(s, '{:.3g}')}"
        for i, s in enumerate(SHIFT)
        if i != TIMEOUT
    ]
    console.print(
        f"Warp on rejection: {'; '.join(shifts)}; expert {TIMEOUT} (timeout) → "
        f"reset to {display.vector(RESET, '{:.3g}')}. At most {MAX_TURNS} turns."
    )
    for case in r["cases"]:
        console.print()
        console.print(_receipt(case))
        turns = case["turns"]
        path = " → ".join(
            f"{t['expert']} {'✓' if t['status'] == 'accepted' else '✗'}" for t in turns
        )
        costs = " + ".join(f"{t['cost']:.2f}" for t in turns)
        n = len(turns)
        total = f" = {case['total_cost']:.2f}" if n > 1 else ""
        console.print(
            f"[bold]{case['status'].upper()}[/] after {n} turn{'s' * (n > 1)}: "
            f"{path}; cost {costs}{total}"
        )
        experts = [t["expert"] for t in turns]
        repeated = sorted({e for e in experts if experts.count(e) > 1})
        if repeated:
            console.print(
                f"Expert(s) {repeated} were tried more than once: each warp looks "
                "only at the last failure and remembers nothing of earlier turns."
            )
        if case["status"] == "quarantined":
            console.print(
                f"After {MAX_TURNS} rejected turns the loop stops and quarantines "
                "the task for a human, instead of paying for more attempts."
            )

    summary = Table(
        title="All cases",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )
    for col in ("case", "task", "start", "status", "turns", "experts", "cost"):
        summary.add_column(col, justify="right" if col in ("turns", "cost") else "left")
    for c in r["cases"]:
        summary.add_row(
            escape(c["name"]),
            c["task_type"],
            display.vector(c["task_vector"], "{:.3g}"),
            c["status"],
            str(len(c["turns"])),
            " → ".join(str(t["expert"]) for t in c["turns"]),
            f"{c['total_cost']:.2f}",
        )
    console.print()
    console.print(summary)

    if "replay" in r:
        replay = r["replay"]
        checked = display.count(replay["cases_checked"], "case")
        if not replay["differences"]:
            console.print(f"Replayed {checked}: every recorded field matches the receipt.")
        else:
            console.print(
                f"[bold]Replayed {checked}: "
                f"{display.count(len(replay['differences']), 'difference')} from the receipt "
                "(exit status 1):[/]"
            )
            for line in replay["differences"]:
                console.print(f"  {escape(line)}")  # quotes the file's values
    if "receipt_file" in r:
        path = escape(r["receipt_file"])
        console.print(f"Receipts written to {path}; check them with --replay {path}.")


def _names(cases: list[dict]) -> str:
    return ", ".join(f"“{escape(c['name'])}”" for c in cases)


def outcome_bullet(cases: list[dict]) -> str:
    """How many cases were solved and quarantined, and what they cost."""
    solved = [c for c in cases if c["status"] == "solved"]
    stopped = [c for c in cases if c["status"] != "solved"]
    total = sum(c["total_cost"] for c in cases)
    parts = [f"{len(solved)} solved ({_names(solved)})" if solved else "none solved"]
    if stopped:
        parts.append(f"{len(stopped)} quarantined ({_names(stopped)})")
    return (
        f"Of {display.count(len(cases), 'case')}, {' and '.join(parts)}; every turn was "
        f"charged, {total:.2f} in all."
    )


def retry_bullet(cases: list[dict]) -> str:
    """What the warp after a rejection did: rescued a case, failed to, or was not needed."""
    rescued = [c for c in cases if c["status"] == "solved" and len(c["turns"]) > 1]
    stopped = [c for c in cases if c["status"] != "solved"]
    if stopped:
        c = stopped[0]
        path = " → ".join(str(t["expert"]) for t in c["turns"])
        return (
            f"“{escape(c['name'])}” was rejected {len(c['turns'])} times (experts {path}; a "
            "warp remembers only the last failure), so the loop stopped and quarantined it."
        )
    if rescued:
        return (
            f"A rejection warped the task away from the failed expert, and the next route "
            f"solved it: {_names(rescued)}."
        )
    return "Every case was solved on its first turn: no rejection, no warp."


def receipt_bullet(r: dict) -> str:
    """What the receipts of this run became: checked, written, or ready to write."""
    turns = sum(len(c["turns"]) for c in r["cases"])
    if "replay" in r:
        n = len(r["replay"]["differences"])
        found = f"found {display.count(n, 'difference')}" if n else "matched every field"
        return f"Replaying {display.count(r['replay']['cases_checked'], 'case')} {found}."
    if "receipt_file" in r:
        path = escape(r["receipt_file"])
        return (
            f"The receipts of {display.count(turns, 'turn')} were written to {path}: "
            f"--replay {path} checks them."
        )
    return (
        f"Each of the {display.count(turns, 'turn')} went on a receipt: --receipt FILE "
        "writes them, --replay FILE re-runs and compares every field."
    )


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [outcome_bullet(r["cases"]), retry_bullet(r["cases"]), receipt_bullet(r)]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--receipt", metavar="FILE", help="write the receipts of this run as JSON to FILE"
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="re-run the cases of a receipt file and report every field that differs; "
        "exit status 1 if any does",
    )
    parser.add_argument(
        "--task",
        nargs=2,
        metavar=("X", "Y"),
        type=cli.float_in(-MAX_ABS, MAX_ABS, "larger would overflow float32 logits"),
        help="also route a task of your own: x (how much like maths), y (how much like "
        "creative writing), negative values allowed",
    )
    parser.add_argument(
        "--task-type",
        choices=TASK_TYPES,
        default="math",
        help="what --task asks for (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.task is not None and args.replay is not None:
        parser.error("argument --task: not allowed with --replay (a replay re-runs the file)")
    try:
        recorded = read_receipts(args.replay) if args.replay is not None else None
    except ValueError as e:
        parser.error(f"argument --replay: {e}")
    task = (args.task_type, args.task) if args.task is not None else None
    results = run(recorded, task)
    if args.receipt is not None:  # an empty name is an error, not 'no file'
        try:
            write_receipts(args.receipt, results["cases"])
        except ValueError as e:
            parser.error(f"argument --receipt: {e}")
        results["receipt_file"] = args.receipt
    cli.finish(
        args,
        __file__,
        results,
        report,
        title=__doc__,
        kernels=(route, warp),
        summary=summary,
    )
    if results.get("replay", {}).get("differences"):
        sys.exit(1)  # a replay that differs is a failed check


if __name__ == "__main__":
    cli.entry(main)
