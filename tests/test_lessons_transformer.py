"""Lessons 15, 16 and 18 against float64 NumPy recomputations and closed forms."""

import argparse
import contextlib
import io
import json
import math

import numpy as np
import pytest
import tiny_sweep
from conftest import check_widths, load_lesson

from trinity_foundations import cli, display, sections

L15 = "15_autoregressive_lm"
L16 = "16_transformer_block"
L18 = "18_shape_literacy"

# --- 15: next-token prediction ----------------------------------------------------------

KEYS_15 = {
    "toy_steps",
    "toy_text",
    "toy_weights_step1",
    "toy_logits_rank",
    "toy_loss",
    "toy_loss_eps",
    "uniform_loss",
    "teacher_forcing_max_diff",
    "causal_max_diff_before",
    "random_text",
    "entropy_by_temperature",
}


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def toy_logits(m, ids):
    """The original's forward pass in float64: constant head, mask −∞, scale sqrt(8)."""
    x = np.array(m.E)[ids] + np.array(m.P)[: len(ids)]  # (T, 8)
    q, k, v = (x @ np.full((8, 8), c) for c in m.CONSTANTS.values())
    s = q @ k.T / math.sqrt(8)
    s = np.where(np.tril(np.ones((len(ids), len(ids)), bool)), s, -np.inf)
    w = np_softmax(s)
    return w @ v @ np.array(m.W_VOCAB), w


@pytest.fixture(scope="module")
def done15():
    """Every section's result at defaults, computed section by section."""
    m = load_lesson(L15)
    args = argparse.Namespace(seed=0, steps=3, temperature=1.0, top_k=0, original=False)
    return sections.compute_all(m.build(args))


@pytest.fixture(scope="module")
def r15(done15):
    """The results at defaults, as --json gives them."""
    return cli.to_jsonable(load_lesson(L15).results(done15))


def test_15_keys_and_the_original_re_created(run_json):
    env = run_json(L15)
    r, m = env["results"], load_lesson(L15)
    assert KEYS_15 <= r.keys()
    ids = [m.VOCAB.index(w) for w in m.PROMPT]
    for step in r["toy_steps"]:  # greedy, recomputed in float64
        logits, _ = toy_logits(m, ids)
        assert step["ids"] == ids and step["shapes"]["logits"] == [len(ids), 20]
        assert step["chosen"] == int(np.argmax(logits[-1]))
        assert step["top"][0]["p"] == pytest.approx(np_softmax(logits[-1]).max(), abs=1e-5)
        ids = ids + [step["chosen"]]
    assert r["toy_text"] == " ".join(m.VOCAB[i] for i in ids)
    _, w = toy_logits(m, ids[:3])
    np.testing.assert_allclose(r["toy_weights_step1"], w, atol=1e-6)
    assert np.all(np.triu(r["toy_weights_step1"], 1) == 0)  # exactly zero, not small


def test_15_truths_the_original_missed(r15):
    m = load_lesson(L15)
    assert r15["toy_logits_rank"] == 1 and r15["random_logits_rank"] > 1
    assert r15["toy_colsum_min_abs_cosine"] == pytest.approx(1, abs=1e-6)
    logits, _ = toy_logits(m, [1, 2, 3])
    want = -np.mean(np.log(np_softmax(logits)[np.arange(3), [2, 3, 4]]))
    assert r15["toy_loss"] == pytest.approx(want, abs=1e-5)
    assert r15["uniform_loss"] == pytest.approx(math.log(20))
    assert r15["toy_loss"] > r15["uniform_loss"]  # worse than a uniform guess
    e = r15["eps_demo"]
    assert e["p_target"] < e["eps"] and e["loss"] > e["cap"] > e["loss_eps"] - 1e-4
    assert e["loss"] == pytest.approx(-e["log_p_target"], rel=1e-5)
    assert e["grad_norm"] > 1 and e["grad_norm_eps"] < 1e-6  # the ε version stops learning
    assert r15["original_sample_is_argmax"]
    assert r15["mask_order_max_diff"] < 1e-6


def test_15_beyond(r15):
    assert r15["teacher_forcing_max_diff"] < 1e-5
    assert r15["causal_max_diff_before"] == 0.0 and r15["causal_max_diff_from_t"] > 0
    c = r15["context"]
    assert c["toy"]["cosine"] == pytest.approx(1, abs=1e-6)
    assert c["random"]["cosine"] < 1 - 1e-3 and c["random"]["max_diff"] > 0
    h = r15["entropy_by_temperature"]
    assert list(h) == ["0.5", "1", "2"]
    assert 0 <= h["0.5"] < h["1"] < h["2"] <= math.log(20)


