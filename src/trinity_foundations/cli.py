"""The command line every lesson shares: flags, the backend header, JSON output.

A lesson builds its parser with `parser(__doc__, seed=...)`, adds its own size
flags with the argument types below (so bad values end in argparse's one-line
usage error, exit 2), computes its results, and hands them to `finish`, which
either prints the rich report or exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import inspect
import json
import math
import os
import resource
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.markup import escape

from trinity_foundations import catalogue, display, progress, signals

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


def multiple_in(step: int, lo: int, hi: int, why: str = "") -> Callable[[str], int]:
    """The type of a whole number from `lo` to `hi` that is a multiple of `step`."""
    parse = int_in(lo, hi, why)

    def check(text: str) -> int:
        value = parse(text)
        if value % step:
            raise argparse.ArgumentTypeError(f"must be a multiple of {step}, got {value:,}")
        return value

    return check


def int_flag(parser, name: str, lo: int, hi: int, default: int, why: str, what: str) -> None:
    """Add a whole-number flag from `lo` to `hi`, its range and default in its help."""
    parser.add_argument(
        name,
        type=int_in(lo, hi, why),
        default=default,
        help=f"{what}, {lo:,} to {hi:,} (default: %(default)s)",
    )


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


class LessonParser(argparse.ArgumentParser):
    """argparse's parser, which also swaps in the learner's kernels under --mine.

    The lesson's title and introduction are printed by sections.run, after the
    lesson's own checks of its flags: a bad value ends in argparse's one line
    alone, not under a title.
    """

    lesson = ""  # the stem of the lesson that built the parser
    namespace: dict = {}  # that lesson's globals, where --mine swaps its kernels

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        parsed.swapped = self.use_mine() if getattr(parsed, "mine", False) else []
        return parsed

    def use_mine(self) -> list[str]:
        """The learner's exercises swapped in, or argparse's one-line error saying why not."""
        from trinity_foundations import practice

        try:
            swapped = practice.use_mine(self.lesson, self.namespace)
        except (practice.NotDone, practice.Failed) as e:
            self.error(f"--mine: {str(e).splitlines()[0]}")
        if not swapped:
            self.error(
                f"--mine: none of {self.lesson}'s exercises is a kernel the lesson runs; "
                f"check them with: make practice LESSON={catalogue.short(self.lesson)}"
            )
        return swapped


def intro(doc: str | None) -> str:
    """The docstring's first paragraph after the title line: what the learner will see."""
    paragraphs = (doc or "").strip().split("\n\n")
    return " ".join(paragraphs[1].split()) if len(paragraphs) > 1 else ""


def begin(doc: str, lesson: str, swapped: Sequence[str] = ()) -> None:
    """Print a lesson's title line, its introduction and the kernels --mine swapped in."""
    console = display.console()
    header(console, title_line(doc, lesson))
    if intro(doc):
        console.print(intro(doc) + "\n")
    if swapped:
        console.print(
            f"[bold]--mine:[/] your {', '.join(swapped)} from practice/{lesson}.py run in "
            "this lesson, in place of the package's.\n"
        )


def parser(doc: str | None, *, seed: int | None, original: bool = False) -> argparse.ArgumentParser:
    """The parser with the shared flags; `doc` is the lesson's module docstring.

    `seed` is the lesson's default seed, or None for a lesson that draws no
    random numbers: it still accepts --seed (every lesson does) and says in
    --help that the value changes nothing. `original`: the lesson has a
    closing section on what the Nx original computed differently, shown
    with --original.
    """
    p = LessonParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    caller = inspect.currentframe().f_back  # the lesson's module: its file names the lesson
    p.lesson = Path(caller.f_globals.get("__file__") or "lesson").stem
    p.namespace = caller.f_globals
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
    if p.lesson in catalogue.STEMS:
        p.add_argument(
            "--mine",
            action="store_true",
            help="run with your practice/ functions in place of the package's kernels",
        )
    if original:
        p.add_argument(
            "--original",
            action="store_true",
            help="end with what the Nx original computed differently, beside this run",
        )
    return p


# ----------------------------------------------------------------------------
# Memory: a size flag is bounded by what the machine can hold.

