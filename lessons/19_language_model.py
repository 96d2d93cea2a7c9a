"""Lesson 19 — a tiny GPT, trained on Macbeth.

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
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from trinity_foundations import checkpoints, cli, display, macbeth, sections, timing
from trinity_foundations import decoding as dec
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt, param_count

DATA = macbeth.DATA  # the text, its digest and the model's shape are shared with lesson 20
SEED = 0
D_MODEL, LAYERS, HEADS, CONTEXT, BATCH, STEPS = 64, 2, 4, 64, 32, 200
LR, WARMUP, WEIGHT_DECAY, CLIP = 5e-3, 30, 0.1, 1.0
SAMPLE_LENGTH, PROMPT = 200, "\n"
SHOWN = 600  # characters of a sample printed; --json has all of it
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


class Prepared(NamedTuple):
    """What every section starts from: the data, the model and its first parameters."""

    text: str
    vocab: lang.Vocab
    train: np.ndarray  # (N,) training token ids
    val: np.ndarray  # (M,) validation token ids
    model: GPTConfig
    config: tr.TrainConfig
    loss_fn: tr.LMLoss
    k_train: jax.Array
    params: dict  # initialised
    val_windows: tuple  # every validation window, and its targets
    train_windows: tuple  # a fixed sample of training windows (a curve, not a score)


def prepare(args) -> Prepared:
    """Macbeth's first 90 % to train on and last 10 % to validate, and the GPT to train."""
    text = macbeth.read_text()
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    model = macbeth.model_config(vocab.size, args.d_model, args.layers, args.heads, args.context)
    config = tr.TrainConfig(
        args.steps, args.batch, args.context, args.lr, args.warmup, 0.1, args.weight_decay,
        args.clip,
    )  # fmt: skip
    k_init, k_train = jax.random.split(jax.random.key(args.seed))
    return Prepared(
        text, vocab, train, val, model, config, tr.LMLoss(model), k_train,
        init_gpt(k_init, model), lang.eval_windows(val, args.context),
        lang.eval_windows(train, args.context, limit=TRAIN_EVAL_WINDOWS),
    )  # fmt: skip


# ----------------------------------------------------------------------------
# 1. The data, and the untrained model against ln V.


@dataclass(frozen=True)
class Data:
    vocab_size: int
    train_tokens: int
    val_tokens: int
    val_scored: int  # validation targets scored
    dtype: str
    param_count: int
    init_loss: float  # validation loss before training
    uniform_loss: float  # ln V


def compute_data(done: dict, *, p: Prepared) -> Data:
    init_loss = float(tr.evaluate(p.params, *p.val_windows, loss_fn=p.loss_fn))
    return Data(
        p.vocab.size, len(p.train), len(p.val), int(p.val_windows[1].size),
        str(p.params["tok"].dtype), param_count(p.params), init_loss,
        lang.uniform_loss(p.vocab.size),
    )  # fmt: skip


def init_verdict(init_loss: float, uniform: float) -> str:
    """How the untrained model's loss sits against ln V."""
    gap = init_loss - uniform
    side = "above" if gap > 0 else "below"
    if abs(gap) <= 0.05:
        return f"{abs(gap):.3f} nats {side} it (within 0.05): the untrained model is unsure"
    return f"{abs(gap):.3f} nats {side} ln V: the initial logits are not small enough to be flat"


def say_data(r: Data, console: Console) -> None:
    console.print(
        f"[bold]Data:[/] Macbeth, {display.count(r.vocab_size, 'distinct character')}; "
        f"{r.train_tokens:,} for training, the last {r.val_tokens:,} for validation "
        f"({r.val_scored:,} of them scored, in windows of the context length)."
    )
    console.print(
        f"Model: {r.param_count:,} parameters in {r.dtype}. Initial validation loss "
        f"{r.init_loss:.4f} against ln V = {r.uniform_loss:.4f}: "
        f"{init_verdict(r.init_loss, r.uniform_loss)}.\n"
    )


