"""The checks behind `python -m trinity_foundations.practice`, one block per exercise.

Each block registers one exercise of practice/NN_name.py: the stub's
signature and docstring, its difficulty, two graded hints, the reference
(the package's kernel, or a few lines here where the package has no kernel
of that exact signature) and a check. A check takes the learner's function
and raises `NotDone` or `Failed` (see `practice`); it starts with a golden
value, so an untouched stub is found at once, then draws inputs with
hypothesis, tests the lesson's properties, jax.jit, gradients and budgets.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from trinity_foundations import (
    adaptation,
    attention,
    baselines,
    decoding,
    dynamics,
    evolution,
    geometry,
    gradients,
    kernels,
    language,
    lowrank,
    moe,
    positions,
    roofline,
    stats,
    tokenizers,
    training,
    transformer,
    trinity,
)
from trinity_foundations.catalogue import STEMS
from trinity_foundations.practice import (
    Args,
    Exercise,
    Failed,
    HostArgs,
    agree,
    call,
    difference,
    expect,
    holds,
    search,
    within_budget,
)

REGISTRY: list[Exercise] = []

# package kernels that are not jitted themselves, jitted once here for the checks
SOFTMAX = jax.jit(attention.softmax, static_argnames="axis")
RECOMBINE = jax.jit(evolution.recombine)
ROSENBROCK = jax.jit(evolution.rosenbrock)
BEST_INDICES = jax.jit(evolution.best_indices, static_argnames="mu")
LEARNING_RATE = jax.jit(training.learning_rate)
GLOBAL_NORM = jax.jit(training.global_norm)
CENTRAL = jax.jit(gradients.central, static_argnums=0)
SOFTMAX_JACOBIAN = jax.jit(jax.jacobian(attention.softmax))


def exercise(lesson, name, signature, *, difficulty, teaches, reference, doc, hints, solution=None):
    """Register the decorated check as exercise `name` of `lesson`."""
    assert lesson in STEMS, lesson

    def wrap(check: Callable[[Callable], None]):
        REGISTRY.append(
            Exercise(
                lesson=lesson,
                name=name,
                signature=signature,
                doc=textwrap.dedent(doc).strip(),
                difficulty=difficulty,
                teaches=teaches,
                reference=reference,
                solution=solution if solution is not None else reference,
                hints=(textwrap.dedent(hints[0]).strip(), textwrap.dedent(hints[1]).strip()),
                check=check,
            )
        )
        return check

    return wrap


def ordered() -> tuple[Exercise, ...]:
    """The exercises in course order; within a lesson, in the order written here."""
    return tuple(sorted(REGISTRY, key=lambda e: STEMS.index(e.lesson)))


# ----------------------------------------------------------------------------
# Strategies: a few shapes only, so jitted references compile once per shape.

F32 = np.float32


def floats(lo: float = -10.0, hi: float = 10.0):
    lo, hi = float(np.float32(lo)), float(np.float32(hi))  # representable bounds
    return st.floats(lo, hi, width=32, allow_subnormal=False)


HUGE = st.sampled_from([1e4, -1e4])


def arrays(shape, elements=None):
    """float32 NumPy arrays of `shape` (a tuple or a strategy of tuples)."""
    return hnp.arrays(F32, shape, elements=elements if elements is not None else floats())


def np_softmax(x: np.ndarray) -> np.ndarray:
    """softmax over the last axis in NumPy (float32): drawing inputs should not compile."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(F32)


def rng_array(*shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(F32)


def jitted(fn: Callable, **static) -> Callable:
    """fn under jax.jit, with keyword arguments fixed (they are Python values)."""
    return jax.jit(functools.partial(fn, **static))


def same_under_jit(fn, ref, args: Args, *, rtol=1e-5, atol=1e-6, **static):
    """jax.jit(fn) gives the kernel's answer: the code traces (no Python if on values)."""
    expect(
        jitted(fn, **static),
        args,
        args.call(functools.partial(ref, **static)),
        "works under jax.jit (no Python if or float() on array values)",
        rtol=rtol,
        atol=atol,
    )


def same_gradient(fn, ref, x: np.ndarray, *, rtol=1e-4, atol=1e-5, **static):
    """The gradient of a weighted sum of fn's output matches the kernel's."""
    w = rng_array(*np.shape(ref(jnp.asarray(x), **static)), seed=7)

    def loss(f):
        return lambda x_: jnp.sum(jnp.asarray(f(x_, **static)) * w)

    want = jax.jit(jax.grad(loss(ref)))(jnp.asarray(x))
    grad = jax.jit(jax.grad(loss(fn)))  # one compile, not one per primitive
    expect(grad, Args(x), want, "has the kernel's gradient", rtol=rtol, atol=atol)


# ============================================================================
# 01_list_math


@exercise(
    "01_list_math",
    "list_multiply",
    "(a, b)",
    difficulty=1,
    teaches="element-wise work in plain Python: one loop step and one new float per element",
    reference=baselines.list_multiply,
    doc="""
    The element-wise product of two lists of floats, as a new list.

    Args:
      a, b: lists of N Python floats each.
    Returns:
      a list of N floats, a[i] * b[i]; a and b are left unchanged.
    """,
    hints=(
        "Walk the two lists side by side (zip) and collect each product.",
        """
        def list_multiply(a, b):
            return [... for x, y in zip(a, b)]
        """,
    ),
)
def _check_list_multiply(fn):
    got = expect(fn, Args([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]), [4.0, 10.0, 18.0], "golden value")
    holds(isinstance(got, list), "returns a list", expected="list", got=type(got).__name__)
    lists = st.integers(0, 8).flatmap(
        lambda n: st.tuples(*[st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n)] * 2)
    )
    agree(fn, baselines.list_multiply, lists.map(lambda ab: Args(list(ab[0]), list(ab[1]))))
    a, b = [1.0, 2.0], [3.0, 4.0]
    call(fn, Args(a, b), "leaves its inputs unchanged")
    holds(a == [1.0, 2.0] and b == [3.0, 4.0], "leaves its inputs unchanged", got=(a, b))


def sum_of_squares(n: int) -> int:
    """1² + 2² + … + n² = n(n + 1)(2n + 1)/6, exactly, as a Python int."""
    return n * (n + 1) * (2 * n + 1) // 6


@exercise(
    "01_list_math",
    "sum_of_squares",
    "(n)",
    difficulty=1,
    teaches="the closed form the lesson checks its float sum against, in exact integers",
    reference=sum_of_squares,
    doc="""
    1² + 2² + … + n², the sum of the products the lesson multiplies, exactly.

    Use the closed form n(n + 1)(2n + 1)/6 rather than a loop, and keep it
    an exact Python int: a float cannot hold every integer past 2**53.

    Args:
      n: an int >= 0 (up to 10**15 and beyond).
    Returns:
      an int.
    """,
    hints=(
        "The product n(n+1)(2n+1) is always divisible by 6: integer division // is exact.",
        """
        def sum_of_squares(n):
            return n * (n + 1) * (2 * n + 1) ... 6
        """,
    ),
)
def _check_sum_of_squares(fn):
    expect(fn, Args(3), 14, "golden value: 1 + 4 + 9")
    big = 10**6

    def bad(args):
        got = call(fn, args, "exact for every n")
        want = sum_of_squares(args.args[0])
        if not isinstance(got, int) or got != want:
            raise Failed("exact, as an int, for every n", inputs=args, expected=want, got=got)

    search(st.integers(0, 10**16).map(Args), bad, "exact, as an int, for every n")
    bad(Args(big))


# ============================================================================
# 02_tensor_math


def to_device(values):
    """A list of floats as a float32 jax.Array on the default device."""
    return jnp.asarray(values, dtype=jnp.float32)  # (N,)


@exercise(
    "02_tensor_math",
    "to_device",
    "(values)",
    difficulty=1,
    teaches="from a Python list to one contiguous float32 block on the device",
    reference=to_device,
    doc="""
    A list of Python floats as a jax.Array of dtype float32.

    Args:
      values: a list of N floats.
    Returns:
      (N,) float32 jax.Array with the same numbers (rounded to float32).
    """,
    hints=(
        "jnp.asarray takes a list and a dtype; NumPy would give float64 on the host.",
        """
        def to_device(values):
            return jnp.asarray(values, dtype=...)
        """,
    ),
)
def _check_to_device(fn):
    got = expect(fn, Args([1.0, 2.5, -3.0]), np.array([1.0, 2.5, -3.0]), "golden value")
    holds(isinstance(got, jax.Array), "returns a jax.Array (not NumPy)", got=type(got).__name__)
    holds(got.dtype == jnp.float32, "dtype float32", expected="float32", got=str(got.dtype))
    lists = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=6).map(Args)
    agree(fn, to_device, lists)


@exercise(
    "02_tensor_math",
    "multiply",
    "(a, b)",
    difficulty=1,
    teaches="one vectorised operation instead of a Python loop over the elements",
    reference=jnp.multiply,
    solution=to_device,
    doc="""
    The element-wise product of two float32 arrays, without a Python loop.

    Args:
      a, b: (N,) float32 jax.Arrays.
    Returns:
      (N,) float32, a * b. Checked with a time budget: 10**5 elements in
      a quarter of a second, which no Python loop meets.
    """,
    hints=(
        "One jnp operation does the whole array; a Python loop over a jax.Array is slow.",
        """
        def multiply(a, b):
            return ...  # one jnp call or one operator
        """,
    ),
)
def _check_multiply(fn):
    expect(fn, Args(np.array([1, 2, 3], F32), np.array([4, 5, 6], F32)), [4, 10, 18], "golden")
    pairs = st.sampled_from([1, 4, 9]).flatmap(lambda n: st.tuples(arrays(n), arrays(n)))
    agree(fn, jnp.multiply, pairs.map(lambda ab: Args(*ab)))
    same_under_jit(fn, jnp.multiply, Args(rng_array(5), rng_array(5, seed=1)))
    n = 10**5
    big = Args(np.ones(n, F32), np.full(n, 2.0, F32))
    got = call(fn, big, "multiplies 10**5 elements")
    holds(got.dtype == jnp.float32, "keeps float32", expected="float32", got=str(got.dtype))
    within_budget(fn, big, 0.25, "vectorised: 10**5 elements within 0.25 s (no Python loop)")


# ============================================================================
# 03_compiler


@jax.jit
def square_add(a, b):
    """a**2 + b element-wise."""
    return a**2 + b


@exercise(
    "03_compiler",
    "square_add",
    "(a, b)",
    difficulty=1,
    teaches="the function the lesson hands to jax.jit, fused into one loop",
    reference=square_add,
    doc="""
    a**2 + b element-wise: the function the lesson traces and compiles.

    Args:
      a, b: (N,) float32 arrays.
    Returns:
      (N,) float32. It must work under jax.jit and be differentiable.
    """,
    hints=(
        "Two array operations; no loop, no conversion to Python floats.",
        """
        def square_add(a, b):
            return ... + b
        """,
    ),
)
def _check_square_add(fn):
    expect(fn, Args(np.array([1, 2, 3], F32), np.array([1, 1, 1], F32)), [2, 5, 10], "golden")
    pairs = st.sampled_from([1, 4]).flatmap(lambda n: st.tuples(arrays(n), arrays(n)))
    agree(fn, square_add, pairs.map(lambda ab: Args(*ab)), rtol=1e-5, atol=1e-5)
    same_under_jit(fn, square_add, Args(rng_array(5), rng_array(5, seed=1)))
    b = rng_array(4, seed=2)
    same_gradient(lambda a: fn(a, b), lambda a: square_add(a, b), rng_array(4))


def count_primitives(fn, *args):
    """How many primitive operations jax traces fn(*args) into (its jaxpr's equations)."""
    return len(jax.make_jaxpr(fn)(*args).jaxpr.eqns)


@exercise(
    "03_compiler",
    "count_primitives",
    "(fn, *args)",
    difficulty=2,
    teaches="tracing: what jax.jit sees is a list of primitives (the jaxpr)",
    reference=count_primitives,
    doc="""
    The number of primitive operations in the jaxpr that jax traces fn(*args) into.

    jax.make_jaxpr(fn)(*args) shows what jax.jit sees: a list of equations,
    one per primitive (mul, add, integer_pow, ...).

    Args:
      fn: a function of arrays.
      args: example arguments (their shapes and dtypes matter, not values).
    Returns:
      an int, the number of equations at the top level of the jaxpr.
    """,
    hints=(
        "jax.make_jaxpr(fn)(*args) returns a ClosedJaxpr; its .jaxpr has a list .eqns.",
        """
        def count_primitives(fn, *args):
            closed = jax.make_jaxpr(fn)(*args)
            return len(closed.jaxpr....)
        """,
    ),
)
def _check_count_primitives(fn):
    a = np.ones(3, F32)
    expect(fn, Args(lambda x, y: x**2 + y, a, a), 2, "a**2 + b is two primitives: pow, add")
    cases = [
        (lambda x: x, 0),
        (lambda x: jnp.sin(x) * 2.0 + 1.0, 3),
        (lambda x: jnp.sum(x * x), 2),
    ]
    for f, n in cases:
        expect(fn, Args(f, a), n, "counts the equations of other functions")


# ============================================================================
# 04_dot_product


def _vector_pair(d):
    return st.tuples(arrays(d), arrays(d))


VECTOR_PAIRS = st.sampled_from([1, 3, 8]).flatmap(_vector_pair).map(lambda ab: Args(*ab))


@exercise(
    "04_dot_product",
    "cosine_similarity",
    "(a, b)",
    difficulty=1,
    teaches="the angle between two vectors from dot products and norms, zero vectors included",
    reference=geometry.cosine_similarity,
    doc="""
    The cosine of the angle between a and b: a·b / (‖a‖ ‖b‖).

    Args:
      a, b: (d,) float32 vectors.
    Returns:
      () float32 in [-1, 1]; 0.0 (not NaN) when either vector is zero.
    """,
    hints=(
        "Divide each vector by its norm first; a zero norm must not turn into 0/0 = NaN.",
        """
        def cosine_similarity(a, b):
            na = jnp.linalg.norm(a)
            nb = ...
            return jnp.dot(a, b) / jnp.maximum(na * nb, 1e-10)   # or normalise first
        """,
    ),
)
def _check_cosine(fn):
    ref = geometry.cosine_similarity
    one = np.array([1.0, 0.0], F32)
    expect(fn, Args(one, np.array([1.0, 1.0], F32)), math.sqrt(0.5), "golden: 45 degrees")
    expect(fn, Args(np.zeros(3, F32), np.ones(3, F32)), 0.0, "0.0 when a vector is zero")
    agree(fn, ref, VECTOR_PAIRS, rtol=1e-4, atol=1e-5)
    same_under_jit(fn, ref, Args(rng_array(4), rng_array(4, seed=1)), rtol=1e-4)


@exercise(
    "04_dot_product",
    "normalize",
    "(v)",
    difficulty=1,
    teaches="unit vectors: dividing by the norm, safely at zero",
    reference=geometry.normalize,
    doc="""
    v scaled to unit length, v / ‖v‖; the zero vector stays zero (no NaN).

    Args:
      v: (d,) float32.
    Returns:
      (d,) float32 of norm 1, or all zeros when v is zero.
    """,
    hints=(
        "Clamp the norm from below (jnp.maximum(norm, 1e-10)) before dividing.",
        """
        def normalize(v):
            norm = jnp.linalg.norm(v)
            return v / ...
        """,
    ),
)
def _check_normalize(fn):
    ref = geometry.normalize
    expect(fn, Args(np.array([3.0, 4.0], F32)), [0.6, 0.8], "golden: (3, 4) / 5")
    expect(fn, Args(np.zeros(3, F32)), np.zeros(3), "the zero vector stays zero")
    vectors = st.sampled_from([1, 3, 8]).flatmap(arrays).map(Args)
    agree(fn, ref, vectors, rtol=1e-4, atol=1e-5)
    same_under_jit(fn, ref, Args(rng_array(4)))


