"""Lesson 10 — evolution strategy vs gradient descent on a noisy bowl.

f(x) = x1² + x2² plus noise (two N(0, 0.1²) draws per evaluation), from
[5, -5]. Gradient descent follows the exact gradient 2x: the noise does not
depend on x, so it never enters a step. The evolution strategy (ES) gets no
gradient at all: each generation it samples a population around its mean,
ranks the points by their noisy values and moves the mean to a weighted
average of the best. Both runs are compiled, one lax.scan each, and both face
the same noise keys. A third run, the same ES on the same draws without the
noise, shows how much of the ES's plateau is the noise and how much its σ.

Run:  python lessons/10_evolution_strategy.py [--generations 80]
      [--population 20] [--mu 5] [--lr 0.1] [--seed 0] [--json] [--show-code]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from trinity_foundations import cli, display, evolution, sections

START = [5.0, -5.0]
SIGMA0 = 2.0  # initial ES step size
DECAY, DECAY_AFTER = 0.95, 30  # σ × 0.95 each generation after the 30th
REPORT_EVERY = 10
PLATEAU_FROM = 10  # the σ₀ plateau: generations after this one, up to DECAY_AFTER
MAX_ROWS = 20  # table rows shown; the rest are counted ("… N more")
MAX_GENERATIONS = 100_000  # time-only caps: a run stays within seconds to a minute
MAX_POPULATION = 100_000
MAX_EVALUATIONS = 10**8  # generations × population


# ----------------------------------------------------------------------------
# 1. The three runs side by side: ES, ES without noise, gradient descent.


@dataclass(frozen=True)
class Row:
    generation: int
    loss: float  # the noisy value seen in that generation
    position: list[float]  # where the method went, (2,)
    true_loss: float  # x1² + x2² there, without noise


@dataclass(frozen=True)
class Race:
    dtype: str
    start: list[float]  # (2,)
    start_loss: float
    noise_std: float  # of one evaluation's noise (two draws)
    sigma0: float
    decay: float
    decay_after: int
    lr: float
    population: int  # λ
    mu: int
    weights: list[float]  # recombination weights, best first, (μ,)
    es_sigma: list[float]  # the σ each generation sampled with, (G,)
    report_every: int  # a table row every this many generations
    max_rows: int  # table rows shown
    es_history: list[Row]
    gd_history: list[Row]
    es_true_loss: list[float]  # per generation, (G,)
    clean_true_loss: list[float]  # the ES without noise, (G,)
    gd_true_loss: list[float]
    gd_positions: list[list[float]]  # every GD iterate, (G, 2)
    es_distance: float  # |ES mean| at the end
    gd_distance: float
    es_final_sigma: float


def history(rows: list[int], losses, positions, true_losses) -> list[Row]:
    """Rows: the loss a generation saw, where it went, the true loss there."""
    losses, positions, true_losses = map(np.asarray, (losses, positions, true_losses))
    return [
        Row(g, float(losses[g - 1]), positions[g - 1].tolist(), float(true_losses[g - 1]))
        for g in rows
    ]


def compute_race(
    done: dict, *, seed: int, generations: int, population: int, mu: int, lr: float
) -> Race:
    key = jax.random.key(seed)  # shared on purpose: both methods see the same noise keys
    config = evolution.ESConfig(population, mu, DECAY, DECAY_AFTER)
    start = evolution.es_init(START, SIGMA0)
    run = partial(evolution.run, step=evolution.es_step, generations=generations, config=config)
    final, es = run(start, key, objective=evolution.noisy_sphere)  # es fields: (G, ...)
    # the same ES on the same sampling draws, without the noise: what σ alone allows
    _, clean = run(start, key, objective=evolution.sphere)  # (G, ...)
    _, (gd_losses, gd_positions) = evolution.gd_run(
        jnp.array(START), key, generations=generations, objective=evolution.noisy_sphere, lr=lr
    )  # (G,), (G, 2)
    # true losses in float64: squaring a float32 iterate near 1e-23 would underflow to 0
    es_true, gd_true, clean_true = (
        np.sum(np.asarray(p, np.float64) ** 2, axis=-1) for p in (es.mean, gd_positions, clean.mean)
    )  # (G,) each, without noise
    rows = [g for g in range(1, generations + 1) if g % REPORT_EVERY == 0 or g == generations]
    sigmas = np.asarray(es.sigma)  # (G,) σ after each generation
    return Race(
        dtype=str(np.asarray(gd_positions).dtype),  # float32, or float64 under JAX_ENABLE_X64=1
        start=START,
        start_loss=float(evolution.sphere(jnp.array(START))),
        noise_std=evolution.NOISE_STD * float(np.sqrt(2)),
        sigma0=SIGMA0,
        decay=DECAY,
        decay_after=DECAY_AFTER,
        lr=lr,
        population=population,
        mu=mu,
        weights=evolution.log_rank_weights(mu).tolist(),
        es_sigma=[SIGMA0, *sigmas[:-1].tolist()],
        report_every=REPORT_EVERY,
        max_rows=MAX_ROWS,
        es_history=history(rows, es.best_loss, es.mean, es_true),
        gd_history=history(rows, gd_losses, gd_positions, gd_true),
        es_true_loss=es_true.tolist(),
        clean_true_loss=clean_true.tolist(),
        gd_true_loss=gd_true.tolist(),
        gd_positions=np.asarray(gd_positions).tolist(),
        es_distance=float(jnp.linalg.norm(final.mean)),
        gd_distance=float(jnp.linalg.norm(gd_positions[-1])),
        es_final_sigma=float(final.sigma),
    )


def point(p) -> str:
    return "[" + ", ".join(f"{v:+.2e}" if abs(v) < 1e-3 else f"{v:+.3f}" for v in p) + "]"


def schedule(sigma0: float, decay: float, decay_after: int, es_sigma: list[float]) -> str:
    """'σ₀ = 2 for generations 1–30, then × 0.95 each: 0.154 in generation 80'."""
    last = len(es_sigma)
    text = f"σ₀ = {sigma0:g} for generations 1–{min(decay_after, last)}"
    if last > decay_after:
        text += f", then × {decay:g} each: {es_sigma[-1]:.3g} in generation {last}"
    return text


def table_rows(rows: list, limit: int = MAX_ROWS) -> tuple[list, int]:
    """The rows to print (the first limit − 1 and the last) and how many are left out."""
    if len(rows) <= limit:
        return rows, 0
    return [*rows[: limit - 1], rows[-1]], len(rows) - limit


def say_race(r: Race, console: Console) -> None:
    console.print(
        f"Both start at {point(r.start)}, where f = {r.start_loss:g}. Each evaluation "
        f"adds noise of std {r.noise_std:.3f}. Gradient descent: lr = {r.lr:g}. "
        f"ES: λ = {r.population} points per generation, the μ = {r.mu} best recombined "
        "with weights (best first) "
        + ", ".join(f"{w:.3f}" for w in r.weights)
        + f"; {schedule(r.sigma0, r.decay, r.decay_after, r.es_sigma)}. "
        f"Arithmetic in {r.dtype}.\n"
    )
    last = r.es_history[-1].generation
    table = Table(
        title=f"Every {r.report_every} generations: what each method saw, where it went"
        if last >= r.report_every
        else f"Generation {last}: what each method saw, where it went",
        caption="loss: the noisy value seen in that generation (ES: best of its "
        "population; GD: at the point it stepped from)",
    )
    for col in ("gen", "ES loss", "ES mean", "GD loss", "GD position"):
        table.add_column(col, justify="right", no_wrap=True)
    pairs, hidden = table_rows(list(zip(r.es_history, r.gd_history)), r.max_rows)
    for i, (es, gd) in enumerate(pairs):
        if hidden and i == len(pairs) - 1:
            table.add_row("…", f"{hidden:,} more", "", "", "")
        table.add_row(
            str(es.generation),
            f"{es.loss:+.4f}",
            point(es.position),
            f"{gd.loss:+.4f}",
            point(gd.position),
        )
    console.print(table)

    console.print("\nTrue loss x1² + x2² at the ES mean and at the GD iterate, per generation:")
    console.print(
        display.line_chart(
            {
                "ES mean": r.es_true_loss,
                "ES without noise": r.clean_true_loss,
                "gradient descent": r.gd_true_loss,
            },
            log_y=True,
            x_label="generation",
            y_label="f without noise",
        )
    )


# ----------------------------------------------------------------------------
# 2. Gradient descent against its closed form, x_t = x_0 · (1 − 2·lr)^t.


@dataclass(frozen=True)
class Descent:
    dtype: str
    factor: float  # 1 − 2·lr
    closed_form_max_rel_error: float  # where x_t is a normal float
    underflow_generation: int | None  # the first x_t below the normal range
    steps: int
    evaluations: int
    distance: float
    final_loss: float  # the noisy value it last saw
    final_true_loss: float


def compute_descent(done: dict) -> Descent:
    race = done["race"]
    t = np.arange(1, len(race.gd_positions) + 1)[:, None]  # (G, 1)
    closed = np.array(race.start) * (1 - 2 * race.lr) ** t  # (G, 2) in float64
    # relative error where x_t is a normal float32: below float32's smallest normal
    # number the iterate is subnormal or flushed to 0 (and with lr = 0.5 it is 0 exactly)
    normal = np.abs(closed) >= np.finfo(race.dtype).tiny  # (G, 2)
    positions = np.array(race.gd_positions)  # (G, 2)
    rel_error = np.where(
        normal, np.abs(positions - closed) / np.where(normal, np.abs(closed), 1.0), 0.0
    )  # (G, 2)
    last = race.gd_history[-1]
    return Descent(
        dtype=race.dtype,
        factor=1 - 2 * race.lr,
        closed_form_max_rel_error=float(rel_error.max()),
        underflow_generation=(int(np.argmin(normal.all(axis=1))) + 1 if not normal.all() else None),
        steps=last.generation,
        evaluations=len(race.gd_positions),
        distance=race.gd_distance,
        final_loss=last.loss,
        final_true_loss=last.true_loss,
    )


def say_descent(d: Descent, console: Console) -> None:
    gd_factor = f"{d.factor:.10g}"
    factor = gd_factor if d.factor >= 0 else f"({gd_factor})"
    where = (
        f"it is {d.distance:.2e} from the optimum (true loss {d.final_true_loss:.1e})"
        if d.distance > 0
        else f"its {d.dtype} iterate is exactly 0, the optimum (the chart leaves out the zeros)"
    )
    if d.factor == 0:
        exact = "one step lands on the optimum"
    else:
        under = d.underflow_generation
        exact = (
            f"its iterate matches x₀·{factor}^t to a relative "
            f"{d.closed_form_max_rel_error:.1e} ({d.dtype}"
            + (
                f", up to step {under - 1}, where x₀·{factor}^t leaves {d.dtype}'s normal range"
                if under
                else ""
            )
            + "), a straight line on the log chart"
        )
    console.print(
        f"Gradient descent multiplies x by 1 − 2·lr = {gd_factor} each step, exactly: "
        f"{exact}. After {display.count(d.steps, 'step')} {where}."
    )


# ----------------------------------------------------------------------------
# 3. The ES: how close without a gradient, and what held it back.


@dataclass(frozen=True)
class Plateau:
    generations: tuple[int, int]  # first and last, counted from 1
    noisy_median: float  # median true loss of the ES there
    clean_median: float  # of the same ES without noise


@dataclass(frozen=True)
class Search:
    evaluations: int  # noisy evaluations of f
    distance: float
    final_true_loss: float
    final_sigma: float
    noise_std: float
    sigma0: float
    plateau: Plateau | None
    clean_final_true_loss: float
    decayed: bool  # whether σ shrank before the last generation
    gd_evaluations: int  # against gradient descent
    gd_distance: float
    gd_final_loss: float
    gd_final_true_loss: float


def plateau(noisy, clean, first: int = PLATEAU_FROM, last: int = DECAY_AFTER) -> Plateau | None:
    """Median true loss of the noisy and the noise-free ES over the generations
    first + 1 .. last, where σ is still σ₀ and the mean has stopped falling;
    None for a run too short to have them."""
    last = min(last, len(noisy))
    if last <= first:
        return None
    window = slice(first, last)
    return Plateau(
        (first + 1, last), float(np.median(noisy[window])), float(np.median(clean[window]))
    )


def compute_es(done: dict) -> Search:
    race, descent = done["race"], done["descent"]
    generations = len(race.es_sigma)
    return Search(
        evaluations=generations * race.population,
        distance=race.es_distance,
        final_true_loss=race.es_history[-1].true_loss,
        final_sigma=race.es_final_sigma,
        noise_std=race.noise_std,
        sigma0=race.sigma0,
        plateau=plateau(
            np.array(race.es_true_loss), np.array(race.clean_true_loss), last=race.decay_after
        ),
        clean_final_true_loss=race.clean_true_loss[-1],
        decayed=generations > race.decay_after,
        gd_evaluations=descent.evaluations,
        gd_distance=descent.distance,
        gd_final_loss=descent.final_loss,
        gd_final_true_loss=descent.final_true_loss,
    )


def plateau_cause(p: Plateau) -> str:
    """Which one the σ₀ plateau is mostly made of: 'sigma' when the noise-free
    ES sits at least half as high as the noisy one, else 'noise'."""
    return "sigma" if p.clean_median >= 0.5 * p.noisy_median else "noise"


def noise_holds_back(s: Search) -> bool:
    """Whether, once σ has shrunk, the noise-free ES ended lower than the noisy one."""
    return s.decayed and s.clean_final_true_loss < s.final_true_loss


def how_much_closer(es_distance: float, gd_distance: float) -> str | None:
    """How much closer descent ended than the ES, or None where it did not."""
    if gd_distance >= es_distance:
        return None
    if gd_distance == 0:
        return "at the optimum itself"
    return f"{es_distance / gd_distance:.1e} times closer"


def say_es(s: Search, console: Console) -> None:
    console.print(
        f"The ES never saw a gradient: {display.count(s.evaluations, 'noisy evaluation')} "
        f"brought its mean to {s.distance:.3f} from the optimum (true loss "
        f"{s.final_true_loss:.1e}, final σ {s.final_sigma:.3g}). Its curve is ragged: "
        "each mean is an average of random samples, ranked by noisy values."
    )
    if s.final_true_loss < s.noise_std:
        console.print(
            f"Its true loss is below the noise std ({s.noise_std:.3f}): points that close "
            "differ by less than the noise, so ranking them is partly a coin toss."
            + (
                " The same noise hides GD's progress: its last reported loss is "
                f"{s.gd_final_loss:+.3f}, its true loss {s.gd_final_true_loss:.1e}."
                if s.gd_final_true_loss < s.noise_std
                else ""
            )
        )
    p = s.plateau
    if p is not None:
        lo, hi = p.generations
        shown = f"median true loss {p.clean_median:.2g} against {p.noisy_median:.2g}"
        if plateau_cause(p) == "sigma":
            why = (
                f"Most of the plateau in generations {lo}–{hi} is σ = {s.sigma0:g}, not "
                f"the noise: the same ES on the same draws without noise sits at {shown} "
                "with it; samples that far apart cannot place the mean closer."
            )
        else:
            why = (
                f"The plateau in generations {lo}–{hi} is mostly the noise: the same ES on "
                f"the same draws without noise gets to {shown} with it."
            )
        console.print(why)
    clean_final = s.clean_final_true_loss
    console.print(
        f"Once σ has shrunk, the noise is what holds the ES back: at the last generation the "
        f"noise-free ES is at true loss {clean_final:.1e}, the noisy one at "
        f"{s.final_true_loss:.1e}."
        if noise_holds_back(s)
        else f"At the last generation the noise-free ES is at true loss {clean_final:.1e}, "
        f"the noisy one at {s.final_true_loss:.1e}."
    )
    closer = how_much_closer(s.distance, s.gd_distance)
    if closer is not None:
        console.print(
            f"With the exact gradient, descent ends {closer}, from "
            f"{display.count(s.gd_evaluations, 'evaluation')} of f and its gradient against the "
            f"ES's {s.evaluations:,} of f alone; the ES needs no gradient at all, which is "
            "its use."
        )
    else:
        console.print("In this run the ES ended closer to the optimum than gradient descent.")


# ----------------------------------------------------------------------------
# The lesson.


def gd_bullet(d: Descent) -> str:
    """Where the exact gradient took descent."""
    steps = display.count(d.steps, "step")
    where = (
        f"ended {d.distance:.2e} from the optimum after {steps}"
        if d.distance > 0
        else f"reached the optimum exactly within {steps}"
    )
    return (
        f"Gradient descent multiplied x by {d.factor:.10g} per step, exactly, and "
        f"{where}: noise never enters its steps."
    )


def es_bullet(s: Search) -> str:
    """Where the ES got without a gradient, against descent."""
    head = (
        f"The ES never saw a gradient: {display.count(s.evaluations, 'noisy evaluation')} "
        f"brought its mean to {s.distance:.3f} from the optimum"
    )
    if s.gd_distance < s.distance:
        return (
            f"{head}; descent got closer, but it needed "
            f"{display.count(s.gd_evaluations, 'exact gradient')}."
        )
    if s.gd_distance == s.distance:
        return head + ", as close as gradient descent."
    return head + ", closer than gradient descent in this run."


def plateau_bullet(s: Search) -> str:
    """What held the ES back: its σ or the noise."""
    p = s.plateau
    if p is not None:
        lo, hi = p.generations
        cause = f"σ = {s.sigma0:g}" if plateau_cause(p) == "sigma" else "the noise"
        return (
            f"Its plateau in generations {lo}–{hi} was mostly {cause}: without noise the same "
            f"ES sat at true loss {p.clean_median:.2g}, with it {p.noisy_median:.2g}."
        )
    return (
        f"At the last generation the noise-free ES was at true loss "
        f"{s.clean_final_true_loss:.1e}, the noisy one at {s.final_true_loss:.1e}."
    )


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [gd_bullet(done["descent"]), es_bullet(done["es"]), plateau_bullet(done["es"])]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract."""
    race, d, s = done["race"], done["descent"], done["es"]
    return {
        **{k: getattr(race, k) for k in ("dtype", "start", "start_loss", "noise_std")},
        **{k: getattr(race, k) for k in ("sigma0", "decay", "decay_after", "lr")},
        **{k: getattr(race, k) for k in ("population", "mu", "weights", "es_sigma")},
        "clean_true_loss": race.clean_true_loss,  # noise-free ES, per generation
        "plateau": s.plateau,
        "clean_final_true_loss": s.clean_final_true_loss,
        "es_history": race.es_history,
        "gd_history": race.gd_history,
        "es_final": race.es_history[-1],
        "gd_final": race.gd_history[-1],
        "es_distance": s.distance,
        "gd_distance": d.distance,
        "es_final_sigma": s.final_sigma,
        "es_true_loss": race.es_true_loss,  # per generation, for the chart
        "gd_true_loss": race.gd_true_loss,
        "gd_factor": d.factor,
        "gd_closed_form_max_rel_error": d.closed_form_max_rel_error,
        "gd_underflow_generation": d.underflow_generation,
        "es_evaluations": s.evaluations,
        "gd_evaluations": d.evaluations,
    }


