"""The "What you saw" bullets: each lesson's summary on small hand-built results.

Each test gives a lesson's summary only the keys it reads, with values chosen
to take one branch, and checks the decision (which sentence, which numbers),
not the wording.
"""

from __future__ import annotations

import ast
import dataclasses
import math

import pytest
from conftest import LESSONS, load_lesson

LESSON_STEMS = [
    "01_list_math",
    "02_tensor_math",
    "03_compiler",
    "04_dot_product",
    "04a_quasi_orthogonality",
    "04b_hoeffding_bound",
    "05_linear_probe",
    "06_self_attention",
    "07_softmax_collapse",
    "08_lora_and_svd",
    "09_non_redundant_compression",
    "10_evolution_strategy",
    "11_rosenbrock_es",
    "12_moe_gating",
    "13_loss_curve",
    "14_mini_trinity",
    "15_autoregressive_lm",
    "16_transformer_block",
    "17_tokenization_embeddings",
    "18_shape_literacy",
    "19_language_model",
    "20_decoding",
    "21_training_dynamics",
    "22_memory_and_compute",
    "23_fewer_bits",
    "24_kernels",
    "25_adaptation",
    "26_evaluation",
]


def three(lines: list[str]) -> list[str]:
    assert len(lines) == 3 and all(isinstance(x, str) and x for x in lines), lines
    return lines


@pytest.mark.parametrize("stem", LESSON_STEMS)
def test_every_lesson_passes_its_summary_to_finish(stem):
    tree = ast.parse((LESSONS / f"{stem}.py").read_text())
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (node.func.attr, getattr(node.func.value, "id", ""))
        in {("finish", "cli"), ("run", "sections")}
    ]
    assert len(calls) == 1, stem
    keywords = {k.arg: k.value for k in calls[0].keywords}
    assert isinstance(keywords.get("summary"), ast.Name), stem
    summary = getattr(load_lesson(stem), keywords["summary"].id)
    assert callable(summary), stem


def test_every_lesson_ends_by_naming_its_exercises():
    from trinity_foundations import catalogue, cli, practice

    for stem in catalogue.STEMS:
        line = cli.try_line(stem)
        assert f"make practice LESSON={catalogue.short(stem)}" in line, stem
        assert all(name in line for name in practice.names(stem)), stem
        assert ("ARGS=--mine" in line) == bool(practice.swappable(stem)), stem
    assert cli.try_line("not_a_lesson") == ""


# ----------------------------------------------------------------------------
# 01: exact sums, or sums that rounded


def _r01(size, list_ms, expected, error, fsum_error, list_bytes):
    lesson = load_lesson("01_list_math")
    multiply = lesson.Multiply(size, list_ms, 7, 1.0, size**2, expected + error, 0.0, 0.0, 8, 24)
    sums = lesson.Sum(size, "3.x", "compensated", expected, error, 0, 0.0, fsum_error, 1.0,
                      True, 1e-9)  # fmt: skip
    memory = lesson.Memory(list_bytes - 24, 24, list_bytes, 4, 8)
    return {"multiply": multiply, "sum": sums, "memory": memory}


def test_01_rounded_sum_names_both_errors():
    r = _r01(1_000_000, 70.0, 333_333_833_333_500_000, -372_448, 32, 32.45)
    first, rounding, memory = three(load_lesson("01_list_math").summary(r))
    assert "70.00 ms" in first and "70.0 ns" in first
    assert "-372,448" in rounding and "off by 32" in rounding
    assert "32.45" in memory and "8.1×" in memory


def test_01_exact_sum():
    r = _r01(10, 0.0005, 385, 0, 0, 32.0)
    _, rounding, _ = three(load_lesson("01_list_math").summary(r))
    assert "exactly" in rounding and "385" in rounding and "off by" not in rounding


# ----------------------------------------------------------------------------
# 02: the async trap, large or not; with and without the list


