"""The passage game: the AgentMixer paper's asymmetric-learning-failure example (its Figure 1), one step.

Two agents of random body size (each small with probability p_small, independently) must each pick a
passage, A (short) or B (long). A passage holds two small agents or one big one: if both agents pick the
same passage and either is big they jam and the team gets `reward_jam`; otherwise each agent earns
`reward_short` through A and `reward_long` through B and the team reward is the sum. Every step ends
the episode.

An agent observes only its own size and its id; the state holds both sizes. With full information the
best joint policy sends two small agents through A together and splits the agents otherwise
(defaults: 1.625). Agents that see only their own size cannot know when that is safe: the best
decentralized policies take distinct passages always (1.5), and imitating the full-information policy
gives "A when small, B when big" for both agents, which jams whenever both are big (1.25, the trap).
All three numbers follow from enumerating the four size pairs (`passage_optima`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import BatchStep, EnvSpec, MultiAgentEnv, VecEnv, discrete_actions, generator_from_state

N_AGENTS = 2
N_SIZES = 2  # size index: 0 = small, 1 = big
N_ACTIONS = 2  # action index: 0 = passage A (short), 1 = passage B (long)
SMALL, BIG = 0, 1
PASSAGE_A, PASSAGE_B = 0, 1
SCENARIOS = ("default",)
ENV_KWARGS = ("p_small", "reward_short", "reward_long", "reward_jam")
OBS_DIM = N_SIZES + N_AGENTS  # own size (one-hot) + own id (one-hot)
STATE_DIM = N_AGENTS * N_SIZES + N_AGENTS  # every agent's size (one-hot each) + own id (one-hot)
SIZE_PAIRS = tuple(itertools.product(range(N_SIZES), repeat=N_AGENTS))  # (size_0, size_1), 4 pairs
# A deterministic decentralized policy of one agent: the passage it takes when small and when big.
AGENT_POLICIES = tuple(itertools.product(range(N_ACTIONS), repeat=N_SIZES))
TRAP_POLICY = (PASSAGE_A, PASSAGE_B)  # "A when small, B when big": what imitating the expert gives


@dataclass(frozen=True)
class PassageRules:
    """The game's parameters (the --p_small/--reward_* flags)."""

    p_small: float = 0.5
    reward_short: float = 1.0
    reward_long: float = 0.5
    reward_jam: float = 0.0

    def __post_init__(self):
        if not (isinstance(self.p_small, (int, float)) and 0.0 <= self.p_small <= 1.0):
            raise ValueError(f"p_small must be a probability in [0, 1], got {self.p_small!r}")
        for name in ("reward_short", "reward_long", "reward_jam"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")

    def team_reward(self, sizes, actions) -> np.ndarray:
        """Team reward (...) of sizes (..., N) and passages (..., N) (0/1 arrays of indices)."""
        sizes, actions = np.asarray(sizes), np.asarray(actions)
        same_passage = actions[..., 0] == actions[..., 1]
        jam = same_passage & (sizes == BIG).any(axis=-1)
        through = np.where(actions == PASSAGE_A, self.reward_short, self.reward_long).sum(axis=-1)
        return np.where(jam, self.reward_jam, through).astype(np.float64)

    def size_pair_probability(self, sizes) -> float:
        """Probability of drawing the size pair (size_0, size_1)."""
        return float(np.prod([self.p_small if s == SMALL else 1.0 - self.p_small for s in sizes]))


def passage_payoffs(rules: PassageRules) -> np.ndarray:
    """Team reward R[s0, s1, a0, a1] (2, 2, 2, 2) of every size pair and joint action."""
    grid = np.array(list(itertools.product(range(N_SIZES), range(N_SIZES), range(N_ACTIONS), range(N_ACTIONS))))
    return rules.team_reward(grid[:, :2], grid[:, 2:]).reshape(N_SIZES, N_SIZES, N_ACTIONS, N_ACTIONS)


def size_pair_probabilities(rules: PassageRules) -> np.ndarray:
    """P[s0, s1] (2, 2) of the size pairs."""
    return np.array([[rules.size_pair_probability((s0, s1)) for s1 in range(N_SIZES)] for s0 in range(N_SIZES)])


def decentralized_return(rules: PassageRules, agent_policies) -> float:
    """Expected team return of deterministic decentralized policies, one (action if small, action if big)
    per agent."""
    payoff, prob = passage_payoffs(rules), size_pair_probabilities(rules)
    return float(sum(prob[s0, s1] * payoff[s0, s1, agent_policies[0][s0], agent_policies[1][s1]]
                     for s0, s1 in SIZE_PAIRS))


def passage_optima(rules: PassageRules) -> dict[str, float]:
    """The reference returns, by enumeration over size pairs and deterministic policies.

    optimal_full_info: the best joint policy that sees both sizes (best joint action per size pair).
    optimal_decentralized: the best pair of policies each seeing only its own size (a common-payoff
    game, so a deterministic pair attains the optimum over stochastic ones).
    trap_return: both agents playing TRAP_POLICY ("A when small, B when big").
    """
    payoff, prob = passage_payoffs(rules), size_pair_probabilities(rules)
    full_info = float((prob * payoff.reshape(N_SIZES, N_SIZES, -1).max(axis=-1)).sum())
    decentralized = max(decentralized_return(rules, pair) for pair in itertools.product(AGENT_POLICIES, repeat=2))
    return {"optimal_full_info": full_info, "optimal_decentralized": decentralized,
            "trap_return": decentralized_return(rules, (TRAP_POLICY, TRAP_POLICY))}


def agent_observations(sizes) -> np.ndarray:
    """Per-agent observations (..., N, OBS_DIM) of sizes (..., N): own size one-hot, then own id one-hot."""
    sizes = np.asarray(sizes)
    own_size = np.eye(N_SIZES, dtype=np.float32)[sizes]
    agent_id = np.broadcast_to(np.eye(N_AGENTS, dtype=np.float32), own_size.shape[:-1] + (N_AGENTS,))
    return np.concatenate([own_size, agent_id], axis=-1)


def agent_states(sizes) -> np.ndarray:
    """Per-agent states (..., N, STATE_DIM): every agent's size one-hot (the same for all), then own id."""
    sizes = np.asarray(sizes)
    all_sizes = np.eye(N_SIZES, dtype=np.float32)[sizes].reshape(*sizes.shape[:-1], 1, N_AGENTS * N_SIZES)
    all_sizes = np.broadcast_to(all_sizes, sizes.shape + (N_AGENTS * N_SIZES,))
    agent_id = np.broadcast_to(np.eye(N_AGENTS, dtype=np.float32), sizes.shape + (N_AGENTS,))
    return np.concatenate([all_sizes, agent_id], axis=-1)


def draw_sizes(rng: np.random.Generator, p_small: float) -> np.ndarray:
    """Sizes (N,) int64, each SMALL with probability p_small."""
    return np.where(rng.random(N_AGENTS) < p_small, SMALL, BIG).astype(np.int64)


def _spaces():
    return ([Box(0.0, 1.0, (OBS_DIM,), np.float32) for _ in range(N_AGENTS)],
            [Box(0.0, 1.0, (STATE_DIM,), np.float32) for _ in range(N_AGENTS)],
            [Discrete(N_ACTIONS) for _ in range(N_AGENTS)])


def is_passage_scenario(scenario: str) -> bool:
    return scenario in SCENARIOS


def _check_scenario(scenario: str) -> None:
    if not is_passage_scenario(scenario):
        raise ValueError(f"unknown passage scenario {scenario!r}; choices: {', '.join(SCENARIOS)}")


def validate_passage_kwargs(scenario: str, **env_kwargs) -> None:
    _check_scenario(scenario)
    PassageRules(**env_kwargs)


class PassageGame(MultiAgentEnv):
    """Single passage game; sizes are drawn on reset, every step terminates the episode."""

    def __init__(self, scenario: str = "default", **env_kwargs):
        _check_scenario(scenario)
        self.rules = PassageRules(**env_kwargs)
        self.n_agents = N_AGENTS
        self.observation_space, self.state_space, self.action_space = _spaces()
        self.rng = np.random.default_rng()  # replaced by reset(seed) or set_state()
        self.sizes = draw_sizes(self.rng, self.rules.p_small)

    def _observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (agent_observations(self.sizes), agent_states(self.sizes),
                np.ones((N_AGENTS, N_ACTIONS), dtype=np.float32))

    def reset(self, seed=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.sizes = draw_sizes(self.rng, self.rules.p_small)
        return self._observe()

    def step(self, actions: np.ndarray) -> tuple:
        a = discrete_actions(actions, (N_AGENTS,), N_ACTIONS)
        reward = np.full(N_AGENTS, self.rules.team_reward(self.sizes, a), dtype=np.float32)
        return *self._observe(), reward, True, False, {}

    def get_state(self) -> dict:
        return {"sizes": self.sizes.copy(), "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.sizes = np.asarray(state["sizes"], dtype=np.int64).copy()
        self.rng = generator_from_state(state["rng"])


class BatchedPassageGame(VecEnv):
    """num_envs passage games in arrays; env k owns a Generator so it reproduces PassageGame env k."""

    def __init__(self, scenario: str = "default", num_envs: int = 1, seed: int = 0, **env_kwargs):
        template = PassageGame(scenario, **env_kwargs)
        self.rules = template.rules
        super().__init__(num_envs=num_envs, seed=seed, n_agents=N_AGENTS,
                         observation_space=template.observation_space, state_space=template.state_space,
                         action_space=template.action_space, episode_info_keys=template.episode_info_keys)
        self.rngs = [np.random.default_rng() for _ in range(num_envs)]  # seeded by the first reset()
        self.sizes = np.zeros((num_envs, N_AGENTS), dtype=np.int64)

    def _observe(self, env_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs (k, N, Do), state (k, N, Ds), avail (k, N, A) of the envs in env_ids."""
        sizes = self.sizes[env_ids]
        return agent_observations(sizes), agent_states(sizes), np.ones((len(env_ids), N_AGENTS, N_ACTIONS),
                                                                       dtype=np.float32)

    def _reset_envs(self, env_ids: np.ndarray, seeds: list | None) -> tuple:
        for n, e in enumerate(env_ids):
            if seeds is not None:
                self.rngs[e] = np.random.default_rng(seeds[n])
            self.sizes[e] = draw_sizes(self.rngs[e], self.rules.p_small)
        return self._observe(env_ids)

    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        a = discrete_actions(actions, (self.num_envs, N_AGENTS), N_ACTIONS)
        team_reward = self.rules.team_reward(self.sizes, a).astype(np.float32)  # (E,)
        obs, state, avail = self._observe(np.arange(self.num_envs))
        return BatchStep(obs=obs, state=state, avail=avail, reward=np.repeat(team_reward[:, None], N_AGENTS, axis=1),
                         terminated=np.ones(self.num_envs, dtype=bool), truncated=np.zeros(self.num_envs, dtype=bool),
                         info={})

    def _get_env_states(self) -> list[dict]:
        return [{"sizes": self.sizes[e].copy(), "rng": self.rngs[e].bit_generator.state} for e in range(self.num_envs)]

    def _set_env_states(self, states: list[dict]) -> None:
        for e, state in enumerate(states):
            self.sizes[e] = state["sizes"]
            self.rngs[e] = generator_from_state(state["rng"])


SPEC = EnvSpec(
    name="passage",
    scenarios=SCENARIOS,
    is_scenario=is_passage_scenario,
    env_kwargs=ENV_KWARGS,
    make_env=PassageGame,
    make_batched=BatchedPassageGame,
    validate_kwargs=validate_passage_kwargs,
    agent_id_inputs=lambda scenario, **env_kwargs: (True, True),  # both end with the agent's one-hot id
)
