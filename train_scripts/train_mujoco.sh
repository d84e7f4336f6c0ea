#!/usr/bin/env bash
# Multi-Agent MuJoCo at the paper's settings (appendix F: 10M steps, 40 threads × 100, 2 × 64, lr 3e-4,
# entropy 0, 5 epochs, agent_obsk 0). Needs the optional extra: pip install -e .[mujoco]
# usage: bash train_scripts/train_mujoco.sh [algorithm] [scenario] [agent_conf] [seeds...] [-- extra flags]
#   bash train_scripts/train_mujoco.sh mappo HalfCheetah 6x1 1 2 3
#   bash train_scripts/train_mujoco.sh agentmixer Humanoid '9|8' 1 -- --n_workers 8
set -euo pipefail
source "$(dirname "$0")/lib.sh"
algo="${1:-mappo}"; scenario="${2:-HalfCheetah}"; agent_conf="${3:-6x1}"; shift $(( $# < 3 ? $# : 3 ))
split_seeds_and_flags "$@"
extra=()
# The authors' AgentMixer MuJoCo settings: mixer lr 3e-5, y = 0.75, sigmoid gain 0.3.
[[ "$algo" == "agentmixer" ]] && extra+=(--mixer_lr 3e-5 --mix_std_y_coef 0.75 --sigmoid_gain 0.3)
for seed in "${seeds[@]}"; do
  # '|' (as in Humanoid 9|8) is awkward in directory names
  "$PYTHON" -m onpolicy.train --env_name mujoco --scenario_name "$scenario" --agent_conf "$agent_conf" \
    --agent_obsk 0 --algorithm_name "$algo" --experiment_name "paper_${agent_conf//|/-}" --seed "$seed" \
    --num_env_steps 10000000 --n_rollout_threads 40 --episode_length 100 --lr 3e-4 --critic_lr 3e-4 \
    --entropy_coef 0.0 --hidden_size 64 --layer_N 2 --ppo_epoch 5 --num_mini_batch 1 "${extra[@]}" "${flags[@]}"
done
