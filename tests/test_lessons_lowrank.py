"""Lessons 08 and 09 against NumPy (float64) recomputations and LESSONS.md facts."""

import math

import jax
import numpy as np
import pytest
import tiny_sweep
from conftest import load_lesson

from trinity_foundations import cli, display

# The data of LESSONS.md, typed here so the test checks the lessons' copies of it.
W_NOISY = np.array([[1, 2, 1.5, 0.8], [2, 4.5, 6, 3.1], [1.2, 3, 9, 12], [0.5, 1.8, 4.2, 16]])
W_0 = np.outer([1, 2, 3, 4], [1, 2, 3, 4]).astype(float)
X = np.array([[1, 1, 1, 1], [-0.5, 2, 0.5, -1]])
TARGET = np.array([[12, 23, 31, 42], [-3, 5, 8, -2]], dtype=float)
A0, B0 = np.array([[0.1, -0.2, 0.1, 0.3]]), np.array([[-0.1, 0.4, -0.2, 0.1]])
LORA_KEYS = {
    "singular_values",
    "share_of_sum",
    "energy_share",
    "redundant_singular_values",
    "lora_forward",
    "losses",
    "trainable_params",
    "frozen_params",
}
COMPRESSION_KEYS = {
    "matrix",
    "singular_values",
    "reconstruction",
    "mse",
    "frobenius_error",
    "eckart_young_error",
    "delta_singular_values",
    "expected_s1",
}


def numpy_gradient_descent(epochs, lr=0.05):
    """Plain GD on A, B of Y = X W₀ᵀ + (X Aᵀ) B (α = r = 1), gradients by hand.

    G = ∂L/∂Y = 2 (Y − T) / (N·D); ∂L/∂B = (X Aᵀ)ᵀ G; ∂L/∂A = B Gᵀ X.
    Returns the loss at the start of every epoch.
    """
    a, b, losses = A0.copy(), B0.copy(), []
    for _ in range(epochs):
        err = X @ W_0.T + (X @ a.T) @ b - TARGET  # (N, D)
        losses.append(np.mean(err**2))
        g = 2 * err / err.size  # (N, D)
        a, b = a - lr * (b @ g.T @ X), b - lr * ((X @ a.T).T @ g)
    return np.array(losses)


def truncate(w, rank):
    u, s, vt = np.linalg.svd(w)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


# --------------------------------------------------------------- 08_lora_and_svd


def test_lora_and_svd_matches_numpy(run_json):
    env = run_json("08_lora_and_svd", "--steps", "60")
    r = env["results"]
    assert env["lesson"] == "08_lora_and_svd" and env["params"]["steps"] == 60
    assert LORA_KEYS <= r.keys()

    s = np.linalg.svd(W_NOISY, compute_uv=False)
    np.testing.assert_allclose(r["singular_values"], s, rtol=1e-5)
    np.testing.assert_allclose(r["share_of_sum"], s / s.sum(), rtol=1e-5)
    np.testing.assert_allclose(r["energy_share"], s**2 / np.sum(s**2), rtol=1e-4)
    np.testing.assert_allclose(r["truncated"], truncate(W_NOISY, 2), atol=1e-4)
    assert r["truncation_frobenius_error"] == pytest.approx(np.hypot(s[2], s[3]), rel=1e-4)
    assert r["truncation_eckart_young_error"] == pytest.approx(np.hypot(s[2], s[3]), rel=1e-5)

    # W₀ is rank 1: s1 = ‖[1, 2, 3, 4]‖² = 30, the rest below the tolerance
    assert r["redundant_singular_values"][0] == pytest.approx(30, rel=1e-6)
    assert max(r["redundant_singular_values"][1:]) < r["rank_tolerance"] < 1e-4
    assert r["w0_rank"] == 1 and r["w0_rank1_error"] < 1e-4

    # x W₀ᵀ = [10, 20, 30, 40]; (x Aᵀ) B = 2 · [1, 2, 1, .5]
    np.testing.assert_allclose(r["lora_forward"], [[12, 24, 32, 41]], rtol=1e-6)
    assert (r["trainable_params"], r["frozen_params"]) == (8, 16)

    expected = numpy_gradient_descent(60)
    np.testing.assert_allclose(r["losses"], expected[:5], rtol=1e-5)
    assert r["loss_after_epochs"] == pytest.approx(expected[5], rel=1e-5)
    assert all(later < earlier for earlier, later in zip(r["losses"], r["losses"][1:]))

    # The floor: the rank-1 adapter can fit only the largest singular direction of
    # R = T − X W₀ᵀ, so the best MSE is s2(R)² / 8.
    s_res = np.linalg.svd(TARGET - X @ W_0.T, compute_uv=False)
    assert r["residual_rank"] == 2 and r["x_rank"] == 2
    assert r["loss_floor"] == pytest.approx(s_res[1] ** 2 / 8, rel=1e-5)
    run = r["long_run"]
    np.testing.assert_allclose(run["losses"], expected, rtol=1e-4)
    assert run["repeats_epochs"] is True
    assert run["final_loss"] == pytest.approx(r["loss_floor"], rel=1e-4)
    first = int(np.argmax(expected <= s_res[1] ** 2 / 8 * 1.001)) + 1
    assert run["first_step_at_floor"] == first


