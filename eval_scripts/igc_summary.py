"""Does what AgentMixer executes act as what it trained? Per method, from predator-prey run logs.

    python -m eval_scripts.igc_summary 'results/reproduce/igc_variants/runs/*/*/*/parity_*_penalty-1_seed*' \
        'results/reproduce/predator_prey/runs/*/*/*/parity_penalty-1_seed*' --label_experiment \
        --references agentmixer:parity_penalty-1 mappo:parity_penalty-1 --out results/reproduce/igc_variants/summary_penalty-1

Per seed, the mean of the last `--last_k` logged values of: the decentralized policies' evaluation
return (what is executed), the joint policy's training-episode return (what PPO trained: AgentMixer's
joint policy; the policy itself for the other methods), the IGC violation rate and mode margin
(AgentMixer only), and the captures and miscaptures per evaluation episode. Per method: mean ± std over
seeds of each, the gap joint − decentralized and that gap as a share of the return range (the highest
minus the lowest per-seed decentralized return in the table and in `--range_runs`, e.g. the whole parity
grid of the task, so a table of a few close runs does not shrink the range), the seeds in the keep-away trap (no
capture and no miscapture in evaluation), the one-sided Welch p of the method's decentralized return
above each reference method's, and the chance that a rerun with as many seeds would not put it below that
reference (issue 33's "not below MAPPO" where a coin-flip trap decides each seed). Writes <out>.md and
<out>.tex; prints the Markdown.
"""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if not __package__:  # run as a script: make `onpolicy` and `eval_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_scripts.make_tables import Run, _latex_escape, _p_value, load_runs, method_sort_key  # noqa: E402
from onpolicy.utils.stats import prob_mean_at_least, welch_t_test_greater  # noqa: E402

# An evaluation episode of the keep-away trap captures nothing and miscaptures nothing.
TRAP_EVENTS = 0.05
# Bootstrap reruns behind the P(rerun ≥ ref) column.
RERUNS = 20_000


@dataclass
class Seed:
    decentralized: float
    joint: float
    igc_violation_rate: float
    igc_mode_margin: float
    trapped: bool


def last_mean(run: Run, column: str, last_k: int) -> float:
    """Mean of the column's last `last_k` logged values (NaN when never logged)."""
    _, values = run.eval_curve(column)
    return float(values[-last_k:].mean()) if values.size else math.nan


def ended_trapped(run: Run, last_k: int) -> bool:
    """No capture and no miscapture in the last `last_k` evaluations: the keep-away trap at the end."""
    events = last_mean(run, "eval_episode_captures", last_k) + last_mean(run, "eval_episode_miscaptures", last_k)
    return bool(events < TRAP_EVENTS)


def seed_summary(run: Run, last_k: int) -> Seed:
    return Seed(last_mean(run, "eval_episode_return", last_k), last_mean(run, "train_episode_return", last_k),
                last_mean(run, "igc_violation_rate", last_k), last_mean(run, "igc_mode_margin", last_k),
                ended_trapped(run, last_k))


def _mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    if np.isnan(values).all():
        return "–"
    spread = f" ± {values.std(ddof=1):.2f}" if values.size > 1 else ""
    return f"{values.mean():.2f}{spread}"


def _p_greater(a, b) -> float:
    if len(a) < 2 or len(b) < 2:
        return math.nan
    with warnings.catch_warnings():  # scipy warns on nearly identical samples; the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return welch_t_test_greater(np.asarray(a), np.asarray(b))


def _decentralized(seeds: list[Seed]) -> list[float]:
    return [s.decentralized for s in seeds]


