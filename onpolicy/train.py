"""Single entry point: `python -m onpolicy.train --env_name ... --algorithm_name ...`."""
from __future__ import annotations

import json
import signal
import sys

from onpolicy.config import ConfigError, parse_config


def main(argv: list[str] | None = None) -> dict:
    from onpolicy.runner.runner import Runner  # heavy imports after the config is known to be valid
    from onpolicy.utils.run_dir import cleanup_failed_start

    cfg = parse_config(argv)
    with cleanup_failed_start():  # an env that cannot be built leaves no empty run directory behind
        runner = Runner(cfg, resume_dir=cfg.resume)
    print(f"run dir: {runner.run_dir}", flush=True)
    final = runner.run()
    summary = {"run_dir": str(runner.run_dir), "env_steps": runner.env_steps,
               **{k: v for k, v in final.items() if k.startswith(("eval_", "train_episode_return", "eps_ce"))}}
    print(json.dumps(summary), flush=True)
    return summary


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are a bad input or a fault the message fully explains: printed as one
    `error: ...` line (exit code 2), never as a traceback. Shared by the CLIs (train, eval)."""
    from onpolicy.envs import EnvBuildError, EnvConfigError, EnvOutputError
    from onpolicy.utils.checkpoint import CheckpointError
    from onpolicy.utils.logger import LogWriteError
    from onpolicy.utils.run_dir import RunDirError

    return (ConfigError, CheckpointError, FileExistsError, RunDirError, EnvConfigError, EnvBuildError,
            EnvOutputError, LogWriteError)


class Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C, so the run's writers are closed and its lock released."""


def _on_sigterm(signum, frame):
    raise Terminated()


def cli(argv: list[str] | None = None) -> int:
    """`python -m onpolicy.train`: 0 done, 2 an `error:` line, 130/143 interrupted by SIGINT/SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    errors = user_errors()
    try:
        main(argv)
    except errors as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    except (KeyboardInterrupt, Terminated) as err:
        from onpolicy.utils.run_dir import last_opened_run_dir

        sig = "SIGTERM" if isinstance(err, Terminated) else "SIGINT"
        run_dir = last_opened_run_dir()
        print(f"interrupted by {sig}" + (f"; continue the run from its last checkpoint with --resume {run_dir}"
                                         if run_dir is not None else ""), file=sys.stderr, flush=True)
        return 143 if isinstance(err, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
