"""Lesson 9.3 — training dynamics: how training goes right and wrong.

The GPT of lesson 19, at a small size, trained on Macbeth many times over
with one thing changed at a time, each comparison drawn as loss curves with
a verdict computed from them: SGD against AdamW; warm-up against none; a
learning-rate sweep from too small to divergent (divergence is detected and
said, never printed as a result); global-norm clipping on a run that
spikes; weight decay; the batch size at a fixed budget of tokens; and
over-fitting on a small slice of the text (the step where the training and
validation curves part).

Every run has the same shapes, so they are trained side by side in ONE
compiled program: `jax.vmap` over a table of hyper-parameters (the learning
rate, warm-up, clipping, decay, AdamW or SGD, the slice of text, even the
batch size, as a number of micro-batches accumulated per update). All runs
start from the same initial weights and see the same batches. A separate
check shows that gradient accumulation is exact: k micro-batches of B
windows give the step that one batch of k·B gives.

Run:  python lessons/21_training_dynamics.py [--steps 128] [--batch 8] [--lr 0.01]
      [--d-model 32] [--layers 2] [--context 32] [--slice 1024] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import argparse
import math
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from trinity_foundations import cli, display, timing
from trinity_foundations import dynamics as dyn
from trinity_foundations import language as lang
from trinity_foundations import sweep as sw
from trinity_foundations import training as tr
from trinity_foundations.accumulation import accumulated_value_and_grad, micro_batches
from trinity_foundations.transformer import GPTConfig, init_gpt, param_count

DATA = Path(__file__).resolve().parents[1] / "data" / "macbeth.txt"
SEED = 0
D_MODEL, LAYERS, HEADS, CONTEXT, BATCH, STEPS, LR = 32, 2, 2, 32, 8, 128, 1e-2
WARMUP, WEIGHT_DECAY, CLIP = 10, 0.1, 1.0  # the recipe of lesson 19, scaled to the run
EVALS, VAL_WINDOWS, SLICE = 16, 64, 1024  # evaluations per run, windows scored, over-fit text
SGD_LRS = (0.3, 1.0, 3.0)  # SGD gets three tries; the last is the run that spikes
LR_FACTORS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)  # the sweep, as multiples of --lr
WEIGHT_DECAYS = (0.0, WEIGHT_DECAY, 1.0)
ACCUMULATE = (1, 4, 16)  # micro-batches per update: batches of B, 4B and 16B
CHECK_K = 4  # the accumulation check: 4 micro-batches against one batch four times larger
TIE = 0.02  # nats: the least difference that counts, however close the two recipe runs end
SPIKE = 1.0  # nats above the best loss so far: a spike, not mini-batch noise
PART_TOLERANCE = 0.05  # nats validation must climb above its minimum to count as parting
MAX_STEPS = 4096  # time only: about 16 minutes of the default sweep on a 2-core CPU


# ----------------------------------------------------------------------------
# The runs: one row of hyper-parameters each, all in one vmapped program.


def run_table(lr: float, slice_: int) -> list[tuple[str, dict]]:
    """(label, changes to the recipe) for every run; the recipe itself is 'adamw'.

    A change names a TrainConfig field, or `accumulate` (micro-batches per
    update), `text` (the slice of training text) or `order` (which batches).
    'adamw, other batches' is the recipe again on batches drawn in another
    order: how far apart two runs end by chance alone, the yardstick of
    every comparison."""
    rows = [("adamw", {}), ("adamw, other batches", {"order": 1})]
    rows += [(f"sgd lr {g:g}", {"optimizer": "sgd", "lr": g}) for g in SGD_LRS]
    rows += [
        (f"sgd lr {SGD_LRS[-1]:g}, no clipping", {"optimizer": "sgd", "lr": SGD_LRS[-1], "clip": 0})
    ]
    rows += [("adamw, no warm-up", {"warmup": 0})]
    rows += [(f"lr {lr * f:.3g}", {"lr": lr * f}) for f in LR_FACTORS if f != 1.0]
    rows += [
        (f"weight decay {w:g}", {"weight_decay": w}) for w in WEIGHT_DECAYS if w != WEIGHT_DECAY
    ]
    rows += [
        (f"{k} micro-batches", {"accumulate": k, "warmup": WARMUP / k}) for k in ACCUMULATE[1:]
    ]
    rows += [(f"slice of {slice_:,}", {"text": slice_})]
    return rows


def sweep_runs(rows, config: tr.TrainConfig, text: int, dtype) -> sw.Run:
    """The table as one sweep.Run of (C,) leaves."""

    def row(changes):
        changes = dict(changes)
        accumulate = changes.pop("accumulate", 1)
        text_ = jnp.asarray(changes.pop("text", text), jnp.int32)
        order = jnp.asarray(changes.pop("order", 0), jnp.int32)
        hyper = tr.hyper_of(config._replace(**changes), accumulate=accumulate, dtype=dtype)
        return sw.Run(hyper, text_, order)

    return sw.stack([row(changes) for _, changes in rows])


@partial(jax.jit, static_argnames="loss_fn")
def big_batch_step(state, batch, *, loss_fn):
    """One batch (x, y), each (k·B, T) int32: its loss and gradient (the reference), and
    the parameters after training.train_step takes it (XLA computes the gradient once)."""
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    return loss, grads, tr.train_step(state, batch, loss_fn=loss_fn)[0].params


@partial(jax.jit, static_argnames="loss_fn")
def micro_batch_steps(state, batches, *, loss_fn):
    """k micro-batches (x, y), each (k, B, T) int32: their mean loss and gradient taken
    one at a time, and the parameters after training.train_step has taken all k."""
    loss, grads = accumulated_value_and_grad(loss_fn)(state.params, batches)

    def step(state, xy):
        return tr.train_step(state, xy, loss_fn=loss_fn)

    return loss, grads, jax.lax.scan(step, state, batches)[0].params


def _max_abs(a, b) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def _max_leaf(a) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64)))) for x in jax.tree.leaves(a))


# ----------------------------------------------------------------------------
# Verdicts: small pure functions of the numbers, one per comparison.


def summarise(label: str, loss, val, train_eval, norm, *, window: int, every: int) -> dict:
    """One run's curves and what they say: divergence, the largest spike, the end."""
    loss = np.asarray(loss, np.float64)  # (S,)
    diverged = int(dyn.divergence_step(jnp.asarray(loss), jnp.asarray(loss[0]), window=window))
    rise, at = dyn.largest_spike(jnp.asarray(loss))
    val = np.asarray(val, np.float64)  # (E,)
    return {
        "label": label,
        "loss": loss.tolist(),
        "val": val.tolist(),
        "train_eval": np.asarray(train_eval, np.float64).tolist(),
        "param_norm": np.asarray(norm, np.float64).tolist(),
        "eval_steps": [every * (i + 1) for i in range(len(val))],
        "diverged_at": None if diverged < 0 else diverged + 1,  # 1-based step
        "nan_at": first_not_finite(loss),
        "spike": float(rise),
        "spike_step": int(at) + 1,
        "final_val": None if diverged >= 0 or not math.isfinite(val[-1]) else float(val[-1]),
    }


