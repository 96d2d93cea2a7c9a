"""Run the flagship lesson exactly as a user does: a fresh Python, the repo as cwd."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def key_line(out: str, start: str) -> str:
    """The one line of `out` that starts with `start`."""
    (line,) = [line for line in out.splitlines() if line.startswith(start)]
    return line


def numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", line)]


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
    assert "Traceback" not in done.stderr and "nan" not in out.lower()
    # the key lines, read as numbers: the backend, the accuracy inside its interval, the best
    assert key_line(out, "JAX ").split(" · ")[1] == "backend: cpu"
    accuracy = numbers(key_line(out, "Validation accuracy:"))[0]
    low, high = numbers(key_line(out, "Wilson 95 % interval:"))[1:3]
    assert 99.0 <= accuracy <= 100.0 and low <= accuracy <= high
    assert numbers(key_line(out, "Best possible:"))[0] == 99.77
    assert out.rstrip().splitlines()[-1] == "Next: make run LESSON=06"
