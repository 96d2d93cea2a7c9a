"""Lesson 25 (adapting a trained model): its contract at tiny sizes, its verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tiny_sweep
from conftest import TINY_20, compilations, load_lesson

from trinity_foundations import adaptation as ad
from trinity_foundations import checkpoints, macbeth, sections
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import param_count

STEM = "25_adaptation"
# The flags tests/test_bad_input.py runs the lesson with: the same programs serve both.
TINY_25 = "--steps 1 --rank 1 --dpo-steps 1 --alpha 1 --samples 64".split()
PER_BETA = {"loss", "reward_margin", "kl", "pass_rate_before", "pass_rate_after"}


@pytest.fixture(scope="module")
def runs(tiny_checkpoint, tmp_path_factory):
    """Two tiny runs with one seed (the first saves the merged model), the programs the
    second compiled, and the saved path."""
    import contextlib
    import io
    import json

    saved = tmp_path_factory.mktemp("adapted") / "merged.npz"
    lesson = load_lesson(STEM)

    def once(*argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            lesson.main(["--checkpoint", str(tiny_checkpoint), *TINY_25, *argv, "--json"])
        return json.loads(out.getvalue())

    first = once("--save", str(saved))
    with compilations() as compiled:
        again = once()
    return first, again, compiled, saved


def test_results_keep_the_contract(runs, tiny_gpt):
    r = runs[0]["results"]
    for key in ("trainable_params", "new_play_val", "macbeth_val_before", "macbeth_val_after"):
        assert set(r[key]) == {"full", "lora", "scratch"}, key
    full = param_count(tiny_gpt.params)
    assert r["trainable_params"] == {
        "full": full, "scratch": full, "lora": ad.lora_param_count(tiny_gpt.model, 1)
    }  # fmt: skip
    assert all(len(v) == len(r["eval_steps"]) == 2 for v in r["new_play_val"].values())
    assert r["new_play_val"]["full"][0] == r["new_play_val"]["lora"][0]  # B = 0: the same start
    assert r["macbeth_val_before"]["full"] == r["macbeth_val_before"]["lora"]
    assert r["lora_shortfall"] == ad.lora_shortfall(
        r["new_play_val"]["lora"][-1], r["new_play_val"]["full"][-1]
    )
    assert 0 <= r["lora_merge_max_diff"] < 1e-4
    assert r["replaced"] == {"1": 36, "2": 12}
    dpo = r["dpo"]
    assert dpo["pairs"] >= 1, "the tiny run found no pair: DPO was not exercised"
    assert {"0.1", "0.5", "2", "sum_vs_mean"} <= set(dpo)
    for beta in ("0.1", "0.5", "2"):
        assert set(dpo[beta]) == PER_BETA
        assert 0 <= dpo[beta]["pass_rate_after"] <= 1 and dpo[beta]["kl"] > -1e-4
        assert dpo[beta]["loss"] <= math.log(2) + 1e-5  # log 2 at the start, then one step down
    svm = dpo["sum_vs_mean"]
    assert svm["beta"] == 0.5 and svm["sum"]["loss"] == dpo["0.5"]["loss"]
    assert set(svm["mean"]) == {"loss", "reward_margin", "kl", "pass_rate_after"}
    assert 0 <= r["best_of_n_pass_rate"] <= 1 and 0 <= r["pass_rate_before"] <= 1


def test_macbeth_loss_before_is_the_base_models(runs, tiny_gpt):
    r = runs[0]["results"]
    vocab = tiny_gpt.vocab
    _, val = lang.split(lang.encode(vocab, macbeth.read_text()))
    x, y = lang.eval_windows(val, tiny_gpt.model.context, limit=load_lesson(STEM).EVAL_WINDOWS)
    want = tr.evaluate(tiny_gpt.params, x, y, loss_fn=tr.LMLoss(tiny_gpt.model))
    assert r["macbeth_val_before"]["full"] == pytest.approx(float(want), rel=1e-6)


def test_same_seed_same_numbers_and_no_new_program(runs):
    first, again, compiled, _ = runs
    a, b = dict(first["results"]), dict(again["results"])
    a.pop("saved"), b.pop("saved")
    assert a == b
    names = " ".join(compiled)
    for program in ("train_chunk", "lora_chunk", "dpo_train", "generate", "init_lora"):
        assert program not in names, compiled


def test_the_merged_checkpoint_loads_and_generates_in_lesson_20(runs, run_json, tiny_gpt):
    saved = runs[3]
    params, config = checkpoints.read_checkpoint(saved)
    moved = np.abs(
        params["blocks"]["attn"]["w_q"] - np.asarray(tiny_gpt.params["blocks"]["attn"]["w_q"])
    )
    assert moved.max() > 0  # the adapters are folded in
    assert config["lora"]["rank"] == 1
    r = run_json("20_decoding", "--checkpoint", str(saved), *TINY_20)["results"]
    assert r["source"] == "checkpoint"
    assert all(len(text) == 30 for text in r["samples"].values())


def test_the_report_says_what_it_computed(runs, run_report, tiny_checkpoint):
    # Its sentences are the sentence functions (test_small_sentences) of the run's results
    # (test_results_keep_the_contract: the merge's max difference); "What you saw" is
    # printed by sections.run (tests/test_summaries.py, tests/test_sections.py).
    r, lesson = runs[0]["results"], load_lesson(STEM)
    assert list(r["replaced"]) == ["1", "2"]  # in this order, for the sentence below
    total = len(lesson.HAMLET.read_text(encoding="ascii"))
    said = lesson.digits_sentence(r["replaced"], total, lesson.STAND_IN)
    assert said.startswith(
        f"Hamlet uses '1' and '2', which Macbeth never does (48 of its {total:,}"
    )
    run_report(STEM, "--checkpoint", str(tiny_checkpoint), *TINY_25)  # it renders to the end


def test_bad_input_is_one_line(usage_error, tiny_checkpoint, tmp_path):
    ckpt = ["--checkpoint", str(tiny_checkpoint)]
    assert "--checkpoint" in usage_error(STEM, "--checkpoint", str(tmp_path / "none.npz"))
    assert "is a directory" in usage_error(STEM, *ckpt, "--save", str(tmp_path))
    assert "at most --samples" in usage_error(STEM, *ckpt, "--samples", "8", "--best-of", "9")
    assert "width 16" in usage_error(STEM, *ckpt, "--rank", "17")
    assert "at most 8 values" in usage_error(STEM, *ckpt, "--betas", *["1"] * 9)


# ----------------------------------------------------------------------------
# The verdicts, alone.


def test_lora_verdict():
    lesson = load_lesson(STEM)
    within = lesson.lora_verdict(2.05, 2.0, 5, 100)
    assert "within 0.1" in within and "5.0%" in within and "falls short" not in within
    short = lesson.lora_verdict(2.3, 2.0, 5, 100)
    assert "falls short of 'within 0.1' by 0.200 nats" in short
    big = lesson.lora_verdict(2.0, 2.0, 20, 100)
    assert "more than 10%" in big


def test_small_sentences():
    lesson = load_lesson(STEM)
    assert lesson.forgetting(2.0, 2.5) == "rose by 0.500"
    assert lesson.forgetting(2.5, 2.0) == "fell by 0.500"
    assert lesson.digits_sentence({}, 10, "I").startswith("Every character")
    said = lesson.digits_sentence({"1": 36, "2": 12}, 173_942, "I")
    assert "'1' and '2'" in said and "48 of its 173,942" in said and "'I'" in said
    assert lesson.noise(0.5, 0.5, 100) == pytest.approx(2 * math.sqrt(0.5 / 100))
    flat = lesson.dpo_verdict(0.5, [0.4, 0.5], 0.9, 4, 64)
    assert "within the noise of 64 samples (±17.7%)" in flat and "best-of-4 passes 90.0%" in flat
    assert "within the noise" in lesson.dpo_verdict(0.3, [0.4], 0.6, 4, 64)
    assert "and beats best-of-4's 60.0%" in lesson.dpo_verdict(0.3, [0.4, 0.7], 0.6, 4, 64)
    assert "does not beat best-of-2's" in lesson.dpo_verdict(0.3, [0.6], 0.9, 2, 1000)
    worse = lesson.dpo_verdict(0.6, [0.2, 0.3], 0.9, 4, 64)  # every row fell, beyond the noise
    assert "worse, beyond the noise" in worse and "within" not in worse


def test_sum_mean_sentence_follows_the_numbers():
    lesson = load_lesson(STEM)

    def said(margins, kls):
        p = lesson.Preferences(
            lesson.RULE, 64, 47, 25, 28.0, 40.7, [0.5], 0.5, 20, 0.3, 4, 0.8,
            [0.08, 0.65], margins, kls, [0.3, 0.3], [], "",
        )  # fmt: skip
        return lesson.sum_mean_sentence(p)

    # the run's case: the mean's margin is smaller, its KL larger: it did not push less
    further = said([2.8, 0.1], [2.6, 3.4])
    assert "moved further from the reference (KL 3.40 against 2.60)" in further
    assert "pushes less" not in further
    assert "moved less far (KL 2.00 against 2.60)" in said([2.8, 0.1], [2.6, 2.0])
    assert "a margin no smaller" in said([0.1, 0.2], [2.6, 2.0])


def test_the_rule_sentence_says_what_rule_passes_checks():
    lesson = load_lesson(STEM)
    assert "non-empty" in lesson.RULE and "at least one" in lesson.RULE
    assert ad.rule_passes("Ab.\n\nCd!\nxyz")  # blank lines skipped, the cut-off tail too
    assert not ad.rule_passes("no newline at all") and not ad.rule_passes("Ab.\nbad\n")


def test_summary_bullets(runs, tiny_checkpoint, monkeypatch, capsys):
    lesson = load_lesson(STEM)
    kept = {}
    real = sections.run

    def keep(*args, **kwargs):
        kept["done"] = real(*args, **kwargs)
        return kept["done"]

    monkeypatch.setattr(lesson.sections, "run", keep)
    lesson.main(["--checkpoint", str(tiny_checkpoint), *TINY_25, "--json"])
    capsys.readouterr()
    bullets = lesson.summary(kept["done"])
    r = runs[0]["results"]
    assert len(bullets) == 3
    assert f"{r['new_play_val']['full'][-1]:.3f}" in bullets[0]
    assert f"{r['lora_merge_max_diff']:.1e}" in bullets[1]
    p = kept["done"]["preferences"]
    assert bullets[2] == lesson.dpo_verdict(
        p.pass_rate_before, p.pass_rate_after, p.best_of_n_pass_rate, p.best_of, p.samples
    )


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 25, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize("action", tiny_sweep.flags("25_adaptation"), ids=tiny_sweep.flag_id)
def test_25_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("25_adaptation", action, capsys, request)
