"""The command line every lesson shares: flags, the backend header, JSON output.

A lesson builds its parser with `parser(__doc__, seed=...)`, adds its own size
flags with the argument types below (so bad values end in argparse's one-line
usage error, exit 2), computes its results, and hands them to `finish`, which
either prints the rich report or exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import inspect
import json
import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from trinity_foundations import catalogue, display

# ----------------------------------------------------------------------------
# Argument types: each raises ArgumentTypeError, which argparse turns into
# "usage: ... error: argument --size: ..." and exit status 2.


def _number(text: str, kind: type) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
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


def int_in(lo: int, hi: int, why: str = "") -> Callable[[str], int]:
    """The type of a whole number from `lo` to `hi`; `why` says what sets the upper limit."""

    def parse(text: str) -> int:
        value = _number(text, int)
        if not lo <= value <= hi:
            reason = f" ({why})" if why else ""
            raise argparse.ArgumentTypeError(
                f"must be from {lo:,} to {hi:,}{reason}, got {value:,}"
            )
        return value

    return parse


def float_in(lo: float, hi: float, why: str = "") -> Callable[[str], float]:
    """The type of a finite number from `lo` to `hi` (both included)."""

    def parse(text: str) -> float:
        value = _number(text, float)
        if not lo <= value <= hi:
            reason = f" ({why})" if why else ""
            raise argparse.ArgumentTypeError(
                f"must be from {lo:g} to {hi:g}{reason}, got {value:g}"
            )
        return value

    return parse


SEEDS = 2**32  # JAX keys keep 32 bits of a seed (without x64): 2**32 repeats seed 0


def seed_int(text: str) -> int:
    value = _number(text, int)
    if not 0 <= value < SEEDS:
        raise argparse.ArgumentTypeError(f"must be from 0 to {SEEDS - 1}, got {value}")
    return value


def parser(doc: str | None, *, seed: int | None) -> argparse.ArgumentParser:
    """The parser with the shared flags; `doc` is the lesson's module docstring.

    `seed` is the lesson's default seed, or None for a lesson that draws no
    random numbers: it still accepts --seed (every lesson does) and says in
    --help that the value changes nothing.
    """
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if seed is None:
        help_ = "accepted for uniformity and ignored: this lesson draws no random numbers"
    else:
        help_ = "seed of every random key, 0 to 2**32-1 (default: %(default)s)"
    p.add_argument("--seed", type=seed_int, default=0 if seed is None else seed, help=help_)
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with params and results, nothing else",
    )
    p.add_argument(
        "--show-code",
        action="store_true",
        help="print the source of the jitted kernels this lesson ran",
    )
    return p


# ----------------------------------------------------------------------------
# Memory: a size flag is bounded by what the machine can hold.

GIB = 2**30


def available_bytes() -> int:
    """Memory a lesson can still allocate on the default device.

    On an accelerator, the device's limit less what is in use; on the CPU, the
    kernel's MemAvailable (free memory plus caches it can drop).
    """
    stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def require_memory(p: argparse.ArgumentParser, need: float, what: str, *, share: float = 0.5):
    """Exit with a usage error unless `need` bytes fit in `share` of the available memory.

    `what` names the flags that set the size, e.g. "--size 10**9 (three float32 arrays)".
    Half the available memory by default: JAX's temporaries and the Python
    process need room beside the arrays a lesson counts.
    """
    have = available_bytes()
    if need > share * have:
        p.error(
            f"{what} needs about {need / GIB:.3g} GiB; this machine has "
            f"{have / GIB:.3g} GiB available, and a lesson uses at most {share:.0%} of it"
        )


# ----------------------------------------------------------------------------
# Output.


def device_info() -> tuple[str, str]:
    """(backend, device kind) of the default device, e.g. ('gpu', 'NVIDIA H100')."""
    device = jax.devices()[0]
    return jax.default_backend(), device.device_kind


NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}  # and NaN -> "NaN"


def to_jsonable(x: Any) -> Any:
    """Plain Python data: arrays become nested lists; the non-finite floats, which
    JSON has no numbers for, become the strings "Infinity", "-Infinity" and "NaN"
    (the names Python's float() reads back)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: to_jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (jax.Array, np.ndarray, np.generic)):
        return to_jsonable(np.asarray(x).tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else NON_FINITE[x]
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


def title_line(doc: str | None, lesson: str) -> str:
    """The report's title: the docstring's first line, and where the file stands
    in the curriculum ("05_linear_probe · lesson 2.1")."""
    title = (doc or lesson).strip().splitlines()[0]
    where = catalogue.entry(lesson)
    return f"{title}  [dim]({lesson}.py · lesson {where.group})[/]" if where else title


def header(console, title: str) -> None:
    backend, device = device_info()
    console.rule(f"[bold]{title}")
    dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    console.print(
        f"[dim]JAX {jax.__version__} · backend: {backend} · device: {device} · "
        f"default float: {dtype}[/]\n"
    )


def show_code(console, kernels: Iterable[Callable]) -> None:
    from rich.syntax import Syntax

    console.rule("[bold]The kernels behind these numbers")
    for fn in kernels:
        source = inspect.getsource(inspect.unwrap(fn))
        console.print(
            Syntax(source, "python", theme="ansi_dark", background_color="default", word_wrap=True)
        )


def next_lesson(lesson_file: str) -> str | None:
    """The first lesson after this file in the catalogue whose script exists beside it."""
    folder, stem = Path(lesson_file).resolve().parent, Path(lesson_file).stem
    while (stem := catalogue.next_after(stem)) is not None:
        if (folder / f"{stem}.py").exists():
            return stem
    return None


def finish(
    args: argparse.Namespace,
    lesson_file: str,
    results: Any,
    report: Callable[[Any, Any], None],
    *,
    title: str | None,
    kernels: Iterable[Callable] = (),
) -> None:
    """Print the report (or the JSON envelope) of a finished run.

    `title` is the lesson's docstring (its first line is the title).
    """
    lesson = Path(lesson_file).stem
    if args.json:
        params = {k: v for k, v in vars(args).items() if k not in ("json", "show_code")}
        print(json.dumps(envelope(lesson, params, results), allow_nan=False))
        return
    console = display.console()
    header(console, title_line(title, lesson))
    report(results, console)
    if args.show_code:
        show_code(console, kernels)
    following = next_lesson(lesson_file)
    if following:
        console.print(f"\n[bold]Next:[/] python lessons/{following}.py")
    else:
        console.print(
            "\n[bold]This was the last lesson.[/] The theory behind each one is in notes/; "
            "the measured speed story (lists, NumPy, eager JAX, jax.jit) runs with `make bench`."
        )


# ----------------------------------------------------------------------------
# The way out: one line, never a traceback.


def backend_problem(error: BaseException) -> str:
    """One line for a JAX backend that cannot start: what was asked, why not, the fallback."""
    asked = os.environ.get("JAX_PLATFORMS") or "the default"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    reason = reason.split(" (set JAX_PLATFORMS")[0][:120]
    if reason == "AssertionError":  # what jax 0.10 raises when no plugin serves the platform
        reason = "no installed plugin or device serves it"
    return (
        f"error: JAX cannot start backend {asked!r} here ({reason}); "
        "run with JAX_PLATFORMS=cpu to use the CPU"
    )


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the exit's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


WRITE_ERRORS = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG}


def entry(main: Callable[[], Any]) -> None:
    """Run a script's main() and turn the ways it can be stopped into one line.

    Ctrl-C ends with "interrupted" and exit 130 (128 + SIGINT, as a shell
    does); a reader that closed the pipe (`| head`) ends the run quietly, exit
    141 (128 + SIGPIPE); a failed write (a full disk, /dev/full) and a backend
    that cannot start say so in one line, exit 1 and 2.
    """
    try:
        try:
            jax.devices()
        except Exception as error:  # a missing plugin fails with RuntimeError or AssertionError
            print(backend_problem(error), file=sys.stderr)
            sys.exit(2)
        main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        _quiet_stdout()
        print("\ninterrupted", file=sys.stderr, flush=True)
        # Leave at once: a normal exit would tear the interpreter down while
        # XLA's threads may still run, which can end in a C++ abort.
        os._exit(130)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(141)
    except OSError as error:
        if error.errno not in WRITE_ERRORS:
            raise
        _quiet_stdout()
        print(f"error: could not write the output: {error.strerror}", file=sys.stderr)
        sys.exit(1)
