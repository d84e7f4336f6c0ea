"""The paper's claims, one row each, tested on the committed run logs of results/reproduce/.

    python -m eval_scripts.claims [--out results/claims] [--alpha 0.05]

A claim is tested under each protocol we ran (PROTOCOLS, strongest first: the authors' settings of
docs/settings_parity.md, this project's earlier settings, reduced budgets). The main table shows each
claim once, under the strongest protocol with runs; the secondary table the others.

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
# Protocols, strongest first. A claim is tested under each protocol we ran; the main table shows each
# claim at the strongest one with runs, the secondary table the rest (docs/settings_parity.md says what
# "the authors' settings" are; the pre-parity runs used this project's earlier reading of them).
PARITY = "authors' settings"
PRE_PARITY = "earlier settings"
PROTOCOLS = (PARITY, PRE_PARITY, "reduced budget")


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
    protocol: str = PARITY  # one of PROTOCOLS

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"claim {self.name}: protocol {self.protocol!r} is not one of {PROTOCOLS}")


def _pp(penalty: str, experiment: str) -> tuple[str, ...]:
    return (f"results/reproduce/predator_prey/run_logs/*/*/*/{experiment}_penalty{penalty}_seed*",)


def _climbing(experiment: str) -> tuple[str, ...]:
    return (f"results/reproduce/climbing/run_logs/matrix/*/*/{experiment}_seed*",)


def _mujoco(robot: str, experiment: str) -> tuple[str, ...]:
    return (f"results/reproduce/mujoco/run_logs/mujoco/{robot}/*/{experiment}_seed*",)


PP_CPU = "cpu scale: 300k of the 1M steps, evaluation every 50k steps, MAPPO and AIL only"
MUJOCO_2M = "2M of the paper's 10M steps, 3 of 5 seeds, MaMuJoCo -v5"
MUJOCO_BASELINES = ("mappo", "happo", "mat_dec")


def _predator_prey_claims(experiment: str, protocol: str, **kw) -> tuple[Claim, ...]:
    name = "" if protocol == PARITY else "_" + experiment
    return (
        Claim(f"predator_prey_penalty-1{name}", "Predator-prey, penalty -1: AgentMixer outperforms all the baselines "
              "(appendix Fig. 12)", _pp("-1", experiment), "predator_prey/default", "agentmixer",
              PREDATOR_PREY_BASELINES, 5, protocol=protocol, **kw),
        Claim(f"predator_prey_penalty0{name}", "Predator-prey, penalty 0: MAT (full observation) performs best "
              "(appendix Fig. 12)", _pp("0", experiment), "predator_prey/default", "mat",
              tuple(m for m in ("agentmixer", *PREDATOR_PREY_BASELINES) if m != "mat"), 5, protocol=protocol, **kw),
        Claim(f"asymmetric_learning_failure{name}", "AIL's decentralized students fall short of its fully observable "
              "expert (Fig. 4)", _pp("-1", experiment), "predator_prey/default", "ail@eval_expert_episode_return",
              ("ail",), 5, protocol=protocol, **kw),
        # Fig. 4's point is that AgentMixer's decentralized policies act as its joint policy does and solve the
        # task; a keep-away policy that never captures (-1.28) beats AIL's miscapturing students without that.
        Claim(f"agentmixer_vs_ail{name}", "AgentMixer's decentralized policies outperform AIL's students and catch "
              "the prey (return above 0) (Fig. 4)", _pp("-1", experiment), "predator_prey/default", "agentmixer",
              ("ail",), 5, reaches=0.0, protocol=protocol, **kw),
    )


def _climbing_claims(experiment: str, protocol: str) -> tuple[Claim, ...]:
    name = "" if protocol == PARITY else "_" + experiment
    return (
        Claim(f"climbing_agentmixer{name}", "Climbing: AgentMixer learns the optimal joint action (11), MAPPO, HAPPO "
              "and MAT-Dec converge to a local optimum, MAVEN finds the optimum only by chance (appendix Fig. 11)",
              _climbing(experiment), "matrix/climbing", "agentmixer", ("mappo", "happo", "mat_dec", "maven"), 5,
              reaches=11.0, protocol=protocol),
        Claim(f"climbing_mat{name}", "Climbing: MAT (centralized, auto-regressive) learns the optimum 11 "
              "(appendix Fig. 11)", _climbing(experiment), "matrix/climbing", "mat", (), 5, reaches=11.0,
              protocol=protocol),
    )


def _mujoco_claims(experiment: str, protocol: str) -> tuple[Claim, ...]:
    name = "" if protocol == PARITY else "_" + experiment.split("_")[0]
    return (
        Claim(f"mujoco_ant{name}", "MA-MuJoCo Ant (obsk 0): AgentMixer outperforms the baselines by a large margin "
              "(Fig. 3)", _mujoco("Ant", f"{experiment}_4x2"), "mujoco/Ant", "agentmixer", MUJOCO_BASELINES, 3,
              setting=MUJOCO_2M, protocol=protocol),
        Claim(f"mujoco_halfcheetah{name}", "MA-MuJoCo HalfCheetah (obsk 0): AgentMixer outperforms the baselines "
              "(Fig. 3)", _mujoco("HalfCheetah", f"{experiment}_6x1"), "mujoco/HalfCheetah", "agentmixer",
              MUJOCO_BASELINES, 3, setting=MUJOCO_2M, protocol=protocol),
    )


CLAIMS = (
    *_climbing_claims("parity", PARITY),
    *_climbing_claims("full", PRE_PARITY),
    *_predator_prey_claims("parity", PARITY),
    *_predator_prey_claims("paper", PRE_PARITY),
    Claim("predator_prey_penalty-1_cpu", "Predator-prey, penalty -1: AgentMixer outperforms all the baselines "
          "(appendix Fig. 12)", _pp("-1", "cpu"), "predator_prey/default", "agentmixer", ("mappo", "ail"), 5,
          setting=PP_CPU, protocol="reduced budget"),
    Claim("asymmetric_learning_failure_cpu", "AIL's decentralized students fall short of its fully observable "
          "expert (Fig. 4)", _pp("-1", "cpu"), "predator_prey/default", "ail@eval_expert_episode_return", ("ail",),
          5, setting=PP_CPU, protocol="reduced budget"),
    *_mujoco_claims("parity-cpu", PARITY),
    *_mujoco_claims("paper-cpu", PRE_PARITY),
    Claim("mujoco_halfcheetah_cpu", "MA-MuJoCo HalfCheetah (obsk 0): AgentMixer outperforms the baselines (Fig. 3)",
          _mujoco("HalfCheetah", "cpu_6x1"), "mujoco/HalfCheetah", "agentmixer", ("mappo",), 5,
          setting="cpu scale: 300k of the paper's 10M steps, MAPPO only, MaMuJoCo -v5", protocol="reduced budget"),
    Claim("smacv2_5v5", "SMACv2 5v5: AgentMixer's win rate above the other methods' (Table 1)",
          ("results/reproduce/smacv2/run_logs/smax/*/*/cpu_seed*",), "smax/smacv2_5_units", "agentmixer",
          ("mappo",), 5, setting="SMAX stand-in (no StarCraft II here), 1M of 10M steps, MAPPO only",
          protocol="reduced budget"),
    Claim("pm_ablation", "The MLP-mixer Policy Modifier performs best, ahead of hypernetwork and attention (Table 3)",
          ("results/reproduce/pm_ablation/run_logs/*/*/*/cpu_*_seed*",), "matrix/climbing", "agentmixer:cpu_mixer",
          ("agentmixer:cpu_hypernet", "agentmixer:cpu_attention"), 5, label_experiment=True,
          setting="Climbing instead of the paper's SMACv2 5v5 maps, 3 seeds", protocol="reduced budget"),
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
    # More seeds can change a verdict, and a missing baseline an "inconclusive" or "reproduced"; nothing of the
    # baselines can undo the candidate missing the claimed return on its full count of seeds.
    final = missed and cand.size >= claim.seeds
    if not final and (seeds < claim.seeds or (missing and result != "not reproduced")):
        result += " at this budget" if result == "inconclusive" else " (so far)"
    if seeds < claim.seeds:
        reasons.append(f"{seeds} of {claim.seeds} seeds")
    if missing:
        reasons.append(f"no runs of {', '.join(missing)}")
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


def claim_tables(claims=CLAIMS, root: Path = REPO, alpha: float = 0.05) -> tuple[list, list]:
    """(main, secondary) rows (claim, protocol, ours, baselines, verdict, why).

    Main: each statement of the paper once, under the strongest protocol (PROTOCOLS order) that has runs
    of its candidate, with the stronger protocols not run yet named; secondary: every other protocol
    with runs, so a verdict at a smaller budget or at the earlier settings stays visible but apart."""
    by_statement: dict[str, list] = {}
    for claim, row in zip(claims, build_rows(claims, root, alpha)):
        by_statement.setdefault(claim.paper, []).append((PROTOCOLS.index(claim.protocol), claim, row))
    main_rows, secondary = [], []
    for entries in by_statement.values():
        entries.sort(key=lambda entry: entry[0])
        ran = [entry for entry in entries if entry[2][3] != "not run yet"]
        rank, shown, (paper, ours, cells, result, why) = (ran or entries)[0]
        not_run = [claim.protocol for r, claim, _ in entries if r < rank]
        if not_run:
            note = f"no runs at the {' or the '.join(not_run)} yet"
            why = note if why == "–" else f"{why}; {note}"
        main_rows.append((paper, shown.protocol, ours, cells, result, why))
        secondary += [(row[0], claim.protocol, *row[1:]) for _, claim, row in ran if claim is not shown]
    return main_rows, secondary


HEADER = ("paper's claim", "protocol", "ours: candidate", "baselines: mean (one-sided Welch p)", "verdict", "why")


def to_markdown(rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_latex(rows: list[tuple[str, ...]]) -> str:
    lines = [r"\begin{tabular}{p{3.5cm}p{1.8cm}p{3.5cm}p{4.5cm}p{2cm}p{3cm}}", r"\toprule",
             " & ".join(HEADER) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c).replace("±", r"$\pm$") for c in row) + r" \\" for row in rows]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


MAIN_TITLE = "## Each claim under the strongest protocol we ran"
SECONDARY_TITLE = "## The same claims under weaker protocols (earlier settings, reduced budgets)"


def main(argv: list[str] | None = None) -> list[tuple[str, ...]]:
    p = argparse.ArgumentParser(prog="python -m eval_scripts.claims", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/claims", help="writes <out>.md and <out>.tex")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdicts")
    p.add_argument("--root", default=str(REPO), help="where the claims' run globs start (default: the repo)")
    args = p.parse_args(argv)
    if not 0 < args.alpha < 1:
        sys.exit(f"error: --alpha must be in (0, 1), got {args.alpha}")
    main_rows, secondary = claim_tables(root=Path(args.root), alpha=args.alpha)
    markdown = f"{MAIN_TITLE}\n\n{to_markdown(main_rows)}\n{SECONDARY_TITLE}\n\n{to_markdown(secondary)}"
    Path(f"{args.out}.md").write_text(markdown)
    Path(f"{args.out}.tex").write_text(to_latex(main_rows) + "\n" + to_latex(secondary))
    print(markdown + f"\nwrote {args.out}.md and {args.out}.tex")
    return main_rows


if __name__ == "__main__":
    main()
