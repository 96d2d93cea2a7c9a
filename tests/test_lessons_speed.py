"""Lessons 01, 02, 03: lists, arrays and the compiler, at small sizes."""

import math
import resource
import sys

import numpy as np
import pytest
from conftest import load_lesson

LESSONS = ["01_list_math", "02_tensor_math", "03_compiler"]


# Facts of the run rather than of the seed: times, their ratios, and whether
# device_put could alias the host buffer (it depends on where malloc put it).
RUN_FACTS = {"speedup_vs_list", "transfer_copied", "faults_per_call"}  # facts of the run


def seeded(results: dict) -> dict:
    return {k: v for k, v in results.items() if not (k.endswith("_ms") or k in RUN_FACTS)}


def words(text: str) -> str:
    """The text with rich's line wrapping undone."""
    return " ".join(text.split())


def positive_timings(results: dict) -> None:
    times = {k: v for k, v in results.items() if k.endswith("_ms") and v is not None}
    assert times and all(v > 0 for v in times.values()), times


# ----------------------------------------------------------------------------
# 01_list_math


def test_list_math_small_size_is_exact(run_json):
    env = run_json("01_list_math", "--size", "1000")
    r = env["results"]
    assert env["params"] == {"seed": 0, "size": 1000}
    n = 1000
    assert r["expected_sum"] == n * (n + 1) * (2 * n + 1) // 6 == 333_833_500
    assert r["sum_of_products"] == r["expected_sum"] and r["sum_error"] == 0  # below 2^53
    assert r["sum_matches"] is True
    assert (r["first"], r["last"]) == (1.0, 1e6)
    assert r["float_object_bytes"] == sys.getsizeof(1.0)
    assert r["bytes_per_element_list"] == r["slot_bytes"] + r["float_object_bytes"]
    assert r["slot_bytes"] >= 8 and r["bytes_per_element_f32"] == 4
    positive_timings(r)


def test_list_math_sum_past_2_pow_53_drifts_but_matches(run_json):
    n = 310_000  # the exact sum, about 9.9e15, is above 2^53
    r = run_json("01_list_math", "--size", str(n))["results"]
    assert r["expected_sum"] > 2**53
    assert r["sum_of_products"] == sum(float(i) * float(i) for i in range(1, n + 1))
    assert r["sum_error"] == int(r["sum_of_products"]) - r["expected_sum"]
    assert r["sum_matches"] and abs(r["sum_error"]) / r["expected_sum"] < 1e-12


def test_list_math_report(capsys):
    load_lesson("01_list_math").main(["--size", "1000"])
    out = words(capsys.readouterr().out)
    assert "it matches N(N+1)(2N+1)/6" in out and "below 2^53" in out
    assert "Next: python lessons/02_tensor_math.py" in out


# ----------------------------------------------------------------------------
# 02_tensor_math


