"""Lesson 9.1 — a tiny GPT, trained on Macbeth.

A character-level language model: the vocabulary is the text's distinct
characters, the first 90 % of Macbeth trains and the last 10 % validates
(contiguous, so validation is unseen text). The GPT is the shared kernels'
(token and learned position embeddings, pre-norm blocks of causal multi-head
attention and a GELU MLP, a final LayerNorm, output tied to the token
embeddings), trained with optax AdamW (linear warm-up, cosine decay,
global-norm clipping) in chunks of steps, each chunk one compiled lax.scan.

It shows: the initial loss against ln V (an untrained model should be
uniformly unsure); train and validation curves; the validation loss and
perplexity against three baselines on the same split — uniform, unigram and
bigram counts with add-one smoothing; a seeded sample; and the throughput,
in tokens/s and in FLOP/s against this machine's matmul peak measured in the
same run. `--save PATH` keeps the parameters with the best validation loss
(lesson 20 reads them; `make train` runs a longer training and saves them).

Run:  python lessons/19_language_model.py [--steps 200] [--d-model 64] [--layers 2]
      [--heads 4] [--context 64] [--batch 32] [--lr 0.005] [--evals 10] [--save PATH] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import contextlib
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from trinity_foundations import checkpoints, cli, display, macbeth, timing
from trinity_foundations import decoding as dec
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt, param_count

DATA = macbeth.DATA  # the text, its digest and the model's shape are shared with lesson 20
SEED = 0
D_MODEL, LAYERS, HEADS, CONTEXT, BATCH, STEPS = 64, 2, 4, 64, 32, 200
LR, WARMUP, WEIGHT_DECAY, CLIP = 5e-3, 30, 0.1, 1.0
SAMPLE_LENGTH, PROMPT = 200, "\n"
BIGRAM_ADDS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)  # add-k smoothings of the best-bigram check
EVALS, TRAIN_EVAL_WINDOWS = 10, 64  # evaluations per run at most; training windows scored
MAX_STEPS = 100_000  # time only: about an hour of the default model on a 2-core CPU
PEAK_N = {"cpu": 1024}  # matmul side used to measure the peak; 8192 on accelerators


PEAK_CALLS = 3  # peak matmuls timed after each chunk: with it, one round of the timing


def peak_side() -> int:
    return PEAK_N.get(jax.default_backend(), 8192)


@functools.cache
def matmul_peak(dtype, n: int):
    """(jitted matmul, a, b): the large square product whose FLOP/s is taken as this
    machine's peak. NumPy draws the (n, n) inputs: their values do not matter."""
    rng = np.random.default_rng(1)
    a, b = (jnp.asarray(rng.standard_normal((n, n), np.float32), dtype) for _ in range(2))
    return jax.jit(jnp.matmul), a, b


class Round(NamedTuple):
    """One round of the side-by-side timing: a compiled chunk, then the peak matmul."""

    chunk_ms: float  # the chunk's call, synced
    peak_ms: float  # median of PEAK_CALLS synced matmul calls right after it


def timed(run_chunk, times: list):
    """run_chunk, timed side by side with the peak matmul: each call is one round,
    the chunk (synced) then PEAK_CALLS matmuls, and `times` receives its Round. The
    two share the machine's slow spells round by round, at no extra training."""
    matmul, a, b = matmul_peak(jnp.result_type(float), peak_side())

    def call(*args):
        ms, out = timing.time_once(run_chunk, *args)
        # the first round's warm-up also compiles the matmul, apart from its timing
        peak = timing.time_call(matmul, a, b, repeats=PEAK_CALLS, warmup=0 if times else 1)
        times.append(Round(ms, peak.median_ms))
        return out

    return call


def mfu_of(r: Round, flops_per_chunk: float, n: int) -> float:
    """Model FLOP utilisation in one round: the chunk's FLOP/s over the matmul's."""
    return (flops_per_chunk / r.chunk_ms) / (2 * n**3 / r.peak_ms)


