"""Lesson 19's default GPT on Macbeth: its text, its sizes, and its training.

Lesson 20 decodes from a checkpoint; when the default one does not exist it
trains this model first. A lesson never imports another lesson's file, so
what lessons 19 and 20 share lives here: the text, its digest (a checkpoint
matches only the text it was trained on) and the default run. The defaults
must equal lesson 19's (a test checks that they do).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp

from trinity_foundations import checkpoints
from trinity_foundations import language as lang
from trinity_foundations import training as tr
from trinity_foundations.transformer import GPTConfig, init_gpt

DATA = Path(__file__).resolve().parents[2] / "data" / "macbeth.txt"
CHECKPOINT = DATA.parents[1] / "checkpoints" / "gpt_macbeth.npz"  # what `make train` writes
NO_CHECKPOINT = "none"  # --checkpoint none: no checkpoint, even where one exists
TRAIN_EVAL_WINDOWS = 64  # training windows scored after each chunk, as lesson 19 does


class Defaults(NamedTuple):
    """Lesson 19's default run (its flags' defaults)."""

    d_model: int = 64
    layers: int = 2
    heads: int = 4
    context: int = 64
    batch: int = 32
    steps: int = 200
    lr: float = 5e-3
    warmup: int = 30
    weight_decay: float = 0.1
    clip: float = 1.0
    evals: int = 10


DEFAULTS = Defaults()


def read_text(path: Path = DATA) -> str:
    return path.read_text(encoding="ascii")


def data_digest(text: str) -> str:
    """sha256 of the training text: a checkpoint matches only the data it was trained on."""
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def checkpoint_problem(config: dict, vocab: lang.Vocab, digest: str) -> str | None:
    """Why a checkpoint's configuration does not fit this text, or None when it does."""
    if config.get("data_sha256") != digest:
        return "it was trained on another text"
    if config.get("vocab") != vocab.chars:
        return "its vocabulary differs from this text's"
    if config.get("model", {}).get("vocab_size") != vocab.size:
        return "its model does not fit this vocabulary"
    return None


def open_checkpoint(path: str, *, default: str = str(CHECKPOINT), dtype=None):
    """(params, GPTConfig) of a checkpoint trained on this text, its leaves in `dtype`
    (JAX's default float unless given), or None when `path` is "none" or the default
    and absent. Any other checkpoint that cannot be used raises ValueError with a
    one-line reason: a file the learner names is never silently replaced."""
    if path == NO_CHECKPOINT or (path == default and not os.path.lexists(path)):
        return None
    hint = " (run `make train` to write it again)" if path == default else ""
    try:
        params, config = checkpoints.read_checkpoint(path)
    except ValueError as e:
        raise ValueError(f"{path}: {e}{hint}") from None
    text = read_text()
    why = checkpoint_problem(config, lang.build_vocab(text), data_digest(text))
    if why is not None:
        raise ValueError(f"{path}: {why}{hint}")
    dtype = dtype or jnp.result_type(float)
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), params)
    return params, checkpoints.checkpoint_model(config)


def model_config(vocab_size: int, d_model: int, layers: int, heads: int, context: int):
    return GPTConfig(vocab_size, context, d_model, layers, heads, 4 * d_model)


def train_default(
    seed: int, on_chunk: Callable | None = None, run: Defaults | None = None
) -> tuple[dict, GPTConfig]:
    """Train lesson 19's GPT (the `run` sizes) on Macbeth's first 90 %, as lesson 19 does
    with the same seed; returns (the parameters with the best validation loss, GPTConfig).

    `on_chunk(steps_done, val_loss, batch_loss)` is called after each chunk (a progress bar).
    """
    run = run or DEFAULTS  # read at call time, so a test can shrink the default run
    text = read_text()
    vocab = lang.build_vocab(text)
    train, val = lang.split(lang.encode(vocab, text))
    model = model_config(vocab.size, run.d_model, run.layers, run.heads, run.context)
    config = tr.TrainConfig(
        run.steps, run.batch, run.context, run.lr, run.warmup, 0.1, run.weight_decay, run.clip
    )
    k_init, k_train = jax.random.split(jax.random.key(seed))
    state = tr.init_state(init_gpt(k_init, model), tr.hyper_of(config))
    _, history = tr.fit(
        state,
        k_train,
        jnp.asarray(train),
        lang.eval_windows(train, run.context, limit=TRAIN_EVAL_WINDOWS),
        lang.eval_windows(val, run.context),
        config=config,
        loss_fn=tr.LMLoss(model),
        chunks=tr.chunks_for(run.steps, most=run.evals),
        on_chunk=on_chunk,
    )
    return history.best_params, model
