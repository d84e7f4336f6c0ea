"""Final-performance tables with error bars from a set of runs.

    python -m eval_scripts.make_tables runs/ [more roots or globs] [--wandb entity/project ...] \
        [--metric eval_episode_return] [--last_k 5] --out results/table

A run is any directory holding config.json and progress.csv (what `onpolicy.train`
and `eval_scripts.wandb_export` write). Runs are grouped by task (env/scenario) and
algorithm. A seed's final performance is the mean of its last K evaluations; per
group the table gives mean ± std over seeds, the IQM with its stratified-bootstrap
95% CI (onpolicy.utils.stats), the number of seeds, and the one-sided Welch t-test
p-value of AgentMixer > that method on the same task. Writes <out>.md and <out>.tex.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if not __package__:  # run as a script: make `onpolicy` and `eval_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onpolicy.utils.stats import iqm, mean_std, stratified_bootstrap_ci, welch_t_test_greater  # noqa: E402

CANDIDATE = "agentmixer"
# Table and legend order; algorithms not listed follow alphabetically.
METHOD_ORDER = ("agentmixer", "mappo", "ippo", "happo", "mat", "mat_dec", "armappo", "ail", "maven")
# SMAX / SMACv2 are reported as win rate, every other env as episode return (as in the paper).
WIN_RATE_ENVS = ("smax", "smacv2")


def default_metric(env_name: str) -> str:
    return "eval_episode_won" if env_name in WIN_RATE_ENVS else "eval_episode_return"


def method_sort_key(algorithm: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(algorithm) if algorithm in METHOD_ORDER else len(METHOD_ORDER), algorithm)


@dataclass
class Run:
    """One run directory: its identity from config.json and progress.csv as columns of floats (NaN = blank)."""
    env: str
    scenario: str
    algorithm: str
    seed: int
    run_dir: Path
    progress: dict[str, np.ndarray]

    @property
    def task(self) -> str:
        return f"{self.env}/{self.scenario}"

    def eval_curve(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(env_steps, metric) at the rows where `metric` was logged, each (n_evals,)."""
        if metric not in self.progress:
            return np.empty(0), np.empty(0)
        values = self.progress[metric]
        logged = ~np.isnan(values)
        return self.progress["env_steps"][logged], values[logged]

    def up_to(self, max_env_steps: int) -> Run:
        """The run's rows up to max_env_steps (compare methods at the same budget)."""
        kept = self.progress["env_steps"] <= max_env_steps
        return Run(self.env, self.scenario, self.algorithm, self.seed, self.run_dir,
                   {column: values[kept] for column, values in self.progress.items()})

    def final_score(self, metric: str, last_k: int) -> float | None:
        """Mean of the last `last_k` evaluations; None when the run has none."""
        _, values = self.eval_curve(metric)
        return float(values[-last_k:].mean()) if values.size else None


def read_progress(path: Path) -> dict[str, np.ndarray]:
    """progress.csv as {column: (n_rows,) float array}; blank and non-numeric cells become NaN."""
    with path.open() as f:
        rows = list(csv.DictReader(f))

    def number(text):
        try:
            return float(text)
        except (TypeError, ValueError):
            return math.nan
    columns = rows[0].keys() if rows else ()
    return {c: np.array([number(r.get(c)) for r in rows], dtype=np.float64) for c in columns}


def find_run_dirs(roots: list[str]) -> list[Path]:
    """Directories with a progress.csv at or below each root (roots may be glob patterns)."""
    found = set()
    for root in roots:
        matches = glob.glob(root, recursive=True) or [root]
        for match in map(Path, matches):
            if match.is_file() and match.name == "progress.csv":
                found.add(match.parent)
            elif match.is_dir():
                found.update(p.parent for p in match.rglob("progress.csv"))
    return sorted(found)


def method_label(config: dict, with_experiment: bool) -> str:
    """A method is its algorithm, or `algorithm:experiment` to compare variants of one algorithm."""
    return f"{config['algorithm_name']}:{config['experiment_name']}" if with_experiment else config["algorithm_name"]


def unfinished(run: Run, budget: int | None) -> str:
    """Why the run stops short of `budget` env steps ("" when it does not, or when no budget is known)."""
    steps = run.progress.get("env_steps", np.empty(0))
    last = int(np.nanmax(steps)) if steps.size else 0
    return f"{last} of {budget} env steps" if budget and last < budget else ""


