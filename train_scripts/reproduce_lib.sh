# Shared by the paper-reproduction scripts (train_scripts/reproduce_*.sh, one per table/figure).
# A script defines two functions and hands over to `reproduce`:
#   grid    the training runs: `sweep EXPERIMENT SWEEP_ARGS...` calls (or `sweep_in`, `run_step CMD...`)
#   report  the outputs: `table`, `curves`, `combine_tables` calls
#   source "$(dirname "$0")/reproduce_lib.sh"; parse_reproduce_args NAME "$@"; ...; reproduce
# Every script takes: --scale full|cpu (default cpu; a script may add scales of its own), --out DIR (default results/reproduce/NAME), --dry_run,
# --report_only (tables and plots from the runs finished so far, e.g. the committed logs of a grid still in progress),
# and `-- FLAGS...`, appended to every sweep command line (training flags such as --num_env_steps,
# or sweep options such as --max_parallel 8 / --backend ray, which override the script's).
script_file="$(realpath "$0")"
invoked_from="$PWD"  # --out is relative to where the script was started, not the repo root
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # cd to the repo root; PYTHON

# Experiment names of the runs at the settings-parity defaults (docs/settings_parity.md; the code of
# 2026-12-05 on). The paper-protocol runs made before it (experiments full, paper_*, paper-cpu_*) keep
# their names and logs, so old and new sit side by side in the same run_logs.
PARITY=parity
# Scales every script has; a script adds its own (SCALES+=(paper-cpu)) before parse_reproduce_args.
SCALES=(full cpu)
# Local runs at once at cpu scale (the budgets below assume a 2-core machine); full scale leaves
# the sweep's default (the CPU count).
CPU_MAX_PARALLEL=2
# A matrix-game evaluation is 10 one-step episodes: evaluating every update (10k steps) is free and
# gives 20-point curves over 200k steps; the tables average the last 5 (the last 50k steps).
MATRIX_EVAL=(--eval_interval 1)
# Predator-prey at cpu scale (reproduce_predator_prey.sh and reproduce_ail_vs_agentmixer.sh share these
# runs): 300k of the 1M steps, evaluation every 50k steps; its runs were made with 10 eval envs (10
# episodes each, the same 100 episodes' distribution as the default 100 envs x 1), kept so they stay valid.
PREDATOR_PREY_CPU_BUDGET=(--num_env_steps 300000 --eval_interval 5 --n_eval_rollout_threads 10)

die() { echo "error: $*" >&2; exit 2; }

usage() {  # the calling script's header comment
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$script_file"
}

