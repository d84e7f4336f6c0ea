#!/usr/bin/env bash
# Beyond the paper (issue 33): AgentMixer variants whose decentralized policies act as the joint policy does.
# Each variant is an experiment <prefix>_<variant> of agentmixer:
#   authors          the paper's form as the authors ran it (the default; no flag)
#   strict           --igc_strict: every non-mode joint logit capped below the mode's
#   strict_warm      the same at T = 1 throughout (--temperature_schedule constant), not the authors' 0.1 -> 1 rise
#   authors_warm     the authors' form at T = 1 throughout: the control that tells the schedule's effect from the cap's
#   consistency<c>   --igc_consistency_coef c: c · KL(stop-grad π_joint,i ‖ π_i) in the actors' loss (c = 0.1, 1, 10)
#   mode_preserving  --igc_mode_preserving: ε scales each action's margin below the individual mode, never closes it
#   gumbel           --pm_gumbel_noise: a sampled Gumbel draw (stored for PPO) under the PM's ε
#   mode_preserving_warm_pm_warmup  mode_preserving at T = 1 whose PM does not learn for the first 30 % of the run
#                    (--pm_warmup 0.3): the trap mechanism test (reproduce_trap_mechanism.sh) found the PM's early
#                    learning behind the trap; with h = 0 this ε gives back the individual policy exactly, where the
#                    strict cap sharpens a near-uniform policy (each non-mode logit ~0.7 below the mode)
#   agent_ratio_warm  the authors' form at T = 1 with PPO clipping each agent's own ratio (--no-joint_ratio), as
#                    MAPPO does: the trap mechanism test found the joint-ratio clip behind the trap when the PM learns
#   mode_preserving_agent_ratio_warm  mode_preserving at T = 1 with each agent's ratio clipped: IGC by construction,
#                    without the joint-ratio clip
#   strict_agent_ratio_warm  the strict cap at T = 1 with each agent's ratio clipped: the cap leaves the authors' ε
#                    free below the mode (the ε whose per-agent clip escaped the trap on 7 of 7 screen seeds), where
#                    the mode-preserving ε reshapes it
# usage: bash train_scripts/reproduce_igc_variants.sh [--scale full|screen|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   cpu:    the passage game (paper Fig. 1) at reproduce_passage.sh's cpu settings, 10 seeds per variant:
#           what each variant does to coordination, in minutes
#   screen: predator-prey at the authors' protocol (1M steps), penalties -1 then 0, 3 seeds per variant;
#           the authors' form and MAPPO are the settings-parity runs of reproduce_predator_prey.sh
#           (experiments parity_penalty<P>, same seeds; $PREDATOR_PREY_HOME, default results/reproduce/predator_prey),
#           run there if not yet finished. About 25 min of
#           a 2-core machine per AgentMixer run, two at once
#   full:   as screen with 5 seeds, then Climbing and penalty_100 at 1M steps, 5 seeds; there the authors' form is
#           reproduce_climbing.sh's parity run of agentmixer (experiment parity, same seeds and flags; $CLIMBING_HOME,
#           default results/reproduce/climbing), run there if not yet finished. About 35 min a run, two at once
# $IGC_VARIANTS (space-separated, default all) runs and reports a subset of the variants, in its order.
# Writes DIR/runs, DIR/run_logs, DIR/summary_passage.md (eval_scripts.passage_summary), DIR/summary_penalty<P>.md
# (eval_scripts.igc_summary: executed vs trained return, their gap, IGC, trapped seeds, p against both references), per task DIR/table_<task>.md/.tex (the decentralized evaluation return;
# p-values: each variant against the others), DIR/train_<task>.md (the joint policy's training-episode
# return: its gap to the table is what IGC loses), DIR/igc_<task>.md (IGC violation rate), DIR/curves_<task>.png,
# and DIR/COMMAND.txt.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
SCALES+=(screen)
parse_reproduce_args igc_variants "$@"

