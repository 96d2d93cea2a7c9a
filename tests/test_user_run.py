"""Run the flagship lesson exactly as a user does: a fresh Python, the repo as cwd."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_linear_probe_runs_as_a_script():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "lessons/05_linear_probe.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "backend: cpu" in out
    assert "Validation accuracy: 99." in out
    assert "Wilson 95 % interval: [" in out
    assert "Best possible: 99.77 %" in out
    assert "Traceback" not in done.stderr and "nan" not in out.lower()
    assert out.rstrip().splitlines()[-1] == "Next: python lessons/06_self_attention.py"
