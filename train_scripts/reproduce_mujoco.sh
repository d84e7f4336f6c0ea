#!/usr/bin/env bash
# Paper Fig. 3 and appendix Fig. 6: Multi-Agent MuJoCo with agent_obsk 0 (each agent sees only its joints).
# Needs the optional extra: pip install -e .[mujoco]
# usage: bash train_scripts/reproduce_mujoco.sh [--scale full|paper-cpu|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: HalfCheetah 6x1, Ant 4x2, Walker2d 2x3 x mappo happo mat agentmixer, 5 seeds, 10M steps
#         (the paper's MA-MuJoCo settings: 40 threads x 100 steps, 2 x 64, lr 3e-4; onpolicy/config.py)
#   paper-cpu: Ant 4x2 then HalfCheetah 6x1 x mappo happo mat_dec agentmixer, 3 seeds, 2M steps (a fifth
#         of the paper's budget; ~9 h on 2 cores, Ant ~6 h and HalfCheetah ~3 h, so several sessions;
#         seed-major sweeps, a rerun resumes)
#   cpu:  HalfCheetah 6x1 only, mappo agentmixer, 2 seeds, 300k steps: ~20 min on 2 cores
# Experiments <prefix>_<agent_conf>: prefix parity (full), parity-cpu (paper-cpu) at the settings-parity defaults;
# the earlier runs (full_*, paper-cpu_*) keep their logs beside them. cpu: cpu_<agent_conf>.
# Writes DIR/runs, DIR/table.md/.tex, DIR/curves.png (a panel per robot) and DIR/COMMAND.txt; paper-cpu
# writes DIR/table_paper-cpu.md/.tex and DIR/curves_paper-cpu.png beside the cpu scale's.
# Paper: AgentMixer above the baselines, by far on Ant; the cpu scale shows only early learning.
# Tasks are Gymnasium-Robotics MaMuJoCo -v5, not the paper's mujoco-py -v2: compare trends, not numbers.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
SCALES+=(paper-cpu)
parse_reproduce_args mujoco "$@"

prefix=$scale
if [[ $scale == full ]]; then
  prefix=$PARITY
  ALGORITHMS=(mappo happo mat agentmixer)
  TASKS=(HalfCheetah:6x1 Ant:4x2 Walker2d:2x3); SEEDS=1-5; BUDGET=()
elif [[ $scale == paper-cpu ]]; then
  prefix=$PARITY-cpu
  ALGORITHMS=(mappo happo mat_dec agentmixer)
  TASKS=(Ant:4x2 HalfCheetah:6x1); SEEDS=1-3; BUDGET=(--num_env_steps 2000000)
  note "paper-cpu scale: Ant 4x2 (the paper's headline task) then HalfCheetah 6x1, 3 seeds, 2M of the 10M steps"
else
  ALGORITHMS=(mappo agentmixer)
  # An evaluation is 8 episodes of 1000 steps; every 10 updates (40k steps) keeps it to ~20% of the time.
  TASKS=(HalfCheetah:6x1); SEEDS=1-2; BUDGET=(--num_env_steps 300000 --eval_interval 10)
  note "cpu scale: HalfCheetah 6x1 only, mappo/agentmixer, 2 seeds, 300k of the 10M steps: early learning only"
fi

grid() {
  local task
  for task in "${TASKS[@]}"; do  # one sweep per robot: the agent partition is a flag, not a scenario
    sweep "${prefix}_${task#*:}" --algorithms "${ALGORITHMS[@]}" --env mujoco --scenarios "${task%%:*}" \
      --agent_conf "${task#*:}" --agent_obsk 0 --seeds "$SEEDS" "${BUDGET[@]}"
  done
}

report() {  # the robots are different tasks (env/scenario), so one table and one figure hold them all
  local task experiments=()
  for task in "${TASKS[@]}"; do experiments+=("${prefix}_${task#*:}"); done
  local suffix=""; [[ $scale == paper-cpu ]] && suffix="_$scale"  # the cpu scale's outputs share the folder
  table "table$suffix" "${experiments[*]}"
  curves "curves$suffix" "${experiments[*]}"
}

reproduce
