"""Data parallelism with JAX's own machinery: meshes, shardings, shard_map, several processes.

Data parallelism splits a batch of B examples over D devices; each device
holds a full copy of the parameters, computes the gradient of its B/D
examples, and the D gradients are averaged with an all-reduce, so every
copy takes the same optimizer step. The all-reduce carries one number per
parameter (the gradient), whatever the batch size.

JAX offers two ways to write it:

- `jax.jit` with shardings: a `Mesh` names the devices' axis ("data"), a
  `NamedSharding(mesh, P("data"))` splits the batch's leading axis over it
  and `P()` replicates the parameters. The step is the single-device code,
  unchanged; XLA's partitioner inserts the all-reduce itself.
- `jax.shard_map`: the function sees one device's shard and says where the
  devices talk (`lax.pmean`, `lax.psum`). Inside it, a gradient with respect
  to a replicated (device-invariant) parameter already comes summed over the
  devices: the transpose of "broadcast the same value to every device" is
  "sum over devices". So differentiate the mean loss, `pmean(loss)`, and the
  gradient is the global mean gradient; a `pmean` of per-device gradients
  gives D times too much.

Across machines the same code runs once per process after
`jax.distributed.initialize(coordinator, num_processes, process_id)`:
`jax.devices()` then lists every process's devices, a mesh spans them all,
and each process feeds its own slice of the batch
(`jax.make_array_from_process_local_data`).

`python -m trinity_foundations.parallel dp|worker ...` runs the checks in a
fresh process (a device count is fixed when JAX starts); `run_*` below start
those processes with a time limit and read back one JSON line each.

References:
  JAX docs, "Distributed arrays and automatic parallelization" and
    "Introduction to shard_map", https://docs.jax.dev/
  Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel
    Training", VLDB 2020 (gradient all-reduce). arXiv:2006.15704
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from trinity_foundations import checkpoints, training
from trinity_foundations.training import LMLoss, TrainConfig
from trinity_foundations.transformer import GPTConfig, init_gpt

AXIS = "data"

# ----------------------------------------------------------------------------
# The same step over a mesh.


def data_mesh(devices, axis: str = AXIS) -> Mesh:
    """A one-axis mesh over `devices`, with Auto axis semantics.

    JAX 0.10's `jax.make_mesh` defaults to Explicit axes, under which the
    embedding gather `tok[ids]` with batch-sharded ids raises a
    ShardingTypeError unless it names its output sharding; with Auto axes
    XLA's partitioner decides, as in earlier JAX.
    """
    return Mesh(np.array(devices), (axis,), axis_types=(AxisType.Auto,))


def batch_sharded(fn, mesh: Mesh, axis: str = AXIS):
    """`fn(replicated, batch)` jitted with the batch's leading axis split over `axis`.

    The first argument (parameters or the whole training state) and every
    output are replicated: each device holds all of them.
    """
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P(axis))
    return jax.jit(fn, in_shardings=(replicated, split), out_shardings=replicated)


def pmean_loss(loss_fn, axis: str = AXIS):
    """The global mean loss from inside `shard_map`: each device's mean, averaged."""
    return lambda params, batch: jax.lax.pmean(loss_fn(params, batch), axis)  # ()


def step_with_grads(state, batch, *, loss_fn):
    """`training.train_step`, and the gradient it applied: (state, aux, grads).

    Returning the gradient costs nothing more: the update needed it already
    (summed over the devices, once the batch is sharded).
    """
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    new_state, aux = training.apply_gradients(state, loss, grads)
    return new_state, aux, grads


def shard_map_step(train: TrainConfig, loss_fn, mesh: Mesh, axis: str = AXIS):
    """The training step written per device with `jax.shard_map`.

    Each device runs `step_with_grads` on its shard of the batch with the
    pmean loss (the global mean), so the gradient it differentiates is the
    global mean gradient. Beside it, the textbook recipe for comparison:
    each device's own gradient, then `lax.pmean`. In JAX 0.10 that is D times
    too large: the gradient of a replicated (device-invariant) parameter
    already comes summed over the devices, since the transpose of handing
    one value to every device is summing over them.

    Args:
      train: the TrainConfig; loss_fn: (params, batch) -> () mean loss.
      mesh: a one-axis mesh; batch leaves (B, ...) are split along B over it.
    Returns:
      a jitted (state, batch) -> (state, aux, grads, pmean_of_local_grads), all replicated.
    """

    def local(state, batch):
        new_state, aux, grads = step_with_grads(state, batch, loss_fn=pmean_loss(loss_fn, axis))
        textbook = jax.lax.pmean(jax.grad(loss_fn)(state.params, batch), axis)
        return new_state, aux, grads, textbook

    mapped = jax.shard_map(local, mesh=mesh, in_specs=(P(), P(axis)), out_specs=P())
    return jax.jit(mapped)


