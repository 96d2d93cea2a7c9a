"""The practice checker: run the learner's exercises in practice/ against the package.

Every lesson has a file practice/NN_name.py of stubs to fill in. This module
loads them, checks each against the kernel the lesson runs (inputs drawn by
hypothesis and shrunk to the smallest that fails, golden values, the
properties the lesson teaches, jax.jit, gradients, time budgets) and says,
in a few lines, what went wrong: never a pytest traceback.

    python -m trinity_foundations.practice                  every exercise, in course order
    python -m trinity_foundations.practice 06               one lesson ("06" or its stem)
    python -m trinity_foundations.practice 06 softmax       one exercise
    python -m trinity_foundations.practice --hint softmax   a nudge, then a skeleton
    python -m trinity_foundations.practice --solution softmax   the reference and where it lives

A lesson can run the learner's code with `load(stem, name)`, which returns
the learner's function or raises `NotDone`.

The checks themselves live in `practice_checks`; this module holds the
machinery they share (`agree`, `Failed`, ...) and the command line.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import importlib.util
import inspect
import math
import os
import shutil
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ENV_DIR = "TRINITY_PRACTICE_DIR"  # where practice/ is, when not beside the package's source
EXAMPLES = 25  # hypothesis examples per property: enough to find a wrong formula, quick
SHRINK = True  # shrink a failing input to the smallest (the tests switch it off for speed)
PACKAGE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------
# What can go wrong with an exercise.


class NotDone(Exception):
    """The learner's exercise is missing or still raises NotImplementedError."""


class Failed(Exception):
    """A check failed: which property, on which (smallest) input, expected against got."""

    def __init__(
        self,
        prop: str,
        *,
        inputs: Any = None,
        expected: Any = None,
        got: Any = None,
        raised: BaseException | None = None,
        note: str = "",
    ):
        super().__init__(prop)
        self.prop, self.inputs, self.expected, self.got = prop, inputs, expected, got
        self.raised, self.note = raised, note


