"""Lesson 08 — SVD and LoRA: what a few directions of a matrix hold.

The singular value decomposition W = U diag(s) Vᵀ splits a matrix into rank-1
pieces sᵢ uᵢ vᵢᵀ, largest first. Keeping the first r pieces is the best
rank-r approximation, and the squares sᵢ² say how much of the matrix
(its energy ‖W‖_F² = Σ s²) each piece holds. A matrix whose rows repeat one
pattern has a single non-zero singular value.

LoRA builds on that: instead of updating a large frozen W₀, it trains a
rank-r correction, two thin matrices A and B, and adds (α/r) Bᵀ A to W₀.
We run the forward pass, train the adapters alone for five epochs of
gradient descent, then longer with optax to find where the loss stops, and
compute that floor in closed form.

Run:  python lessons/08_lora_and_svd.py [--steps 200] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
from dataclasses import dataclass
from functools import partial

import jax.numpy as jnp
import numpy as np
import optax
from rich.columns import Columns
from rich.console import Console

from trinity_foundations import cli, display, lowrank, sections

W_NOISY = [[1.0, 2.0, 1.5, 0.8], [2.0, 4.5, 6.0, 3.1], [1.2, 3.0, 9.0, 12.0], [0.5, 1.8, 4.2, 16.0]]
W_0 = [
    [1.0, 2.0, 3.0, 4.0],
    [2.0, 4.0, 6.0, 8.0],
    [3.0, 6.0, 9.0, 12.0],
    [4.0, 8.0, 12.0, 16.0],
]  # every row a multiple of [1, 2, 3, 4]: rank 1
TRUNCATION_RANK = 2

# The forward-pass example.
X_FORWARD = [[1.0, 1.0, 1.0, 1.0]]
A_FORWARD, B_FORWARD = [[0.5, 0.5, 0.5, 0.5]], [[1.0, 2.0, 1.0, 0.5]]
ALPHA = 1.0

# The training example: two input rows, their target outputs, the adapters' start.
X_TRAIN = [[1.0, 1.0, 1.0, 1.0], [-0.5, 2.0, 0.5, -1.0]]
TARGET = [[12.0, 23.0, 31.0, 42.0], [-3.0, 5.0, 8.0, -2.0]]
A_START, B_START = [[0.1, -0.2, 0.1, 0.3]], [[-0.1, 0.4, -0.2, 0.1]]
LR, EPOCHS = 0.05, 5
OPTIMIZER = optax.sgd(LR)  # the same plain gradient descent, for the long run
NEAR_FLOOR = 1e-3  # "at the floor": within 0.1 % of the closed-form minimum
MAX_STEPS = 100_000  # a cap on run time for --steps
ROUNDING_ULPS = 16  # "rounding": within this many ε of the float64 value, relative


def count_above(s, tol: float) -> int:
    return int(np.sum(np.asarray(s) > tol))


# ----------------------------------------------------------------------------
# 1. Singular values of W_noisy.


@dataclass(frozen=True)
class Svd:
    dtype: str
    w_noisy: list  # (4, 4)
    singular_values: list[float]  # (4,) largest first
    share_of_sum: list[float]  # s / Σs
    energy_share: list[float]  # s² / Σs²
    cumulative_share_of_sum: list[float]
    cumulative_energy_share: list[float]
    truncation_rank: int  # k, the values section 2 keeps


def compute_svd(done: dict) -> Svd:
    w = jnp.array(W_NOISY)  # (4, 4)
    s = jnp.linalg.svd(w, compute_uv=False)  # (4,) largest first
    share, energy = lowrank.singular_value_shares(s)  # (4,), (4,)
    return Svd(
        dtype=str(w.dtype),
        w_noisy=W_NOISY,
        singular_values=s.tolist(),
        share_of_sum=share.tolist(),
        energy_share=energy.tolist(),
        cumulative_share_of_sum=np.cumsum(np.asarray(share)).tolist(),
        cumulative_energy_share=np.cumsum(np.asarray(energy)).tolist(),
        truncation_rank=TRUNCATION_RANK,
    )


def say_svd(r: Svd, console: Console) -> None:
    k = r.truncation_rank
    labels = [f"s{i + 1} = {v:7.4f}" for i, v in enumerate(r.singular_values)]
    share = display.bar_chart(
        labels, r.share_of_sum, title="share of the sum: s / Σs", hi=1.0, width=20, fmt="{:.2%}"
    )
    energy = display.bar_chart(
        labels, r.energy_share, title="energy share: s² / Σs²", hi=1.0, width=20, fmt="{:.3%}"
    )
    console.print("Largest first:")
    console.print(Columns([display.matrix_table("W_noisy", r.w_noisy, fmt="{:g}"), share, energy]))
    console.print(
        f"The first {k} singular values are {r.cumulative_share_of_sum[k - 1]:.2%} of the "
        f"sum of singular values but hold {r.cumulative_energy_share[k - 1]:.3%} of the "
        "energy ‖W‖_F² = Σ s², the share a truncation's squared error leaves out."
    )


# ----------------------------------------------------------------------------
# 2. Keep the first k singular values.


@dataclass(frozen=True)
class Truncation:
    dtype: str
    eps: float  # of dtype
    truncation_rank: int  # k
    truncated: list  # (4, 4) of rank k
    dropped: list[float]  # s_{k+1} …
    truncation_frobenius_error: float  # ‖W − W_k‖, measured
    truncation_eckart_young_error: float  # sqrt(Σ dropped²), predicted
    truncation_error_float64: float  # the predicted error from a float64 SVD
    truncation_mse: float  # per entry
    ulps: int  # "rounding": within this many ε of the float64 value, relative


def compute_truncation(done: dict) -> Truncation:
    svd = done["svd"]
    k = svd.truncation_rank
    w = jnp.array(svd.w_noisy)  # (4, 4)
    s = jnp.array(svd.singular_values, w.dtype)  # (4,)
    w_k = lowrank.truncate(w, k)  # (4, 4) of rank k
    s64 = np.linalg.svd(np.array(svd.w_noisy, np.float64), compute_uv=False)  # (4,) reference
    return Truncation(
        dtype=svd.dtype,
        eps=float(jnp.finfo(w.dtype).eps),
        truncation_rank=k,
        truncated=w_k.tolist(),
        dropped=svd.singular_values[k:],
        truncation_frobenius_error=float(lowrank.frobenius_error(w, w_k)),
        truncation_eckart_young_error=float(lowrank.eckart_young_error(s, k)),
        truncation_error_float64=float(np.sqrt(np.sum(s64[k:] ** 2))),
        truncation_mse=float(lowrank.mse(w, w_k)),
        ulps=ROUNDING_ULPS,
    )


def within_rounding(values: list[float], exact: float, eps: float, ulps: int) -> bool:
    """Whether every value lies within ulps·ε (relative) of the float64 `exact`."""
    return all(abs(v - exact) <= ulps * eps * abs(exact) for v in values)


def rounding_verdict(t: Truncation) -> str:
    """Why the measured and the predicted truncation errors differ, if they do."""
    measured, predicted = t.truncation_frobenius_error, t.truncation_eckart_young_error
    exact, eps = t.truncation_error_float64, t.eps
    if measured == predicted:
        return "the two are equal"
    gap = f"the two differ by {abs(measured - predicted):.2g}"
    if within_rounding([measured, predicted], exact, eps, t.ulps):
        return (
            f"{gap}, {t.dtype} rounding: both lie within {t.ulps} ε = "
            f"{t.ulps * eps:.2g} (relative) of the float64 value {exact:.9f}"
        )
    return f"{gap}, more than {t.dtype} rounding (the float64 value is {exact:.9f})"


def say_truncation(t: Truncation, console: Console) -> None:
    k = t.truncation_rank
    console.print(display.matrix_table(f"W_noisy truncated to rank {k}", t.truncated))
    dropped = " + ".join(f"{v:.4f}²" for v in t.dropped)
    console.print(
        f"Frobenius error ‖W − W_{k}‖ = {t.truncation_frobenius_error:.6f}; Eckart–Young "
        f"predicts sqrt({dropped}) = {t.truncation_eckart_young_error:.6f}; "
        f"{rounding_verdict(t)}. Mean squared error per entry: {t.truncation_mse:.6f}."
    )


# ----------------------------------------------------------------------------
# 3. A redundant matrix.


@dataclass(frozen=True)
class RankOne:
    dtype: str
    pattern: list[float]  # every row of W₀ is a multiple of it
    redundant_singular_values: list[float]  # (4,) of W₀
    rank_tolerance: float  # s₁ · max(m, n) · ε
    w0_rank: int  # singular values above the tolerance
    w0_rank1_error: float  # ‖W₀ − its rank-1 truncation‖


def compute_rank_one(done: dict) -> RankOne:
    w0 = jnp.array(W_0)  # (4, 4)
    s = jnp.linalg.svd(w0, compute_uv=False)  # (4,)
    tol = lowrank.rank_tolerance(s, w0.shape)
    return RankOne(
        dtype=str(w0.dtype),
        pattern=W_0[0],
        redundant_singular_values=s.tolist(),
        rank_tolerance=tol,
        w0_rank=count_above(s, tol),
        w0_rank1_error=float(lowrank.frobenius_error(w0, lowrank.truncate(w0, 1))),
    )


def say_rank_one(r: RankOne, console: Console) -> None:
    s, tol, rank = r.redundant_singular_values, r.rank_tolerance, r.w0_rank
    console.print(f"Every row of W₀ is a multiple of {display.vector(r.pattern)}:")
    console.print(
        display.bar_chart(
            [f"s{i + 1}" for i in range(len(s))],
            s,
            title="singular values of W₀",
            width=30,
            fmt="{:.3g}",
        )
    )
    console.print(
        f"Counting a singular value as zero below s₁ · max(m, n) · ε_{r.dtype} = {tol:.3g} "
        f"(NumPy's matrix_rank tolerance: {r.dtype} leaves rounding noise, not exact "
        f"zeros), W₀ has {display.count(rank, 'non-zero singular value')}: rank {rank}. "
        f"Its rank-1 truncation differs from W₀ by {r.w0_rank1_error:.3g} (Frobenius): "
        f"one direction holds all {len(s) ** 2} numbers."
    )


# ----------------------------------------------------------------------------
# 4. The LoRA forward pass.


@dataclass(frozen=True)
class Forward:
    x: list[float]  # one input row
    a: list[float]  # A's one row, (r, D) with r = 1
    b: list[float]  # B's one row
    alpha: float
    adapter_rank: int  # r
    frozen_forward: list  # (1, D) x W₀ᵀ
    lora_forward: list  # (1, D) x W₀ᵀ + (α/r) (x Aᵀ) B


def compute_forward(done: dict) -> Forward:
    adapters = lowrank.Adapters(jnp.array(A_FORWARD), jnp.array(B_FORWARD))  # (r, D) each
    y = lowrank.lora_forward(jnp.array(X_FORWARD), jnp.array(W_0), adapters, ALPHA)  # (1, D)
    return Forward(
        x=X_FORWARD[0],
        a=A_FORWARD[0],
        b=B_FORWARD[0],
        alpha=ALPHA,
        adapter_rank=len(A_FORWARD),
        frozen_forward=(np.array(X_FORWARD) @ np.array(W_0).T).tolist(),  # (1, D)
        lora_forward=y.tolist(),
    )


def say_forward(r: Forward, console: Console) -> None:
    console.print("Y = X W₀ᵀ + (α/r) (X Aᵀ) B, one input per row.")
    console.print(
        "A and B are both (r, D) here; the paper's B is (D, r), so our B is its transpose. "
        f"With x = {display.vector(r.x)}, A = {display.vector(r.a)}, B = {display.vector(r.b)}, "
        f"α = {r.alpha:g}, r = {r.adapter_rank}: the frozen layer gives "
        f"{display.vector(r.frozen_forward[0])}, the adapted one "
        f"{display.vector(r.lora_forward[0], '{:.4g}')}."
    )


# ----------------------------------------------------------------------------
# 5. Train the adapters only.


@dataclass(frozen=True)
class Epochs:
    epochs: int
    lr: float
    losses: list[float]  # at the start of each epoch
    loss_after_epochs: float  # after the last update
    a_after_epochs: list  # (r, D)
    b_after_epochs: list  # (r, D)
    trainable_params: int  # A and B
    frozen_params: int  # W₀


def start() -> tuple[lowrank.Adapters, lowrank.Batch, jnp.ndarray]:
    """The adapters' start (r, D) each, the training batch (N, D) each, and W₀ (D, D)."""
    adapters = lowrank.Adapters(jnp.array(A_START), jnp.array(B_START))
    return adapters, lowrank.Batch(jnp.array(X_TRAIN), jnp.array(TARGET)), jnp.array(W_0)


