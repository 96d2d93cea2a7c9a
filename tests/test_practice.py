"""The practice checker: every check passes the reference and fails the stub and a wrong version.

For each exercise: the package's answer (the exercise's reference) passes;
an untouched stub says "not done yet"; and a realistic wrong version (the
mistake the lesson warns about) fails with a property, an input and a
reason. Few hypothesis examples keep the file quick; the command line is
run once, as a learner runs it.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trinity_foundations import adaptation, gradients, practice, practice_stubs, tokenizers
from trinity_foundations.catalogue import STEMS

ROOT = Path(__file__).resolve().parents[1]
PRACTICE = ROOT / "practice"
EXERCISES = practice.exercises()
BY_NAME = {e.name: e for e in EXERCISES}


@pytest.fixture(autouse=True, scope="module")
def few_examples():
    """Two drawn inputs per property here, not shrunk (the command line draws more)."""
    saved = practice.EXAMPLES, practice.SHRINK
    practice.EXAMPLES, practice.SHRINK, practice.SETTINGS = 2, False, None
    yield
    (practice.EXAMPLES, practice.SHRINK), practice.SETTINGS = saved, None


def stub(*args, **kwargs):
    raise NotImplementedError


# --- realistic wrong versions, one (or more) per exercise ---------------------


def _softmax_unstable(x, axis=-1):
    e = jnp.exp(x)  # overflows at 1e4
    return e / jnp.sum(e, axis=axis, keepdims=True)


def _attention_unscaled(q, k, v, *, causal=False):
    scores = q @ k.T  # (T, T) no 1/sqrt(d)
    if causal:
        scores = jnp.where(jnp.tril(jnp.ones(scores.shape, dtype=bool)), scores, -jnp.inf)
    return jax.nn.softmax(scores, axis=-1) @ v


def _attention_future(q, k, v, *, causal=False):
    scores = q @ k.T / jnp.sqrt(jnp.float32(q.shape[-1]))
    if causal:  # the wrong triangle: each query sees the future
        scores = jnp.where(jnp.triu(jnp.ones(scores.shape, dtype=bool)), scores, -jnp.inf)
    return jax.nn.softmax(scores, axis=-1) @ v


def _layer_norm_eps_outside(x, gamma, beta, eps=1e-5):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    sd = jnp.sqrt(jnp.mean((x - mu) ** 2, axis=-1, keepdims=True))
    return gamma[None, :] * (x - mu) / (sd + eps) + beta[None, :]


def _merge_overlapping(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 1  # should skip both tokens
        else:
            out.append(ids[i])
            i += 1
    return out


def _top_p_drops_crossing(logits, p):
    probs = jax.nn.softmax(logits)
    order = jnp.argsort(-probs)
    keep_sorted = jnp.cumsum(probs[order]) < p  # drops the token that crosses p
    keep = jnp.zeros(logits.shape, dtype=bool).at[order].set(keep_sorted)
    return jnp.where(keep, logits, -jnp.inf)


def _top_k_breaks_ties(logits, k):
    idx = jnp.argsort(-logits)[:k]
    keep = jnp.zeros(logits.shape, dtype=bool).at[idx].set(True)
    return jnp.where(keep, logits, -jnp.inf)


def _lr_off_by_one(step, *, peak, warmup, total, final_fraction):
    warm = peak * step / warmup  # update 0 gets a learning rate of 0
    t = jnp.clip((step - warmup) / max(total - warmup, 1), 0.0, 1.0)
    cosine = peak * (final_fraction + (1 - final_fraction) * 0.5 * (1 + jnp.cos(jnp.pi * t)))
    return jnp.where(step < warmup, warm, cosine)


def _warp_with_if(task, expert):
    if expert == 2:  # a Python if on a value: fine eagerly, fails under jit
        return jnp.array([-0.5, 2.0], dtype=task.dtype)
    shift = jnp.array([[2.5, 0.0], [0.0, 2.5]], dtype=task.dtype)
    return task - shift[expert]


def _rope_halves(x, positions, base=10000.0):
    t, d = x.shape
    w = base ** (-2.0 * jnp.arange(d // 2, dtype=x.dtype) / d)
    a = positions.astype(x.dtype)[:, None] * w[None, :]
    c, s = jnp.cos(a), jnp.sin(a)
    x0, x1 = x[:, : d // 2], x[:, d // 2 :]  # halves, not interleaved pairs
    return jnp.concatenate([x0 * c - x1 * s, x0 * s + x1 * c], axis=1)


def _slow_multiply(a, b):
    if a.shape[0] > 1000:
        time.sleep(0.3)  # stands in for a Python loop over the elements
    return a * b


def _temperature_with_if(logits, temperature):
    if temperature == 0:  # a Python if on a value: fails under jit
        return logits
    return logits / temperature


def _wald(successes, n, z=1.96):
    p = successes / n
    half = z * (p * (1 - p) / n) ** 0.5
    return max(0.0, p - half), min(1.0, p + half)


def _bce_naive(z, y):
    p = jax.nn.sigmoid(z)
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def _cross_entropy_naive(logits, targets):
    p = jax.nn.softmax(logits, axis=-1)
    picked = jnp.take_along_axis(jnp.log(p), targets[:, None], axis=-1)
    return -jnp.mean(picked)


def _route_no_softmax(tokens, router):
    logits = tokens @ router.T
    sel = jnp.argmax(logits, axis=-1)
    f = jnp.mean(jax.nn.one_hot(sel, router.shape[0], dtype=logits.dtype), axis=0)
    return sel, f, jnp.mean(logits, axis=0)


def _trinity_argmin(task, routing):
    logits = routing @ task
    return jax.nn.softmax(logits), jnp.argmin(logits)


def _clip_always(grads, max_norm):
    norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grads)))
    return jax.tree_util.tree_map(lambda g: g * (max_norm / norm), grads)


def _blocks_strided(losses, idx, block):
    """Blocks taken every count-th character (a reshape the wrong way round)."""
    count = losses.shape[0] // block
    return losses[: count * block].reshape(block, count).mean(axis=0)[idx].mean(axis=1)


def _overlap_distinct(reference, text, n):
    """Counts distinct n-grams, not positions."""
    grams = {text[i : i + n] for i in range(len(text) - n + 1)}
    if not grams:
        return 0.0
    return len(grams & {reference[i : i + n] for i in range(len(reference) - n + 1)}) / len(grams)


def _overlap_misses_last(reference, text, n):
    """Stops one n-gram early (range(len(text) - n))."""
    seen = {reference[i : i + n] for i in range(len(reference) - n + 1)}
    total = len(text) - n
    return sum(text[i : i + n] in seen for i in range(total)) / total if total > 0 else 0.0


def _divergence_first_bad(losses, limit, window):
    bad = ~jnp.isfinite(losses) | (losses > limit)
    return jnp.where(bad.any(), jnp.argmax(bad), -1)


def _pair_counts_disjoint(ids):
    counts = {}
    for pair in zip(ids[::2], ids[1::2]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _bigram_transposed(tokens, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    np.add.at(counts, (tokens[1:], tokens[:-1]), 1)
    return counts


def _lora_no_scale(x, w0, a, b, alpha=1.0):
    return x @ w0.T + (x @ a.T) @ b


def _uniform_directions(key, *, n, dim):
    u = jax.random.uniform(key, (n, dim))
    return u / jnp.linalg.norm(u, axis=-1, keepdims=True)


def _softmax_online_no_rescale(x):
    def step(carry, x_j):
        m, s = carry
        m_new = jnp.maximum(m, x_j)
        return (m_new, s + jnp.exp(x_j - m_new)), None  # the old sum is not rescaled

    start = (jnp.full(x.shape[:-1], -jnp.inf), jnp.zeros(x.shape[:-1]))
    (m, s), _ = jax.lax.scan(step, start, jnp.moveaxis(x, -1, 0))
    return jnp.exp(x - m[..., None]) / s[..., None]


def _quantize_per_row(w, bits=8, per_channel=False):
    qmax = 2 ** (bits - 1) - 1  # per channel taken over rows: the input channels
    top = jnp.max(jnp.abs(w), axis=1 if per_channel else None, keepdims=True)
    scale = jnp.where(top > 0, top, 1.0) / qmax
    return jnp.clip(jnp.round(w / scale), -qmax, qmax).astype(jnp.int8), scale


def _nf4_unscaled(offset=0.9677083):
    ppf = jax.scipy.special.ndtri  # the quantiles themselves, never divided by the largest
    positive = ppf(jnp.linspace(offset, 0.5, 9)[:-1])
    negative = -ppf(jnp.linspace(offset, 0.5, 8)[:-1])
    return jnp.sort(jnp.concatenate([positive, jnp.zeros(1), negative]))


WRONG = {
    "list_multiply": [lambda a, b: [x * x for x in a]],
    "sum_of_squares": [lambda n: int(n * (n + 1) * (2 * n + 1) / 6)],
    "to_device": [lambda values: np.asarray(values)],
    "multiply": [lambda a, b: a + b, _slow_multiply],
    "square_add": [lambda a, b: 2 * a + b],
    "count_primitives": [lambda fn, *args: len(jax.make_jaxpr(fn)(*args).jaxpr.invars)],
    "cosine_similarity": [lambda a, b: a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b))],
    "normalize": [lambda v: v / jnp.linalg.norm(v)],
    "random_unit_vectors": [_uniform_directions],
    "pair_dots": [lambda u, v: u @ v.T],
    "hoeffding_bound": [lambda dim, epsilon: jnp.exp(-dim * epsilon**2 / 2)],
    "tail_share": [lambda dots, epsilon: jnp.mean((dots > epsilon).astype(jnp.float32))],
    "logistic_gradient": [gradients.backward_forgetting_sigmoid],
    "central_difference": [gradients.one_sided],
    "wilson_interval": [_wald],
    "accuracy": [lambda w, b, x, y: jnp.mean((jax.nn.sigmoid(x @ w + b) > 0) == (y > 0.5))],
    "lora_merge": [lambda w0, a, b, alpha=1.0: w0 + (alpha / a.shape[0]) * (a.T @ b)],
    "numerical_rank": [lambda s, shape: int(np.sum(s > 0))],
    "head_scores": [lambda q, k: jnp.einsum("bhqd,bhkd->bhqk", q, k)],
    "apply_temperature": [_temperature_with_if],
    "binary_cross_entropy": [_bce_naive],
    "softmax": [_softmax_unstable],
    "attention": [_attention_unscaled, _attention_future],
    "softmax_jacobian": [lambda s: jnp.outer(s, s) - jnp.diag(s)],
    "entropy": [lambda p: -jnp.sum(p * jnp.log(p), axis=-1)],
    "truncate": [
        lambda w, rank: (lambda u, s, vt: (u[:, : rank + 1] * s[: rank + 1]) @ vt[: rank + 1])(
            *jnp.linalg.svd(w, full_matrices=False)
        )
    ],
    "lora_forward": [_lora_no_scale],
    "eckart_young_error": [lambda s, rank: jnp.sum(s[rank:] ** 2)],
    "energy_share": [lambda s: s / jnp.sum(s)],
    "log_rank_weights": [lambda mu: jnp.arange(mu, 0, -1, dtype=jnp.float32) / (mu * (mu + 1) / 2)],
    "recombine": [
        lambda points, losses, weights: weights @ points[jnp.argsort(-losses)[: len(weights)]]
    ],
    "rosenbrock": [
        lambda x: jnp.sum(
            100.0 * (x[..., :-1] - x[..., 1:] ** 2) ** 2 + (1.0 - x[..., :-1]) ** 2, -1
        )
    ],
    "best_indices": [lambda losses, mu: jnp.argsort(losses)[-mu:]],
    "load_balancing_loss": [
        lambda probs, idx, e: jnp.sum(
            jnp.mean(jax.nn.one_hot(idx, e, dtype=probs.dtype), axis=0) * jnp.mean(probs, axis=0)
        )
    ],
    "top1_route": [_route_no_softmax],
    "aux_loss": [lambda f, p: jnp.sum(f * p, axis=-1)],
    "scenario_loss": [lambda p: jnp.sum(p**2)],
    "trinity_route": [_trinity_argmin],
    "warp": [_warp_with_if],
    "cross_entropy": [_cross_entropy_naive],
    "bigram_counts": [_bigram_transposed],
    "layer_norm": [_layer_norm_eps_outside],
    "rms_norm": [lambda x, gamma, eps=1e-5: _layer_norm_eps_outside(x, gamma, 0 * gamma, eps)],
    "causal_mask": [lambda t: jnp.triu(jnp.ones((t, t), dtype=bool))],
    "merge": [_merge_overlapping],
    "rope": [_rope_halves],
    "pair_counts": [_pair_counts_disjoint],
    "split_heads": [lambda x, h: x.reshape(x.shape[0], h, x.shape[1], x.shape[2] // h)],
    "merge_heads": [lambda x: x.reshape(x.shape[0], x.shape[2], x.shape[1] * x.shape[3])],
    "learning_rate": [_lr_off_by_one],
    "global_norm": [
        lambda tree: sum(jnp.linalg.norm(leaf) for leaf in jax.tree_util.tree_leaves(tree))
    ],
    "clip_by_global_norm": [_clip_always],
    "top_p_filter": [_top_p_drops_crossing],
    "top_k_filter": [_top_k_breaks_ties],
    "largest_spike": [
        lambda losses: (
            jnp.maximum(jnp.max(losses - losses[0]), 0.0),
            jnp.argmax(losses - losses[0]),
        )
    ],
    "divergence_step": [_divergence_first_bad],
    "matmul_intensity": [lambda m, k, n, itemsize: 2 * m * k * n / ((m * k + k * n) * itemsize)],
    "attainable": [lambda intensity, peak, bandwidth: max(peak, intensity * bandwidth)],
    "quantize_symmetric": [_quantize_per_row],
    "nf4_levels": [_nf4_unscaled],
    "block_bootstrap_means": [_blocks_strided, lambda losses, idx, block: losses[idx].mean(axis=1)],
    "ngram_overlap": [_overlap_distinct, _overlap_misses_last],
    "merge_stats": [lambda m_a, s_a, m_b, s_b: (jnp.maximum(m_a, m_b), s_a + s_b)],
    "softmax_online": [_softmax_online_no_rescale],
    "dpo_loss": [  # the reference forgotten; the preference the wrong way round
        jax.jit(lambda pc, pr, rc, rr, b: -jnp.mean(jax.nn.log_sigmoid(b * (pc - pr)))),
        jax.jit(lambda pc, pr, rc, rr, b: -jnp.mean(jax.nn.log_sigmoid(b * (pr - rr - pc + rc)))),
    ],
    "kl_per_sample": [  # KL(π_ref ‖ π), the other way round
        jax.jit(lambda p, q: adaptation.kl_per_sample(q, p)),
    ],
}


# Array code is checked jitted here: one compile per shape instead of one per
# primitive keeps this file quick (the mistakes do not depend on it).
JITTED = (
    "cosine_similarity",
    "normalize",
    "pair_dots",
    "hoeffding_bound",
    "tail_share",
    "binary_cross_entropy",
    "softmax_jacobian",
    "entropy",
    "lora_forward",
    "energy_share",
    "recombine",
    "rosenbrock",
    "aux_loss",
    "scenario_loss",
    "trinity_route",
    "cross_entropy",
    "layer_norm",
    "rms_norm",
    "rope",
    "global_norm",
    "clip_by_global_norm",
    "top_p_filter",
    "largest_spike",
    "logistic_gradient",
    "top1_route",
    "square_add",
    "lora_merge",
    "head_scores",
)
STATIC = {"softmax": "axis", "attention": "causal"}
for _name in JITTED:
    WRONG[_name] = [jax.jit(w) for w in WRONG[_name]]
for _name, _static in STATIC.items():
    WRONG[_name] = [jax.jit(w, static_argnames=_static) for w in WRONG[_name]]


# --- every exercise -----------------------------------------------------------


def test_names_are_unique_and_every_lesson_has_exercises():
    names = [e.name for e in EXERCISES]
    assert len(names) == len(set(names))
    assert {e.lesson for e in EXERCISES} == set(STEMS)
    assert [STEMS.index(e.lesson) for e in EXERCISES] == sorted(
        STEMS.index(e.lesson) for e in EXERCISES
    )
    assert set(WRONG) == set(names)


@pytest.mark.parametrize("name", list(BY_NAME))
def test_reference_passes_stub_and_wrong_fail(name):
    ex = BY_NAME[name]
    assert practice.run_check(ex, ex.reference) is None, practice.describe(
        practice.run_check(ex, ex.reference), ex
    )
    outcome = practice.run_check(ex, stub)
    assert isinstance(outcome, practice.NotDone)
    assert "not done yet" in "\n".join(practice.describe(outcome, ex))
    for wrong in WRONG[name]:
        outcome = practice.run_check(ex, wrong)
        assert isinstance(outcome, practice.Failed), (name, wrong)
        lines = practice.describe(outcome, ex)
        assert lines[0].startswith("property: ") and len(lines) >= 2, lines
        assert "Traceback" not in "\n".join(lines)


def test_a_failure_shows_the_smallest_input_and_the_largest_error():
    ex = BY_NAME["softmax"]
    lines = practice.describe(practice.run_check(ex, _softmax_unstable), ex)
    text = "\n".join(lines)
    assert "property: stable for huge logits" in text
    assert "input:    softmax(" in text and "expected:" in text and "got:" in text
    assert "largest error: nan" in text

    # a drawn input: hypothesis shrinks a mismatch to the smallest case
    def ignores_axis(x, axis=-1):
        return jax.nn.softmax(x, axis=-1)

    saved = practice.EXAMPLES
    practice.EXAMPLES, practice.SHRINK, practice.SETTINGS = 25, True, None
    try:
        failed = practice.run_check(ex, ignores_axis)
    finally:
        practice.EXAMPLES, practice.SHRINK, practice.SETTINGS = saved, False, None
    assert failed.prop == "agrees with the package's kernel"
    x, axis = failed.inputs.args[0], failed.inputs.kwargs["axis"]
    assert axis == 0 and np.count_nonzero(x) == 0, failed.inputs  # shrunk to zeros


def test_learner_errors_show_their_frame_only():
    def broken(x, axis=-1):
        return x.no_such_method()

    ex = BY_NAME["softmax"]
    text = "\n".join(practice.describe(practice.run_check(ex, broken), ex))
    assert "raised:   AttributeError" in text
    assert "your code: test_practice.py" in text and "x.no_such_method()" in text
    assert "practice_checks.py" not in text and "Traceback" not in text


def test_jit_is_checked():
    outcome = practice.run_check(BY_NAME["warp"], _warp_with_if)
    assert "jax.jit" in outcome.prop


def test_practice_files_declare_every_exercise():
    for stem in STEMS:
        assert (PRACTICE / f"{stem}.py").is_file(), stem
    readme = (PRACTICE / "README.md").read_text()
    for ex in EXERCISES:
        module = practice._import(PRACTICE / f"{ex.lesson}.py")
        fn = getattr(module, ex.name)
        declared = {}
        exec(f"def f{ex.signature}: pass", declared)  # normalises 1e-5 and 1e-05 alike
        assert inspect.signature(fn) == inspect.signature(declared["f"]), ex.name
    assert practice_stubs.readme_table() in readme  # the table is up to date


def test_load_names_the_missing_exercise(tmp_path):
    (tmp_path / "06_self_attention.py").write_text(
        "def softmax(x, axis=-1):\n    'todo'\n    raise NotImplementedError\n"
        "def attention(q, k, v, *, causal=False):\n    return q\n"
    )
    with pytest.raises(
        practice.NotDone, match="softmax in practice/06_self_attention.py still raises"
    ):
        practice.load("06", "softmax", tmp_path)
    assert practice.load("06_self_attention", "attention", tmp_path)(1, 2, 3) == 1
    with pytest.raises(practice.NotDone, match="missing"):
        practice.load("20", "top_p_filter", tmp_path)
    assert practice.resolve_lesson("quasi") == "04a_quasi_orthogonality"
    assert practice.resolve_lesson("04a") == "04a_quasi_orthogonality"
    assert practice.resolve_lesson("4") == "04_dot_product"
    assert practice.names("06") == ("softmax", "attention")


def test_hint_and_solution():
    ex = BY_NAME["softmax"]
    hint = practice.hints_text(ex)
    assert "Hint 1 (a nudge)" in hint and "Hint 2 (a skeleton)" in hint
    solution = practice.solution_text(ex)
    assert "src/trinity_foundations/attention.py" in solution and "def softmax" in solution


def test_solved_folder_passes_and_untouched_fails(tmp_path):
    """With the reference in place every selected exercise passes; a stub stops the run."""
    (tmp_path / "17_tokenization_embeddings.py").write_text(
        "from trinity_foundations.tokenizers import merge, pair_counts  # noqa: F401\n"
        "def rope(x, positions, base=10000.0):\n    raise NotImplementedError\n"
    )
    import io

    out = io.StringIO()
    selected = [BY_NAME["merge"], BY_NAME["rope"], BY_NAME["pair_counts"]]
    assert tokenizers.merge([1], (1, 1), 2) == [1]
    assert practice.run(selected, tmp_path, out) == 1
    text = out.getvalue()
    assert "✅ merge" in text and "❌ rope" in text and "1 of 3 done" in text
    assert "pair_counts" not in text  # it stopped at the first failure


def test_command_line_on_untouched_practice():
    if not all(
        practice.is_stub(getattr(practice._import(PRACTICE / f"{e.lesson}.py"), e.name))
        for e in EXERCISES
    ):
        pytest.skip("practice/ has solved exercises (the learner's work): not untouched")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        [sys.executable, "-m", "trinity_foundations.practice"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 1
    assert f"0 of {len(EXERCISES)} done" in run.stdout
    assert "❌ list_multiply" in run.stdout and "not done yet" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
