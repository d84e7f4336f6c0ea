"""Grid-world predator-prey with miscapture penalty (relative overgeneralization benchmark).

Predators (the agents) must be at least two next to a prey to catch it; a lone predator next to
a prey earns `penalty`, which lures independent learners away from the coordinated capture.
Cells are (row, col); "up" decreases the row. The rules (order matters for reproducibility):
  0. start: predators on distinct random cells; with prey_rules="authors" each prey then on a
     random free cell with no predator in its 4-neighbourhood (the authors' and ma-gym's rule),
     with "uniform_flee" on any free cell;
  1. predators move in agent-index order; moving off-grid or onto another predator or a live
     prey fails (the predator stays);
  2. each live prey with >= 2 predators in its 4-neighbourhood is captured (+capture_reward,
     removed); with exactly 1 it is a miscapture (+penalty, the prey stays);
  3. each surviving prey moves, in index order:
     - "authors" (default; the authors' env, a modified ma-gym PredatorPrey): five candidate moves
       are drawn with probabilities PREY_MOVE_PROBS (stay 0.3, each direction 0.175) and the first
       whose target cell has no predator in its 4-neighbourhood is taken (stay if none); a taken
       move into a wall, a predator or another live prey leaves the prey where it is;
     - "uniform_flee" (this project's earlier rule): uniformly among {stay, up, down, left, right}
       restricted to in-grid cells free of predators and other live prey and not adjacent to a
       predator (stays if there is no such cell);
  4. team reward = step_cost + captures * capture_reward + miscaptures * penalty, for every agent.
The episode terminates when all prey are caught and is truncated at max_steps. Each agent sees
its normalised position, the prey occupancy of the (2 sight + 1)^2 cells around it (sight 2:
the authors' 5 × 5 view) and the normalised time.

PredatorPrey is the readable single-env reference; BatchedPredatorPrey applies the same rules to
E envs with array ops and one Generator per env, drawing random numbers in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import (
    EnvConfigError,
    BatchStep,
    EnvSpec,
    MultiAgentEnv,
    VecEnv,
    discrete_actions,
    generator_from_state,
)

# (row, col) displacement of each action: 0 stay, 1 up, 2 down, 3 left, 4 right
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])
INFO_KEYS = ("captures", "miscaptures", "won")
PREY_RULES = ("authors", "uniform_flee")
PREY_MOVE_PROBS = np.array([0.3, 0.175, 0.175, 0.175, 0.175])  # per MOVES row: the authors' (stay 0.3)
PREY_MOVE_TRIES = 5
# Generator.choice(len(MOVES), size, p=PREY_MOVE_PROBS) draws random(size) and looks it up in this
# cdf, computed as numpy computes it: the batched env does the lookup itself, for all envs at once.
PREY_MOVE_CDF = PREY_MOVE_PROBS.cumsum()
PREY_MOVE_CDF /= PREY_MOVE_CDF[-1]


@dataclass(frozen=True)
class PredatorPreyConfig:
    grid_size: int = 5
    n_predators: int = 2
    n_prey: int = 1
    penalty: float = 0.0  # miscapture reward, <= 0 (the paper uses 0, -0.5, -1)
    step_cost: float = -0.01  # added every step, <= 0
    capture_reward: float = 10.0
    max_steps: int = 128
    sight: int = 2  # the local view spans (2 * sight + 1)^2 cells
    prey_rules: str = "authors"  # start and prey-move rules, see the module docstring

    def __post_init__(self):
        """Reject impossible settings (EnvConfigError naming the flag, its value and the valid range);
        the registry runs this at config time, before anything is built."""
        for name, low, why in (("grid_size", 2, "a grid of at least 2 x 2 cells"),
                               ("n_predators", 1, "at least one predator (the agents)"),
                               ("n_prey", 1, "at least one prey"),
                               ("max_steps", 1, "episodes of at least one step"),
                               ("sight", 0, "a view radius of 0 cells or more")):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise EnvConfigError(f"--{name} {value!r} is out of range: predator_prey needs {why} "
                                     f"(an integer >= {low})")
        if self.n_predators + self.n_prey > self.grid_size**2:
            raise EnvConfigError(f"--n_predators {self.n_predators} + --n_prey {self.n_prey} animals do not fit on "
                                 f"a --grid_size {self.grid_size} grid ({self.grid_size**2} cells); lower them or "
                                 "raise --grid_size")
        if self.prey_rules not in PREY_RULES:
            raise EnvConfigError(f"--prey_rules: unknown prey_rules {self.prey_rules!r}; choices: {', '.join(PREY_RULES)}")
        for name in ("penalty", "step_cost"):
            if getattr(self, name) > 0:
                raise EnvConfigError(f"--{name} {getattr(self, name)} is out of range: it is a reward added as given, "
                                     f"so pass a cost as a negative number or 0 (e.g. --{name} -1)")

    @property
    def obs_dim(self) -> int:
        """Own position (2) + local prey view ((2s+1)^2) + time fraction (1)."""
        return 2 + (2 * self.sight + 1) ** 2 + 1


ENV_KWARGS = tuple(f.name for f in fields(PredatorPreyConfig))


def _spaces(cfg: PredatorPreyConfig) -> tuple[list[Box], list[Box], list[Discrete]]:
    """Per-agent observation, state and action spaces."""
    n = cfg.n_predators
    obs_space = [Box(0.0, 1.0, (cfg.obs_dim,), np.float32) for _ in range(n)]
    state_space = [Box(0.0, 1.0, (n * cfg.obs_dim,), np.float32) for _ in range(n)]
    return obs_space, state_space, [Discrete(len(MOVES)) for _ in range(n)]


def _random_cells(rng: np.random.Generator, cfg: PredatorPreyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random start cells: predators (N, 2) and prey (P, 2) (rule 0)."""
    if cfg.prey_rules == "uniform_flee":
        cells = rng.choice(cfg.grid_size**2, cfg.n_predators + cfg.n_prey, replace=False)
        rows_cols = np.stack(np.divmod(cells, cfg.grid_size), axis=1)
        return rows_cols[: cfg.n_predators].copy(), rows_cols[cfg.n_predators :].copy()
    cells = rng.choice(cfg.grid_size**2, cfg.n_predators, replace=False)
    predators = np.stack(np.divmod(cells, cfg.grid_size), axis=1)
    grid = np.stack(np.divmod(np.arange(cfg.grid_size**2), cfg.grid_size), axis=1)  # (G², 2)
    distance = np.abs(grid[:, None] - predators[None]).sum(-1)  # (G², N)
    free = (distance >= 2).all(axis=1)  # neither a predator's cell nor next to one
    prey = []
    for _ in range(cfg.n_prey):
        if not free.any():
            raise ValueError(f"no cell left for a prey away from the predators on a {cfg.grid_size}^2 grid")
        cell = rng.choice(np.flatnonzero(free))
        free[cell] = False
        prey.append(grid[cell])
    return predators.copy(), np.array(prey)


