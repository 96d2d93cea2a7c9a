"""checkpoints.read_checkpoint: a checkpoint someone names is used whole or refused in one line."""

from __future__ import annotations

import io
import json
import os
import zipfile

import jax
import numpy as np
import pytest

from trinity_foundations import checkpoints
from trinity_foundations.transformer import GPTConfig, init_gpt

MODEL = GPTConfig(vocab_size=5, context=4, d_model=8, n_layers=1, n_heads=2, d_ff=16)


def members(model: GPTConfig = MODEL, config: object = None) -> dict:
    """The arrays of a good checkpoint of `model`, config.json included (as np.savez takes them)."""
    arrays = checkpoints._flatten(init_gpt(jax.random.key(0), model))
    config = {"model": model._asdict()} if config is None else config
    arrays["config.json"] = np.array(json.dumps(config))
    return arrays


def write(path, arrays: dict) -> str:
    np.savez(path, **arrays)
    return str(path)


def with_model(**change) -> dict:
    return members(config={"model": {**MODEL._asdict(), **change}})


def edited(name: str, value) -> dict:
    arrays = members()
    arrays[name] = value
    return arrays


def without(name: str) -> dict:
    arrays = members()
    del arrays[name]
    return arrays


BAD_ARRAYS = [  # (the arrays of the file, what the one-line reason says)
    (members(config=[1, 2]), "has no 'model' object"),
    (members(config=3), "has no 'model' object"),
    ({**members(), "config.json": np.array("{oops")}, "not valid JSON"),
    ({**members(), "config.json": np.array('{"model": 1, "model": 2}')}, "twice"),
    ({**members(), "config.json": np.zeros(3)}, "not a JSON string"),
    (members(config={"model": {k: v for k, v in MODEL._asdict().items() if k != "eps"}}), "lacks"),
    (with_model(dropout=0.1), "does not use: ['dropout']"),
    (with_model(n_layers=True), "n_layers must be a whole number"),
    (with_model(mlp="relu"), "mlp must be one of"),
    (with_model(n_heads=3), "not a multiple of its n_heads 3"),
    (with_model(context=6), "pos is float32 (4, 8)"),  # the position table has 4 rows
    (with_model(d_model=4, d_ff=8), "the model needs float"),
    (with_model(n_layers=2), "the model needs float (2,"),
    (without("tok"), "missing ['tok']"),
    ({**members(), "extra": np.zeros(2)}, "extra ['extra']"),
    (edited("tok", np.zeros((5, 7), np.float32)), "tok is float32 (5, 7)"),
    (edited("tok", np.zeros((5, 8), np.int32)), "tok is int32"),
    (edited("tok", np.full((5, 8), np.nan, np.float32)), "NaN, infinity or values past"),
    (edited("tok", np.full((5, 8), np.inf, np.float32)), "NaN, infinity or values past"),
    (edited("tok", np.full((5, 8), 1e30, np.float32)), "NaN, infinity or values past"),
]


@pytest.mark.parametrize("arrays, reason", BAD_ARRAYS)
def test_a_checkpoint_that_does_not_fit_its_model_is_refused(tmp_path, arrays, reason):
    with pytest.raises(ValueError, match=None) as refused:
        checkpoints.read_checkpoint(write(tmp_path / "c.npz", arrays))
    assert reason in str(refused.value) and "\n" not in str(refused.value), str(refused.value)


def test_a_good_checkpoint_round_trips(tmp_path):
    path = tmp_path / "good.npz"
    params = init_gpt(jax.random.key(0), MODEL)
    checkpoints.save_checkpoint(path, params, {"model": MODEL._asdict(), "step": 3})
    loaded, config = checkpoints.read_checkpoint(path)
    assert config["step"] == 3 and checkpoints.checkpoint_model(config) == MODEL
    jax.tree.map(np.testing.assert_array_equal, loaded, jax.tree.map(np.asarray, params))


def test_files_that_are_no_checkpoint_are_refused(tmp_path):
    good = write(tmp_path / "good.npz", members())
    data = open(good, "rb").read()
    cases = {"empty": b"", "text.npz": b"not a checkpoint\n", "cut.npz": data[: len(data) // 2]}
    cases["header.npz"] = data[:30]  # a zip's first local header and nothing more
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it would block for ever
    (tmp_path / "folder").mkdir()
    reasons = {
        str(tmp_path / "empty"): "it is empty",
        str(tmp_path / "text.npz"): "not a readable .npz",
        str(tmp_path / "cut.npz"): "not a readable .npz",
        str(tmp_path / "header.npz"): "not a readable .npz",
        str(fifo): "not a regular file",
        "/dev/null": "not a regular file",
        str(tmp_path / "folder"): "not a regular file",
        str(tmp_path / "missing.npz"): "cannot read it",
    }
    for path, reason in reasons.items():
        with pytest.raises(ValueError, match=reason):
            checkpoints.read_checkpoint(path)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json.npy", b"\0" * 5_000_000)  # 5 MB of zeros packs into kilobytes
    assert path.stat().st_size < 100_000
    with pytest.raises(ValueError, match="unpacks to 5,000,000 bytes"):
        checkpoints.read_checkpoint(path, limit=1_000_000)


class Trap:
    """An object whose unpickling would run code (make a folder): it must never run."""

    folder = ""

    def __reduce__(self):
        return (os.mkdir, (Trap.folder,))


def pickled() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Trap()], dtype=object), allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["config.json", "tok"])
def test_pickled_objects_are_never_loaded(tmp_path, name):
    Trap.folder = str(tmp_path / "pwned")
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for member, array in members().items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            zf.writestr(f"{member}.npy", pickled() if member == name else buffer.getvalue())
    for read in (checkpoints.read_checkpoint, checkpoints.load_checkpoint):  # allow_pickle=False
        with pytest.raises(ValueError):
            read(path)
    assert not os.path.exists(Trap.folder), "a pickle in the checkpoint was loaded"


def test_a_save_stopped_by_sigterm_leaves_no_temporary_file(tmp_path, monkeypatch):
    # `make train` stopped with kill left checkpoints/*.npz.tmp behind
    from trinity_foundations import signals

    def stopped(*args, **kwargs):
        raise signals.Terminated

    monkeypatch.setattr(np, "savez", stopped)
    with pytest.raises(signals.Terminated):
        checkpoints.save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(2)}, {"model": {}})
    assert os.listdir(tmp_path) == []
    assert checkpoints.save_problem(str(tmp_path / "new" / "c.npz")) is None  # folders are made
    assert "needs a file name" in checkpoints.save_problem("")
