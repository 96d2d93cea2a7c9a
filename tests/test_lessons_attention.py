"""Lessons 06 and 07 against NumPy (float64) recomputations of the same maths."""

import math

import jax
import numpy as np
import pytest
from conftest import load_lesson

# The data of LESSONS.md, typed here so the test checks the lesson's copy of it.
X = np.array([[1.0, 0.5, 0.2, 0.1], [0.1, 2.0, 0.8, 0.2], [0.2, 0.1, 1.5, 1.8]])
W = {
    "w_q": np.array([[1, 0, 0.1, 0], [0, 1, 0, 0.2], [0.1, 0, 1, 0], [0, 0.2, 0, 1]]),
    "w_k": np.array([[0.8, 0.1, 0, 0], [0.1, 0.9, 0.2, 0], [0, 0.2, 0.7, 0.1], [0, 0, 0.1, 0.9]]),
    "w_v": np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5], [0.5, 0, 0, 0.5]]),
}
TARGET = np.array([[0.8, 0.2, 0.4, 0.6], [0.2, 1.2, 0.5, 0.8], [0.5, 0.3, 0.9, 1.0]])
ATTENTION_KEYS = {
    "raw_scores",
    "scaled_scores",
    "weights",
    "output",
    "row_sums",
    "loss_before",
    "loss_after",
    "grad_norms",
}
COLLAPSE_KEYS = {
    "raw_scores",
    "unscaled",
    "scaled",
    "jacobian_unscaled_max",
    "jacobian_unscaled_l1",
    "jacobian_scaled_max",
    "jacobian_scaled_l1",
    "l1_ratio",
    "entropy_unscaled",
    "entropy_scaled",
    "autodiff_max_error",
    "naive_overflow_is_nan",
    "stable_overflow",
}


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def head(w):
    raw = (X @ w["w_q"]) @ (X @ w["w_k"]).T
    weights = softmax(raw / 2.0)  # sqrt(d_k) = sqrt(4)
    return raw, weights, weights @ (X @ w["w_v"])


def loss(w):
    return np.mean((head(w)[2] - TARGET) ** 2)


def numerical_grads(w, h=1e-6):
    """Central differences of the loss, entry by entry, in float64."""
    grads = {}
    for name, m in w.items():
        g = np.zeros_like(m)
        for idx in np.ndindex(m.shape):
            up, down = m.copy(), m.copy()
            up[idx] += h
            down[idx] -= h
            g[idx] = (loss({**w, name: up}) - loss({**w, name: down})) / (2 * h)
        grads[name] = g
    return grads


# ------------------------------------------------------------ 06_self_attention


def test_self_attention_matches_numpy(run_json):
    env = run_json("06_self_attention")
    r = env["results"]
    assert env["lesson"] == "06_self_attention"
    assert ATTENTION_KEYS <= r.keys()
    raw, weights, output = head(W)
    np.testing.assert_allclose(r["raw_scores"], raw, rtol=1e-5)
    np.testing.assert_allclose(r["scaled_scores"], raw / 2, rtol=1e-5)
    np.testing.assert_allclose(r["weights"], weights, rtol=1e-5)
    np.testing.assert_allclose(r["output"], output, rtol=1e-5)
    np.testing.assert_allclose(r["row_sums"], 1.0, rtol=1e-6)

    grads = numerical_grads(W)
    for name, g in grads.items():
        assert r["grad_norms"][name] == pytest.approx(np.linalg.norm(g), rel=1e-4)
    stepped = {name: W[name] - 0.1 * grads[name] for name in W}
    assert r["loss_before"] == pytest.approx(loss(W), rel=1e-5)
    assert r["loss_after"] == pytest.approx(loss(stepped), rel=1e-4)
    assert r["loss_after"] < r["loss_before"]


def test_self_attention_sentences_come_from_the_weights():
    lesson = load_lesson("06_self_attention")
    _, weights, _ = head(W)
    tokens = ["The", "cat", "sat"]
    for query, row in zip(tokens, weights):
        best = int(np.argmax(row))
        text = lesson.attention_sentence(query, list(row), tokens)
        assert text.startswith(f"“{query}” attends most to “{tokens[best]}” ({row[best]:.1%})")
        assert text.count("then") == 2