def _r02(numpy_ms, unsynced_ms, list_ms):
    lesson = load_lesson("02_tensor_math")
    steps = lesson.Steps(1000, "float32", 51, numpy_ms, 0.1, True, 0.5, 20.0, 1.0, unsynced_ms,
                         list_ms, None if list_ms is None else 7, {}, 1)  # fmt: skip
    return {"steps": steps, "products": lesson.Products(1000, "float32", 0.0, 1e6)}


@pytest.mark.parametrize("unsynced, trapped", [(0.01, True), (0.9, False)])
def test_02_trap_branch(unsynced, trapped):
    r = _r02(numpy_ms=0.8, unsynced_ms=unsynced, list_ms=None)
    compiled, trap, speed = three(load_lesson("02_tensor_math").summary(r))
    assert "20.0 ms" in compiled and "20×" in compiled
    assert ("100× less" in trap) is trapped
    assert ("dispatch is most" in trap) is not trapped
    assert "1.25× NumPy" in speed and "list" not in speed


def test_02_list_comparison():
    r = _r02(numpy_ms=1.0, unsynced_ms=0.9, list_ms=50.0)
    *_, speed = three(load_lesson("02_tensor_math").summary(r))
    assert "50× faster than the Python list" in speed


# ----------------------------------------------------------------------------
# 03: fused or not; rounding changed or not


def _r03(**kw):
    lesson = load_lesson("03_compiler")
    r = {
        "jaxpr_ops": ["integer_pow", "add"],
        "fusion_count": 1,
        "fused_ops": ["multiply", "add"],
        "jit_cached_ms": 0.1,
        "lower_ms": 15.0,
        "compile_ms": 60.0,
        "first_run_ms": 5.0,  # the first call: 80 ms in all
        "size": 1000,
        "eager_mismatches": 0,
        "eager_max_ulps": 0,
        "jit_rounded_once": False,
    }
    compiled = lesson.Compile(dtype="float32", repeats=51, jaxpr="", head=[], **{**r, **kw})
    return {"compile": compiled, "speed": lesson.Speed(51, 50.0, 7, 0.3, 0.1)}


def test_03_one_fusion_and_exact_agreement():
    fusion, speed, rounding = three(load_lesson("03_compiler").summary(_r03()))
    assert "1 fused kernel:" in fusion and "never stored" in fusion
    assert "3.0× faster than op by op" in speed and "75%" in speed
    assert "All 1,000" in rounding and "differ" not in rounding


def test_03_two_kernels_and_rounding_changed():
    r = _r03(fusion_count=2, eager_mismatches=219, eager_max_ulps=1, jit_rounded_once=True)
    fusion, _, rounding = three(load_lesson("03_compiler").summary(r))
    assert "2 fused kernels." in fusion
    assert "219 of 1,000" in rounding and "1 ulp" in rounding and "fused multiply-add" in rounding


# ----------------------------------------------------------------------------
# 04: the clamp worked or not


@pytest.mark.parametrize("zero, nan", [(0.0, False), (math.nan, True)])
def test_04_zero_vector(zero, nan):
    lesson = load_lesson("04_dot_product")
    cos = {"up_right": 0.0, "up_diagonal": 0.7071, "up_up": 1.0}
    r = {
        "pairs": lesson.Pairs(labels={}, cos=cos, angles_deg={"up_diagonal": 45.0}),
        "zero": lesson.Zero(similarity=zero, normalized=[0.0, 0.0], clamp=1e-10),
        "batched": lesson.Batched(values=[0.0, 0.7071, 1.0], matches=not nan),
    }
    angle, clamp, batched = three(lesson.summary(r))
    assert "45°" in angle and "0.7071" in angle
    assert ("scored NaN" in clamp) is nan
    assert ("did NOT match" in batched) is nan and "all 3 pairs" in batched


# ----------------------------------------------------------------------------
# quasi: the spread falls; the largest D is, or is not, nearly orthogonal


