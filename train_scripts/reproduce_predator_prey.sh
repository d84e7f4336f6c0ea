#!/usr/bin/env bash
# Paper appendix Fig. 12: predator-prey (5x5, 2 predators, 1 prey) with miscapture penalty 0, -0.5, -1.
# usage: bash train_scripts/reproduce_predator_prey.sh [--scale full|cpu] [--out DIR] [--dry_run] [-- FLAGS...]
#   full: penalties 0 -0.5 -1 x all nine methods, 5 seeds, 2M steps (onpolicy/config.py's
#         predator_prey budget; the paper does not state one)
#   cpu:  penalty -1 only, mappo agentmixer ail, 3 seeds, 300k steps: ~13 min on 2 cores
# Writes DIR/runs, DIR/table_penalty<P>.md/.tex per penalty stacked into DIR/table.md/.tex,
# DIR/curves_penalty<P>.png per penalty, DIR/curves.png (all penalties, labelled algorithm:experiment;
# with one penalty, that penalty's table and curves directly) and DIR/COMMAND.txt.
# Paper: AgentMixer beats every baseline at penalty -1; the centralized MAT is best at penalty 0.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args predator_prey "$@"

if [[ $scale == full ]]; then
  ALGORITHMS=(mappo ippo happo mat mat_dec armappo ail agentmixer maven)
  PENALTIES=(0 -0.5 -1); SEEDS=1-5; BUDGET=()
else
  ALGORITHMS=(mappo agentmixer ail)
  PENALTIES=(-1); SEEDS=1-3; BUDGET=(--num_env_steps 300000)
  note "cpu scale: penalty -1 only, mappo/agentmixer/ail, 3 seeds, 300k of the 2M steps; early curves" \
       "(agentmixer's temperature ramp is 2/3 of the run, so it is compressed too)"
fi

grid() {
  local penalty
  for penalty in "${PENALTIES[@]}"; do
    sweep "${scale}_penalty$penalty" --algorithms "${ALGORITHMS[@]}" --env predator_prey --seeds "$SEEDS" \
      --penalty "$penalty" "${BUDGET[@]}"
  done
}

report() { report_variants "${PENALTIES[@]/#/penalty}"; }

reproduce