# ============================================================================
# 04a_quasi_orthogonality


@exercise(
    "04a_quasi_orthogonality",
    "random_unit_vectors",
    "(key, *, n, dim)",
    difficulty=2,
    teaches="uniform directions: a Gaussian vector, normalised",
    reference=geometry.random_unit_vectors,
    doc="""
    n directions drawn uniformly from the unit sphere in R^dim.

    Args:
      key: a jax.random key.
      n, dim: how many vectors, and their dimension.
    Returns:
      (n, dim) float32, every row of norm 1, no direction preferred (the
      mean of many rows is near the origin). The same key gives the same rows.
    """,
    hints=(
        "A standard Gaussian vector looks the same from every direction: normalise one.",
        """
        def random_unit_vectors(key, *, n, dim):
            g = jax.random.normal(key, (n, dim))
            return g / ...
        """,
    ),
)
def _check_random_unit_vectors(fn):
    key = jax.random.key(0)
    args = Args(key, n=4000, dim=3)
    u = np.asarray(call(fn, args, "draws vectors"))
    holds(u.shape == (4000, 3), "shape (n, dim)", inputs=args, expected=(4000, 3), got=u.shape)
    norms = np.linalg.norm(u, axis=1)
    holds(
        np.allclose(norms, 1.0, atol=1e-5),
        "every row has norm 1",
        inputs=args,
        expected=1.0,
        got=norms[np.argmax(np.abs(norms - 1))],
    )
    mean = u.mean(axis=0)
    holds(
        float(np.abs(mean).max()) < 0.06,
        "no preferred direction: the mean of 4000 rows is near 0",
        inputs=args,
        expected=np.zeros(3),
        got=mean,
    )
    # a uniform direction has E[u_i²] = 1/dim in every coordinate
    second = (u**2).mean(axis=0)
    holds(
        float(np.abs(second - 1 / 3).max()) < 0.03,
        "uniform on the sphere: each coordinate has mean square 1/dim",
        inputs=args,
        expected=np.full(3, 1 / 3),
        got=second,
    )
    again = np.asarray(call(fn, args, "the same key gives the same vectors"))
    holds(np.array_equal(u, again), "the same key gives the same vectors")


@jax.jit
def pair_dots(u, v):
    """Row-wise dot products: (P, D), (P, D) -> (P,)."""
    return jnp.sum(u * v, axis=-1)  # (P,)


@exercise(
    "04a_quasi_orthogonality",
    "pair_dots",
    "(u, v)",
    difficulty=1,
    teaches="one dot product per pair of rows, without building the P × P matrix",
    reference=pair_dots,
    doc="""
    The dot product of each row of u with the same row of v.

    Args:
      u, v: (P, D) float32, P pairs of D-dimensional vectors.
    Returns:
      (P,) float32, entry i = u[i] · v[i]. Not u @ v.T, which is (P, P).
    """,
    hints=(
        "Multiply element-wise, then sum over the last axis.",
        """
        def pair_dots(u, v):
            return jnp.sum(..., axis=-1)
        """,
    ),
)
def _check_pair_dots(fn):
    u = np.array([[1, 0], [1, 2]], F32)
    expect(fn, Args(u, np.array([[0, 1], [3, 4]], F32)), [0.0, 11.0], "golden value")
    shapes = st.sampled_from([(1, 1), (2, 3), (4, 8)])
    pairs = shapes.flatmap(lambda s: st.tuples(arrays(s), arrays(s)))
    agree(fn, pair_dots, pairs.map(lambda uv: Args(*uv)), rtol=1e-4, atol=1e-4)
    same_under_jit(fn, pair_dots, Args(rng_array(3, 4), rng_array(3, 4, seed=1)))


# ============================================================================
# 04b_hoeffding_bound


@exercise(
    "04b_hoeffding_bound",
    "hoeffding_bound",
    "(dim, epsilon)",
    difficulty=1,
    teaches="the concentration bound 2·exp(−D·ε²/2) and how fast it falls with D",
    reference=geometry.hoeffding_bound,
    doc="""
    The bound P(|u·v| > ε) ≤ 2·exp(−D·ε²/2) for random unit vectors in R^D.

    Args:
      dim: () or (k,) dimensions D (float32 or int).
      epsilon: () or (k,) thresholds in (0, 1).
    Returns:
      the bound, of the broadcast shape (it may exceed 1: then it is vacuous).
    """,
    hints=(
        "It is one formula; mind the factor 2 in front and the /2 in the exponent.",
        """
        def hoeffding_bound(dim, epsilon):
            return 2 * jnp.exp(...)
        """,
    ),
)
def _check_hoeffding(fn):
    ref = geometry.hoeffding_bound
    expect(fn, Args(np.float32(200.0), np.float32(0.1)), 2 * math.exp(-1.0), "golden value")
    draws = st.tuples(floats(1, 10_000), floats(0.01, 0.99))
    agree(fn, ref, draws.map(lambda de: Args(F32(de[0]), F32(de[1]))), rtol=1e-4, atol=1e-30)
    dims = np.array([3.0, 64.0, 4096.0], F32)
    same_under_jit(fn, ref, Args(dims, np.full(3, 0.05, F32)), rtol=1e-4)


@jax.jit
def tail_share(dots, epsilon):
    """The share of |dots| > epsilon: the measured tail."""
    return jnp.mean((jnp.abs(dots) > epsilon).astype(jnp.float32))


@exercise(
    "04b_hoeffding_bound",
    "tail_share",
    "(dots, epsilon)",
    difficulty=1,
    teaches="the measured tail that the bound and the exact law are compared with",
    reference=tail_share,
    doc="""
    The share of the dot products further than ε from zero, on either side.

    Args:
      dots: (P,) float32 dot products of P pairs.
      epsilon: a float threshold > 0.
    Returns:
      () float32 in [0, 1], the fraction of |dots| > ε (strictly).
    """,
    hints=(
        "Both tails count: take the absolute value; a mean of booleans is a share.",
        """
        def tail_share(dots, epsilon):
            beyond = jnp.abs(dots) > epsilon
            return jnp.mean(beyond....)
        """,
    ),
)
def _check_tail_share(fn):
    expect(fn, Args(np.array([-0.5, 0.0, 0.05, 0.2], F32), 0.1), 0.5, "golden: both tails")
    draws = st.tuples(arrays(st.sampled_from([1, 5]), floats(-1, 1)), st.floats(0.01, 0.9))
    agree(fn, tail_share, draws.map(lambda de: Args(de[0], de[1])))


# ============================================================================
# 04c_gradients


@jax.jit
def logistic_gradient(theta, x, y):
    """∂L/∂θ of the one-point logistic loss, by the chain rule: (p − y)·(x₁, x₂, 1)."""
    return gradients.backward(theta, x, y)["theta"]  # (3,)


LOGISTIC = st.tuples(
    arrays(3, floats(-2, 2)), arrays(2, floats(-2, 2)), st.sampled_from([0.0, 1.0])
)


@exercise(
    "04c_gradients",
    "logistic_gradient",
    "(theta, x, y)",
    difficulty=2,
    teaches="reverse mode by hand: the chain rule node by node gives what jax.grad gives",
    reference=logistic_gradient,
    solution=gradients.backward,
    doc="""
    The gradient ∂L/∂θ of the one-point logistic loss, by the chain rule (no jax.grad).

    u = w·x, z = u + b, p = σ(z), L = −y log p − (1 − y) log(1 − p),
    with θ = (w₁, w₂, b). Walk back from ∂L/∂L = 1: ∂L/∂p, then ∂L/∂z
    (times σ'(z) = p(1 − p)), then ∂L/∂w = ∂L/∂z · x and ∂L/∂b = ∂L/∂z.

    Args:
      theta: (3,) float32 (w₁, w₂, b).
      x: (2,) float32 the input.
      y: () float32 the label, 0.0 or 1.0.
    Returns:
      (3,) float32, equal to jax.grad(loss)(theta, x, y).
    """,
    hints=(
        "Every factor cancels down to ∂L/∂z = p − y; do not forget σ'(z) on the way.",
        """
        def logistic_gradient(theta, x, y):
            p = jax.nn.sigmoid(jnp.dot(theta[:2], x) + theta[2])
            d_z = ...                                   # ∂L/∂z
            return jnp.concatenate([d_z * x, d_z[None]])
        """,
    ),
)
def _check_logistic_gradient(fn):
    theta, x = np.array([0.5, -1.0, 0.25], F32), np.array([1.0, 2.0], F32)
    want = jax.grad(gradients.loss)(jnp.asarray(theta), jnp.asarray(x), F32(1.0))
    expect(fn, Args(theta, x, F32(1.0)), want, "equals jax.grad at the lesson's point", rtol=1e-5)
    agree(fn, logistic_gradient, LOGISTIC.map(lambda c: Args(c[0], c[1], F32(c[2]))), rtol=1e-4)
    same_under_jit(fn, logistic_gradient, Args(theta, x, F32(0.0)))


def _fd_case(c):
    theta, h = c
    return Args(_smooth, theta, F32(h))


def _smooth(theta):
    """A smooth scalar test function: Σ sin(θᵢ) + θ₀ θ₁²."""
    return jnp.sum(jnp.sin(theta)) + theta[0] * theta[1] ** 2


@exercise(
    "04c_gradients",
    "central_difference",
    "(f, theta, h)",
    difficulty=2,
    teaches="finite differences: the gradient from loss values alone, error O(h²)",
    reference=CENTRAL,
    solution=gradients.central,
    doc="""
    The central finite-difference estimate of the gradient of f at theta.

    Coordinate i: (f(θ + h eᵢ) − f(θ − h eᵢ)) / 2h, where eᵢ is the i-th unit
    vector. Its error is O(h²) (the one-sided form is only O(h)).

    Args:
      f: a scalar function of a (P,) float32 array.
      theta: (P,) float32.
      h: () float32 the step.
    Returns:
      (P,) float32.
    """,
    hints=(
        "Step every coordinate by ±h: rows of h · jnp.eye(P) are the P steps.",
        """
        def central_difference(f, theta, h):
            steps = h * jnp.eye(theta.shape[0], dtype=theta.dtype)    # (P, P)
            ups = jnp.stack([f(theta + s) for s in steps])            # (P,)
            downs = ...
            return (ups - downs) / (2 * h)
        """,
    ),
)
def _check_central_difference(fn):
    quad = Args(lambda t: jnp.sum(t**2), np.array([1.0, -2.0], F32), F32(0.5))
    expect(fn, quad, [2.0, -4.0], "golden: exact on a quadratic (Σθ², θ = (1, −2))", rtol=1e-5)
    draws = st.tuples(arrays(st.sampled_from([1, 3]), floats(-2, 2)), st.sampled_from([0.05, 0.1]))
    agree(fn, CENTRAL, draws.map(_fd_case), rtol=1e-3, atol=1e-3)


# ============================================================================
# 05_linear_probe


@exercise(
    "05_linear_probe",
    "wilson_interval",
    "(successes, n, z=1.96)",
    difficulty=2,
    teaches="a confidence interval for an accuracy that stays inside [0, 1]",
    reference=stats.wilson_interval,
    doc="""
    The Wilson score interval for a proportion measured as successes / n.

    centre = (p̂ + z²/2n) / (1 + z²/n),
    half   = z·sqrt(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n),  with p̂ = successes / n.

    Args:
      successes: an int k, 0 <= k <= n.
      n: an int > 0.
      z: the normal quantile (1.96 for 95 %).
    Returns:
      (low, high) as Python floats, both in [0, 1].
    """,
    hints=(
        "The textbook p̂ ± z·sqrt(p̂(1−p̂)/n) collapses at p̂ = 0 or 1; Wilson's centre moves.",
        """
        def wilson_interval(successes, n, z=1.96):
            p = successes / n
            denom = 1 + z * z / n
            centre = (p + z * z / (2 * n)) / denom
            half = z * math.sqrt(...) / denom
            return max(0.0, centre - half), min(1.0, centre + half)
        """,
    ),
)
def _check_wilson(fn):
    ref = stats.wilson_interval
    expect(fn, Args(90, 100), (0.825629, 0.944753), "golden: 90 of 100", rtol=1e-4)
    low, high = call(fn, Args(0, 20), "at 0 of 20")
    holds(low == 0.0 and high > 0.1, "0 of 20: low is 0, high is not", got=(low, high))
    draws = st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
    agree(fn, ref, draws.map(lambda kn: Args(*kn)), rtol=1e-4, atol=1e-6)
    got = call(fn, Args(7, 9), "returns floats")
    holds(all(isinstance(float(g), float) for g in got), "returns two numbers", got=got)


@jax.jit
def binary_cross_entropy(z, y):
    """Mean binary cross-entropy in nats from logits z and labels y, stable for huge |z|."""
    return -jnp.mean(y * jax.nn.log_sigmoid(z) + (1.0 - y) * jax.nn.log_sigmoid(-z))


@exercise(
    "05_linear_probe",
    "binary_cross_entropy",
    "(z, y)",
    difficulty=2,
    teaches="the probe's loss from logits, finite however confident the probe is",
    reference=binary_cross_entropy,
    doc="""
    The mean binary cross-entropy of labels y under p = sigmoid(z), in nats.

    −mean(y·log p + (1 − y)·log(1 − p)), computed from the logits so that it
    stays finite for |z| in the hundreds (sigmoid rounds to 0 or 1 there).

    Args:
      z: (n,) float32 logits.
      y: (n,) float32 labels, 0.0 or 1.0.
    Returns:
      () float32.
    """,
    hints=(
        "log sigmoid(z) = −softplus(−z), and 1 − sigmoid(z) = sigmoid(−z): no log(0).",
        """
        def binary_cross_entropy(z, y):
            log_p = jax.nn.log_sigmoid(z)
            log_q = ...  # log(1 - p)
            return -jnp.mean(y * log_p + (1 - y) * log_q)
        """,
    ),
)
def _check_bce(fn):
    ref = binary_cross_entropy
    expect(fn, Args(np.zeros(2, F32), np.array([0, 1], F32)), math.log(2), "golden: z = 0")
    expect(fn, Args(np.array([-200.0], F32), np.array([1.0], F32)), 200.0, "finite at z = −200")
    shape = st.sampled_from([1, 4])
    draws = shape.flatmap(
        lambda n: st.tuples(
            arrays(n, st.one_of(floats(-30, 30), st.sampled_from([300.0, -300.0]))),
            arrays(n, st.sampled_from([0.0, 1.0])),
        )
    )
    agree(fn, ref, draws.map(lambda zy: Args(*zy)), rtol=1e-4, atol=1e-4)
    y = np.array([0, 1, 1], F32)
    same_gradient(lambda z: fn(z, y), lambda z: ref(z, y), np.array([0.5, -2.0, 3.0], F32))


@jax.jit
def accuracy(w, b, x, y):
    """The share of rows whose predicted class (x·w + b > 0) equals the label."""
    guess = (x @ w + b > 0).astype(y.dtype)  # (n,)
    return jnp.mean((guess == y).astype(jnp.float32))


def _probe_case(n):
    e = floats(-3, 3)
    return st.tuples(arrays(2, e), e, arrays((n, 2), e), arrays(n, st.sampled_from([0.0, 1.0])))


