"""Any PettingZoo `ParallelEnv` as a MultiAgentEnv (run through the dummy/subproc vec envs).

`--scenario_name` names the env factory: `package.module` means that module's `parallel_env()`
(e.g. `mpe2.simple_spread_v3`), `package.module:function` any function returning a ParallelEnv.
`--env_args` (a JSON object) are its keyword arguments, e.g. `--env_args '{"N": 3, "max_cycles": 25}'`.
The agents are `possible_agents`, in that order.

What the adapter does with the env (N = len(possible_agents)):
- obs (N, Do): each agent's observation flattened and zero-padded to the largest one; an agent
  that is not in `env.agents` (it left, or has not joined) sees zeros. Box observations, and
  Dict observations of the `{"observation": Box, "action_mask": ...}` convention; any other
  observation space is refused with an error naming the env, the agent and the space.
- state (N, Ds): `env.state()` copied to every agent where the env has a `state_space`, else
  all agents' padded observations concatenated (Ds = N * Do).
- actions: all Discrete, as one Discrete(max n) (actions >= an agent's n are masked out in
  avail), or all 1-D Box, as one Box of the largest size (agent i uses the first d_i entries,
  clipped to its bounds). Mixed or other action spaces are refused.
- avail (N, A): 1 for an agent's actions, times the env's `action_mask` (from the observation
  dict, else from the agent's info) where it gives one; an inactive agent may only take action 0
  (it is not sent to the env).
- active (N,): the agent is in `env.agents` after the step (agents that terminate early become
  inactive until the episode ends; the runner masks them out of the losses).
- termination vs truncation: the episode ends when `env.agents` is empty. It is truncated
  (bootstrapped) if any agent acting in the last step was truncated, else terminated.
- rewards (N,): each agent's own reward (0 for inactive agents); the logged team return is
  their mean.

Seeding: reset(seed=s) seeds the env with s; every later episode k is reset with a seed drawn
from SeedSequence([s, k]), so an env's episodes depend only on its first seed and its actions,
and a resumed run's new episodes are the ones an uninterrupted run would have had.

Resume: a PettingZoo env cannot be saved in general, so a checkpoint keeps the seed counter and
the last observation, and on resume the interrupted episode is ended as a truncation at the
resume point and a new episode starts (see onpolicy/envs/restart.py).
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, Callable

import numpy as np
from gymnasium import spaces
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import EnvConfigError, EnvOutputError, EnvSpec, MultiAgentEnv, discrete_actions
from onpolicy.envs.restart import InterruptedEpisode

SCENARIOS = ("<package.module> (its parallel_env(), e.g. mpe2.simple_spread_v3)", "<package.module>:<function>")
FACTORY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?")
INSTALL_HINT = "pip install -r requirements-envs.txt (pettingzoo, mpe2)"


class PettingZooEnvError(EnvConfigError):
    """An env this adapter cannot take; the message names the env and the reason."""


def is_factory_name(scenario: str) -> bool:
    return isinstance(scenario, str) and FACTORY.fullmatch(scenario) is not None


def resolve_factory(scenario: str) -> Callable[..., Any]:
    """The callable a scenario name points to (imports its module)."""
    if not is_factory_name(scenario):
        raise PettingZooEnvError(f"pettingzoo scenario {scenario!r} is not a factory name; choices: "
                                 f"{', '.join(SCENARIOS)}")
    module_name, _, function_name = scenario.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PettingZooEnvError(f"pettingzoo scenario {scenario!r}: cannot import {module_name} ({err}); "
                                 f"{INSTALL_HINT}") from None
    function_name = function_name or "parallel_env"
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise PettingZooEnvError(f"pettingzoo scenario {scenario!r}: {module_name} has no function "
                                 f"{function_name}() (give <module>:<function> for another factory)")
    return factory


def factory_keys(scenario: str, factory: Callable[..., Any]) -> tuple[str, ...] | None:
    """The keyword arguments a factory takes, from its signature; None where no signature tells.

    PettingZoo modules' parallel_env(**kwargs) hands everything to the module's raw_env, so for a
    factory that takes only **kwargs the module's raw_env signature is read instead."""
    def keywords(fn) -> tuple[str, ...] | None:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))

    keys = keywords(factory)
    if keys is None and ":" not in scenario:
        raw_env = getattr(importlib.import_module(scenario), "raw_env", None)
        keys = keywords(raw_env) if raw_env is not None else None
    return keys


def validate_env_kwargs(scenario: str, env_args: dict | None = None) -> None:
    """Cheap config-time checks: the factory exists, env_args is a dict with string keys, and every key
    is one the factory takes (where its signature tells)."""
    if env_args is not None and (not isinstance(env_args, dict) or not all(isinstance(k, str) for k in env_args)):
        raise PettingZooEnvError(f"env_args must be a JSON object of keyword arguments, got {env_args!r}")
    factory = resolve_factory(scenario)
    keys = factory_keys(scenario, factory) if env_args else None
    if keys is not None:
        unknown = [k for k in env_args if k not in keys]
        if unknown:
            raise PettingZooEnvError(f"pettingzoo env {scenario} does not take --env_args key(s) "
                                     f"{', '.join(map(repr, unknown))}; its keys: {', '.join(keys) or '(none)'}")


