import argparse
import ast
import json
import os
import subprocess
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT
from rich.text import Text

from trinity_foundations import catalogue, cli, signals


@pytest.mark.parametrize(
    "fn, text, value",
    [
        (cli.positive_int, "3", 3),
        (cli.nonnegative_int, "0", 0),
        (cli.positive_float, "0.5", 0.5),
        (cli.open_unit_float, "0.05", 0.05),
        (cli.seed_int, "0", 0),
        (cli.seed_int, str(2**32 - 1), 2**32 - 1),
        (cli.positive_float_at_most(100.0), "100", 100.0),
        (cli.multiple_in(4, 4, 64), "12", 12),
    ],
)
def test_argument_types_accept(fn, text, value):
    assert fn(text) == value


@pytest.mark.parametrize(
    "fn, text",
    [
        (cli.positive_int, "0"),
        (cli.positive_int, "-1"),
        (cli.positive_int, "1.5"),
        (cli.nonnegative_int, "-2"),
        (cli.positive_float, "0"),
        (cli.positive_float, "nan"),
        (cli.positive_float, "inf"),
        (cli.open_unit_float, "1"),
        (cli.open_unit_float, "x"),
        (cli.seed_int, "-1"),
        (cli.seed_int, str(2**32)),
        (cli.seed_int, str(10**30)),
        (cli.positive_float_at_most(100.0), "100.5"),
        (cli.positive_float_at_most(100.0), "0"),
        (cli.multiple_in(4, 4, 64), "10"),
        (cli.multiple_in(4, 4, 64), "68"),
    ],
)
def test_argument_types_reject(fn, text):
    with pytest.raises(argparse.ArgumentTypeError):
        fn(text)


def test_an_int_flag_states_its_range_and_default_and_refuses_past_it():
    parser = argparse.ArgumentParser()
    cli.int_flag(parser, "--length", 64, 4096, 1024, "memory", "sequence length")
    assert parser.parse_args([]).length == 1024
    assert "sequence length, 64 to 4,096 (default: 1024)" in parser.format_help()
    with pytest.raises(argparse.ArgumentTypeError, match="memory"):
        parser._option_string_actions["--length"].type("8192")


def test_bad_flag_is_a_one_line_usage_error(capsys):
    p = cli.parser("doc", seed=0)
    p.add_argument("--size", type=cli.positive_int, default=1)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--size", "-1"])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --size: must be a positive integer, got -1" in last


def test_to_jsonable_arrays_and_non_finite():
    data = {"a": jnp.arange(3.0), "b": np.float32(1.5), "c": (1, float("nan")), "d": [np.eye(2)]}
    out = cli.to_jsonable(data)
    assert out == {"a": [0.0, 1.0, 2.0], "b": 1.5, "c": [1, "NaN"], "d": [[[1.0, 0.0], [0.0, 1.0]]]}
    json.dumps(out, allow_nan=False)


def test_non_finite_values_stay_distinguishable_and_read_back_with_float():
    out = cli.to_jsonable([np.inf, -np.inf, np.nan, np.array([1.0, np.inf])])
    assert out == ["Infinity", "-Infinity", "NaN", [1.0, "Infinity"]]
    assert [float(v) for v in out[:2]] == [np.inf, -np.inf] and np.isnan(float(out[2]))


def test_int_in_and_float_in_bound_both_ends(capsys):
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=cli.int_in(1, 10, "a stated cap"))
    p.add_argument("--x", type=cli.float_in(0.5, 2.0))
    assert p.parse_args(["--n", "10", "--x", "0.5"]).n == 10
    for argv in (["--n", "11"], ["--n", "0"], ["--x", "2.5"], ["--x", "nan"], ["--n", "1e3"]):
        with pytest.raises(SystemExit) as e:
            p.parse_args(argv)
        assert e.value.code == 2
    assert "must be from 1 to 10 (a stated cap), got 11" in capsys.readouterr().err


def test_require_memory_refuses_what_does_not_fit(capsys):
    p = argparse.ArgumentParser()
    cli.require_memory(p, 1024, "--size 1")  # a kilobyte always fits
    with pytest.raises(SystemExit) as e:
        cli.require_memory(p, 2**70, "--size 10**20")
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--size 10**20 needs about" in last and "GiB available" in last


def test_title_line_names_the_chapter():
    assert cli.title_line("Lesson 05 — probe\nmore", "05_linear_probe") == (
        "Lesson 05 — probe  [dim](chapter 2)[/]"
    )
    assert cli.title_line(None, "not_in_catalogue") == "not_in_catalogue"


@pytest.mark.parametrize(
    "entry", [e for e in catalogue.LESSONS if (ROOT / "lessons" / f"{e.stem}.py").exists()]
)
def test_every_title_says_the_file_number_and_fits_80_columns(entry):
    doc = ast.get_docstring(ast.parse((ROOT / "lessons" / f"{entry.stem}.py").read_text()))
    line = Text.from_markup(cli.title_line(doc, entry.stem)).plain
    assert line.startswith(f"Lesson {entry.stem.split('_')[0]} — "), line
    assert line.endswith(f"(chapter {entry.chapter})") and len(line) <= 80, line


def test_backend_problem_is_one_line_with_the_fallback():
    line = cli.backend_problem(RuntimeError("Unable to initialize backend 'cuda': no GPU"))
    assert line.startswith("error:") and "JAX_PLATFORMS=cpu" in line and "\n" not in line
    assert "no GPU" in line
    assert "no installed plugin" in cli.backend_problem(AssertionError())


