#!/usr/bin/env bash
# Multi-Agent MuJoCo with the off-policy algorithms: AgentMixer-SAC (the paper's Fig. 13) and MASAC, its
# ablation without the Policy Modifier. Where the paper is silent the defaults are HARL's tuned HASAC settings
# for HalfCheetah 6x1 (docs/method.md, section 7; 10M steps as HARL's tuned runs); Ant 4x2 takes HARL's
# Ant-v2-4x2 tuned n_step and critic lr.
# Needs the optional extra: pip install -e .[mujoco]
# usage: bash train_scripts/train_mujoco_sac.sh [agentmixer_sac|masac] [scenario] [agent_conf] [seeds...] [-- extra flags]
#   bash train_scripts/train_mujoco_sac.sh agentmixer_sac HalfCheetah 6x1 1 2 3
#   bash train_scripts/train_mujoco_sac.sh masac Ant 4x2 1 2 3 -- --num_env_steps 1000000   # issue 34's budget
set -euo pipefail
source "$(dirname "$0")/lib.sh"
algo="${1:-agentmixer_sac}"; scenario="${2:-HalfCheetah}"; agent_conf="${3:-6x1}"; shift $(( $# < 3 ? $# : 3 ))
split_seeds_and_flags "$@"
if [[ "$algo" != "agentmixer_sac" && "$algo" != "masac" ]]; then
  echo "error: $0 runs agentmixer_sac or masac, not '$algo' (the PPO methods: train_scripts/train_mujoco.sh)" >&2
  exit 2
fi
extra=()
# HARL tuned_configs/mamujoco/Ant-v2-4x2/hasac/config.json@5e4f7cf: n_step 5, critic lr 3e-4.
[[ "$scenario" == "Ant" && "$agent_conf" == "4x2" ]] && extra+=(--n_step 5 --critic_lr 3e-4)
for seed in "${seeds[@]}"; do
  # '|' (as in Humanoid 9|8) is awkward in directory names
  "$PYTHON" -m onpolicy.train --env_name mujoco --scenario_name "$scenario" --agent_conf "$agent_conf" \
    --agent_obsk 0 --algorithm_name "$algo" --experiment_name "harl_${agent_conf//|/-}" --seed "$seed" \
    --num_env_steps 10000000 "${extra[@]}" "${flags[@]}"
done
