"""The "What you saw" bullets: each lesson's summary on small hand-built results.

Each test gives a lesson's summary only the keys it reads, with values chosen
to take one branch, and checks the decision (which sentence, which numbers),
not the wording.
"""

from __future__ import annotations

import ast
import math

import pytest
from conftest import LESSONS, load_lesson

LESSON_STEMS = [
    "01_list_math",
    "02_tensor_math",
    "03_compiler",
    "04_dot_product",
    "quasi_orthogonality",
    "hoeffding_bound",
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
        and node.func.attr == "finish"
        and getattr(node.func.value, "id", "") == "cli"
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


def test_01_rounded_sum_names_both_errors():
    r = {
        "size": 1_000_000,
        "list_ms": 70.0,
        "expected_sum": 333_333_833_333_500_000,
        "sum_error": -372_448,
        "fsum_error": 32,
        "bytes_per_element_list": 32.45,
        "bytes_per_element_f32": 4,
    }
    first, rounding, memory = three(load_lesson("01_list_math").summary(r))
    assert "70.00 ms" in first and "70.0 ns" in first
    assert "-372,448" in rounding and "off by 32" in rounding
    assert "32.45" in memory and "8.1×" in memory


def test_01_exact_sum():
    r = {
        "size": 10,
        "list_ms": 0.0005,
        "expected_sum": 385,
        "sum_error": 0,
        "fsum_error": 0,
        "bytes_per_element_list": 32.0,
        "bytes_per_element_f32": 4,
    }
    _, rounding, _ = three(load_lesson("01_list_math").summary(r))
    assert "exactly" in rounding and "385" in rounding and "off by" not in rounding


# ----------------------------------------------------------------------------
# 02: the async trap, large or not; with and without the list


@pytest.mark.parametrize("unsynced, trapped", [(0.01, True), (0.9, False)])
def test_02_trap_branch(unsynced, trapped):
    r = {
        "jit_first_ms": 20.0,
        "jit_cached_ms": 1.0,
        "numpy_ms": 0.8,
        "unsynced_ms": unsynced,
        "list_ms": None,
    }
    compiled, trap, speed = three(load_lesson("02_tensor_math").summary(r))
    assert "20.0 ms" in compiled and "20×" in compiled
    assert ("100× less" in trap) is trapped
    assert ("dispatch is most" in trap) is not trapped
    assert "1.25× NumPy" in speed and "list" not in speed


def test_02_list_comparison():
    r = {
        "jit_first_ms": 20.0,
        "jit_cached_ms": 1.0,
        "numpy_ms": 1.0,
        "unsynced_ms": 0.9,
        "list_ms": 50.0,
    }
    *_, speed = three(load_lesson("02_tensor_math").summary(r))
    assert "50× faster than the Python list" in speed


# ----------------------------------------------------------------------------
# 03: fused or not; rounding changed or not


def _r03(**kw):
    r = {
        "jaxpr_ops": ["integer_pow", "add"],
        "fusion_count": 1,
        "fused_ops": ["multiply", "add"],
        "jit_cached_ms": 0.1,
        "eager_ms": 0.3,
        "jit_first_ms": 80.0,
        "compile_ms": 60.0,
        "size": 1000,
        "eager_mismatches": 0,
        "eager_max_ulps": 0,
        "jit_rounded_once": False,
    }
    return {**r, **kw}


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
    r = {
        "up_right": 0.0,
        "up_diagonal": 0.7071,
        "up_up": 1.0,
        "angles_deg": {"up_diagonal": 45.0},
        "zero_vector_similarity": zero,
        "batched": [0.0, 0.7071, 1.0],
        "batched_matches": not nan,
    }
    angle, clamp, batched = three(load_lesson("04_dot_product").summary(r))
    assert "45°" in angle and "0.7071" in angle
    assert ("scored NaN" in clamp) is nan
    assert ("did NOT match" in batched) is nan and "all 3 pairs" in batched


# ----------------------------------------------------------------------------
# quasi: the spread falls; the largest D is, or is not, nearly orthogonal


def _row(dim, std, pct):
    return {"dim": dim, "std": std, "theory_std": dim**-0.5, "pct_not_orthogonal": pct}


def test_quasi_room_at_large_d():
    r = {"pairs": 10_000, "epsilon": 0.05, "dims": [_row(8192, 0.011, 0.0), _row(3, 0.57, 94.1)]}
    spread, shares, room = three(load_lesson("quasi_orthogonality").summary(r))
    assert "D = 3 to D = 8192" in spread and "fell" in spread and "0.0110" in spread
    assert "94.1" in shares and "D = 8192" in shares
    assert "room" in room and "8192" in room


def test_quasi_single_dim_not_orthogonal():
    r = {"pairs": 100, "epsilon": 0.05, "dims": [_row(64, 0.12, 70.0)]}
    spread, _, room = three(load_lesson("quasi_orthogonality").summary(r))
    assert spread.startswith("At D = 64")
    assert "not yet" in room


# ----------------------------------------------------------------------------
# hoeffding: held or not; vacuous or not; useful or not


def _hrow(dim, satisfied=True, vacuous=False, looseness=None):
    return {"dim": dim, "satisfied": satisfied, "vacuous": vacuous, "looseness": looseness}


def test_hoeffding_held_vacuous_and_loose():
    rows = [_hrow(3, vacuous=True), _hrow(4096, looseness=8.0), _hrow(8192, looseness=11.3)]
    r = {"dims": rows, "first_useful_dim": 555, "epsilon": 0.05}
    held, vacuous, loose = three(load_lesson("hoeffding_bound").summary(r))
    assert "held at every D" in held
    assert "under 555" in vacuous and "here D = 3" in vacuous
    assert "8.0 to 11.3" in loose and "4096, 8192" in loose


def test_hoeffding_failed_and_never_useful():
    rows = [_hrow(3, satisfied=False, vacuous=True), _hrow(64, vacuous=True)]
    r = {"dims": rows, "first_useful_dim": math.inf, "epsilon": 1e-200}
    held, vacuous, loose = three(load_lesson("hoeffding_bound").summary(r))
    assert "above the bound at D = 3" in held and "64" not in held
    assert "every D float64 can count" in vacuous
    assert "None of these D" in loose


def test_hoeffding_useful_but_tail_underflows():
    r = {"dims": [_hrow(10**7)], "first_useful_dim": 555, "epsilon": 0.05}
    _, vacuous, loose = three(load_lesson("hoeffding_bound").summary(r))
    assert "none of the D sampled" in vacuous and "555" in vacuous
    assert "too small for float64" in loose


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


def test_05_learned_interval_contains_truth():
    train, interval, ceiling = three(load_lesson("05_linear_probe").summary(_r05()))
    assert "fell from 0.9000 to 0.2000" in train and "2 epochs" in train
    assert "contains" in interval and "97.70 %" in interval
    assert "2.07 points short" in ceiling and "2.5°" in ceiling


def test_05_interval_misses_truth_and_level_with_best():
    r = _r05(population_accuracy=99.77)
    _, interval, ceiling = three(load_lesson("05_linear_probe").summary(r))
    assert "misses" in interval and "5.3%" in interval
    assert "level with it" in ceiling


def test_05_one_epoch_loss_stays():
    train, *_ = three(load_lesson("05_linear_probe").summary(_r05(loss_history=[0.5])))
    assert "1 epoch " in train and "stayed at 0.5000" in train


def test_05_failed_run():
    r = _r05(failure="loss rose", loss_history=[0.7, 5.0], population_accuracy=40.0)
    train, _, ceiling = three(load_lesson("05_linear_probe").summary(r))
    assert "rose from 0.7000 to 5.0000" in train
    assert "failed run" in ceiling and "--lr" in ceiling


def test_05_diverged():
    r = _r05(failure="diverged", diverged_at=7, lr=5000.0)
    train, _, advice = three(load_lesson("05_linear_probe").summary(r))
    assert "diverged at epoch 7 of 2" in train and "fell" not in train
    assert "5000" in advice


# ----------------------------------------------------------------------------
# 06: the loss went down, stayed, or went up


@pytest.mark.parametrize(
    "after, word", [(0.4, "downhill"), (0.5, "does not register"), (0.6, "overshot")]
)
def test_06_step_branch(after, word):
    r = {
        "tokens": ["The", "cat", "[sat]"],
        "weights": [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]],
        "row_sums": [1.0, 1.0, 1.0],
        "d_k": 4,
        "loss_before": 0.5,
        "loss_after": after,
        "lr": 0.1,
        "dtype": "float32",
    }
    sums, strongest, step = three(load_lesson("06_self_attention").summary(r))
    assert "√4" in sums and "1.000000" in sums
    assert "“cat”" in strongest and "70.0%" in strongest and r"“\[sat]”" in strongest
    assert word in step