def test_lora_without_the_long_run(run_json):
    r = run_json("08_lora_and_svd", "--steps", "0")["results"]
    assert r["long_run"] is None and len(r["losses"]) == 5


def test_lora_reports_the_trained_adapters_and_rounding(run_json):
    r = run_json("08_lora_and_svd", "--steps", "5")["results"]
    # 5 sgd steps are the 5 epochs: the adapters after them are the epochs' adapters
    np.testing.assert_allclose(r["long_run"]["a"], r["a_after_epochs"], rtol=1e-6)
    np.testing.assert_allclose(r["long_run"]["b"], r["b_after_epochs"], rtol=1e-6)
    assert np.shape(r["a_after_epochs"]) == np.shape(r["b_after_epochs"]) == (1, 4)
    # the truncation error against float64: rounding, not a difference
    s = np.linalg.svd(W_NOISY, compute_uv=False)
    assert r["truncation_error_float64"] == pytest.approx(np.hypot(s[2], s[3]), rel=1e-12)
    assert r["dtype"] == "float32" and r["eps"] == np.finfo(np.float32).eps


def test_rounding_verdict():
    lesson = load_lesson("08_lora_and_svd")

    def verdict(measured, predicted):
        return lesson.rounding_verdict(
            lesson.Truncation(
                dtype="float32",
                eps=1.19e-7,
                truncation_rank=2,
                truncated=[],
                dropped=[],
                truncation_frobenius_error=measured,
                truncation_eckart_young_error=predicted,
                truncation_error_float64=2.0205656,
                truncation_mse=0.0,
                ulps=16,
            )
        )

    close = verdict(2.020565, 2.020566)
    assert close.startswith("the two differ by 1e-06, float32 rounding")
    assert "more than float32 rounding" in verdict(2.0, 2.020566)
    assert verdict(2.0, 2.0) == "the two are equal"


def test_long_run_sentences():
    lesson = load_lesson("08_lora_and_svd")

    def run(first, final, repeats=True):
        return lesson.LongRun(10, [], 1.0, first, final, [], [], repeats)

    assert lesson.reached(run(7, True), 1e-3) == "first within 0.1% of the floor at step 7"
    assert lesson.reached(run(None, True), 1e-3).endswith("only after the last update")
    assert lesson.reached(run(None, False), 1e-3) == "not yet within 0.1% of the floor"
    assert lesson.repeated(run(7, True), 5) == "reproduce the 5 epoch losses above, "
    assert lesson.repeated(run(7, True, False), 5).startswith("do NOT reproduce")
    assert lesson.repeated(run(7, True, None), 5) == ""


def test_lora_and_svd_report(run_report, run_json):
    assert "nan" not in run_report("08_lora_and_svd", "--steps", "40").lower()
    # the numbers its sentences print: "99.308% of the energy", "the floor at step {first}"
    r = run_json("08_lora_and_svd", "--steps", "40")["results"]
    assert r["cumulative_energy_share"][1] == pytest.approx(0.993084, abs=5e-7)  # NumPy's
    first = int(np.argmax(numpy_gradient_descent(40) <= 2.1843308746 * 1.001)) + 1
    assert r["long_run"]["first_step_at_floor"] == first


def test_lora_and_svd_names_float64_under_x64(run_json):
    # "ε_float32 = 2.66e-14" was printed for float64 results
    with jax.enable_x64(True):
        r = run_json("08_lora_and_svd", "--steps", "0")["results"]
    assert r["dtype"] == "float64" and r["rank_tolerance"] < 1e-12
    assert r["eps"] == np.finfo(np.float64).eps