def compute_epochs(done: dict) -> Epochs:
    adapters, batch, w0 = start()
    first, config, losses = adapters, lowrank.LoRAConfig(LR, ALPHA), []
    for _ in range(EPOCHS):
        adapters, loss = lowrank.lora_step(adapters, batch, w0=w0, config=config)
        losses.append(float(loss))
    return Epochs(
        epochs=EPOCHS,
        lr=LR,
        losses=losses,
        loss_after_epochs=float(lowrank.lora_loss(adapters, w0, *batch, ALPHA)),
        a_after_epochs=adapters.a.tolist(),
        b_after_epochs=adapters.b.tolist(),
        trainable_params=first.a.size + first.b.size,
        frozen_params=w0.size,
    )


def adapters_table(a: list, b: list, when: str):
    """The trained factors, one row each, with their shapes."""
    rank, dim = np.shape(a)
    return display.matrix_table(
        f"The trained adapters {when}: A and B, each ({rank}, {dim}) = (r, D)",
        [*a, *b],
        rows=[f"A[{i}]" for i in range(rank)] + [f"B[{i}]" for i in range(rank)],
        fmt="{:+.4f}",
    )


def say_epochs(r: Epochs, console: Console) -> None:
    console.print(f"{r.epochs} epochs of gradient descent, lr = {r.lr:g}, MSE:")
    console.print(
        display.bar_chart(
            [f"epoch {i + 1}" for i in range(len(r.losses))],
            r.losses,
            title="loss at the start of each epoch",
            width=30,
            fmt="{:.6f}",
        )
    )
    trainable, frozen = r.trainable_params, r.frozen_params
    console.print(
        f"After the {len(r.losses)}th update the loss is {r.loss_after_epochs:.6f}. "
        f"Trainable: {trainable} numbers (A and B); frozen: {frozen} (W₀), "
        f"{trainable / (trainable + frozen):.0%} of the total. W₀ cannot move: "
        "value_and_grad differentiates only its first argument, the adapters, so no "
        "gradient for W₀ is ever computed."
    )
    console.print(adapters_table(r.a_after_epochs, r.b_after_epochs, f"after {r.epochs} epochs"))


