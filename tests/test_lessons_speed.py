"""Lessons 01, 02, 03: lists, arrays and the compiler, at small sizes."""

import math
import resource
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import LESSONS as LESSONS_DIR
from conftest import load_lesson

from trinity_foundations import display

LESSONS = ["01_list_math", "02_tensor_math", "03_compiler"]


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
    assert r["slot_bytes"] >= 8 and (r["bytes_per_element_f32"], r["bytes_per_element_f64"]) == (
        4,
        8,
    )
    positive_timings(r)


def test_list_math_names_its_summation_and_the_correctly_rounded_sum(run_json):
    n = 310_000  # the exact sum, about 9.9e15, is above 2^53
    r = run_json("01_list_math", "--size", str(n))["results"]
    products = [float(i) * float(i) for i in range(1, n + 1)]
    assert r["expected_sum"] > 2**53
    assert r["summation"] == ("compensated" if sys.version_info >= (3, 12) else "left to right")
    assert r["sum_of_products"] == sum(products)
    left = 0.0
    for p in products:
        left += p
    assert (
        r["sum_left_to_right"] == left and r["left_to_right_error"] == int(left) - r["expected_sum"]
    )
    assert r["sum_fsum"] == math.fsum(products)
    assert abs(r["fsum_error"]) <= r["float64_spacing"] / 2 == 1.0  # spacing 2 at 9.9e15
    assert r["sum_error"] == int(r["sum_of_products"]) - r["expected_sum"]
    assert r["sum_matches"] and abs(r["sum_error"]) / r["expected_sum"] < 1e-12


def list_sums(summation: str, error: int, left_error: int, **kw):
    expected = 333_333_833_333_500_000  # N = 10**6
    sums = {
        "size": 10**6,
        "python": "3.x",
        "summation": summation,
        "expected_sum": expected,
        "float64_spacing": math.ulp(float(expected)),
        "sum_error": error,
        "left_to_right_error": left_error,
        "sum_fsum": float(expected),
        "fsum_error": 32,
        "matches": True,
        "rel_tol": 1e-9,
    }
    return load_lesson("01_list_math").Sum(**{**sums, **kw})


@pytest.mark.parametrize(
    ("summation", "error", "names", "blames_roundings"),
    [
        ("left to right", -372_448, "left-to-right summation", True),
        ("compensated", 32, "compensated summation", False),
    ],
)
def test_list_math_rounding_story_names_the_summation(summation, error, names, blames_roundings):
    story = load_lesson("01_list_math").rounding_story(list_sums(summation, error, -372_448))
    assert names in story and "off by -372,448" in story
    assert ("roundings of its 1,000,000 additions" in story) == blames_roundings
    assert "cannot hold every integer" not in story
    assert "the float64 nearest the exact sum (within half the 64" in story


def test_list_math_rounding_story_below_2_pow_53():
    story = load_lesson("01_list_math").rounding_story(
        list_sums("left to right", 0, 0, expected_sum=333_833_500, float64_spacing=1.0)
    )
    assert "below 2^53" in story and "the error is 0" in story


def test_list_math_judges():
    lesson = load_lesson("01_list_math")
    assert [lesson.milliseconds(ms) for ms in (270.421, 1.0, 0.000701)] == [
        "270.42",
        "1.00",
        "0.000701",
    ]
    assert lesson.off_by(0, 10) == "exact" and lesson.off_by(-5, 10**6) == (
        "off by -5 (relative 5.0e-06)"
    )
    assert lesson.closed_form_verdict(list_sums("compensated", 32, 0)).endswith(
        "it matches N(N+1)(2N+1)/6."
    )
    assert "does NOT match" in lesson.closed_form_verdict(
        list_sums("compensated", 32, 0, matches=False)
    )
    assert lesson.rounding_bullet(list_sums("compensated", 0, 0, fsum_error=0)).endswith("exactly.")
    assert "off by 7" in lesson.rounding_bullet(list_sums("compensated", 7, 0))


