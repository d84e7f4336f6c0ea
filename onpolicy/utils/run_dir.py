"""Run directories: where a run's config, code version, logs and checkpoints live.

A run directory has one writer: `open_run_dir` takes an exclusive `fcntl.flock` on `<run_dir>/.lock`
for the life of the training process (the runner's logger releases it on close; the kernel releases
it when the process dies, so a lock left by a killed run is simply taken over). A second process (a
second sweep, a manual `--resume`) is refused with the holder's pid, which the lock file records.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import onpolicy

LOCK_NAME = ".lock"


class RunDirError(RuntimeError):
    """A run directory that cannot be used: held by another process, unwritable, or a bad name."""


def code_version() -> dict:
    """Package version plus git commit and dirty flag when run from a checkout."""
    repo = Path(onpolicy.__file__).resolve().parent.parent

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"package_version": onpolicy.__version__, "git_commit": git("rev-parse", "HEAD") or None,
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _in_words(err: OSError, path: Path) -> str:
    from onpolicy.utils.checkpoint import os_error_in_words  # one phrasing for every disk error
    return os_error_in_words(err, path)


def check_experiment_name(name) -> None:
    """--experiment_name becomes one directory name under the runs tree: no separators, no '..'."""
    if (not isinstance(name, str) or not name.strip() or name == "." or ".." in name
            or any(sep and sep in name for sep in ("/", "\\", os.sep, os.altsep)) or "\0" in name):
        raise RunDirError(f"--experiment_name {name!r} is not a plain name: it becomes one directory "
                          "(<runs_dir>/<env>/<scenario>/<algorithm>/<experiment>_seed<k>), so it may not contain "
                          "'/', '\\' or '..'; choose e.g. --experiment_name my_variant")


def new_run_dir(cfg) -> Path:
    """--run_dir if given, else runs/<env>/<scenario>/<algorithm>/<experiment>_seed<k>_<time> (created here)."""
    check_experiment_name(cfg.experiment_name)
    if cfg.run_dir:
        path = Path(cfg.run_dir)
        refuse_existing_run(path)
        _mkdir(path, parents=True, exist_ok=True)
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.runs_dir) / cfg.env_name / cfg.scenario_name / cfg.algorithm_name
    path = base / f"{cfg.experiment_name}_seed{cfg.seed}_{stamp}"
    suffix = 1
    while path.exists():  # two runs started in the same second
        path = base / f"{cfg.experiment_name}_seed{cfg.seed}_{stamp}_{suffix}"
        suffix += 1
    _mkdir(path, parents=True)
    return path


def refuse_existing_run(path: Path) -> None:
    """A fresh start must not overwrite a run: say how to continue it instead."""
    if (path / "checkpoint.pt").exists():
        raise FileExistsError(f"--run_dir {path} already holds a run; continue it with --resume {path} "
                              "or choose another directory")
    if (path / "progress.csv").exists():
        raise FileExistsError(f"--run_dir {path} already holds a run that stopped before its first checkpoint; "
                              f"restart it from scratch in place with --resume {path}, or choose another directory")


def _mkdir(path: Path, **kwargs) -> None:
    try:
        path.mkdir(**kwargs)
    except OSError as err:
        raise RunDirError(f"cannot create the run directory {path}: {_in_words(err, Path(err.filename or path))}; "
                          "choose a writable place with --runs_dir or --run_dir") from None


def write_run_files(run_dir: Path, config: dict) -> dict:
    """config.json (replayable with --config) and meta.json (code version, command, host)."""
    try:
        (run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        meta_path = run_dir / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"wandb_id": uuid.uuid4().hex[:12]}
        meta.setdefault("starts", []).append({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": sys.argv, "python": sys.version.split()[0],
            "host": platform.node(), **code_version()})
        meta["seed"] = config["seed"]
        meta_path.write_text(json.dumps(meta, indent=2))
    except OSError as err:
        raise RunDirError(f"cannot write to the run directory {run_dir}: {_in_words(err, run_dir)}") from None
    return meta


# --- one writer per run directory ----------------------------------------------------------------
class RunLock:
    """An exclusive flock on <run_dir>/.lock held by this process; the file says who holds it."""

    def __init__(self, run_dir: Path, fd: int):
        self.run_dir, self.fd = run_dir, fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # an empty lock file: released cleanly, nothing to take over
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


_HELD: dict[str, RunLock] = {}  # resolved run dir -> lock held by this process


def _key(run_dir: Path) -> str:
    return str(Path(run_dir).resolve())


def _holder_text(fd: int) -> str:
    try:
        return os.pread(fd, 512, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def lock_run_dir(run_dir: Path) -> RunLock:
    """Take the run dir's lock for this process, or raise RunDirError naming the process that holds it."""
    run_dir = Path(run_dir)
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise RunDirError(f"cannot use the run directory {run_dir}: {_in_words(err, run_dir)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(fd)
        os.close(fd)
        pid = re.match(r"pid (\d+)", holder)
        who = holder or "a process that has not written its pid yet"
        same = pid is not None and int(pid[1]) == os.getpid()
        raise RunDirError(
            f"{run_dir} is in use by {'this process' if same else 'another process'} ({who}): a run directory has "
            "one writer. Wait for that run to finish" + (f" or stop it (kill {pid[1]})" if pid and not same else "")
            + ", then try again") from None
    except OSError as err:  # e.g. a file system without flock: go on, but say the guard is off
        print(f"run dir {run_dir}: cannot lock it ({err.strerror or err}); another process could write it too",
              flush=True)
    previous = _holder_text(fd)
    if previous:
        print(f"run dir {run_dir}: taking over the lock left by {previous}, which is no longer running", flush=True)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {platform.node()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode(), 0)
    lock = RunLock(run_dir, fd)
    _HELD[_key(run_dir)] = lock
    return lock


def release_run_dir(run_dir: Path) -> None:
    """Release this process's lock on run_dir (no-op if it holds none)."""
    lock = _HELD.pop(_key(run_dir), None)
    if lock is not None:
        lock.release()


def lock_holder(run_dir: Path) -> str | None:
    """Who holds run_dir's lock ("pid N on host since ..."), or None when nobody does (probes, takes nothing)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_text(fd) or "a process that has not written its pid yet"
    except OSError:
        return None
    finally:
        os.close(fd)  # closing drops a probe lock we may have taken
    return None


# --- opening a run directory for one start ------------------------------------------------------------
_STARTS: list[dict] = []  # starts opened by this process whose setup may still fail (see cleanup_failed_start)


def open_run_dir(cfg, config: dict, resume_dir: str | None = None) -> tuple[Path, dict | None, dict]:
    """The run dir of this start, locked for this process: (run_dir, checkpoint or None, meta).

    Fresh runs get a new directory (or --run_dir). `--resume DIR` loads DIR's checkpoint; a run killed
    before its first checkpoint has none, and starts again from scratch in place (its partial
    progress.csv kept as progress.csv.stale). Every refusal is an error naming what to do.
    """
    from onpolicy.utils.checkpoint import CHECKPOINT_NAME, load_checkpoint  # torch: only when a run starts

    mark = len(_STARTS)
    try:
        if resume_dir:
            path = Path(resume_dir)
            if not path.is_dir():
                raise RunDirError(f"--resume {path}: no such run directory")
            _STARTS.append({"path": path, "created": False, "fresh": False})
            lock_run_dir(path)
            if (path / CHECKPOINT_NAME).exists():
                checkpoint = load_checkpoint(path, config)
            else:
                checkpoint = None
                progress = path / "progress.csv"
                if progress.exists():
                    os.replace(progress, progress.with_suffix(".csv.stale"))
                print(f"resume: {path} has no checkpoint yet (the run stopped before its first save, which comes "
                      f"every --save_interval updates); starting it again from scratch in place"
                      + (" (its partial progress.csv is kept as progress.csv.stale)" if progress.with_suffix(
                          ".csv.stale").exists() else ""), flush=True)
        else:
            check_experiment_name(cfg.experiment_name)
            existed = bool(cfg.run_dir) and Path(cfg.run_dir).exists()
            if existed and not Path(cfg.run_dir).is_dir():
                raise RunDirError(f"--run_dir {cfg.run_dir} is a file, not a directory; choose another --run_dir")
            if existed:  # lock first, so a live run is reported as such, not as "already holds a run"
                path = Path(cfg.run_dir)
                _STARTS.append({"path": path, "created": False, "fresh": True, "before": set(os.listdir(path))})
                lock_run_dir(path)
                _STARTS[-1]["locked"] = True
                refuse_existing_run(path)
            else:
                parent = Path(cfg.run_dir) if cfg.run_dir else (
                    Path(cfg.runs_dir) / cfg.env_name / cfg.scenario_name / cfg.algorithm_name)
                root = _first_missing(parent)
                path = new_run_dir(cfg)
                _STARTS.append({"path": path, "created": True, "fresh": True, "root": root})
                lock_run_dir(path)
                _STARTS[-1]["locked"] = True
            checkpoint = None
        meta = write_run_files(path, config)
    except BaseException:
        _undo_starts(mark)
        raise
    global _LAST_OPENED
    _LAST_OPENED = path
    return path, checkpoint, meta


_LAST_OPENED: Path | None = None


def last_opened_run_dir() -> Path | None:
    """The run dir this process opened last (for messages such as how to resume it)."""
    return _LAST_OPENED


def _undo_starts(mark: int) -> None:
    """Release the locks of the starts opened since `mark` and remove what their fresh setup wrote."""
    for start in reversed(_STARTS[mark:]):
        path = start["path"]
        release_run_dir(path)
        # Only what this start wrote under its own lock is removed: never another writer's files.
        if (not start["fresh"] or not start.get("locked") or (path / "progress.csv").exists()
                or (path / "checkpoint.pt").exists()):
            continue
        with contextlib.suppress(OSError):
            if start["created"]:
                shutil.rmtree(path)
                # and the empty parents this start created (runs/<env>/...), never a non-empty one
                root, parent = start.get("root"), path.parent
                while root is not None and parent != root.parent and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
            else:
                for name in set(os.listdir(path)) - start["before"]:
                    target = path / name
                    shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    del _STARTS[mark:]


def _first_missing(path: Path) -> Path | None:
    """The top-most ancestor of path (or path itself) that does not exist yet: what mkdir(parents) creates."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


@contextlib.contextmanager
def cleanup_failed_start():
    """Around building a Runner: if that fails (an env that cannot be built, a missing package), release
    the run dir's lock and remove a fresh run directory, so no empty run is left behind."""
    mark = len(_STARTS)
    try:
        yield
    except BaseException:
        _undo_starts(mark)
        raise
    del _STARTS[mark:]