# ----------------------------------------------------------------------------
# 2. Training: chunks of steps, each one compiled lax.scan, evaluated after each.


@dataclass(frozen=True)
class Training:
    steps: int
    loss_history: list[float]  # (steps,) batch loss of every update
    eval_steps: list[int]  # steps after which the model was evaluated
    train_eval_history: list[float]  # loss on the fixed training windows, at each
    val_history: list[float]  # validation loss, at each
    diverged_at: int | None  # the first step whose loss is not finite
    best_step: int
    val_loss: float  # the lowest validation loss, at best_step
    compile_ms: float
    rounds: list[Round]  # a chunk's synced time and the peak matmul's after it, per call
    # The parameters of best_step (arrays): the sample and --save use them; not in --json.
    best_params: dict = field(repr=False, compare=False)


def diverged_at(losses: np.ndarray) -> int | None:
    """The first step (1-based) whose loss is not finite, or None."""
    bad = ~np.isfinite(losses)
    return int(np.argmax(bad)) + 1 if bad.any() else None


@contextlib.contextmanager
def training_progress(steps: int, enabled: bool = True):
    """A rich progress bar on stderr that advances per chunk and shows the losses so far;
    yields the `on_chunk(steps_done, val_loss, batch_loss)` callback of `training.fit`
    (None when not `enabled`: under --json)."""
    if not enabled:
        yield None
        return
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


def compute_training(done: dict, *, p: Prepared, args) -> Training:
    """Train on the first 90 %, evaluating on the last 10 % after each chunk."""
    state = tr.init_state(p.params, tr.hyper_of(p.config))
    chunks = tr.chunks_for(args.steps, most=args.evals)
    tokens = jnp.asarray(p.train)
    # One program per shape: another --lr, --warmup or --clip reuses it (they ride in `state`).
    rounds: list[Round] = []
    with training_progress(args.steps, enabled=not args.json) as on_chunk:
        compiled = timing.compile_once(
            tr.train_chunk, state, p.k_train, tokens, loss_fn=p.loss_fn,
            steps=args.steps // chunks, batch=args.batch, context=args.context,
        )  # fmt: skip
        _, history = tr.fit(
            state, p.k_train, tokens, p.train_windows, p.val_windows, config=p.config,
            loss_fn=p.loss_fn, chunks=chunks, run_chunk=timed(compiled.compiled, rounds),
            on_chunk=on_chunk,
        )  # fmt: skip
    return Training(
        args.steps, history.loss.tolist(), history.eval_steps, history.train_eval,
        history.val_eval, diverged_at(history.loss), history.best_step, history.best_val,
        compiled.lower_ms + compiled.compile_ms, rounds, history.best_params,
    )  # fmt: skip


def best_note(r: Training) -> str | None:
    """A sentence when the kept (best) parameters are not the last ones."""
    if r.best_step == r.eval_steps[-1]:
        return None
    train = r.train_eval_history
    at_best, last = train[r.eval_steps.index(r.best_step)], train[-1]
    moved = f"{at_best:.4f} to {last:.4f}"
    if last < at_best:
        why = f"the model began to over-fit (the training loss went on falling, {moved})"
    else:
        why = f"not over-fitting, since the training loss rose as well, {moved}"
    return (
        f"Validation loss was lowest at step {r.best_step:,} ({r.val_loss:.4f}) and "
        f"ended at {r.val_history[-1]:.4f}: {why}; the parameters of the best step are "
        "the ones kept."
    )


def say_training(r: Training, console: Console) -> None:
    if r.diverged_at is not None:
        console.print(
            f"[bold red]Training diverged:[/] the loss left the finite numbers at step "
            f"{r.diverged_at:,}. Lower --lr (or raise --warmup) and run again."
        )
        return
    console.print(
        display.line_chart(
            {
                "train (windows across the text)": r.train_eval_history,
                "validation": r.val_history,
            },
            height=12,
            width=60,
            x_label=f"evaluation (every {r.eval_steps[0]:,} steps)",
            y_label="loss (nats)",
        )
    )
    note = best_note(r)
    if note:
        console.print(note)


