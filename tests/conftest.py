"""Shared test set-up: strict broadcasting, and running lessons in-process."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import jax
import pytest

from trinity_foundations import catalogue, checkpoints, cli, display, language, macbeth, sections
from trinity_foundations.transformer import GPTConfig, init_gpt

# The learner's progress record goes to a folder of the test run's own, for this
# process and every lesson it starts, never to the user's cache.
os.environ["TRINITY_PROGRESS"] = str(Path(tempfile.mkdtemp(prefix="trinity-test-")) / "done.json")

# One compilation cache for the suite, kept in the checkout between runs: a run is
# mostly XLA compiling (about 3,000 programs), and a later run reads back every program
# whose code, shapes, options and JAX version are unchanged (they make each entry's key),
# so an edit recompiles only what it touched. The first process (pytest itself) sets it
# up; the xdist workers and every lesson a test starts inherit it through the
# environment, so within one run, too, a program is compiled once.
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "jax-tests"  # ignored by git; `make clean` removes it
CACHE_LIMIT = 512 * 2**20  # bytes: past this it starts afresh (a full run writes ~32 MB)
UNFINISHED = "run-in-progress"  # a file in the cache while a run that writes to it goes on


def prepare_cache(folder: Path, limit: int) -> None:
    """Make `folder` ready for a run that writes to it, and mark the run as going on.

    It starts afresh when the last run did not end (a process killed mid-write may
    have left a partial entry) or has outgrown `limit` bytes; an empty entry (a lesson
    a test interrupted between opening an entry and writing it) is removed, so that it
    is written again instead of failing to load at every run.
    """
    entries = [f for f in folder.glob("*") if f.is_file()]
    if (folder / UNFINISHED).exists() or sum(f.stat().st_size for f in entries) > limit:
        shutil.rmtree(folder, ignore_errors=True)
        entries = []
    for f in entries:
        if f.stat().st_size == 0:
            f.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / UNFINISHED).touch()


CACHE_OWNER = "TRINITY_TEST_JAX_CACHE" not in os.environ
if CACHE_OWNER:
    prepare_cache(CACHE, CACHE_LIMIT)
    os.environ["TRINITY_TEST_JAX_CACHE"] = str(CACHE)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(CACHE)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
# On the CPU the suite asks XLA for quick compiles rather than fast code: it is mostly
# compiling small programs that then run once. LLVM does not optimise, and fusions go
# through XLA's older emitter (which a newer XLA may no longer know: it is asked first).
# A cold `make test` on a 2-core CPU took 383 s of pytest before, 243 s without LLVM's
# optimisation, 186 s with both. The programs compute the same operations; float32
# results may round differently in the last bits. A user's own XLA_FLAGS win, and a
# GPU's programs are left as they are.
QUICK_COMPILE = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")


def xla_accepts(flags: str) -> bool:
    """Whether a fresh JAX starts with these XLA_FLAGS (XLA ends a process on an unknown
    flag, so the question goes to a child process)."""
    probe = [sys.executable, "-c", "import jax; jax.numpy.zeros(1).block_until_ready()"]
    env = {**os.environ, "XLA_FLAGS": flags}
    try:
        return subprocess.run(probe, env=env, capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def quick_compile_flags(flags: str) -> str:
    """flags with QUICK_COMPILE added, those this XLA accepts, unless the user set either."""
    if any(f.split("=")[0] in flags for f in QUICK_COMPILE):
        return flags
    optimise, emitters = QUICK_COMPILE
    flags = f"{flags} {optimise}".strip()  # known to every XLA the project supports
    return f"{flags} {emitters}" if xla_accepts(f"{flags} {emitters}") else flags


if CACHE_OWNER and os.environ.get("JAX_PLATFORMS") == "cpu":
    os.environ["XLA_FLAGS"] = quick_compile_flags(os.environ.get("XLA_FLAGS", ""))
jax.config.update("jax_compilation_cache_dir", os.environ["TRINITY_TEST_JAX_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

# Silent rank promotion hides shape bugs ((N,) + (N, 1) is an (N, N) matrix).
jax.config.update("jax_numpy_rank_promotion", "raise")
# Implicit dtype promotion hides precision bugs (a float64 constant widening float32 work).
jax.config.update("jax_numpy_dtype_promotion", "strict")

LESSONS = ROOT / "lessons"


@functools.cache
def load_lesson(name: str):
    """Import lessons/<name>.py as a module (names may start with a digit)."""
    path = LESSONS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lesson_{name}", path)
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: a dataclass under
    # `from __future__ import annotations` looks its module up by name.
    sys.modules[spec.name] = module
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
        return usage_line(capsys.readouterr().err)

    return run


def usage_line(err: str) -> str:
    """The last line of `err`, checked to be argparse's one-line usage error, no traceback."""
    lines = err.strip().splitlines()
    assert lines and "error:" in lines[-1] and "Traceback" not in err, err
    return lines[-1]


# A new program is compiled by XLA, or read from the run's compilation cache (above).
PROGRAM_EVENTS = (
    "/jax/core/compile/backend_compile_duration",
    "/jax/compilation_cache/cache_retrieval_time_sec",
)