class Args:
    """The arguments of one call, shown the way a learner would type them."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs = args, kwargs

    def call(self, fn: Callable) -> Any:
        return fn(*map(_as_jax, self.args), **{k: _as_jax(v) for k, v in self.kwargs.items()})

    def __repr__(self) -> str:
        parts = [show(a) for a in self.args] + [f"{k}={show(v)}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


class HostArgs(Args):
    """Arguments passed exactly as they are: NumPy stays NumPy (host-side exercises)."""

    def call(self, fn: Callable) -> Any:
        return fn(*self.args, **self.kwargs)


def _as_jax(value: Any) -> Any:
    """NumPy arrays go in as jax arrays, as a lesson would pass them; the rest as they are."""
    if isinstance(value, np.ndarray):
        import jax

        return jax.device_put(value)  # a copy, not a compiled `stage` per shape
    return value


def show(value: Any, limit: int = 300) -> str:
    """A compact one-line-ish view of a value: arrays with their dtype and shape."""
    try:
        text = _show(value)
    except (TypeError, ValueError):  # e.g. a PRNG key, which NumPy cannot hold
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        a = np.asarray(value)
        body = np.array2string(a, precision=5, threshold=20, separator=", ", max_line_width=10**6)
        body = " ".join(body.split())  # one line, however many axes
        text = f"{body} ({a.dtype}, shape {a.shape})"
    elif hasattr(value, "shape") and hasattr(value, "dtype"):
        text = f"{np.asarray(value).item()!r} ({np.asarray(value).dtype})"
    elif isinstance(value, tuple) and hasattr(value, "_fields"):
        text = f"{type(value).__name__}(" + ", ".join(show(v) for v in value) + ")"
    elif isinstance(value, tuple | list) and any(hasattr(v, "shape") for v in value):
        inner = ", ".join(show(v) for v in value)
        text = f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    else:
        text = repr(value)
    return text


# ----------------------------------------------------------------------------
# Comparing results.


def _leaves(value: Any) -> list:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def difference(got: Any, want: Any, *, rtol: float, atol: float) -> str | None:
    """Why `got` is not `want` (within rtol/atol), or None when they agree."""
    if isinstance(want, dict):
        return None if got == want else "a different dict"
    if isinstance(want, tuple):  # several results
        if not isinstance(got, tuple | list) or len(got) != len(want):
            return f"{len(want)} results expected, got {type(got).__name__}"
        for g, w in zip(got, want):
            why = difference(g, w, rtol=rtol, atol=atol)
            if why:
                return why
        return None
    if isinstance(want, list) and isinstance(got, list) and len(got) != len(want):
        return f"{len(want)} items expected, got {len(got)}"
    try:
        g = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"a number or array expected, got {type(got).__name__}"
    w = np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return f"shape {g.shape} where {w.shape} was expected"
    if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
        if np.any(np.isnan(g) & ~np.isnan(w)):
            return "NaN where a number was expected (an overflow, or 0/0?)"
        if np.any(np.isinf(g) & np.isfinite(w)):
            return "inf where a finite number was expected (an overflow, or log 0?)"
        return "values differ"
    return None


def largest_error(got: Any, want: Any) -> float | None:
    """max |got − want| over the array leaves of matching shape, or None."""
    worst = None
    for g, w in zip(_leaves(got), _leaves(want)):
        try:
            g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if g.shape != w.shape or g.size == 0:
            continue
        with np.errstate(invalid="ignore"):
            err = np.abs(g - w)
        both_inf = np.isinf(g) & np.isinf(w) & (np.sign(g) == np.sign(w))
        err = np.where(both_inf, 0.0, err)
        e = float(np.nan if np.isnan(err).any() else err.max())
        worst = e if worst is None or math.isnan(e) or e > worst else worst
    return worst


# ----------------------------------------------------------------------------
# Calling the learner's code.


def call(fn: Callable, args: Args, prop: str) -> Any:
    """fn(args), with NotImplementedError as NotDone and any other error as a Failed."""
    try:
        return args.call(fn)
    except NotImplementedError as e:
        raise NotDone(str(e) or "it still raises NotImplementedError") from None
    except Exception as e:  # the learner's bug, reported on this input
        raise Failed(prop, inputs=args, raised=e) from None


def expect(fn: Callable, args: Args, want: Any, prop: str, *, rtol=1e-5, atol=1e-6) -> Any:
    """fn(args) must equal `want` (a golden value or the kernel's answer)."""
    got = call(fn, args, prop)
    why = difference(got, want, rtol=rtol, atol=atol)
    if why:
        raise Failed(prop, inputs=args, expected=want, got=got, note=why)
    return got


def holds(ok: bool, prop: str, *, inputs: Any = None, expected: Any = None, got: Any = None):
    """A property of the learner's result must hold."""
    if not ok:
        raise Failed(prop, inputs=inputs, expected=expected, got=got)


SETTINGS = None


def _settings():
    global SETTINGS
    if SETTINGS is None:
        from hypothesis import HealthCheck, Phase, settings

        phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else [])
        SETTINGS = settings(
            max_examples=EXAMPLES,
            phases=phases,
            database=None,  # nothing written into the learner's repository
            deadline=None,
            derandomize=True,  # the same inputs, the same report, every run
            suppress_health_check=list(HealthCheck),
        )
    return SETTINGS


def agree(
    fn: Callable,
    ref: Callable,
    strategy,
    prop: str = "agrees with the package's kernel",
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    compare: Callable[[Any, Any, Args], str | None] | None = None,
) -> None:
    """fn agrees with ref on every input hypothesis draws; else the smallest that fails.

    `strategy` draws `Args`. `compare(got, want, args)` may replace the plain
    closeness test: it returns why the result is wrong, or None.
    """
    from hypothesis import find
    from hypothesis.errors import NoSuchExample

    def why(args: Args) -> str | None:
        want = args.call(ref)
        try:
            got = args.call(fn)
        except NotImplementedError:
            raise
        except Exception:
            return "raised"
        if compare is not None:
            return compare(got, want, args)
        return difference(got, want, rtol=rtol, atol=atol)

    try:
        smallest = find(strategy, lambda a: why(a) is not None, settings=_settings())
    except NoSuchExample:
        return
    except NotImplementedError as e:
        raise NotDone(str(e) or "it still raises NotImplementedError") from None
    want = smallest.call(ref)
    got = call(fn, smallest, prop)
    raise Failed(prop, inputs=smallest, expected=want, got=got, note=why(smallest) or "")