# ----------------------------------------------------------------------------
# 6. Where does it stop? The floor in closed form, and a longer run.


@dataclass(frozen=True)
class LongRun:
    steps: int
    losses: list[float]  # (steps,) each before its step's update
    final_loss: float  # after the last update
    first_step_at_floor: int | None
    final_at_floor: bool
    a: list  # (r, D) after the last update
    b: list
    repeats_epochs: bool | None  # its first steps give section 5's losses (None: too short)


@dataclass(frozen=True)
class Floor:
    adapter_rank: int  # r
    x_rank: int
    residual: list  # (N, D) target − X W₀ᵀ: what the adapter must supply
    residual_singular_values: list[float]
    residual_rank: int
    loss_floor: float  # the lowest loss any rank-r adapter reaches
    near_floor: float  # "at the floor": within this fraction of it
    epochs: int  # of section 5, which the long run's first steps repeat
    long_run: LongRun | None  # None with --steps 0


def compute_floor(done: dict, *, steps: int) -> Floor:
    adapters, batch, w0 = start()
    # What the adapter must add to the frozen output, and the best a rank-r
    # adapter can do: X has full row rank, so X Aᵀ can be any (N, r) matrix,
    # (X Aᵀ) B any matrix of rank ≤ r, and the lowest loss is the Eckart–Young
    # error of the residual, squared, over its N·D entries.
    residual = np.array(TARGET) - np.array(X_TRAIN) @ np.array(W_0).T  # (N, D), exact
    s_res = jnp.linalg.svd(jnp.array(residual), compute_uv=False)  # (min(N, D),)
    rank = adapters.a.shape[0]
    floor = float(lowrank.eckart_young_error(s_res, rank)) ** 2 / residual.size
    return Floor(
        adapter_rank=rank,
        x_rank=int(np.linalg.matrix_rank(X_TRAIN)),
        residual=residual.tolist(),
        residual_singular_values=s_res.tolist(),
        residual_rank=count_above(s_res, lowrank.rank_tolerance(s_res, residual.shape)),
        loss_floor=floor,
        near_floor=NEAR_FLOOR,
        epochs=EPOCHS,
        long_run=long_run(steps, floor, done["epochs"].losses) if steps else None,
    )