ALL_REDUCE = re.compile(r"\ball-reduce(?:-start)?\(")


def allreduce_count(hlo_text: str) -> int:
    """Number of all-reduce instructions in a compiled module's HLO text.

    An async pair (all-reduce-start / all-reduce-done) counts once.
    """
    return len(ALL_REDUCE.findall(hlo_text))


COMPUTATION = re.compile(r"^(?:ENTRY )?(%[\w.\-]+) ")
WHILE = re.compile(r"while\(.*body=(%[\w.\-]+).*\"known_trip_count\":\{\"n\":\"(\d+)\"\}")
CALLS = re.compile(r"calls=(%[\w.\-]+)")


def allreduce_executed(hlo_text: str) -> int:
    """All-reduces a compiled module runs per call: each instruction counted as often
    as it executes, so one inside a `while` body of n known trips counts n times.

    A model whose layers are a `lax.scan` compiles to one loop body for all L
    layers: its backward pass averages each layer's gradient inside the loop,
    one all-reduce instruction run L times. (A loop of unknown trip count is
    counted once.)
    """
    bodies: dict[str, list[str]] = {}
    entry, name = None, None
    for line in hlo_text.splitlines():
        header = COMPUTATION.match(line)
        if header and line.rstrip().endswith("{"):
            name = header.group(1)
            bodies[name] = []
            entry = name if line.startswith("ENTRY") else entry
        elif name is not None:
            bodies[name].append(line)

    def executed(comp: str) -> int:
        total = 0
        for line in bodies.get(comp, []):
            total += len(ALL_REDUCE.findall(line))
            loop = WHILE.search(line)
            if loop:
                total += int(loop.group(2)) * executed(loop.group(1))
            total += sum(executed(callee) for callee in CALLS.findall(line))
        return total

    return executed(entry) if entry else 0


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest |a − b| over every leaf of two pytrees of one structure."""
    diffs = jax.tree_util.tree_map(
        lambda x, y: float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))),
        a,
        b,
    )
    return max(jax.tree_util.tree_leaves(diffs), default=0.0)


def tree_norm(tree: Any) -> float:
    """Global L2 norm over every leaf of a pytree, in float64."""
    leaves = jax.tree_util.tree_leaves(tree)
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(x, np.float64))) for x in leaves)))


# ----------------------------------------------------------------------------
# What a check process builds: the same model, batch and step from a spec.


class Spec(NamedTuple):
    """What a check process needs besides the arrays: the model and the step (JSON-able)."""

    model: GPTConfig
    train: TrainConfig  # its batch is the global batch, split over the devices


def spec_to_json(spec: Spec) -> str:
    return json.dumps({"model": spec.model._asdict(), "train": spec.train._asdict()})


def spec_from_json(text: str) -> Spec:
    raw = json.loads(text)
    return Spec(GPTConfig(**raw["model"]), TrainConfig(**raw["train"]))


def save_tree(path: Path, tree: Any) -> None:
    """Every leaf of a pytree, in order, into one .npz file."""
    np.savez(path, *[np.asarray(x) for x in jax.tree_util.tree_leaves(tree)])


def load_tree(path: Path, like: Any) -> Any:
    """The pytree `save_tree` wrote, in the structure of `like` (arrays or shapes)."""
    with np.load(path) as data:
        leaves = [data[f"arr_{i}"] for i in range(len(data.files))]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(like), leaves)


def params_like(model: GPTConfig) -> Any:
    """The GPT's parameter structure, as shapes only (nothing is computed)."""
    return jax.eval_shape(lambda: init_gpt(jax.random.key(0), model))


def read_inputs(folder: Path, spec: Spec) -> tuple:
    """(state, batch, step) rebuilt in a check process from the parent's files."""
    params = load_tree(folder / "params.npz", params_like(spec.model))
    with np.load(folder / "batch.npz") as data:
        batch = (data["x"], data["y"])  # (B, T), (B, T)
    step = functools.partial(step_with_grads, loss_fn=LMLoss(spec.model))
    return training.init_state(params, training.hyper_of(spec.train)), batch, step


def write_inputs(folder: Path, params: Any, batch: tuple) -> None:
    """The parent's side: the parameters and the batch every check process starts from."""
    save_tree(folder / "params.npz", params)
    np.savez(folder / "batch.npz", x=np.asarray(batch[0]), y=np.asarray(batch[1]))


