"""Training throughput (env steps/s) and peak memory at the paper's settings.

    python benchmarks/throughput.py                       # MAPPO on climbing and predator-prey
    python benchmarks/throughput.py --algorithms mappo agentmixer ail --updates 3
    python benchmarks/throughput.py --builds 3885073 . --repeats 3 --algorithms agentmixer
    python benchmarks/throughput.py --tasks halfcheetah_6x1 --algorithms agentmixer_sac masac mappo

Each task runs `--updates` PPO updates (after one warm-up update) with evaluation and
checkpointing off, each in its own process, and reports training steps/s next to the raw vectorized env's
random-action steps/s at the same number of envs, and where an update's time goes (the env's steps,
the trainer's update, the rest). `--flops` adds the FLOPs of an update's training (torch's counter)
and the rate they ran at, beside this machine's best matmul rate at the same shapes: how far the
training phase is from the hardware's limit.

`--builds A B ...` compares builds of this repository (a git revision, checked out into a temporary
worktree, or a directory holding a checkout; `.` is the working tree) in one run: every row is
measured `--repeats` times per build by that build's own benchmarks/throughput.py, the builds taking
turns (A B, then B A, ...), so a speed-up is a ratio of measurements taken side by side, never of two
runs at different times. Flags in `--extra` go to every build: pin any default the builds disagree on.

The off-policy algorithms (agentmixer_sac, masac; continuous tasks only) run with `--warmup_steps 0` unless
`--extra` sets it, so every timed update takes its gradient steps (at HARL's settings 20 envs × 50 steps and
50 gradient steps of 1000 replayed transitions); their "epochs" column gives those gradient steps.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from onpolicy.config import ConfigError, env_kwargs, gradient_steps_per_rollout, parse_config  # noqa: E402
from onpolicy.flags import OFF_POLICY_ALGORITHMS  # noqa: E402
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


def training_fps(cfg, updates: int) -> tuple[float, dict[str, float], Runner]:
    """Steps/s of whole updates (collect + train) after a warm-up one, where an update's time goes
    (seconds per update in the env's step, in the trainer's train, and in the rest: the policy's
    forward passes when acting, buffer inserts, returns), and the runner, its envs closed."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg.run_dir = tmp
        steps_per_update = cfg.episode_length * cfg.n_rollout_threads
        cfg.num_env_steps = steps_per_update * (updates + 1)
        runner = Runner(cfg)
        calls: dict[str, list[tuple[float, float]]] = {"env": [], "train": []}  # (end time, seconds) per call

        def timed(name, fn):
            def call(*args):
                start = time.perf_counter()
                result = fn(*args)
                end = time.perf_counter()
                calls[name].append((end, end - start))
                return result
            return call

        original_train = runner.trainer.train
        runner.envs.step = timed("env", runner.envs.step)
        runner.trainer.train = timed("train", original_train)
        runner.run()
        runner.trainer.train = original_train
        first, last = calls["train"][0][0], calls["train"][-1][0]  # the warm-up update ends at `first`
        phases = {name: sum(s for end, s in spans if end > first) / updates for name, spans in calls.items()}
        phases["other"] = (last - first) / updates - phases["env"] - phases["train"]
        return steps_per_update * updates / (last - first), phases, runner


def train_gflop(runner: Runner) -> float:
    """GFLOP of one more update on the runner's last rollout (torch's counter: matmuls, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        runner.trainer.train(runner.buffer)
    return counter.get_total_flops() / 1e9


def matmul_gflops(threads: int, rows: int = 20_000) -> float:
    """This machine's best GFLOP/s on the matmuls that dominate training here: (rows × 64) by
    (64 × 64 / 192) forward and their weight gradients, float32, `threads` threads."""
    torch.set_num_threads(threads)
    best = 0.0
    for m, k, n in [(rows, 64, 64), (rows, 64, 192), (64, rows, 192)]:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        start = time.perf_counter()
        for _ in range(20):
            torch.mm(a, b)
        best = max(best, 20 * 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


def algorithm_flags(algo: str, extra: list[str]) -> list[str]:
    """Flags a row of `algo` runs with besides --extra: the off-policy ones train from the first update."""
    if algo in OFF_POLICY_ALGORITHMS and "--warmup_steps" not in extra:
        return ["--warmup_steps", "0"]
    return []


def measure(task: str, algo: str, updates: int, threads: int, extra: list[str], count_flops: bool = False) -> dict:
    """One table row; run in its own process so peak RSS and timings belong to this row alone."""
    cfg = parse_config([*TASKS[task], "--algorithm_name", algo, "--no-use_eval", "--no-progress_bar",
                        "--save_interval", "100000", "--n_training_threads", str(threads),
                        *algorithm_flags(algo, extra), *extra])
    return measured_row(cfg, task, updates, count_flops)


def markdown_row(r: dict) -> str:
    """A measured_row as a line of results/throughput.md's table."""
    return (f"| {r['task']} | {r['algorithm']} | {r['envs']} × {r['episode_length']} | {r['ppo_epoch']} | "
            f"{r['train_steps_per_s']} | {r['raw_env_steps_per_s']} | {r['train_over_raw']} | {r['peak_rss_mib']} |")