@exercise(
    "05_linear_probe",
    "accuracy",
    "(w, b, x, y)",
    difficulty=1,
    teaches="reading a probe: the class is the sign of the logit, no sigmoid needed",
    reference=accuracy,
    doc="""
    The fraction of points the linear probe classifies correctly.

    The probe predicts class 1 when p = sigmoid(x·w + b) > 0.5, that is when
    the logit x·w + b > 0.

    Args:
      w: (D,) float32 weights; b: () float32 bias.
      x: (n, D) float32 points; y: (n,) float32 labels, 0.0 or 1.0.
    Returns:
      () float32 in [0, 1].
    """,
    hints=(
        "sigmoid(z) > 0.5 exactly when z > 0: compare the logits with 0.",
        """
        def accuracy(w, b, x, y):
            guess = (x @ w + b > 0).astype(y.dtype)       # (n,)
            return jnp.mean(...)
        """,
    ),
)
def _check_accuracy(fn):
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0]], F32)
    golden = Args(np.array([1.0, 0.0], F32), F32(0.0), x, np.array([1.0, 1.0, 1.0], F32))
    expect(fn, golden, 2 / 3, "golden: two of three on the positive side")
    draws = st.sampled_from([1, 5]).flatmap(_probe_case).map(lambda c: Args(*c))
    agree(fn, accuracy, draws)
    same_under_jit(fn, accuracy, golden)


# ============================================================================
# 06_self_attention

LOGIT_SHAPES = st.sampled_from([(1,), (5,), (3, 4), (2, 1)])


@exercise(
    "06_self_attention",
    "softmax",
    "(x, axis=-1)",
    difficulty=1,
    teaches="the stable softmax: subtract the maximum, then exp and normalise",
    reference=SOFTMAX,
    solution=attention.softmax,
    doc="""
    exp(x) / Σ exp(x) along `axis`, stable for logits as large as ±1e4.

    Args:
      x: float32 array of any shape.
      axis: the axis along which the result sums to 1.
    Returns:
      probabilities, the shape of x; finite even for x = [1e4, 0].
    """,
    hints=(
        "exp(1e4) overflows. softmax(x) = softmax(x − c) for any c: pick c = max(x).",
        """
        def softmax(x, axis=-1):
            shifted = x - jnp.max(x, axis=axis, keepdims=True)
            e = jnp.exp(shifted)
            return e / ...
        """,
    ),
)
def _check_softmax(fn):
    ref = SOFTMAX
    expect(fn, Args(np.array([0.0, math.log(3.0)], F32)), [0.25, 0.75], "golden value")
    expect(fn, Args(np.array([1e4, 0.0], F32)), [1.0, 0.0], "stable for huge logits (1e4)")
    expect(fn, Args(np.array([-1e4, -1e4], F32)), [0.5, 0.5], "stable for −1e4 ties")
    elements = st.one_of(floats(), HUGE)
    draws = st.tuples(arrays(LOGIT_SHAPES, elements), st.sampled_from([-1, 0]))
    agree(fn, ref, draws.map(lambda xa: Args(xa[0], axis=xa[1])), rtol=1e-4, atol=1e-6)
    x = rng_array(3, 4)

    def shift_bad(args):
        a = call(fn, args, "shift invariance")
        b = call(fn, Args(args.args[0] + F32(100.0)), "shift invariance")
        if not np.allclose(np.asarray(a), np.asarray(b), atol=1e-5):
            return "softmax(x + 100) differs from softmax(x)"
        return None

    search(arrays((4,)).map(Args), shift_bad, "shift invariance: softmax(x + c) = softmax(x)")
    same_under_jit(fn, ref, Args(x), axis=-1)
    same_gradient(fn, ref, rng_array(5))


@functools.partial(jax.jit, static_argnames="causal")
def attention_reference(q, k, v, *, causal=False):
    """softmax(q kᵀ / √d) v for one head, (T, d) each -> (T, d), via the package's `attend`."""
    t = q.shape[0]
    mask = transformer.causal_mask(t) if causal else jnp.ones((t, t), dtype=bool)  # (T, T)
    out, _ = transformer.attend(q[None, None], k[None, None], v[None, None], mask)
    return out[0, 0]  # (T, d)


def _qkv(td):
    t, d = td
    e = floats(-3, 3)
    return st.tuples(arrays((t, d), e), arrays((t, d), e), arrays((t, d), e), st.booleans())


QKV = st.tuples(st.sampled_from([1, 2, 5]), st.sampled_from([1, 4, 8])).flatmap(_qkv)


@exercise(
    "06_self_attention",
    "attention",
    "(q, k, v, *, causal=False)",
    difficulty=2,
    teaches="one attention head: scores scaled by √d, a softmax per row, a mix of values",
    reference=attention_reference,
    solution=transformer.attend,
    doc="""
    Scaled dot-product attention: softmax(q kᵀ / √d) v, one row per query.

    Args:
      q, k, v: (T, d) float32 queries, keys and values.
      causal: when True, query i may look only at keys j <= i (set the
        other scores to −inf, or a very negative number, before the softmax).
    Returns:
      (T, d) float32; row i is a weighted mean of the rows of v.
    """,
    hints=(
        "scores = q @ k.T is (T, T); divide by sqrt(d) BEFORE the softmax over each row.",
        """
        def attention(q, k, v, *, causal=False):
            d = q.shape[-1]
            scores = q @ k.T / jnp.sqrt(d)                      # (T, T)
            if causal:
                allowed = jnp.tril(jnp.ones(scores.shape, dtype=bool))
                scores = jnp.where(allowed, scores, -jnp.inf)
            weights = ...                                       # softmax per row
            return weights @ v                                  # (T, d)
        """,
    ),
)
def _check_attention(fn):
    ref = attention_reference
    q = np.array([[1.0, 0.0], [0.0, 1.0]], F32)
    v = np.array([[1.0, 2.0], [3.0, 4.0]], F32)
    args = Args(q, q, v)
    expect(fn, args, ref(*map(jnp.asarray, (q, q, v))), "golden value (d = 2, T = 2)")
    agree(
        fn,
        ref,
        QKV.map(lambda c: Args(*c[:3], causal=c[3])),
        rtol=1e-4,
        atol=1e-4,
    )
    q, k, v = rng_array(4, 3), rng_array(4, 3, seed=1), rng_array(4, 3, seed=2)
    out = np.asarray(call(fn, Args(q, k, v, causal=True), "causality"))
    k2, v2 = k.copy(), v.copy()
    k2[-1] += 5.0
    v2[-1] -= 5.0
    out2 = np.asarray(call(fn, Args(q, k2, v2, causal=True), "causality"))
    holds(
        np.allclose(out[:-1], out2[:-1], atol=1e-5),
        "causal: changing the last token leaves the earlier rows unchanged",
        inputs=Args(q, k2, v2, causal=True),
        expected=out[:-1],
        got=out2[:-1],
    )
    same_under_jit(fn, ref, Args(q, k, v), rtol=1e-4, atol=1e-5, causal=True)


# ============================================================================
# 07_softmax_collapse


@exercise(
    "07_softmax_collapse",
    "softmax_jacobian",
    "(s)",
    difficulty=2,
    teaches="how a softmax passes gradients back: diag(s) − s sᵀ, and why it vanishes",
    reference=attention.softmax_jacobian,
    doc="""
    The Jacobian ∂s/∂x of s = softmax(x), from s alone: diag(s) − s sᵀ.

    Args:
      s: (n,) float32 probabilities (a softmax output).
    Returns:
      (n, n) float32, symmetric, every row summing to zero.
    """,
    hints=(
        "Entry (i, j) is s_i (δ_ij − s_j): a diagonal matrix minus an outer product.",
        """
        def softmax_jacobian(s):
            return jnp.diag(s) - jnp.outer(..., ...)
        """,
    ),
)
def _check_jacobian(fn):
    ref = attention.softmax_jacobian
    s = np.array([0.5, 0.5], F32)
    expect(fn, Args(s), [[0.25, -0.25], [-0.25, 0.25]], "golden: s = (1/2, 1/2)")
    probs = arrays(st.sampled_from([1, 3, 5]), floats(-5, 5)).map(lambda x: Args(np_softmax(x)))
    agree(fn, ref, probs, rtol=1e-4, atol=1e-6)
    x = rng_array(4)
    want = SOFTMAX_JACOBIAN(jnp.asarray(x))
    s = np.asarray(attention.softmax(jnp.asarray(x)))
    expect(fn, Args(s), want, "equals jax.jacobian(softmax)", rtol=1e-4, atol=1e-6)
    same_under_jit(fn, ref, Args(s))


@exercise(
    "07_softmax_collapse",
    "entropy",
    "(p)",
    difficulty=1,
    teaches="how spread out a distribution is: ln n for uniform, 0 for one-hot",
    reference=attention.entropy,
    doc="""
    The Shannon entropy −Σ p log p in nats along the last axis.

    0·log 0 counts as 0, so a one-hot distribution has entropy 0 (not NaN).

    Args:
      p: (..., n) float32 probability vectors.
    Returns:
      (...) float32.
    """,
    hints=(
        "p·log p is NaN at p = 0 (0·−inf): take it as 0 there (jnp.where, or entr).",
        """
        def entropy(p):
            terms = jnp.where(p > 0, p * jnp.log(...), 0.0)
            return -jnp.sum(terms, axis=-1)
        """,
    ),
)
def _check_entropy(fn):
    ref = attention.entropy
    expect(fn, Args(np.full(4, 0.25, F32)), math.log(4), "golden: uniform over 4 is ln 4")
    expect(fn, Args(np.array([1.0, 0.0, 0.0], F32)), 0.0, "one-hot: 0, not NaN")
    probs = arrays(st.sampled_from([(1,), (3,), (2, 4)]), st.one_of(floats(-5, 5), HUGE))
    agree(fn, ref, probs.map(lambda x: Args(np_softmax(x))), rtol=1e-4, atol=1e-5)
    same_under_jit(fn, ref, Args(np.full(3, 1 / 3, F32)))


# ============================================================================
# 08_lora_and_svd


def _truncate_cases(mn):
    m, n = mn
    return st.tuples(arrays((m, n), floats(-5, 5)), st.integers(0, min(m, n)))


TRUNCATE = st.tuples(st.sampled_from([1, 2, 4]), st.sampled_from([1, 3, 5])).flatmap(
    _truncate_cases
)


def _truncation_wrong(got, want, args):
    """Singular vectors are not unique when singular values tie: judge the error and rank."""
    w, rank = np.asarray(args.args[0], np.float64), args.args[1]
    g = np.asarray(got, np.float64)
    if g.shape != w.shape:
        return f"shape {g.shape} where {w.shape} was expected"
    s = np.linalg.svd(w, compute_uv=False)
    best = math.sqrt(float(np.sum(s[rank:] ** 2)))
    err = float(np.linalg.norm(w - g))
    tol = 1e-4 * (1.0 + s[0] if s.size else 1.0)
    if abs(err - best) > tol:
        return f"‖w − yours‖ = {err:.6g}, but the best rank-{rank} error is {best:.6g}"
    gs = np.linalg.svd(g, compute_uv=False)
    if np.any(gs[rank:] > tol):
        return f"yours has rank above {rank}: singular values {gs}"
    return None


@exercise(
    "08_lora_and_svd",
    "truncate",
    "(w, rank)",
    difficulty=2,
    teaches="the best low-rank approximation: keep the largest singular terms (Eckart–Young)",
    reference=lowrank.truncate,
    doc="""
    The best rank-`rank` approximation of w, from its SVD.

    Args:
      w: (m, n) float32 matrix.
      rank: an int, 0 <= rank <= min(m, n).
    Returns:
      (m, n) float32: Σ over the `rank` LARGEST singular values of s_i u_i v_iᵀ.
    """,
    hints=(
        "jnp.linalg.svd(w, full_matrices=False) gives u, s, vt with s largest first.",
        """
        def truncate(w, rank):
            u, s, vt = jnp.linalg.svd(w, full_matrices=False)
            return (u[:, :rank] * s[:rank]) @ vt[...]
        """,
    ),
)
def _check_truncate(fn):
    w = np.diag(np.array([3.0, 2.0, 1.0], F32))
    expect(fn, Args(w, 1), np.diag([3.0, 0.0, 0.0]), "golden: diag(3, 2, 1) at rank 1", atol=1e-5)
    agree(fn, lowrank.truncate, TRUNCATE.map(lambda wr: Args(*wr)), compare=_truncation_wrong)


@jax.jit
def lora_reference(x, w0, a, b, alpha=1.0):
    """x W₀ᵀ + (α/r)(x Aᵀ) B with A, B stored (r, D)."""
    return lowrank.lora_forward(x, w0, lowrank.Adapters(a, b), alpha)


@exercise(
    "08_lora_and_svd",
    "lora_forward",
    "(x, w0, a, b, alpha=1.0)",
    difficulty=2,
    teaches="a frozen layer plus a low-rank update, never building the D × D product",
    reference=lora_reference,
    solution=lowrank.lora_forward,
    doc="""
    The LoRA layer on a batch of rows: x W₀ᵀ + (α/r) (x Aᵀ) B.

    Args:
      x: (N, D) float32 inputs, one per row.
      w0: (D, D) float32 frozen weights.
      a: (r, D) float32 down-projection A.
      b: (r, D) float32 up-projection B (stored (r, D), the transpose of the paper's).
      alpha: the scale; the update is multiplied by alpha / r.
    Returns:
      (N, D) float32. With b = 0 it equals x @ w0.T.
    """,
    hints=(
        "Multiply x by Aᵀ first: (N, r), then by B: (N, D). Scale by alpha / r, r = a.shape[0].",
        """
        def lora_forward(x, w0, a, b, alpha=1.0):
            r = a.shape[0]
            return x @ w0.T + (alpha / r) * ((x @ a.T) @ ...)
        """,
    ),
)
def _check_lora(fn):
    x, w0, a = rng_array(3, 4), rng_array(4, 4, seed=1), rng_array(2, 4, seed=2)
    zero = np.zeros((2, 4), F32)
    expect(fn, Args(x, w0, a, zero), x @ w0.T, "B = 0: the frozen layer", rtol=1e-4, atol=1e-5)

    def cases(r):
        e = floats(-2, 2)
        return st.tuples(
            arrays((3, 4), e), arrays((4, 4), e), arrays((r, 4), e), arrays((r, 4), e), e
        )

    draws = st.sampled_from([1, 2, 4]).flatmap(cases)
    agree(fn, lora_reference, draws.map(lambda c: Args(*c)), rtol=1e-4, atol=1e-4)
    b = rng_array(2, 4, seed=3)
    expect(
        jax.jit(fn),
        Args(x, w0, a, b, np.float32(2.0)),
        lora_reference(x, w0, a, b, F32(2.0)),
        "works under jax.jit",
        rtol=1e-4,
        atol=1e-4,
    )


@jax.jit
def lora_merge(w0, a, b, alpha=1.0):
    """W₀ + (α/r) Bᵀ A: the adapted matrix, for serving with no extra cost."""
    return w0 + (alpha / a.shape[0]) * (b.T @ a)  # (D, D)


@exercise(
    "08_lora_and_svd",
    "lora_merge",
    "(w0, a, b, alpha=1.0)",
    difficulty=2,
    teaches="folding the adapter into the weights: the same layer, no extra cost at inference",
    reference=lora_merge,
    solution=lowrank.lora_forward,
    doc="""
    The merged weight matrix W = W₀ + (α/r) Bᵀ A of a LoRA layer.

    After merging, x @ W.T equals lora_forward(x, w0, a, b, alpha) for every x.

    Args:
      w0: (D, D) float32 frozen weights.
      a: (r, D) float32 A; b: (r, D) float32 B (stored (r, D)).
      alpha: the scale; the update is multiplied by alpha / r.
    Returns:
      (D, D) float32.
    """,
    hints=(
        "Bᵀ A is (D, r) @ (r, D); check it against lora_forward on one x.",
        """
        def lora_merge(w0, a, b, alpha=1.0):
            r = a.shape[0]
            return w0 + (alpha / r) * (...)
        """,
    ),
)
def _check_lora_merge(fn):
    x, w0 = rng_array(3, 4), rng_array(4, 4, seed=1)
    a, b = rng_array(2, 4, seed=2), rng_array(2, 4, seed=3)
    merged = np.asarray(call(fn, Args(w0, a, b, F32(2.0)), "x @ W.T equals lora_forward"))
    want = np.asarray(lora_reference(x, w0, a, b, F32(2.0)))
    ok = merged.shape == (4, 4) and np.allclose(x @ merged.T, want, rtol=1e-4, atol=1e-4)
    holds(
        ok,
        "x @ W.T equals lora_forward(x, w0, a, b, alpha)",
        inputs=Args(w0, a, b, F32(2.0)),
        expected=want,
        got=x @ merged.T if merged.shape == (4, 4) else merged,
    )

    def cases(r):
        e = floats(-2, 2)
        return st.tuples(arrays((3, 3), e), arrays((r, 3), e), arrays((r, 3), e))

    draws = st.sampled_from([1, 3]).flatmap(cases).map(lambda c: Args(*c))
    agree(fn, lora_merge, draws, rtol=1e-4, atol=1e-4)


