import argparse
import json

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT

from trinity_foundations import cli


@pytest.mark.parametrize("fn, text, value", [
    (cli.positive_int, "3", 3),
    (cli.nonnegative_int, "0", 0),
    (cli.positive_float, "0.5", 0.5),
    (cli.open_unit_float, "0.05", 0.05),
    (cli.seed_int, "0", 0), (cli.seed_int, str(2**32 - 1), 2**32 - 1),
    (cli.positive_float_at_most(100.0), "100", 100.0),
])
def test_argument_types_accept(fn, text, value):
    assert fn(text) == value


@pytest.mark.parametrize("fn, text", [
    (cli.positive_int, "0"), (cli.positive_int, "-1"), (cli.positive_int, "1.5"),
    (cli.nonnegative_int, "-2"), (cli.positive_float, "0"), (cli.positive_float, "nan"),
    (cli.positive_float, "inf"), (cli.open_unit_float, "1"), (cli.open_unit_float, "x"),
    (cli.seed_int, "-1"), (cli.seed_int, str(2**32)), (cli.seed_int, str(10**30)),
    (cli.positive_float_at_most(100.0), "100.5"), (cli.positive_float_at_most(100.0), "0"),
])
def test_argument_types_reject(fn, text):
    with pytest.raises(argparse.ArgumentTypeError):
        fn(text)


def test_bad_flag_is_a_one_line_usage_error(capsys):
    p = cli.parser("doc", seed=0)
    p.add_argument("--size", type=cli.positive_int, default=1)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--size", "-1"])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --size: must be a positive integer, got -1" in last


def test_to_jsonable_arrays_and_non_finite():
    data = {"a": jnp.arange(3.0), "b": np.float32(1.5), "c": (1, float("nan")),
            "d": [np.eye(2)]}
    out = cli.to_jsonable(data)
    assert out == {"a": [0.0, 1.0, 2.0], "b": 1.5, "c": [1, None],
                   "d": [[[1.0, 0.0], [0.0, 1.0]]]}
    json.dumps(out, allow_nan=False)


def test_envelope_keys():
    env = cli.envelope("x", {"seed": 1}, {"r": jnp.ones(2)})
    assert set(env) == {"lesson", "backend", "device", "params", "results"}
    assert env["backend"] in {"cpu", "gpu", "tpu"}
    assert env["results"] == {"r": [1.0, 1.0]}


@pytest.mark.parametrize("lesson", sorted(p.stem for p in (ROOT / "lessons").glob("*.py")))
def test_every_lesson_rejects_a_seed_jax_cannot_hold(usage_error, lesson):
    assert "argument --seed: must be from 0 to 4294967295" in usage_error(lesson, "--seed",
                                                                         str(2**64))
