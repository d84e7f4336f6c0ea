"""Run directories: where a run's config, code version, logs and checkpoints live."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

import onpolicy


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


def new_run_dir(cfg) -> Path:
    """--run_dir if given, else runs/<env>/<scenario>/<algorithm>/<experiment>_seed<k>_<time>."""
    if cfg.run_dir:
        path = Path(cfg.run_dir)
        if (path / "checkpoint.pt").exists() or (path / "progress.csv").exists():
            raise FileExistsError(f"--run_dir {path} already holds a run; continue it with --resume {path} "
                                  "or choose another directory")
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.runs_dir) / cfg.env_name / cfg.scenario_name / cfg.algorithm_name
    path = base / f"{cfg.experiment_name}_seed{cfg.seed}_{stamp}"
    suffix = 1
    while path.exists():  # two runs started in the same second
        path = base / f"{cfg.experiment_name}_seed{cfg.seed}_{stamp}_{suffix}"
        suffix += 1
    path.mkdir(parents=True)
    return path


def write_run_files(run_dir: Path, config: dict) -> dict:
    """config.json (replayable with --config) and meta.json (code version, command, host)."""
    (run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"wandb_id": uuid.uuid4().hex[:12]}
    meta.setdefault("starts", []).append({
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": sys.argv, "python": sys.version.split()[0],
        "host": platform.node(), **code_version()})
    meta["seed"] = config["seed"]
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta
