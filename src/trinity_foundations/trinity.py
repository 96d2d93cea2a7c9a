"""Mini-TRINITY: a governed routing loop with a verifier, warps and receipts.

A task is a point in a 2-D space (x: how much it looks like maths, y: how
much like creative writing). A jitted router scores it against three experts
and picks the best; the expert answers; a verifier accepts or rejects the
answer. On a rejection the task vector is warped away from the expert that
failed and routed again. After MAX_TURNS rejected turns the task is
quarantined. Every turn is written down (a receipt), so a run can be audited
and replayed.

The experts stand in for external models, so the loop itself runs on the
host, one turn at a time; only the router and the warp are compiled.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trinity_foundations.attention import softmax

ROUTING = [[2.0, -1.0], [-1.0, 2.0], [1.2, 1.2]]  # (3, 2): one row per expert
TASK_TYPES = ("math", "creative")
MAX_TURNS = 3


class Expert(NamedTuple):
    name: str
    cost_cents: int  # integer cents, so totals are exact
    output_kind: str  # what it returns, whatever it is asked: math, creative or error
    output: str


EXPERTS = (
    Expert("solver", 5, "math", "a worked solution"),
    Expert("writer", 8, "creative", "a short poem"),
    Expert("cheap", 1, "error", "timeout"),
)
SHIFT = np.array([[2.5, 0.0], [0.0, 2.5], [0.0, 0.0]])  # (3, 2) moved away on failure
RESET = np.array([-0.5, 2.0])  # (2,) where a timeout sends the task
TIMEOUT = 2  # the expert whose failure resets the task instead of shifting it


@jax.jit
def route(task: jax.Array, routing: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Score a task against every expert and pick the best.

    Args:
      task: (2,) task vector.
      routing: (E, 2) routing matrix, one row per expert.
    Returns:
      (probabilities (E,) from the stable softmax, chosen expert () = argmax).
    """
    logits = task @ routing.T  # (E,)
    return softmax(logits), jnp.argmax(logits)


@jax.jit
def warp(task: jax.Array, expert: jax.Array) -> jax.Array:
    """Move a rejected task away from the expert that failed it.

    Expert 0 failed: x - 2.5. Expert 1 failed: y - 2.5. Expert 2 timed out:
    the task is reset to RESET, wherever it was. The warp looks only at the
    last failure; it remembers nothing of earlier turns.

    Args:
      task: (2,) task vector.
      expert: () index of the expert that failed.
    Returns:
      (2,) the warped task vector.
    """
    return jnp.where(expert == TIMEOUT, RESET, task - jnp.asarray(SHIFT)[expert])  # (2,)


def verify(kind: str, text: str, task_type: str) -> tuple[bool, str]:
    """Accept an output (its kind and text) only if it is no error and fits the task type."""
    if kind == "error":
        return False, f"error: {text}"
    if kind != task_type:
        return False, f"{kind}, not {task_type}"
    return True, f"{kind}, as asked"


def run_case(name: str, task_type: str, task_vector: list[float], number: int = 1) -> dict:
    """The governed loop for one task; returns its receipt.

    Each turn: route, call the expert (its cost is charged whatever the
    outcome), verify; on rejection warp and try again, at most MAX_TURNS
    times, then quarantine. `number` is the case's place in its run (1, 2, …).
    """
    routing = jnp.array(ROUTING)  # (3, 2)
    task = jnp.array(task_vector, dtype=jnp.float32)  # (2,)
    turns, cents, status = [], 0, "quarantined"
    for turn in range(1, MAX_TURNS + 1):
        probs, choice = route(task, routing)  # (3,), ()
        expert = EXPERTS[int(choice)]
        accepted, feedback = verify(expert.output_kind, expert.output, task_type)
        cents += expert.cost_cents
        turns.append(
            {
                "turn": turn,
                "task_vector": task.tolist(),
                "expert": int(choice),
                "expert_name": expert.name,
                "probabilities": probs.tolist(),
                "output": f"{expert.output_kind}: {expert.output}",
                "status": "accepted" if accepted else "rejected",
                "cost": expert.cost_cents / 100,
                "feedback": feedback,
            }
        )
        if accepted:
            status = "solved"
            break
        task = warp(task, choice)  # (2,)
    return {
        "case": number,
        "name": name,
        "task_type": task_type,
        "task_vector": list(task_vector),
        "status": status,
        "total_cost": cents / 100,
        "turns": turns,
    }


