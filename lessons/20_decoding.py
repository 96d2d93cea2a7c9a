"""Lesson 20 — generating text.

The GPT of lesson 19 gives, at every step, logits over the next character.
How a character is chosen from them changes the text: greedy decoding
(argmax), sampling at a temperature τ (softmax(l/τ)), top-k (sample among the
k most likely) and top-p, the nucleus (sample among the most likely
characters holding a share p of the probability). All sampling here comes
from one explicit key, and every draw is the Gumbel-max trick — checked:
`jax.random.categorical(key, l)` equals argmax(l + Gumbel noise from the
same key); top-k with k = 1 is greedy; many draws match the softmax (a χ²
test); greedy text repeats itself, sampled text less.

Then the KV cache: the keys and values of past tokens, kept in fixed-shape
buffers so that each new token costs one token's work. The cached logits
equal a full recompute, and the time of a prefill, of a cached decode step
and of a padded full-recompute step are measured side by side, with cached
steps of wider models (random weights of the same shapes): from which width
on does a step's time follow the bytes it reads, as a memory-bound step's does?

It uses the checkpoint that `make train` (or lesson 19 with --save) writes;
when that file does not exist it trains lesson 19's default model first,
and says so. A checkpoint that cannot be used (another text, a damaged file,
arrays that do not fit its model) is refused in one line, never replaced.

Run:  python lessons/20_decoding.py [--checkpoint PATH] [--prompt TEXT] [--length 200]
      [--temperature 0.8] [--top-k 10] [--top-p 0.9] [--draws 20000] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import math
import re
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display, macbeth, sections, timing
from trinity_foundations import decoding as dec
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt

SEED = 0
LENGTH, TEMPERATURE, TOP_K, TOP_P, DRAWS = 200, 0.8, 10, 0.9, 20_000
GUMBEL_KEYS, NGRAM, PROMPT = 1000, 4, "\n"
MAX_PROMPT = 2_000  # characters: a prompt longer than the context only keeps its end
MAX_LENGTH, MAX_DRAWS = 5000, 10_000_000
SHOWN = 300  # characters of each sample printed; --json has all of them
SWEEP_WIDTHS, SWEEP_MAX_WIDTH = 4, 512  # the model's d and its doublings, up to this width
GROWS = 0.75  # time ∝ bytes^e with e at least this: the time follows the bytes read
KV_BUDGET_MS, KV_ROUNDS = 60.0, 7  # each timed call's repeats, shared out over the rounds


def decoding_problem(model: GPTConfig) -> str | None:
    """Why a checkpoint's model, trained on this text, cannot be decoded here, or None."""
    if not model.prenorm:
        return "it is post-norm: the KV cache here is written for pre-norm blocks"
    if model.context == 1:
        return "its context is 1: the KV-cache check needs a prompt and a next token"
    return None


def open_checkpoint(path: str, default: str = str(macbeth.CHECKPOINT)):
    """`macbeth.open_checkpoint` and `decoding_problem`: (params, GPTConfig), or None when
    lesson 19's default model is to be trained; ValueError with a one-line reason."""
    loaded = macbeth.open_checkpoint(path, default=default)
    why = loaded and decoding_problem(loaded[1])
    if why:
        raise ValueError(f"{path}: {why}")
    return loaded


@functools.cache
def default_model(seed: int, show_progress: bool = False):
    """Lesson 19's default model, trained once per process and seed: (params, GPTConfig).

    On a terminal (not under --json) it says why on stderr and shows its progress.
    """
    steps = macbeth.DEFAULTS.steps
    err = display.LessonConsole(stderr=True, highlight=False)
    if show_progress and err.is_terminal:
        err.print(
            f"Training lesson 19's default model first ({steps:,} steps). `make train` "
            f"saves a better one to {macbeth.CHECKPOINT}, which this lesson then reads instead.",
            markup=False,
        )
    with display.steps_progress(steps, "training", enabled=show_progress) as advance:
        return macbeth.train_default(seed, advance)


# ----------------------------------------------------------------------------
# 1. The model: the checkpoint, or lesson 19's default trained first.


