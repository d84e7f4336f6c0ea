#!/usr/bin/env bash
# SMAX (JaxMARL's StarCraft-like env, heuristic enemy) at the paper's SMACv2 settings (appendix F:
# 10M steps, 50 threads × 200 steps, lr 5e-4, entropy 0.01, 1 × 64 recurrent, 5 epochs, 1 mini-batch).
# Needs the smax extra: pip install -e ".[smax]".
# usage: bash train_scripts/train_smax.sh [algorithm] [scenario] [seeds...] [-- extra flags]
#   bash train_scripts/train_smax.sh mappo smacv2_5_units 1 2 3
#   bash train_scripts/train_smax.sh agentmixer smacv2_10_units 1 -- --no-use_agent_specific_state
set -euo pipefail
source "$(dirname "$0")/lib.sh"
algo="${1:-mappo}"; scenario="${2:-smacv2_5_units}"; shift $(( $# < 2 ? $# : 2 ))
split_seeds_and_flags "$@"
extra=()
# The authors' AgentMixer SMACv2 settings: y = 0.95, mixer lr 5e-5.
[[ "$algo" == "agentmixer" ]] && extra+=(--mix_std_y_coef 0.95 --mixer_lr 5e-5)
for seed in "${seeds[@]}"; do
  "$PYTHON" -m onpolicy.train --env_name smax --scenario_name "$scenario" --algorithm_name "$algo" \
    --experiment_name paper --seed "$seed" --num_env_steps 10000000 --n_rollout_threads 50 --episode_length 200 \
    --lr 5e-4 --critic_lr 5e-4 --entropy_coef 0.01 --hidden_size 64 --layer_N 1 --use_recurrent_policy \
    --ppo_epoch 5 --num_mini_batch 1 --eval_episodes 32 "${extra[@]}" "${flags[@]}"
done