def test_tensor_math_products_and_timings(run_json):
    n = 4097  # 4097² = 16,785,409 needs 25 bits: float32 rounds it
    r = run_json("02_tensor_math", "--size", str(n))["results"]
    assert r["max_abs_diff"] == 0.0  # eager and jit agree with NumPy bit for bit
    assert r["last_product"] == float(np.float32(n) * np.float32(n)) == 16_785_408.0
    positive_timings(r)
    assert r["jit_first_ms"] > r["jit_cached_ms"]  # the first call compiles
    assert r["speedup_vs_list"] == pytest.approx(r["list_ms"] / r["jit_cached_ms"])
    assert isinstance(r["transfer_copied"], bool)
    assert r["result_pages"] == -(-4 * n // resource.getpagesize())  # 17 with 4 KiB pages
    assert set(r["faults_per_call"]) == {"numpy", "transfer", "eager", "jit_cached", "unsynced"}
    assert all(f >= 0 for f in r["faults_per_call"].values())


@pytest.mark.parametrize(
    "jit_faults, says",
    [
        (0.0, "No step faulted on a tenth of them per call"),
        (977.0, "the cached jit call 977 (100%) of a result's pages"),
        (400.0, "the cached jit call 400 (41%) of a result's pages"),
    ],
)
def test_tensor_math_reads_the_page_faults(jit_faults, says):
    faults = {
        "numpy": 38.0,
        "transfer": 0.0,
        "eager": 50.0,
        "jit_cached": jit_faults,
        "unsynced": 0.0,
    }
    text = load_lesson("02_tensor_math").page_faults(faults, 977)
    assert text.startswith("Page faults: one result fills 977 pages of memory.")
    assert says in text and "NumPy" not in text and "eager" not in text


def test_tensor_math_skip_list(run_json):
    r = run_json("02_tensor_math", "--size", "100", "--skip-list")["results"]
    assert r["list_ms"] is None and r["speedup_vs_list"] is None
    assert r["max_abs_diff"] == 0.0


def test_tensor_math_report(capsys):
    load_lesson("02_tensor_math").main(["--size", "1000", "--skip-list", "--show-code"])
    out = words(capsys.readouterr().out)
    assert "agree with NumPy's exactly" in out and "--skip-list" in out
    assert "def multiply(a, b):" in out  # --show-code prints the kernel
    assert "Next: python lessons/03_compiler.py" in out
    assert "nan" not in out.lower()


# ----------------------------------------------------------------------------
# 03_compiler

# What XLA CPU printed for square_add (jax 0.10.2), metadata trimmed.
CPU_HLO = """\
HloModule jit_square_add, is_scheduled=true

%fused_computation (param_0.1: f32[8], param_1.1: f32[8]) -> f32[8] {
  %param_1.1 = f32[8]{0} parameter(1)
  %integer_pow.0 = f32[8]{0} multiply(%param_1.1, %param_1.1), metadata={op_name="x"}
  %param_0.1 = f32[8]{0} parameter(0)
  ROOT %add.0 = f32[8]{0} add(%integer_pow.0, %param_0.1)
}

ENTRY %main.1 (a.1: f32[8], b.1: f32[8]) -> f32[8] {
  %a.1 = f32[8]{0} parameter(0), metadata={op_name="a"}
  %b.1 = f32[8]{0} parameter(1), metadata={op_name="b"}
  ROOT %multiply_add_fusion = f32[8]{0} fusion(%b.1, %a.1), kind=kLoop, calls=%fused_computation, backend_config={"outer_dimension_partitions":["2"]}
}
"""

# Two kernels, one of them with a tuple shape: fusions are counted one each.
TWO_FUSIONS = """\
%fused_exp (p: f32[4]) -> f32[4] {
  %p = f32[4]{0} parameter(0)
  ROOT %e = f32[4]{0} exponential(%p)
}

%fused_pair (q: f32[4]) -> (f32[4], f32[4]) {
  %q = f32[4]{0} parameter(0)
  %n = f32[4]{0} negate(%q)
  ROOT %t = (f32[4]{0}, f32[4]{0}) tuple(%n, %q)
}

ENTRY %main (x: f32[4]) -> (f32[4], f32[4]) {
  %x = f32[4]{0} parameter(0)
  %f1 = f32[4]{0} fusion(%x), kind=kLoop, calls=%fused_exp
  ROOT %f2 = (f32[4]{0}, f32[4]{0}) fusion(%f1), kind=kLoop, calls=%fused_pair
}
"""

NO_FUSION = """\
ENTRY %main (x: f32[4]) -> f32[4] {
  %x = f32[4]{0} parameter(0)
  ROOT %fusion_like_name = f32[4]{0} copy(%x)
}
"""


@pytest.mark.parametrize(
    "text, count, ops",
    [
        (CPU_HLO, 1, ["multiply", "add"]),
        (TWO_FUSIONS, 2, ["exponential", "negate", "tuple"]),
        (NO_FUSION, 0, []),
    ],
)
def test_fusion_reading(text, count, ops):
    lesson = load_lesson("03_compiler")
    assert lesson.fusion_count(text) == count
    assert lesson.fused_ops(text) == ops


def test_max_ulps():
    lesson = load_lesson("03_compiler")
    x = np.array([1.0, 16_777_216.0], np.float32)
    y = np.nextafter(x, np.float32(np.inf))  # (2,) one ulp up
    assert lesson.max_ulps(x, x) == 0 and lesson.max_ulps(x, y) == 1


def test_compiler_results(run_json):
    n = 5000  # a² reaches 2.5e7 > 2^24, so float32 rounding shows up
    r = run_json("03_compiler", "--size", str(n))["results"]
    assert r["head"] == [0.0, 11.0, 24.0]
    assert r["jaxpr_ops"] == ["integer_pow", "add"]
    assert "integer_pow" in r["jaxpr"] and "add" in r["jaxpr"] and f"f32[{n}]" in r["jaxpr"]
    assert r["fusion_count"] >= 1
    assert "add" in r["fused_ops"]
    assert {"multiply", "integer_pow", "power"} & set(r["fused_ops"])
    positive_timings(r)
    assert r["jit_first_ms"] > r["jit_cached_ms"]

    a = np.arange(n, dtype=np.float32)  # (N,)
    b = np.float32(10) * a  # (N,)
    twice = a * a + b  # (N,) NumPy rounds a² and then the sum: op by op
    once = (a.astype(np.float64) ** 2 + b).astype(np.float32)  # (N,) one rounding
    if r["jit_rounded_once"]:
        assert r["eager_mismatches"] == np.count_nonzero(twice != once) > 0
    assert r["eager_max_ulps"] <= 1


def test_compiler_report(capsys):
    load_lesson("03_compiler").main(["--size", "1000"])
    out = words(capsys.readouterr().out)
    assert "integer_pow[y=2]" in out  # the jaxpr survives rich markup
    assert "First three results: [0, 11, 24]" in out
    assert "Next: python lessons/04_dot_product.py" in out


# ----------------------------------------------------------------------------
# All three


@pytest.mark.parametrize(
    "lesson, argv",
    [
        ("01_list_math", ["--size", "200"]),
        ("02_tensor_math", ["--size", "200"]),
        ("03_compiler", ["--size", "200"]),
    ],
)
def test_same_seed_same_results(run_json, lesson, argv):
    first, second = (run_json(lesson, *argv)["results"] for _ in range(2))
    assert seeded(first) == seeded(second)
    assert math.isfinite(first[next(k for k in first if k.endswith("_ms"))])


@pytest.mark.parametrize("lesson", LESSONS)
@pytest.mark.parametrize(
    "size, reason",
    [
        ("-1", "must be a positive integer, got -1"),
        ("0", "must be a positive integer, got 0"),
        ("abc", "'abc' is not a valid int"),
    ],
)
def test_bad_size(usage_error, lesson, size, reason):
    line = usage_error(lesson, "--size", size)
    assert line.endswith(f"argument --size: {reason}")


# ----------------------------------------------------------------------------
# Edge sizes: one element reads as one, and tiny times are not printed as 0.00


def test_list_math_report_for_one_element(capsys):
    load_lesson("01_list_math").main(["--size", "1"])
    out = words(capsys.readouterr().out)
    assert "two lists of 1 float took" in out and "0.00 ms" not in out
    assert "the list's header" in out  # 88 bytes for one element: mostly the header


def test_tensor_math_fractional_faults_are_not_rounded_to_zero():
    faults = {"numpy": 0.0, "transfer": 0.0, "eager": 0.22, "jit_cached": 0.0, "unsynced": 0.0}
    text = load_lesson("02_tensor_math").page_faults(faults, 1)
    assert text.startswith("Page faults: one result fills 1 page of memory.")
    assert "eager jnp.multiply 0.22 (22%)" in text


def test_tensor_math_report_for_one_element(capsys):
    load_lesson("02_tensor_math").main(["--size", "1", "--skip-list"])
    out = words(capsys.readouterr().out)
    assert "1 float32 product, step by step" in out
    assert "The product from eager and jit agrees with NumPy's exactly" in out


@pytest.mark.parametrize(
    "size, says",
    [
        ("1", "The only result: [0] (0² + 0)."),
        ("2", "First two results: [0, 11] (0² + 0, 1² + 10)."),
    ],
)
def test_compiler_report_with_fewer_than_three_results(capsys, size, says):
    load_lesson("03_compiler").main(["--size", size])
    out = words(capsys.readouterr().out)
    assert says in out and "First three" not in out
