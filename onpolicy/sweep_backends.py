"""Where sweep runs execute: local worker processes or Ray tasks.

Both backends run each training run as its own `python -m onpolicy.train` process,
with stdout and stderr appended to `<run_dir>/train.log`: runs share no torch or
env state, a crash takes down one run only, and the log survives for inspection.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import onpolicy

LOG_NAME = "train.log"
REPO_ROOT = str(Path(onpolicy.__file__).resolve().parent.parent)


@dataclass(frozen=True)
class Job:
    """One training run of a sweep.

    action: "fresh", "restart" (started over) or "resume"; argv: training flags (no interpreter);
    num_env_steps: the run's resolved budget, recorded in the done marker.
    """
    algorithm: str
    scenario: str
    seed: int
    run_dir: str
    action: str
    argv: tuple[str, ...]
    num_env_steps: int

    @property
    def log_path(self) -> Path:
        return Path(self.run_dir) / LOG_NAME


@dataclass(frozen=True)
class JobResult:
    job: Job
    returncode: int
    seconds: float


def child_env() -> dict[str, str]:
    """Environment of a training process: the package importable, one BLAS/OpenMP thread.

    Without the thread cap every parallel run would start one BLAS thread per core and
    the runs would oversubscribe the CPUs; a user's explicit setting wins.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(name, "1")
    return env


def run_job(job: Job) -> JobResult:
    """Run one training process to completion; output is appended to the run's train.log."""
    Path(job.run_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with job.log_path.open("a") as log:
        log.write(f"# sweep: {job.action} {' '.join(job.argv)}\n")
        log.flush()
        returncode = subprocess.run([sys.executable, "-m", "onpolicy.train", *job.argv], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env()).returncode
    return JobResult(job, returncode, time.perf_counter() - start)


def run_local(jobs: list[Job], max_parallel: int) -> Iterator[JobResult]:
    """Up to `max_parallel` runs at once on this machine; yields results as runs finish."""
    if max_parallel < 1:
        raise ValueError(f"--max_parallel must be >= 1, got {max_parallel}")
    # Threads only wait on child processes, so the GIL is no bottleneck.
    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        for future in as_completed([pool.submit(run_job, job) for job in jobs]):
            yield future.result()


def run_ray(jobs: list[Job], address: str | None, num_cpus: float, num_gpus: float) -> Iterator[JobResult]:
    """One Ray task per run, scheduled with `num_cpus`/`num_gpus` each; yields results as runs finish.

    Connects to `address` ("auto" for a running cluster, "ray://host:port" for Ray
    Client) or, without one, starts a local Ray instance; an already initialized
    Ray connection (e.g. a test's `ray.init(num_cpus=2)`) is reused. Every node
    writes into the job's run_dir, so the runs dir must be a path all nodes share
    (NFS or similar) and the package must be importable on every node.
    Tasks are not retried: a run killed with its node is resumed by re-running the sweep.
    """
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    # Workers must import this module to run the task; Ray expands ${PYTHONPATH} on the node.
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join((REPO_ROOT, "${PYTHONPATH}"))}}
    remote_run = ray.remote(max_retries=0)(run_job).options(num_cpus=num_cpus, num_gpus=num_gpus,
                                                            runtime_env=runtime_env)
    pending = {remote_run.remote(job): job for job in jobs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(done[0])
        try:
            yield ray.get(done[0])
        except ray.exceptions.RayError as err:  # the task itself died (node lost, worker crash)
            Path(job.run_dir).mkdir(parents=True, exist_ok=True)
            with job.log_path.open("a") as log:
                log.write(f"# sweep: Ray task failed: {err}\n")
            yield JobResult(job, -1, float("nan"))
