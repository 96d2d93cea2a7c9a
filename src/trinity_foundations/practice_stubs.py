"""Write practice/ from the registered exercises: the stub files and the README's table.

For whoever adds an exercise or a lesson (not for the learner): the stubs are
rendered from `practice_checks`, so a stub's signature and docstring are the
ones its check expects (tests/test_practice.py checks the two agree).

    python -m trinity_foundations.practice_stubs            write the missing stub files
    python -m trinity_foundations.practice_stubs --force    rewrite every stub (the learner's too)
    python -m trinity_foundations.practice_stubs --table    print the README's table of exercises
"""

from __future__ import annotations

import argparse
import ast
import textwrap
from pathlib import Path

from trinity_foundations import practice
from trinity_foundations.catalogue import STEMS

NO_JAX = {"01_list_math", "22_memory_and_compute"}  # plain Python exercises
NUMPY = {"09_non_redundant_compression", "15_autoregressive_lm"}  # host-side NumPy ones


def short(stem: str) -> str:
    """What a learner types for a lesson: its number ("06", "04a")."""
    return stem.split("_")[0]


def title(stem: str, lessons: Path) -> str:
    """The first line of the lesson's docstring ("Lesson 06 — ..."), or the stem."""
    path = lessons / f"{stem}.py"
    if not path.is_file():
        return stem
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or stem
    return doc.splitlines()[0]


def stub_file(stem: str, lessons: Path) -> str:
    """The text of practice/<stem>.py with every exercise of the lesson as a stub."""
    mine = [e for e in practice.exercises() if e.lesson == stem]
    names = ", ".join(e.name for e in mine)
    s = short(stem)
    text = f'''"""Practice for {title(stem, lessons)}

Write {names}: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON={s}
    python -m trinity_foundations.practice {s} NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/{stem}.py` gives you the stubs back.
"""
'''
    imports = []
    if stem not in NO_JAX:
        imports += [
            "import jax  # noqa: F401  (you will need these)",
            "import jax.numpy as jnp  # noqa: F401",
        ]
    if stem in NUMPY:
        imports.append("import numpy as np  # noqa: F401")
    if imports:
        text += "\n" + "\n".join(imports) + "\n"
    for e in mine:
        doc = textwrap.indent(e.doc, "    ").strip()
        body = f'    """{doc}\n    """\n    raise NotImplementedError\n'
        text += f"\n\ndef {e.name}{e.signature}:\n{body}"
    return text


def readme_table() -> str:
    """The README's table: lesson, exercise, difficulty, what it teaches."""
    rows = [
        f"| `{e.lesson}` | `{e.name}` | {e.difficulty} | {e.teaches} |"
        for e in practice.exercises()
    ]
    return "| lesson | exercise | difficulty | what it teaches |\n|---|---|---|---|\n" + "\n".join(
        rows
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m trinity_foundations.practice_stubs")
    p.add_argument("--force", action="store_true", help="rewrite existing stub files")
    p.add_argument("--table", action="store_true", help="print the README's table and stop")
    a = p.parse_args(argv)
    if a.table:
        print(readme_table())
        return
    folder = practice.practice_dir()
    lessons = folder.parent / "lessons"
    folder.mkdir(exist_ok=True)
    for stem in STEMS:
        path = folder / f"{stem}.py"
        if path.exists() and not a.force:
            continue
        path.write_text(stub_file(stem, lessons), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