def _row(dim, std, pct):
    return load_lesson("04a_quasi_orthogonality").Row(dim, 0.0, std, dim**-0.5, pct, 0)


def _quasi(pairs, rows):
    return {"dims": load_lesson("04a_quasi_orthogonality").Dims(pairs, 0.05, rows, [], 41)}


def test_quasi_room_at_large_d():
    r = _quasi(10_000, [_row(8192, 0.011, 0.0), _row(3, 0.57, 94.1)])
    spread, shares, room = three(load_lesson("04a_quasi_orthogonality").summary(r))
    assert "D = 3 to D = 8192" in spread and "fell" in spread and "0.0110" in spread
    assert "94.1" in shares and "D = 8192" in shares
    assert "room" in room and "8192" in room


def test_quasi_single_dim_not_orthogonal():
    r = _quasi(100, [_row(64, 0.12, 70.0)])
    spread, _, room = three(load_lesson("04a_quasi_orthogonality").summary(r))
    assert spread.startswith("At D = 64")
    assert "not yet" in room


# ----------------------------------------------------------------------------
# hoeffding: held or not; vacuous or not; useful or not


def _hrow(dim, satisfied=True, vacuous=False, looseness=None):
    lesson = load_lesson("04b_hoeffding_bound")
    return lesson.Row(dim, 0, 0.0, 0.0, 0.0, satisfied, vacuous, 0.0, looseness, 1.0, None, 0.0)


def _hoeffding(rows, edge, epsilon):
    lesson = load_lesson("04b_hoeffding_bound")
    dims = lesson.Dims(pairs=10, rows=rows, draws=[], epsilon=epsilon, normal_count=5)
    return {"bound": lesson.Bound(epsilon, edge), "dims": dims}


def test_hoeffding_held_vacuous_and_loose():
    rows = [_hrow(3, vacuous=True), _hrow(4096, looseness=8.0), _hrow(8192, looseness=11.3)]
    r = _hoeffding(rows, 555, 0.05)
    held, vacuous, loose = three(load_lesson("04b_hoeffding_bound").summary(r))
    assert "held at every D" in held
    assert "under 555" in vacuous and "here D = 3" in vacuous
    assert "8.0 to 11.3" in loose and "4096, 8192" in loose


def test_hoeffding_failed_and_never_useful():
    rows = [_hrow(3, satisfied=False, vacuous=True), _hrow(64, vacuous=True)]
    r = _hoeffding(rows, math.inf, 1e-200)
    held, vacuous, loose = three(load_lesson("04b_hoeffding_bound").summary(r))
    assert "above the bound at D = 3" in held and "64" not in held
    assert "every D float64 can count" in vacuous
    assert "None of these D" in loose


def test_hoeffding_useful_but_tail_underflows():
    r = _hoeffding([_hrow(10**7)], 555, 0.05)
    _, vacuous, loose = three(load_lesson("04b_hoeffding_bound").summary(r))
    assert "none of the D sampled" in vacuous and "555" in vacuous
    assert "too small for float64" in loose


def _fill(cls, r: dict):
    """A lesson's section result with the fields `r` names, None for the others."""
    return cls(**{f.name: r.get(f.name) for f in dataclasses.fields(cls)})


# ----------------------------------------------------------------------------
# 05: learned (interval catches the truth or not), failed, diverged


def _r05(**kw):
    r = {
        "loss_history": [0.9, 0.2],
        "failure": "",
        "diverged_at": None,
        "lr": 0.1,
        "dtype": "float32",
        "train_ms": 1.5,
        "val_accuracy": 97.8,
        "val_size": 500,
        "wilson_ci": [96.1, 98.8],
        "population_accuracy": 97.7,
        "wilson_miss_pct": 5.3,
        "bayes_accuracy": 99.77,
        "angle_to_best_deg": 2.5,
    }
    return {**r, **kw}


