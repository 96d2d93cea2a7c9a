"""Lessons 10 and 11: results against closed forms, the report's decisions, bounds, x64."""

import dataclasses
import math

import jax
import numpy as np
import pytest
import tiny_sweep
from conftest import load_lesson

from trinity_foundations import cli
from trinity_foundations import evolution as ev

ES_SMALL = ("--generations", "60", "--population", "12", "--mu", "4")  # one compile for all
# --dim 2: the n-D runs share the 2-D runs' compiled loops (the odd-λ weights and the
# local minimum of D ≥ 4 are tested as functions)
ROSEN_SMALL = ("--dim", "2", "--cma-max-generations", "300")
RUN_KEYS = {
    "converged",
    "generation",
    "final_mean",
    "best_loss",
    "mean_loss",
    "history",
    "sigma_history",
    "evaluations",
    "population",
}


def es_lesson():
    return load_lesson("10_evolution_strategy")


def rosen_lesson():
    return load_lesson("11_rosenbrock_es")


# ----------------------------------------------------------------------------
# 10_evolution_strategy


def test_evolution_strategy_results(run_json):
    env = run_json("10_evolution_strategy", *ES_SMALL)
    r = env["results"]
    assert env["params"] == {"seed": 0, "generations": 60, "population": 12, "mu": 4, "lr": 0.1}
    assert [e["generation"] for e in r["es_history"]] == [10, 20, 30, 40, 50, 60]
    assert r["es_final"] == r["es_history"][-1] and r["gd_final"] == r["gd_history"][-1]
    assert r["dtype"] == "float32"

    # gradient descent on the sphere: x_t = x_0 · 0.8^t
    for e in r["gd_history"]:
        np.testing.assert_allclose(
            e["position"], np.array([5.0, -5.0]) * 0.8 ** e["generation"], rtol=1e-5
        )
    assert r["gd_factor"] == pytest.approx(0.8) and r["gd_closed_form_max_rel_error"] < 1e-5
    for e in r["es_history"] + r["gd_history"]:
        assert e["true_loss"] == pytest.approx(sum(v * v for v in e["position"]), rel=1e-5)
    assert r["es_distance"] == pytest.approx(math.hypot(*r["es_final"]["position"]), rel=1e-5)
    assert r["start_loss"] == 50.0 and r["es_final"]["true_loss"] < 1.0
    assert r["es_evaluations"] == 60 * 12 and r["gd_evaluations"] == 60

    # the printed hyper-parameters and the σ each generation sampled with
    assert (r["sigma0"], r["decay"], r["decay_after"], r["lr"]) == (2.0, 0.95, 30, 0.1)
    g = np.arange(1, 61)
    np.testing.assert_allclose(r["es_sigma"], 2.0 * 0.95 ** np.maximum(0, g - 30), rtol=1e-5)

    # the noise-free reference: the same ES, the same sampling keys, objective without noise
    _, clean = ev.run(
        ev.es_init([5.0, -5.0], 2.0),
        jax.random.key(0),
        step=ev.es_step,
        objective=ev.sphere,
        config=ev.ESConfig(12, 4, 0.95, 30),
        generations=60,
    )
    want = np.sum(np.asarray(clean.mean, np.float64) ** 2, axis=1)
    np.testing.assert_allclose(r["clean_true_loss"], want, rtol=1e-6)
    p = r["plateau"]
    assert p["generations"] == [11, 30]
    assert p["noisy_median"] == pytest.approx(np.median(r["es_true_loss"][10:30]))
    assert p["clean_median"] == pytest.approx(np.median(want[10:30]))


def test_plateau_is_blamed_on_what_the_noise_free_run_shows():
    lesson = es_lesson()
    assert lesson.plateau_cause(lesson.Plateau((11, 30), 0.093, 0.069)) == "sigma"
    assert lesson.plateau_cause(lesson.Plateau((11, 30), 0.093, 0.01)) == "noise"
    assert lesson.plateau(np.ones(10), np.ones(10)) is None  # no generation past the 10th
    assert lesson.plateau(np.arange(40.0), np.zeros(40)) == lesson.Plateau((11, 30), 19.5, 0.0)


def test_what_held_the_es_back_and_how_much_closer_descent_ended():
    lesson = es_lesson()
    assert lesson.how_much_closer(0.176, 1.25e-7) == "1.4e+06 times closer"
    assert lesson.how_much_closer(0.176, 0.0) == "at the optimum itself"
    assert lesson.how_much_closer(0.1, 0.1) is None and lesson.how_much_closer(0.0, 0.0) is None
    s = lesson.Search(
        evaluations=1600,
        distance=0.176,
        final_true_loss=3.1e-2,
        final_sigma=0.146,
        noise_std=0.141,
        sigma0=2.0,
        plateau=None,
        clean_final_true_loss=3.7e-3,
        decayed=True,
        gd_evaluations=80,
        gd_distance=1.25e-7,
        gd_final_loss=-0.278,
        gd_final_true_loss=1.6e-14,
    )
    assert lesson.noise_holds_back(s)
    assert not lesson.noise_holds_back(dataclasses.replace(s, decayed=False))  # σ still σ₀
    assert not lesson.noise_holds_back(dataclasses.replace(s, clean_final_true_loss=0.05))


