"""`python -m trinity_foundations` (or `make map`): the course at a glance.

Chapters with the chapters they build on, their lessons in order with how
long each runs, a tick for each one finished (see `progress`), and the
command that runs the next.
"""

from __future__ import annotations

import os
import sys

from trinity_foundations import catalogue, progress


def course_map(done: set[str]) -> list[str]:
    """The lines of the map, for the lessons finished in `done`."""
    following = next((s for s in catalogue.STEMS if s not in done), None)
    lines = [
        f"The course: {len(catalogue.STEMS)} lessons in {len(catalogue.CHAPTERS)} chapters, "
        f"{len(done)} done.",
    ]
    current = None
    for e in catalogue.LESSONS:
        if e.chapter != current:
            current = e.chapter
            lines += ["", f"Chapter {current} · {catalogue.CHAPTERS[current]}"]
            needs = catalogue.NEEDS[current]
            if needs:
                lines.append(f"  builds on chapter{'s' * (len(needs) > 1)} {' and '.join(needs)}")
        tick = "✓" if e.stem in done else " "
        row = f"  {tick} {e.stem:<29} {catalogue.duration(e):>6}"
        lines.append(row + ("   <- next" if e.stem == following else ""))
    lines.append("")
    if following is None:
        lines.append("Every lesson is done. Run any again with: make run LESSON=06")
    else:
        lines.append(f"Next: make run   (it runs {following})")
    return lines


def main() -> int:
    """Print the map; a reader that closes the pipe early (`| head`) ends it quietly."""
    try:
        print("\n".join(course_map(progress.completed())), flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as `cli.entry` ends a lesson
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