@dataclass(frozen=True)
class Source:
    source: str  # "checkpoint" or "trained"
    reason: str | None  # why it was trained: "none exists" or "none asked for"
    checkpoint: str
    model: dict  # the GPTConfig's fields
    dtype: str
    params: dict = field(repr=False, compare=False)  # the arrays; not in --json


def compute_source(done: dict, *, args, loaded) -> Source:
    """Decode from `loaded` (params, GPTConfig) of the checkpoint, or, when it is None,
    from lesson 19's default model trained first."""
    if loaded is None:
        why = "none asked for" if args.checkpoint == macbeth.NO_CHECKPOINT else "none exists"
        (params, model), source = default_model(args.seed, not args.json), "trained"
    else:
        (params, model), source, why = loaded, "checkpoint", None
    dtype = str(params["tok"].dtype)
    return Source(source, why, str(args.checkpoint), model._asdict(), dtype, params)


def source_sentence(source: str, reason: str | None, checkpoint: str) -> str:
    if source == "checkpoint":
        return f"Using the checkpoint {checkpoint}."
    if reason == "none asked for":
        return (
            f"--checkpoint {checkpoint}: trained lesson 19's default model first, as a fresh "
            "clone does."
        )
    return (
        f"No usable checkpoint at {checkpoint} ({reason}): trained lesson "
        "19's default model first (run `make train` for a better one)."
    )


def say_source(r: Source, console) -> None:
    console.print(source_sentence(r.source, r.reason, r.checkpoint) + "\n")


def model_of(done: dict) -> tuple[dict, GPTConfig]:
    """The parameters and the GPTConfig the first section chose."""
    s = done["source"]
    return s.params, GPTConfig(**s.model)


# ----------------------------------------------------------------------------
# 2. Six rules continue one prompt, with one key: only the rule differs.


@dataclass(frozen=True)
class Decoded:
    rule: str  # "greedy", "temperature 0.8", "top-k 10", ...
    text: str
    mean_entropy: float  # nats: of the next-character law the rule sampled from
    loop: tuple[int, int] | None  # (start, period) of the loop it fell into, or None


@dataclass(frozen=True)
class Samples:
    prompt: str
    rules: tuple[Decoded, ...]
    topk1_equals_greedy: bool
    ngram: int
    repeat_greedy: float  # share of repeated n-grams in the greedy text
    repeat_sampled: float  # and in the text sampled at temperature 1
    shown: int  # characters of each sample printed; --json has all of them


def compute_samples(done: dict, *, args) -> Samples:
    params, model = model_of(done)
    vocab = lang.build_vocab(macbeth.read_text())
    prompt = jnp.asarray(lang.encode(vocab, args.prompt))  # (P,)
    k_samples, _ = jax.random.split(jax.random.key(args.seed))
    rules = {
        "greedy": dec.Sampler(temperature=0.0),
        f"temperature {args.temperature:g}": dec.Sampler(temperature=args.temperature),
        f"top-k {args.top_k}": dec.Sampler(top_k=args.top_k),
        f"top-p {args.top_p:g}": dec.Sampler(top_p=args.top_p),
        "temperature 1": dec.Sampler(),
        "top-k 1": dec.Sampler(top_k=1),
    }
    decoded, tokens = [], {}
    for name, sampler in rules.items():  # the same key for each: only the rule differs
        toks, ents = dec.generate_window(
            params, prompt, k_samples, config=model, sampler=sampler, steps=args.length
        )  # (S,), (S,)
        tokens[name] = np.asarray(toks).tolist()
        text, entropy = lang.decode(vocab, toks), float(jnp.mean(ents))
        decoded.append(Decoded(name, text, entropy, dec.loop_start(tokens[name])))
    return Samples(
        args.prompt, tuple(decoded), tokens["top-k 1"] == tokens["greedy"], NGRAM,
        dec.repeated_ngram_share(tokens["greedy"], NGRAM),
        dec.repeated_ngram_share(tokens["temperature 1"], NGRAM), SHOWN,
    )  # fmt: skip


def prompt_words(prompt: str) -> str:
    """How the samples' prompt is named: 'a newline', or the text itself in quotes."""
    return "a newline" if prompt == "\n" else f"“{visible_newlines(prompt).rstrip()}”"


