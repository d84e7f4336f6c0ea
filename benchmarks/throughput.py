"""Training throughput (env steps/s) and peak memory at the paper's settings.

    python benchmarks/throughput.py                       # MAPPO on climbing and predator-prey
    python benchmarks/throughput.py --algorithms mappo agentmixer ail --updates 3

Each task runs `--updates` PPO updates (after one warm-up update) with evaluation and
checkpointing off, each in its own process, and reports training steps/s next to the raw vectorized env's
random-action steps/s at the same number of envs.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onpolicy.config import ConfigError, env_kwargs, parse_config  # noqa: E402
from onpolicy.envs import make_vec_env  # noqa: E402
from onpolicy.runner.runner import Runner  # noqa: E402

# Paper settings (appendix F): 50 threads × 200 steps, ppo_epoch 15, 1 mini-batch for the matrix game;
# predator-prey uses the same; MuJoCo 40 × 100, 5 epochs; SMACv2/SMAX 50 × 200, 5 epochs.
TASKS = {
    "climbing": ["--env_name", "matrix", "--scenario_name", "climbing"],
    "predator_prey": ["--env_name", "predator_prey", "--penalty", "-1"],
    "halfcheetah_6x1": ["--env_name", "mujoco", "--scenario_name", "HalfCheetah", "--agent_conf", "6x1"],
    "ant_4x2": ["--env_name", "mujoco", "--scenario_name", "Ant", "--agent_conf", "4x2"],
    "smax_5_units": ["--env_name", "smax", "--scenario_name", "smacv2_5_units"],
}


def raw_env_fps(cfg, n_steps: int) -> float:
    """Random-action steps/s of the same vectorized env the runner uses."""
    envs = make_vec_env(cfg.env_name, cfg.scenario_name, cfg.n_rollout_threads, cfg.seed, env_kwargs(cfg),
                        cfg.vec_env, cfg.n_workers)
    rng = np.random.default_rng(0)
    first = envs.reset()
    space = envs.action_space[0]
    avail = first.avail
    start = time.perf_counter()
    for _ in range(n_steps):
        if avail is not None:  # sample uniformly among available actions
            scores = rng.random(avail.shape) * avail
            actions = scores.argmax(-1)[..., None]
        else:
            actions = rng.uniform(space.low, space.high, (envs.num_envs, envs.n_agents, space.shape[0]))
        avail = envs.step(actions).avail
    fps = n_steps * envs.num_envs / (time.perf_counter() - start)
    envs.close()
    return fps


def training_fps(cfg, updates: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg.run_dir = tmp
        steps_per_update = cfg.episode_length * cfg.n_rollout_threads
        cfg.num_env_steps = steps_per_update * (updates + 1)
        runner = Runner(cfg)
        timings = []
        original_train = runner.trainer.train

        def timed_train(buffer):  # time whole updates (collect + train) after the warm-up one
            result = original_train(buffer)
            timings.append(time.perf_counter())
            return result

        runner.trainer.train = timed_train
        runner.run()
        return steps_per_update * updates / (timings[-1] - timings[0])


def measure(task: str, algo: str, updates: int, threads: int, extra: list[str]) -> dict:
    """One table row; run in its own process so peak RSS and timings belong to this row alone."""
    cfg = parse_config([*TASKS[task], "--algorithm_name", algo, "--no-use_eval", "--no-progress_bar",
                        "--save_interval", "100000", "--n_training_threads", str(threads), *extra])
    return measured_row(cfg, task, updates)


def markdown_row(r: dict) -> str:
    """A measured_row as a line of results/throughput.md's table."""
    return (f"| {r['task']} | {r['algorithm']} | {r['envs']} × {r['episode_length']} | {r['ppo_epoch']} | "
            f"{r['train_steps_per_s']} | {r['raw_env_steps_per_s']} | {r['train_over_raw']} | {r['peak_rss_mib']} |")


def measured_row(cfg, task: str, updates: int) -> dict:
    """Training and raw env steps/s of the run `cfg` and this process's peak RSS, as a table row."""
    row = {"task": task, "algorithm": cfg.algorithm_name, "envs": cfg.n_rollout_threads,
           "episode_length": cfg.episode_length, "ppo_epoch": cfg.ppo_epoch,
           "train_steps_per_s": round(training_fps(cfg, updates)),
           "raw_env_steps_per_s": round(raw_env_fps(cfg, cfg.episode_length)),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    row["train_over_raw"] = round(row["train_steps_per_s"] / row["raw_env_steps_per_s"], 3)
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", nargs="+", default=["mappo"])
    parser.add_argument("--tasks", nargs="+", default=["climbing", "predator_prey"], choices=list(TASKS))
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="--n_training_threads")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every run")
    args = parser.parse_args(argv)
    for task in args.tasks:  # bad flags fail before the first measurement, not after an hour of them
        for algo in args.algorithms:
            try:
                parse_config([*TASKS[task], "--algorithm_name", algo, *args.extra])
            except ConfigError as err:
                sys.exit(f"error: {task}/{algo}: {err}")
    rows = []
    # A fresh process per row: ru_maxrss only grows, and one row's threads or caches must not
    # speed up or slow down the next.
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        for task in args.tasks:
            for algo in args.algorithms:
                rows.append(pool.submit(measure, task, algo, args.updates, args.threads, args.extra).result())
                print(json.dumps(rows[-1]), flush=True)
    print("\n| task | algorithm | envs × T | epochs | train steps/s | raw env steps/s | train/raw | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(markdown_row(r))
    return rows


if __name__ == "__main__":
    main()
