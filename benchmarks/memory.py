"""Peak memory of whole training runs against their length: does a run's memory grow as it goes on?

    python benchmarks/memory.py                                    # MAPPO on Climbing, 200k and 2M steps
    python benchmarks/memory.py --algorithms mappo agentmixer --steps 200000 --task predator_prey
    python benchmarks/memory.py --extra --share_policy --no-use_recurrent_policy

Each run is a real `python -m onpolicy.train` process (evaluation and checkpoints as configured) in a
temporary run dir; its peak RSS is the kernel's ru_maxrss of that process, read by os.wait4 (envs in
subprocess workers are not included: Climbing and predator-prey step in-process). Prints one Markdown
row per run with its ratio to the same algorithm's shortest run, and each algorithm's peak relative to
the first algorithm's at the shortest length.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from throughput import TASKS  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from onpolicy.config import ConfigError, parse_config  # noqa: E402


def run_peak_rss(flags: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one training process with these flags."""
    start = time.perf_counter()
    # stderr to a file, not a pipe: nothing reads a pipe while wait4 blocks, so a chatty run would stall.
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "onpolicy.train", *flags], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            stderr.seek(0)
            sys.exit(f"error: run {' '.join(flags)} failed ({proc.returncode}):\n{stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=["mappo"])
    parser.add_argument("--task", choices=sorted(TASKS), default="climbing")
    parser.add_argument("--steps", nargs="+", type=int, default=[200_000, 2_000_000], help="run lengths (env steps)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every run")
    args = parser.parse_args(argv)
    runs = []
    for algorithm in args.algorithms:  # bad flags fail before the first (long) run
        for steps in sorted(args.steps):
            flags = [*TASKS[args.task], "--algorithm_name", algorithm, "--num_env_steps", str(steps),
                     "--no-progress_bar", *args.extra]
            try:
                parse_config(flags)
            except ConfigError as err:
                sys.exit(f"error: {algorithm}, {steps} steps: {err}")
            runs.append((algorithm, steps, flags))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (algorithm, steps, flags) in enumerate(runs):
            peak, seconds = run_peak_rss([*flags, "--run_dir", f"{tmp}/run{i}"])
            rows.append(dict(algorithm=algorithm, steps=steps, peak_rss_mib=round(peak), seconds=round(seconds)))
            print(rows[-1], flush=True)
    shortest = {r["algorithm"]: r["peak_rss_mib"] for r in reversed(rows)}  # first row per algorithm
    reference = shortest[args.algorithms[0]]
    print(f"\n| task | algorithm | env steps | peak RSS MiB | vs its shortest run | vs {args.algorithms[0]} | wall s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {args.task} | {r['algorithm']} | {r['steps']} | {r['peak_rss_mib']} | "
              f"{r['peak_rss_mib'] / shortest[r['algorithm']]:.2f} | {r['peak_rss_mib'] / reference:.2f} | "
              f"{r['seconds']} |")
    return rows


if __name__ == "__main__":
    main()
