"""Lesson 03 — what jax.jit does: trace, lower, compile, fuse.

square_add(a, b) = a**2 + b on N float32 numbers. Run op by op, each
operation is its own kernel: a**2 is computed, written to memory, and read
back for the add. jax.jit first traces the Python function into a jaxpr
(JAX's list of primitive operations), lowers it to StableHLO, and hands it
to the XLA compiler, which fuses the two operations into one loop: one
kernel, one pass over memory, no intermediate array. We time each stage of
one first call (jit(f).lower(a, b), .compile(), the first run: they add up
to the first call) and read the compiled program to count its fused kernels.

Run:  python lessons/03_compiler.py [--size 100000] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import re
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trinity_foundations import baselines, cli, display, sections, timing

SIZE = 100_000
MAX_SIZE = 10**8  # the list baseline: about 5 s per timed call at the top, as in 01
REPEATS = 51  # sub-millisecond calls: many repeats cost little and steady the median
# Peak bytes per element: four lists of Python floats (8-byte pointer + 24-byte
# object), six float32 arrays, four float64 temporaries for the exact check.
BYTES_PER_ELEMENT = 4 * 32 + 6 * 4 + 4 * 8


def square_add(a, b):
    """a**2 + b on two (N,) arrays: two operations, one kernel once jitted."""
    return a**2 + b  # (N,)


def inputs(size: int) -> tuple[jax.Array, jax.Array]:
    a = jnp.arange(size, dtype=jnp.float32)  # (N,) 0 .. N-1
    return a, 10 * a  # (N,) each


# ----------------------------------------------------------------------------
# Reading compiled HLO text. A fusion instruction looks like
#   %multiply_add_fusion = f32[100000]{0} fusion(%b.1, %a.1), kind=kLoop, calls=%fused_computation
# and `calls=` names the computation holding the fused operations.

_FUSION = re.compile(r"\sfusion\(.*?calls=%?([\w.\-]+)")
_OPCODE = re.compile(r"=\s.*?\s([a-z][\w\-]*)\(")  # the first `name(` after the shape


def fusion_count(hlo_text: str) -> int:
    """Number of fusion instructions in compiled HLO text: one generated kernel each."""
    return len(_FUSION.findall(hlo_text))


def fused_ops(hlo_text: str) -> list[str]:
    """Opcodes inside the fused computations, in order, parameters left out."""
    called = set(_FUSION.findall(hlo_text))
    ops = []
    for name, body in re.findall(r"^%?([\w.\-]+) \(.*?\{\n(.*?)^\}", hlo_text, re.M | re.S):
        if name in called:
            ops += [op for op in _OPCODE.findall(body) if op != "parameter"]
    return ops


def max_ulps(x: np.ndarray, y: np.ndarray) -> int:
    """Largest gap between two float32 arrays, in units in the last place (ulps).

    For floats of one sign the bit patterns, read as integers, count ulps.
    """
    return int(np.max(np.abs(x.view(np.int32).astype(np.int64) - y.view(np.int32))))


# ----------------------------------------------------------------------------
# 1. One first call, stage by stage, and what it compiled.


@dataclass(frozen=True)
class Compile:
    size: int
    dtype: str
    repeats: int  # timed runs of the cached call
    lower_ms: float  # trace and lower to StableHLO
    compile_ms: float  # XLA
    first_run_ms: float  # the compiled kernel's first run
    jit_cached_ms: float
    jaxpr: str  # what tracing recorded
    jaxpr_ops: list[str]  # its primitives, in order
    fusion_count: int  # fused kernels in the compiled program
    fused_ops: list[str]  # the operations inside them
    head: list[float]  # the first three results
    eager_mismatches: int  # jitted results that differ from op by op
    eager_max_ulps: int  # by at most this many ulps
    jit_rounded_once: bool  # every jitted value is the exact a² + b rounded once

    @property
    def jit_first_ms(self) -> float:
        return self.lower_ms + self.compile_ms + self.first_run_ms


def compute_compile(done: dict, *, size: int) -> Compile:
    a, b = inputs(size)  # (N,) each
    # The first call, stage by stage: what jitted(a, b) does when its cache is
    # empty (a new function object: nothing of it is cached yet).
    stages = timing.compile_timing(jax.jit(timing.cold(square_add)), a, b)
    first_run_ms, out = timing.time_once(stages.compiled, a, b)  # (N,)
    cached_t = timing.time_call(stages.compiled, a, b, repeats=REPEATS)
    hlo = stages.compiled.as_text()
    jaxpr = jax.make_jaxpr(square_add)(a, b)
    eager = np.asarray(square_add(a, b))  # (N,) op by op: a² rounded, then the sum
    # Exact a²+b from the float32 inputs (float64 holds it exactly while a² < 2^53).
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)  # (N,) each
    rounded_once = (a64 * a64 + b64).astype(np.float32)  # (N,) one rounding to float32
    out = np.asarray(out)  # (N,)
    return Compile(
        size=size,
        dtype=str(out.dtype),
        repeats=REPEATS,
        lower_ms=stages.lower_ms,
        compile_ms=stages.compile_ms,
        first_run_ms=first_run_ms,
        jit_cached_ms=cached_t.median_ms,
        jaxpr=str(jaxpr),
        jaxpr_ops=[eqn.primitive.name for eqn in jaxpr.eqns],
        fusion_count=fusion_count(hlo),
        fused_ops=fused_ops(hlo),
        head=out[:3].tolist(),
        eager_mismatches=int(np.count_nonzero(out != eager)),
        eager_max_ulps=max_ulps(out, eager),
        jit_rounded_once=bool(np.array_equal(out, rounded_once)),
    )


def fusion_sentences(ops: list[str], fused: list[str], count: int) -> list[str]:
    """What the compiled program did with the jaxpr's operations."""
    plural = "" if count == 1 else "s"
    lines = [
        f"The jaxpr has {len(ops)} operations ({', '.join(ops)}); the compiled program has "
        f"[bold]{count} fusion{plural}[/] (generated kernel{plural}), running "
        f"{', '.join(fused) or 'no fused operations'}."
    ]
    if count == 1 and len(fused) >= len(ops):
        rewrite = (
            " XLA also rewrote a**2 as a*a."
            if "multiply" in fused and "multiply" not in ops
            else ""
        )
        lines.append(
            "Both operations became one kernel: each element is squared and added in the "
            f"same pass, so a² is never written to memory.{rewrite}"
        )
    return lines


