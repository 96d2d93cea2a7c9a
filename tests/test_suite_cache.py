"""The suite's compilation cache, kept between runs: when it starts afresh, and what it keeps."""

from __future__ import annotations

from conftest import UNFINISHED, prepare_cache


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
