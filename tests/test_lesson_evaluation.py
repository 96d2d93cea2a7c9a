"""Lesson 26: its results against references, its sentences' choices, its flags."""

import contextlib
import io
import json
import math

import numpy as np
import pytest
import tiny_sweep
from conftest import load_lesson

from trinity_foundations import evaluation as ev
from trinity_foundations import macbeth

LESSON = "26_evaluation"
SMALL = [
    "--seeds", "2", "--steps", "8", "--batch", "4", "--d-model", "16", "--layers", "1",
    "--context", "16", "--draws", "200", "--block", "256",
]  # fmt: skip
TIMINGS = {"compile_ms", "run_ms"}

L = load_lesson(LESSON)


@pytest.fixture(scope="module")
def small():
    """The lesson at a small size, run once for the module (the program compiles once)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        L.main([*SMALL, "--json"])
    return json.loads(out.getvalue())


def test_the_contract_keys_and_their_numbers(small):
    r = small["results"]
    seeds = r["seed_val_losses"]
    assert len(seeds) == 2 and r["seed_spread"] == pytest.approx(max(seeds) - min(seeds))
    assert r["final_val_losses"]["recipe"] == seeds
    assert set(r["final_val_losses"]) == {label for label, _ in L.VARIANTS} | {L.LEAKED}
    b = r["bootstrap"]
    assert b["block"] == 256 and b["blocks"] == r["val_tokens"] // 256
    assert b["low"] <= b["loss"] <= b["high"] and b["char_low"] <= b["loss"] <= b["char_high"]
    assert b["loss"] == pytest.approx(seeds[0], rel=1e-5)
    assert r["leaked_val_loss"] == pytest.approx(np.mean(r["final_val_losses"][L.LEAKED]))
    assert r["tokens_per_run"] == 8 * 4 * 16 and r["val_tokens"] == (10_343 - 1) // 16 * 16


def test_the_paired_difference_is_narrower_than_either_interval(small):
    p = small["results"]["paired"]
    assert p["names"] == ["recipe", L.PAIRED]
    assert p["difference"] == pytest.approx(p["b"][0] - p["a"][0], abs=1e-5)
    assert p["high"] - p["low"] < min(p["a"][2] - p["a"][1], p["b"][2] - p["b"][1])
    assert p["excludes_zero"] == (p["low"] > 0 or p["high"] < 0)
    # the recipe's own interval is the one the error-bar section printed: one run, one interval
    b = small["results"]["bootstrap"]
    assert p["a"] == pytest.approx([b["loss"], b["low"], b["high"]], abs=1e-6)


def test_the_text_figures_match_the_kernels_on_the_shipped_texts(small):
    r = small["results"]
    text = macbeth.read_text()
    cut = int(len(text) * 0.9)
    for n, row in r["ngram_overlap"].items():
        assert row["train_val"] == ev.ngram_overlap(text[:cut], text[cut:], int(n))
    shares = [row["train_val"] for row in r["ngram_overlap"].values()]
    assert shares == sorted(shares, reverse=True)  # longer n-grams are rarer
    d = r["duplicate_lines"]["Macbeth"]
    assert d["exact"] == ev.duplicates(text).exact and d["near"] >= d["exact"]
    pack = r["packing"]
    lengths = [len(doc) + 1 for doc in ev.documents(text)]
    assert pack["padding_waste"] == ev.padding_waste(lengths, 128)
    assert 0 <= pack["packed_waste"] < 128 / sum(lengths) < pack["padding_waste"]
    # "N characters on average, plus one separator each": the mean leaves the separator out
    assert pack["mean_length"] == pytest.approx(np.mean([len(doc) for doc in ev.documents(text)]))


def test_same_seed_same_numbers(small, run_json):
    again = run_json(LESSON, *SMALL)["results"]
    first = dict(small["results"])
    for key in TIMINGS:
        again.pop(key), first.pop(key)
    assert again == first


# ----------------------------------------------------------------------------
# The sentences' choices.


def test_against_spread_and_spread():
    assert L.against_spread(0.3, 0.2) == "beyond" and L.against_spread(-0.3, 0.2) == "beyond"
    assert L.against_spread(0.1, 0.2) == "within"
    assert L.against_spread(math.nan, 0.2) == "diverged"
    assert L.spread([2.0, 2.5, math.nan]) == 0.5 and L.spread([2.0, math.inf]) == math.inf


def test_block_effect_and_intervals():
    assert L.block_effect(1.6) == "wider" and L.block_effect(1.1) == "similar"
    assert L.block_effect(0.5) == "narrower"
    assert L.width_ratio((0.0, 2.0), (0.0, 0.5)) == 4.0
    assert L.excludes_zero(0.1, 0.2) and L.excludes_zero(-0.2, -0.1)
    assert not L.excludes_zero(-0.1, 0.1)
    assert L.overlaps((0, 1), (0.5, 2)) and not L.overlaps((0, 1), (1.5, 2))
    assert L.narrower(4.27) == "4.3× narrower" and L.narrower(0.9) == "no narrower"


def leak(verdict: str, gap: float, fit_gap: float, spread: float = 0.1):
    return L.Leak([2.0], [2.0 + gap], gap, spread, verdict, 2.0, fit_gap)


def test_leak_story():
    assert L.leak_story(leak("beyond", -0.3, 0.5)) == "flatters"
    assert L.leak_story(leak("within", 0.02, 0.01)) == "unseen"
    assert L.leak_story(leak("beyond", 0.3, 0.01)) == "unseen"  # worse, not flattered
    assert L.leak_story(leak("within", -0.05, 0.4)) == "unclear"


def noise(verdicts: dict) -> "L.Noise":
    return L.Noise([2.0, 2.1], 0.1, 2.05, dict.fromkeys(verdicts, 0.0), verdicts)


def test_saw_noise_names_what_beat_the_spread():
    said = L.saw_noise(noise({"lr ÷ 10": "beyond", "no warm-up": "within"}))
    assert "0.100" in said and "lr ÷ 10 moved it further" in said and "no warm-up did not" in said
    assert "no change moved it further" in L.saw_noise(noise({"no warm-up": "within"}))


def test_summary_has_three_bullets(small):
    assert len(L.summary(_done(small))) == 3


def _done(small) -> dict:
    """The summary's inputs rebuilt from the JSON results (no second run)."""
    r = small["results"]
    b, p = r["bootstrap"], r["paired"]
    return {
        "noise": L.Noise(r["seed_val_losses"], r["seed_spread"], 0.0, r["differences"],
                         r["verdicts"]),
        "bootstrap": L.Bootstrap(b["loss"], b["low"], b["high"], b["block"], b["blocks"],
                                 b["char_low"], b["char_high"], b["draws"], b["level"]),
        "paired": L.Paired(tuple(p["names"]), tuple(p["a"]), tuple(p["b"]), p["difference"],
                           p["low"], p["high"], b["block"], p["excludes_zero"], True),
        "overlap": L.Overlap(L.NS, {n: r["ngram_overlap"][str(n)]["train_val"] for n in L.NS},
                             {n: r["ngram_overlap"][str(n)]["play_play"] for n in L.NS}, "12"),
        "leak": leak(r["leak"]["verdict"], r["leak"]["gap"], 0.0),
    }  # fmt: skip


# ----------------------------------------------------------------------------
# Flags.


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--block", "100"], "not a multiple of --context"),
        (["--block", "4096"], "fewer than 10 blocks"),
        (["--seeds", "16", "--steps", "4096"], "the default runs' arithmetic"),
        (["--draws", "100000"], "a bound on memory"),
        (["--steps", "6"], "multiple of 4"),
    ],
)
def test_bad_flags_end_in_one_line(usage_error, argv, says):
    assert says in usage_error(LESSON, *argv)


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 26, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize("action", tiny_sweep.flags("26_evaluation"), ids=tiny_sweep.flag_id)
def test_26_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("26_evaluation", action, capsys, request)
