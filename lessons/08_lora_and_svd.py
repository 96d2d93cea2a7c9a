"""Lesson 4.1 — SVD and LoRA: how much of a matrix a few directions hold.

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
import jax.numpy as jnp
import numpy as np
import optax
from rich.columns import Columns

from trinity_foundations import cli, display
from trinity_foundations.lowrank import (
    Adapters,
    Batch,
    LoRAConfig,
    eckart_young_error,
    fit_lora,
    frobenius_error,
    lora_forward,
    lora_loss,
    lora_step,
    mse,
    rank_tolerance,
    singular_value_shares,
    truncate,
)

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


def within_rounding(values: list[float], exact: float, eps: float) -> bool:
    """Whether every value lies within ROUNDING_ULPS·ε (relative) of the float64 `exact`."""
    return all(abs(v - exact) <= ROUNDING_ULPS * eps * abs(exact) for v in values)


def svd_section() -> dict:
    """Singular values of W_noisy, their shares, and its rank-2 truncation."""
    w = jnp.array(W_NOISY)  # (4, 4)
    s = jnp.linalg.svd(w, compute_uv=False)  # (4,) largest first
    share, energy = singular_value_shares(s)  # (4,), (4,)
    w_r = truncate(w, TRUNCATION_RANK)  # (4, 4) of rank 2
    s64 = np.linalg.svd(np.array(W_NOISY, np.float64), compute_uv=False)  # (4,) reference
    return {
        "dtype": str(w.dtype),
        "eps": float(jnp.finfo(w.dtype).eps),
        "w_noisy": W_NOISY,
        "singular_values": s.tolist(),
        "share_of_sum": share.tolist(),
        "energy_share": energy.tolist(),
        "cumulative_share_of_sum": np.cumsum(np.asarray(share)).tolist(),
        "cumulative_energy_share": np.cumsum(np.asarray(energy)).tolist(),
        "truncation_rank": TRUNCATION_RANK,
        "truncated": w_r.tolist(),
        "truncation_frobenius_error": float(frobenius_error(w, w_r)),
        "truncation_mse": float(mse(w, w_r)),
        "truncation_eckart_young_error": float(eckart_young_error(s, TRUNCATION_RANK)),
        "truncation_error_float64": float(np.sqrt(np.sum(s64[TRUNCATION_RANK:] ** 2))),
    }


def rank_one_section() -> dict:
    """W₀'s singular values: one above the tolerance, the rest rounding noise."""
    w0 = jnp.array(W_0)  # (4, 4)
    s = jnp.linalg.svd(w0, compute_uv=False)  # (4,)
    tol = rank_tolerance(s, w0.shape)
    return {
        "redundant_singular_values": s.tolist(),
        "rank_tolerance": tol,
        "w0_rank": count_above(s, tol),
        "w0_rank1_error": float(frobenius_error(w0, truncate(w0, 1))),
    }