def test_long_run_final_loss_is_after_the_last_update(run_json):
    # 5 sgd steps are the 5 epochs: they must end where the epochs end (11.749313),
    # not at the loss before the fifth update (12.151790)
    r = run_json("08_lora_and_svd", "--steps", "5")["results"]
    assert r["long_run"]["final_loss"] == pytest.approx(r["loss_after_epochs"], rel=1e-6)
    assert r["long_run"]["final_loss"] == pytest.approx(numpy_gradient_descent(6)[5], rel=1e-5)


def test_long_run_reaching_the_floor_on_its_last_update(run_json):
    losses = numpy_gradient_descent(40)  # losses[i]: after i updates
    floor = 2.1843308746
    k = int(np.argmax(losses <= floor * 1.001))  # updates needed to get within 0.1 %
    run = run_json("08_lora_and_svd", "--steps", str(k))["results"]["long_run"]
    assert run["first_step_at_floor"] is None and run["final_at_floor"] is True


def test_what_the_original_called_variance_explained_waits_for_the_flag(
    run_report, run_json, monkeypatch
):
    plain = run_report("08_lora_and_svd", "--steps", "0")
    assert "variance explained" not in plain and "--original adds" in plain
    shown = run_report("08_lora_and_svd", "--steps", "0", "--original")
    r = run_json("08_lora_and_svd", "--steps", "0", "--original")
    assert "--original adds" not in shown and "original" not in r["params"]
    # what it prints: the original's "variance explained", the first 2 values' share of
    # Σs, beside their share of Σs² (float64 NumPy)
    m = load_lesson("08_lora_and_svd")
    args = tiny_sweep.lesson_parser("08_lora_and_svd", monkeypatch).parse_args(["--original"])
    section = next(s for s in m.build(args) if s.name == "original")
    assert section.compute.keywords == {"shown": True}
    original = section.compute({"svd": m.compute_svd({})})
    s = np.linalg.svd(W_NOISY, compute_uv=False)
    assert original.shown and original.truncation_rank == 2
    assert original.share_of_sum == pytest.approx(s[:2].sum() / s.sum(), rel=1e-5)
    assert original.energy_share == pytest.approx((s[:2] ** 2).sum() / (s**2).sum(), rel=1e-5)
    assert original.share_of_sum == r["results"]["cumulative_share_of_sum"][1]


@pytest.mark.parametrize(
    "argv",
    [("--steps", "-1"), ("--steps", "many"), ("--epochs", "3"), ("--steps", "100000000")],
)
def test_lora_and_svd_rejects_bad_flags(usage_error, argv):
    assert argv[0] in usage_error("08_lora_and_svd", *argv)


# --------------------------------------------------- 09_non_redundant_compression


def test_compression_matches_numpy(run_json):
    env = run_json("09_non_redundant_compression")
    r = env["results"]
    assert env["params"] == {"seed": 1234, "size": 4, "rank": 1}
    assert COMPRESSION_KEYS <= r.keys()

    w = np.array(r["matrix"])
    assert w.shape == (4, 4) and w.min() >= 0 and w.max() < 10
    s = np.linalg.svd(w, compute_uv=False)
    np.testing.assert_allclose(r["singular_values"], s, rtol=1e-5)
    assert r["numerical_rank"] == 4 and min(r["singular_values"]) > r["rank_tolerance"]

    w1 = truncate(w, 1)
    np.testing.assert_allclose(r["reconstruction"], w1, atol=1e-5)
    assert r["mse"] == pytest.approx(np.mean((w - w1) ** 2), rel=1e-5)
    ey = math.sqrt(np.sum(s[1:] ** 2))
    assert r["frobenius_error"] == pytest.approx(ey, rel=1e-5)
    assert r["eckart_young_error"] == pytest.approx(ey, rel=1e-6)
    assert r["energy_kept"] == pytest.approx(s[0] ** 2 / np.sum(s**2), rel=1e-5)

    # appendix: ‖B‖·‖A‖ = sqrt(1.34) · 2.5 ≈ 2.894 (LESSONS.md)
    assert r["expected_s1"] == pytest.approx(math.sqrt(1.34) * 2.5, rel=1e-6)
    assert r["expected_s1"] == pytest.approx(2.894, abs=5e-4)
    assert r["delta_singular_values"][0] == pytest.approx(r["expected_s1"], rel=1e-6)
    assert max(r["delta_singular_values"][1:]) < 1e-5 and r["delta_rank"] == 1