def first_not_finite(loss: np.ndarray) -> int | None:
    """The first step (1-based) whose loss is NaN or infinite, or None."""
    bad = ~np.isfinite(loss)
    return int(np.argmax(bad)) + 1 if bad.any() else None


def noise(recipe: dict, other: dict) -> float:
    """The difference that counts: how far apart the recipe ends on two batch orders
    (at least TIE), or TIE if either diverged."""
    if recipe["final_val"] is None or other["final_val"] is None:
        return TIE
    return max(TIE, abs(recipe["final_val"] - other["final_val"]))


def compare(a: float, b: float, tie: float) -> str:
    """'lower', 'higher' or 'same': a against b, with differences within `tie` the same."""
    if abs(a - b) <= tie:
        return "same"
    return "lower" if a < b else "higher"


def optimizer_verdict(adamw: dict, sgd: list[dict], lrs, tie: float) -> dict:
    """AdamW against SGD at its best learning rate (of those that did not diverge).

    'neither' when every run diverged; 'adamw' or 'sgd' when only that side finished."""
    finals = [(r["final_val"], g) for r, g in zip(sgd, lrs) if r["final_val"] is not None]
    best_val, best_lr = min(finals) if finals else (None, None)
    if best_val is None or adamw["final_val"] is None:
        alive = {(True, True): "neither", (True, False): "sgd", (False, True): "adamw"}
        winner = alive[(adamw["final_val"] is None, best_val is None)]
        return {"winner": winner, "best_sgd_lr": best_lr, "margin": None}
    margin = best_val - adamw["final_val"]
    side = compare(adamw["final_val"], best_val, tie)
    winner = {"lower": "adamw", "higher": "sgd", "same": "tie"}[side]
    return {"winner": winner, "best_sgd_lr": best_lr, "margin": margin}


def warmup_verdict(with_: dict, without: dict, tie: float) -> dict:
    """Warm-up against none: the end, and the worst jump early on."""
    if without["final_val"] is None or with_["final_val"] is None:
        alive = {(True, True): "neither", (True, False): "none", (False, True): "warmup"}
        return {"better": alive[(with_["final_val"] is None, without["final_val"] is None)],
                "margin": None}  # fmt: skip
    side = compare(with_["final_val"], without["final_val"], tie)
    return {
        "better": {"lower": "warmup", "higher": "none", "same": "tie"}[side],
        "margin": without["final_val"] - with_["final_val"],
        "spike_with": with_["spike"],
        "spike_without": without["spike"],
    }


