"""Evaluate a trained run: `python eval_scripts/eval.py --run_dir runs/... --episodes 32`.

Loads the run's config.json and checkpoint, runs the decentralized policies
deterministically on fresh envs, and prints the metrics as JSON. With --render
(MA-MuJoCo) it also writes an MP4 of one episode.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from onpolicy.algorithms import get_algorithm  # noqa: E402
from onpolicy.algorithms.mappo.policy import EnvInfo  # noqa: E402
from onpolicy.config import env_kwargs, parse_config  # noqa: E402
from onpolicy.envs import make_vec_env  # noqa: E402
from onpolicy.runner.evaluation import evaluate_policy  # noqa: E402
from onpolicy.train import user_errors  # noqa: E402
from onpolicy.utils.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint  # noqa: E402


class EvalError(ValueError):
    """A run dir, checkpoint or option eval cannot use; printed as one `error:` line (exit code 2)."""


RENDER_ENVS = ("mujoco",)  # --render records with MuJoCo's offscreen renderer; no other env has one here


def check_run_dir(run_dir: Path, checkpoint: Path | None) -> None:
    """Refuse, before building anything, a run dir without config.json or without a checkpoint."""
    if not run_dir.is_dir():
        raise EvalError(f"--run_dir {run_dir}: no such directory")
    if not (run_dir / "config.json").exists():
        raise EvalError(f"--run_dir {run_dir} holds no config.json: not a run directory (runs are in "
                        "runs/<env>/<scenario>/<algorithm>/<experiment>_seed<k>_<time>)")
    path = checkpoint or run_dir / CHECKPOINT_NAME
    if not path.exists():
        raise EvalError(f"{path} does not exist: the run has not saved a checkpoint yet (it saves one every "
                        "--save_interval updates and at the end); wait for one, or pass --checkpoint FILE")


def load_run(run_dir: Path, checkpoint: Path | None, n_envs: int, seed: int):
    """(cfg, policy, envs) of a run dir, weights from its (or the given) checkpoint."""
    check_run_dir(run_dir, checkpoint)
    cfg = parse_config(["--config", str(run_dir / "config.json")])
    payload = load_checkpoint(checkpoint or run_dir, json.loads((run_dir / "config.json").read_text()))
    envs = make_vec_env(cfg.env_name, cfg.scenario_name, n_envs, seed, env_kwargs(cfg), cfg.vec_env, cfg.n_workers,
                        stream="eval")
    try:
        policy_cls, _ = get_algorithm(cfg.algorithm_name).load()
        policy = policy_cls(cfg, EnvInfo.for_run(cfg, envs))
        try:
            policy.load_state_dict(payload["trainer"]["policy"])
        except (RuntimeError, KeyError) as err:
            raise CheckpointError(f"{checkpoint or run_dir / CHECKPOINT_NAME} does not fit {run_dir}'s config: "
                                  f"{str(err).splitlines()[0]}") from None
    except BaseException:
        envs.close()
        raise
    policy.eval()
    return cfg, policy, envs


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run_dir", required=True, type=Path)
    parser.add_argument("--checkpoint", type=Path, help="default: <run_dir>/checkpoint.pt")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--n_envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=12345, help="eval env seed (differs from training seeds)")
    parser.add_argument("--render", action="store_true", help="MA-MuJoCo: also write an MP4 of one episode")
    parser.add_argument("--video", type=Path, help="MP4 path (default <run_dir>/episode.mp4)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.n_envs < 1:
        raise EvalError(f"--episodes and --n_envs must be >= 1, got {args.episodes} and {args.n_envs}")
    if args.render:  # checked before evaluating, so a run that cannot be rendered costs nothing
        check_run_dir(args.run_dir, args.checkpoint)
        env_name = json.loads((args.run_dir / "config.json").read_text()).get("env_name")
        if env_name not in RENDER_ENVS:
            raise EvalError(f"--render records MA-MuJoCo episodes only (--env_name mujoco); this run is "
                            f"--env_name {env_name}, which has no renderer here: evaluate it without --render")
    cfg, policy, envs = load_run(args.run_dir, args.checkpoint, args.n_envs, args.seed)
    try:
        metrics = evaluate_policy(policy, cfg, envs, torch.device("cpu"), args.episodes)
    finally:
        envs.close()
    if args.render:
        metrics["video"] = str(render(cfg, policy, args.video or args.run_dir / "episode.mp4", args.seed))
    print(json.dumps({"run_dir": str(args.run_dir), "episodes": args.episodes, **metrics}, indent=2))
    return metrics


def render(cfg, policy, path: Path, seed: int) -> Path:
    """Write an MP4 of one MA-MuJoCo episode of the decentralized policies (offscreen, MUJOCO_GL=egl)."""
    if cfg.env_name not in RENDER_ENVS:
        raise EvalError(f"--render records MA-MuJoCo episodes only (--env_name mujoco); this run is "
                        f"--env_name {cfg.env_name}")
    from functools import partial

    from onpolicy.envs.mujoco import MujocoMultiAgentEnv
    from onpolicy.utils.video import record_episode

    n_agents = policy.env.n_agents
    carry = {"rnn": torch.zeros(1, n_agents, *policy.rnn_shape), "masks": torch.ones(1, n_agents, 1)}

    @torch.no_grad()
    def act(obs, state):
        actions, carry["rnn"] = policy.act_decentralized(torch.as_tensor(obs, dtype=torch.float32)[None],
                                                         carry["rnn"], carry["masks"], None)
        return actions[0].numpy()

    record_episode(partial(MujocoMultiAgentEnv, cfg.scenario_name, **env_kwargs(cfg)), act, path, seed)
    return path


def cli(argv=None) -> int:
    """`python eval_scripts/eval.py`: 0, or 2 with one `error:` line."""
    try:
        main(argv)
    except (EvalError, *user_errors()) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
