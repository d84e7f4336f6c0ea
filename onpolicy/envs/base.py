"""Core environment interfaces shared by every env and vectorized backend.

Shape legend used in docstrings: E = number of envs, N = agents, Do/Ds = observation/state
features, A = number of discrete actions, Da = action features (1 for Discrete: the index).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from gymnasium.spaces import Box, Discrete


class EnvConfigError(ValueError):
    """Arguments an env cannot be built with (an unknown key, a value out of range, an unsupported space).

    The message names the env, the argument and what is valid; the CLIs print it as one `error:` line.
    """


class EnvUnavailableError(ImportError, EnvConfigError):
    """An env whose packages (or game) are not installed; the message says how to install them."""


class EnvOutputError(RuntimeError):
    """An env returned something malformed: non-finite rewards, observations or states, or arrays of
    the wrong shape. Once raised by a vec env, the message names the env, scenario, env index, agent
    and episode step.

    Inside an env or a backend it may be raised with only `detail` (what is wrong) and whatever of
    `env_index` / `agent` (agent index) is known there; the vec env fills in the rest.
    """

    def __init__(self, detail: str, env_index: int | None = None, agent: int | None = None,
                 located: bool = False):
        super().__init__(detail)
        self.detail, self.env_index, self.agent, self.located = detail, env_index, agent, located


@dataclass
class VecObs:
    """What a vec env shows the policy after reset()."""

    obs: np.ndarray  # (E, N, Do) float32
    state: np.ndarray  # (E, N, Ds) float32, per-agent state (agent-specific or a copied global state)
    avail: np.ndarray | None  # (E, N, A) float32 0/1 for Discrete action spaces, None for Box


@dataclass
class VecStep:
    """Result of VecEnv.step(). obs/state/avail are AFTER auto-reset of finished envs."""

    obs: np.ndarray  # (E, N, Do)
    state: np.ndarray  # (E, N, Ds)
    avail: np.ndarray | None  # (E, N, A) or None
    reward: np.ndarray  # (E, N) float32
    terminated: np.ndarray  # (E,) bool, true end of the MDP
    truncated: np.ndarray  # (E,) bool, time limit; False where terminated
    active: np.ndarray  # (E, N) bool, agents alive in the returned obs
    final_obs: np.ndarray  # (E, N, Do) observation reached BEFORE auto-reset (== obs where not done)
    final_state: np.ndarray  # (E, N, Ds) state reached BEFORE auto-reset (== state where not done)
    episode_info: dict[str, np.ndarray]  # each (E,) float64, NaN where no episode finished


@dataclass
class BatchStep:
    """Raw result of stepping E envs, before bookkeeping and auto-reset (internal to vec envs)."""

    obs: np.ndarray  # (E, N, Do)
    state: np.ndarray  # (E, N, Ds)
    avail: np.ndarray | None  # (E, N, A) or None
    reward: np.ndarray  # (E, N) float32
    terminated: np.ndarray  # (E,) bool
    truncated: np.ndarray  # (E,) bool
    info: dict[str, np.ndarray]  # (E,) float64 per episode_info key, valid where the episode ended
    active: np.ndarray | None = None  # (E, N) bool agents alive after the step (before reset); None = all


class MultiAgentEnv(ABC):
    """A single (non-vectorized) multi-agent env. All agents act every step.

    Subclasses set n_agents and the per-agent space lists in __init__. `episode_info_keys`
    lists the info entries (besides return/length) that describe a finished episode; step()
    must put them in `info` at least on the step that ends an episode.
    """

    n_agents: int
    observation_space: list[Box]
    state_space: list[Box]
    action_space: list[Discrete | Box]
    episode_info_keys: tuple[str, ...] = ()

    @abstractmethod
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Start an episode. seed=None continues the env's own RNG stream.

        Returns obs (N, Do), state (N, Ds), avail (N, A) or None.
        """

    @abstractmethod
    def step(self, actions: np.ndarray) -> tuple:
        """Apply actions (N, Da). Returns (obs, state, avail, reward (N,), terminated, truncated, info)."""

    @abstractmethod
    def get_state(self) -> dict[str, Any]:
        """Picklable snapshot (numpy arrays, python scalars, nested dicts/lists, RNG state)."""

    @abstractmethod
    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from get_state(); the next steps repeat the original ones."""

    def close(self) -> None:
        """Release resources (nothing to release for pure-numpy envs)."""


def discrete_actions(actions: np.ndarray, shape: tuple[int, ...], n_actions: int) -> np.ndarray:
    """Convert action indices given as shape + (1,) (or `shape`) floats/ints to an int64 array of `shape`.

    Policies often store discrete actions in float buffers, so 2.0 is accepted as action 2,
    but non-integral or out-of-range values are rejected instead of being silently rounded.
    """
    raw = np.asarray(actions)
    if raw.shape not in (shape, shape + (1,)):
        raise ValueError(f"expected discrete actions of shape {shape + (1,)}, got {raw.shape}")
    raw = raw.reshape(shape)
    idx = raw.astype(np.int64)
    if not np.array_equal(idx, raw) or (idx < 0).any() or (idx >= n_actions).any():
        raise ValueError(f"discrete actions must be integers in [0, {n_actions}), got {raw.ravel()}")
    return idx


SEED_STREAMS = ("train", "eval")


def env_seeds(seed: int, num_envs: int, stream: str = "train") -> list[int]:
    """The first-reset seed of each of num_envs envs: a 32-bit hash of (seed, stream, env index).

    NumPy's SeedSequence mixes the three, so runs with different seeds share no env stream
    (with seed + k, seeds 1 and 2 would share 49 of 50 envs) and evaluation never replays
    training episodes. 32 bits because some envs (JAX's PRNGKey, SC2) take no more.
    """
    if stream not in SEED_STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; choices: {', '.join(SEED_STREAMS)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    stream_id = SEED_STREAMS.index(stream)
    return [int(np.random.SeedSequence([seed, stream_id, k]).generate_state(1)[0]) for k in range(num_envs)]


def generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    """Rebuild a numpy Generator from `generator.bit_generator.state` (a picklable dict)."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _stack(name: str, arrays: tuple, env_ids) -> np.ndarray:
    """np.stack, but an env whose array has another shape than the others' is named (env_ids[k] is the
    global index of arrays[k]); the diagnosis only runs when stacking fails."""
    try:
        return np.stack(arrays)
    except ValueError:
        shapes = [np.shape(a) for a in arrays]
        common = max(set(shapes), key=shapes.count)
        odd = next(k for k, shape in enumerate(shapes) if shape != common)
        raise EnvOutputError(f"{name} has shape {shapes[odd]}, the other envs' {common}",
                             env_index=int(env_ids[odd])) from None


def stack_env_resets(results: list[tuple], env_ids=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Stack single-env reset() results into obs (E, N, Do), state (E, N, Ds), avail (E, N, A) or None.

    env_ids: the global index of each result's env (default 0, 1, ...), for error messages."""
    obs, state, avail = zip(*results)
    env_ids = range(len(results)) if env_ids is None else env_ids
    return (_stack("observation", obs, env_ids), _stack("state", state, env_ids),
            None if avail[0] is None else _stack("avail", avail, env_ids))


def stack_env_steps(results: list[tuple], info_keys: tuple[str, ...], env_ids=None) -> BatchStep:
    """Stack single-env step() results into a BatchStep; missing info keys become NaN.

    env_ids: the global index of each result's env (default 0, 1, ...), for error messages."""
    obs, state, avail, reward, terminated, truncated, infos = zip(*results)
    env_ids = range(len(results)) if env_ids is None else env_ids
    return BatchStep(
        obs=_stack("observation", obs, env_ids),
        state=_stack("state", state, env_ids),
        avail=None if avail[0] is None else _stack("avail", avail, env_ids),
        reward=_stack("reward", reward, env_ids).astype(np.float32),
        terminated=np.array(terminated, dtype=bool),
        truncated=np.array(truncated, dtype=bool),
        info={k: np.array([i.get(k, np.nan) for i in infos], dtype=np.float64) for k in info_keys},
        active=np.stack([i["active"] for i in infos]) if "active" in infos[0] else None,
    )


def concat_batch_steps(parts: list[BatchStep]) -> BatchStep:
    """Concatenate BatchSteps of consecutive env slices along the env axis."""
    return BatchStep(
        obs=np.concatenate([p.obs for p in parts]),
        state=np.concatenate([p.state for p in parts]),
        avail=None if parts[0].avail is None else np.concatenate([p.avail for p in parts]),
        reward=np.concatenate([p.reward for p in parts]),
        terminated=np.concatenate([p.terminated for p in parts]),
        truncated=np.concatenate([p.truncated for p in parts]),
        info={k: np.concatenate([p.info[k] for p in parts]) for k in parts[0].info},
        active=None if parts[0].active is None else np.concatenate([p.active for p in parts]),
    )


class EpisodeStats:
    """Running undiscounted team return and length of each env's current episode."""

    def __init__(self, num_envs: int, info_keys: tuple[str, ...]):
        self.info_keys = info_keys
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)

    def reset(self) -> None:
        self.returns[:] = 0.0
        self.lengths[:] = 0

    def update(self, reward: np.ndarray, done: np.ndarray, info: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Add one step of reward (E, N); return episode_info, each (E,) float64, NaN where not done."""
        # The team reward is the mean over agents: identical to each agent's reward in shared-reward
        # envs, and still a sensible team score if a later env gives agents different rewards.
        self.returns += reward.mean(axis=1, dtype=np.float64)
        self.lengths += 1
        episode_info = {
            "return": np.where(done, self.returns, np.nan),
            "length": np.where(done, self.lengths.astype(np.float64), np.nan),
        }
        for key in self.info_keys:
            episode_info[key] = np.where(done, info[key], np.nan)
        self.returns[done] = 0.0
        self.lengths[done] = 0
        return episode_info

    def get_state(self) -> dict[str, np.ndarray]:
        return {"returns": self.returns.copy(), "lengths": self.lengths.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.returns[:] = state["returns"]
        self.lengths[:] = state["lengths"]


class VecEnv(ABC):
    """E copies of a multi-agent env stepped together, with automatic reset of finished envs.

    This class owns the logic every backend shares (seeding, episode bookkeeping, auto-reset,
    state snapshots); a backend only implements how to reset, step and snapshot its envs.
    Env k is seeded with env_seeds(seed, E, seed_stream)[k] on the first reset() and then
    continues its own RNG stream.
    """

    seed_stream = "train"  # make_vec_env sets "eval" for evaluation envs
    env_label = "env"  # "<env_name>/<scenario>", set by make_vec_env; names the env in error messages
    agent_names: tuple[str, ...] | None = None  # the env's own agent names where it has them (messages only)
    # Every reset/step output is checked at this boundary: finite rewards, observations and states, and the
    # shapes the spaces promise. One np.isfinite per array over all envs; details only on failure.
    check_outputs = True

    def __init__(
        self,
        num_envs: int,
        seed: int,
        n_agents: int,
        observation_space: list[Box],
        state_space: list[Box],
        action_space: list[Discrete | Box],
        episode_info_keys: tuple[str, ...],
    ):
        self.num_envs = num_envs
        self.seed = seed
        self.n_agents = n_agents
        self.observation_space = observation_space
        self.state_space = state_space
        self.action_space = action_space
        self.episode_info_keys = episode_info_keys
        self._episodes = EpisodeStats(num_envs, episode_info_keys)
        self._seeded = False  # becomes True once every env got its seed (by reset or set_state)
        self._needs_reset = True

    # --- backend hooks -------------------------------------------------------------------
    @abstractmethod
    def _reset_envs(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        """Reset the envs in env_ids (sorted). Returns obs (k, N, Do), state (k, N, Ds), avail (k, N, A) | None."""

    @abstractmethod
    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        """Step all envs with actions (E, N, Da), without auto-reset."""

    @abstractmethod
    def _get_env_states(self) -> list[dict]:
        """One single-env-format snapshot per env (so snapshots are portable across backends)."""

    @abstractmethod
    def _set_env_states(self, states: list[dict]) -> None:
        """Restore one snapshot per env."""

    def close(self) -> None:
        """Release backend resources; idempotent."""

    # --- shared logic --------------------------------------------------------------------
    def reset(self) -> VecObs:
        """Reset every env; the first call seeds env k with env_seeds(seed, E, seed_stream)[k]."""
        env_ids = np.arange(self.num_envs)
        seeds = None if self._seeded else env_seeds(self.seed, self.num_envs, self.seed_stream)
        obs, state, avail = self._checked_reset(env_ids, seeds)
        self._seeded = True
        self._needs_reset = False
        self._episodes.reset()
        return VecObs(obs=obs, state=state, avail=avail)

    def step(self, actions: np.ndarray) -> VecStep:
        """Step with actions (E, N, Da); finished envs are reset and their new obs returned."""
        if self._needs_reset:
            raise RuntimeError("call reset() (or set_state()) before step()")
        actions = np.asarray(actions)
        if actions.shape[:2] != (self.num_envs, self.n_agents):
            raise ValueError(f"actions must have shape ({self.num_envs}, {self.n_agents}, Da), got {actions.shape}")
        try:
            batch = self._step_envs(actions)
        except EnvOutputError as err:
            raise self._located(err, step=True) from None
        if self.check_outputs:
            self._check_outputs(np.arange(self.num_envs), batch.obs, batch.state, batch.avail, batch.reward, step=True)
        truncated = batch.truncated & ~batch.terminated
        done = batch.terminated | truncated
        episode_info = self._episodes.update(batch.reward, done, batch.info)
        final_obs, final_state = batch.obs, batch.state
        if done.any():
            # Truncated episodes bootstrap from these; the arrays below get the reset obs.
            final_obs, final_state = batch.obs.copy(), batch.state.copy()
            env_ids = np.flatnonzero(done)
            obs, state, avail = self._checked_reset(env_ids, None)
            batch.obs[env_ids] = obs
            batch.state[env_ids] = state
            if batch.avail is not None:
                batch.avail[env_ids] = avail
        # Dead agents are inactive until their env resets; a reset env starts with everyone alive.
        active = np.ones((self.num_envs, self.n_agents), dtype=bool)
        if batch.active is not None:
            active = batch.active.copy()
            active[done] = True
        return VecStep(
            obs=batch.obs,
            state=batch.state,
            avail=batch.avail,
            reward=batch.reward,
            terminated=batch.terminated,
            truncated=truncated,
            active=active,
            final_obs=final_obs,
            final_state=final_state,
            episode_info=episode_info,
        )

    # --- output checks -------------------------------------------------------------------
    def _checked_reset(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        try:
            obs, state, avail = self._reset_envs(env_ids, seeds)
        except EnvOutputError as err:
            raise self._located(err, step=False) from None
        if self.check_outputs:
            self._check_outputs(env_ids, obs, state, avail, None, step=False)
        return obs, state, avail

    def _check_outputs(self, env_ids: np.ndarray, obs: np.ndarray, state: np.ndarray, avail: np.ndarray | None,
                       reward: np.ndarray | None, step: bool) -> None:
        """Raise EnvOutputError for wrong shapes or non-finite numbers in the outputs of envs env_ids.

        The cheap path is four shape comparisons and one np.isfinite(...).all() per array (obs, state,
        reward) over all envs and agents; which env, agent and feature is only worked out on failure."""
        n, N = len(env_ids), self.n_agents
        space = self.action_space[0]
        if (np.shape(obs) != (n, N, self.observation_space[0].shape[0])
                or np.shape(state) != (n, N, self.state_space[0].shape[0])
                or (reward is not None and np.shape(reward) != (n, N))
                or (avail is not None and isinstance(space, Discrete) and np.shape(avail) != (n, N, int(space.n)))):
            self._shape_error(env_ids, obs, state, avail, reward, step)
        if np.isfinite(obs).all() and np.isfinite(state).all() and (reward is None or np.isfinite(reward).all()):
            return
        for name, array in (("reward", reward), ("observation", obs), ("state", state)):
            if array is None:
                continue
            bad = ~np.isfinite(array)
            if not bad.any():
                continue
            per_agent = bad.reshape(n, N, -1).any(-1)
            e, agent = map(int, np.argwhere(per_agent)[0])
            values = np.asarray(array[e, agent]).reshape(-1)
            idx = np.flatnonzero(~np.isfinite(values))
            what = (f"reward is {values[0]}" if name == "reward" else
                    f"{name} has {idx.size} non-finite value(s) ({', '.join(f'[{i}] = {values[i]}' for i in idx[:5])}"
                    f"{', ...' if idx.size > 5 else ''})")
            others = int(per_agent.sum()) - 1
            raise EnvOutputError(f"{self._where(int(env_ids[e]), agent, step)}: {what}"
                                 + (f" (and {others} more (env, agent) pairs in this step)" if others else ""),
                                 located=True)

    def _shape_error(self, env_ids, obs, state, avail, reward, step: bool):
        n, N = len(env_ids), self.n_agents
        expected = {"observation": (obs, (n, N, self.observation_space[0].shape[0])),
                    "state": (state, (n, N, self.state_space[0].shape[0])), "reward": (reward, (n, N))}
        if isinstance(self.action_space[0], Discrete):
            expected["avail"] = (avail, (n, N, int(self.action_space[0].n)))
        for name, (array, shape) in expected.items():
            if array is not None and np.shape(array) != shape:
                axes = "envs, agents" + (", features" if len(shape) == 3 else "")
                envs = f"envs {int(env_ids[0])}-{int(env_ids[-1])}" if n > 1 else f"env {int(env_ids[0])}"
                raise EnvOutputError(f"{self._where(None, None, step)} {envs}: {name} array has shape "
                                     f"{np.shape(array)}, the env's spaces say {shape} ({axes})", located=True)

    def _where(self, env_index: int | None, agent: int | None, step: bool) -> str:
        """'<env>/<scenario> (train) env 3, agent 1 (agent_1), episode step 17' for error messages."""
        text = f"{self.env_label} ({self.seed_stream} envs)"
        if env_index is not None:
            text += f" env {env_index}"
        if agent is not None:
            name = self.agent_names[agent] if self.agent_names and agent < len(self.agent_names) else None
            text += f", agent {agent}" + (f" ({name})" if name is not None and name != str(agent) else "")
        if env_index is not None:
            text += (f", episode step {int(self._episodes.lengths[env_index]) + 1}" if step
                     else ", at reset (step 0)")
        return f"bad env output: {text}"

    def _located(self, err: EnvOutputError, step: bool) -> EnvOutputError:
        """An EnvOutputError from an env or backend, with the env, scenario and step filled in."""
        if err.located:
            return err
        return EnvOutputError(f"{self._where(err.env_index, err.agent, step)}: {err.detail}", located=True)

    def get_state(self) -> dict[str, Any]:
        """Picklable snapshot of all envs (incl. RNGs) and the running episode statistics."""
        if self._needs_reset:
            raise RuntimeError("call reset() before get_state()")
        return {"envs": self._get_env_states(), "episodes": self._episodes.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a get_state() snapshot (from any backend of the same env)."""
        if len(state["envs"]) != self.num_envs:
            raise ValueError(f"snapshot holds {len(state['envs'])} envs, this vec env has {self.num_envs}")
        self._set_env_states(state["envs"])
        self._episodes.set_state(state["episodes"])
        self._seeded = True
        self._needs_reset = False


@dataclass(frozen=True)
class EnvSpec:
    """Registry entry describing how to build one env family.

    make_env(scenario, **env_kwargs) -> MultiAgentEnv is used by the dummy/subproc backends
    (it must be picklable, e.g. a class); make_batched(scenario, num_envs, seed, **env_kwargs)
    -> VecEnv is the optional array-batched backend.
    """

    name: str
    scenarios: tuple[str, ...]  # human-readable choices, used in error messages
    is_scenario: Callable[[str], bool]
    env_kwargs: tuple[str, ...]  # accepted env_kwargs keys
    make_env: Callable[..., MultiAgentEnv]
    make_batched: Callable[..., VecEnv] | None = None
    # validate_kwargs(scenario, **env_kwargs) raises ValueError for bad values without building an env,
    # so bad flags fail at config time rather than inside a worker process.
    validate_kwargs: Callable[..., None] | None = None
    # agent_id_inputs(scenario, **env_kwargs) -> (obs carries a one-hot agent id, state carries one);
    # shared networks add an id only where the input lacks one. None = neither carries one.
    agent_id_inputs: Callable[..., tuple[bool, bool]] | None = None