def summary_rows(runs: list[Run], references: list[str], last_k: int = 5,
                 range_runs: list[Run] = ()) -> list[list[str]]:
    """One row per method (table order): see the module docstring for the columns; `range_runs` only widen
    the return range."""
    by_method: dict[str, list[Seed]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        if run.eval_curve("eval_episode_return")[1].size:
            by_method.setdefault(run.algorithm, []).append(seed_summary(run, last_k))
    if not by_method:
        raise ValueError("no runs with evaluations")
    scores = [s.decentralized for seeds in by_method.values() for s in seeds]
    scores += [last_mean(run, "eval_episode_return", last_k) for run in range_runs
               if run.eval_curve("eval_episode_return")[1].size]
    return_range = max(scores) - min(scores)
    rows = []
    for method in sorted(by_method, key=lambda m: method_sort_key(m.split(":")[0]) + (m,)):
        seeds = by_method[method]
        dec = _decentralized(seeds)
        gap = np.subtract([s.joint for s in seeds], dec)
        share = f"{100 * gap.mean() / return_range:.1f} %" if return_range > 0 else "–"
        rows.append([method, str(len(seeds)), _mean_std(dec), _mean_std([s.joint for s in seeds]), _mean_std(gap),
                     share, _mean_std([s.igc_violation_rate for s in seeds]),
                     _mean_std([s.igc_mode_margin for s in seeds]), f"{sum(s.trapped for s in seeds)}/{len(seeds)}",
                     *("–" if ref == method else _p_value(_p_greater(dec, _decentralized(by_method[ref])))
                       for ref in references),
                     *("–" if ref == method
                       else f"{prob_mean_at_least(dec, _decentralized(by_method[ref]), RERUNS):.2f}"
                       for ref in references)])
    return rows


def header(references: list[str]) -> list[str]:
    return ["Method", "Seeds", "Decentralized (eval)", "Joint policy (train)", "Gap joint − dec.", "Gap / range",
            "IGC violation", "Mode margin (nats)", "Seeds trapped", *(f"p > {ref}" for ref in references),
            *(f"P(rerun ≥ {ref})" for ref in references)]


def caption(last_k: int) -> str:
    return (f"Per seed the mean of the last {last_k} logged values; mean ± std over seeds. Decentralized: the "
            "executed individual policies' evaluation return; joint policy: the training-episode return of the "
            "policy PPO trained. Range: highest minus lowest per-seed decentralized return in the table and its "
            "range runs. Trapped: no capture and no miscapture in evaluation (keep-away). p: one-sided Welch t-test "
            "of the decentralized return above the reference's. P(rerun ≥ ref): chance that a rerun with as many "
            "seeds ends with the method's mean decentralized return at least the reference's, each seed redrawn "
            f"from its own method's per-seed returns ({RERUNS} bootstrap reruns).")


def to_markdown(rows, references, last_k) -> str:
    head = header(references)
    lines = [caption(last_k), "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def to_latex(rows, references, last_k) -> str:
    head = header(references)
    cell = lambda text: _latex_escape(text).replace("±", r"$\pm$").replace("−", "$-$")  # noqa: E731
    lines = [r"\begin{table}", r"\centering", r"\caption{" + cell(caption(last_k)) + "}",
             r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}", r"\toprule", " & ".join(map(cell, head)) + r" \\",
             r"\midrule", *(" & ".join(map(cell, row)) + r" \\" for row in rows), r"\bottomrule", r"\end{tabular}",
             r"\end{table}"]
    return "\n".join(lines) + "\n"


def add_method_args(p: argparse.ArgumentParser, references_help: str) -> None:
    """The run roots, --label_experiment and --references of the per-method predator-prey summaries."""
    p.add_argument("roots", nargs="+", help="run dirs, parents of run dirs, or glob patterns")
    p.add_argument("--label_experiment", action=argparse.BooleanOptionalAction, default=False,
                   help="label methods algorithm:experiment (compare variants of one algorithm)")
    p.add_argument("--references", nargs="*", default=[], metavar="METHOD", help=references_help)


def main(argv: list[str] | None = None) -> list[list[str]]:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.igc_summary", description=__doc__.split("\n\n")[0])
    add_method_args(p, "methods every other is tested against "
                       "(e.g. agentmixer:parity_penalty-1 mappo:parity_penalty-1)")
    p.add_argument("--range_runs", nargs="*", default=[], metavar="ROOT",
                   help="more run dirs or globs whose decentralized returns widen the return range (not tabled)")
    p.add_argument("--last_k", type=int, default=5, help="logged values averaged per seed (default 5)")
    p.add_argument("--out", required=True, help="output path; writes <out>.md and <out>.tex")
    args = p.parse_args(argv)
    if args.last_k < 1:
        sys.exit(f"error: --last_k must be >= 1, got {args.last_k}")
    runs = load_runs(args.roots, args.label_experiment)
    if not runs:
        sys.exit(f"error: no run directories (config.json + progress.csv) under {args.roots}")
    found = {run.algorithm for run in runs}
    missing = [r for r in args.references if r not in found]
    if missing:  # a grid in progress: the table is still made, without those columns
        print(f"warning: no runs of the reference method(s) {', '.join(missing)}; methods found: "
              f"{', '.join(sorted(found))}", file=sys.stderr)
        args.references = [r for r in args.references if r in found]
    try:
        rows = summary_rows(runs, args.references, args.last_k, load_runs(args.range_runs, False))
    except ValueError as err:
        sys.exit(f"error: {err}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(rows, args.references, args.last_k)
    Path(f"{args.out}.md").write_text(markdown)
    Path(f"{args.out}.tex").write_text(to_latex(rows, args.references, args.last_k))
    print(markdown + f"\nwrote {args.out}.md and {args.out}.tex")
    return rows


if __name__ == "__main__":
    main()