def test_list_math_report(run_report, run_json):
    # the report renders (its "matches" and bytes are the results' sum_matches and
    # bytes_per_element_*, checked above; its last line is tests/test_catalogue.py's)
    assert run_report("01_list_math", "--size", "1000")
    r = run_json("01_list_math", "--size", "1000")["results"]
    assert r["sum_matches"] is True and r["bytes_per_element_f64"] == 8


@pytest.mark.parametrize(
    ("lesson", "size"), [("01_list_math", 10**8 + 1), ("03_compiler", 10**8 + 1)]
)
def test_list_sizes_are_capped(usage_error, lesson, size):
    assert "must be from 1 to 100,000,000" in usage_error(lesson, "--size", str(size))


@pytest.mark.parametrize(
    ("lesson", "argv"),
    [
        ("01_list_math", ["--size", "100000"]),
        ("02_tensor_math", ["--size", "100000"]),
        ("03_compiler", ["--size", "100000"]),
    ],
)
def test_size_checked_against_available_memory(usage_error, monkeypatch, lesson, argv):
    from trinity_foundations import cli

    monkeypatch.setattr(cli, "available_bytes", lambda: 2**20)  # 1 MiB free
    line = usage_error(lesson, *argv)
    assert "GiB; this process has" in line and "--size 100,000" in line


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
    gpu = load_lesson("02_tensor_math").page_faults(faults, 977, "gpu")
    assert "NumPy faulted 38 times per call" in gpu and "live on the gpu" in gpu


def test_tensor_math_skip_list(run_json):
    r = run_json("02_tensor_math", "--size", "100", "--skip-list")["results"]
    assert r["list_ms"] is None and r["speedup_vs_list"] is None
    assert r["max_abs_diff"] == 0.0 and r["dtype"] == "float32"


def test_tensor_math_list_baseline_is_capped(usage_error):
    assert "add --skip-list" in usage_error("02_tensor_math", "--size", str(10**8 + 1))


@pytest.mark.parametrize(
    ("synced", "unsynced", "says"),
    [(0.2, 0.008, "seemed to take 0.0080 ms, 25× less"), (0.2, 0.15, "dispatching is most")],
)
def test_tensor_math_trap_sentence(synced, unsynced, says):
    assert says in load_lesson("02_tensor_math").trap_sentence(synced, unsynced)


@pytest.mark.parametrize(
    ("copied", "says"), [(True, "copied 4 MB in 2.000 ms (2 GB/s)"), (False, "zero-copy")]
)
def test_tensor_math_transfer_sentence(copied, says):
    assert says in load_lesson("02_tensor_math").transfer_sentence(10**6, 2.0, copied)


def test_tensor_math_agreement_and_rounding_note():
    lesson = load_lesson("02_tensor_math")
    assert lesson.agreement_sentence(1, 0.0).startswith("The product from eager and jit agrees")
    assert "to within 0.5" in lesson.agreement_sentence(10, 0.5)
    assert lesson.rounding_note(1000, 1e6, "float32") is None  # 1000² is exact
    note = lesson.rounding_note(4097, 16_785_408.0, "float32")
    assert note.startswith("float32 keeps 24 significant bits") and "16,785,409" in note


def test_tensor_math_list_sentence():
    lesson = load_lesson("02_tensor_math")
    assert lesson.list_sentence(None, 1.0, 1.0) == "(The list timing was skipped: --skip-list.)"
    said = lesson.list_sentence(50.0, 1.0, 2.0)
    assert "the Python list took 50 ms" in said and "50× faster than the list" in said
    assert "NumPy 25× faster than the list" in said


def test_tensor_math_report(run_report):
    out = words(run_report("02_tensor_math", "--size", "1000", "--skip-list", "--show-code"))
    assert "def multiply(a, b):" in out  # --show-code prints the kernel
    # the table's title: "1,000 float32 products, step by step"
    assert display.count(1000, "float32 product") == "1,000 float32 products"


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