def test_envelope_keys():
    env = cli.envelope("x", {"seed": 1}, {"r": jnp.ones(2)})
    assert set(env) == {"lesson", "backend", "device", "params", "results"}
    assert env["backend"] in {"cpu", "gpu", "tpu"}
    assert env["results"] == {"r": [1.0, 1.0]}


@pytest.mark.parametrize("lesson", sorted(p.stem for p in (ROOT / "lessons").glob("*.py")))
def test_every_lesson_rejects_a_seed_jax_cannot_hold(usage_error, lesson):
    assert "argument --seed: must be from 0 to 4294967295" in usage_error(
        lesson, "--seed", str(2**64)
    )


def test_next_lesson_skips_scripts_not_written_yet(tmp_path):
    for stem in ("14_mini_trinity", "16_transformer_block"):
        (tmp_path / f"{stem}.py").write_text("")
    assert cli.next_lesson(str(tmp_path / "14_mini_trinity.py")) == "16_transformer_block"
    assert cli.next_lesson(str(tmp_path / "16_transformer_block.py")) is None
    assert cli.next_lesson(str(ROOT / "lessons" / "01_list_math.py")) == "02_tensor_math"


def test_the_tightest_memory_limit_counts(monkeypatch):
    # ulimit -v and a container's cgroup are limits the machine's MemAvailable ignores
    assert cli.tightest(8 * cli.GIB, None, 2 * cli.GIB) == 2 * cli.GIB
    assert cli.tightest(8 * cli.GIB, None, None) == 8 * cli.GIB
    assert cli._status_kib("VmSize:\t  1024 kB\nVmRSS: 5 kB\n", "VmSize") == 1024 * 1024
    assert cli._number_in("max\n") is None and cli._number_in("4096\n") == 4096
    monkeypatch.setattr(cli, "address_space_room", lambda: 3 * cli.GIB)
    assert cli.host_bytes() <= 3 * cli.GIB


def test_an_allocation_that_fails_is_recognised():
    xla = RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 8589934592 bytes.")
    assert cli.out_of_memory(xla) and cli.out_of_memory(MemoryError())
    assert not cli.out_of_memory(ValueError("shapes differ"))
    line = cli.memory_sentence(xla)
    assert "\n" not in line and "8589934592 bytes" in line and "smaller" in line


@pytest.mark.parametrize(
    "main_file, guarded",
    [
        ("/x/lessons/05_linear_probe.py", True),
        ("/x/benchmarks/bpe.py", True),
        ("/usr/bin/pytest", False),
        (None, False),
    ],
)
def test_only_a_lesson_or_benchmark_exits_at_once_on_ctrl_c_while_loading(main_file, guarded):
    from trinity_foundations import signals

    assert signals.run_as_script(main_file) is guarded


def test_every_script_imports_the_signal_guard_before_anything_else():
    # Ctrl-C while JAX loads: a traceback, or swallowed and exit 0, unless this comes first
    import ast

    scripts = sorted((ROOT / "lessons").glob("*.py"))
    scripts += [p for p in (ROOT / "benchmarks").glob("*.py") if "cli.entry(" in p.read_text()]
    for path in scripts:
        body = ast.parse(path.read_text()).body
        imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
        first = [
            i for i in imports if not (isinstance(i, ast.ImportFrom) and i.module == "__future__")
        ]
        assert isinstance(first[0], ast.Import), path.name
        assert first[0].names[0].name == "trinity_foundations.signals", path.name


def test_a_ctrl_c_swallowed_by_a_callback_is_delivered_again():
    # what garbage collection does with an exception from one of its callbacks
    swallowed = types.SimpleNamespace(exc_value=KeyboardInterrupt(), exc_type=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        signals.deliver_again(swallowed)
        for _ in range(10**7):  # the main thread meets the pending Ctrl-C at once
            pass


def _defaults(env: dict, first: str = "trinity_foundations") -> list[str]:
    """The matmul precision and XLA_FLAGS a fresh process sees after importing the package."""
    code = (
        f"import {first}, jax, trinity_foundations, os; "
        "print(jax.config.jax_default_matmul_precision); print(os.environ['XLA_FLAGS'])"
    )
    env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}  # None: unset
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.splitlines()


def test_float32_matmuls_and_deterministic_kernels_unless_the_user_says_otherwise():
    """A GPU's TF32 moved float32 results by 1e-3 and its atomics changed a seed's last
    digits; the package's defaults are set before JAX starts, and a user's value wins."""
    plain = {"JAX_PLATFORMS": "cpu", "JAX_DEFAULT_MATMUL_PRECISION": None, "XLA_FLAGS": None}
    assert _defaults(plain) == ["highest", "--xla_gpu_deterministic_ops=true"]
    assert _defaults(plain, first="jax")[0] == "highest"  # JAX imported before the package
    mine = {**plain, "JAX_DEFAULT_MATMUL_PRECISION": "tensorfloat32"}
    assert _defaults(mine)[0] == "tensorfloat32"
    flags = {**plain, "XLA_FLAGS": "--xla_gpu_deterministic_ops=false"}
    assert _defaults(flags)[1] == "--xla_gpu_deterministic_ops=false"