@pytest.mark.parametrize("size, rank", [(5, 2), (3, 3)])
def test_compression_eckart_young_at_other_sizes(run_json, size, rank):
    r = run_json("09_non_redundant_compression", "--size", str(size), "--rank", str(rank))[
        "results"
    ]
    w = np.array(r["matrix"])
    s = np.linalg.svd(w, compute_uv=False)
    assert w.shape == (size, size)
    assert r["frobenius_error"] == pytest.approx(math.sqrt(np.sum(s[rank:] ** 2)), abs=1e-4)
    assert r["eckart_young_error"] == pytest.approx(r["frobenius_error"], abs=1e-4)


def test_compression_centred_matrix_and_tolerances(run_json):
    r = run_json("09_non_redundant_compression")["results"]
    w = np.array(r["matrix"])
    np.testing.assert_allclose(r["centred"], w - 5, atol=1e-6)
    s_c = np.linalg.svd(w - 5, compute_uv=False)
    np.testing.assert_allclose(r["centred_singular_values"], s_c, rtol=1e-5)
    assert r["centred_energy_kept"] == pytest.approx(s_c[0] ** 2 / np.sum(s_c**2), rel=1e-5)
    assert r["centred_energy_kept"] < r["energy_kept"]  # the shared level was most of s1
    assert r["fives_s1"] == 20.0
    assert r["delta_tolerance"] == pytest.approx(
        r["delta_singular_values"][0] * 4 * np.finfo(np.float32).eps, rel=1e-6
    )
    assert max(r["delta_singular_values"][1:]) < r["delta_tolerance"]


def test_compression_decisions():
    lesson = load_lesson("09_non_redundant_compression")
    assert lesson.level_share(20.0, 22.4439) == pytest.approx((20 / 22.4439) ** 2)
    assert lesson.level_share(20.0, 19.0) == 1.0  # never more than all of s₁²
    assert lesson.rank_sentence(4, 4).startswith("all of them, rank 4. No direction")
    assert lesson.rank_sentence(4, 3).startswith("only 3, rank 3. This draw happens")
    assert lesson.level_words(0.79) == "most of" and lesson.level_words(0.3) == "only part of"
    assert lesson.terms([1.0, 2.0], limit=6) == "1.0000² + 2.0000²"
    assert lesson.terms([1.0] * 10, limit=2) == "1.0000² + 1.0000² + … 8 more"
    assert lesson.terms([]) == "0"
    assert lesson.storage(4, 8) == "It stores 8 numbers instead of 16"
    assert "as many as the 4 of W" in lesson.storage(2, 4)
    assert "3,120 numbers, more than the 1,600 of W" in lesson.storage(40, 3120)


def test_compression_report(run_report):
    # its numbers (rank 4, ‖B‖·‖A‖ = 2.8940, 3 numerically zero) are the results' above
    assert "nan" not in run_report("09_non_redundant_compression").lower()


def test_compression_report_never_rounds_to_all_the_energy(run_json, run_report):
    r = run_json("09_non_redundant_compression", "--size", "40", "--rank", "39")["results"]
    assert r["energy_kept"] < 1 and f"{r['energy_kept']:.2%}" == "100.00%"
    assert display.share(r["energy_kept"], 2) != "100.00%"  # what the report prints
    out = run_report("09_non_redundant_compression", "--size", "40", "--rank", "39", columns=80)
    # too wide to print: the matrix is named, not drawn; of the 40 bars 12 are shown
    assert "(W is 40×40, too wide to print here" in out and "│  │" not in out and "28 more" in out


def test_compression_names_float64_under_x64(run_json):
    with jax.enable_x64(True):
        r = run_json("09_non_redundant_compression")["results"]
    assert r["dtype"] == "float64" and r["rank_tolerance"] < 1e-12


@pytest.mark.parametrize(
    "argv",
    [
        ("--size", "0"),
        ("--size", "1000000000"),
        ("--rank", "0"),
        ("--rank", "5"),
        ("--size", "2", "--rank", "3"),
        ("--seed", "x"),
    ],
)
def test_compression_rejects_bad_flags(usage_error, argv):
    assert "--" + argv[-2].lstrip("-") in usage_error("09_non_redundant_compression", *argv)


def test_compression_refuses_a_size_that_does_not_fit(usage_error, monkeypatch):
    monkeypatch.setattr(cli, "available_bytes", lambda: 2**20)  # 1 MiB
    assert "GiB available" in usage_error("09_non_redundant_compression", "--size", "2000")


def test_compression_is_deterministic(run_json):
    first = run_json("09_non_redundant_compression", "--seed", "7")["results"]
    assert first == run_json("09_non_redundant_compression", "--seed", "7")["results"]
    assert first["matrix"] != run_json("09_non_redundant_compression")["results"]["matrix"]