declare -A VARIANT_FLAGS=(
  [authors]="" [strict]="--igc_strict" [strict_warm]="--igc_strict --temperature_schedule constant"
  [authors_warm]="--temperature_schedule constant"
  [mode_preserving]="--igc_mode_preserving" [gumbel]="--pm_gumbel_noise"
  [consistency0.1]="--igc_consistency_coef 0.1" [consistency1]="--igc_consistency_coef 1"
  [consistency10]="--igc_consistency_coef 10"
  [mode_preserving_warm_pm_warmup]="--igc_mode_preserving --temperature_schedule constant --pm_warmup 0.3"
  [agent_ratio_warm]="--no-joint_ratio --temperature_schedule constant"
  [mode_preserving_agent_ratio_warm]="--igc_mode_preserving --no-joint_ratio --temperature_schedule constant"
  [strict_agent_ratio_warm]="--igc_strict --no-joint_ratio --temperature_schedule constant"
)
# The passage screen's order of interest: IGC held by construction first (strict, strict_warm, mode_preserving), then the
# variants that moved the passage result (consistency10, gumbel), then those identical there to the authors' form.
# authors_warm (a control, not an IGC variant) comes after strict_warm; the variants added after the screen's first
# round last, in the order they were added.
VARIANTS=(strict strict_warm authors_warm mode_preserving consistency10 gumbel consistency1 consistency0.1
          mode_preserving_warm_pm_warmup agent_ratio_warm mode_preserving_agent_ratio_warm strict_agent_ratio_warm)
if [[ -n "${IGC_VARIANTS:-}" ]]; then  # a subset, in the given order (e.g. IGC_VARIANTS="strict mode_preserving")
  read -ra chosen <<<"$IGC_VARIANTS"
  for variant in "${chosen[@]}"; do
    [[ " ${VARIANTS[*]} " == *" $variant "* ]] || die "IGC_VARIANTS: unknown variant '$variant'; valid: ${VARIANTS[*]}"
  done
  VARIANTS=("${chosen[@]}")
fi
# Where the parity runs of the paper's methods live (reproduce_predator_prey.sh's default --out).
PREDATOR_PREY_HOME="${PREDATOR_PREY_HOME:-$PWD/results/reproduce/predator_prey}"
# and of the matrix games (reproduce_climbing.sh's default --out): its full scale runs this grid's authors' form.
CLIMBING_HOME="${CLIMBING_HOME:-$PWD/results/reproduce/climbing}"
prefix=$PARITY

if [[ $scale == cpu ]]; then
  TASKS=(passage)
  PASSAGE=(--env passage --seeds 1-10 --max_parallel 1 --n_training_threads 1 --n_rollout_threads 100
           --episode_length 5 --no-use_recurrent_policy --num_env_steps 20000 --eval_interval 2)
  note "cpu scale: the passage game only (reproduce_passage.sh's cpu settings), 10 seeds per variant"
else
  if [[ $scale == full ]]; then SEEDS=1-5 TASKS=(penalty-1 penalty0 climbing penalty_100)
  else SEEDS=1-3 TASKS=(penalty-1 penalty0); fi
  [[ $scale == full ]] || note "screen scale: predator-prey penalties -1 and 0, seeds $SEEDS"
fi

# predator_prey_task TASK: true for predator-prey's penalty<P> tasks (penalty_100 is a matrix game).
predator_prey_task() { [[ $1 =~ ^penalty-?[0-9.]+$ ]]; }
# A *_warm variant with a base variant (strict_warm: strict) is that variant where the default temperature schedule
# is already constant at T = 1 (every task but predator-prey), so it is not run there.
same_as_base() { [[ $1 == *_warm && -v "VARIANT_FLAGS[${1%_warm}]" ]] && ! predator_prey_task "$2"; }

# variant_sweep EXPERIMENT_SUFFIX VARIANT SWEEP_ARGS...: agentmixer with that variant's flags.
variant_sweep() {
  local task="$1" variant="$2"; shift 2
  local flags; read -ra flags <<<"${VARIANT_FLAGS[$variant]}"
  sweep "${prefix}_${variant}_$task" --algorithms agentmixer "$@" "${flags[@]}"
}