def search(strategy, bad: Callable[[Any], str | None], prop: str) -> None:
    """A property of many drawn inputs: `bad(args)` says why an input breaks it, or None."""
    from hypothesis import find
    from hypothesis.errors import NoSuchExample

    def broken(args) -> bool:
        try:
            return bad(args) is not None
        except (NotImplementedError, NotDone):
            raise
        except Failed:
            return True
        except Exception:
            return True

    try:
        smallest = find(strategy, broken, settings=_settings())
    except NoSuchExample:
        return
    except NotImplementedError as e:
        raise NotDone(str(e) or "it still raises NotImplementedError") from None
    note = bad(smallest)  # raises the Failed (with the learner's error) if that was the cause
    raise Failed(prop, inputs=smallest, note=note or "")


def within_budget(fn: Callable, args: Args, seconds: float, prop: str) -> float:
    """fn(args) (after one warm-up call) must finish within `seconds`; returns the time."""
    out = call(fn, args, prop)
    _block(out)
    start = time.perf_counter()
    _block(call(fn, args, prop))
    took = time.perf_counter() - start
    if took > seconds:
        raise Failed(
            prop,
            inputs=args,
            note=f"took {took * 1e3:.0f} ms; the budget is {seconds * 1e3:.0f} ms",
        )
    return took


def _block(out: Any) -> None:
    import jax

    for leaf in jax.tree_util.tree_leaves(out):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()


# ----------------------------------------------------------------------------
# The exercises and the learner's files.


@dataclasses.dataclass(frozen=True)
class Exercise:
    lesson: str  # the lesson's stem, e.g. "06_self_attention"
    name: str  # the function's name in practice/<lesson>.py
    signature: str  # "(x, axis=-1)": what the stub declares
    doc: str  # the stub's docstring: shapes, dtypes, what to compute
    difficulty: int  # 1 easy, 2 medium, 3 hard
    teaches: str  # one line for the README's table
    reference: Callable  # the package's answer, with the exercise's signature
    solution: Any  # what --solution prints (the kernel itself where it exists)
    hints: tuple[str, str]  # a nudge, then a skeleton
    check: Callable[[Callable], None]  # raises NotDone or Failed


def exercises() -> tuple[Exercise, ...]:
    """Every exercise, in course order (the catalogue's order of lessons)."""
    from trinity_foundations import practice_checks

    return practice_checks.ordered()


def practice_dir(directory: str | Path | None = None) -> Path:
    """Where the learner's files are: an argument, $TRINITY_PRACTICE_DIR, the checkout, or ./."""
    if directory is not None:
        return Path(directory)
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    beside = PACKAGE.parents[1] / "practice"
    return beside if beside.is_dir() else Path.cwd() / "practice"


def is_stub(fn: Callable) -> bool:
    """True when fn's body is still only a docstring and `raise NotImplementedError`."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        return False
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    exc = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _import(path: Path):
    name = f"_practice_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise Failed(f"practice/{path.name} imports", raised=e) from None
    return module


@functools.cache
def _module(path: Path, mtime: float):
    return _import(path)


def load(lesson: str, name: str, directory: str | Path | None = None) -> Callable:
    """The learner's `name` from practice/<lesson>.py; NotDone while it is missing or a stub.

    `lesson` is a stem ("06_self_attention") or a unique prefix ("06").
    """
    stem = resolve_lesson(lesson)
    path = practice_dir(directory) / f"{stem}.py"
    if not path.is_file():
        raise NotDone(f"practice/{stem}.py is missing (git checkout practice/ restores it)")
    fn = getattr(_module(path.resolve(), path.stat().st_mtime), name, None)
    if not callable(fn):
        raise NotDone(f"practice/{stem}.py has no function {name} (git checkout practice/)")
    if is_stub(fn):
        raise NotDone(
            f"not done yet: {name} in practice/{stem}.py still raises NotImplementedError"
        )
    return fn


def resolve_lesson(text: str) -> str:
    """A lesson's stem from what a learner types ("06", "quasi", a stem): `catalogue.find`,
    with a KeyError the command line turns into its one-line error."""
    from trinity_foundations import catalogue

    try:
        return catalogue.find(text)
    except LookupError as e:
        raise KeyError(str(e)) from None


def names(lesson: str) -> tuple[str, ...]:
    """The exercise names of one lesson (a stem or a prefix), in order (for --mine, Try: lines)."""
    stem = resolve_lesson(lesson)
    return tuple(e.name for e in exercises() if e.lesson == stem)


def find_exercise(name: str, lesson: str | None = None) -> Exercise:
    for ex in exercises():
        if ex.name == name and (lesson is None or ex.lesson == lesson):
            return ex
    names = ", ".join(e.name for e in exercises() if lesson is None or e.lesson == lesson)
    raise KeyError(f"no exercise {name!r}; the exercises are: {names}")


# ----------------------------------------------------------------------------
# Running a check and saying what happened.


def run_check(ex: Exercise, fn: Callable) -> Failed | NotDone | None:
    """Check one implementation; None when it passes, else what went wrong."""
    try:
        ex.check(fn)
    except (Failed, NotDone) as outcome:
        return outcome
    return None


def learner_frames(error: BaseException, directory: Path | None = None) -> list:
    """The traceback frames of the learner's own code (practice/), else of code outside us."""
    frames = traceback.extract_tb(error.__traceback__)
    where = str((directory or practice_dir()).resolve())
    mine = [f for f in frames if str(Path(f.filename).resolve()).startswith(where)]
    if mine:
        return mine
    ours = (str(PACKAGE), "site-packages", "<frozen")
    return [f for f in frames if not any(o in f.filename for o in ours)][-1:]


