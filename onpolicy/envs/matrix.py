"""One-step cooperative 2-player matrix games (climbing, penalty), a classic test of coordination.

Both agents pick one of 3 actions; the team gets payoff[a0, a1] (rows = agent 0's action,
cols = agent 1's action) and the episode ends. The game is deterministic, so there is no RNG.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import BatchStep, EnvSpec, MultiAgentEnv, VecEnv, discrete_actions

N_AGENTS = 2
N_ACTIONS = 3

CLIMBING = np.array([[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 0.0, 5.0]])
# climbing_permuted relabels both agents' actions: new action i is climbing's action
# CLIMBING_PERMUTATION[i], i.e. payoff = CLIMBING[p][:, p]. This moves the optimum (11) off the
# (0, 0) corner, exposing methods that are biased towards low action indices.
CLIMBING_PERMUTATION = [2, 0, 1]

SCENARIOS = ("climbing", "climbing_permuted", "penalty_<k> (any number k >= 0, e.g. penalty_100)")


def _penalty_payoff(k_text: str) -> np.ndarray | None:
    """Penalty game [[-k, 0, 10], [0, 2, 0], [10, 0, -k]], or None if k_text is not a number >= 0."""
    try:
        k = float(k_text)
    except ValueError:
        return None
    if not math.isfinite(k) or k < 0:
        return None
    return np.array([[-k, 0.0, 10.0], [0.0, 2.0, 0.0], [10.0, 0.0, -k]])


def payoff_matrix(scenario: str) -> np.ndarray:
    """Payoff (3, 3) of a scenario: entry [a0, a1] is the team reward of joint action (a0, a1)."""
    if scenario == "climbing":
        return CLIMBING.copy()
    if scenario == "climbing_permuted":
        return CLIMBING[np.ix_(CLIMBING_PERMUTATION, CLIMBING_PERMUTATION)]
    if scenario.startswith("penalty_"):
        payoff = _penalty_payoff(scenario.removeprefix("penalty_"))
        if payoff is not None:
            return payoff
    raise ValueError(f"unknown matrix scenario {scenario!r}; choices: {', '.join(SCENARIOS)}")


def is_matrix_scenario(scenario: str) -> bool:
    try:
        payoff_matrix(scenario)
    except ValueError:
        return False
    return True


def _agent_obs() -> np.ndarray:
    """Per-agent observation (N, N): the agent's one-hot id, constant, so shared policies can
    still act differently per agent."""
    return np.eye(N_AGENTS, dtype=np.float32)


def _agent_state() -> np.ndarray:
    """Per-agent state (N, N*N): all agents' observations concatenated, the same for each agent."""
    return np.tile(_agent_obs().reshape(1, -1), (N_AGENTS, 1))


class MatrixGame(MultiAgentEnv):
    """Single matrix game. Every step terminates the episode."""

    def __init__(self, scenario: str = "climbing"):
        self.payoff = payoff_matrix(scenario)
        self.n_agents = N_AGENTS
        self.observation_space = [Box(0.0, 1.0, (N_AGENTS,), np.float32) for _ in range(N_AGENTS)]
        self.state_space = [Box(0.0, 1.0, (N_AGENTS * N_AGENTS,), np.float32) for _ in range(N_AGENTS)]
        self.action_space = [Discrete(N_ACTIONS) for _ in range(N_AGENTS)]

    def _observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _agent_obs(), _agent_state(), np.ones((N_AGENTS, N_ACTIONS), dtype=np.float32)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """seed is accepted for the common interface; the game has no randomness."""
        return self._observe()

    def step(self, actions: np.ndarray) -> tuple:
        a = discrete_actions(actions, (N_AGENTS,), N_ACTIONS)
        reward = np.full(N_AGENTS, self.payoff[a[0], a[1]], dtype=np.float32)
        return *self._observe(), reward, True, False, {}

    def get_state(self) -> dict:
        return {}  # one-step and deterministic: nothing to remember between steps

    def set_state(self, state: dict) -> None:
        pass


class BatchedMatrixGame(VecEnv):
    """num_envs matrix games stepped with one array lookup."""

    def __init__(self, scenario: str = "climbing", num_envs: int = 1, seed: int = 0):
        template = MatrixGame(scenario)
        self.payoff = template.payoff
        super().__init__(
            num_envs=num_envs,
            seed=seed,
            n_agents=N_AGENTS,
            observation_space=template.observation_space,
            state_space=template.state_space,
            action_space=template.action_space,
            episode_info_keys=template.episode_info_keys,
        )

    def _observe(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs (n, N, N), state (n, N, N*N), avail (n, N, A) for n envs (all identical)."""
        obs = np.broadcast_to(_agent_obs(), (n, N_AGENTS, N_AGENTS)).copy()
        state = np.broadcast_to(_agent_state(), (n, N_AGENTS, N_AGENTS * N_AGENTS)).copy()
        return obs, state, np.ones((n, N_AGENTS, N_ACTIONS), dtype=np.float32)

    def _reset_envs(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        return self._observe(len(env_ids))

    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        a = discrete_actions(actions, (self.num_envs, N_AGENTS), N_ACTIONS)
        team_reward = self.payoff[a[:, 0], a[:, 1]].astype(np.float32)  # (E,)
        obs, state, avail = self._observe(self.num_envs)
        return BatchStep(
            obs=obs,
            state=state,
            avail=avail,
            reward=np.repeat(team_reward[:, None], N_AGENTS, axis=1),
            terminated=np.ones(self.num_envs, dtype=bool),
            truncated=np.zeros(self.num_envs, dtype=bool),
            info={},
        )

    def _get_env_states(self) -> list[dict]:
        return [{} for _ in range(self.num_envs)]

    def _set_env_states(self, states: list[dict]) -> None:
        pass  # matrix games carry no state


SPEC = EnvSpec(
    name="matrix",
    scenarios=SCENARIOS,
    is_scenario=is_matrix_scenario,
    env_kwargs=(),
    make_env=MatrixGame,
    make_batched=BatchedMatrixGame,
    agent_id_inputs=lambda scenario: (True, False),  # obs = one-hot id; state = all obs, alike for everyone
)