def build(args) -> list[sections.Section]:
    S = sections.Section
    race = partial(
        compute_race,
        seed=args.seed,
        generations=args.generations,
        population=args.population,
        mu=args.mu,
        lr=args.lr,
    )
    return [
        S(
            "race",
            race,
            say_race,
            title="ES and gradient descent, side by side",
            doing=f"compiling and running ES, ES without noise and gradient descent: "
            f"{display.count(args.generations, 'generation')} each",
        ),
        S("descent", compute_descent, say_descent, title="Gradient descent: exact steps"),
        S("es", compute_es, say_es, title="The ES: no gradient, noisy ranks"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=0)
    parser.add_argument(
        "--generations",
        type=cli.int_in(1, MAX_GENERATIONS, "a cap on run time"),
        default=80,
        help=f"ES generations = GD steps, at most {MAX_GENERATIONS:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--population",
        type=cli.int_in(1, MAX_POPULATION, "a cap on run time"),
        default=20,
        help=f"ES points per generation, at most {MAX_POPULATION:,}; generations × population "
        f"at most {MAX_EVALUATIONS:.0e} (default: %(default)s)",
    )
    parser.add_argument(
        "--mu",
        type=cli.int_in(1, MAX_POPULATION, "at most --population"),
        default=5,
        help="ES points recombined per generation (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.open_unit_float,
        default=0.1,
        help="gradient descent learning rate (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.mu > args.population:
        parser.error(f"--mu ({args.mu}) must not exceed --population ({args.population})")
    if args.generations * args.population > MAX_EVALUATIONS:
        parser.error(
            f"--generations × --population = {args.generations * args.population:,} "
            f"evaluations; at most {MAX_EVALUATIONS:,} (a cap on run time)"
        )
    kernels = (evolution.noisy_sphere, evolution.log_rank_weights, evolution.recombine)
    kernels += (evolution.es_step, evolution.run, evolution.gd_run)
    sections.run(
        args, __file__, __doc__, build(args), summary=summary, results=results, kernels=kernels
    )


if __name__ == "__main__":
    cli.entry(main)
