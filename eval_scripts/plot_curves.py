"""Learning curves: mean and 95% CI over seeds vs env steps, one panel per task.

    python -m eval_scripts.plot_curves runs/ [more roots or globs] [--wandb entity/project ...] \
        [--metric eval_episode_return] --out results/curves.png

Reads the same run directories as make_tables. Each seed's evaluation curve is
linearly interpolated onto a common grid of env steps (the range every seed of that
method covers, so nothing is extrapolated); the band is the 95% percentile-bootstrap CI
of the mean over seeds (whole curves resampled), so it stays within the seeds' range.
Every method keeps one colour across panels and figures.
"""
from __future__ import annotations

import argparse
import math
import sys
import zlib
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

if not __package__:  # run as a script: make `onpolicy` and `eval_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_scripts.make_tables import (Run, add_source_args, default_metric, method_sort_key,  # noqa: E402
                                      runs_from_sources)
from onpolicy.utils.stats import bootstrap_mean_band  # noqa: E402

# Fixed per method so a method looks the same in every figure (tab10 colours).
PALETTE = {"agentmixer": "#d62728", "mappo": "#1f77b4", "ippo": "#ff7f0e", "happo": "#2ca02c", "mat": "#9467bd",
           "mat_dec": "#8c564b", "armappo": "#e377c2", "ail": "#7f7f7f", "maven": "#e6ab02"}
_EXTRA_COLOURS = ("#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39")


# Variants of one method (labels `algorithm:experiment`, from --label_experiment) share its colour
# and differ by line style, in sorted order of their experiment names.
LINE_STYLES = ("-", "--", ":", "-.")


def method_colour(label: str) -> str:
    """PALETTE colour of the label's algorithm; other names get a colour from their name's hash,
    stable across runs."""
    algorithm = label.partition(":")[0]
    return PALETTE.get(algorithm) or _EXTRA_COLOURS[zlib.crc32(algorithm.encode()) % len(_EXTRA_COLOURS)]


def line_styles(labels) -> dict[str, str]:
    """Line style per label: each algorithm's variants (sorted) cycle through LINE_STYLES."""
    variants: dict[str, list[str]] = {}
    for label in sorted(set(labels)):
        variants.setdefault(label.partition(":")[0], []).append(label)
    return {label: LINE_STYLES[i % len(LINE_STYLES)] for group in variants.values() for i, label in enumerate(group)}


def curves_on_grid(curves: list[tuple[np.ndarray, np.ndarray]], n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate S curves (steps, values) onto one grid: returns grid (G,) and values (S, G).

    The grid spans from the latest first evaluation to the earliest last one, the
    range where every seed has data.
    """
    start = max(steps[0] for steps, _ in curves)
    stop = min(steps[-1] for steps, _ in curves)
    grid = np.linspace(start, stop, n_points) if stop > start else np.array([stop])
    return grid, np.stack([np.interp(grid, steps, values) for steps, values in curves])


def plot_runs(runs: list[Run], out: str | Path, metric: str | None = None, n_points: int = 100) -> Path:
    """One panel per task, one line + band per method; returns the PNG path."""
    by_task: dict[str, dict[str, list]] = {}
    for run in runs:
        steps, values = run.eval_curve(metric or default_metric(run.env))
        if steps.size:
            by_task.setdefault(run.task, {}).setdefault(run.algorithm, []).append((steps, values))
    if not by_task:
        raise ValueError(f"no run has evaluations of {metric or 'its default metric'} to plot")
    styles = line_styles(label for methods in by_task.values() for label in methods)
    n_cols = min(3, len(by_task))
    n_rows = math.ceil(len(by_task) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(6.3 * n_cols, 3.4 * n_rows), squeeze=False)
    for ax in axes.flat[len(by_task):]:
        ax.set_visible(False)
    for ax, task in zip(axes.flat, sorted(by_task)):
        env = task.split("/")[0]
        for algorithm in sorted(by_task[task], key=method_sort_key):
            curves = by_task[task][algorithm]
            grid, values = curves_on_grid(curves, n_points)
            mean, low, high = bootstrap_mean_band(values)
            colour = method_colour(algorithm)
            ax.plot(grid, mean, color=colour, ls=styles[algorithm], lw=1.8, marker="o" if grid.size == 1 else None,
                    label=f"{algorithm} ({len(curves)})")
            ax.fill_between(grid, low, high, color=colour, alpha=0.2, lw=0)
        ax.set_title(task)
        ax.set_xlabel("environment steps")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 200k, 10M: long integers overlap
        ax.set_ylabel(metric or default_metric(env))
        ax.grid(alpha=0.3)
        # Beside the panel, not on it: with eight methods an inside legend hides curves.
        ax.legend(fontsize=8, title="method (seeds)", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.plot_curves", description=__doc__.split("\n\n")[0])
    add_source_args(p)
    p.add_argument("--points", type=int, default=100, help="grid points per curve")
    p.add_argument("--out", default="results/curves.png")
    args = p.parse_args(argv)
    try:
        out = plot_runs(runs_from_sources(args), args.out, args.metric, args.points)
    except ValueError as err:
        sys.exit(f"error: {err}")
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
