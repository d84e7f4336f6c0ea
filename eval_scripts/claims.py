"""The paper's claims, one row each, tested on the committed run logs of results/reproduce/.

    python -m eval_scripts.claims [--out results/claims] [--alpha 0.05]

Each claim names the runs it rests on, a candidate method and the methods the paper says it beats
(and, for the matrix game, the return it says the candidate reaches). A seed's score is the mean of
its last 5 evaluations, as the paper computes it; per method: mean ± std over seeds and the IQM with
its 95 % stratified-bootstrap CI; against each baseline the one-sided Welch t-test p of
candidate > baseline (the paper's test). The verdict:
  - reproduced: the candidate beats every baseline at p < alpha (and reaches the return, if claimed);
  - not reproduced: a baseline is better (reverse test p < alpha, or both without variance and the
    baseline not lower), or the candidate misses the claimed return on some seed;
  - inconclusive: neither, e.g. too few seeds or too short runs to separate the methods.
A claim whose runs are missing, or fewer seeds than the protocol's, says so beside its verdict.
Writes <out>.md and <out>.tex; prints the Markdown.
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

from eval_scripts.make_tables import _latex_escape, _p_value, default_metric, load_runs  # noqa: E402
from onpolicy.utils.stats import iqm, mean_std, stratified_bootstrap_ci, welch_t_test_greater  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LAST_K = 5
PREDATOR_PREY_BASELINES = ("mappo", "ippo", "happo", "mat", "mat_dec", "armappo", "ail", "maven")


@dataclass(frozen=True)
class Claim:
    """One statement of the paper and the runs that test it.

    runs: glob patterns (relative to the repo root) of run dirs; task: "env/scenario"; methods are
    algorithm names, or algorithm:experiment with label_experiment; "method@metric" reads another
    progress.csv column (e.g. AIL's expert); seeds: the protocol's seed count.
    """
    name: str
    paper: str
    runs: tuple[str, ...]
    task: str
    candidate: str
    baselines: tuple[str, ...]
    seeds: int
    reaches: float | None = None
    label_experiment: bool = False
    setting: str = ""  # how our setting differs from the paper's, when it does


def _pp(penalty: str, scale: str = "paper") -> tuple[str, ...]:
    return (f"results/reproduce/predator_prey/run_logs/*/*/*/{scale}_penalty{penalty}_seed*",)


PP_CPU = "cpu scale: 300k of the 1M steps, evaluation every 50k steps, MAPPO and AIL only"


CLIMBING = ("results/reproduce/climbing/run_logs/matrix/*/*/full_seed*",)
CLAIMS = (
    Claim("climbing_agentmixer", "Climbing: AgentMixer learns the optimal joint action (11), MAPPO, HAPPO and "
          "MAT-Dec converge to a local optimum, MAVEN finds the optimum only by chance (appendix Fig. 11)",
          CLIMBING, "matrix/climbing", "agentmixer", ("mappo", "happo", "mat_dec", "maven"), 5, reaches=11.0),
    Claim("climbing_mat", "Climbing: MAT (centralized, auto-regressive) learns the optimum 11 (appendix Fig. 11)",
          CLIMBING, "matrix/climbing", "mat", (), 5, reaches=11.0),
    Claim("predator_prey_penalty-1", "Predator-prey, penalty -1: AgentMixer outperforms all the baselines "
          "(appendix Fig. 12)", _pp("-1"), "predator_prey/default", "agentmixer", PREDATOR_PREY_BASELINES, 5),
    Claim("predator_prey_penalty0", "Predator-prey, penalty 0: MAT (full observation) performs best "
          "(appendix Fig. 12)", _pp("0"), "predator_prey/default", "mat",
          tuple(m for m in ("agentmixer", *PREDATOR_PREY_BASELINES) if m != "mat"), 5),
    Claim("asymmetric_learning_failure", "AIL's decentralized students fall short of its fully observable expert "
          "(Fig. 4)", _pp("-1"), "predator_prey/default", "ail@eval_expert_episode_return", ("ail",), 5),
    Claim("agentmixer_vs_ail", "AgentMixer's decentralized policies outperform AIL's students (Fig. 4)",
          _pp("-1"), "predator_prey/default", "agentmixer", ("ail",), 5),
    Claim("predator_prey_penalty-1_cpu", "Predator-prey, penalty -1: AgentMixer outperforms the baselines "
          "(appendix Fig. 12; Fig. 4 for AIL)", _pp("-1", "cpu"), "predator_prey/default", "agentmixer",
          ("mappo", "ail"), 5, setting=PP_CPU),
    Claim("asymmetric_learning_failure_cpu", "AIL's decentralized students fall short of its fully observable "
          "expert (Fig. 4)", _pp("-1", "cpu"), "predator_prey/default", "ail@eval_expert_episode_return", ("ail",),
          5, setting=PP_CPU),
    Claim("mujoco_ant", "MA-MuJoCo Ant (obsk 0): AgentMixer outperforms the baselines by a large margin (Fig. 3)",
          ("results/reproduce/mujoco/run_logs/mujoco/Ant/*/paper-cpu_*_seed*",), "mujoco/Ant", "agentmixer",
          ("mappo", "happo", "mat_dec"), 3, setting="2M of the paper's 10M steps, 3 of 5 seeds, MaMuJoCo -v5"),
    Claim("mujoco_halfcheetah", "MA-MuJoCo HalfCheetah (obsk 0): AgentMixer outperforms the baselines (Fig. 3)",
          ("results/reproduce/mujoco/run_logs/mujoco/HalfCheetah/*/paper-cpu_*_seed*",), "mujoco/HalfCheetah",
          "agentmixer", ("mappo", "happo", "mat_dec"), 3,
          setting="2M of the paper's 10M steps, 3 of 5 seeds, MaMuJoCo -v5"),
    Claim("mujoco_halfcheetah_cpu", "MA-MuJoCo HalfCheetah (obsk 0): AgentMixer outperforms the baselines (Fig. 3)",
          ("results/reproduce/mujoco/run_logs/mujoco/HalfCheetah/*/cpu_*_seed*",), "mujoco/HalfCheetah",
          "agentmixer", ("mappo",), 5, setting="cpu scale: 300k of the paper's 10M steps, MAPPO only, MaMuJoCo -v5"),
    Claim("smacv2_5v5", "SMACv2 5v5: AgentMixer's win rate above the other methods' (Table 1)",
          ("results/reproduce/smacv2/run_logs/smax/*/*/cpu_seed*",), "smax/smacv2_5_units", "agentmixer",
          ("mappo",), 5, setting="SMAX stand-in (no StarCraft II here), 1M of 10M steps, MAPPO only"),
    Claim("pm_ablation", "The MLP-mixer Policy Modifier performs best, ahead of hypernetwork and attention (Table 3)",
          ("results/reproduce/pm_ablation/run_logs/*/*/*/cpu_*_seed*",), "matrix/climbing", "agentmixer:cpu_mixer",
          ("agentmixer:cpu_hypernet", "agentmixer:cpu_attention"), 5, label_experiment=True,
          setting="Climbing instead of the paper's SMACv2 5v5 maps, 3 seeds"),
)


@dataclass
class Group:
    """One method's per-seed scores on a claim's task."""
    method: str
    scores: np.ndarray

    def summary(self) -> str:
        mean, std = mean_std(self.scores)
        low, high = stratified_bootstrap_ci([self.scores])
        spread = "" if math.isnan(std) else f" ± {std:.2f}"
        return f"{mean:.2f}{spread} (IQM {float(iqm(self.scores)):.2f} [{low:.2f}, {high:.2f}], n={self.scores.size})"


def method_scores(claim: Claim, root: Path) -> dict[str, Group]:
    """{method: Group} for the claim's candidate and baselines that have runs with evaluations."""
    runs = [r for r in load_runs([str(root / p) for p in claim.runs], claim.label_experiment) if r.task == claim.task]
    groups = {}
    for method in (claim.candidate, *claim.baselines):
        label, _, metric = method.partition("@")
        scores = [r.final_score(metric or default_metric(r.env), LAST_K) for r in runs if r.algorithm == label]
        scores = [s for s in scores if s is not None]
        if scores:
            groups[method] = Group(method, np.array(scores))
    return groups


def compare(candidate: np.ndarray, baseline: np.ndarray, alpha: float) -> tuple[float, str]:
    """(p of candidate > baseline, "better" / "worse" / "unclear" / "untested": a single seed on a side)."""
    if candidate.size < 2 or baseline.size < 2:
        return math.nan, "untested"
    with warnings.catch_warnings():  # scipy warns on nearly identical samples; the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        p = welch_t_test_greater(candidate, baseline)
        reverse = welch_t_test_greater(baseline, candidate)
    if not math.isnan(p):
        return p, "better" if p < alpha else "worse" if reverse < alpha else "unclear"
    # Undefined: no variance in either group; equal constants are no win.
    if candidate.std() == 0 and baseline.std() == 0:
        return p, "better" if candidate[0] > baseline[0] else "worse"
    return p, "unclear"


def verdict(claim: Claim, groups: dict[str, Group], alpha: float) -> tuple[str, str, list[str]]:
    """(verdict, reason, per-baseline cells "method mean, p")."""
    if claim.candidate not in groups:
        return "not run yet", "no runs of the candidate", []
    cand = groups[claim.candidate].scores
    present = [b for b in claim.baselines if b in groups]
    missing = [b for b in claim.baselines if b not in groups]
    outcomes, cells = {}, []
    for b in present:
        p, outcomes[b] = compare(cand, groups[b].scores, alpha)
        cells.append(f"{b} {groups[b].scores.mean():.2f} (p {_p_value(p)})")
    reasons = []
    below = int((cand < claim.reaches - 1e-6).sum()) if claim.reaches is not None else 0
    missed = below > 0
    if missed:
        reasons.append(f"{below} of {cand.size} seeds below {claim.reaches:g}")
    if "worse" in outcomes.values() or missed:
        result = "not reproduced"
        reasons += [f"{b} not lower" for b, o in outcomes.items() if o == "worse"]
    elif (outcomes and all(o == "better" for o in outcomes.values())) or not claim.baselines:
        result = "reproduced"
    else:
        result = "inconclusive"
        for outcome, reason in (("unclear", "no significant difference from "), ("untested", "no test with one seed: ")):
            if outcome in outcomes.values():
                reasons.append(reason + ", ".join(b for b, o in outcomes.items() if o == outcome))
    seeds = min([groups[m].scores.size for m in groups] or [0])
    if seeds < claim.seeds or missing:
        result += " at this budget" if result == "inconclusive" else " (so far)"
        reasons.append(f"{seeds} of {claim.seeds} seeds" + (f"; no runs of {', '.join(missing)}" if missing else ""))
    if claim.setting:
        reasons.append(claim.setting)
    return result, "; ".join(reasons), cells


def build_rows(claims=CLAIMS, root: Path = REPO, alpha: float = 0.05) -> list[tuple[str, ...]]:
    rows = []
    for claim in claims:
        groups = method_scores(claim, root)
        result, reason, cells = verdict(claim, groups, alpha)
        ours = groups[claim.candidate].summary() if claim.candidate in groups else "–"
        rows.append((claim.paper, f"{claim.candidate}: {ours}", "; ".join(cells) or "–", result, reason or "–"))
    return rows


HEADER = ("paper's claim", "ours: candidate", "baselines: mean (one-sided Welch p)", "verdict", "why")


def to_markdown(rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_latex(rows: list[tuple[str, ...]]) -> str:
    lines = [r"\begin{tabular}{p{4cm}p{3.5cm}p{4.5cm}p{2cm}p{3cm}}", r"\toprule",
             " & ".join(HEADER) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c).replace("±", r"$\pm$") for c in row) + r" \\" for row in rows]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def main(argv: list[str] | None = None) -> list[tuple[str, ...]]:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.claims", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/claims", help="writes <out>.md and <out>.tex")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdicts")
    p.add_argument("--root", default=str(REPO), help="where the claims' run globs start (default: the repo)")
    args = p.parse_args(argv)
    if not 0 < args.alpha < 1:
        sys.exit(f"error: --alpha must be in (0, 1), got {args.alpha}")
    rows = build_rows(root=Path(args.root), alpha=args.alpha)
    markdown = to_markdown(rows)
    Path(f"{args.out}.md").write_text(markdown)
    Path(f"{args.out}.tex").write_text(to_latex(rows))
    print(markdown + f"\nwrote {args.out}.md and {args.out}.tex")
    return rows


if __name__ == "__main__":
    main()
