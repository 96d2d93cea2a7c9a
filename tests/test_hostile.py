"""Lessons stopped the ways a terminal stops them: each ends in one line, never a traceback.

These run lessons as a user does, in a fresh Python with the repository as cwd.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import jax
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


@pytest.mark.parametrize("mode", [["--json"], []])  # print(), and rich's console
def test_a_closed_pipe_ends_quietly(mode):
    proc = start(QUICK, *mode, stdout=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first write, as after `| head -c 0`
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == "", (proc.returncode, err)


def test_a_full_disk_is_one_line():
    with open("/dev/full", "w") as full:
        proc = start(QUICK, "--json", stdout=full)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert one_line(err) == "error: could not write the output: No space left on device"


def test_a_receipt_on_a_full_disk_is_one_line_and_exit_1():
    proc = start("lessons/14_mini_trinity.py", "--json", "--receipt", "/dev/full")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert one_line(err).endswith("No space left on device: /dev/full")


def test_ctrl_c_while_jax_loads_is_one_line_and_exit_130():
    # a KeyboardInterrupt in the imports was a traceback, or was swallowed by a
    # garbage-collection callback of JAX and the lesson went on to exit 0. Python's
    # -X importtime reports each import as it ends: Ctrl-C comes as soon as the
    # lesson's guard is in place, while JAX (its next import) is still loading.
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", QUICK], cwd=ROOT, env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in proc.stderr:
        if line.rstrip().endswith("| trinity_foundations.signals"):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=60)
    err = "\n".join(line for line in err.splitlines() if not line.startswith("import time:"))
    assert proc.returncode == 130 and one_line(err) == "interrupted" and out == ""


def test_a_value_the_lesson_checks_itself_ends_before_the_title():
    """--d-model 30 parses, then lesson 16 refuses it (not a multiple of 4 heads): the
    usage error comes alone, not under the lesson's title and introduction."""
    proc = start("lessons/16_transformer_block.py", "--d-model", "30", stdout=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and out == ""
    assert err.strip().splitlines()[-1].endswith("must be a multiple of 4, got 30")


@pytest.mark.parametrize("platform", ["bogus", "cuda"])
def test_a_missing_backend_is_one_line_with_the_fallback(platform):
    if platform == "cuda" and jax.default_backend() == "gpu":
        pytest.skip("CUDA starts on this machine")
    proc = start(QUICK, env={**ENV, "JAX_PLATFORMS": platform}, stdout=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and out == ""
    line = one_line(err)
    assert line.startswith(f"error: JAX cannot start backend '{platform}'")
    assert "JAX_PLATFORMS=cpu" in line


def read_until(stream, marker: str, timeout: float) -> str | None:
    """What `stream` carried after a line `marker`, read from its file descriptor (a
    buffered readline could hold the marker where select cannot see it); None if the
    stream ended or the deadline passed first."""
    deadline, seen = time.monotonic() + timeout, b""
    fd, wanted = stream.fileno(), f"{marker}\n".encode()
    while select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        seen += chunk
        if seen.startswith(wanted) or b"\n" + wanted in seen:
            return seen.split(wanted, 1)[1].decode()
    return None


# Lesson 11 as its `__main__` runs it (cli.entry(main)), with one addition: its first
# section's compute first prints "ready" on stdout and waits, so the test signals inside
# the run, not its imports, however fast the run (its programs may come from a cache).
READY_11 = """
import importlib.util
import sys
import time
from trinity_foundations import cli
spec = importlib.util.spec_from_file_location("lesson_11", "lessons/11_rosenbrock_es.py")
lesson = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = lesson  # as an import would: its dataclasses look it up
spec.loader.exec_module(lesson)
inner = lesson.compute_two_d
def compute_two_d(*args, **kwargs):
    print("ready", flush=True)
    time.sleep(60)
    return inner(*args, **kwargs)
lesson.compute_two_d = compute_two_d
cli.entry(lesson.main)
"""


@pytest.mark.parametrize(
    "signum, code, line", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_ctrl_c_or_sigterm_during_a_run_is_one_line(signum, code, line):
    # SIGTERM raises like Ctrl-C, so the same `finally` blocks clean up (lesson 22's
    # check processes and temporary folder, a checkpoint's .npz.tmp)
    proc = start("-c", READY_11, stdout=subprocess.PIPE)
    try:
        after = read_until(proc.stdout, "ready", 120)
        assert after is not None, "the lesson never began its run"
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert one_line(err) == line
    assert after + out == ""  # stopped before its report


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
