"""Lesson 17: tokens, embeddings and positions — the contract's numbers and decisions."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
import tiny_sweep
from conftest import ROOT, load_lesson

from trinity_foundations import tokenizers as tk

NAME = "17_tokenization_embeddings"
KEYS = {
    "word_ids",
    "swap_diff_no_pos",
    "swap_diff_pos",
    "swap_diff_interleaved",
    "untouched_diff_no_pos",
    "untouched_diff_pos",
    "constant_table_diff",
    "bpe_example_ids",
    "bpe_first_merges",
    "bpe_tokens_by_merges",
    "bpe_round_trip",
    "rotation_max_diff",
    "rope_offset_max_diff",
    "absent_row_grad_max",
    "absent_row_adamw_move",
}


@pytest.fixture
def lesson():
    return load_lesson(NAME)


def test_default_run_meets_the_contract(run_json):
    env = run_json(NAME)
    r = env["results"]
    assert KEYS <= r.keys()
    assert env["params"]["merges"] == 512
    eps = r["eps"]
    assert r["dtype"] == "float32" and eps == np.finfo(np.float32).eps
    # Part A.
    assert r["word_ids"] == [1, 2, 3, 4, 16, 5]
    assert r["table_shape"] == [20, 6]
    assert r["swap_diff_no_pos"] < 1e3 * eps and r["untouched_diff_no_pos"] < 1e3 * eps
    assert r["constant_table_diff"] < 1e3 * eps
    for key in ("swap_diff_pos", "swap_diff_interleaved", "untouched_diff_pos"):
        assert r[key] > 1e-2, key
    assert r["swap_diff_pos"] != pytest.approx(r["swap_diff_interleaved"], rel=1e-3)
    assert r["onehot_max_diff"] == 0.0
    assert r["original_pos_vs_raw"] > r["swap_diff_pos"]
    # BPE on Macbeth.
    assert r["bpe_example_ids"] == [258, 100, 258, 97, 99]
    assert r["bpe_merges_done"] == 512
    tokens = r["bpe_tokens_by_merges"]
    assert len(tokens) == 513 and tokens[0] == r["bpe_corpus_bytes"] == 103_427
    assert all(a > b for a, b in zip(tokens, tokens[1:]))
    assert tokens[-1] == r["bpe_encoded_tokens"]
    assert r["bpe_round_trip"] == {"corpus": True, "non_ascii": True}
    first = r["bpe_first_merges"]
    assert first[0]["id"] == 256 and first[0]["text"] == "e " and first[0]["count"] == 2527
    assert [m["count"] for m in first] == sorted((m["count"] for m in first), reverse=True)
    assert "".join(r["bpe_sentence_tokens"]) == r["bpe_sentence"]
    assert r["bpe_recount_check"]["same"] is True
    # Closed forms.
    assert r["rotation_max_diff"] < 1e2 * eps
    assert r["rope_offset_max_diff"] < 1e3 * eps * r["rope_score_scale"]
    assert r["additive_offset_max_diff"] > 1e-2
    assert r["absent_row_grad_max"] == 0.0 and r["present_row_grad_min"] > 0
    assert r["absent_row_adamw_move"] == pytest.approx(r["absent_row_adamw_predicted"], rel=1e-3)
    assert r["absent_row_adamw_move"] > 0 and r["absent_row_adam_move"] == 0.0
    assert r["momentum_move"] > 0
    assert r["tied_zero_rows"] == 0 and r["tied_absent_row_grad_min"] > 0


def test_rope_scores_by_offset_repeat_at_another_start(run_json):
    r = run_json(NAME, "--merges", "0")["results"]
    at0, at50 = r["rope_by_offset"]["scores"]
    np.testing.assert_allclose(at0, at50, atol=1e-4)
    assert r["bpe_merges_done"] == 0 and r["bpe_first_merges"] == []
    assert r["bpe_tokens_by_merges"] == [103_427]
    assert r["bpe_round_trip"]["corpus"] is True


def test_float64_gives_exact_equivariance(run_json):
    with jax.enable_x64(True):
        r = run_json(NAME, "--merges", "2")["results"]
    assert r["dtype"] == "float64"
    assert r["swap_diff_no_pos"] < 1e-12 and r["constant_table_diff"] < 1e-12
    assert r["swap_diff_pos"] > 1e-2
    assert r["rotation_max_diff"] < 1e-12


def test_same_seed_same_numbers_other_seed_other_draws(run_json):
    a = run_json(NAME, "--merges", "5", "--seed", "3")["results"]
    b = run_json(NAME, "--merges", "5", "--seed", "3")["results"]
    c = run_json(NAME, "--merges", "5", "--seed", "4")["results"]
    assert a == b
    assert a["rope_by_offset"] != c["rope_by_offset"]
    assert a["swap_diff_pos"] == c["swap_diff_pos"]  # Part A draws nothing


def test_bpe_part_matches_the_tokenizer_module(lesson):
    r = lesson.compute_bpe({}, merges=30)
    data = (ROOT / "data" / "macbeth.txt").read_bytes()
    merges = tk.train(data, 30)
    assert list(r.tokens_by_merges[1:]) == [m.length for m in merges]
    assert [m.pair for m in r.first_merges] == [m.pair for m in merges[:12]]


def test_report_key_lines(run_report, lesson):
    # Its word ids are test_default_run_meets_the_contract's, its Next line
    # tests/test_catalogue.py's; here the BPE example it prints, and the merges it hides.
    r = lesson.compute_bpe({}, merges=20)
    assert r.example_ids == (258, 100, 258, 97, 99)
    assert r.merges_done == 20 and len(r.first_merges) == 12
    out = run_report(NAME, "--merges", "20")
    assert "… 8 more" in out  # the table of 12 merges, then how many it left out


@pytest.mark.parametrize("value", ["-1", "8193", "1e18", "abc"])
def test_bad_merges_is_a_usage_error(usage_error, value):
    assert "--merges" in usage_error(NAME, "--merges", value)


def test_json_is_one_object(capsys, lesson):
    lesson.main(["--merges", "1", "--json"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out)["lesson"] == NAME


# ----------------------------------------------------------------------------
# The sentence choices.


def test_zero_or_rounding(lesson):
    eps = float(np.finfo(np.float32).eps)
    assert lesson.zero_or_rounding(0.0, eps, "float32") == "exactly 0 in float32"
    assert "rounding error of float32" in lesson.zero_or_rounding(1.5e-8, eps, "float32")
    assert "not exactly 0" in lesson.zero_or_rounding(1.5e-8, eps, "float32")
    assert "real difference" in lesson.zero_or_rounding(0.2, eps, "float32")
    # A larger scale allows a larger rounding error.
    assert "rounding" in lesson.zero_or_rounding(1e-3, eps, "float32", scale=100.0)


def test_symmetry_verdict(lesson):
    eps = float(np.finfo(np.float32).eps)
    assert "cannot tell" in lesson.symmetry_verdict(1e-8, eps)
    assert "tells the two orders apart" in lesson.symmetry_verdict(0.2, eps)


def test_original_figure_sentence(lesson):
    mostly = lesson.original_figure_sentence(12.8, 12.6, 0.23)
    assert "it measures the positions, not the swap" in mostly and "0.2300" in mostly
    assert "98%" in mostly
    mixed = lesson.original_figure_sentence(1.0, 0.1, 0.9)
    assert "mixes" in mixed
    assert "mixes" in lesson.original_figure_sentence(0.0, 0.0, 0.0)


def test_doc_0022_cases(lesson, run_json):
    """One Adam step without decay moves absent rows by 0; decay, momentum and a tied
    output move them (a tied output gives every row a gradient)."""
    r = run_json(NAME, "--merges", "0")["results"]
    cases = lesson.doc_0022_cases(
        r["absent_row_grad_max"],
        r["absent_row_adam_move"],
        r["absent_row_adamw_move"],
        r["momentum_move"],
        r["tied_absent_zero_rows"],
        r["absent_rows"],
    )
    assert len(cases["held"]) == 2 and len(cases["failed"]) == 3  # SGD, one Adam step | the rest
    assert r["absent_rows"] == 15 and r["absent_row_adam_move"] == 0.0
    none_moved = lesson.doc_0022_cases(0.0, 0.0, 0.0, 0.0, 15, 15)
    assert none_moved["failed"] == [] and len(none_moved["held"]) == 5


def test_causal_mask_alone_breaks_the_swap_symmetry(run_json, lesson):
    """The original's head is bidirectional; with the causal mask of 15–16 and no
    positions the moved token changes (0.0163 in float64), the others do not."""
    r = run_json(NAME, "--merges", "0")["results"]
    assert r["swap_diff_causal_no_pos"] == pytest.approx(0.016284, abs=1e-5)
    assert r["untouched_diff_causal_no_pos"] < 1e3 * r["eps"]
    # No position of the loss's head reads its target: changing later inputs leaves it alone.
    x = jax.random.normal(jax.random.key(0), (5, 6))
    w = lesson.projections(6)
    y = x.at[3:].set(0.0)
    assert np.array_equal(lesson.causal_head(x, **w)[:3], lesson.causal_head(y, **w)[:3])


def test_layouts_sentence(lesson):
    eps = float(np.finfo(np.float32).eps)
    assert lesson.layouts_sentence(0.23, 0.14, eps) == (
        "The two layouts give different numbers and the same property."
    )
    assert "a different verdict" in lesson.layouts_sentence(0.23, 1e-9, eps)


def test_moved_with_token(lesson):
    eps = float(np.finfo(np.float32).eps)
    assert lesson.moved_with_token(1.5e-8, eps) and not lesson.moved_with_token(0.0163, eps)


def test_order_bullet(lesson):
    eps = float(np.finfo(np.float32).eps)
    plain = lesson.order_bullet(("cat", "sat"), 1.5e-8, 0.231, 0.139, 0.0163, eps)
    assert "only swapped their outputs" in plain and "1.5e-08" in plain
    assert "0.231" in plain and "0.139" in plain and "0.0163" in plain
    odd = lesson.order_bullet(("cat", "sat"), 0.2, 0.231, 1e-9, 0.0163, eps)
    assert "only swapped" not in odd and "0.2 without positions" in odd


def test_bpe_bullet(lesson):
    done = lesson.bpe_bullet(512, 103_427, 42_613, True)
    assert "512 BPE merges" in done and "42,613 tokens" in done and "2.43 bytes" in done
    assert "every byte back" in done
    assert "1 BPE merge took" in lesson.bpe_bullet(1, 100, 90, True)
    none = lesson.bpe_bullet(0, 103_427, 103_427, True)
    assert "With no merges" in none and "103,427" in none
    assert "did NOT give it back" in lesson.bpe_bullet(5, 100, 90, False)


def test_rows_bullet(lesson):
    usual = lesson.rows_bullet(15, 0.0, 8.89e-5, 0)
    assert "15 rows" in usual and "exactly zero gradient" in usual
    assert "8.89e-05" in usual and "every one of them got a gradient" in usual
    other = lesson.rows_bullet(15, 0.01, 0.0, 3)
    assert "up to 0.01" in other and "left them in place" in other and "3 of them" in other


def test_summary_and_original_section(lesson, monkeypatch):
    from conftest import check_widths

    from trinity_foundations import sections

    parser = tiny_sweep.lesson_parser(NAME, monkeypatch)
    done = sections.compute_all(lesson.build(parser.parse_args(["--merges", "0"])))
    bullets = lesson.summary(done)
    assert len(bullets) == 3 and "With no merges" in bullets[1]
    r = done["original"]
    assert r.failed and "0.2312" in lesson.original_figure_sentence(
        r.figure, r.positions_effect, r.meaningful
    )
    assert lesson.doc_0022_verdict({"held": list(r.held), "failed": list(r.failed)}) == (
        "Doc 0022 says rows absent from the batch are not updated. It holds for plain SGD "
        "(their gradient is exactly 0 with an untied output) and one Adam step without decay; "
        "not with AdamW's weight decay, Adam's momentum from an earlier batch or a tied output "
        "(every row gets a gradient)."
    )
    check_widths(lesson.say_original, r)  # the closing section, as --original prints it
    # The flag picks what the last section says, and its title: sections.run prints each
    # section's title as a rule, then "What you saw" (tests/test_sections.py).
    for flag, say, title in ((["--original"], lesson.say_original, "Beside the original"),
                             ([], lesson.say_original_hint, "")):  # fmt: skip
        built = lesson.build(parser.parse_args(["--merges", "0", *flag]))
        assert [s.name for s in built][-2:] == ["gradients", "original"]
        assert (built[-1].say, built[-1].title) == (say, title)


# Last in the file: the programs the tests above compiled are reused.
@pytest.mark.parametrize(
    "action", tiny_sweep.flags("17_tokenization_embeddings"), ids=tiny_sweep.flag_id
)
def test_17_tiny_values_are_refused_cleanly_or_run(action, capsys, request):
    tiny_sweep.check_tiny("17_tokenization_embeddings", action, capsys, request)
