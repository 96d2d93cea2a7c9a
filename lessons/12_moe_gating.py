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

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import jax
import jax.numpy as jnp
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations.moe import (
    DescentConfig,
    aux_descent_step,
    aux_loss,
    descend_aux_loss,
    route,
    router_loss,
)

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
MAX_LR = 1e6  # far past where steps only overshoot into a new collapse (at 1e3 already)
MAX_STEPS = 100_000  # a cap on run time
MAX_ROWS = 25  # rows of the step table shown; the rest are counted ("… N more")


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
    final, (losses, fs) = descend_aux_loss(
        collapsed, tokens, config=DescentConfig(lr), steps=steps
    )  # (E, D), ((S,), (S, E))
    experts = collapsed.shape[0]
    all_used = (fs > 0).all(axis=1).tolist()  # (S,) every expert has tokens after step s
    # the first step from which every expert keeps receiving tokens to the end
    spread_from = next((s + 1 for s in range(steps) if all(all_used[s:])), None)
    return {
        "dtype": str(tokens.dtype),
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


def collapse_share(loss: float, experts: int) -> float:
    """Where L_aux sits between 1 (balance) and E (collapse), as a fraction."""
    return (loss - 1) / (experts - 1)


def pushed(grad: list[list[float]]) -> tuple[list[int], list[int]]:
    """(experts whose every weight a descent step lowers, those it raises)."""
    lowered = [i for i, row in enumerate(grad) if all(x > 0 for x in row)]
    raised = [i for i, row in enumerate(grad) if all(x < 0 for x in row)]
    return lowered, raised


def rises(losses: list[float]) -> int:
    """How many steps raised L_aux."""
    return sum(b > a for a, b in zip(losses, losses[1:]))


def outcome(rb: dict) -> str:
    """'stuck' (an expert still idle), 'even' (f uniform) or 'spread' (all used, uneven)."""
    if rb["spread_from_step"] is None:
        return "stuck"
    f = rb["final_f"]
    return "even" if max(f) - min(f) < 1e-6 else "spread"


def step_rows(n: int, limit: int = MAX_ROWS) -> tuple[list[int], int]:
    """The step indices to show (the first limit − 1 and the last) and how many are hidden."""
    if n <= limit:
        return list(range(n)), 0
    return [*range(limit - 1), n - 1], n - limit


def report_routing(r: dict, console) -> None:
    names = ("collapsed", "balanced")
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
    for i in range(r["experts"]):
        cells = []
        for n in names:
            f, p = r[n]["f"][i], r[n]["p"][i]
            cells += [f"{display.bar(f, width=15)} {f:.3f}", f"{p:.3f}"]
        loads.add_row(str(i), *cells)
    console.print(loads)


def report_penalty(r: dict, console) -> None:
    E = r["experts"]
    console.print(
        f"\nL_aux = E · Σ f_i P_i with E = {E}: it equals 1 at perfect balance "
        f"(f = P = 1/{E}) and reaches its maximum, {E}, at total collapse."
    )
    for n in ("collapsed", "balanced"):
        loss = r[n]["aux_loss"]
        console.print(
            f"  {n:>9}  {loss:.4f}  1 {display.bar(loss, lo=1, hi=E, width=16)} {E}"
            f"  {display.share(collapse_share(loss, E), 0)} of the way to collapse"
        )


def report_gradient(r: dict, console) -> None:
    E, g = r["experts"], r["gradient"]
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
    lowered, raised = pushed(g["grad"])
    console.print(
        f"A descent step lowers every weight of expert(s) {lowered} and raises "
        f"every weight of expert(s) {raised}."
    )


def report_descent(r: dict, console) -> None:
    rb = r["rebalance"]
    console.print(
        f"\n[bold]{display.count(rb['steps'], 'gradient step')} on L_aux alone[/] "
        f"(lr = {rb['lr']:g}, one compiled lax.scan), from the collapsed router"
    )
    steps = Table()
    for col in ("step", "L_aux", "f", "busiest expert"):
        steps.add_column(col, justify="right")
    shown, hidden = step_rows(rb["steps"])
    for i in shown:
        if hidden and i == shown[-1]:
            steps.add_row("…", f"{hidden:,} more", "", "")
        loss, f = rb["aux_loss_history"][i], rb["f_history"][i]
        steps.add_row(
            str(i + 1), f"{loss:.4f}", display.vector(f, "{:.2f}"), display.bar(max(f), width=20)
        )
    console.print(steps)
    losses = rb["aux_loss_history"]
    if rises(losses):
        console.print(
            f"L_aux went up on {rises(losses):,} of {len(losses) - 1:,} steps: f jumps (it is an "
            "argmax), so one large step can move a whole group of tokens at once."
        )
    shown_f = display.vector(rb["final_f"], "{:.2f}")
    end = outcome(rb)
    if end == "stuck":
        console.print(
            f"After {display.count(rb['steps'], 'step')} some expert still receives "
            f"no token: f = {shown_f}. Too small a step barely moves a saturated router; "
            "too large a one can overshoot into a new collapse. Try other --lr or "
            "--steps."
        )
        return
    console.print(
        f"From step {rb['spread_from_step']} on every expert receives tokens; at the end "
        f"f = {shown_f} (tokens → experts {rb['final_selections']}) "
        f"and L_aux = {losses[-1]:.4f}."
    )
    if end == "even":
        console.print(
            f"The gradient left at the end has norm {rb['final_grad_norm']:.2g}: with f "
            "uniform, L_aux = E · (1/E) · Σ P_i = Σ P_i = 1 whatever the router does, so "
            "the penalty stops pushing once the load is even. A real model adds L_aux, "
            "scaled small, to its task loss; on its own it only spreads the load."
        )


def report(r: dict, console) -> None:
    report_routing(r, console)
    report_penalty(r, console)
    report_gradient(r, console)
    report_descent(r, console)


def routers_bullet(r: dict) -> str:
    """The two routers' loads and penalties."""
    E, collapsed, balanced = r["experts"], r["collapsed"], r["balanced"]
    used = len(set(collapsed["selections"]))
    return (
        f"Top-1, the collapsed router sent all {len(r['tokens'])} tokens to "
        f"{display.count(used, 'expert')} (L_aux = {collapsed['aux_loss']:.4f}, the most is "
        f"{E}), the balanced one spread them (L_aux = {balanced['aux_loss']:.4f})."
    )


def gradient_bullet(g: dict) -> str:
    """Where the gradient of L_aux comes from: P, never the argmax count f."""
    if g["f_jacobian_max_abs"] == 0 and g["p_only_max_diff"] == 0:
        return (
            "The gradient of L_aux flows through the probabilities P only: f is an argmax "
            "count, and freezing it changed the gradient by exactly 0."
        )
    return (
        f"Freezing the argmax count f changed the gradient of L_aux by up to "
        f"{g['p_only_max_diff']:g}, and ∂f/∂W_g reached {g['f_jacobian_max_abs']:g}."
    )


def descent_bullet(rb: dict) -> str:
    """Where the gradient steps on L_aux alone took the collapsed router."""
    steps = display.count(rb["steps"], "step")
    f = display.vector(rb["final_f"], "{:.2f}")
    end = outcome(rb)
    if end == "stuck":
        return (
            f"After {steps} on L_aux alone (lr = {rb['lr']:g}) some expert still gets no "
            f"token, f = {f}: try other --lr or --steps."
        )
    even = ", perfectly even" if end == "even" else ""
    return (
        f"{steps.capitalize()} on L_aux alone (lr = {rb['lr']:g}) spread the load: every "
        f"expert has tokens from step {rb['spread_from_step']}, ending at f = {f}{even}."
    )


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [routers_bullet(r), gradient_bullet(r["gradient"]), descent_bullet(r["rebalance"])]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    parser.add_argument(
        "--steps",
        type=cli.int_in(1, MAX_STEPS, "a cap on run time"),
        default=STEPS,
        help=f"gradient steps on L_aux, at most {MAX_STEPS:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float_at_most(MAX_LR, " (larger steps only overshoot)"),
        default=LR,
        help="gradient step size (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    cli.finish(
        args,
        __file__,
        run(args.steps, args.lr),
        report,
        kernels=(route, aux_loss, router_loss, aux_descent_step, descend_aux_loss),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
