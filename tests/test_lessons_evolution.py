import math

import numpy as np
import pytest
from conftest import load_lesson

ES_SMALL = ("--generations", "20", "--population", "12", "--mu", "4")
ROSEN_SMALL = ("--dim", "3", "--cma-max-generations", "300")
RUN_KEYS = {
    "converged",
    "generation",
    "final_mean",
    "best_loss",
    "history",
    "evaluations",
    "population",
}


# ----------------------------------------------------------------------------
# 10_evolution_strategy


def test_evolution_strategy_results(run_json):
    env = run_json("10_evolution_strategy", *ES_SMALL)
    r = env["results"]
    assert env["lesson"] == "10_evolution_strategy"
    assert env["params"] == {"seed": 0, "generations": 20, "population": 12, "mu": 4, "lr": 0.1}
    assert [e["generation"] for e in r["es_history"]] == [10, 20]
    assert [e["generation"] for e in r["gd_history"]] == [10, 20]
    assert r["es_final"] == r["es_history"][-1] and r["gd_final"] == r["gd_history"][-1]

    # gradient descent on the sphere: x_t = x_0 · 0.8^t
    for e in r["gd_history"]:
        np.testing.assert_allclose(
            e["position"], np.array([5.0, -5.0]) * 0.8 ** e["generation"], rtol=1e-5
        )
    assert r["gd_factor"] == pytest.approx(0.8) and r["gd_closed_form_max_rel_error"] < 1e-5
    assert r["gd_distance"] == pytest.approx(5 * math.sqrt(2) * 0.8**20, rel=1e-5)

    # every reported number is consistent with its position
    for e in r["es_history"] + r["gd_history"]:
        assert e["true_loss"] == pytest.approx(sum(v * v for v in e["position"]), rel=1e-5)
    assert r["es_distance"] == pytest.approx(math.hypot(*r["es_final"]["position"]), rel=1e-5)
    assert len(r["es_true_loss"]) == len(r["gd_true_loss"]) == 20
    assert r["es_true_loss"][19] == pytest.approx(r["es_final"]["true_loss"], rel=1e-5)

    # the ES made real progress from f = 50 without a gradient
    assert r["start_loss"] == 50.0 and r["es_final"]["true_loss"] < 1.0
    assert r["noise_std"] == pytest.approx(0.1 * math.sqrt(2))
    assert r["es_evaluations"] == 20 * 12 and r["gd_evaluations"] == 20
    assert sum(r["weights"]) == pytest.approx(1.0) and len(r["weights"]) == 4


def test_evolution_strategy_is_deterministic(run_json):
    a = run_json("10_evolution_strategy", *ES_SMALL)["results"]
    b = run_json("10_evolution_strategy", *ES_SMALL)["results"]
    c = run_json("10_evolution_strategy", *ES_SMALL, "--seed", "1")["results"]
    assert a == b
    assert a["es_history"] != c["es_history"]
    assert a["gd_history"][0]["position"] == c["gd_history"][0]["position"]  # GD ignores noise


def test_evolution_strategy_report(capsys):
    load_lesson("10_evolution_strategy").main(list(ES_SMALL))
    out = capsys.readouterr().out
    assert "log scale" in out and "gradient descent" in out and "x₀·0.8^t" in out
    assert "nan" not in out.lower()
    assert out.rstrip().endswith("Next: python lessons/11_rosenbrock_es.py")


def test_evolution_strategy_gd_at_zero_or_underflowing(run_json, capsys):
    # lr = 0.5 is a Newton step: GD sits exactly at 0 after one step (once a ZeroDivisionError)
    lesson = load_lesson("10_evolution_strategy")
    lesson.main(["--lr", "0.5", "--generations", "3", "--population", "6", "--mu", "2"])
    out = " ".join(capsys.readouterr().out.split())
    assert "one step lands on the optimum" in out and "at the optimum itself" in out
    assert "nan" not in out.lower()
    # lr = 0.4: x0·0.2^t leaves float32's normal range after step 55, then flushes to 0; the
    # closed-form check covers the normal range (it read 1.0 or NaN), true losses stay > 0
    r = run_json(
        "10_evolution_strategy",
        "--lr",
        "0.4",
        "--generations",
        "60",
        "--population",
        "6",
        "--mu",
        "2",
    )["results"]
    assert r["gd_underflow_generation"] == 56 and r["gd_closed_form_max_rel_error"] < 1e-5
    assert r["gd_true_loss"][39] == pytest.approx(50 * 0.04**40, rel=1e-5)  # x² is 1e-55
    lesson.main(["--lr", "0.4", "--generations", "60", "--population", "6", "--mu", "2"])
    out = " ".join(capsys.readouterr().out.split())
    assert "up to step 55" in out and "exactly 0" in out and "nan" not in out.lower()


