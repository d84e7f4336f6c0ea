# Shared by the train scripts: `source "$(dirname "$0")/lib.sh"` after `set -euo pipefail`.
# Runs from the repo root with the interpreter of `make setup`'s .venv when there is one (else `python`);
# PYTHON overrides it.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi

# split_seeds_and_flags SEED... [-- FLAG...]: sets the arrays `seeds` (default: 1) and `flags`.
split_seeds_and_flags() {
  seeds=(); flags=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do seeds+=("$1"); shift; done
  [[ "${1:-}" == "--" ]] && shift
  flags=("$@")
  [[ ${#seeds[@]} -eq 0 ]] && seeds=(1)
  return 0
}
