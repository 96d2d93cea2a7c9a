"""The notes' figures, drawn with matplotlib from the lessons' `--json` results.

`make figures` runs each lesson a figure needs (and each lesson a note
quotes, see notes_check) at its defaults, saves its envelope as
notes/results/<stem>.json, and draws notes/figures/*.png from those files.
Each figure is one pure function, envelope -> matplotlib Figure; the
registry FIGURES ties it to its file name and lesson.

    python -m trinity_foundations.figures [--only NAME_OR_STEM]
        [--results notes/results] [--out notes/figures] [--from-results]

--from-results redraws from the saved results without running anything.
The PNGs are written at a fixed size and dpi without a Software or date
tag, so the same results give the same bytes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trinity_foundations import catalogue, notes_check

FOLDER = notes_check.NOTES / "figures"
DPI = 120
SIZE = (6.4, 3.8)  # inches: 768 × 456 pixels, readable at a note's width
WIDE = (8.0, 3.6)  # two panels side by side
# Okabe and Ito's palette: told apart with every common colour-vision deficiency
# (their yellow is left out: too pale on white).
COLOURS = BLUE, ORANGE, GREEN, VERMILION, PURPLE, SKY, BLACK = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#000000",
)
STYLE = {
    "axes.prop_cycle": cycler(color=COLOURS),
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "cividis",
    "legend.frameon": False,
}


def _number(x) -> float:
    """A results value as a float ("Infinity" and "NaN" are the envelope's names)."""
    return float(x)


def _figure(size=SIZE, cols: int = 1):
    """A Figure drawn by Agg, outside pyplot (no window, no global figure list)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, cols)


def _dim_ticks(ax, dims) -> None:
    """A log axis labelled at exactly the dimensions measured."""
    ax.set_xticks(dims, [f"{d:g}" for d in dims], rotation=45)
    ax.minorticks_off()


def _percent(share: float) -> str:
    """A share as a percentage, two significant digits: 0.907 -> '91%', 1.4e-5 -> '0.0014%'."""
    percent = share * 100
    return f"{percent:.0f}%" if percent >= 9.95 else f"{percent:.2g}%"


# ----------------------------------------------------------------------------
# One function per figure: the lesson's envelope in, a Figure out.


def cosine_spread(env: dict) -> Figure:
    """Spread of random cosines against the dimension, beside 1/√d."""
    r = env["results"]
    dims = np.array([row["dim"] for row in r["dims"]], float)
    fig, (left, right) = _figure(WIDE, 2)
    line = np.geomspace(dims.min(), dims.max(), 50)
    left.loglog(line, 1 / np.sqrt(line), color=BLACK, lw=1, label="1/√d")
    left.loglog(dims, [row["std"] for row in r["dims"]], "o", color=BLUE, label="measured")
    left.set(xlabel="dimension d", ylabel="standard deviation of u·v")
    left.set_title(f"Spread of cosines ({r['pairs']:,} pairs per d)")
    left.legend()
    eps = r["epsilon"]
    right.semilogx(dims, [row["pct_not_orthogonal"] for row in r["dims"]], "o-", color=ORANGE)
    right.set(xlabel="dimension d", ylabel=f"pairs with |u·v| > {eps:g} (%)", ylim=(0, 100))
    right.set_title(f"Pairs further than {eps:g} from perpendicular")
    for ax in (left, right):
        _dim_ticks(ax, dims)
    return fig


def finite_differences(env: dict) -> Figure:
    """The U curve of finite-difference error against the step h."""
    fd = env["results"]["finite_differences"]
    hs = np.array(fd["hs"], float)
    fig, axes = _figure(WIDE, 2)
    schemes = {
        "one_sided": ("one-sided (f(x+h) − f(x)) / h", BLUE, r"$\sqrt{\varepsilon}$", "left"),
        "central": ("central (f(x+h) − f(x−h)) / 2h", ORANGE, r"$\varepsilon^{1/3}$", "right"),
    }
    for ax, dtype in zip(axes, ("float32", "float64"), strict=True):
        for scheme, (label, colour, guide, side) in schemes.items():
            err = np.array(fd["errors"][dtype][scheme], float)
            shown = err > 0  # an error of exactly 0 has no place on a log scale
            ax.loglog(hs[shown], err[shown], "o-", ms=3, color=colour, label=label)
            h = fd["guide_h"][dtype][scheme]
            ax.axvline(h, color=colour, ls="--", lw=1)
            ax.annotate(
                f"h = {guide}",
                (h, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3 if side == "left" else -3, -4),
                textcoords="offset points",
                ha=side,
                va="top",
                color=colour,
            )
        if fd["vanished_h"][dtype] > 0:  # x + h == x: the difference is 0, the error |grad|
            ax.annotate(
                "θ + h rounds to θ:\nerror = max |gradient|",
                (fd["vanished_h"][dtype], fd["grad_scale"]),
                xytext=(0, -6),
                textcoords="offset points",
                va="top",
                fontsize=8,
            )
        ax.set(xlabel="step h (smaller to the right)", ylabel="max |finite difference − jax.grad|")
        ax.set_title(f"{dtype} (ε = {fd['eps'][dtype]:.2g})")
        ax.invert_xaxis()  # h shrinks to the right, as in the lesson's sweep
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return fig


def attention_weights(env: dict) -> Figure:
    """The attention weights as a heat map, every cell labelled."""
    r = env["results"]
    w = np.array(r["weights"], float)
    tokens = r["tokens"]
    fig, ax = _figure((4.8, 3.8))
    image = ax.imshow(w, vmin=0, vmax=1, cmap="cividis")
    for i, j in np.ndindex(w.shape):
        colour = BLACK if w[i, j] > 0.6 else "white"
        ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", color=colour)
    ax.set_xticks(range(len(tokens)), tokens)
    ax.set_yticks(range(len(tokens)), tokens)
    ax.set(xlabel="key: the token attended to", ylabel="query: the token attending")
    ax.grid(False)
    ax.set_title("Attention weights (each row sums to 1)")
    fig.colorbar(image, ax=ax, label="weight")
    return fig


def softmax_collapse(env: dict) -> Figure:
    """How the unscaled softmax collapses as the width d grows."""
    r = env["results"]
    rows = r["sweep"]
    dims = np.array([row["dim"] for row in rows], float)
    fig, (left, right) = _figure(WIDE, 2)
    top = [row["top_median"] for row in rows]
    left.semilogx(dims, top, "o-", color=VERMILION, label="unscaled q·k (median of the draws)")
    left.axhline(1 / r["sweep_tokens"], color=BLACK, lw=1, ls="--")
    left.annotate(
        f"uniform: 1/{r['sweep_tokens']}",
        (dims[0], 1 / r["sweep_tokens"]),
        xytext=(0, 4),
        textcoords="offset points",
    )
    left.set(xlabel="width d", ylabel="largest weight (median of the draws)", ylim=(0, 1.05))
    top_scaled, top_unscaled = max(r["scaled"]), max(r["unscaled"])
    left.plot(
        r["dim"], top_scaled, "D", color=BLUE, label=f"scaled by 1/√d (one draw, d = {r['dim']})"
    )
    left.plot(r["dim"], top_unscaled, "x", color=VERMILION, ms=8, label="unscaled, the same draw")
    left.legend(loc="center right")
    left.set_title(f"Largest softmax weight over {r['sweep_tokens']} keys")
    ratio = [_number(row["ratio_median"]) for row in rows]
    low = [_number(row["ratio_min"]) for row in rows]
    ceiling = max(ratio) * 1e3  # the widest draws run off the top (some to infinity)
    high = np.minimum([_number(row["ratio_max"]) for row in rows], ceiling)
    right.fill_between(dims, low, high, color=SKY, alpha=0.4, lw=0, label="range of the draws")
    right.loglog(dims, ratio, "o-", color=BLUE, label="median")
    right.set(xlabel="width d", ylabel="Σ|J| scaled ÷ Σ|J| unscaled")
    right.set_ylim(0.5, ceiling)
    right.set_title("Gradient size: scaled ÷ unscaled")
    right.legend(loc="upper left")
    for ax in (left, right):
        _dim_ticks(ax, dims)
    return fig


def singular_values(env: dict) -> Figure:
    """The singular values on a log scale, and the energy kept by the first k."""
    r = env["results"]
    s = np.array(r["singular_values"], float)
    k = np.arange(1, len(s) + 1)
    fig, (left, right) = _figure(WIDE, 2)
    left.bar(k, s, color=BLUE)
    left.set_yscale("log")
    for i, (value, share) in enumerate(zip(s, r["energy_share"], strict=True)):
        left.annotate(
            f"{value:.3g}\n({_percent(share)})",
            (k[i], value),
            ha="center",
            xytext=(0, 2),
            textcoords="offset points",
        )
    left.set(xlabel="index i", ylabel="singular value σᵢ", xticks=k)
    left.set_ylim(s.min() / 3, s.max() * 8)
    left.set_title("Spectrum (energy share σᵢ² / Σσ² in brackets)")
    right.plot(k, np.array(r["cumulative_energy_share"]) * 100, "o-", label="energy Σσ²")
    right.plot(k, np.array(r["cumulative_share_of_sum"]) * 100, "s--", label="sum Σσ")
    right.axvline(r["truncation_rank"], color=BLACK, lw=1, ls=":")
    right.annotate(
        f"rank {r['truncation_rank']} kept",
        (r["truncation_rank"], 0.5),
        xycoords=("data", "axes fraction"),
        xytext=(4, 0),
        textcoords="offset points",
    )
    right.set(xlabel="rank k kept", ylabel="share held by the first k (%)", xticks=k)
    right.set_title("What a rank-k truncation keeps")
    right.legend(loc="lower right")
    return fig


def rosenbrock_paths(env: dict) -> Figure:
    """The simple ES's and sep-CMA-ES's means, generation by generation, on Rosenbrock."""
    from trinity_foundations import evolution  # the lesson's own objective, for the contours

    r = env["results"]
    runs = {
        "simple ES": (r["mean_history"], BLUE),
        "sep-CMA-ES": (r["sep_cma"]["mean_history"], ORANGE),
    }
    points = np.concatenate([np.array(p, float) for p, _ in runs.values()])
    lo = np.minimum(points.min(axis=0), [1, 1]) - 0.4
    hi = np.maximum(points.max(axis=0), [1, 1]) + 0.4
    x, y = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    z = np.asarray(evolution.rosenbrock(np.stack([x, y], axis=-1)), float)  # (200, 200)
    fig, ax = _figure((6.4, 4.4))
    levels = np.geomspace(0.1, max(z.max(), 1.0), 12)
    ax.contour(x, y, z, levels=levels, colors="0.6", linewidths=0.6)
    for name, (path, colour) in runs.items():
        p = np.array(path, float)  # (G, 2)
        ax.plot(p[:, 0], p[:, 1], "-", color=colour, lw=1.2, label=f"{name} ({len(p)} generations)")
        ax.plot(*p[0], "o", color=colour, ms=5)
        ax.plot(*p[-1], "s", color=colour, ms=5)
    ax.plot(1, 1, "*", color=BLACK, ms=10, label="minimum (1, 1)")
    ax.set(xlabel="x₁", ylabel="x₂")
    ax.set_title("Mean of each generation on Rosenbrock (○ start, □ end)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(False)
    return fig


def expert_loads(env: dict) -> Figure:
    """f (share of tokens routed) and P (mean router probability) per expert."""
    r = env["results"]
    n = r["experts"]
    fig, axes = _figure(WIDE, 2)
    for ax, case in zip(axes, ("collapsed", "balanced"), strict=True):
        c = r[case]
        i = np.arange(n)
        ax.bar(i - 0.2, c["f"], 0.4, color=BLUE, label="f: share of tokens routed")
        ax.bar(i + 0.2, c["p"], 0.4, color=ORANGE, label="P: mean router probability")
        ax.axhline(1 / n, color=BLACK, lw=1, ls="--")
        ax.set(xlabel="expert", ylabel="share", ylim=(0, 1.1), xticks=i)
        ax.set_title(f"{case}: aux loss N·Σ f·P = {c['aux_loss']:.3f}")
    axes[0].legend(loc="upper right")
    axes[1].annotate(f"even: 1/{n}", (n - 1.5, 1 / n), xytext=(0, 4), textcoords="offset points")
    return fig


def mini_trinity(env: dict) -> Figure:
    """What each case cost, turn by turn, and how it ended."""
    cases = env["results"]["cases"]
    colours = {}
    fig, ax = _figure((6.4, 2.8))
    for row, case in enumerate(cases):
        left = 0.0
        for turn in case["turns"]:
            colour = colours.setdefault(turn["expert_name"], COLOURS[len(colours) % len(COLOURS)])
            rejected = turn["status"] != "accepted"
            ax.barh(
                row,
                turn["cost"],
                left=left,
                color=colour,
                edgecolor=BLACK,
                lw=0.6,
                hatch="//" if rejected else None,
            )
            left += turn["cost"]
        ax.annotate(
            f"{case['status']} ({case['total_cost']:.2f})",
            (left, row),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
        )
    for name, colour in colours.items():
        ax.barh(0, 0, color=colour, label=name)
    ax.barh(0, 0, color="white", edgecolor=BLACK, hatch="//", label="rejected turn")
    ax.set_yticks(range(len(cases)), [f"{c['case']}: {c['name']}" for c in cases])
    ax.invert_yaxis()
    ax.set_xlim(0, max(sum(t["cost"] for t in c["turns"]) for c in cases) * 1.5)
    ax.set(xlabel="cost (in the lesson's units)")
    ax.set_title("Cost of each case, one segment per turn")
    fig.legend(loc="outside lower center", ncols=len(colours) + 1)
    return fig


def residual_norms(env: dict) -> Figure:
    """The residual stream's size after each block, pre-norm against post-norm."""
    r = env["results"]
    pre, post = r["residual_norms_prenorm"], r["residual_norms_postnorm"]
    blocks = np.arange(len(pre))
    fig, ax = _figure()
    ax.plot(blocks, pre, "o-", color=BLUE, label="pre-norm: x + f(LN(x))")
    ax.plot(blocks, post, "s-", color=ORANGE, label="post-norm: LN(x + f(x))")
    ax.axhline(r["sqrt_d"], color=BLACK, lw=1, ls="--")
    ax.annotate(
        f"√d = {r['sqrt_d']:g}",
        (blocks[-1], r["sqrt_d"]),
        ha="right",
        xytext=(0, -12),
        textcoords="offset points",
    )
    ax.set(xlabel="blocks applied (0: the input)", ylabel="mean token norm ‖x‖", xticks=blocks)
    ax.set_ylim(0, max(pre) * 1.1)
    ax.set_title(
        f"The residual stream through {len(pre) - 1} random blocks (d = {env['params']['d_model']})"
    )
    ax.legend(loc="upper left")
    return fig


def bpe_tokens(env: dict) -> Figure:
    """How many tokens the text takes as BPE learns its merges."""
    r = env["results"]
    tokens = np.array(r["bpe_tokens_by_merges"], float)  # before any merge, then after each
    merges = np.arange(len(tokens))
    fig, ax = _figure()
    ax.plot(merges, tokens / 1e3, color=BLUE)
    ax.annotate(
        f"{int(tokens[0]):,} bytes",
        (0, tokens[0] / 1e3),
        xytext=(6, -4),
        textcoords="offset points",
        va="top",
    )
    ax.annotate(
        f"{int(tokens[-1]):,} tokens\n({tokens[0] / tokens[-1]:.2f} bytes per token)",
        (merges[-1], tokens[-1] / 1e3),
        xytext=(0, 8),
        textcoords="offset points",
        ha="right",
        va="bottom",
    )
    ax.set(xlabel="merges learned", ylabel="tokens in the text (thousands)")
    ax.set_ylim(0, tokens[0] / 1e3 * 1.05)
    ax.set_title(f"Byte-level BPE on Macbeth ({r['bpe_corpus_bytes']:,} bytes)")
    return fig


def loss_curves(env: dict) -> Figure:
    """Training and validation loss by step, against the three baselines."""
    r = env["results"]
    fig, ax = _figure()
    steps = np.arange(1, len(r["loss_history"]) + 1)
    ax.plot(steps, r["loss_history"], color=SKY, lw=0.8, label="train, each batch")
    ax.plot(
        r["eval_steps"], r["train_eval_history"], "o-", color=BLUE, ms=3, label="train, evaluated"
    )
    ax.plot(r["eval_steps"], r["val_history"], "s-", color=ORANGE, ms=3, label="validation")
    baselines = (
        ("uniform", r["uniform_loss"]),
        ("unigram", r["unigram_val_loss"]),
        ("bigram", r["bigram_val_loss"]),
    )
    for name, value in baselines:
        ax.axhline(value, color=BLACK, lw=0.8, ls="--")
        ax.annotate(
            f"{name} {value:.2f}",
            (steps[-1], value),
            ha="right",
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set(xlabel="training step", ylabel="cross-entropy (nats per character)")
    ax.set_title("A tiny GPT on Macbeth against the baselines")
    ax.legend(loc="upper right", bbox_to_anchor=(1, 0.92))
    return fig


def decoding_entropy(env: dict) -> Figure:
    """The mean entropy of the next-character law under each decoding rule."""
    r = env["results"]
    names = sorted(r["entropies"], key=r["entropies"].get)  # least choice first
    values = [r["entropies"][n] for n in names]
    fig, ax = _figure()
    bars = ax.bar(range(len(names)), values, color=BLUE)
    ax.bar_label(bars, [f"{v:.2f}" for v in values], padding=2)
    top = math.log(r["model"]["vocab_size"])
    ax.axhline(top, color=BLACK, lw=1, ls="--")
    ax.annotate(
        f"uniform over {r['model']['vocab_size']}: ln {r['model']['vocab_size']} = {top:.2f}",
        (len(names) - 0.5, top),
        ha="right",
        xytext=(0, -12),
        textcoords="offset points",
    )
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set(ylabel="mean entropy (nats per character)", ylim=(0, top * 1.1))
    ax.set_title("How much choice each decoding rule leaves")
    return fig


def curve_label(lr: float, values, top: float) -> str:
    """A run's legend label, saying so when its curve leaves the plot (above `top`, or not
    finite)."""
    values = np.asarray(values, float)
    if not np.all(np.isfinite(values)):
        return f"lr {lr:.3g} (not finite)"
    return f"lr {lr:.3g} (off the top)" if values.max() > top else f"lr {lr:.3g}"


def lr_sweep(env: dict) -> Figure:
    """Validation loss against the learning rate, and each run's validation curve."""
    r = env["results"]
    sweep = r["learning_rate"]
    lrs, runs, status = sweep["lrs"], sweep["runs"], sweep["verdict"]["status"]
    fig, (left, right) = _figure(WIDE, 2)
    finals = [(g, run["final_val"]) for g, run in zip(lrs, runs, strict=True) if run["final_val"]]
    left.semilogx(*zip(*finals, strict=True), "o-", color=BLUE)
    for g, run, what in zip(lrs, runs, status, strict=True):
        if run["final_val"] is None:
            left.axvline(g, color=VERMILION, ls=":", lw=1)
            left.annotate(
                "diverged",
                (g, 0.5),
                xycoords=("data", "axes fraction"),
                rotation=90,
                color=VERMILION,
                ha="right",
            )
        elif what == "best":
            left.plot(g, run["final_val"], "*", color=ORANGE, ms=12, label=f"best: lr {g:.3g}")
    left.axhline(r["unigram_val_loss"], color=BLACK, lw=0.8, ls="--")
    left.annotate(
        f"unigram {r['unigram_val_loss']:.2f}",
        (min(lrs), r["unigram_val_loss"]),
        xytext=(0, 3),
        textcoords="offset points",
    )
    left.set(xlabel="peak learning rate", ylabel="final validation loss (nats per character)")
    left.set_title(f"The sweep after {r['steps']} steps")
    left.legend(loc="upper center")

    top = 1.25 * r["uniform_loss"]
    for i, (g, run) in enumerate(zip(lrs, runs, strict=True)):
        val = np.array([_number(v) for v in run["val"]], float)
        ok = np.isfinite(val)
        steps = np.array(run["eval_steps"])
        label = curve_label(g, val, top)
        right.plot(steps[ok], val[ok], "o-", ms=2, color=COLOURS[i % len(COLOURS)], label=label)
    right.axhline(r["uniform_loss"], color=BLACK, lw=0.8, ls="--")
    right.annotate(
        f"uniform {r['uniform_loss']:.2f}",
        (1, r["uniform_loss"]),
        xycoords=("axes fraction", "data"),
        xytext=(0, 3),
        textcoords="offset points",
        ha="right",
    )
    lowest = min(_number(v) for run in runs for v in run["val"] if math.isfinite(_number(v)))
    right.set_ylim(lowest - 0.05 * (top - lowest), top)
    right.set(xlabel="training step", ylabel="validation loss (nats per character)")
    right.set_title("Validation loss of each run")
    right.legend(fontsize=7, ncols=2, loc="upper center")
    return fig


def roofline_placed(env: dict) -> Figure:
    """This machine's roofline, measured, with every timed kernel placed on it."""
    from trinity_foundations import roofline  # the lesson's own roof and ridge

    r = env["results"]
    peak, bandwidth = r["peak_flops"], r["bandwidth"]
    points = r["roofline_points"]
    x = np.array([p["intensity"] for p in points], float)
    fig, ax = _figure((6.4, 4.4))
    line = np.geomspace(min(x.min(), 1) / 2, max(x.max(), roofline.ridge(peak, bandwidth)) * 2, 200)
    roof = [roofline.attainable(i, peak, bandwidth) for i in line]
    ax.loglog(line, np.array(roof) / 1e9, color=BLACK, lw=1.5, label="roof: min(P, I·W)")
    ridge = roofline.ridge(peak, bandwidth)
    ax.axvline(ridge, color=BLACK, lw=0.8, ls=":")
    ax.annotate(
        f"ridge {ridge:.3g} FLOP/byte",
        (ridge, 0.02),
        xycoords=("data", "axes fraction"),
        xytext=(3, 0),
        textcoords="offset points",
    )
    kinds = list(dict.fromkeys(p["kind"] for p in points))

    markers = "osD^v<>p"
    over = above_roof(points)
    for k, kind in enumerate(kinds):
        colour, marker = COLOURS[k % len(COLOURS)], markers[k % len(markers)]
        for p in (p for p in points if p["kind"] == kind):
            face = "none" if p["name"] in over else colour
            ax.loglog(p["intensity"], p["flops_per_s"] / 1e9, marker, color=colour, mfc=face)
        ax.plot([], [], marker, color=colour, ls="none", label=kind)
    if over:
        ax.plot([], [], "o", color=BLACK, mfc="none", ls="none", label="above the roof")
    ax.set(xlabel="arithmetic intensity I (FLOP per byte)", ylabel="GFLOP/s reached")
    ax.set_title(
        f"Roofline of this {env['backend'].upper()}: P = {peak / 1e9:.3g} GFLOP/s, "
        f"W = {bandwidth / 1e9:.3g} GB/s"
    )
    ax.legend(loc="upper left", fontsize=8)
    return fig


def above_roof(points: list[dict], slack: float = 1.05) -> list[str]:
    """The kernels that beat their roof by more than `slack`: they read faster than the
    measured copy (from a cache, say), which this roofline has no level for."""
    return [p["name"] for p in points if p["share_of_roof"] > slack]


# ---- the figure of 23_fewer_bits ----


def fewer_bits(env: dict) -> Figure:
    """Left: validation loss of float32, bfloat16 compute and a second float32 seed.
    Right: each quantization scheme's validation-loss change against its bytes per weight."""
    r = env["results"]
    m = r["mixed_precision"]
    fig, (left, right) = _figure(WIDE, cols=2)
    styles = {"float32": ("o-", BLUE), "bfloat16 compute": ("s--", ORANGE)}
    for name, curve in m["val_curves"].items():
        marker, colour = styles.get(name, ("^:", GREEN))
        left.plot(m["eval_steps"], curve, marker, color=colour, ms=3, label=name)
    left.set(xlabel="training step", ylabel="validation loss (nats)")
    left.set_title("Mixed precision against float32")
    left.legend(loc="upper right")
    base = r["float32_val_loss"]
    schemes = list(r["quantized"].values())
    deltas = [q["val_loss"] - base for q in schemes]
    rows = [f"{q['label']}\n{q['bytes_per_param']:.3f} bytes/weight" for q in schemes]
    right.barh(range(len(rows)), deltas, color=[VERMILION if d > 0 else GREEN for d in deltas])
    right.set_yticks(range(len(rows)), rows, fontsize=7)
    right.invert_yaxis()
    right.axvline(0.0, color=BLACK, lw=0.8)
    right.set(xlabel="Δ validation loss against float32 (nats)")
    right.set_title(f"Quantized weights (float32: {base:.3f} nats)")
    return fig


# ---- the figure of 24_kernels ----


def kernels_memory(env: dict) -> Figure:
    """Temporary memory of naive and tiled attention as T grows, and both on the roofline."""
    from trinity_foundations import roofline

    r = env["results"]
    rows = r["memory"]
    order = sorted(rows, key=int)  # a saved envelope may have its keys sorted as text
    ts = np.array([int(t) for t in order], float)
    fig, (left, right) = _figure(WIDE, cols=2)
    for key, label, colour in (
        ("naive_temp_bytes", "naive attention", VERMILION),
        ("tiled_temp_bytes", "tiled (one tile at a time)", BLUE),
        ("score_bytes", "one (H, T, T) score matrix", BLACK),
    ):
        mb = np.array([rows[t][key] for t in order], float) / 2**20
        style = ":" if key == "score_bytes" else "o-"
        left.loglog(ts, mb, style, color=colour, ms=4, label=label, base=2)
    pinned = r["memory_factor"]
    left.annotate(
        f"{pinned['naive_over_tiled']:.1f}× at T = {pinned['t']:,}",
        (pinned["t"], rows[str(pinned["t"])]["tiled_temp_bytes"] / 2**20),
        xytext=(0, 8),
        textcoords="offset points",
        ha="right",
    )
    left.set_xticks(ts, [f"{int(t):,}" for t in ts])
    left.minorticks_off()
    left.set(xlabel="sequence length T", ylabel="temporary memory (MiB)")
    left.set_title("XLA's temporary buffers, compiled, causal")
    left.legend(fontsize=7, loc="upper left")
    sp = r["speed"]
    peak, bandwidth = sp["peak_flops"], sp["bandwidth"]
    ridge = roofline.ridge(peak, bandwidth)
    xs = np.geomspace(min(*sp["intensity"].values(), ridge) / 4, max(sp["intensity"].values()) * 4)
    roof = [roofline.attainable(x, peak, bandwidth) / 1e9 for x in xs]
    right.loglog(xs, roof, color=BLACK, lw=1.5)
    right.axvline(ridge, color=BLACK, lw=0.8, ls=":")
    right.annotate(f"ridge {ridge:.3g}", (ridge, 0.04), xycoords=("data", "axes fraction"),
                   xytext=(3, 0), textcoords="offset points")  # fmt: skip
    for name, colour in (("naive", VERMILION), ("tiled", BLUE)):
        right.loglog(sp["intensity"][name], sp["flops_per_s"][name] / 1e9, "o", color=colour,
                     label=f"{name}, T = {sp['length']:,}")  # fmt: skip
    plain = matplotlib.ticker.FormatStrFormatter("%g")
    right.xaxis.set_major_formatter(plain)
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # too crowded on x
    right.yaxis.set_major_formatter(plain)
    right.yaxis.set_minor_formatter(plain)
    right.set(xlabel="arithmetic intensity (FLOP per byte, XLA's count)", ylabel="GFLOP/s reached")
    right.set_title(
        f"{env['backend'].upper()} roofline: P = {peak / 1e9:.3g} GFLOP/s, "
        f"W = {bandwidth / 1e9:.3g} GB/s"
    )
    right.legend(fontsize=7, loc="upper left")
    return fig


# ---- the figure of 25_adaptation ----


def adaptation(env: dict) -> Figure:
    """Hamlet's validation loss for the three ways to fine-tune; DPO's pass rates by β."""
    r = env["results"]
    fig, (left, right) = _figure(WIDE, 2)
    styles = {"full": ("o-", BLUE), "lora": ("s-", ORANGE), "scratch": ("^-", BLACK)}
    for method, (marker, color) in styles.items():
        label = f"{method} ({r['trainable_params'][method]:,} trained)"
        curve = r["new_play_val"][method]
        left.plot(r["eval_steps"], curve, marker, color=color, ms=3, label=label)
    left.set(xlabel="fine-tuning step", ylabel="Hamlet validation loss (nats)")
    left.set_title("Full, LoRA and scratch: the same batches")
    left.legend(loc="upper right")
    dpo = r["dpo"]
    betas = [k for k in dpo if k not in ("sum_vs_mean", "pairs", "loss_history")]
    rows = [*(f"β={b}" for b in betas), f"β={dpo['sum_vs_mean']['beta']:g}\nmean"]
    rates = [dpo[b]["pass_rate_after"] for b in betas]
    rates.append(dpo["sum_vs_mean"]["mean"]["pass_rate_after"])
    bars = right.bar(range(len(rows)), rates, color=BLUE)
    right.bar_label(bars, [_percent(v) for v in rates], padding=2)
    for value, name, style in (
        (r["pass_rate_before"], "untrained", "--"),
        (r["best_of_n_pass_rate"], f"best-of-{r['best_of']}, no training", ":"),
    ):
        right.axhline(value, color=BLACK, lw=1, ls=style, label=f"{name}: {_percent(value)}")
    right.legend(loc="upper left")
    right.set_xticks(range(len(rows)), rows)
    right.set(ylabel="share of fresh samples passing the rule", ylim=(0, 1.3))
    right.set_title("After DPO, against best-of-n")
    return fig


# ---- the figure of 26_evaluation ----


def seed_spread(env: dict) -> Figure:
    """Each run's final validation loss by recipe and seed, beside the seed spread; and
    the share of n-grams found again in the training text, by n."""
    r = env["results"]
    order = sorted(r["final_val_losses"], key=lambda k: (k != "recipe", k == "leaked", k))
    finals = {k: r["final_val_losses"][k] for k in order}  # the recipe first, the leak last
    fig, (left, right) = _figure(WIDE, 2)
    base = r["seed_val_losses"]
    left.axvspan(min(base), max(base), color=BLUE, alpha=0.15, lw=0, label="the recipe's seeds")
    for i, losses in enumerate(finals.values()):
        left.plot(losses, [i] * len(losses), "o", color=COLOURS[i % len(COLOURS)], mfc="none")
    left.set_yticks(range(len(finals)), list(finals))
    left.set_ylim(len(finals) - 0.5, -0.5)  # the recipe on top
    left.set(xlabel="validation loss at the end (nats per character)")
    left.set_title(f"{len(base)} seeds per recipe: spread {r['seed_spread']:.3f}")
    left.legend(loc="lower right", fontsize=7)
    ns = sorted(r["ngram_overlap"], key=int)
    x = np.arange(len(ns))
    for k, (key, name) in enumerate(
        (("train_val", "validation in training"), ("play_play", "Hamlet in Macbeth"))
    ):
        shares = [100 * r["ngram_overlap"][n][key] for n in ns]
        bars = right.bar(x + (k - 0.5) * 0.4, shares, 0.4, color=COLOURS[k], label=name)
        right.bar_label(bars, [_percent(v / 100) if v else "" for v in shares], fontsize=7)
        for i in (i for i, v in enumerate(shares) if v == 0):
            right.annotate("0", (x[i] + (k - 0.5) * 0.4, 0.012), ha="center", fontsize=7)
    right.set_yscale("log")
    right.set_ylim(0.01, 300)  # room above the 100 % line for the labels
    right.set_xticks(x, ns)
    right.set(xlabel="n (characters)", ylabel="n-grams found again (%)")
    right.set_title("n-grams of one text found again in another")
    right.legend(fontsize=7, loc="upper right")
    return fig


# ----------------------------------------------------------------------------
# The registry, and the command.


class Drawing(NamedTuple):
    """One figure: its file name in notes/figures, its lesson, and how to draw it."""

    name: str
    stem: str
    draw: Callable[[dict], Figure]


FIGURES: tuple[Drawing, ...] = (
    Drawing("04a_cosines.png", "04a_quasi_orthogonality", cosine_spread),
    Drawing("04c_finite_differences.png", "04c_gradients", finite_differences),
    Drawing("06_attention_weights.png", "06_self_attention", attention_weights),
    Drawing("07_softmax_collapse.png", "07_softmax_collapse", softmax_collapse),
    Drawing("08_singular_values.png", "08_lora_and_svd", singular_values),
    Drawing("11_rosenbrock_paths.png", "11_rosenbrock_es", rosenbrock_paths),
    Drawing("12_expert_loads.png", "12_moe_gating", expert_loads),
    Drawing("14_mini_trinity.png", "14_mini_trinity", mini_trinity),
    Drawing("16_residual_norms.png", "16_transformer_block", residual_norms),
    Drawing("17_bpe_tokens.png", "17_tokenization_embeddings", bpe_tokens),
    Drawing("19_loss_curves.png", "19_language_model", loss_curves),
    Drawing("20_entropy.png", "20_decoding", decoding_entropy),
    Drawing("21_lr_sweep.png", "21_training_dynamics", lr_sweep),
    Drawing("22_roofline.png", "22_memory_and_compute", roofline_placed),
    Drawing("23_fewer_bits.png", "23_fewer_bits", fewer_bits),
    Drawing("24_kernels_memory.png", "24_kernels", kernels_memory),
    Drawing("25_adaptation.png", "25_adaptation", adaptation),
    Drawing("26_seed_spread.png", "26_evaluation", seed_spread),
)


def render(drawing: Drawing, envelope: dict, folder: Path) -> Path:
    """Draw one figure in the project's style and write its PNG (no date, no Software tag)."""
    with matplotlib.rc_context(STYLE):
        fig = drawing.draw(envelope)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / drawing.name
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return path


def select(only: str | None) -> tuple[Drawing, ...]:
    """The figures `--only` names: a file name, with or without .png, or a lesson as
    `make run LESSON=` reads it (a stem, or its number: "06")."""
    if only is None:
        return FIGURES
    try:
        stem = catalogue.find(only)
    except LookupError:
        stem = only
    chosen = tuple(
        d for d in FIGURES if only in (d.name, d.name.removesuffix(".png")) or d.stem == stem
    )
    if not chosen:
        raise LookupError(only)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trinity_foundations.figures",
        description="Run the lessons the notes draw on and quote, save their results, "
        "and draw the notes' figures.",
    )
    parser.add_argument("--only", metavar="NAME_OR_STEM", help="one figure, or one lesson's")
    parser.add_argument("--results", type=Path, default=notes_check.RESULTS, metavar="DIR")
    parser.add_argument("--out", type=Path, default=FOLDER, metavar="DIR")
    parser.add_argument(
        "--from-results", action="store_true", help="redraw from the saved results; run nothing"
    )
    args = parser.parse_args(argv)
    try:
        chosen = select(args.only)
    except LookupError:
        names = ", ".join(d.name.removesuffix(".png") for d in FIGURES)
        parser.error(f"--only {args.only}: no such figure or lesson; the figures are: {names}")
    stems = [d.stem for d in chosen]
    if args.from_results:
        missing = [s for s in stems if not (args.results / f"{s}.json").is_file()]
        if missing:
            parser.error(f"--from-results: no {args.results / missing[0]}.json; run without it")
    else:
        if args.only is None:  # the lessons the notes quote are saved too, for the tests
            stems += notes_check.stems_of(notes_check.note_markers()[0])
        for stem in (s for s in catalogue.STEMS if s in stems):  # in the course's order
            print(notes_check.progress_line(stem), end="", file=sys.stderr, flush=True)
            start = time.perf_counter()  # run_lesson waits for its subprocess
            try:
                notes_check.save_results(notes_check.run_lesson(stem), args.results)
            except RuntimeError as error:
                print(f"\nerror: {error}", file=sys.stderr)
                return 1
            print(f" {time.perf_counter() - start:.0f} s", file=sys.stderr)
    for drawing in chosen:
        path = render(drawing, notes_check.load_results(drawing.stem, args.results), args.out)
        print(f"wrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
