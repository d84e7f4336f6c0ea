"""Single entry point: `python -m onpolicy.train --env_name ... --algorithm_name ...`."""
from __future__ import annotations

import json
import sys

from onpolicy.config import ConfigError, parse_config


def main(argv: list[str] | None = None) -> dict:
    from onpolicy.runner.runner import Runner  # heavy imports after the config is known to be valid

    cfg = parse_config(argv)
    runner = Runner(cfg, resume_dir=cfg.resume)
    print(f"run dir: {runner.run_dir}", flush=True)
    final = runner.run()
    summary = {"run_dir": str(runner.run_dir), "env_steps": runner.env_steps,
               **{k: v for k, v in final.items() if k.startswith(("eval_", "train_episode_return", "eps_ce"))}}
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    from onpolicy.utils.checkpoint import CheckpointError

    try:
        main()
    except (ConfigError, CheckpointError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