def measured_row(cfg, task: str, updates: int, count_flops: bool = False) -> dict:
    """Training and raw env steps/s of the run `cfg`, where its time goes and this process's peak RSS
    (before any FLOP counting), as a table row."""
    fps, phases, runner = training_fps(cfg, updates)
    row = {"task": task, "algorithm": cfg.algorithm_name, "envs": cfg.n_rollout_threads,
           "episode_length": cfg.episode_length,
           "ppo_epoch": (f"{gradient_steps_per_rollout(cfg)} grad steps" if cfg.algorithm_name in OFF_POLICY_ALGORITHMS
                         else cfg.ppo_epoch),
           "train_steps_per_s": round(fps),
           **{f"{name}_s_per_update": round(seconds, 3) for name, seconds in phases.items()},
           "raw_env_steps_per_s": round(raw_env_fps(cfg, cfg.episode_length)),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    row["train_over_raw"] = round(row["train_steps_per_s"] / row["raw_env_steps_per_s"], 3)
    if count_flops:
        gflop = train_gflop(runner)
        row["train_gflop_per_update"] = round(gflop, 1)
        row["train_gflop_per_s"] = round(gflop / phases["train"], 1)  # not from the rounded GFLOP
    return row


def checkout(build: str, workdir: Path) -> Path:
    """A directory holding `build`: itself if it is one, else a detached worktree of that revision."""
    if Path(build).is_dir():
        return Path(build).resolve()
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{build}^{{commit}}"],
                         capture_output=True, text=True)
    if rev.returncode:
        sys.exit(f"error: build {build!r} is neither a directory nor a git revision of {REPO}")
    tree = workdir / rev.stdout.strip()[:12]
    if not tree.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev.stdout.strip()],
                       check=True, capture_output=True)
    return tree


def measure_build(tree: Path, task: str, algo: str, args) -> dict:
    """One row measured by the build in `tree` (its own benchmark script, its own code)."""
    cmd = [sys.executable, str(tree / "benchmarks" / "throughput.py"), "--tasks", task, "--algorithms", algo,
           "--updates", str(args.updates), "--threads", str(args.threads), "--extra", *args.extra]
    done = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not rows:
        sys.exit(f"error: {tree}: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return rows[0]


def compare_builds(args) -> list[dict]:
    """Alternating measurements of every row on every build; prints medians and the speed-up."""
    with tempfile.TemporaryDirectory() as workdir:
        trees = [checkout(b, Path(workdir)) for b in args.builds]
        try:
            results = []
            for task in args.tasks:
                for algo in args.algorithms:
                    fps: dict[str, list[float]] = {b: [] for b in args.builds}
                    for repeat in range(args.repeats):
                        turn = list(zip(args.builds, trees))
                        for build, tree in (turn if repeat % 2 == 0 else turn[::-1]):
                            row = measure_build(tree, task, algo, args)
                            fps[build].append(row["train_steps_per_s"])
                            print(json.dumps({"build": build, **row}), flush=True)
                    results.append({"task": task, "algorithm": algo, "fps": fps})
        finally:
            for tree in trees:
                if Path(workdir) in tree.parents:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                                   capture_output=True)
    first = args.builds[0]
    header = " | ".join(f"{b} steps/s" for b in args.builds)
    print(f"\nmedian of {args.repeats} alternating runs per build; speed-up = median / median of {first}")
    print(f"| task | algorithm | {header} | " + " | ".join(f"{b} / {first}" for b in args.builds[1:]) + " |")
    print("|---|---|" + "---|" * (2 * len(args.builds) - 1))
    for r in results:
        medians = {b: statistics.median(v) for b, v in r["fps"].items()}
        ratios = " | ".join(f"{medians[b] / medians[first]:.2f}×" for b in args.builds[1:])
        print(f"| {r['task']} | {r['algorithm']} | " + " | ".join(f"{medians[b]:.0f}" for b in args.builds)
              + f" | {ratios} |")
    return results


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", nargs="+", default=["mappo"])
    parser.add_argument("--tasks", nargs="+", default=["climbing", "predator_prey"], choices=list(TASKS))
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="--n_training_threads")
    parser.add_argument("--builds", nargs="+", metavar="BUILD",
                        help="compare these builds (git revisions or checkout directories; . = this tree)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per build and row with --builds")
    parser.add_argument("--flops", action="store_true",
                        help="also count each update's training FLOPs and this machine's matmul GFLOP/s")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every run")
    args = parser.parse_args(argv)
    if args.builds:
        if len(args.builds) < 2:
            parser.error(f"--builds needs at least two builds to compare, got {args.builds}")
        if args.flops:
            parser.error("--flops measures one build; drop --builds or --flops")
        return compare_builds(args)
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
                rows.append(pool.submit(measure, task, algo, args.updates, args.threads, args.extra,
                                        args.flops).result())
                print(json.dumps(rows[-1]), flush=True)
    print("\n| task | algorithm | envs × T | epochs | train steps/s | raw env steps/s | train/raw | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(markdown_row(r))
    columns = {"env_s_per_update": "env s/update", "train_s_per_update": "train s/update",
               "other_s_per_update": "other s/update (acting, buffer)"}
    if args.flops:
        columns.update(train_gflop_per_update="train GFLOP/update", train_gflop_per_s="train GFLOP/s")
    print("\n| task | algorithm | " + " | ".join(columns.values()) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for r in rows:
        print(f"| {r['task']} | {r['algorithm']} | " + " | ".join(str(r[k]) for k in columns) + " |")
    if args.flops:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            peak = pool.submit(matmul_gflops, args.threads).result()
        print(f"\nthis machine's best matmul rate at these shapes, {args.threads} thread(s): {peak:.0f} GFLOP/s")
    return rows


if __name__ == "__main__":
    main()
