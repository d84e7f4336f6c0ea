#!/usr/bin/env bash
# Paper appendix Fig. 11: every method on the Climbing matrix game, plus the AgentMixer
# correlation-device variant (a shared random signal into the Policy Modifier, experiment `corr`);
# at full scale also the permuted Climbing game and the penalty game with k = -100.
# usage: bash train_scripts/reproduce_climbing.sh [--scale full|cpu] [--out DIR] [--dry_run] [--report_only] [-- FLAGS...]
#   full: mappo ippo happo mat mat_dec armappo ail agentmixer maven + agentmixer corr, 5 seeds, 1M steps
#         (the authors' Climbing scripts run 1M; the paper's appendix says 200k, a point on the same curves;
#         50 threads x 200 steps, 15 epochs: onpolicy/config.py) on climbing, climbing_permuted and
#         penalty_100, in that order (each game's sweep is seed-major): about 1.5 h of a 2-core machine per
#         game and seed; a rerun resumes a stopped grid. Experiments parity and parity_corr (the earlier
#         200k-step runs, experiments full and full_corr, are kept beside them)
#   cpu:  Climbing only, 3 seeds, 200k steps: ~1 h on 2 cores
# Writes DIR/runs, DIR/table.md/.tex (methods), DIR/table_corr.md/.tex (agentmixer vs its corr variant,
# labelled algorithm:experiment), DIR/curves.png, DIR/curves_corr.png and DIR/COMMAND.txt.
# Paper: only AgentMixer and the centralized MAT reach the optimum 11; the others settle on 7 or less.
set -euo pipefail
source "$(dirname "$0")/reproduce_lib.sh"
parse_reproduce_args climbing "$@"

ALGORITHMS=(mappo ippo happo mat mat_dec armappo ail agentmixer maven)
CORR_FLAGS=(--pm_noise_dim 4 --mixer_lr 5e-3)
if [[ $scale == full ]]; then
  SEEDS=1-5; GAMES=(climbing climbing_permuted penalty_100); BUDGET=(--num_env_steps 1000000)
  main="$PARITY" corr="${PARITY}_corr"
else
  SEEDS=1-3; GAMES=(climbing); BUDGET=()
  note "cpu scale: Climbing only, 3 of the paper's 5 seeds, the appendix's 200k steps (the authors' scripts: 1M)"
  main="$scale" corr="${scale}_corr"
fi

grid() {
  local game
  for game in "${GAMES[@]}"; do  # one game at a time: a stopped grid holds whole games
    sweep "$main" --algorithms "${ALGORITHMS[@]}" --env matrix --scenarios "$game" --seeds "$SEEDS" \
      "${MATRIX_EVAL[@]}" "${BUDGET[@]}"
    sweep "$corr" --algorithms agentmixer --env matrix --scenarios "$game" --seeds "$SEEDS" "${MATRIX_EVAL[@]}" \
      "${BUDGET[@]}" "${CORR_FLAGS[@]}"
  done
}

report() {
  table table "$main"
  table table_corr "$main $corr" --label_experiment --candidate "agentmixer:$corr"
  curves curves "$main"
  curves curves_corr "$main $corr" --label_experiment
}

reproduce