absolute_path() { [[ "$1" == /* ]] && echo "$1" || echo "$invoked_from/$1"; }

# parse_reproduce_args NAME ARG...: sets scale, out, dry_run (true/false), extra_flags (after --),
# reproduce_name and reproduce_command (the invocation, shell-quoted, for COMMAND.txt).
parse_reproduce_args() {
  reproduce_name="$1"; shift
  local valid_scales; printf -v valid_scales '%s, ' "${SCALES[@]}"; valid_scales="${valid_scales%, }"
  reproduce_command="cd $(quoted "$invoked_from") && PYTHON=$(quoted "$PYTHON") $(quoted bash "$0" "$@")"
  scale=cpu; out="$PWD/results/reproduce/$reproduce_name"; dry_run=false; report_only=false; extra_flags=()
  while (($#)); do
    case "$1" in
      --scale) (($# >= 2)) || die "--scale needs a value, one of: $valid_scales"; scale="$2"; shift 2 ;;
      --scale=*) scale="${1#*=}"; shift ;;
      --out) (($# >= 2)) || die "--out needs a directory"; out="$(absolute_path "$2")"; shift 2 ;;
      --out=*) out="$(absolute_path "${1#*=}")"; shift ;;
      --dry_run) dry_run=true; shift ;;
      --report_only) report_only=true; shift ;;
      -h|--help) usage; exit 0 ;;
      --) shift; extra_flags=("$@"); break ;;
      *) die "unknown option '$1'; valid: --scale SCALE ($valid_scales), --out DIR, --dry_run, --report_only, --help, -- FLAGS..." ;;
    esac
  done
  [[ " ${SCALES[*]} " == *" $scale "* ]] || die "--scale '$scale' is not valid; choose one of: $valid_scales"
  notes=()
  failures=()
}

# note TEXT: a line for COMMAND.txt and the console (e.g. what the cpu scale leaves out).
note() { notes+=("$*"); echo "note: $*"; }

# mode: check (validate every sweep's flags, launch nothing), plan (--dry_run: print what would run),
# run (for real). `reproduce` walks `grid` in check mode first so a typo in the last sweep cannot
# surface after hours of the first.
mode=plan
made_reports=0  # counted by report(); read by --report_only

quoted() { local text; printf -v text '%q ' "$@"; echo "${text% }"; }

# run_step CMD...: print it; in run mode log it to COMMAND.txt and run it, remembering a failure
# (later steps still run: a failed plot should not hide the table).
run_step() { run_logged "" "$@"; }

# run_logged LOG CMD...: run_step that also copies the command's output to the file LOG.
run_logged() {
  local log="$1"; shift
  [[ $mode == check ]] && return 0
  local shown; shown="$(quoted "$@")${log:+ | tee $(quoted "$log")}"
  echo "+ $shown"
  [[ $mode == run ]] || return 0
  echo "$shown" >>"$out/COMMAND.txt"
  if [[ -n $log ]]; then "$@" | tee "$log"; else "$@"; fi || failures+=("$(quoted "$@")")
}

# homes: the reproduction folders whose runs/ this script sweeps into and reports from: its own $out and,
# through sweep_in, another reproduction's whose grid already holds the runs (a run is trained once).
homes=()

# sweep EXPERIMENT SWEEP_ARGS...: one `python -m onpolicy.sweep` grid under $out/runs, named
# EXPERIMENT (the run dirs are <env>/<scenario>/<algorithm>/<EXPERIMENT>_seed<k>, so variants that
# differ only in a flag, like --penalty, need their own EXPERIMENT).
sweep() { sweep_in "$out" "$@"; }

# sweep_in HOME EXPERIMENT SWEEP_ARGS...: that sweep under HOME/runs. HOME's committed run_logs go into
# HOME/runs first (finished runs are skipped), and the sweep copies each run's logs to HOME/run_logs the
# moment it finishes, so an interrupted reproduction keeps every run finished before the interruption.
sweep_in() {
  local home="$1" experiment="$2"; shift 2
  [[ " ${homes[*]} " == *" $home "* ]] || homes+=("$home")
  local parallel=(); [[ $scale == *cpu ]] && parallel=(--max_parallel "$CPU_MAX_PARALLEL")
  local cmd=("$PYTHON" -m onpolicy.sweep --runs_dir "$home/runs" --save_logs_to "$home/run_logs"
             --experiment_name "$experiment" "${parallel[@]}" "$@" "${extra_flags[@]}")
  restore_run_logs "$home"
  case $mode in
    check) "${cmd[@]}" --dry_run >/dev/null || die "sweep $experiment: bad flags (see above); nothing launched" ;;
    plan) echo "+ $(quoted "${cmd[@]}") --dry_run"; "${cmd[@]}" --dry_run ;;
    run)
      quoted "${cmd[@]}" >>"$out/COMMAND.txt"
      echo "+ $(quoted "${cmd[@]}")"
      local rc=0; "${cmd[@]}" || rc=$?
      ((rc == 0)) || failures+=("sweep $experiment (exit $rc; the failed runs' train.log are listed above)") ;;
  esac
}

# roots_for SELECTION: sets `roots`, the run-dir glob patterns (expanded by make_tables/plot_curves,
# not by bash) in every home of each space-separated EXPERIMENT, ALGORITHM:EXPERIMENT for one
# algorithm's runs, or SCENARIO/ALGORITHM:EXPERIMENT for its runs on one scenario (an experiment that
# spans several games).
roots_for() {
  local items item home scenario; read -ra items <<<"$1"
  roots=()
  for home in "${homes[@]}"; do
    for item in "${items[@]}"; do
      scenario="*"
      if [[ $item == */* ]]; then scenario="${item%%/*}" item="${item#*/}"; fi
      if [[ $item == *:* ]]; then
        roots+=("$home/runs/*/$scenario/${item%%:*}/${item#*:}_seed*")
      else
        roots+=("$home/runs/*/$scenario/*/${item}_seed*")
      fi
    done
  done
}

# no_runs_yet NAME: with --report_only, true (and says so) when none of `roots` holds a run yet: a grid in
# progress has no runs of its later experiments, which is no failure.
no_runs_yet() {
  $report_only && [[ $mode == run ]] || return 1
  local root; for root in "${roots[@]}"; do compgen -G "$root/progress.csv" >/dev/null && return 1; done
  echo "skip $1: no finished runs yet"
}

# table STEM SELECTION OPTION...: $out/STEM.md and .tex via eval_scripts.make_tables on those runs.
table() {
  local stem="$1"; roots_for "$2"; shift 2
  no_runs_yet "$stem" && return 0
  made_reports=$((made_reports + 1))
  run_step "$PYTHON" -m eval_scripts.make_tables "${roots[@]}" "$@" --out "$out/$stem"
}

# curves NAME SELECTION OPTION...: $out/NAME.png via eval_scripts.plot_curves on those runs.
curves() {
  local name="$1"; roots_for "$2"; shift 2
  no_runs_yet "$name" && return 0
  run_step "$PYTHON" -m eval_scripts.plot_curves "${roots[@]}" "$@" --out "$out/$name.png"
}