# ----------------------------------------------------------------------------
# Receipts on disk: checking a file's shape, and comparing a replay.

_NUMBER = (int, float)
CASE_FIELDS = {
    "case": int,
    "name": str,
    "task_type": str,
    "task_vector": list,
    "status": str,
    "total_cost": _NUMBER,
    "turns": list,
}
TURN_FIELDS = {
    "turn": int,
    "task_vector": list,
    "expert": int,
    "expert_name": str,
    "probabilities": list,
    "output": str,
    "status": str,
    "cost": _NUMBER,
    "feedback": str,
}
# The router's and the warp's floats (task vectors, probabilities) are compared
# within this tolerance: float32 rounding may differ between backends and XLA
# versions. Everything else, costs included, must match exactly.
TOLERANCE = 1e-5
VECTOR_FIELDS = ("task_vector", "probabilities")
MAX_ABS = 1e6  # larger task vectors would overflow float32 logits
MAX_BYTES = 1_000_000  # a receipt of a few cases is a few kB
MAX_DEPTH = 16  # a receipt nests 6 deep: {cases: [{turns: [{probabilities: [


def _fields(obj: Any, fields: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"{where} is not a JSON object")
    for key, kind in fields.items():
        value = obj.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, kind)
            or kind is _NUMBER
            and not abs(value) <= MAX_ABS
        ):  # NaN fails too
            raise ValueError(f"{where} lacks a valid '{key}'")


def _vector(value: list, size: int, where: str) -> None:
    if len(value) != size or not all(
        isinstance(v, _NUMBER) and not isinstance(v, bool) and abs(v) <= MAX_ABS for v in value
    ):
        raise ValueError(f"{where} must be {size} numbers within ±{MAX_ABS:g}")


def check_receipts(data: Any) -> list[dict]:
    """The cases of a parsed receipt file; ValueError with a one-line reason if malformed.

    Malformed means a case cannot be re-run or compared: a missing or mistyped
    field. Extra fields, wrong numbers and other values are differences, which
    `differences` reports.
    """
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise ValueError("expected a JSON object with a non-empty list 'cases'")
    for i, case in enumerate(data["cases"]):
        where = f"case {i}"
        _fields(case, CASE_FIELDS, where)
        if case["task_type"] not in TASK_TYPES:
            raise ValueError(f"{where}: task_type must be one of {', '.join(TASK_TYPES)}")
        _vector(case["task_vector"], 2, f"{where}: task_vector")
        for j, turn in enumerate(case["turns"]):
            _fields(turn, TURN_FIELDS, f"{where}, turn {j + 1}")
            _vector(turn["task_vector"], 2, f"{where}, turn {j + 1}: task_vector")
            _vector(turn["probabilities"], len(EXPERTS), f"{where}, turn {j + 1}: probabilities")
    return data["cases"]


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text, brackets inside strings left out."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_text(path: str, limit: int = MAX_BYTES) -> str:
    """A regular file's text, at most `limit` bytes; ValueError with a reason otherwise.

    Checked before reading: a FIFO would block for ever and /dev/zero never ends.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path} has {info.st_size:,} bytes; a receipt has at most {limit:,}")
        with open(path, "rb") as f:
            data = f.read(limit + 1)  # the file may have grown since stat
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > limit:
        raise ValueError(f"{path} has more than {limit:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None


def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object's dict, refusing a key given twice.

    json.loads keeps the last of two equal keys and many other readers the
    first, so `{"cases": forged, "cases": real}` would show one list to a
    person's tool and check the other here.
    """
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"gives the key {twice[0]!r} twice; JSON readers differ on which counts")
    return dict(pairs)


