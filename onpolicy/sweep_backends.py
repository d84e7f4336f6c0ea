"""Where sweep runs execute: local worker processes or Ray tasks.

Both backends run each training run as its own `python -m onpolicy.train` process,
with stdout and stderr appended to `<run_dir>/train.log`: runs share no torch or
env state, a crash takes down one run only, and the log survives for inspection.

SIGINT/SIGTERM to the sweep reach its runs: the local backend forwards the signal to every
running training process (they close their logs and release their run dirs), starts no new
ones, waits for them, and then raises SweepInterrupted; a second signal kills what is left.
The Ray backend cancels its tasks, which stop their training processes the same way.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
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
    """returncode of the training process; started False: the sweep was stopped before launching it;
    interrupted True: it ended after the sweep forwarded a stop signal to it."""
    job: Job
    returncode: int
    seconds: float
    started: bool = True
    interrupted: bool = False


class SweepInterrupted(Exception):
    """The sweep got SIGINT/SIGTERM; every run it had started has ended."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class Children:
    """The training processes of a local sweep, so that a signal to the sweep reaches them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stopped_by: int | None = None  # the first stop signal
        self._signals = 0

    def start(self, argv: list[str], **kwargs) -> subprocess.Popen | None:
        """Popen(argv), or None once the sweep is stopping."""
        with self._lock:
            if self.stopped_by is not None:
                return None
            # A session of its own: a Ctrl-C in the terminal reaches the sweep only, which forwards it once.
            proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
            self._procs.add(proc)
            return proc

    def done(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def forward(self, signum: int, frame=None) -> None:
        """Signal handler: pass the signal to every running child (SIGKILL from the second signal on)."""
        with self._lock:
            self._signals += 1
            if self.stopped_by is None:
                self.stopped_by = signal.SIGTERM if signum == signal.SIGHUP else signum
            sig = signal.SIGKILL if self._signals > 1 else self.stopped_by
            for proc in list(self._procs):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
        print(f"sweep: got {signal.Signals(signum).name}; " + (
            f"sent {signal.Signals(sig).name} to {len(self._procs)} running training process(es), waiting for "
            "them to stop (signal again to kill them)" if sig != signal.SIGKILL else
            f"killed {len(self._procs)} training process(es)"), file=sys.stderr, flush=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def forwarding_signals(handler):
    """Install handler for STOP_SIGNALS while the block runs (main thread only), then restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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


def run_job(job: Job, children: Children | None = None) -> JobResult:
    """Run one training process to completion; output is appended to the run's train.log.

    With `children` (local backend) the process is registered there, so a stop signal reaches it;
    without (a Ray task), an exception while waiting (Ray's cancel) stops it with SIGTERM first."""
    if children is not None and children.stopped_by is not None:
        return JobResult(job, -children.stopped_by, 0.0, started=False)
    Path(job.run_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    argv = [sys.executable, "-m", "onpolicy.train", *job.argv]
    with job.log_path.open("a") as log:
        log.write(f"# sweep: {job.action} {' '.join(job.argv)}\n")
        log.flush()
        kwargs = dict(stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env())
        proc = children.start(argv, **kwargs) if children is not None else subprocess.Popen(argv, **kwargs)
        if proc is None:  # the sweep is stopping
            return JobResult(job, -children.stopped_by, 0.0, started=False)
        try:
            returncode = proc.wait()
        except BaseException:
            proc.send_signal(signal.SIGTERM)  # let it close its logs and release its run dir
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        finally:
            if children is not None:
                children.done(proc)
    interrupted = children is not None and children.stopped_by is not None
    return JobResult(job, returncode, time.perf_counter() - start, interrupted=interrupted)


def run_local(jobs: list[Job], max_parallel: int) -> Iterator[JobResult]:
    """Up to `max_parallel` runs at once on this machine; yields results as runs finish.

    SIGINT/SIGTERM/SIGHUP are forwarded to the running training processes (see Children); once they
    have all ended, raises SweepInterrupted."""
    if max_parallel < 1:
        raise ValueError(f"--max_parallel must be >= 1, got {max_parallel}")
    children = Children()
    # Threads only wait on child processes, so the GIL is no bottleneck.
    with forwarding_signals(children.forward), ThreadPoolExecutor(max_workers=max_parallel) as pool:
        for future in as_completed([pool.submit(run_job, job, children) for job in jobs]):
            yield future.result()
    if children.stopped_by is not None:
        raise SweepInterrupted(children.stopped_by)


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
    stopped = {"by": None}

    def cancel(signum, frame=None):  # Ray's cancel interrupts run_job, which stops its process with SIGTERM
        stopped["by"] = stopped["by"] or signum
        print(f"sweep: got {signal.Signals(signum).name}; cancelling {len(pending)} Ray task(s)", file=sys.stderr,
              flush=True)
        for ref in list(pending):
            ray.cancel(ref)

    with forwarding_signals(cancel):
        yield from _ray_results(ray, pending)
    if stopped["by"] is not None:
        raise SweepInterrupted(stopped["by"])


def _ray_results(ray, pending: dict) -> Iterator[JobResult]:
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
