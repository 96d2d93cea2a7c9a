"""Lesson 12 — top-1 routing and the load-balancing loss.

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
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, display, moe, sections

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
ROUTERS = ("collapsed", "balanced")


# ----------------------------------------------------------------------------
# 1. Two routers: where each token goes, and what L_aux says of each.


@dataclass(frozen=True)
class Load:
    selections: list[int]  # the expert each token goes to, (N,)
    f: list[float]  # the share of tokens each expert receives, (E,)
    p: list[float]  # each expert's mean router probability, (E,)
    aux_loss: float


@dataclass(frozen=True)
class Routers:
    dtype: str
    tokens: list[list[float]]  # (N, D)
    experts: int  # E
    collapsed: Load
    balanced: Load


def load(tokens: jax.Array, router: jax.Array) -> Load:
    selections, f, p = moe.route(tokens, router)  # (N,), (E,), (E,)
    return Load(selections.tolist(), f.tolist(), p.tolist(), float(moe.aux_loss(f, p)))


def compute_routers(done: dict) -> Routers:
    tokens = jnp.array(TOKENS)  # (N, D)
    collapsed, balanced = jnp.array(COLLAPSED), jnp.array(BALANCED)  # (E, D) each
    return Routers(
        dtype=str(tokens.dtype),
        tokens=TOKENS,
        experts=collapsed.shape[0],
        collapsed=load(tokens, collapsed),
        balanced=load(tokens, balanced),
    )


def collapse_share(loss: float, experts: int) -> float:
    """Where L_aux sits between 1 (balance) and E (collapse), as a fraction."""
    return (loss - 1) / (experts - 1)


def say_routers(r: Routers, console: Console) -> None:
    loads = {n: getattr(r, n) for n in ROUTERS}
    table = Table(title="Which expert each token goes to (top-1)")
    for col in ("token", "vector", "collapsed router", "balanced router"):
        table.add_column(col, justify="left" if col == "vector" else "right")
    for i, vec in enumerate(r.tokens):
        table.add_row(
            str(i),
            display.vector(vec, "{:.2f}"),
            *(f"expert {loads[n].selections[i]}" for n in ROUTERS),
        )
    console.print(table)

    shares = Table(title="Load f (share of tokens) and mean probability P, per expert")
    shares.add_column("expert", justify="right")
    for n in ROUTERS:
        shares.add_column(f"{n}: f", justify="left")
        shares.add_column("P", justify="right")
    for i in range(r.experts):
        cells = []
        for n in ROUTERS:
            f, p = loads[n].f[i], loads[n].p[i]
            cells += [f"{display.bar(f, width=15)} {f:.3f}", f"{p:.3f}"]
        shares.add_row(str(i), *cells)
    console.print(shares)

    E = r.experts
    console.print(
        f"\nL_aux = E · Σ f_i P_i with E = {E}: it equals 1 at perfect balance "
        f"(f = P = 1/{E}) and reaches its maximum, {E}, at total collapse."
    )
    for n in ROUTERS:
        loss = loads[n].aux_loss
        console.print(
            f"  {n:>9}  {loss:.4f}  1 {display.bar(loss, lo=1, hi=E, width=16)} {E}"
            f"  {display.share(collapse_share(loss, E), 0)} of the way to collapse"
        )


# ----------------------------------------------------------------------------
# 2. Where the gradient of L_aux comes from: P, never f.


@dataclass(frozen=True)
class Gradient:
    grad: list[list[float]]  # ∂L_aux/∂W_g at the collapsed router, (E, D)
    grad_norm: float
    grad_finite: bool
    f_jacobian_max_abs: float  # the largest entry of ∂f/∂W_g
    p_only_max_diff: float  # max |gradient − gradient with f frozen|


def compute_gradient(done: dict) -> Gradient:
    tokens, router = jnp.array(TOKENS), jnp.array(COLLAPSED)  # (N, D), (E, D)
    grad = jax.grad(moe.router_loss)(router, tokens)  # (E, D)
    f_jacobian = jax.jacobian(lambda w: moe.route(tokens, w).f)(router)  # (E, E, D)

    def through_p_only(w):  # the same loss with f frozen as a constant
        _, f, p = moe.route(tokens, w)  # (E,), (E,)
        return moe.aux_loss(jax.lax.stop_gradient(f), p)

    grad_p = jax.grad(through_p_only)(router)  # (E, D)
    return Gradient(
        grad=grad.tolist(),
        grad_norm=float(jnp.linalg.norm(grad)),
        grad_finite=bool(jnp.all(jnp.isfinite(grad))),
        f_jacobian_max_abs=float(jnp.max(jnp.abs(f_jacobian))),
        p_only_max_diff=float(jnp.max(jnp.abs(grad - grad_p))),
    )


def pushed(grad: list[list[float]]) -> tuple[list[int], list[int]]:
    """(experts whose every weight a descent step lowers, those it raises)."""
    lowered = [i for i, row in enumerate(grad) if all(x > 0 for x in row)]
    raised = [i for i, row in enumerate(grad) if all(x < 0 for x in row)]
    return lowered, raised


def say_gradient(g: Gradient, console: Console) -> None:
    console.print("At the collapsed router:")
    console.print(
        display.matrix_table(
            "∂L_aux/∂W_g",
            g.grad,
            fmt="{:+.5f}",
            rows=[f"expert {i}" for i in range(len(g.grad))],
            cols=[f"d{j}" for j in range(len(g.grad[0]))],
        )
    )
    finite = "finite" if g.grad_finite else "NOT finite"
    console.print(
        f"The gradient is {finite} with norm {g.grad_norm:.5f}. The largest entry of "
        f"∂f/∂W_g is {g.f_jacobian_max_abs:g}: f is an argmax count and carries no "
        f"gradient. Freezing f (stop_gradient) changes the gradient by at most "
        f"{g.p_only_max_diff:g}: all of it flows through P."
    )
    lowered, raised = pushed(g.grad)
    console.print(
        f"A descent step lowers every weight of expert(s) {lowered} and raises "
        f"every weight of expert(s) {raised}."
    )


# ----------------------------------------------------------------------------
# 3. Gradient steps on L_aux alone, from the collapsed router.


@dataclass(frozen=True)
class Rebalance:
    steps: int
    lr: float
    aux_loss_history: list[float]  # L_aux after each step, (S,)
    f_history: list[list[float]]  # f after each step, (S, E)
    final_f: list[float]
    final_selections: list[int]
    spread_from_step: int | None  # from this step on every expert has tokens (None: never)
    final_grad_norm: float
    max_rows: int  # rows of the step table shown


def compute_rebalance(done: dict, *, steps: int, lr: float) -> Rebalance:
    tokens, collapsed = jnp.array(TOKENS), jnp.array(COLLAPSED)  # (N, D), (E, D)
    final, (losses, fs) = moe.descend_aux_loss(
        collapsed, tokens, config=moe.DescentConfig(lr), steps=steps
    )  # (E, D), ((S,), (S, E))
    all_used = (fs > 0).all(axis=1).tolist()  # (S,) every expert has tokens after step s
    # the first step from which every expert keeps receiving tokens to the end
    spread_from = next((s + 1 for s in range(steps) if all(all_used[s:])), None)
    return Rebalance(
        steps=steps,
        lr=lr,
        aux_loss_history=losses.tolist(),
        f_history=fs.tolist(),
        final_f=fs[-1].tolist(),
        final_selections=moe.route(tokens, final).selections.tolist(),
        spread_from_step=spread_from,
        final_grad_norm=float(jnp.linalg.norm(jax.grad(moe.router_loss)(final, tokens))),
        max_rows=MAX_ROWS,
    )


def rises(losses: list[float]) -> int:
    """How many steps raised L_aux."""
    return sum(b > a for a, b in zip(losses, losses[1:]))


def outcome(spread_from_step: int | None, final_f: list[float]) -> str:
    """'stuck' (an expert still idle), 'even' (f uniform) or 'spread' (all used, uneven)."""
    if spread_from_step is None:
        return "stuck"
    return "even" if max(final_f) - min(final_f) < 1e-6 else "spread"


def step_rows(n: int, limit: int = MAX_ROWS) -> tuple[list[int], int]:
    """The step indices to show (the first limit − 1 and the last) and how many are hidden."""
    if n <= limit:
        return list(range(n)), 0
    return [*range(limit - 1), n - 1], n - limit


def say_rebalance(rb: Rebalance, console: Console) -> None:
    console.print(
        f"[bold]{display.count(rb.steps, 'gradient step')} on L_aux alone[/] "
        f"(lr = {rb.lr:g}, one compiled lax.scan), from the collapsed router"
    )
    steps = Table()
    for col in ("step", "L_aux", "f", "busiest expert"):
        steps.add_column(col, justify="right")
    shown, hidden = step_rows(rb.steps, rb.max_rows)
    for i in shown:
        if hidden and i == shown[-1]:
            steps.add_row("…", f"{hidden:,} more", "", "")
        loss, f = rb.aux_loss_history[i], rb.f_history[i]
        steps.add_row(
            str(i + 1), f"{loss:.4f}", display.vector(f, "{:.2f}"), display.bar(max(f), width=20)
        )
    console.print(steps)
    losses = rb.aux_loss_history
    if rises(losses):
        console.print(
            f"L_aux went up on {rises(losses):,} of {len(losses) - 1:,} steps: f jumps (it is an "
            "argmax), so one large step can move a whole group of tokens at once."
        )
    shown_f = display.vector(rb.final_f, "{:.2f}")
    end = outcome(rb.spread_from_step, rb.final_f)
    if end == "stuck":
        console.print(
            f"After {display.count(rb.steps, 'step')} some expert still receives "
            f"no token: f = {shown_f}. Too small a step barely moves a saturated router; "
            "too large a one can overshoot into a new collapse. Try other --lr or "
            "--steps."
        )
        return
    console.print(
        f"From step {rb.spread_from_step} on every expert receives tokens; at the end "
        f"f = {shown_f} (tokens → experts {rb.final_selections}) "
        f"and L_aux = {losses[-1]:.4f}."
    )
    if end == "even":
        console.print(
            f"The gradient left at the end has norm {rb.final_grad_norm:.2g}: with f "
            "uniform, L_aux = E · (1/E) · Σ P_i = Σ P_i = 1 whatever the router does, so "
            "the penalty stops pushing once the load is even. A real model adds L_aux, "
            "scaled small, to its task loss; on its own it only spreads the load."
        )


# ----------------------------------------------------------------------------
# The lesson.


def routers_bullet(r: Routers) -> str:
    """The two routers' loads and penalties."""
    used = len(set(r.collapsed.selections))
    return (
        f"Top-1, the collapsed router sent all {len(r.tokens)} tokens to "
        f"{display.count(used, 'expert')} (L_aux = {r.collapsed.aux_loss:.4f}, the most is "
        f"{r.experts}), the balanced one spread them (L_aux = {r.balanced.aux_loss:.4f})."
    )


