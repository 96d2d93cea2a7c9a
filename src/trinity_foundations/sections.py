"""How a lesson runs: sections that compute, then say, printed as they finish.

A lesson is a short list of `Section`s. Each computes a small frozen
dataclass of numbers (never rendered strings) from the flags and from the
sections before it, and then says it: tables, charts and sentences chosen by
small pure functions of those numbers. `run` prints each section as soon as
it is computed, with a transient status line on stderr while a slow one
works (only on a terminal: nothing on a pipe or under --json), and closes
the lesson with "What you saw" (bullets computed from the results), a
"Try:" line naming the practice exercises and the Next line. With --json it
prints one object built from the same dataclasses instead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from trinity_foundations import cli, display


@dataclass(frozen=True)
class Section:
    """One step of a lesson: what it computes, what it says, and what it is doing meanwhile."""

    name: str  # its key among the results (and in --json)
    compute: Callable[[dict], Any]  # (results of the sections before it) -> a frozen dataclass
    say: Callable[[Any, Console], None]  # (its result, the console) -> None
    title: str = ""  # the rule printed above it ("" prints none)
    doing: str = ""  # the status shown while it computes ("" shows none)


def compute_all(sections: Sequence[Section]) -> dict:
    """Every section's result by name, in order (each sees the ones before it)."""
    done: dict[str, Any] = {}
    for section in sections:
        done[section.name] = section.compute(done)
    return done


def open_lesson(args: argparse.Namespace, lesson_file: str, doc: str | None) -> None:
    """Print the lesson's title, introduction and --mine line, once and not under --json.

    sections.run calls it; a lesson that sets up for seconds before its sections
    (a model, check processes) calls it first, right after its own checks of its
    flags, so the learner reads the opening while it works.
    """
    if args.json or getattr(args, "opened", False):
        return
    lesson = Path(lesson_file).stem
    cli.begin(doc or lesson, lesson, getattr(args, "swapped", ()))
    args.opened = True


def run(
    args: argparse.Namespace,
    lesson_file: str,
    doc: str | None,
    sections: Sequence[Section],
    *,
    summary: Callable[[dict], Sequence[str]],
    results: Callable[[dict], Any] | None = None,
    kernels: Iterable[Callable] = (),
) -> dict:
    """Run a lesson: its sections in order, then what the learner saw, then where next.

    Args:
      args: the parsed flags (`json`, `show_code` and the lesson's own).
      lesson_file: the lesson's `__file__`; doc: its docstring (title and intro).
      sections: what the lesson computes and says, in order.
      summary: (results by section name) -> three sentences for "What you saw".
      results: (results by section name) -> the --json `results` (default: them all).
      kernels: the functions --show-code prints.

    Returns:
      The results by section name.
    """
    lesson = Path(lesson_file).stem
    if args.json:
        done = compute_all(sections)
        shown = results(done) if results is not None else done
        print(json.dumps(cli.envelope(lesson, cli.run_params(args), shown), allow_nan=False))
        return done
    console = display.console()
    open_lesson(args, lesson_file, doc)
    done: dict[str, Any] = {}
    for section in sections:
        with cli.working(args, section.doing):
            done[section.name] = section.compute(done)
        if section.title:
            console.rule(f"[bold]{escape(section.title)}")
        section.say(done[section.name], console)
    cli.close(console, args, lesson_file, kernels, summary(done))
    return done
