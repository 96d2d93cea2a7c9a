"""Lesson 26 — knowing whether it worked: noise, error bars, leaks.

One recipe (lesson 19's GPT, small) trained at several seeds side by side
in one compiled program, with a few variants of it: watch how far the seeds
alone spread the final validation loss, and which changes of recipe move it
by more than that. Then error bars on one run's loss (a bootstrap over
blocks of the validation text), two models compared on the same windows,
the validation text's n-grams found in the training text, a run that
trained on its own validation text, and what the shipped texts waste in
duplicate lines and in padding.

Every run is the same GPT with the same shapes, so `jax.vmap` over a table
of keys and hyper-parameters trains them all at once: a seed's key draws
its first weights and its batches, and a variant with the same seed starts
from the same weights. Each run is scored on every character of the
validation text (the last 10 % of Macbeth), and those per-character losses
feed the error bars.

Run:  python lessons/26_evaluation.py [--seeds 4] [--steps 256] [--batch 16] [--lr 0.01]
      [--d-model 32] [--layers 1] [--context 32] [--block 256] [--draws 2000]
      [--pack-context 128] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display, sections, timing
from trinity_foundations import evaluation as ev
from trinity_foundations import language as lang
from trinity_foundations import sweep as sw
from trinity_foundations import training as tr
from trinity_foundations import transformer as tf

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = 0
D_MODEL, LAYERS, HEADS, CONTEXT, BATCH, STEPS, LR = 32, 1, 2, 32, 16, 256, 1e-2
WARMUP, WEIGHT_DECAY, CLIP = 10, 0.1, 1.0  # lesson 19's recipe, scaled to the run
SEEDS, BLOCK, DRAWS, LEVEL = 4, 256, 2000, 0.95
NS = (4, 8, 16, 32)  # n-gram lengths, in characters
PACK_CONTEXT = 128  # the row length of the packing comparison
ACCUMULATE = 4  # the batch × 4 variant: 4 micro-batches per update
MIN_BLOCKS = 10  # the bootstrap needs at least this many blocks to resample
MAX_STEPS = 4096
MAX_DRAWS = 5000  # the single-character bootstrap holds draws × 10,336 indices

# The variants trained beside the recipe, at every seed: (label, changes), where
# a change is a TrainConfig field, `lr_factor` (× --lr) or `accumulate`.
VARIANTS = (
    ("recipe", {}),
    ("lr ÷ 10", {"lr_factor": 0.1}),
    ("no warm-up", {"warmup": 0}),
    (f"batch × {ACCUMULATE}", {"accumulate": ACCUMULATE}),
)
PAIRED = "no warm-up"  # the variant the paired comparison sets against the recipe
LEAKED = "leaked"  # the recipe trained on a copy of the text that includes validation


@dataclass(frozen=True)
class Setup:
    """What every section starts from: the two plays, the split and the recipe."""

    macbeth: str
    hamlet: str
    tokens: np.ndarray  # (N,) int32 all of Macbeth
    train_len: int  # the first train_len tokens train; the rest validates
    model: tf.GPTConfig
    config: tr.TrainConfig
    key: jax.Array


def setup(args: argparse.Namespace) -> Setup:
    macbeth = (DATA / "macbeth.txt").read_text(encoding="ascii")
    hamlet = (DATA / "hamlet.txt").read_text(encoding="ascii")
    vocab = lang.build_vocab(macbeth)  # the model reads Macbeth only: Hamlet needs no ids
    tokens = lang.encode(vocab, macbeth)
    train, _ = lang.split(tokens)
    d = args.d_model
    model = tf.GPTConfig(vocab.size, args.context, d, args.layers, HEADS, 4 * d)
    config = tr.TrainConfig(
        steps=args.steps, batch=args.batch, context=args.context, lr=args.lr, warmup=WARMUP,
        weight_decay=WEIGHT_DECAY, clip=CLIP,
    )  # fmt: skip
    return Setup(macbeth, hamlet, tokens, len(train), model, config, jax.random.key(args.seed))


# ----------------------------------------------------------------------------
# 1. The runs: every seed of every variant, in one vmapped program.


@dataclass(frozen=True)
class Runs:
    labels: tuple[str, ...]  # the variants, then LEAKED
    seeds: int
    final: dict[str, list[float]]  # label -> each seed's mean validation loss
    train_end: dict[str, list[float]]  # label -> each seed's mean loss over its last steps
    token_losses: dict[str, np.ndarray]  # label -> (seeds, M) per-character validation losses
    param_count: int
    tokens_per_run: int
    val_tokens: int
    compile_ms: float
    run_ms: float


def table_of_rows(s: Setup, seeds: int) -> tuple[list[str], ev.Row]:
    """(labels, one Row of (C,) leaves): each variant at each seed, then the leaked runs."""
    keys = jax.random.split(s.key, seeds)  # (S,) one key per seed, shared by its variants
    c, rows, labels = s.config, [], []
    for label, changes in (*VARIANTS, (LEAKED, {"text": len(s.tokens)})):
        changes = dict(changes)
        accumulate = changes.pop("accumulate", 1)
        text = changes.pop("text", s.train_len)
        lr = c.lr * changes.pop("lr_factor", 1.0)
        hyper = tr.hyper_of(c._replace(lr=lr, **changes), accumulate=accumulate)
        labels.append(label)
        rows += [ev.Row(keys[i], hyper, jnp.asarray(text, jnp.int32)) for i in range(seeds)]
    return labels, sw.stack(rows)


def compute_runs(done: dict, *, s: Setup, seeds: int) -> Runs:
    c = s.config
    labels, rows = table_of_rows(s, seeds)
    val_x, val_y = lang.eval_windows(s.tokens[s.train_len :], c.context)  # (W, T) each
    args = (rows, jnp.asarray(s.tokens), jnp.asarray(val_x), jnp.asarray(val_y))
    shapes = dict(model=s.model, steps=c.steps, batch=c.batch, context=c.context)
    program = timing.compile_once(ev.train_runs, *args, **shapes)
    run_ms, (loss, val) = timing.time_once(program.compiled, *args)  # (C, S), (C, M)
    loss = np.asarray(loss, np.float64).reshape(len(labels), seeds, -1)  # (variants, seeds, S)
    val = np.asarray(val, np.float64).reshape(len(labels), seeds, -1)  # (variants, seeds, M)
    last = max(c.steps // 8, 1)
    return Runs(
        labels=tuple(labels),
        seeds=seeds,
        final={k: val[i].mean(axis=1).tolist() for i, k in enumerate(labels)},
        train_end={k: loss[i, :, -last:].mean(axis=1).tolist() for i, k in enumerate(labels)},
        token_losses={k: val[i] for i, k in enumerate(labels)},
        param_count=tf.param_count(jax.eval_shape(partial(tf.init_gpt, config=s.model), s.key)),
        tokens_per_run=c.steps * c.batch * c.context,
        val_tokens=int(val_y.size),
        compile_ms=program.lower_ms + program.compile_ms,
        run_ms=run_ms,
    )


def say_runs(r: Runs, console: Console) -> None:
    console.print(
        f"{len(r.labels) * r.seeds} runs of one GPT ({r.param_count:,} parameters), "
        f"{r.seeds} seeds of each of {len(r.labels)} recipes, each "
        f"{r.tokens_per_run:,} training tokens, trained side by side in one vmapped "
        f"program: compiled in {display.duration(r.compile_ms)}, run in "
        f"{display.duration(r.run_ms)}. Each is scored on every whole window of the "
        f"validation text: {r.val_tokens:,} characters."
    )
    table = Table(show_edge=False, title="Validation loss at the end (nats per character)")
    table.add_column("run")
    for i in range(r.seeds):
        table.add_column(f"seed {i}", justify="right")
    for label in r.labels:
        table.add_row(label, *(f"{x:.3f}" for x in r.final[label]))
    console.print(table)


# ----------------------------------------------------------------------------
# 2. Noise: how far the seeds alone spread the result, and what beats that.


@dataclass(frozen=True)
class Noise:
    seed_val_losses: list[float]  # the recipe at each seed
    spread: float  # largest minus smallest
    mean: float
    differences: dict[str, float]  # variant -> mean over seeds of (variant − recipe)
    verdicts: dict[str, str]  # variant -> 'beyond', 'within' or 'diverged'


def spread(losses: list[float]) -> float:
    """max − min of the finite losses (inf when fewer than two are finite)."""
    finite = [x for x in losses if math.isfinite(x)]
    return max(finite) - min(finite) if len(finite) >= 2 else math.inf


def against_spread(difference: float, spread_: float) -> str:
    """'beyond' when a difference is larger than the seed spread, 'within' when not,
    'diverged' when it is not a number."""
    if not math.isfinite(difference):
        return "diverged"
    return "beyond" if abs(difference) > spread_ else "within"


def paired_mean(a: list[float], b: list[float]) -> float:
    """The mean over seeds of a − b (each seed's variant against its own recipe run)."""
    return float(np.mean(np.asarray(a) - np.asarray(b)))


def compute_noise(done: dict) -> Noise:
    runs = done["runs"]
    base = runs.final["recipe"]
    width = spread(base)
    diffs = {k: paired_mean(runs.final[k], base) for k, _ in VARIANTS[1:]}
    return Noise(
        seed_val_losses=base,
        spread=width,
        mean=float(np.mean(base)),
        differences=diffs,
        verdicts={k: against_spread(d, width) for k, d in diffs.items()},
    )


VERDICT_WORDS = {
    "beyond": "larger than the seed spread: a real effect",
    "within": "inside the seed spread: no evidence either way",
    "diverged": "not a number: a run diverged",
}


SHORT_VERDICT = {
    "beyond": "more than the seed spread",
    "within": "inside the seed spread",
    "diverged": "not a number",
}


def say_noise(r: Noise, console: Console) -> None:
    console.print(
        f"\nThe same recipe at {len(r.seed_val_losses)} seeds ends between "
        f"{min(r.seed_val_losses):.3f} and {max(r.seed_val_losses):.3f}: a spread of "
        f"{r.spread:.3f} nats from the seed alone (other first weights, other batches)."
    )
    table = Table(show_edge=False)
    table.add_column("change of recipe")
    table.add_column("mean change of the loss", justify="right")
    table.add_column("against the spread")
    for k, d in r.differences.items():
        table.add_row(k, f"{d:+.3f}", VERDICT_WORDS[r.verdicts[k]])
    console.print(table)


def saw_noise(r: Noise) -> str:
    """What you saw, on noise: the spread, and which changes beat it."""
    beyond = [k for k, v in r.verdicts.items() if v == "beyond"]
    within = [k for k, v in r.verdicts.items() if v == "within"]
    said = (
        f"{len(r.seed_val_losses)} seeds of one recipe spread its validation loss over "
        f"{r.spread:.3f} nats; "
    )
    said += f"{' and '.join(beyond)} moved it further" if beyond else "no change moved it further"
    if within:
        said += f", {' and '.join(within)} did not"
    return said + "."


# ----------------------------------------------------------------------------
# 3. Error bars on one run: a bootstrap over blocks of the validation text.


@dataclass(frozen=True)
class Bootstrap:
    loss: float  # the recipe's (seed 0) mean validation loss
    low: float
    high: float  # the block bootstrap's interval
    block: int  # characters per block
    blocks: int
    char_low: float
    char_high: float  # the same bootstrap over single characters (blocks of 1)
    draws: int
    level: float


def interval(key: jax.Array, losses: jax.Array, block: int, draws: int) -> tuple[float, float]:
    """The LEVEL interval of the block bootstrap of `losses` (M,)."""
    return ev.percentile_interval(ev.block_bootstrap(key, losses, block=block, draws=draws), LEVEL)


def compute_bootstrap(done: dict, *, block: int, draws: int, key: jax.Array) -> Bootstrap:
    losses = jnp.asarray(done["runs"].token_losses["recipe"][0], jnp.float32)  # (M,)
    k_block, k_char = jax.random.split(key)
    low, high = interval(k_block, losses, block, draws)
    c_low, c_high = interval(k_char, losses, 1, draws)
    return Bootstrap(
        float(jnp.mean(losses)), low, high, block, len(losses) // block, c_low, c_high,
        draws, LEVEL,
    )  # fmt: skip


def width_ratio(wide: tuple[float, float], narrow: tuple[float, float]) -> float:
    """How many times wider the first interval (low, high) is than the second."""
    return (wide[1] - wide[0]) / max(narrow[1] - narrow[0], 1e-12)


def say_bootstrap(r: Bootstrap, console: Console) -> None:
    ratio = width_ratio((r.low, r.high), (r.char_low, r.char_high))
    console.print(
        f"One run (the recipe, seed 0) scores {r.loss:.3f} on the validation text. "
        f"Resampling its {r.blocks:,} blocks of {r.block:,} consecutive characters "
        f"{r.draws:,} times puts {r.level:.0%} of the means in [{r.low:.3f}, {r.high:.3f}]. "
        f"Resampling single characters says [{r.char_low:.3f}, {r.char_high:.3f}]: "
        + BLOCK_WORDS[block_effect(ratio)].format(ratio=ratio)
    )


def block_effect(ratio: float, clear: float = 1.25) -> str:
    """'wider' when the block interval is at least `clear` times the single-character
    one, 'similar' when it is within that, 'narrower' when it is smaller."""
    if ratio >= clear:
        return "wider"
    return "similar" if ratio >= 1 / clear else "narrower"


BLOCK_WORDS = {
    "wider": (
        "{ratio:.1f}× narrower, too sure: neighbouring characters' losses are correlated "
        "(a hard name is hard for several characters in a row), so a text holds fewer "
        "independent pieces of evidence than characters. Blocks keep neighbours together."
    ),
    "similar": (
        "about as wide (the blocks' interval is {ratio:.2f}× its width). Neighbouring "
        "characters' losses are correlated (a hard name is hard for several characters in "
        "a row), but here that correlation is short next to a block; blocks are the safe "
        "default, since nothing warns you when it is long."
    ),
    "narrower": (
        "wider than the blocks' ({ratio:.2f}× its width): with few blocks, the bootstrap "
        "of blocks is itself noisy; try --block smaller or --draws larger."
    ),
}


# ----------------------------------------------------------------------------
# 4. Two models on the same windows: the paired difference.


@dataclass(frozen=True)
class Paired:
    names: tuple[str, str]  # (a, b)
    a: tuple[float, float, float]  # (loss, low, high) of each model alone
    b: tuple[float, float, float]
    difference: float  # mean of b − a, character by character
    low: float
    high: float  # its block bootstrap interval
    block: int
    excludes_zero: bool
    overlap: bool  # whether the two models' own intervals overlap


def excludes_zero(low: float, high: float) -> bool:
    """Whether an interval lies wholly on one side of zero."""
    return low > 0 or high < 0


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two intervals (low, high) share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def compute_paired(done: dict, *, block: int, draws: int, key: jax.Array) -> Paired:
    runs = done["runs"]
    a = jnp.asarray(runs.token_losses["recipe"][0], jnp.float32)  # (M,)
    b = jnp.asarray(runs.token_losses[PAIRED][0], jnp.float32)  # (M,) the same windows
    key, _ = jax.random.split(key)  # the key of compute_bootstrap's block interval: the
    # recipe's interval here is the one printed there, and every interval resamples the
    # same blocks

    def alone(x):  # (M,) -> (loss, low, high)
        return (float(jnp.mean(x)), *interval(key, x, block, draws))

    means = ev.block_bootstrap(key, b - a, block=block, draws=draws)  # (D,) same blocks
    low, high = ev.percentile_interval(means, LEVEL)
    one, other = alone(a), alone(b)
    return Paired(
        ("recipe", PAIRED), one, other, float(jnp.mean(b - a)), low, high, block,
        excludes_zero(low, high), overlaps(one[1:], other[1:]),
    )  # fmt: skip


def narrower(ratio: float) -> str:
    """How much narrower one interval is than another, `ratio` = their widths' ratio."""
    return f"{ratio:.1f}× narrower" if ratio > 1 else "no narrower"


def say_paired(r: Paired, console: Console) -> None:
    a, b = r.a, r.b
    table = Table(show_edge=False, title="Seed 0, scored on the same validation windows")
    for col in ("model", "loss", "interval"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_row(r.names[0], f"{a[0]:.3f}", f"[{a[1]:.3f}, {a[2]:.3f}]")
    table.add_row(r.names[1], f"{b[0]:.3f}", f"[{b[1]:.3f}, {b[2]:.3f}]")
    table.add_row(
        f"{r.names[1]} − {r.names[0]}", f"{r.difference:+.4f}", f"[{r.low:+.4f}, {r.high:+.4f}]"
    )
    console.print(table)
    ratio = width_ratio(a[1:], (r.low, r.high))
    verdict = (
        "lies wholly on one side of zero: on this text the two models differ"
        if r.excludes_zero
        else "holds zero: on this text the two models cannot be told apart"
    )
    apart = "and the two overlap" if r.overlap else "and the two do not overlap"
    console.print(
        f"Each model's interval is about {a[2] - a[1]:.3f} wide, {apart}; the "
        f"paired difference, bootstrapped over the same blocks, is {narrower(ratio)} "
        f"and {verdict}. A window hard for one model is hard for the other: the "
        "difference cancels that shared part. (It says nothing about other seeds.)"
    )


# ----------------------------------------------------------------------------
# 5. A validation set that leaks into training.


@dataclass(frozen=True)
class Leak:
    clean: list[float]  # the recipe at each seed
    leaked: list[float]  # the recipe trained on text that includes validation
    gap: float  # mean of leaked − clean
    spread: float
    verdict: str  # 'beyond', 'within' or 'diverged'
    train_end: float  # the clean runs' training loss over their last steps (mean)
    fit_gap: float  # clean validation minus that: how far it fits its own text better


def compute_leak(done: dict) -> Leak:
    runs, noise = done["runs"], done["noise"]
    clean, leaked = runs.final["recipe"], runs.final[LEAKED]
    gap = paired_mean(leaked, clean)
    train_end = float(np.mean(runs.train_end["recipe"]))
    return Leak(
        clean, leaked, gap, noise.spread, against_spread(gap, noise.spread), train_end,
        float(np.mean(clean)) - train_end,
    )  # fmt: skip


def say_leak(r: Leak, console: Console) -> None:
    console.print(
        f"Trained on all of Macbeth (validation included), same steps, the recipe ends at "
        f"{np.mean(r.leaked):.3f} on average against {np.mean(r.clean):.3f} clean: "
        f"{r.gap:+.3f} nats, {VERDICT_WORDS[r.verdict]}."
    )
    console.print(LEAK_WORDS[leak_story(r)].format(r=r, fit=abs(r.fit_gap)))


def leak_story(r: Leak) -> str:
    """'flatters' when the leaked runs score lower by more than the seed spread;
    'unseen' when not and the clean runs fit training and validation alike (within
    the spread): nothing memorised yet for a leak to reveal; otherwise 'unclear'."""
    if r.verdict == "beyond" and r.gap < 0:
        return "flatters"
    if abs(r.fit_gap) <= r.spread:
        return "unseen"
    return "unclear"


LEAK_WORDS = {
    "flatters": (
        "The leaked model has seen the text it is scored on: its loss flatters it, and "
        "no comparison with a clean model means anything."
    ),
    "unseen": (
        "At this size the model has not begun to memorise: its training loss at the end "
        "({r.train_end:.3f}) is within {fit:.3f} of its validation loss, so text that fills "
        "about one training window in ten is not yet remembered. A run long enough to "
        "memorise would be flattered by the leak: leaked text must be found (next), not "
        "hoped away."
    ),
    "unclear": (
        "The clean runs fit their training text {fit:.3f} nats better than validation, "
        "yet the leak did not lower the loss by more than the seed spread: more seeds "
        "(--seeds) would tell."
    ),
}


# ----------------------------------------------------------------------------
# 6. Contamination: n-grams of one text found in another.


@dataclass(frozen=True)
class Overlap:
    ns: tuple[int, ...]
    train_val: dict[int, float]  # n -> share of validation n-grams found in training
    play_play: dict[int, float]  # n -> share of Hamlet's n-grams found in Macbeth
    hamlet_only: str  # the characters Hamlet uses and Macbeth never does


def compute_overlap(done: dict, *, s: Setup) -> Overlap:
    train, val = s.macbeth[: s.train_len], s.macbeth[s.train_len :]
    return Overlap(
        ns=NS,
        train_val={n: ev.ngram_overlap(train, val, n) for n in NS},
        play_play={n: ev.ngram_overlap(s.macbeth, s.hamlet, n) for n in NS},
        hamlet_only="".join(sorted(set(s.hamlet) - set(s.macbeth))),
    )


def say_overlap(r: Overlap, console: Console) -> None:
    table = Table(show_edge=False, title="Share of n-gram positions found in the other text")
    for col in ("n", "validation in training", "Hamlet in Macbeth"):
        table.add_column(col, justify="right")
    for n in r.ns:
        table.add_row(str(n), display.share(r.train_val[n]), display.share(r.play_play[n]))
    console.print(table)
    longest = r.ns[-1]
    console.print(
        f"Short n-grams are shared by any two English texts; long ones are copies. At "
        f"n = {longest}, {display.share(r.train_val[longest])} of the validation text's "
        f"positions repeat the training text and {display.share(r.play_play[longest])} "
        "of Hamlet's repeat Macbeth. The "
        f"comparison is of raw characters, so Hamlet's {len(r.hamlet_only)} characters "
        f"Macbeth lacks ({display.vector(list(r.hamlet_only), '{!r}')}) need no "
        "shared vocabulary: an n-gram holding one simply never matches."
    )


# ----------------------------------------------------------------------------
# 7. The data: duplicate lines.


@dataclass(frozen=True)
class DuplicateLines:
    plays: dict[str, ev.Duplicates]  # play -> its counts
    val_lines_in_train: float  # share of validation lines that occur in the training text


def compute_duplicates(done: dict, *, s: Setup) -> DuplicateLines:
    train, val = s.macbeth[: s.train_len], s.macbeth[s.train_len :]
    seen = {line.strip() for line in train.splitlines()}
    val_lines = [line.strip() for line in val.splitlines() if line.strip()]
    return DuplicateLines(
        plays={"Macbeth": ev.duplicates(s.macbeth), "Hamlet": ev.duplicates(s.hamlet)},
        val_lines_in_train=sum(line in seen for line in val_lines) / len(val_lines),
    )


def say_duplicates(r: DuplicateLines, console: Console) -> None:
    table = Table(show_edge=False)
    for col in ("play", "lines", "exact repeats", "near repeats", "most repeated"):
        table.add_column(col, justify="left" if col in ("play", "most repeated") else "right")
    for play, d in r.plays.items():
        top = ", ".join(f"{line} ×{c}" for line, c in d.top[:2])
        table.add_row(play, f"{d.lines:,}", f"{d.exact:,}", f"{d.near:,}", escape(top))
    console.print(table)
    console.print(
        "A line repeats exactly when it equals an earlier one; nearly when it does after "
        "lower-casing and dropping punctuation (the last column shows the most "
        f"repeated). {display.share(r.val_lines_in_train)} of the validation lines "
        "occur word for word in the training text."
    )


# ----------------------------------------------------------------------------
# 8. Packing against padding.


@dataclass(frozen=True)
class Packing:
    context: int
    documents: int  # blocks of text between blank lines, each with one separator
    mean_length: float  # characters per document, the separator not counted
    padding_waste: float  # each document its own rows, padded
    packed_waste: float  # documents end to end, only the last row padded


def compute_packing(done: dict, *, s: Setup, context: int) -> Packing:
    lengths = [len(d) + 1 for d in ev.documents(s.macbeth)]  # + the separator
    return Packing(
        context, len(lengths), float(np.mean(lengths)) - 1,
        ev.padding_waste(lengths, context), ev.packed_waste(lengths, context),
    )  # fmt: skip


def say_packing(r: Packing, console: Console) -> None:
    console.print(
        f"Macbeth as {r.documents:,} documents (speeches, headings and stage directions "
        f"between blank lines, {r.mean_length:.0f} characters on average, plus one "
        f"separator each) in rows of {r.context}: padding each document to whole rows "
        f"wastes {display.share(r.padding_waste)} of the slots; packing them end to end "
        f"wastes {display.share(r.packed_waste, 3)}. Packed rows need the separator (or a "
        "mask) so that one document does not read another as its context."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args: argparse.Namespace) -> list[sections.Section]:
    s = setup(args)
    k_boot = jax.random.fold_in(s.key, 1)
    runs = (len(VARIANTS) + 1) * args.seeds
    doing = f"compiling and training {runs} runs of {args.steps:,} steps side by side…"
    S = sections.Section
    boot = dict(block=args.block, draws=args.draws, key=k_boot)
    # fmt: off
    return [
        S("runs", partial(compute_runs, s=s, seeds=args.seeds), say_runs, doing=doing),
        S("noise", compute_noise, say_noise),
        S("bootstrap", partial(compute_bootstrap, **boot), say_bootstrap,
          title="Error bars on one run"),
        S("paired", partial(compute_paired, **boot), say_paired,
          title="Two models on the same windows"),
        S("leak", compute_leak, say_leak, title="A validation set that leaks into training"),
        S("overlap", partial(compute_overlap, s=s), say_overlap, title="n-gram overlap",
          doing="counting n-grams…"),
        S("duplicates", partial(compute_duplicates, s=s), say_duplicates,
          title="Duplicate lines"),
        S("packing", partial(compute_packing, s=s, context=args.pack_context), say_packing,
          title="Packing against padding"),
    ]
    # fmt: on


def results(done: dict) -> dict:
    """The --json results: the contract's keys, then the rest of each section."""
    runs, noise, boot, leak = done["runs"], done["noise"], done["bootstrap"], done["leak"]
    overlap, dup, pack, paired = (
        done["overlap"],
        done["duplicates"],
        done["packing"],
        done["paired"],
    )
    return {
        "seed_val_losses": noise.seed_val_losses,
        "seed_spread": noise.spread,
        "bootstrap": {
            "low": boot.low, "high": boot.high, "block": boot.block, "loss": boot.loss,
            "blocks": boot.blocks, "char_low": boot.char_low, "char_high": boot.char_high,
            "draws": boot.draws, "level": boot.level,
        },
        "ngram_overlap": {
            str(n): {"train_val": overlap.train_val[n], "play_play": overlap.play_play[n]}
            for n in overlap.ns
        },
        "leaked_val_loss": float(np.mean(leak.leaked)),
        "clean_val_loss": float(np.mean(leak.clean)),
        "leak": {"clean": leak.clean, "leaked": leak.leaked, "gap": leak.gap,
                 "verdict": leak.verdict, "train_end": leak.train_end},
        "duplicate_lines": {
            **{play: d._asdict() for play, d in dup.plays.items()},
            "val_lines_in_train": dup.val_lines_in_train,
        },
        "packing": {
            "padding_waste": pack.padding_waste, "packed_waste": pack.packed_waste,
            "context": pack.context, "documents": pack.documents,
            "mean_length": pack.mean_length,
        },
        "final_val_losses": runs.final,
        "differences": noise.differences,
        "verdicts": noise.verdicts,
        "comparisons": [  # the same, in the lesson's order
            {"change": k, "difference": d, "verdict": noise.verdicts[k]}
            for k, d in noise.differences.items()
        ],
        "seeds": runs.seeds,
        "runs": len(runs.labels) * runs.seeds,
        "paired": {
            "names": paired.names, "a": paired.a, "b": paired.b,
            "difference": paired.difference, "low": paired.low, "high": paired.high,
            "excludes_zero": paired.excludes_zero,
            "width_ratio": width_ratio(paired.a[1:], (paired.low, paired.high)),
        },
        "param_count": runs.param_count,
        "tokens_per_run": runs.tokens_per_run,
        "val_tokens": runs.val_tokens,
        "compile_ms": runs.compile_ms,
        "run_ms": runs.run_ms,
    }  # fmt: skip


def saw_error_bars(boot: Bootstrap, paired: Paired) -> str:
    """What you saw, on error bars: the block interval, and the paired one's width."""
    ratio = min(width_ratio(m[1:], (paired.low, paired.high)) for m in (paired.a, paired.b))
    return (
        f"One run's validation loss {boot.loss:.3f} carries a {boot.level:.0%} interval "
        f"[{boot.low:.3f}, {boot.high:.3f}] over blocks of {boot.block} characters; two "
        f"models on the same windows differ by {paired.difference:+.4f}, an interval "
        f"{narrower(ratio)} than either model's own."
    )


def saw_contamination(overlap: Overlap, leak: Leak) -> str:
    """What you saw, on contamination: the longest n-gram overlap, and the leaked run."""
    n = overlap.ns[-1]
    return (
        f"{display.share(overlap.train_val[n])} of the validation text's {n}-grams occur "
        f"in training ({display.share(overlap.play_play[n])} of Hamlet's in Macbeth); the "
        f"run trained with validation leaked in ended {leak.gap:+.3f} nats from the clean "
        f"one, {SHORT_VERDICT[leak.verdict]}."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [
        saw_noise(done["noise"]),
        saw_error_bars(done["bootstrap"], done["paired"]),
        saw_contamination(done["overlap"], done["leak"]),
    ]


KERNELS = (
    ev.train_runs, ev.token_losses, ev.block_bootstrap, ev.block_bootstrap_means,
    ev.resample_indices, ev.ngram_overlap, ev.duplicates, ev.padding_waste, ev.packed_waste,
)  # fmt: skip


# ----------------------------------------------------------------------------
# The flags, and what they may ask for.


def memory_needed(runs: int, d: int, layers: int, context: int, batch: int, vocab: int = 128):
    """Rough bytes: per run, params + Adam's two moments + gradients and updates, the
    activations of one micro-batch, and the validation forward pass (about 10,400
    characters: 4·d per layer and token, the attention scores and the logits)."""
    n = 12 * layers * d * d + (vocab + context) * d
    per_token = layers * (48 * d + 5 * HEADS * context) + 3 * vocab
    val = 10_400 * (layers * (4 * d + HEADS * context) + 2 * vocab)
    return runs * 4 * (6 * n + per_token * batch * context + val)


def work(steps: int, batch: int, d: int, layers: int, context: int, seeds: int) -> float:
    """Training FLOPs of every run together: what the lesson's time grows with."""
    model = tf.GPTConfig(128, context, d, layers, HEADS, 4 * d)
    runs = (len(VARIANTS) + 1) * seeds
    return runs * steps * batch * context * tr.flops_per_token(model, context)


DEFAULT_WORK = work(STEPS, BATCH, D_MODEL, LAYERS, CONTEXT, SEEDS)
DEFAULT_SECONDS = 25  # the default runs on a quiet 2-core CPU
MAX_WORK_FACTOR = 8  # a few minutes there: more needs a faster machine


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    add, flag = parser.add_argument, partial(cli.int_flag, parser)
    flag("--seeds", 2, 16, SEEDS, "a bound on time", "seeds of each recipe")
    add(
        "--steps",
        type=cli.multiple_in(ACCUMULATE, ACCUMULATE, MAX_STEPS, "a bound on time"),
        default=STEPS,
        help=f"micro-batches per run, a multiple of {ACCUMULATE} (%(default)s)",
    )
    flag("--batch", 2, 64, BATCH, "", "windows per micro-batch")
    add("--lr", type=cli.float_in(1e-5, 0.1), default=LR, help="AdamW's peak rate (%(default)s)")
    add(
        "--d-model",
        type=cli.multiple_in(HEADS, 8, 256, "a bound on time"),
        default=D_MODEL,
        help=f"width d, a multiple of the {HEADS} heads (%(default)s)",
    )
    flag("--layers", 1, 8, LAYERS, "a bound on time", "transformer blocks")
    flag("--context", 8, 256, CONTEXT, "", "characters per window")
    flag(
        "--block", 1, 100_000, BLOCK, "", "characters per bootstrap block, a multiple of --context"
    )
    flag("--draws", 100, MAX_DRAWS, DRAWS, "a bound on memory", "bootstrap resamples")
    flag("--pack-context", 8, 100_000, PACK_CONTEXT, "", "row length of the packing comparison")
    args = parser.parse_args(argv)
    n = len((DATA / "macbeth.txt").read_bytes())
    val_chars = (n - int(n * 0.9) - 1) // args.context * args.context  # what is scored
    if args.block % args.context:
        parser.error(
            f"--block {args.block} is not a multiple of --context {args.context}: every "
            "block must hold whole windows (each starts with a character that has no context)"
        )
    if args.block * MIN_BLOCKS > val_chars:
        parser.error(
            f"--block {args.block} leaves fewer than {MIN_BLOCKS} blocks in the "
            f"{val_chars:,} validation characters; at most {val_chars // MIN_BLOCKS:,}"
        )
    asked = work(args.steps, args.batch, args.d_model, args.layers, args.context, args.seeds)
    if asked > MAX_WORK_FACTOR * DEFAULT_WORK:
        parser.error(
            f"--seeds, --steps, --batch, --d-model, --layers and --context ask for "
            f"{asked / DEFAULT_WORK:.1f}× the default runs' arithmetic, about "
            f"{asked / DEFAULT_WORK * DEFAULT_SECONDS / 60:.0f} minutes on a 2-core CPU; "
            f"a bound on time allows {MAX_WORK_FACTOR}×: lower one of them"
        )
    runs = (len(VARIANTS) + 1) * args.seeds
    need = memory_needed(runs, args.d_model, args.layers, args.context, args.batch)
    need = max(need, 3 * 4 * args.draws * val_chars)  # indices, gathered values, their sum
    cli.require_memory(parser, need, "--seeds, --d-model, --layers, --context, --batch")
    sections.run(args, __file__, __doc__, build(args), summary=summary, results=results,
                 kernels=KERNELS)  # fmt: skip


if __name__ == "__main__":
    cli.entry(main)
