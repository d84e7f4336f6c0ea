"""Early screen for predator-prey's keep-away trap, from training captures in the window that decides it.

    python -m eval_scripts.trap_screen 'results/reproduce/igc_variants/runs/*/*/*/screen300k_*_seed*' \
        --label_experiment --calibrate 'results/reproduce/*/runs/*/*/*/*penalty-1_seed*' \
        --out results/reproduce/igc_variants/trap_screen_penalty-1

At the miscapture penalty every method first miscaptures 12-16 times an episode and then learns to keep
away; a seed ends in the trap (no capture, no miscapture, return -1.28) unless its captures outlive that
phase. Per seed this reads `train_episode_captures` (what the policy PPO trains does) at 100k steps and
its mean over the window (200k, 300k], and predicts "trapped" when the window mean is below --threshold.
So a variant can be screened in 300k steps instead of 1M, provided its first 300k steps are those of a
1M run (true at a constant temperature; the authors' rising schedule is stretched to the budget).

--calibrate checks the rule on runs that reached their full budget of at least --calibrate_steps (1M, the
authors' predator-prey budget, so the screen's own 300k runs do not count): predicted (at 300k) against the
trap at the end (no capture and no miscapture in the last --last_k evaluations), printed as counts and
written under the table. Per method: the seeds predicted trapped and the one-sided Fisher exact p that
the method is trapped less often than each --references method. Writes <out>.md; prints it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import fisher_exact

if not __package__:  # run as a script: make `onpolicy` and `eval_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_scripts.igc_summary import add_method_args, ended_trapped  # noqa: E402
from eval_scripts.make_tables import Run, _p_value, load_runs, method_sort_key  # noqa: E402

EARLY_STEPS = 100_000
WINDOW = (200_000, 300_000)
# Calibrated on the finished runs at -1 (`--calibrate`): every PPO-family seed below it ended trapped.
THRESHOLD = 0.043
CALIBRATE_STEPS = 1_000_000


def captures_at(run: Run, steps: int) -> float:
    """Training captures per episode at the last logged update at or before `steps` env steps."""
    env_steps, values = run.eval_curve("train_episode_captures")
    logged = values[env_steps <= steps]
    return float(logged[-1]) if logged.size else float("nan")


def window_mean(run: Run, column: str, window: tuple[int, int] = WINDOW) -> float:
    """Mean of a training column over updates in the window (start, end] of env steps."""
    env_steps, values = run.eval_curve(column)
    inside = values[(env_steps > window[0]) & (env_steps <= window[1])]
    return float(inside.mean()) if inside.size else float("nan")


def screened(run: Run) -> bool:
    """Whether the run has logged the whole window (a run stopped inside it is not screened)."""
    env_steps, _ = run.eval_curve("train_episode_captures")
    return bool(env_steps.size) and env_steps.max() >= WINDOW[1]


def predicted_trapped(run: Run, threshold: float) -> bool:
    return window_mean(run, "train_episode_captures") < threshold


def calibration(runs: list[Run], threshold: float, last_k: int,
                min_steps: int = CALIBRATE_STEPS) -> dict[tuple[bool, bool], list[str]]:
    """{(predicted trapped, ended trapped): [run labels]} over runs that logged the window and ran at least
    `min_steps` env steps (a run that ends soon after the window says little about where it ends up)."""
    table: dict[tuple[bool, bool], list[str]] = {(p, e): [] for p in (True, False) for e in (True, False)}
    for run in runs:
        if screened(run) and run.progress["env_steps"].max() >= min_steps:
            key = (predicted_trapped(run, threshold), ended_trapped(run, last_k))
            table[key].append(f"{run.algorithm} s{run.seed}")
    return table


def _fisher_fewer(trapped_a: int, n_a: int, trapped_b: int, n_b: int) -> float:
    """One-sided Fisher exact p that method a is trapped less often than method b."""
    return float(fisher_exact([[trapped_a, n_a - trapped_a], [trapped_b, n_b - trapped_b]], alternative="less")[1])


def screen_rows(runs: list[Run], references: list[str], threshold: float) -> list[list[str]]:
    """One row per method: seeds, captures at 100k and in the window per seed, window return, trapped k/n,
    Fisher p against each reference."""
    by_method: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        if screened(run):
            by_method.setdefault(run.algorithm, []).append(run)
    if not by_method:
        raise ValueError(f"no run has logged training captures up to {WINDOW[1]} env steps")
    trapped = {m: sum(predicted_trapped(r, threshold) for r in rs) for m, rs in by_method.items()}
    rows = []
    for method in sorted(by_method, key=lambda m: method_sort_key(m.split(":")[0]) + (m,)):
        seeds = by_method[method]
        per_seed = lambda f: " / ".join(f"{f(r):.2f}" for r in seeds)  # noqa: E731
        returns = [window_mean(r, "train_episode_return") for r in seeds]
        rows.append([method, ", ".join(str(r.seed) for r in seeds), per_seed(lambda r: captures_at(r, EARLY_STEPS)),
                     per_seed(lambda r: window_mean(r, "train_episode_captures")), f"{np.mean(returns):.2f}",
                     f"{trapped[method]}/{len(seeds)}",
                     *("–" if ref == method or ref not in by_method else
                       _p_value(_fisher_fewer(trapped[method], len(seeds), trapped[ref], len(by_method[ref])))
                       for ref in references)])
    return rows


def to_markdown(rows, references, threshold, calibration_lines=()) -> str:
    head = ["Method", "Seeds", f"Captures at {EARLY_STEPS // 1000}k", f"Captures {WINDOW[0] // 1000}–"
            f"{WINDOW[1] // 1000}k", f"Train return {WINDOW[0] // 1000}–{WINDOW[1] // 1000}k", "Predicted trapped",
            *(f"p fewer than {ref}" for ref in references)]
    caption = (f"Training captures per episode of the policy PPO trains, per seed: at {EARLY_STEPS // 1000}k env "
               f"steps and averaged over ({WINDOW[0] // 1000}k, {WINDOW[1] // 1000}k]; a seed is predicted trapped "
               f"when the window mean is below {threshold}. p: one-sided Fisher exact test of fewer trapped seeds "
               "than the reference.")
    lines = [caption, "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([*lines, *calibration_lines]) + "\n"


def calibration_lines(table: dict[tuple[bool, bool], list[str]], threshold: float, min_steps: int) -> list[str]:
    n = sum(map(len, table.values()))
    wrong = table[(True, False)] + table[(False, True)]
    return ["", f"Calibration on {n} runs that reached their budget of at least {min_steps} env steps (threshold "
            f"{threshold}): predicted and ended "
            f"trapped {len(table[(True, True)])}, predicted and ended capturing {len(table[(False, False)])}, "
            f"predicted trapped but escaped {len(table[(True, False)])}, predicted capturing but ended trapped "
            f"{len(table[(False, True)])}" + (f" ({', '.join(sorted(wrong))})" if wrong else "") + "."]


def main(argv: list[str] | None = None) -> list[list[str]]:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.trap_screen", description=__doc__.split("\n\n")[0])
    add_method_args(p, "methods every other is tested against (Fisher exact, fewer trapped seeds)")
    p.add_argument("--calibrate", nargs="*", default=[], metavar="ROOT",
                   help="finished runs on which to count the rule's hits and misses against the trap at the end")
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help=f"window captures per episode below which a seed is predicted trapped (default {THRESHOLD})")
    p.add_argument("--last_k", type=int, default=5, help="evaluations that decide the trap at the end (default 5)")
    p.add_argument("--calibrate_steps", type=int, default=CALIBRATE_STEPS,
                   help=f"shortest budget a --calibrate run may have (default {CALIBRATE_STEPS})")
    p.add_argument("--out", required=True, help="output path; writes <out>.md")
    args = p.parse_args(argv)
    if args.last_k < 1:
        sys.exit(f"error: --last_k must be >= 1, got {args.last_k}")
    if not args.threshold > 0:
        sys.exit(f"error: --threshold must be > 0, got {args.threshold}")
    if args.calibrate_steps <= WINDOW[1]:
        sys.exit(f"error: --calibrate_steps must be above the window's end {WINDOW[1]}, got {args.calibrate_steps}")
    # Runs stopped inside the window are left out by `screened`; runs stopped after it are screened.
    runs = load_runs(args.roots, args.label_experiment, include_unfinished=True)
    if not runs:
        sys.exit(f"error: no run directories (config.json + progress.csv) under {args.roots}")
    try:
        rows = screen_rows(runs, args.references, args.threshold)
    except ValueError as err:
        sys.exit(f"error: {err}")
    extra = calibration_lines(calibration(load_runs(args.calibrate, True), args.threshold, args.last_k,
                                          args.calibrate_steps), args.threshold, args.calibrate_steps) \
        if args.calibrate else []
    text = to_markdown(rows, args.references, args.threshold, extra)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).with_suffix(".md").write_text(text)
    print(text, end="")
    return rows


if __name__ == "__main__":
    main()