def test_schedule_and_table_truncation():
    lesson = es_lesson()
    assert lesson.schedule(2.0, 0.95, 30, [2.0] * 30 + [1.9, 1.805]) == (
        "σ₀ = 2 for generations 1–30, then × 0.95 each: 1.8 in generation 32"
    )
    assert lesson.schedule(2.0, 0.95, 30, [2.0] * 5) == "σ₀ = 2 for generations 1–5"
    rows, hidden = lesson.table_rows(list(range(100)), limit=20)
    assert rows == [*range(19), 99] and hidden == 80
    assert lesson.table_rows([1, 2], limit=20) == ([1, 2], 0)


def test_evolution_strategy_report(run_report, run_json):
    out = " ".join(run_report("10_evolution_strategy", *ES_SMALL).split())
    assert "ES without noise" in out and "nan" not in out.lower()
    # the schedule it prints is this run's, from lesson.schedule (tested above)
    env = run_json("10_evolution_strategy", *ES_SMALL)
    r = env["results"]
    schedule = es_lesson().schedule(r["sigma0"], r["decay"], r["decay_after"], r["es_sigma"])
    assert schedule.startswith("σ₀ = 2 for generations 1–30, then × 0.95 each")
    assert env["results"]["lr"] == 0.1  # "Gradient descent: lr = 0.1"


def test_evolution_strategy_gd_at_zero_or_underflowing(run_json):
    # lr = 0.5 is a Newton step: GD sits exactly at 0 after one step (lr is traced:
    # these reuse ES_SMALL's compiled runs)
    r = run_json("10_evolution_strategy", *ES_SMALL, "--lr", "0.5")["results"]
    assert r["gd_distance"] == 0 and r["gd_factor"] == 0
    # lr = 0.4: x0·0.2^t leaves float32's normal range after step 55, then flushes to 0
    r = run_json("10_evolution_strategy", *ES_SMALL, "--lr", "0.4")["results"]
    assert r["gd_underflow_generation"] == 56 and r["gd_closed_form_max_rel_error"] < 1e-5
    assert r["gd_true_loss"][39] == pytest.approx(50 * 0.04**40, rel=1e-5)  # x² is 1e-55


def test_evolution_strategy_is_deterministic(run_json):
    a = run_json("10_evolution_strategy", *ES_SMALL)["results"]
    b = run_json("10_evolution_strategy", *ES_SMALL)["results"]
    assert a == b


@pytest.mark.parametrize(
    "argv, reason",
    [
        (("--mu", "30"), "must not exceed --population"),
        (("--lr", "1.5"), "strictly between 0 and 1"),
        (("--generations", "100000000"), "from 1 to 100,000"),
        (("--population", "1000000000"), "from 1 to 100,000"),
        (("--generations", "100000", "--population", "10000"), "at most 100,000,000"),
    ],
)
def test_evolution_strategy_rejects_bad_input(usage_error, argv, reason):
    assert reason in usage_error("10_evolution_strategy", *argv)


# ----------------------------------------------------------------------------
# 11_rosenbrock_es


def test_rosenbrock_es_results(run_json):
    r = run_json("11_rosenbrock_es", *ROSEN_SMALL)["results"]
    assert r["threshold"] == 0.01 and r["dim"] == 2 and r["dtype"] == "float32"
    runs = {"es": r, "sep_cma": r["sep_cma"], "es_nd": r["es_nd"], "sep_cma_nd": r["sep_cma_nd"]}
    for name, run in runs.items():
        assert RUN_KEYS <= set(run), name
        assert len(run["history"]) == len(run["sigma_history"]) == run["generation"]
        assert run["history"][-1] == run["best_loss"]
        assert run["evaluations"] == run["generation"] * run["population"]
        assert run["converged"] == (run["best_loss"] < 0.01)
        assert all(v >= 0.01 for v in run["history"][:-1])  # stops at the first one below
        x = np.asarray(run["final_mean"])  # f at the mean, like with like
        f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        assert run["mean_loss"] == pytest.approx(f, rel=1e-9)
        assert run["distance"] == pytest.approx(np.linalg.norm(x - 1), rel=1e-9)
        assert run["distance_history"][-1] == pytest.approx(run["distance"], rel=1e-9)
    assert r["converged"] and r["generation"] < 200 and r["population"] == 40
    np.testing.assert_allclose(r["mean_history"][-1], r["final_mean"])
    # sep-CMA-ES: default population 4 + ⌊3 ln D⌋, weights of eq. (49)
    assert r["sep_cma"]["population"] == r["sep_cma_nd"]["population"] == 6
    raw = np.log(3.5) - np.log([1, 2, 3])  # ln((λ + 1)/2) − ln i, λ = 6
    np.testing.assert_allclose(r["cma_weights"], raw / raw.sum(), rtol=1e-9)
    assert r["local_minimum"] is None  # D = 2 has none
    assert rosen_lesson().sep_cma.default_population(3) == 7  # odd: see test_evolution


