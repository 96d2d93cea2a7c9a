import math

import pytest


def test_dot_product_results(run_json):
    env = run_json("04_dot_product")
    r = env["results"]
    assert env["lesson"] == "04_dot_product"
    assert r["up_right"] == pytest.approx(0.0, abs=1e-7)
    assert r["up_diagonal"] == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert r["up_up"] == pytest.approx(1.0, rel=1e-6)
    assert r["angles_deg"]["up_right"] == pytest.approx(90.0, abs=1e-4)
    assert r["angles_deg"]["up_diagonal"] == pytest.approx(45.0, abs=1e-4)
    assert r["angles_deg"]["up_up"] == pytest.approx(0.0, abs=0.1)
    assert r["zero_vector_similarity"] == 0.0
    assert r["zero_vector_normalized"] == [0.0, 0.0]
    assert r["batched_matches"] is True


def test_dot_product_report_reads_from_results(capsys):
    from conftest import load_lesson

    load_lesson("04_dot_product").main([])
    out = capsys.readouterr().out
    assert out.splitlines()[1].count("Lesson 04") == 1  # the title, under a rule
    # its numbers are the results' (0.7071 and 45.0° above); its last line is test_catalogue's


def test_dot_product_rejects_unknown_flag(usage_error):
    assert "unrecognized arguments: --size" in usage_error("04_dot_product", "--size", "3")


def test_dot_product_judges():
    from conftest import load_lesson

    lesson = load_lesson("04_dot_product")
    assert lesson.zero_bullet(0.0).startswith("The zero vector scored 0.0, not NaN")
    assert lesson.zero_bullet(math.nan).startswith("The zero vector scored NaN")
    assert [lesson.match_word(m) for m in (True, False)] == ["matches", "does NOT match"]
    assert [lesson.match_word(m, past=True) for m in (True, False)] == [
        "matched",
        "did NOT match",
    ]


def test_dot_product_json_keeps_the_contract_keys(run_json):
    r = run_json("04_dot_product")["results"]
    assert list(r) == [
        "up_right",
        "up_diagonal",
        "up_up",
        "angles_deg",
        "zero_vector_similarity",
        "zero_vector_normalized",
        "batched",
        "batched_matches",
    ]
