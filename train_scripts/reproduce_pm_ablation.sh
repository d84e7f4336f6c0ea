#!/usr/bin/env bash
# Paper Table 3: AgentMixer with each Policy Modifier: MLP-mixer (the default), hypernetwork, attention.
# usage: bash train_scripts/reproduce_pm_ablation.sh [--scale full|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: 5 seeds, 10M steps, on SMACv2 protoss/terran/zerg 5v5 (the paper's maps) when StarCraft II is
#         installed, else on the SMAX stand-in smacv2_5_units
#   cpu:  the Climbing matrix game, 3 seeds, 200k steps (its paper budget): ~14 min on 2 cores
# Each PM is an experiment (<scale>_mixer, _hypernet, _attention); DIR/table.md/.tex and DIR/curves.png
# label methods agentmixer:<experiment>, with p-values for the mixer PM > the others. Also DIR/runs and
# DIR/COMMAND.txt. Paper: the MLP-mixer PM performs best (on the SMACv2 5v5 maps).
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args pm_ablation "$@"

PM_TYPES=(mixer hypernet attention)
if [[ $scale == cpu ]]; then
  TASK=(--env matrix --scenarios climbing --seeds 1-3 "${MATRIX_EVAL[@]}")
  note "cpu scale: the Climbing matrix game instead of SMACv2 (Table 3's maps need StarCraft II and 10M steps)"
elif sc2_available; then
  TASK=(--env smacv2 --scenarios protoss terran zerg --units 5v5 --seeds 1-5)
  note "StarCraft II found at ${SC2PATH:-$HOME/StarCraftII}: SMACv2 10gen_{protoss,terran,zerg} 5v5"
else
  TASK=(--env smax --scenarios smacv2_5_units --seeds 1-5)
  note "StarCraft II or smacv2 not found (SC2PATH=${SC2PATH:-unset}): SMAX stand-in smacv2_5_units," \
       "not the paper's SMACv2 5v5 maps"
fi

grid() {
  local pm
  for pm in "${PM_TYPES[@]}"; do
    sweep "${scale}_$pm" --algorithms agentmixer "${TASK[@]}" --pm_type "$pm"
  done
}

report() {
  local experiments="${PM_TYPES[*]/#/${scale}_}"
  table table "$experiments" --label_experiment --candidate "agentmixer:${scale}_mixer"
  curves curves "$experiments" --label_experiment
}

reproduce