def _summary05(r: dict) -> list[str]:
    lesson = load_lesson("05_linear_probe")
    done = {
        name: _fill(cls, r)
        for name, cls in (
            ("training", lesson.Training),
            ("parameters", lesson.Parameters),
            ("validation", lesson.Validation),
        )
    }
    return lesson.summary(done)


def test_05_learned_interval_contains_truth():
    train, interval, ceiling = three(_summary05(_r05()))
    assert "fell from 0.9000 to 0.2000" in train and "2 epochs" in train
    assert "contains" in interval and "97.70 %" in interval
    assert "2.07 points short" in ceiling and "2.5°" in ceiling


def test_05_interval_misses_truth_and_level_with_best():
    r = _r05(population_accuracy=99.77)
    _, interval, ceiling = three(_summary05(r))
    assert "misses" in interval and "5.3%" in interval
    assert "level with it" in ceiling


def test_05_one_epoch_loss_stays():
    train, *_ = three(_summary05(_r05(loss_history=[0.5])))
    assert "1 epoch " in train and "stayed at 0.5000" in train


def test_05_failed_run():
    r = _r05(failure="loss rose", loss_history=[0.7, 5.0], population_accuracy=40.0)
    train, _, ceiling = three(_summary05(r))
    assert "rose from 0.7000 to 5.0000" in train
    assert "failed run" in ceiling and "--lr" in ceiling


def test_05_diverged():
    r = _r05(failure="diverged", diverged_at=7, lr=5000.0)
    train, _, advice = three(_summary05(r))
    assert "diverged at epoch 7 of 2" in train and "fell" not in train
    assert "5000" in advice


# ----------------------------------------------------------------------------
# 06: the loss went down, stayed, or went up


def _done06(tokens, weights, row_sums, d_k, after):
    lesson = load_lesson("06_self_attention")
    return {
        "scores": lesson.Scores(tokens, d_k, weights, weights, weights, row_sums),
        "step": lesson.Step(
            lr=0.1, dtype="float32", loss_before=0.5, loss_after=after, grad_norms={}
        ),
    }


@pytest.mark.parametrize(
    "after, word", [(0.4, "downhill"), (0.5, "does not register"), (0.6, "overshot")]
)
def test_06_step_branch(after, word):
    weights = [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]]
    r = _done06(["The", "cat", "[sat]"], weights, [1.0, 1.0, 1.0], 4, after)
    sums, strongest, step = three(load_lesson("06_self_attention").summary(r))
    assert "√4" in sums and "1.000000" in sums
    assert "“cat”" in strongest and "70.0%" in strongest and r"“\[sat]”" in strongest
    assert word in step


def test_06_a_token_attending_to_itself():
    r = _done06(["a", "b"], [[0.9, 0.1], [0.5, 0.5]], [1.0, 0.9999999], 2, 0.4)
    sums, strongest, _ = three(load_lesson("06_self_attention").summary(r))
    assert "1.000000" in sums and "0.999999" not in sums
    assert "“a” gave itself 90.0%" in strongest


# ----------------------------------------------------------------------------
# 07: collapsed draw, close draw, one key, no overflow


def _r07(**kw):
    r = {
        "raw_scores": [40.0, 3.0, -20.0],
        "scale": 1 / 32,
        "dim": 1024,
        "unscaled": [1.0, 0.0, 0.0],
        "scaled": [0.6, 0.25, 0.15],
        "l1_ratio": 5e6,
        "dtype": "float32",
        "sweep": [{"dim": 16, "ratio_median": 1.5}, {"dim": 4096, "ratio_median": 2e5}],
        "overflow_logits": [1000.0, 999.0, 998.0],
        "naive_overflow": [math.nan] * 3,
        "naive_overflow_is_nan": True,
        "stable_overflow": [0.6652, 0.2447, 0.09],
    }
    return {**r, **kw}


