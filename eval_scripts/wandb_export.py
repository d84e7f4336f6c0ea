"""Export W&B runs to run directories that make_tables and plot_curves read.

    python -m eval_scripts.wandb_export ENTITY/PROJECT [ENTITY/PROJECT ...] --out wandb_export

Training logs to W&B with project = env name, group = scenario and run name
`<algorithm>_<experiment>_seed<k>` (onpolicy/utils/logger.py), the run config being
the run's config.json and the W&B step being env_steps. Each W&B run becomes
`<out>/<env>/<scenario>/<algorithm>/<experiment>_seed<k>_wandb-<id>/` with
config.json, progress.csv (env_steps plus every logged metric; metrics not logged
at a step are blank, like the runner's own eval columns) and meta.json (where it
came from). Finished runs already exported are not downloaded again. Needs W&B
credentials (WANDB_API_KEY or `wandb login`) and network access.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path

if not __package__:  # run as a script: make `onpolicy` and `eval_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onpolicy.algorithms import ALGORITHMS  # noqa: E402
from onpolicy.utils.logger import _netrc_has_wandb  # noqa: E402

IDENTITY_KEYS = ("env_name", "scenario_name", "algorithm_name", "experiment_name", "seed")


def require_credentials() -> None:
    """The public API needs a key; fail with instructions instead of an interactive prompt."""
    if not (os.environ.get("WANDB_API_KEY") or _netrc_has_wandb()):
        sys.exit("error: reading W&B needs credentials: set WANDB_API_KEY or run `wandb login` "
                 "(and network access); or pass local run directories instead")


def parse_run_name(name: str) -> dict:
    """{algorithm_name, experiment_name, seed} from `<algorithm>_<experiment>_seed<k>`, or {} if it is not one.

    Algorithm names contain underscores (mat_dec), so the longest registered name is tried first.
    """
    for algorithm in sorted(ALGORITHMS, key=len, reverse=True):
        match = re.fullmatch(rf"{re.escape(algorithm)}_(?P<experiment>.+)_seed(?P<seed>\d+)", name)
        if match:
            return {"algorithm_name": algorithm, "experiment_name": match["experiment"], "seed": int(match["seed"])}
    return {}


def run_identity(run) -> dict:
    """env, scenario, algorithm, experiment and seed of a W&B run: from its config where present,
    else from its project (env), group (scenario) and name."""
    identity = {"env_name": run.project, "scenario_name": run.group, **parse_run_name(run.name or "")}
    identity.update({k: run.config[k] for k in IDENTITY_KEYS if run.config.get(k) is not None})
    missing = [k for k in IDENTITY_KEYS if identity.get(k) is None]
    if missing:
        raise ValueError(f"W&B run {run.id} ({run.name!r}): cannot tell its {missing} from the config, nor from "
                         f"a name <algorithm>_<experiment>_seed<k> with algorithm in {sorted(ALGORITHMS)}")
    return {k: identity[k] for k in IDENTITY_KEYS}


def history_rows(run) -> list[dict]:
    """History as progress.csv rows: env_steps from W&B's step, W&B's own `_` keys dropped."""
    rows = []
    for record in run.scan_history():
        metrics = {k: v for k, v in record.items() if not k.startswith("_") and isinstance(v, (int, float))}
        if metrics:
            rows.append({"env_steps": int(record["_step"]), **metrics})
    return rows


def write_progress(path: Path, rows: list[dict]) -> None:
    fields = ["env_steps"] + sorted({k for row in rows for k in row} - {"env_steps"})
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def export_run(run, out_dir: str | Path) -> Path:
    """Write one W&B run as a run directory; returns the directory."""
    identity = run_identity(run)
    run_dir = (Path(out_dir) / identity["env_name"] / identity["scenario_name"] / identity["algorithm_name"] /
               f"{identity['experiment_name']}_seed{identity['seed']}_wandb-{run.id}")
    meta_path = run_dir / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()).get("wandb_state") == "finished":
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in run.config.items() if not k.startswith("_")}
    (run_dir / "config.json").write_text(json.dumps({**config, **identity}, indent=2, sort_keys=True))
    write_progress(run_dir / "progress.csv", history_rows(run))
    meta_path.write_text(json.dumps({"wandb_id": run.id, "wandb_path": "/".join(run.path), "wandb_name": run.name,
                                     "wandb_state": run.state}, indent=2))
    return run_dir


def export_projects(projects: list[str], out_dir: str | Path, api=None) -> list[Path]:
    """Export every run of each `entity/project`; `api` defaults to `wandb.Api()` (needs credentials)."""
    if api is None:
        require_credentials()
        import wandb
        api = wandb.Api()
    exported = []
    for project in projects:
        if project.count("/") != 1:
            raise ValueError(f"W&B project {project!r}: expected ENTITY/PROJECT, e.g. my-team/matrix")
        runs = list(api.runs(project))
        for run in runs:
            exported.append(export_run(run, out_dir))
        print(f"{project}: exported {len(runs)} runs to {out_dir}", file=sys.stderr)
    return exported


def main(argv: list[str] | None = None) -> list[Path]:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.wandb_export", description=__doc__.split("\n\n")[0])
    p.add_argument("projects", nargs="+", metavar="ENTITY/PROJECT")
    p.add_argument("--out", default="wandb_export", help="root of the exported run directories")
    args = p.parse_args(argv)
    return export_projects(args.projects, args.out)


if __name__ == "__main__":
    main()
