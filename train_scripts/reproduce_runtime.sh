#!/usr/bin/env bash
# Paper Table 4 (run time): training throughput of every algorithm at the paper's settings, from
# benchmarks/throughput.py (env steps/s; the time for N steps is N / steps/s). Run it on an otherwise
# idle machine: the timings are only as good as the CPU/GPU they get.
# usage: bash train_scripts/reproduce_runtime.sh [--scale full|paper-cpu|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: climbing, predator_prey, halfcheetah_6x1, smax_5_units; 5 timed updates each
#   cpu:  climbing, predator_prey; 3 timed updates each: ~5 min on one core
#   paper-cpu: no benchmark: the paper's Table 4 at equal budget from the finished runs of the other
#         reproductions (their committed logs in results/reproduce/*/run_logs): training seconds per run,
#         mean ± std over seeds, per task and experiment, via eval_scripts.runtime -> DIR/table_runs.md/.tex
#   both: mappo ippo happo mat mat_dec armappo ail agentmixer, and maven on the discrete-action tasks
#         (it has no continuous actions: no MuJoCo row); FLAGS go to every run (throughput.py --extra)
# Writes DIR/throughput.md (the benchmark's markdown table), DIR/throughput.log and DIR/throughput_maven.log
# (also a JSON line per run) and DIR/COMMAND.txt. The paper times SMACv2 10gen_zerg, which needs StarCraft II; here SMAX stands in.
# Paper: AgentMixer costs more than MAPPO (the Policy Modifier's extra forward and backward passes).
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
SCALES+=(paper-cpu)
parse_reproduce_args runtime "$@"

ALGORITHMS=(mappo ippo happo mat mat_dec armappo ail agentmixer)
if [[ $scale == full ]]; then
  TASKS=(climbing predator_prey halfcheetah_6x1 smax_5_units); UPDATES=5
  DISCRETE_TASKS=(climbing predator_prey smax_5_units)
elif [[ $scale == cpu ]]; then
  TASKS=(climbing predator_prey); UPDATES=3
  DISCRETE_TASKS=("${TASKS[@]}")
  note "cpu scale: the matrix and predator-prey tasks only (no MuJoCo, no SMAX), 3 timed updates per run"
else
  note "paper-cpu scale: no benchmark; run times of the other reproductions' finished runs, from their logs"
fi

benchmark() {  # benchmark LOG ALGORITHMS... -- TASKS...
  local log="$1"; shift
  local cmd=("$PYTHON" benchmarks/throughput.py --algorithms)
  while [[ $1 != -- ]]; do cmd+=("$1"); shift; done
  shift
  cmd+=(--tasks "$@" --updates "$UPDATES")
  ((${#extra_flags[@]} == 0)) || cmd+=(--extra "${extra_flags[@]}")  # --extra takes the rest of the line
  run_logged "$log" "${cmd[@]}"
}

grid() {
  [[ $scale == paper-cpu ]] && return 0  # the runs are the other reproductions'
  benchmark "$out/throughput.log" "${ALGORITHMS[@]}" -- "${TASKS[@]}"
  benchmark "$out/throughput_maven.log" maven -- "${DISCRETE_TASKS[@]}"
}

report() {  # the markdown table is the block of |-lines the benchmark prints last
  if [[ $scale == paper-cpu ]]; then run_step "$PYTHON" -m eval_scripts.runtime --out "$out/table_runs"; return 0; fi
  [[ $mode == check ]] && return 0
  echo "+ grep '^|' $out/throughput.log $out/throughput_maven.log > $out/throughput.md"
  [[ $mode == run ]] || return 0
  {
    echo "Training env steps/s from benchmarks/throughput.py ($UPDATES timed updates after a warm-up; $(hostname)," \
         "$(nproc) CPUs; any extra flags are in COMMAND.txt). Run time for N env steps ≈ N / (train steps/s)."
    echo
    grep '^|' "$out/throughput.log"
    grep '^| [a-z]' "$out/throughput_maven.log" | grep -v '^| task '  # its rows, without a second header
  } >"$out/throughput.md" || failures+=("no markdown table in $out/throughput.log or throughput_maven.log")
}

reproduce