def _summary07(r: dict) -> list[str]:
    lesson = load_lesson("07_softmax_collapse")
    rows = [_fill(lesson.SweepRow, row) for row in r["sweep"]]
    done = {
        "softmax": _fill(lesson.Softmax, r),
        "jacobian": _fill(lesson.Jacobian, {**r, "tokens": len(r["raw_scores"])}),
        "sweep": lesson.Sweep(tokens=len(r["raw_scores"]), draws=20, rows=rows),
        "overflow": _fill(lesson.Overflow, r),
    }
    return lesson.summary(done)


def test_07_collapsed_draw():
    collapse, gradient, overflow = three(_summary07(_r07()))
    assert "√1024 = 32" in collapse and "100.0000%" in collapse and "60.0%" in collapse
    assert "5e+06×" in gradient and "2e-05%" in gradient and "sweep" not in gradient
    assert "overflows float32" in overflow and "0.6652" in overflow


def test_07_close_draw_points_to_sweep():
    r = _r07(l1_ratio=1.3, naive_overflow=[0.6, 0.3, 0.1], naive_overflow_is_nan=False)
    _, gradient, overflow = three(_summary07(r))
    assert "1.3×" in gradient and "2e+05× at D = 4096" in gradient
    assert "overflows" not in overflow


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"raw_scores": [3.0], "unscaled": [1.0], "scaled": [1.0], "sweep": []}, "one key"),
        ({"l1_ratio": None}, "exactly zero"),
        ({"dim": 1, "scale": 1.0, "l1_ratio": 1.0}, "D = 1"),
    ],
)
def test_07_degenerate_gradients(kw, word):
    _, gradient, _ = three(_summary07(_r07(**kw)))
    assert word in gradient


# ----------------------------------------------------------------------------
# 08: floor reached, not reached, long run skipped


def _r08(long_run):
    return {
        "truncation_rank": 2,
        "cumulative_energy_share": [0.9, 0.995, 0.999, 1.0],
        "truncation_frobenius_error": 1.25,
        "truncation_eckart_young_error": 1.2500001,
        "w0_rank": 1,
        "redundant_singular_values": [30.0, 1e-6, 1e-7, 1e-8],
        "loss_floor": 1.5,
        "adapter_rank": 1,
        "residual_rank": 2,
        "trainable_params": 8,
        "frozen_params": 16,
        "loss_after_epochs": 40.0,
        "losses": [90.0, 70.0, 60.0, 50.0, 45.0],
        "long_run": long_run,
    }


def _run08(at_floor):
    return {
        "steps": 200,
        "first_step_at_floor": 120 if at_floor else None,
        "final_at_floor": at_floor,
        "final_loss": 1.5 if at_floor else 3.0,
    }


def _summary08(r: dict) -> list[str]:
    lesson = load_lesson("08_lora_and_svd")
    run = r["long_run"]
    done = {
        "svd": _fill(lesson.Svd, r),
        "truncation": _fill(lesson.Truncation, r),
        "rank_one": _fill(lesson.RankOne, r),
        "epochs": _fill(lesson.Epochs, r),
        "floor": _fill(lesson.Floor, {**r, "long_run": run and _fill(lesson.LongRun, run)}),
    }
    return lesson.summary(done)


def test_08_floor_reached():
    energy, rank, floor = three(_summary08(_r08(_run08(True))))
    assert "99.500%" in energy and "1.250000" in energy
    assert "rank 1" in rank and "1 direction holds all 16" in rank
    assert "1.500000 by step 120" in floor and "rank-2 residual" in floor


def test_08_floor_not_reached_and_skipped():
    *_, floor = three(_summary08(_r08(_run08(False))))
    assert "not yet" in floor and "3.000000" in floor
    *_, skipped = three(_summary08(_r08(None)))
    assert "5 epochs" in skipped and "40.000000" in skipped and "--steps" in skipped


# ----------------------------------------------------------------------------
# 09: full rank or not; kept everything or not


