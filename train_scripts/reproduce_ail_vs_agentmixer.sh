#!/usr/bin/env bash
# Paper Fig. 4: asymmetric learning failure. AIL's full-state expert does well, but its students
# (what gets evaluated) do not; AgentMixer's decentralized policies keep up with its joint policy.
# usage: bash train_scripts/reproduce_ail_vs_agentmixer.sh [--scale full|cpu] [--out DIR] [--dry_run] [-- FLAGS...]
#   full: ail agentmixer mappo on predator-prey penalty -1 (2M steps) and Climbing (200k steps), 5 seeds
#   cpu:  the same with 3 seeds and 300k predator-prey steps: ~18 min on 2 cores
# Writes DIR/runs, DIR/table.md/.tex and DIR/curves.png (the decentralized policies: AIL's students),
# DIR/table_ail_expert.md/.tex and DIR/curves_ail_expert.png (AIL's expert, eval_expert_episode_return:
# the gap to the students' table is the asymmetric learning failure) and DIR/COMMAND.txt.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args ail_vs_agentmixer "$@"

ALGORITHMS=(ail agentmixer mappo)
if [[ $scale == full ]]; then
  SEEDS=1-5; PREDATOR_PREY_BUDGET=()
else
  SEEDS=1-3; PREDATOR_PREY_BUDGET=(--num_env_steps 300000)
  note "cpu scale: 3 of 5 seeds; predator-prey 300k of the 2M steps (Climbing keeps its 200k)"
fi
climbing="$scale" predator_prey="${scale}_penalty-1"

grid() {
  sweep "$climbing" --algorithms "${ALGORITHMS[@]}" --env matrix --scenarios climbing --seeds "$SEEDS" \
    "${MATRIX_EVAL[@]}"
  sweep "$predator_prey" --algorithms "${ALGORITHMS[@]}" --env predator_prey --penalty -1 --seeds "$SEEDS" \
    "${PREDATOR_PREY_BUDGET[@]}"
}

report() {  # the two games are different tasks, so one table and one figure hold both
  table table "$climbing $predator_prey"
  curves curves "$climbing $predator_prey"
  table table_ail_expert "ail:$climbing ail:$predator_prey" --metric eval_expert_episode_return
  curves curves_ail_expert "ail:$climbing ail:$predator_prey" --metric eval_expert_episode_return
}

reproduce
