"""Benchmark: the GPT's training step against the matmul peak, and cached decoding.

Training: one compiled chunk of AdamW steps of the lesson-19 GPT (batch 32 of
64 characters) at the default width d = 64 and at d = 256, each step's
achieved FLOP/s (6·N + 12·L·T·d per token, as lesson 19 counts them) as a
fraction of this machine's matmul peak, a large jitted square matmul timed
in the same interleaved rounds (so a slow spell of a busy machine falls on
both alike).

Decoding at context 256: one token's logits with the KV cache against a
full forward pass over a padded 256-token buffer, per step, and per token
inside a compiled generation loop (prefill then cached decode, against
recomputing the whole window for every token).

Every figure is the median of repeats after a warm-up, each call waited for
with block_until_ready, all of them in the same interleaved rounds
(trinity_foundations.timing.time_side_by_side); a ratio whose rounds disagree
by more than 1.5× is printed with its spread.

Run:  python benchmarks/lm.py [--json] [--budget-ms 400] [--width 64] [--wide 256]
      [--decode-context 256]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp

from trinity_foundations import cli, display, timing
from trinity_foundations import decoding as dec
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, init_gpt

WIDTH, WIDE, LAYERS, HEADS, CONTEXT, BATCH = 64, 256, 2, 4, 64, 32
DECODE_CONTEXT, DECODE_TOKENS = 256, 64
PEAK_N = {"cpu": 1024}  # the peak's matmul side; 8192 on accelerators
BUDGET_MS = 400.0
TARGETS = {  # (comparison, bound) on the 2-core CPU
    "mfu_default": (">=", 0.15),
    "mfu_wide": (">=", 0.35),
    "decode_step_ratio": (">=", 5.0),
}


def vocab_size() -> int:
    text = (Path(__file__).resolve().parents[1] / "data" / "macbeth.txt").read_text()
    return lang.build_vocab(text).size


def train_call(d: int, batch: int, context: int, vocab: int, steps: int):
    """(fn, args, FLOPs per call) of `steps` AdamW steps of a GPT of width d."""
    model = GPTConfig(vocab, context, d, LAYERS, HEADS, 4 * d)
    config = tr.TrainConfig(steps=1000, batch=batch, context=context)
    k_init, k_data, k_run = jax.random.split(jax.random.key(0), 3)
    state = tr.init_state(init_gpt(k_init, model), tr.hyper_of(config))
    tokens = jax.random.randint(k_data, (20_000,), 0, vocab)  # (N,) the text's content is moot
    fn = functools.partial(
        tr.train_chunk, loss_fn=tr.LMLoss(model), steps=steps, batch=batch, context=context
    )
    flops = steps * batch * context * tr.flops_per_token(model, context)
    return fn, (state, k_run, tokens), flops


def decode_calls(context: int, vocab: int, d: int):
    """The cached step, the padded recompute step and the two generation loops."""
    model = GPTConfig(vocab, context, d, LAYERS, HEADS, 4 * d)
    params = init_gpt(jax.random.key(1), model)
    prompt_len = context - DECODE_TOKENS if context > DECODE_TOKENS else 1
    steps = context - prompt_len
    ids = jax.random.randint(jax.random.key(2), (1, context), 0, vocab)  # (1, T)
    forward = functools.partial(dec.cached_forward, config=model)
    _, cache = forward(params, ids[:, : context - 1], dec.init_cache(model, 1))  # T-1 cached
    recompute = functools.partial(dec.recompute_logits, config=model)
    greedy = dec.Sampler(temperature=0.0)
    key = jax.random.key(3)
    gen = functools.partial(dec.generate, config=model, steps=steps)
    window = functools.partial(dec.generate_window, config=model, steps=steps)
    calls = {
        "decode_cached": (forward, (params, ids[:, -1:], cache), True),
        "decode_recompute": (recompute, (params, ids, jnp.asarray(context)), True),
        "loop_cached": (gen, (params, ids[:, :prompt_len], key, greedy), True),
        "loop_recompute": (window, (params, ids[0, :prompt_len], key, greedy), True),
    }
    return calls, steps, dec.cache_bytes(cache)


def run(
    width: int, wide: int, batch: int, context: int, decode_context: int, budget_ms: float,
    peak_n: int | None = None,
):  # fmt: skip
    vocab = vocab_size()
    n = peak_n or PEAK_N.get(jax.default_backend(), 8192)
    a = jax.random.normal(jax.random.key(4), (n, n))  # (n, n)
    b = jax.random.normal(jax.random.key(5), (n, n))  # (n, n)
    default_fn, default_args, default_flops = train_call(width, batch, context, vocab, 4)
    wide_steps = 4 if wide == width else 1  # as wide as the default: the default's program
    wide_fn, wide_args, wide_flops = train_call(wide, batch, context, vocab, wide_steps)
    calls = {
        "matmul": (jax.jit(jnp.matmul), (a, b), True),
        "train_default": (default_fn, default_args, True),
        "train_wide": (wide_fn, wide_args, True),
    }
    decode, steps, cache_bytes = decode_calls(decode_context, vocab, width)
    times = timing.time_side_by_side({**calls, **decode}, budget_ms)
    peak = 2 * n**3 / (times["matmul"].median_ms / 1e3)

    def train_figures(name: str, flops: float, d: int, steps: int) -> dict:
        ms = times[name].median_ms
        achieved = flops / (ms / 1e3)
        tokens_per_s = steps * batch * context / (ms / 1e3)
        return {
            "d_model": d, "step_ms": ms / steps, "tokens_per_s": tokens_per_s,
            "achieved_flops": achieved, "mfu": achieved / peak,
        }  # fmt: skip

    results = {
        "dtype": str(a.dtype),
        "peak_matmul_n": n,
        "peak_flops": peak,
        "train": {
            "default": train_figures("train_default", default_flops, width, 4),
            "wide": train_figures("train_wide", wide_flops, wide, wide_steps),
        },
        "decode": {
            "context": decode_context,
            "cache_bytes": cache_bytes,
            "step_ms_cached": times["decode_cached"].median_ms,
            "step_ms_recompute": times["decode_recompute"].median_ms,
            "loop_tokens": steps,
            "loop_ms_per_token_cached": times["loop_cached"].median_ms / steps,
            "loop_ms_per_token_recompute": times["loop_recompute"].median_ms / steps,
        },
    }
    d = results["decode"]
    results["ratios"] = {
        "mfu_default": results["train"]["default"]["mfu"],
        "mfu_wide": results["train"]["wide"]["mfu"],
        "decode_step_ratio": d["step_ms_recompute"] / d["step_ms_cached"],
        "decode_loop_ratio": d["loop_ms_per_token_recompute"] / d["loop_ms_per_token_cached"],
    }
    results["ratio_rounds"] = ratio_rounds(times, n, default_flops, wide_flops)
    results["spreads"] = {k: timing.spread(v) for k, v in results["ratio_rounds"].items()}
    results["targets_met"] = {k: target_met(k, results["ratios"][k]) for k in TARGETS}
    return results


def ratio_rounds(times: dict, n: int, default_flops: float, wide_flops: float) -> dict:
    """Each headline ratio round by round (the calls' medians of one interleaved round)."""

    def mfu(name: str, flops: float) -> list[float]:  # chunk FLOP/s over matmul FLOP/s
        pairs = zip(times[name].rounds_ms, times["matmul"].rounds_ms)
        return [flops * matmul_ms / (2 * n**3 * ms) for ms, matmul_ms in pairs]

    return {
        "mfu_default": mfu("train_default", default_flops),
        "mfu_wide": mfu("train_wide", wide_flops),
        "decode_step_ratio": timing.round_ratios(times["decode_recompute"], times["decode_cached"]),
        "decode_loop_ratio": timing.round_ratios(times["loop_recompute"], times["loop_cached"]),
    }


def spread_note(r: dict, name: str, fmt) -> str:
    """' (rounds: a to b, the machine was busy)' when the ratio's rounds disagree by more
    than timing.SPREAD, else ''."""
    found = r["spreads"][name]
    return "" if found is None else f" (rounds: {fmt(found[0])} to {fmt(found[1])}, busy)"


def target_met(name: str, value: float) -> bool:
    op, bound = TARGETS[name]
    return value >= bound if op == ">=" else value <= bound


def report(r: dict, console) -> None:
    console.print(
        f"Matmul peak ({r['peak_matmul_n']}² {r['dtype']}): {r['peak_flops'] / 1e9:.1f} GFLOP/s"
    )
    for name, t in r["train"].items():
        met = r["targets_met"][f"mfu_{name}"]
        console.print(
            f"Training step, d = {t['d_model']}: {t['step_ms']:.2f} ms, "
            f"{t['tokens_per_s']:,.0f} tokens/s, {t['achieved_flops'] / 1e9:.1f} GFLOP/s = "
            f"{display.share(t['mfu'])} of peak{spread_note(r, f'mfu_{name}', display.share)} "
            f"(target {TARGETS[f'mfu_{name}'][1]:.0%}: {'met' if met else 'missed'})"
        )
    d = r["decode"]
    console.print(
        f"Decode at context {d['context']} (cache {d['cache_bytes']:,} bytes): one cached step "
        f"{display.duration(d['step_ms_cached'])}, one padded recompute "
        f"{display.duration(d['step_ms_recompute'])}: ratio {r['ratios']['decode_step_ratio']:.1f}"
        f"{spread_note(r, 'decode_step_ratio', '{:.1f}'.format)} "
        f"(target 5: {'met' if r['targets_met']['decode_step_ratio'] else 'missed'})"
    )
    console.print(
        f"In a compiled loop of {d['loop_tokens']} tokens: "
        f"{display.duration(d['loop_ms_per_token_cached'])} per token cached, "
        f"{display.duration(d['loop_ms_per_token_recompute'])} recomputing: ratio "
        f"{r['ratios']['decode_loop_ratio']:.1f}"
        f"{spread_note(r, 'decode_loop_ratio', '{:.1f}'.format)}"
    )


def memory_needed(width, wide, batch, context, decode_context, peak_n, vocab=128) -> float:
    """Rough bytes of every figure's inputs and the largest program's temporaries: the
    peak's three (n, n) matrices; per training width, the parameters, gradients and
    two Adam moments, and the activations kept for backward (about 48·d + 5·H·T
    numbers per token and layer, plus the logits, as lesson 19 counts them); the
    decode model, its cache and a full recompute's activations."""

    def params(d, t):
        return 12 * LAYERS * d * d + (vocab + t) * d

    def per_token(d, t):
        return LAYERS * (48 * d + 5 * HEADS * t) + 3 * vocab

    def train(d):
        return 4 * params(d, context) + per_token(d, context) * batch * context

    decode = (
        params(width, decode_context)
        + (2 * LAYERS * width + per_token(width, decode_context)) * decode_context
    )
    return 4 * (3 * peak_n**2 + train(width) + train(wide) + decode)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    p.add_argument(
        "--budget-ms",
        type=cli.positive_float_at_most(60_000.0),
        default=BUDGET_MS,
        help="time spent on each figure's repeats (%(default)s)",
    )
    p.add_argument("--width", type=cli.int_in(4, 1024), default=WIDTH, help="(%(default)s)")
    p.add_argument("--wide", type=cli.int_in(4, 2048), default=WIDE, help="(%(default)s)")
    p.add_argument("--batch", type=cli.int_in(1, 1024), default=BATCH, help="(%(default)s)")
    p.add_argument("--context", type=cli.int_in(2, 1024), default=CONTEXT, help="(%(default)s)")
    p.add_argument(
        "--decode-context", type=cli.int_in(2, 4096), default=DECODE_CONTEXT, help="(%(default)s)"
    )
    p.add_argument(
        "--peak-n",
        type=cli.int_in(16, 16384),
        default=None,
        help="side of the peak's square matmul (default: 1024 on the CPU, 8192 elsewhere)",
    )
    return p


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    for flag in ("width", "wide"):
        if getattr(args, flag) % HEADS:
            p.error(f"--{flag} must be a multiple of {HEADS} (the heads)")
    n = args.peak_n or PEAK_N.get(jax.default_backend(), 8192)
    need = memory_needed(args.width, args.wide, args.batch, args.context, args.decode_context, n)
    cli.require_memory(p, need, "--width, --wide, --batch, --context, --decode-context, --peak-n")
    r = run(
        args.width, args.wide, args.batch, args.context, args.decode_context, args.budget_ms,
        args.peak_n,
    )  # fmt: skip
    if args.json:
        print(json.dumps(cli.to_jsonable(r), allow_nan=False))
        return
    console = display.console()
    backend, device = cli.device_info()
    console.rule(f"[bold]GPT training and decoding · {backend} · {device}")
    report(r, console)


if __name__ == "__main__":
    cli.entry(main)
