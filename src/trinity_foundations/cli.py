"""The command line every lesson shares: flags, the backend header, JSON output.

A lesson builds its parser with `parser(__doc__, seed=...)`, adds its own size
flags with the argument types below (so bad values end in argparse's one-line
usage error, exit 2), computes its results, and hands them to `finish`, which
either prints the rich report or exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable

import jax
import numpy as np

from trinity_foundations import display

# ----------------------------------------------------------------------------
# Argument types: each raises ArgumentTypeError, which argparse turns into
# "usage: ... error: argument --size: ..." and exit status 2.


def _number(text: str, kind: type) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def positive_float_at_most(limit: float, why: str = "") -> Callable[[str], float]:
    """The type of a positive number no larger than `limit`; `why` is said after the limit."""
    def parse(text: str) -> float:
        value = positive_float(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit:.4g}{why}, got {value:g}")
        return value
    return parse


def open_unit_float(text: str) -> float:
    """A number strictly between 0 and 1 (a probability, a threshold ε)."""
    value = _number(text, float)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return value


SEEDS = 2**32  # JAX keys keep 32 bits of a seed (without x64): 2**32 repeats seed 0


def seed_int(text: str) -> int:
    value = _number(text, int)
    if not 0 <= value < SEEDS:
        raise argparse.ArgumentTypeError(f"must be from 0 to {SEEDS - 1}, got {value}")
    return value


def parser(doc: str | None, *, seed: int) -> argparse.ArgumentParser:
    """The parser with the shared flags; `doc` is the lesson's module docstring."""
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seed", type=seed_int, default=seed,
                   help="seed of every random key (default: %(default)s)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with params and results, nothing else")
    p.add_argument("--show-code", action="store_true",
                   help="print the source of the jitted kernels this lesson ran")
    return p


# ----------------------------------------------------------------------------
# Output.


def device_info() -> tuple[str, str]:
    """(backend, device kind) of the default device, e.g. ('gpu', 'NVIDIA H100')."""
    device = jax.devices()[0]
    return jax.default_backend(), device.device_kind


def to_jsonable(x: Any) -> Any:
    """Plain Python data: arrays become nested lists, non-finite floats None."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: to_jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (jax.Array, np.ndarray, np.generic)):
        return to_jsonable(np.asarray(x).tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def envelope(lesson: str, params: dict, results: Any) -> dict:
    backend, device = device_info()
    return {
        "lesson": lesson,
        "backend": backend,
        "device": device,
        "params": to_jsonable(params),
        "results": to_jsonable(results),
    }


def header(console, title: str) -> None:
    backend, device = device_info()
    console.rule(f"[bold]{title}")
    console.print(f"[dim]JAX {jax.__version__} · backend: {backend} · device: {device}[/]\n")


def show_code(console, kernels: Iterable[Callable]) -> None:
    from rich.syntax import Syntax

    console.rule("[bold]The kernels behind these numbers")
    for fn in kernels:
        source = inspect.getsource(inspect.unwrap(fn))
        console.print(Syntax(source, "python", theme="ansi_dark", background_color="default",
                             word_wrap=True))


def finish(
    args: argparse.Namespace,
    lesson_file: str,
    results: Any,
    report: Callable[[Any, Any], None],
    *,
    kernels: Iterable[Callable] = (),
    next_lesson: str | None = None,
) -> None:
    """Print the report (or the JSON envelope) of a finished run."""
    lesson = Path(lesson_file).stem
    if args.json:
        params = {k: v for k, v in vars(args).items() if k not in ("json", "show_code")}
        print(json.dumps(envelope(lesson, params, results), allow_nan=False))
        return
    console = display.console()
    title = (report.__globals__.get("__doc__") or lesson).strip().splitlines()[0]
    header(console, title)
    report(results, console)
    if args.show_code:
        show_code(console, kernels)
    if next_lesson:
        console.print(f"\n[bold]Next:[/] python lessons/{next_lesson}.py")