def read_receipts(path: str) -> dict:
    """A receipt file's parsed object; ValueError with a one-line reason if it cannot be used."""
    text = read_text(path)
    if json_depth(text) > MAX_DEPTH:
        raise ValueError(f"{path} nests deeper than {MAX_DEPTH} levels; no receipt does")
    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    except ValueError as e:  # a duplicate key
        raise ValueError(f"{path} {e}") from None
    try:
        check_receipts(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return data


def receipt_document(cases: list[dict]) -> dict:
    """What a receipt file holds: the cases, their count and their hash chain."""
    return {"cases": cases, "case_count": len(cases), "chain": hash_chain(cases)}


def hash_chain(cases: list[dict]) -> list[str]:
    """One sha256 per case, each over the one before and the case's inputs.

    The chain fixes which cases a run had and in what order, so a receipt
    with a case left out, added, copied or moved (and renumbered) no longer
    matches its chain; it starts from the number of cases, so dropping the
    last one breaks it too. The cases' outputs are not hashed: the replay
    compares those field by field (the router's floats within TOLERANCE,
    which a hash could not do). A chain is no signature: whoever rewrites
    every hash can forge one; it catches edits, not a determined forger.
    """
    link = hashlib.sha256(f"mini-trinity receipts: {len(cases)} cases".encode()).hexdigest()
    chain = []
    for case in cases:
        inputs = [case.get(k) for k in ("case", "name", "task_type", "task_vector")]
        text = json.dumps([link, inputs], sort_keys=True)
        link = hashlib.sha256(text.encode()).hexdigest()
        chain.append(link)
    return chain


def write_receipts(path: str, cases: list[dict]) -> None:
    """Write receipts as JSON, without ever leaving a half-written file under `path`.

    A regular file is written beside `path` and renamed over it, so a full
    disk leaves the previous receipt as it was; a device or a pipe
    (/dev/stdout, /dev/full) is written directly. ValueError with a one-line
    reason if the file cannot be created; OSError if the disk fails the
    write (cli.entry says so, exit 1).
    """
    text = json.dumps(receipt_document(cases), indent=1)
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            with open(path, "w") as f:
                f.write(text)
            return
        _replace_atomically(path, text)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
            raise OSError(e.errno, f"{e.strerror}: {path}") from None
        raise ValueError(f"cannot write {path}: {e.strerror}") from None


def _replace_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):  # mkstemp's error would name the temporary file
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".receipt-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a receipt is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _same(key: str, a: Any, b: Any) -> bool:
    """Exact equality, except the router's float vectors (within TOLERANCE)."""
    if key in VECTOR_FIELDS and isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            isinstance(x, _NUMBER) and abs(x - y) <= TOLERANCE for x, y in zip(a, b)
        )
    return type(a) is type(b) and a == b  # 1 is not 1.0, True is not 1


def _extra(recorded: dict, replayed: dict, where: str) -> list[str]:
    keys = sorted(set(recorded) - set(replayed))
    return [f"{where}: the receipt has fields the run does not write: {keys}"] if keys else []


def differences(recorded: dict, replayed: dict) -> list[str]:
    """Every recorded field of one case that the replay does not reproduce, one line each."""
    name = f"case '{recorded['name']}'"
    found = _extra(recorded, replayed, name)
    for j in range(max(len(recorded["turns"]), len(replayed["turns"]))):
        if j >= len(recorded["turns"]) or j >= len(replayed["turns"]):
            which = "recorded" if j < len(recorded["turns"]) else "replayed"
            found.append(f"{name}, turn {j + 1}: only the {which} run has this turn")
            continue
        old, new = recorded["turns"][j], replayed["turns"][j]
        found += _extra(old, new, f"{name}, turn {j + 1}")
        for key in TURN_FIELDS:
            if not _same(key, old[key], new[key]):
                found.append(
                    f"{name}, turn {j + 1}, {key}: recorded {old[key]!r}, replayed {new[key]!r}"
                )
    for key in ("case", "status", "total_cost"):
        if not _same(key, recorded[key], replayed[key]):
            found.append(f"{name}, {key}: recorded {recorded[key]!r}, replayed {replayed[key]!r}")
    return found


def file_differences(data: dict) -> list[str]:
    """What is wrong with a receipt file as a whole: extra top-level fields, a case
    name given twice (a replay cannot tell which is meant), a case count or a
    hash chain that does not match the cases (one was left out, added or moved)."""
    found = _extra(data, {"cases": None, "case_count": None, "chain": None}, "the file")
    names = [c["name"] for c in data["cases"]]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        found.append(f"case '{dup}' appears {names.count(dup)} times")
    count = data.get("case_count")
    if not _same("case_count", count, len(data["cases"])):
        said = repr(count) if len(repr(count)) <= 24 else repr(count)[:20] + "…"
        found.append(f"the file records {said} cases and holds {len(data['cases'])}")
    chain, recorded = hash_chain(data["cases"]), data.get("chain")
    if not isinstance(recorded, list) or len(recorded) != len(chain):
        found.append(f"the file's hash chain is not a list of {len(chain)} hashes")
    else:
        broken = [i for i, (a, b) in enumerate(zip(recorded, chain)) if a != b]
        if broken:
            found.append(
                f"the hash chain breaks at case {broken[0] + 1}: a case was left out, "
                "added, copied or moved"
            )
    return found