# ----------------------------------------------------------------------------
# 3. The validation loss against counts: uniform, unigram and bigram.


@dataclass(frozen=True)
class Baselines:
    diverged: bool  # nothing to compare: training diverged
    best_step: int
    uniform_loss: float
    unigram_val_loss: float
    bigram_val_loss: float
    val_loss: float
    val_perplexity: float
    bigram_margin: float  # add-one bigram − GPT
    bigram_best_add: float  # the add-k smoothing with the lowest validation loss
    bigram_best_margin: float  # that bigram − GPT


def compute_baselines(done: dict, *, p: Prepared) -> Baselines:
    t, v = done["training"], p.vocab.size
    unigram = lang.unigram_loss(p.train, p.val, v)
    bigram = lang.bigram_loss(p.train, p.val, v)
    best_add = min(BIGRAM_ADDS, key=lambda k: lang.bigram_loss(p.train, p.val, v, k))
    val_loss = t.val_loss
    return Baselines(
        t.diverged_at is not None, t.best_step, done["data"].uniform_loss, unigram, bigram,
        val_loss, perplexity(val_loss) if math.isfinite(val_loss) else math.inf,
        bigram - val_loss, best_add, lang.bigram_loss(p.train, p.val, v, best_add) - val_loss,
    )  # fmt: skip


def perplexity(loss: float) -> float:
    """e^loss, or inf where that overflows a float (a loss past about 709 nats)."""
    try:
        return lang.perplexity(loss)
    except OverflowError:
        return math.inf


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


def say_baselines(r: Baselines, console: Console) -> None:
    if r.diverged:
        return
    table = Table(title="\nValidation loss on the same split (nats per character)")
    for col in ("model", "loss", "perplexity"):
        table.add_column(col, justify="right")
    rows = [
        ("uniform (ln V)", r.uniform_loss),
        ("unigram, add-one", r.unigram_val_loss),
        ("bigram, add-one", r.bigram_val_loss),
        (f"GPT, step {r.best_step:,}", r.val_loss),
    ]
    for name, loss in rows:
        table.add_row(name, f"{loss:.4f}", f"{perplexity(loss):.2f}")
    console.print(table)
    verdict = baseline_verdict(r.bigram_margin, r.bigram_best_margin, r.bigram_best_add)
    console.print(
        f"The GPT {verdict}. Perplexity "
        f"{r.val_perplexity:.2f}: as unsure as a uniform choice among that many characters."
    )


# ----------------------------------------------------------------------------
# 4. A seeded sample from the kept parameters.


@dataclass(frozen=True)
class Sample:
    diverged: bool
    prompt: str
    temperature: float
    text: str
    shown: int  # characters printed; --json has all of them


def compute_sample(done: dict, *, p: Prepared, args) -> Sample:
    k_sample = jax.random.fold_in(jax.random.key(args.seed), 1)
    prompt = jnp.asarray(lang.encode(p.vocab, PROMPT))  # (P,)
    sampler = dec.Sampler()
    sample, _ = dec.generate_window(
        done["training"].best_params,
        prompt,
        k_sample,
        config=p.model,
        sampler=sampler,
        steps=args.sample_length,
    )  # (S,)
    diverged = done["training"].diverged_at is not None
    return Sample(diverged, PROMPT, sampler.temperature, lang.decode(p.vocab, sample), SHOWN)