def diverged_at(losses: np.ndarray) -> int | None:
    """The first step (1-based) whose loss is not finite, or None."""
    bad = ~np.isfinite(losses)
    return int(np.argmax(bad)) + 1 if bad.any() else None


class Trained(NamedTuple):
    """What a training run leaves: the data, the model and its best parameters."""

    text: str
    vocab: lang.Vocab
    train: np.ndarray  # (N,) training token ids
    val: np.ndarray  # (M,) validation token ids
    model: GPTConfig
    config: tr.TrainConfig
    init_params: dict
    init_loss: float  # validation loss before training
    history: tr.History
    compile_ms: float
    chunk_ms: list  # a Round per chunk call: its synced time and the peak matmul's after it
    val_scored: int  # validation targets scored


def train_model(
    seed: int, d_model: int, layers: int, heads: int, context: int, batch: int, steps: int,
    lr: float, warmup: int, weight_decay: float, clip: float, progress=None, evals: int = EVALS,
) -> Trained:  # fmt: skip
    """Train the GPT on Macbeth's first 90 %, evaluating on the last 10 % after each chunk."""
    text = macbeth.read_text()
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    model = macbeth.model_config(vocab.size, d_model, layers, heads, context)
    config = tr.TrainConfig(steps, batch, context, lr, warmup, 0.1, weight_decay, clip)
    loss_fn = tr.LMLoss(model)
    k_init, k_train = jax.random.split(jax.random.key(seed))
    params = init_gpt(k_init, model)
    state = tr.init_state(params, tr.hyper_of(config))
    val_windows = lang.eval_windows(val, context)
    # The training curve is read on a fixed sample of training windows (a curve, not a score).
    train_windows = lang.eval_windows(train, context, limit=TRAIN_EVAL_WINDOWS)
    init_loss = float(tr.evaluate(params, *val_windows, loss_fn=loss_fn))

    chunks = tr.chunks_for(steps, most=evals)
    tokens = jnp.asarray(train)
    # One program per shape: another --lr, --warmup or --clip reuses it (they ride in `state`).
    compiled = timing.compile_once(
        tr.train_chunk, state, k_train, tokens, loss_fn=loss_fn, steps=steps // chunks,
        batch=batch, context=context,
    )  # fmt: skip
    chunk_ms: list[float] = []
    _, history = tr.fit(
        state, k_train, tokens, train_windows, val_windows, config=config, loss_fn=loss_fn,
        chunks=chunks, run_chunk=timed(compiled.compiled, chunk_ms), on_chunk=progress,
    )  # fmt: skip
    return Trained(
        text, vocab, train, val, model, config, params, init_loss, history,
        compiled.lower_ms + compiled.compile_ms, chunk_ms, int(val_windows[1].size),
    )  # fmt: skip


def checkpoint_config(t: Trained, seed: int) -> dict:
    """What a checkpoint records beside the parameters (lesson 20 checks it matches)."""
    return {
        "model": t.model._asdict(), "train": t.config._asdict(), "vocab": t.vocab.chars,
        "data_sha256": macbeth.data_digest(t.text), "seed": seed, "step": t.history.best_step,
        "val_loss": t.history.best_val,
    }  # fmt: skip