def data_parallel_check(spec: Spec, folder: Path) -> dict:
    """The sharded and the shard_map step on every device; results into folder/dp_*.npz."""
    devices = jax.devices()
    state, batch, step = read_inputs(folder, spec)
    mesh = data_mesh(devices)
    compiled = batch_sharded(step, mesh).lower(state, batch).compile()
    dp_state, _, dp_grads = compiled(state, batch)
    sm_state, _, sm_grads, textbook = shard_map_step(spec.train, LMLoss(spec.model), mesh)(
        state, batch
    )
    save_tree(folder / "dp_sharded.npz", (dp_state.params, dp_grads))
    save_tree(folder / "dp_shard_map.npz", (sm_state.params, sm_grads))
    save_tree(folder / "dp_textbook.npz", textbook)
    if jax.default_backend() != "cpu":  # the parent's reference ran on its CPU: compare alike
        ref_state, _, ref_grads = jax.jit(step)(state, batch)  # on devices[0] alone
        save_tree(folder / "dp_reference.npz", (ref_state.params, ref_grads))
    return {
        "backend": jax.default_backend(),
        "devices": len(devices),
        "allreduce_count": allreduce_count(compiled.as_text()),
        "allreduce_executed": allreduce_executed(compiled.as_text()),
    }


# ----------------------------------------------------------------------------
# Several processes on one machine, joined by jax.distributed.


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Every leaf as a global array replicated over the mesh (each process holds all of it)."""
    sharding = NamedSharding(mesh, P())
    return jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
    )


def local_rows(tree: Any, index: int, count: int) -> Any:
    """This process's contiguous share of every leaf's leading axis."""

    def rows(x):
        n = x.shape[0] // count
        return np.asarray(x)[index * n : (index + 1) * n]  # (B / count, ...)

    return jax.tree_util.tree_map(rows, tree)


def own_copy(tree: Any) -> Any:
    """This process's copy of a replicated global pytree, as host arrays."""
    return jax.tree_util.tree_map(lambda x: np.asarray(x.addressable_shards[0].data), tree)


def multiprocess_check(
    spec: Spec, folder: Path, process_id: int, num_processes: int, port: int
) -> dict:
    """Join the others on 127.0.0.1:port and run the sharded step over every process's device.

    Each process feeds only its own rows of the batch; the parameters are
    replicated. Results into folder/process_<id>.npz.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
    )
    try:
        state, batch, step = read_inputs(folder, spec)
        mesh = data_mesh(jax.devices())
        split = NamedSharding(mesh, P(AXIS))
        rows = local_rows(batch, jax.process_index(), jax.process_count())
        global_batch = jax.tree_util.tree_map(
            lambda x: jax.make_array_from_process_local_data(split, x), rows
        )
        new_state, _, grads = batch_sharded(step, mesh)(replicate(state, mesh), global_batch)
        save_tree(folder / f"process_{process_id}.npz", own_copy((new_state.params, grads)))
        return {
            "process": jax.process_index(),
            "processes": jax.process_count(),
            "devices": len(jax.devices()),
            "local_devices": len(jax.local_devices()),
        }
    finally:
        jax.distributed.shutdown()


# ----------------------------------------------------------------------------
# The parent's side: start the check processes with a deadline, read them back.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(devices: int | None) -> dict:
    """The environment of a check process: the CPU with `devices` host devices, or as is."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # share an accelerator with the parent
    if devices is not None:
        env["JAX_PLATFORMS"] = "cpu"
        flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "", env.get("XLA_FLAGS", ""))
        env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    return env


def start(args: list[str], env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "trinity_foundations.parallel", *args]
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def collect(proc: subprocess.Popen, deadline: float) -> dict:
    """The JSON a check process printed last, or {"error": why}; killed past the deadline."""
    try:
        out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": "timed out"}
    if proc.returncode != 0:
        return {"error": f"exit status {proc.returncode}: {last_line(err)}"}
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"unreadable output: {last_line(out)}"}


def launch_data_parallel(spec: Spec, folder: Path, devices: int | None) -> subprocess.Popen:
    """Start the `dp` check: on `devices` CPU devices, or None for the machine's own devices."""
    return start(["dp", "--spec", spec_to_json(spec), "--folder", str(folder)], child_env(devices))


def launch_multiprocess(spec: Spec, folder: Path, processes: int = 2) -> list:
    """Start `processes` workers on the CPU, one device each, coordinator on 127.0.0.1."""
    port, env = free_port(), child_env(1)
    common = ["worker", "--spec", spec_to_json(spec), "--folder", str(folder)]
    return [
        start(
            [*common, "--process-id", str(i), "--processes", str(processes), "--port", str(port)],
            env,
        )
        for i in range(processes)
    ]


