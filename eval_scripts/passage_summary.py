"""Per-method summary of passage-game runs from their exact diagnostics.

    python -m eval_scripts.passage_summary 'results/passage/run_logs/*/*/*/cpu*_seed*' --label_experiment \
        --out results/passage/summary

Each seed's final policy is read from its last evaluation row (the diagnostics are exact, so the
last row is the final policy, not a noisy sample). Per method: the executed (decentralized)
policies' exact return and its gap to the decentralized optimum, the training-time policy's
return (its most likely joint action: AgentMixer's joint policy, AIL's β-mixture), AIL's expert
(final and best evaluation) and its expert–student gap, AgentMixer's IGC violation rate
(mean of the last `--last_k` logged updates), and how many seeds end in the 1.25 trap or at the
decentralized optimum. Writes <out>.md and <out>.tex.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if not __package__:  # run as a script: make `onpolicy` and `eval_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_scripts.make_tables import Run, load_runs, method_sort_key  # noqa: E402

AT_OPTIMUM_TOLERANCE = 1e-6


@dataclass
class MethodSummary:
    method: str
    n_seeds: int
    executed: tuple[float, float]  # decentralized_return: mean, std over seeds
    gap: tuple[float, float]  # decentralized_gap
    training_mode: tuple[float, float]  # training_mode_return
    expert: tuple[float, float] | None  # expert_return (AIL), None for methods without an expert
    expert_best: tuple[float, float] | None  # its best evaluation (the expert may degrade once β reaches 0)
    expert_minus_executed: tuple[float, float] | None  # the expert–student gap
    igc_violation_rate: float  # NaN where not logged (every method but AgentMixer)
    seeds_in_trap: int
    seeds_at_optimum: int


def last_logged(run: Run, column: str) -> float:
    """The column's value at the last evaluation (NaN when never logged)."""
    _, values = run.eval_curve(column)
    return float(values[-1]) if values.size else math.nan


def mean_std(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarize_method(method: str, runs: list[Run], last_k: int) -> MethodSummary:
    executed = [last_logged(r, "decentralized_return") for r in runs]
    training = [last_logged(r, "training_mode_return") for r in runs]
    expert = [last_logged(r, "expert_return") for r in runs]
    has_expert = not np.isnan(expert).any()
    optimum = [last_logged(r, "optimal_decentralized") for r in runs]
    igc = [r.eval_curve("igc_violation_rate")[1][-last_k:] for r in runs]
    igc = [v.mean() for v in igc if v.size]
    return MethodSummary(
        method=method, n_seeds=len(runs), executed=mean_std(executed),
        gap=mean_std([last_logged(r, "decentralized_gap") for r in runs]),
        training_mode=mean_std(training),
        expert=mean_std(expert) if has_expert else None,
        expert_best=mean_std([r.eval_curve("expert_return")[1].max() for r in runs]) if has_expert else None,
        expert_minus_executed=mean_std(np.subtract(expert, executed)) if has_expert else None,
        igc_violation_rate=float(np.mean(igc)) if igc else math.nan,
        seeds_in_trap=int(sum(last_logged(r, "in_trap") == 1.0 for r in runs)),
        seeds_at_optimum=int(sum(abs(e - o) < AT_OPTIMUM_TOLERANCE for e, o in zip(executed, optimum))),
    )


def summarize(runs: list[Run], last_k: int = 5) -> list[MethodSummary]:
    """One summary per method that logged passage diagnostics, in the tables' method order."""
    runs = [r for r in runs if r.env == "passage" and r.eval_curve("decentralized_return")[1].size]
    methods = sorted({r.algorithm for r in runs}, key=lambda m: method_sort_key(m.split(":")[0]) + (m,))
    return [summarize_method(m, [r for r in runs if r.algorithm == m], last_k) for m in methods]


HEADER = ("Method", "Seeds", "Executed return (exact)", "Gap to dec. optimum", "Training policy (mode)",
          "Expert (AIL)", "Expert, best eval", "Expert − executed", "IGC violation", "Seeds in 1.25 trap",
          "Seeds at dec. optimum")


def _cells(s: MethodSummary, pm: str) -> list[str]:
    pair = lambda x: "–" if x is None else f"{x[0]:.3f} {pm} {x[1]:.3f}"  # noqa: E731
    igc = "–" if math.isnan(s.igc_violation_rate) else f"{s.igc_violation_rate:.3f}"
    return [s.method, str(s.n_seeds), pair(s.executed), pair(s.gap), pair(s.training_mode),
            pair(s.expert), pair(s.expert_best), pair(s.expert_minus_executed), igc, f"{s.seeds_in_trap}/{s.n_seeds}",
            f"{s.seeds_at_optimum}/{s.n_seeds}"]


CAPTION = ("Passage game, final policies (last evaluation per seed), mean ± std over seeds. Executed: the "
           "decentralized policies as evaluated (act_decentralized, greedy), exact expected return; optimum of "
           "decentralized policies 1.5, of full-information joint policies 1.625, trap 1.25 (defaults). Training "
           "policy: the rollout policy's most likely joint action (AgentMixer: its joint policy; AIL: its β-mixture "
           "of expert and students). Expert: AIL's full-state expert executed greedily (best eval: its highest "
           "evaluation); Expert − executed is AIL's expert–student gap.")


def to_markdown(summaries: list[MethodSummary]) -> str:
    lines = [CAPTION, "", "| " + " | ".join(HEADER) + " |", "|---|" + "---:|" * (len(HEADER) - 1)]
    lines += ["| " + " | ".join(_cells(s, "±")) + " |" for s in summaries]
    return "\n".join(lines) + "\n"


def to_latex(summaries: list[MethodSummary]) -> str:
    escape = lambda t: t.replace("_", r"\_").replace("−", "$-$").replace("–", "--")  # noqa: E731
    lines = [r"\begin{table}", r"\centering", r"\caption{" + escape(CAPTION).replace("±", r"$\pm$") + "}",
             r"\begin{tabular}{l" + "r" * (len(HEADER) - 1) + "}", r"\toprule",
             " & ".join(escape(h) for h in HEADER) + r" \\", r"\midrule"]
    lines += [" & ".join(escape(c) for c in _cells(s, r"$\pm$")) + r" \\" for s in summaries]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[MethodSummary]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="run dirs, parents of run dirs, or glob patterns")
    p.add_argument("--label_experiment", action=argparse.BooleanOptionalAction, default=False,
                   help="label methods algorithm:experiment (compare variants of one algorithm)")
    p.add_argument("--last_k", type=int, default=5, help="logged updates averaged for the IGC violation rate")
    p.add_argument("--out", required=True, help="output path; writes <out>.md and <out>.tex")
    args = p.parse_args(argv)
    summaries = summarize(load_runs(args.roots, args.label_experiment), args.last_k)
    if not summaries:
        raise SystemExit(f"no passage runs with exact diagnostics under {args.roots}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.md").write_text(to_markdown(summaries))
    Path(f"{args.out}.tex").write_text(to_latex(summaries))
    print(to_markdown(summaries))
    return summaries


if __name__ == "__main__":
    main()