def lora_section(steps: int) -> dict:
    """The forward pass, five GD epochs on the adapters, a longer run, the floor."""
    w0 = jnp.array(W_0)  # (D, D) frozen
    forward = lora_forward(
        jnp.array(X_FORWARD), w0, Adapters(jnp.array(A_FORWARD), jnp.array(B_FORWARD)), ALPHA
    )  # (1, D)

    batch = Batch(jnp.array(X_TRAIN), jnp.array(TARGET))  # (N, D) each
    x, target = batch
    config = LoRAConfig(LR, ALPHA)
    start = Adapters(jnp.array(A_START), jnp.array(B_START))  # (r, D) each
    adapters, losses = start, []
    for _ in range(EPOCHS):
        adapters, loss = lora_step(adapters, batch, w0=w0, config=config)
        losses.append(float(loss))

    # What the adapter must add to the frozen output, and the best a rank-r
    # adapter can do: X has full row rank, so X Aᵀ can be any (N, r) matrix,
    # (X Aᵀ) B any matrix of rank ≤ r, and the lowest loss is the Eckart–Young
    # error of the residual, squared, over its N·D entries.
    residual = np.array(TARGET) - np.array(X_TRAIN) @ np.array(W_0).T  # (N, D), exact
    s_res = jnp.linalg.svd(jnp.array(residual), compute_uv=False)  # (min(N, D),)
    rank = start.a.shape[0]
    floor = float(eckart_young_error(s_res, rank)) ** 2 / residual.size

    long_run = None
    if steps:
        fitted, long_losses = fit_lora(
            start, batch, w0=w0, optimizer=OPTIMIZER, steps=steps, alpha=ALPHA
        )
        long_losses = np.asarray(long_losses)  # (steps,) each before its step's update
        final_loss = float(lora_loss(fitted, w0, x, target, ALPHA))  # after the last update
        near = np.flatnonzero(long_losses <= floor * (1 + NEAR_FLOOR))
        long_run = {
            "steps": steps,
            "losses": long_losses.tolist(),
            "final_loss": final_loss,
            "first_step_at_floor": int(near[0]) + 1 if near.size else None,
            "final_at_floor": final_loss <= floor * (1 + NEAR_FLOOR),
            "a": fitted.a.tolist(),  # (r, D) after the last update
            "b": fitted.b.tolist(),
            "repeats_epochs": bool(np.allclose(long_losses[:EPOCHS], losses))
            if steps >= EPOCHS
            else None,
        }
    return {
        "alpha": ALPHA,
        "lora_forward": forward.tolist(),
        "frozen_forward": (np.array(X_FORWARD) @ np.array(W_0).T).tolist(),  # (1, D)
        "lr": LR,
        "losses": losses,
        "loss_after_epochs": float(lora_loss(adapters, w0, x, target, ALPHA)),
        "a_after_epochs": adapters.a.tolist(),  # (r, D)
        "b_after_epochs": adapters.b.tolist(),  # (r, D)
        "trainable_params": start.a.size + start.b.size,
        "frozen_params": w0.size,
        "adapter_rank": rank,
        "x_rank": int(np.linalg.matrix_rank(X_TRAIN)),
        "residual": residual.tolist(),
        "residual_singular_values": s_res.tolist(),
        "residual_rank": count_above(s_res, rank_tolerance(s_res, residual.shape)),
        "loss_floor": floor,
        "long_run": long_run,
    }


def run(steps: int) -> dict:
    return {**svd_section(), **rank_one_section(), **lora_section(steps)}


def report_svd(r: dict, console) -> None:
    s, k = r["singular_values"], r["truncation_rank"]
    labels = [f"s{i + 1} = {v:7.4f}" for i, v in enumerate(s)]
    console.print("[bold]1. Singular values of W_noisy[/], largest first")
    console.print(
        Columns(
            [
                display.matrix_table("W_noisy", r["w_noisy"], fmt="{:g}"),
                display.bar_chart(
                    labels,
                    r["share_of_sum"],
                    title="share of the sum: s / Σs",
                    hi=1.0,
                    width=20,
                    fmt="{:.2%}",
                ),
                display.bar_chart(
                    labels,
                    r["energy_share"],
                    title="energy share: s² / Σs²",
                    hi=1.0,
                    width=20,
                    fmt="{:.3%}",
                ),
            ]
        )
    )
    console.print(
        f"The first {k} singular values are {r['cumulative_share_of_sum'][k - 1]:.2%} of the "
        f"sum of singular values but hold {r['cumulative_energy_share'][k - 1]:.3%} of the "
        "energy ‖W‖_F² = Σ s². The original curriculum called the running share of Σs "
        '"variance explained"; the energy share is the one that means that (for a centred '
        "data matrix), and the one a truncation's squared error leaves out."
    )

    console.print(f"\n[bold]2. Keep the first {k} singular values[/] (rank-{k} truncation)")
    console.print(display.matrix_table(f"W_noisy truncated to rank {k}", r["truncated"]))
    dropped = " + ".join(f"{v:.4f}²" for v in s[k:])
    measured, predicted = r["truncation_frobenius_error"], r["truncation_eckart_young_error"]
    console.print(
        f"Frobenius error ‖W − W_{k}‖ = {measured:.6f}; Eckart–Young "
        f"predicts sqrt({dropped}) = {predicted:.6f}; {rounding_verdict(r)}. "
        f"Mean squared error per entry: {r['truncation_mse']:.6f}."
    )


