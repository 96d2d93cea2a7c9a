"""Lesson 21: the comparisons' numbers and decisions, determinism, and bad flags."""

import dataclasses
import math

import numpy as np
import pytest
import tiny_sweep
from conftest import load_lesson

LESSON = "21_training_dynamics"
SMALL = [
    "--steps", "32", "--batch", "4", "--d-model", "16", "--layers", "1", "--context", "16",
    "--slice", "400",
]  # fmt: skip
TIMINGS = {"compile_ms", "run_ms"}
COMPARISONS = (
    "optimizers", "warmup", "learning_rate", "clipping", "weight_decay", "batch_size", "overfit",
)  # fmt: skip

L = load_lesson(LESSON)


@pytest.fixture(scope="module")
def small(request):
    """The lesson at a small size, run once for the module (the programs compile once)."""
    import contextlib
    import io
    import json

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        L.main([*SMALL, "--json"])
    return json.loads(out.getvalue())


def test_every_comparison_has_curves_and_a_verdict(small):
    r = small["results"]
    assert small["params"]["steps"] == 32 and r["dtype"] == "float32"
    assert r["runs"] == len(L.run_table(0.01, 400)) and r["tokens_per_run"] == 32 * 4 * 16
    for name in COMPARISONS:
        assert r[name]["runs"] and "verdict" in r[name], name
        for run in r[name]["runs"]:
            assert len(run["loss"]) == 32 and len(run["val"]) == L.EVALS
            assert run["eval_steps"][-1] == 32
    # every run starts from the same weights on the same first batch
    firsts = {run["loss"][0] for name in COMPARISONS for run in r[name]["runs"][:1]}
    assert len(firsts) <= 2  # the slice run sees other windows
    assert r["init_loss"] == pytest.approx(r["uniform_loss"], abs=0.1)  # ln V at init


def test_divergence_is_detected_and_never_reported_as_a_loss(small):
    r = small["results"]
    sweep = r["learning_rate"]
    top = sweep["runs"][-1]  # 1000 × the rate
    assert top["diverged_at"] is not None and top["final_val"] is None
    assert sweep["verdict"]["status"][-1] == "diverged"
    assert sweep["lrs"][-1] in sweep["verdict"]["diverged_lrs"]
    best = sweep["verdict"]["best_lr"]
    assert best is not None and best not in sweep["verdict"]["diverged_lrs"]
    finals = [x["final_val"] for x in sweep["runs"] if x["final_val"] is not None]
    assert sweep["verdict"]["best_val"] == min(finals)


def test_accumulation_is_exact_and_the_results_keys_are_there(small):
    r = small["results"]
    a = r["accumulation"]
    assert r["accumulation_max_diff"] <= 1e-3 * a["step_size"]
    assert a["max_grad_diff"] <= 1e-5 * a["max_grad"] and a["loss_diff"] < 1e-5
    split = r["overfit_split_step"]
    assert split == r["overfit"]["verdict"]["split_step"]
    assert split is None or split % r["eval_every"] == 0
    assert r["batch_size"]["batches"] == [4, 16, 64] and r["batch_size"]["updates"] == [32, 8, 2]


def test_accumulation_verdict_is_rounding_only_within_a_hundredth_of_a_step():
    lesson = load_lesson(LESSON)
    assert lesson.step_verdict(1e-9, 1e-3) == "rounding, not a different step"
    assert lesson.step_verdict(8.3e-4, 1e-3).startswith("83% of a step, more than rounding")


def test_same_seed_same_numbers(small, run_json):
    again = run_json(LESSON, *SMALL)["results"]
    first = small["results"]
    for key in TIMINGS:
        again.pop(key), first.pop(key, None)
    assert again == {k: v for k, v in first.items() if k not in TIMINGS}


def test_the_report_says_what_diverged(run_report, small):
    # The diverged run's cell in its tables is ended() (tested alone in
    # test_clipping_decay_batch_verdicts_and_cells); every section's title (the last:
    # "Gradient accumulation", its numbers test_accumulation_is_exact_...'s) is printed by
    # sections.run (tests/test_sections.py), the Next line by cli (tests/test_catalogue.py).
    top = L.Curves(**small["results"]["learning_rate"]["runs"][-1])  # 1000 × the rate
    assert top.final_val is None and L.ended(top).startswith(f"diverged at step {top.diverged_at}")
    text = run_report(LESSON, *SMALL)
    assert "nan" not in text.lower().replace("not a number", "")