def data_parallel_result(report: dict, folder: Path, ref_params: Any, ref_grads: Any) -> dict:
    """The `dp` check's differences from the single-device step (params, grads), read back."""
    if "error" in report:
        return {"ok": False, "reason": report["error"]}
    like = (ref_params, ref_grads)
    if (folder / "dp_reference.npz").exists():  # accelerators: their own single-device step
        ref_params, ref_grads = load_tree(folder / "dp_reference.npz", like)
    dp_params, dp_grads = load_tree(folder / "dp_sharded.npz", like)
    sm_params, sm_grads = load_tree(folder / "dp_shard_map.npz", like)
    textbook = load_tree(folder / "dp_textbook.npz", ref_grads)
    return {
        "ok": True,
        "reason": None,
        **report,
        "params_max_diff": max_abs_diff(ref_params, dp_params),
        "grads_max_diff": max_abs_diff(ref_grads, dp_grads),
        "shard_map_params_max_diff": max_abs_diff(ref_params, sm_params),
        "shard_map_grads_max_diff": max_abs_diff(ref_grads, sm_grads),
        "textbook_grads_ratio": tree_norm(textbook) / tree_norm(ref_grads),
    }


def multiprocess_result(reports: list, folder: Path, ref_params: Any, ref_grads: Any) -> dict:
    """The workers' verdict: ok and the largest differences, or the first error."""
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        return {"ok": False, "reason": errors[0], "processes": len(reports)}
    outs = [
        load_tree(folder / f"process_{i}.npz", (ref_params, ref_grads)) for i in range(len(reports))
    ]
    return {
        "ok": True,
        "reason": None,
        "processes": reports[0]["processes"],
        "devices": reports[0]["devices"],
        "local_devices": reports[0]["local_devices"],
        "params_max_diff": max(max_abs_diff(ref_params, p) for p, _ in outs),
        "grads_max_diff": max(max_abs_diff(ref_grads, g) for _, g in outs),
        "between_processes_max_diff": max(
            (max_abs_diff(outs[0], o) for o in outs[1:]), default=0.0
        ),
    }


MAX_TRAIN_SIZE = 2**20  # largest steps, batch or context a --spec may ask for


def spec_argument(text: str) -> Spec:
    """--spec as argparse reads it: the Spec, or the reason it is not one in one line
    (it is typed by hand when the module is run as the README shows)."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("must be a JSON object with 'model' and 'train'")
        model = checkpoints.checkpoint_model(raw)
        train = raw.get("train")
        if not isinstance(train, dict) or not set(train) <= set(TrainConfig._fields):
            raise ValueError(f"its 'train' must be an object with fields of {TrainConfig._fields}")
        config = TrainConfig(**train)
        for name in ("steps", "batch", "context"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"its train {name} must be a whole number")
            if not 1 <= value <= MAX_TRAIN_SIZE:
                raise ValueError(f"its train {name} must be from 1 to {MAX_TRAIN_SIZE:,}")
        if config.context > model.context:
            raise ValueError(f"its train context {config.context} exceeds the model's")
    except (ValueError, TypeError) as e:  # json's errors are ValueErrors
        raise argparse.ArgumentTypeError(str(e).splitlines()[0][:200]) from None
    return Spec(model, config)


def whole_in(lo: int, hi: int):
    """An argparse type: a whole number from lo to hi."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {value}")
        return value

    return parse


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="A data-parallel check, run in a fresh process.")
    p.add_argument("mode", choices=["dp", "worker"])
    p.add_argument("--spec", required=True, type=spec_argument, help="the Spec as JSON")
    p.add_argument("--folder", required=True, type=Path, help="where the arrays are exchanged")
    p.add_argument("--process-id", type=whole_in(0, 1023), default=0)
    p.add_argument("--processes", type=whole_in(1, 1024), default=2)
    p.add_argument("--port", type=whole_in(0, 65535), default=0)
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        p.error(f"argument --folder: {args.folder} is not a folder")
    if args.process_id >= args.processes:
        p.error(f"argument --process-id: must be below --processes {args.processes}")
    if args.mode == "worker" and args.port == 0:
        p.error("argument --port: a worker needs the coordinator's port (1 to 65535)")
    spec = args.spec
    if args.mode == "dp":
        out = data_parallel_check(spec, args.folder)
    else:
        out = multiprocess_check(spec, args.folder, args.process_id, args.processes, args.port)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    except (OSError, ValueError, KeyError) as error:  # e.g. a --folder without the inputs
        print(f"error: {type(error).__name__}: {error}"[:300], file=sys.stderr)
        sys.exit(1)