def describe(outcome: Failed | NotDone, ex: Exercise, directory: Path | None = None) -> list[str]:
    """The lines that explain a failure: property, input, expected, got, largest error."""
    if isinstance(outcome, NotDone):
        msg = str(outcome)
        if "not done yet" not in msg:
            msg = f"not done yet: {msg}"
        return [msg, f"write it in practice/{ex.lesson}.py (stuck? --hint {ex.name})"]
    lines = [f"property: {outcome.prop}"]
    if outcome.inputs is not None:
        lines.append(f"input:    {ex.name}({show(outcome.inputs)})")
    if outcome.raised is not None:
        e = outcome.raised
        for f in learner_frames(e, directory):
            lines.append(f"your code: {Path(f.filename).name}:{f.lineno} in {f.name}")
            if f.line:
                lines.append(f"    {f.line.strip()}")
        message = str(e).strip().splitlines()
        lines.append(f"raised:   {type(e).__name__}: {message[0] if message else ''}".rstrip())
        return lines
    if outcome.expected is not None or outcome.got is not None:
        lines.append(f"expected: {show(outcome.expected)}")
        lines.append(f"got:      {show(outcome.got)}")
        err = largest_error(outcome.got, outcome.expected)
        if err is not None and err != 0:
            lines.append(f"largest error: {err:.3g}")
    if outcome.note:
        lines.append(f"why:      {outcome.note}")
    return lines


def run(selected: Sequence[Exercise], directory: Path | None = None, out=None) -> int:
    """Check `selected` in order, stopping at the first that fails; returns how many passed."""
    out = out or sys.stdout
    passed, lesson = 0, None
    for ex in selected:
        if ex.lesson != lesson:
            lesson = ex.lesson
            print(f"{lesson}", file=out)
        try:
            fn = load(ex.lesson, ex.name, directory)
            outcome = run_check(ex, fn)
        except (NotDone, Failed) as e:
            outcome = e
        if outcome is None:
            passed += 1
            print(f"  ✅ {ex.name}", file=out)
            continue
        print(f"  ❌ {ex.name}", file=out)
        width = max(40, shutil.get_terminal_size().columns - 1)
        for line in describe(outcome, ex, directory):
            if line.startswith("    "):  # the learner's line of code, as written
                print(f"     {line}", file=out)
                continue
            print(
                textwrap.fill(
                    line,
                    width,
                    initial_indent=" " * 5,
                    subsequent_indent=" " * 15,
                    break_long_words=True,
                    break_on_hyphens=False,
                ),
                file=out,
            )
        if isinstance(outcome, Failed):
            print(f"     a hint: python -m trinity_foundations.practice --hint {ex.name}", file=out)
        break
    print(f"{passed} of {len(selected)} done", file=out)
    return passed


def hints_text(ex: Exercise) -> str:
    nudge, skeleton = ex.hints
    return (
        f"{ex.name}{ex.signature} in practice/{ex.lesson}.py\n\n"
        f"Hint 1 (a nudge):\n{textwrap.indent(nudge.strip(), '  ')}\n\n"
        f"Hint 2 (a skeleton):\n{textwrap.indent(textwrap.dedent(skeleton).strip(), '  ')}\n"
    )