GIB = 2**30


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _status_kib(text: str | None, field: str) -> int | None:
    """A 'Field:   123 kB' line of /proc/meminfo or /proc/self/status, in bytes."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(":")
        if name == field and value.split() and value.split()[0].isdigit():
            return int(value.split()[0]) * 1024
    return None


def _number_in(text: str | None) -> int | None:
    """The integer a cgroup file holds, or None for 'max', a missing file or junk."""
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def cgroup_room() -> int | None:
    """Bytes this process's cgroup (v2, or v1) still lets it use, or None without a limit."""
    v2, v1 = "", ""  # the process's group under each hierarchy, from /proc/self/cgroup
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        _, controllers, path = line.strip().split(":", 2) if line.count(":") >= 2 else ("", "", "")
        path = "" if path == "/" else path
        if controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    folders = dict.fromkeys(("/sys/fs/cgroup" + v2, "/sys/fs/cgroup"))
    pairs = [(f"{f}/memory.max", f"{f}/memory.current") for f in folders]
    pairs += [
        (f"{f}/memory.limit_in_bytes", f"{f}/memory.usage_in_bytes")
        for f in dict.fromkeys(("/sys/fs/cgroup/memory" + v1, "/sys/fs/cgroup/memory"))
    ]
    for limit_file, used_file in pairs:
        limit = _number_in(_read(limit_file))
        if limit is not None and limit < 2**60:  # v1 writes 'no limit' as a huge number
            return max(0, limit - (_number_in(_read(used_file)) or 0))
    return None


def address_space_room() -> int | None:
    """Bytes of address space `ulimit -v` (RLIMIT_AS) still leaves this process, or None.

    The limit counts every mapping, not only memory in use: JAX's threads
    and libraries already take gigabytes of it, and a new array needs more.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    used = _status_kib(_read("/proc/self/status"), "VmSize") or 0
    return max(0, soft - used)


def tightest(*rooms: int | None) -> int:
    """The smallest of the limits that apply (None: that limit does not apply)."""
    return min(r for r in rooms if r is not None)


def available_bytes() -> int:
    """Memory a lesson can still allocate on the default device.

    On an accelerator, the device's limit less what is in use; on the CPU,
    the least of the kernel's MemAvailable (free memory plus caches it can
    drop), the room left in this process's cgroup, and the address space
    left under `ulimit -v`: a container or a limit smaller than the machine
    is what the lesson actually gets.
    """
    stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return host_bytes()


def host_bytes() -> int:
    """Memory this process can still allocate on the host (see available_bytes)."""
    free = _status_kib(_read("/proc/meminfo"), "MemAvailable")
    if free is None:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return tightest(free, cgroup_room(), address_space_room())


def require_memory(p: argparse.ArgumentParser, need: float, what: str, *, share: float = 0.5):
    """Exit with a usage error unless `need` bytes fit in `share` of the available memory.

    `what` names the flags that set the size, e.g. "--size 10**9 (three float32 arrays)".
    Half the available memory by default: JAX's temporaries and the Python
    process need room beside the arrays a lesson counts.
    """
    have = available_bytes()
    if need > share * have:
        p.error(
            f"{what} needs about {need / GIB:.3g} GiB; this process has {have / GIB:.3g} GiB "
            f"available (free memory, cgroup, ulimit -v), and a lesson uses at most {share:.0%} "
            "of it"
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


def run_params(args: argparse.Namespace) -> dict:
    """The flags that shaped a run's numbers: not how it was shown (--json, --show-code,
    --original), and --mine only when it was given (it swaps in the learner's code)."""
    shown = ("json", "show_code", "original", "swapped", "opened")
    return {k: v for k, v in vars(args).items() if k not in shown and (k != "mine" or v)}


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
    """The report's title: the docstring's first line ("Lesson 05 — a linear
    probe ...") and the chapter the lesson belongs to ("(chapter 2)")."""
    title = (doc or lesson).strip().splitlines()[0]
    where = catalogue.entry(lesson)
    return f"{title}  [dim](chapter {where.chapter})[/]" if where else title


def header(console, title: str) -> None:
    backend, device = device_info()
    console.rule()
    console.print(f"[bold]{title}")  # wrapped, never cut, on a narrow terminal
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


@contextlib.contextmanager
def working(args: argparse.Namespace, doing: str):
    """A transient status line on stderr while a long phase runs ("training 200 steps…"),
    on a terminal only: nothing on a pipe or under --json."""
    err = display.LessonConsole(stderr=True)
    if not doing or getattr(args, "json", False) or not err.is_terminal:
        yield
        return
    with err.status(escape(doing)):
        yield


def try_line(lesson: str) -> str:
    """The lesson's exercises and how to check them, and, where the lesson runs some of
    them as its own kernels, how to run it with the learner's ("" outside the catalogue)."""
    if lesson not in catalogue.STEMS:
        return ""
    from trinity_foundations import practice

    short = catalogue.short(lesson)
    said = f"write {', '.join(practice.names(lesson))} in practice/{lesson}.py; "
    said += f"make practice LESSON={short} checks them"
    if practice.swappable(lesson):
        said += f", and make run LESSON={short} ARGS=--mine runs this lesson with yours"
    return said + "."


def what_you_saw(console, lines: Sequence[str]) -> None:
    """The closing bullets: what the run showed, each sentence computed from its results."""
    console.rule("[bold]What you saw")
    for line in lines:
        console.print(f"• {line}")


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
    original: Callable[[Any, Any], None] | None = None,
    summary: Callable[[Any], Sequence[str]] | None = None,
) -> None:
    """Print the report (or the JSON envelope) of a finished run.

    `title` is the lesson's docstring (its first line is the title);
    `original(results, console)` says what the Nx original computed
    differently, printed with --original (the numbers are in --json either way);
    `summary(results)` gives the "What you saw" bullets; a Try: line names the
    lesson's exercises and the command that checks them.
    """
    lesson = Path(lesson_file).stem
    if args.json:
        print(json.dumps(envelope(lesson, run_params(args), results), allow_nan=False))
        return
    console = display.console()
    header(console, title_line(title, lesson))
    report(results, console)
    if original is not None and getattr(args, "original", False):
        original(results, console)
    elif original is not None:
        console.print("\n[dim]--original adds what the Nx original computed differently.[/]")
    close(console, args, lesson_file, kernels, summary(results) if summary else ())


