"""benchmarks/bpe.py at a tiny size: the figures' bookkeeping and the command line."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import bpe  # noqa: E402


def test_json_at_a_tiny_size(capsys):
    bpe.main(["--merges", "6", "--repeats", "2", "--bytes", "3000", "--json"])
    doc = json.loads(capsys.readouterr().out)
    r = doc["results"]
    assert doc["params"] == {"merges": 6, "repeats": 2, "bytes": 3000}
    assert r["same_merges"] is True and r["merges_learned"] == 6
    assert len(r["ms"]["incremental"]) == len(r["ms"]["recount"]) == 2
    assert all(ms > 0 for ms in r["ms"]["incremental"] + r["ms"]["recount"])
    assert r["recount_over_incremental"] == pytest.approx(
        r["median_ms"]["recount"] / r["median_ms"]["incremental"]
    )
    assert r["tokens_after"] < 3000


def test_report_prints_the_ratio(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    bpe.main(["--merges", "3", "--repeats", "1", "--bytes", "500"])
    out = capsys.readouterr().out
    assert "ratio of medians" in out and "same merges from both: True" in out


def test_verdict():
    assert bpe.verdict(16.1, 10.0, 512, 512) == "16.1×: meets the 10× target"
    assert "MISSES" in bpe.verdict(4.0, 10.0, 512, 512)
    assert "set for 512 merges" in bpe.verdict(2.0, 10.0, 8, 512)


@pytest.mark.parametrize(
    "argv", [["--merges", "0"], ["--merges", "1e18"], ["--repeats", "-1"], ["--bytes", "abc"]]
)
def test_bad_flags_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as done:
        bpe.main(argv)
    assert done.value.code == 2
    assert "error:" in capsys.readouterr().err.strip().splitlines()[-1]
