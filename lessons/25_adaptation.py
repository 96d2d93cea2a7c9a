"""Lesson 25 — adapting a trained model.

A GPT trained on Macbeth meets a second play, Hamlet. It is fine-tuned three
ways with the same steps and the same batches: every weight (full
fine-tuning), low-rank adapters on its matrices alone (LoRA), and a fresh
model from scratch. Watch the validation loss on Hamlet, how many numbers
each way trains, and what each forgets of Macbeth. The adapters then merge
into the weights and give the same logits. Last, the adapted model learns a
preference anyone can check from pairs of its own samples (DPO, at several
β), against best-of-n sampling, which needs no training at all.

It starts from the checkpoint `make train` writes; when there is none it
trains a small Macbeth model first, and says so.

Run:  python lessons/25_adaptation.py [--checkpoint PATH|none] [--steps 120]
      [--rank 2] [--betas 0.1 0.5 2] [--save PATH] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import functools
import math
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rich.markup import escape
from rich.table import Table

from trinity_foundations import adaptation as ad
from trinity_foundations import checkpoints, cli, display, macbeth, sections
from trinity_foundations import decoding as dec
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt, param_count

HAMLET = macbeth.DATA.parent / "hamlet.txt"
SEED = 0
# The Macbeth model trained when there is no checkpoint: small, so the lesson stays quick.
BASE = macbeth.Defaults(d_model=48, context=48, batch=16, steps=240, lr=1e-2, warmup=20, evals=8)
STAND_IN = "I"  # what Hamlet's digits become ("1 Clown" -> "I Clown")
STEPS, CHUNKS, MAX_STEPS = 120, 4, 5000  # fine-tuning steps, evaluated after each chunk
LR = {"full": 1e-3, "lora": 1e-2, "scratch": 1e-2}  # each method's peak learning rate
RANK, ALPHA, MAX_RANK = 2, 4.0, 64
EVAL_WINDOWS, MERGE_WINDOWS = 64, 8
SAMPLES, RESPONSE, BEST_OF = 64, 48, 4  # samples per draw, their length, best-of-n's n
BETAS, DPO_STEPS, DPO_LR, MAX_DPO_STEPS = (0.1, 0.5, 2.0), 20, 3e-4, 500
TOLERANCE, SHARE = 0.1, 0.1  # LoRA within 0.1 nats of full, with at most 10 % of its numbers
METHODS = ("full", "lora", "scratch")


# ----------------------------------------------------------------------------
# 1. The base model and the second play.


@functools.cache
def small_base(seed: int, show_progress: bool):
    """The small Macbeth model (BASE sizes), trained once per process: (params, GPTConfig)."""
    err = display.LessonConsole(stderr=True, highlight=False)
    if show_progress and err.is_terminal:
        err.print(f"No checkpoint: training a small Macbeth model first ({BASE.steps} steps).")
    with display.steps_progress(BASE.steps, "training", enabled=show_progress) as advance:
        return macbeth.train_default(seed, advance, run=BASE)


@dataclass(frozen=True)
class Source:
    source: str  # "checkpoint" or "trained"
    checkpoint: str
    model: dict  # the GPTConfig's fields
    replaced: dict  # Hamlet's characters outside Macbeth's vocabulary -> how many
    hamlet_chars: int
    stand_in: str
    params: dict = field(repr=False, compare=False)


def compute_source(done: dict, *, args, loaded) -> Source:
    params, model = loaded if loaded else small_base(args.seed, not args.json)
    chars = lang.build_vocab(macbeth.read_text()).chars
    hamlet = HAMLET.read_text(encoding="ascii")
    _, replaced = ad.fit_vocabulary(hamlet, chars, STAND_IN)
    source = "checkpoint" if loaded else "trained"
    return Source(source, args.checkpoint, model._asdict(), replaced, len(hamlet), STAND_IN, params)


def digits_sentence(replaced: dict, total: int, stand_in: str) -> str:
    """How the second play was fitted into the first one's vocabulary."""
    if not replaced:
        return "Every character of Hamlet is in Macbeth's vocabulary."
    named = " and ".join(repr(c) for c in replaced)
    n = sum(replaced.values())
    return (
        f"Hamlet uses {named}, which Macbeth never does ({n} of its {total:,} characters): "
        f"each becomes {stand_in!r}, so the model keeps its vocabulary and its embedding "
        "table, and the adapted model still loads wherever a Macbeth model does."
    )