def lr_status(run: dict, best: float | None, lr: float, best_lr: float | None, tie: float) -> str:
    """What a run of the sweep did: 'diverged', 'spiked', 'best', 'near best', 'too small'
    or 'too large' (worse than the best by more than `tie`, on its side of it)."""
    if run["final_val"] is None:
        return "diverged"
    if run["final_val"] == best:
        return "best"
    if compare(run["final_val"], best, tie) == "same":
        return "near best"
    if run["spike"] > SPIKE and lr > best_lr:
        return "spiked"
    return "too small" if lr < best_lr else "too large"


def lr_verdict(runs: list[dict], lrs, tie: float) -> dict:
    """The best learning rate of the sweep, and a status for each."""
    ok = [(r["final_val"], g) for r, g in zip(runs, lrs) if r["final_val"] is not None]
    best, best_lr = min(ok) if ok else (None, None)
    statuses = [lr_status(r, best, g, best_lr, tie) for r, g in zip(runs, lrs)]
    diverged = [g for g, s in zip(lrs, statuses) if s == "diverged"]
    return {"best_lr": best_lr, "best_val": best, "status": statuses, "diverged_lrs": diverged}


def clipping_verdict(clipped: dict, unclipped: dict) -> dict:
    """What clipping did to the run that spikes: rescued it, tamed it, or neither."""
    if unclipped["diverged_at"] is not None and clipped["diverged_at"] is None:
        outcome = "rescued"
    elif clipped["diverged_at"] is not None:
        outcome = "not enough" if unclipped["diverged_at"] is not None else "worse"
    elif clipped["spike"] < unclipped["spike"] / 2:
        outcome = "tamed"
    else:
        outcome = "no difference"
    return {
        "outcome": outcome,
        "spike_with": clipped["spike"],
        "spike_without": unclipped["spike"],
        "diverged_without": unclipped["diverged_at"],
    }


def decay_verdict(runs: list[dict], decays, tie: float) -> dict:
    """Weight decay: how much it shrank the weights, and what it did to validation."""
    norms = [r["param_norm"][-1] for r in runs]
    finals = [r["final_val"] for r in runs]
    none = decays.index(0.0)
    usable = [v for v in finals if v is not None]
    spread = max(usable) - min(usable) if len(usable) == len(finals) else None
    return {
        "norm_change": [n / norms[none] - 1 for n in norms],
        "spread": spread,
        "matters": spread is not None and spread > tie,
        "best_decay": decays[finals.index(min(usable))] if usable else None,
    }


def batch_verdict(runs: list[dict], batches, updates, tie: float) -> dict:
    """The batch size that did best with the same number of tokens, and whether its
    lead is larger than chance (`tie`)."""
    finals = [r["final_val"] for r in runs]
    usable = [(v, b, u) for v, b, u in zip(finals, batches, updates) if v is not None]
    if not usable:
        return {"best_batch": None, "best_updates": None, "spread": None, "clear": False}
    best = min(usable)
    runner_up = min((u[0] for u in usable if u is not best), default=None)
    return {
        "best_batch": best[1],
        "best_updates": best[2],
        "spread": max(u[0] for u in usable) - best[0],
        "clear": runner_up is not None and runner_up - best[0] > tie,
    }


def overfit_verdict(run: dict, full: dict) -> dict:
    """Where train and validation part on the slice, against the run on the whole text."""
    point = int(
        dyn.parting_point(
            jnp.asarray(run["train_eval"]), jnp.asarray(run["val"]), jnp.asarray(PART_TOLERANCE)
        )
    )
    val = run["val"]
    gap = val[-1] - run["train_eval"][-1]
    return {
        "split_step": None if point < 0 else run["eval_steps"][point],
        "shape": "rising" if point >= 0 else ("gap" if gap > PART_TOLERANCE else "together"),
        "gap": gap,
        "val_min": min(val),
        "val_final": val[-1],
        "train_final": run["train_eval"][-1],
        "full_text_val": full["final_val"],
    }


# ----------------------------------------------------------------------------


