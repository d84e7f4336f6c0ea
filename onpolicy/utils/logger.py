"""Metrics to progress.csv (always), TensorBoard and W&B (on request)."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path


class CSVLog:
    """progress.csv with a header that grows when new metrics appear.

    Rows are kept in memory (a run logs at most a few thousand) so the file can be
    rewritten with a wider header; the rewrite goes through a temp file and rename.
    """

    def __init__(self, path: Path, resume_env_steps: int | None = None):
        self.path = path
        self.rows: list[dict] = []
        self.fields: list[str] = []
        if resume_env_steps is not None and path.exists():
            with path.open() as f:
                reader = csv.DictReader(f)
                self.fields = list(reader.fieldnames or [])
                # Rows logged after the checkpoint will be produced again by the resumed run.
                self.rows = [r for r in reader if float(r["env_steps"]) <= resume_env_steps]
            self._rewrite()

    def write(self, row: dict) -> None:
        new = [k for k in row if k not in self.fields]
        self.rows.append(row)
        if new or not self.path.exists():
            self.fields += new
            self._rewrite()
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, self.fields).writerow(row)

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)


class Logger:
    """Fans one metrics dict out to CSV, TensorBoard and W&B."""

    def __init__(self, cfg, run_dir: Path, config_dict: dict, wandb_id: str, resume_env_steps: int | None):
        self.csv = CSVLog(run_dir / "progress.csv", resume_env_steps)
        self.tb = None
        self.wandb = None
        if cfg.use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run_dir / "tb"))
        if cfg.use_wandb:
            self.wandb = init_wandb(cfg, run_dir, config_dict, wandb_id)

    def log(self, env_steps: int, metrics: dict) -> None:
        row = {"env_steps": env_steps, **metrics}
        self.csv.write(row)
        finite = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        if self.tb is not None:
            for k, v in finite.items():
                self.tb.add_scalar(k, v, env_steps)
        if self.wandb is not None:
            self.wandb.log(finite, step=env_steps)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def wandb_mode(requested: str) -> str:
    """Online only when asked for and an API key is available; otherwise offline."""
    if requested == "online" and not (os.environ.get("WANDB_API_KEY") or _netrc_has_wandb()):
        print("W&B: no API key found (WANDB_API_KEY or ~/.netrc); logging offline. "
              "Upload later with `wandb sync <run_dir>/wandb/offline-run-*`.")
        return "offline"
    return requested


def _netrc_has_wandb() -> bool:
    netrc = Path.home() / ".netrc"
    return netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def init_wandb(cfg, run_dir: Path, config_dict: dict, run_id: str):
    """Project = env name, group = scenario, name = algorithm_experiment_seed (see README)."""
    import wandb
    return wandb.init(
        project=cfg.wandb_project or cfg.env_name, entity=cfg.user_name, group=cfg.scenario_name,
        name=f"{cfg.algorithm_name}_{cfg.experiment_name}_seed{cfg.seed}", job_type=cfg.algorithm_name,
        config=config_dict, dir=str(run_dir), mode=wandb_mode(cfg.wandb_mode), id=run_id, resume="allow",
        tags=[cfg.algorithm_name, cfg.env_name, cfg.scenario_name],
    )