def test_local_minimum_is_found_and_a_mean_there_is_flagged():
    lesson = rosen_lesson()
    local = lesson.local_minimum(10)
    assert local.loss == pytest.approx(3.98658, abs=1e-4)  # near [-1, 1, ..., 1]
    assert local.point[0] == pytest.approx(-0.9933, abs=1e-3)
    assert lesson.local_minimum(3) is None
    stuck = np.asarray(local.point) + 0.01
    assert lesson.basin(stuck, local) == "local"
    assert lesson.basin(np.ones(10) - 0.01, local) == "global"
    assert lesson.basin(np.zeros(10), local) is None
    assert lesson.stuck_runs(None, "local") == ["sep-CMA-ES"]
    assert lesson.stuck_runs("local", "global") == ["the simple ES"]


def test_verdicts_on_who_reached_the_threshold():
    lesson = rosen_lesson()

    def run(converged, evaluations, best=0.5, lowest=0.5):
        return lesson.Run(
            converged, evaluations // 10, 10, evaluations, [1.0, 1.0], 0.01, best, best, 0.0,
            None, [best], lowest, [0.01], [0.0], None,
        )  # fmt: skip

    assert lesson.verdict(run(True, 100), run(True, 100), "In 2-D") == (
        "In 2-D: both reached it with 100 evaluations."
    )
    only = lesson.verdict(run(False, 800, 7.02, 6.9), run(True, 2000), "In 10-D")
    assert only.startswith("In 10-D: only sep-CMA-ES reached it; the simple ES stopped after 800")
    assert "lowest seen 6.9" in only
    assert "neither" in lesson.verdict(run(False, 80), run(False, 90), "In 2-D")
    assert lesson.again(2) == " again, with other keys" and lesson.again(10) == ""
    assert lesson.mean_rows(run(True, 20)) == [1, 2]  # 2 generations: both shown
    assert lesson.mean_rows(run(True, 6760), rows=3) == [1, 338, 676]


def test_closer_mean_compares_means():
    lesson = rosen_lesson()
    assert lesson.closer_mean(0.545, 0.0099) == "sep_cma"
    assert lesson.closer_mean(0.001, 0.0099) == "es"
    assert lesson.closer_mean(0.01, 0.01) == "tie"


def test_rosenbrock_es_report(run_report):
    # It renders to the end (and fits 40 columns: tests/conftest.py). What it says is the
    # results' (test_rosenbrock_es_results: f and the distance at each mean, σ per
    # generation, eq. (49)'s weights) through closer_mean and verdict, tested alone above.
    run_report("11_rosenbrock_es", *ROSEN_SMALL)


def test_rosenbrock_es_stopped_runs_say_last_and_lowest(run_json):
    r = run_json("11_rosenbrock_es", *ROSEN_SMALL, "--threshold", "1e-6")["results"]
    for run in (r, r["sep_cma"], r["es_nd"], r["sep_cma_nd"]):
        assert run["lowest_loss"] == min(run["history"]) <= run["best_loss"]
    assert "lowest seen" in rosen_lesson().best(0.12, 0.03)
    assert "lowest seen" not in rosen_lesson().best(0.12, 0.1201)


def test_rosenbrock_es_runs_in_float64_under_x64(run_json):
    with jax.enable_x64(True):
        r = run_json(
            "11_rosenbrock_es", "--dim", "2", "--max-generations", "5", "--cma-max-generations", "5"
        )["results"]
    assert r["dtype"] == "float64"


def test_rosenbrock_es_is_deterministic(run_json):
    argv = ("--dim", "2", "--cma-max-generations", "50")
    assert (
        run_json("11_rosenbrock_es", *argv)["results"]
        == run_json("11_rosenbrock_es", *argv)["results"]
    )


@pytest.mark.parametrize(
    "argv, reason",
    [
        (("--dim", "1"), "at least 2 coordinates"),
        (("--dim", "1001"), "from 1 to 1,000"),
        (("--threshold", "0"), "positive number"),
        (("--threshold", "1e18"), "must be at most 1e+09"),
        (("--max-generations", "1000000000"), "from 1 to 100,000"),
        (("--cma-max-generations", "-5"), "from 1 to 100,000"),
    ],
)
def test_rosenbrock_es_rejects_bad_input(usage_error, argv, reason):
    assert reason in usage_error("11_rosenbrock_es", *argv)


def test_rosenbrock_es_refuses_histories_that_do_not_fit(usage_error, monkeypatch):
    monkeypatch.setattr(cli, "available_bytes", lambda: 2**20)  # 1 MiB
    assert "GiB available" in usage_error("11_rosenbrock_es", "--dim", "1000")


# Last in the file: the programs the tests above compiled are reused.
@pytest.mark.parametrize(
    "action", tiny_sweep.flags("10_evolution_strategy"), ids=tiny_sweep.flag_id
)
def test_10_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("10_evolution_strategy", action, capsys, request)


@pytest.mark.parametrize("action", tiny_sweep.flags("11_rosenbrock_es"), ids=tiny_sweep.flag_id)
def test_11_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("11_rosenbrock_es", action, capsys, request)
