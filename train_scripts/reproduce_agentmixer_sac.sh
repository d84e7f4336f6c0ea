#!/usr/bin/env bash
# Paper Fig. 13 (issue 34): AgentMixer-SAC, the off-policy AgentMixer, against MASAC (the same soft
# actor-critic without the Policy Modifier: the PM's share of any difference), beside the PPO AgentMixer
# and MAPPO read up to the same env steps.
# usage: bash train_scripts/reproduce_agentmixer_sac.sh [--scale full|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: HalfCheetah 6x1 then Ant 4x2 (obsk 0), 1M env steps, 3 seeds each of agentmixer_sac and masac
#         (Ant with HARL's Ant settings, as train_mujoco_sac.sh). A GPU job: on a 2-core CPU a gradient step
#         of agentmixer_sac took ~0.4 s (the Policy Modifier on 1000-transition batches; masac ~3x less), so
#         1M steps (50k gradient steps) are 5-10 h per agentmixer_sac run
#   cpu:  HalfCheetah 6x1, 200k env steps, 2 seeds: early learning only
# The PPO runs are reproduce_mujoco.sh's (--scale paper-cpu: 2M steps, 3 seeds) from $MUJOCO_HOME/run_logs
# (default results/reproduce/mujoco), experiment $PPO_EXPERIMENT (default parity-cpu, the settings-parity
# grid; paper-cpu for the earlier one); nothing is trained for them here.
# Writes per robot DIR/table_<robot>.md/.tex (last-5-evaluation mean ± std, IQM, one-sided Welch p of
# agentmixer_sac > each method, every run read up to the SAC budget), DIR/curves_<robot>.png,
# DIR/runtime.md/.tex (training seconds per run, eval_scripts.runtime), DIR/runs, DIR/run_logs, DIR/COMMAND.txt.
# Paper (Fig. 13): AgentMixer benefits from strong single-agent algorithms; AgentMixer-SAC learns as well as
# or better than AgentMixer-PPO.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args agentmixer_sac "$@"

MUJOCO_HOME="${MUJOCO_HOME:-$PWD/results/reproduce/mujoco}"
PPO_EXPERIMENT="${PPO_EXPERIMENT:-${PARITY}-cpu}"
ALGORITHMS=(agentmixer_sac masac)
if [[ $scale == full ]]; then
  TASKS=(HalfCheetah:6x1 Ant:4x2); SEEDS=1-3; STEPS=1000000
else
  TASKS=(HalfCheetah:6x1); SEEDS=1-2; STEPS=200000
  note "cpu scale: HalfCheetah 6x1 only, 2 seeds, 200k env steps: early learning only"
fi
# HARL's Ant 4x2 HASAC config differs from its HalfCheetah one (train_mujoco_sac.sh says which)
declare -A TASK_FLAGS=([HalfCheetah]="" [Ant]="--n_step 5 --critic_lr 3e-4")

grid() {
  local task robot conf extra
  for task in "${TASKS[@]}"; do
    robot=${task%%:*} conf=${task#*:}
    read -ra extra <<<"${TASK_FLAGS[$robot]}"
    sweep "${scale}_$conf" --algorithms "${ALGORITHMS[@]}" --env mujoco --scenarios "$robot" --agent_conf "$conf" \
      --agent_obsk 0 --seeds "$SEEDS" --num_env_steps "$STEPS" "${extra[@]}"
  done
}

report() {
  local task robot conf algorithm ppo
  for task in "${TASKS[@]}"; do
    robot=${task%%:*} conf=${task#*:}
    roots_for "agentmixer_sac:${scale}_$conf masac:${scale}_$conf"
    no_runs_yet "table_$robot" && continue
    ppo=()
    for algorithm in agentmixer mappo; do
      ppo+=("$MUJOCO_HOME/run_logs/mujoco/$robot/$algorithm/${PPO_EXPERIMENT}_${conf}_seed*")
    done
    made_reports=$((made_reports + 1))
    run_step "$PYTHON" -m eval_scripts.make_tables "${roots[@]}" "${ppo[@]}" --max_env_steps "$STEPS" \
      --candidate agentmixer_sac --out "$out/table_$robot"
    run_step "$PYTHON" -m eval_scripts.plot_curves "${roots[@]}" "${ppo[@]}" --max_env_steps "$STEPS" \
      --out "$out/curves_$robot.png"
  done
  roots_for "${TASKS[*]/#*:/${scale}_}"
  no_runs_yet runtime || run_step "$PYTHON" -m eval_scripts.runtime "${roots[@]}" --out "$out/runtime"
}

reproduce