def _flat_size(space, env: str, agent: str) -> int:
    if isinstance(space, Box):
        return int(np.prod(space.shape))
    raise PettingZooEnvError(f"pettingzoo env {env}: agent {agent}'s observation space {space} is not a Box "
                             "(only Box observations, or Dict {'observation': Box, 'action_mask': ...}, have a "
                             "flattening rule here)")


def _observation_layout(space, env: str, agent: str) -> tuple[int, bool]:
    """(flat observation size, whether the observation is a dict carrying an action_mask)."""
    if isinstance(space, spaces.Dict):
        if "observation" not in space.spaces or not set(space.spaces) <= {"observation", "action_mask"}:
            raise PettingZooEnvError(f"pettingzoo env {env}: agent {agent}'s dict observation has keys "
                                     f"{sorted(space.spaces)}; only {{'observation', 'action_mask'}} can be "
                                     "flattened (wrap the env to flatten it first)")
        return _flat_size(space.spaces["observation"], env, agent), "action_mask" in space.spaces
    return _flat_size(space, env, agent), False


def episode_seed(first_seed: int, episode: int) -> int:
    """The reset seed of episode `episode` (>= 1) of an env first reset with `first_seed`."""
    return int(np.random.SeedSequence([first_seed, episode]).generate_state(1)[0])