def run(seed, steps, batch, lr, d_model, layers, context, slice_) -> dict:
    text = DATA.read_text(encoding="ascii")
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    model = GPTConfig(vocab.size, context, d_model, layers, HEADS, 4 * d_model)
    config = tr.TrainConfig(
        steps=steps, batch=batch, context=context, lr=lr, warmup=WARMUP,
        weight_decay=WEIGHT_DECAY, clip=CLIP,
    )  # fmt: skip
    loss_fn = tr.LMLoss(model)
    k_init, k_sweep, k_check = jax.random.split(jax.random.key(seed), 3)
    params = init_gpt(k_init, model)
    dtype = params["tok"].dtype
    rows = run_table(lr, slice_)
    runs_table = sweep_runs(rows, config, len(train), dtype)
    val_windows = tuple(jnp.asarray(a) for a in lang.eval_windows(val, context, VAL_WINDOWS))
    tokens = jnp.asarray(train)
    args = (params, runs_table, k_sweep, tokens, val_windows)
    shapes = dict(steps=steps, batch=batch, context=context, evals=EVALS)
    program = timing.compile_once(sw.train_sweep, *args, loss_fn=loss_fn, **shapes)
    run_ms, (final, hist) = timing.time_once(program.compiled, *args)

    every = steps // EVALS
    window = max(steps // 8, 2)
    runs = {
        label: summarise(
            label,
            hist.aux.loss[i],
            hist.val_eval[i],
            hist.train_eval[i],
            hist.param_norm[i],
            window=window,
            every=every,
        )  # fmt: skip
        for i, (label, _) in enumerate(rows)
    }
    pick = lambda labels: [runs[x] for x in labels]  # noqa: E731
    tie = noise(runs["adamw"], runs["adamw, other batches"])

    sgd = pick([f"sgd lr {g:g}" for g in SGD_LRS])
    sweep_labels = [f"lr {lr * f:.3g}" if f != 1.0 else "adamw" for f in LR_FACTORS]
    lrs = [lr * f for f in LR_FACTORS]
    decay_labels = [f"weight decay {w:g}" if w != WEIGHT_DECAY else "adamw" for w in WEIGHT_DECAYS]
    batch_labels = [f"{k} micro-batches" if k != 1 else "adamw" for k in ACCUMULATE]
    spiky = runs[f"sgd lr {SGD_LRS[-1]:g}"]
    unclipped = runs[f"sgd lr {SGD_LRS[-1]:g}, no clipping"]

    # The check: one batch of k·B against its k micro-batches of B, then one AdamW step each.
    check_batch = lang.sample_batch(k_check, tokens, CHECK_K * batch, context)  # (kB, T) x2
    parts = micro_batches(check_batch, CHECK_K)  # (k, B, T) x2
    state_1, state_k = (
        tr.init_state(params, tr.hyper_of(config, accumulate=k)) for k in (1, CHECK_K)
    )
    loss_big, g_big, big = big_batch_step(state_1, check_batch, loss_fn=loss_fn)
    loss_acc, g_acc, acc = micro_batch_steps(state_k, parts, loss_fn=loss_fn)

    overfit = overfit_verdict(runs[f"slice of {slice_:,}"], runs["adamw"])
    return {
        "dtype": str(dtype),
        "model": {"d_model": d_model, "layers": layers, "heads": HEADS, "context": context},
        "param_count": param_count(params),
        "vocab_size": vocab.size,
        "train_tokens": int(len(train)),
        "tokens_per_run": steps * batch * context,
        "runs": len(rows),
        "steps": steps,
        "eval_every": every,
        "val_tokens_scored": int(val_windows[0].size),
        # on the characters the runs are scored on, not the whole validation text
        "unigram_val_loss": lang.unigram_loss(train, np.ravel(val_windows[1]), vocab.size),
        "init_loss": runs["adamw"]["loss"][0],
        "uniform_loss": lang.uniform_loss(vocab.size),
        "divergence_window": window,
        "noise": {"runs": pick(["adamw", "adamw, other batches"]), "tie": tie},
        "compile_ms": program.lower_ms + program.compile_ms,
        "run_ms": run_ms,
        "optimizers": {
            "runs": [runs["adamw"], *sgd],
            "sgd_lrs": list(SGD_LRS),
            "verdict": optimizer_verdict(runs["adamw"], sgd, SGD_LRS, tie),
        },
        "warmup": {
            "runs": pick(["adamw", "adamw, no warm-up"]),
            "warmup_steps": WARMUP,
            "verdict": warmup_verdict(runs["adamw"], runs["adamw, no warm-up"], tie),
        },
        "learning_rate": {
            "runs": pick(sweep_labels),
            "lrs": lrs,
            "verdict": lr_verdict(pick(sweep_labels), lrs, tie),
        },
        "clipping": {
            "runs": [spiky, unclipped],
            "lr": SGD_LRS[-1],
            "clip": CLIP,
            "verdict": clipping_verdict(spiky, unclipped),
        },
        "weight_decay": {
            "runs": pick(decay_labels),
            "decays": list(WEIGHT_DECAYS),
            "verdict": decay_verdict(pick(decay_labels), list(WEIGHT_DECAYS), tie),
        },
        "batch_size": {
            "runs": pick(batch_labels),
            "batches": [k * batch for k in ACCUMULATE],
            "updates": [steps // k for k in ACCUMULATE],
            "verdict": batch_verdict(
                pick(batch_labels),
                [k * batch for k in ACCUMULATE],
                [steps // k for k in ACCUMULATE],
                tie,
            ),
        },
        "overfit": {
            "runs": [runs[f"slice of {slice_:,}"]],
            "slice": slice_,
            "verdict": overfit,
        },
        "accumulation": {
            "k": CHECK_K,
            "micro_batch": batch,
            "max_grad_diff": _max_abs(g_big, g_acc),
            "max_grad": _max_leaf(g_big),
            "loss_diff": abs(float(loss_big) - float(loss_acc)),
            "step_size": _max_abs(big, params),
        },
        "accumulation_max_diff": _max_abs(big, acc),
        "overfit_split_step": overfit["split_step"],
    }


# ----------------------------------------------------------------------------
# The report.


def ended(run: dict) -> str:
    """A run's end as a table cell: its validation loss, or how it diverged."""
    if run["final_val"] is not None:
        return f"{run['final_val']:.3f}"
    if run["nan_at"] is None:
        return f"diverged at step {run['diverged_at']} (above its start)"
    if run["nan_at"] == run["diverged_at"]:
        return f"diverged at step {run['diverged_at']} (not a number)"
    return f"diverged at step {run['diverged_at']} (not a number from {run['nan_at']})"


def how_diverged(run: dict) -> str:
    """How a diverged run left: above its starting value from step s on, and, when it
    came to that, not a number from step n on."""
    if run["nan_at"] == run["diverged_at"]:
        return f"its loss was not a number from step {run['diverged_at']} on"
    said = f"its loss was above its starting value from step {run['diverged_at']} on"
    if run["nan_at"] is None:
        return said
    return f"{said}, and not a number from step {run['nan_at']} on"


def against_unigram(final: float, unigram: float, tie: float) -> str:
    """'worse', 'same' (within `tie`) or 'better': a run's end against counting characters."""
    return {"lower": "better", "higher": "worse", "same": "same"}[compare(final, unigram, tie)]


UNIGRAM_WORDS = {
    "worse": ", worse than counting characters ({u:.3f}).",
    "same": ", within the noise of counting characters ({u:.3f}).",
    "better": ".",
}


def chartable(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(runs to draw, diverged runs left out: their losses would flatten every other curve)."""
    return [r for r in runs if r["final_val"] is not None], [
        r for r in runs if r["final_val"] is None
    ]


def _chart(console, runs: list[dict], key: str = "loss", x_label: str = "step") -> None:
    drawn, left_out = chartable(runs)
    if drawn:
        series = {r["label"]: r[key] for r in drawn}
        console.print(display.line_chart(series, height=10, width=60, x_label=x_label))
    for r in left_out:
        console.print(f"[dim]Left out of the chart: {r['label']}, {ended(r)}.[/]")


def _table(runs: list[dict], extra: dict[str, list[str]] | None = None):
    table = Table(show_edge=False)
    table.add_column("run")
    table.add_column("validation loss at the end", justify="right")
    table.add_column("largest jump (step)", justify="right")
    for name in extra or {}:
        table.add_column(name, justify="right")
    for i, r in enumerate(runs):
        jump = "∞" if not math.isfinite(r["spike"]) else f"{r['spike']:.2f}"
        cells = [v[i] for v in (extra or {}).values()]
        table.add_row(r["label"], ended(r), f"{jump} ({r['spike_step']})", *cells)
    return table


SIDE = {"lower": "lower than", "higher": "higher than", "same": "about the same as"}


def _intro(r: dict, console) -> None:
    m = r["model"]
    console.print(
        f"{r['runs']} runs of one GPT ({r['param_count']:,} parameters: d = {m['d_model']}, "
        f"{display.count(m['layers'], 'layer')}, {m['heads']} heads, context {m['context']}; "
        f"{r['dtype']}), each {display.count(r['steps'], 'step')} of "
        f"{r['tokens_per_run'] // r['steps']:,} tokens ({r['tokens_per_run']:,} tokens a run), "
        "from the same initial weights and, all but the slice and the other-batches run, on "
        "the same batches, trained side by side in one "
        f"vmapped program: compiled in {display.duration(r['compile_ms'])}, "
        f"run once in {display.duration(r['run_ms'])}."
    )
    console.print(
        f"The recipe starts at loss {r['init_loss']:.3f} (ln V = {r['uniform_loss']:.3f}). "
        f"Validation: {r['val_tokens_scored']:,} characters of unseen text, scored every "
        f"{display.count(r['eval_every'], 'step')}. Counting characters alone (unigram) "
        f"scores {r['unigram_val_loss']:.3f}: a run that ends there has learnt nothing else. "
        f"A run has diverged when its loss stays above where it started (or is not a number) "
        f"for its last {display.count(r['divergence_window'], 'step')} or more; its loss is "
        "then no result."
    )
    a, b = r["noise"]["runs"]
    console.print(
        f"How much is chance? The recipe run twice, on two orders of batches, ends at "
        f"{ended(a)} and {ended(b)}: below {r['noise']['tie']:.3f} nats (that gap, or "
        f"{TIE} at least) two runs are called about the same.\n"
    )


def _optimizers(r: dict, console) -> None:
    c = r["optimizers"]
    v = c["verdict"]
    console.rule("[bold]SGD against AdamW")
    _chart(console, c["runs"])
    console.print(_table(c["runs"]))
    adamw = c["runs"][0]
    if v["margin"] is None:
        console.print(OPTIMIZER_WORDS[v["winner"]] + "\n")
        return
    best = c["runs"][1 + c["sgd_lrs"].index(v["best_sgd_lr"])]
    console.print(
        f"AdamW ends at {adamw['final_val']:.3f}, "
        f"{SIDE[compare(adamw['final_val'], best['final_val'], r['noise']['tie'])]} "
        "SGD at its best learning "
        f"rate ({v['best_sgd_lr']:g}, of {display.vector(c['sgd_lrs'])}): "
        f"{best['final_val']:.3f}. Adam divides each coordinate's step by a running "
        "estimate of its gradient's size, so rarely updated embeddings and busy weight "
        "matrices move at comparable speeds; SGD gives them one rate for all.\n"
    )


OPTIMIZER_WORDS = {
    "neither": "AdamW and every SGD run diverged: no comparison can be made.",
    "adamw": "Every SGD run diverged; AdamW did not.",
    "sgd": "AdamW diverged; at least one SGD run did not.",
}


def _warmup(r: dict, console) -> None:
    c = r["warmup"]
    v = c["verdict"]
    console.rule("[bold]Warm-up against none")
    _chart(console, c["runs"])
    console.print(_table(c["runs"]))
    if v["margin"] is None:
        console.print(
            f"Only one of the two finished: {ended(c['runs'][0])} against {ended(c['runs'][1])}.\n"
        )
        return
    with_, without = c["runs"]
    console.print(
        f"With {display.count(c['warmup_steps'], 'step')} of warm-up the run ends at "
        f"{with_['final_val']:.3f}, "
        f"{SIDE[compare(with_['final_val'], without['final_val'], r['noise']['tie'])]} "
        f"without ({without['final_val']:.3f}); its largest jump is {v['spike_with']:.2f} "
        f"against {v['spike_without']:.2f} without. Adam's first steps are sized by a "
        "second-moment estimate built from a handful of gradients; warm-up keeps them short "
        "while that estimate settles.\n"
    )


def _learning_rate(r: dict, console) -> None:
    c = r["learning_rate"]
    v = c["verdict"]
    console.rule("[bold]A learning-rate sweep")
    _chart(console, c["runs"])
    console.print(_table(c["runs"], {"verdict": v["status"]}))
    if v["best_lr"] is None:
        console.print("Every rate of the sweep diverged.\n")
        return
    console.print(f"Best: lr {v['best_lr']:.3g}, validation loss {v['best_val']:.3f}.")
    for run_, lr, status in zip(c["runs"], c["lrs"], v["status"]):
        if status == "diverged":
            console.print(f"lr {lr:.3g} [bold red]diverged[/]: {how_diverged(run_)}.")
        elif status == "spiked":
            side = against_unigram(run_["final_val"], r["unigram_val_loss"], r["noise"]["tie"])
            console.print(
                f"lr {lr:.3g} jumped {run_['spike']:.2f} nats above its best at step "
                f"{run_['spike_step']} and ended at {run_['final_val']:.3f}"
                + UNIGRAM_WORDS[side].format(u=r["unigram_val_loss"])
            )
    console.print()


CLIP_OUTCOME = {
    "rescued": "without clipping the run diverges; with it, it survives its spikes",
    "tamed": "clipping halves (at least) the largest jump",
    "not enough": "even with clipping the run diverges: the rate itself is too high",
    "worse": "with clipping the run diverges and without it does not: here it did harm",
    "no difference": "clipping makes no clear difference here",
}


def _clipping(r: dict, console) -> None:
    c = r["clipping"]
    v = c["verdict"]
    console.rule("[bold]Global-norm clipping on a run that spikes")
    _chart(console, c["runs"])
    console.print(_table(c["runs"]))
    console.print(
        f"SGD at lr {c['lr']:g}, with the gradient rescaled to norm {c['clip']:g} whenever "
        f"it is longer, and without: {CLIP_OUTCOME[v['outcome']]} (largest jump "
        f"{_jump(v['spike_with'])} with, {_jump(v['spike_without'])} without). A spike's "
        "gradient is huge; unclipped, SGD's step is the gradient times the rate, and one "
        "step can throw the weights where the next gradient is larger still.\n"
    )


def _jump(x: float) -> str:
    return "∞ (not a number)" if not math.isfinite(x) else f"{x:.2f}"


def _weight_decay(r: dict, console) -> None:
    c = r["weight_decay"]
    v = c["verdict"]
    console.rule("[bold]Weight decay")
    norms = [f"{x['param_norm'][-1]:.2f}" for x in c["runs"]]
    console.print(_table(c["runs"], {"parameter norm": norms}))
    changes = ", ".join(
        f"decay {d:g}: {display.share(ch, signed=True)}"
        for d, ch in zip(c["decays"], v["norm_change"])
        if d != 0.0
    )
    spread = (
        "one run diverged"
        if v["spread"] is None
        else (
            f"the validation losses span {v['spread']:.3f} nats, "
            + ("more than" if v["matters"] else "within")
            + f" the {r['noise']['tie']:.3f} that counts as a difference here"
        )
    )
    console.print(
        f"Against no decay, the parameters' norm at the end changes by {changes}; {spread}. "
        "AdamW's decay pulls every weight matrix towards zero by lr·λ·θ each step, apart "
        f"from the gradient: {DECAY_WORDS[v['matters']]}.\n"
    )


DECAY_WORDS = {  # whether the decays' validation losses differ by more than chance
    False: "in a run this short it mostly shrinks the weights; its use is against "
    "over-fitting in long runs",
    True: "here it also moved the validation loss, by more than chance",
}


def _batch_size(r: dict, console) -> None:
    c = r["batch_size"]
    v = c["verdict"]
    console.rule("[bold]Batch size at a fixed budget of tokens")
    _chart(
        console, c["runs"], x_label=f"micro-batch of {r['tokens_per_run'] // r['steps']:,} tokens"
    )
    updates = [display.count(u, "update") for u in c["updates"]]
    batches = [str(b) for b in c["batches"]]
    console.print(_table(c["runs"], {"batch": batches, "updates": updates}))
    if v["best_batch"] is None:
        console.print("Every batch size diverged.\n")
        return
    best = (
        f"Best: batch {v['best_batch']} with {display.count(v['best_updates'], 'update')}, "
        f"ahead of the others by more than the {r['noise']['tie']:.3f} that chance gives"
        if v["clear"]
        else f"The lowest end (batch {v['best_batch']}) is within the "
        f"{r['noise']['tie']:.3f} nats that chance gives of another: no batch size is "
        "clearly better here"
    )
    console.print(
        f"Each run reads the same {r['tokens_per_run']:,} tokens; a batch k times larger "
        f"makes k times fewer updates (the larger batches are accumulated micro-batches, "
        f"exact as the check below shows). {best}; the worst ends {v['spread']:.3f} nats "
        "higher. A larger batch gives a less noisy gradient but fewer steps to follow it.\n"
    )


def _overfit(r: dict, console) -> None:
    c = r["overfit"]
    v = c["verdict"]
    console.rule("[bold]Over-fitting a small slice")
    run_ = c["runs"][0]
    console.print(
        display.line_chart(
            {"train (the slice)": run_["train_eval"], "validation": run_["val"]},
            height=10,
            width=60,
            x_label=f"evaluation, every {r['eval_every']} steps:",
        )
    )
    if v["shape"] == "gap":
        console.print(
            f"Trained on the first {c['slice']:,} characters only, the training loss ends at "
            f"{v['train_final']:.3f} and validation at {v['val_final']:.3f} (its minimum "
            f"{v['val_min']:.3f}): {v['gap']:.3f} nats apart. The model fits its slice "
            "far better than unseen text, though validation has not yet turned upwards "
            f"within {display.count(r['steps'], 'step')}.\n"
        )
        return
    if v["shape"] == "together":
        console.print(
            f"On the first {c['slice']:,} characters alone, train and validation losses "
            f"stayed together within {display.count(r['steps'], 'step')} (train "
            f"{v['train_final']:.3f}, validation {v['val_final']:.3f}, its minimum "
            f"{v['val_min']:.3f}).\n"
        )
        return
    console.print(
        f"Trained on the first {c['slice']:,} characters only, the training loss falls to "
        f"{v['train_final']:.3f} while the validation loss, lowest at step "
        f"{v['split_step']} ({v['val_min']:.3f}), climbs to {v['val_final']:.3f}: the curves "
        f"part at step {v['split_step']}. The model memorises its slice instead of learning "
        f"English; on the whole text the same run ends at "
        f"{'—' if v['full_text_val'] is None else format(v['full_text_val'], '.3f')}.\n"
    )


def _accumulation(r: dict, console) -> None:
    a = r["accumulation"]
    console.rule("[bold]Gradient accumulation")
    console.print(
        f"{a['k']} micro-batches of {a['micro_batch']} windows, their gradients averaged, "
        f"against one batch of {a['k'] * a['micro_batch']} ({r['dtype']}): the losses differ "
        f"by {a['loss_diff']:.1e}, the gradients by at most {a['max_grad_diff']:.1e} (the "
        f"largest gradient entry is {a['max_grad']:.2g}), and after one AdamW step the "
        f"parameters differ by at most {r['accumulation_max_diff']:.1e}, against a step of "
        f"up to {a['step_size']:.1e}: rounding, not a different step. The mean of k means "
        "of B is the mean of k·B, and the gradient is linear."
    )


def report(r: dict, console) -> None:
    _intro(r, console)
    for section in (
        _optimizers, _warmup, _learning_rate, _clipping, _weight_decay, _batch_size, _overfit,
        _accumulation,
    ):  # fmt: skip
        section(r, console)


# ----------------------------------------------------------------------------


def memory_needed(runs: int, d: int, layers: int, context: int, batch: int, vocab: int = 128):
    """Rough bytes: per run, params + Adam's two moments + the gradient sum + updates,
    and the activations of one micro-batch and of the validation windows (about
    48·d + 5·H·T numbers per token and layer, plus the logits)."""
    n = 12 * layers * d * d + (vocab + context) * d
    per_token = layers * (48 * d + 5 * HEADS * context) + 3 * vocab
    tokens = batch * context + VAL_WINDOWS * context
    return runs * 4 * (6 * n + per_token * tokens)


def sweep_work(steps: int, batch: int, d: int, layers: int, context: int) -> float:
    """Training FLOPs of one run: what the sweep's time grows with (runs are fixed)."""
    model = GPTConfig(128, context, d, layers, HEADS, 4 * d)
    return steps * batch * context * tr.flops_per_token(model, context)


DEFAULT_WORK = sweep_work(STEPS, BATCH, D_MODEL, LAYERS, CONTEXT)
DEFAULT_SECONDS = 30  # the default sweep on a busy 2-core CPU (4,096 steps took 16 minutes)
MAX_WORK_FACTOR = 4  # about two minutes there: past it a learner waits with no word


def _multiple_of(step: int, lo: int, hi: int, what: str):
    parse = cli.int_in(lo, hi, what)

    def check(text: str) -> int:
        value = parse(text)
        if value % step:
            raise argparse.ArgumentTypeError(f"must be a multiple of {step}, got {value:,}")
        return value

    return check


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    unit = math.lcm(EVALS, *ACCUMULATE)
    parser.add_argument(
        "--steps",
        type=_multiple_of(unit, unit, MAX_STEPS, "a bound on time"),
        default=STEPS,
        help=f"micro-batches per run, a multiple of {unit} (%(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=cli.int_in(2, 64),
        default=BATCH,
        help="windows per micro-batch (%(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.float_in(1e-5, 0.1),
        default=LR,
        help="AdamW's peak rate; the sweep goes from 0.01× to 1000× it (%(default)s)",
    )
    parser.add_argument(
        "--d-model",
        type=_multiple_of(HEADS, 8, 256, "a bound on time"),
        default=D_MODEL,
        help=f"width d, a multiple of the {HEADS} heads (%(default)s)",
    )
    parser.add_argument(
        "--layers", type=cli.int_in(1, 8, "a bound on time"), default=LAYERS, help="(%(default)s)"
    )
    parser.add_argument(
        "--context",
        type=cli.int_in(8, 256),
        default=CONTEXT,
        help="characters per window (%(default)s)",
    )
    parser.add_argument(
        "--slice",
        type=cli.int_in(300, 50_000, "a slice, not the text"),
        default=SLICE,
        help="characters of the text the over-fitting run sees (%(default)s)",
    )
    args = parser.parse_args(argv)  # --slice >= 300 always holds a window of --context <= 256
    work = sweep_work(args.steps, args.batch, args.d_model, args.layers, args.context)
    if work > MAX_WORK_FACTOR * DEFAULT_WORK:
        parser.error(
            f"--steps, --batch, --d-model, --layers and --context ask for "
            f"{work / DEFAULT_WORK:.1f}× the default run's arithmetic, about "
            f"{work / DEFAULT_WORK * DEFAULT_SECONDS / 60:.0f} minutes on a 2-core CPU; "
            f"a bound on time allows {MAX_WORK_FACTOR}× (about "
            f"{MAX_WORK_FACTOR * DEFAULT_SECONDS / 60:.0f} minutes): lower one of them"
        )
    runs = len(run_table(args.lr, args.slice))
    need = memory_needed(runs, args.d_model, args.layers, args.context, args.batch)
    itemsize = 8 if jax.config.jax_enable_x64 else 4
    cli.require_memory(parser, need * itemsize / 4, "--d-model, --layers, --context, --batch")
    doing = (
        f"compiling and training {runs} runs of {args.steps:,} steps side by side, in one program…"
    )
    with cli.working(args, doing):
        results = run(
            args.seed, args.steps, args.batch, args.lr, args.d_model, args.layers, args.context,
            args.slice,
        )  # fmt: skip
    cli.finish(
        args,
        __file__,
        results,
        report,
        title=__doc__,
        kernels=(
            sw.train_sweep, tr.train_step, tr.recipe, tr.learning_rate, dyn.divergence_step,
            dyn.largest_spike, dyn.parting_point, accumulated_value_and_grad, big_batch_step,
            micro_batch_steps,
        ),
    )  # fmt: skip


if __name__ == "__main__":
    cli.entry(main)