def test_evolution_strategy_singular_and_plural(capsys):
    load_lesson("10_evolution_strategy").main(
        ["--generations", "1", "--population", "1", "--mu", "1", "--lr", "0.9"]
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "After 1 step it is" in out and "1 noisy evaluation brought" in out
    assert "x₀·(-0.8)^t" in out and "Generation 1:" in out


@pytest.mark.parametrize(
    "argv, reason",
    [
        (("--mu", "30"), "must not exceed --population"),
        (("--lr", "1.5"), "strictly between 0 and 1"),
        (("--generations", "0"), "positive integer"),
        (("--population", "many"), "not a valid int"),
    ],
)
def test_evolution_strategy_rejects_bad_input(usage_error, argv, reason):
    assert reason in usage_error("10_evolution_strategy", *argv)


# ----------------------------------------------------------------------------
# 11_rosenbrock_es


def test_rosenbrock_es_results(run_json):
    env = run_json("11_rosenbrock_es", *ROSEN_SMALL)
    r = env["results"]
    assert env["lesson"] == "11_rosenbrock_es"
    assert r["threshold"] == 0.01 and r["dim"] == 3
    runs = {"es": r, "sep_cma": r["sep_cma"], "es_nd": r["es_nd"], "sep_cma_nd": r["sep_cma_nd"]}
    for name, run in runs.items():
        assert RUN_KEYS <= set(run), name
        assert len(run["history"]) == run["generation"]
        assert run["history"][-1] == run["best_loss"]
        assert run["evaluations"] == run["generation"] * run["population"]
        assert run["converged"] == (run["best_loss"] < 0.01)
        # the loop stops at the first generation under the threshold, not later
        assert all(v >= 0.01 for v in run["history"][:-1])
        if not run["converged"]:
            limit = 200 if name.startswith("es") else 300
            assert run["generation"] == limit

    # the simple ES of the original reaches the 2-D threshold within 200 generations
    assert r["converged"] and r["generation"] < 200 and r["population"] == 40
    assert len(r["final_mean"]) == 2
    # sep-CMA-ES uses CMA's default population 4 + ⌊3 ln D⌋
    assert r["sep_cma"]["population"] == 6 and r["sep_cma_nd"]["population"] == 7
    assert len(r["sep_cma_nd"]["final_mean"]) == 3


def test_rosenbrock_es_is_deterministic(run_json):
    a = run_json("11_rosenbrock_es", *ROSEN_SMALL)["results"]
    b = run_json("11_rosenbrock_es", *ROSEN_SMALL)["results"]
    assert a == b


def test_rosenbrock_es_report(capsys):
    load_lesson("11_rosenbrock_es").main(list(ROSEN_SMALL))
    out = capsys.readouterr().out
    assert "sep-CMA-ES" in out and "In 2-D:" in out and "In 3-D:" in out
    assert "nan" not in out.lower()
    assert out.rstrip().endswith("Next: python lessons/12_moe_gating.py")


def test_rosenbrock_es_stopped_runs_say_last_and_lowest(run_json, capsys):
    argv = (
        "--dim",
        "2",
        "--max-generations",
        "30",
        "--cma-max-generations",
        "1",
        "--threshold",
        "1e-6",
    )
    r = run_json("11_rosenbrock_es", *argv)["results"]
    for run in (r, r["sep_cma"], r["es_nd"], r["sep_cma_nd"]):
        assert run["lowest_loss"] == min(run["history"]) <= run["best_loss"]
    load_lesson("11_rosenbrock_es").main(list(argv))
    out = " ".join(capsys.readouterr().out.split())
    assert "best loss: of the last generation" in out
    assert "in the last generation" in out and "In 2-D again, with other keys:" in out
    assert "in 1 generations" not in out


@pytest.mark.parametrize(
    "argv, reason",
    [
        (("--dim", "1"), "at least 2 coordinates"),
        (("--threshold", "0"), "positive number"),
        (("--cma-max-generations", "-5"), "positive integer"),
    ],
)
def test_rosenbrock_es_rejects_bad_input(usage_error, argv, reason):
    assert reason in usage_error("11_rosenbrock_es", *argv)
