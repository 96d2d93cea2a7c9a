"""The numbers the notes quote from lesson runs, and whether they still hold.

A note marks each number it quotes from a run with an HTML comment right
after it (Markdown viewers do not show the comment):

    the probe reaches 0.875<!-- run: 05_linear_probe test_accuracy -->

STEM is a lesson of the catalogue; PATH is a dot-separated path into the
`results` of its `--json` envelope (an integer indexes a list, -1 the last);
an optional third word `×100` (or `x100`) scales the value first, for
percentages. The number holds when |value·scale − quoted| is at most half a
unit in the quoted number's last decimal place (plus 1e-12 relative slack):
"0.875" holds any value from 0.8745 to 0.8755, "42" any from 41.5 to 42.5.

Number forms read: 42, 0.875, .5, 12,345.6 (the commas are ignored), a
leading minus written "-" or "−" (U+2212), 1.5e-3 (or E, with "-" or "−"),
and 1.5 × 10⁻³ (superscript exponent; the spaces around × are optional).
Between the number and the comment there may be a "%" (after at most one
space), up to two of the closing characters $ ` * and spaces, so "87.5 %",
"$0.5$" and "**3**" work.

`python -m trinity_foundations.notes_check` (`make notes-check`) runs, at
its defaults, every lesson a note quotes and checks each marker against the
fresh run, one line per lesson; `--saved notes/results` checks the saved
results instead, as tests/test_note_numbers.py does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from trinity_foundations import catalogue

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "notes"
RESULTS = NOTES / "results"

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_NUMBER = (
    r"(?<![\w.,])"  # not the tail of a longer number or word
    r"(?P<mantissa>[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-−]?\.\d+)"
    r"(?:[eE](?P<exp>[-−+]?\d+)|\s?×\s?10(?P<sup>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+))?"
)
_BEFORE = re.compile(r"(?P<number>" + _NUMBER + r")(?:\s?%)?[$`*]{0,2}\s*$")
_COMMENT = re.compile(r"<!--\s*run:(?P<spec>.*?)-->", re.S)
_SCALE = re.compile(r"[×x](?P<scale>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")


class Marker(NamedTuple):
    """One quoted number: where it is, as written, and what it quotes."""

    note: str  # the note's file name
    line: int  # 1-based
    number: str  # as written, e.g. "−1,234.5" or "1.5 × 10⁻³"
    stem: str
    path: str  # dot-separated, into the envelope's results
    scale: float


def quoted(number: str) -> tuple[Decimal, Decimal]:
    """The value a quoted number says and its half unit in the last place.

    "0.875" -> (0.875, 0.0005); "−1,200" -> (-1200, 0.5); "1.5e-3" and
    "1.5 × 10⁻³" -> (0.0015, 0.00005). Raises ValueError for anything else.
    """
    match = re.fullmatch(_NUMBER, number.strip())
    if not match:
        raise ValueError(f"{number!r} is not a number this check reads")
    mantissa = Decimal(match["mantissa"].replace(",", "").replace("−", "-"))
    exp = match["exp"] or (match["sup"] or "0").translate(_SUPERSCRIPTS)
    exponent = int(exp.replace("−", "-"))
    value = mantissa.scaleb(exponent)
    half = Decimal(5).scaleb(mantissa.as_tuple().exponent - 1 + exponent)
    return value, half


def holds(value: float, number: str, scale: float = 1.0) -> bool:
    """Whether `value`·`scale` rounds to the quoted `number` (see the module docstring)."""
    if not math.isfinite(value):
        return False
    want, half = quoted(number)
    got = value * scale
    return abs(got - float(want)) <= float(half) + 1e-12 * max(abs(got), abs(float(want)))


def parse_spec(spec: str) -> tuple[str, str, float]:
    """(stem, path, scale) of a marker's "STEM PATH [×SCALE]"; ValueError if malformed."""
    words = spec.split()
    if len(words) not in (2, 3):
        raise ValueError(f"'run:{spec}' should be 'run: STEM PATH [×SCALE]'")
    scale = 1.0
    if len(words) == 3:
        match = _SCALE.fullmatch(words[2])
        if not match:
            raise ValueError(f"{words[2]!r} is not a scale like ×100")
        scale = float(match["scale"])
    return words[0], words[1], scale


def parse(text: str, note: str = "") -> tuple[list[Marker], list[str]]:
    """Every marker in a note's text, and one line per marker that cannot be read."""
    markers, problems = [], []
    for comment in _COMMENT.finditer(text):
        line = text.count("\n", 0, comment.start()) + 1
        where = f"{note}:{line}"
        before = _BEFORE.search(text, max(0, comment.start() - 80), comment.start())
        if not before:
            problems.append(f"{where}: no number right before <!-- run:{comment['spec']}-->")
            continue
        number = before["number"]
        try:
            stem, path, scale = parse_spec(comment["spec"])
        except ValueError as error:
            problems.append(f"{where}: {error}")
            continue
        markers.append(Marker(note, line, number, stem, path, scale))
    return markers, problems


