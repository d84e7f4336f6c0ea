"""Run a grid of training runs: algorithms × scenarios × seeds.

    python -m onpolicy.sweep --algorithms agentmixer mappo --env matrix --scenarios climbing \
        --seeds 0-4 [--runs_dir runs] [--max_parallel 4] [--backend local|ray] [any training flag]

Every run has a fixed directory, `<runs_dir>/<env>/<scenario>/<algorithm>/<experiment>_seed<k>`
(passed to training as `--run_dir`), so running the same sweep again finds its runs:
finished runs are skipped, interrupted ones (a checkpoint but not finished) continue
with `--resume`, the rest start fresh. Training flags are validated for every run
before anything is launched. A run's output goes to `<run_dir>/train.log`; a failed
run does not stop the others, and the exit code is 1 if any run failed. With
--save_logs_to DIR, each run's progress.csv, config.json and meta.json (never its
checkpoint) go to the same place under DIR the moment it finishes: the files to
commit, so a long sweep stopped part-way loses no finished run.

Backends: `local` runs up to --max_parallel training processes on this machine (they
share its GPU if any; pass --no-cuda for CPU-only runs). `ray` submits one Ray task
per run reserving --ray_num_cpus / --ray_num_gpus; with --address auto (a running
cluster) or ray://host:port (Ray Client) the runs land on other nodes, so --runs_dir
must be a path every node sees at the same location (a shared filesystem), and every
node needs this package importable (installed, or checked out at the same path).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys
from pathlib import Path

from onpolicy.config import BASE_DEFAULTS, ConfigError, config_to_dict, parse_config
from onpolicy.envs import ENV_NAMES
from onpolicy.sweep_backends import Job, JobResult, SweepInterrupted, run_local, run_ray
from onpolicy.utils.run_dir import RunDirError, check_experiment_name, lock_holder

DONE_MARKER = "sweep_done.json"
# Chosen per run by the sweep; giving them as training flags would make every run the same.
SWEEP_OWNED_FLAGS = {"--env_name": "--env", "--scenario_name": "--scenarios", "--algorithm_name": "--algorithms",
                     "--seed": "--seeds", "--run_dir": "--runs_dir", "--resume": "(automatic)"}


def parse_seeds(tokens: list[str]) -> list[int]:
    """Seeds from tokens like "0-4", "7", "1,3,5" (inclusive ranges), in order, without repeats."""
    seeds: list[int] = []
    for token in tokens:
        for part in filter(None, token.split(",")):
            match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not match or (match[2] and int(match[2]) < int(match[1])):
                raise ConfigError(f"--seeds: bad seed or range {part!r}; use e.g. 0-4, 7 or 1,3,5")
            first = int(match[1])
            last = int(match[2]) if match[2] else first
            seeds += [s for s in range(first, last + 1) if s not in seeds]
    return seeds


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m onpolicy.sweep", allow_abbrev=False,  # `--seed` is not `--seeds`
                                description=__doc__.split("\n\n")[0],
                                epilog="Any other flag is a training flag passed to every run "
                                       "(see python -m onpolicy.train --help).")
    p.add_argument("--algorithms", nargs="+", required=True)
    p.add_argument("--env", required=True, choices=ENV_NAMES)
    p.add_argument("--scenarios", nargs="+", default=None, help="default: the env's default scenario")
    p.add_argument("--seeds", nargs="+", default=["0-4"], help="seeds, ranges and lists: 0-4 7 1,3 (default 0-4)")
    p.add_argument("--runs_dir", default="runs", help="parent of the run dirs; with Ray, a path all nodes share")
    p.add_argument("--experiment_name", default="default")
    p.add_argument("--backend", choices=("local", "ray"), default="local")
    p.add_argument("--max_parallel", type=int, default=os.cpu_count(), help="local backend: runs at once "
                                                                            "(default: CPU count)")
    p.add_argument("--address", default=None, help="ray: cluster address, 'auto' or ray://host:port "
                                                   "(default: start a local Ray instance)")
    p.add_argument("--ray_num_cpus", type=float, default=1.0, help="ray: CPUs reserved per run")
    p.add_argument("--ray_num_gpus", type=float, default=0.0, help="ray: GPUs reserved per run")
    p.add_argument("--save_logs_to", default=None, metavar="DIR",
                   help="copy each finished run's progress.csv, config.json and meta.json to DIR, at the "
                        "run's path relative to --runs_dir, as soon as it finishes")
    p.add_argument("--dry_run", action="store_true", help="print the plan and exit without launching")
    return p


def run_dir_for(runs_dir: str, env: str, scenario: str, algorithm: str, experiment: str, seed: int) -> Path:
    """The fixed directory of one run: like the runner's layout, without its timestamp."""
    return Path(runs_dir) / env / scenario / algorithm / f"{experiment}_seed{seed}"