def long_run(steps: int, floor: float, epoch_losses: list[float]) -> LongRun:
    """`steps` of optax.sgd from the same start, in one compiled lax.scan."""
    adapters, batch, w0 = start()
    fitted, losses = lowrank.fit_lora(
        adapters, batch, w0=w0, optimizer=OPTIMIZER, steps=steps, alpha=ALPHA
    )
    losses = np.asarray(losses)  # (steps,) each before its step's update
    final_loss = float(lowrank.lora_loss(fitted, w0, *batch, ALPHA))  # after the last update
    near = np.flatnonzero(losses <= floor * (1 + NEAR_FLOOR))
    epochs = len(epoch_losses)
    return LongRun(
        steps=steps,
        losses=losses.tolist(),
        final_loss=final_loss,
        first_step_at_floor=int(near[0]) + 1 if near.size else None,
        final_at_floor=final_loss <= floor * (1 + NEAR_FLOOR),
        a=fitted.a.tolist(),
        b=fitted.b.tolist(),
        repeats_epochs=bool(np.allclose(losses[:epochs], epoch_losses))
        if steps >= epochs
        else None,
    )


def reached(run: LongRun, near: float) -> str:
    """How close to the floor the long run came, and when."""
    if run.first_step_at_floor:
        return f"first within {near:.1%} of the floor at step {run.first_step_at_floor}"
    if run.final_at_floor:
        return f"within {near:.1%} of the floor only after the last update"
    return f"not yet within {near:.1%} of the floor"