def gradient_bullet(g: Gradient) -> str:
    """Where the gradient of L_aux comes from: P, never the argmax count f."""
    if g.f_jacobian_max_abs == 0 and g.p_only_max_diff == 0:
        return (
            "The gradient of L_aux flows through the probabilities P only: f is an argmax "
            "count, and freezing it changed the gradient by exactly 0."
        )
    return (
        f"Freezing the argmax count f changed the gradient of L_aux by up to "
        f"{g.p_only_max_diff:g}, and ∂f/∂W_g reached {g.f_jacobian_max_abs:g}."
    )


def descent_bullet(rb: Rebalance) -> str:
    """Where the gradient steps on L_aux alone took the collapsed router."""
    steps = display.count(rb.steps, "step")
    f = display.vector(rb.final_f, "{:.2f}")
    end = outcome(rb.spread_from_step, rb.final_f)
    if end == "stuck":
        return (
            f"After {steps} on L_aux alone (lr = {rb.lr:g}) some expert still gets no "
            f"token, f = {f}: try other --lr or --steps."
        )
    even = ", perfectly even" if end == "even" else ""
    return (
        f"{steps.capitalize()} on L_aux alone (lr = {rb.lr:g}) spread the load: every "
        f"expert has tokens from step {rb.spread_from_step}, ending at f = {f}{even}."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [
        routers_bullet(done["routers"]),
        gradient_bullet(done["gradient"]),
        descent_bullet(done["rebalance"]),
    ]


def results(done: dict) -> dict:
    """The --json results of the lesson's contract."""
    rb = done["rebalance"]
    rebalance = {k: v for k, v in vars(rb).items() if k != "max_rows"}
    return {**vars(done["routers"]), "gradient": done["gradient"], "rebalance": rebalance}


def build(args) -> list[sections.Section]:
    S = sections.Section
    return [
        S("routers", compute_routers, say_routers, title="Two routers, top-1"),
        S(
            "gradient",
            compute_gradient,
            say_gradient,
            title="Where the gradient of L_aux comes from",
        ),
        S(
            "rebalance",
            partial(compute_rebalance, steps=args.steps, lr=args.lr),
            say_rebalance,
            title="Gradient steps on L_aux alone",
            doing=f"{display.count(args.steps, 'gradient step')} on L_aux in one lax.scan",
        ),
    ]


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
    kernels = (moe.route, moe.aux_loss, moe.router_loss, moe.aux_descent_step, moe.descend_aux_loss)
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=kernels
    )


if __name__ == "__main__":
    cli.entry(main)