def progress_rows(run_dir: Path) -> list[dict]:
    """The rows of a run's progress.csv ([] when it has none yet)."""
    path = run_dir / "progress.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def run_status(run_dir: Path, num_env_steps: int) -> str:
    """"finished", "resume" (checkpoint but not finished), "restart" (killed before its first
    checkpoint: progress.csv but nothing to resume from) or "fresh"."""
    marker = run_dir / DONE_MARKER
    if marker.exists() and json.loads(marker.read_text()).get("num_env_steps", 0) >= num_env_steps:
        return "finished"
    rows = progress_rows(run_dir)
    if rows and float(rows[-1]["env_steps"]) >= num_env_steps:
        return "finished"
    if (run_dir / "checkpoint.pt").exists():
        return "resume"
    return "restart" if rows else "fresh"


# Config keys that say where or how a run is watched, not what it computes.
NOT_RESULT_KEYS = {"runs_dir", "progress_bar", "n_training_threads", "n_workers", "vec_env", "cuda", "use_wandb",
                   "wandb_mode", "wandb_project", "user_name", "use_tensorboard", "log_interval", "save_interval"}


def config_mismatch(run_dir: Path, cfg: argparse.Namespace) -> str | None:
    """How the config.json in run_dir differs from cfg in what it computes, or None where it agrees."""
    path = run_dir / "config.json"
    if not path.exists():
        return None
    saved, planned = json.loads(path.read_text()), config_to_dict(cfg)
    # A flag added after that run was made ran there at its default (the behaviour before the flag existed).
    saved = {**{k: BASE_DEFAULTS[k] for k in planned.keys() - saved.keys() if k in BASE_DEFAULTS}, **saved}
    differ = [f"{k}={saved.get(k, '(absent)')!r} there, {planned.get(k, '(absent)')!r} here"
              for k in sorted((set(saved) | set(planned)) - NOT_RESULT_KEYS) if saved.get(k) != planned.get(k)]
    return "; ".join(differ[:5]) + (f" (+{len(differ) - 5} more)" if len(differ) > 5 else "") if differ else None


def training_flags_error(flags: list[str]) -> str | None:
    for token in flags:
        name = token.split("=", 1)[0]
        if name in SWEEP_OWNED_FLAGS:
            return f"{name} is set by the sweep for each run; use {SWEEP_OWNED_FLAGS[name]} instead"
    return None


def plan_run(args: argparse.Namespace, train_flags: list[str], algorithm: str, scenario: str | None,
             seed: int) -> Job:
    """One grid point: its run dir, whether it is finished / to resume / fresh, and its validated argv."""
    fresh_argv = ["--env_name", args.env, "--algorithm_name", algorithm, "--seed", str(seed),
                  "--experiment_name", args.experiment_name, "--runs_dir", args.runs_dir,
                  *(["--scenario_name", scenario] if scenario else []), *train_flags]
    label = f"{algorithm} {args.env}/{scenario or '(default scenario)'} seed {seed}"
    try:
        cfg = parse_config(fresh_argv)
    except ConfigError as err:
        raise ConfigError(f"{label}: {err}") from None
    run_dir = run_dir_for(args.runs_dir, args.env, cfg.scenario_name, algorithm, args.experiment_name, seed)
    if holder := lock_holder(run_dir):  # another sweep or a manual --resume is training it right now
        if args.dry_run:  # a plan may show it; only launching must refuse
            return Job(algorithm, cfg.scenario_name, seed, str(run_dir), f"in use by {holder}", (), cfg.num_env_steps)
        raise ConfigError(f"{label}: {run_dir} is in use by {holder}; a run directory has one writer: wait for "
                          "that process to finish or stop it, then run the sweep again")
    status = run_status(run_dir, cfg.num_env_steps)
    if status == "finished" and (mismatch := config_mismatch(run_dir, cfg)):
        # A finished run of another config (older defaults, other flags) must not stand in for this one.
        raise ConfigError(f"{label}: {run_dir} holds a finished run of another config ({mismatch}); "
                          "move it away or choose another --experiment_name")
    if status == "resume":  # continues with the run's config.json; the sweep's flags override it
        argv = ["--resume", str(run_dir), *train_flags]
        try:
            parse_config(argv)
        except ConfigError as err:
            raise ConfigError(f"{label} (resuming {run_dir}): {err}") from None
    else:
        argv = [*fresh_argv, "--run_dir", str(run_dir)]
    return Job(algorithm, cfg.scenario_name, seed, str(run_dir), status, tuple(argv), cfg.num_env_steps)


def plan_runs(args: argparse.Namespace, train_flags: list[str]) -> tuple[list[Job], list[Job]]:
    """Expand the grid and validate every run's flags; returns (jobs to launch, finished runs).

    Raises ConfigError, naming the run, before anything is launched.
    """
    if error := training_flags_error(train_flags):
        raise ConfigError(error)
    if args.backend == "local" and args.max_parallel < 1:
        raise ConfigError(f"--max_parallel must be >= 1 (runs at once on this machine), got {args.max_parallel}")
    try:
        check_experiment_name(args.experiment_name)
    except RunDirError as err:
        raise ConfigError(str(err)) from None
    if "--progress_bar" not in train_flags and "--no-progress_bar" not in train_flags:
        train_flags = [*train_flags, "--no-progress_bar"]  # tqdm's carriage returns would clutter train.log
    seeds = parse_seeds(args.seeds)
    # Seed-major: a long sweep stopped part-way has the first seeds of every method, a fair comparison
    # to read and resume from, not every seed of the first methods and nothing of the others.
    jobs = [plan_run(args, train_flags, algorithm, scenario, seed)
            for seed in seeds for scenario in (args.scenarios or [None]) for algorithm in args.algorithms]
    return [j for j in jobs if j.action != "finished"], [j for j in jobs if j.action == "finished"]


