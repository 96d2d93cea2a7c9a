"""parallel: the data-parallel step equals the single-device step, on 8 host devices in a
subprocess and over two local processes joined by jax.distributed."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trinity_foundations import parallel, training
from trinity_foundations.training import LMLoss, TrainConfig
from trinity_foundations.transformer import GPTConfig, init_gpt

TINY = GPTConfig(vocab_size=40, context=16, d_model=32, n_layers=1, n_heads=4, d_ff=128)
TRAIN = TrainConfig(batch=8, context=16)
SPEC = parallel.Spec(TINY, TRAIN)
AGREE = 1e-5
TIMEOUT = 240  # seconds for the check processes together, on a busy 2-core machine


def test_allreduce_count_reads_hlo_instructions():
    hlo = """
    %all-reduce.1 = f32[10]{0} all-reduce(f32[10]{0} %p), replica_groups={}
    %all-reduce-start.2 = f32[4]{0} all-reduce-start(f32[4]{0} %q)
    %all-reduce-done.2 = f32[4]{0} all-reduce-done(f32[4]{0} %all-reduce-start.2)
    %add = f32[4]{0} add(%all-reduce-done.2, %all-reduce-done.2)
    """
    assert parallel.allreduce_count(hlo) == 2
    assert parallel.allreduce_count("%x = f32[] add(%a, %b)") == 0


def test_allreduce_executed_counts_loop_bodies_once_per_trip():
    hlo = """%body.1 (p: (s32[], f32[4])) -> (s32[], f32[4]) {
  %all-reduce.1 = f32[4]{0} all-reduce(f32[4]{0} %x), to_apply=%add
}

%fused.2 (a: f32[2]) -> f32[2] {
  %all-reduce.9 = f32[2]{0} all-reduce(f32[2]{0} %a)
}