def pytest_sessionfinish(session, exitstatus):
    """The run ended (its tests passed or failed, or there were none): every write is whole."""
    ended = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)
    if CACHE_OWNER and exitstatus in ended:
        (CACHE / UNFINISHED).unlink(missing_ok=True)


@contextlib.contextmanager
def compilations():
    """Collect the names of the functions XLA compiles inside the block.

    Reads jax.monitoring's events (a public API) for a program compiled by XLA or
    read from the run's compilation cache, so a test can say "the second call
    compiled nothing" without jit's private cache size.
    """
    names: list[str] = []

    def listener(event: str, duration: float, **kwargs) -> None:
        if event in PROGRAM_EVENTS:
            names.append(kwargs.get("fun_name", "?"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


# One tiny GPT for the whole suite: lesson 19's model over its text at these sizes.
# Tests that run lessons 19-22 pass these flags, so a program one test compiles
# (same shapes, same static arguments) is reused by the next instead of compiled again.
TINY_GPT_SIZES = {"d_model": 16, "layers": 1, "heads": 2, "context": 16}
TINY_GPT_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_GPT_SIZES.items()]
# Lessons 19 and 20 as every test runs them (a sweep's flag comes after and wins).
TINY_19 = [*TINY_GPT_FLAGS, *"--steps 8 --batch 4 --sample-length 24 --warmup 2 --lr 0.01".split()]
TINY_20 = ["--length", "30", "--draws", "4000"]


class TinyGPT(NamedTuple):
    model: GPTConfig
    params: dict  # initialised with jax.random.key(0)
    vocab: language.Vocab
    text: str  # lesson 19's training text


@pytest.fixture(scope="session")
def tiny_gpt() -> TinyGPT:
    """Lesson 19's GPT at TINY_GPT_SIZES over lesson 19's text, initialised, built once."""
    text = macbeth.read_text()
    vocab = language.build_vocab(text)
    model = macbeth.model_config(vocab.size, *TINY_GPT_SIZES.values())
    return TinyGPT(model, init_gpt(jax.random.key(0), model), vocab, text)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_gpt, tmp_path_factory) -> Path:
    """tiny_gpt saved as lesson 19's --save saves a model, for lesson 20's --checkpoint:
    lesson 20 runs on it at once instead of training lesson 19's default model."""
    path = tmp_path_factory.mktemp("tiny_gpt") / "tiny.npz"
    config = {
        "model": tiny_gpt.model._asdict(),
        "vocab": tiny_gpt.vocab.chars,
        "data_sha256": macbeth.data_digest(tiny_gpt.text),
        "seed": 0,
        "step": 0,  # initialised, not trained
    }
    checkpoints.save_checkpoint(path, tiny_gpt.params, config)
    return path


# ----------------------------------------------------------------------------
# Every lesson on a narrow terminal: the first time a test runs a lesson, its
# report is rendered again at 1000, 80 and 40 columns and checked (whatever
# test ran it fails if the check does). At 80 columns nothing may be cut (an
# ellipsis rich adds to make a cell fit); at 40 no digit may be lost (a table
# stacked to fit may repeat its headers, so more digits are fine).

CHECKED: set[str] = set()


def render(say, results, width: int) -> str:
    """`say(results, console)` as plain text at `width` columns."""
    console = display.LessonConsole(
        width=width, file=io.StringIO(), color_system=None, highlight=False
    )
    say(results, console)
    return console.file.getvalue()


def check_widths(say, results) -> None:
    wide, at_80, at_40 = (render(say, results, w) for w in (1000, 80, 40))
    digits = [Counter(ch for ch in text if ch.isdigit()) for text in (wide, at_80, at_40)]
    assert at_80.count("…") == wide.count("…"), "rich cut a cell to fit 80 columns"
    assert not digits[0] - digits[1], "digits lost at 80 columns"
    assert not digits[0] - digits[2], "digits lost at 40 columns"
    assert max((len(line) for line in at_40.splitlines()), default=0) <= 40


def first_run(lesson_file: str) -> bool:
    """Whether this is the first run of a catalogue lesson in this process (and mark it)."""
    stem = Path(lesson_file).stem
    if stem in CHECKED or stem not in catalogue.STEMS:
        return False
    CHECKED.add(stem)
    return True


def _checking(finish):
    @functools.wraps(finish)
    def check(args, lesson_file, results, report, **kwargs):
        if first_run(lesson_file):
            check_widths(report, results)
        return finish(args, lesson_file, results, report, **kwargs)

    return check


def _checking_sections(run):
    @functools.wraps(run)
    def check(args, lesson_file, doc, sections_, **kwargs):
        done = run(args, lesson_file, doc, sections_, **kwargs)
        if first_run(lesson_file):

            def say_all(results, console):
                for section in sections_:
                    section.say(results[section.name], console)

            check_widths(say_all, done)
        return done

    return check


cli.finish = _checking(cli.finish)
sections.run = _checking_sections(sections.run)
