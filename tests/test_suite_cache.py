"""The suite's compilation cache, kept between runs: when it starts afresh, and what it
keeps; and the XLA flags that make its CPU compiles quick."""

from __future__ import annotations

import conftest
from conftest import QUICK_COMPILE, UNFINISHED, prepare_cache, quick_compile_flags


def entries(folder):
    return sorted(f.name for f in folder.iterdir())


def test_a_finished_run_keeps_its_entries_and_marks_the_new_run(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "program-a-cache").write_bytes(b"x" * 10)
    prepare_cache(cache, limit=100)
    assert entries(cache) == ["program-a-cache", UNFINISHED]


def test_an_unfinished_run_or_an_outgrown_cache_starts_afresh(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "program-a-cache").write_bytes(b"x" * 10)
    (cache / UNFINISHED).touch()  # the last run was killed
    prepare_cache(cache, limit=100)
    assert entries(cache) == [UNFINISHED]

    (cache / UNFINISHED).unlink()  # this run ended
    (cache / "program-b-cache").write_bytes(b"x" * 101)
    prepare_cache(cache, limit=100)
    assert entries(cache) == [UNFINISHED]


def test_an_empty_entry_is_removed_so_it_is_written_again(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "interrupted-cache").touch()
    (cache / "whole-cache").write_bytes(b"x")
    prepare_cache(cache, limit=100)
    assert entries(cache) == [UNFINISHED, "whole-cache"]


def test_a_missing_folder_is_made(tmp_path):
    prepare_cache(tmp_path / "new" / "cache", limit=100)
    assert entries(tmp_path / "new" / "cache") == [UNFINISHED]


def test_quick_compile_flags_add_what_xla_accepts_unless_the_user_chose(monkeypatch):
    optimise, emitters = QUICK_COMPILE
    mine = "--xla_backend_optimization_level=2"
    assert quick_compile_flags(mine) == mine  # the user's choice: nothing added
    monkeypatch.setattr(conftest, "xla_accepts", lambda flags: True)
    assert quick_compile_flags("--a") == f"--a {optimise} {emitters}"
    monkeypatch.setattr(conftest, "xla_accepts", lambda flags: False)  # an XLA without it
    assert quick_compile_flags("") == optimise


def test_an_unknown_flag_is_refused_by_the_probe():
    assert not conftest.xla_accepts("--xla_no_such_flag_anywhere=true")