def lookup(results: Any, path: str) -> float:
    """The number at a dot-separated `path` in `results`; LookupError naming what is missing."""
    here = results
    for i, part in enumerate(path.split(".")):
        so_far = ".".join(path.split(".")[: i + 1])
        if isinstance(here, list):
            try:
                here = here[int(part)]
            except (ValueError, IndexError):
                raise LookupError(f"{so_far}: no item {part!r} in a list of {len(here)}") from None
        elif isinstance(here, dict) and part in here:
            here = here[part]
        else:
            raise LookupError(f"{so_far}: not in the results")
    if isinstance(here, bool) or not isinstance(here, int | float | str):
        raise LookupError(f"{path}: is not a number")
    try:
        return float(here)  # also "Infinity", "NaN": the envelope's names for them
    except ValueError:
        raise LookupError(f"{path}: is not a number ({here!r})") from None


def check(marker: Marker, results: Any) -> str | None:
    """None when the marker's number holds for `results`, else one line saying why not."""
    where = f"{marker.note}:{marker.line}"
    try:
        value = lookup(results, marker.path)
    except LookupError as error:
        return f"{where}: {marker.stem} {error}"
    if holds(value, marker.number, marker.scale):
        return None
    got = f"{value * marker.scale:.6g}"
    if marker.scale != 1:
        got += f" ({value:.6g} ×{marker.scale:g})"
    return f"{where}: quotes {marker.number}, the run gives {got} ({marker.path})"


def note_markers(folder: Path = NOTES) -> tuple[list[Marker], list[str]]:
    """The markers of every notes/*.md, and the problems of those that cannot be read."""
    markers, problems = [], []
    for note in sorted(folder.glob("*.md")):
        found, bad = parse(note.read_text(encoding="utf-8"), note.name)
        markers += found
        problems += bad
    problems += [
        f"{m.note}:{m.line}: {m.stem!r} is not a lesson of the catalogue"
        for m in markers
        if m.stem not in catalogue.STEMS
    ]
    return [m for m in markers if m.stem in catalogue.STEMS], problems


# ----------------------------------------------------------------------------
# Lesson runs and their saved results (make figures saves them; tests read them).


def progress_line(stem: str) -> str:
    """What a learner reads while a lesson runs."""
    return f"running {stem} ({catalogue.duration(catalogue.entry(stem))} on a 2-core CPU)..."


# Flags that make a run what a fresh clone's is: lesson 20 reads `make train`'s
# checkpoint when there is one, and the notes quote the model it trains without.
FRESH: dict[str, tuple[str, ...]] = {"20_decoding": ("--checkpoint", "none")}


def run_lesson(stem: str) -> dict:
    """The `--json` envelope of lessons/<stem>.py run at its defaults, in a subprocess.

    The environment is inherited (JAX_PLATFORMS passes through); raises
    RuntimeError with the lesson's last line of stderr when it fails.
    """
    command = [sys.executable, str(ROOT / "lessons" / f"{stem}.py"), *FRESH.get(stem, ()), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"{stem} failed (exit {done.returncode}): {last}")
    return json.loads(done.stdout)


def save_results(envelope: dict, folder: Path = RESULTS) -> Path:
    """Write an envelope to folder/<lesson>.json, pretty-printed, keys sorted, atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{envelope['lesson']}.json"
    text = json.dumps(envelope, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the file from other users
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def load_results(stem: str, folder: Path = RESULTS) -> dict:
    """The saved envelope of a lesson; FileNotFoundError when there is none."""
    return json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))


def stems_of(markers: Iterable[Marker]) -> list[str]:
    """The lessons the markers quote, in the catalogue's order."""
    quoted_stems = {m.stem for m in markers}
    return [s for s in catalogue.STEMS if s in quoted_stems]


def main(argv: list[str] | None = None) -> int:
    """`make notes-check`: every quoted number against a fresh run (or the saved results)."""
    parser = argparse.ArgumentParser(
        prog="python -m trinity_foundations.notes_check",
        description="Check every number the notes quote from a run (see the module docstring).",
    )
    parser.add_argument("--notes", type=Path, default=NOTES, help="folder of the notes")
    parser.add_argument(
        "--saved",
        type=Path,
        metavar="DIR",
        help="check against the saved results in DIR (e.g. notes/results) instead of fresh runs",
    )
    args = parser.parse_args(argv)
    if not args.notes.is_dir():
        parser.error(f"--notes {args.notes}: no such folder")
    markers, problems = note_markers(args.notes)
    for problem in problems:
        print(problem)
    stems = stems_of(markers)
    if not stems:
        print("No note quotes a run yet.")
    failed = bool(problems)
    for stem in stems:
        mine = [m for m in markers if m.stem == stem]
        start = time.perf_counter()  # a lesson run in a subprocess: no JAX work here to wait on
        try:
            if args.saved:
                results = load_results(stem, args.saved)["results"]
            else:
                print(progress_line(stem), file=sys.stderr, flush=True)
                results = run_lesson(stem)["results"]
        except (OSError, RuntimeError, ValueError, KeyError) as error:
            print(f"{stem}: cannot check {len(mine)} quoted numbers: {error}")
            failed = True
            continue
        wrong = [line for m in mine if (line := check(m, results))]
        took = "" if args.saved else f" ({time.perf_counter() - start:.0f} s)"
        if wrong:
            print(f"{stem}: {len(wrong)} of {len(mine)} quoted numbers do not hold{took}:")
            print("\n".join(f"  {line}" for line in wrong))
            failed = True
        else:
            print(f"{stem}: all {len(mine)} quoted numbers hold{took}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