def load_runs(roots: list[str], with_experiment: bool = False, include_unfinished: bool = False,
              budget: int | None = None) -> list[Run]:
    """Runs under `roots`; a seed found twice for the same task and method keeps its newest run.

    A run stopped before its budget (`budget` env steps, else its config's num_env_steps) is left out with
    a warning unless `include_unfinished`: a killed run's last evaluations are not its final score.
    """
    by_key: dict[tuple, Run] = {}
    for run_dir in find_run_dirs(roots):
        config_path = run_dir / "config.json"
        if not config_path.exists():
            print(f"warning: {run_dir} has progress.csv but no config.json; skipped", file=sys.stderr)
            continue
        config = json.loads(config_path.read_text())
        run = Run(config["env_name"], config["scenario_name"], method_label(config, with_experiment), int(config["seed"]),
                  run_dir, read_progress(run_dir / "progress.csv"))
        if not include_unfinished and (short := unfinished(run, budget or config.get("num_env_steps"))):
            print(f"warning: {run_dir} is unfinished ({short}); left out (--include_unfinished keeps it)",
                  file=sys.stderr)
            continue
        key = (run.task, run.algorithm, run.seed)
        if key in by_key:
            older, newer = sorted((by_key[key], run), key=lambda r: (r.run_dir / "progress.csv").stat().st_mtime)
            print(f"warning: seed {run.seed} of {run.algorithm} on {run.task} is in both {older.run_dir} and "
                  f"{newer.run_dir}; using the newer one", file=sys.stderr)
            run = newer
        by_key[key] = run
    return list(by_key.values())


def collect_scores(runs: list[Run], metric: str | None, last_k: int) -> tuple[dict, dict]:
    """Final score per seed, grouped: ({(task, algorithm): (n_seeds,)}, {task: metric used}).

    metric None picks each env's default (win rate for SMAX/SMACv2, else return).
    """
    scores: dict[tuple[str, str], list[float]] = {}
    metrics: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: (r.task, r.algorithm, r.seed)):
        name = metric or default_metric(run.env)
        score = run.final_score(name, last_k)
        if score is None:
            print(f"warning: {run.run_dir} has no {name} evaluations; skipped", file=sys.stderr)
            continue
        metrics[run.task] = name
        scores.setdefault((run.task, run.algorithm), []).append(score)
    return {k: np.array(v) for k, v in scores.items()}, metrics


@dataclass
class Row:
    task: str
    algorithm: str
    n_seeds: int
    mean: float
    std: float
    iqm: float
    ci_low: float
    ci_high: float
    p_value: float  # AgentMixer > this algorithm; NaN for AgentMixer itself or without AgentMixer runs


def summarize(scores: dict[tuple[str, str], np.ndarray], n_bootstrap: int = 2000, seed: int = 0,
              candidate_method: str = CANDIDATE) -> list[Row]:
    """One row per (task, method), tasks alphabetically, methods in METHOD_ORDER; p-values test
    `candidate_method` > each other method on the same task."""
    rows = []
    for task, algorithm in sorted(scores, key=lambda k: (k[0], method_sort_key(k[1]))):
        x = scores[(task, algorithm)]
        candidate = scores.get((task, candidate_method))
        p_value = (welch_t_test_greater(candidate, x) if candidate is not None and algorithm != candidate_method
                   else math.nan)
        low, high = stratified_bootstrap_ci([x], n_bootstrap=n_bootstrap, seed=seed)
        rows.append(Row(task, algorithm, x.size, *mean_std(x), float(iqm(x)), low, high, p_value))
    return rows


def _number(value: float, precision: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{precision}f}"


def _p_value(p: float) -> str:
    if math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def caption(metrics: dict[str, str], last_k: int, n_bootstrap: int, candidate_method: str = CANDIDATE) -> str:
    used = ", ".join(sorted(set(metrics.values())))
    return (f"Final {used}: mean of the last {last_k} evaluations per seed. Mean ± sample std over seeds; "
            f"IQM with 95% stratified-bootstrap CI ({n_bootstrap} resamples); "
            f"p: one-sided Welch t-test, {candidate_method} > method.")