# ============================================================================
# 09_non_redundant_compression


SINGULAR_VALUES = st.sampled_from([1, 3, 6]).flatmap(
    lambda k: st.tuples(
        arrays(k, floats(0, 10)).map(lambda s: np.sort(s)[::-1].copy()), st.integers(0, k)
    )
)


@exercise(
    "09_non_redundant_compression",
    "eckart_young_error",
    "(s, rank)",
    difficulty=1,
    teaches="what a truncation loses, read off the discarded singular values",
    reference=lowrank.eckart_young_error,
    doc="""
    The Frobenius error of the best rank-`rank` approximation, from s alone.

    Args:
      s: (k,) float32 singular values, largest first.
      rank: how many are kept, 0 <= rank <= k.
    Returns:
      () float32, sqrt(s[rank]² + … + s[k−1]²).
    """,
    hints=(
        "The discarded terms are orthogonal: their squared norms add.",
        """
        def eckart_young_error(s, rank):
            return jnp.sqrt(jnp.sum(s[...] ** 2))
        """,
    ),
)
def _check_eckart_young(fn):
    ref = lowrank.eckart_young_error
    expect(fn, Args(np.array([3.0, 2.0, 2.0], F32), 1), math.sqrt(8.0), "golden value")
    agree(fn, ref, SINGULAR_VALUES.map(lambda sr: Args(*sr)), rtol=1e-4, atol=1e-5)


@jax.jit
def energy_share(s):
    """sᵢ² / Σ s²: how much of ‖W‖_F² each singular value carries."""
    return lowrank.singular_value_shares(s)[1]


@exercise(
    "09_non_redundant_compression",
    "energy_share",
    "(s)",
    difficulty=1,
    teaches="the share of the matrix each singular value holds: squares, not values",
    reference=energy_share,
    solution=lowrank.singular_value_shares,
    doc="""
    The energy share of each singular value, s_i² / Σ s².

    Σ s² is ‖W‖_F², so the share left out by a truncation is its squared
    relative error. (s_i / Σ s has no such meaning.)

    Args:
      s: (k,) float32 singular values, not all zero.
    Returns:
      (k,) float32 summing to 1.
    """,
    hints=(
        "Square first, then divide by the sum of the squares.",
        """
        def energy_share(s):
            e = s ** 2
            return e / ...
        """,
    ),
)
def _check_energy_share(fn):
    expect(fn, Args(np.array([3.0, 4.0], F32)), [9 / 25, 16 / 25], "golden: (3, 4)")
    values = arrays(st.sampled_from([1, 3, 6]), floats(0.01, 10)).map(Args)
    agree(fn, energy_share, values, rtol=1e-4, atol=1e-6)


def numerical_rank(s, shape):
    """How many singular values exceed s₁ · max(m, n) · ε: the rank floating point can see."""
    return int(np.sum(np.asarray(s) > lowrank.rank_tolerance(s, shape)))


def _low_rank_case(c):
    m, n, r, seed = c
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((m, r)) @ rng.standard_normal((r, n))).astype(F32)  # rank <= r
    return HostArgs(np.linalg.svd(w, compute_uv=False), (m, n))


@exercise(
    "09_non_redundant_compression",
    "numerical_rank",
    "(s, shape)",
    difficulty=2,
    teaches="the rank of a float matrix: singular values above a tolerance, never exactly 0",
    reference=numerical_rank,
    solution=lowrank.rank_tolerance,
    doc="""
    The numerical rank of an (m, n) matrix from its singular values.

    In floating point a rank-deficient matrix has tiny, not zero, trailing
    singular values. Count those above s₁ · max(m, n) · ε, with ε the machine
    epsilon of s's dtype (np.finfo(s.dtype).eps): NumPy's matrix_rank rule.

    Args:
      s: (k,) float32 NumPy array of singular values, largest first.
      shape: (m, n), the matrix's shape.
    Returns:
      an int.
    """,
    hints=(
        "np.finfo(np.float32).eps is about 1.2e-7; compare each s with the tolerance.",
        """
        def numerical_rank(s, shape):
            tol = s[0] * max(shape) * np.finfo(s.dtype).eps
            return int(np.sum(...))
        """,
    ),
)
def _check_numerical_rank(fn):
    s = np.array([3.0, 1e-7, 0.0], F32)
    expect(fn, HostArgs(s, (3, 3)), 1, "golden: 1e-7 is rounding, not rank")
    cases = st.tuples(
        st.integers(2, 6), st.integers(2, 6), st.integers(1, 3), st.integers(0, 99)
    ).map(_low_rank_case)
    agree(fn, numerical_rank, cases)


# ============================================================================
# 10_evolution_strategy


@exercise(
    "10_evolution_strategy",
    "log_rank_weights",
    "(mu)",
    difficulty=1,
    teaches="recombination weights that favour the best points by the log of their rank",
    reference=evolution.log_rank_weights,
    doc="""
    Recombination weights w_i ∝ ln(μ + 1/2) − ln(i) for ranks i = 1 … μ, summing to 1.

    Args:
      mu: an int >= 1, how many of the best points are recombined.
    Returns:
      (μ,) float32, positive, decreasing, summing to 1.
    """,
    hints=(
        "Ranks start at 1, not 0: ln(0) is −inf.",
        """
        def log_rank_weights(mu):
            i = jnp.arange(1, mu + 1)
            raw = jnp.log(mu + 0.5) - jnp.log(i)
            return raw / ...
        """,
    ),
)
def _check_log_rank_weights(fn):
    ref = evolution.log_rank_weights
    w2 = [math.log(2.5) - math.log(i) for i in (1, 2)]
    expect(fn, Args(2), [w / sum(w2) for w in w2], "golden: μ = 2", rtol=1e-5)
    agree(fn, ref, st.integers(1, 50).map(Args), rtol=1e-4, atol=1e-6)


def _population(lam_d):
    lam, d = lam_d
    return st.tuples(
        arrays((lam, d)),
        hnp.arrays(F32, lam, elements=floats(-10, 10), unique=True),
        st.sampled_from(sorted({1, min(3, lam)})),
    )


def recombine_reference(points, losses, weights):
    return evolution.recombine(points, losses, weights)


@exercise(
    "10_evolution_strategy",
    "recombine",
    "(points, losses, weights)",
    difficulty=2,
    teaches="selection and recombination: the weighted mean of the μ lowest losses",
    reference=RECOMBINE,
    solution=evolution.recombine,
    doc="""
    The new mean of an evolution strategy: the weighted mean of the μ best points.

    Args:
      points: (λ, D) float32 evaluated points.
      losses: (λ,) float32 their losses (lower is better).
      weights: (μ,) float32 weights, best first (μ = len(weights) <= λ).
    Returns:
      (D,) float32, Σ_i weights[i] · (the point with the i-th smallest loss).
    """,
    hints=(
        "jnp.argsort sorts ascending: the first μ indices are the best.",
        """
        def recombine(points, losses, weights):
            best = jnp.argsort(losses)[: weights.shape[0]]   # (μ,)
            return weights @ ...                             # (D,)
        """,
    ),
)
def _check_recombine(fn):
    ref = RECOMBINE
    pts = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 4.0]], F32)
    golden = Args(pts, np.array([3.0, 1.0, 2.0], F32), np.array([0.75, 0.25], F32))
    expect(fn, golden, [1.25, 1.75], "golden: the two lowest losses, weighted")
    draws = st.tuples(st.sampled_from([1, 6]), st.just(2)).flatmap(_population)

    def args(c):
        points, losses, mu = c
        return Args(points, losses, np.asarray(evolution.log_rank_weights(mu)))

    agree(fn, ref, draws.map(args), rtol=1e-4, atol=1e-5)
    same_under_jit(fn, ref, golden)


# ============================================================================
# 11_rosenbrock_es

POINTS = arrays(st.sampled_from([(2,), (5,), (3, 2)]), floats(-3, 3)).map(Args)


@exercise(
    "11_rosenbrock_es",
    "rosenbrock",
    "(x)",
    difficulty=1,
    teaches="the curved valley: Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)²",
    reference=ROSENBROCK,
    solution=evolution.rosenbrock,
    doc="""
    The n-dimensional Rosenbrock function along the last axis.

    Σ_i 100 (x_{i+1} − x_i²)² + (1 − x_i)² for i = 0 … D − 2; 0 at (1, …, 1).

    Args:
      x: (..., D) float32 points, D >= 2.
    Returns:
      (...) float32.
    """,
    hints=(
        "Slice the last axis: head = x[..., :-1], tail = x[..., 1:].",
        """
        def rosenbrock(x):
            head, tail = x[..., :-1], x[..., 1:]
            return jnp.sum(100.0 * (tail - ...) ** 2 + (1.0 - head) ** 2, axis=-1)
        """,
    ),
)
def _check_rosenbrock(fn):
    ref = ROSENBROCK
    expect(fn, Args(np.ones(4, F32)), 0.0, "golden: 0 at (1, …, 1)")
    expect(fn, Args(np.array([-1.0, 2.0], F32)), 104.0, "golden: 104 at (−1, 2)")
    agree(fn, ref, POINTS, rtol=1e-4, atol=1e-3)
    same_under_jit(fn, ref, Args(rng_array(3)))
    same_gradient(fn, ref, rng_array(3), rtol=1e-4, atol=1e-3)


@exercise(
    "11_rosenbrock_es",
    "best_indices",
    "(losses, mu)",
    difficulty=1,
    teaches="selection: the indices of the μ lowest losses, best first",
    reference=BEST_INDICES,
    solution=evolution.best_indices,
    doc="""
    The indices of the μ smallest losses, the smallest first.

    Args:
      losses: (λ,) float32, all different.
      mu: an int, 1 <= mu <= λ.
    Returns:
      (μ,) int indices into losses.
    """,
    hints=(
        "jnp.argsort orders indices by value, ascending.",
        """
        def best_indices(losses, mu):
            return jnp.argsort(losses)[...]
        """,
    ),
)
def _check_best_indices(fn):
    ref = BEST_INDICES
    expect(fn, Args(np.array([3.0, 1.0, 2.0], F32), 2), [1, 2], "golden value")
    draws = st.sampled_from([1, 4, 9]).flatmap(
        lambda n: st.tuples(
            hnp.arrays(F32, n, elements=floats(-10, 10), unique=True), st.integers(1, n)
        )
    )
    agree(fn, ref, draws.map(lambda lm: Args(*lm)))


# ============================================================================
# 12_moe_gating


@functools.partial(jax.jit, static_argnames="n_experts")
def load_balancing_reference(router_probs, expert_index, n_experts):
    """N_E · Σ_i f_i P_i from the router's probabilities and the chosen experts."""
    f = jnp.mean(jax.nn.one_hot(expert_index, n_experts, dtype=router_probs.dtype), axis=0)
    return moe.aux_loss(f, jnp.mean(router_probs, axis=0))  # ()


def _routing(ne):
    n, e = ne
    return st.tuples(
        arrays((n, e), floats(-4, 4)), hnp.arrays(np.int32, n, elements=st.integers(0, e - 1))
    )


ROUTINGS = st.tuples(st.sampled_from([1, 5]), st.sampled_from([1, 3])).flatmap(_routing)


@exercise(
    "12_moe_gating",
    "load_balancing_loss",
    "(router_probs, expert_index, n_experts)",
    difficulty=2,
    teaches="the Switch auxiliary loss N_E · Σ f_i P_i: 1 when balanced, N_E when collapsed",
    reference=load_balancing_reference,
    solution=moe.aux_loss,
    doc="""
    The Switch Transformer load-balancing loss, N_E · Σ_i f_i P_i.

    f_i is the fraction of tokens sent to expert i, P_i the mean router
    probability of expert i over the tokens.

    Args:
      router_probs: (N, E) float32, each row a softmax over the E experts.
      expert_index: (N,) int, the expert each token was sent to.
      n_experts: E, an int.
    Returns:
      () float32: 1.0 for perfect balance, E when every token goes to one
      expert with probability 1.
    """,
    hints=(
        "f is a mean of one-hot rows (jax.nn.one_hot); P is the mean of router_probs over N.",
        """
        def load_balancing_loss(router_probs, expert_index, n_experts):
            f = jnp.mean(jax.nn.one_hot(expert_index, n_experts), axis=0)   # (E,)
            p = ...                                                         # (E,)
            return n_experts * jnp.sum(f * p)
        """,
    ),
)
def _check_load_balancing(fn):
    ref = load_balancing_reference
    uniform = np.full((4, 4), 0.25, F32)
    expect(fn, Args(uniform, np.arange(4, dtype=np.int32), 4), 1.0, "golden: balanced is 1")
    onehot = np.tile(np.array([[1.0, 0, 0, 0]], F32), (4, 1))
    expect(fn, Args(onehot, np.zeros(4, np.int32), 4), 4.0, "golden: collapsed is N_E")

    def args(c):
        logits, index = c
        return Args(np_softmax(logits), index, logits.shape[1])

    agree(fn, ref, ROUTINGS.map(args), rtol=1e-4, atol=1e-5)
    probs = np_softmax(rng_array(5, 3))
    index = np.array([0, 1, 2, 2, 1], np.int32)
    same_under_jit(fn, ref, Args(probs, index), n_experts=3)


@jax.jit
def top1_route(tokens, router):
    """(selections (N,), f (E,), P (E,)) of top-1 routing; `moe.route` as a tuple."""
    return tuple(moe.route(tokens, router))


@exercise(
    "12_moe_gating",
    "top1_route",
    "(tokens, router)",
    difficulty=2,
    teaches="top-1 routing: each token to its best expert, and the statistics the loss needs",
    reference=top1_route,
    solution=moe.route,
    doc="""
    Route every token to one expert and measure the load.

    Args:
      tokens: (N, D) float32 token vectors.
      router: (E, D) float32, one row of router weights per expert.
    Returns:
      (selections, f, p):
        selections (N,) int, argmax over experts of tokens @ router.T;
        f (E,) float32, the fraction of tokens sent to each expert;
        p (E,) float32, the mean over tokens of softmax(tokens @ router.T).
    """,
    hints=(
        "logits = tokens @ router.T is (N, E); everything follows from it.",
        """
        def top1_route(tokens, router):
            logits = tokens @ router.T                                  # (N, E)
            selections = jnp.argmax(logits, axis=-1)                    # (N,)
            f = jnp.mean(jax.nn.one_hot(selections, router.shape[0]), axis=0)
            p = ...
            return selections, f, p
        """,
    ),
)
def _check_top1_route(fn):
    tokens = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]], F32)
    router = np.eye(2, dtype=F32)
    want = top1_route(jnp.asarray(tokens), jnp.asarray(router))
    expect(fn, Args(tokens, router), want, "golden value", rtol=1e-5)

    def cases(ned):
        n, e, d = ned
        return st.tuples(arrays((n, d), floats(-3, 3)), arrays((e, d), floats(-3, 3)))

    shapes = st.tuples(st.sampled_from([1, 5]), st.sampled_from([2, 4]), st.sampled_from([2, 3]))
    draws = shapes.flatmap(cases).map(lambda tr: Args(*tr))

    def wrong(got, want, args):
        # ties in the logits may be broken either way; judge f and p, and picks of unique maxima
        why = difference(tuple(got)[1:], want[1:], rtol=1e-4, atol=1e-5)
        if why:
            return why
        logits = np.asarray(args.args[0]) @ np.asarray(args.args[1]).T
        sel = np.asarray(got[0])
        if sel.shape != logits.shape[:1]:
            return f"selections have shape {sel.shape}, expected {logits.shape[:1]}"
        picked = logits[np.arange(len(sel)), sel]
        if not np.allclose(picked, logits.max(axis=1), atol=1e-5):
            return "a token was not sent to the expert with its largest logit"
        return None

    agree(fn, top1_route, draws, compare=wrong)


