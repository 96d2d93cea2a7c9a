"""Lessons 19 (a tiny GPT, trained) and 20 (decoding): contracts at small sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import load_lesson

from trinity_foundations import language as lang
from trinity_foundations import training as tr

LM, DEC = "19_language_model", "20_decoding"
TINY = ["--steps", "8", "--d-model", "16", "--layers", "1", "--heads", "2", "--context", "16"]
TINY += ["--batch", "4", "--sample-length", "24", "--warmup", "2", "--lr", "0.01"]
TIMING_19 = {"step_ms", "tokens_per_s", "achieved_flops", "peak_flops", "mfu", "compile_ms"}
TIMING_20 = {"prefill_ms", "decode_ms_cached", "decode_ms_recompute"}
KEYS_19 = {
    "vocab_size", "train_tokens", "val_tokens", "init_loss", "uniform_loss", "unigram_val_loss",
    "bigram_val_loss", "loss_history", "val_history", "val_loss", "val_perplexity", "sample",
    "tokens_per_s", "flops_per_token", "mfu",
}  # fmt: skip
KEYS_20 = {
    "source", "samples", "entropies", "gumbel_equal", "chi2_p_value", "repeat_share",
    "kv_max_diff", "kv_tokens_equal", "prefill_ms", "decode_ms_cached", "decode_ms_recompute",
    "cache_bytes",
}  # fmt: skip


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tmp_path_factory.mktemp("ckpt") / "tiny.npz"


@pytest.fixture(scope="module")
def lm_runs(ckpt):
    """Two tiny runs of 19 with one seed (the first saves a checkpoint), parsed."""
    import contextlib
    import io
    import json

    def once(*argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            load_lesson(LM).main([*TINY, *argv, "--json"])
        return json.loads(out.getvalue())

    return once("--save", str(ckpt)), once()


def test_19_results_and_baselines(lm_runs):
    env = lm_runs[0]
    r = env["results"]
    assert KEYS_19 <= set(r) and env["params"]["steps"] == 8
    text = (load_lesson(LM).DATA).read_text()
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    assert (r["vocab_size"], r["train_tokens"], r["val_tokens"]) == (
        vocab.size,
        len(train),
        len(val),
    )
    assert r["uniform_loss"] == math.log(vocab.size)
    assert r["unigram_val_loss"] == lang.unigram_loss(train, val, vocab.size)
    assert r["bigram_val_loss"] == lang.bigram_loss(train, val, vocab.size)
    assert abs(r["init_loss"] - r["uniform_loss"]) <= 0.05
    assert len(r["loss_history"]) == 8 and len(r["val_history"]) == len(r["eval_steps"])
    assert r["val_loss"] == min(r["val_history"]) < r["init_loss"]
    assert r["val_perplexity"] == pytest.approx(math.exp(r["val_loss"]))
    assert r["bigram_margin"] == pytest.approx(r["bigram_val_loss"] - r["val_loss"])
    assert len(r["sample"]) == 24 and set(r["sample"]) <= set(vocab.chars)
    assert r["mfu"] == pytest.approx(r["achieved_flops"] / r["peak_flops"])
    assert r["achieved_flops"] == pytest.approx(r["tokens_per_s"] * r["flops_per_token"])
    assert r["dtype"] in ("float32", "float64")


def test_19_saves_the_best_parameters(lm_runs, ckpt):
    r = lm_runs[0]["results"]
    params, config = tr.load_checkpoint(ckpt)
    assert r["saved"] == str(ckpt) and config["step"] == r["best_step"]
    assert config["val_loss"] == r["val_loss"] and config["model"]["d_model"] == 16
    assert params["tok"].shape == (r["vocab_size"], 16)


def test_19_is_deterministic_per_seed(lm_runs):
    a, b = (dict(env["results"]) for env in lm_runs)
    for r in (a, b):
        for key in TIMING_19 | {"saved"}:
            r.pop(key)
    assert a == b


def test_19_report_sentences(run_report):
    m = load_lesson(LM)
    assert "within 0.010 nats" in m.init_verdict(4.21, 4.2)
    assert "above ln V" in m.init_verdict(4.5, 4.2)
    assert "beats the bigram by 0.300" in m.baseline_verdict(0.3)
    assert "does not beat the bigram" in m.baseline_verdict(-0.1)
    r = {"best_step": 10, "eval_steps": [10, 20], "val_loss": 1.5, "final_val_loss": 1.7}
    assert "over-fit" in m.best_note(r)
    assert m.best_note({**r, "best_step": 20}) is None
    assert m.diverged_at(np.array([1.0, np.nan, 2.0])) == 2 and m.diverged_at(np.ones(3)) is None
    assert m.shown("abcdef", 4) == "abcd … 2 more characters" and m.shown("abc", 4) == "abc"
    text = run_report(LM, *TINY)
    assert "Validation loss on the same split" in text and "of peak" in text


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--d-model", "10", "--heads", "4"], "not a multiple"),
        (["--steps", "0"], "--steps"),
        (["--lr", "100"], "at most"),
        (["--save", "/"], "is a directory"),
    ],
)
def test_19_bad_flags(usage_error, argv, reason):
    assert reason in usage_error(LM, *argv)


@pytest.fixture(scope="module")
def dec_runs(lm_runs, ckpt):
    import contextlib
    import io
    import json

    def once():
        out = io.StringIO()
        argv = ["--checkpoint", str(ckpt), "--length", "30", "--draws", "4000", "--json"]
        with contextlib.redirect_stdout(out):
            load_lesson(DEC).main(argv)
        return json.loads(out.getvalue())

    return once(), once()


def test_20_uses_the_checkpoint_and_its_checks_hold(dec_runs):
    r = dec_runs[0]["results"]
    assert KEYS_20 <= set(r) and r["source"] == "checkpoint" and r["source_reason"] is None
    assert r["gumbel_equal"] and r["topk1_equals_greedy"] and r["kv_tokens_equal"]
    assert r["kv_max_diff"] <= 1e-5 and r["kv_steps"] == 16 - r["kv_prompt_tokens"]
    assert 0.0 <= r["chi2_p_value"] <= 1.0 and r["draws"] == 4000
    assert all(len(text) == 30 for text in r["samples"].values())
    assert r["entropies"]["greedy"] == 0.0 and r["entropies"]["top-k 1"] == 0.0
    assert r["entropies"]["top-k 10"] <= math.log(10) + 1e-6
    assert r["cache_bytes"] == 2 * 1 * 1 * 2 * 16 * 8 * (4 if r["dtype"] == "float32" else 8)


def test_20_is_deterministic_per_seed(dec_runs):
    a, b = (dict(env["results"]) for env in dec_runs)
    for r in (a, b):
        for key in TIMING_20:
            r.pop(key)
    assert a == b


def test_20_trains_the_default_when_no_checkpoint_fits(monkeypatch, tmp_path):
    """No checkpoint: lesson 19's default is trained (shrunk here to stay quick), and said."""
    m = load_lesson(DEC)
    lm = m.lesson_19()
    tiny = dict(D_MODEL=16, LAYERS=1, HEADS=2, CONTEXT=16, BATCH=4, STEPS=8, LR=0.01, WARMUP=2)
    for name, value in tiny.items():  # as TINY: the compiled programs are reused
        monkeypatch.setattr(lm, name, value)
    m.default_model.cache_clear()
    try:
        params, model, source, why = m.load_model(tmp_path / "none.npz", 0)
    finally:
        m.default_model.cache_clear()
    assert (source, why) == ("trained", "none exists")
    assert model.d_model == 16 and params["tok"].shape == (model.vocab_size, 16)
    r = {"source": source, "source_reason": why, "checkpoint": "x.npz"}
    assert "No usable checkpoint at x.npz (none exists)" in m.source_sentence(r)
    (tmp_path / "bad.npz").write_text("not a checkpoint")
    assert m.load_model(tmp_path / "bad.npz", 0)[3].startswith("it cannot be read")


def test_20_decisions():
    m = load_lesson(DEC)
    vocab = lang.build_vocab("abc")
    good = {"data_sha256": "x", "vocab": "abc", "model": {"vocab_size": 3, "prenorm": True}}
    assert m.checkpoint_problem(good, vocab, "x") is None
    assert "another text" in m.checkpoint_problem(good, vocab, "y")
    assert "vocabulary" in m.checkpoint_problem({**good, "vocab": "abd"}, vocab, "x")
    assert "consistent" in m.chi2_verdict(0.3) and "unlikely" in m.chi2_verdict(1e-4)
    assert "more than" in m.repetition_verdict(0.5, 0.1)
    assert "does not" in m.repetition_verdict(0.1, 0.1)


def test_20_bad_flags(usage_error):
    assert "--top-p" in usage_error(DEC, "--top-p", "1.5")
    assert "--draws" in usage_error(DEC, "--draws", "10")
