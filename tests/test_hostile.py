"""Lessons stopped the ways a terminal stops them: each ends in one line, never a traceback.

These run lessons as a user does, in a fresh Python with the repository as cwd.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}
QUICK = "lessons/04_dot_product.py"


def start(script: str, *argv: str, env=ENV, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, script, *argv],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_closed_pipe_ends_quietly():
    proc = start(QUICK, "--json", stdout=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first write, as after `| head -c 0`
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == "", (proc.returncode, err)


def test_a_full_disk_is_one_line():
    with open("/dev/full", "w") as full:
        proc = start(QUICK, "--json", stdout=full)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert one_line(err) == "error: could not write the output: No space left on device"


@pytest.mark.parametrize("platform", ["bogus", "cuda"])
def test_a_missing_backend_is_one_line_with_the_fallback(platform):
    proc = start(QUICK, env={**ENV, "JAX_PLATFORMS": platform}, stdout=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and out == ""
    line = one_line(err)
    assert line.startswith(f"error: JAX cannot start backend '{platform}'")
    assert "JAX_PLATFORMS=cpu" in line


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


def test_ctrl_c_during_a_run_is_one_line_and_exit_130():
    proc = start("lessons/11_rosenbrock_es.py", stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while threads(proc.pid) < 4 and time.monotonic() < deadline:  # JAX's pools are up
        time.sleep(0.05)
    time.sleep(1.0)  # inside the run, not its imports
    if proc.poll() is not None:
        pytest.skip("the lesson finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert one_line(err) == "interrupted"


def test_make_run_with_json_prints_exactly_one_json_object():
    # As typed in a terminal: when the suite itself runs under `make test`, the
    # inherited MAKELEVEL would make this make print "Entering directory".
    terminal = {k: v for k, v in ENV.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(
        ["make", "run", "LESSON=04_dot_product", "ARGS=--json"],
        cwd=ROOT,
        env=terminal,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lesson"] == "04_dot_product"