# combine_tables STEM VARIANT...: $out/STEM.md/.tex = $out/table_VARIANT.md/.tex one after another, each
# under a heading (for variants the runs cannot tell apart by task, e.g. predator-prey penalties).
combine_tables() {
  local stem="$1"; shift
  [[ $mode == check ]] && return 0
  echo "+ combine $(printf 'table_%s ' "$@")into $out/$stem.md and $out/$stem.tex"
  [[ $mode == run ]] || return 0
  local variant
  for variant; do  # a variant whose table failed or has no runs yet is left out
    if [[ -f "$out/table_$variant.md" ]]; then printf '## %s\n\n%s\n\n' "$variant" "$(<"$out/table_$variant.md")"; fi
  done >"$out/$stem.md"
  for variant; do
    if [[ -f "$out/table_$variant.tex" ]]; then printf '%% %s\n%s\n\n' "$variant" "$(<"$out/table_$variant.tex")"; fi
  done >"$out/$stem.tex"
}

# report_variants VARIANT...: reports for experiments "<scale>_<VARIANT>" that share their tasks (they
# differ only in a flag, like --penalty), so each gets its own table_VARIANT and curves_VARIANT;
# table.md/.tex stacks the tables and curves.png overlays all, labelled algorithm:experiment.
# A single variant gets table and curves directly.
report_variants() {
  if (($# == 1)); then
    table table "${scale}_$1"
    curves curves "${scale}_$1"
    return 0
  fi
  local variant experiments=()
  for variant; do
    table "table_$variant" "${scale}_$variant"
    curves "curves_$variant" "${scale}_$variant"
    experiments+=("${scale}_$variant")
  done
  combine_tables table "$@"
  curves curves "${experiments[*]}" --label_experiment
}

# sc2_available: smacv2 importable and StarCraft II where pysc2 looks ($SC2PATH, else ~/StarCraftII).
sc2_available() { [[ -d "${SC2PATH:-$HOME/StarCraftII}" ]] && "$PYTHON" -c "import smacv2" 2>/dev/null; }

write_command_txt() {
  local head; head="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  # Results (this script's and others') are not code: only other changes make the commit inexact.
  local not_code=(":(exclude)results"); [[ $out == "$PWD"/* ]] && not_code+=(":(exclude)$out")
  [[ -n "$(git status --porcelain -- . "${not_code[@]}" 2>/dev/null)" ]] && head+=" (working tree has uncommitted changes)"
  [[ -s "$out/COMMAND.txt" ]] && echo >>"$out/COMMAND.txt"  # a re-run (resuming runs) adds a block
  {
    echo "# $reproduce_name, --scale $scale, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "$reproduce_command"
    echo "# git rev-parse HEAD: $head"
    local line; for line in "${notes[@]}"; do echo "# note: $line"; done
    echo "# commands run:"
  } >>"$out/COMMAND.txt"
}

# restore_run_logs HOME: a fresh clone has HOME/run_logs (committed) but no HOME/runs; copying the logs
# back lets the sweep see which runs finished (progress.csv at the full budget) and launch only the
# rest. Done before the flags are checked (the check refuses a finished run of another config).
restore_run_logs() {
  local home="$1"
  [[ -d $home/run_logs ]] || return 0
  [[ $mode == check ]] || echo "+ copy the committed logs of $home/run_logs into $home/runs (finished runs are not run again)"
  [[ $mode == plan ]] && return 0
  mkdir -p "$home/runs" && cp -rn "$home/run_logs/." "$home/runs/"
}

# reproduce: validate the whole grid, then run it and the report (or, with --dry_run, print both).
reproduce() {
  if $dry_run; then
    echo "dry run: $reproduce_name at --scale $scale into $out (nothing is launched or written)"
    mode=plan; grid; report
    return 0
  fi
  mode=check; grid  # also copies the committed logs into runs/
  mkdir -p "$out"
  $report_only && note "--report_only: tables and plots of the runs finished so far; nothing trained"
  write_command_txt
  mode=run made_reports=0
  $report_only || grid
  report
  if $report_only && ((made_reports == 0)); then  # nothing at this scale: name the experiments that are there
    local found; found=$(compgen -G "$out/runs/*/*/*/*_seed*" | sed 's|.*/||; s|_seed[0-9]*$||' | sort -u | paste -sd ' ')
    die "--report_only: no finished runs of --scale $scale in $out/runs (experiments there: ${found:-none}); pass the --scale that wrote them"
  fi
  if ((${#failures[@]})); then
    printf 'FAILED: %s\n' "${failures[@]}" >&2
    exit 1
  fi
  echo "done: $out (COMMAND.txt records how)"
}