def unknown_characters(prompt: str, chars: str) -> str | None:
    """Why a prompt cannot be encoded (empty, or characters outside the model's
    vocabulary, each named once), or None when it can."""
    if not prompt:
        return "give at least one character"
    missing = sorted(set(prompt) - set(chars))
    if not missing:
        return None
    named = ", ".join(repr(c) for c in missing)
    return f"{named} {'is' if len(missing) == 1 else 'are'} not in the model's vocabulary"


def visible_newlines(text: str) -> str:
    """Each newline shown as ↵; a run of them ends in one line break, so a sample of
    blank lines stays a short line of arrows instead of a screen of nothing."""
    return re.sub(r"\n+", lambda m: "↵" * len(m.group()) + "\n", text)


def loop_sentence(start: int, period: int, length: int) -> str:
    """The sentence for a sample that has fallen into a loop."""
    what = "the same character" if period == 1 else f"the same {period} characters"
    return (
        f"[dim]From character {start + 1:,} of {length:,} on, this sample repeats {what} "
        "over and over: it has fallen into a loop.[/]"
    )


def repetition_verdict(greedy: float, sampled: float) -> str:
    if greedy > sampled:
        return "greedy text repeats itself more than sampled text"
    return "here greedy text does not repeat itself more than sampled text"


def say_samples(r: Samples, console) -> None:
    console.print(
        f"[bold]Samples[/] (prompt: {escape(prompt_words(r.prompt))}; each sample continues "
        "it, with the same key for every rule)"
    )
    for d in r.rules:
        console.rule(f"{d.rule} · mean entropy of the next-character law {d.mean_entropy:.3f} nats")
        console.print(visible_newlines(display.shown(d.text, r.shown)), markup=False)
        if d.loop is not None:
            console.print(loop_sentence(*d.loop, len(d.text)))
    console.rule()
    k1 = "is" if r.topk1_equals_greedy else "is NOT"
    console.print(f"Top-k with k = 1 {k1} greedy decoding, token for token.")
    g, s = r.repeat_greedy, r.repeat_sampled
    console.print(
        f"Repeated {r.ngram}-grams: {display.share(g)} of greedy text, {display.share(s)} "
        f"of text sampled at temperature 1: {repetition_verdict(g, s)}.\n"
    )


# ----------------------------------------------------------------------------
# 3. Every draw is Gumbel-max, and many draws follow the softmax.


@dataclass(frozen=True)
class Checks:
    gumbel_equal: bool
    gumbel_keys: int
    chi2_stat: float
    chi2_dof: int
    chi2_p_value: float
    draws: int


def draws_bytes(draws: int, vocab: int) -> int:
    """Bytes the χ² draws allocate at once: `jax.random.categorical` of N draws over V
    characters makes (N, V) Gumbel noise, the noisy logits and their argmax
    workspace, three float32 arrays (measured: 8.04e9 bytes for 10**7 draws, V = 67)."""
    return 3 * 4 * draws * vocab


def compute_checks(done: dict, *, args) -> Checks:
    """Gumbel-max identity over many keys, and a χ² test of many draws against softmax."""
    params, model = model_of(done)
    vocab = lang.build_vocab(macbeth.read_text())
    prompt = jnp.asarray(lang.encode(vocab, args.prompt))  # (P,)
    _, key = jax.random.split(jax.random.key(args.seed))
    k_gumbel, k_draws = jax.random.split(key)
    logits = dec.cached_forward(
        params, prompt[None], dec.init_cache(model, 1, params["tok"].dtype), config=model
    )[0][0, -1]  # (V,) next-token logits after the prompt
    keys = jax.random.split(k_gumbel, GUMBEL_KEYS)
    via_categorical = jax.vmap(lambda k: jax.random.categorical(k, logits))(keys)  # (K,)
    via_gumbel = jax.vmap(lambda k: dec.gumbel_argmax(k, logits))(keys)  # (K,)
    tokens = jax.random.categorical(k_draws, logits, shape=(args.draws,))  # (N,)
    counts = np.bincount(np.asarray(tokens), minlength=model.vocab_size)  # (V,)
    probs = np.asarray(jax.nn.softmax(logits.astype(jnp.float32)), np.float64)  # (V,)
    stat, dof, p = dec.chi2_test(counts, probs / probs.sum())
    equal = bool(jnp.all(via_categorical == via_gumbel))
    return Checks(equal, GUMBEL_KEYS, stat, dof, p, args.draws)


