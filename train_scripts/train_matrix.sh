#!/usr/bin/env bash
# Matrix games at the paper's settings (appendix F: 200k steps, 50 threads × 200, 1 × 64, 15 epochs).
# usage: bash train_scripts/train_matrix.sh [algorithm] [scenario] [seeds...] [-- extra flags]
#   bash train_scripts/train_matrix.sh mappo climbing 1 2 3
#   bash train_scripts/train_matrix.sh agentmixer penalty_100 1 -- --use_wandb
set -euo pipefail
source "$(dirname "$0")/lib.sh"
algo="${1:-mappo}"; scenario="${2:-climbing}"; shift $(( $# < 2 ? $# : 2 ))
split_seeds_and_flags "$@"
extra=()
# The authors' AgentMixer Climbing settings (their train_matrix_c.sh; also our matrix defaults): y = 0.5,
# PM lr 5e-4, T = 1 (appendix F's mixer lr 5e-5 is not what their scripts ran).
[[ "$algo" == "agentmixer" ]] && extra+=(--mix_std_y_coef 0.5 --mixer_lr 5e-4 --temperature 1.0)
for seed in "${seeds[@]}"; do
  "$PYTHON" -m onpolicy.train --env_name matrix --scenario_name "$scenario" --algorithm_name "$algo" \
    --experiment_name paper --seed "$seed" --num_env_steps 200000 --n_rollout_threads 50 --episode_length 200 \
    --lr 5e-4 --critic_lr 5e-4 --entropy_coef 0.01 --hidden_size 64 --layer_N 1 --ppo_epoch 15 \
    --num_mini_batch 1 "${extra[@]}" "${flags[@]}"
done
