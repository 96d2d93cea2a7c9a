"""The one ordered catalogue of the lessons.

The Makefile's `lessons` target, the README's lesson table (checked by a
test) and every lesson's "Next:" line read this list, so the order lives in
one place. `group` keeps the original curriculum's numbering ("Lesson 2.1")
beside the file name, so a learner always knows where a script stands.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    stem: str  # the file name in lessons/, without .py
    group: str  # the original's numbering: lesson.part


LESSONS: tuple[Entry, ...] = (
    Entry("01_list_math", "1.1"),
    Entry("02_tensor_math", "1.2"),
    Entry("03_compiler", "1.3"),
    Entry("04_dot_product", "1.4"),
    Entry("quasi_orthogonality", "1.5"),
    Entry("hoeffding_bound", "1.6"),
    Entry("05_linear_probe", "2.1"),
    Entry("06_self_attention", "3.1"),
    Entry("07_softmax_collapse", "3.2"),
    Entry("08_lora_and_svd", "4.1"),
    Entry("09_non_redundant_compression", "4.2"),
    Entry("10_evolution_strategy", "5.1"),
    Entry("11_rosenbrock_es", "5.2"),
    Entry("12_moe_gating", "6.1"),
    Entry("13_loss_curve", "6.2"),
    Entry("14_mini_trinity", "7.1"),
    Entry("15_autoregressive_lm", "8.1"),
    Entry("16_transformer_block", "8.2"),
    Entry("17_tokenization_embeddings", "8.3"),
    Entry("18_shape_literacy", "8.4"),
    Entry("19_language_model", "9.1"),
    Entry("20_decoding", "9.2"),
    Entry("21_training_dynamics", "9.3"),
    Entry("22_memory_and_compute", "9.4"),
)

STEMS: tuple[str, ...] = tuple(e.stem for e in LESSONS)


def entry(stem: str) -> Entry | None:
    """The catalogue entry of a lesson, or None for a script outside it."""
    return next((e for e in LESSONS if e.stem == stem), None)


def next_after(stem: str) -> str | None:
    """The stem of the lesson that follows `stem`, or None after the last."""
    if stem not in STEMS:
        return None
    i = STEMS.index(stem)
    return STEMS[i + 1] if i + 1 < len(STEMS) else None


if __name__ == "__main__":  # `python -m trinity_foundations.catalogue`: the order, one a line
    print("\n".join(STEMS))
