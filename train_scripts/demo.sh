#!/usr/bin/env bash
# The main demo: AgentMixer vs MAPPO on the Climbing matrix game at the paper's settings
# (200k env steps, 50 threads × 200 steps), 3 seeds each, then a comparison table.
# usage: bash train_scripts/demo.sh [extra training flags]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
out="${DEMO_DIR:-runs/demo}"
"$PYTHON" -m onpolicy.sweep --algorithms agentmixer mappo --env matrix --scenarios climbing --seeds 1-3 \
  --runs_dir "$out" --experiment_name demo --max_parallel 2 "$@"
"$PYTHON" -m eval_scripts.make_tables "$out" --metric eval_episode_return --last_k 1 --out "$out/table"
echo
echo "Climbing optimum is 11 (joint action (0,0)); 7 and 6/5 are the relative-overgeneralization traps."
echo "Per-run curves: $out/matrix/climbing/<algorithm>/demo_seed<k>/progress.csv (eps_ce_gap, expected payoffs)."