# ============================================================================
# 13_loss_curve


@exercise(
    "13_loss_curve",
    "aux_loss",
    "(f, p)",
    difficulty=1,
    teaches="the load-balancing penalty from the two per-expert statistics",
    reference=moe.aux_loss,
    doc="""
    E · Σ_i f_i P_i along the last axis, E = f.shape[-1].

    Args:
      f: (..., E) float32 token fractions per expert.
      p: (..., E) float32 mean router probabilities per expert.
    Returns:
      (...) float32.
    """,
    hints=(
        "Multiply, sum over the experts, and do not forget the factor E.",
        """
        def aux_loss(f, p):
            return f.shape[-1] * jnp.sum(..., axis=-1)
        """,
    ),
)
def _check_aux_loss(fn):
    ref = moe.aux_loss
    quarter = np.full(4, 0.25, F32)
    expect(fn, Args(quarter, quarter), 1.0, "golden: balanced is 1")
    shares = arrays(st.sampled_from([(1,), (4,), (5, 3)]), floats(0, 1))
    draws = shares.flatmap(lambda f: st.tuples(st.just(f), arrays(f.shape, floats(0, 1))))
    agree(fn, ref, draws.map(lambda fp: Args(*fp)), rtol=1e-4, atol=1e-6)


@jax.jit
def scenario_loss(p):
    """L_aux when the token shares equal the router probabilities: E · Σ P_i²."""
    return moe.aux_loss(p, p)


@exercise(
    "13_loss_curve",
    "scenario_loss",
    "(p)",
    difficulty=1,
    teaches="with f = P the penalty is E · Σ P²: from 1 (even) to E (collapse)",
    reference=scenario_loss,
    solution=moe.aux_loss,
    doc="""
    The lesson's scenarios, where the token shares equal the probabilities:
    L = E · Σ P_i².

    Args:
      p: (E,) float32 probabilities summing to 1.
    Returns:
      () float32 in [1, E].
    """,
    hints=(
        "It is aux_loss(p, p); E is p.shape[-1].",
        """
        def scenario_loss(p):
            return p.shape[-1] * jnp.sum(...)
        """,
    ),
)
def _check_scenario_loss(fn):
    expect(fn, Args(np.array([1.0, 0, 0, 0], F32)), 4.0, "golden: collapse is E")
    expect(fn, Args(np.array([0.5, 0.5, 0, 0], F32)), 2.0, "golden: two experts share")
    probs = arrays(st.sampled_from([1, 2, 4]), floats(-3, 3)).map(lambda x: Args(np_softmax(x)))
    agree(fn, scenario_loss, probs, rtol=1e-4, atol=1e-5)


# ============================================================================
# 14_mini_trinity


@jax.jit
def trinity_route(task, routing):
    return tuple(trinity.route(task, routing))


@exercise(
    "14_mini_trinity",
    "trinity_route",
    "(task, routing)",
    difficulty=1,
    teaches="score a task against every expert: a stable softmax and an argmax",
    reference=trinity_route,
    solution=trinity.route,
    doc="""
    Score a task against each expert and pick the best.

    Args:
      task: (2,) float32 task vector.
      routing: (E, 2) float32 routing matrix, one row per expert.
    Returns:
      (probs, chosen): probs (E,) float32 = softmax(task @ routing.T), stable
      for large scores; chosen () int, the index of the largest score.
    """,
    hints=(
        "logits = routing @ task (or task @ routing.T), then a stable softmax and jnp.argmax.",
        """
        def trinity_route(task, routing):
            logits = task @ routing.T                   # (E,)
            probs = jax.nn.softmax(logits)              # or your stable softmax
            return probs, ...
        """,
    ),
)
def _check_trinity_route(fn):
    routing = np.asarray(trinity.ROUTING, F32)
    task = np.array([2.0, 0.5], F32)
    want = trinity_route(jnp.asarray(task), jnp.asarray(routing))
    expect(fn, Args(task, routing), want, "golden: the lesson's routing matrix", rtol=1e-5)
    draws = st.tuples(arrays(2, st.one_of(floats(-5, 5), HUGE)), st.just(routing))

    def wrong(got, want, args):
        why = difference(tuple(got)[:1], want[:1], rtol=1e-4, atol=1e-6)
        if why:
            return why
        logits = np.asarray(args.args[1]) @ np.asarray(args.args[0])
        if not np.isclose(logits[int(np.asarray(got[1]))], logits.max()):
            return "chosen is not the expert with the largest score"
        return None

    agree(fn, trinity_route, draws.map(lambda tr: Args(*tr)), compare=wrong)


@jax.jit
def warp_reference(task, expert):
    return trinity.warp(task, expert).astype(task.dtype)


@exercise(
    "14_mini_trinity",
    "warp",
    "(task, expert)",
    difficulty=2,
    teaches="a branch as data: jnp.where instead of if, so the step compiles",
    reference=warp_reference,
    solution=trinity.warp,
    doc="""
    Move a rejected task away from the expert that failed it.

    Expert 0 failed: x − 2.5. Expert 1 failed: y − 2.5. Expert 2 (a
    timeout): the task is reset to (−0.5, 2.0), wherever it was.

    Args:
      task: (2,) float32 task vector.
      expert: () int32 index of the expert that failed (a traced value under
        jax.jit: choose with jnp.where or indexing, not with a Python if).
    Returns:
      (2,) float32, the warped task.
    """,
    hints=(
        "Put the three moves in an array, shift = [[2.5, 0], [0, 2.5], [0, 0]], and index it.",
        """
        def warp(task, expert):
            shift = jnp.array([[2.5, 0.0], [0.0, 2.5], [0.0, 0.0]])
            reset = jnp.array([-0.5, 2.0])
            return jnp.where(expert == 2, reset, ...)
        """,
    ),
)
def _check_warp(fn):
    task = np.array([1.0, 1.0], F32)
    for e, want in [(0, [-1.5, 1.0]), (1, [1.0, -1.5]), (2, [-0.5, 2.0])]:
        expect(fn, Args(task, np.int32(e)), want, f"golden: expert {e} failed")
    draws = st.tuples(arrays(2, floats(-5, 5)), st.integers(0, 2).map(np.int32))
    agree(fn, warp_reference, draws.map(lambda te: Args(*te)), rtol=1e-5, atol=1e-5)
    for e in range(3):
        same_under_jit(fn, warp_reference, Args(task, np.int32(e)))


# ============================================================================
# 15_autoregressive_lm


def _lm_case(tv):
    t, v = tv
    return st.tuples(
        arrays((t, v), st.one_of(floats(), HUGE)),
        hnp.arrays(np.int32, t, elements=st.integers(0, v - 1)),
    )


LM_CASES = st.tuples(st.sampled_from([1, 3]), st.sampled_from([2, 5])).flatmap(_lm_case)


@exercise(
    "15_autoregressive_lm",
    "cross_entropy",
    "(logits, targets)",
    difficulty=2,
    teaches="the language-model loss: −log p(next token), stable through log-softmax",
    reference=language.cross_entropy,
    doc="""
    The mean cross-entropy in nats of the targets under softmax(logits).

    Args:
      logits: (T, V) float32 scores, one row per position (may be ±1e4).
      targets: (T,) int32 the next token at each position.
    Returns:
      () float32, mean over positions of −log softmax(logits[t])[targets[t]];
      finite for huge logits.
    """,
    hints=(
        "log softmax(x) = x − max − log Σ exp(x − max): never take the log of a rounded-to-0 p.",
        """
        def cross_entropy(logits, targets):
            logp = jax.nn.log_softmax(logits, axis=-1)                           # (T, V)
            picked = jnp.take_along_axis(logp, targets[:, None], axis=-1)        # (T, 1)
            return ...
        """,
    ),
)
def _check_cross_entropy(fn):
    ref = language.cross_entropy
    expect(fn, Args(np.zeros((2, 5), F32), np.array([0, 3], np.int32)), math.log(5), "ln V")
    expect(fn, Args(np.array([[1e4, 0.0]], F32), np.array([1], np.int32)), 1e4, "huge logits")
    agree(fn, ref, LM_CASES.map(lambda lt: Args(*lt)), rtol=1e-4, atol=1e-4)
    targets = np.array([1, 0, 2], np.int32)
    x = rng_array(3, 4)
    same_under_jit(fn, ref, Args(x, targets))
    same_gradient(lambda z: fn(z, targets), lambda z: ref(z, targets), x)


@exercise(
    "15_autoregressive_lm",
    "bigram_counts",
    "(tokens, vocab_size)",
    difficulty=2,
    teaches="the simplest language model: how often each token follows each other",
    reference=language.bigram_counts,
    doc="""
    Count each (previous, next) pair of consecutive tokens.

    Args:
      tokens: (n,) int NumPy array of ids in [0, vocab_size).
      vocab_size: V.
    Returns:
      (V, V) int array; entry [a, b] counts the positions i with
      tokens[i] = a and tokens[i + 1] = b.
    """,
    hints=(
        "Pair tokens[:-1] with tokens[1:]; np.add.at or np.bincount of a * V + b avoids a loop.",
        """
        def bigram_counts(tokens, vocab_size):
            counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
            np.add.at(counts, (tokens[:-1], ...), 1)
            return counts
        """,
    ),
)
def _check_bigram_counts(fn):
    ref = language.bigram_counts
    expect(fn, HostArgs(np.array([0, 1, 0, 1]), 2), [[0, 2], [1, 0]], "golden value")
    draws = st.integers(1, 4).flatmap(
        lambda v: st.tuples(
            hnp.arrays(np.int64, st.integers(1, 12), elements=st.integers(0, v - 1)), st.just(v)
        )
    )

    agree(fn, ref, draws.map(lambda tv: HostArgs(*tv)))


# ============================================================================
# 16_transformer_block

NORM_SHAPES = st.sampled_from([(1, 1), (2, 4), (3, 8)])


def _norm_case(shape):
    d = shape[-1]
    return st.tuples(
        arrays(shape, floats(-5, 5)), arrays(d, floats(-2, 2)), arrays(d, floats(-2, 2))
    )


@exercise(
    "16_transformer_block",
    "layer_norm",
    "(x, gamma, beta, eps=1e-5)",
    difficulty=2,
    teaches="LayerNorm: centre, divide by sqrt(variance + ε), then scale and shift",
    reference=transformer.layer_norm,
    doc="""
    LayerNorm over the last axis: γ · (x − μ) / sqrt(σ² + ε) + β.

    μ and σ² are the mean and the biased variance (divide by d) of each row;
    ε goes INSIDE the square root.

    Args:
      x: (T, d) float32.
      gamma, beta: (d,) float32 scale and shift.
      eps: a small float.
    Returns:
      (T, d) float32.
    """,
    hints=(
        "Use keepdims=True for the mean and variance so they broadcast back over d.",
        """
        def layer_norm(x, gamma, beta, eps=1e-5):
            mu = jnp.mean(x, axis=-1, keepdims=True)                    # (T, 1)
            var = jnp.mean((x - mu) ** 2, axis=-1, keepdims=True)       # (T, 1)
            return gamma * (x - mu) / jnp.sqrt(...) + beta
        """,
    ),
)
def _check_layer_norm(fn):
    ref = transformer.layer_norm
    ones, zeros = np.ones(2, F32), np.zeros(2, F32)
    expect(fn, Args(np.array([[1.0, 3.0]], F32), ones, zeros), [[-1, 1]], "golden", atol=1e-4)
    tiny = Args(np.array([[0.0, 2e-3]], F32), ones, zeros)
    expect(
        fn, tiny, ref(*map(jnp.asarray, tiny.args)), "ε inside the root (tiny variance)", rtol=1e-3
    )
    agree(fn, ref, NORM_SHAPES.flatmap(_norm_case).map(lambda c: Args(*c)), rtol=1e-3, atol=1e-4)
    x, g, b = rng_array(3, 4), rng_array(4, seed=1), rng_array(4, seed=2)
    same_under_jit(fn, ref, Args(x, g, b), rtol=1e-4, atol=1e-5)
    same_gradient(lambda z: fn(z, g, b), lambda z: ref(z, g, b), x, rtol=1e-3, atol=1e-4)


@exercise(
    "16_transformer_block",
    "rms_norm",
    "(x, gamma, eps=1e-5)",
    difficulty=1,
    teaches="RMSNorm: scale by the root mean square, no centring, no shift",
    reference=transformer.rms_norm,
    doc="""
    RMSNorm over the last axis: γ · x / sqrt(mean(x²) + ε).

    Args:
      x: (T, d) float32.
      gamma: (d,) float32 scale.
      eps: a small float, inside the square root.
    Returns:
      (T, d) float32.
    """,
    hints=(
        "No mean is subtracted: only the mean of the squares, per row.",
        """
        def rms_norm(x, gamma, eps=1e-5):
            ms = jnp.mean(x ** 2, axis=-1, keepdims=True)    # (T, 1)
            return ...
        """,
    ),
)
def _check_rms_norm(fn):
    ref = transformer.rms_norm
    x = np.array([[3.0, 4.0]], F32)
    want = x / math.sqrt(12.5 + 1e-5)
    expect(fn, Args(x, np.ones(2, F32)), want, "golden value", rtol=1e-5)
    draws = NORM_SHAPES.flatmap(_norm_case).map(lambda c: Args(c[0], c[1]))
    agree(fn, ref, draws, rtol=1e-3, atol=1e-4)
    same_under_jit(fn, ref, Args(rng_array(3, 4), rng_array(4, seed=1)), rtol=1e-4)


@exercise(
    "16_transformer_block",
    "causal_mask",
    "(t)",
    difficulty=1,
    teaches="who may attend to whom: query i sees keys j <= i",
    reference=transformer.causal_mask,
    doc="""
    The causal attention mask for t tokens.

    Args:
      t: an int >= 1.
    Returns:
      (t, t) bool, True at [i, j] when query i may attend to key j (j <= i).
    """,
    hints=(
        "The lower triangle, diagonal included.",
        """
        def causal_mask(t):
            return jnp.tril(jnp.ones((t, t), dtype=...))
        """,
    ),
)
def _check_causal_mask(fn):
    got = expect(fn, Args(2), [[True, False], [True, True]], "golden: t = 2")
    holds(np.asarray(got).dtype == bool, "dtype bool", expected="bool", got=np.asarray(got).dtype)
    agree(fn, transformer.causal_mask, st.sampled_from([1, 3, 6]).map(Args))


# ============================================================================
# 17_tokenization_embeddings


def _merge_case(ids_pair):
    return Args(*ids_pair, 9)


MERGES = st.tuples(
    st.lists(st.integers(0, 3), max_size=12), st.tuples(st.integers(0, 3), st.integers(0, 3))
).map(_merge_case)


