"""Every numeric flag of every lesson, swept with values a user could type.

Huge, negative, non-finite and malformed values must end in argparse's
one-line usage error (exit 2); tiny values (0, 1, 1e-300) must either be
refused the same way or run to a clean JSON result. The flags are read from
each lesson's own parser, so a new flag is swept without editing this file.
"""

from __future__ import annotations

import pytest
from conftest import LESSONS, usage_line
from tiny_sweep import ACCEPTED, BESIDE, REFUSED, argv_for, check_tiny, exit_status, flags

from trinity_foundations import catalogue

STEMS = [s for s in catalogue.STEMS if (LESSONS / f"{s}.py").exists()]
FLAGS = [(stem, action) for stem in STEMS for action in flags(stem)]
IDS = [f"{stem}{action.option_strings[0]}" for stem, action in FLAGS]


def test_every_lesson_has_a_swept_flag_or_none_to_sweep():
    assert STEMS, "no lesson found"
    assert len({stem for stem, _ in FLAGS}) >= 10  # most lessons have size flags


@pytest.mark.parametrize(("stem", "action"), FLAGS, ids=IDS)
def test_refused_values_end_in_one_usage_line(stem, action, capsys):
    for value in REFUSED:
        if value in ACCEPTED.get((stem, action.option_strings[0]), set()):
            continue
        code, out, err = exit_status(stem, argv_for(action, value), capsys)
        assert code == 2, f"{stem} {action.option_strings[0]} {value!r}: exit {code}"
        usage_line(err)
        assert out == "", (value, out)


HERE = [(stem, action) for stem, action in FLAGS if stem not in BESIDE]
HERE_IDS = [f"{stem}{action.option_strings[0]}" for stem, action in HERE]


@pytest.mark.parametrize(("stem", "action"), HERE, ids=HERE_IDS)
def test_tiny_values_are_refused_cleanly_or_run(stem, action, capsys, request):
    check_tiny(stem, action, capsys, request)


@pytest.mark.parametrize("stem", sorted(BESIDE))
def test_the_other_lessons_sweep_their_tiny_values_in_their_own_file(stem):
    text = (LESSONS.parent / "tests" / BESIDE[stem]).read_text()
    assert f'tiny_sweep.flags("{stem}")' in text and f'check_tiny("{stem}"' in text