grid() {
  local task variant penalty
  for task in "${TASKS[@]}"; do
    if [[ $task == passage ]]; then
      for variant in authors "${VARIANTS[@]}"; do
        same_as_base "$variant" passage || variant_sweep passage "$variant" "${PASSAGE[@]}"
      done
    elif predator_prey_task "$task"; then
      penalty=${task#penalty}
      sweep_in "$PREDATOR_PREY_HOME" "${prefix}_$task" --algorithms agentmixer mappo --env predator_prey \
        --seeds "$SEEDS" --max_parallel 2 --penalty "$penalty"
      for variant in "${VARIANTS[@]}"; do
        variant_sweep "$task" "$variant" --env predator_prey --seeds "$SEEDS" --max_parallel 2 --penalty "$penalty"
      done
    else  # the authors' form: reproduce_climbing.sh's sweep of that game for agentmixer alone (same run dirs)
      sweep_in "$CLIMBING_HOME" "$prefix" --algorithms agentmixer --env matrix --scenarios "$task" --seeds "$SEEDS" \
        "${MATRIX_EVAL[@]}" --num_env_steps 1000000
      for variant in "${VARIANTS[@]}"; do
        same_as_base "$variant" "$task" && continue
        variant_sweep "$task" "$variant" --env matrix --scenarios "$task" --seeds "$SEEDS" --max_parallel 2 \
          --num_env_steps 1000000 "${MATRIX_EVAL[@]}"
      done
    fi
  done
}

report() {
  local task variant selection candidate metric eval_metric
  for task in "${TASKS[@]}"; do
    selection=""
    for variant in "${VARIANTS[@]}"; do
      same_as_base "$variant" "$task" || selection+=" agentmixer:${prefix}_${variant}_$task"
    done
    if predator_prey_task "$task"; then  # the authors' form and MAPPO: the parity runs of the paper's methods
      selection="agentmixer:${prefix}_$task mappo:${prefix}_$task$selection"
      candidate="agentmixer:${prefix}_$task"
    else  # the climbing reproduction's experiment holds every game: only this one's runs
      selection="$task/agentmixer:$prefix$selection"
      candidate="agentmixer:$prefix"
    fi
    eval_metric=()
    if [[ $task == passage ]]; then  # exact executed return, gap to the joint policy, IGC, seeds in the trap
      eval_metric=(--metric decentralized_return)
      roots_for "$selection"
      no_runs_yet "summary_$task" || run_step "$PYTHON" -m eval_scripts.passage_summary "${roots[@]}" \
        --label_experiment --out "$out/summary_$task"
    elif predator_prey_task "$task"; then  # executed vs trained return, IGC, trapped seeds, p against both
      roots_for "$selection"
      # the return range spans every run of the paper's methods on this task (at parity and before), not just these
      no_runs_yet "summary_$task" || run_step "$PYTHON" -m eval_scripts.igc_summary "${roots[@]}" \
        --label_experiment --references "$candidate" "mappo:${prefix}_$task" \
        --range_runs "$PREDATOR_PREY_HOME/runs/*/*/*/*_${task}_seed*" --out "$out/summary_$task"
    fi
    table "table_$task" "$selection" --label_experiment --candidate "$candidate" "${eval_metric[@]}"
    # the joint (training) policy's return, in each env's own column
    if [[ $task == passage ]]; then metric=(--metric training_expected_return)
    elif predator_prey_task "$task"; then metric=(--metric train_episode_return)
    else metric=(--metric training_expected_payoff); fi
    table "train_$task" "$selection" --label_experiment "${metric[@]}"
    table "igc_$task" "${selection/mappo:${prefix}_$task /}" --label_experiment --metric igc_violation_rate
    curves "curves_$task" "$selection" --label_experiment "${eval_metric[@]}"
  done
}

reproduce
