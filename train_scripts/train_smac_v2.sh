#!/usr/bin/env bash
# SMACv2 (StarCraft II, 10gen_<race> maps) at the paper's settings (appendix F: 10M steps, 50 threads × 200
# steps, lr 5e-4, entropy 0.01, 1 × 64 recurrent, 5 epochs, 1 mini-batch; win rate over 32 eval episodes).
# Needs StarCraft II + smacv2: bash train_scripts/install_sc2.sh. Every env is one SC2 process.
# usage: bash train_scripts/train_smac_v2.sh [algorithm] [race] [units] [seeds...] [-- extra flags]
#   bash train_scripts/train_smac_v2.sh mappo protoss 5v5 1 2 3
#   bash train_scripts/train_smac_v2.sh agentmixer zerg 10v10 1 -- --n_workers 10
set -euo pipefail
source "$(dirname "$0")/lib.sh"
algo="${1:-mappo}"; race="${2:-protoss}"; units="${3:-5v5}"; shift $(( $# < 3 ? $# : 3 ))
split_seeds_and_flags "$@"
# Without the game or the smacv2 package, stop here with one line saying how to install them
# (the training process would die in its env workers with a worker traceback).
"$PYTHON" - <<'PY' || exit 2
import sys
from onpolicy.envs.smacv2 import _import_wrapper
try:
    _import_wrapper()
except (ImportError, RuntimeError) as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)
PY
extra=()
# The authors' AgentMixer SMACv2 settings: y = 0.95, mixer lr 5e-5 (their scripts also used
# 25 threads × 400 steps; pass `-- --n_rollout_threads 25 --episode_length 400` to match them).
[[ "$algo" == "agentmixer" ]] && extra+=(--mix_std_y_coef 0.95 --mixer_lr 5e-5)
for seed in "${seeds[@]}"; do
  "$PYTHON" -m onpolicy.train --env_name smacv2 --scenario_name "$race" --units "$units" --algorithm_name "$algo" \
    --experiment_name paper --seed "$seed" --num_env_steps 10000000 --n_rollout_threads 50 --episode_length 200 \
    --lr 5e-4 --critic_lr 5e-4 --entropy_coef 0.01 --hidden_size 64 --layer_N 1 --use_recurrent_policy \
    --ppo_epoch 5 --num_mini_batch 1 --eval_episodes 32 "${extra[@]}" "${flags[@]}"
done