@exercise(
    "17_tokenization_embeddings",
    "merge",
    "(ids, pair, new_id)",
    difficulty=2,
    teaches="one BPE merge: left to right, non-overlapping, in linear time",
    reference=tokenizers.merge,
    doc="""
    Replace every occurrence of `pair` in `ids` by `new_id`, left to right.

    Occurrences do not overlap: merging (1, 1) in [1, 1, 1] gives [new, 1].
    Linear time: checked on 200,000 ids with a budget.

    Args:
      ids: list[int].
      pair: a tuple (a, b) of ints.
      new_id: an int.
    Returns:
      a new list[int]; ids is left unchanged.
    """,
    hints=(
        "Walk with an index i; after a merge jump by 2, else by 1. Never slice inside the loop.",
        """
        def merge(ids, pair, new_id):
            out, i = [], 0
            while i < len(ids):
                if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                    out.append(new_id)
                    i += ...
                else:
                    ...
            return out
        """,
    ),
)
def _check_merge(fn):
    got = expect(fn, Args([1, 2, 3, 1, 2], (1, 2), 4), [4, 3, 4], "golden value")
    holds(isinstance(got, list), "returns a list", expected="list", got=type(got).__name__)
    expect(fn, Args([1, 1, 1], (1, 1), 5), [5, 1], "non-overlapping: [1, 1, 1] → [5, 1]")
    agree(fn, tokenizers.merge, MERGES)
    ids = [1, 2, 1]
    call(fn, Args(ids, (1, 2), 7), "leaves ids unchanged")
    holds(ids == [1, 2, 1], "leaves ids unchanged", got=ids)
    big = [int(i) for i in np.random.default_rng(0).integers(0, 4, 200_000)]
    within_budget(fn, Args(big, (1, 2), 9), 1.0, "linear time: 200,000 ids within 1 s")


def rope_reference(x, positions_, base=10000.0):
    return positions.rope(x, positions_, base=base)


def _rope_case(td):
    t, d = td
    return st.tuples(
        arrays((t, d), floats(-3, 3)), hnp.arrays(np.int32, t, elements=st.integers(0, 40))
    )


ROPE = st.tuples(st.sampled_from([1, 3]), st.sampled_from([2, 4, 8])).flatmap(_rope_case)


@exercise(
    "17_tokenization_embeddings",
    "rope",
    "(x, positions, base=10000.0)",
    difficulty=3,
    teaches="rotary positions: rotate each pair by p·ω_i, so q·k sees only m − n",
    reference=rope_reference,
    solution=positions.rope,
    doc="""
    Rotary position embedding: rotate each pair (x[2i], x[2i+1]) of row t
    by the angle positions[t] · ω_i, with ω_i = base^(−2i/d).

    Args:
      x: (T, d) float32 queries or keys, d even.
      positions: (T,) int32 position of each row.
      base: the frequency base.
    Returns:
      (T, d) float32; every row keeps its norm, and rope(q, m)·rope(k, n)
      depends only on m − n.
    """,
    hints=(
        "Pairs are interleaved: x[:, 0::2] and x[:, 1::2]. (x0, x1) → (x0 c − x1 s, x0 s + x1 c).",
        """
        def rope(x, positions, base=10000.0):
            t, d = x.shape
            w = base ** (-2.0 * jnp.arange(d // 2) / d)             # (d/2,)
            a = positions[:, None] * w[None, :]                     # (T, d/2)
            c, s = jnp.cos(a), jnp.sin(a)
            x0, x1 = x[:, 0::2], x[:, 1::2]                          # (T, d/2) each
            rotated = jnp.stack([..., ...], axis=-1)                # (T, d/2, 2)
            return rotated.reshape(t, d)
        """,
    ),
)
def _check_rope(fn):
    x = np.array([[1.0, 0.0]], F32)
    expect(fn, Args(x, np.array([1], np.int32)), [[math.cos(1), math.sin(1)]], "golden: 1 radian")
    agree(fn, rope_reference, ROPE.map(lambda c: Args(*c)), rtol=1e-4, atol=1e-4)
    q, k = rng_array(1, 8), rng_array(1, 8, seed=1)

    def dot(m, n):
        a = call(fn, Args(q, np.array([m], np.int32)), "relative positions")
        b = call(fn, Args(k, np.array([n], np.int32)), "relative positions")
        return float(np.sum(np.asarray(a) * np.asarray(b)))

    near, far = dot(3, 1), dot(13, 11)
    holds(
        abs(near - far) < 1e-4,
        "rope(q, m)·rope(k, n) depends only on m − n",
        expected=near,
        got=far,
    )
    xs, ps = rng_array(3, 4), np.array([0, 5, 9], np.int32)
    same_under_jit(fn, rope_reference, Args(xs, ps), rtol=1e-4, atol=1e-5)


@exercise(
    "17_tokenization_embeddings",
    "pair_counts",
    "(ids)",
    difficulty=1,
    teaches="what BPE merges next: the most frequent adjacent pair, overlaps counted",
    reference=tokenizers.pair_counts,
    doc="""
    Count every adjacent pair of ids (overlapping occurrences all count).

    Args:
      ids: list[int].
    Returns:
      dict mapping (a, b) to how often b directly follows a.
    """,
    hints=(
        "zip(ids, ids[1:]) walks the adjacent pairs.",
        """
        def pair_counts(ids):
            counts = {}
            for pair in zip(ids, ids[1:]):
                counts[pair] = ...
            return counts
        """,
    ),
)
def _check_pair_counts(fn):
    expect(fn, Args([1, 1, 1, 2]), {(1, 1): 2, (1, 2): 1}, "golden: overlaps count")
    agree(fn, tokenizers.pair_counts, st.lists(st.integers(0, 3), max_size=12).map(Args))


# ============================================================================
# 18_shape_literacy

HEADS = st.sampled_from([(1, 1, 4, 1), (2, 3, 6, 2), (1, 4, 8, 4)]).flatmap(
    lambda s: arrays(s[:3]).map(lambda x: Args(x, s[3]))
)


@exercise(
    "18_shape_literacy",
    "split_heads",
    "(x, n_heads)",
    difficulty=2,
    teaches="(B, T, d) → (B, H, T, d_h): a reshape, then a transpose, never a bare reshape",
    reference=transformer.split_heads,
    doc="""
    Split the model width into H heads side by side.

    Args:
      x: (B, T, d) float32, d divisible by n_heads.
      n_heads: H.
    Returns:
      (B, H, T, d_h) float32 with d_h = d / H; head h holds the columns
      h·d_h … (h + 1)·d_h − 1 of every token.
    """,
    hints=(
        "Reshape to (B, T, H, d_h) first (each token's numbers stay together), then swap T, H.",
        """
        def split_heads(x, n_heads):
            b, t, d = x.shape
            return x.reshape(b, t, n_heads, d // n_heads).transpose(...)
        """,
    ),
)
def _check_split_heads(fn):
    x = np.arange(8, dtype=F32).reshape(1, 2, 4)
    expect(fn, Args(x, 2), [[[[0, 1], [4, 5]], [[2, 3], [6, 7]]]], "golden: B=1, T=2, d=4, H=2")
    agree(fn, transformer.split_heads, HEADS)


MERGE_HEADS = st.sampled_from([(1, 1, 2, 3), (2, 3, 2, 2), (1, 4, 3, 1)]).flatmap(
    lambda s: arrays(s).map(Args)
)


@exercise(
    "18_shape_literacy",
    "merge_heads",
    "(x)",
    difficulty=2,
    teaches="the exact inverse of split_heads",
    reference=transformer.merge_heads,
    doc="""
    Put the heads back side by side: the inverse of split_heads.

    Args:
      x: (B, H, T, d_h) float32.
    Returns:
      (B, T, H·d_h) float32; merge_heads(split_heads(x, H)) == x.
    """,
    hints=(
        "Undo the steps of split_heads in reverse order: transpose back, then reshape.",
        """
        def merge_heads(x):
            b, h, t, dh = x.shape
            return x.transpose(...).reshape(b, t, h * dh)
        """,
    ),
)
def _check_merge_heads(fn):
    x = np.array([[[[0, 1], [4, 5]], [[2, 3], [6, 7]]]], F32)
    expect(fn, Args(x), np.arange(8).reshape(1, 2, 4), "golden: the inverse of split_heads")
    agree(fn, transformer.merge_heads, MERGE_HEADS)


@jax.jit
def head_scores(q, k):
    """Scaled scores per head: (B, H, T, d_h) each -> (B, H, T, T)."""
    return jnp.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])  # (B, H, T, T)


SCORE_CASES = st.sampled_from([(1, 1, 2, 1), (2, 2, 3, 4)]).flatmap(
    lambda sh: st.tuples(arrays(sh, floats(-3, 3)), arrays(sh, floats(-3, 3)))
)


@exercise(
    "18_shape_literacy",
    "head_scores",
    "(q, k)",
    difficulty=2,
    teaches="einsum names the axes: contract d_h, keep b, h and both token axes",
    reference=head_scores,
    doc="""
    The attention scores of every head, scaled: q kᵀ / sqrt(d_h) per (batch, head).

    Args:
      q, k: (B, H, T, d_h) float32 queries and keys.
    Returns:
      (B, H, T, T) float32; entry [b, h, i, j] = q[b, h, i] · k[b, h, j] / sqrt(d_h).
    """,
    hints=(
        "k.T reverses ALL four axes; swap only the last two (jnp.swapaxes), or use einsum.",
        """
        def head_scores(q, k):
            d = q.shape[-1]
            return jnp.einsum("bhqd,bhkd->...", q, k) / jnp.sqrt(d)
        """,
    ),
)
def _check_head_scores(fn):
    q = np.arange(8, dtype=F32).reshape(1, 2, 2, 2)
    want = head_scores(jnp.asarray(q), jnp.asarray(q))
    expect(fn, Args(q, q), want, "golden: B = 1, H = 2, T = 2, d_h = 2")
    agree(fn, head_scores, SCORE_CASES.map(lambda c: Args(*c)), rtol=1e-4, atol=1e-4)


# ============================================================================
# 19_language_model


def _schedule(total):
    return st.tuples(
        st.integers(0, total + 3),
        st.integers(1, total),
        st.just(total),
        st.sampled_from([1e-3, 3e-4, 1.0]),
        st.sampled_from([0.0, 0.1]),
    )


SCHEDULES = st.integers(2, 60).flatmap(_schedule)


def _lr_args(c):
    step, warmup, total, peak, final = c
    return Args(np.int32(step), peak=F32(peak), warmup=warmup, total=total, final_fraction=final)


@exercise(
    "19_language_model",
    "learning_rate",
    "(step, *, peak, warmup, total, final_fraction)",
    difficulty=2,
    teaches="warm-up then cosine decay, exact to the step, and traceable under jit",
    reference=LEARNING_RATE,
    solution=training.learning_rate,
    doc="""
    The learning rate of update `step` (0-based): a linear warm-up, then half a cosine.

    During warm-up (step < warmup) update s uses peak·(s + 1)/warmup: the first
    update is small but not zero, update warmup − 1 uses peak. After it,
    with t = (step − warmup)/(total − warmup) clipped to [0, 1]:
    peak·(final_fraction + (1 − final_fraction)·(1 + cos(π t))/2),
    from peak down to final_fraction·peak at step = total.

    Args:
      step: () int32, possibly a traced value (use jnp.where, not if).
      peak: float32 the largest rate.
      warmup: int >= 1, the warm-up updates.
      total: int > warmup, all the updates.
      final_fraction: the rate at the end, as a fraction of peak.
    Returns:
      () float32.
    """,
    hints=(
        "Compute both branches and pick one with jnp.where(step < warmup, warm, cosine).",
        """
        def learning_rate(step, *, peak, warmup, total, final_fraction):
            warm = peak * (step + 1) / warmup
            t = jnp.clip((step - warmup) / max(total - warmup, 1), 0.0, 1.0)
            decay = 0.5 * (1 + jnp.cos(jnp.pi * t))
            cosine = peak * (final_fraction + (1 - final_fraction) * decay)
            return jnp.where(..., warm, cosine)
        """,
    ),
)
def _check_learning_rate(fn):
    ref = LEARNING_RATE
    kw = dict(peak=F32(1.0), warmup=4, total=14, final_fraction=0.1)
    for step, want in [(0, 0.25), (3, 1.0), (4, 1.0), (9, 0.55), (14, 0.1)]:
        expect(fn, Args(np.int32(step), **kw), want, f"golden: step {step}", rtol=1e-5, atol=1e-6)
    agree(fn, ref, SCHEDULES.map(_lr_args), rtol=1e-4, atol=1e-9)
    steps = np.arange(20, dtype=np.int32)
    want = jax.vmap(lambda s: ref(s, **kw))(steps)
    expect(
        jax.jit(jax.vmap(lambda s: fn(s, **kw))),
        Args(steps),
        want,
        "works under jax.jit with a traced step (jnp.where, not if)",
        rtol=1e-5,
        atol=1e-6,
    )


@jax.jit
def clip_by_global_norm(grads, max_norm):
    """Scale every leaf by min(1, max_norm / ‖grads‖): the direction kept, the length capped."""
    norm = training.global_norm(grads)
    return jax.tree_util.tree_map(lambda g: g * jnp.minimum(1.0, max_norm / norm), grads)


def _grad_tree(c):
    a, b = c
    return {"w": a, "b": b}


GRADS = st.tuples(arrays((2, 3)), arrays((3,))).map(_grad_tree)


@exercise(
    "19_language_model",
    "global_norm",
    "(tree)",
    difficulty=1,
    teaches="one number for a whole gradient: the L2 norm over every leaf",
    reference=GLOBAL_NORM,
    solution=training.global_norm,
    doc="""
    The L2 norm of a whole pytree: sqrt of the sum of every squared entry of every leaf.

    Args:
      tree: a dict (or any pytree) of float32 arrays.
    Returns:
      () float32.
    """,
    hints=(
        "jax.tree_util.tree_leaves(tree) lists the arrays.",
        """
        def global_norm(tree):
            leaves = jax.tree_util.tree_leaves(tree)
            return jnp.sqrt(sum(... for leaf in leaves))
        """,
    ),
)
def _check_global_norm(fn):
    tree = {"a": np.array([3.0], F32), "b": np.array([[4.0]], F32)}
    expect(fn, Args(tree), 5.0, "golden: a (3,) and a (1, 1) leaf")
    agree(fn, GLOBAL_NORM, GRADS.map(lambda t: Args(t)), rtol=1e-4, atol=1e-5)


@exercise(
    "19_language_model",
    "clip_by_global_norm",
    "(grads, max_norm)",
    difficulty=2,
    teaches="clipping: shrink the whole gradient when its norm is too large, keep its direction",
    reference=clip_by_global_norm,
    doc="""
    Scale the whole gradient tree by min(1, max_norm / global_norm(grads)).

    Args:
      grads: a dict of float32 arrays.
      max_norm: a float > 0.
    Returns:
      a dict of the same structure; its global norm is min(‖grads‖, max_norm),
      its direction unchanged.
    """,
    hints=(
        "Compute one scale for the tree, then multiply every leaf (jax.tree_util.tree_map).",
        """
        def clip_by_global_norm(grads, max_norm):
            norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree_util.tree_leaves(grads)))
            scale = jnp.minimum(1.0, ...)
            return jax.tree_util.tree_map(lambda g: g * scale, grads)
        """,
    ),
)
def _check_clip(fn):
    def wrong(got, want, args):
        if not isinstance(got, dict) or set(got) != set(want):
            return "a dict with the same keys expected"
        keys = sorted(want)
        return difference(
            tuple(got[k] for k in keys), tuple(want[k] for k in keys), rtol=1e-4, atol=1e-5
        )

    tree = {"a": np.array([3.0], F32), "b": np.array([4.0], F32)}
    golden = Args(tree, 1.0)
    got = call(fn, golden, "golden: (3, 4) clipped to norm 1")
    want = {"a": np.array([0.6], F32), "b": np.array([0.8], F32)}
    why = wrong(got, want, golden)
    if why:
        raise Failed(
            "golden: (3, 4) clipped to norm 1", inputs=golden, expected=want, got=got, note=why
        )
    draws = st.tuples(GRADS, st.floats(0.1, 20)).map(lambda c: Args(c[0], c[1]))
    agree(fn, clip_by_global_norm, draws, compare=wrong)


# ============================================================================
# 20_decoding


@jax.jit
def top_p_filter(logits, p):
    """The logits of the nucleus, the rest −inf (see decoding.top_p_mask)."""
    return jnp.where(decoding.top_p_mask(logits, p), logits, -jnp.inf)  # (V,)