def run(
    seed: int,
    d_model: int,
    layers: int,
    heads: int,
    context: int,
    batch: int,
    steps: int,
    lr: float,
    warmup: int,
    weight_decay: float,
    clip: float,
    sample_length: int,
    evals: int = EVALS,
    save: str | None = None,
    progress=None,
) -> dict:
    t = train_model(
        seed, d_model, layers, heads, context, batch, steps, lr, warmup, weight_decay, clip,
        progress, evals,
    )  # fmt: skip
    history, vocab, model, train, val = t.history, t.vocab, t.model, t.train, t.val
    params, best = t.init_params, history.best_params
    saved = save if save and np.isfinite(history.best_val) else None
    if saved:
        checkpoints.save_checkpoint(saved, best, checkpoint_config(t, seed))

    k_sample = jax.random.fold_in(jax.random.key(seed), 1)
    prompt = jnp.asarray(lang.encode(vocab, PROMPT))  # (P,)
    sample, _ = dec.generate_window(
        best, prompt, k_sample, config=model, sampler=dec.Sampler(), steps=sample_length
    )  # (S,)

    chunks = len(history.eval_steps)
    steady = t.chunk_ms[1:] or t.chunk_ms  # the first call of an executable warms it up
    per_chunk, n = steps // chunks, peak_side()
    step_ms = float(np.median([r.chunk_ms for r in steady])) / per_chunk
    tokens_per_s = batch * context / (step_ms / 1e3)
    fpt = tr.flops_per_token(model, context)
    peak = 2 * n**3 / (float(np.median([r.peak_ms for r in steady])) / 1e3)
    chunk_flops = per_chunk * batch * context * fpt
    unigram = lang.unigram_loss(train, val, vocab.size)
    bigram = lang.bigram_loss(train, val, vocab.size)
    best_add = min(BIGRAM_ADDS, key=lambda k: lang.bigram_loss(train, val, vocab.size, k))
    val_loss = history.best_val
    return {
        "vocab_size": vocab.size,
        "train_tokens": len(train),
        "val_tokens": len(val),
        "val_scored": t.val_scored,
        "dtype": str(params["tok"].dtype),
        "param_count": param_count(params),
        "init_loss": t.init_loss,
        "uniform_loss": lang.uniform_loss(vocab.size),
        "unigram_val_loss": unigram,
        "bigram_val_loss": bigram,
        "loss_history": history.loss.tolist(),
        "eval_steps": history.eval_steps,
        "train_eval_history": history.train_eval,
        "val_history": history.val_eval,
        "diverged_at": diverged_at(history.loss),
        "best_step": history.best_step,
        "final_val_loss": history.val_eval[-1],
        "val_loss": val_loss,
        "val_perplexity": lang.perplexity(val_loss) if math.isfinite(val_loss) else math.inf,
        "bigram_margin": bigram - val_loss,
        "bigram_best_add": best_add,
        "bigram_best_margin": lang.bigram_loss(train, val, vocab.size, best_add) - val_loss,
        "sample_prompt": PROMPT,
        "sample": lang.decode(vocab, sample),
        "compile_ms": t.compile_ms,
        "chunks": chunks,
        "timed_chunks": len(steady),
        "step_ms": step_ms,
        "tokens_per_s": tokens_per_s,
        "flops_per_token": fpt,
        "matmul_params": tr.matmul_params(model),
        "achieved_flops": tokens_per_s * fpt,
        "peak_flops": peak,
        "mfu": tokens_per_s * fpt / peak,
        "mfu_rounds": [mfu_of(r, chunk_flops, n) for r in steady],
        "peak_matmul_n": n,
        "saved": saved,
    }


# ----------------------------------------------------------------------------
# Report.


def init_verdict(init_loss: float, uniform: float) -> str:
    """How the untrained model's loss sits against ln V."""
    gap = init_loss - uniform
    side = "above" if gap > 0 else "below"
    if abs(gap) <= 0.05:
        return f"{abs(gap):.3f} nats {side} it (within 0.05): the untrained model is unsure"
    return f"{abs(gap):.3f} nats {side} ln V: the initial logits are not small enough to be flat"


def baseline_verdict(margin: float, best_margin: float, best_add: float) -> str:
    """What the model's lead over the add-one bigram says, and over the best add-k
    bigram: a lead that better smoothing of pair counts closes shows no more."""
    if margin > 0 and best_margin > 0:
        return (
            f"beats the bigram by {margin:.3f} nats, and the best add-k bigram (k = "
            f"{best_add:g}, chosen on validation) by {best_margin:.3f}: it uses more than "
            "the previous character"
        )
    if margin > 0:
        return (
            f"beats the bigram by {margin:.3f} nats, but not the add-{best_add:g} bigram "
            f"({-best_margin:.3f} nats ahead of it): better-smoothed pair counts do as well, "
            "so this does not show that it uses more than the previous character"
        )
    return (
        f"does not beat the bigram (behind by {-margin:.3f} nats): it has learnt no more "
        "than pair counts; train longer or larger"
    )


