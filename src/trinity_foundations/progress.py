"""Which lessons the learner has finished, kept in the user's cache directory.

A lesson that runs to its end marks itself done; `make run` with no lesson
named then starts the first one not yet done, and `make map` ticks the
finished ones. The record is one small JSON file outside the repository:
$TRINITY_PROGRESS if set, else $XDG_CACHE_HOME/trinity-foundations/progress.json
(~/.cache when XDG_CACHE_HOME is unset). It is written to a temporary file
and renamed, so a crash never leaves half a record; a record that cannot be
read counts as empty, and one that cannot be written is skipped: progress
is a convenience, never a reason for a lesson to fail.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from trinity_foundations import catalogue


def path() -> Path:
    """Where the record lives (see the module docstring)."""
    if os.environ.get("TRINITY_PROGRESS"):
        return Path(os.environ["TRINITY_PROGRESS"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "trinity-foundations" / "progress.json"


def completed() -> set[str]:
    """The stems of the lessons finished so far (empty if there is no readable record)."""
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    done = data.get("done", []) if isinstance(data, dict) else []
    return {stem for stem in done if isinstance(stem, str) and stem in catalogue.STEMS}


def mark_done(stem: str) -> None:
    """Record that `stem` ran to its end (lessons outside the catalogue are ignored)."""
    if stem not in catalogue.STEMS or stem in completed():
        return
    target = path()
    done = sorted(completed() | {stem}, key=catalogue.STEMS.index)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"done": done}, f)
        os.replace(tmp, target)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def first_not_done() -> str:
    """The first lesson of the course not yet finished (the first one when all are)."""
    done = completed()
    return next((stem for stem in catalogue.STEMS if stem not in done), catalogue.STEMS[0])