class PettingZooEnv(MultiAgentEnv):
    """One PettingZoo ParallelEnv; see the module docstring for the conventions."""

    def __init__(self, scenario: str = "mpe2.simple_spread_v3", env_args: dict | None = None):
        validate_env_kwargs(scenario, env_args)
        self.scenario = scenario
        try:
            self._env = resolve_factory(scenario)(**(env_args or {}))
        except TypeError as err:  # a key its signature did not reveal at config time
            if "argument" not in str(err):
                raise
            raise PettingZooEnvError(f"pettingzoo env {scenario} does not take some of env_args {env_args}: "
                                     f"{err}") from None
        self._agents = list(self._env.possible_agents)
        self.agent_names = tuple(map(str, self._agents))
        self.n_agents = len(self._agents)
        if self.n_agents == 0:
            raise PettingZooEnvError(f"pettingzoo env {scenario} has no possible_agents")
        self._build_observations()
        self._build_actions()
        self._first_seed: int | None = None
        self._episode = 0
        self._live: list[str] = []
        self._interrupted = InterruptedEpisode()

    # --- spaces --------------------------------------------------------------------------------
    def _build_observations(self) -> None:
        layouts = [_observation_layout(self._env.observation_space(a), self.scenario, a) for a in self._agents]
        self._obs_sizes = [size for size, _ in layouts]
        self._mask_in_obs = [has_mask for _, has_mask in layouts]
        obs_dim = max(self._obs_sizes)
        state_space = getattr(self._env, "state_space", None)
        self._env_state = isinstance(state_space, Box)
        state_dim = int(np.prod(state_space.shape)) if self._env_state else self.n_agents * obs_dim
        self.observation_space = [Box(-np.inf, np.inf, (obs_dim,), np.float32) for _ in range(self.n_agents)]
        self.state_space = [Box(-np.inf, np.inf, (state_dim,), np.float32) for _ in range(self.n_agents)]

    def _build_actions(self) -> None:
        agent_spaces = [self._env.action_space(a) for a in self._agents]
        if all(isinstance(s, Discrete) for s in agent_spaces):
            self._discrete = True
            self._n_actions = [int(s.n) for s in agent_spaces]
            self._starts = [int(s.start) for s in agent_spaces]
            self.action_space = [Discrete(max(self._n_actions)) for _ in range(self.n_agents)]
        elif all(isinstance(s, Box) and len(s.shape) == 1 for s in agent_spaces):
            self._discrete = False
            self._action_sizes = [s.shape[0] for s in agent_spaces]
            dim = max(self._action_sizes)
            self._low = np.full((self.n_agents, dim), min(float(s.low.min()) for s in agent_spaces))
            self._high = np.full((self.n_agents, dim), max(float(s.high.max()) for s in agent_spaces))
            for i, s in enumerate(agent_spaces):
                self._low[i, : s.shape[0]], self._high[i, : s.shape[0]] = s.low, s.high
            box = Box(self._low.min(), self._high.max(), (dim,), np.float32)
            self.action_space = [box for _ in range(self.n_agents)]
        else:
            kinds = sorted({type(s).__name__ for s in agent_spaces})
            raise PettingZooEnvError(f"pettingzoo env {self.scenario}: action spaces {kinds} are not supported; "
                                     "all agents need Discrete, or all 1-D Box, actions")

    # --- observations ----------------------------------------------------------------------------
    def _observe(self, agent_obs: dict, infos: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """obs (N, Do), state (N, Ds), avail (N, A) or None, active (N,) of the live agents."""
        N, obs_dim = self.n_agents, self.observation_space[0].shape[0]
        obs = np.zeros((N, obs_dim), dtype=np.float32)
        active = np.array([a in self._live for a in self._agents])
        avail = self._base_avail(active)
        for i, agent in enumerate(self._agents):
            if not active[i] or agent not in agent_obs:
                continue
            raw = agent_obs[agent]
            mask = infos.get(agent, {}).get("action_mask")
            if self._mask_in_obs[i]:
                raw, mask = raw["observation"], raw.get("action_mask", mask)
            flat = np.asarray(raw, dtype=np.float32).reshape(-1)
            if flat.size != self._obs_sizes[i]:
                space = self._env.observation_space(agent)
                raise EnvOutputError(f"observation of shape {np.shape(raw)} ({flat.size} values) does not match "
                                     f"the agent's observation space {space} ({self._obs_sizes[i]} values)", agent=i)
            obs[i, : self._obs_sizes[i]] = flat
            if mask is not None and avail is not None:
                avail[i, : self._n_actions[i]] *= np.asarray(mask, dtype=np.float32).reshape(-1)
                if not avail[i].any():
                    raise PettingZooEnvError(f"pettingzoo env {self.scenario}: agent {agent} is live but its "
                                             "action_mask allows no action")
        if self._env_state:
            state = np.tile(np.asarray(self._env.state(), dtype=np.float32).reshape(1, -1), (N, 1))
        else:
            state = np.tile(obs.reshape(1, -1), (N, 1))
        self._interrupted.remember(obs, state, avail, active)
        return obs, state, avail, active

    def _base_avail(self, active: np.ndarray) -> np.ndarray | None:
        """(N, A): an agent's own actions (padding masked out); inactive agents: action 0 only."""
        if not self._discrete:
            return None
        avail = np.zeros((self.n_agents, self.action_space[0].n), dtype=np.float32)
        for i, n in enumerate(self._n_actions):
            avail[i, : n if active[i] else 1] = 1.0
        return avail

    # --- MultiAgentEnv -----------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if seed is not None:
            self._first_seed, self._episode = int(seed), 0
        elif self._first_seed is not None:
            self._episode += 1
            seed = episode_seed(self._first_seed, self._episode)
        agent_obs, infos = self._env.reset(seed=seed)
        self._interrupted.clear()
        self._live = list(self._env.agents)
        obs, state, avail, _ = self._observe(agent_obs, infos or {})
        return obs, state, avail

    def _env_actions(self, actions: np.ndarray) -> dict:
        """Our (N, Da) actions as the env's {agent: action} for the live agents."""
        if self._discrete:
            idx = discrete_actions(actions, (self.n_agents,), self.action_space[0].n)
            too_big = [a for i, a in enumerate(self._agents) if a in self._live and idx[i] >= self._n_actions[i]]
            if too_big:
                raise ValueError(f"pettingzoo env {self.scenario}: action out of range for {too_big} "
                                 f"(action counts {dict(zip(self._agents, self._n_actions))})")
            return {a: int(idx[i]) + self._starts[i] for i, a in enumerate(self._agents) if a in self._live}
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != (self.n_agents, self.action_space[0].shape[0]):
            raise ValueError(f"expected actions of shape {(self.n_agents, self.action_space[0].shape[0])}, "
                             f"got {actions.shape}")
        actions = np.clip(actions, self._low, self._high).astype(np.float32)
        return {a: actions[i, : self._action_sizes[i]] for i, a in enumerate(self._agents) if a in self._live}

    def step(self, actions: np.ndarray) -> tuple:
        interrupted = self._interrupted.take_truncation()
        if interrupted is not None:
            return interrupted
        acting = list(self._live)
        agent_obs, rewards, terminations, truncations, infos = self._env.step(self._env_actions(actions))
        self._live = list(self._env.agents)
        obs, state, avail, active = self._observe(agent_obs, infos or {})
        reward = np.array([float(rewards.get(a, 0.0)) for a in self._agents], dtype=np.float32)
        over = not self._live
        truncated = over and any(bool(truncations.get(a, False)) for a in acting)
        return obs, state, avail, reward, over and not truncated, truncated, {"active": active}

    def get_state(self) -> dict[str, Any]:
        """The seed counter and the last observation (the env's own episode cannot be saved)."""
        return {"first_seed": self._first_seed, "episode": self._episode, "last_view": self._interrupted.snapshot()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the seed counter; the next step() ends the interrupted episode as a truncation."""
        first_seed = state["first_seed"]
        self._first_seed = None if first_seed is None else int(first_seed)
        self._episode = int(state["episode"])
        self._interrupted.arm(state["last_view"])

    def close(self) -> None:
        self._env.close()


SPEC = EnvSpec(
    name="pettingzoo",
    scenarios=SCENARIOS,
    is_scenario=is_factory_name,
    env_kwargs=("env_args",),
    make_env=PettingZooEnv,
    make_batched=None,  # one Python env each: run through the dummy/subproc backends
    validate_kwargs=validate_env_kwargs,
)