LOG_FILES = ("progress.csv", "config.json", "meta.json")


def save_logs(run_dir: Path, runs_dir: Path, logs_dir: Path) -> None:
    """Copy a run's LOG_FILES to logs_dir/<run_dir relative to runs_dir>, each written atomically."""
    target = logs_dir / run_dir.resolve().relative_to(runs_dir.resolve())
    target.mkdir(parents=True, exist_ok=True)
    for name in LOG_FILES:
        if (run_dir / name).exists():
            tmp = target / f".{name}.tmp"
            shutil.copyfile(run_dir / name, tmp)
            os.replace(tmp, target / name)


def set_aside_stale_progress(job: Job) -> None:
    """A run killed before its first checkpoint has nothing to resume; its partial progress.csv
    is kept as progress.csv.stale (tables read only progress.csv) so the run can start over."""
    progress = Path(job.run_dir) / "progress.csv"
    os.replace(progress, progress.with_suffix(".csv.stale"))


def final_eval(run_dir: Path) -> str:
    """The last evaluation (win rate where the env reports one, else return) for the summary."""
    rows = progress_rows(run_dir)
    for metric in ("eval_episode_won", "eval_episode_return"):
        values = [r[metric] for r in rows if r.get(metric)]
        if values:
            return f"{metric.removeprefix('eval_episode_')} {float(values[-1]):.3g}"
    return ""


def summary_table(results: list[JobResult], finished: list[Job]) -> str:
    rows = [("algorithm", "scenario", "seed", "action", "result", "seconds", "final eval", "log")]
    for job in finished:
        rows.append((job.algorithm, job.scenario, str(job.seed), "skip", "done", "", final_eval(Path(job.run_dir)),
                     ""))
    for r in sorted(results, key=lambda r: (r.job.algorithm, r.job.scenario, r.job.seed)):
        ok = r.returncode == 0
        result = ("ok" if ok else "not started" if not r.started else f"interrupted ({r.returncode})"
                  if r.interrupted else f"FAILED ({r.returncode})")
        rows.append((r.job.algorithm, r.job.scenario, str(r.job.seed), r.job.action, result, f"{r.seconds:.0f}",
                     final_eval(Path(r.job.run_dir)) if ok else "", "" if ok else str(r.job.log_path)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def launch(jobs: list[Job], args: argparse.Namespace):
    if args.backend == "ray":
        return run_ray(jobs, args.address, args.ray_num_cpus, args.ray_num_gpus)
    return run_local(jobs, args.max_parallel)


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; returns the exit code (0: every run finished, 1: some failed, 2: bad flags)."""
    args, train_flags = build_parser().parse_known_args(argv)
    try:
        jobs, finished = plan_runs(args, train_flags)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"sweep: {len(jobs) + len(finished)} runs, {len(finished)} already finished, "
          f"{sum(j.action == 'resume' for j in jobs)} to resume, backend {args.backend}", flush=True)
    if args.dry_run:
        for job in finished + jobs:
            print(f"  {job.action:8s} {job.run_dir}")
        return 0
    for job in jobs:
        if job.action == "restart":
            set_aside_stale_progress(job)
    if args.save_logs_to:  # finished by an earlier sweep that kept no logs
        for job in finished:
            save_logs(Path(job.run_dir), Path(args.runs_dir), Path(args.save_logs_to))
    results, interrupted = [], None
    try:
        for n, result in enumerate(launch(jobs, args), start=1):
            results.append(result)
            job = result.job
            print(f"[{n}/{len(jobs)}] {job.algorithm} {job.scenario} seed {job.seed}: {outcome(result)}", flush=True)
            if result.returncode == 0:
                (Path(job.run_dir) / DONE_MARKER).write_text(json.dumps({"num_env_steps": job.num_env_steps}))
                if args.save_logs_to:
                    save_logs(Path(job.run_dir), Path(args.runs_dir), Path(args.save_logs_to))
    except SweepInterrupted as stop:
        interrupted = stop
    print(summary_table(results, finished))
    if interrupted is not None:
        print(f"sweep: {interrupted}; every run it started has stopped. Run the same command again to resume "
              "the interrupted runs from their checkpoints.", file=sys.stderr, flush=True)
        return 128 + interrupted.signum
    return int(any(r.returncode != 0 for r in results))


def outcome(result: JobResult) -> str:
    if result.returncode == 0:
        return "ok"
    if not result.started:
        return "not started (sweep stopped)"
    if result.interrupted:
        return f"interrupted (exit {result.returncode})"
    return f"FAILED (exit {result.returncode}), log: {result.job.log_path}"


if __name__ == "__main__":
    sys.exit(main())