def test_06_a_token_attending_to_itself():
    r = {
        "tokens": ["a", "b"],
        "weights": [[0.9, 0.1], [0.5, 0.5]],
        "row_sums": [1.0, 0.9999999],
        "d_k": 2,
        "loss_before": 0.5,
        "loss_after": 0.4,
        "lr": 0.1,
        "dtype": "float32",
    }
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


def test_07_collapsed_draw():
    collapse, gradient, overflow = three(load_lesson("07_softmax_collapse").summary(_r07()))
    assert "√1024 = 32" in collapse and "100.0000%" in collapse and "60.0%" in collapse
    assert "5e+06×" in gradient and "2e-05%" in gradient and "sweep" not in gradient
    assert "overflows float32" in overflow and "0.6652" in overflow


def test_07_close_draw_points_to_sweep():
    r = _r07(l1_ratio=1.3, naive_overflow=[0.6, 0.3, 0.1], naive_overflow_is_nan=False)
    _, gradient, overflow = three(load_lesson("07_softmax_collapse").summary(r))
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
    _, gradient, _ = three(load_lesson("07_softmax_collapse").summary(_r07(**kw)))
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


def test_08_floor_reached():
    energy, rank, floor = three(load_lesson("08_lora_and_svd").summary(_r08(_run08(True))))
    assert "99.500%" in energy and "1.250000" in energy
    assert "rank 1" in rank and "1 direction holds all 16" in rank
    assert "1.500000 by step 120" in floor and "rank-2 residual" in floor