def test_self_attention_rejects_bad_lr(usage_error):
    assert "--lr" in usage_error("06_self_attention", "--lr", "0")


def test_self_attention_rejects_an_lr_that_overflows(usage_error):
    # lr 1e30 used to print "after nan (+nan%)": the stepped weights overflow float32
    assert "at most" in usage_error("06_self_attention", "--lr", "1e30")


@pytest.mark.parametrize(
    "lr, verdict", [("1e-9", "unchanged in float32"), ("5", "NOT lower: the step overshot")]
)
def test_self_attention_verdict_matches_the_losses(run_json, lr, verdict):
    # a step too small to move any float32 weight leaves the loss equal, not higher:
    # it must not be called an overshoot (the report prints step_verdict and step_bullet)
    lesson = load_lesson("06_self_attention")
    r = run_json("06_self_attention", "--lr", lr)["results"]
    before, after, dtype = r["loss_before"], r["loss_after"], r["dtype"]
    assert (after == before) if lr == "1e-9" else (after > before)
    assert lesson.step_verdict(before, after, dtype).startswith(verdict)
    overshot = lesson.step_bullet(before, after, float(lr), dtype).endswith(
        "it overshot; a smaller --lr goes downhill."
    )
    assert overshot == verdict.startswith("NOT")


def test_self_attention_step_verdict():
    verdict = load_lesson("06_self_attention").step_verdict
    assert verdict(0.5, 0.4, "float32").startswith("lower: the step went downhill")
    assert verdict(0.5, 0.5, "float64").startswith("unchanged in float64")
    assert verdict(0.5, 0.6, "float32").startswith("NOT lower: the step overshot")


# ---------------------------------------------------------- 07_softmax_collapse


def jacobian(s):
    return np.diag(s) - np.outer(s, s)


def test_softmax_collapse_matches_numpy(run_json):
    env = run_json("07_softmax_collapse")
    r = env["results"]
    assert env["params"] == {"seed": 42, "dim": 1024, "tokens": 5}
    assert COLLAPSE_KEYS <= r.keys()
    raw = np.array(r["raw_scores"])
    unscaled, scaled = softmax(raw), softmax(raw / 32)  # 1/sqrt(1024)
    np.testing.assert_allclose(r["unscaled"], unscaled, rtol=1e-4, atol=1e-30)
    np.testing.assert_allclose(r["scaled"], scaled, rtol=1e-5)

    j_u, j_s = np.abs(jacobian(unscaled)), np.abs(jacobian(scaled))
    assert r["jacobian_unscaled_max"] == pytest.approx(j_u.max(), rel=1e-4)
    assert r["jacobian_unscaled_l1"] == pytest.approx(j_u.sum(), rel=1e-4)
    assert r["jacobian_scaled_max"] == pytest.approx(j_s.max(), rel=1e-5)
    assert r["jacobian_scaled_l1"] == pytest.approx(j_s.sum(), rel=1e-5)
    assert r["l1_ratio"] == pytest.approx(j_s.sum() / j_u.sum(), rel=1e-4)
    assert r["l1_ratio"] > 10  # the collapse: unscaled passes far less gradient

    def entropy(p):
        p = p[p > 0]
        return -np.sum(p * np.log(p))

    assert r["entropy_unscaled"] == pytest.approx(entropy(unscaled), rel=1e-3)
    assert r["entropy_scaled"] == pytest.approx(entropy(scaled), rel=1e-5)
    assert r["entropy_unscaled"] < r["entropy_scaled"] < math.log(5)
    assert r["autodiff_max_error"] < 1e-6

    assert r["naive_overflow_is_nan"] is True
    assert r["naive_overflow"] == ["NaN", "NaN", "NaN"]  # NaN is written "NaN" in JSON
    np.testing.assert_allclose(
        r["stable_overflow"], softmax(np.array([0.0, -1.0, -2.0])), rtol=1e-6
    )


def test_raw_scores_spread_like_sqrt_dim():
    lesson = load_lesson("07_softmax_collapse")
    raw = np.asarray(lesson.attention_scores(jax.random.key(42), 256, 2000), np.float64)
    # q · k of 256 N(0, 1) pairs: mean 0, std 16; 2000 draws pin the std to ~2 %
    assert abs(raw.mean()) < 3 * 16 / math.sqrt(2000)
    assert raw.std() == pytest.approx(16, rel=0.08)