def rounding_verdict(r: dict) -> str:
    """Why the measured and the predicted truncation errors differ, if they do."""
    measured, predicted = r["truncation_frobenius_error"], r["truncation_eckart_young_error"]
    exact, eps = r["truncation_error_float64"], r["eps"]
    if measured == predicted:
        return "the two are equal"
    gap = f"the two differ by {abs(measured - predicted):.2g}"
    if within_rounding([measured, predicted], exact, eps):
        return (
            f"{gap}, {r['dtype']} rounding: both lie within {ROUNDING_ULPS} ε = "
            f"{ROUNDING_ULPS * eps:.2g} (relative) of the float64 value {exact:.9f}"
        )
    return f"{gap}, more than {r['dtype']} rounding (the float64 value is {exact:.9f})"


def report_rank_one(r: dict, console) -> None:
    s, tol, rank = r["redundant_singular_values"], r["rank_tolerance"], r["w0_rank"]
    console.print(
        "\n[bold]3. A redundant matrix[/]: every row of W₀ is a multiple of "
        f"{display.vector(W_0[0])}"
    )
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
        f"Counting a singular value as zero below s₁ · max(m, n) · ε_{r['dtype']} = {tol:.3g} "
        f"(NumPy's matrix_rank tolerance: {r['dtype']} leaves rounding noise, not exact "
        f"zeros), W₀ has {display.count(rank, 'non-zero singular value')}: rank {rank}. "
        f"Its rank-1 truncation differs from W₀ by {r['w0_rank1_error']:.3g} (Frobenius): "
        f"one direction holds all {len(s) ** 2} numbers."
    )


def report_lora(r: dict, console) -> None:
    rank = r["adapter_rank"]
    console.print("\n[bold]4. LoRA forward[/]: Y = X W₀ᵀ + (α/r) (X Aᵀ) B, one input per row")
    console.print(
        f"A and B are both (r, D) here, as in the original; the paper's B is (D, r), so our "
        f"B is its transpose. With x = {display.vector(X_FORWARD[0])}, "
        f"A = {display.vector(A_FORWARD[0])}, B = {display.vector(B_FORWARD[0])}, "
        f"α = {r['alpha']:g}, r = {len(A_FORWARD)}: the frozen layer gives "
        f"{display.vector(r['frozen_forward'][0])}, the adapted one "
        f"{display.vector(r['lora_forward'][0], '{:.4g}')}."
    )

    console.print(
        f"\n[bold]5. Train the adapters only[/]: {EPOCHS} epochs of gradient descent, "
        f"lr = {r['lr']:g}, MSE"
    )
    console.print(
        display.bar_chart(
            [f"epoch {i + 1}" for i in range(len(r["losses"]))],
            r["losses"],
            title="loss at the start of each epoch",
            width=30,
            fmt="{:.6f}",
        )
    )
    trainable, frozen = r["trainable_params"], r["frozen_params"]
    console.print(
        f"After the {len(r['losses'])}th update the loss is {r['loss_after_epochs']:.6f}. "
        f"Trainable: {trainable} numbers (A and B); frozen: {frozen} (W₀), "
        f"{trainable / (trainable + frozen):.0%} of the total. W₀ cannot move: "
        "value_and_grad differentiates only its first argument, the adapters, so no "
        "gradient for W₀ is ever computed."
    )
    console.print(
        adapters_table(r["a_after_epochs"], r["b_after_epochs"], f"after {EPOCHS} epochs")
    )

    console.print("\n[bold]6. Where does it stop?[/]")
    res = r["residual_singular_values"]
    console.print(
        f"The adapter must supply R = target − X W₀ᵀ = "
        f"[{', '.join(display.vector(row, '{:.4g}') for row in r['residual'])}], whose singular "
        f"values are {display.vector(res, '{:.4f}')}. X has rank {r['x_rank']} "
        f"(= its {len(X_TRAIN)} rows), so (X Aᵀ) B can be any {len(X_TRAIN)}×{len(W_0)} "
        f"matrix of rank ≤ {rank}, and by Eckart–Young the lowest loss is the discarded "
        f"energy over the {len(X_TRAIN) * len(W_0)} entries: {r['loss_floor']:.6f}."
    )
    run = r["long_run"]
    if run is None:
        console.print("Pass --steps N to train longer and watch the loss reach it.")
        return
    console.print(
        display.line_chart(
            {"closed-form floor": [r["loss_floor"]] * run["steps"], "loss": run["losses"]},
            height=10,
            y_label="MSE",
            x_label="step",
        )
    )
    same = {
        True: f"reproduce the {EPOCHS} epoch losses above, ",
        False: f"do NOT reproduce the {EPOCHS} epoch losses above, ",
        None: "",
    }[run["repeats_epochs"]]
    if run["first_step_at_floor"]:
        reached = f"first within {NEAR_FLOOR:.1%} of the floor at step {run['first_step_at_floor']}"
    elif run["final_at_floor"]:
        reached = f"within {NEAR_FLOOR:.1%} of the floor only after the last update"
    else:
        reached = f"not yet within {NEAR_FLOOR:.1%} of the floor"
    steps = run["steps"]
    console.print(
        f"{display.count(steps, 'step')} of optax.sgd (the same gradient descent, "
        f"one compiled lax.scan) {same}end{'s' if steps == 1 else ''} at "
        f"{run['final_loss']:.6f} after the last update "
        f"(the chart shows each step's loss before its update), {reached}."
    )
    if (run["first_step_at_floor"] or run["final_at_floor"]) and r["residual_rank"] > rank:
        console.print(
            f"The limit is the adapter's rank, not the optimiser: a rank-{rank} correction "
            f"cannot reproduce R, which has rank {r['residual_rank']}; what stays is "
            f"s{rank + 1}(R)² / {len(X_TRAIN) * len(W_0)}."
        )
    console.print(adapters_table(run["a"], run["b"], f"after {display.count(steps, 'step')}"))


