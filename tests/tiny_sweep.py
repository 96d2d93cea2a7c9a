"""The tiny-value sweep of tests/test_bad_input.py, shared with the lessons' own test files.

A language-model lesson's tiny values run in the same test file as the
lesson's other tests (see BESIDE), after them, so that the programs those
tests compiled are reused in the same process instead of compiled again.
"""

from __future__ import annotations

import argparse
import json

import pytest
from conftest import TINY_19, TINY_20, TINY_GPT_FLAGS, load_lesson, usage_line

REFUSED = ["1e18", "1000000000000000000", "-1", "nan", "inf", "-inf", "abc", ""]
TINY = ["0", "1", "1e-300"]

# Values a flag accepts on purpose: (lesson, flag) -> values left out of REFUSED.
ACCEPTED: dict[tuple[str, str], set[str]] = {
    ("14_mini_trinity", "--task"): {"-1"},  # a task's coordinates may be negative
}

# Flags that keep a tiny-value run short (the other flags at their defaults): the sizes
# each lesson's own test file runs, so that its tiny values reuse those programs (see
# BESIDE); lessons 20 and 25 read the suite's tiny GPT from tiny_checkpoint.
FAST: dict[str, list[str]] = {
    "19_language_model": [*TINY_19, "--steps", "2"],  # 2 evaluations; TINY_19's programs
    "20_decoding": TINY_20,
    # the sizes of tests/test_lesson_adaptation.py (with tiny_checkpoint): its programs
    "25_adaptation": "--steps 1 --rank 1 --dpo-steps 1 --alpha 1 --samples 64".split(),
    "04a_quasi_orthogonality": "--dims 3 64 --pairs 4000".split(),  # test_lessons_geometry.py
    "04b_hoeffding_bound": "--dims 3 64 --pairs 4000".split(),
    "10_evolution_strategy": "--generations 60 --population 12 --mu 4".split(),  # its ES_SMALL
    "11_rosenbrock_es": ["--dim", "2", "--max-generations", "20", "--cma-max-generations", "20"],
    "22_memory_and_compute": [
        *TINY_GPT_FLAGS,
        *"--batch 8 --matmul-max 64 --attention-max 64 --copy-size 65536".split(),
        *"--devices 0 --processes 0".split(),
    ],
    "21_training_dynamics": [  # the sizes of tests/test_lesson_dynamics.py: one compile
        *"--steps 32 --batch 4 --d-model 16 --layers 1 --context 16 --slice 400".split()
    ],
    "23_fewer_bits": [  # the sizes of tests/test_lesson_fewer_bits.py
        *TINY_GPT_FLAGS,
        *"--batch 4 --steps 10 --block 16 --matmul-max 256 --sum-count 1000".split(),
        *"--checkpoint none".split(),
    ],
    "26_evaluation": [  # the sizes of tests/test_lesson_evaluation.py: one compile
        *"--seeds 2 --steps 8 --batch 4 --d-model 16 --layers 1 --context 16".split(),
        *"--draws 200 --block 256".split(),
    ],
    "24_kernels": [  # the sizes of tests/test_lesson_kernels.py
        *"--length 128 --block-q 64 --block-k 64 --heads 2 --head-dim 16".split(),
        *"--pallas-length 64 --memory-max 256".split(),
    ],
}


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def lesson_parser(stem: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser a lesson's main() builds, caught as it is about to parse."""

    def capture(self, *args, **kwargs):
        raise _Captured(self)

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", capture)
        try:
            load_lesson(stem).main([])
        except _Captured as caught:
            return caught.parser
    raise AssertionError(f"{stem}.main() never called parse_args")


def numeric_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Options that take a value and parse it with a type (every numeric flag)."""
    return [
        a
        for a in parser._actions
        if a.option_strings and a.type is not None and a.nargs != 0 and a.type is not str
    ]


def argv_for(action: argparse.Action, value: str) -> list[str]:
    n = action.nargs if isinstance(action.nargs, int) else 1
    return [action.option_strings[0], *([value] * n)]


def flags(stem: str) -> list[argparse.Action]:
    """The numeric flags of one lesson's parser."""
    with pytest.MonkeyPatch.context() as mp:
        return numeric_flags(lesson_parser(stem, mp))


def flag_id(action: argparse.Action) -> str:
    return action.option_strings[0]


def exit_status(stem: str, argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        load_lesson(stem).main(argv)
        code = 0
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


# Lessons whose tiny-value rows run at the end of their own test file (test_bad_input.py
# checks that each file does); every other lesson's run in test_bad_input.py.
BESIDE: dict[str, str] = {
    "04a_quasi_orthogonality": "test_lessons_geometry.py",
    "04b_hoeffding_bound": "test_lessons_geometry.py",
    "04c_gradients": "test_lesson_gradients.py",
    "05_linear_probe": "test_lesson_probe.py",
    "10_evolution_strategy": "test_lessons_evolution.py",
    "11_rosenbrock_es": "test_lessons_evolution.py",
    "15_autoregressive_lm": "test_lessons_transformer.py",
    "16_transformer_block": "test_lessons_transformer.py",
    "17_tokenization_embeddings": "test_lesson_tokenization.py",
    "19_language_model": "test_lessons_lm.py",
    "20_decoding": "test_lessons_lm.py",
    "21_training_dynamics": "test_lesson_dynamics.py",
    "22_memory_and_compute": "test_lesson_memory.py",
    "23_fewer_bits": "test_lesson_fewer_bits.py",
    "24_kernels": "test_lesson_kernels.py",
    "25_adaptation": "test_lesson_adaptation.py",
    "26_evaluation": "test_lesson_evaluation.py",
}


def parses(action: argparse.Action, value: str) -> bool:
    try:
        action.type(value)
    except (argparse.ArgumentTypeError, TypeError, ValueError):
        return False
    return True


def check_tiny(stem: str, action: argparse.Action, capsys, request) -> None:
    """Each tiny value of one flag is refused in one usage line, or runs to one JSON object."""
    fast = FAST.get(stem, [])
    if stem in ("20_decoding", "25_adaptation"):  # a tiny model, not one trained first
        fast = [*fast, "--checkpoint", str(request.getfixturevalue("tiny_checkpoint"))]
    for value in TINY:
        if action.dest == "seed" and parses(action, value):
            continue  # a seed is no size; the lessons' own tests run other seeds
        code, out, err = exit_status(stem, [*fast, *argv_for(action, value), "--json"], capsys)
        if code == 2:
            usage_line(err)
            continue
        assert code == 0, f"{stem} {action.option_strings[0]} {value!r}: exit {code}\n{err}"
        doc = json.loads(out)  # exactly one JSON object
        if stem == "20_decoding":  # the tiny checkpoint fits: no model was trained first
            assert doc["results"]["source"] == "checkpoint", doc["results"]["source_reason"]