def to_markdown(rows: list[Row], precision: int = 2, title: str = "") -> str:
    lines = [title, ""] if title else []
    lines += ["| Task | Method | Seeds | Mean ± std | IQM [95% CI] | p |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        f = lambda v: _number(v, precision)  # noqa: E731
        lines.append(f"| {r.task} | {r.algorithm} | {r.n_seeds} | {f(r.mean)} ± {f(r.std)} | "
                     f"{f(r.iqm)} [{f(r.ci_low)}, {f(r.ci_high)}] | {_p_value(r.p_value)} |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    return text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")


def to_latex(rows: list[Row], precision: int = 2, title: str = "") -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); `title` goes in a comment for the caption."""
    lines = [f"% {title}"] if title else []
    lines += [r"\begin{tabular}{llrccc}", r"\toprule",
              r"Task & Method & Seeds & Mean $\pm$ std & IQM [95\% CI] & $p$ \\", r"\midrule"]
    previous_task = None
    for r in rows:
        if previous_task is not None and r.task != previous_task:
            lines.append(r"\midrule")
        previous_task = r.task
        f = lambda v: _number(v, precision)  # noqa: E731
        p = "--" if math.isnan(r.p_value) else _p_value(r.p_value).replace("<", "$<$")
        lines.append(f"{_latex_escape(r.task)} & {_latex_escape(r.algorithm)} & {r.n_seeds} & "
                     f"{f(r.mean)} $\\pm$ {f(r.std)} & {f(r.iqm)} [{f(r.ci_low)}, {f(r.ci_high)}] & {p} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def add_source_args(p: argparse.ArgumentParser) -> None:
    """Where runs come from: local roots and/or W&B projects (shared with plot_curves)."""
    p.add_argument("roots", nargs="*", help="run dirs, parents of run dirs, or glob patterns")
    p.add_argument("--wandb", nargs="+", default=[], metavar="ENTITY/PROJECT",
                   help="also read these W&B projects (online; exported with eval_scripts.wandb_export)")
    p.add_argument("--wandb_dir", default="wandb_export", help="where W&B runs are exported to")
    p.add_argument("--label_experiment", action=argparse.BooleanOptionalAction, default=False,
                   help="label methods algorithm:experiment (compare variants of one algorithm)")
    p.add_argument("--metric", default=None, help="progress.csv column (default: eval_episode_won for "
                                                  "smax/smacv2, eval_episode_return otherwise)")
    p.add_argument("--max_env_steps", type=int, default=None, metavar="N",
                   help="read each run only up to N env steps (methods run to different budgets compared at one)")
    p.add_argument("--include_unfinished", action="store_true",
                   help="keep runs stopped before their budget (to watch a sweep; their scores are not final)")


def runs_from_sources(args: argparse.Namespace) -> list[Run]:
    """Export the --wandb projects (if any) next to the local roots and load every run."""
    roots = list(args.roots)
    if args.wandb:
        from eval_scripts.wandb_export import export_projects
        export_projects(args.wandb, args.wandb_dir)
        roots.append(args.wandb_dir)
    if not roots:
        sys.exit("error: give run directories (or glob patterns) and/or --wandb ENTITY/PROJECT")
    if args.max_env_steps is not None and args.max_env_steps < 1:
        sys.exit(f"error: --max_env_steps must be >= 1, got {args.max_env_steps}")
    # a run short of --max_env_steps is unfinished at that budget: left out unless --include_unfinished
    runs = load_runs(roots, args.label_experiment, args.include_unfinished, args.max_env_steps)
    if not runs:
        sys.exit(f"error: no finished run directories (config.json + progress.csv) under {roots}")
    if args.max_env_steps is not None:
        runs = [run.up_to(args.max_env_steps) for run in runs]
    return runs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.make_tables", description=__doc__.split("\n\n")[0])
    add_source_args(p)
    p.add_argument("--last_k", type=int, default=5, help="evaluations averaged per seed (default 5)")
    p.add_argument("--n_bootstrap", type=int, default=2000)
    p.add_argument("--bootstrap_seed", type=int, default=0)
    p.add_argument("--precision", type=int, default=2, help="decimals in the tables")
    p.add_argument("--candidate", default=CANDIDATE, help="method the p-values test against the others")
    p.add_argument("--out", default="results/table", help="output path; writes <out>.md and <out>.tex")
    return p


def main(argv: list[str] | None = None) -> list[Row]:
    args = build_parser().parse_args(argv)
    if args.last_k < 1:
        sys.exit(f"error: --last_k must be >= 1, got {args.last_k}")
    scores, metrics = collect_scores(runs_from_sources(args), args.metric, args.last_k)
    if not scores:
        sys.exit("error: no runs with evaluations found")
    rows = summarize(scores, args.n_bootstrap, args.bootstrap_seed, args.candidate)
    title = caption(metrics, args.last_k, args.n_bootstrap, args.candidate)
    if args.max_env_steps is not None:
        title += f" Every run read up to {args.max_env_steps:,} env steps."
    out = Path(args.out)
    out = out.with_suffix("") if out.suffix in (".md", ".tex") else out
    out.parent.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(rows, args.precision, title)
    Path(f"{out}.md").write_text(markdown)
    Path(f"{out}.tex").write_text(to_latex(rows, args.precision, title))
    print(markdown + f"\nwrote {out}.md and {out}.tex")
    return rows


if __name__ == "__main__":
    main()
