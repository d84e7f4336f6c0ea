#!/usr/bin/env bash
# Beyond the paper (issue 33): what keeps AgentMixer in predator-prey's keep-away trap at penalty -1?
# One factor at a time, every condition at T = 1 throughout (--temperature_schedule constant), so a run's
# first 300k steps are those of a 1M run; eval_scripts.trap_screen predicts the trap from the training
# capture rate over (200k, 300k] (its rule is checked on every finished 1M run, under the table).
# Experiments screen300k_<condition>_penalty-1 of agentmixer:
#   authors_warm                the paper's AgentMixer at T = 1: the PM learns, PPO clips the joint ratio
#   pm_frozen_warm              the PM frozen at its initialisation (--mixer_lr 1e-12): h stays near 0, so
#                               the joint policy is the individual one and only the joint-ratio PPO remains
#   agent_ratio_warm            --no-joint_ratio: PPO clips each agent's own factor, as MAPPO does
#   pm_frozen_agent_ratio_warm  both: AgentMixer's remaining difference to MAPPO is its per-agent advantages
#   mode_preserving_warm        the PM learns through the mode-preserving epsilon (--igc_mode_preserving), which
#                               holds IGC by construction: does an IGC-keeping form change the trap rate?
#   mode_preserving_agent_ratio_warm  that epsilon with each agent's ratio clipped (--no-joint_ratio): does the
#                               per-agent clip that kept agent_ratio_warm out of the trap keep the IGC form out too?
#   strict_agent_ratio_warm     the strict cap (--igc_strict, IGC by construction) with each agent's ratio clipped:
#                               the cap leaves the authors' epsilon as it is below the mode, where the
#                               mode-preserving one reshapes it; does that keep the per-agent clip's escape?
# usage: bash train_scripts/reproduce_trap_mechanism.sh [--scale full|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   cpu:  seeds 1, 2 and 4, where MAPPO at parity escapes the trap and AgentMixer does not: 21 runs, about
#         15 min each on a 2-core machine, two at once
#   full: seeds 1-5; more seeds with `-- --seeds 6-10` (the sweep takes the last --seeds)
# $TRAP_CONDITIONS (space-separated, default all) runs and reports a subset, in its order.
# The references are the settings-parity runs of reproduce_predator_prey.sh (MAPPO and AgentMixer,
# experiment parity_penalty-1; $PREDATOR_PREY_HOME, default results/reproduce/predator_prey), which
# must be there. Writes DIR/trap_screen_penalty-1.md (per seed: captures at 100k and over the window,
# seeds predicted trapped, Fisher p against MAPPO and the authors' form at T = 1; beside them the IGC screen's
# 1M runs of its *_warm* variants, at T = 1), DIR/curves_trap_penalty-1.png
# and DIR/COMMAND.txt; DIR defaults to results/reproduce/igc_variants, beside the IGC screen it explains.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args igc_variants "$@"
reproduce_name=trap_mechanism

declare -A CONDITION_FLAGS=(
  [authors_warm]="" [pm_frozen_warm]="--mixer_lr 1e-12" [agent_ratio_warm]="--no-joint_ratio"
  [pm_frozen_agent_ratio_warm]="--mixer_lr 1e-12 --no-joint_ratio" [mode_preserving_warm]="--igc_mode_preserving"
  [mode_preserving_agent_ratio_warm]="--igc_mode_preserving --no-joint_ratio"
  [strict_agent_ratio_warm]="--igc_strict --no-joint_ratio"
)
CONDITIONS=(authors_warm pm_frozen_warm agent_ratio_warm pm_frozen_agent_ratio_warm mode_preserving_warm
            mode_preserving_agent_ratio_warm strict_agent_ratio_warm)
if [[ -n "${TRAP_CONDITIONS:-}" ]]; then
  read -ra chosen <<<"$TRAP_CONDITIONS"
  for condition in "${chosen[@]}"; do
    [[ -v "CONDITION_FLAGS[$condition]" ]] || die "TRAP_CONDITIONS: unknown condition '$condition'; valid: ${CONDITIONS[*]}"
  done
  CONDITIONS=("${chosen[@]}")
fi
PREDATOR_PREY_HOME="${PREDATOR_PREY_HOME:-$PWD/results/reproduce/predator_prey}"
if [[ $scale == full ]]; then SEEDS=1-5; else SEEDS=1,2,4; fi
experiment() { echo "screen300k_$1_penalty-1"; }

grid() {
  local condition flags
  for condition in "${CONDITIONS[@]}"; do
    read -ra flags <<<"${CONDITION_FLAGS[$condition]}"
    sweep "$(experiment "$condition")" --algorithms agentmixer --env predator_prey --seeds "$SEEDS" --penalty -1 \
      --temperature_schedule constant --num_env_steps 300000 "${flags[@]}"
  done
}

report() {
  local condition selection="" references
  for condition in "${CONDITIONS[@]}"; do selection+=" agentmixer:$(experiment "$condition")"; done
  roots_for "$selection"
  no_runs_yet trap_screen_penalty-1 && return 0
  local parity="$PREDATOR_PREY_HOME/run_logs/predator_prey/default"
  # the IGC screen's 1M runs at T = 1 beside them: every `*_warm*` variant (the PM learning from the first update)
  local screened="$out/run_logs/predator_prey/default/agentmixer/parity_*warm*_penalty-1_seed*"
  references=(mappo:parity_penalty-1)
  [[ " ${CONDITIONS[*]} " == *" authors_warm "* ]] && references+=("agentmixer:$(experiment authors_warm)")
  made_reports=$((made_reports + 1))
  run_step "$PYTHON" -m eval_scripts.trap_screen "${roots[@]}" "$parity/mappo/parity_penalty-1_seed*" \
    "$parity/agentmixer/parity_penalty-1_seed*" "$screened" --label_experiment --references "${references[@]}" \
    --calibrate "$parity/*/*penalty-1_seed*" "$out/run_logs/predator_prey/default/*/*penalty-1_seed*" \
    --out "$out/trap_screen_penalty-1"
  curves curves_trap_penalty-1 "$selection" --label_experiment --metric train_episode_captures
}

reproduce
