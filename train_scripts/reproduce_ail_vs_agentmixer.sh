#!/usr/bin/env bash
# Paper Fig. 4: asymmetric learning failure. AIL's full-state expert does well, but its students
# (what gets evaluated) do not; AgentMixer's decentralized policies keep up with its joint policy.
# usage: bash train_scripts/reproduce_ail_vs_agentmixer.sh [--scale full|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: ail agentmixer mappo on Climbing (200k steps) and predator-prey penalty -1 (1M steps), 5 seeds
#   cpu:  the same with 3 seeds and 300k predator-prey steps (evaluation every 50k)
# The runs are those of reproduce_climbing.sh and reproduce_predator_prey.sh (their folders beside DIR,
# where this script's sweeps go: Climbing's paper-budget runs `full`; predator-prey's `paper_penalty-1`
# at full scale, `cpu_penalty-1` at cpu scale), so a run both figures need is trained once; what is
# missing there is trained here. The tables read every finished seed of those experiments (Climbing's
# cpu-scale table has 5 seeds once reproduce_climbing.sh --scale full has run). Writes DIR/table.md/.tex and DIR/curves.png (the decentralized
# policies: AIL's students), DIR/table_ail_expert.md/.tex and DIR/curves_ail_expert.png (AIL's expert,
# eval_expert_episode_return: the gap to the students' table is the asymmetric learning failure) and
# DIR/COMMAND.txt.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args ail_vs_agentmixer "$@"

ALGORITHMS=(ail agentmixer mappo)
CLIMBING_HOME="$(dirname "$out")/climbing" PREDATOR_PREY_HOME="$(dirname "$out")/predator_prey"
climbing=full  # Climbing's cpu scale is the paper's budget with fewer seeds: the same runs
if [[ $scale == full ]]; then
  SEEDS=1-5; predator_prey=paper_penalty-1; PREDATOR_PREY_BUDGET=()
else
  SEEDS=1-3; predator_prey=cpu_penalty-1; PREDATOR_PREY_BUDGET=("${PREDATOR_PREY_CPU_BUDGET[@]}")
  note "cpu scale: 3 of 5 seeds; predator-prey 300k of the 1M steps (Climbing keeps its 200k)"
fi

grid() {
  sweep_in "$CLIMBING_HOME" "$climbing" --algorithms "${ALGORITHMS[@]}" --env matrix --scenarios climbing \
    --seeds "$SEEDS" "${MATRIX_EVAL[@]}"
  sweep_in "$PREDATOR_PREY_HOME" "$predator_prey" --algorithms "${ALGORITHMS[@]}" --env predator_prey \
    --penalty -1 --seeds "$SEEDS" "${PREDATOR_PREY_BUDGET[@]}"
}

report() {  # the two games are different tasks, so one table and one figure hold both
  local runs=() expert=() algorithm
  for algorithm in "${ALGORITHMS[@]}"; do runs+=("$algorithm:$climbing" "$algorithm:$predator_prey"); done
  table table "${runs[*]}"
  curves curves "${runs[*]}"
  table table_ail_expert "ail:$climbing ail:$predator_prey" --metric eval_expert_episode_return
  curves curves_ail_expert "ail:$climbing ail:$predator_prey" --metric eval_expert_episode_return
}

reproduce
