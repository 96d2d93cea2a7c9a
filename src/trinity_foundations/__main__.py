"""`python -m trinity_foundations` (or `make map`): the course at a glance.

Chapters, their lessons in order, a tick for each one finished (see
`progress`), and the command that runs the next.
"""

from __future__ import annotations

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
        if catalogue.chapter(e) != current:
            current = catalogue.chapter(e)
            lines += ["", f"Chapter {current} · {catalogue.CHAPTERS[current]}"]
        tick = "✓" if e.stem in done else " "
        lines.append(f"  {tick} {e.stem}" + ("   <- next" if e.stem == following else ""))
    lines.append("")
    if following is None:
        lines.append("Every lesson is done. Run any again with: make run LESSON=06")
    else:
        lines.append(f"Next: make run   (it runs {following})")
    return lines


if __name__ == "__main__":
    print("\n".join(course_map(progress.completed())))