@pytest.mark.parametrize(
    "argv",
    [
        ["--steps", "20"],  # not a multiple of 16
        ["--steps", "100000"],
        ["--batch", "1000"],
        ["--d-model", "9"],  # not a multiple of the heads
        ["--slice", "10"],
        ["--lr", "1"],
        ["--layers", "0"],
        ["--steps", "4096"],  # 32x the default run: minutes with no word
        ["--d-model", "256"],  # 50x
    ],
)
def test_bad_flags_end_in_one_usage_line(usage_error, argv):
    assert argv[0] in usage_error(LESSON, *argv)


# ----------------------------------------------------------------------------
# The decisions, each a small pure function.


def run_(final, *, spike=0.1, diverged=None, loss=(4.0, 3.0), norm=10.0, nan_at=None):
    return L.Curves(
        label="x", final_val=final, spike=spike, spike_step=1,
        diverged_at=diverged, nan_at=nan_at, loss=tuple(loss), param_norm=(norm,),
        val=(3.0, final if final is not None else math.nan),
        train_eval=(3.0, 2.0), eval_steps=(8, 16),
    )  # fmt: skip


def test_compare_and_noise():
    assert L.compare(3.0, 3.01, 0.02) == "same"
    assert L.compare(2.9, 3.0, 0.02) == "lower" and L.compare(3.1, 3.0, 0.02) == "higher"
    assert L.noise(run_(3.0), run_(3.1)) == pytest.approx(0.1)
    assert L.noise(run_(3.0), run_(3.005)) == L.TIE
    assert L.noise(run_(3.0), run_(None, diverged=3)) == L.TIE


def test_optimizer_and_warmup_verdicts():
    v = L.optimizer_verdict(
        run_(3.0), [run_(3.3), run_(3.2), run_(None, diverged=2)], (1, 2, 3), 0.05
    )
    assert v == L.OptimizerVerdict("adamw", 2, pytest.approx(0.2))
    assert L.optimizer_verdict(run_(3.0), [run_(3.01)], (1,), 0.05).winner == "tie"
    assert L.optimizer_verdict(run_(3.0), [run_(2.5)], (1,), 0.05).winner == "sgd"
    assert L.warmup_verdict(run_(3.0), run_(3.2), 0.05).better == "warmup"
    assert L.warmup_verdict(run_(3.0), run_(3.01), 0.05).better == "tie"
    assert L.warmup_verdict(run_(3.0), run_(None, diverged=4), 0.05).better == "warmup"
    gone = run_(None, diverged=4)
    assert L.warmup_verdict(gone, gone, 0.05).better == "neither"
    assert L.warmup_verdict(gone, run_(3.0), 0.05).better == "none"


def test_optimizer_verdict_when_runs_diverge():
    gone = run_(None, diverged=4)
    both = L.optimizer_verdict(gone, [gone, gone], (1, 2), 0.05)
    assert both.winner == "neither" and both.margin is None
    only_adamw = L.optimizer_verdict(gone, [run_(3.2), gone], (1, 2), 0.05)
    assert only_adamw == L.OptimizerVerdict("sgd", 1, None)
    assert L.optimizer_verdict(run_(3.0), [gone, gone], (1, 2), 0.05).winner == "adamw"
    assert set(L.OPTIMIZER_WORDS) == {"neither", "adamw", "sgd"}


def test_learning_rate_statuses():
    runs = [run_(3.9), run_(3.0), run_(3.01), run_(3.4, spike=5.0), run_(None, diverged=2)]
    v = L.lr_verdict(runs, [1e-4, 1e-3, 1e-2, 1e-1, 1.0], 0.05)
    assert v.best_lr == 1e-3 and v.diverged_lrs == (1.0,)
    assert v.status == ("too small", "best", "near best", "spiked", "diverged")
    assert L.lr_status(run_(3.5), 3.0, 1.0, 0.1, 0.05) == "too large"