TIE_LOGITS = st.sampled_from([1, 3, 6]).flatmap(
    lambda v: arrays(v, st.sampled_from([0.0, 1.0, 2.0, -1.0, 3.0, 0.5]))
)


@exercise(
    "20_decoding",
    "top_p_filter",
    "(logits, p)",
    difficulty=3,
    teaches="nucleus sampling: the fewest top tokens reaching mass p, crossing token and ties kept",
    reference=top_p_filter,
    solution=decoding.top_p_mask,
    doc="""
    Keep the nucleus: the most likely tokens until their probability reaches p.

    Sort the probabilities (softmax of the logits) in decreasing order; keep
    a token when the tokens strictly before it hold less than p of the mass.
    So the token whose probability CROSSES p is kept, the most likely token
    is always kept, and tokens tied with a kept token are all kept.

    Args:
      logits: (V,) float32.
      p: a float in (0, 1].
    Returns:
      (V,) float32: the kept logits unchanged, every other entry −inf.
    """,
    hints=(
        "For each token, the mass 'before' it is cumsum(sorted) − its own probability.",
        """
        def top_p_filter(logits, p):
            probs = jax.nn.softmax(logits)
            desc = jnp.sort(probs)[::-1]                              # (V,)
            before = jnp.cumsum(desc) - desc                          # (V,) mass ahead of each
            first = jnp.searchsorted(-desc, -probs, side="left")      # ties: their first slot
            keep = ...
            return jnp.where(keep, logits, -jnp.inf)
        """,
    ),
)
def _check_top_p(fn):
    logits = np.log(np.array([0.5, 0.3, 0.2], F32))
    inf = -np.inf
    expect(fn, Args(logits, 0.6), [logits[0], logits[1], inf], "keeps the token crossing p")
    expect(fn, Args(logits, 0.1), [logits[0], inf, inf], "always keeps the most likely")
    ties = np.zeros(4, F32)
    expect(fn, Args(ties, 0.3), [0.0] * 4, "keeps ties together")
    draws = st.tuples(TIE_LOGITS, st.sampled_from([0.3, 0.6, 0.85]))
    agree(fn, top_p_filter, draws.map(lambda lp: Args(*lp)))
    same_under_jit(fn, top_p_filter, Args(logits, np.float32(0.6)))


@jax.jit
def apply_temperature(logits, temperature):
    """logits / T for T > 0; the logits unchanged at T = 0 (greedy takes their argmax)."""
    return logits / jnp.where(temperature > 0, temperature, 1.0)  # (V,)


@exercise(
    "20_decoding",
    "apply_temperature",
    "(logits, temperature)",
    difficulty=1,
    teaches="temperature: divide the logits, sharper below 1, flatter above; 0 means greedy",
    reference=apply_temperature,
    solution=decoding.filter_logits,
    doc="""
    Scale the logits by 1 / temperature before sampling.

    Below 1 the distribution sharpens, above 1 it flattens. Temperature 0
    means greedy decoding: return the logits unchanged (the argmax is taken
    elsewhere) rather than dividing by zero. The temperature may be a traced
    value: choose with jnp.where, not with a Python if.

    Args:
      logits: (V,) float32.
      temperature: () float32 >= 0.
    Returns:
      (V,) float32.
    """,
    hints=(
        "Divide by jnp.where(temperature > 0, temperature, 1.0).",
        """
        def apply_temperature(logits, temperature):
            return logits / jnp.where(..., temperature, 1.0)
        """,
    ),
)
def _check_temperature(fn):
    logits = np.array([1.0, 2.0, -4.0], F32)
    expect(fn, Args(logits, F32(0.5)), [2.0, 4.0, -8.0], "golden: T = 0.5 doubles the logits")
    expect(fn, Args(logits, F32(0.0)), logits, "T = 0 (greedy) leaves them unchanged")
    draws = st.tuples(arrays(3, floats()), st.sampled_from([0.0, 0.7, 1.0, 2.0]))
    agree(fn, apply_temperature, draws.map(lambda c: Args(c[0], F32(c[1]))))
    for t in (0.0, 0.5):
        same_under_jit(fn, apply_temperature, Args(logits, F32(t)))


@jax.jit
def top_k_filter(logits, k):
    """The k largest logits (ties with the k-th kept too), the rest −inf."""
    return jnp.where(decoding.top_k_mask(logits, k), logits, -jnp.inf)  # (V,)


@exercise(
    "20_decoding",
    "top_k_filter",
    "(logits, k)",
    difficulty=2,
    teaches="top-k sampling: only the k most likely tokens, ties at the edge kept",
    reference=top_k_filter,
    solution=decoding.top_k_mask,
    doc="""
    Keep the k largest logits (and every logit equal to the k-th largest).

    Args:
      logits: (V,) float32.
      k: an int, 1 <= k <= V.
    Returns:
      (V,) float32: kept logits unchanged, the rest −inf.
    """,
    hints=(
        "Find the k-th largest value (jnp.sort), then keep logits >= it.",
        """
        def top_k_filter(logits, k):
            kth = jnp.sort(logits)[logits.shape[0] - k]
            return jnp.where(..., logits, -jnp.inf)
        """,
    ),
)
def _check_top_k(fn):
    logits = np.array([1.0, 3.0, 2.0, 3.0], F32)
    inf = -np.inf
    expect(fn, Args(logits, 1), [inf, 3.0, inf, 3.0], "keeps ties with the k-th")
    expect(fn, Args(logits, 3), [inf, 3.0, 2.0, 3.0], "golden: k = 3")
    draws = TIE_LOGITS.flatmap(lambda x: st.tuples(st.just(x), st.integers(1, x.shape[0])))
    agree(fn, top_k_filter, draws.map(lambda lk: Args(lk[0], lk[1])))


# ============================================================================
# 21_training_dynamics


@jax.jit
def largest_spike(losses):
    return tuple(dynamics.largest_spike(losses))


@exercise(
    "21_training_dynamics",
    "largest_spike",
    "(losses)",
    difficulty=2,
    teaches="spotting a spike: the largest rise above the best loss reached before",
    reference=largest_spike,
    solution=dynamics.largest_spike,
    doc="""
    The largest rise of the loss above the best value reached before it.

    rise_t = loss_t − min_{s<t} loss_s for t >= 1 (rise_0 = 0); an inf loss
    is an infinite rise.

    Args:
      losses: (S,) float32, S >= 1.
    Returns:
      (rise, step): () float32 the largest rise, clipped at 0 (a run that
      only fell has rise 0), and () int32 the step where it happened
      (the first such step).
    """,
    hints=(
        "jax.lax.cummin gives the running minimum; shift it by one step to get 'before t'.",
        """
        def largest_spike(losses):
            best = jax.lax.cummin(losses)
            before = jnp.concatenate([losses[:1], best[:-1]])            # (S,)
            rise = jnp.where(jnp.isfinite(losses), losses - before, jnp.inf)
            step = jnp.argmax(rise)
            return jnp.maximum(rise[step], 0.0), step
        """,
    ),
)
def _check_largest_spike(fn):
    curve = np.array([3.0, 2.0, 2.5, 1.0, 1.2], F32)
    expect(fn, Args(curve), (0.5, 2), "golden: 2 → 2.5 is the largest rise")
    expect(fn, Args(np.array([3.0, 2.0, 1.0], F32)), (0.0, 0), "a falling run has no rise")
    runs = arrays(st.sampled_from([1, 4, 8]), floats(0, 5)).map(Args)
    agree(fn, largest_spike, runs, rtol=1e-5, atol=1e-6)


@functools.partial(jax.jit, static_argnames="window")
def divergence_step(losses, limit, window):
    return dynamics.divergence_step(losses, limit, window=window)


@exercise(
    "21_training_dynamics",
    "divergence_step",
    "(losses, limit, window)",
    difficulty=3,
    teaches="telling divergence from a spike: a bad stretch that lasts to the end",
    reference=divergence_step,
    solution=dynamics.divergence_step,
    doc="""
    The first step of a final bad stretch, or −1 when the run has not diverged.

    A step is bad when its loss is not finite or exceeds `limit`. The run has
    diverged at step s when every step from s to the end is bad and that
    stretch is at least `window` long, or when the last loss is NaN or inf.

    Args:
      losses: (S,) float32.
      limit: a float, the highest loss a healthy run may keep.
      window: an int >= 1.
    Returns:
      () int32, s or −1.
    """,
    hints=(
        "Reverse the 'bad' flags and take a cumulative product: it stays 1 while bad lasts.",
        """
        def divergence_step(losses, limit, window):
            bad = ~jnp.isfinite(losses) | (losses > limit)
            tail = jnp.flip(jnp.cumprod(jnp.flip(bad).astype(jnp.int32))) > 0   # bad to the end
            length = jnp.sum(tail)
            diverged = (length >= window) | ~jnp.isfinite(losses[-1])
            return jnp.where(diverged & (length > 0), jnp.argmax(tail), -1)
        """,
    ),
)
def _check_divergence(fn):
    run = np.array([3.0, 2.0, 5.0, 1.0, 4.0, 6.0], F32)
    expect(fn, Args(run, 3.0, 2), 4, "golden: bad from step 4 to the end")
    expect(fn, Args(run, 3.0, 3), -1, "a stretch shorter than window is not divergence")
    expect(fn, Args(np.array([3.0, 1.0, np.nan], F32), 3.0, 5), 2, "a final NaN always counts")
    expect(fn, Args(np.array([3.0, 9.0, 1.0], F32), 3.0, 1), -1, "a spike that recovers")
    runs = st.tuples(
        arrays(st.sampled_from([1, 6]), st.sampled_from([0.5, 2.0, 4.0, float("nan")])),
        st.sampled_from([1, 3]),
    )
    agree(fn, divergence_step, runs.map(lambda rw: Args(rw[0], 3.0, rw[1])))


# ============================================================================
# 22_memory_and_compute


def matmul_intensity(m, k, n, itemsize):
    """FLOPs per byte of an (m, k) @ (k, n) product that reads both inputs and writes the output."""
    return roofline.intensity(
        roofline.matmul_flops(m, k, n), roofline.matmul_bytes(m, k, n, itemsize)
    )


@exercise(
    "22_memory_and_compute",
    "matmul_intensity",
    "(m, k, n, itemsize)",
    difficulty=1,
    teaches="arithmetic intensity: 2mkn FLOPs over the bytes that must move",
    reference=matmul_intensity,
    solution=roofline.matmul_bytes,
    doc="""
    The arithmetic intensity (FLOPs per byte) of an (m, k) @ (k, n) matmul.

    FLOPs: one multiply and one add per term, 2·m·k·n. Bytes: read both
    inputs and write the output once, (m·k + k·n + m·n)·itemsize.

    Args:
      m, k, n: ints >= 1.
      itemsize: bytes per number (4 for float32).
    Returns:
      a Python float.
    """,
    hints=(
        "Intensity = flops / bytes; a square n × n float32 matmul gives n / 6.",
        """
        def matmul_intensity(m, k, n, itemsize):
            flops = 2 * m * k * n
            nbytes = ...
            return flops / nbytes
        """,
    ),
)
def _check_matmul_intensity(fn):
    expect(fn, Args(600, 600, 600, 4), 100.0, "golden: a 600³ float32 matmul does 100 FLOP/B")
    sizes = st.tuples(*[st.integers(1, 4096)] * 3, st.sampled_from([2, 4, 8]))
    agree(fn, matmul_intensity, sizes.map(lambda c: Args(*c)), rtol=1e-9, atol=0)


@exercise(
    "22_memory_and_compute",
    "attainable",
    "(intensity, peak_flops, bandwidth)",
    difficulty=1,
    teaches="the roofline: min(peak FLOP/s, intensity × bandwidth)",
    reference=roofline.attainable,
    doc="""
    The most FLOP/s a kernel of this arithmetic intensity can reach.

    Below the ridge point (peak / bandwidth) memory limits it: intensity ×
    bandwidth; above it the compute roof, peak_flops.

    Args:
      intensity: FLOPs per byte.
      peak_flops: FLOP/s of the machine.
      bandwidth: bytes/s of its memory.
    Returns:
      a Python float.
    """,
    hints=(
        "It is the lower of the two roofs.",
        """
        def attainable(intensity, peak_flops, bandwidth):
            return min(peak_flops, ...)
        """,
    ),
)
def _check_attainable(fn):
    expect(fn, Args(1.0, 1e12, 1e11), 1e11, "golden: memory-bound at 1 FLOP/B")
    expect(fn, Args(100.0, 1e12, 1e11), 1e12, "golden: compute-bound at 100 FLOP/B")
    draws = st.tuples(st.floats(0.01, 1e4), st.floats(1e9, 1e15), st.floats(1e9, 1e13))
    agree(fn, roofline.attainable, draws.map(lambda c: Args(*c)), rtol=1e-9, atol=0)


# ---- the exercises of 23_fewer_bits ----

from trinity_foundations import quantize  # noqa: E402  (lesson 23's kernels)


@exercise(
    "23_fewer_bits",
    "quantize_symmetric",
    "(w, bits=8, per_channel=False)",
    difficulty=1,
    teaches="symmetric integer quantization: one scale per tensor or per output channel",
    reference=quantize.quantize_symmetric,
    doc="""
    Symmetric b-bit quantization of a weight matrix used as x @ w.

    The scale s = max|w| / qmax with qmax = 2**(bits - 1) - 1 (127 for int8),
    over the whole matrix, or over each output channel (column) when
    per_channel; a scale of 0 (an all-zero column) is taken as 1 / qmax.
    The codes are round(w / s) clipped to [-qmax, qmax].

    Args:
      w: (d_in, d_out) float32.
      bits: 2 to 8.
      per_channel: one scale per column instead of one for the matrix.
    Returns:
      (codes, scale): codes (d_in, d_out) int8; scale (1, d_out) float32 when
      per_channel, else (1, 1).
    """,
    hints=(
        "jnp.max(jnp.abs(w), axis=0, keepdims=True) gives one maximum per column.",
        """
        def quantize_symmetric(w, bits=8, per_channel=False):
            qmax = 2 ** (bits - 1) - 1
            top = jnp.max(jnp.abs(w), axis=0 if per_channel else None, keepdims=True)
            scale = jnp.where(top > 0, top, 1.0) / qmax
            codes = ...
            return codes.astype(jnp.int8), scale
        """,
    ),
)
def _check_quantize_symmetric(fn):
    w = np.array([[1.0, -0.5], [-2.0, 0.25]], F32)
    expect(
        fn,
        Args(w, 8, False),
        (np.array([[64, -32], [-127, 16]], np.int8), np.array([[2.0 / 127]], F32)),
        "golden: one scale, max|w| = 2 maps to -127",
    )
    expect(
        fn,
        Args(w, 8, True),
        (np.array([[64, -127], [-127, 64]], np.int8), np.array([[2.0, 0.5]], F32) / 127),
        "golden: one scale per output channel (column)",
    )
    matrices = st.tuples(
        arrays(st.sampled_from([(4, 3), (16, 8)])), st.sampled_from([4, 8]), st.booleans()
    )
    agree(fn, quantize.quantize_symmetric, matrices.map(lambda c: Args(*c)))

    def half_a_step(args: Args) -> str | None:
        codes, scale = call(fn, args, "round trip within half a step")
        back = np.asarray(codes, np.float64) * np.asarray(scale, np.float64)
        worst = np.max(np.abs(back - args.args[0]) / np.asarray(scale, np.float64))
        return None if worst <= 0.5 + 1e-3 else f"an entry came back {worst:.2f} steps away"

    search(matrices.map(lambda c: Args(*c)), half_a_step, "round trip within half a step")


