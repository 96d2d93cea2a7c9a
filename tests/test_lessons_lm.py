"""Lessons 19 (a tiny GPT, trained) and 20 (decoding): contracts at small sizes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import tiny_sweep
from conftest import TINY_19, TINY_20, compilations, load_lesson

from trinity_foundations import checkpoints, macbeth
from trinity_foundations import language as lang
from trinity_foundations.transformer import GPTConfig

LM, DEC = "19_language_model", "20_decoding"
TINY = TINY_19  # the suite's tiny GPT: programs shared with tests/test_bad_input.py
TIMING_19 = {
    "step_ms", "tokens_per_s", "achieved_flops", "peak_flops", "mfu", "compile_ms", "mfu_rounds",
}  # fmt: skip
TIMING_20 = {
    "prefill_ms", "decode_ms_cached", "decode_ms_recompute", "decode_ratio_rounds", "decode_sweep",
}  # fmt: skip
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

    first, again = once("--save", str(ckpt)), once()
    with compilations() as compiled:  # another learning rate: numbers, not a new program
        other = once("--lr", "0.02")
    return first, again, other, compiled


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
    # add-one is among the smoothings tried, so the best bigram is never worse
    assert r["bigram_best_add"] in load_lesson(LM).BIGRAM_ADDS
    assert r["bigram_best_margin"] <= r["bigram_margin"]
    assert len(r["sample"]) == 24 and set(r["sample"]) <= set(vocab.chars)
    assert r["mfu"] == pytest.approx(r["achieved_flops"] / r["peak_flops"])
    assert r["achieved_flops"] == pytest.approx(r["tokens_per_s"] * r["flops_per_token"])
    assert r["dtype"] in ("float32", "float64")


def test_19_saves_the_best_parameters(lm_runs, ckpt):
    r = lm_runs[0]["results"]
    params, config = checkpoints.load_checkpoint(ckpt)
    assert r["saved"] == str(ckpt) and config["step"] == r["best_step"]
    assert config["val_loss"] == r["val_loss"] and config["model"]["d_model"] == 16
    assert params["tok"].shape == (r["vocab_size"], 16)


def test_19_another_learning_rate_reuses_the_compiled_training(lm_runs):
    first, _, other, compiled = lm_runs
    assert other["params"]["lr"] == 0.02 and other["results"]["loss_history"][0] == pytest.approx(
        first["results"]["loss_history"][0]
    )  # the same first batch and weights; the rate acts from the first update on
    assert other["results"]["loss_history"] != first["results"]["loss_history"]
    assert not [name for name in compiled if "train_chunk" in name], compiled


def test_19_is_deterministic_per_seed(lm_runs):
    a, b = (dict(env["results"]) for env in lm_runs[:2])
    for r in (a, b):
        for key in TIMING_19 | {"saved"}:
            r.pop(key)
    assert a == b


def test_19_report_sentences(run_report):
    m = load_lesson(LM)
    assert "0.010 nats above it (within 0.05)" in m.init_verdict(4.21, 4.2)
    # the default run: 4.1882 against 4.2047, 0.0165 apart, was said to be "within 0.016"
    assert "0.016 nats below it (within 0.05)" in m.init_verdict(4.188210, 4.204693)
    assert "above ln V" in m.init_verdict(4.5, 4.2)
    assert "beats the bigram by 0.300" in m.baseline_verdict(0.3, 0.28, 0.05)
    assert "uses more than the previous" in m.baseline_verdict(0.3, 0.28, 0.05)
    # ahead of add-one by less than better smoothing gains (0.022 nats on Macbeth)
    closed = m.baseline_verdict(0.01, -0.012, 0.02)
    assert "not the add-0.02 bigram (0.012 nats ahead" in closed
    assert "does not show that it uses more" in closed
    assert "does not beat the bigram" in m.baseline_verdict(-0.1, -0.12, 0.02)
    r = training(m, best_step=10, eval_steps=[10, 20], val_loss=1.5, val_history=[1.5, 1.7],
                 train_eval_history=[1.6, 1.4])  # fmt: skip
    assert "over-fit (the training loss went on falling, 1.6000 to 1.4000)" in m.best_note(r)
    assert "(1.5000) and ended at 1.7000" in m.best_note(r)
    # validation up at the end while training rose too: not over-fitting
    rose = m.best_note(replace(r, train_eval_history=[1.6, 1.8]))
    assert "not over-fitting, since the training loss rose as well, 1.6000 to 1.8000" in rose
    assert m.best_note(replace(r, best_step=20)) is None
    assert m.diverged_at(np.array([1.0, np.nan, 2.0])) == 2 and m.diverged_at(np.ones(3)) is None
    assert m.shown("abcdef", 4) == "abcd … 2 more characters" and m.shown("abc", 4) == "abc"
    text = run_report(LM, *TINY)
    assert "Validation loss on the same split" in text and "of peak" in text


def test_19_announces_a_run_far_longer_than_the_default():
    # --steps 100000 ran for an hour with no word
    m = load_lesson(LM)
    default = m.run_work(m.STEPS, m.BATCH, m.D_MODEL, m.LAYERS, m.HEADS, m.CONTEXT)
    assert m.long_run_sentence(default, default) is None
    long = m.run_work(100_000, m.BATCH, m.D_MODEL, m.LAYERS, m.HEADS, m.CONTEXT)
    assert "500× the default run's arithmetic" in m.long_run_sentence(long, default)


def training(m, **given):
    """A Training result of lesson 19 with `given` fields (the rest of a small run)."""
    fields = dict(
        steps=20,
        loss_history=[2.0] * 20,
        eval_steps=[10, 20],
        train_eval_history=[1.6, 1.4],
        val_history=[1.5, 1.7],
        diverged_at=None,
        best_step=10,
        val_loss=1.5,
        compile_ms=1.0,
        rounds=[],
        best_params={},
    )
    return m.Training(**{**fields, **given})


def test_19_what_you_saw():
    m = load_lesson(LM)
    t = training(m)
    b = m.Baselines(False, 10, 4.2, 3.3, 2.5, 1.5, math.exp(1.5), 1.0, 0.1, 0.9)
    said = m.trained_bullet(t, b)
    assert said.startswith("After 20 steps the best validation loss was 1.5000 (step 10,")
    assert "perplexity 4.48); the GPT beats the bigram by 1.000 nats" in said
    gone = m.trained_bullet(replace(t, diverged_at=7), b)
    assert gone.startswith("Training diverged at step 7: the loss left the finite numbers")
    data = m.Data(65, 100, 10, 9, "float32", 1000, 4.21, 4.2)
    speed = m.Speed(False, "float32", 1.0, 2, 1, 2.5, 12_800.0, 10, 5, 1.0, 1.0, 0.031, [], 8)
    bullets = m.summary({"data": data, "training": t, "baselines": b, "speed": speed})
    assert len(bullets) == 3 and "4.2100 nats per character against ln V = 4.2000" in bullets[0]
    assert bullets[1] == said
    assert bullets[2] == (
        "A training step took 2.50 ms, 12,800 tokens/s: 3.1% of this machine's matmul peak."
    )
    assert m.prompt_words("\n") == "a newline" and m.prompt_words("Fair") == "'Fair'"
    # a finite loss past ~709 nats (--lr 10) overflowed math.exp: a traceback
    assert m.perplexity(1.0) == math.e and m.perplexity(800.0) == math.inf


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--d-model", "10", "--heads", "4"], "not a multiple"),
        (["--steps", "0"], "--steps"),
        (["--lr", "100"], "at most"),
        (["--save", "/"], "is a directory"),
        (["--save", ""], "needs a file name"),  # trained, then saved nothing, exit 0
        (["--save", "/dev/full"], "is not a regular file"),  # was renamed over as root
        (["--save", "/proc/x/y.npz"], "cannot write /proc/x/y.npz"),  # after all the training
    ],
)
def test_19_bad_flags(usage_error, argv, reason):
    assert reason in usage_error(LM, *argv)


@pytest.fixture(scope="module")
def dec_runs(lm_runs, ckpt):
    import contextlib
    import io
    import json

    def once(*more):
        out = io.StringIO()
        argv = ["--checkpoint", str(ckpt), *TINY_20, *more, "--json"]
        with contextlib.redirect_stdout(out):
            load_lesson(DEC).main(argv)
        return json.loads(out.getvalue())

    return once(), once(), once("--prompt", "Fair is foul")


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
    a, b = (dict(env["results"]) for env in dec_runs[:2])
    for r in (a, b):
        for key in TIMING_20:
            r.pop(key)
    assert a == b


def test_20_trains_the_default_only_when_the_default_checkpoint_is_absent(
    monkeypatch, tmp_path, usage_error
):
    """No checkpoint at the default path: lesson 19's default is trained (shrunk here to
    stay quick), and said; a checkpoint the learner names is used or refused, never replaced."""
    m = load_lesson(DEC)
    tiny = macbeth.Defaults(d_model=16, layers=1, heads=2, context=16, batch=4, steps=8, lr=0.01)
    monkeypatch.setattr(macbeth, "DEFAULTS", tiny)  # as TINY: the compiled programs are reused
    absent = str(tmp_path / "none.npz")
    assert m.open_checkpoint(absent, default=absent) is None
    m.default_model.cache_clear()
    try:
        params, model = m.default_model(0)
    finally:
        m.default_model.cache_clear()
    assert model.d_model == 16 and params["tok"].shape == (model.vocab_size, 16)
    said = m.source_sentence("trained", "none exists", "x.npz")
    assert "No usable checkpoint at x.npz (none exists)" in said
    # --checkpoint none trains even where a checkpoint exists (as make notes-check needs)
    assert m.open_checkpoint("none", default=str(tmp_path / "bad.npz")) is None
    none = m.source_sentence("trained", "none asked for", "none")
    assert none.startswith("--checkpoint none: trained")
    assert m.source_sentence("checkpoint", None, "x.npz") == "Using the checkpoint x.npz."
    (tmp_path / "bad.npz").write_text("not a checkpoint")
    for named, reason in [(absent, "cannot read it"), (tmp_path / "bad.npz", "not a readable")]:
        assert reason in usage_error(DEC, "--checkpoint", str(named))


def test_20_reads_the_text_and_sizes_lesson_19_trains_on():
    lm = load_lesson("19_language_model")
    d = macbeth.DEFAULTS
    assert (d.d_model, d.layers, d.heads, d.context, d.batch, d.steps) == (
        lm.D_MODEL,
        lm.LAYERS,
        lm.HEADS,
        lm.CONTEXT,
        lm.BATCH,
        lm.STEPS,
    )
    assert (d.lr, d.warmup, d.weight_decay, d.clip, d.evals) == (
        lm.LR,
        lm.WARMUP,
        lm.WEIGHT_DECAY,
        lm.CLIP,
        lm.EVALS,
    )
    assert lm.DATA == macbeth.DATA  # and lesson 19 reads it with macbeth.read_text


def test_20_decisions():
    m = load_lesson(DEC)
    vocab = lang.build_vocab("abc")
    good = {"data_sha256": "x", "vocab": "abc", "model": {"vocab_size": 3}}
    assert macbeth.checkpoint_problem(good, vocab, "x") is None
    assert "another text" in macbeth.checkpoint_problem(good, vocab, "y")
    assert "vocabulary" in macbeth.checkpoint_problem({**good, "vocab": "abd"}, vocab, "x")
    wider = {**good, "model": {"vocab_size": 4}}
    assert "does not fit" in macbeth.checkpoint_problem(wider, vocab, "x")
    model = GPTConfig(vocab_size=3, context=8, d_model=8, n_layers=1, n_heads=2, d_ff=16)
    assert m.decoding_problem(model) is None
    assert "context is 1" in m.decoding_problem(model._replace(context=1))
    assert "post-norm" in m.decoding_problem(model._replace(prenorm=False))
    assert "consistent" in m.chi2_verdict(0.3) and "unlikely" in m.chi2_verdict(1e-4)
    for dof in (0, -1):  # said "consistent with the softmax, p = 1.000"
        assert "cannot be run" in m.chi2_sentence(0.0, dof, float("nan"), 100)
    assert "p = 0.300: consistent" in m.chi2_sentence(1.2, 3, 0.3, 100)
    assert "more than" in m.repetition_verdict(0.5, 0.1)
    assert "does not" in m.repetition_verdict(0.1, 0.1)


def test_20_bad_flags(usage_error):
    assert "--top-p" in usage_error(DEC, "--top-p", "1.5")
    assert "--draws" in usage_error(DEC, "--draws", "10")


def test_20_the_width_sweep_and_where_memory_binds():
    m = load_lesson(DEC)
    assert m.sweep_widths(64) == [64, 128, 256, 512]
    assert m.sweep_widths(16) == [16, 32, 64, 128]
    assert m.sweep_widths(512) == [512]
    assert m.growth_exponents([1.0, 4.0, 16.0], [1.0, 1.0, 4.0]) == [0.0, 1.0]
    assert m.memory_bound_from([0.1, 0.5, 0.8, 1.0]) == 3
    assert m.memory_bound_from([0.1, 0.5]) is None
    # the reviewers' default size: 0.131 ms at d = 16, 0.175 ms at d = 64 (≈ 15× the bytes)
    fixed = m.Sweep(d_model=[16, 64], bytes=[3.0e4, 4.6e5], ms=[0.131, 0.175],
                    rounds_ms=[[0.13, 0.13], [0.17, 0.18]])  # fmt: skip
    assert "mostly a fixed per-call cost" in m.bound_sentence(fixed)
    # time that follows the bytes from the third width on
    sweep = m.Sweep(
        d_model=[64, 128, 256, 512],
        bytes=[5e5, 1.8e6, 6.7e6, 2.6e7],
        ms=[0.24, 0.52, 1.5, 6.4],
        rounds_ms=[[0.24] * 3, [0.52] * 3, [1.5, 1.4, 1.6], [6.4, 6.0, 6.8]],
    )
    assert m.memory_bound_from(m.growth_exponents(sweep.bytes, sweep.ms)) == 2
    assert "From d = 256 (6.7 MB) the time grows nearly as fast" in m.bound_sentence(sweep)
    assert "as bytes^e with e under 0.75" in m.bound_sentence(sweep)
    noisy = replace(sweep, rounds_ms=[*sweep.rounds_ms[:2], [1.5, 0.6, 1.6], [6.4] * 3])
    assert "rounds gave" in m.bound_sentence(noisy)
    assert "already at this width" in m.bound_sentence(replace(sweep, ms=[0.24, 0.8, 2.8, 11.0]))
    one = m.Sweep(*(v[:1] for v in (sweep.d_model, sweep.bytes, sweep.ms, sweep.rounds_ms)))
    assert "not measured" in m.bound_sentence(one)


def test_20_speed_sentence_shows_the_spread_of_a_noisy_ratio():
    m = load_lesson(DEC)
    steady = m.speed_sentence(0.2, 0.5, 64, [2.4, 2.5, 2.6])
    assert steady.endswith("a padded full recompute at context 64.")  # no spread: steady
    noisy = m.speed_sentence(0.2, 0.5, 64, [1.3, 2.5, 3.7])
    assert "its rounds gave 1.3× to 3.7×: the machine was busy" in noisy


def test_19_mfu_is_read_round_by_round_beside_the_peak():
    m = load_lesson(LM)
    # a chunk of 1e9 FLOPs in 100 ms (1e10 FLOP/s), a 1024² matmul in 20 ms (≈1.07e11)
    mfu = m.mfu_of(m.Round(chunk_ms=100.0, peak_ms=20.0), 1e9, 1024)
    assert mfu == pytest.approx(1e10 / (2 * 1024**3 / 0.02))
    assert m.mfu_spread([0.20, 0.22, 0.25]) == ""  # rounds agree
    assert (
        m.mfu_spread([0.19, 0.22, 0.52]) == "; its rounds gave 19.0% to 52.0%: the machine was busy"
    )
    assert m.after_first(9, 10) == ", after the first"
    assert m.after_first(1, 1) == ""


def test_20_newlines_are_visible_and_loops_are_named():
    lesson = load_lesson(DEC)
    assert lesson.visible_newlines("a\nb\n\n\n") == "a↵\nb↵↵↵\n"
    assert "from character 3 of 10 on" in lesson.loop_sentence(2, 1, 10).lower()
    assert "the same 4 characters" in lesson.loop_sentence(2, 4, 10)


def test_20_prompt_is_checked_against_the_vocabulary(usage_error):
    lesson = load_lesson(DEC)
    assert lesson.unknown_characters("Fair is foul", "Fair sfoul") is None
    assert lesson.unknown_characters("Zé", "Z") == "'é' is not in the model's vocabulary"
    assert lesson.unknown_characters("é€", "") == "'é', '€' are not in the model's vocabulary"
    assert lesson.unknown_characters("", "abc") == "give at least one character"
    assert lesson.prompt_words("\n") == "a newline"
    assert "not in the model's vocabulary" in usage_error(DEC, "--prompt", "naïve")
    assert "at least one character" in usage_error(DEC, "--prompt", "")


def test_20_continues_the_learners_prompt(dec_runs):
    plain, _, prompted = (env["results"] for env in dec_runs)
    assert plain["prompt"] == "\n" and prompted["prompt"] == "Fair is foul"
    for name, text in prompted["samples"].items():
        assert len(text) == len(plain["samples"][name]), name  # --length characters after it


def test_20_a_sweep_whose_exponents_go_up_and_down_places_no_memory_bound():
    m = load_lesson(DEC)
    # the review's busy run: e = 0.91, 0.46, 1.54 (d = 64 … 512) was read as "memory
    # bound already at d = 64" from its first widening alone
    busy = m.Sweep(d_model=[64, 128, 256, 512], bytes=[5.0e5, 1.79e6, 6.72e6, 2.602e7],
                   ms=[0.311, 0.992, 1.83, 14.6], rounds_ms=[[0.3] * 3, [1.0] * 3,
                   [1.8] * 3, [14.6] * 3])  # fmt: skip
    exps = m.growth_exponents(busy.bytes, busy.ms)
    assert m.memory_bound_from(exps) == 3 and m.sweep_disagrees(exps)
    said = m.bound_sentence(busy)
    assert "The widenings disagree (e = 0.91, 0.46, 1.53" in said
    assert "already at this width" not in said and "From d =" not in said
    assert m.memory_bound_from([0.8, 0.5]) is None and m.sweep_disagrees([0.8, 0.5])
    assert not m.sweep_disagrees([0.1, 0.8, 1.0]) and not m.sweep_disagrees([0.1, 0.2])


def test_20_what_you_saw():
    m = load_lesson(DEC)
    rules = (
        m.Decoded("greedy", "aaaa", 0.0, (0, 1)),
        m.Decoded("temperature 1", "abcd", 1.2, None),
    )
    samples = m.Samples("\n", rules, True, 4, 0.9, 0.05, 300)
    checks = m.Checks(True, 1000, 60.0, 66, 0.3, 4000)
    said = m.checks_bullet(samples, checks)
    assert said == (
        "Every draw is Gumbel-max (1,000 keys checked), top-k 1 is greedy, and χ² of 4,000 "
        "draws gave p = 0.300: consistent with the softmax (p ≥ 0.01)."
    )
    assert "could not be run" in m.checks_bullet(samples, replace(checks, chi2_dof=0))
    assert "is NOT greedy" in m.checks_bullet(replace(samples, topk1_equals_greedy=False), checks)
    sweep = m.Sweep([16], [3.0e4], [0.1], [[0.1]])
    cache = m.Cache("float32", 64, 16, 48, 2e-7, True, 1.0, 0.2, 0.5, [2.5, 2.5], sweep, 7,
                    1, 1, 1, 1.0)  # fmt: skip
    bullets = m.summary({"samples": samples, "checks": checks, "cache": cache})
    assert bullets[0] == (
        "Six rules continued a newline with one key: repeated 4-grams made 90.0% of the "
        "greedy text and 5.0% of temperature 1's, and 1 sample fell into a loop."
    )
    assert bullets[1] == said
    assert bullets[2].startswith("The KV cache gave the same tokens as a full recompute")
    assert bullets[2].endswith("2.5× faster than a padded full recompute at context 64.")
    wrong = m.summary({"samples": samples, "checks": checks,
                       "cache": replace(cache, kv_tokens_equal=False)})  # fmt: skip
    assert "gave DIFFERENT tokens" in wrong[2]


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 19, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize("action", tiny_sweep.flags("19_language_model"), ids=tiny_sweep.flag_id)
def test_19_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("19_language_model", action, capsys, request)


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 20, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize("action", tiny_sweep.flags("20_decoding"), ids=tiny_sweep.flag_id)
def test_20_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("20_decoding", action, capsys, request)
