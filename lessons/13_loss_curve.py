"""Lesson 13 — the load-balancing penalty in five routing scenarios.

Four experts, five ways to share the load, from perfectly even to total
collapse. In each scenario the token shares f equal the mean router
probabilities P, so L_aux = E · Σ f_i P_i = E · Σ P_i²: the penalty grows
with how concentrated the load is. A 30-character bar places each value
between 1 (perfect balance) and E = 4 (total collapse).

Run:  python lessons/13_loss_curve.py [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
from dataclasses import dataclass

import jax.numpy as jnp
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display, moe, sections

SCENARIOS = {
    "balanced": [0.25, 0.25, 0.25, 0.25],
    "mild": [0.4, 0.2, 0.2, 0.2],
    "two idle": [0.5, 0.5, 0.0, 0.0],
    "heavy": [0.7, 0.1, 0.1, 0.1],
    "collapsed": [1.0, 0.0, 0.0, 0.0],
}
BAR_WIDTH = 30


# ----------------------------------------------------------------------------
# The penalty of each scenario, and heavy against two idle.


@dataclass(frozen=True)
class Scenario:
    label: str
    f: tuple[float, ...]  # the share of tokens each expert receives, (E,)
    p: tuple[float, ...]  # the mean router probabilities, (E,): here equal to f
    aux_loss: float
    toward_collapse: float  # 0 balanced … 1 collapsed


@dataclass(frozen=True)
class Penalties:
    experts: int  # E
    scenarios: tuple[Scenario, ...]
    bar_width: int  # characters of each penalty's bar


def compute_scenarios(done: dict) -> Penalties:
    loads = jnp.array(list(SCENARIOS.values()))  # (S, E)
    experts = loads.shape[1]
    losses = moe.aux_loss(loads, loads).tolist()  # (S,) f = P in every scenario
    scenarios = tuple(
        Scenario(label, tuple(f), tuple(f), loss, (loss - 1) / (experts - 1))
        for (label, f), loss in zip(SCENARIOS.items(), losses, strict=True)
    )
    return Penalties(experts, scenarios, BAR_WIDTH)


def concentration_beats_idleness(heavy: float, idle: float) -> bool:
    """Whether the load with no idle expert costs more than the one with two idle."""
    return heavy > idle


def by_loss(r: Penalties) -> list[Scenario]:
    """The scenarios from the smallest penalty to the largest."""
    return sorted(r.scenarios, key=lambda s: s.aux_loss)


def named(r: Penalties) -> dict[str, float]:
    """Each scenario's penalty by its label."""
    return {s.label: s.aux_loss for s in r.scenarios}


def say_scenarios(r: Penalties, console: Console) -> None:
    E = r.experts
    table = Table(title=f"L_aux = E · Σ f_i P_i with f = P, E = {E}")
    table.add_column("scenario")
    table.add_column("f = P")
    table.add_column("L_aux", justify="right")
    table.add_column(f"penalty, 1 to {E}")
    for s in r.scenarios:
        shares = " ".join(f"{v:.2f}" for v in s.f)
        bar = display.bar(s.aux_loss, lo=1, hi=E, width=r.bar_width)  # clamped to [1, E]
        table.add_row(s.label, shares, f"{s.aux_loss:.4f}", bar)
    console.print(table)

    lo, *_, hi = by_loss(r)
    console.print(
        f"The penalty runs from {lo.aux_loss:.4f} ({lo.label}) to "
        f"{hi.aux_loss:.4f} ({hi.label}). With f = P it is E · Σ P_i², never "
        f"below 1 (Cauchy–Schwarz: Σ P_i² ≥ 1/E) nor above {E}. In a real router f and "
        "P differ and L_aux can dip below 1 (never above E); the bar clamps it at its edge."
    )
    heavy, idle = named(r)["heavy"], named(r)["two idle"]
    if concentration_beats_idleness(heavy, idle):
        console.print(
            f"The heavy scenario leaves no expert idle yet costs more ({heavy:.4f}) than "
            f"two idle experts ({idle:.4f}): the penalty measures how concentrated the "
            "load is, not how many experts sit idle."
        )


# ----------------------------------------------------------------------------
# The lesson.


def idle_bullet(losses: dict[str, float]) -> str:
    """Heavy against two idle: does the penalty count idle experts or concentration?"""
    heavy, idle = losses.get("heavy"), losses.get("two idle")
    if heavy is None or idle is None:
        return "The penalty measures how concentrated the load is."
    if concentration_beats_idleness(heavy, idle):
        return (
            f"A heavy load with no idle expert costs more ({heavy:.4f}) than two idle experts "
            f"({idle:.4f}): the penalty measures concentration, not idleness."
        )
    return (
        f"Two idle experts cost at least as much ({idle:.4f}) as the heavy load with none "
        f"idle ({heavy:.4f})."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    r = done["scenarios"]
    lo, *middle, hi = by_loss(r)
    order = " < ".join(f"{escape(s.label)} {s.aux_loss:.4f}" for s in middle)
    return [
        f"With f = P the penalty is E · Σ P_i² (E = {r.experts} experts): {lo.aux_loss:.4f} for "
        f"the {escape(lo.label)} load, {hi.aux_loss:.4f} for the {escape(hi.label)} one.",
        f"In between it rises with how concentrated the load is: {order}.",
        idle_bullet(named(r)),
    ]


def results(done: dict) -> dict:
    """The --json results of the lesson's contract."""
    r = done["scenarios"]
    return {"experts": r.experts, "scenarios": r.scenarios}


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=None)
    args = parser.parse_args(argv)
    sections.run(
        args,
        __file__,
        __doc__,
        [sections.Section("scenarios", compute_scenarios, say_scenarios)],
        summary=summary,
        results=results,
        kernels=(moe.aux_loss,),
    )


if __name__ == "__main__":
    cli.entry(main)