@exercise(
    "23_fewer_bits",
    "nf4_levels",
    "(offset=0.9677083)",
    difficulty=2,
    teaches="NF4: 16 levels at quantiles of the normal distribution, as QLoRA defines them",
    reference=quantize.nf4_levels,
    doc="""
    QLoRA's NormalFloat-4 codebook.

    Eight positive levels: the standard normal's quantiles (its inverse CDF,
    jax.scipy.special.ndtri) at jnp.linspace(offset, 0.5, 9)[:-1]; seven
    negative ones: minus the quantiles at jnp.linspace(offset, 0.5, 8)[:-1];
    and 0. Sorted ascending and divided by the largest, so they span [-1, 1].

    Args:
      offset: the top probability, a float in (0.5, 1).
    Returns:
      (16,) float32, ascending, from -1 to 1, with an exact 0.
    """,
    hints=(
        "Build the 8 + 1 + 7 values with jnp.concatenate, then jnp.sort and divide "
        "by the last one.",
        """
        def nf4_levels(offset=0.9677083):
            ppf = jax.scipy.special.ndtri
            positive = ppf(jnp.linspace(offset, 0.5, 9)[:-1])
            negative = ...
            levels = jnp.sort(jnp.concatenate([positive, jnp.zeros(1), negative]))
            return levels / levels[-1]
        """,
    ),
)
def _check_nf4_levels(fn):
    got = expect(
        fn,
        Args(0.9677083),
        np.array(
            [-1.0, -0.6962, -0.5251, -0.3949, -0.2844, -0.1848, -0.0911, 0.0,
             0.0796, 0.1609, 0.2461, 0.3379, 0.4407, 0.5626, 0.7230, 1.0], F32,
        ),
        "golden: QLoRA's table (appendix E, to 4 places)",
        atol=1e-4,
    )  # fmt: skip
    holds(bool(np.all(np.diff(np.asarray(got)) > 0)), "ascending", got=got)
    offsets = st.floats(0.9, 0.995).map(lambda o: Args(o))
    agree(fn, quantize.nf4_levels, offsets, atol=1e-5)


# ---- the exercises of 24_kernels ----

# ============================================================================
# 24_kernels

ONLINE_SOFTMAX = jax.jit(kernels.softmax_online)
MERGE_STATS = jax.jit(kernels.merge_stats)
STAT_SHAPES = st.sampled_from([(1,), (4,)])


def row_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A row's softmax statistics: its maximum m and Σ exp(x − m)."""
    m = x.max(axis=-1)
    return m, np.exp(x - m[:, None]).sum(axis=-1)


@exercise(
    "24_kernels",
    "merge_stats",
    "(m_a, s_a, m_b, s_b)",
    difficulty=2,
    teaches="the online softmax's merge: rescale each running sum to the larger maximum",
    reference=kernels.merge_stats,
    doc="""
    Merge two running softmax statistics into the statistics of both parts.

    A part's statistics are its maximum m and its sum s = Σ exp(x − m). The
    merged maximum is max(m_a, m_b); each sum is rescaled to it by
    exp(m − m_new) before adding. A part with nothing in it yet has m = −inf
    and s = 0, and must leave the other part unchanged (no NaN).

    Args:
      m_a, s_a, m_b, s_b: float32 arrays of one shape (one entry per row).
    Returns:
      (m, s): the merged maximum and sum, that shape.
    """,
    hints=(
        "Both sums were taken against their own maximum; exp(m_a − m) converts s_a to the new one.",
        """
        def merge_stats(m_a, s_a, m_b, s_b):
            m = jnp.maximum(m_a, m_b)
            safe = jnp.where(jnp.isfinite(m), m, 0.0)      # −inf − (−inf) is NaN
            return m, s_a * jnp.exp(m_a - safe) + ...
        """,
    ),
)
def _check_merge_stats(fn):
    one = np.array([1.0], F32)
    m, s = np.array([3.0], F32), np.array([1.0 + 2.0 * math.exp(-2.0)], F32)
    expect(fn, Args(one, 2 * one, 3 * one, one), (m, s), "golden: (1, 2) and (3, 1)")
    empty = (np.array([-np.inf], F32), np.array([0.0], F32))
    expect(fn, Args(*empty, 2 * one, 5 * one), (2 * one, 5 * one), "an empty part changes nothing")
    expect(fn, Args(*empty, *empty), empty, "two empty parts stay empty (no NaN)")
    draws = STAT_SHAPES.flatmap(
        lambda shape: st.tuples(
            arrays(shape, floats(-30, 30)),
            arrays(shape, floats(0.5, 20)),
            arrays(shape, floats(-30, 30)),
            arrays(shape, floats(0.5, 20)),
        )
    )
    agree(fn, MERGE_STATS, draws.map(lambda c: Args(*c)), rtol=1e-5, atol=1e-6)
    x = rng_array(2, 6, scale=5.0)
    a, b, whole = (row_stats(part) for part in (x[:, :2], x[:, 2:], x))
    expect(fn, Args(*a, *b), whole, "two halves merge into the whole row", rtol=1e-5)


@exercise(
    "24_kernels",
    "softmax_online",
    "(x)",
    difficulty=2,
    teaches="softmax in one pass: a running maximum and a rescaled running sum",
    reference=kernels.softmax_online,
    doc="""
    Softmax along the last axis, reading the row once for its statistics.

    Walk the columns (jax.lax.scan over x moved to put the last axis first),
    keeping per row a running maximum m and a running sum s of exp(x − m):
    when a column raises the maximum, rescale s by exp(m_old − m_new). Then
    return exp(x − m) / s.

    Args:
      x: (..., n) float32 logits, finite or −inf (at least one finite per row).
    Returns:
      (..., n) probabilities; stable for logits as large as ±1e4.
    """,
    hints=(
        "Each column is a part of one element: merge (m, s) with (x_j, 1). Start from (−inf, 0).",
        """
        def softmax_online(x):
            def step(carry, x_j):
                m, s = carry
                m_new = jnp.maximum(m, x_j)
                return (m_new, s * jnp.exp(m - m_new) + ...), None
            start = (jnp.full(x.shape[:-1], -jnp.inf), jnp.zeros(x.shape[:-1]))
            (m, s), _ = jax.lax.scan(step, start, jnp.moveaxis(x, -1, 0))
            return jnp.exp(x - m[..., None]) / s[..., None]
        """,
    ),
)
def _check_softmax_online(fn):
    expect(fn, Args(np.array([0.0, math.log(3.0)], F32)), [0.25, 0.75], "golden value")
    expect(fn, Args(np.array([0.0, 1e4, -1e4], F32)), [0.0, 1.0, 0.0], "stable for ±1e4")
    rising = np.arange(8, dtype=F32).reshape(1, 8) * 3  # every column raises the maximum
    expect(fn, Args(rising), ONLINE_SOFTMAX(rising), "a maximum that keeps rising", rtol=1e-5)
    draws = arrays(st.sampled_from([(3, 8), (2, 16)]), st.one_of(floats(), HUGE))
    agree(fn, ONLINE_SOFTMAX, draws.map(Args), rtol=1e-4, atol=1e-6)
    same_under_jit(fn, kernels.softmax_online, Args(rng_array(2, 8, scale=10.0)))


# ---- the exercises of 25_adaptation ----


DPO_LOSS = jax.jit(lambda pi_c, pi_r, ref_c, ref_r, beta: adaptation.dpo_loss(
    pi_c, pi_r, ref_c, ref_r, beta)[0])  # fmt: skip


@exercise(
    "25_adaptation",
    "dpo_loss",
    "(pi_c, pi_r, ref_c, ref_r, beta)",
    difficulty=2,
    teaches="DPO: a preference as a logistic loss on the difference of implicit rewards",
    reference=DPO_LOSS,
    doc="""
    The DPO loss over P preference pairs, from log-probabilities of whole responses.

    Args:
      pi_c, pi_r: (P,) float32 log π of each chosen and each rejected response.
      ref_c, ref_r: (P,) float32 the same under the frozen reference π_ref.
      beta: a float32 β > 0.
    Returns:
      () float32: the mean over pairs of −log σ(β[(pi_c − ref_c) − (pi_r − ref_r)]).
      It is log 2 when the policy equals the reference. Use a stable log-sigmoid.
    """,
    hints=(
        "Form z = beta * ((pi_c - ref_c) - (pi_r - ref_r)); jax.nn.log_sigmoid(z) is stable.",
        """
        def dpo_loss(pi_c, pi_r, ref_c, ref_r, beta):
            z = beta * ((pi_c - ref_c) - (pi_r - ref_r))
            return -jnp.mean(jax.nn....(z))
        """,
    ),
)
def _check_dpo_loss(fn):
    zero = np.zeros(3, F32)
    expect(fn, Args(zero, zero, zero, zero, F32(0.5)), math.log(2), "golden: π = π_ref gives log 2")
    one = np.array([1.0], F32)
    expect(
        fn, Args(one, 0 * one, 0 * one, 0 * one, F32(2.0)), math.log1p(math.exp(-2.0)),
        "golden: one pair, z = 2 gives log(1 + e⁻²)", rtol=1e-5,
    )  # fmt: skip
    far = np.array([100.0], F32)
    expect(
        fn, Args(0 * far, far, 0 * far, 0 * far, F32(1.0)), 100.0,
        "stable: z = −100 gives 100, not inf", rtol=1e-5,
    )  # fmt: skip

    def cases(p):
        e = floats(-50, 0)
        return st.tuples(*(arrays((p,), e) for _ in range(4)), floats(0.01, 5.0))

    draws = st.sampled_from([1, 3, 8]).flatmap(cases)
    agree(fn, DPO_LOSS, draws.map(lambda c: Args(*c[:4], F32(c[4]))), rtol=1e-4, atol=1e-5)


KL_PER_SAMPLE = adaptation.kl_per_sample


@exercise(
    "25_adaptation",
    "kl_per_sample",
    "(policy_logits, ref_logits)",
    difficulty=2,
    teaches="how far a fine-tuned policy moved: KL of its next-token laws from the reference's",
    reference=KL_PER_SAMPLE,
    doc="""
    The KL divergence KL(π ‖ π_ref) of every position's next-token law, summed over
    the positions of each sample.

    Args:
      policy_logits: (B, K, V) float32 logits of the policy π at each of K positions.
      ref_logits: (B, K, V) float32 logits of the reference at the same positions.
    Returns:
      (B,) float32: Σ_k Σ_v p_v (log p_v − log q_v), p = softmax(policy), q = softmax(ref).
      Zero when the logits differ by a constant per position; never negative.
    """,
    hints=(
        "jax.nn.log_softmax of each gives log p and log q; p = exp(log p); sum the last two axes.",
        """
        def kl_per_sample(policy_logits, ref_logits):
            lp = jax.nn.log_softmax(policy_logits, axis=-1)
            lq = jax.nn.log_softmax(ref_logits, axis=-1)
            return jnp.sum(jnp.exp(lp) * (...), axis=(-2, -1))
        """,
    ),
)
def _check_kl_per_sample(fn):
    x = rng_array(2, 3, 5)
    same = np.zeros(2, F32)
    expect(fn, Args(x, x + 7.0), same, "golden: a constant shift is no change", atol=1e-5)
    half = np.log(np.array([[[0.5, 0.5]]], F32))  # (1, 1, 2)
    sure = np.log(np.array([[[0.9, 0.1]]], F32))
    want = np.array([0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)], F32)
    expect(fn, Args(half, sure), want, "golden: KL of (½, ½) from (0.9, 0.1)", rtol=1e-5)

    def cases(shape):
        return st.tuples(arrays(shape, floats(-5, 5)), arrays(shape, floats(-5, 5)))

    draws = st.sampled_from([(1, 1, 3), (2, 4, 5), (3, 2, 7)]).flatmap(cases)
    agree(fn, KL_PER_SAMPLE, draws.map(lambda c: Args(*c)), rtol=1e-4, atol=1e-5)
    got = call(fn, Args(x, rng_array(2, 3, 5, seed=1)), "never negative")
    holds(bool(np.all(np.asarray(got) >= -1e-6)), "KL is never negative", got=got)


# ---- the exercises of 26_evaluation ----

# ============================================================================
# 26_evaluation

from trinity_foundations import evaluation  # noqa: E402  (lesson 26's kernels)


def _bootstrap_case(drawn):
    """Args(losses (24,), idx (5, 24 // block), block) from (losses, block, indices)."""
    losses, block, seed = drawn
    count = 24 // block
    idx = np.random.default_rng(seed).integers(0, count, size=(5, count)).astype(np.int32)
    return Args(losses, idx, block)


@exercise(
    "26_evaluation",
    "block_bootstrap_means",
    "(losses, idx, block)",
    difficulty=2,
    teaches="error bars that respect correlation: resample contiguous blocks, not characters",
    reference=evaluation.block_bootstrap_means,
    doc="""
    The mean loss of each bootstrap resample of contiguous blocks.

    Cut `losses` into count = N // block blocks of `block` neighbours (leave
    out a tail shorter than a block) and average each block; resample d
    takes the blocks idx[d] (repeats allowed) and averages their means.

    Args:
      losses: (N,) float32 per-character losses, in the text's order.
      idx: (D, count) int32 block numbers, each from 0 to count - 1.
      block: an int >= 1, characters per block.
    Returns:
      (D,) float32, the mean of each resample.
    """,
    hints=(
        "Reshape the first count·block losses to (count, block): row i is block i.",
        """
        def block_bootstrap_means(losses, idx, block):
            count = losses.shape[0] // block
            means = losses[: count * block].reshape(count, block).mean(axis=1)  # (count,)
            return ...  # pick the rows idx names, average each row
        """,
    ),
)
def _check_block_bootstrap_means(fn):
    losses, idx = np.arange(1.0, 7.0, dtype=F32), np.array([[0, 0, 2], [1, 2, 2]], np.int32)
    golden = [8.5 / 3, 14.5 / 3]  # block means 1.5, 3.5, 5.5
    expect(fn, Args(losses, idx, 2), golden, "golden: blocks of 2 neighbours")
    longer = np.arange(1.0, 8.0, dtype=F32)  # a seventh loss: a tail shorter than a block
    expect(fn, Args(longer, idx, 2), golden, "leaves out a tail shorter than a block")
    drawn = st.tuples(
        arrays((24,), floats(0, 10)), st.sampled_from([1, 3, 8]), st.integers(0, 2**16)
    )
    agree(fn, evaluation.block_bootstrap_means, drawn.map(_bootstrap_case))
    same_under_jit(fn, evaluation.block_bootstrap_means, Args(losses, idx), block=2)


@exercise(
    "26_evaluation",
    "ngram_overlap",
    "(reference, text, n)",
    difficulty=1,
    teaches="contamination: how much of a text's n-grams another text already holds",
    reference=evaluation.ngram_overlap,
    doc="""
    The share of `text`'s n-gram positions whose n-gram also occurs in `reference`.

    An n-gram is a run of n consecutive characters; text has
    len(text) - n + 1 of them. Count positions, not distinct n-grams: a
    phrase the text repeats ten times counts ten times.

    Args:
      reference, text: Python strings.
      n: an int >= 1.
    Returns:
      a Python float from 0 to 1; 0.0 when text is shorter than n.
    """,
    hints=(
        "Put every n-gram of reference in a set first; then walk text's positions.",
        """
        def ngram_overlap(reference, text, n):
            seen = {reference[i : i + n] for i in range(len(reference) - n + 1)}
            total = len(text) - n + 1
            ...
        """,
    ),
)
def _check_ngram_overlap(fn):
    expect(fn, HostArgs("abcab", "abcd", 2), 2 / 3, "golden: ab and bc of ab, bc, cd")
    expect(fn, HostArgs("abcab", "ababab", 2), 3 / 5, "counts positions, not distinct n-grams")
    expect(fn, HostArgs("abc", "ab", 3), 0.0, "a text shorter than n has no n-grams")
    texts = st.text(alphabet="ab c", max_size=30)
    drawn = st.tuples(texts, texts, st.integers(1, 5))
    agree(fn, evaluation.ngram_overlap, drawn.map(lambda c: HostArgs(*c)), rtol=1e-12, atol=0)
