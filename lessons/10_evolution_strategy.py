"""Lesson 5.1 — evolution strategy versus gradient descent on a noisy bowl.

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
import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from trinity_foundations import cli, display
from trinity_foundations.evolution import (
    NOISE_STD,
    ESConfig,
    es_init,
    es_step,
    gd_run,
    log_rank_weights,
    noisy_sphere,
    recombine,
    sphere,
)
from trinity_foundations.evolution import run as es_run

START = [5.0, -5.0]
SIGMA0 = 2.0  # initial ES step size
DECAY, DECAY_AFTER = 0.95, 30  # σ × 0.95 each generation after the 30th
REPORT_EVERY = 10
PLATEAU_FROM = 10  # the σ₀ plateau: generations after this one, up to DECAY_AFTER
MAX_ROWS = 20  # table rows shown; the rest are counted ("… N more")
MAX_GENERATIONS = 100_000  # time-only caps: a run stays within seconds to a minute
MAX_POPULATION = 100_000
MAX_EVALUATIONS = 10**8  # generations × population


def run(seed: int, generations: int, population: int, mu: int, lr: float) -> dict:
    key = jax.random.key(seed)  # shared on purpose: both methods see the same noise keys
    config = ESConfig(population, mu, DECAY, DECAY_AFTER)
    start = es_init(START, SIGMA0)
    kwargs = dict(step=es_step, generations=generations, config=config)
    final, es = es_run(start, key, objective=noisy_sphere, **kwargs)  # es fields: (G, ...)
    # the same ES on the same sampling draws, without the noise: what σ alone allows
    _, clean = es_run(start, key, objective=sphere, **kwargs)  # (G, ...)
    _, (gd_losses, gd_positions) = gd_run(
        jnp.array(START), key, generations=generations, objective=noisy_sphere, lr=lr
    )  # (G,), (G, 2)
    # true losses in float64: squaring a float32 iterate near 1e-23 would underflow to 0
    es_true, gd_true, clean_true = (
        np.sum(np.asarray(p, np.float64) ** 2, axis=-1) for p in (es.mean, gd_positions, clean.mean)
    )  # (G,) each, without noise

    rows = [g for g in range(1, generations + 1) if g % REPORT_EVERY == 0 or g == generations]

    def history(losses, positions, true_losses) -> list[dict]:
        """Rows: the loss a generation saw, where it went, the true loss there."""
        losses, positions, true_losses = map(np.asarray, (losses, positions, true_losses))
        return [
            {
                "generation": g,
                "loss": float(losses[g - 1]),
                "position": positions[g - 1].tolist(),
                "true_loss": float(true_losses[g - 1]),
            }
            for g in rows
        ]

    es_history = history(es.best_loss, es.mean, es_true)
    gd_history = history(gd_losses, gd_positions, gd_true)

    # GD on the sphere has a closed form: x_t = x_0 · (1 − 2·lr)^t.
    t = np.arange(1, generations + 1)[:, None]  # (G, 1)
    closed = np.array(START) * (1 - 2 * lr) ** t  # (G, 2) in float64
    # relative error where x_t is a normal float32: below float32's smallest normal
    # number the iterate is subnormal or flushed to 0 (and with lr = 0.5 it is 0 exactly)
    dtype = np.asarray(gd_positions).dtype  # float32, or float64 under JAX_ENABLE_X64=1
    normal = np.abs(closed) >= np.finfo(dtype).tiny  # (G, 2)
    rel_error = np.where(
        normal,
        np.abs(np.asarray(gd_positions) - closed) / np.where(normal, np.abs(closed), 1.0),
        0.0,
    )  # (G, 2)
    sigmas = np.asarray(es.sigma)  # (G,) σ after each generation
    return {
        "dtype": str(dtype),
        "start": START,
        "start_loss": float(sphere(jnp.array(START))),
        "noise_std": NOISE_STD * float(np.sqrt(2)),
        "sigma0": SIGMA0,
        "decay": DECAY,
        "decay_after": DECAY_AFTER,
        "lr": lr,
        "population": population,
        "mu": mu,
        "weights": log_rank_weights(mu).tolist(),
        "es_sigma": [SIGMA0, *sigmas[:-1].tolist()],  # the σ each generation sampled with
        "clean_true_loss": clean_true.tolist(),  # noise-free ES, per generation
        "plateau": plateau(es_true, clean_true),
        "clean_final_true_loss": float(clean_true[-1]),
        "es_history": es_history,
        "gd_history": gd_history,
        "es_final": es_history[-1],
        "gd_final": gd_history[-1],
        "es_distance": float(jnp.linalg.norm(final.mean)),
        "gd_distance": float(jnp.linalg.norm(gd_positions[-1])),
        "es_final_sigma": float(final.sigma),
        "es_true_loss": es_true.tolist(),  # per generation, for the chart
        "gd_true_loss": gd_true.tolist(),
        "gd_factor": 1 - 2 * lr,
        "gd_closed_form_max_rel_error": float(rel_error.max()),
        "gd_underflow_generation": (
            int(np.argmin(normal.all(axis=1))) + 1 if not normal.all() else None
        ),  # first x_t below normal
        "es_evaluations": generations * population,
        "gd_evaluations": generations,
    }


def plateau(noisy, clean) -> dict | None:
    """Median true loss of the noisy and the noise-free ES over the generations
    PLATEAU_FROM + 1 .. DECAY_AFTER, where σ is still σ₀ and the mean has
    stopped falling; None for a run too short to have them."""
    last = min(DECAY_AFTER, len(noisy))
    if last <= PLATEAU_FROM:
        return None
    window = slice(PLATEAU_FROM, last)
    return {
        "generations": [PLATEAU_FROM + 1, last],
        "noisy_median": float(np.median(noisy[window])),
        "clean_median": float(np.median(clean[window])),
    }


def plateau_cause(p: dict) -> str:
    """Which one the σ₀ plateau is mostly made of: 'sigma' when the noise-free
    ES sits at least half as high as the noisy one, else 'noise'."""
    return "sigma" if p["clean_median"] >= 0.5 * p["noisy_median"] else "noise"


def _point(p) -> str:
    return "[" + ", ".join(f"{v:+.2e}" if abs(v) < 1e-3 else f"{v:+.3f}" for v in p) + "]"


def schedule(r: dict) -> str:
    """'σ₀ = 2 for generations 1–30, then × 0.95 each: 0.154 in generation 80'."""
    g, last = r["decay_after"], len(r["es_sigma"])
    text = f"σ₀ = {r['sigma0']:g} for generations 1–{min(g, last)}"
    if last > g:
        text += f", then × {r['decay']:g} each: {r['es_sigma'][-1]:.3g} in generation {last}"
    return text


def table_rows(rows: list, limit: int = MAX_ROWS) -> tuple[list, int]:
    """The rows to print (the first limit − 1 and the last) and how many are left out."""
    if len(rows) <= limit:
        return rows, 0
    return [*rows[: limit - 1], rows[-1]], len(rows) - limit


def report_setup(r: dict, console) -> None:
    console.print(
        f"Both start at {_point(r['start'])}, where f = {r['start_loss']:g}. Each evaluation "
        f"adds noise of std {r['noise_std']:.3f}. Gradient descent: lr = {r['lr']:g}. "
        f"ES: λ = {r['population']} points per generation, the μ = {r['mu']} best recombined "
        "with weights (best first) "
        + ", ".join(f"{w:.3f}" for w in r["weights"])
        + f"; {schedule(r)}. Arithmetic in {r['dtype']}.\n"
    )


def report_table(r: dict, console) -> None:
    last = r["es_history"][-1]["generation"]
    table = Table(
        title=f"Every {REPORT_EVERY} generations: what each method saw, where it went"
        if last >= REPORT_EVERY
        else f"Generation {last}: what each method saw, where it went",
        caption="loss: the noisy value seen in that generation (ES: best of its "
        "population; GD: at the point it stepped from)",
    )
    for col in ("gen", "ES loss", "ES mean", "GD loss", "GD position"):
        table.add_column(col, justify="right", no_wrap=True)
    pairs, hidden = table_rows(list(zip(r["es_history"], r["gd_history"])))
    for i, (es, gd) in enumerate(pairs):
        if hidden and i == len(pairs) - 1:
            table.add_row("…", f"{hidden:,} more", "", "", "")
        table.add_row(
            str(es["generation"]),
            f"{es['loss']:+.4f}",
            _point(es["position"]),
            f"{gd['loss']:+.4f}",
            _point(gd["position"]),
        )
    console.print(table)

    console.print("\nTrue loss x1² + x2² at the ES mean and at the GD iterate, per generation:")
    console.print(
        display.line_chart(
            {
                "ES mean": r["es_true_loss"],
                "ES without noise": r["clean_true_loss"],
                "gradient descent": r["gd_true_loss"],
            },
            log_y=True,
            x_label="generation",
            y_label="f without noise",
        )
    )


def report_gd(r: dict, console) -> None:
    gd = r["gd_final"]
    gd_factor = f"{r['gd_factor']:.10g}"
    factor = gd_factor if r["gd_factor"] >= 0 else f"({gd_factor})"
    where = (
        f"it is {r['gd_distance']:.2e} from the optimum (true loss {gd['true_loss']:.1e})"
        if r["gd_distance"] > 0
        else f"its {r['dtype']} iterate is exactly 0, the optimum (the chart leaves out the zeros)"
    )
    if r["gd_factor"] == 0:
        exact = "one step lands on the optimum"
    else:
        under = r["gd_underflow_generation"]
        exact = (
            f"its iterate matches x₀·{factor}^t to a relative "
            f"{r['gd_closed_form_max_rel_error']:.1e} ({r['dtype']}"
            + (
                f", up to step {under - 1}, where x₀·{factor}^t leaves {r['dtype']}'s normal range"
                if under
                else ""
            )
            + "), a straight line on the log chart"
        )
    console.print(
        f"\nGradient descent multiplies x by 1 − 2·lr = {gd_factor} each step, exactly: "
        f"{exact}. After {display.count(gd['generation'], 'step')} {where}."
    )


def report_es(r: dict, console) -> None:
    es, gd = r["es_final"], r["gd_final"]
    console.print(
        f"The ES never saw a gradient: {display.count(r['es_evaluations'], 'noisy evaluation')} "
        f"brought its mean to {r['es_distance']:.3f} from the optimum (true loss "
        f"{es['true_loss']:.1e}, final σ {r['es_final_sigma']:.3g}). Its curve is ragged: "
        "each mean is an average of random samples, ranked by noisy values."
    )
    if es["true_loss"] < r["noise_std"]:
        console.print(
            f"Its true loss is below the noise std ({r['noise_std']:.3f}): points that close "
            "differ by less than the noise, so ranking them is partly a coin toss."
            + (
                " The same noise hides GD's progress: its last reported loss is "
                f"{gd['loss']:+.3f}, its true loss {gd['true_loss']:.1e}."
                if gd["true_loss"] < r["noise_std"]
                else ""
            )
        )
    p = r["plateau"]
    if p is not None:
        lo, hi = p["generations"]
        shown = f"median true loss {p['clean_median']:.2g} against {p['noisy_median']:.2g}"
        if plateau_cause(p) == "sigma":
            why = (
                f"Most of the plateau in generations {lo}–{hi} is σ = {r['sigma0']:g}, not "
                f"the noise: the same ES on the same draws without noise sits at {shown} "
                "with it; samples that far apart cannot place the mean closer."
            )
        else:
            why = (
                f"The plateau in generations {lo}–{hi} is mostly the noise: the same ES on "
                f"the same draws without noise gets to {shown} with it."
            )
        console.print(why)
    clean_final = r["clean_final_true_loss"]
    console.print(
        f"Once σ has shrunk, the noise is what holds the ES back: at the last generation the "
        f"noise-free ES is at true loss {clean_final:.1e}, the noisy one at "
        f"{es['true_loss']:.1e}."
        if clean_final < es["true_loss"] and len(r["es_sigma"]) > r["decay_after"]
        else f"At the last generation the noise-free ES is at true loss {clean_final:.1e}, "
        f"the noisy one at {es['true_loss']:.1e}."
    )
    if r["gd_distance"] < r["es_distance"]:
        closer = (
            f"{r['es_distance'] / r['gd_distance']:.1e} times closer"
            if r["gd_distance"] > 0
            else "at the optimum itself"
        )
        console.print(
            f"With the exact gradient, descent ends {closer}, from "
            f"{display.count(r['gd_evaluations'], 'evaluation')} of f and its gradient against the "
            f"ES's {r['es_evaluations']:,} of f alone; the ES needs no gradient at all, which is "
            "its use."
        )
    else:
        console.print("In this run the ES ended closer to the optimum than gradient descent.")


def report(r: dict, console) -> None:
    report_setup(r, console)
    report_table(r, console)
    report_gd(r, console)
    report_es(r, console)


def gd_bullet(r: dict) -> str:
    """Where the exact gradient took descent."""
    steps = display.count(r["gd_final"]["generation"], "step")
    where = (
        f"ended {r['gd_distance']:.2e} from the optimum after {steps}"
        if r["gd_distance"] > 0
        else f"reached the optimum exactly within {steps}"
    )
    return (
        f"Gradient descent multiplied x by {r['gd_factor']:.10g} per step, exactly, and "
        f"{where}: noise never enters its steps."
    )


def es_bullet(r: dict) -> str:
    """Where the ES got without a gradient, against descent."""
    head = (
        f"The ES never saw a gradient: {display.count(r['es_evaluations'], 'noisy evaluation')} "
        f"brought its mean to {r['es_distance']:.3f} from the optimum"
    )
    if r["gd_distance"] < r["es_distance"]:
        return (
            f"{head}; descent got closer, but it needed "
            f"{display.count(r['gd_evaluations'], 'exact gradient')}."
        )
    if r["gd_distance"] == r["es_distance"]:
        return head + ", as close as gradient descent."
    return head + ", closer than gradient descent in this run."


def plateau_bullet(r: dict) -> str:
    """What held the ES back: its σ or the noise."""
    p, es = r["plateau"], r["es_final"]
    if p is not None:
        lo, hi = p["generations"]
        cause = f"σ = {r['sigma0']:g}" if plateau_cause(p) == "sigma" else "the noise"
        return (
            f"Its plateau in generations {lo}–{hi} was mostly {cause}: without noise the same "
            f"ES sat at true loss {p['clean_median']:.2g}, with it {p['noisy_median']:.2g}."
        )
    return (
        f"At the last generation the noise-free ES was at true loss "
        f"{r['clean_final_true_loss']:.1e}, the noisy one at {es['true_loss']:.1e}."
    )


def summary(r: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    return [gd_bullet(r), es_bullet(r), plateau_bullet(r)]


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
    results = run(args.seed, args.generations, args.population, args.mu, args.lr)
    cli.finish(
        args,
        __file__,
        results,
        report,
        kernels=(noisy_sphere, log_rank_weights, recombine, es_step, es_run, gd_run),
        title=__doc__,
        summary=summary,
    )


if __name__ == "__main__":
    cli.entry(main)