def test_one_token_has_no_gradient_and_no_ratio(run_json):
    r = run_json("07_softmax_collapse", "--tokens", "1")["results"]
    assert r["unscaled"] == r["scaled"] == [1.0]
    assert r["jacobian_unscaled_l1"] == 0.0 and r["l1_ratio"] is None


def test_one_token_report(run_json):
    lesson = load_lesson("07_softmax_collapse")
    r = run_json("07_softmax_collapse", "--tokens", "1")["results"]
    assert math.copysign(1, r["entropy_unscaled"]) == 1  # 0.0, not -0.0
    assert lesson.nats(r["entropy_unscaled"]) == lesson.nats(r["entropy_scaled"]) == "0"
    text = lesson.scores_sentence(r["raw_scores"], r["dim"])
    assert "against 1 key," in text and "This score is" in text
    reading = lesson.jacobian_reading(r["l1_ratio"], 1, r["dim"], r["top_gap"], r["dtype"])
    assert reading.startswith("With a single key")


def test_width_one_says_scaling_changes_nothing():
    reading = load_lesson("07_softmax_collapse").jacobian_reading(1.0, 5, 1, 0.3, "float32")
    assert "scaled and unscaled are the same softmax" in reading and "times" not in reading


@pytest.mark.parametrize(
    ("probs", "digits", "text"),
    [
        ([1.0, 1e-9, 2e-9], 4, "100.0000% (the other 2 keys share 3e-07%)"),
        ([1.0, 0.0], 4, "100.0000% (the other key has 0%)"),
        ([0.99999994, 6e-8], 4, "99.99999%"),  # never a rounded 100 %
        ([0.416, 0.584], 1, "58.4%"),
    ],
)
def test_largest_share_says_what_the_rounding_hides(probs, digits, text):
    assert load_lesson("07_softmax_collapse").largest_share(probs, digits) == text


def test_underflow_threshold_matches_the_zeros(run_json):
    # seed 18: three shifted scores between -99 and -93 give exactly 0 on a backend that
    # flushes subnormals (XLA on CPU, not on a GPU); "below about -103" would contradict
    # the chart
    r = run_json("07_softmax_collapse", "--seed", "18")["results"]
    raw, probs = np.array(r["raw_scores"]), np.array(r["unscaled"])
    shifted, cut = raw - raw.max(), r["underflow_threshold"]
    assert cut == pytest.approx(-103.28 if r["subnormals"] else -87.34, abs=0.01)
    assert np.all(shifted[probs == 0] < cut + math.log(len(raw)))  # the sum divides too
    assert np.all(shifted[probs > 0] > cut - 1e-3)
    text = load_lesson("07_softmax_collapse").underflow_sentence(
        r["unscaled"], cut, r["subnormals"], r["dtype"]
    )
    if np.any(probs == 0):
        assert f"below about {cut:.1f} is smaller than the smallest" in text
    else:
        assert text is None
    assert load_lesson("07_softmax_collapse").underflow_sentence([0.5, 0.5], cut, True, "x") is None


def test_softmax_collapse_report(run_report):
    out = run_report("07_softmax_collapse")
    # its [nan, nan, nan] and [0.6652, 0.2447, 0.0900] are naive_overflow and
    # stable_overflow above; its last line is tests/test_catalogue.py's
    assert "J unscaled" in out and "J scaled" in out  # the full matrices at the default size


def test_softmax_collapse_jacobians_and_sweep(run_json):
    r = run_json("07_softmax_collapse")["results"]
    s = np.array(r["scaled"], np.float64)
    np.testing.assert_allclose(r["jacobian_scaled"], np.diag(s) - np.outer(s, s), atol=1e-6)
    assert r["dtype"] == "float32" and len(r["jacobian_unscaled"]) == 5
    medians = [row["ratio_median"] for row in r["sweep"]]
    assert [row["dim"] for row in r["sweep"]] == [16, 64, 256, 1024, 4096]
    assert medians[-1] > 100 * medians[0]  # the collapse grows with the width
    assert all(
        row["ratio_min"] <= row["ratio_median"] <= float(row["ratio_max"]) for row in r["sweep"]
    )  # float(): an unscaled Jacobian of exactly 0 gives "Infinity"


