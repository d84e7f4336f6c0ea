"""Read an offline W&B run (`run-<id>.wandb`) without syncing it.

The file is W&B's append-only log: a 7-byte header, then 32 KiB blocks of records,
each with a 7-byte header (crc32, length, type) and a protobuf `Record` payload that
may be split across blocks (FIRST/MIDDLE/LAST) like LevelDB's log format.
"""
from __future__ import annotations

import json
import struct
import time
from pathlib import Path

_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _payloads(data: bytes):
    if data[:4] != b":W&B":
        raise ValueError("not a W&B run file (missing ':W&B' header)")
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + _HEADER])
        if length == 0 and kind == 0:
            pos += left
            continue
        if pos + _HEADER + length > len(data):  # a record cut off by a kill mid-write: the file ends here
            return
        chunk = data[pos + _HEADER:pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            yield pending + chunk


def _records(run_file: str | Path):
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    for payload in _payloads(Path(run_file).read_bytes()):
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except DecodeError:  # a damaged record (a killed writer): skip it
            continue
        yield record


def has_exit_record(run_file: str | Path) -> bool:
    """Whether W&B finished writing the run file (a killed run's file has no exit record)."""
    return Path(run_file).exists() and any(r.WhichOneof("record_type") == "exit" for r in _records(run_file))


def wait_for_exit_record(run_file: str | Path, timeout_s: float, poll_s: float = 0.2) -> bool:
    """Wait until the run file holds its exit record; False if it does not within timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not has_exit_record(run_file):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def read_offline_run(run_file: str | Path) -> dict:
    """{'run_id', 'name', 'project', 'group', 'config': {...}, 'history': [{metric: value, '_step': n}]}."""
    out = {"config": {}, "history": []}
    for record in _records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out.update(run_id=record.run.run_id, name=record.run.display_name, project=record.run.project,
                       group=record.run.run_group)
            out["config"].update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            out["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                   for i in record.history.item})
    return out


def offline_run_files(run_dir: str | Path) -> list[Path]:
    """A training run's offline W&B run files (`<run_dir>/wandb/offline-run-*/run-*.wandb`), oldest first:
    one per start of the run (a resumed run adds one)."""
    files = Path(run_dir).glob("wandb/offline-run-*/run-*.wandb")
    return sorted(files, key=lambda f: (f.parent.name, f.stat().st_mtime))


def synced_history(run_dir: str | Path) -> list[dict]:
    """The W&B history a run dir's offline runs give once synced: that of the latest one.

    `wandb sync` of an offline run replaces the history of an earlier offline run with the same id,
    so each start logs the whole history (a resumed run re-logs the rows before its checkpoint, see
    onpolicy.utils.logger.Logger), and the latest offline run is the run's history."""
    files = offline_run_files(run_dir)
    return read_offline_run(files[-1])["history"] if files else []
