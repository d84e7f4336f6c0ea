"""Vec env whose envs live in worker processes, each worker owning a contiguous slice of envs.

Workers are started with 'forkserver' (or 'spawn'), never 'fork': the main process runs torch,
whose threads and locks are not safe to fork. Every wait on a worker polls with a timeout and
checks that the process is alive, so a crashed worker raises EnvWorkerError instead of hanging.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import traceback
from typing import Callable, NoReturn

import numpy as np

from onpolicy.envs.base import (
    BatchStep,
    EnvConfigError,
    EnvOutputError,
    MultiAgentEnv,
    VecEnv,
    concat_batch_steps,
    stack_env_resets,
    stack_env_steps,
)

POLL_SECONDS = 0.1  # how often a waiting main process checks that the worker is still alive


class EnvWorkerError(RuntimeError):
    """An env worker raised an exception or died; the message names the env(s) concerned."""


class EnvBuildError(EnvWorkerError):
    """An env could not be built in its worker because a package or game is missing (ImportError) or its
    arguments are bad (EnvConfigError). The message is the env's own, without the worker traceback:
    the CLIs print it as one `error:` line."""


class _WorkerEnvs:
    """The envs of one worker. Remembers which env is being called so that errors can name it."""

    def __init__(self, first_id: int):
        self.first_id = first_id
        self.current = first_id  # global index of the env being built or called
        self.envs: list[MultiAgentEnv] = []

    def build(self, env_fns: list[Callable[[], MultiAgentEnv]]) -> tuple:
        for fn in env_fns:
            self.current = self.first_id + len(self.envs)
            self.envs.append(fn())
        env = self.envs[0]
        return (env.n_agents, env.observation_space, env.state_space, env.action_space, env.episode_info_keys,
                getattr(env, "agent_names", None))

    def _call(self, local_id: int, method: str, *args):
        self.current = self.first_id + local_id
        return getattr(self.envs[local_id], method)(*args)

    def reset(self, local_ids: np.ndarray, seeds: list[int | None]) -> tuple:
        return stack_env_resets([self._call(k, "reset", s) for k, s in zip(local_ids, seeds)],
                                [self.first_id + k for k in local_ids])

    def step(self, actions: np.ndarray) -> BatchStep:
        results = [self._call(k, "step", a) for k, a in enumerate(actions)]
        return stack_env_steps(results, self.envs[0].episode_info_keys,
                               range(self.first_id, self.first_id + len(self.envs)))

    def get_state(self) -> list[dict]:
        return [self._call(k, "get_state") for k in range(len(self.envs))]

    def set_state(self, states: list[dict]) -> None:
        for k, state in enumerate(states):
            self._call(k, "set_state", state)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker_main(conn, env_fns: list[Callable[[], MultiAgentEnv]], first_id: int) -> None:
    """Worker loop: answer each (command, argument) with ("ok", result) or ("error", ...) and exit."""
    # Ctrl-C reaches the whole process group; the main process decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    envs = _WorkerEnvs(first_id)
    try:
        try:
            spec = envs.build(env_fns)
        except (ImportError, EnvConfigError) as exc:  # a missing package or a bad argument: the message says it all
            conn.send(("build_error", envs.current, str(exc)))
            return
        conn.send(("ok", spec))
        while True:
            command, arg = conn.recv()
            if command == "close":
                break
            if command == "reset":
                conn.send(("ok", envs.reset(*arg)))
            elif command == "step":
                conn.send(("ok", envs.step(arg)))
            elif command == "get_state":
                conn.send(("ok", envs.get_state()))
            elif command == "set_state":
                conn.send(("ok", envs.set_state(arg)))
            else:
                raise ValueError(f"unknown worker command {command!r}")
    except EOFError:
        pass  # the main process went away: nothing left to answer
    except EnvOutputError as exc:  # bad env output: the vec env names env, agent and step; no traceback needed
        env_index = exc.env_index if exc.env_index is not None else envs.current
        conn.send(("output_error", exc.detail, env_index, exc.agent, exc.located))
    except Exception as exc:
        conn.send(("error", envs.current, type(exc).__name__, str(exc), traceback.format_exc()))
    finally:
        envs.close()
        conn.close()


def _concat_resets(parts: list[tuple]) -> tuple:
    """Concatenate per-worker (obs, state, avail) reset results along the env axis."""
    obs, state, avail = zip(*parts)
    return np.concatenate(obs), np.concatenate(state), None if avail[0] is None else np.concatenate(avail)


class SubprocVecEnv(VecEnv):
    """Vec env with n_workers processes; worker w steps the envs in its contiguous slice."""

    def __init__(
        self,
        env_fns: list[Callable[[], MultiAgentEnv]],
        n_workers: int = 2,
        seed: int = 0,
        env_label: str = "env",
        start_method: str = "forkserver",
    ):
        if start_method not in ("forkserver", "spawn"):
            raise ValueError(f"start_method must be 'forkserver' or 'spawn', got {start_method!r}")
        self.env_label = env_label  # e.g. "predator_prey/default", used in error messages
        self._closed = False
        slices = np.array_split(np.arange(len(env_fns)), min(n_workers, len(env_fns)))
        self._starts = np.array([ids[0] for ids in slices])
        self._stops = np.array([ids[-1] + 1 for ids in slices])
        ctx = mp.get_context(start_method)
        self._conns, self._procs = [], []
        for w, ids in enumerate(slices):
            parent_conn, child_conn = ctx.Pipe()
            proc = ctx.Process(
                target=_worker_main,
                args=(child_conn, [env_fns[k] for k in ids], int(ids[0])),
                name=f"{env_label}-worker-{w}",
                daemon=True,  # never outlive the main process
            )
            proc.start()
            child_conn.close()  # so the parent sees EOF when the worker dies
            self._conns.append(parent_conn)
            self._procs.append(proc)
        specs = [self._recv(w) for w in range(len(slices))]
        n_agents, obs_space, state_space, action_space, info_keys, agent_names = specs[0]
        super().__init__(len(env_fns), seed, n_agents, obs_space, state_space, action_space, info_keys)
        self.agent_names = agent_names

    @property
    def worker_pids(self) -> list[int]:
        return [proc.pid for proc in self._procs]

    # --- communication -------------------------------------------------------------------
    def _fail(self, message: str) -> NoReturn:
        self.close()
        raise EnvWorkerError(message)

    def _describe_worker(self, w: int) -> str:
        return f"{self.env_label} envs {self._starts[w]}-{self._stops[w] - 1} (worker {w}, pid {self._procs[w].pid})"

    def _send(self, w: int, command: str, arg=None) -> None:
        if self._closed:
            raise RuntimeError("SubprocVecEnv is closed")
        try:
            self._conns[w].send((command, arg))
        except (BrokenPipeError, ConnectionResetError):
            self._fail(f"{self._describe_worker(w)}: worker died (exit code {self._procs[w].exitcode})")

    def _recv(self, w: int):
        conn, proc = self._conns[w], self._procs[w]
        while not conn.poll(POLL_SECONDS):
            if not proc.is_alive():
                self._fail(f"{self._describe_worker(w)}: worker died (exit code {proc.exitcode})")
        try:
            status, *payload = conn.recv()
        except (EOFError, ConnectionResetError):
            proc.join(timeout=1.0)  # let the exit code settle for the message
            self._fail(f"{self._describe_worker(w)}: worker died (exit code {proc.exitcode})")
        if status == "build_error":
            env_id, message = payload
            self.close()
            raise EnvBuildError(f"{self.env_label} env {env_id} could not be built: {message}")
        if status == "output_error":  # the worker has ended; the vec env adds env, scenario and step
            detail, env_index, agent, located = payload
            self.close()
            raise EnvOutputError(detail, env_index, agent, located)
        if status == "error":
            env_id, exc_type, exc_message, worker_traceback = payload
            self._fail(
                f"{self.env_label} env {env_id} raised {exc_type}: {exc_message}\n"
                f"--- worker traceback ---\n{worker_traceback}"
            )
        return payload[0]

    # --- VecEnv hooks --------------------------------------------------------------------
    def _reset_envs(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        seeds = seeds if seeds is not None else [None] * len(env_ids)
        owners = np.searchsorted(self._starts, env_ids, side="right") - 1
        workers = np.unique(owners)
        for w in workers:
            mine = np.flatnonzero(owners == w)
            self._send(w, "reset", (env_ids[mine] - self._starts[w], [seeds[i] for i in mine]))
        # env_ids are sorted, so concatenating in worker order keeps their order
        return _concat_resets([self._recv(w) for w in workers])

    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        for w, (start, stop) in enumerate(zip(self._starts, self._stops)):
            self._send(w, "step", actions[start:stop])
        return concat_batch_steps([self._recv(w) for w in range(len(self._procs))])

    def _get_env_states(self) -> list[dict]:
        for w in range(len(self._procs)):
            self._send(w, "get_state")
        return [state for w in range(len(self._procs)) for state in self._recv(w)]

    def _set_env_states(self, states: list[dict]) -> None:
        for w, (start, stop) in enumerate(zip(self._starts, self._stops)):
            self._send(w, "set_state", states[start:stop])
        for w in range(len(self._procs)):
            self._recv(w)

    def close(self) -> None:
        """Stop all workers (politely, then by force); safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        for conn in self._conns:
            try:
                conn.send(("close", None))
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass  # that worker is already gone
        for proc in self._procs:
            proc.join(timeout=1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=1.0)
        for conn in self._conns:
            conn.close()
