import contextlib
import io
import json
import math
from dataclasses import fields

import jax
import numpy as np
import pytest
import tiny_sweep
from conftest import load_lesson
from rich.cells import cell_len

from trinity_foundations import probe

LESSON = "05_linear_probe"
TIMING = {"compile_ms", "train_ms"}


@pytest.fixture(scope="module")
def default_run():
    """The lesson at its default sizes (cheap: compiling dominates), parsed once."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        load_lesson(LESSON).main(["--json"])
    return json.loads(out.getvalue())


def test_params_and_shape_of_results(default_run):
    env = default_run
    assert env["lesson"] == LESSON
    assert env["params"] == {
        "seed": 42,
        "epochs": 100,
        "lr": 0.1,
        "l2": 0.001,
        "train_size": 1000,
        "val_size": 500,
    }
    r = env["results"]
    assert len(r["loss_history"]) == 100
    assert [e["epoch"] for e in r["log"]] == [20, 40, 60, 80, 100]
    assert np.array(r["w"]).shape == (2, 1) and r["w"] == [[v] for v in r["final"]["w"]]
    assert r["b"] == r["final"]["b"] and r["initial"]["b"] == 0.0
    assert r["diverged_at"] is None and r["failure"] == ""
    assert (r["lr"], r["l2"], r["seed"], r["val_seed"], r["init_seed"]) == (
        0.1,
        0.001,
        42,
        999,
        100,
    )


def test_training_lowers_the_loss_and_reaches_99_percent(default_run):
    r = default_run["results"]
    losses = r["loss_history"]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    for e in r["log"]:
        assert e["loss"] == losses[e["epoch"] - 1]
    assert r["log"][-1]["val_accuracy"] == pytest.approx(r["val_accuracy"])
    assert r["val_accuracy"] >= 99.0
    assert r["val_accuracy"] == 100 * r["val_correct"] / r["val_size"]


def test_seeds_of_the_original_and_numbers_recomputed_with_numpy(default_run):
    """The data come from seeds 42 (train), 999 (validation) and 100 (initial weights)."""
    r = default_run["results"]
    x, y = (np.asarray(a, np.float64) for a in probe.make_clusters(jax.random.key(42), 1000))
    w0 = np.asarray(probe.init_params(jax.random.key(100)).w, np.float64)  # (2, 1)
    assert w0[:, 0].tolist() == r["initial"]["w"]
    p = 1 / (1 + np.exp(-(x @ w0)))  # (1000, 1)
    bce = -np.mean(y * np.log(p + 1e-7) + (1 - y) * np.log(1 - p + 1e-7))
    assert r["loss_history"][0] == pytest.approx(bce + 0.001 * np.sum(w0**2), rel=1e-5)

    x_val, y_val = (
        np.asarray(a, np.float64) for a in probe.make_clusters(jax.random.key(999), 500)
    )
    guesses = (x_val @ np.array(r["w"]) + r["b"] > 0).astype(float)  # (500, 1)
    assert r["val_correct"] == int(np.sum(guesses == y_val))


def test_interval_best_accuracy_and_optax(default_run):
    r = default_run["results"]
    low, high = r["wilson_ci"]
    assert low < r["val_accuracy"] < high
    k, n, z = r["val_correct"], r["val_size"], 1.96
    centre = (k / n + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(k / n * (1 - k / n) / n + z * z / (4 * n * n))
    assert [low, high] == pytest.approx([100 * (centre - half), 100 * (centre + half)], rel=1e-5)

    assert r["centre_distance"] == pytest.approx(2 * math.sqrt(2))
    assert r["bayes_accuracy"] == pytest.approx(50 * (1 + math.erf(2.0)), rel=1e-6)  # 99.77 %
    assert 99.0 < r["population_accuracy"] <= r["bayes_accuracy"] + 1e-4
    assert r["optax_matches"] is True and r["optax_max_diff"] <= 1e-6
    # the interval's real miss rate at the true accuracy: about 6.5 %, not 5 %
    from scipy.stats import binom

    p, n = r["population_accuracy"] / 100, r["val_size"]
    ks = np.arange(n + 1)
    z2 = 1.96**2
    centre = (ks / n + z2 / (2 * n)) / (1 + z2 / n)
    half = 1.96 / (1 + z2 / n) * np.sqrt(ks / n * (1 - ks / n) / n + z2 / (4 * n * n))
    missed = (centre - half > p) | (centre + half < p)
    assert r["wilson_miss_pct"] == pytest.approx(100 * binom.pmf(ks[missed], n, p).sum(), rel=1e-3)


def test_same_seed_same_results_other_seed_other_data(default_run, run_json):
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING}  # noqa: E731
    a = default_run["results"]
    assert strip(run_json(LESSON)["results"]) == strip(a)
    c = run_json(LESSON, "--seed", "7", "--epochs", "30")["results"]
    assert c["initial"] != a["initial"] and c["loss_history"][0] != a["loss_history"][0]
    assert [e["epoch"] for e in c["log"]] == [20, 30]  # every 20th, and the last


def test_divergence_is_reported_not_printed_as_nan(run_json):
    r = run_json(LESSON, "--lr", "1000", "--l2", "1")["results"]
    assert r["diverged_at"] is not None and r["penalty_factor"] == -1999
    assert r["failure"] == "diverged"


def test_a_finite_failed_run_is_detected(run_json):
    r = run_json(LESSON, "--lr", "1000")["results"]  # finite, but the probe flips
    assert r["diverged_at"] is None and r["failure"] == "loss rose"
    assert r["loss_history"][-1] > r["loss_history"][0] and r["val_accuracy"] < 50
    text = load_lesson(LESSON).failure_sentence(
        r["failure"], r["loss_history"], r["val_accuracy"], r["lr"]
    )
    first, last = r["loss_history"][0], r["loss_history"][-1]
    assert f"Training failed:[/] the loss rose from {first:.4g} to {last:.4g}" in text


@pytest.mark.parametrize(("epochs", "every"), [(100, 20), (200, 20), (201, 40), (10**6, 100_000)])
def test_the_log_stays_short(epochs, every):
    assert load_lesson(LESSON).log_every(epochs) == every
    assert epochs // every <= 10


@pytest.mark.parametrize(
    ("losses", "accuracy", "diverged", "failure"),
    [
        ([0.7, 0.1], 99.0, None, ""),
        ([0.7, 0.1], 99.0, 3, "diverged"),
        ([0.07, 30.0], 1.0, None, "loss rose"),
        ([0.7, 0.6], 40.0, None, "below chance"),
        ([0.7], 99.0, None, ""),
    ],
)
def test_training_failure(losses, accuracy, diverged, failure):
    assert load_lesson(LESSON).training_failure(losses, accuracy, diverged) == failure


def sentences_input(**extra):
    fields = {
        "val_correct": 496,
        "val_size": 500,
        "val_accuracy": 99.2,
        "wilson_z": 1.96,
        "wilson_ci": [97.96, 99.69],
        "wilson_miss_pct": 6.54,
        "population_accuracy": 99.70,
        "bayes_accuracy": 99.77,
        "centre_distance": 2.83,
        "diverged": False,
    }
    return load_lesson(LESSON).Validation(**{**fields, **extra})


def test_interval_sentence_shows_both_sides():
    text = load_lesson(LESSON).interval_sentence(sentences_input())
    assert "1.24 percentage points below the measured 99.2 % and 0.49 above, lopsided" in text


def test_coverage_sentence_uses_the_computed_miss_rate():
    lesson = load_lesson(LESSON)
    text = lesson.coverage_sentence(sentences_input())
    assert "misses it in 6.5% of validation samples" in text and "more than the nominal" in text
    assert "1 run of 20" not in text and "This sample's interval misses it" in text
    inside = lesson.coverage_sentence(sentences_input(population_accuracy=99.0, wilson_miss_pct=4))
    assert "less than the nominal 5 %" in inside and "contains it" in inside


def test_report(run_report, default_run):
    out = run_report(LESSON, "--show-code", columns=40)
    body = out.splitlines()[1:]  # the title rule may shorten the title
    assert out.splitlines()[1].count("Lesson 05") == 1
    assert max(map(cell_len, body)) <= 40  # the chart and tables take the console's width
    text = " ".join(out.split())
    assert "def train_step" in text  # --show-code
    assert text.endswith("Next: make run LESSON=06")
    # the first line of section 1: "Hyper-parameters: {hyper_parameters(training)}.", here
    # of the default run's results (hyper_parameters reads no other field)
    lesson, r = load_lesson(LESSON), default_run["results"]
    training = lesson.Training(**{f.name: r.get(f.name) for f in fields(lesson.Training)})
    assert lesson.hyper_parameters(training) == (
        "lr = 0.1, λ = 0.001, 100 epochs, 1,000 training points, 500 validation points, "
        "float32; seeds 42 (training set), 999 (validation), 100 (initial weights)"
    )


@pytest.mark.parametrize(
    "argv, reason",
    [
        (("--epochs", "0"), "--epochs: must be from 1 to 100,000"),
        (("--epochs", str(10**18)), "--epochs: must be from 1 to 100,000"),
        (("--lr", "-1"), "--lr: must be a positive number"),
        (("--l2", "-0.5"), "--l2: must be from 0 to 10000"),
        (("--l2", "nan"), "--l2: 'nan' is not a finite number"),
        (("--train-size", "0"), "--train-size: must be from 1"),
        (("--val-size", "x"), "--val-size: 'x' is not a valid int"),
        (("--train-size", str(10**7)), "a bound on time allows 150,000,000"),  # ran for minutes
    ],
)
def test_bad_input(usage_error, argv, reason):
    assert reason in usage_error(LESSON, *argv)


def test_sizes_are_checked_against_available_memory(usage_error, monkeypatch):
    from trinity_foundations import cli

    monkeypatch.setattr(cli, "available_bytes", lambda: 2**20)
    line = usage_error(LESSON, "--epochs", "1000")
    assert "--epochs 1,000 with --val-size 500 needs about" in line


# Last in the file: the programs the tests above compiled are reused.
@pytest.mark.parametrize("action", tiny_sweep.flags("05_linear_probe"), ids=tiny_sweep.flag_id)
def test_05_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("05_linear_probe", action, capsys, request)
