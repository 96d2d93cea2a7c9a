"""The one ordered catalogue of the lessons.

The Makefile's `lessons` target, the README's lesson table (checked by a
test) and every lesson's "Next:" line read this list, so the order lives in
one place. A lesson is named by its file number ("06", "04a"): the title
line, the README, the notes and the Next line all say "lesson 06". The
chapters (1-10) group the files; notes/chapter_N.md is chapter N's note.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    stem: str  # the file name in lessons/, without .py
    chapter: str  # the chapter it belongs to, a key of CHAPTERS
    seconds: int  # wall time at its defaults on a quiet 2-core CPU, rounded up


# `seconds` were measured with `make lessons` on the 2-core CPU the suite runs on,
# each lesson alone (2026-12-03); a GPU or a faster CPU takes less, a busy one more.
LESSONS: tuple[Entry, ...] = (
    Entry("01_list_math", "1", 3),
    Entry("02_tensor_math", "1", 3),
    Entry("03_compiler", "1", 3),
    Entry("04_dot_product", "1", 2),
    Entry("04a_quasi_orthogonality", "1", 5),
    Entry("04b_hoeffding_bound", "1", 5),
    Entry("04c_gradients", "2", 5),
    Entry("05_linear_probe", "2", 4),
    Entry("06_self_attention", "3", 3),
    Entry("07_softmax_collapse", "3", 4),
    Entry("08_lora_and_svd", "4", 3),
    Entry("09_non_redundant_compression", "4", 3),
    Entry("10_evolution_strategy", "5", 3),
    Entry("11_rosenbrock_es", "5", 5),
    Entry("12_moe_gating", "6", 4),
    Entry("13_loss_curve", "6", 2),
    Entry("14_mini_trinity", "7", 2),
    Entry("15_autoregressive_lm", "8", 5),
    Entry("16_transformer_block", "8", 5),
    Entry("17_tokenization_embeddings", "8", 5),
    Entry("18_shape_literacy", "8", 2),
    Entry("19_language_model", "9", 17),
    Entry("20_decoding", "9", 25),
    Entry("21_training_dynamics", "9", 25),
    Entry("22_memory_and_compute", "9", 29),
    Entry("23_fewer_bits", "10", 30),
    Entry("24_kernels", "10", 12),
    Entry("25_adaptation", "10", 28),
    Entry("26_evaluation", "10", 16),
)

STEMS: tuple[str, ...] = tuple(e.stem for e in LESSONS)


CHAPTERS: dict[str, str] = {
    "1": "Tensors, the compiler and high-dimensional geometry",
    "2": "Gradients and linear probes",
    "3": "Self-attention",
    "4": "SVD and low-rank adaptation",
    "5": "Evolution strategies",
    "6": "Mixture-of-experts routing",
    "7": "The routing capstone",
    "8": "Shapes, tokens, positions and the transformer block",
    "9": "A small GPT: training, decoding and the hardware",
    "10": "Fewer bits, hand-written kernels, adapting a model and judging it",
}


# The chapters each chapter builds on (the learner's prerequisites).
NEEDS: dict[str, tuple[str, ...]] = {
    "1": (),
    "2": ("1",),
    "3": ("1", "2"),
    "4": ("2",),
    "5": ("2",),
    "6": ("3",),
    "7": ("6",),
    "8": ("3",),
    "9": ("2", "8"),
    "10": ("9",),
}


def duration(e: Entry) -> str:
    """How long a lesson runs, as the map and the README say it: "~7 s"."""
    return f"~{e.seconds} s"


def find(name: str) -> str:
    """The stem a learner means by `name`: a stem, a file name, a number, or a word.

    "06", "6", "06_self_attention" and "lessons/06_self_attention.py" all
    name one lesson; so do "04a", "4a" and "quasi" (the start of the name
    after the number). Raises LookupError when `name` names none, or more
    than one.
    """
    name = name.strip().removeprefix("lessons/").removesuffix(".py")
    if name in STEMS:
        return name
    if name[:1].isdigit() and not name[1:2].isdigit():
        name = "0" + name  # "6" -> "06", "4a" -> "04a"
    matches = (
        [s for s in STEMS if s.startswith(name + "_")]
        or [s for s in STEMS if name and s.startswith(name)]
        or [s for s in STEMS if name and s.partition("_")[2].startswith(name)]
    )
    if len(matches) != 1:
        how = "names no lesson" if not matches else "names more than one lesson"
        raise LookupError(f"{name!r} {how}; the lessons are: {', '.join(STEMS)}")
    return matches[0]


def short(stem: str) -> str:
    """The shortest name `find` reads as `stem`: its number ("06") or the stem itself."""
    number = stem.split("_")[0]
    try:
        return number if number != stem and find(number) == stem else stem
    except LookupError:
        return stem


def entry(stem: str) -> Entry | None:
    """The catalogue entry of a lesson, or None for a script outside it."""
    return next((e for e in LESSONS if e.stem == stem), None)


def next_after(stem: str) -> str | None:
    """The stem of the lesson that follows `stem`, or None after the last."""
    if stem not in STEMS:
        return None
    i = STEMS.index(stem)
    return STEMS[i + 1] if i + 1 < len(STEMS) else None


def main(argv: list[str] | None = None) -> int:
    """`python -m trinity_foundations.catalogue`: the stems in order, one a line;
    `--find NAME` prints the stem NAME means (the first lesson not yet finished
    when NAME is empty), or says what the lessons are and exits 2."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["--find"]:
        print("\n".join(STEMS))
        return 0
    name = argv[1] if len(argv) > 1 else ""
    if not name.strip():
        from trinity_foundations import progress

        print(progress.first_not_done())
        return 0
    try:
        print(find(name))
    except LookupError as error:
        print(f"make run: LESSON={error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