def best_note(r: dict) -> str | None:
    """A sentence when the kept (best) parameters are not the last ones."""
    if r["best_step"] == r["eval_steps"][-1]:
        return None
    train = r["train_eval_history"]
    at_best, last = train[r["eval_steps"].index(r["best_step"])], train[-1]
    moved = f"{at_best:.4f} to {last:.4f}"
    if last < at_best:
        why = f"the model began to over-fit (the training loss went on falling, {moved})"
    else:
        why = f"not over-fitting, since the training loss rose as well, {moved}"
    return (
        f"Validation loss was lowest at step {r['best_step']:,} ({r['val_loss']:.4f}) and "
        f"ended at {r['final_val_loss']:.4f}: {why}; the parameters of the best step are "
        "the ones kept."
    )


def _data(r: dict, console) -> None:
    console.print(
        f"[bold]Data:[/] Macbeth, {display.count(r['vocab_size'], 'distinct character')}; "
        f"{r['train_tokens']:,} for training, the last {r['val_tokens']:,} for validation "
        f"({r['val_scored']:,} of them scored, in windows of the context length)."
    )
    console.print(
        f"Model: {r['param_count']:,} parameters in {r['dtype']}. Initial validation loss "
        f"{r['init_loss']:.4f} against ln V = {r['uniform_loss']:.4f}: "
        f"{init_verdict(r['init_loss'], r['uniform_loss'])}.\n"
    )


def _curves(r: dict, console) -> None:
    console.print(
        display.line_chart(
            {
                "train (windows across the text)": r["train_eval_history"],
                "validation": r["val_history"],
            },
            height=12,
            width=60,
            x_label=f"evaluation (every {r['eval_steps'][0]:,} steps)",
            y_label="loss (nats)",
        )
    )
    note = best_note(r)
    if note:
        console.print(note)


def _baselines(r: dict, console) -> None:
    table = Table(title="\nValidation loss on the same split (nats per character)")
    for col in ("model", "loss", "perplexity"):
        table.add_column(col, justify="right")
    rows = [
        ("uniform (ln V)", r["uniform_loss"]),
        ("unigram, add-one", r["unigram_val_loss"]),
        ("bigram, add-one", r["bigram_val_loss"]),
        (f"GPT, step {r['best_step']:,}", r["val_loss"]),
    ]
    for name, loss in rows:
        table.add_row(name, f"{loss:.4f}", f"{math.exp(loss):.2f}")
    console.print(table)
    verdict = baseline_verdict(r["bigram_margin"], r["bigram_best_margin"], r["bigram_best_add"])
    console.print(
        f"The GPT {verdict}. Perplexity "
        f"{r['val_perplexity']:.2f}: as unsure as a uniform choice among that many characters."
    )


SHOWN = 600  # characters of a sample printed; --json has all of it


