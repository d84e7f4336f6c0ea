"""Run time per method at equal budget (the paper's Table 4), from finished runs' progress.csv.

    python -m eval_scripts.runtime [ROOTS ...] [--out results/runtime]

ROOTS (directories or globs; default: every results/reproduce/*/run_logs) hold run dirs with
config.json and progress.csv. A run's training time is the sum over its updates of
(env steps per update / fps): rollout, returns and PPO epochs, without evaluation and checkpoint
writes. Only finished runs count (their last update reaches num_env_steps); an update logged twice
(a run resumed from a checkpoint taken before it) counts once. One row per task and experiment at
one budget, one column per algorithm: mean ± std of the seconds over seeds (n seeds), and the ratio
to MAPPO's mean beside it when MAPPO is in the row. Times are only comparable within a row and
within one machine: each row's runs were made by one sweep, side by side on the same cores.
Writes <out>.md and <out>.tex; prints the Markdown.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if not __package__:  # run as a script: make `onpolicy` and `eval_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_scripts.make_tables import _latex_escape, find_run_dirs, method_sort_key, read_progress  # noqa: E402
from onpolicy.utils.stats import mean_std  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOTS = ("results/reproduce/*/run_logs",)
REFERENCE = "mappo"


@dataclass(frozen=True)
class Timing:
    task: str
    experiment: str
    budget: int  # env steps
    algorithm: str
    seed: int
    seconds: float
    host: str


def training_seconds(progress: dict[str, np.ndarray], steps_per_update: int, num_env_steps: int) -> float | None:
    """Seconds of training of a finished run, None when it did not finish or logged no fps."""
    updates, fps = progress.get("updates"), progress.get("fps")
    if updates is None or fps is None or not updates.size:
        return None
    last_of_update = {int(u): f for u, f in zip(updates, fps)}  # a resumed run logs re-done updates again
    needed = math.ceil(num_env_steps / steps_per_update)
    if len(last_of_update) < needed or any(not (f > 0) for f in last_of_update.values()):
        return None
    return float(sum(steps_per_update / f for f in last_of_update.values()))


def read_timing(run_dir: Path) -> Timing | None:
    config = json.loads((run_dir / "config.json").read_text())
    steps_per_update = config["episode_length"] * config["n_rollout_threads"]
    seconds = training_seconds(read_progress(run_dir / "progress.csv"), steps_per_update, config["num_env_steps"])
    if seconds is None:
        return None
    meta_path = run_dir / "meta.json"
    starts = json.loads(meta_path.read_text()).get("starts", []) if meta_path.exists() else []
    host = ",".join(sorted({s.get("host", "?") for s in starts})) or "?"
    return Timing(f"{config['env_name']}/{config['scenario_name']}", config["experiment_name"],
                  config["num_env_steps"], config["algorithm_name"], int(config["seed"]), seconds, host)


def collect(roots: list[str]) -> list[Timing]:
    timings = []
    for run_dir in find_run_dirs(roots):
        if not (run_dir / "config.json").exists():
            print(f"warning: {run_dir} has progress.csv but no config.json; skipped", file=sys.stderr)
            continue
        timing = read_timing(run_dir)
        if timing is not None:
            timings.append(timing)
    return timings


def table(timings: list[Timing]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per (task, experiment, budget), one column per algorithm."""
    algorithms = sorted({t.algorithm for t in timings}, key=method_sort_key)
    groups: dict[tuple, dict[str, list[float]]] = {}
    hosts: dict[tuple, set[str]] = {}
    for t in timings:
        key = (t.task, t.experiment, t.budget)
        groups.setdefault(key, {}).setdefault(t.algorithm, []).append(t.seconds)
        hosts.setdefault(key, set()).add(t.host)
    rows = []
    for key in sorted(groups):
        task, experiment, budget = key
        by_method = groups[key]
        reference = np.mean(by_method[REFERENCE]) if REFERENCE in by_method else None
        cells = []
        for algorithm in algorithms:
            if algorithm not in by_method:
                cells.append("–")
                continue
            mean, std = mean_std(np.array(by_method[algorithm]))
            spread = "" if math.isnan(std) else f" ± {std:.0f}"
            ratio = f", {mean / reference:.2f}×" if reference else ""
            cells.append(f"{mean:.0f}{spread} (n={len(by_method[algorithm])}{ratio})")
        rows.append([task, experiment, f"{budget:,}", ",".join(sorted(hosts[key])), *cells])
    return ["task", "experiment", "env steps", "host", *algorithms], rows


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def to_latex(header: list[str], rows: list[list[str]]) -> str:
    lines = [r"\begin{tabular}{" + "l" * len(header) + "}", r"\toprule",
             " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c).replace("±", r"$\pm$").replace("×", r"$\times$") for c in row) + r" \\"
              for row in rows]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def main(argv: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.runtime", description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="*", help=f"run dirs or globs (default: {' '.join(DEFAULT_ROOTS)} in the repo)")
    p.add_argument("--out", default="results/runtime", help="writes <out>.md and <out>.tex")
    args = p.parse_args(argv)
    roots = args.roots or [str(REPO / r) for r in DEFAULT_ROOTS]
    missing = [r for r in roots if not glob.glob(r)]
    if missing:
        sys.exit(f"error: no such run directory or glob: {', '.join(missing)}")
    timings = collect(roots)
    if not timings:
        sys.exit(f"error: no finished run with fps logs under {', '.join(roots)}")
    header, rows = table(timings)
    caption = ("Training seconds per run at equal budget (sum over updates of env steps per update / fps: "
               "rollouts and PPO epochs, without evaluation); mean ± std over seeds (n seeds, ratio to MAPPO). "
               "Compare within a row: its runs shared one machine, two at a time.\n\n")
    markdown = caption + to_markdown(header, rows)
    Path(f"{args.out}.md").write_text(markdown)
    Path(f"{args.out}.tex").write_text(to_latex(header, rows))
    print(markdown + f"\nwrote {args.out}.md and {args.out}.tex")
    return header, rows


if __name__ == "__main__":
    main()
