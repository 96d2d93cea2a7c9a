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

import contextlib
import hashlib
import math
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trinity_foundations import cli, display, timing
from trinity_foundations import decoding as dec
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt, param_count

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "macbeth.txt"
SEED = 0
D_MODEL, LAYERS, HEADS, CONTEXT, BATCH, STEPS = 64, 2, 4, 64, 32, 200
LR, WARMUP, WEIGHT_DECAY, CLIP = 5e-3, 30, 0.1, 1.0
SAMPLE_LENGTH, PROMPT = 200, "\n"
EVALS, TRAIN_EVAL_WINDOWS = 10, 64  # evaluations per run at most; training windows scored
MAX_STEPS = 100_000  # time only: about an hour of the default model on a 2-core CPU
PEAK_N = {"cpu": 1024}  # matmul side used to measure the peak; 8192 on accelerators


def read_text(path: Path = DATA) -> str:
    return path.read_text(encoding="ascii")


def data_digest(text: str) -> str:
    """sha256 of the training text: a checkpoint matches only the data it was trained on."""
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def model_config(vocab_size: int, d_model: int, layers: int, heads: int, context: int):
    return GPTConfig(vocab_size, context, d_model, layers, heads, 4 * d_model)


def matmul_peak(dtype) -> float:
    """FLOP/s of one large jitted square matmul on this machine, median of repeats."""
    n = PEAK_N.get(jax.default_backend(), 8192)
    a = jax.random.normal(jax.random.key(1), (n, n), dtype)  # (n, n)
    b = jax.random.normal(jax.random.key(2), (n, n), dtype)  # (n, n)
    matmul = jax.jit(jnp.matmul)
    ms = timing.time_call(matmul, a, b, repeats=5).median_ms
    return 2 * n**3 / (ms / 1e3)


def timed(run_chunk, times: list):
    """run_chunk, with the synced wall time of every call appended to `times` (ms)."""

    def call(*args):
        ms, out = timing.time_once(run_chunk, *args)
        times.append(ms)
        return out

    return call


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
    chunk_ms: list  # synced wall time of every chunk call
    val_scored: int  # validation targets scored


def train_model(
    seed: int, d_model: int, layers: int, heads: int, context: int, batch: int, steps: int,
    lr: float, warmup: int, weight_decay: float, clip: float, progress=None, evals: int = EVALS,
) -> Trained:  # fmt: skip
    """Train the GPT on Macbeth's first 90 %, evaluating on the last 10 % after each chunk."""
    text = read_text()
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    model = model_config(vocab.size, d_model, layers, heads, context)
    config = tr.TrainConfig(steps, batch, context, lr, warmup, 0.1, weight_decay, clip)
    loss_fn = tr.LMLoss(model)
    k_init, k_train = jax.random.split(jax.random.key(seed))
    params = init_gpt(k_init, model)
    state = tr.init_state(params, config=config)
    val_windows = lang.eval_windows(val, context)
    # The training curve is read on a fixed sample of training windows (a curve, not a score).
    train_windows = lang.eval_windows(train, context, limit=TRAIN_EVAL_WINDOWS)
    init_loss = float(tr.evaluate(params, *val_windows, loss_fn=loss_fn))

    chunks = tr.chunks_for(steps, most=evals)
    tokens = jnp.asarray(train)
    compiled = timing.compile_timing(
        tr.train_chunk,
        state,
        k_train,
        tokens,
        config=config,
        loss_fn=loss_fn,
        steps=steps // chunks,
    )
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
        "data_sha256": data_digest(t.text), "seed": seed, "step": t.history.best_step,
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
        tr.save_checkpoint(saved, best, checkpoint_config(t, seed))

    k_sample = jax.random.fold_in(jax.random.key(seed), 1)
    prompt = jnp.asarray(lang.encode(vocab, PROMPT))  # (P,)
    sample, _ = dec.generate_window(
        best, prompt, k_sample, config=model, sampler=dec.Sampler(), steps=sample_length
    )  # (S,)

    chunks = len(history.eval_steps)
    steady = t.chunk_ms[1:] or t.chunk_ms  # the first call of an executable warms it up
    step_ms = float(np.median(steady)) / (steps // chunks)
    tokens_per_s = batch * context / (step_ms / 1e3)
    fpt = tr.flops_per_token(model, context)
    peak = matmul_peak(params["tok"].dtype)
    unigram = lang.unigram_loss(train, val, vocab.size)
    bigram = lang.bigram_loss(train, val, vocab.size)
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
        "sample_prompt": PROMPT,
        "sample": lang.decode(vocab, sample),
        "compile_ms": t.compile_ms,
        "chunks": chunks,
        "step_ms": step_ms,
        "tokens_per_s": tokens_per_s,
        "flops_per_token": fpt,
        "matmul_params": tr.matmul_params(model),
        "achieved_flops": tokens_per_s * fpt,
        "peak_flops": peak,
        "mfu": tokens_per_s * fpt / peak,
        "saved": saved,
    }


