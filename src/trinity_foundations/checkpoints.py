"""Checkpoints: a model's parameters and configuration in one `.npz` file.

A checkpoint is a plain NumPy archive: one array per parameter, named by its
path in the pytree ("blocks/attn/w_q"), and the configuration as JSON in the
array "config.json", readable with nothing but NumPy. It is written to a
temporary file and renamed, so a crash never leaves half of one under the
real name; and a checkpoint someone names is checked whole before anything
is built from it (`read_checkpoint`), or refused with a one-line reason.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from trinity_foundations.transformer import GPTConfig, init_gpt


def _flatten(params: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {"/".join(str(k.key) for k in path): np.asarray(leaf) for path, leaf in leaves}


def _unflatten(arrays: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for name, value in arrays.items():
        *parents, last = name.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def save_checkpoint(path: str | Path, params: dict, config: dict) -> None:
    """Write `params` (nested dicts of arrays) and `config` (JSON-able) to `path` (.npz).

    Written to a temporary file beside `path` and renamed, so a crash never
    leaves half a checkpoint under the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _flatten(params)
    arrays["config.json"] = np.array(json.dumps(config, sort_keys=True))
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_problem(path: str) -> str | None:
    """Why `save_checkpoint(path, ...)` would fail, or None: checked before training,
    so that a bad --save ends at once instead of after all the work.

    A file is written in the nearest folder that exists (the missing ones are
    created), so a temporary file is made and removed there to prove it can be.
    """
    if not path:
        return "needs a file name"
    target = Path(path)
    if target.is_dir():
        return f"{path} is a directory; give a file name"
    if target.exists() and not target.is_file():
        return f"{path} is not a regular file"
    folder = target.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"cannot write {path}: {folder} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return f"cannot write {path}: {e.strerror}"
    return None


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """(params as nested dicts of NumPy arrays, config dict) from a `save_checkpoint` file."""
    with np.load(Path(path), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    config = json.loads(str(arrays.pop("config.json")))
    return _unflatten(arrays), config


# ----------------------------------------------------------------------------
# Reading a checkpoint someone names: used whole, or refused in one line.

MAX_CHECKPOINT_BYTES = 2**30  # a GPT of lesson 19's sizes is well under this
MAX_WEIGHT = 1e4  # trained weights are of order 1; past this, logits overflow float32
MAX_SIZE = 2**20  # largest of any one size in a checkpoint's model (vocabulary, width, ...)
MODEL_INTS = ("vocab_size", "context", "d_model", "n_layers", "n_heads", "d_ff")
MODEL_CHOICES = {"mlp": ("gelu", "swiglu"), "norm": ("layer", "rms"), "prenorm": (True, False)}


def _unique_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"config.json gives the key {twice[0]!r} twice")
    return dict(pairs)