def head_sentence(head: list[float]) -> str:
    values = ", ".join(f"{v:g}" for v in head)
    sums = ", ".join(f"{i}² + {10 * i}" for i in range(len(head)))  # a = i, b = 10·i
    first = {1: "The only result", 2: "First two results"}.get(len(head), "First three results")
    return f"{first}: [{values}] ({sums})."


def rounding_sentence(n: int, mismatches: int, ulps: int, rounded_once: bool) -> str:
    """Whether jit and op by op agree bit for bit, and if not, why."""
    if mismatches == 0:
        return (
            f"All {n:,} jitted results equal the op-by-op ones exactly."
            if n > 1
            else "The jitted result equals the op-by-op one exactly."
        )
    how = (
        "every jitted value is the exact a² + b rounded once, as a fused "
        "multiply-add gives, while op by op rounds a² and then the sum"
        if rounded_once
        else "the compiled kernel rounds differently"
    )
    return (
        f"{mismatches:,} of {n:,} jitted results {'differs' if mismatches == 1 else 'differ'} "
        f"from op by op, by at most {ulps} ulp (unit in the last place): {how}. Compiling "
        "can change rounding: compare floats with a tolerance."
    )


def say_compile(r: Compile, console: Console) -> None:
    table = Table(title=f"jax.jit(square_add) on {r.size:,} {r.dtype} numbers")
    table.add_column("stage")
    table.add_column("ms", justify="right", no_wrap=True)
    rows = [
        ("jit first call: the three stages below", r.jit_first_ms),
        ("  trace and lower to StableHLO", r.lower_ms),
        ("  XLA compile", r.compile_ms),
        ("  first run of the compiled kernel", r.first_run_ms),
        ("jit cached call", r.jit_cached_ms),
    ]
    for label, ms in rows:
        table.add_row(label, f"{ms:.3f}")
    console.print(display.fit(table, console))
    console.print(
        "[dim]The first call's stages timed once each, from a function JAX had not seen; "
        f"the cached call: median of {r.repeats} timed runs after a warm-up.[/]\n"
    )
    console.print(
        f"The first call took {r.jit_first_ms:.1f} ms: tracing and lowering "
        f"{r.lower_ms:.1f} ms, XLA compiling {r.compile_ms:.1f} ms "
        f"({r.compile_ms / r.jit_first_ms:.0%} of it), the run {r.first_run_ms:.3f} ms. "
        "Later calls with the same shapes and dtypes reuse the compiled kernel.\n"
    )
    console.print("The jaxpr: what tracing recorded, one line per primitive operation.")
    console.print(escape(r.jaxpr) + "\n")
    for line in fusion_sentences(r.jaxpr_ops, r.fused_ops, r.fusion_count):
        console.print(line)
    console.print("\n" + head_sentence(r.head))
    console.print(
        rounding_sentence(r.size, r.eager_mismatches, r.eager_max_ulps, r.jit_rounded_once)
    )


# ----------------------------------------------------------------------------
# 2. The cached call against op by op and Python lists.


@dataclass(frozen=True)
class Speed:
    repeats: int
    list_ms: float  # lesson 01's lists, float64, one element at a time
    list_repeats: int
    eager_ms: float  # op by op, not jitted
    jit_cached_ms: float  # from section 1