ENTRY %main.3 (q: f32[4]) -> f32[4] {
  %while.1 = (s32[], f32[4]) while(%t), condition=%cond, body=%body.1, backend_config={"known_trip_count":{"n":"5"}}
  %f = f32[2]{0} fusion(%y), kind=kLoop, calls=%fused.2
  %all-reduce.2 = f32[4]{0} all-reduce(f32[4]{0} %q)
}
"""  # noqa: E501 (HLO lines are long)
    assert parallel.allreduce_count(hlo) == 3  # instructions in the text
    assert parallel.allreduce_executed(hlo) == 5 + 1 + 1  # the loop's runs five times
    assert parallel.allreduce_executed("") == 0


def test_tree_helpers():
    a = {"w": np.array([1.0, -2.0]), "b": np.array([3.0])}
    b = {"w": np.array([1.5, -2.0]), "b": np.array([1.0])}
    assert parallel.max_abs_diff(a, b) == 2.0
    assert parallel.tree_norm(a) == pytest.approx(np.sqrt(14.0))
    rows = parallel.local_rows((np.arange(8), np.arange(16).reshape(8, 2)), 1, 2)
    np.testing.assert_array_equal(rows[0], [4, 5, 6, 7])
    assert rows[1].shape == (4, 2)


def test_spec_and_arrays_round_trip(tmp_path):
    assert parallel.spec_from_json(parallel.spec_to_json(SPEC)) == SPEC
    params = init_gpt(jax.random.key(0), TINY)
    parallel.save_tree(tmp_path / "p.npz", params)
    back = parallel.load_tree(tmp_path / "p.npz", parallel.params_like(TINY))
    assert parallel.max_abs_diff(params, back) == 0.0


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    """Run the 8-device check and the two workers at once (their start-ups overlap)."""
    folder = tmp_path_factory.mktemp("dp")
    k_p, k_ids = jax.random.split(jax.random.key(3))
    state = training.init_state(init_gpt(k_p, TINY), training.hyper_of(TRAIN))
    ids = jax.random.randint(k_ids, (8, 17), 0, 40, dtype=jnp.int32)  # (B, T+1)
    batch = (ids[:, :-1], ids[:, 1:])
    parallel.write_inputs(folder, state.params, batch)
    dp = parallel.launch_data_parallel(SPEC, folder, 8)
    workers = parallel.launch_multiprocess(SPEC, folder, 2)
    try:
        step = functools.partial(parallel.step_with_grads, loss_fn=LMLoss(TINY))
        ref_state, _, ref_grads = jax.jit(step)(state, batch)
        deadline = time.monotonic() + TIMEOUT
        dp_out = parallel.data_parallel_result(
            parallel.collect(dp, deadline), folder, ref_state.params, ref_grads
        )
        mp_out = parallel.multiprocess_result(
            [parallel.collect(w, deadline) for w in workers], folder, ref_state.params, ref_grads
        )
    finally:
        for p in [dp, *workers]:
            if p.poll() is None:
                p.kill()
                p.wait()
    return dp_out, mp_out


def test_sharded_step_on_8_host_devices_equals_one_device(checks):
    dp, _ = checks
    assert dp["ok"], dp["reason"]
    assert dp["devices"] == 8 and dp["backend"] == "cpu"
    assert dp["params_max_diff"] <= AGREE and dp["grads_max_diff"] <= AGREE
    assert dp["allreduce_count"] >= 1  # the gradient's mean crosses devices
    assert dp["allreduce_executed"] >= dp["allreduce_count"]


def test_shard_map_step_equals_one_device_and_pmean_of_grads_is_8x(checks):
    dp, _ = checks
    assert dp["shard_map_params_max_diff"] <= AGREE
    assert dp["shard_map_grads_max_diff"] <= AGREE
    assert dp["textbook_grads_ratio"] == pytest.approx(8.0, rel=1e-4)


def gloo_supported() -> str | None:
    """None if this JAX can join CPU processes with gloo collectives, else why not."""
    if not hasattr(jax, "distributed"):
        return "this JAX has no jax.distributed"
    try:
        jax.config.jax_cpu_collectives_implementation  # noqa: B018
    except AttributeError:
        return "this JAX has no jax_cpu_collectives_implementation option (gloo)"
    return None


def test_two_processes_on_localhost_equal_one_device(checks):
    reason = gloo_supported()
    if reason:
        pytest.skip(reason)
    _, mp = checks
    assert mp["ok"], mp["reason"]
    assert mp["processes"] == 2 and mp["devices"] == 2 and mp["local_devices"] == 1
    assert mp["params_max_diff"] <= AGREE and mp["grads_max_diff"] <= AGREE
    assert mp["between_processes_max_diff"] == 0.0


def test_a_failing_or_slow_check_process_becomes_one_reason():
    failing = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert parallel.collect(failing, time.monotonic() + 30) == {"error": "exit status 3: boom"}
    slow = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert parallel.collect(slow, time.monotonic() + 0.5) == {"error": "timed out"}
    assert slow.poll() is not None  # killed, not left running
    result = parallel.multiprocess_result([{"error": "timed out"}, {}], None, None, None)
    assert result == {"ok": False, "reason": "timed out", "processes": 2}


GOOD_SPEC = {"model": GPTConfig(5, 4, 8, 1, 2, 16)._asdict(), "train": {"batch": 2, "context": 4}}


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["--spec", "{oops"], "--spec: Expecting property name"),
        (["--spec", "[]"], "--spec: must be a JSON object"),
        (["--spec", json.dumps({"train": {}})], "--spec: its configuration has no 'model'"),
        (["--spec", json.dumps({**GOOD_SPEC, "train": {"batch": -1}})], "batch must be from 1"),
        (["--spec", json.dumps({**GOOD_SPEC, "train": {"lr": "x", "bogus": 1}})], "'train' must"),
        (["--port", "-1"], "--port: must be from 0 to 65535"),  # was a segmentation fault
        (["--port", "0"], "a worker needs the coordinator's port"),
        (["--process-id", "2"], "must be below --processes 2"),
    ],
)
def test_the_check_module_refuses_bad_arguments_in_one_line(tmp_path, capsys, argv, reason):
    base = {"--spec": json.dumps(GOOD_SPEC), "--folder": str(tmp_path), "--port": "1234"}
    base.update(dict(zip(argv[::2], argv[1::2])))
    with pytest.raises(SystemExit) as done:
        parallel.main(["worker", *(x for kv in base.items() for x in kv)])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and reason in err[-1], err
