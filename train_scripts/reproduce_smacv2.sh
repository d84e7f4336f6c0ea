#!/usr/bin/env bash
# Paper Table 1: win rates on SMACv2 protoss/terran/zerg 5v5 and 10v10.
# usage: bash train_scripts/reproduce_smacv2.sh [--scale full|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: mappo happo mat mat_dec armappo agentmixer maven (the paper's columns), 5 seeds, 10M steps
#         (50 threads x 200 steps, recurrent 1 x 64, 5 epochs; onpolicy/config.py), on SMACv2 when
#         StarCraft II is installed (smacv2 importable and $SC2PATH, else ~/StarCraftII; see
#         train_scripts/install_sc2.sh), else on the SMAX stand-in smacv2_5_units / smacv2_10_units
#   cpu:  SMAX smacv2_5_units only (50 StarCraft II processes do not fit on 2 cores), mappo agentmixer,
#         2 seeds, 1M steps: ~45 min on 2 cores
# Writes DIR/runs, DIR/table.md/.tex (win rate; on SMACv2 one table per team size, stacked),
# DIR/curves*.png and DIR/COMMAND.txt (which says SMACv2 or SMAX).
# Paper: AgentMixer best in 5 of the 6 maps, by the largest margins at 5v5.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args smacv2 "$@"

if [[ $scale == full ]]; then
  ALGORITHMS=(mappo happo mat mat_dec armappo agentmixer maven); SEEDS=1-5; BUDGET=()
  if sc2_available; then
    env=smacv2
    note "StarCraft II found at ${SC2PATH:-$HOME/StarCraftII}: SMACv2 10gen_{protoss,terran,zerg}"
  else
    env=smax; SMAX_SCENARIOS=(smacv2_5_units smacv2_10_units)
    note "StarCraft II or smacv2 not found (SC2PATH=${SC2PATH:-unset}): SMAX stand-in smacv2_5_units," \
         "smacv2_10_units (JaxMARL, heuristic enemy), not the paper's SMACv2 maps"
  fi
else
  env=smax; SMAX_SCENARIOS=(smacv2_5_units)
  # An evaluation (32 battles) every 10 updates (100k steps): a 10-point curve for a few % of the time.
  ALGORITHMS=(mappo agentmixer); SEEDS=1-2; BUDGET=(--num_env_steps 1000000 --eval_interval 10)
  note "cpu scale: SMAX stand-in smacv2_5_units (not the paper's SMACv2), mappo/agentmixer, 2 seeds," \
       "1M of the 10M steps"
fi
UNITS=(5v5 10v10)

grid() {
  local units
  if [[ $env == smacv2 ]]; then
    for units in "${UNITS[@]}"; do  # team size is a flag, not a scenario: one experiment each
      sweep "${scale}_$units" --algorithms "${ALGORITHMS[@]}" --env smacv2 --scenarios protoss terran zerg \
        --units "$units" --seeds "$SEEDS" "${BUDGET[@]}"
    done
  else
    sweep "$scale" --algorithms "${ALGORITHMS[@]}" --env smax --scenarios "${SMAX_SCENARIOS[@]}" \
      --seeds "$SEEDS" "${BUDGET[@]}"
  fi
}

report() {  # make_tables and plot_curves report win rate (eval_episode_won) for smax and smacv2
  if [[ $env == smacv2 ]]; then
    report_variants "${UNITS[@]}"
  else
    table table "$scale"
    curves curves "$scale"
  fi
}

reproduce
