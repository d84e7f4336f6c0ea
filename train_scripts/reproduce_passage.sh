#!/usr/bin/env bash
# The passage game (paper Fig. 1, the asymmetric learning failure, made exact): does AgentMixer avoid
# the failure AIL shows? Every method, 10 seeds, plus the AgentMixer correlation-device variant
# (experiment <scale>_corr: --pm_noise_dim 4 --mixer_lr 5e-3).
# usage: bash train_scripts/reproduce_passage.sh [--scale full|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: agentmixer ail mappo mappo_full mat armappo (+ maven when registered) + agentmixer corr, 10 seeds,
#         the matrix games' budget (200k steps, 50 threads x 200 steps, 15 epochs), one run at a time
#   cpu:  agentmixer and ail (the comparison the game is about) with 10 seeds, the other methods and the
#         corr variant with 5, at 20k steps of 100 threads x 5 steps (40 updates; the policy-gradient
#         methods have converged by 15k, see the curves), MAVEN, a Q-learner with one replay pass per
#         update, at 100k; feed-forward nets (episodes are one step long, so a GRU only ever sees its
#         zero initial state); one run at a time: ~35 min of one core, ~1 h on a loaded 2-core machine
# The committed result was made with --out results/passage. Writes DIR/runs, DIR/summary.md/.tex (per
# method: exact executed return, gap to the decentralized optimum 1.5, training-policy return, AIL's
# expert-student gap, AgentMixer's IGC violation rate, seeds in the 1.25 trap), DIR/table.md/.tex
# (exact executed return, decentralized_return, with IQM/CI/p-values), DIR/table_eval.md/.tex
# (Monte-Carlo eval return), DIR/curves.png (exact executed return), DIR/curves_training.png (training
# policy's exact expected return), DIR/curves_corr.png, DIR/curves_maven.png (its own budget), DIR/COMMAND.txt
# and DIR/run_logs (every run's progress.csv, config.json and meta.json; the tables and plots can be
# remade from them, see results/README.md).
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args passage "$@"

ALGORITHMS=(agentmixer ail mappo mappo_full mat armappo)
with_maven=false
if "$PYTHON" -c "import sys; from onpolicy.algorithms import ALGORITHMS; sys.exit('maven' not in ALGORITHMS)"; then
  with_maven=true
fi
CORR_FLAGS=(--pm_noise_dim 4 --mixer_lr 5e-3)
FOCUS=(agentmixer ail)  # the failure the game isolates: AIL's imitation against AgentMixer's IGC
PASSAGE=(--env passage --max_parallel 1 --n_training_threads 1)
if [[ $scale == full ]]; then
  SEEDS=1-10 FOCUS_SEEDS=1-10
  PASSAGE+=(--eval_interval 1); PASSAGE_PG=("${PASSAGE[@]}") MAVEN_BUDGET=()
else
  SEEDS=1-5 FOCUS_SEEDS=1-10
  PASSAGE+=(--n_rollout_threads 100 --episode_length 5 --no-use_recurrent_policy)
  PG_BUDGET=(--num_env_steps 20000 --eval_interval 2) MAVEN_BUDGET=(--num_env_steps 100000 --eval_interval 10)
  PASSAGE_PG=("${PASSAGE[@]}" "${PG_BUDGET[@]}")
  note "cpu scale: 20k steps (MAVEN: 100k) of 100 threads x 5 steps (updates of 500 one-step episodes)," \
    "feed-forward networks; 10 seeds for agentmixer and ail, 5 for the others and the corr variant"
fi
OTHERS=(); for algorithm in "${ALGORITHMS[@]}"; do [[ " ${FOCUS[*]} " == *" $algorithm "* ]] || OTHERS+=("$algorithm"); done
main="$scale" corr="${scale}_corr"

grid() {
  sweep "$main" --algorithms "${FOCUS[@]}" --seeds "$FOCUS_SEEDS" "${PASSAGE_PG[@]}"
  sweep "$main" --algorithms "${OTHERS[@]}" --seeds "$SEEDS" "${PASSAGE_PG[@]}"
  sweep "$corr" --algorithms agentmixer --seeds "$SEEDS" "${PASSAGE_PG[@]}" "${CORR_FLAGS[@]}"
  if $with_maven; then sweep "$main" --algorithms maven --seeds "$SEEDS" "${PASSAGE[@]}" "${MAVEN_BUDGET[@]}"; fi
}

report() {
  local methods=() algorithm
  for algorithm in "${ALGORITHMS[@]}"; do methods+=("$algorithm:$main"); done
  methods+=("agentmixer:$corr")
  local tabled=("${methods[@]}"); $with_maven && tabled+=("maven:$main")  # curves: MAVEN has its own x range
  roots_for "${tabled[*]}"
  run_step "$PYTHON" -m eval_scripts.passage_summary "${roots[@]}" --label_experiment --out "$out/summary"
  table table "${tabled[*]}" --label_experiment --candidate "agentmixer:$main" --metric decentralized_return
  table table_eval "${tabled[*]}" --label_experiment --candidate "agentmixer:$main"
  curves curves "${methods[*]}" --label_experiment --metric decentralized_return
  curves curves_training "${methods[*]}" --label_experiment --metric training_expected_return
  curves curves_corr "agentmixer:$main agentmixer:$corr" --label_experiment --metric decentralized_return
  if $with_maven; then curves curves_maven "maven:$main" --metric decentralized_return; fi
}

reproduce