def close(console, args, lesson_file: str, kernels: Iterable[Callable], saw: Sequence[str]):
    """How every lesson ends: the kernels (--show-code), What you saw, Try:, then Next
    (and the lesson marked done)."""
    lesson = Path(lesson_file).stem
    if args.show_code:
        show_code(console, kernels)
    if saw:
        what_you_saw(console, saw)
    if try_line(lesson):
        console.print(f"\n[bold]Try:[/] {try_line(lesson)}")
    progress.mark_done(lesson)
    following = next_lesson(lesson_file)
    if following:
        console.print(f"\n[bold]Next:[/] make run LESSON={catalogue.short(following)}")
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


def out_of_memory(error: BaseException) -> bool:
    """Whether an exception is an allocation that failed: NumPy's MemoryError or
    XLA's RESOURCE_EXHAUSTED (what a jitted program raises when it cannot allocate)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "Out of memory" in text


def entry(main: Callable[[], Any]) -> None:
    """Run a script's main() and turn the ways it can be stopped into one line.

    Ctrl-C ends with "interrupted" and exit 130 (128 + SIGINT, as a shell
    does), SIGTERM with "terminated" and exit 143, both after the script's
    `finally` blocks have run; a reader that closed the pipe (`| head`) ends
    the run quietly, exit 141 (128 + SIGPIPE); a failed write (a full disk,
    /dev/full) says so, exit 1; a backend that cannot start, and an allocation
    larger than the memory the estimates allowed for, say so in one line, exit 2.
    On a terminal without Unicode the output uses ASCII stand-ins.
    """
    signals.take_over()
    display.ascii_fallback()
    try:
        try:
            jax.devices()
        except Exception as error:  # a missing plugin fails with RuntimeError or AssertionError
            print(backend_problem(error), file=sys.stderr)
            sys.exit(2)
        main()
        sys.stdout.flush()
    except KeyboardInterrupt as stop:
        _quiet_stdout()
        terminated = isinstance(stop, signals.Terminated)
        print("\nterminated" if terminated else "\ninterrupted", file=sys.stderr, flush=True)
        # Leave at once: a normal exit would tear the interpreter down while
        # XLA's threads may still run, which can end in a C++ abort.
        os._exit(143 if terminated else 130)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(141)
    except OSError as error:
        if error.errno not in WRITE_ERRORS:
            raise
        _quiet_stdout()
        print(f"error: could not write the output: {error.strerror}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:
        if not out_of_memory(error):
            raise
        _quiet_stdout()
        print(f"error: {memory_sentence(error)}", file=sys.stderr, flush=True)
        os._exit(2)  # as above: XLA's threads may still hold the failed allocation


def memory_sentence(error: BaseException) -> str:
    """One line for a failed allocation: what failed and what to do."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    detail = next((line for line in lines if "RESOURCE_EXHAUSTED" in line), first)
    detail = detail.split("RESOURCE_EXHAUSTED:")[-1].strip()[:160] or type(error).__name__
    return (
        f"out of memory ({detail}); this machine could not hold what the sizes ask for: "
        "try smaller ones"
    )
