"""VMAS (Vectorized Multi-Agent Simulator): all E envs live in ONE VMAS instance (batched backend).

VMAS simulates a batch of worlds with torch ops; this adapter steps the whole batch with one
`env.step` call and resets finished envs with `reset_at`, so there are no subprocesses and no
per-env Python loop in the simulation. The simulation, its tensors and its RNG stay on VMAS's
torch device; the VecEnv interface is NumPy, so the arrays are converted once per step at that
boundary (obs/state/reward/flags: torch (E, ...) -> numpy; actions: numpy -> torch).

`--scenario_name` is a VMAS scenario (`balance`, `transport`, `navigation`, ...; see
`vmas.scenarios`), `--env_args` a JSON object of VMAS / scenario keyword arguments, e.g.
`'{"n_agents": 3, "max_steps": 100}'`. Adapter keys: `max_steps` (episode limit, a truncation;
default 100), `continuous_actions` (default true), `device` (default "cpu"); everything else goes
to the scenario.

Per agent i (N agents, all active throughout: VMAS agents do not leave):
- obs_i (Do,): VMAS's observation flattened and zero-padded to the largest agent's.
- state_i (N * Do,): all agents' padded observations concatenated (VMAS has no global state).
- actions: continuous: one Box of the largest action size; agent i uses the first d_i entries,
  clipped to its range. Discrete (`"continuous_actions": false`): one Discrete(max n) with the
  padding actions masked out in avail. MultiDiscrete actions are refused.
- reward_i: agent i's reward; terminated = the scenario's done(), truncated = max_steps reached.

Seeding: VMAS draws from the torch/NumPy/Python global RNGs inside a state it keeps for the
process; this adapter gives each vec env an RNG state of its own (swapped in around every VMAS
call), seeded from all E envs' seeds on the first reset. So a run is repeatable, train and eval
envs do not share a stream, and the RNG is part of the snapshot. On a CUDA device VMAS draws from
torch's CUDA RNG, which is not isolated that way: exact repeatability holds on the CPU.

Resume: VMAS worlds have no save/restore API, so a snapshot keeps the RNG state and every env's
last observation; on resume all interrupted episodes end as truncations at the first step (zero
reward, bootstrapped from the last observation) and new episodes start (see onpolicy/envs/restart.py).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import random
import re
import warnings
from typing import Any

import numpy as np
import torch
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import BatchStep, EnvConfigError, EnvSpec, EnvUnavailableError, VecEnv, discrete_actions

INSTALL_HINT = "pip install -r requirements-envs.txt (vmas)"
ADAPTER_DEFAULTS = {"max_steps": 100, "continuous_actions": True, "device": "cpu"}


def _import_vmas():
    try:
        import vmas
        from vmas.simulator.environment import Environment
    except ImportError as err:
        raise EnvUnavailableError(f"--env_name vmas needs the vmas package ({err}); {INSTALL_HINT}") from err
    return vmas, Environment


def scenario_choices() -> tuple[str, ...]:
    vmas, _ = _import_vmas()
    return tuple(vmas.scenarios) + tuple(vmas.mpe_scenarios) + tuple(vmas.debug_scenarios)


_KWARG_READ = re.compile(r"""kwargs\.(?:pop|get)\(\s*["'](\w+)["']""")


@functools.lru_cache(maxsize=None)
def scenario_keys(scenario: str) -> tuple[str, ...] | None:
    """The keyword arguments a VMAS scenario takes, read from its make_world source (VMAS scenarios read
    them with kwargs.pop("name", default)); None where the source does not tell (it hands kwargs on)."""
    try:
        scenario_cls = importlib.import_module("vmas.scenarios").load(f"{scenario}.py").Scenario
        source = inspect.getsource(scenario_cls.make_world)
    except Exception:  # noqa: BLE001 - no source to read: leave the check to VMAS at build time
        return None
    rest = _KWARG_READ.sub("", source).replace("**kwargs", "", 1).replace("check_kwargs_consumed(kwargs", "")
    if re.search(r"\bkwargs\b", rest):
        return None
    return tuple(dict.fromkeys(_KWARG_READ.findall(source)))


def _unknown_keys_message(scenario: str, env_args: dict, unknown: list[str], keys: tuple[str, ...] | None) -> str:
    taken = f"its keys: {', '.join(keys) or '(none)'}; " if keys is not None else ""
    return (f"vmas scenario {scenario!r} does not take some of env_args {env_args}: unknown key(s) "
            f"{', '.join(map(repr, unknown))}; {taken}adapter keys: {', '.join(sorted(ADAPTER_DEFAULTS))}")


def validate_env_kwargs(scenario: str, env_args: dict | None = None) -> None:
    """Config-time checks: the scenario exists, env_args is an object, max_steps is valid, and every key is
    one the scenario (or this adapter) takes, where the scenario's source tells which it takes."""
    if scenario not in scenario_choices():
        raise EnvConfigError(f"unknown vmas scenario {scenario!r}; choices: {', '.join(scenario_choices())}")
    if env_args is not None and not isinstance(env_args, dict):
        raise EnvConfigError(f"env_args must be a JSON object of keyword arguments, got {env_args!r}")
    max_steps = (env_args or {}).get("max_steps", ADAPTER_DEFAULTS["max_steps"])
    if not isinstance(max_steps, int) or max_steps < 1:
        raise EnvConfigError(f"vmas env_args max_steps must be an int >= 1 (the episode limit), got {max_steps!r}")
    keys = scenario_keys(scenario)
    if env_args and keys is not None:
        unknown = [k for k in env_args if k not in keys and k not in ADAPTER_DEFAULTS]
        if unknown:
            raise EnvConfigError(_unknown_keys_message(scenario, env_args, unknown, keys))


class VMASVecEnv(VecEnv):
    """num_envs VMAS worlds of one scenario in one batched VMAS Environment."""

    def __init__(self, scenario: str = "balance", num_envs: int = 1, seed: int = 0, env_args: dict | None = None):
        validate_env_kwargs(scenario, env_args)
        vmas, self._vmas_env_cls = _import_vmas()
        args = {**ADAPTER_DEFAULTS, **(env_args or {})}
        self.scenario, self.device = scenario, torch.device(args.pop("device"))
        self._rng = self._fresh_rng_state()
        with self._own_rng(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._env = vmas.make_env(scenario, num_envs=num_envs, device=self.device,
                                      continuous_actions=bool(args.pop("continuous_actions")),
                                      max_steps=int(args.pop("max_steps")), dict_spaces=False,
                                      terminated_truncated=True, clamp_actions=True, **args)
        for warning in caught:
            # VMAS only warns about scenario kwargs it ignores; a typo would silently run the defaults.
            if "not used by the scenario" in str(warning.message):
                unknown = [k for k in env_args if repr(k) in str(warning.message)] or ["?"]
                raise EnvConfigError(_unknown_keys_message(scenario, env_args, unknown, scenario_keys(scenario)))
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        obs_space, act_space = self._define_spaces()
        n = self._env.n_agents
        super().__init__(num_envs=num_envs, seed=seed, n_agents=n, observation_space=[obs_space] * n,
                         state_space=[Box(-np.inf, np.inf, (n * obs_space.shape[0],), np.float32)] * n,
                         action_space=[act_space] * n, episode_info_keys=())
        self._last_obs: np.ndarray | None = None  # (E, N, Do), for snapshots
        self._interrupted = False  # after set_state: the next step ends every interrupted episode

    # --- RNG ------------------------------------------------------------------------------------
    @staticmethod
    def _fresh_rng_state(seed: int = 0) -> list:
        """[torch CPU state, NumPy state, Python random state] as VMAS keeps them."""
        return [torch.Generator().manual_seed(seed).get_state(), np.random.RandomState(seed).get_state(),
                random.Random(seed).getstate()]

    @contextlib.contextmanager
    def _own_rng(self):
        """VMAS keeps one RNG state per process (Environment.vmas_random_state); swap ours in."""
        shared = self._vmas_env_cls.vmas_random_state
        saved = list(shared)
        shared[:] = self._rng
        try:
            yield
        finally:
            self._rng = list(shared)
            shared[:] = saved

    # --- spaces and conversions -------------------------------------------------------------------
    def _define_spaces(self) -> tuple[Box, Box | Discrete]:
        env, label = self._env, f"vmas scenario {self.scenario}"
        obs_spaces = list(env.observation_space)
        # VMAS builds old-gym spaces, so spaces are told apart by class name, not isinstance.
        if not all(type(s).__name__ == "Box" for s in obs_spaces):
            raise ValueError(f"{label}: dict observations are not supported (only Box observations)")
        self._obs_sizes = [int(np.prod(s.shape)) for s in obs_spaces]
        obs_space = Box(-np.inf, np.inf, (max(self._obs_sizes),), np.float32)
        spaces = list(env.action_space)
        if all(type(s).__name__ == "Box" for s in spaces):
            self._discrete = False
            self._action_sizes = [s.shape[0] for s in spaces]
            dim = max(self._action_sizes)
            low = np.full((len(spaces), dim), min(float(s.low.min()) for s in spaces), dtype=np.float32)
            high = np.full((len(spaces), dim), max(float(s.high.max()) for s in spaces), dtype=np.float32)
            for i, s in enumerate(spaces):
                low[i, : s.shape[0]], high[i, : s.shape[0]] = s.low, s.high
            self._low = torch.as_tensor(low, device=self.device)
            self._high = torch.as_tensor(high, device=self.device)
            return obs_space, Box(float(low.min()), float(high.max()), (dim,), np.float32)
        if all(type(s).__name__ == "Discrete" for s in spaces):
            self._discrete = True
            self._n_actions = [int(s.n) for s in spaces]
            return obs_space, Discrete(max(self._n_actions))
        kinds = sorted({type(s).__name__ for s in spaces})
        raise ValueError(f"{label}: action spaces {kinds} are not supported (Box, or Discrete without multidiscrete)")

    def _stack_obs(self, agent_obs: list[torch.Tensor]) -> torch.Tensor:
        """VMAS's per-agent (E, d_i) observations as one zero-padded (E, N, Do) tensor on its device."""
        E, N, Do = self.num_envs, self.n_agents, self.observation_space[0].shape[0]
        obs = torch.zeros((E, N, Do), dtype=torch.float32, device=self.device)
        for i, o in enumerate(agent_obs):
            obs[:, i, : self._obs_sizes[i]] = o.reshape(E, -1)
        return obs

    def _view(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """obs (k, N, Do) -> (obs, state (k, N, N*Do), avail (k, N, A) | None)."""
        k = obs.shape[0]
        state = np.repeat(obs.reshape(k, 1, -1), self.n_agents, axis=1)
        return obs, state, None if not self._discrete else np.repeat(self._avail()[None], k, axis=0)

    def _avail(self) -> np.ndarray:
        """(N, A): each agent's own actions; the padding actions of agents with fewer are masked out."""
        avail = np.zeros((self.n_agents, self.action_space[0].n), dtype=np.float32)
        for i, n in enumerate(self._n_actions):
            avail[i, :n] = 1.0
        return avail

    def _env_actions(self, actions: np.ndarray) -> list[torch.Tensor]:
        """Our (E, N, Da) actions as VMAS's list of per-agent tensors on its device."""
        if self._discrete:
            idx = discrete_actions(actions, (self.num_envs, self.n_agents), self.action_space[0].n)
            if (idx >= np.array(self._n_actions)[None]).any():
                raise ValueError(f"vmas {self.scenario}: action out of range (action counts {self._n_actions})")
            idx = torch.as_tensor(idx, device=self.device)
            return [idx[:, i] for i in range(self.n_agents)]
        expected = (self.num_envs, self.n_agents, self.action_space[0].shape[0])
        if actions.shape != expected:
            raise ValueError(f"expected actions of shape {expected}, got {actions.shape}")
        acts = torch.as_tensor(actions, dtype=torch.float32, device=self.device)
        acts = torch.maximum(torch.minimum(acts, self._high), self._low)
        return [acts[:, i, : self._action_sizes[i]] for i in range(self.n_agents)]

    # --- VecEnv backend hooks --------------------------------------------------------------------
    def _reset_envs(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        with self._own_rng():
            if seeds is not None:
                batch_seed = int(np.random.SeedSequence(seeds).generate_state(1)[0])
                self._rng = self._fresh_rng_state(batch_seed)
                self._vmas_env_cls.vmas_random_state[:] = self._rng
            if len(env_ids) == self.num_envs:
                self._env.reset(return_observations=False)
            else:
                for k in env_ids:
                    self._env.reset_at(int(k), return_observations=False)
            agent_obs = self._env.get_from_scenario(get_observations=True, get_rewards=False, get_infos=False,
                                                    get_dones=False)[0]
        obs = self._stack_obs(agent_obs).cpu().numpy()
        if self._last_obs is None or len(env_ids) == self.num_envs:
            self._last_obs = obs.copy()
        else:
            self._last_obs[env_ids] = obs[env_ids]
        self._interrupted = False if len(env_ids) == self.num_envs else self._interrupted
        return self._view(obs[env_ids])

    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        if self._interrupted:
            return self._interrupted_step()
        env_actions = self._env_actions(np.asarray(actions))
        with self._own_rng():
            agent_obs, rewards, terminated, truncated, _ = self._env.step(env_actions)
        obs = self._stack_obs(agent_obs).cpu().numpy()
        self._last_obs = obs.copy()
        obs, state, avail = self._view(obs)
        return BatchStep(obs=obs, state=state, avail=avail, reward=torch.stack(rewards, dim=1).float().cpu().numpy(),
                         terminated=terminated.cpu().numpy().astype(bool), truncated=truncated.cpu().numpy().astype(bool),
                         info={})

    def _interrupted_step(self) -> BatchStep:
        """Every env's interrupted episode ends here, truncated, at its last observation."""
        self._interrupted = False
        E = self.num_envs
        obs, state, avail = self._view(self._last_obs.copy())
        return BatchStep(obs=obs, state=state, avail=avail, reward=np.zeros((E, self.n_agents), dtype=np.float32),
                         terminated=np.zeros(E, dtype=bool), truncated=np.ones(E, dtype=bool), info={})

    def _get_env_states(self) -> list[dict[str, Any]]:
        """Per env its last observation; env 0's entry also holds the batch's RNG state."""
        torch_state, np_state, py_state = self._rng
        rng = {"torch": torch_state.numpy().copy(), "numpy_keys": np.asarray(np_state[1]).copy(),
               "numpy_pos": int(np_state[2]), "numpy_has_gauss": int(np_state[3]),
               "numpy_gauss": float(np_state[4]), "python_version": int(py_state[0]),
               "python_internal": np.asarray(py_state[1], dtype=np.int64)}
        states = [{"last_obs": self._last_obs[k].copy()} for k in range(self.num_envs)]
        states[0]["rng"] = rng
        return states

    def _set_env_states(self, states: list[dict[str, Any]]) -> None:
        rng = states[0]["rng"]
        self._rng = [torch.from_numpy(np.asarray(rng["torch"], dtype=np.uint8).copy()),
                     ("MT19937", np.asarray(rng["numpy_keys"], dtype=np.uint32), int(rng["numpy_pos"]),
                      int(rng["numpy_has_gauss"]), float(rng["numpy_gauss"])),
                     (int(rng["python_version"]), tuple(int(x) for x in rng["python_internal"]), None)]
        self._last_obs = np.stack([np.asarray(s["last_obs"], dtype=np.float32) for s in states])
        self._interrupted = True

    def close(self) -> None:
        """Nothing to release: the batch is torch tensors."""


def _batched_only(scenario: str, **env_kwargs):
    raise ValueError("vmas has only the batched backend (all envs in one VMAS instance); use --vec_env auto or "
                     "--vec_env batched, not dummy or subproc")


SPEC = EnvSpec(
    name="vmas",
    scenarios=("balance", "transport", "navigation", "... (any name in vmas.scenarios)"),
    is_scenario=lambda name: isinstance(name, str) and bool(name),  # checked against VMAS in validate_kwargs
    env_kwargs=("env_args",),
    make_env=_batched_only,
    make_batched=VMASVecEnv,
    validate_kwargs=validate_env_kwargs,
)
