"""Shared test set-up: strict broadcasting, and running lessons in-process."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
from pathlib import Path

import jax
import pytest

# Silent rank promotion hides shape bugs ((N,) + (N, 1) is an (N, N) matrix).
jax.config.update("jax_numpy_rank_promotion", "raise")
# Implicit dtype promotion hides precision bugs (a float64 constant widening float32 work).
jax.config.update("jax_numpy_dtype_promotion", "strict")

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"


@functools.cache
def load_lesson(name: str):
    """Import lessons/<name>.py as a module (names may start with a digit)."""
    path = LESSONS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lesson_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_json(capsys):
    """run_json(name, *argv) -> the parsed JSON envelope of `main([*argv, '--json'])`."""

    def run(name: str, *argv: str) -> dict:
        capsys.readouterr()
        load_lesson(name).main([*argv, "--json"])
        out = capsys.readouterr().out
        return json.loads(out)  # fails unless stdout is exactly one JSON object

    return run


@pytest.fixture
def run_report(capsys, monkeypatch):
    """run_report(name, *argv, columns=1000) -> the rendered report of `main(argv)`,
    plain text at a fixed width (wide by default: one line per sentence)."""

    def run(name: str, *argv: str, columns: int = 1000) -> str:
        monkeypatch.setenv("COLUMNS", str(columns))
        capsys.readouterr()
        load_lesson(name).main(list(argv))
        return capsys.readouterr().out

    return run


@pytest.fixture
def usage_error(capsys):
    """usage_error(name, *argv) -> argparse's one-line reason for rejecting argv."""

    def run(name: str, *argv: str) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            load_lesson(name).main(list(argv))
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "error:" in err[-1]
        return err[-1]

    return run


@contextlib.contextmanager
def compilations():
    """Collect the names of the functions XLA compiles inside the block.

    Reads jax.monitoring's backend-compile event (a public API), so a test can
    say "the second call compiled nothing" without jit's private cache size.
    """
    names: list[str] = []

    def listener(event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            names.append(kwargs.get("fun_name", "?"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