def shown(text: str, limit: int = SHOWN) -> str:
    """`text`, cut at `limit` characters with a note of how many more there are."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … {len(text) - limit:,} more characters"


def _sample(r: dict, console) -> None:
    console.rule("[bold]A seeded sample (temperature 1, prompt: a newline)")
    console.print(shown(r["sample"]), markup=False)
    console.rule()


def after_first(r: dict) -> str:
    """', after the first' when the first chunk (the executable's warm-up) was left out."""
    return ", after the first" if r["timed_chunks"] < r["chunks"] else ""


def mfu_spread(rounds: list[float]) -> str:
    """'; its rounds gave a to b: the machine was busy' when the per-round MFU disagree
    by more than timing.SPREAD, else ''."""
    found = timing.spread(rounds)
    if found is None:
        return ""
    lo, hi = (display.share(x) for x in found)
    return f"; its rounds gave {lo} to {hi}: the machine was busy"


def _speed(r: dict, console) -> None:
    console.print(
        f"[bold]Speed:[/] one step of {r['step_ms']:.2f} ms (median over "
        f"{display.count(r['timed_chunks'], 'compiled chunk')}{after_first(r)}, compiled "
        f"in {display.duration(r['compile_ms'])}): {r['tokens_per_s']:,.0f} tokens/s."
    )
    console.print(
        f"FLOPs per training token = 6·N + 12·L·T·d = {r['flops_per_token']:,} "
        f"(N = {r['matmul_params']:,} weights in matmuls, the tied output included; "
        "attention over the full T, masked half included; biases, norms, softmax and "
        "the optimiser not counted)."
    )
    console.print(
        f"Achieved {r['achieved_flops'] / 1e9:.1f} GFLOP/s against this machine's matmul peak "
        f"of {r['peak_flops'] / 1e9:.1f} GFLOP/s ({r['peak_matmul_n']:,}² {r['dtype']}, timed "
        f"after each chunk, side by side): {display.share(r['mfu'])} of peak (model FLOP "
        f"utilisation){mfu_spread(r['mfu_rounds'])}."
    )
    if r["saved"]:
        console.print(f"Saved the parameters of step {r['best_step']:,} to {r['saved']}.")


def report(r: dict, console) -> None:
    _data(r, console)
    if r["diverged_at"] is not None:
        console.print(
            f"[bold red]Training diverged:[/] the loss left the finite numbers at step "
            f"{r['diverged_at']:,}. Lower --lr (or raise --warmup) and run again."
        )
        return
    _curves(r, console)
    _baselines(r, console)
    _sample(r, console)
    _speed(r, console)


# ----------------------------------------------------------------------------
# Command line.


def memory_needed(d, layers, heads, context, batch, vocab=128, itemsize=4) -> float:
    """Rough bytes of a training step: params + grads + two Adam moments, and the
    activations kept for backward (about 48·d + 5·H·T numbers per token and layer,
    plus the logits), for the batch and for the validation windows. The
    coefficients bound what XLA's compiled step allocates (its memory_analysis:
    7,650 numbers per token at d 64, H 4, T 64; 34,994 at H 16, T 256)."""
    n = 12 * layers * d * d + (vocab + context) * d
    per_token = layers * (48 * d + 5 * heads * context) + 3 * vocab
    tokens = batch * context + 11_000  # a batch, and every validation window at once
    return itemsize * (4 * n + per_token * tokens)


DEFAULT_SECONDS = 15  # the default run on a busy 2-core CPU, compiling included
LONG = 4  # runs past this many times the default's arithmetic are announced


def run_work(steps: int, batch: int, d: int, layers: int, heads: int, context: int) -> float:
    """Training FLOPs of a run: what its time grows with."""
    model = macbeth.model_config(128, d, layers, heads, context)
    return steps * batch * context * tr.flops_per_token(model, context)


def long_run_sentence(work: float, default_work: float) -> str | None:
    """What to say before a run much longer than the default, or None."""
    factor = work / default_work
    if factor <= LONG:
        return None
    minutes = factor * DEFAULT_SECONDS / 60
    return (
        f"This run does {factor:,.0f}× the default run's arithmetic: about {minutes:,.0f} "
        "minutes on a 2-core CPU (the bar shows the time left; Ctrl-C stops it)."
    )


def warn_if_long(steps, batch, d, layers, heads, context) -> None:
    """Say up front, on a terminal's stderr, that a run will take long."""
    err = display.LessonConsole(stderr=True, highlight=False)
    default = run_work(STEPS, BATCH, D_MODEL, LAYERS, HEADS, CONTEXT)
    sentence = long_run_sentence(run_work(steps, batch, d, layers, heads, context), default)
    if sentence and err.is_terminal:
        err.print(sentence, markup=False)


def add_model_flags(parser) -> None:
    parser.add_argument(
        "--d-model", type=cli.int_in(1, 2048), default=D_MODEL, help="width d (%(default)s)"
    )
    parser.add_argument("--layers", type=cli.int_in(1, 48), default=LAYERS, help="(%(default)s)")
    parser.add_argument(
        "--heads", type=cli.int_in(1, 64), default=HEADS, help="attention heads (%(default)s)"
    )
    parser.add_argument(
        "--context",
        type=cli.int_in(1, 2048),
        default=CONTEXT,
        help="characters per window, T (%(default)s)",
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    add_model_flags(parser)
    parser.add_argument(
        "--batch", type=cli.int_in(1, 4096), default=BATCH, help="windows per step (%(default)s)"
    )
    parser.add_argument(
        "--steps",
        type=cli.int_in(1, MAX_STEPS, "a bound on time"),
        default=STEPS,
        help="optimiser steps (%(default)s)",
    )
    parser.add_argument(
        "--lr", type=cli.positive_float_at_most(10.0), default=LR, help="peak rate (%(default)s)"
    )
    parser.add_argument(
        "--warmup",
        type=cli.int_in(0, MAX_STEPS),
        default=WARMUP,
        help="steps of linear warm-up (%(default)s)",
    )
    parser.add_argument(
        "--weight-decay",
        type=cli.float_in(0.0, 10.0),
        default=WEIGHT_DECAY,
        help="AdamW's decoupled decay (%(default)s)",
    )
    parser.add_argument(
        "--clip",
        type=cli.float_in(0.0, 1e6),
        default=CLIP,
        help="global-norm clipping threshold, 0 for none (%(default)s)",
    )
    parser.add_argument(
        "--sample-length",
        type=cli.int_in(1, 5000),
        default=SAMPLE_LENGTH,
        help="characters of the sample (%(default)s)",
    )
    parser.add_argument(
        "--evals",
        type=cli.int_in(1, 100),
        default=EVALS,
        help="evaluations at most, in equal chunks that divide --steps (%(default)s)",
    )
    parser.add_argument(
        "--save", metavar="PATH", default=None, help="write the best parameters here (.npz)"
    )
    args = parser.parse_args(argv)
    if args.d_model % args.heads:
        parser.error(f"--d-model {args.d_model} is not a multiple of --heads {args.heads}")
    if args.save is not None and (problem := checkpoints.save_problem(args.save)):
        parser.error(f"argument --save: {problem}")
    itemsize = 8 if jax.config.jax_enable_x64 else 4
    need = memory_needed(args.d_model, args.layers, args.heads, args.context, args.batch)
    cli.require_memory(parser, need * itemsize / 4, "--d-model, --layers, --context, --batch")
    if not args.json:
        warn_if_long(args.steps, args.batch, args.d_model, args.layers, args.heads, args.context)
    sizes = dict(
        d_model=args.d_model, layers=args.layers, heads=args.heads, context=args.context,
        batch=args.batch, steps=args.steps, lr=args.lr, warmup=args.warmup,
        weight_decay=args.weight_decay, clip=args.clip, sample_length=args.sample_length,
        evals=args.evals,
    )  # fmt: skip
    if args.json:
        results = run(args.seed, **sizes, save=args.save)
    else:
        with training_progress(args.steps) as on_chunk:
            results = run(args.seed, **sizes, save=args.save, progress=on_chunk)
    cli.finish(
        args,
        __file__,
        results,
        report,
        title=__doc__,
        kernels=(lang.sample_batch, lang.cross_entropy, tr.train_step, tr.train_chunk, gpt_forward),
    )


@contextlib.contextmanager
def training_progress(steps: int):
    """A rich progress bar on stderr that advances per chunk and shows the losses so far;
    yields the `on_chunk(steps_done, val_loss, batch_loss)` callback of `training.fit`."""
    bar = Progress(
        TextColumn("training"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} steps · {task.fields[losses]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("train", total=steps, losses="compiling, then the first chunk")

    def on_chunk(done: int, val_loss: float, batch_loss: float) -> None:
        losses = f"batch loss {batch_loss:.3f} · validation {val_loss:.3f}"
        bar.update(task, completed=done, losses=losses)

    with bar:
        yield on_chunk


if __name__ == "__main__":
    cli.entry(main)