def _r09(**kw):
    r = {
        "size": 4,
        "rank": 1,
        "numerical_rank": 4,
        "frobenius_error": 5.0,
        "eckart_young_error": 5.000001,
        "fives_s1": 20.0,
        "singular_values": [22.0, 5.0, 3.0, 1.0],
        "energy_kept": 0.92,
        "centred_energy_kept": 0.5,
        "delta_rank": 1,
        "expected_s1": 2.65,
    }
    return {**r, **kw}


def _done09(r):
    """The flat results above as lesson 09's section results."""
    lesson = load_lesson("09_non_redundant_compression")
    n, k, s = r["size"], r["rank"], r["singular_values"]
    return {
        "random": lesson.Random(
            size=n, high=10.0, dtype="float32", matrix=[], singular_values=s,
            rank_tolerance=1e-5, numerical_rank=r["numerical_rank"], table_limit=8, bars=12,
        ),
        "truncation": lesson.Truncation(
            size=n, rank=k, dtype="float32", reconstruction=[], mse=0.0,
            frobenius_error=r["frobenius_error"], eckart_young_error=r["eckart_young_error"],
            dropped=s[k:], energy_kept=r["energy_kept"], stored_numbers=2 * k * n,
            table_limit=8, terms=6,
        ),
        "centred": lesson.Centred(
            size=n, rank=k, level=r["fives_s1"] / n, level_s1=r["fives_s1"], s1=s[0],
            energy_kept=r["energy_kept"], centred=None, singular_values=[],
            centred_energy_kept=r["centred_energy_kept"], table_limit=8, bars=12,
        ),
        "appendix": lesson.Appendix(
            size=n, dtype="float32", b=[], a=[], delta=[], singular_values=[],
            tolerance=1e-6, rank=r["delta_rank"], expected_s1=r["expected_s1"],
        ),
    }  # fmt: skip


def test_09_full_rank_truncated():
    summary = load_lesson("09_non_redundant_compression").summary
    rank, level, delta = three(summary(_done09(_r09())))
    assert "all 4" in rank and "5.000000" in rank and "rank-1" in rank
    assert "mean 5 " in level and "most of" in level and "only 50.00%" in level
    assert "rank 1" in delta and "2.6500" in delta


def test_09_rank_deficient_and_kept_all():
    r = _r09(rank=4, numerical_rank=3, frobenius_error=1e-6, centred_energy_kept=1.0)
    r["energy_kept"] = 1.0
    rank, level, _ = three(load_lesson("09_non_redundant_compression").summary(_done09(r)))
    assert "only 3 of 4" in rank and "keeping all 4" in rank
    assert "only" not in level
    r = _r09(size=1, numerical_rank=1, frobenius_error=0.0)
    rank, *_ = three(load_lesson("09_non_redundant_compression").summary(_done09(r)))
    assert "1×1 matrix has a non-zero singular value" in rank


# ----------------------------------------------------------------------------
# 10: descent reaches 0 or not; ES closer or farther; plateau of σ or noise


def _r10(gd_distance=1e-7, gd_factor=0.8, es_distance=0.05, plateau=(0.2, 0.15)):
    lesson = load_lesson("10_evolution_strategy")
    p = None if plateau is None else lesson.Plateau((11, 30), *plateau)
    return {
        "descent": lesson.Descent("float32", gd_factor, 0.0, None, 80, 80, gd_distance, 0.0, 0.0),
        "es": lesson.Search(
            evaluations=1600,
            distance=es_distance,
            final_true_loss=0.003,
            final_sigma=0.1,
            noise_std=0.14,
            sigma0=2.0,
            plateau=p,
            clean_final_true_loss=1e-5,
            decayed=True,
            gd_evaluations=80,
            gd_distance=gd_distance,
            gd_final_loss=0.0,
            gd_final_true_loss=0.0,
        ),
    }


def test_10_descent_closer_plateau_of_sigma():
    gd, es, plateau = three(load_lesson("10_evolution_strategy").summary(_r10()))
    assert "1.00e-07" in gd and "80 steps" in gd and "0.8" in gd
    assert "1,600 noisy evaluations" in es and "descent got closer" in es and "80 exact" in es
    assert "σ = 2" in plateau and "11–30" in plateau