@pytest.mark.parametrize(
    ("ratio", "gap", "says"),
    [
        (3.03e3, 40.0, "almost nothing gets through"),
        (16.0, 10.0, "about 6.2% of it gets through"),
        (1.3, 0.4, "the two largest scores are only 0.4 apart (the scores' std is 64)"),
        (None, 99.0, "exactly zero in float64"),
    ],
)
def test_jacobian_reading_blames_the_draw_not_the_width(ratio, gap, says):
    text = load_lesson("07_softmax_collapse").jacobian_reading(ratio, 3, 4096, gap, "float64")
    assert says in text and "at this width" not in text


@pytest.mark.parametrize(
    ("values", "says"),
    [([1, 2, 3], "grows at every step"), ([1, 3, 2], "grows overall"), ([3, 2], "does not")],
)
def test_growth(values, says):
    assert load_lesson("07_softmax_collapse").growth(values).startswith(says)


def test_softmax_collapse_truncates_many_keys(run_report, monkeypatch):
    monkeypatch.setattr(load_lesson("07_softmax_collapse"), "SWEEP_DIMS", (16,))  # one compile
    out = run_report("07_softmax_collapse", "--tokens", "12", "--dim", "16", columns=40)
    assert "… 4 more keys" in out and "… 4 more rows and columns" in out
    body = out.splitlines()[1:]  # the title rule may shorten the title
    assert max(map(len, body)) <= 40
    bars = [line for line in body if line.startswith("key ") and "z" in line]
    assert len(bars) == 16 and all(line.endswith("%") for line in bars)  # one line each


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [("--tokens", "4097", "tokens² numbers"), ("--dim", str(10**18), "must be from 1 to")],
)
def test_softmax_collapse_bounds(usage_error, flag, value, says):
    assert says in usage_error("07_softmax_collapse", flag, value)


def test_softmax_collapse_is_deterministic(run_json):
    first = run_json("07_softmax_collapse", "--seed", "7")["results"]
    assert first == run_json("07_softmax_collapse", "--seed", "7")["results"]
    assert first["raw_scores"] != run_json("07_softmax_collapse")["results"]["raw_scores"]


@pytest.mark.parametrize("flag, value", [("--dim", "0"), ("--tokens", "-2"), ("--dim", "x")])
def test_softmax_collapse_rejects_bad_sizes(usage_error, flag, value):
    assert flag in usage_error("07_softmax_collapse", flag, value)


def test_self_attention_gradient_sentence_is_this_runs_fact():
    lesson = load_lesson("06_self_attention")
    text = lesson.gradient_sentence({"w_q": 0.05, "w_k": 0.055, "w_v": 0.33})
    assert text.startswith("In this run W_v gets the largest gradient, 6× the next (W_k)")
    assert "not a law" in text
    other = lesson.gradient_sentence({"w_q": 0.5, "w_k": 0.1, "w_v": 0.2})
    assert other.startswith("In this run W_q") and "linear in V" not in other


def test_self_attention_prints_its_inputs_and_fits_40_columns(run_report, run_json):
    r = run_json("06_self_attention")["results"]
    assert r["x"][1] == [0.1, 2.0, 0.8, 0.2] and len(r["w_v"]) == 4 and len(r["target"]) == 3
    out = run_report("06_self_attention", columns=40)
    body = out.splitlines()[1:]
    assert "W_q" in out and "target" in out and "0. The inputs" in out
    assert not any("…" in line for line in body) and max(map(len, body)) <= 40


def test_softmax_collapse_names_the_dtype_it_used(run_json):
    with jax.enable_x64(True):
        r = run_json("07_softmax_collapse", "--tokens", "1")["results"]
    assert r["dtype"] == "float64"
    assert r["underflow_threshold"] == pytest.approx(
        math.log(
            np.finfo(np.float64).smallest_subnormal if r["subnormals"] else 2.2250738585072014e-308
        ),
        abs=0.01,
    )


def test_softmax_collapse_checks_memory(usage_error, monkeypatch):
    from trinity_foundations import cli

    monkeypatch.setattr(cli, "available_bytes", lambda: 2**20)
    assert "GiB; this process has" in usage_error("07_softmax_collapse", "--dim", "100000")
