"""Atomic checkpoints that `torch.load(weights_only=True)` can read back.

Env states come as nested dicts of NumPy arrays and Python scalars; arrays are
stored as tensors (tagged) because weights_only loading refuses NumPy objects.
"""
from __future__ import annotations

import errno
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1
_NDARRAY_TAG = "__ndarray__"

# Config keys that change what a checkpoint contains or means; resuming with other
# values would either fail on shapes or silently continue a different experiment.
STRUCTURAL_KEYS = ("env_name", "scenario_name", "algorithm_name", "hidden_size", "layer_N",
                   "use_recurrent_policy", "recurrent_N", "share_policy", "use_centralized_V",
                   "n_rollout_threads", "episode_length", "pm_type", "pm_blocks", "pm_noise_dim", "n_block",
                   "n_head", "n_embd", "dec_actor", "std_x_coef", "seed")


def to_storable(obj):
    """Replace NumPy arrays (recursively) with tagged tensors."""
    if isinstance(obj, np.ndarray):
        return {_NDARRAY_TAG: torch.from_numpy(np.ascontiguousarray(obj)), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_storable(v) for v in obj)
    return obj


def from_storable(obj):
    if isinstance(obj, dict):
        if _NDARRAY_TAG in obj:
            return obj[_NDARRAY_TAG].numpy().astype(obj["dtype"])
        return {k: from_storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_storable(v) for v in obj)
    return obj


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or from another config."""


def os_error_in_words(err: OSError, path: Path | str) -> str:
    """'no space left on <path>', 'permission denied: <path>', ...: an OSError as one short phrase."""
    words = {errno.ENOSPC: f"no space left on {path}", errno.EDQUOT: f"disk quota exceeded on {path}",
             errno.EROFS: f"read-only file system at {path}", errno.EACCES: f"permission denied: {path}",
             errno.EPERM: f"operation not permitted: {path}"}
    return words.get(err.errno, f"{(err.strerror or str(err)).lower()}: {path}")


def save_checkpoint(run_dir: Path, payload: dict) -> Path:
    """Write to a temp file, fsync, then rename: a kill mid-write never corrupts the last one.

    A failed write (a full disk, a lost mount) removes the temp file and raises CheckpointError in words,
    with the previous checkpoint untouched; an interrupt mid-write removes it too."""
    path = Path(run_dir) / CHECKPOINT_NAME
    tmp = path.with_suffix(".pt.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT_VERSION, **to_storable(payload)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if not isinstance(err, OSError):
            raise
        previous = ("the previous checkpoint is intact" if path.exists() else "there is no earlier checkpoint")
        raise CheckpointError(f"could not write the checkpoint {path}: {os_error_in_words(err, run_dir)}; "
                              f"{previous}. Free space (or fix the mount), then continue with "
                              f"--resume {run_dir}") from None
    return path


def load_checkpoint(path: Path, config: dict | None = None) -> dict:
    """Load a checkpoint; with `config`, refuse one written by a different experiment."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        size = path.stat().st_size if path.exists() else 0
        reason = str(err).split(". ")[0][:100]
        if "Weights only load failed" in str(err) and zipfile.is_zipfile(path):  # whole, but not ours
            raise CheckpointError(f"{path} holds objects that weights-only loading refuses (it was not written by "
                                  "this package's save_checkpoint); refusing to load it") from None
        state = "empty" if size == 0 else f"truncated or corrupt ({size} bytes; {type(err).__name__}: {reason})"
        raise CheckpointError(f"{path} is {state}, so the run cannot continue from it. Move it away (e.g. to "
                              f"{path.name}.bad), then `--resume {path.parent}` starts the run again from scratch "
                              "in that directory") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} does not hold a checkpoint (a {type(raw).__name__}); move it away to start "
                              f"the run again with --resume {path.parent}")
    payload = from_storable(raw)
    if payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {payload.get('format')} is not {FORMAT_VERSION}")
    if config is not None:
        saved = payload["config"]
        diffs = [f"{k}: checkpoint {saved.get(k)!r} vs config {config.get(k)!r}"
                 for k in STRUCTURAL_KEYS if saved.get(k) != config.get(k)]
        if diffs:
            raise CheckpointError(f"{path} was written by another config: " + "; ".join(diffs))
    return payload