def chi2_sentence(stat: float, dof: int, p: float, draws: int) -> str:
    """The χ² test's line; with fewer than two cells to compare (dof < 1: the draws
    all fell where the softmax is nearly sure) the test cannot be run, and says so."""
    if dof < 1:
        return (
            f"χ² test of {draws:,} draws against the softmax: cannot be run, since fewer "
            "than two outcomes are expected 5 times or more (the model is nearly sure "
            "of its next character); more --draws would give it cells to compare."
        )
    return (
        f"χ² test of {draws:,} draws against the softmax: χ² = {stat:.2f} on {dof} "
        f"degrees of freedom, p = {p:.3f}: {chi2_verdict(p)}."
    )


def chi2_verdict(p: float) -> str:
    if p >= 0.01:
        return "consistent with the softmax (p ≥ 0.01)"
    return "unlikely under the softmax (p < 0.01): the sampler or the test is wrong"


def say_checks(r: Checks, console) -> None:
    eq = "equals" if r.gumbel_equal else "DIFFERS from"
    console.print(
        f"Gumbel-max: jax.random.categorical(key, l) {eq} argmax(l + Gumbel noise of the same "
        f"key) for all {r.gumbel_keys:,} keys tried."
    )
    console.print(chi2_sentence(r.chi2_stat, r.chi2_dof, r.chi2_p_value, r.draws) + "\n")


# ----------------------------------------------------------------------------
# 4. The KV cache: the same logits as a full recompute, and what a step costs.


@dataclass(frozen=True)
class Sweep:
    """Cached decode steps of the model and of wider ones, timed side by side."""

    d_model: list[int]
    bytes: list[int]  # parameters and cache a step reads
    ms: list[float]  # median time of a step
    rounds_ms: list[list[float]]  # each round's time
    grows: float = GROWS  # time ∝ bytes^e with e at least this: it follows the bytes


@dataclass(frozen=True)
class Cache:
    dtype: str
    context: int
    kv_prompt_tokens: int
    kv_steps: int
    kv_max_diff: float  # cached logits against a full recompute
    kv_tokens_equal: bool  # cached greedy tokens against a window recomputed each step
    prefill_ms: float
    decode_ms_cached: float
    decode_ms_recompute: float
    decode_ratio_rounds: list[float]
    decode_sweep: Sweep
    timing_rounds: int
    cache_bytes: int
    param_bytes: int
    decode_flops: int
    decode_intensity: float  # FLOPs per byte read


