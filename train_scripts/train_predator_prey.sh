#!/usr/bin/env bash
# Predator-prey with miscapture penalty (5×5, 2 predators, 1 prey, 128-step episodes).
# usage: bash train_scripts/train_predator_prey.sh [algorithm] [penalty] [seeds...] [-- extra flags]
#   bash train_scripts/train_predator_prey.sh agentmixer -1 1 2 3 -- --num_env_steps 1000000
set -euo pipefail
source "$(dirname "$0")/lib.sh"
algo="${1:-mappo}"; penalty="${2:--1}"; shift $(( $# < 2 ? $# : 2 ))
split_seeds_and_flags "$@"
extra=()
# The authors' AgentMixer predator-prey settings (also our predator-prey defaults, spelled out): y = 0.95,
# T rising along a cosine from 0.1 to 1.0 by 2/3 of the run, then 1.0 (their --decay_id 1 --decay_factor 1.5).
[[ "$algo" == "agentmixer" ]] && extra+=(--mix_std_y_coef 0.95 --temperature_schedule cosine_rise \
  --temperature 1.0)
for seed in "${seeds[@]}"; do
  "$PYTHON" -m onpolicy.train --env_name predator_prey --algorithm_name "$algo" --penalty "$penalty" \
    --experiment_name "penalty${penalty}" --seed "$seed" --n_rollout_threads 50 --episode_length 200 \
    --lr 5e-4 --critic_lr 5e-4 --entropy_coef 0.01 --hidden_size 64 --layer_N 1 --ppo_epoch 15 \
    --num_mini_batch 1 "${extra[@]}" "${flags[@]}"
done
