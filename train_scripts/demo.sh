#!/usr/bin/env bash
# The main demo: AgentMixer vs MAPPO on the Climbing matrix game at the paper's settings
# (200k env steps, 50 threads × 200 steps), 3 seeds each, plus AgentMixer with a correlation
# device for its Policy Modifier (--pm_noise_dim 4 --mixer_lr 5e-3, see README), then a table.
# About 20 minutes on 2 cores (GRU actors and critics, the authors' setting, are the default).  usage: bash train_scripts/demo.sh [extra training flags]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out="${DEMO_DIR:-runs/demo}"
sweep=("$PYTHON" -m onpolicy.sweep --env matrix --scenarios climbing --seeds 1-3 --runs_dir "$out" --max_parallel 2)
"${sweep[@]}" --algorithms agentmixer mappo --experiment_name paper "$@"
"${sweep[@]}" --algorithms agentmixer --experiment_name corr --pm_noise_dim 4 --mixer_lr 5e-3 "$@"
"$PYTHON" -m eval_scripts.make_tables "$out" --label_experiment --candidate agentmixer:corr \
  --metric eval_episode_return --last_k 1 --out "$out/table"
echo
echo "Climbing's optimum is 11 (joint action (0,0)); 7 and 6/5 are its relative-overgeneralization traps."
echo "Curves and diagnostics (eps_ce_gap, expected payoffs, igc_violation_rate): $out/matrix/climbing/*/*/progress.csv"