def test_clipping_decay_batch_verdicts_and_cells():
    rescued = L.clipping_verdict(run_(3.4, spike=2.0), run_(None, spike=math.inf, diverged=7))
    assert rescued.outcome == "rescued" and rescued.diverged_without == 7
    assert L.clipping_verdict(run_(3.4, spike=0.5), run_(3.5, spike=2.0)).outcome == "tamed"
    assert L.clipping_verdict(run_(3.4, spike=1.5), run_(3.5, spike=2.0)).outcome == (
        "no difference"
    )
    assert L.clipping_verdict(run_(None, diverged=3), run_(None, diverged=2)).outcome == (
        "not enough"
    )
    assert L.clipping_verdict(run_(None, diverged=3), run_(3.5)).outcome == "worse"
    assert set(L.CLIP_OUTCOME) == {"rescued", "tamed", "not enough", "worse", "no difference"}
    d = L.decay_verdict([run_(3.0, norm=10.0), run_(3.1, norm=9.0)], [0.0, 1.0], 0.05)
    assert d.norm_change == pytest.approx((0.0, -0.1)) and d.matters
    assert d.best_decay == 0.0 and d.spread == pytest.approx(0.1)
    b = L.batch_verdict(
        [run_(3.2), run_(3.0), run_(None, diverged=1)], [8, 32, 128], [16, 4, 1], 0.05
    )
    assert b == L.BatchVerdict(32, 4, pytest.approx(0.2), True)
    close = L.batch_verdict([run_(3.03), run_(3.0), run_(3.3)], [8, 32, 128], [16, 4, 1], 0.05)
    assert close.best_batch == 32 and not close.clear  # 0.03 ahead: within chance
    assert L.ended(run_(3.14159)) == "3.142"
    assert L.ended(run_(None, diverged=5, nan_at=5)) == "diverged at step 5 (not a number)"
    assert L.how_diverged(run_(None, diverged=5, loss=(4.0, 9.0))) == (
        "its loss was above its starting value from step 5 on"
    )
    # above its start from step 9, finite until step 24: the reviewers' case
    late = run_(None, diverged=9, nan_at=24)
    assert L.ended(late) == "diverged at step 9 (not a number from 24)"
    assert L.how_diverged(late).endswith("step 9 on, and not a number from step 24 on")
    assert L.first_not_finite(np.array([4.0, 3.0, math.nan, math.inf])) == 3
    assert L.first_not_finite(np.array([4.0, 3.0])) is None
    assert L.jump(math.inf) == "∞ (not a number)" and L.jump(1.234) == "1.23"
    drawn, left = L.chartable([run_(3.0), run_(None, diverged=2)])
    assert len(drawn) == 1 and left[0].diverged_at == 2


def test_overfit_verdict_reads_the_parting_point():
    slice_run = dataclasses.replace(
        run_(3.5), train_eval=(3.0, 2.0, 1.0), val=(3.2, 3.0, 3.5), eval_steps=(8, 16, 24)
    )
    v = L.overfit_verdict(slice_run, run_(3.1))
    assert v.split_step == 16 and v.val_min == 3.0 and v.full_text_val == 3.1
    assert v.shape == "rising" and np.isfinite(v.train_final)
    slice_run = dataclasses.replace(slice_run, val=(3.2, 3.0, 2.9))
    together = L.overfit_verdict(slice_run, run_(3.1))
    assert together.split_step is None and together.shape == "gap"  # 1.0 vs 2.9
    # --seed 1's case: validation flat at 3.32 while train falls to 1.93
    slice_run = dataclasses.replace(slice_run, train_eval=(3.0, 2.5, 1.93), val=(3.4, 3.33, 3.32))
    gap = L.overfit_verdict(slice_run, run_(3.1))
    assert gap.shape == "gap" and gap.gap == pytest.approx(1.39)
    slice_run = dataclasses.replace(slice_run, train_eval=(3.4, 3.3, 3.3), val=(3.4, 3.33, 3.32))
    assert L.overfit_verdict(slice_run, run_(3.1)).shape == "together"


def test_a_spiked_run_against_counting_characters():
    # 0.075 nats better than the unigram: 'better' unless chance is larger than that
    assert L.against_unigram(3.0, 3.075, 0.02) == "better"
    assert L.against_unigram(3.0, 3.075, 0.08) == "same"
    assert L.against_unigram(3.2, 3.075, 0.02) == "worse"