def test_15_determinism_and_seed(run_json):
    a, b = run_json(L15, "--seed", "3"), run_json(L15, "--seed", "3")
    assert a["results"] == b["results"]
    c = run_json(L15, "--seed", "4")["results"]
    assert c["context"]["random"] != a["results"]["context"]["random"]
    assert c["toy_text"] == a["results"]["toy_text"]  # Part A draws nothing


def test_15_top_k_one_is_greedy_at_any_temperature(run_json):
    hot = run_json(L15, "--top-k", "1", "--temperature", "100", "--steps", "2")["results"]
    cold = run_json(L15, "--top-k", "1", "--temperature", "0.01", "--steps", "2")["results"]
    assert hot["random_text"] == cold["random_text"]
    assert len(hot["random_text"].split()) == 5
    assert all(s["p"] == 1.0 for s in hot["random_steps"])  # drawn from a one-point distribution


def test_15_truncate_keeps_the_k_largest():
    m = load_lesson(L15)
    logits = np.array([0.5, 3.0, -1.0, 2.0, 1.0], np.float32)
    kept = np.asarray(m.truncate(logits, top_k=2))
    assert np.array_equal(kept[[1, 3]], logits[[1, 3]])
    assert np.all(kept[[0, 2, 4]] == np.finfo(np.float32).min)
    assert np.array_equal(np.asarray(m.truncate(logits, top_k=0)), logits)


@pytest.mark.parametrize(
    "argv", [["--temperature", "0"], ["--top-k", "21"], ["--steps", "8"], ["--steps", "0"]]
)
def test_15_bad_flags(usage_error, argv):
    assert "error: argument" in usage_error(L15, *argv)


def test_15_sentences():
    m = load_lesson(L15)
    assert "rank 1:" in m.rank_sentence(1, 6) and "context matters" in m.rank_sentence(3, 6)
    assert "worse" in m.loss_sentence(3.9, 3.0) and "better" in m.loss_sentence(2.0, 3.0)
    assert "bit for bit" in m.causal_sentence(0.0, 1.0, 3)
    assert "leaks" in m.causal_sentence(1e-3, 1.0, 3)
    assert "positive in every row" in m.sign_sentence([2.4, 2.74])
    assert "negative in every row" in m.sign_sentence([-1.0, -2.0])
    assert "changes sign" in m.sign_sentence([2.74, -5.76])
    flip = m.flip_sentence("The cat <eos>", -5.76, "<eos>", 0.9999, "The cat <eos> <eos>")
    assert "c = -5.76 < 0: the ranking reverses, “<eos>” leads" in flip
    assert "the usual ranking, “bites” first" in m.flip_sentence("a", 2.4, "bites", 0.6, "a")
    assert m.context_sentence(["cat", "dog"], [0.5, 0.4], 0.5, False).startswith("different top")
    assert "one direction (cosine 1.000000)" in m.context_sentence(
        ["bites", "bites"], [0.611, 0.571], 1.0, True
    )
    same = m.context_sentence(["<eos>", "<eos>"], [0.2, 0.2], 0.99, False)
    assert "rankings that differ below it" in same and "cosine 0.9900" in same
    assert "the same ranking below it" in m.context_sentence(["a", "a"], [0.2, 0.2], 0.99, True)
    eps = 2**-23
    assert m.apart(0.0, eps) == "the same weights"
    assert m.apart(6e-8, eps) == "the same weights up to rounding (6e-08)"
    assert m.apart(0.1, eps) == "weights 0.1 apart"
    quiet = m.mask_sentence(6e-8, 6e-8, 15.6, -1e9, eps, 8)
    assert "−∞/√8 is still −∞" in quiet and "A finite −1e9 instead of −∞" in quiet
    assert "are not small beside it" in m.mask_sentence(0.0, 0.5, 15.6, -1e9, eps, 8)
    assert "greedy, as its comment says" in m.sample_sentence(["bites"] * 3, [0.5, 1, 2], True)
    assert "not always the argmax" in m.sample_sentence(["a", "b"], [0.5, 2], False)


