"""In-process vec env: steps single envs one after another (reference backend, easy to debug)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from onpolicy.envs.base import (
    BatchStep,
    EnvOutputError,
    MultiAgentEnv,
    VecEnv,
    stack_env_resets,
    stack_env_steps,
)


class DummyVecEnv(VecEnv):
    """Vec env over single envs built by env_fns, stepped in a Python loop."""

    def __init__(self, env_fns: list[Callable[[], MultiAgentEnv]], seed: int = 0):
        self.envs = [fn() for fn in env_fns]
        first = self.envs[0]
        super().__init__(
            num_envs=len(self.envs),
            seed=seed,
            n_agents=first.n_agents,
            observation_space=first.observation_space,
            state_space=first.state_space,
            action_space=first.action_space,
            episode_info_keys=first.episode_info_keys,
        )
        self.agent_names = getattr(first, "agent_names", None)

    def _call(self, k: int, method: str, *args):
        try:
            return getattr(self.envs[k], method)(*args)
        except EnvOutputError as err:  # raised inside env k: name it
            if err.env_index is None:
                err.env_index = int(k)
            raise

    def _reset_envs(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        seeds = seeds if seeds is not None else [None] * len(env_ids)
        return stack_env_resets([self._call(k, "reset", s) for k, s in zip(env_ids, seeds)], env_ids)

    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        results = [self._call(k, "step", a) for k, a in enumerate(actions)]
        return stack_env_steps(results, self.episode_info_keys)

    def _get_env_states(self) -> list[dict]:
        return [env.get_state() for env in self.envs]

    def _set_env_states(self, states: list[dict]) -> None:
        for env, state in zip(self.envs, states):
            env.set_state(state)

    def close(self) -> None:
        for env in self.envs:
            env.close()
