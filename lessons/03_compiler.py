"""Lesson 1.3 — what jax.jit does: trace, lower, compile, fuse.

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
import re

import jax
import jax.numpy as jnp
import numpy as np
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display, timing
from trinity_foundations.baselines import list_square_add

SIZE = 100_000
MAX_SIZE = 10**8  # the list baseline: about 5 s per timed call at the top, as in 01
REPEATS = 51  # sub-millisecond calls: many repeats cost little and steady the median
# Peak bytes per element: four lists of Python floats (8-byte pointer + 24-byte
# object), six float32 arrays, four float64 temporaries for the exact check.
BYTES_PER_ELEMENT = 4 * 32 + 6 * 4 + 4 * 8


def square_add(a, b):
    """a**2 + b on two (N,) arrays: two operations, one kernel once jitted."""
    return a**2 + b  # (N,)


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


def run(size: int) -> dict:
    a = jnp.arange(size, dtype=jnp.float32)  # (N,) 0 .. N-1
    b = 10 * a  # (N,)
    list_t = timing.time_call(list_square_add, a.tolist(), b.tolist(), sync=False)  # host code

    eager_t = timing.time_call(square_add, a, b, repeats=REPEATS)  # op by op, warmed up
    eager = square_add(a, b)  # (N,)

    # The first call, stage by stage: what jitted(a, b) does when its cache is
    # empty (a new function object: nothing of it is cached yet).
    stages = timing.compile_timing(jax.jit(timing.cold(square_add)), a, b)
    first_run_ms, out = timing.time_once(stages.compiled, a, b)  # (N,)
    cached_t = timing.time_call(stages.compiled, a, b, repeats=REPEATS)
    hlo = stages.compiled.as_text()
    jaxpr = jax.make_jaxpr(square_add)(a, b)

    # Exact a²+b from the float32 inputs (float64 holds it exactly while a² < 2^53).
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)  # (N,) each
    rounded_once = (a64 * a64 + b64).astype(np.float32)  # (N,) one rounding to float32
    out, eager = np.asarray(out), np.asarray(eager)  # (N,) each
    return {
        "size": size,
        "dtype": str(out.dtype),
        "repeats": REPEATS,
        "list_ms": list_t.median_ms,
        "list_repeats": list_t.repeats,
        "eager_ms": eager_t.median_ms,
        "jit_first_ms": stages.lower_ms + stages.compile_ms + first_run_ms,
        "lower_ms": stages.lower_ms,
        "compile_ms": stages.compile_ms,
        "first_run_ms": first_run_ms,
        "jit_cached_ms": cached_t.median_ms,
        "head": out[:3].tolist(),
        "jaxpr": str(jaxpr),
        "jaxpr_ops": [eqn.primitive.name for eqn in jaxpr.eqns],
        "fusion_count": fusion_count(hlo),
        "fused_ops": fused_ops(hlo),
        "eager_mismatches": int(np.count_nonzero(out != eager)),
        "eager_max_ulps": max_ulps(out, eager),
        "jit_rounded_once": bool(np.array_equal(out, rounded_once)),
    }


def table_section(r: dict, console) -> None:
    table = Table(title=f"square_add on {r['size']:,} {r['dtype']} numbers")
    table.add_column("stage")
    table.add_column("ms", justify="right", no_wrap=True)
    rows = [
        ("Python lists (float64, one element at a time)", r["list_ms"]),
        ("op by op, not jitted", r["eager_ms"]),
        ("jit first call: the three stages below", r["jit_first_ms"]),
        ("  trace and lower to StableHLO", r["lower_ms"]),
        ("  XLA compile", r["compile_ms"]),
        ("  first run of the compiled kernel", r["first_run_ms"]),
        ("jit cached call", r["jit_cached_ms"]),
    ]
    for label, ms in rows:
        table.add_row(label, f"{ms:.3f}")
    console.print(display.fit(table, console))
    console.print(
        f"[dim]Medians of {r['repeats']} timed runs after a warm-up (lists: "
        f"{r['list_repeats']}); the first call's stages timed once each, from a "
        "function JAX had not seen.[/]\n"
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


def program_section(r: dict, console) -> None:
    console.print("The jaxpr: what tracing recorded, one line per primitive operation.")
    console.print(escape(r["jaxpr"]) + "\n")
    for line in fusion_sentences(r["jaxpr_ops"], r["fused_ops"], r["fusion_count"]):
        console.print(line)


def speed_section(r: dict, console) -> None:
    eager, cached = r["eager_ms"], r["jit_cached_ms"]
    console.print(
        f"\nThe cached jit call ({cached:.3f} ms) is "
        f"{display.how_much(cached, eager, 'op by op')} ({eager:.3f} ms: two kernels, two "
        "dispatches, one intermediate array) and "
        f"{display.how_much(cached, r['list_ms'], 'the Python lists')}."
    )
    first, compile_share = r["jit_first_ms"], r["compile_ms"] / r["jit_first_ms"]
    console.print(
        f"The first call took {first:.1f} ms: tracing and lowering {r['lower_ms']:.1f} ms, "
        f"XLA compiling {r['compile_ms']:.1f} ms ({compile_share:.0%} of it), the run "
        f"{r['first_run_ms']:.3f} ms. Later calls with the same shapes and dtypes reuse "
        "the compiled kernel."
    )


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


def results_section(r: dict, console) -> None:
    console.print("\n" + head_sentence(r["head"]))
    console.print(
        rounding_sentence(
            r["size"], r["eager_mismatches"], r["eager_max_ulps"], r["jit_rounded_once"]
        )
    )


def report(r: dict, console) -> None:
    table_section(r, console)
    program_section(r, console)
    speed_section(r, console)
    results_section(r, console)


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


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    cached, first = r["jit_cached_ms"], r["jit_first_ms"]
    speed = (
        f"The cached call ({cached:.3f} ms) was "
        f"{display.how_much(cached, r['eager_ms'], 'op by op')}; the first took "
        f"{first:.1f} ms, {r['compile_ms'] / first:.0%} of it XLA compiling."
    )
    return [
        fusion_bullet(r["jaxpr_ops"], r["fusion_count"], r["fused_ops"]),
        speed,
        rounding_bullet(
            r["size"], r["eager_mismatches"], r["eager_max_ulps"], r["jit_rounded_once"]
        ),
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
    cli.finish(
        args,
        __file__,
        run(args.size),
        report,
        kernels=(square_add,),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
