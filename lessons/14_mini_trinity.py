"""Lesson 14 — Mini-TRINITY: a governed routing loop with receipts.

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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display, sections, trinity

CASES = [  # (name, task type, task vector)
    ("math", "math", [2.0, 0.1]),
    ("creative", "creative", [0.1, 0.15]),
    # Designed to end in quarantine: a math task worded like prose. The writer
    # fails it, the warp lands near the timeout expert, and the reset after the
    # timeout sends it straight back to the writer.
    ("wordy math", "math", [1.0, 4.0]),
]


YOUR_TASK = "your task"  # the name of the case --task adds


# ----------------------------------------------------------------------------
# 1. The experts, their routing rows and the warp.


@dataclass(frozen=True)
class Experts:
    names: list[str]
    costs: list[float]  # charged per call, whatever the outcome
    answers: list[str]  # what each returns, whatever it is asked ("math: a worked solution")
    routing: list[list[float]]  # one row per expert, (E, 2)
    shifts: list[list[float]]  # subtracted from a task the expert failed, (E, 2)
    timeout: int  # the expert whose failure resets the task instead
    reset: list[float]  # where that reset sends it, (2,)
    max_turns: int


def compute_experts(done: dict) -> Experts:
    experts = trinity.EXPERTS
    return Experts(
        names=[e.name for e in experts],
        costs=[e.cost_cents / 100 for e in experts],
        answers=[f"{e.output_kind}: {e.output}" for e in experts],
        routing=trinity.ROUTING,
        shifts=trinity.SHIFT.tolist(),
        timeout=trinity.TIMEOUT,
        reset=trinity.RESET.tolist(),
        max_turns=trinity.MAX_TURNS,
    )


def say_experts(r: Experts, console: Console) -> None:
    for i, (name, row) in enumerate(zip(r.names, r.routing, strict=True)):
        console.print(
            f"Expert {i} {name:<7} routing row {display.vector(row, '{:.3g}'):<11} "
            f"cost {r.costs[i]:.2f}  answers: {r.answers[i]}"
        )
    shifts = [
        f"expert {i} → task − {display.vector(s, '{:.3g}')}"
        for i, s in enumerate(r.shifts)
        if i != r.timeout
    ]
    console.print(
        f"Warp on rejection: {'; '.join(shifts)}; expert {r.timeout} (timeout) → "
        f"reset to {display.vector(r.reset, '{:.3g}')}. At most {r.max_turns} turns."
    )


# ----------------------------------------------------------------------------
# 2. The cases, turn by turn: one receipt each.


@dataclass(frozen=True)
class Turn:
    turn: int
    task_vector: list[float]  # (2,)
    expert: int
    expert_name: str
    probabilities: list[float]  # the router's, (E,)
    output: str
    status: str  # accepted or rejected
    cost: float
    feedback: str  # the verifier's


@dataclass(frozen=True)
class Case:
    case: int  # its place in the run, from 1
    name: str
    task_type: str
    task_vector: list[float]  # where it started, (2,)
    status: str  # solved or quarantined
    total_cost: float
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Cases:
    cases: tuple[Case, ...]
    max_turns: int


def compute_cases(done: dict, *, inputs: list[tuple]) -> Cases:
    """Run the governed loop on each (name, task type, task vector) of `inputs`."""
    receipts = [trinity.run_case(*case, number=i + 1) for i, case in enumerate(inputs)]
    cases = tuple(Case(**{**c, "turns": tuple(Turn(**t) for t in c["turns"])}) for c in receipts)
    return Cases(cases, trinity.MAX_TURNS)


def repeated_experts(case: Case) -> list[int]:
    """The experts a case tried more than once."""
    experts = [t.expert for t in case.turns]
    return sorted({e for e in experts if experts.count(e) > 1})


def receipt_table(case: Case) -> Table:
    # names come from the receipt file on --replay: escape them, '[/x]' is rich markup
    table = Table(
        title=f"Receipt · {escape(case.name)} ({case.task_type} task)",
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
    for t in case.turns:
        probs = " ".join(
            f"[bold]{p:.2f}[/]" if i == t.expert else f"{p:.2f}"
            for i, p in enumerate(t.probabilities)
        )
        table.add_row(
            str(t.turn),
            display.vector(t.task_vector, "{:.3g}"),
            f"{t.expert} {t.expert_name}",
            probs,
            escape(t.output),
            t.status,
            f"{t.cost:.2f}",
            t.feedback,
        )
    return table


def say_case(case: Case, max_turns: int, console: Console) -> None:
    console.print()
    console.print(receipt_table(case))
    path = " → ".join(f"{t.expert} {'✓' if t.status == 'accepted' else '✗'}" for t in case.turns)
    costs = " + ".join(f"{t.cost:.2f}" for t in case.turns)
    n = len(case.turns)
    total = f" = {case.total_cost:.2f}" if n > 1 else ""
    console.print(
        f"[bold]{case.status.upper()}[/] after {n} turn{'s' * (n > 1)}: {path}; cost {costs}{total}"
    )
    if repeated_experts(case):
        console.print(
            f"Expert(s) {repeated_experts(case)} were tried more than once: each warp looks "
            "only at the last failure and remembers nothing of earlier turns."
        )
    if case.status == "quarantined":
        console.print(
            f"After {max_turns} rejected turns the loop stops and quarantines "
            "the task for a human, instead of paying for more attempts."
        )


def say_cases(r: Cases, console: Console) -> None:
    for case in r.cases:
        say_case(case, r.max_turns, console)
    table = Table(
        title="All cases",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )
    for col in ("case", "task", "start", "status", "turns", "experts", "cost"):
        table.add_column(col, justify="right" if col in ("turns", "cost") else "left")
    for c in r.cases:
        table.add_row(
            escape(c.name),
            c.task_type,
            display.vector(c.task_vector, "{:.3g}"),
            c.status,
            str(len(c.turns)),
            " → ".join(str(t.expert) for t in c.turns),
            f"{c.total_cost:.2f}",
        )
    console.print()
    console.print(table)


# ----------------------------------------------------------------------------
# 3. A replay of a receipt file (--replay), or the receipts written (--receipt).


@dataclass(frozen=True)
class Replay:
    cases_checked: int
    differences: list[str]  # one line per field that differs (quoting the file)


def compute_replay(done: dict, *, recorded: dict) -> Replay:
    replayed = cli.to_jsonable(done["cases"].cases)  # the receipts as the run writes them
    found = trinity.file_differences(recorded)
    for old, new in zip(recorded["cases"], replayed):
        found += trinity.differences(old, new)
    return Replay(len(replayed), found)


def say_replay(r: Replay, console: Console) -> None:
    checked = display.count(r.cases_checked, "case")
    if not r.differences:
        console.print(f"Replayed {checked}: every recorded field matches the receipt.")
        return
    console.print(
        f"[bold]Replayed {checked}: {display.count(len(r.differences), 'difference')} "
        "from the receipt (exit status 1):[/]"
    )
    for line in r.differences:
        console.print(f"  {escape(line)}")  # quotes the file's values


@dataclass(frozen=True)
class Receipt:
    path: str


def write_receipt(done: dict, *, path: str, refuse: Callable[[str], None]) -> Receipt:
    try:
        trinity.write_receipts(path, cli.to_jsonable(done["cases"].cases))
    except ValueError as e:
        refuse(f"argument --receipt: {e}")  # argparse's one-line error, exit 2
    return Receipt(path)


def say_receipt(r: Receipt, console: Console) -> None:
    path = escape(r.path)
    console.print(f"Receipts written to {path}; check them with --replay {path}.")


# ----------------------------------------------------------------------------
# The lesson.


def _names(cases: list[Case]) -> str:
    return ", ".join(f"“{escape(c.name)}”" for c in cases)


def outcome_bullet(cases: tuple[Case, ...]) -> str:
    """How many cases were solved and quarantined, and what they cost."""
    solved = [c for c in cases if c.status == "solved"]
    stopped = [c for c in cases if c.status != "solved"]
    total = sum(c.total_cost for c in cases)
    parts = [f"{len(solved)} solved ({_names(solved)})" if solved else "none solved"]
    if stopped:
        parts.append(f"{len(stopped)} quarantined ({_names(stopped)})")
    return (
        f"Of {display.count(len(cases), 'case')}, {' and '.join(parts)}; every turn was "
        f"charged, {total:.2f} in all."
    )


def retry_bullet(cases: tuple[Case, ...]) -> str:
    """What the warp after a rejection did: rescued a case, failed to, or was not needed."""
    rescued = [c for c in cases if c.status == "solved" and len(c.turns) > 1]
    stopped = [c for c in cases if c.status != "solved"]
    if stopped:
        c = stopped[0]
        path = " → ".join(str(t.expert) for t in c.turns)
        return (
            f"“{escape(c.name)}” was rejected {len(c.turns)} times (experts {path}; a "
            "warp remembers only the last failure), so the loop stopped and quarantined it."
        )
    if rescued:
        return (
            f"A rejection warped the task away from the failed expert, and the next route "
            f"solved it: {_names(rescued)}."
        )
    return "Every case was solved on its first turn: no rejection, no warp."


def receipt_bullet(turns: int, replay: Replay | None, receipt: Receipt | None) -> str:
    """What the receipts of this run became: checked, written, or ready to write."""
    if replay is not None:
        n = len(replay.differences)
        found = f"found {display.count(n, 'difference')}" if n else "matched every field"
        return f"Replaying {display.count(replay.cases_checked, 'case')} {found}."
    if receipt is not None:
        path = escape(receipt.path)
        return (
            f"The receipts of {display.count(turns, 'turn')} were written to {path}: "
            f"--replay {path} checks them."
        )
    return (
        f"Each of the {display.count(turns, 'turn')} went on a receipt: --receipt FILE "
        "writes them, --replay FILE re-runs and compares every field."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    cases = done["cases"].cases
    turns = sum(len(c.turns) for c in cases)
    return [
        outcome_bullet(cases),
        retry_bullet(cases),
        receipt_bullet(turns, done.get("replay"), done.get("receipt_file")),
    ]


def results(done: dict) -> dict:
    """The --json results of the lesson's contract: cases, then replay and receipt_file
    when the run had them."""
    out: dict = {"cases": done["cases"].cases}
    if "replay" in done:
        out["replay"] = done["replay"]
    if "receipt_file" in done:
        out["receipt_file"] = done["receipt_file"].path
    return out


def build(args, recorded: dict | None, refuse: Callable[[str], None]) -> list[sections.Section]:
    if recorded is not None:
        inputs = [(c["name"], c["task_type"], c["task_vector"]) for c in recorded["cases"]]
    else:
        mine = [(YOUR_TASK, args.task_type, list(args.task))] if args.task is not None else []
        inputs = list(CASES) + mine
    S = sections.Section
    out = [
        S("experts", compute_experts, say_experts, title="The experts and the warp"),
        S(
            "cases",
            partial(compute_cases, inputs=inputs),
            say_cases,
            title="The cases, turn by turn",
            doing=f"routing {display.count(len(inputs), 'case')}",
        ),
    ]
    if recorded is not None:
        out.append(S("replay", partial(compute_replay, recorded=recorded), say_replay))
    if args.receipt is not None:  # an empty name is an error, not 'no file'
        out.append(
            S("receipt_file", partial(write_receipt, path=args.receipt, refuse=refuse), say_receipt)
        )
    return out


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
        type=cli.float_in(
            -trinity.MAX_ABS, trinity.MAX_ABS, "larger would overflow float32 logits"
        ),
        help="also route a task of your own: x (how much like maths), y (how much like "
        "creative writing), negative values allowed",
    )
    parser.add_argument(
        "--task-type",
        choices=trinity.TASK_TYPES,
        default="math",
        help="what --task asks for (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.task is not None and args.replay is not None:
        parser.error("argument --task: not allowed with --replay (a replay re-runs the file)")
    try:
        recorded = trinity.read_receipts(args.replay) if args.replay is not None else None
    except ValueError as e:
        parser.error(f"argument --replay: {e}")
    done = sections.run(
        args,
        __file__,
        __doc__,
        build(args, recorded, parser.error),
        summary=summary,
        results=results,
        kernels=(trinity.route, trinity.warp),
    )
    if "replay" in done and done["replay"].differences:
        sys.exit(1)  # a replay that differs is a failed check


if __name__ == "__main__":
    cli.entry(main)