# ----------------------------------------------------------------------------
# Report.


def init_verdict(init_loss: float, uniform: float) -> str:
    """How the untrained model's loss sits against ln V."""
    gap = init_loss - uniform
    if abs(gap) <= 0.05:
        return f"within {abs(gap):.3f} nats of ln V: the untrained model is uniformly unsure"
    side = "above" if gap > 0 else "below"
    return f"{abs(gap):.3f} nats {side} ln V: the initial logits are not small enough to be flat"


def baseline_verdict(margin: float) -> str:
    """What the model's lead over the bigram says."""
    if margin > 0:
        return f"beats the bigram by {margin:.3f} nats: it uses more than the previous character"
    return (
        f"does not beat the bigram (behind by {-margin:.3f} nats): it has learnt no more "
        "than pair counts; train longer or larger"
    )


def best_note(r: dict) -> str | None:
    """A sentence when the kept (best) parameters are not the last ones."""
    if r["best_step"] == r["eval_steps"][-1]:
        return None
    return (
        f"Validation loss was lowest at step {r['best_step']:,} ({r['val_loss']:.4f}) and "
        f"ended at {r['final_val_loss']:.4f}: the model began to over-fit, and the "
        "parameters of the best step are the ones kept."
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
            {"train (fixed windows)": r["train_eval_history"], "validation": r["val_history"]},
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
    console.print(
        f"The GPT {baseline_verdict(r['bigram_margin'])}. Perplexity "
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


def _speed(r: dict, console) -> None:
    console.print(
        f"[bold]Speed:[/] one step of {r['step_ms']:.2f} ms (median over "
        f"{display.count(r['chunks'], 'compiled chunk')}, compiled in "
        f"{display.duration(r['compile_ms'])}): {r['tokens_per_s']:,.0f} tokens/s."
    )
    console.print(
        f"FLOPs per training token = 6·N + 12·L·T·d = {r['flops_per_token']:,} "
        f"(N = {r['matmul_params']:,} weights in matmuls, the tied output included; "
        "attention over the full T, masked half included; biases, norms, softmax and "
        "the optimiser not counted)."
    )
    console.print(
        f"Achieved {r['achieved_flops'] / 1e9:.1f} GFLOP/s against this machine's matmul peak "
        f"of {r['peak_flops'] / 1e9:.1f} GFLOP/s measured in this run: "
        f"{display.share(r['mfu'])} of peak (model FLOP utilisation)."
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
    activations kept for backward (about 34·d + 3·H·T numbers per token and layer,
    plus the logits), for the batch and for the validation windows."""
    n = 12 * layers * d * d + (vocab + context) * d
    per_token = layers * (34 * d + 3 * heads * context) + 3 * vocab
    tokens = batch * context + 11_000  # a batch, and every validation window at once
    return itemsize * (4 * n + per_token * tokens)


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
    if args.save and Path(args.save).is_dir():
        parser.error(f"--save {args.save} is a directory; give a file name")
    itemsize = 8 if jax.config.jax_enable_x64 else 4
    need = memory_needed(args.d_model, args.layers, args.heads, args.context, args.batch)
    cli.require_memory(parser, need * itemsize / 4, "--d-model, --layers, --context, --batch")
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