def compute_speed(done: dict, *, size: int) -> Speed:
    a, b = inputs(size)  # (N,) each
    lists = a.tolist(), b.tolist()
    list_t = timing.time_call(baselines.list_square_add, *lists, sync=False)  # host code
    eager_t = timing.time_call(square_add, a, b, repeats=REPEATS)  # op by op, warmed up
    return Speed(
        REPEATS, list_t.median_ms, list_t.repeats, eager_t.median_ms, done["compile"].jit_cached_ms
    )


def say_speed(r: Speed, console: Console) -> None:
    table = Table()
    table.add_column("square_add")
    table.add_column("ms", justify="right", no_wrap=True)
    rows = [
        ("Python lists (float64, one element at a time)", r.list_ms),
        ("op by op, not jitted", r.eager_ms),
        ("jit cached call", r.jit_cached_ms),
    ]
    for label, ms in rows:
        table.add_row(label, f"{ms:.3f}")
    console.print()
    console.print(display.fit(table, console))
    console.print(
        f"[dim]Medians of {r.repeats} timed runs after a warm-up (lists: {r.list_repeats}).[/]"
    )
    cached, eager = r.jit_cached_ms, r.eager_ms
    console.print(
        f"The cached jit call ({cached:.3f} ms) is "
        f"{display.how_much(cached, eager, 'op by op')} ({eager:.3f} ms: two kernels, two "
        "dispatches, one intermediate array) and "
        f"{display.how_much(cached, r.list_ms, 'the Python lists')}."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    return [
        sections.Section(
            "compile",
            functools.partial(compute_compile, size=args.size),
            say_compile,
            doing="tracing, lowering and compiling square_add",
        ),
        sections.Section(
            "speed",
            functools.partial(compute_speed, size=args.size),
            say_speed,
            doing=f"timing Python lists and op by op on {args.size:,} numbers",
        ),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    c, s = done["compile"], done["speed"]
    return {
        "size": c.size,
        "dtype": c.dtype,
        "repeats": c.repeats,
        "list_ms": s.list_ms,
        "list_repeats": s.list_repeats,
        "eager_ms": s.eager_ms,
        "jit_first_ms": c.jit_first_ms,
        "lower_ms": c.lower_ms,
        "compile_ms": c.compile_ms,
        "first_run_ms": c.first_run_ms,
        "jit_cached_ms": c.jit_cached_ms,
        "head": c.head,
        "jaxpr": c.jaxpr,
        "jaxpr_ops": c.jaxpr_ops,
        "fusion_count": c.fusion_count,
        "fused_ops": c.fused_ops,
        "eager_mismatches": c.eager_mismatches,
        "eager_max_ulps": c.eager_max_ulps,
        "jit_rounded_once": c.jit_rounded_once,
    }


def fusion_bullet(ops: list[str], count: int, fused: list[str]) -> str:
    """What the compiler made of the traced operations, in one sentence."""
    plural = "" if count == 1 else "s"
    head = (
        f"Tracing recorded {len(ops)} operations ({', '.join(ops)}); XLA compiled them "
        f"into {count} fused kernel{plural}"
    )
    if count == 1 and len(fused) >= len(ops):
        return head + ": one pass over memory, and a² is never stored."
    return head + "."


def rounding_bullet(n: int, mismatches: int, ulps: int, rounded_once: bool) -> str:
    """Whether jit changed any result's rounding, and by how much."""
    if mismatches == 0 and n == 1:
        return "The jitted result equals the op-by-op one bit for bit."
    if mismatches == 0:
        return f"All {n:,} jitted results equal the op-by-op ones bit for bit."
    why = "rounded once, as a fused multiply-add does" if rounded_once else "rounded differently"
    return (
        f"{mismatches:,} of {n:,} jitted results differ from op by op by up to {ulps} ulp "
        f"({why}): compare floats with a tolerance."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    c, s = done["compile"], done["speed"]
    cached, first = c.jit_cached_ms, c.jit_first_ms
    speed = (
        f"The cached call ({cached:.3f} ms) was "
        f"{display.how_much(cached, s.eager_ms, 'op by op')}; the first took "
        f"{first:.1f} ms, {c.compile_ms / first:.0%} of it XLA compiling."
    )
    return [
        fusion_bullet(c.jaxpr_ops, c.fusion_count, c.fused_ops),
        speed,
        rounding_bullet(c.size, c.eager_mismatches, c.eager_max_ulps, c.jit_rounded_once),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--size",
        type=cli.int_in(1, MAX_SIZE, "the list baseline's time"),
        default=SIZE,
        help=f"elements per array, at most {MAX_SIZE:,} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.require_memory(
        parser, BYTES_PER_ELEMENT * args.size, f"--size {args.size:,} (arrays and four lists)"
    )
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=(square_add,),
    )


if __name__ == "__main__":
    cli.entry(main)
