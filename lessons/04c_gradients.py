"""Lesson 04c — what jax.grad computes.

One logistic loss of one point, three parameters: every node's value going
forward, the chain rule by hand going backward, and jax.grad, jax.vjp and
jax.jvp agreeing with it. Then finite differences, whose error falls and then
rises as the step h shrinks (look for the best h beside √ε and ε^(1/3)), why a
loss is one number, forward against reverse mode timed, and check_grads.

The computation is lesson 05's probe on a single point x = (1, 2) with label
y = 1 and θ = (w₁, w₂, b) = (0.5, −1, 0.25), chosen so that every input is
exact in binary and float32 and float64 evaluate the loss at the same point.
Everything runs in float32 except where float64 is named.

Run:  python lessons/04c_gradients.py [--size 1000] [--seed 0] [--json]
"""

from __future__ import annotations

import trinity_foundations.signals  # noqa: F401  (first: Ctrl-C while JAX loads ends in one line)

# isort: split
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trinity_foundations import cli, display, sections, timing
from trinity_foundations import gradients as gr
from trinity_foundations.probe import make_clusters

THETA = (0.5, -1.0, 0.25)  # (w₁, w₂, b), exact in binary
X, Y = (1.0, 2.0), 1.0
HS = tuple(10.0 ** (-k / 2) for k in range(2, 25))  # 1e-1 down to 1e-12, half-decade steps
DTYPES = ("float32", "float64")
SIZE, MAX_SIZE = 1000, 4096  # N of the wide and tall functions; jacfwd/jacrev build N × N
TALL_INPUTS = 4  # K: the tall function's few inputs
BATCH = 256  # points of lesson 05's clusters for the batch gradient
SHOWN_EXAMPLES = 3  # per-example gradients printed
BUDGET_MS = 100.0  # timing budget per call of the mode comparison
WARMUP_MS = 30.0  # warm-up per call before it is timed
SEED = 0


def inputs(dtype: str = "float32") -> tuple[jax.Array, jax.Array, jax.Array]:
    """θ (3,), x (2,) and y () of the lesson's one point, in `dtype`."""
    return jnp.array(THETA, dtype), jnp.array(X, dtype), jnp.array(Y, dtype)


# ----------------------------------------------------------------------------
# 1. The forward pass.


@dataclass(frozen=True)
class Forward:
    values: dict[str, float]  # every input and node, in forward order


FORWARD = jax.jit(gr.forward)


def compute_forward(done: dict) -> Forward:
    theta, x, y = inputs()
    nodes = FORWARD(theta, x, y)
    given = {"w1": THETA[0], "w2": THETA[1], "b": THETA[2], "x1": X[0], "x2": X[1], "y": Y}
    return Forward({**given, **{k: float(v) for k, v in nodes.items()}})


FORMULAS = {
    "u": "w·x = w₁x₁ + w₂x₂",
    "z": "u + b",
    "p": "σ(z) = 1 / (1 + e^−z)",
    "L": "−y log p − (1 − y) log(1 − p)",
}


def say_forward(r: Forward, console: Console) -> None:
    v = r.values
    console.print(
        f"Inputs: w = ({v['w1']:g}, {v['w2']:g}), b = {v['b']:g}, x = ({v['x1']:g}, "
        f"{v['x2']:g}), y = {v['y']:g}. Each node is computed from the ones above it:"
    )
    table = Table(box=None)
    for col, just in (("node", "left"), ("formula", "left"), ("value", "right")):
        table.add_column(col, justify=just)
    for node in gr.NODES:
        table.add_row(node, FORMULAS[node], f"{v[node]:.6f}")
    console.print(display.fit(table, console))
    right = v["p"] if v["y"] == 1 else 1 - v["p"]  # the probability given to the true class
    console.print(f"The model gives the true class probability {right:.4f}: {confidence(right)}.")


def confidence(p: float) -> str:
    """How the loss reads the probability p given to the true class."""
    if p >= 0.9:
        return "confident and right, so the loss is small"
    if p > 0.5:
        return "right but unsure, so the loss is moderate"
    return "wrong, so the loss is large and the gradient has work to do"


# ----------------------------------------------------------------------------
# 2. The backward pass by hand, and by JAX.


@dataclass(frozen=True)
class Backward:
    rows: tuple[dict, ...]  # node, local derivative, upstream adjoint, adjoint: L back to θ
    hand: tuple[float, ...]  # ∂L/∂θ from the table, (3,)
    grad: tuple[float, ...]  # jax.grad
    vjp: tuple[float, ...]  # jax.vjp's pullback of 1
    jvp: tuple[float, ...]  # one jax.jvp per basis direction eᵢ
    grad_max_diff: float  # max |hand − jax.grad|
    vjp_max_diff: float  # max |vjp − jax.grad|
    jvp_max_diff: float  # max |jvp − jax.grad|
    eps: float  # float32's machine epsilon


