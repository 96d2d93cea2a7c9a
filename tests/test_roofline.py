"""roofline: counts from shapes against closed forms and XLA's own count; the kernels."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trinity_foundations import display, parallel, roofline, training
from trinity_foundations.training import LMLoss, TrainConfig
from trinity_foundations.transformer import GPTConfig, gpt_forward, init_gpt

TINY = GPTConfig(vocab_size=40, context=16, d_model=32, n_layers=2, n_heads=4, d_ff=128)
TRAIN = TrainConfig(batch=8, context=16)
FORMULA_FACTOR = 1.15  # formula within this factor of XLA's count of the unrolled step


def test_matmul_counts_are_the_closed_forms_and_xla_agrees():
    assert roofline.matmul_flops(3, 4, 5) == 120
    assert roofline.matmul_bytes(3, 4, 5, 4) == (12 + 20 + 15) * 4
    a, b = jnp.ones((32, 48)), jnp.ones((48, 16))
    # XLA:CPU's count: a GPU's leaves out the matmuls it hands to cuBLAS (it says -1 here).
    flops, nbytes = roofline.xla_cost(roofline.compiled_for_cpu(roofline.matmul, a, b))
    assert flops == roofline.matmul_flops(32, 48, 16)
    assert nbytes == roofline.matmul_bytes(32, 48, 16, a.dtype.itemsize)


def test_roof_ridge_and_bound():
    peak, bw = 100e9, 10e9
    assert roofline.ridge(peak, bw) == 10.0
    assert roofline.attainable(1.0, peak, bw) == 10e9  # sloped part: I·W
    assert roofline.attainable(1000.0, peak, bw) == peak  # flat part
    assert roofline.bound(9.9, peak, bw) == "memory"
    assert roofline.bound(10.0, peak, bw) == "compute"
    assert roofline.intensity(6.0, 3.0) == 2.0


def test_tree_bytes_from_shapes_equals_the_arrays():
    shapes = jax.eval_shape(lambda: init_gpt(jax.random.key(0), TINY))
    params = init_gpt(jax.random.key(0), TINY)
    real = sum(x.nbytes for x in jax.tree_util.tree_leaves(params))
    assert roofline.tree_bytes(shapes) == real


def test_activation_bytes_scale_with_batch_and_count_scores():
    one = roofline.activation_bytes(TINY, 1, 16, 4)
    assert roofline.activation_bytes(TINY, 3, 16, 4) == 3 * one
    # per token the scores add 2·H·T per layer: doubling T more than doubles the total
    assert roofline.activation_bytes(TINY, 1, 32, 4) > 2 * one


@functools.cache
def step_costs(model: GPTConfig, with_grads: bool, unrolled: bool = False):
    params = jax.eval_shape(lambda: init_gpt(jax.random.key(0), model))
    state = jax.eval_shape(lambda p: training.init_state(p, training.hyper_of(TRAIN)), params)
    ids = jax.ShapeDtypeStruct((TRAIN.batch, TRAIN.context), jnp.int32)
    fn = parallel.step_with_grads if with_grads else training.train_step
    loss = roofline.UnrolledLMLoss(model) if unrolled else LMLoss(model)
    step = functools.partial(fn, loss_fn=loss)
    # XLA's cost model differs per backend (a GPU counts fusions its own way): the
    # bounds below are the CPU's, so the program is compiled for the CPU wherever it runs
    return roofline.xla_cost(roofline.compiled_for_cpu(step, state, (ids, ids)))


def test_unrolled_forward_is_gpt_forward():
    params = init_gpt(jax.random.key(0), TINY)
    ids = jax.random.randint(jax.random.key(1), (2, TINY.context), 0, TINY.vocab_size)
    want = gpt_forward(params, ids, config=TINY)  # (B, T, V)
    got = roofline.unrolled_forward(params, ids, config=TINY)  # (B, T, V)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_formula_flops_within_a_stated_factor_of_xla_unrolled():
    scanned, _ = step_costs(TINY, with_grads=False)
    unrolled, _ = step_costs(TINY, with_grads=False, unrolled=True)
    formula = training.flops_per_token(TINY, TRAIN.context) * TRAIN.batch * TRAIN.context
    assert 1 / FORMULA_FACTOR < formula / unrolled < FORMULA_FACTOR
    # and the reason for unrolling: XLA sees the scan's body once, so the scanned
    # count falls short of the formula by about one layer's worth
    assert scanned < formula < unrolled * FORMULA_FACTOR


def test_returning_the_gradient_costs_no_flops():
    assert step_costs(TINY, with_grads=True)[0] == step_costs(TINY, with_grads=False)[0]


def test_forward_flops_per_token():
    n = training.matmul_params(TINY)
    assert roofline.forward_flops_per_token(TINY, 10) == 2 * n + 4 * 2 * 10 * 32
    assert 3 * roofline.attention_flops_per_token(TINY, 16) == 12 * 2 * 16 * 32


def test_causal_attention_against_float64_numpy():
    k_q, k_k, k_v = jax.random.split(jax.random.key(1), 3)
    q, k, v = (jax.random.normal(kk, (2, 3, 7, 4)) for kk in (k_q, k_k, k_v))
    out = np.asarray(roofline.causal_attention(q, k, v))
    qn, kn, vn = (np.asarray(x, np.float64) for x in (q, k, v))
    s = qn @ kn.transpose(0, 1, 3, 2) / 2.0  # sqrt(4)
    s = np.where(np.tril(np.ones((7, 7), bool)), s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, w @ vn, rtol=1e-5, atol=1e-6)


def test_copy_and_scale_add():
    x, y = jnp.arange(5.0), jnp.ones(5)
    np.testing.assert_array_equal(roofline.copy_into(jnp.zeros(5), x), x)
    np.testing.assert_array_equal(roofline.scale_add(x, y), 2 * np.arange(5.0) + 1)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_loglog_slope_of_a_power_law(p):
    xs = [64.0, 128.0, 512.0]
    assert math.isclose(roofline.loglog_slope(xs, [3 * x**p for x in xs]), p, rel_tol=1e-9)


def test_loglog_scatter_draws_points_roof_and_legend():
    chart = display.loglog_scatter(
        {"a": [(1, 10), (100, 1000)], "b": [(0, 5), (10, -1)]},
        lines={"roof": [(1, 10), (1000, 1000)]},
        x_label="FLOP/byte",
    )
    lines = chart.splitlines()
    assert "●" in chart and "● a" in lines[-2] and "· roof" in lines[-1]
    assert "○" not in "\n".join(lines[1:-3])  # b's points are not positive: not drawn
    assert display.loglog_scatter({"x": [(0, 0)]}) == "(nothing to plot)"


def test_counts_come_from_the_cpu_cost_model_on_every_backend():
    a = jnp.ones((64, 64), jnp.float32)  # (n, n)
    exe = jax.jit(roofline.matmul).lower(a, a).compile()
    flops, nbytes = roofline.counted(exe, roofline.matmul, a, a)
    assert flops == 2 * 64**3 and nbytes == 3 * 64 * 64 * 4  # every dot counted
    assert roofline.count_note("cpu") == ""
    assert "CPU cost model" in roofline.count_note("gpu")


def test_off_the_cpu_a_train_step_is_counted_by_compiling_it_for_the_cpu(monkeypatch):
    """The path a GPU takes, run here: the state's pytree of shapes recompiled for the CPU."""
    params = jax.eval_shape(lambda: init_gpt(jax.random.key(0), TINY))
    state = jax.eval_shape(lambda p: training.init_state(p, training.hyper_of(TRAIN)), params)
    ids = jax.ShapeDtypeStruct((TRAIN.batch, TRAIN.context), jnp.int32)
    step = functools.partial(training.train_step, loss_fn=LMLoss(TINY))
    exe = roofline.compiled_for_cpu(step, state, (ids, ids))
    monkeypatch.setattr(roofline.jax, "default_backend", lambda: "gpu")
    unused = jax.jit(lambda x: x).lower(ids).compile()  # the device's program: not counted
    assert roofline.counted(unused, step, state, (ids, ids)) == roofline.xla_cost(exe)