def shown(text: str, limit: int) -> str:
    """`text`, cut at `limit` characters with a note of how many more there are."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … {len(text) - limit:,} more characters"


def prompt_words(prompt: str) -> str:
    """The prompt as a sentence names it."""
    return "a newline" if prompt == "\n" else repr(prompt)


def say_sample(r: Sample, console: Console) -> None:
    if r.diverged:
        return
    console.rule(
        f"[bold]A seeded sample (temperature {r.temperature:g}, prompt: "
        f"{escape(prompt_words(r.prompt))})"
    )
    console.print(shown(r.text, r.shown), markup=False)
    console.rule()


# ----------------------------------------------------------------------------
# 5. Speed: tokens/s, and FLOP/s against this machine's matmul peak.


@dataclass(frozen=True)
class Speed:
    diverged: bool
    dtype: str
    compile_ms: float
    chunks: int
    timed_chunks: int  # the first call (the executable's warm-up) left out
    step_ms: float
    tokens_per_s: float
    flops_per_token: int
    matmul_params: int
    achieved_flops: float
    peak_flops: float
    mfu: float
    mfu_rounds: list[float]
    peak_matmul_n: int


def compute_speed(done: dict, *, p: Prepared, args) -> Speed:
    t = done["training"]
    chunks = len(t.eval_steps)
    steady = t.rounds[1:] or t.rounds  # the first call of an executable warms it up
    per_chunk, n = args.steps // chunks, peak_side()
    step_ms = float(np.median([r.chunk_ms for r in steady])) / per_chunk
    tokens_per_s = args.batch * args.context / (step_ms / 1e3)
    fpt = tr.flops_per_token(p.model, args.context)
    peak = 2 * n**3 / (float(np.median([r.peak_ms for r in steady])) / 1e3)
    chunk_flops = per_chunk * args.batch * args.context * fpt
    return Speed(
        t.diverged_at is not None, done["data"].dtype, t.compile_ms, chunks, len(steady),
        step_ms, tokens_per_s, fpt, tr.matmul_params(p.model), tokens_per_s * fpt, peak,
        tokens_per_s * fpt / peak, [mfu_of(r, chunk_flops, n) for r in steady], n,
    )  # fmt: skip


def after_first(timed_chunks: int, chunks: int) -> str:
    """', after the first' when the first chunk (the executable's warm-up) was left out."""
    return ", after the first" if timed_chunks < chunks else ""


def mfu_spread(rounds: list[float]) -> str:
    """'; its rounds gave a to b: the machine was busy' when the per-round MFU disagree
    by more than timing.SPREAD, else ''."""
    found = timing.spread(rounds)
    if found is None:
        return ""
    lo, hi = (display.share(x) for x in found)
    return f"; its rounds gave {lo} to {hi}: the machine was busy"


def say_speed(r: Speed, console: Console) -> None:
    if r.diverged:
        return
    console.print(
        f"[bold]Speed:[/] one step of {r.step_ms:.2f} ms (median over "
        f"{display.count(r.timed_chunks, 'compiled chunk')}"
        f"{after_first(r.timed_chunks, r.chunks)}, compiled "
        f"in {display.duration(r.compile_ms)}): {r.tokens_per_s:,.0f} tokens/s."
    )
    console.print(
        f"FLOPs per training token = 6·N + 12·L·T·d = {r.flops_per_token:,} "
        f"(N = {r.matmul_params:,} weights in matmuls, the tied output included; "
        "attention over the full T, masked half included; biases, norms, softmax and "
        "the optimiser not counted)."
    )
    console.print(
        f"Achieved {r.achieved_flops / 1e9:.1f} GFLOP/s against this machine's matmul peak "
        f"of {r.peak_flops / 1e9:.1f} GFLOP/s ({r.peak_matmul_n:,}² {r.dtype}, timed "
        f"after each chunk, side by side): {display.share(r.mfu)} of peak (model FLOP "
        f"utilisation){mfu_spread(r.mfu_rounds)}."
    )


# ----------------------------------------------------------------------------
# 6. --save: the parameters of the best step, for lesson 20.


@dataclass(frozen=True)
class Saved:
    path: str | None  # None: not asked for, or no finite validation loss to keep
    best_step: int


def checkpoint_config(p: Prepared, t: Training, seed: int) -> dict:
    """What a checkpoint records beside the parameters (lesson 20 checks it matches)."""
    return {
        "model": p.model._asdict(), "train": p.config._asdict(), "vocab": p.vocab.chars,
        "data_sha256": macbeth.data_digest(p.text), "seed": seed, "step": t.best_step,
        "val_loss": t.val_loss,
    }  # fmt: skip


def compute_saved(done: dict, *, p: Prepared, args) -> Saved:
    t = done["training"]
    path = args.save if args.save and np.isfinite(t.val_loss) else None
    if path:
        checkpoints.save_checkpoint(path, t.best_params, checkpoint_config(p, t, args.seed))
    return Saved(path, t.best_step)


def say_saved(r: Saved, console: Console) -> None:
    if r.path:
        console.print(f"Saved the parameters of step {r.best_step:,} to {r.path}.")


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S, p = sections.Section, prepare(args)
    return [
        S("data", partial(compute_data, p=p), say_data, doing="scoring the untrained model"),
        S("training", partial(compute_training, p=p, args=args), say_training),
        S(
            "baselines",
            partial(compute_baselines, p=p),
            say_baselines,
            doing="counting unigrams and bigrams",
        ),
        S(
            "sample",
            partial(compute_sample, p=p, args=args),
            say_sample,
            doing=f"sampling {args.sample_length:,} characters",
        ),
        S("speed", partial(compute_speed, p=p, args=args), say_speed),
        S("saved", partial(compute_saved, p=p, args=args), say_saved),
    ]


def pick(result, names: str) -> dict:
    """The named fields of a section's result, by name."""
    return {name: getattr(result, name) for name in names.split()}


def results(done: dict) -> dict:
    """The --json results: the keys of the lesson's contract, from the sections."""
    d, t, b, s, v = (done[k] for k in ("data", "training", "baselines", "sample", "speed"))
    return {
        **pick(d, "vocab_size train_tokens val_tokens val_scored dtype param_count init_loss"),
        **pick(d, "uniform_loss") | pick(b, "unigram_val_loss bigram_val_loss"),
        **pick(t, "loss_history eval_steps train_eval_history val_history diverged_at"),
        **pick(t, "best_step") | {"final_val_loss": t.val_history[-1]} | pick(t, "val_loss"),
        **pick(b, "val_perplexity bigram_margin bigram_best_add bigram_best_margin"),
        "sample_prompt": s.prompt,
        "sample": s.text,
        **pick(v, "compile_ms chunks timed_chunks step_ms tokens_per_s flops_per_token"),
        **pick(v, "matmul_params achieved_flops peak_flops mfu mfu_rounds peak_matmul_n"),
        "saved": done["saved"].path,
    }


def trained_bullet(t: Training, b: Baselines) -> str:
    """What training did: diverged, or how far it brought the loss and against what."""
    if t.diverged_at is not None:
        return (
            f"Training diverged at step {t.diverged_at:,}: the loss left the finite numbers "
            "(a lower --lr or a longer --warmup keeps it finite)."
        )
    verdict = baseline_verdict(b.bigram_margin, b.bigram_best_margin, b.bigram_best_add)
    return (
        f"After {t.steps:,} steps the best validation loss was {t.val_loss:.4f} (step "
        f"{t.best_step:,}, perplexity {b.val_perplexity:.2f}); the GPT {verdict}."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    d, v = done["data"], done["speed"]
    return [
        f"Untrained, the model scored {d.init_loss:.4f} nats per character against ln V = "
        f"{d.uniform_loss:.4f}: {init_verdict(d.init_loss, d.uniform_loss)}.",
        trained_bullet(done["training"], done["baselines"]),
        f"A training step took {v.step_ms:.2f} ms, {v.tokens_per_s:,.0f} tokens/s: "
        f"{display.share(v.mfu)} of this machine's matmul peak.",
    ]


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
    sections.open_lesson(args, __file__, __doc__)  # build() loads the text and the model
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=(lang.sample_batch, lang.cross_entropy, tr.train_step, tr.train_chunk, gpt_forward),
    )


if __name__ == "__main__":
    cli.entry(main)