BACKWARD_STEPS = (  # node, its parent (whose adjoint flows in), the local derivative
    ("L", None, "seed: ∂L/∂L"),
    ("p", "L", "∂L/∂p = −y/p + (1−y)/(1−p)"),
    ("z", "p", "∂p/∂z = p(1 − p)"),
    ("u", "z", "∂z/∂u = 1"),
    ("b", "z", "∂z/∂b = 1"),
    ("w1", "u", "∂u/∂w₁ = x₁"),
    ("w2", "u", "∂u/∂w₂ = x₂"),
)


@jax.jit
def derivatives(theta: jax.Array, x: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """∂L/∂θ four ways, in one compiled call: the hand-written backward pass (its
    adjoints too), jax.grad, jax.vjp's pullback of 1, and one jax.jvp per eᵢ."""
    f = partial(gr.loss, x=x, y=y)
    _, pullback = jax.vjp(f, theta)
    eye = jnp.eye(theta.shape[0], dtype=theta.dtype)  # (3, 3): one forward pass per direction
    jvp = jnp.stack([jax.jvp(f, (theta,), (e,))[1] for e in eye])  # (3,)
    return {
        "adjoints": gr.backward(theta, x, y),
        "grad": jax.grad(f)(theta),  # (3,)
        "vjp": pullback(jnp.ones((), theta.dtype))[0],  # (3,)
        "jvp": jvp,
    }


def compute_backward(done: dict) -> Backward:
    out = jax.tree.map(np.asarray, derivatives(*inputs()))
    adj = {k: float(v) for k, v in out["adjoints"].items() if k != "theta"}
    # Each row's local factor, from the forward values (not from the adjoints):
    p = done["forward"].values["p"]
    local = {"L": 1.0, "p": -Y / p + (1 - Y) / (1 - p), "z": p * (1 - p)}
    local |= {"u": 1.0, "b": 1.0, "w1": X[0], "w2": X[1]}
    rows = tuple(
        {
            "node": node,
            "local": local[node],
            "upstream": 1.0 if parent is None else adj[parent],
            "adjoint": adj[node],
        }
        for node, parent, _ in BACKWARD_STEPS
    )
    hand, grad = np.array([adj["w1"], adj["w2"], adj["b"]]), out["grad"]
    return Backward(
        rows=rows,
        hand=tuple(hand.tolist()),
        grad=tuple(grad.tolist()),
        vjp=tuple(out["vjp"].tolist()),
        jvp=tuple(out["jvp"].tolist()),
        grad_max_diff=float(np.max(np.abs(hand - grad))),
        vjp_max_diff=float(np.max(np.abs(out["vjp"] - grad))),
        jvp_max_diff=float(np.max(np.abs(out["jvp"] - grad))),
        eps=float(np.finfo(np.float32).eps),
    )


def agreement(diff: float, eps: float, scale: float = 1.0) -> str:
    """Say what a difference between two ways of computing one number means."""
    if diff == 0.0:
        return "identical, to the last bit"
    if diff <= 100 * eps * max(scale, 1.0):
        return f"equal up to float32 rounding (largest difference {diff:.2g}, ε = {eps:.2g})"
    return f"different: largest difference {diff:.3g}, far above rounding (ε = {eps:.2g})"


def say_backward(r: Backward, console: Console) -> None:
    console.print(
        "Reverse mode starts at the loss with ∂L/∂L = 1 and walks back. Each node's adjoint "
        "∂L/∂node is the adjoint flowing in from the node it feeds (upstream) times the "
        "local derivative of that one step:"
    )
    table = Table(box=None)
    for col in ("node", "local derivative", "local", "upstream", "∂L/∂node"):
        table.add_column(col, justify="left" if col in ("node", "local derivative") else "right")
    for row, (_, _, formula) in zip(r.rows, BACKWARD_STEPS, strict=True):
        table.add_row(
            row["node"],
            formula,
            f"{row['local']:.6g}",
            f"{row['upstream']:.6g}",
            f"{row['adjoint']:.6g}",
        )
    console.print(display.fit(table, console))
    z_row = next(row for row in r.rows if row["node"] == "z")
    console.print(
        f"The two factors at z collapse into ∂L/∂z = p − y = {z_row['adjoint']:.6f}: "
        "the probe's error. Every parameter's slope is that error times what the parameter "
        "multiplied on the way forward (x₁, x₂, or 1 for b)."
    )
    table = Table(box=None)
    table.add_column("∂L/∂θ by", justify="left")
    for col in ("w₁", "w₂", "b"):
        table.add_column(col, justify="right")
    for name, values in (
        ("hand (the table)", r.hand),
        ("jax.grad", r.grad),
        ("jax.vjp, pullback(1)", r.vjp),
        (f"jax.jvp, {len(r.jvp)} passes", r.jvp),
    ):
        table.add_row(name, *(f"{v:.7f}" for v in values))
    console.print(display.fit(table, console))
    console.print(
        f"Hand against jax.grad: {agreement(r.grad_max_diff, r.eps)}. jax.grad is a "
        f"vjp with cotangent 1: {agreement(r.vjp_max_diff, r.eps)}. Forward mode needs one "
        f"jvp per parameter ({len(r.jvp)} here) and gives one slope each: "
        f"{agreement(r.jvp_max_diff, r.eps)}."
    )


# ----------------------------------------------------------------------------
# 3. Finite differences: the step h that is neither too big nor too small.


@dataclass(frozen=True)
class FiniteDifferences:
    hs: tuple[float, ...]
    errors: dict[str, dict[str, tuple[float, ...]]]  # dtype -> scheme -> max error per h
    best_h: dict[str, dict[str, float]]  # dtype -> scheme -> the h with the smallest error
    best_error: dict[str, dict[str, float]]
    guide_h: dict[str, dict[str, float]]  # dtype -> scheme -> √ε (one-sided), ε^(1/3) (central)
    fall_slope: dict[str, dict[str, float]]  # power of h while truncation dominates
    rise_slope: dict[str, dict[str, float]]  # power of h while rounding dominates
    eps: dict[str, float]
    vanished_h: dict[str, float]  # the largest h for which θ + h rounds back to θ (0: none)
    grad_scale: float  # max |∂L/∂θ|: the error of an estimate that came out 0


GUIDES = {"one_sided": 1 / 2, "central": 1 / 3}  # best h ≈ ε to this power
TRUNCATION_ORDER = {"one_sided": 1, "central": 2}


@jax.jit
def fd_all(theta, x, y, hs, exact) -> dict[str, jax.Array]:
    """Both schemes' errors, (H,) each, in one compiled call (per dtype)."""
    f = partial(gr.loss, x=x, y=y)
    return {s: gr.fd_errors(f, theta, hs, exact, scheme=s) for s in gr.SCHEMES}


def exact_gradient() -> np.ndarray:
    """∂L/∂θ = (σ(z) − y)·(x₁, x₂, 1) in float64, the closed form: (3,)."""
    z = THETA[0] * X[0] + THETA[1] * X[1] + THETA[2]
    return (1 / (1 + math.exp(-z)) - Y) * np.array([X[0], X[1], 1.0])


def compute_finite_differences(done: dict) -> FiniteDifferences:
    hs = np.array(HS)
    exact = exact_gradient()  # (3,), float64
    errors, best, best_err, guide, fall, rise, eps, vanished = {}, {}, {}, {}, {}, {}, {}, {}
    scale = float(np.max(np.abs(exact)))
    for dtype in DTYPES:
        with jax.enable_x64(dtype == "float64"):
            out = fd_all(*inputs(dtype), jnp.array(hs, dtype), jnp.array(exact, dtype))
            errors[dtype] = {s: tuple(np.asarray(e).tolist()) for s, e in out.items()}
        e = float(np.finfo(dtype).eps)
        eps[dtype] = e
        t = np.array(THETA, dtype)
        gone = [h for h in HS if np.all(t + np.asarray(h, dtype) == t)]
        vanished[dtype] = max(gone, default=0.0)
        best[dtype], best_err[dtype], guide[dtype] = {}, {}, {}
        fall[dtype], rise[dtype] = {}, {}
        for s, errs in errors[dtype].items():
            err = np.array(errs)
            h_best = gr.best_step(hs, err)
            best[dtype][s] = h_best
            best_err[dtype][s] = float(err.min())
            guide[dtype][s] = e ** GUIDES[s]
            big = hs >= 3 * h_best
            # Rounding side: up to three decades below the best, leaving out the
            # estimates that are no longer estimates (θ + h rounded back to θ).
            small = (hs <= h_best / 3) & (hs >= h_best / 3e3) & (err < 0.5 * scale)
            fall[dtype][s] = gr.log_slope(hs[big], err[big])
            rise[dtype][s] = gr.log_slope(hs[small], err[small])
    return FiniteDifferences(HS, errors, best, best_err, guide, fall, rise, eps, vanished, scale)


def factor_from(best: float, guide: float) -> str:
    """'2.1× above' / '3.5× below' / 'right at': where the best h sits against its guide."""
    ratio = best / guide
    if 1 / 1.05 <= ratio <= 1.05:
        return "right at"
    return f"{ratio:.1f}× above" if ratio > 1 else f"{1 / ratio:.1f}× below"


def slope_sentence(fall: float, rise: float, order: int) -> str:
    """What the fitted powers of h say about truncation and rounding."""
    if math.isnan(fall) or math.isnan(rise):
        return "too few steps on one side of the best to fit a slope"
    fell = "as theory says" if abs(fall - order) <= 0.4 else "not quite as theory says"
    rose = "as theory says" if -1.6 <= rise <= -0.4 else "noisier than theory's"
    return (
        f"falls like h^{fall:.1f} (truncation, theory h^{order}: {fell}), "
        f"rises like h^{rise:.1f} (rounding, theory h^−1: {rose})"
    )


SCHEME_NAMES = {"one_sided": "one-sided", "central": "central"}
GUIDE_NAMES = {"one_sided": "√ε", "central": "ε^(1/3)"}


def say_finite_differences(r: FiniteDifferences, console: Console) -> None:
    console.print(
        "Estimate each slope from loss values alone, (L(θ + h eᵢ) − L(θ)) / h (one-sided) "
        "or (L(θ + h eᵢ) − L(θ − h eᵢ)) / 2h (central), and compare with the exact "
        f"gradient, for {len(r.hs)} steps h from {r.hs[0]:g} to {r.hs[-1]:g}. "
        "The largest error over the three slopes:"
    )
    marks = {"float32": {"one_sided": "f32 1-sided", "central": "f32 central"},
             "float64": {"one_sided": "f64 1-sided", "central": "f64 central"}}  # fmt: skip
    points = {
        marks[d][s]: list(zip(r.hs, r.errors[d][s], strict=True))
        for d in reversed(DTYPES)  # float32 drawn last, over float64 where they coincide
        for s in gr.SCHEMES
    }
    width = display.chart_width(console, 12, most=56, least=20)
    console.print(
        display.loglog_scatter(points, height=12, width=width, x_label="h", y_label="error"),
        soft_wrap=False,
    )
    table = Table(box=None)
    for col in ("dtype", "scheme", "best h", "its error", "guide", "best h is"):
        table.add_column(col, justify="left" if col in ("dtype", "scheme") else "right")
    for d in DTYPES:
        for s in gr.SCHEMES:
            table.add_row(
                d,
                SCHEME_NAMES[s],
                f"{r.best_h[d][s]:.2g}",
                f"{r.best_error[d][s]:.2g}",
                f"{GUIDE_NAMES[s]} = {r.guide_h[d][s]:.2g}",
                factor_from(r.best_h[d][s], r.guide_h[d][s]),
            )
    console.print(display.fit(table, console))
    for d in DTYPES:
        for s in gr.SCHEMES:
            console.print(
                f"• {d} {SCHEME_NAMES[s]}: the error "
                + slope_sentence(r.fall_slope[d][s], r.rise_slope[d][s], TRUNCATION_ORDER[s])
                + "."
            )
    console.print(
        "A big h misses the curvature (truncation); a small h subtracts two nearly equal "
        "losses, each rounded to a relative ε, and divides their rounding by h. The two "
        "balance near √ε for one-sided steps and ε^(1/3) for central ones."
    )
    if r.vanished_h["float32"] > 0:
        console.print(
            f"From h = {r.vanished_h['float32']:.2g} down, θ + h rounds back to θ in float32: "
            f"the estimate is 0 and its error the whole slope, {r.grad_scale:.3g}."
        )
    f32, f64 = r.best_error["float32"]["central"], r.best_error["float64"]["central"]
    console.print(
        f"Even at its best h a finite difference keeps an error ({f32:.2g} in float32, "
        f"{f64:.2g} in float64): a check on a gradient, never a replacement for one."
    )


# ----------------------------------------------------------------------------
# 4. Why the loss is a scalar, and the Jacobian when it is not.


@dataclass(frozen=True)
class Scalar:
    error_class: str  # what jax.grad raised on a vector output
    error_message: str  # its first line
    jacobian: tuple[tuple[float, ...], ...]  # jacrev, (n, 3)
    jac_max_diff: float  # max |jacrev − jacfwd|
    closed_form_max_diff: float  # max |jacrev − p(1 − p)(x, 1)|
    eps: float


VECTOR_POINTS = 3  # points whose probabilities make the vector output


@jax.jit
def jacobians(theta: jax.Array, xs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Jacobian of the n probabilities in θ by jacrev and by jacfwd, (n, 3) each."""
    return jax.jacrev(gr.probabilities)(theta, xs), jax.jacfwd(gr.probabilities)(theta, xs)


def compute_scalar(done: dict, *, seed: int) -> Scalar:
    theta = inputs()[0]
    xs = make_clusters(jax.random.key(seed), BATCH)[0][:VECTOR_POINTS]  # (n, 2)
    try:
        jax.grad(gr.probabilities)(theta, xs)  # refused while tracing: nothing is computed
        error_class, message = "", ""
    except TypeError as error:  # jax.grad refuses a non-scalar output
        error_class, message = type(error).__name__, str(error).strip().splitlines()[0]
    rev, fwd = (np.asarray(j) for j in jacobians(theta, xs))  # (n, 3) each
    xs1 = np.c_[np.asarray(xs, dtype=float), np.ones(VECTOR_POINTS)]  # (n, 3), float64
    p = 1 / (1 + np.exp(-(xs1 @ np.array(THETA))))  # (n,)
    closed = (p * (1 - p))[:, None] * xs1  # (n, 3)
    return Scalar(
        error_class,
        message,
        tuple(tuple(row) for row in rev.tolist()),
        float(np.max(np.abs(rev - fwd))),
        float(np.max(np.abs(rev - closed))),
        float(np.finfo(np.float32).eps),
    )


def say_scalar(r: Scalar, console: Console) -> None:
    n = len(r.jacobian)
    refused = (
        f"jax.grad raised {r.error_class}: “{escape(r.error_message)}”."
        if r.error_class
        else "jax.grad did not refuse it."
    )
    console.print(
        f"Ask jax.grad for the slope of the {n} probabilities of {n} points, a vector: " + refused
    )
    console.print(
        "A gradient answers “how does this one number move when each parameter moves?”. "
        f"A vector output has {n} such answers: a Jacobian, one row per output, which "
        "jax.jacrev builds from reverse passes (one per row) and jax.jacfwd from forward "
        "passes (one per column):"
    )
    rows = [f"p{i + 1}" for i in range(n)]
    console.print(
        display.fit(
            display.matrix_table("jax.jacrev", r.jacobian, rows=rows, cols=["w₁", "w₂", "b"]),
            console,
        )
    )
    console.print(
        f"jacrev against jacfwd: {agreement(r.jac_max_diff, r.eps)}; against the closed "
        f"form p(1 − p)·(x₁, x₂, 1): {agreement(r.closed_form_max_diff, r.eps)}. A "
        "training loss reduces its outputs to one number (the mean) so that one reverse "
        "pass is enough."
    )


# ----------------------------------------------------------------------------
# 5. Forward against reverse mode: which is cheaper depends on the shape.


@dataclass(frozen=True)
class Modes:
    size: int  # N
    inputs: dict[str, int]  # shape name -> inputs of the function
    outputs: dict[str, int]
    jacfwd_ms: dict[str, float]  # shape name -> median ms
    jacrev_ms: dict[str, float]
    compile_ms: dict[str, dict[str, float]]  # mode -> shape -> compile ms
    ratio_rounds: dict[str, tuple[float, ...]]  # shape -> jacfwd/jacrev, round by round
    max_diff: dict[str, float]  # shape -> max |jacfwd − jacrev|


@partial(jax.jit, static_argnames="size")
def mode_inputs(key: jax.Array, size: int) -> dict[str, tuple[jax.Array, jax.Array]]:
    """The wide function's (x (N,), a (N,)) and the tall one's (x (K,), M (N, K))."""
    k_a, k_x, k_m, k_t = jax.random.split(key, 4)
    a = jax.random.normal(k_a, (size,)) / math.sqrt(size)  # (N,)
    x = jax.random.normal(k_x, (size,))  # (N,)
    m = jax.random.normal(k_m, (size, TALL_INPUTS)) / math.sqrt(TALL_INPUTS)  # (N, K)
    xt = jax.random.normal(k_t, (TALL_INPUTS,))  # (K,)
    return {"wide": (x, a), "tall": (xt, m)}


JACOBIANS = {  # (mode, shape) -> the jitted Jacobian, one object per process (compiled once)
    (mode, shape): jax.jit(transform(fn))
    for mode, transform in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev))
    for shape, fn in (("wide", gr.wide), ("tall", gr.tall))
}


def compute_modes(done: dict, *, size: int, seed: int) -> Modes:
    shapes = mode_inputs(jax.random.key(seed), size)
    calls, compile_ms, diff = {}, {"jacfwd": {}, "jacrev": {}}, {}
    for shape, args in shapes.items():
        outs = {}
        for mode in ("jacfwd", "jacrev"):
            # Lowered and compiled apart from the timed calls (once per process and size).
            stages = timing.compile_once(JACOBIANS[mode, shape], *args)
            compile_ms[mode][shape] = stages.lower_ms + stages.compile_ms
            calls[f"{mode} {shape}"] = (stages.compiled, args, True)
            outs[mode] = np.asarray(stages.compiled(*args))
        diff[shape] = float(np.max(np.abs(outs["jacfwd"] - outs["jacrev"])))
    t = timing.time_side_by_side(calls, BUDGET_MS, warmup_ms=WARMUP_MS)
    return Modes(
        size=size,
        inputs={"wide": size, "tall": TALL_INPUTS},
        outputs={"wide": 1, "tall": size},
        jacfwd_ms={s: t[f"jacfwd {s}"].median_ms for s in shapes},
        jacrev_ms={s: t[f"jacrev {s}"].median_ms for s in shapes},
        compile_ms=compile_ms,
        ratio_rounds={
            s: tuple(timing.round_ratios(t[f"jacfwd {s}"], t[f"jacrev {s}"])) for s in shapes
        },
        max_diff=diff,
    )


CLOSE = 1.1  # medians closer than this factor make no winner


def mode_verdict(fwd_ms: float, rev_ms: float, rounds: tuple[float, ...]) -> str:
    """Which mode won, from the median times and the per-round ratios jacfwd/jacrev."""
    if rounds and min(rounds) < 1 < max(rounds):
        return (
            f"too noisy to call: the rounds disagree (jacfwd/jacrev from {min(rounds):.2g} "
            f"to {max(rounds):.2g})"
        )
    if max(fwd_ms, rev_ms) < CLOSE * min(fwd_ms, rev_ms):
        return f"neither wins: the two medians are within {CLOSE - 1:.0%} of each other"
    if fwd_ms < rev_ms:
        return f"forward mode wins, {rev_ms / fwd_ms:.1f}× faster"
    return f"reverse mode wins, {fwd_ms / rev_ms:.1f}× faster"


def expected_winner(inputs_: int, outputs: int) -> str:
    """The mode the pass counts favour: forward needs one pass per input, reverse
    one per output."""
    if inputs_ == outputs:
        return "neither"
    return "forward" if inputs_ < outputs else "reverse"


def spread_note(rounds: tuple[float, ...]) -> str:
    """' (rounds from a to b)' when the rounds differ by more than timing.SPREAD, else ''."""
    spread = timing.spread(list(rounds))
    return "" if spread is None else f" (rounds from {spread[0]:.2g} to {spread[1]:.2g})"


def say_modes(r: Modes, console: Console) -> None:
    console.print(
        f"The full Jacobian of a wide function, tanh(a·x) with "
        f"{display.count(r.inputs['wide'], 'input')} and one output, and of a tall one, "
        f"tanh(M x) with {display.count(r.inputs['tall'], 'input')} and "
        f"{display.count(r.outputs['tall'], 'output')}. jacfwd makes one forward pass per "
        "input, jacrev one reverse pass per output. Each compiled apart, then timed side by "
        "side (medians of interleaved rounds):"
    )
    table = Table(box=None)
    for col in ("function", "in → out", "jacfwd", "jacrev", "jacfwd / jacrev"):
        table.add_column(col, justify="left" if col == "function" else "right")
    for s in ("wide", "tall"):
        ratio = r.jacfwd_ms[s] / r.jacrev_ms[s]
        table.add_row(
            s,
            f"{r.inputs[s]:,} → {r.outputs[s]:,}",
            f"{r.jacfwd_ms[s]:.3g} ms",
            f"{r.jacrev_ms[s]:.3g} ms",
            f"{ratio:.3g}{spread_note(r.ratio_rounds[s])}",
        )
    console.print(display.fit(table, console))
    for s in ("wide", "tall"):
        expected = expected_winner(r.inputs[s], r.outputs[s])
        verdict = mode_verdict(r.jacfwd_ms[s], r.jacrev_ms[s], r.ratio_rounds[s])
        console.print(f"• {s.capitalize()}: {verdict}; the pass counts favour {expected} mode.")
    w_in, t_in, t_out = r.inputs["wide"], r.inputs["tall"], r.outputs["tall"]
    console.print(
        f"The pass counts differ {w_in:,} to 1 (wide) and {t_out:,} to {t_in} (tall). "
        "jacfwd and jacrev batch their passes with vmap into a few array operations, and "
        "every call pays a fixed cost, so measured factors are usually smaller than that."
    )
    compile_all = [ms for by in r.compile_ms.values() for ms in by.values()]
    console.print(
        f"Compiling each took {display.span(compile_all, 0)} ms, kept out of these times. "
        f"Both modes give the same Jacobian (largest difference {max(r.max_diff.values()):.2g})."
        " A loss has millions of inputs and one output: the wide shape, which is why "
        "training runs reverse mode."
    )


# ----------------------------------------------------------------------------
# 6. Everyday tools: value_and_grad, a batch's gradient, check_grads.


@dataclass(frozen=True)
class Batch:
    batch: int
    value: float  # the mean loss, from jax.value_and_grad
    grad: tuple[float, ...]  # its gradient, (3,)
    value_and_grad_max_diff: float  # against loss() and jax.grad() called apart
    first_examples: tuple[tuple[float, ...], ...]  # per-example gradients, the first few
    per_example_mean: tuple[float, ...]  # their mean, (3,)
    per_example_mean_max_diff: float  # max |mean of per-example grads − grad of mean loss|
    closed_form_max_diff: float  # max |grad − mean((p − y)(x, 1)) in float64|
    eps: float


@jax.jit
def batch_gradients(theta, xs, ys) -> dict[str, jax.Array]:
    """value_and_grad of the mean loss, the two called apart, and the per-example
    gradients: xs (B, 2), ys (B,)."""
    value, grad = jax.value_and_grad(gr.batch_loss)(theta, xs, ys)  # (), (3,)
    return {
        "value": value,
        "grad": grad,
        "loss_apart": gr.batch_loss(theta, xs, ys),  # ()
        "grad_apart": jax.grad(gr.batch_loss)(theta, xs, ys),  # (3,)
        "per_example": jax.vmap(jax.grad(gr.loss), in_axes=(None, 0, 0))(theta, xs, ys),  # (B, 3)
    }


def compute_batch(done: dict, *, seed: int) -> Batch:
    theta = inputs()[0]
    xs, ys = make_clusters(jax.random.key(seed), BATCH)  # (B, 2), (B, 1)
    out = jax.tree.map(np.asarray, batch_gradients(theta, xs, ys[:, 0]))
    grad_np, per_example = out["grad"], out["per_example"]
    apart = max(
        abs(float(out["loss_apart"]) - float(out["value"])),
        float(np.max(np.abs(out["grad_apart"] - grad_np))),
    )
    mean = per_example.mean(axis=0, dtype=np.float32)  # (3,), as a float32 program would
    xs1 = np.c_[np.asarray(xs, dtype=float), np.ones(BATCH)]  # (B, 3), float64
    p = 1 / (1 + np.exp(-(xs1 @ np.array(THETA))))  # (B,)
    closed = np.mean((p - np.asarray(ys[:, 0], dtype=float))[:, None] * xs1, axis=0)  # (3,)
    return Batch(
        batch=BATCH,
        value=float(out["value"]),
        grad=tuple(grad_np.tolist()),
        value_and_grad_max_diff=apart,
        first_examples=tuple(tuple(r) for r in per_example[:SHOWN_EXAMPLES].tolist()),
        per_example_mean=tuple(mean.tolist()),
        per_example_mean_max_diff=float(np.max(np.abs(mean - grad_np))),
        closed_form_max_diff=float(np.max(np.abs(grad_np - closed))),
        eps=float(np.finfo(np.float32).eps),
    )


def say_batch(r: Batch, console: Console) -> None:
    g = display.vector(r.grad, "{:.6f}")
    console.print(
        f"jax.value_and_grad gives the loss and its gradient from one forward and one "
        f"backward pass. On {r.batch} points of lesson 05's clusters, mean loss "
        f"{r.value:.6f}, gradient {g}; loss and grad called apart: "
        f"{agreement(r.value_and_grad_max_diff, r.eps)}."
    )
    rows = [f"example {i + 1}" for i in range(len(r.first_examples))] + [
        f"… {r.batch - len(r.first_examples)} more",
        "mean of all",
    ]
    values = [*r.first_examples, (math.nan,) * 3, r.per_example_mean]
    table = Table(box=None)
    table.add_column("jax.vmap(jax.grad(loss))")
    for col in ("w₁", "w₂", "b"):
        table.add_column(col, justify="right")
    for name, row in zip(rows, values, strict=True):
        table.add_row(name, *("" if math.isnan(v) else f"{v:.6f}" for v in row))
    console.print(display.fit(table, console))
    console.print(
        "The gradient of a mean is the mean of the gradients: the per-example mean "
        f"against jax.grad of the mean loss, {agreement(r.per_example_mean_max_diff, r.eps)}; "
        f"against the closed form mean((p − y)(x₁, x₂, 1)) in float64, "
        f"{agreement(r.closed_form_max_diff, r.eps)}."
    )


@dataclass(frozen=True)
class Checks:
    jax_passed: bool  # check_grads on the loss JAX differentiates
    hand_passed: bool  # on the loss with the table's backward pass as its custom_vjp
    buggy_passed: bool  # on the loss with σ'(z) left out of the backward pass
    buggy_message: str  # the first line of what check_grads raised
    buggy_grad: tuple[float, ...]  # the wrong gradient, (3,)


def passes(f, theta, **kwargs) -> tuple[bool, str]:
    """(whether jax.test_util.check_grads accepts f at theta, the first line of its complaint)."""
    try:
        check_grads(f, (theta,), **kwargs)
    except AssertionError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        return False, lines[0] if lines else "AssertionError"
    return True, ""


CHECKED = {  # jitted once per process, so a second run compiles nothing again
    "jax": jax.jit(gr.loss),
    "hand": jax.jit(gr.with_backward(lambda t, x, y: gr.backward(t, x, y)["theta"])),
    "buggy": jax.jit(gr.with_backward(gr.backward_forgetting_sigmoid)),
    "buggy_grad": jax.jit(gr.backward_forgetting_sigmoid),
}


def compute_checks(done: dict) -> Checks:
    # float64, so that check_grads' tolerances are tight enough to mean something.
    with jax.enable_x64(True):
        theta, x, y = inputs("float64")
        f = {name: partial(CHECKED[name], x=x, y=y) for name in ("jax", "hand", "buggy")}
        plain_ok, _ = passes(f["jax"], theta, order=1, modes=("fwd", "rev"))
        hand_ok, _ = passes(f["hand"], theta, order=1, modes=("rev",))  # custom_vjp: rev only
        bug_ok, message = passes(f["buggy"], theta, order=1, modes=("rev",))
        wrong = tuple(np.asarray(CHECKED["buggy_grad"](theta, x, y)).tolist())
    return Checks(plain_ok, hand_ok, bug_ok, message, wrong)


def check_word(passed: bool) -> str:
    return "passes" if passed else "FAILS"


def say_checks(r: Checks, console: Console) -> None:
    console.print(
        "jax.test_util.check_grads compares a function's jvp and vjp with finite "
        "differences at a few random directions (in float64 here, where its tolerances "
        "are tight):"
    )
    console.print(f"• the loss as JAX differentiates it: {check_word(r.jax_passed)}")
    console.print(
        f"• the loss with the table's backward pass as its jax.custom_vjp: "
        f"{check_word(r.hand_passed)}"
    )
    bug = display.vector(r.buggy_grad, "{:.4f}")
    console.print(
        f"• the same with σ'(z) = p(1 − p) forgotten (gradient {bug}): "
        f"{check_word(r.buggy_passed)}"
        + (f", “{escape(r.buggy_message)}”" if r.buggy_message else "")
    )
    console.print(
        "Write a backward pass by hand only with a check like this beside it."
        if r.hand_passed and not r.buggy_passed
        else "check_grads did not tell the right backward pass from the wrong one here."
    )


# ----------------------------------------------------------------------------
# The lesson.


def build(args) -> list[sections.Section]:
    S = sections.Section
    return [
        S("forward", compute_forward, say_forward, title="1. Forward: every node's value"),
        S("backward", compute_backward, say_backward, title="2. Backward: the chain rule by hand"),
        S(
            "finite_differences",
            compute_finite_differences,
            say_finite_differences,
            title="3. Finite differences: which h?",
            doing="finite differences in float32 and float64",
        ),
        S(
            "scalar",
            partial(compute_scalar, seed=args.seed),
            say_scalar,
            title="4. Why the loss is one number",
        ),
        S(
            "modes",
            partial(compute_modes, size=args.size, seed=args.seed),
            say_modes,
            title="5. Forward or reverse mode?",
            doing="compiling and timing jacfwd and jacrev",
        ),
        S(
            "batch",
            partial(compute_batch, seed=args.seed),
            say_batch,
            title="6. A batch: vmap(grad)",
        ),
        S(
            "checks",
            compute_checks,
            say_checks,
            title="7. Checking a gradient: check_grads",
            doing="check_grads in float64",
        ),
    ]


def results(done: dict) -> dict:
    """The --json results: the flat keys of the lesson's contract, then each section whole."""
    fd, modes = done["finite_differences"], done["modes"]
    return {
        "forward_values": done["forward"].values,
        "backward_table": list(done["backward"].rows),
        "grad_max_diff": done["backward"].grad_max_diff,
        "fd_h": list(fd.hs),
        "fd_errors": fd.errors,
        "best_h": fd.best_h,
        "jacfwd_ms": modes.jacfwd_ms,
        "jacrev_ms": modes.jacrev_ms,
        "per_example_mean_max_diff": done["batch"].per_example_mean_max_diff,
        **{name: done[name] for name in ("backward", "finite_differences", "scalar", "modes")},
        **{name: done[name] for name in ("batch", "checks")},
    }


def summary(done: dict) -> list[str]:
    """The three bullets of "What you saw", from the results."""
    b, fd, m = done["backward"], done["finite_differences"], done["modes"]
    hand = display.vector(b.hand, "{:.4f}")
    first = (
        f"The chain rule by hand, node by node from L back to θ, gave ∂L/∂θ = {hand}; "
        f"jax.grad, jax.vjp and jax.jvp gave the same numbers "
        f"(largest difference {max(b.grad_max_diff, b.vjp_max_diff, b.jvp_max_diff):.2g})."
    )
    h = fd.best_h
    second = (
        f"Finite differences were most accurate at h ≈ {h['float32']['one_sided']:.2g} "
        f"(float32, one-sided; √ε = {fd.guide_h['float32']['one_sided']:.2g}) and "
        f"{h['float64']['central']:.2g} (float64, central; ε^(1/3) = "
        f"{fd.guide_h['float64']['central']:.2g}); smaller steps drown in rounding."
    )
    third = (
        f"Wide ({m.inputs['wide']:,} → 1): "
        f"{mode_verdict(m.jacfwd_ms['wide'], m.jacrev_ms['wide'], m.ratio_rounds['wide'])}; "
        f"tall ({m.inputs['tall']} → {m.outputs['tall']:,}): "
        f"{mode_verdict(m.jacfwd_ms['tall'], m.jacrev_ms['tall'], m.ratio_rounds['tall'])}."
    )
    return [first, second, third]


KERNELS = (
    gr.forward,
    gr.backward,
    gr.one_sided,
    gr.central,
    gr.fd_errors,
    gr.with_backward,
    gr.wide,
    gr.tall,
    gr.batch_loss,
)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__, seed=SEED)
    parser.add_argument(
        "--size",
        type=cli.int_in(1, MAX_SIZE, "memory and time: jacfwd and jacrev build N × N"),
        default=SIZE,
        help=f"N, the wide function's inputs and the tall one's outputs, 1 to {MAX_SIZE:,} "
        "(default: %(default)s)",
    )
    args = parser.parse_args(argv)
    sections.run(
        args,
        __file__,
        __doc__,
        build(args),
        summary=summary,
        results=results,
        kernels=KERNELS,
    )


if __name__ == "__main__":
    cli.entry(main)
