"""--mine: a lesson run with the learner's practice/ functions in place of the package's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import LESSONS

from trinity_foundations import practice

# A wrong cosine similarity: the dot product, never normalised.
UNNORMALISED = """
import jax.numpy as jnp


def cosine_similarity(a, b):
    return jnp.sum(a * b, axis=-1)


def normalize(x):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-10)
"""


def run_04(practice_dir, *flags):
    env = {**os.environ, "TRINITY_PRACTICE_DIR": str(practice_dir), "JAX_PLATFORMS": "cpu"}
    script = str(LESSONS / "04_dot_product.py")
    return subprocess.run(
        [sys.executable, script, "--mine", *flags], capture_output=True, text=True, env=env
    )


def test_the_swappable_exercises_are_kernels_with_the_stubs_parameters():
    assert [e.name for e in practice.swappable("04")] == ["cosine_similarity", "normalize"]
    assert [e.name for e in practice.swappable("06")] == ["softmax"]
    assert practice.swappable("12") == []  # its exercises are not kernels the lesson runs


def test_the_learners_code_drives_the_lesson(tmp_path):
    (tmp_path / "04_dot_product.py").write_text(UNNORMALISED)
    out = run_04(tmp_path, "--json")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert results["up_diagonal"] == 1.0  # (0, 1)·(1, 1), not the cosine 0.7071


def test_an_unfinished_exercise_is_named_in_one_line(tmp_path):
    (tmp_path / "04_dot_product.py").write_text(
        (LESSONS.parent / "practice" / "04_dot_product.py").read_text()
    )
    out = run_04(tmp_path)
    assert out.returncode == 2 and not out.stdout
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "--mine: not done yet: cosine_similarity in practice/04_dot_product.py "
            "still raises NotImplementedError"
        )
    )