def repeated(run: LongRun, epochs: int) -> str:
    """Whether the long run's first steps gave the epochs' losses ('' when too short)."""
    if run.repeats_epochs is None:
        return ""
    return f"{'' if run.repeats_epochs else 'do NOT '}reproduce the {epochs} epoch losses above, "


def say_floor(r: Floor, console: Console) -> None:
    rank, (n, d) = r.adapter_rank, np.shape(r.residual)
    res = display.vector(r.residual_singular_values, "{:.4f}")
    console.print(
        f"The adapter must supply R = target − X W₀ᵀ = "
        f"[{', '.join(display.vector(row, '{:.4g}') for row in r.residual)}], whose singular "
        f"values are {res}. X has rank {r.x_rank} (= its {n} rows), so (X Aᵀ) B can be any "
        f"{n}×{d} matrix of rank ≤ {rank}, and by Eckart–Young the lowest loss is the "
        f"discarded energy over the {n * d} entries: {r.loss_floor:.6f}."
    )
    run = r.long_run
    if run is None:
        console.print("Pass --steps N to train longer and watch the loss reach it.")
        return
    console.print(
        display.line_chart(
            {"closed-form floor": [r.loss_floor] * run.steps, "loss": run.losses},
            height=10,
            y_label="MSE",
            x_label="step",
        )
    )
    steps = run.steps
    console.print(
        f"{display.count(steps, 'step')} of optax.sgd (the same gradient descent, "
        f"one compiled lax.scan) {repeated(run, r.epochs)}end{'s' if steps == 1 else ''} at "
        f"{run.final_loss:.6f} after the last update "
        f"(the chart shows each step's loss before its update), {reached(run, r.near_floor)}."
    )
    if (run.first_step_at_floor or run.final_at_floor) and r.residual_rank > rank:
        console.print(
            f"The limit is the adapter's rank, not the optimiser: a rank-{rank} correction "
            f"cannot reproduce R, which has rank {r.residual_rank}; what stays is "
            f"s{rank + 1}(R)² / {n * d}."
        )
    console.print(adapters_table(run.a, run.b, f"after {display.count(steps, 'step')}"))


