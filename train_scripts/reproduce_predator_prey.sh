#!/usr/bin/env bash
# Paper appendix Fig. 12: predator-prey (5x5, 2 predators, 1 prey) with miscapture penalty.
# usage: bash train_scripts/reproduce_predator_prey.sh [--scale full|paper-cpu|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full:      the authors' protocol (their predator-prey scripts): penalties -1, 0 and -1.5, all nine methods
#              and AgentMixer with the correlation device (experiment paper_corr), 5 seeds, 1M steps,
#              100 evaluation episodes every 10k steps (onpolicy/config.py's predator_prey defaults)
#   paper-cpu: the same runs for the two penalties the paper's text names, -1 then 0: 100 runs, about 40 min
#              of a 2-core machine per (penalty, seed), so several sessions; the sweeps are seed-major, so
#              a stopped one holds the first seeds of every method, and a rerun resumes it
#   cpu:       penalty -1 only, mappo agentmixer ail, 3 seeds, 300k steps, evaluation every 50k: ~13 min
# full and paper-cpu share their runs (experiments parity_penalty<P>, parity_corr_penalty<P>: the settings-parity
# defaults; paper_penalty<P> and paper_corr_penalty<P> are the earlier runs, kept beside them).
# Writes DIR/runs, DIR/run_logs, DIR/table_penalty<P>.md/.tex and DIR/curves_penalty<P>.png per penalty
# (full, paper-cpu: the corr variant beside the methods, labelled algorithm:experiment), the tables stacked
# into DIR/table_<scale>.md/.tex, and DIR/COMMAND.txt; the cpu scale's single penalty gives DIR/table and DIR/curves.
# Paper: AgentMixer beats every baseline at penalty -1; the centralized MAT is best at penalty 0.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
SCALES+=(paper-cpu)
parse_reproduce_args predator_prey "$@"

CORR_FLAGS=(--pm_noise_dim 4 --mixer_lr 5e-3)
if [[ $scale == cpu ]]; then
  ALGORITHMS=(mappo agentmixer ail); PENALTIES=(-1); SEEDS=1-3; CORR=false; prefix=cpu
  BUDGET=("${PREDATOR_PREY_CPU_BUDGET[@]}")
  note "cpu scale: penalty -1 only, mappo/agentmixer/ail, 3 seeds, 300k of the 1M steps, evaluation (10 envs) every" \
       "50k steps; early curves (agentmixer's temperature ramp is 2/3 of the run, so it is compressed too)"
else
  ALGORITHMS=(mappo ippo happo mat mat_dec armappo ail agentmixer maven)
  SEEDS=1-5; CORR=true; prefix=$PARITY; BUDGET=()
  if [[ $scale == full ]]; then PENALTIES=(-1 0 -1.5); else PENALTIES=(-1 0); fi
  [[ $scale == full ]] || note "paper-cpu scale: the authors' protocol at penalties -1 and 0 (-1.5: --scale full)"
fi

grid() {
  local penalty
  for penalty in "${PENALTIES[@]}"; do  # seed-major sweeps: a stopped one holds the first seeds of every method
    sweep "${prefix}_penalty$penalty" --algorithms "${ALGORITHMS[@]}" --env predator_prey --seeds "$SEEDS" \
      --penalty "$penalty" "${BUDGET[@]}"
    if $CORR; then
      sweep "${prefix}_corr_penalty$penalty" --algorithms agentmixer --env predator_prey --seeds "$SEEDS" \
        --penalty "$penalty" "${CORR_FLAGS[@]}"
    fi
  done
}

report() {
  local penalty experiments=()
  if ! $CORR; then report_variants "${PENALTIES[@]/#/penalty}"; return 0; fi
  for penalty in "${PENALTIES[@]}"; do  # the corr variant beside the methods: labelled algorithm:experiment
    local selection="${prefix}_penalty$penalty agentmixer:${prefix}_corr_penalty$penalty"
    table "table_penalty$penalty" "$selection" --label_experiment --candidate "agentmixer:${prefix}_penalty$penalty"
    curves "curves_penalty$penalty" "$selection" --label_experiment
    experiments+=("penalty$penalty")
  done
  combine_tables "table_$scale" "${experiments[@]}"  # not table.md: the cpu scale's, in the same folder
}

reproduce