def test_15_scalar_turns_negative_after_eos(r15):
    """Row t of the toy's logits is c_t · colsum(W_vocab); "<eos>" makes c_t negative."""
    m = load_lesson(L15)
    colsum = np.array(m.W_VOCAB).sum(axis=0)
    flip = r15["toy_flip"]
    logits, _ = toy_logits(m, [m.VOCAB.index(w) for w in flip["prompt"].split()])
    c = logits @ colsum / (colsum @ colsum)  # float64: [2.4, 2.743, -5.76]
    np.testing.assert_allclose(flip["scalars"], c, rtol=1e-5)
    np.testing.assert_allclose(logits, np.outer(c, colsum), atol=1e-12)  # rank 1, exactly
    assert c[-1] == pytest.approx(-5.76, abs=5e-3) and flip["top"]["token"] == "<eos>"
    assert flip["text"] == "The cat <eos> <eos> <eos> <eos>"
    assert m.sign_kind(flip["scalars"]) == "mixed" and m.sign_kind(r15["toy_scalars"]) == "positive"
    assert m.sign_kind([-1.0, -2.0]) == "negative"
    # The same sign, yet another sharpness: p(bites) 61.1 % after one prompt, 57.1 % after another.
    toy = r15["context"]["toy"]
    assert toy["top"] == ["bites", "bites"]
    assert toy["p_top"] == pytest.approx([0.6112, 0.5714], abs=1e-4)
    assert m.context_kind(toy["top"], toy["cosine"]) == "one direction"


def test_15_random_head_same_top_is_not_a_different_prediction(r15):
    m = load_lesson(L15)
    rnd = r15["context"]["random"]
    assert rnd["top"] == ["<eos>", "<eos>"] and rnd["cosine"] == pytest.approx(0.9965, abs=1e-4)
    assert m.context_kind(rnd["top"], rnd["cosine"]) == "same top"
    assert m.context_kind(["cat", "dog"], 0.5) == "different top"


def test_15_top_tokens_keep_ties_whole_and_in_id_order(r15):
    m = load_lesson(L15)
    p = np.array([0.05, 0.6, 0.1, 0.05, 0.1, 0.05, 0.05], np.float32)
    # a 3-way tie at the 5th place, float32 noise in one of its members
    p[5] = np.nextafter(p[5], 1, dtype=np.float32)
    assert m.tie_groups(p, 5, 1e-4) == [[1], [2, 4], [0, 3, 5, 6]]
    assert m.tie_groups(p, 1, 1e-4) == [[1]]
    words = [[t["token"] for t in s["top"]] for s in r15["toy_steps"]]
    assert words[0] == ["bites", "furry", "dog", "friendly", "sat", "mat", "happy"]
    assert [t["group"] for t in r15["toy_steps"][0]["top"]] == [0, 1, 2, 2, 3, 3, 3]


def test_15_mask_order_and_fill(r15):
    m = load_lesson(L15)
    eps = r15["mask_eps"]
    assert m.apart_kind(r15["mask_order_max_diff"], eps) in ("same", "rounding")
    assert m.apart_kind(r15["mask_fill_max_diff"], eps) in ("same", "rounding")
    assert r15["max_abs_score"] == pytest.approx(15.552, abs=1e-3)
    assert m.apart_kind(0.0, eps) == "same" and m.apart_kind(1e-2, eps) == "apart"


def test_15_summary_bullets_and_judges():
    m = load_lesson(L15)
    text = "The cat sat bites bites bites"
    assert m.toy_bullet(1, text, [2.4, 2.7]) == (
        "The toy's constant weights made every logits row a multiple of one vector (rank 1), "
        "ranked the same way, so greedy decoding gave 'The cat sat bites bites bites'."
    )
    assert "reversed where c_t < 0" in m.toy_bullet(1, text, [2.4, -5.8])
    assert m.toy_bullet(3, text, [1.0]).startswith("The toy's logits had rank 3")
    demo = m.EpsDemo(2.0, "<eos>", 4.35e-20, -44.58, 1e-9, 20.72, 44.58, 20.72, 1.385, 6.02e-11)
    loss = m.Loss(["The"], ["cat"], 3.8862, 3.8862, [0.0116], math.log(20), demo)
    said = m.loss_bullet(loss)
    assert said.startswith("Its loss, 3.8862 nats, is worse than guessing uniformly")
    assert "reports a loss of 44.58 as 20.72, with a gradient of norm 6.02e-11 instead" in said
    ctx = m.Context(["<eos>", "<eos>"], [0.2, 0.2], False, 0.99, 0.2)
    rnd = m.RandomHead("float32", 1.0, 0, [1, 2, 3], "The cat sat", [], 6, ctx)
    one = m.OnePass(6, 8.94e-08, 3, 0.0, 0.97)
    said = m.random_bullet(rnd, one)
    assert "rank 6" in said and "within 8.94e-08" in said and "bit for bit unchanged" in said
    assert "the mask leaks" in m.random_bullet(rnd, m.OnePass(6, 0.0, 3, 1e-3, 0.97))
    tops = [m.Top(7, "bites", 0.611, 0), m.Top(6, "dog", 0.055, 1), m.Top(13, "friendly", 0.055, 1)]
    assert m.tops_text(tops) == "bites 61.1%, dog = friendly 5.5%"