def test_10_es_closer_noise_plateau_and_exact_descent():
    r = _r10(gd_distance=0.0, gd_factor=0.0, es_distance=0.0, plateau=(0.2, 0.01))
    gd, es, plateau = three(load_lesson("10_evolution_strategy").summary(r))
    assert "exactly" in gd
    assert "as close as" in es
    assert "the noise" in plateau
    r = _r10(gd_distance=0.1, plateau=None)
    _, es, plateau = three(load_lesson("10_evolution_strategy").summary(r))
    assert "closer than gradient descent" in es
    assert "1.0e-05" in plateau and "3.0e-03" in plateau


# ----------------------------------------------------------------------------
# 11: who reached the threshold; a run stuck in the local minimum


def _run11(converged, evaluations, basin=None, population=10):
    loss = 0.005 if converged else 0.5
    lesson = load_lesson("11_rosenbrock_es")
    return lesson.Run(
        converged=converged,
        generation=evaluations // population,
        population=population,
        evaluations=evaluations,
        final_mean=[1.0, 1.0],
        final_sigma=0.01,
        best_loss=loss,
        mean_loss=loss,
        distance=0.1,
        basin=basin,
        history=[loss],
        lowest_loss=loss,
        sigma_history=[0.01],
        distance_history=[0.1],
        mean_history=None,
    )


def _done11(es, cma, es_nd, cma_nd, threshold, dim, local):
    lesson = load_lesson("11_rosenbrock_es")
    return {
        "two_d": lesson.TwoD("float32", threshold, es, cma, []),
        "nd": lesson.ND(dim, "float32", threshold, es_nd, cma_nd, local, [], 0.5, 50, 0.98, 8),
    }


def test_11_both_reach_in_2d_one_stuck_in_nd():
    lesson = load_lesson("11_rosenbrock_es")
    es_nd, cma_nd = _run11(False, 8000, basin="local"), _run11(True, 30000, basin="global")
    local = lesson.Minimum([-1.0, 1.0], 3.986)
    r = _done11(
        _run11(True, 4000, population=40), _run11(True, 1200, population=6), es_nd, cma_nd,
        threshold=0.01, dim=10, local=local,
    )  # fmt: skip
    two, nd, third = three(lesson.summary(r))
    assert "0.01" in two and "sep-CMA-ES used fewer" in two and "1,200 against 4,000" in two
    assert "best of" not in two
    lucky = _done11(
        _run11(True, 1000, population=40), _run11(True, 1200, population=6), es_nd, cma_nd,
        threshold=0.01, dim=10, local=local,
    )  # fmt: skip
    two, *_ = three(lesson.summary(lucky))
    assert "the simple ES used fewer" in two and "the best of 40." in two
    assert "In 10-D" in nd and "only sep-CMA-ES" in nd and "8,000" in nd
    assert "the simple ES ended near" in third and "sep-CMA" not in third and "3.986" in third


def test_11_neither_reaches_no_one_stuck():
    r = _done11(
        _run11(False, 8000), _run11(False, 5000), _run11(False, 8000), _run11(False, 5000),
        threshold=1e-9, dim=2, local=None,
    )  # fmt: skip
    two, nd, third = three(load_lesson("11_rosenbrock_es").summary(r))
    assert "neither" in two and "simple ES: best loss 0.5" in two and "again" in nd
    assert "fixed schedule" in third


# ----------------------------------------------------------------------------
# 12: spread, even, stuck


def _r12(final_f, spread_from):
    lesson = load_lesson("12_moe_gating")
    collapsed = lesson.Load([0] * 6, [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], 3.0)
    balanced = lesson.Load([0, 1, 2, 0, 1, 2], [1 / 3] * 3, [1 / 3] * 3, 1.0)
    return {
        "routers": lesson.Routers("float32", [[0.0]] * 6, 3, collapsed, balanced),
        "gradient": lesson.Gradient([[0.0]], 0.1, True, 0.0, 0.0),
        "rebalance": lesson.Rebalance(20, 10.0, [], [], final_f, [], spread_from, 0.0, 25),
    }