def test_08_floor_not_reached_and_skipped():
    *_, floor = three(load_lesson("08_lora_and_svd").summary(_r08(_run08(False))))
    assert "not yet" in floor and "3.000000" in floor
    *_, skipped = three(load_lesson("08_lora_and_svd").summary(_r08(None)))
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


def test_09_full_rank_truncated():
    rank, level, delta = three(load_lesson("09_non_redundant_compression").summary(_r09()))
    assert "all 4" in rank and "5.000000" in rank and "rank-1" in rank
    assert "mean 5 " in level and "most of" in level and "only 50.00%" in level
    assert "rank 1" in delta and "2.6500" in delta


def test_09_rank_deficient_and_kept_all():
    r = _r09(rank=4, numerical_rank=3, frobenius_error=1e-6, centred_energy_kept=1.0)
    r["energy_kept"] = 1.0
    rank, level, _ = three(load_lesson("09_non_redundant_compression").summary(r))
    assert "only 3 of 4" in rank and "keeping all 4" in rank
    assert "only" not in level
    r = _r09(size=1, numerical_rank=1, frobenius_error=0.0)
    rank, *_ = three(load_lesson("09_non_redundant_compression").summary(r))
    assert "1×1 matrix has a non-zero singular value" in rank


# ----------------------------------------------------------------------------
# 10: descent reaches 0 or not; ES closer or farther; plateau of σ or noise


def _r10(**kw):
    r = {
        "gd_final": {"generation": 80},
        "gd_distance": 1e-7,
        "gd_factor": 0.8,
        "es_evaluations": 1600,
        "gd_evaluations": 80,
        "es_distance": 0.05,
        "plateau": {"generations": [11, 30], "noisy_median": 0.2, "clean_median": 0.15},
        "sigma0": 2.0,
        "es_final": {"true_loss": 0.003},
        "clean_final_true_loss": 1e-5,
    }
    return {**r, **kw}


def test_10_descent_closer_plateau_of_sigma():
    gd, es, plateau = three(load_lesson("10_evolution_strategy").summary(_r10()))
    assert "1.00e-07" in gd and "80 steps" in gd and "0.8" in gd
    assert "1,600 noisy evaluations" in es and "descent got closer" in es and "80 exact" in es
    assert "σ = 2" in plateau and "11–30" in plateau


def test_10_es_closer_noise_plateau_and_exact_descent():
    r = _r10(
        gd_distance=0.0,
        gd_factor=0.0,
        es_distance=0.0,
        plateau={"generations": [11, 30], "noisy_median": 0.2, "clean_median": 0.01},
    )
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
    return {
        "population": population,
        "converged": converged,
        "evaluations": evaluations,
        "best_loss": 0.005 if converged else 0.5,
        "lowest_loss": 0.005 if converged else 0.5,
        "basin": basin,
        "final_sigma": 0.01,
    }


