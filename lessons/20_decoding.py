"""Lesson 9.2 — generating text.

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
and of a padded full-recompute step are measured side by side.

It uses the checkpoint that `make train` (or lesson 19 with --save) writes,
when it exists and matches the data; otherwise it trains lesson 19's
default model first, and says which.

Run:  python lessons/20_decoding.py [--checkpoint PATH] [--length 200]
      [--temperature 0.8] [--top-k 10] [--top-p 0.9] [--draws 20000] [--json]
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from trinity_foundations import cli, display, timing
from trinity_foundations import decoding as dec
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, gpt_forward

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "gpt_macbeth.npz"
SEED = 0
LENGTH, TEMPERATURE, TOP_K, TOP_P, DRAWS = 200, 0.8, 10, 0.9, 20_000
GUMBEL_KEYS, NGRAM, PROMPT = 1000, 4, "\n"
MAX_LENGTH, MAX_DRAWS = 5000, 10_000_000
SHOWN = 300  # characters of each sample printed; --json has all of them


@functools.cache
def lesson_19():
    """Lesson 19's module (its name starts with a digit, so it is loaded by path), once."""
    spec = importlib.util.spec_from_file_location(
        "lesson_19", ROOT / "lessons/19_language_model.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkpoint_problem(config: dict, vocab: lang.Vocab, digest: str) -> str | None:
    """Why a checkpoint's configuration does not fit this data, or None when it does."""
    if config.get("data_sha256") != digest:
        return "it was trained on another text"
    if config.get("vocab") != vocab.chars:
        return "its vocabulary differs from this text's"
    model = config.get("model", {})
    if model.get("vocab_size") != vocab.size or not model.get("prenorm", True):
        return "its model does not fit this vocabulary"
    return None


def load_model(path: Path, seed: int):
    """(params, GPTConfig, source, why): the checkpoint at `path` if it matches, else
    lesson 19's default model trained now; `why` says why the checkpoint was not used."""
    lm = lesson_19()
    text = lm.read_text()
    vocab = lang.build_vocab(text)
    why = "none exists" if not path.exists() else None
    if why is None:
        try:
            params, config = tr.load_checkpoint(path)
            why = checkpoint_problem(config, vocab, lm.data_digest(text))
        except (OSError, ValueError, KeyError) as error:
            why = f"it cannot be read ({type(error).__name__})"
    if why is None:
        model = GPTConfig(**config["model"])
        dtype = jnp.result_type(float)
        return jax.tree.map(lambda a: jnp.asarray(a, dtype), params), model, "checkpoint", None
    params, model = default_model(lm, seed)
    return params, model, "trained", why


@functools.cache
def default_model(lm, seed: int):
    """Lesson 19's default model, trained once per process and seed: (params, GPTConfig)."""
    t = lm.train_model(
        seed, lm.D_MODEL, lm.LAYERS, lm.HEADS, lm.CONTEXT, lm.BATCH, lm.STEPS, lm.LR,
        lm.WARMUP, lm.WEIGHT_DECAY, lm.CLIP,
    )  # fmt: skip
    return t.history.best_params, t.model


def sampling_checks(params, model, prompt, key, draws: int) -> dict:
    """Gumbel-max identity over many keys, and a χ² test of many draws against softmax."""
    k_gumbel, k_draws = jax.random.split(key)
    logits = dec.cached_forward(
        params, prompt[None], dec.init_cache(model, 1, params["tok"].dtype), config=model
    )[0][0, -1]  # (V,) next-token logits after the prompt
    keys = jax.random.split(k_gumbel, GUMBEL_KEYS)
    via_categorical = jax.vmap(lambda k: jax.random.categorical(k, logits))(keys)  # (K,)
    via_gumbel = jax.vmap(lambda k: dec.gumbel_argmax(k, logits))(keys)  # (K,)
    tokens = jax.random.categorical(k_draws, logits, shape=(draws,))  # (N,)
    counts = np.bincount(np.asarray(tokens), minlength=model.vocab_size)  # (V,)
    probs = np.asarray(jax.nn.softmax(logits.astype(jnp.float32)), np.float64)  # (V,)
    stat, dof, p = dec.chi2_test(counts, probs / probs.sum())
    return {
        "gumbel_equal": bool(jnp.all(via_categorical == via_gumbel)),
        "gumbel_keys": GUMBEL_KEYS,
        "chi2_stat": stat,
        "chi2_dof": dof,
        "chi2_p_value": p,
        "draws": draws,
    }


def kv_checks(params, model, prompt) -> dict:
    """Cached greedy decoding against full recompute: logits, tokens, and the times."""
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
    prefill = timing.time_call(forward, params, prompt[None], empty)
    _, cache = forward(params, prompt[None], empty)
    one = tokens[:, :1]  # (1, 1)
    cached = timing.time_call(forward, params, one, cache)
    # The no-cache step: a full forward pass over the padded, fixed-length (1, T) buffer.
    recompute_fn = functools.partial(dec.recompute_logits, config=model)
    recompute = timing.time_call(recompute_fn, params, full, jnp.asarray(p + 1))
    param_bytes = sum(int(a.nbytes) for a in jax.tree.leaves(params))
    # Forward FLOPs of one token: 2 per matmul weight, and q·k plus weights·v over T keys.
    flops = 2 * tr.matmul_params(model) + 4 * model.n_layers * model.context * model.d_model
    return {
        "kv_prompt_tokens": p,
        "kv_steps": steps,
        "kv_max_diff": max_diff,
        "kv_tokens_equal": bool(jnp.all(tokens[0] == window_tokens)),
        "prefill_ms": prefill.median_ms,
        "decode_ms_cached": cached.median_ms,
        "decode_ms_recompute": recompute.median_ms,
        "cache_bytes": dec.cache_bytes(empty),
        "param_bytes": param_bytes,
        "decode_flops": flops,
        "decode_intensity": flops / (param_bytes + dec.cache_bytes(empty)),
    }


def run(
    seed: int,
    checkpoint: str,
    length: int,
    temperature: float,
    top_k: int,
    top_p: float,
    draws: int,
) -> dict:
    k_samples, k_checks = jax.random.split(jax.random.key(seed))
    params, model, source, why = load_model(Path(checkpoint), seed)
    vocab = lang.build_vocab(lesson_19().read_text())
    prompt = jnp.asarray(lang.encode(vocab, PROMPT))  # (P,)

    methods = {
        "greedy": dec.Sampler(temperature=0.0),
        f"temperature {temperature:g}": dec.Sampler(temperature=temperature),
        f"top-k {top_k}": dec.Sampler(top_k=top_k),
        f"top-p {top_p:g}": dec.Sampler(top_p=top_p),
        "temperature 1": dec.Sampler(),
        "top-k 1": dec.Sampler(top_k=1),
    }
    samples, entropies, tokens = {}, {}, {}
    for name, sampler in methods.items():  # the same key for each: only the rule differs
        toks, ents = dec.generate_window(
            params, prompt, k_samples, config=model, sampler=sampler, steps=length
        )  # (S,), (S,)
        tokens[name] = np.asarray(toks).tolist()
        samples[name] = lang.decode(vocab, toks)
        entropies[name] = float(jnp.mean(ents))

    kv_prompt = jnp.asarray(
        lang.encode(vocab, lesson_19().read_text()[: max(1, model.context // 4)])
    )
    return {
        "source": source,
        "source_reason": why,
        "checkpoint": str(checkpoint),
        "model": model._asdict(),
        "dtype": str(params["tok"].dtype),
        "samples": samples,
        "entropies": entropies,
        "topk1_equals_greedy": tokens["top-k 1"] == tokens["greedy"],
        "repeat_share": {
            "greedy": dec.repeated_ngram_share(tokens["greedy"], NGRAM),
            "temperature 1": dec.repeated_ngram_share(tokens["temperature 1"], NGRAM),
        },
        "ngram": NGRAM,
        **sampling_checks(params, model, prompt, k_checks, draws),
        **kv_checks(params, model, kv_prompt),
    }


# ----------------------------------------------------------------------------
# Report.


def source_sentence(r: dict) -> str:
    if r["source"] == "checkpoint":
        return f"Using the checkpoint {r['checkpoint']}."
    return (
        f"No usable checkpoint at {r['checkpoint']} ({r['source_reason']}): trained lesson "
        "19's default model first (run `make train` for a better one)."
    )


def chi2_verdict(p: float) -> str:
    if p >= 0.01:
        return "consistent with the softmax (p ≥ 0.01)"
    return "unlikely under the softmax (p < 0.01): the sampler or the test is wrong"


def repetition_verdict(greedy: float, sampled: float) -> str:
    if greedy > sampled:
        return "greedy text repeats itself more than sampled text"
    return "here greedy text does not repeat itself more than sampled text"


def speed_sentence(r: dict) -> str:
    return (
        f"A cached decode step is {display.how_much(r['decode_ms_cached'], r['decode_ms_recompute'], 'a padded full recompute')}"  # noqa: E501
        f" at context {r['model']['context']}."
    )


def _samples(r: dict, console) -> None:
    console.print("[bold]Samples[/] (prompt: a newline; the same key for every rule)")
    for name, text in r["samples"].items():
        console.rule(
            f"{name} · mean entropy of the next-character law {r['entropies'][name]:.3f} nats"
        )
        console.print(lesson_19().shown(text, SHOWN), markup=False)
    console.rule()


def _checks(r: dict, console) -> None:
    eq = "equals" if r["gumbel_equal"] else "DIFFERS from"
    console.print(
        f"Gumbel-max: jax.random.categorical(key, l) {eq} argmax(l + Gumbel noise of the same "
        f"key) for all {r['gumbel_keys']:,} keys tried."
    )
    k1 = "is" if r["topk1_equals_greedy"] else "is NOT"
    console.print(f"Top-k with k = 1 {k1} greedy decoding, token for token.")
    console.print(
        f"χ² test of {r['draws']:,} draws against the softmax: χ² = {r['chi2_stat']:.2f} on "
        f"{r['chi2_dof']} degrees of freedom, p = {r['chi2_p_value']:.3f}: "
        f"{chi2_verdict(r['chi2_p_value'])}."
    )
    g, s = r["repeat_share"]["greedy"], r["repeat_share"]["temperature 1"]
    console.print(
        f"Repeated {r['ngram']}-grams: {display.share(g)} of greedy text, {display.share(s)} "
        f"of text sampled at temperature 1: {repetition_verdict(g, s)}.\n"
    )


def _cache(r: dict, console) -> None:
    eq = "identical" if r["kv_tokens_equal"] else "DIFFERENT"
    console.print(
        f"[bold]KV cache:[/] {r['kv_steps']} greedy tokens after a {r['kv_prompt_tokens']}-"
        f"character prompt; cached logits differ from a full recompute by at most "
        f"{r['kv_max_diff']:.1e} ({r['dtype']}), and the tokens are {eq}."
    )
    table = Table()
    for col in ("step", "median time"):
        table.add_column(col, justify="right")
    table.add_row(f"prefill of {r['kv_prompt_tokens']} tokens", display.duration(r["prefill_ms"]))
    table.add_row("decode, with the cache", display.duration(r["decode_ms_cached"]))
    table.add_row("decode, padded full recompute", display.duration(r["decode_ms_recompute"]))
    console.print(table)
    console.print(speed_sentence(r))
    console.print(
        f"The cache holds {r['cache_bytes']:,} bytes (keys and values of every layer and "
        f"position) beside {r['param_bytes']:,} bytes of parameters. A decode step reads both "
        f"to do about {r['decode_flops']:,} FLOPs for one token: "
        f"{r['decode_intensity']:.2f} FLOPs per byte, far below what a matmul reaches, so "
        "decoding waits on memory, not on arithmetic (lesson 22 measures the roofline)."
    )


def report(r: dict, console) -> None:
    console.print(source_sentence(r) + "\n")
    _samples(r, console)
    _checks(r, console)
    _cache(r, console)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--checkpoint", default=str(CHECKPOINT), help="the parameters to use (%(default)s)"
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
        "--draws",
        type=cli.int_in(100, MAX_DRAWS, "a bound on time"),
        default=DRAWS,
        help="draws for the χ² test (%(default)s)",
    )
    args = parser.parse_args(argv)
    results = run(
        args.seed,
        args.checkpoint,
        args.length,
        args.temperature,
        args.top_k,
        args.top_p,
        args.draws,
    )
    cli.finish(
        args,
        __file__,
        results,
        report,
        title=__doc__,
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