def say_source(r: Source, console) -> None:
    m = r.model
    where = f"the checkpoint {r.checkpoint}" if r.source == "checkpoint" else (
        "a small Macbeth model trained just now (no checkpoint; `make train` writes one)"
    )  # fmt: skip
    console.print(
        f"Base: {escape(where)}: d = {m['d_model']}, {m['n_layers']} layers, context "
        f"{m['context']}."
    )
    console.print(digits_sentence(r.replaced, r.hamlet_chars, r.stand_in) + "\n")


def model_of(done: dict) -> tuple[dict, GPTConfig]:
    s = done["source"]
    return s.params, GPTConfig(**s.model)


def texts(model: GPTConfig):
    """(Hamlet's training tokens, Hamlet's and Macbeth's validation windows)."""
    macbeth_text = macbeth.read_text()
    vocab = lang.build_vocab(macbeth_text)
    m_train, m_val = lang.split(lang.encode(vocab, macbeth_text))
    hamlet, _ = ad.fit_vocabulary(HAMLET.read_text(encoding="ascii"), vocab.chars, STAND_IN)
    h_train, h_val = lang.split(lang.encode(vocab, hamlet))
    # Cut to Macbeth's training length: shapes, not values, make a compiled program,
    # so the program that trained the base model serves full fine-tuning too.
    h_train = jnp.asarray(h_train[: len(m_train)])  # (n,)
    windows = [lang.eval_windows(v, model.context, limit=EVAL_WINDOWS) for v in (h_val, m_val)]
    return h_train, *windows


# ----------------------------------------------------------------------------
# 2. Three ways to fine-tune, the same steps and batches.


@dataclass(frozen=True)
class Tuning:
    steps: int
    eval_steps: list[int]  # 0, then after each chunk
    rank: int
    alpha: float
    lr: dict  # method -> peak learning rate
    trainable_params: dict  # method -> numbers trained
    new_play_val: dict  # method -> Hamlet validation loss at each of eval_steps
    macbeth_val_before: dict  # method -> Macbeth validation loss before
    macbeth_val_after: dict  # method -> and after
    lora: dict = field(repr=False, compare=False)  # the trained adapters


def tune(state, key, tokens, run_chunk, val, chunks):
    """`chunks` compiled chunks from `state`, the validation loss before and after each."""
    curve = [float(val(state.params))]
    for chunk_key in jax.random.split(key, chunks):  # the same keys for every method
        state, _ = run_chunk(state, chunk_key, tokens)
        curve.append(float(val(state.params)))
    return state.params, curve


def compute_tuning(done: dict, *, args) -> Tuning:
    base, model = model_of(done)
    tokens, (hx, hy), (mx, my) = texts(model)
    chunks = tr.chunks_for(args.steps, most=CHUNKS)
    per, batch = args.steps // chunks, BASE.batch
    k_lora, k_scratch, k_data = jax.random.split(jax.random.key(args.seed), 3)
    lm, lora_loss = tr.LMLoss(model), ad.LoRALoss(model, args.alpha)

    def config(method):
        return tr.TrainConfig(args.steps, batch, model.context, LR[method], warmup=10)

    full_chunk = partial(tr.train_chunk, loss_fn=lm, steps=per, batch=batch, context=model.context)
    lora_chunk = partial(
        ad.lora_chunk, base=base, loss_fn=lora_loss, steps=per, batch=batch,
        context=model.context,
    )  # fmt: skip
    lora0 = ad.init_lora(k_lora, base, model, args.rank)
    scratch0 = init_gpt(k_scratch, model)
    starts = {"full": (base, full_chunk), "lora": (lora0, lora_chunk)}
    starts["scratch"] = (scratch0, full_chunk)

    def val_of(method, x, y):
        if method == "lora":
            return lambda p: lora_loss(p, (base, jnp.asarray(x), jnp.asarray(y)))
        return lambda p: tr.evaluate(p, x, y, loss_fn=lm)

    trained, curves, before, after = {}, {}, {}, {}
    for method, (params, run_chunk) in starts.items():
        state = tr.init_state(params, tr.hyper_of(config(method)))
        before[method] = float(val_of(method, mx, my)(params))
        trained[method], curves[method] = tune(
            state, k_data, tokens, run_chunk, val_of(method, hx, hy), chunks
        )
        after[method] = float(val_of(method, mx, my)(trained[method]))
    counts = {"full": param_count(base), "lora": param_count(lora0)}
    counts["scratch"] = param_count(scratch0)
    return Tuning(
        args.steps, [i * per for i in range(chunks + 1)], args.rank, args.alpha, dict(LR),
        counts, curves, before, after, trained["lora"],
    )  # fmt: skip