def checkpoint_model(config: Any) -> GPTConfig:
    """The GPTConfig a checkpoint's parsed config.json describes; ValueError says why not.

    Every field of GPTConfig must be there with its type, and nothing else:
    a field the code does not know would be silently ignored.
    """
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict):
        raise ValueError("its configuration has no 'model' object")
    missing = [f for f in GPTConfig._fields if f not in model]
    extra = sorted(set(model) - set(GPTConfig._fields))
    if missing or extra:
        which = f"lacks {missing}" if missing else f"has fields the model does not use: {extra}"
        raise ValueError(f"its model {which}")
    for name in MODEL_INTS:
        value = model[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
            raise ValueError(f"its model's {name} must be a whole number from 1 to {MAX_SIZE:,}")
    for name, allowed in MODEL_CHOICES.items():
        if not any(type(model[name]) is type(a) and model[name] == a for a in allowed):
            raise ValueError(f"its model's {name} must be one of {list(allowed)}")
    eps = model["eps"]
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise ValueError("its model's eps must be a number between 0 and 1")
    if model["d_model"] % model["n_heads"]:
        raise ValueError(
            f"its model's d_model {model['d_model']} is not a multiple of its "
            f"n_heads {model['n_heads']}"
        )
    return GPTConfig(**model)


def leaf_shapes(model: GPTConfig) -> dict[str, tuple]:
    """The shape of every parameter a GPT of `model` has, by its checkpoint name."""
    shapes = jax.eval_shape(lambda: init_gpt(jax.random.key(0), model))
    leaves = jax.tree_util.tree_flatten_with_path(shapes)[0]
    return {"/".join(str(k.key) for k in path): tuple(leaf.shape) for path, leaf in leaves}


def _header(zf: zipfile.ZipFile, member: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from a .npy member's header, without reading its data."""
    with zf.open(member) as f:
        try:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0
            if version != (1, 0):
                read = np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
        except ValueError:  # NumPy's words name the header's bytes: say it in ours
            raise ValueError(f"its member {member} is not a NumPy array") from None
    return shape, dtype


def _array(zf: zipfile.ZipFile, member: str) -> np.ndarray:
    with zf.open(member) as f:
        try:
            return np.lib.format.read_array(f, allow_pickle=False)  # never unpickle a file
        except ValueError:
            raise ValueError(f"its member {member} is cut short or not an array") from None


def _open_regular(path: Path, limit: int) -> None:
    """Refuse what is not a regular file of 1 to `limit` bytes (a FIFO would block
    for ever, /dev/zero never ends, a directory is not a file)."""
    try:
        info = path.stat()
    except OSError as e:
        raise ValueError(f"cannot read it: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("it is not a regular file")
    if info.st_size == 0:
        raise ValueError("it is empty")
    if info.st_size > limit:
        raise ValueError(f"it has {info.st_size:,} bytes; a checkpoint here has at most {limit:,}")


def read_checkpoint(path: str | Path, limit: int = MAX_CHECKPOINT_BYTES) -> tuple[dict, dict]:
    """(params, config) of a checkpoint, every leaf checked; ValueError with a one-line reason.

    Checked before anything is built from it: a regular file of at most
    `limit` bytes, a zip whose members unpack to at most `limit` bytes (a
    zip bomb is refused before it is unpacked), a config.json that parses
    to a known model, every leaf the model has and no other, each of the
    shape the model gives it (read from the .npy header before the data),
    float, finite and at most MAX_WEIGHT in size. Pickled objects are never
    loaded (`allow_pickle=False`): a checkpoint is data, not code.
    """
    path = Path(path)
    _open_regular(path, limit)
    try:
        with zipfile.ZipFile(path) as zf:
            sizes = {i.filename: i.file_size for i in zf.infolist()}
            if sum(sizes.values()) > limit:
                raise ValueError(f"it unpacks to {sum(sizes.values()):,} bytes, over {limit:,}")
            if "config.json.npy" not in sizes:
                raise ValueError("it has no config.json: not a checkpoint lesson 19 saves")
            shape, dtype = _header(zf, "config.json.npy")
            if shape != () or dtype.kind != "U":
                raise ValueError("its config.json is not a JSON string")
            try:
                config = json.loads(
                    str(_array(zf, "config.json.npy")), object_pairs_hook=_unique_keys
                )
            except json.JSONDecodeError as e:
                raise ValueError(f"its config.json is not valid JSON ({e})") from None
            model = checkpoint_model(config)
            expected = leaf_shapes(model)
            names = {n.removesuffix(".npy") for n in sizes} - {"config.json"}
            if names != set(expected):
                missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
                parts = [
                    f"{word} {which[:3]}"
                    for word, which in (("missing", missing), ("extra", extra))
                    if which
                ]
                raise ValueError(f"its arrays do not match its model: {', '.join(parts)}")
            arrays = {}
            for name, want in expected.items():
                shape, dtype = _header(zf, f"{name}.npy")
                if shape != want or dtype.kind != "f":
                    raise ValueError(
                        f"its array {name} is {dtype} {shape}; the model needs float {want}"
                    )
                arrays[name] = _array(zf, f"{name}.npy")
                if not np.all(np.abs(arrays[name]) <= MAX_WEIGHT):  # NaN fails too
                    raise ValueError(
                        f"its array {name} holds NaN, infinity or values past ±{MAX_WEIGHT:g}"
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
        raise ValueError(f"it is not a readable .npz checkpoint ({type(e).__name__})") from None
    return _unflatten(arrays), config
