"""Metrics to progress.csv (always), TensorBoard and W&B (on request)."""
from __future__ import annotations

import csv
import math
import os
import sys
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
        try:
            if new or not self.path.exists():
                self.fields += new
                self._rewrite()
            else:
                with self.path.open("a", newline="") as f:
                    csv.DictWriter(f, self.fields).writerow(row)
        except OSError as err:
            from onpolicy.utils.checkpoint import os_error_in_words
            raise LogWriteError(f"could not write {self.path}: {os_error_in_words(err, self.path.parent)}; the "
                                f"last checkpoint is intact: free space, then continue with --resume "
                                f"{self.path.parent}") from None

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        try:
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, self.fields)
                writer.writeheader()
                writer.writerows(self.rows)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class LogWriteError(RuntimeError):
    """progress.csv could not be written (a full disk, a lost mount); the message says it in words."""


def csv_value(text: str):
    """A progress.csv cell back as the number it was logged as (int where it was an int); None for empty."""
    if not isinstance(text, str):  # a row logged by this process: still the value itself
        return text
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class Logger:
    """Fans one metrics dict out to CSV, TensorBoard and W&B.

    On resume, W&B is made whole from progress.csv: every row up to the checkpoint that the W&B run
    does not hold yet is logged again before training goes on. Online, the run resumes at the server's
    step and only the rows from there on are re-sent (those a kill -9 lost in transit); offline, where
    the SDK cannot know what an earlier offline run holds, the new offline run gets every row, so it
    is complete by itself (`wandb sync` of the latest offline run of a run id replaces the earlier
    ones). Either way the synced history equals progress.csv.
    """

    def __init__(self, cfg, run_dir: Path, config_dict: dict, wandb_id: str, resume_env_steps: int | None):
        self.run_dir = run_dir
        self.csv = CSVLog(run_dir / "progress.csv", resume_env_steps)
        self.tb = None
        self.wandb = None
        if cfg.use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run_dir / "tb"))
        if cfg.use_wandb:
            self.wandb = init_wandb(cfg, run_dir, config_dict, wandb_id)
            if self.csv.rows:
                self.relog_wandb()

    def relog_wandb(self) -> int:
        """Log the progress.csv rows W&B lacks (see the class docstring); returns how many."""
        first = getattr(self.wandb, "starting_step", 0) or 0
        rows = [r for r in self.csv.rows if csv_value(r.get("env_steps")) is not None
                and csv_value(r["env_steps"]) >= first]
        for row in rows:
            values = {k: csv_value(v) for k, v in row.items() if k != "env_steps"}
            self.wandb.log({k: v for k, v in values.items()
                            if isinstance(v, (int, float)) and math.isfinite(v)}, step=int(csv_value(row["env_steps"])))
        return len(rows)

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
        """Close the writers and release the run dir's lock (see onpolicy.utils.run_dir)."""
        from onpolicy.utils.run_dir import release_run_dir
        try:
            if self.tb is not None:
                self.tb.close()
            if self.wandb is not None:
                self.finish_wandb()
        finally:
            release_run_dir(self.run_dir)


    def finish_wandb(self, timeout_s: float = 60.0) -> None:
        """Finish the W&B run; offline, return only once its run file holds the exit record.

        On a loaded machine `finish()` can return before W&B's writer has flushed the file, and a
        reader right after the run (a test, `wandb sync`, the sweep copying logs) then sees a run
        cut short."""
        from onpolicy.utils.wandb_offline import wait_for_exit_record
        offline_file = Path(self.wandb.settings.sync_file) if self.wandb.offline else None
        self.wandb.finish()
        if offline_file is not None and not wait_for_exit_record(offline_file, timeout_s):
            print(f"warning: W&B run file {offline_file} has no exit record {timeout_s:.0f} s after finish(); "
                  "it may be incomplete", file=sys.stderr)


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