# ----------------------------------------------------------------------------
# What the Nx original said differently (--original).


@dataclass(frozen=True)
class Original:
    shown: bool  # --original
    truncation_rank: int
    share_of_sum: float  # the first k values' share of Σs: the original's "variance explained"
    energy_share: float  # their share of Σs²


def compute_original(done: dict, *, shown: bool) -> Original:
    svd = done["svd"]
    k = svd.truncation_rank
    return Original(
        shown, k, svd.cumulative_share_of_sum[k - 1], svd.cumulative_energy_share[k - 1]
    )


def say_original(r: Original, console: Console) -> None:
    if not r.shown:
        console.print("\n[dim]--original adds what the Nx original computed differently.[/]")
        return
    console.rule("[bold]What the original did differently")
    console.print(
        f'The original curriculum called the running share of Σs "variance explained": '
        f"{r.share_of_sum:.2%} for the first {r.truncation_rank} values here. The energy "
        f"share, {r.energy_share:.3%}, is the one that means that (for a centred data "
        "matrix), and the one a truncation's squared error leaves out. Its A and B are "
        "both (r, D), as here."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S, k, steps = sections.Section, TRUNCATION_RANK, args.steps
    training = f"training {display.count(steps, 'step')} of optax.sgd in one lax.scan"
    return [
        S("svd", compute_svd, say_svd, title="1. Singular values of W_noisy"),
        S(
            "truncation",
            compute_truncation,
            say_truncation,
            title=f"2. Keep the first {k} singular values",
        ),
        S("rank_one", compute_rank_one, say_rank_one, title="3. A redundant matrix"),
        S("forward", compute_forward, say_forward, title="4. LoRA forward"),
        S(
            "epochs",
            compute_epochs,
            say_epochs,
            title="5. Train the adapters only",
            doing=f"compiling and running {EPOCHS} epochs of gradient descent",
        ),
        S(
            "floor",
            partial(compute_floor, steps=steps),
            say_floor,
            title="6. Where does it stop?",
            doing=training if steps else "",
        ),
        S("original", partial(compute_original, shown=args.original), say_original),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    s, t, o, f, e, fl = (
        done[n] for n in ("svd", "truncation", "rank_one", "forward", "epochs", "floor")
    )
    return {
        "dtype": s.dtype,
        "eps": t.eps,
        "w_noisy": s.w_noisy,
        "singular_values": s.singular_values,
        "share_of_sum": s.share_of_sum,
        "energy_share": s.energy_share,
        "cumulative_share_of_sum": s.cumulative_share_of_sum,
        "cumulative_energy_share": s.cumulative_energy_share,
        "truncation_rank": t.truncation_rank,
        "truncated": t.truncated,
        "truncation_frobenius_error": t.truncation_frobenius_error,
        "truncation_mse": t.truncation_mse,
        "truncation_eckart_young_error": t.truncation_eckart_young_error,
        "truncation_error_float64": t.truncation_error_float64,
        "redundant_singular_values": o.redundant_singular_values,
        "rank_tolerance": o.rank_tolerance,
        "w0_rank": o.w0_rank,
        "w0_rank1_error": o.w0_rank1_error,
        "alpha": f.alpha,
        "lora_forward": f.lora_forward,
        "frozen_forward": f.frozen_forward,
        "lr": e.lr,
        "losses": e.losses,
        "loss_after_epochs": e.loss_after_epochs,
        "a_after_epochs": e.a_after_epochs,
        "b_after_epochs": e.b_after_epochs,
        "trainable_params": e.trainable_params,
        "frozen_params": e.frozen_params,
        "adapter_rank": fl.adapter_rank,
        "x_rank": fl.x_rank,
        "residual": fl.residual,
        "residual_singular_values": fl.residual_singular_values,
        "residual_rank": fl.residual_rank,
        "loss_floor": fl.loss_floor,
        "long_run": fl.long_run,
    }


def floor_bullet(e: Epochs, f: Floor) -> str:
    """Where training the adapters alone stopped, against the closed-form floor."""
    floor, rank = f.loss_floor, f.adapter_rank
    trained = f"Training only A and B ({e.trainable_params} numbers; W₀'s {e.frozen_params} frozen)"
    run = f.long_run
    if run is None:
        return (
            f"{trained}, the loss was {e.loss_after_epochs:.6f} after "
            f"{display.count(len(e.losses), 'epoch')}; no rank-{rank} adapter gets "
            f"below {floor:.6f} (--steps trains longer)."
        )
    if run.first_step_at_floor or run.final_at_floor:
        why = (
            f": a rank-{rank} correction cannot fit a rank-{f.residual_rank} residual"
            if f.residual_rank > rank
            else ""
        )
        when = f" by step {run.first_step_at_floor}" if run.first_step_at_floor else ""
        return f"{trained}, optax.sgd reached the closed-form floor {floor:.6f}{when}{why}."
    return (
        f"{trained}, {display.count(run.steps, 'step')} of optax.sgd ended at "
        f"{run.final_loss:.6f}, not yet at the closed-form floor {floor:.6f}."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    s, t, o = done["svd"], done["truncation"], done["rank_one"]
    k, rank = t.truncation_rank, o.w0_rank
    return [
        f"The first {k} singular values of W_noisy hold "
        f"{s.cumulative_energy_share[k - 1]:.3%} of its energy; the rank-{k} truncation's "
        f"error {t.truncation_frobenius_error:.6f} is the Eckart–Young minimum, "
        f"{t.truncation_eckart_young_error:.6f}.",
        f"W₀, whose rows repeat one pattern, has rank {rank}: "
        f"{display.count(rank, 'direction')} {'holds' if rank == 1 else 'hold'} all "
        f"{len(o.redundant_singular_values) ** 2} of its numbers.",
        floor_bullet(done["epochs"], done["floor"]),
    ]


KERNELS = (
    lowrank.truncate,
    lowrank.singular_value_shares,
    lowrank.eckart_young_error,
    lowrank.mse,
    lowrank.frobenius_error,
    lowrank.lora_forward,
    lowrank.lora_loss,
    lowrank.lora_step,
    lowrank.fit_lora,
)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None, original=True)
    parser.add_argument(
        "--steps",
        type=cli.int_in(0, MAX_STEPS, "a cap on run time"),
        default=200,
        help="after the 5 epochs, train this many optax.sgd steps from "
        f"the same start to find the floor, at most {MAX_STEPS:,}; 0 skips "
        "(default: %(default)s)",
    )
    args = parser.parse_args(argv)
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=KERNELS
    )


if __name__ == "__main__":
    cli.entry(main)