def lora_verdict(lora_val, full_val, lora_params, full_params, tol=TOLERANCE, share=SHARE):
    """Whether LoRA came within `tol` nats of full fine-tuning with at most `share` of its
    trainable numbers, or by how much it fell short."""
    used = lora_params / full_params
    gap = lora_val - full_val
    size = f"with {display.share(used)} of its trainable numbers"
    if used > share:
        size += f" (more than {display.share(share, 0)}: not the cheap kind of adapter)"
    short = ad.lora_shortfall(lora_val, full_val, tol)
    if short == 0:
        return f"LoRA ended {gap:+.3f} nats from full fine-tuning on Hamlet, within {tol}, {size}."
    return (
        f"LoRA ended {gap:+.3f} nats from full fine-tuning on Hamlet, {size}: it falls short "
        f"of 'within {tol}' by {short:.3f} nats."
    )


def forgetting(before: float, after: float) -> str:
    """How much a method's Macbeth loss rose (it forgot) or fell."""
    change = after - before
    word = "rose" if change > 0 else "fell"
    return f"{word} by {abs(change):.3f}"


def say_tuning(r: Tuning, console) -> None:
    console.print(
        f"[bold]Fine-tuning on Hamlet[/]: {r.steps} steps each, the same batches in the same "
        f"order; LoRA rank {r.rank} (α = {r.alpha:g}) on attention's q, k, v, o and both "
        "MLP matrices of every block, the rest frozen."
    )
    table = Table(title="Hamlet validation loss (nats) after each chunk")
    table.add_column("step", justify="right")
    for m in METHODS:
        table.add_column(m, justify="right")
    for i, step in enumerate(r.eval_steps):
        table.add_row(str(step), *(f"{r.new_play_val[m][i]:.3f}" for m in METHODS))
    console.print(table)
    table = Table(title="What each trains, and Macbeth's validation loss")
    for col in ("method", "trainable", "peak lr", "Macbeth before", "after"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for m in METHODS:
        table.add_row(
            m, f"{r.trainable_params[m]:,}", f"{r.lr[m]:g}",
            f"{r.macbeth_val_before[m]:.3f}", f"{r.macbeth_val_after[m]:.3f}",
        )  # fmt: skip
    console.print(table)
    final = {m: r.new_play_val[m][-1] for m in METHODS}
    counts = r.trainable_params
    console.print(lora_verdict(final["lora"], final["full"], counts["lora"], counts["full"]))
    moved = {m: forgetting(r.macbeth_val_before[m], r.macbeth_val_after[m]) for m in METHODS}
    console.print(
        f"On Macbeth the loss {moved['full']} nats with full fine-tuning and {moved['lora']} "
        f"with LoRA (the same start); from scratch it {moved['scratch']}, learning what the "
        "two plays share.\n"
    )


# ----------------------------------------------------------------------------
# 3. Merging: W + (α/r) Aᵀ B, one ordinary GPT again.


@dataclass(frozen=True)
class Merge:
    max_diff: float  # merged logits against the adapter forward
    windows: int
    saved: str | None  # where the merged checkpoint was written
    merged: dict = field(repr=False, compare=False)


def compute_merge(done: dict, *, args) -> Merge:
    base, model = model_of(done)
    lora, alpha = done["tuning"].lora, done["tuning"].alpha
    _, (hx, _), _ = texts(model)
    x = jnp.asarray(hx[:MERGE_WINDOWS])  # (W, T)
    merged = ad.merge(base, lora, alpha)
    adapter = gpt_forward(ad.apply_lora(base, lora, alpha), x, config=model)  # (W, T, V)
    folded = gpt_forward(merged, x, config=model)  # (W, T, V)
    if args.save:
        text = macbeth.read_text()
        config = {
            "model": model._asdict(),
            "vocab": lang.build_vocab(text).chars,
            "data_sha256": macbeth.data_digest(text),  # the text whose vocabulary it uses
            "adapted_on": "hamlet.txt (digits as 'I')",
            "lora": {"rank": done["tuning"].rank, "alpha": alpha, "steps": args.steps},
            "seed": args.seed,
        }
        checkpoints.save_checkpoint(args.save, merged, config)
    return Merge(float(jnp.max(jnp.abs(adapter - folded))), int(x.shape[0]), args.save, merged)


def say_merge(r: Merge, console) -> None:
    console.print(
        f"[bold]Merged[/]: W + (α/r) Aᵀ B in every adapted matrix. Its logits on {r.windows} "
        f"Hamlet windows differ from the adapter forward by at most {r.max_diff:.1e}."
    )
    if r.saved:
        console.print(
            f"Saved to {escape(r.saved)}: python lessons/20_decoding.py --checkpoint "
            f"{escape(r.saved)}"
        )
    console.print()


# ----------------------------------------------------------------------------
# 4. A preference anyone can check: DPO against best-of-n.


@dataclass(frozen=True)
class Preferences:
    rule: str
    samples: int
    response: int  # characters per sample
    pairs: int
    chosen_length: float  # mean characters the rule read in chosen responses
    rejected_length: float
    betas: list[float]
    mean_beta: float  # the β of the row trained with mean log-probs
    dpo_steps: int
    pass_rate_before: float
    best_of: int
    best_of_n_pass_rate: float
    loss: list[float]  # per row (the βs, then the mean row): DPO loss after training
    reward_margin: list[float]
    kl: list[float]  # nats per sample, KL(π ‖ π_ref)
    pass_rate_after: list[float]
    loss_history: list[list[float]]
    example: str  # a chosen sample


RULE = (
    "every non-empty line that a newline ends (at least one) starts with a capital letter "
    f"and ends with one of {' '.join(ad.PUNCTUATION)}"
)


def draw(params, model, key, steps, samples):
    """`samples` continuations of a newline: tokens (S, K), the logits they came from
    (S, K, V) and their texts."""
    prompt = jnp.full((samples, 1), lang.build_vocab(macbeth.read_text()).chars.index("\n"))
    toks, _, seen = dec.generate(
        params, prompt, key, dec.Sampler(), config=model, steps=steps
    )  # (S, K), (S, K), (S, K, V)
    vocab = lang.build_vocab(macbeth.read_text())
    return toks, seen, [lang.decode(vocab, t) for t in np.asarray(toks)], prompt


def build_pairs(toks, seen, texts_, prompt) -> tuple[ad.Pairs, list, list]:
    """The DPO pairs of one draw, with the reference's log-probs from its own logits."""
    idx = ad.pair_up([ad.rule_passes(t) for t in texts_])
    c, r = (np.array([p[i] for p in idx], dtype=int) for i in (0, 1))
    lengths = [ad.response_length(t) for t in texts_]
    k = toks.shape[1]
    mask = jnp.asarray(np.arange(k)[None, :] < np.array(lengths)[:, None], jnp.float32)  # (S, K)
    inputs = jnp.concatenate([prompt, toks[:, :-1]], axis=1)  # (S, K) what each step saw
    ref = jnp.stack(ad.sequence_logps(ad.token_logps(seen, toks), mask))  # (2, S)
    pairs = ad.Pairs(inputs[c], toks[c], mask[c], inputs[r], toks[r], mask[r], ref[:, c], ref[:, r])
    return pairs, [lengths[i] for i in c], [lengths[i] for i in r]


def compute_preferences(done: dict, *, args) -> Preferences:
    ref = done["merge"].merged
    _, model = model_of(done)
    k = min(RESPONSE, model.context - 1)
    k_pairs, k_before, k_after = jax.random.split(jax.random.key(args.seed + 1), 3)
    toks, seen, texts_, prompt = draw(ref, model, k_pairs, k, args.samples)
    pairs, len_c, len_r = build_pairs(toks, seen, texts_, prompt)
    _, _, before, _ = draw(ref, model, k_before, k, args.samples)
    passes_before = [ad.rule_passes(t) for t in before]
    betas = [*args.betas, args.betas[len(args.betas) // 2]]  # the last row: mean log-probs
    means = [0.0] * len(args.betas) + [1.0]
    n_pairs = int(pairs.chosen.shape[0])
    rows = len(betas)
    if n_pairs:
        hyper = tr.hyper_of(tr.TrainConfig(args.dpo_steps, lr=DPO_LR, warmup=0, weight_decay=0.0))
        loss, margin, kl, after, history = [], [], [], [], []
        for beta, mean in zip(betas, means):  # one compiled program: β is a traced number
            policy, hist, final, gap = ad.dpo_train(
                ref, pairs, beta, mean, hyper, model=model, steps=args.dpo_steps
            )
            p_toks, p_seen, p_texts, _ = draw(policy, model, k_after, k, args.samples)
            inputs = jnp.concatenate([prompt, p_toks[:, :-1]], axis=1)  # (S, K)
            ref_logits = gpt_forward(ref, inputs, config=model)  # (S, K, V)
            kl.append(float(jnp.mean(ad.kl_per_sample(p_seen, ref_logits))))
            after.append(float(np.mean([ad.rule_passes(t) for t in p_texts])))
            loss.append(float(final))
            margin.append(float(gap))
            history.append(np.asarray(hist).tolist())
    else:  # nothing to prefer: no row trains
        nan = [math.nan] * rows
        loss, margin, kl, after, history = nan, nan, nan, nan, np.zeros((rows, 0))
    chosen = [t for t, p in zip(texts_, [ad.rule_passes(t) for t in texts_]) if p]
    return Preferences(
        RULE, args.samples, k, n_pairs, float(np.mean(len_c)) if len_c else math.nan,
        float(np.mean(len_r)) if len_r else math.nan, list(args.betas), betas[-1],
        args.dpo_steps, float(np.mean(passes_before)), args.best_of,
        ad.best_of_n_rate(passes_before, args.best_of), loss, margin, kl, after,
        np.asarray(history).tolist(), chosen[0] if chosen else "",
    )  # fmt: skip


def noise(p: float, q: float, samples: int) -> float:
    """Two standard errors of the difference of two pass rates, each from `samples`
    independent samples: a smaller difference is within the noise."""
    return 2 * math.sqrt((p * (1 - p) + q * (1 - q)) / samples)


def dpo_verdict(before: float, after: list[float], best: float, n: int, samples: int) -> str:
    """How the best DPO row compares with the untrained model and with best-of-n."""
    top = max(after)
    gap, spread = top - before, noise(top, before, samples)
    than = "beats" if top > best else "does not beat"
    tail = f"best-of-{n} passes {display.share(best)}, with no training"
    if abs(gap) <= spread:
        return (
            f"DPO's best row passes {display.share(top)} of fresh samples against "
            f"{display.share(before)} untrained: within the noise of {samples} samples "
            f"(±{display.share(spread)}); {tail}."
        )
    if gap < 0:
        return (
            f"DPO's best row passes {display.share(top)} of fresh samples against "
            f"{display.share(before)} untrained: worse, beyond the noise of {samples} samples "
            f"(±{display.share(spread)}); {tail}."
        )
    return (
        f"DPO's best row passes {display.share(top)} of fresh samples (untrained: "
        f"{display.share(before)}, noise ±{display.share(spread)}) and {than} best-of-{n}'s "
        f"{display.share(best)}, which draws {n} samples for every one it keeps."
    )


def sum_mean_sentence(r: Preferences) -> str:
    """How the mean-log-prob row differs from the summed one at the same β."""
    i = r.betas.index(r.mean_beta)
    kl = f"(KL {r.kl[-1]:.2f} against {r.kl[i]:.2f})"
    if r.reward_margin[-1] >= r.reward_margin[i]:
        moved = f"the same β reaches a margin no smaller {kl}"
    elif r.kl[-1] > r.kl[i]:
        moved = (
            f"the same β reaches a smaller margin, yet the policy moved further from the "
            f"reference {kl}: the margin measures the pairs, not the move, and Adam's steps "
            "do not shrink with the gradient's scale"
        )
    else:
        moved = f"the same β reaches a smaller margin, and the policy moved less far {kl}"
    return (
        f"At β = {r.mean_beta:g}, summed log-probs reach loss {r.loss[i]:.3f} (margin "
        f"{r.reward_margin[i]:.3f}, KL {r.kl[i]:.2f}); mean log-probs {r.loss[-1]:.3f} (margin "
        f"{r.reward_margin[-1]:.3f}, KL {r.kl[-1]:.2f}). The mean divides each response's "
        f"log-ratio by its length (chosen {r.chosen_length:.1f}, rejected "
        f"{r.rejected_length:.1f} characters on average), so a long response no longer "
        f"counts for more, and {moved}."
    )


def say_preferences(r: Preferences, console) -> None:
    console.print(f"[bold]The rule[/]: {r.rule}. A sample that passes:")
    console.print(visible_newlines(r.example) if r.example else "(none passed)", markup=False)
    console.print(
        f"Draw {r.samples} samples of {r.response} characters from the adapted model; each "
        f"passing one paired with a failing one: {display.count(r.pairs, 'pair')}. "
        f"DPO trains a copy per row for {r.dpo_steps} steps on them, against the frozen "
        "adapted model."
    )
    if not r.pairs:
        console.print("No sample passed, or none failed: there is nothing to prefer here.")
        return
    table = Table(title=f"DPO after {r.dpo_steps} steps (fresh samples for the pass rate)")
    for col in ("β", "log-probs", "loss", "margin", "KL", "pass rate"):
        table.add_column(col, justify="right")
    table.add_row(
        "untrained", "", f"{math.log(2):.3f}", "0", "0", display.share(r.pass_rate_before)
    )
    for i, beta in enumerate([*r.betas, r.mean_beta]):
        kind = "mean" if i == len(r.betas) else "summed"
        table.add_row(
            f"{beta:g}", kind, f"{r.loss[i]:.3f}", f"{r.reward_margin[i]:.3f}",
            f"{r.kl[i]:.2f}", display.share(r.pass_rate_after[i]),
        )  # fmt: skip
    table.add_row(f"best-of-{r.best_of}", "", "", "", "", display.share(r.best_of_n_pass_rate))
    console.print(table)
    console.print(dpo_verdict(r.pass_rate_before, r.pass_rate_after, r.best_of_n_pass_rate,
                              r.best_of, r.samples))  # fmt: skip
    console.print(sum_mean_sentence(r))


def visible_newlines(text: str) -> str:
    """Each newline shown as ↵ before the line break, so a line's end can be seen."""
    return text.replace("\n", "↵\n")


# ----------------------------------------------------------------------------
# The lesson.


def build(args, loaded) -> list[sections.Section]:
    S = sections.Section
    return [
        S("source", partial(compute_source, args=args, loaded=loaded), say_source),
        S(
            "tuning",
            partial(compute_tuning, args=args),
            say_tuning,
            doing=f"fine-tuning three ways, {args.steps} steps each",
        ),
        S("merge", partial(compute_merge, args=args), say_merge, doing="merging the adapters"),
        S(
            "preferences",
            partial(compute_preferences, args=args),
            say_preferences,
            doing=f"sampling, then DPO at {len(args.betas) + 1} settings in one program",
        ),
    ]


def results(done: dict) -> dict:
    t, m, p = done["tuning"], done["merge"], done["preferences"]
    rows = [*p.betas, p.mean_beta]
    per_beta = {
        f"{b:g}": {
            "loss": p.loss[i], "reward_margin": p.reward_margin[i], "kl": p.kl[i],
            "pass_rate_before": p.pass_rate_before, "pass_rate_after": p.pass_rate_after[i],
        }
        for i, b in enumerate(rows[:-1])
    }  # fmt: skip
    i = p.betas.index(p.mean_beta)
    keys = ("loss", "reward_margin", "kl", "pass_rate_after")
    return {
        "source": done["source"].source,
        "model": done["source"].model,
        "replaced": done["source"].replaced,
        "trainable_params": t.trainable_params,
        "eval_steps": t.eval_steps,
        "new_play_val": t.new_play_val,
        "macbeth_val_before": t.macbeth_val_before,
        "macbeth_val_after": t.macbeth_val_after,
        "lora_shortfall": ad.lora_shortfall(
            t.new_play_val["lora"][-1], t.new_play_val["full"][-1], TOLERANCE
        ),
        "lora_merge_max_diff": m.max_diff,
        "saved": m.saved,
        "dpo": {
            **per_beta,
            "sum_vs_mean": {
                "beta": p.mean_beta,
                "sum": {k: getattr(p, k)[i] for k in keys},
                "mean": {k: getattr(p, k)[-1] for k in keys},
                "chosen_length": p.chosen_length,
                "rejected_length": p.rejected_length,
            },
            "pairs": p.pairs,
            "loss_history": p.loss_history,
        },
        "pass_rate_before": p.pass_rate_before,
        "best_of_n_pass_rate": p.best_of_n_pass_rate,
        "best_of": p.best_of,
        "rule": p.rule,
    }


def summary(done: dict) -> list[str]:
    t, m, p = done["tuning"], done["merge"], done["preferences"]
    final = {k: v[-1] for k, v in t.new_play_val.items()}
    first = (
        f"On Hamlet, full fine-tuning reached {final['full']:.3f} nats, LoRA {final['lora']:.3f} "
        f"with {t.trainable_params['lora']:,} of {t.trainable_params['full']:,} numbers "
        f"trained, and scratch {final['scratch']:.3f}; Macbeth's loss "
        f"{forgetting(t.macbeth_val_before['full'], t.macbeth_val_after['full'])} with full "
        f"fine-tuning and {forgetting(t.macbeth_val_before['lora'], t.macbeth_val_after['lora'])}"
        " with LoRA."
    )
    second = (
        f"The merged weights gave the adapter forward's logits to within {m.max_diff:.1e}: "
        "after merging, LoRA costs nothing at inference."
    )
    if p.pairs:
        third = dpo_verdict(
            p.pass_rate_before, p.pass_rate_after, p.best_of_n_pass_rate, p.best_of, p.samples
        )
    else:
        third = "No preference pairs were found in the samples, so DPO did not train."
    return [first, second, third]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--checkpoint",
        default=str(macbeth.CHECKPOINT),
        help="the Macbeth model to adapt (%(default)s); none: train a small one first",
    )
    parser.add_argument(
        "--steps", type=cli.int_in(1, MAX_STEPS, "a bound on time"), default=STEPS,
        help="fine-tuning steps of each method (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--rank", type=cli.int_in(1, MAX_RANK), default=RANK, help="LoRA's rank r (%(default)s)"
    )
    parser.add_argument(
        "--alpha", type=cli.float_in(0.01, 1000.0), default=ALPHA,
        help="LoRA's α: the update is scaled by α/r (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--samples", type=cli.int_in(8, 4096, "a bound on time"), default=SAMPLES,
        help="samples per draw (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--best-of", type=cli.int_in(2, 64), default=BEST_OF, help="n of best-of-n (%(default)s)"
    )
    parser.add_argument(
        "--dpo-steps", type=cli.int_in(1, MAX_DPO_STEPS, "a bound on time"), default=DPO_STEPS,
        help="DPO steps (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--betas", type=cli.float_in(0.001, 100.0), nargs="+", default=list(BETAS),
        help="DPO's β values (%(default)s)",
    )  # fmt: skip
    parser.add_argument("--save", default=None, help="write the merged model to this .npz file")
    args = parser.parse_args(argv)
    if len(args.betas) > 8:
        parser.error(f"argument --betas: at most 8 values, got {len(args.betas)}")
    if args.best_of > args.samples:
        parser.error(f"argument --best-of: at most --samples ({args.samples}), got {args.best_of}")
    if args.save is not None and (why := checkpoints.save_problem(args.save)):
        parser.error(f"argument --save: {why}")
    try:
        loaded = macbeth.open_checkpoint(args.checkpoint)
    except ValueError as e:
        parser.error(f"argument --checkpoint: {e}")
    width = loaded[1].d_model if loaded else BASE.d_model
    if args.rank > width:
        parser.error(f"argument --rank: at most the model's width {width}, got {args.rank}")
    sections.run(
        args,
        __file__,
        __doc__,
        build(args, loaded),
        summary=summary,
        results=results,
        kernels=(ad.init_lora, ad.merge, ad.LoRAWeight.__rmatmul__, ad.dpo_loss, ad.dpo_stats),
    )


if __name__ == "__main__":
    cli.entry(main)