def adapters_table(a: list, b: list, when: str):
    """The trained factors, one row each, with their shapes."""
    rank, dim = np.shape(a)
    table = display.matrix_table(
        f"The trained adapters {when}: A and B, each ({rank}, {dim}) = (r, D)",
        [*a, *b],
        rows=[f"A[{i}]" for i in range(rank)] + [f"B[{i}]" for i in range(rank)],
        fmt="{:+.4f}",
    )
    return table


def report(r: dict, console) -> None:
    report_svd(r, console)
    report_rank_one(r, console)
    report_lora(r, console)


def floor_bullet(r: dict) -> str:
    """Where training the adapters alone stopped, against the closed-form floor."""
    floor, rank = r["loss_floor"], r["adapter_rank"]
    trained = (
        f"Training only A and B ({r['trainable_params']} numbers; W₀'s {r['frozen_params']} frozen)"
    )
    run = r["long_run"]
    if run is None:
        return (
            f"{trained}, the loss was {r['loss_after_epochs']:.6f} after "
            f"{display.count(len(r['losses']), 'epoch')}; no rank-{rank} adapter gets "
            f"below {floor:.6f} (--steps trains longer)."
        )
    if run["first_step_at_floor"] or run["final_at_floor"]:
        why = (
            f": a rank-{rank} correction cannot fit a rank-{r['residual_rank']} residual"
            if r["residual_rank"] > rank
            else ""
        )
        when = f" by step {run['first_step_at_floor']}" if run["first_step_at_floor"] else ""
        return f"{trained}, optax.sgd reached the closed-form floor {floor:.6f}{when}{why}."
    return (
        f"{trained}, {display.count(run['steps'], 'step')} of optax.sgd ended at "
        f"{run['final_loss']:.6f}, not yet at the closed-form floor {floor:.6f}."
    )


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    k = r["truncation_rank"]
    rank = r["w0_rank"]
    return [
        f"The first {k} singular values of W_noisy hold "
        f"{r['cumulative_energy_share'][k - 1]:.3%} of its energy; the rank-{k} truncation's "
        f"error {r['truncation_frobenius_error']:.6f} is the Eckart–Young minimum, "
        f"{r['truncation_eckart_young_error']:.6f}.",
        f"W₀, whose rows repeat one pattern, has rank {rank}: "
        f"{display.count(rank, 'direction')} {'holds' if rank == 1 else 'hold'} all "
        f"{len(r['redundant_singular_values']) ** 2} of its numbers.",
        floor_bullet(r),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--steps",
        type=cli.int_in(0, MAX_STEPS, "a cap on run time"),
        default=200,
        help="after the 5 epochs, train this many optax.sgd steps from "
        f"the same start to find the floor, at most {MAX_STEPS:,}; 0 skips "
        "(default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.finish(
        args,
        __file__,
        run(args.steps),
        report,
        kernels=(
            truncate,
            singular_value_shares,
            eckart_young_error,
            mse,
            frobenius_error,
            lora_forward,
            lora_loss,
            lora_step,
            fit_lora,
        ),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