def test_15_original_waits_for_its_flag(run_report, done15, r15, monkeypatch):
    m = load_lesson(L15)
    plain = run_report(L15)
    assert "Beside the original" not in plain and "--original adds" in plain
    # "What you saw" is sections.run's (tests/test_summaries.py, tests/test_sections.py);
    # its causality bullet is r15's causal_max_diff_before == 0.0 (test_15_beyond)
    args = tiny_sweep.lesson_parser(L15, monkeypatch).parse_args(["--original"])
    section = next(s for s in m.build(args) if s.name == "original")
    assert section.compute.keywords == {"shown": True}
    shown = m.compute_original(done15, shown=True)
    check_widths(m.say_original, shown)  # the closing section, as --original prints it
    # its sampler, recomputed in float64: the argmax after the final text, at every τ
    last = r15["toy_steps"][-1]
    greedy = int(np.argmax(toy_logits(m, [*last["ids"], last["chosen"]])[0][-1]))
    assert shown.sample_ids == [greedy] * len(m.TEMPERATURES) and shown.sample_is_argmax
    assert shown.temperatures == [0.5, 1.0, 2.0] and shown.width == 8  # its mask's √8
    said = m.sample_sentence(shown.sample_tokens, shown.temperatures, shown.sample_is_argmax)
    assert said.startswith("The original's sample_token is greedy")


# --- 16: the transformer block ------------------------------------------------------------

KEYS_16 = {
    "shapes",
    "norms_before",
    "norms_after",
    "norms_closed_form",
    "identity_max_diff",
    "head_weights",
    "reference_max_diff",
    "sdpa_max_diff",
    "param_counts",
    "residual_norms_prenorm",
    "residual_norms_postnorm",
}