def test_11_both_reach_in_2d_one_stuck_in_nd():
    r = {
        **_run11(True, 4000, population=40),
        "sep_cma": _run11(True, 1200, population=6),
        "es_nd": _run11(False, 8000, basin="local"),
        "sep_cma_nd": _run11(True, 30000, basin="global"),
        "threshold": 0.01,
        "dim": 10,
        "local_minimum": {"loss": 3.986},
    }
    two, nd, third = three(load_lesson("11_rosenbrock_es").what_you_saw(r))
    assert "0.01" in two and "sep-CMA-ES used fewer" in two and "1,200 against 4,000" in two
    assert "best of" not in two
    lucky = {**r, **_run11(True, 1000, population=40)}
    two, *_ = three(load_lesson("11_rosenbrock_es").what_you_saw(lucky))
    assert "the simple ES used fewer" in two and "the best of 40." in two
    assert "In 10-D" in nd and "only sep-CMA-ES" in nd and "8,000" in nd
    assert "the simple ES ended near" in third and "sep-CMA" not in third and "3.986" in third


def test_11_neither_reaches_no_one_stuck():
    r = {
        **_run11(False, 8000),
        "sep_cma": _run11(False, 5000),
        "es_nd": _run11(False, 8000),
        "sep_cma_nd": _run11(False, 5000),
        "threshold": 1e-9,
        "dim": 2,
        "local_minimum": None,
    }
    two, nd, third = three(load_lesson("11_rosenbrock_es").what_you_saw(r))
    assert "neither" in two and "simple ES: best loss 0.5" in two and "again" in nd
    assert "fixed schedule" in third


# ----------------------------------------------------------------------------
# 12: spread, even, stuck


def _r12(final_f, spread_from):
    return {
        "experts": 3,
        "tokens": [[0.0]] * 6,
        "collapsed": {"selections": [0] * 6, "aux_loss": 3.0},
        "balanced": {"selections": [0, 1, 2, 0, 1, 2], "aux_loss": 1.0},
        "gradient": {"f_jacobian_max_abs": 0.0, "p_only_max_diff": 0.0},
        "rebalance": {"steps": 20, "lr": 10.0, "final_f": final_f, "spread_from_step": spread_from},
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
    loads = {"balanced": 1.0, "mild": 1.36, "two idle": 2.0, "heavy": heavy, "collapsed": 4.0}
    return {
        "experts": 4,
        "scenarios": [{"label": k, "aux_loss": v} for k, v in loads.items()],
    }


@pytest.mark.parametrize("heavy, beats", [(2.2, True), (1.9, False)])
def test_13_heavy_against_idle(heavy, beats):
    ends, middle, idle = three(load_lesson("13_loss_curve").summary(_r13(heavy)))
    assert "1.0000" in ends and "balanced" in ends and "4.0000" in ends and "E = 4" in ends
    assert "balanced" not in middle and "collapsed" not in middle
    assert ("concentration, not idleness" in idle) is beats


# ----------------------------------------------------------------------------
# 14: solved, rescued, quarantined; receipts written or replayed


def _case(name, statuses, experts):
    turns = [{"expert": e, "status": s} for e, s in zip(experts, statuses)]
    status = "solved" if statuses[-1] == "accepted" else "quarantined"
    return {"name": name, "status": status, "total_cost": 0.05 * len(turns), "turns": turns}


def test_14_quarantine_and_plain_receipts():
    cases = [
        _case("math", ["accepted"], [0]),
        _case("[wordy]", ["rejected"] * 3, [1, 2, 1]),
    ]
    outcome, retry, receipt = three(load_lesson("14_mini_trinity").summary({"cases": cases}))
    assert "1 solved" in outcome and "1 quarantined" in outcome and "0.20" in outcome
    assert r"\[wordy]" in retry and "3 times" in retry and "1 → 2 → 1" in retry
    assert "4 turns" in receipt and "--receipt" in receipt


def test_14_rescued_and_replayed():
    cases = [_case("creative", ["rejected", "accepted"], [0, 1])]
    r = {"cases": cases, "replay": {"cases_checked": 1, "differences": ["case 1: status"]}}
    outcome, retry, receipt = three(load_lesson("14_mini_trinity").summary(r))
    assert "1 solved" in outcome and "quarantined" not in outcome
    assert "“creative”" in retry and "next route" in retry
    assert "1 difference" in receipt
    r = {"cases": [_case("math", ["accepted"], [0])], "receipt_file": "[bold].json"}
    _, retry, receipt = three(load_lesson("14_mini_trinity").summary(r))
    assert "first turn" in retry and r"\[bold].json" in receipt