def solution_text(ex: Exercise) -> str:
    obj = inspect.unwrap(ex.solution)
    source = textwrap.dedent(inspect.getsource(obj))
    file = Path(inspect.getsourcefile(obj)).resolve()
    try:
        shown = file.relative_to(PACKAGE.parents[1])
    except ValueError:
        shown = file
    line = inspect.getsourcelines(obj)[1]
    module = obj.__module__
    return (
        f"The reference for {ex.name} ({ex.lesson}) is {module}.{obj.__name__},\n"
        f"in {shown}:{line}\n\n{source}"
    )


def _keep_hypothesis_out_of_the_repository() -> None:
    """Hypothesis caches what it learns in ./.hypothesis; the learner's folder stays clean."""
    import tempfile

    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "trinity-practice-hypothesis")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m trinity_foundations.practice",
        description="Check the exercises in practice/ against the package's kernels.",
    )
    p.add_argument("lesson", nargs="?", help='a lesson: "06" or "06_self_attention"')
    p.add_argument("exercise", nargs="?", help="one exercise of that lesson, e.g. softmax")
    p.add_argument("--hint", metavar="NAME", help="graded hints for an exercise")
    p.add_argument("--solution", metavar="NAME", help="the reference solution and where it is")
    p.add_argument("--dir", help="the practice folder (default: practice/ of this checkout)")
    a = p.parse_args(argv)
    try:
        lesson = resolve_lesson(a.lesson) if a.lesson else None
        if a.hint or a.solution:
            ex = find_exercise(a.hint or a.solution, lesson)
            print(hints_text(ex) if a.hint else solution_text(ex), end="")
            return 0
        selected = [e for e in exercises() if lesson is None or e.lesson == lesson]
        if a.exercise:
            selected = [find_exercise(a.exercise, lesson)]
    except KeyError as e:
        p.error(e.args[0])
    directory = practice_dir(a.dir)
    if not directory.is_dir():
        p.error(f"no practice folder at {directory}")
    _keep_hypothesis_out_of_the_repository()
    passed = run(selected, directory)
    return 0 if passed == len(selected) else 1


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: the checks raise the
    # imported module's Failed and NotDone, which this copy's classes would not catch.
    from trinity_foundations import practice

    try:
        sys.exit(practice.main())
    except KeyboardInterrupt:
        print("practice: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


# ----------------------------------------------------------------------------
# --mine: a lesson run with the learner's functions in place of the package's.


def swappable(lesson: str) -> list[Exercise]:
    """The exercises of `lesson` whose reference is a package kernel with the stub's
    own parameters: the ones a lesson run can take from the learner instead."""
    stem = resolve_lesson(lesson)
    out = []
    for ex in exercises():
        ref = ex.reference
        module = getattr(ref, "__module__", "") or ""
        if ex.lesson != stem or not module.startswith(PACKAGE.name + "."):
            continue
        if module.endswith("practice_checks"):
            continue
        try:
            params = list(inspect.signature(ref).parameters)
        except (TypeError, ValueError):
            continue
        if params == _stub_params(ex):
            out.append(ex)
    return out


def _stub_params(ex: Exercise) -> list[str]:
    """The parameter names of an exercise's stub, from its declared signature."""
    tree = ast.parse(f"def f{ex.signature}: pass")
    args = tree.body[0].args
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]


def use_mine(lesson: str, namespace: dict, directory: str | Path | None = None) -> list[str]:
    """Put the learner's functions where the lesson and the package call their kernels.

    For every swappable exercise, every name bound to the package kernel, in
    `namespace` (the lesson's globals) and in each loaded package module, is
    rebound to the learner's function from practice/<lesson>.py. Raises
    NotDone (or Failed, when the file does not import) before changing anything.

    Returns:
      The names of the functions swapped in, in course order.
    """
    stem = resolve_lesson(lesson)
    mine = [(ex.reference, load(stem, ex.name, directory)) for ex in swappable(stem)]
    modules = [m for name, m in sys.modules.items() if name.startswith(PACKAGE.name + ".")]
    for kernel, theirs in mine:
        for space in [namespace, *(vars(m) for m in modules)]:
            for name, value in list(space.items()):
                if value is kernel:
                    space[name] = theirs
    return [theirs.__name__ for _, theirs in mine]