@pytest.fixture(scope="module")
def r16():
    """The --json results of lesson 16 at its defaults, run in-process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        load_lesson(L16).main(["--json"])
    return json.loads(out.getvalue())["results"]


def test_16_part_a_against_closed_forms(r16):
    m = load_lesson(L16)
    x = np.array(m.X)
    assert KEYS_16 <= r16.keys()
    assert r16["shapes"]["x"] == [1, 3, 8] and r16["shapes"]["weights"] == [1, 2, 3, 3]
    assert r16["shapes"]["q"] == [1, 2, 3, 4] and r16["shapes"]["gate"] == [1, 3, 16]
    np.testing.assert_allclose(r16["norms_before"], np.linalg.norm(x, axis=1), rtol=1e-6)
    var = x.var(axis=1)
    closed = np.sqrt(8 * var / (var + 1e-5))
    np.testing.assert_allclose(r16["norms_closed_form"], closed, rtol=1e-12)
    np.testing.assert_allclose(r16["norms_after"], closed, rtol=1e-5)
    ms = (x**2).mean(axis=1)
    np.testing.assert_allclose(r16["norms_rms"], np.sqrt(8 * ms / (ms + 1e-5)), rtol=1e-5)
    comment = np.linalg.norm(
        (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-5), axis=1
    )
    np.testing.assert_allclose(r16["norms_comment_formula"], comment, rtol=1e-5)
    sm = r16["small_token"]  # σ = 1e-3: sqrt(d σ²/(σ²+ε)) against sqrt(d) σ/(σ+ε)
    assert sm["code"] == pytest.approx(math.sqrt(8e-6 / (1e-6 + 1e-5)), rel=1e-3)
    assert sm["comment"] == pytest.approx(math.sqrt(8) * 1e-3 / (1e-3 + 1e-5), rel=1e-3)


def test_16_the_original_block_is_the_identity(r16):
    assert r16["identity_max_diff"] <= 10 * r16["rounding_scale"]
    assert r16["stages_vs_kernel"] < 1e-6  # the lesson's stages are the shared kernel
    uniform = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]
    np.testing.assert_allclose(r16["head_weights"], [uniform, uniform], atol=1e-6)
    assert r16["uniform_causal_max_diff"] < 1e-6


def test_16_beyond(r16):
    assert r16["reference_max_diff"] < 1e-5 * max(1, r16["reference_scale"])
    assert r16["sdpa_max_diff"] < 1e-5
    assert r16["causal_max_diff_before"] == 0.0 and r16["causal_max_diff_after"] > 1e-3
    c = r16["param_counts"]
    d, f = c["d"], c["f"]
    assert c["gelu_mlp"] == 2 * d * f + f + d and c["swiglu_mlp"] == 3 * d * f
    assert c["gpt2_layer"] == 12 * d * d + 13 * d and c["attention"] == 4 * d * d + 4 * d
    assert c["original_block"] - c["original_block_biases"] == 4 * 64 + 3 * 8 * 16 + 4 * 8
    pre, post = r16["residual_norms_prenorm"], r16["residual_norms_postnorm"]
    assert len(pre) == len(post) == 9 and pre[0] == post[0]
    np.testing.assert_allclose(post[1:], math.sqrt(d), rtol=1e-4)  # each post-norm ends in LN
    assert pre[-1] > 2 * pre[0]  # the pre-norm stream grows


def test_16_default_json(run_json, r16):
    env = run_json(L16)  # compiled already by the r16 fixture: only the run is paid again
    assert env["params"] == {"seed": 0, "layers": 8, "d_model": 64, "tokens": 16}
    assert KEYS_16 <= env["results"].keys()
    assert env["results"]["residual_norms_prenorm"] == r16["residual_norms_prenorm"]


def test_16_small_sizes_and_determinism(run_json):
    a = run_json(L16, "--layers", "2", "--d-model", "8", "--tokens", "3", "--seed", "5")
    b = run_json(L16, "--layers", "2", "--d-model", "8", "--tokens", "3", "--seed", "5")
    assert a["results"] == b["results"]
    r = a["results"]
    assert len(r["residual_norms_prenorm"]) == 3 and r["param_counts"]["d"] == 8
    assert r["causal_max_diff_before"] == 0.0 and r["causal_max_diff_after"] > 0


@pytest.mark.parametrize(
    "argv", [["--d-model", "6"], ["--layers", "0"], ["--tokens", "5000"], ["--d-model", "2"]]
)
def test_16_bad_flags(usage_error, argv):
    assert "error: argument" in usage_error(L16, *argv)


def test_16_sentences():
    m = load_lesson(L16)
    assert "is the identity" in m.identity_sentence(1e-7, 2e-7)
    assert "changed X" in m.identity_sentence(1e-3, 2e-7)
    assert "agree" in m.agreement(1e-7, 1e-5) and "DISAGREE" in m.agreement(1e-3, 1e-5)
    assert m.unchanged_phrase(0.0) == "bit for bit unchanged" and "leaks" in m.unchanged_phrase(
        1e-9
    )


def test_16_growth_kind(r16):
    """Doc 0023: norms stop *exponential* growth; the pre-norm stream grows about linearly."""
    m = load_lesson(L16)
    k = np.arange(9.0)
    assert m.growth_kind(8 + 2 * k) == "linear" and m.growth_kind(8 * 1.3**k) == "exponential"
    assert m.growth_kind(8 + 6 * np.sqrt(k)) == "slower" and m.growth_kind([8, 8.1, 8.2]) == "none"
    assert m.growth_kind([8, 16]) == "too short"
    pre = r16["residual_norms_prenorm"]  # 7.99 -> 25.0 over 8 blocks, about +2 per block
    assert m.growth_kind(pre) == "linear"
    assert np.mean(np.diff(pre)) == pytest.approx(2.13, abs=0.01)


def test_16_causality_sides_and_widths(run_json):
    m = load_lesson(L16)
    assert m.causal_sides(0, 1) == (0, 0)  # --tokens 1: nothing to compare
    assert m.causal_sides(1, 2) == (1, 0) and m.causal_sides(8, 16) == (8, 7)
    r = run_json(L16, "--tokens", "1", "--layers", "1", "--d-model", "8")["results"]
    assert r["causal_t"] == 0 and r["causal_tokens"] == 1
    widths = r["llama_widths"]  # the original's 2·d is no Llama-family ratio; 3.5·d is
    assert not m.width_matches(8, 16, widths) and m.width_matches(8, 28, widths)


def test_charts_count_blocks_from_zero():
    chart = display.line_chart({"a": list(range(9))}, width=30, x_label="blocks", x_first=0)
    axis, span = chart.split("\n")[-3:-1]
    assert span[axis.index("└") + 1] == "0" and span.endswith("blocks 8")
    chart = display.line_chart({"a": list(range(9))}, width=30)  # steps count from 1
    axis, span = chart.split("\n")[-3:-1]
    assert span[axis.index("└") + 1] == "1" and span.endswith("step 9")


# --- 18: shape literacy -------------------------------------------------------------------

KEYS_18 = {
    "shapes",
    "split_merge_exact",
    "trap_shape",
    "trap_caught",
    "score_matrix_bytes",
    "gpt2_small_params",
    "kv_bytes_per_token",
}


def test_18_shapes_memory_and_counts(run_json):
    r = run_json(L18)["results"]
    assert KEYS_18 <= r.keys()
    by_name = {s["name"]: s for s in r["shapes"]}
    assert all(s["shape"] == s["expected"] for s in r["shapes"])
    assert by_name["split heads"]["shape"] == [32, 12, 128, 64]
    assert by_name["causal mask"]["shape"] == [32, 12, 128, 128]
    assert by_name["survival rule"]["shape"] == [3, 6] and by_name["scores Q Kᵀ"]["shape"] == [3, 3]
    assert r["split_merge_exact"] and r["head_is_columns"] and r["mask_broadcast_ok"]
    # The per-head scores and the mask over them are in neither the script nor doc 0020.
    m18 = load_lesson(L18)
    assert m18.shape_counts(r["shapes"]) == {"original": 11, "agree": 11, "added": 2,
                                             "added_agree": 2}  # fmt: skip
    assert {s["name"] for s in r["shapes"] if s["source"] == "added"} == {
        "scores per head",
        "causal mask",
    }
    # Plain broadcasting needs no added axes; only rank promotion "raise" refuses the add.
    assert r["mask_rank"]["plain_shape"] == [32, 12, 128, 128]
    assert r["mask_rank"]["add_caught_by_raise"] is True
    assert r["trap_shape"] == [1000, 1000] and r["trap_caught"]
    assert r["score_matrix_bytes"] == 8192 * 8192 * 4 == 256 * 2**20
    m = r["score_memory"]
    assert m["layer"] == 32 * m["one"] == 8 * 2**30 and m["model"] == 256 * 2**30
    assert r["gpt2_small_params"] == 124_439_808 == r["gpt2_small"]["formula"]
    assert r["gpt2_small"]["per_layer"] == 12 * 768**2 + 13 * 768
    assert r["kv_bytes_per_token"] == {"float32": 2 * 12 * 768 * 4, "bfloat16": 2 * 12 * 768 * 2}


def test_18_sentences():
    m = load_lesson(L18)
    assert m.doc_verdict(8.4, 32 * 268_435_456).startswith("neither")
    assert m.doc_verdict(8.0, 32 * 268_435_456) == "right"
    assert m.size(268_435_456) == "268,435,456 B = 268.4 MB = 256.0 MiB"
    assert m.size(2**33) == "8,589,934,592 B = 8.59 GB = 8.00 GiB"


def test_18_judges_each_choice_alone():
    m = load_lesson(L18)
    assert m.shapes_sentence(13, 13).startswith("All 13 shapes come out as expected")
    assert m.shapes_sentence(12, 13).startswith("Only 12 of 13")
    rank = m.MaskRank([32, 12, 128, 128], True, False, [32, 12, 128, 128])
    assert "(32, 12, 128, 128)" in m.mask_rank_sentence(rank)
    assert "though not jnp.where" in m.mask_rank_sentence(rank)
    assert "and jnp.where too" in m.mask_rank_sentence(m.MaskRank([1], True, True, [1]))
    assert "lets that add pass" in m.mask_rank_sentence(m.MaskRank([1], False, False, [1]))
    counts = {"original": 11, "agree": 11, "added": 2, "added_agree": 2}
    assert m.origin_sentence(counts).startswith("11 of the original's 11 shapes")
    assert m.origin_sentence({**counts, "added": 0}).endswith("as it asserts.")
    heads = m.Heads([32, 128, 768], 12, True, True, "float32", True, rank)
    assert m.roundtrip_sentence(heads) == (
        "Split then merge returns (32, 128, 768) (float32) exactly: a reshape and a transpose "
        "move numbers, never change them; head 1 is columns 64…127."
    )
    broken = m.Heads([32, 128, 768], 12, False, False, "float32", False, rank)
    assert "NOT exactly" in m.roundtrip_sentence(broken) and "is NOT columns" in (
        m.roundtrip_sentence(broken)
    )
    assert m.mask_sentence(heads).endswith("matrix is zero above the diagonal.")
    assert m.mask_sentence(broken).endswith("matrix is NOT zero above the diagonal.")
    trap = m.Trap([1000, 1000], True, "Operands could not be broadcast", [[1000], [1000, 1]])
    assert "fails at once: [dim]Operands could not be broadcast" in m.caught_sentence(trap)
    missed = m.Trap([1000, 1000], False, "", [[1000], [1000, 1]])
    assert m.caught_sentence(missed) == 'jax.numpy_rank_promotion("raise") did NOT catch it.'


def test_18_summary_bullets():
    m = load_lesson(L18)
    assert m.shapes_bullet(13, 13, True) == (
        "jax.eval_shape gave all 13 shapes as expected, without a multiply; split heads "
        "then merge gave the array back exactly."
    )
    assert "12 of 13" in m.shapes_bullet(12, 13, False) and "NOT exactly" in m.shapes_bullet(
        12, 13, False
    )
    trap = m.Trap([1000, 1000], True, "Operands could not be broadcast", [[1000], [1000, 1]])
    assert m.trap_bullet(trap) == (
        "Labels (1,000,) + logits (1,000, 1) made (1,000, 1,000) with no error; "
        'jax.numpy_rank_promotion("raise") caught it at once.'
    )
    assert "did NOT catch it" in m.trap_bullet(m.Trap([1000, 1000], False, "", trap.inputs))
    mem, g, kv = m.compute_score_memory({}), m.compute_gpt2_small({}), m.compute_kv_cache({})
    third = m.memory_bullet(mem, g, kv)
    assert third == (
        "One 8,192 × 8,192 float32 score matrix is 256.0 MiB and a layer of 32 heads "
        "8.00 GiB; GPT-2 small has 124,439,808 parameters and caches 73,728 B per token "
        "in float32."
    )


def test_18_original_waits_for_its_flag(run_report, monkeypatch):
    m = load_lesson(L18)
    plain = run_report(L18)
    assert "Doc 0020 says" not in plain and "--original adds" in plain
    # "What you saw" is sections.run's (tests/test_summaries.py, tests/test_sections.py);
    # all 13 shapes as expected: test_18_shapes_memory_and_counts, test_18_judges_each_choice_alone
    args = tiny_sweep.lesson_parser(L18, monkeypatch).parse_args(["--original"])
    section = next(s for s in m.build(args) if s.name == "original")
    assert section.compute.keywords == {"shown": True}
    done = sections.compute_all(m.build(args))
    shown = done["original"]
    check_widths(m.say_original, shown)  # the closing section, as --original prints it
    # doc 0020's "32 × 268 MB = 8,576 MB ≈ 8.4 GB", against the bytes of 32 score matrices
    doc, one = shown.doc, 8192 * 8192 * 4  # one (8,192, 8,192) float32 matrix
    assert (doc.count, doc.mb_per_matrix, doc.total_mb, doc.total_gb) == (32, 268, 8576, 8.4)
    assert doc.count * doc.mb_per_matrix == doc.total_mb and round(one / 1e6) == 268
    assert shown.doc_count_bytes == 32 * one and shown.heads == 32
    assert m.doc_verdict(doc.total_gb, shown.doc_count_bytes) == (
        "neither: the product is 8.59 GB or 8.00 GiB"
    )


def test_16_identity_yardstick_and_doc_0023_verdict():
    m = load_lesson(L16)
    # the default run: max|Z − X| = 5.96e-07 against ε·max|X| = 2.38e-07; the yardstick
    # printed must be the one the verdict used (10 ε·max|X|), not a smaller number
    said = m.identity_sentence(5.96e-07, 2.38e-07)
    assert "10 machine ε · max|X| = 2.38e-06" in said and "is the identity" in said
    assert m.doc_0023_verdict("too short") == "cannot test that"  # --layers 1
    assert m.doc_0023_verdict("linear") == "agrees"
    assert m.doc_0023_verdict("exponential") == "disagrees"


IDENTITY_16 = dict(identity_max_diff=5.96e-07, rounding_scale=2.38e-07, stages_vs_kernel=0.0,
                   ln_row_sum_max=8.9e-07, qkv_max=2.4e-07, attn_max=5.7e-07, mlp_max=1.7e-14,
                   uniform_causal_max_diff=9.9e-09, dtype="float32")  # fmt: skip
RANDOM_16 = dict(reference_max_diff=1.53e-06, reference_scale=5.0, reference_tol=5e-05,
                 sdpa_max_diff=0.0, sdpa_tol=1e-05, causal_t=8, causal_tokens=16,
                 causal_max_diff_before=0.0, causal_max_diff_after=1.26,
                 dtype="float32")  # fmt: skip


def test_16_identity_bullet():
    m = load_lesson(L16)
    assert m.is_identity(2.38e-06, 2.38e-07) and not m.is_identity(2.4e-06, 2.38e-07)
    said = m.identity_bullet(m.Identity(**IDENTITY_16))
    assert "is the identity" in said and "5.96e-07" in said and "2.38e-06" in said
    said = m.identity_bullet(m.Identity(**{**IDENTITY_16, "identity_max_diff": 1e-3}))
    assert "changed X by up to 0.001" in said and "identity" not in said


def test_16_checks_bullet():
    m = load_lesson(L16)
    said = m.checks_bullet(m.RandomBlock(**RANDOM_16))
    assert said.count("matched") == 2 and "NOT" not in said and "1.53e-06" in said
    assert "changing token 8 left every output before it unchanged" in said
    said = m.checks_bullet(m.RandomBlock(**{**RANDOM_16, "reference_max_diff": 1e-3}))
    assert "did NOT match a float64" in said and "attention matched" in said
    said = m.checks_bullet(m.RandomBlock(**{**RANDOM_16, "sdpa_max_diff": 1e-3}))
    assert "did NOT match jax.nn" in said
    said = m.checks_bullet(m.RandomBlock(**{**RANDOM_16, "causal_max_diff_before": 1e-9}))
    assert "the mask leaks" in said
    one = {**RANDOM_16, "causal_t": 0, "causal_tokens": 1, "causal_max_diff_after": 0.0}
    assert "needs two tokens" in m.checks_bullet(m.RandomBlock(**one))


def test_16_growth_bullet_and_summary():
    m = load_lesson(L16)
    k = np.arange(5.0)
    linear = m.Stack((8 + 2 * k).tolist(), [8.0] * 5, 8.0, 12)
    said = m.growth_bullet(linear)
    assert "Over 4 blocks" in said and "from 8 to 16" in said and "about linearly" in said
    assert "8.000 after every block (√d = 8.000)" in said
    assert "exponentially" in m.growth_bullet(m.Stack((8 * 1.3**k).tolist(), [8.0] * 5, 8.0, 12))
    assert "did not grow" in m.growth_bullet(m.Stack([8.0] * 5, [8.0] * 5, 8.0, 12))
    done = {"identity": m.Identity(**IDENTITY_16), "random_block": m.RandomBlock(**RANDOM_16),
            "stack": linear}  # fmt: skip
    bullets = m.summary(done)
    assert len(bullets) == 3 and "identity" in bullets[0] and "Over 4 blocks" in bullets[2]


def test_16_original_waits_for_its_flag_and_fits(r16, monkeypatch):
    m = load_lesson(L16)
    pre, post = r16["residual_norms_prenorm"], r16["residual_norms_postnorm"]
    original = m.compute_original({"stack": m.Stack(pre, post, r16["sqrt_d"], 12)})
    assert original.norms_comment_formula == r16["norms_comment_formula"]
    assert original.growth == "linear" and m.doc_0023_verdict(original.growth) == "agrees"
    check_widths(m.say_original, original)  # the closing section at 80 and 40 columns
    # The flag picks what the last section says, and its title: sections.run prints a
    # section's title as a rule (tests/test_sections.py), and "What you saw" after it.
    parser = tiny_sweep.lesson_parser(L16, monkeypatch)
    for flag, say, title in ((["--original"], m.say_original, "Beside the original"),
                             ([], m.say_original_hint, "")):  # fmt: skip
        last = m.build(parser.parse_args(flag))[-1]
        assert (last.name, last.say, last.title) == ("original", say, title)


# Last in the file: the programs the tests above compiled are reused.
@pytest.mark.parametrize("action", tiny_sweep.flags("15_autoregressive_lm"), ids=tiny_sweep.flag_id)
def test_15_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("15_autoregressive_lm", action, capsys, request)


@pytest.mark.parametrize("action", tiny_sweep.flags("16_transformer_block"), ids=tiny_sweep.flag_id)
def test_16_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("16_transformer_block", action, capsys, request)