def compute_cache(done: dict) -> Cache:
    """Cached greedy decoding against full recompute: logits, tokens, and the times."""
    params, model = model_of(done)
    text = macbeth.read_text()
    vocab = lang.build_vocab(text)
    prompt = jnp.asarray(lang.encode(vocab, text[: max(1, model.context // 4)]))  # (P,)
    p = prompt.shape[0]
    steps = model.context - p
    greedy = dec.Sampler(temperature=0.0)
    key = jax.random.key(0)  # greedy draws nothing; the key is only a placeholder
    tokens, _, seen = dec.generate(
        params, prompt[None], key, config=model, sampler=greedy, steps=steps
    )
    full = jnp.concatenate([prompt[None], tokens], axis=1)  # (1, T)
    recomputed = gpt_forward(params, full, config=model)[:, p - 1 : p - 1 + steps]  # (1, S, V)
    window_tokens, _ = dec.generate_window(
        params, prompt, key, config=model, sampler=greedy, steps=steps
    )  # (S,) each step a full forward pass, no cache
    max_diff = float(jnp.max(jnp.abs(seen - recomputed)))

    forward = functools.partial(dec.cached_forward, config=model)
    empty = dec.init_cache(model, 1, params["tok"].dtype)
    _, cache = forward(params, prompt[None], empty)
    one = tokens[:, :1]  # (1, 1)
    # The no-cache step: a full forward pass over the padded, fixed-length (1, T) buffer.
    recompute_fn = functools.partial(dec.recompute_logits, config=model)
    calls = {
        "prefill": (forward, (params, prompt[None], empty), True),
        "recompute": (recompute_fn, (params, full, jnp.asarray(p + 1)), True),
    }
    param_bytes = sum(int(a.nbytes) for a in jax.tree.leaves(params))
    widths = sweep_widths(model.d_model)
    sweep_bytes = [param_bytes + dec.cache_bytes(cache)]
    calls[f"d={widths[0]}"] = (forward, (params, one, cache), True)  # the model's own step
    for d in widths[1:]:
        call, nbytes = wider_step(model, d, cache.length, params["tok"].dtype)
        calls[f"d={d}"] = call
        sweep_bytes.append(nbytes)
    times = timing.time_side_by_side(calls, KV_BUDGET_MS, rounds=KV_ROUNDS)
    cached = times[f"d={widths[0]}"]
    sweep = Sweep(
        widths, sweep_bytes, [times[f"d={d}"].median_ms for d in widths],
        [list(times[f"d={d}"].rounds_ms) for d in widths],
    )  # fmt: skip
    # Forward FLOPs of one token: 2 per matmul weight, and q·k plus weights·v over T keys.
    flops = 2 * tr.matmul_params(model) + 4 * model.n_layers * model.context * model.d_model
    return Cache(
        str(params["tok"].dtype), model.context, p, steps, max_diff,
        bool(jnp.all(tokens[0] == window_tokens)), times["prefill"].median_ms,
        cached.median_ms, times["recompute"].median_ms,
        timing.round_ratios(times["recompute"], cached), sweep, KV_ROUNDS,
        dec.cache_bytes(empty), param_bytes, flops,
        flops / (param_bytes + dec.cache_bytes(empty)),
    )  # fmt: skip


def sweep_widths(d: int) -> list[int]:
    """d and its doublings, SWEEP_WIDTHS in all, none past SWEEP_MAX_WIDTH (d itself
    always): widening multiplies the parameter bytes by about 4 per doubling."""
    widths = [d]
    while len(widths) < SWEEP_WIDTHS and widths[-1] * 2 <= SWEEP_MAX_WIDTH:
        widths.append(widths[-1] * 2)
    return widths


def wider_step(model, d: int, length, dtype):
    """((fn, args, sync), bytes read) of a cached decode step of the model widened to d:
    the same layers, heads, context and vocabulary, the MLP as many times wider, and
    random weights (only their shapes matter to the time), after `length` tokens."""
    wide = model._replace(d_model=d, d_ff=model.d_ff * d // model.d_model)
    shapes = jax.eval_shape(lambda: init_gpt(jax.random.key(0), wide))
    rng = np.random.default_rng(d)  # NumPy: no sampler compiled for every shape
    params = jax.tree.map(
        lambda a: jnp.asarray(0.02 * rng.standard_normal(a.shape, np.float32), dtype), shapes
    )
    cache = dec.init_cache(wide, 1, dtype)._replace(length=length)  # contents do not matter
    one = jnp.zeros((1, 1), jnp.int32)  # (1, 1)
    forward = functools.partial(dec.cached_forward, config=wide)
    nbytes = sum(int(a.nbytes) for a in jax.tree.leaves(params)) + dec.cache_bytes(cache)
    return (forward, (params, one, cache), True), nbytes


def growth_exponents(nbytes: list, ms: list) -> list[float]:
    """e in time ∝ bytes^e between each width and the next: near 0, a fixed per-call
    cost; near 1, the time follows the bytes read."""
    return [
        math.log(ms[i + 1] / ms[i]) / math.log(nbytes[i + 1] / nbytes[i])
        for i in range(len(ms) - 1)
    ]


def memory_bound_from(exponents: list[float], grows: float = GROWS) -> int | None:
    """Index of the first width from which every step to a wider one grew as bytes^GROWS
    or faster (where the memory bound starts), or None when the last step did not."""
    start = None
    for i in range(len(exponents), 0, -1):
        if exponents[i - 1] < grows:
            break
        start = i
    return start


def sweep_disagrees(exponents: list[float], grows: float = GROWS) -> bool:
    """Whether a step grew as bytes^GROWS or faster and a later one did not: time that
    does not follow the bytes steadily places no memory bound."""
    start = memory_bound_from(exponents, grows) or len(exponents) + 1
    return any(e >= grows for e in exponents[: start - 1])


def spread_note(ratios: list[float]) -> str:
    """' (rounds: a× to b×, …)' when the per-round ratios disagree by more than
    timing.SPREAD, so a busy machine says so; else ''."""
    found = timing.spread(ratios)
    if found is None:
        return ""
    return f" (its rounds gave {found[0]:.1f}× to {found[1]:.1f}×: the machine was busy)"


def speed_sentence(cached_ms: float, recompute_ms: float, context: int, ratios: list) -> str:
    faster = display.how_much(cached_ms, recompute_ms, "a padded full recompute")
    return f"A cached decode step is {faster} at context {context}{spread_note(ratios)}."


def bound_sentence(s: Sweep) -> str:
    """Where a cached step's time starts to follow the bytes it reads, from the sweep."""
    d, nbytes, ms, grows = s.d_model, s.bytes, s.ms, s.grows
    exps = growth_exponents(nbytes, ms)
    start = memory_bound_from(exps, grows)
    here = (
        f"At d = {d[0]} a cached step reads {nbytes[0] / 1e6:.2f} MB in "
        f"{display.duration(ms[0])} ({nbytes[0] / ms[0] / 1e6:.1f} GB/s)"
    )
    if len(d) == 1:
        return f"{here}; no wider model was timed, so where memory starts to bind is not measured."
    if sweep_disagrees(exps, grows):
        es = ", ".join(f"{e:.2f}" for e in exps)
        return (
            f"{here}. The widenings disagree (e = {es}: {grows} or more, then less): the time "
            "does not follow the bytes steadily, so this sweep does not show where the data a "
            "step moves starts to set its time (a busy machine, or caches of several sizes, "
            "can do this)."
        )
    if start is None:
        return (
            f"{here}. Up to d = {d[-1]} the time grew far more slowly than the bytes "
            f"(×{ms[-1] / ms[0]:.1f} for ×{nbytes[-1] / nbytes[0]:.0f} the bytes): at these "
            "sizes a step's time is mostly a fixed per-call cost, and no width here is "
            "large enough for the data it moves to set its time."
        )
    pair = s.rounds_ms[start - 1], s.rounds_ms[start]
    found = timing.spread([b / a for a, b in zip(*pair)])
    noise = (
        ""
        if found is None
        else (
            f" (the rounds gave ×{found[0]:.1f} to ×{found[1]:.1f} for that widening: the "
            "machine was busy)"
        )
    )
    grew = (
        f"×{ms[start] / ms[start - 1]:.1f} for ×{nbytes[start] / nbytes[start - 1]:.1f} the "
        f"bytes from d = {d[start - 1]}"
    )
    rate = f"{nbytes[start] / ms[start] / 1e6:.1f} GB/s"
    if start == 1:
        return (
            f"{here}, and widening it grows the time nearly as fast as the bytes ({grew}, "
            f"{rate} at d = {d[1]}): already at this width the data a step moves sets its "
            f"time, as for a memory-bound kernel (its FLOPs grow alike, at the intensity "
            f"above){noise}."
        )
    return (
        f"{here}: a fixed per-call cost sets its time (up to d = {d[start - 1]} the time "
        f"grew far more slowly than the bytes, as bytes^e with e under {grows}). From "
        f"d = {d[start]} ({nbytes[start] / 1e6:.1f} MB) the time grows nearly as fast as the "
        f"bytes ({grew}), at {rate}: from there the data a step moves sets its time, as for "
        f"a memory-bound kernel (its FLOPs grow alike, at the intensity above){noise}."
    )


def sweep_table(s: Sweep) -> Table:
    table = Table()
    for col in ("width d", "MB read", "time", "GB/s", "e"):
        table.add_column(col, justify="right")
    exps = [None, *growth_exponents(s.bytes, s.ms)]
    for d, nbytes, ms, e in zip(s.d_model, s.bytes, s.ms, exps):
        table.add_row(
            f"{d:,}",
            f"{nbytes / 1e6:.2f}",
            display.duration(ms),
            f"{nbytes / ms / 1e6:.1f}",
            "" if e is None else f"{e:.2f}",
        )
    return table


def say_cache(r: Cache, console) -> None:
    eq = "identical" if r.kv_tokens_equal else "DIFFERENT"
    console.print(
        f"[bold]KV cache:[/] {r.kv_steps} greedy tokens after a {r.kv_prompt_tokens}-"
        f"character prompt; cached logits differ from a full recompute by at most "
        f"{r.kv_max_diff:.1e} ({r.dtype}), and the tokens are {eq}."
    )
    table = Table()
    for col in ("step", "median time"):
        table.add_column(col, justify="right")
    table.add_row(f"prefill of {r.kv_prompt_tokens} tokens", display.duration(r.prefill_ms))
    table.add_row("decode, with the cache", display.duration(r.decode_ms_cached))
    table.add_row("decode, padded full recompute", display.duration(r.decode_ms_recompute))
    console.print(table)
    console.print(
        speed_sentence(r.decode_ms_cached, r.decode_ms_recompute, r.context, r.decode_ratio_rounds)
    )
    console.print(
        f"The cache holds {r.cache_bytes:,} bytes (keys and values of every layer and "
        f"position) beside {r.param_bytes:,} bytes of parameters. A decode step reads both "
        f"to do about {r.decode_flops:,} FLOPs for one token: "
        f"{r.decode_intensity:.2f} FLOPs per byte, where an n × n float32 matmul does n/6 "
        "(lesson 22 measures this machine's roofline). Is it memory that a step waits "
        f"on? Cached steps of wider models, timed in the same {r.timing_rounds} rounds "
        "(e: the step's time grows as bytes^e from the width above):"
    )
    console.print(sweep_table(r.decode_sweep))
    console.print(bound_sentence(r.decode_sweep))


# ----------------------------------------------------------------------------
# The lesson.


def build(args, loaded) -> list[sections.Section]:
    S = sections.Section
    return [
        S("source", partial(compute_source, args=args, loaded=loaded), say_source),
        S(
            "samples",
            partial(compute_samples, args=args),
            say_samples,
            doing=f"six rules continue the prompt, {args.length:,} characters each",
        ),
        S(
            "checks",
            partial(compute_checks, args=args),
            say_checks,
            doing=f"Gumbel-max over {GUMBEL_KEYS:,} keys, and {args.draws:,} draws for χ²",
        ),
        S(
            "cache",
            compute_cache,
            say_cache,
            doing="checking the KV cache, then timing its steps side by side",
        ),
    ]


def pick(result, names: str) -> dict:
    """The named fields of a section's result, by name."""
    return {name: getattr(result, name) for name in names.split()}


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract, from the sections."""
    src, smp, chk, kv = (done[k] for k in ("source", "samples", "checks", "cache"))
    return {
        "source": src.source,
        "source_reason": src.reason,
        **pick(src, "checkpoint model dtype"),
        "prompt": smp.prompt,
        "samples": {d.rule: d.text for d in smp.rules},
        "loops": {d.rule: d.loop for d in smp.rules},
        "entropies": {d.rule: d.mean_entropy for d in smp.rules},
        "topk1_equals_greedy": smp.topk1_equals_greedy,
        "repeat_share": {"greedy": smp.repeat_greedy, "temperature 1": smp.repeat_sampled},
        "ngram": smp.ngram,
        **pick(chk, "gumbel_equal gumbel_keys chi2_stat chi2_dof chi2_p_value draws"),
        **pick(kv, "kv_prompt_tokens kv_steps kv_max_diff kv_tokens_equal prefill_ms"),
        **pick(kv, "decode_ms_cached decode_ms_recompute decode_ratio_rounds"),
        "decode_sweep": pick(kv.decode_sweep, "d_model bytes ms rounds_ms"),
        **pick(kv, "timing_rounds cache_bytes param_bytes decode_flops decode_intensity"),
    }


def checks_bullet(samples: Samples, checks: Checks) -> str:
    """What the checks of the sampler showed, in one sentence."""
    gumbel = "is" if checks.gumbel_equal else "is NOT"
    k1 = "is" if samples.topk1_equals_greedy else "is NOT"
    if checks.chi2_dof < 1:
        chi2 = "the χ² test could not be run (the model is nearly sure of its next character)"
    else:
        chi2 = (
            f"χ² of {checks.draws:,} draws gave p = {checks.chi2_p_value:.3f}: "
            f"{chi2_verdict(checks.chi2_p_value)}"
        )
    return (
        f"Every draw {gumbel} Gumbel-max ({checks.gumbel_keys:,} keys checked), top-k 1 "
        f"{k1} greedy, and {chi2}."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    smp, kv = done["samples"], done["cache"]
    loops = sum(d.loop is not None for d in smp.rules)
    first = (
        f"Six rules continued {prompt_words(smp.prompt)} with one key: repeated "
        f"{smp.ngram}-grams made {display.share(smp.repeat_greedy)} of the greedy text and "
        f"{display.share(smp.repeat_sampled)} of temperature 1's, and "
        f"{display.count(loops, 'sample')} fell into a loop."
    )
    eq = "the same tokens" if kv.kv_tokens_equal else "DIFFERENT tokens"
    speed = speed_sentence(
        kv.decode_ms_cached, kv.decode_ms_recompute, kv.context, kv.decode_ratio_rounds
    )
    third = (
        f"The KV cache gave {eq} as a full recompute (logits within {kv.kv_max_diff:.1e}). {speed}"
    )
    return [first, checks_bullet(smp, done["checks"]), third]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--checkpoint",
        default=str(macbeth.CHECKPOINT),
        help="the parameters to use (%(default)s); none: train lesson 19's default model",
    )
    parser.add_argument(
        "--length",
        type=cli.int_in(1, MAX_LENGTH),
        default=LENGTH,
        help="characters per sample (%(default)s)",
    )
    parser.add_argument(
        "--temperature",
        type=cli.float_in(0.01, 100.0, "below 0.01 it is greedy; the greedy row shows that"),
        default=TEMPERATURE,
        help="τ of the temperature sample (%(default)s)",
    )
    parser.add_argument(
        "--top-k", type=cli.int_in(1, 100_000), default=TOP_K, help="k of top-k (%(default)s)"
    )
    parser.add_argument(
        "--top-p", type=cli.float_in(1e-9, 1.0), default=TOP_P, help="p of top-p (%(default)s)"
    )
    parser.add_argument(
        "--prompt",
        default=PROMPT,
        help="the text every rule continues (default: a newline); only characters of Macbeth",
    )
    parser.add_argument(
        "--draws",
        type=cli.int_in(100, MAX_DRAWS, "a bound on time"),
        default=DRAWS,
        help="draws for the χ² test (%(default)s)",
    )
    args = parser.parse_args(argv)
    if len(args.prompt) > MAX_PROMPT:
        parser.error(
            f"argument --prompt: at most {MAX_PROMPT:,} characters, got {len(args.prompt):,}"
        )
    problem = unknown_characters(args.prompt, lang.build_vocab(macbeth.read_text()).chars)
    if problem:
        parser.error(f"argument --prompt: {problem}")
    try:
        loaded = open_checkpoint(args.checkpoint)
    except ValueError as e:
        parser.error(f"argument --checkpoint: {e}")
    vocab = loaded[1].vocab_size if loaded else lang.build_vocab(macbeth.read_text()).size
    cli.require_memory(
        parser, draws_bytes(args.draws, vocab), f"--draws {args.draws:,} over {vocab} characters"
    )
    sections.run(
        args,
        __file__,
        __doc__,
        build(args, loaded),
        summary=summary,
        results=results,
        kernels=(
            dec.top_k_mask,
            dec.top_p_mask,
            dec.filter_logits,
            dec.choose,
            dec.gumbel_argmax,
            dec.cached_forward,
            dec.recompute_logits,
        ),
    )


if __name__ == "__main__":
    cli.entry(main)