def test_the_unigram_yardstick_is_scored_on_the_runs_characters(small):
    """The runs are scored on VAL_WINDOWS evenly spread windows; the unigram beside them
    on the same characters (at the defaults 3.317 there, 3.349 on the whole split)."""
    from trinity_foundations import language as lang

    r = small["results"]
    text = L.DATA.read_text(encoding="ascii")
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    _, y = lang.eval_windows(val, small["params"]["context"], L.VAL_WINDOWS)
    assert r["unigram_val_loss"] == pytest.approx(lang.unigram_loss(train, y.ravel(), vocab.size))
    assert y.size == r["val_tokens_scored"]


def test_the_decay_sentence_follows_its_verdict():
    # "mostly shrinks the weights" only where the decays' losses are within chance
    assert "mostly shrinks the weights" in L.DECAY_WORDS[False]
    assert "by more than chance" in L.DECAY_WORDS[True]
    assert "shrinks" not in L.DECAY_WORDS[True]


# ----------------------------------------------------------------------------
# Each comparison names its runs; the sweep trains each once.


def test_the_sweep_trains_every_comparisons_runs_once():
    rows = L.run_table(0.01, 400)
    labels = [label for label, _ in rows]
    assert len(labels) == len(set(labels))
    for part in (
        L.noise_rows(), L.optimizer_rows(), L.warmup_rows(), L.lr_rows(0.01),
        L.clipping_rows(), L.decay_rows(), L.batch_rows(), L.overfit_rows(400),
    ):  # fmt: skip
        assert all(row in rows for row in part)
    assert L.noise(run_(3.0), run_(3.01), least=0.05) == 0.05


# ----------------------------------------------------------------------------
# What you saw: each bullet chosen from its section's result.


def _optimizers(adamw, sgd, tie=0.05):
    runs = (run_(adamw), *(run_(v) for v in sgd))
    lrs = (0.3, 1.0, 3.0)
    return L.Optimizers(runs, lrs, L.optimizer_verdict(runs[0], runs[1:], lrs, tie), tie)


def test_what_you_saw_names_the_optimizer_that_ended_lower():
    assert "lower than SGD at its best rate (1: 3.300)" in L.saw_optimizers(
        _optimizers(3.0, (3.5, 3.3, None))
    )
    assert "about the same as SGD" in L.saw_optimizers(_optimizers(3.0, (3.02, 3.5, 3.6)))
    assert "higher than SGD at its best rate (0.3" in L.saw_optimizers(
        _optimizers(3.4, (3.0, 3.5, 3.6))
    )
    assert L.saw_optimizers(_optimizers(None, (None, None, None))) == L.OPTIMIZER_WORDS["neither"]


def _sweep(finals):
    runs = tuple(run_(v, diverged=None if v is not None else 5) for v in finals)
    lrs = (1e-4, 1e-3, 1e-2, 1e-1)
    return L.LearningRate(runs, lrs, L.lr_verdict(runs, lrs, 0.05), 0.05, 3.3)


def test_what_you_saw_names_the_best_rate_and_the_diverged_ones():
    said = L.saw_learning_rate(_sweep((3.5, 3.0, 3.2, None)))
    assert "lr 0.001 ended lowest (3.000)" in said and "lr 0.1 diverged" in said
    assert "from 0.0001 to 0.1" in said
    assert "none diverged" in L.saw_learning_rate(_sweep((3.5, 3.0, 3.2, 3.4)))
    assert "Every rate" in L.saw_learning_rate(_sweep((None, None, None, None)))


def _overfit(train, val):
    run = dataclasses.replace(run_(val[-1]), train_eval=train, val=val, eval_steps=(8, 16, 24))
    return L.Overfit((run,), 400, L.overfit_verdict(run, run_(3.1)), 8, 24)


def test_what_you_saw_says_where_train_and_validation_parted():
    assert "parted at step 16" in L.saw_overfit(_overfit((3.0, 2.0, 1.0), (3.2, 3.0, 3.5)))
    assert "1.390 nats below" in L.saw_overfit(_overfit((3.0, 2.5, 1.93), (3.4, 3.33, 3.32)))
    assert "stayed together" in L.saw_overfit(_overfit((3.4, 3.3, 3.3), (3.4, 3.33, 3.32)))


# Last in this file: the tiny-value sweep of tests/test_bad_input.py for lesson 21, run
# here so that it reuses the programs the tests above compiled.
@pytest.mark.parametrize("action", tiny_sweep.flags("21_training_dynamics"), ids=tiny_sweep.flag_id)
def test_21_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("21_training_dynamics", action, capsys, request)
