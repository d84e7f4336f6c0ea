"""Atomic checkpoints that `torch.load(weights_only=True)` can read back.

Env states come as nested dicts of NumPy arrays and Python scalars; arrays are
stored as tensors (tagged) because weights_only loading refuses NumPy objects.
"""
from __future__ import annotations

import os
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


def save_checkpoint(run_dir: Path, payload: dict) -> Path:
    """Write to a temp file, fsync, then rename: a kill mid-write never corrupts the last one."""
    path = Path(run_dir) / CHECKPOINT_NAME
    tmp = path.with_suffix(".pt.tmp")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT_VERSION, **to_storable(payload)}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path, config: dict | None = None) -> dict:
    """Load a checkpoint; with `config`, refuse one written by a different experiment."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    payload = from_storable(torch.load(path, map_location="cpu", weights_only=True))
    if payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {payload.get('format')} is not {FORMAT_VERSION}")
    if config is not None:
        saved = payload["config"]
        diffs = [f"{k}: checkpoint {saved.get(k)!r} vs config {config.get(k)!r}"
                 for k in STRUCTURAL_KEYS if saved.get(k) != config.get(k)]
        if diffs:
            raise CheckpointError(f"{path} was written by another config: " + "; ".join(diffs))
    return payload