@pytest.mark.parametrize(
    "final_f, spread_from, word",
    [
        ([1 / 3, 1 / 3, 1 / 3], 4, "perfectly even"),
        ([0.5, 1 / 3, 1 / 6], 4, "from step 4"),
        ([1.0, 0.0, 0.0], None, "still gets no"),
    ],
)
def test_12_descent_outcome(final_f, spread_from, word):
    routers, gradient, descent = three(
        load_lesson("12_moe_gating").summary(_r12(final_f, spread_from))
    )
    assert "6 tokens to 1 expert " in routers and "3.0000" in routers and "1.0000" in routers
    assert "exactly 0" in gradient
    assert word in descent and "20 steps" in descent.lower()


# ----------------------------------------------------------------------------
# 13: concentration costs more than idleness, or not


def _r13(heavy):
    lesson = load_lesson("13_loss_curve")
    loads = {"balanced": 1.0, "mild": 1.36, "two idle": 2.0, "heavy": heavy, "collapsed": 4.0}
    scenarios = tuple(lesson.Scenario(k, (), (), v, 0.0) for k, v in loads.items())
    return {"scenarios": lesson.Penalties(experts=4, scenarios=scenarios, bar_width=30)}


@pytest.mark.parametrize("heavy, beats", [(2.2, True), (1.9, False)])
def test_13_heavy_against_idle(heavy, beats):
    ends, middle, idle = three(load_lesson("13_loss_curve").summary(_r13(heavy)))
    assert "1.0000" in ends and "balanced" in ends and "4.0000" in ends and "E = 4" in ends
    assert "balanced" not in middle and "collapsed" not in middle
    assert ("concentration, not idleness" in idle) is beats


# ----------------------------------------------------------------------------
# 14: solved, rescued, quarantined; receipts written or replayed


def _case(name, statuses, experts):
    lesson = load_lesson("14_mini_trinity")
    turns = tuple(
        lesson.Turn(i + 1, [0.0, 0.0], e, "x", [], "", s, 0.05, "")
        for i, (e, s) in enumerate(zip(experts, statuses))
    )
    status = "solved" if statuses[-1] == "accepted" else "quarantined"
    return lesson.Case(1, name, "math", [0.0, 0.0], status, 0.05 * len(turns), turns)


def _done14(cases, **more):
    return {"cases": load_lesson("14_mini_trinity").Cases(tuple(cases), 3), **more}


def test_14_quarantine_and_plain_receipts():
    cases = [
        _case("math", ["accepted"], [0]),
        _case("[wordy]", ["rejected"] * 3, [1, 2, 1]),
    ]
    outcome, retry, receipt = three(load_lesson("14_mini_trinity").summary(_done14(cases)))
    assert "1 solved" in outcome and "1 quarantined" in outcome and "0.20" in outcome
    assert r"\[wordy]" in retry and "3 times" in retry and "1 → 2 → 1" in retry
    assert "4 turns" in receipt and "--receipt" in receipt


def test_14_rescued_and_replayed():
    lesson = load_lesson("14_mini_trinity")
    cases = [_case("creative", ["rejected", "accepted"], [0, 1])]
    r = _done14(cases, replay=lesson.Replay(cases_checked=1, differences=["case 1: status"]))
    outcome, retry, receipt = three(lesson.summary(r))
    assert "1 solved" in outcome and "quarantined" not in outcome
    assert "“creative”" in retry and "next route" in retry
    assert "1 difference" in receipt
    r = _done14([_case("math", ["accepted"], [0])], receipt_file=lesson.Receipt("[bold].json"))
    _, retry, receipt = three(lesson.summary(r))
    assert "first turn" in retry and r"\[bold].json" in receipt