def test_compiler_stages_add_up_to_the_first_call(run_json):
    r = run_json("03_compiler", "--size", "100")["results"]
    stages = r["lower_ms"] + r["compile_ms"] + r["first_run_ms"]
    assert r["jit_first_ms"] == pytest.approx(stages, rel=1e-12)
    assert r["compile_ms"] < r["jit_first_ms"]


def test_compiler_fusion_sentences():
    lesson = load_lesson("03_compiler")
    one = lesson.fusion_sentences(["integer_pow", "add"], ["multiply", "add"], 1)
    assert len(one) == 2 and one[1].endswith("XLA also rewrote a**2 as a*a.")
    two = lesson.fusion_sentences(["exp", "neg"], ["exponential"], 2)
    assert len(two) == 1 and "2 fusions[/] (generated kernels)" in two[0]


def test_compiler_rounding_sentence():
    lesson = load_lesson("03_compiler")
    assert lesson.rounding_sentence(1, 0, 0, True).startswith("The jitted result equals")
    fused = lesson.rounding_sentence(100, 1, 1, True)
    assert "1 of 100 jitted results differs" in fused and "rounded once" in fused
    assert "rounds differently" in lesson.rounding_sentence(100, 5, 1, False)


@pytest.mark.parametrize(
    ("head", "says"),
    [
        ([0.0], "The only result: [0] (0² + 0)."),
        ([0.0, 11.0], "First two results: [0, 11] (0² + 0, 1² + 10)."),
        ([0.0, 11.0, 24.0], "First three results: [0, 11, 24]"),
    ],
)
def test_compiler_head_sentence(head, says):
    assert load_lesson("03_compiler").head_sentence(head).startswith(says)


def test_compiler_report(run_report):
    out = words(run_report("03_compiler", "--size", "1000"))
    assert "integer_pow[y=2]" in out  # the jaxpr survives rich markup


COMPILES: list[str] = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, _secs, **_: (
        COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


def test_cold_compiles_again_without_clearing_other_caches():
    from trinity_foundations import timing

    def double(x):
        return 2 * x

    other = jax.jit(lambda x: x + 1)
    x = jnp.ones(3)
    other(x)
    for _ in range(2):  # each fresh function compiles, also the second time
        before = len(COMPILES)
        jax.jit(timing.cold(double))(x)
        assert len(COMPILES) == before + 1
    before = len(COMPILES)
    other(x)
    assert len(COMPILES) == before  # the process's other kernels stayed cached


@pytest.mark.parametrize("lesson", ["02_tensor_math", "03_compiler"])
def test_first_call_uses_a_fresh_function_not_clear_caches(lesson):
    source = (LESSONS_DIR / f"{lesson}.py").read_text()
    assert "clear_caches" not in source and "jax.jit(timing.cold(" in source


# ----------------------------------------------------------------------------
# All three


@pytest.mark.parametrize("lesson", LESSONS)
@pytest.mark.parametrize(
    "size, reason",
    [
        ("-1", "must be from 1 to"),
        ("0", "must be from 1 to"),
        ("abc", "'abc' is not a valid int"),
    ],
)
def test_bad_size(usage_error, lesson, size, reason):
    line = usage_error(lesson, "--size", size)
    assert f"argument --size: {reason}" in line


# ----------------------------------------------------------------------------
# Edge sizes: one element reads as one, and tiny times are not printed as 0.00


def test_tensor_math_fractional_faults_are_not_rounded_to_zero():
    faults = {"numpy": 0.0, "transfer": 0.0, "eager": 0.22, "jit_cached": 0.0, "unsynced": 0.0}
    text = load_lesson("02_tensor_math").page_faults(faults, 1)
    assert text.startswith("Page faults: one result fills 1 page of memory.")
    assert "eager jnp.multiply 0.22 (22%)" in text