def _authors_prey_target(rng: np.random.Generator, prey: np.ndarray, predators: np.ndarray) -> np.ndarray:
    """Rule 3 ("authors"): the cell (2,) a prey at `prey` tries to enter; predators (N, 2).

    Draws PREY_MOVE_TRIES candidate moves with one Generator.choice call per prey and step (the
    batched env draws the same moves from the same uniforms, for all envs at once) and keeps the
    first whose target has no predator next to it.
    """
    moves = rng.choice(len(MOVES), PREY_MOVE_TRIES, p=PREY_MOVE_PROBS)
    targets = prey + MOVES[moves]  # (tries, 2)
    safe = (np.abs(targets[:, None] - predators[None]).sum(-1) != 1).all(axis=1)
    return targets[np.argmax(safe)] if safe.any() else prey.copy()


def _contains(cells: np.ndarray, cell: np.ndarray) -> bool:
    """Whether `cell` (2,) is one of `cells` (K, 2)."""
    return bool((cells == cell).all(axis=1).any())


class PredatorPrey(MultiAgentEnv):
    """Single predator-prey env (reference implementation of the rules, written for clarity)."""

    episode_info_keys = INFO_KEYS

    def __init__(self, scenario: str = "default", **env_kwargs):
        if scenario != "default":
            raise ValueError(f"unknown predator_prey scenario {scenario!r}; choices: default")
        self.cfg = PredatorPreyConfig(**env_kwargs)
        self.n_agents = self.cfg.n_predators
        self.observation_space, self.state_space, self.action_space = _spaces(self.cfg)
        self.rng = np.random.default_rng()  # replaced by reset(seed) or set_state()

    # --- observation -----------------------------------------------------------------------
    def _observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs (N, Do), state (N, N*Do), avail (N, 5)."""
        cfg, s = self.cfg, self.cfg.sight
        # Prey occupancy padded with `sight` empty cells, so views reaching off-grid read 0.
        padded = np.zeros((cfg.grid_size + 2 * s, cfg.grid_size + 2 * s), dtype=np.float32)
        for r, c in self.prey[self.prey_alive]:
            padded[r + s, c + s] = 1.0
        obs = np.zeros((self.n_agents, cfg.obs_dim), dtype=np.float32)
        for i, (r, c) in enumerate(self.predators):
            view = padded[r : r + 2 * s + 1, c : c + 2 * s + 1]  # centred on (r, c) in padded coords
            position = np.array([r, c]) / (cfg.grid_size - 1)
            obs[i] = np.concatenate([position, view.ravel(), [self.t / cfg.max_steps]])
        state = np.tile(obs.reshape(1, -1), (self.n_agents, 1))
        return obs, state, np.ones((self.n_agents, len(MOVES)), dtype=np.float32)

    # --- dynamics --------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.predators, self.prey = _random_cells(self.rng, self.cfg)
        self.prey_alive = np.ones(self.cfg.n_prey, dtype=bool)
        self.t = 0
        self.captures = 0
        self.miscaptures = 0
        return self._observe()

    def _inside(self, cell: np.ndarray) -> bool:
        return bool(((cell >= 0) & (cell < self.cfg.grid_size)).all())

    def _move_predators(self, actions: np.ndarray) -> None:
        for i, action in enumerate(actions):
            target = self.predators[i] + MOVES[action]
            other_predators = np.delete(self.predators, i, axis=0)
            live_prey = self.prey[self.prey_alive]
            if self._inside(target) and not _contains(other_predators, target) and not _contains(live_prey, target):
                self.predators[i] = target

    def _resolve_captures(self) -> tuple[int, int]:
        """Remove captured prey; return (captures, miscaptures) of this step."""
        captures = miscaptures = 0
        for j in np.flatnonzero(self.prey_alive):
            n_adjacent = int((np.abs(self.predators - self.prey[j]).sum(axis=1) == 1).sum())
            if n_adjacent >= 2:
                self.prey_alive[j] = False
                captures += 1
            elif n_adjacent == 1:
                miscaptures += 1
        return captures, miscaptures

    def _prey_may_enter(self, cell: np.ndarray, other_prey: np.ndarray) -> bool:
        # distance <= 1 excludes both predator cells and their 4-neighbourhoods
        near_predator = (np.abs(self.predators - cell).sum(axis=1) <= 1).any()
        return self._inside(cell) and not near_predator and not _contains(other_prey, cell)

    def _move_prey(self) -> None:
        for j in np.flatnonzero(self.prey_alive):
            other_prey = self.prey[self.prey_alive & (np.arange(self.cfg.n_prey) != j)]
            if self.cfg.prey_rules == "authors":
                target = _authors_prey_target(self.rng, self.prey[j], self.predators)
                blocked = _contains(self.predators, target) or _contains(other_prey, target)
                if self._inside(target) and not blocked:
                    self.prey[j] = target
                continue
            options = [m for m in range(len(MOVES)) if self._prey_may_enter(self.prey[j] + MOVES[m], other_prey)]
            if options:
                self.prey[j] = self.prey[j] + MOVES[options[self.rng.integers(len(options))]]

    def step(self, actions: np.ndarray) -> tuple:
        cfg = self.cfg
        self._move_predators(discrete_actions(actions, (self.n_agents,), len(MOVES)))
        captures, miscaptures = self._resolve_captures()
        self._move_prey()
        self.t += 1
        self.captures += captures
        self.miscaptures += miscaptures
        team_reward = cfg.step_cost + captures * cfg.capture_reward + miscaptures * cfg.penalty
        terminated = not self.prey_alive.any()
        truncated = not terminated and self.t >= cfg.max_steps
        info = {"captures": float(self.captures), "miscaptures": float(self.miscaptures), "won": float(terminated)}
        reward = np.full(self.n_agents, team_reward, dtype=np.float32)
        return *self._observe(), reward, terminated, truncated, info

    # --- snapshots -------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {
            "predators": self.predators.copy(),
            "prey": self.prey.copy(),
            "prey_alive": self.prey_alive.copy(),
            "t": self.t,
            "captures": self.captures,
            "miscaptures": self.miscaptures,
            "rng": self.rng.bit_generator.state,
        }

    def set_state(self, state: dict) -> None:
        self.predators = np.array(state["predators"], dtype=np.int64)
        self.prey = np.array(state["prey"], dtype=np.int64)
        self.prey_alive = np.array(state["prey_alive"], dtype=bool)
        self.t = int(state["t"])
        self.captures = int(state["captures"])
        self.miscaptures = int(state["miscaptures"])
        self.rng = generator_from_state(state["rng"])


class BatchedPredatorPrey(VecEnv):
    """num_envs predator-prey envs stepped together with array ops.

    Loops run only over agents / prey (small) and, for the prey's random draws, over envs, because
    each env owns a Generator so that env k reproduces a PredatorPrey given env k's seed.
    """

    def __init__(self, scenario: str = "default", num_envs: int = 1, seed: int = 0, **env_kwargs):
        if scenario != "default":
            raise ValueError(f"unknown predator_prey scenario {scenario!r}; choices: default")
        self.cfg = cfg = PredatorPreyConfig(**env_kwargs)
        obs_space, state_space, action_space = _spaces(cfg)
        super().__init__(num_envs, seed, cfg.n_predators, obs_space, state_space, action_space, INFO_KEYS)
        E, N, P = num_envs, cfg.n_predators, cfg.n_prey
        self.predators = np.zeros((E, N, 2), dtype=np.int64)
        self.prey = np.zeros((E, P, 2), dtype=np.int64)
        self.prey_alive = np.zeros((E, P), dtype=bool)
        self.t = np.zeros(E, dtype=np.int64)
        self.captures = np.zeros(E, dtype=np.int64)
        self.miscaptures = np.zeros(E, dtype=np.int64)
        self.rngs = [np.random.default_rng() for _ in range(E)]  # seeded by the first reset() or set_state()

    # --- observation -----------------------------------------------------------------------
    def _observe(self, env_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs (k, N, Do), state (k, N, N*Do), avail (k, N, 5) of the envs in env_ids."""
        cfg, s, k = self.cfg, self.cfg.sight, len(env_ids)
        predators, prey, alive = self.predators[env_ids], self.prey[env_ids], self.prey_alive[env_ids]
        # Prey occupancy padded with `sight` empty cells, so views reaching off-grid read 0.
        padded = np.zeros((k, cfg.grid_size + 2 * s, cfg.grid_size + 2 * s), dtype=np.float32)
        env, j = np.nonzero(alive)
        padded[env, prey[env, j, 0] + s, prey[env, j, 1] + s] = 1.0
        offsets = np.arange(2 * s + 1)
        rows = predators[:, :, 0, None, None] + offsets[:, None]  # (k, N, V, 1)
        cols = predators[:, :, 1, None, None] + offsets[None, :]  # (k, N, 1, V)
        view = padded[np.arange(k)[:, None, None, None], rows, cols]  # (k, N, V, V)
        time = np.broadcast_to((self.t[env_ids] / cfg.max_steps)[:, None, None], (k, self.n_agents, 1))
        position = predators / (cfg.grid_size - 1)
        obs = np.concatenate([position, view.reshape(k, self.n_agents, -1), time], axis=-1).astype(np.float32)
        state = np.tile(obs.reshape(k, 1, -1), (1, self.n_agents, 1))
        return obs, state, np.ones((k, self.n_agents, len(MOVES)), dtype=np.float32)

    # --- dynamics --------------------------------------------------------------------------
    def _reset_envs(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        for n, e in enumerate(env_ids):
            if seeds is not None:
                self.rngs[e] = np.random.default_rng(seeds[n])
            self.predators[e], self.prey[e] = _random_cells(self.rngs[e], self.cfg)
        self.prey_alive[env_ids] = True
        self.t[env_ids] = 0
        self.captures[env_ids] = 0
        self.miscaptures[env_ids] = 0
        return self._observe(env_ids)

    def _inside(self, cells: np.ndarray) -> np.ndarray:
        """(..., 2) cells -> (...) bool."""
        return ((cells >= 0) & (cells < self.cfg.grid_size)).all(axis=-1)

    def _move_predators(self, actions: np.ndarray) -> None:
        """actions (E, N); agent i moves after agents < i, as in the single env."""
        for i in range(self.n_agents):
            target = self.predators[:, i] + MOVES[actions[:, i]]  # (E, 2)
            others = np.arange(self.n_agents) != i
            hits_predator = (self.predators[:, others] == target[:, None]).all(-1).any(1)
            hits_prey = ((self.prey == target[:, None]).all(-1) & self.prey_alive).any(1)
            moves = self._inside(target) & ~hits_predator & ~hits_prey
            self.predators[moves, i] = target[moves]

    def _resolve_captures(self) -> tuple[np.ndarray, np.ndarray]:
        """Remove captured prey; return (captures, miscaptures) of this step, each (E,)."""
        distance = np.abs(self.predators[:, :, None] - self.prey[:, None]).sum(-1)  # (E, N, P)
        n_adjacent = (distance == 1).sum(axis=1)  # (E, P)
        captured = self.prey_alive & (n_adjacent >= 2)
        missed = self.prey_alive & (n_adjacent == 1)
        self.prey_alive &= ~captured
        return captured.sum(axis=1), missed.sum(axis=1)

    def _move_prey(self) -> None:
        """Prey move in index order, so prey j sees the new cells of prey < j."""
        if self.cfg.prey_rules == "authors":
            self._move_prey_authors()
            return
        for j in range(self.cfg.n_prey):
            options = self.prey[:, j, None] + MOVES  # (E, 5, 2)
            near_predator = (np.abs(options[:, :, None] - self.predators[:, None]).sum(-1) <= 1).any(-1)
            other_prey = self.prey_alive & (np.arange(self.cfg.n_prey) != j)  # (E, P)
            hits_prey = ((options[:, :, None] == self.prey[:, None]).all(-1) & other_prey[:, None]).any(-1)
            valid = self._inside(options) & ~near_predator & ~hits_prey & self.prey_alive[:, j, None]
            n_valid = valid.sum(axis=1)
            for e in np.flatnonzero(n_valid):
                move = np.flatnonzero(valid[e])[self.rngs[e].integers(int(n_valid[e]))]
                self.prey[e, j] += MOVES[move]

    def _move_prey_authors(self) -> None:
        """Rule 3 ("authors") for every env at once; the same draws as _authors_prey_target."""
        for j in range(self.cfg.n_prey):
            alive = np.flatnonzero(self.prey_alive[:, j])
            if not len(alive):
                continue
            uniforms = np.stack([self.rngs[e].random(PREY_MOVE_TRIES) for e in alive])  # (k, tries)
            candidates = self.prey[alive, j, None] + MOVES[PREY_MOVE_CDF.searchsorted(uniforms, side="right")]
            distance = np.abs(candidates[:, :, None] - self.predators[alive, None]).sum(-1)  # (k, tries, N)
            safe = (distance != 1).all(axis=-1)  # (k, tries)
            first_safe = candidates[np.arange(len(alive)), safe.argmax(axis=1)]  # (k, 2)
            targets = np.where(safe.any(axis=1)[:, None], first_safe, self.prey[alive, j])
            hits_predator = (self.predators[alive] == targets[:, None]).all(-1).any(1)
            other_prey = self.prey_alive[alive] & (np.arange(self.cfg.n_prey) != j)  # (k, P)
            hits_prey = ((self.prey[alive] == targets[:, None]).all(-1) & other_prey).any(1)
            moves = self._inside(targets) & ~hits_predator & ~hits_prey
            self.prey[alive[moves], j] = targets[moves]

    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        cfg = self.cfg
        self._move_predators(discrete_actions(actions, (self.num_envs, self.n_agents), len(MOVES)))
        captures, miscaptures = self._resolve_captures()
        self._move_prey()
        self.t += 1
        self.captures += captures
        self.miscaptures += miscaptures
        team_reward = cfg.step_cost + captures * cfg.capture_reward + miscaptures * cfg.penalty  # (E,)
        terminated = ~self.prey_alive.any(axis=1)
        obs, state, avail = self._observe(np.arange(self.num_envs))
        return BatchStep(
            obs=obs,
            state=state,
            avail=avail,
            reward=np.repeat(team_reward.astype(np.float32)[:, None], self.n_agents, axis=1),
            terminated=terminated,
            truncated=~terminated & (self.t >= cfg.max_steps),
            info={
                "captures": self.captures.astype(np.float64),
                "miscaptures": self.miscaptures.astype(np.float64),
                "won": terminated.astype(np.float64),
            },
        )

    # --- snapshots (same format as PredatorPrey.get_state, one per env) ---------------------
    def _get_env_states(self) -> list[dict]:
        return [
            {
                "predators": self.predators[e].copy(),
                "prey": self.prey[e].copy(),
                "prey_alive": self.prey_alive[e].copy(),
                "t": int(self.t[e]),
                "captures": int(self.captures[e]),
                "miscaptures": int(self.miscaptures[e]),
                "rng": self.rngs[e].bit_generator.state,
            }
            for e in range(self.num_envs)
        ]

    def _set_env_states(self, states: list[dict]) -> None:
        for e, state in enumerate(states):
            self.predators[e] = state["predators"]
            self.prey[e] = state["prey"]
            self.prey_alive[e] = state["prey_alive"]
            self.t[e] = state["t"]
            self.captures[e] = state["captures"]
            self.miscaptures[e] = state["miscaptures"]
            self.rngs[e] = generator_from_state(state["rng"])


SPEC = EnvSpec(
    name="predator_prey",
    scenarios=("default",),
    is_scenario=lambda scenario: scenario == "default",
    env_kwargs=ENV_KWARGS,
    make_env=PredatorPrey,
    make_batched=BatchedPredatorPrey,
    validate_kwargs=lambda scenario, **env_kwargs: PredatorPreyConfig(**env_kwargs),  # at config time
)
