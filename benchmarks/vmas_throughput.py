"""VMAS throughput: training env-steps/s next to raw VMAS steps/s, all E envs in one VMAS instance.

    python benchmarks/vmas_throughput.py                                  # MAPPO on balance, E = 50 and 500
    python benchmarks/vmas_throughput.py --scenario transport --envs 100 --episode_length 100

Uses benchmarks/throughput.py's measurements (warm-up update, then `--updates` timed updates with
evaluation and checkpointing off; raw = random actions through the same VecEnv, including the
torch -> NumPy conversion at the VecEnv boundary), one process per row. Prints table rows in the
format of results/throughput.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throughput import markdown_row, measured_row  # noqa: E402

from onpolicy.config import parse_config  # noqa: E402


def measure(scenario: str, env_args: str, algo: str, envs: int, episode_length: int, updates: int,
            threads: int) -> dict:
    cfg = parse_config(["--env_name", "vmas", "--scenario_name", scenario, "--env_args", env_args,
                        "--algorithm_name", algo, "--n_rollout_threads", str(envs), "--episode_length",
                        str(episode_length), "--no-use_eval", "--no-progress_bar", "--save_interval", "100000",
                        "--n_training_threads", str(threads)])
    return measured_row(cfg, f"vmas_{scenario}", updates)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="balance")
    parser.add_argument("--env_args", default='{"n_agents": 3, "max_steps": 100}')
    parser.add_argument("--algorithms", nargs="+", default=["mappo"])
    parser.add_argument("--envs", nargs="+", type=int, default=[50, 500], help="E values, one row each")
    parser.add_argument("--episode_length", type=int, default=100)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="--n_training_threads")
    args = parser.parse_args(argv)
    rows = []
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        for algo in args.algorithms:
            for envs in args.envs:
                rows.append(pool.submit(measure, args.scenario, args.env_args, algo, envs, args.episode_length,
                                        args.updates, args.threads).result())
                print(json.dumps(rows[-1]), flush=True)
    for r in rows:
        print(markdown_row(r))
    return rows


if __name__ == "__main__":
    main()
