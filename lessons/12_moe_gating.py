"""Lesson 6.1 — top-1 routing and the load-balancing loss.

Six tokens (4-D) meet two routers of three experts. Each token goes to the
expert with the highest score (top-1). The collapsed router sends everything
to expert 0; the balanced one spreads the tokens. The Switch Transformer's
penalty L_aux = E · Σ f_i P_i tells them apart: f_i is the share of tokens
expert i receives, P_i its mean router probability. Then the gradient of
L_aux: it flows through P only (f is an argmax count and has none), and a
few plain gradient steps on L_aux alone pull the collapsed router apart.

Run:  python lessons/12_moe_gating.py [--steps 20] [--lr 10] [--json] [--show-code]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations.moe import aux_loss, rebalance, route, router_loss

TOKENS = [
    [1.0, 0.1, 0.2, 0.1],
    [0.1, 1.2, 0.1, 0.2],
    [0.2, 0.1, 1.5, 0.1],
    [1.1, 0.2, 0.1, 0.3],
    [0.1, 1.0, 0.3, 0.1],
    [0.3, 0.2, 1.4, 0.2],
]
COLLAPSED = [[2.0, 2.0, 2.0, 2.0], [-1.0, -1.0, -1.0, -1.0], [-2.0, -2.0, -2.0, -2.0]]
BALANCED = [[2.0, -1.0, -1.0, 0.0], [-1.0, 2.0, -1.0, 0.0], [-1.0, -1.0, 2.0, 0.0]]
STEPS, LR = 20, 10.0  # the saturated collapsed router has tiny gradients: a large step
MAX_LR = float(np.finfo(np.float32).max)  # a larger step is inf in float32, and L_aux NaN


def routing(tokens: jax.Array, router: jax.Array) -> dict:
    selections, f, p = route(tokens, router)  # (N,), (E,), (E,)
    return {
        "selections": selections.tolist(),
        "f": f.tolist(),
        "p": p.tolist(),
        "aux_loss": float(aux_loss(f, p)),
    }


def gradient_facts(tokens: jax.Array, router: jax.Array) -> dict:
    """Where the gradient of L_aux comes from: P, never f."""
    grad = jax.grad(router_loss)(router, tokens)  # (E, D)
    f_jacobian = jax.jacobian(lambda w: route(tokens, w).f)(router)  # (E, E, D)

    def through_p_only(w):  # the same loss with f frozen as a constant
        _, f, p = route(tokens, w)  # (E,), (E,)
        return aux_loss(jax.lax.stop_gradient(f), p)

    grad_p = jax.grad(through_p_only)(router)  # (E, D)
    return {
        "grad": grad.tolist(),
        "grad_norm": float(jnp.linalg.norm(grad)),
        "grad_finite": bool(jnp.all(jnp.isfinite(grad))),
        "f_jacobian_max_abs": float(jnp.max(jnp.abs(f_jacobian))),
        "p_only_max_diff": float(jnp.max(jnp.abs(grad - grad_p))),
    }


def run(steps: int, lr: float) -> dict:
    tokens = jnp.array(TOKENS)  # (N, D)
    collapsed, balanced = jnp.array(COLLAPSED), jnp.array(BALANCED)  # (E, D) each
    final, (losses, fs) = rebalance(collapsed, tokens, lr=lr, steps=steps)  # (S,), (S, E)
    experts = collapsed.shape[0]
    all_used = (fs > 0).all(axis=1).tolist()  # (S,) every expert has tokens after step s
    # the first step from which every expert keeps receiving tokens to the end
    spread_from = next((s + 1 for s in range(steps) if all(all_used[s:])), None)
    return {
        "tokens": TOKENS,
        "experts": experts,
        "collapsed": routing(tokens, collapsed),
        "balanced": routing(tokens, balanced),
        "gradient": gradient_facts(tokens, collapsed),
        "rebalance": {
            "steps": steps,
            "lr": lr,
            "aux_loss_history": losses.tolist(),
            "f_history": fs.tolist(),
            "final_f": fs[-1].tolist(),
            "final_selections": route(tokens, final).selections.tolist(),
            "spread_from_step": spread_from,
            "final_grad_norm": float(jnp.linalg.norm(jax.grad(router_loss)(final, tokens))),
        },
    }


def report(r: dict, console) -> None:
    E, names = r["experts"], ("collapsed", "balanced")
    table = Table(title="Which expert each token goes to (top-1)")
    for col in ("token", "vector", "collapsed router", "balanced router"):
        table.add_column(col, justify="left" if col == "vector" else "right")
    for i, vec in enumerate(r["tokens"]):
        table.add_row(
            str(i),
            display.vector(vec, "{:.2f}"),
            *(f"expert {r[n]['selections'][i]}" for n in names),
        )
    console.print(table)

    loads = Table(title="Load f (share of tokens) and mean probability P, per expert")
    loads.add_column("expert", justify="right")
    for n in names:
        loads.add_column(f"{n}: f", justify="left")
        loads.add_column("P", justify="right")
    for i in range(E):
        cells = []
        for n in names:
            f, p = r[n]["f"][i], r[n]["p"][i]
            cells += [f"{display.bar(f, width=15)} {f:.3f}", f"{p:.3f}"]
        loads.add_row(str(i), *cells)
    console.print(loads)

    console.print(
        f"\nL_aux = E · Σ f_i P_i with E = {E}: it equals 1 at perfect balance "
        f"(f = P = 1/{E}) and reaches its maximum, {E}, at total collapse."
    )
    for n in names:
        loss = r[n]["aux_loss"]
        share = (loss - 1) / (E - 1)
        console.print(
            f"  {n:>9}  {loss:.4f}  1 {display.bar(loss, lo=1, hi=E, width=16)} {E}"
            f"  {share:.0%} of the way to collapse"
        )

    g = r["gradient"]
    console.print("\n[bold]Where the gradient of L_aux comes from[/] (at the collapsed router)")
    console.print(
        display.matrix_table(
            "∂L_aux/∂W_g",
            g["grad"],
            fmt="{:+.5f}",
            rows=[f"expert {i}" for i in range(E)],
            cols=[f"d{j}" for j in range(len(g["grad"][0]))],
        )
    )
    finite = "finite" if g["grad_finite"] else "NOT finite"
    console.print(
        f"The gradient is {finite} with norm {g['grad_norm']:.5f}. The largest entry of "
        f"∂f/∂W_g is {g['f_jacobian_max_abs']:g}: f is an argmax count and carries no "
        f"gradient. Freezing f (stop_gradient) changes the gradient by at most "
        f"{g['p_only_max_diff']:g}: all of it flows through P."
    )
    lowered = [i for i, row in enumerate(g["grad"]) if all(x > 0 for x in row)]
    raised = [i for i, row in enumerate(g["grad"]) if all(x < 0 for x in row)]
    console.print(
        f"A descent step lowers every weight of expert(s) {lowered} and raises "
        f"every weight of expert(s) {raised}."
    )

    rb = r["rebalance"]
    console.print(
        f"\n[bold]{display.count(rb['steps'], 'gradient step')} on L_aux alone[/] "
        f"(lr = {rb['lr']:g}, one compiled lax.scan), from the collapsed router"
    )
    steps = Table()
    for col in ("step", "L_aux", "f", "busiest expert"):
        steps.add_column(col, justify="right")
    for i, (loss, f) in enumerate(zip(rb["aux_loss_history"], rb["f_history"]), start=1):
        steps.add_row(
            str(i), f"{loss:.4f}", display.vector(f, "{:.2f}"), display.bar(max(f), width=20)
        )
    console.print(steps)
    losses = rb["aux_loss_history"]
    rises = sum(b > a for a, b in zip(losses, losses[1:]))
    if rises:
        console.print(
            f"L_aux went up on {rises} of {len(losses) - 1} steps: f jumps (it is an "
            "argmax), so one large step can move a whole group of tokens at once."
        )
    first, final_f = rb["spread_from_step"], rb["final_f"]
    shown_f = display.vector(final_f, "{:.2f}")
    if first is None:
        console.print(
            f"After {display.count(rb['steps'], 'step')} some expert still receives "
            f"no token: f = {shown_f}. Too small a step barely moves a saturated router; "
            "too large a one can overshoot into a new collapse. Try other --lr or "
            "--steps."
        )
        return
    console.print(
        f"From step {first} on every expert receives tokens; at the end "
        f"f = {shown_f} (tokens → experts {rb['final_selections']}) "
        f"and L_aux = {losses[-1]:.4f}."
    )
    if max(final_f) - min(final_f) < 1e-6:
        console.print(
            f"The gradient left at the end has norm {rb['final_grad_norm']:.2g}: with f "
            "uniform, L_aux = E · (1/E) · Σ P_i = Σ P_i = 1 whatever the router does, so "
            "the penalty stops pushing once the load is even. A real model adds L_aux, "
            "scaled small, to its task loss; on its own it only spreads the load."
        )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=STEPS,
        help="gradient steps on L_aux (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float_at_most(MAX_LR, " (float32)"),
        default=LR,
        help="gradient step size (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.finish(
        args,
        __file__,
        run(args.steps, args.lr),
        report,
        kernels=(route, aux_loss, router_loss, rebalance),
        title=__doc__,
    )


if __name__ == "__main__":
    cli.entry(main)
