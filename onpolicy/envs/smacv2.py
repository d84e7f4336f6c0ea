"""SMACv2 (StarCraft II) adapter: the 10gen_{protoss,terran,zerg} maps with the official capability config.

Needs the `smacv2` package and StarCraft II 4.10 with the SMAC maps; neither is on PyPI, see
train_scripts/install_sc2.sh. `smacv2` is imported only when an env is built, so configs and
`build_capability_config` work without it. Scenario = race; team sizes come from `--units`.

Per agent i (N allies, A = 6 + enemies, or what the installed smacv2 reports):
- obs_i (Do,): SMACv2's observation of ally i (zeros once the unit is dead).
- state_i: `use_agent_specific_state=False`: the global state (Ds,) copied to every agent;
  `use_agent_specific_state=True` (default): [global state, obs_i, one-hot(i)].
- avail_i (A,): SMACv2's mask; a dead ally can only take no-op (index 0).
- episode_info["won"]: SMACv2's battle_won (1.0/0.0). Reaching the episode limit is a truncation.

Each SC2 game runs in its own process (subproc backend, the default for this env). The game
engine cannot be snapshot: get_state keeps the capability samplers' RNG states, and set_state
restores them and starts a new episode (the interrupted one is dropped).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import EnvSpec, MultiAgentEnv, discrete_actions, generator_from_state

RACES = ("protoss", "terran", "zerg")
UNITS = {"5v5": (5, 5), "10v10": (10, 10), "10v11": (10, 11), "20v20": (20, 20), "20v23": (20, 23)}
INSTALL_HINT = "install StarCraft II, the SMAC/SMACv2 maps and smacv2 with: bash train_scripts/install_sc2.sh"

# Official SMACv2 unit-type distributions (smacv2/examples/configs/sc2_gen_<race>.yaml): unit types,
# their sampling weights, and "exception" types that may not make up a whole team on their own.
TEAM_GEN = {
    "protoss": dict(unit_types=["stalker", "zealot", "colossus"], weights=[0.45, 0.45, 0.1]),
    "terran": dict(unit_types=["marine", "marauder", "medivac"], weights=[0.45, 0.45, 0.1],
                   exception_unit_types=["medivac"]),
    "zerg": dict(unit_types=["zergling", "baneling", "hydralisk"], weights=[0.45, 0.1, 0.45],
                 exception_unit_types=["baneling"]),
}
# The remaining official env_args of those configs (the SMACv2 paper's settings).
OFFICIAL_ENV_ARGS = dict(
    continuing_episode=False, difficulty="7", game_version=None, move_amount=2, obs_all_health=True,
    obs_instead_of_state=False, obs_last_action=False, obs_own_health=True, obs_pathing_grid=False,
    obs_terrain_height=False, obs_timestep_number=False, reward_death_value=10, reward_defeat=0,
    reward_negative_scale=0.5, reward_only_positive=True, reward_scale=True, reward_scale_rate=20,
    reward_sparse=False, reward_win=200, replay_dir="", replay_prefix="", conic_fov=False, obs_own_pos=True,
    use_unit_ranges=True, min_attack_range=2, num_fov_actions=12, state_last_action=True,
    state_timestep_number=False, step_mul=8, heuristic_ai=False, debug=False, prob_obs_enemy=0,
)


def build_capability_config(race: str, units: str) -> dict:
    """SMACv2's capability_config for a race and team sizes, e.g. ("zerg", "10v11").

    Teams are drawn from the race's weighted unit types ("weighted_teams"; enemies get the same
    mix) and placed by "surrounded_and_reflect" (p = 0.5 surrounded, else reflected) on the 32 × 32 map.
    """
    if race not in RACES:
        raise ValueError(f"unknown smacv2 race {race!r}; choices: {', '.join(RACES)}")
    if units not in UNITS:
        raise ValueError(f"unknown smacv2 units {units!r}; choices: {', '.join(UNITS)}")
    n_units, n_enemies = UNITS[units]
    team_gen = {"dist_type": "weighted_teams", **{k: list(v) for k, v in TEAM_GEN[race].items()}, "observe": True}
    return {
        "n_units": n_units,
        "n_enemies": n_enemies,
        "team_gen": team_gen,
        "start_positions": {"dist_type": "surrounded_and_reflect", "p": 0.5, "map_x": 32, "map_y": 32},
    }


def build_env_args(race: str, units: str, seed: int | None = None) -> dict:
    """All keyword arguments of smacv2's StarCraftCapabilityEnvWrapper for a race and team sizes."""
    return {**OFFICIAL_ENV_ARGS, "map_name": f"10gen_{race}", "capability_config": build_capability_config(race, units),
            "seed": seed}


def _sc2_path() -> Path:
    """Where pysc2 looks for StarCraft II on Linux: $SC2PATH, else ~/StarCraftII."""
    return Path(os.environ.get("SC2PATH", Path.home() / "StarCraftII"))


def _import_wrapper():
    try:
        from smacv2.env.starcraft2.wrapper import StarCraftCapabilityEnvWrapper
    except ImportError as err:
        raise ImportError(f"--env_name smacv2 needs the smacv2 package ({err}); {INSTALL_HINT}") from err
    if not _sc2_path().is_dir():
        raise RuntimeError(f"StarCraft II not found at {_sc2_path()} (set SC2PATH); {INSTALL_HINT}")
    return StarCraftCapabilityEnvWrapper


class SMACv2Env(MultiAgentEnv):
    """One SMACv2 battle (one StarCraft II process, started on the first reset)."""

    episode_info_keys = ("won",)

    def __init__(self, scenario: str = "protoss", units: str = "5v5", use_agent_specific_state: bool = True):
        wrapper_cls = _import_wrapper()
        self.env = wrapper_cls(**build_env_args(scenario, units))
        info = self.env.get_env_info()
        self.n_agents, n_actions = info["n_agents"], info["n_actions"]
        obs_dim, self._global_dim = info["obs_shape"], info["state_shape"]
        self.use_agent_specific_state = use_agent_specific_state
        state_dim = self._global_dim + (obs_dim + self.n_agents if use_agent_specific_state else 0)
        self.observation_space = [Box(-np.inf, np.inf, (obs_dim,), np.float32) for _ in range(self.n_agents)]
        self.state_space = [Box(-np.inf, np.inf, (state_dim,), np.float32) for _ in range(self.n_agents)]
        self.action_space = [Discrete(n_actions) for _ in range(self.n_agents)]

    def _samplers(self) -> list:
        """The capability distributions that draw teams and start positions (they own numpy RNGs)."""
        return [d for d in self.env.env_key_to_distribution_map.values() if hasattr(d, "rng")]

    def _observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs (N, Do), state (N, Ds), avail (N, A), float32."""
        obs = np.asarray(self.env.get_obs(), dtype=np.float32)
        state = np.tile(np.asarray(self.env.get_state(), dtype=np.float32), (self.n_agents, 1))
        if self.use_agent_specific_state:
            state = np.concatenate([state, obs, np.eye(self.n_agents, dtype=np.float32)], axis=1)
        avail = np.asarray([self.env.get_avail_agent_actions(i) for i in range(self.n_agents)], dtype=np.float32)
        return obs, state, avail

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """seed fixes the team/position samplers and (before the game starts) SC2's own seed."""
        if seed is not None:
            self.env.env._seed = seed
            for k, sampler in enumerate(self._samplers()):
                sampler.rng = np.random.default_rng([seed, k])
        self.env.reset()
        return self._observe()

    def step(self, actions: np.ndarray) -> tuple:
        idx = discrete_actions(actions, (self.n_agents,), self.action_space[0].n)
        reward, ended, info = self.env.step(idx.tolist())
        truncated = bool(ended and info.get("episode_limit", False))
        won = float(info.get("battle_won", False))
        team_reward = np.full(self.n_agents, reward, dtype=np.float32)
        # "active" (N,) bool: allies alive after the step, for VecStep.active once the vec envs read it.
        info = {"won": won, "active": self.env.death_tracker_ally == 0}
        return *self._observe(), team_reward, bool(ended) and not truncated, truncated, info

    def get_state(self) -> dict[str, Any]:
        """The samplers' RNG states only: a running StarCraft II game cannot be saved."""
        return {"sampler_rngs": [s.rng.bit_generator.state for s in self._samplers()]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the samplers' RNGs and start a new episode (the interrupted one cannot be restored)."""
        for sampler, rng_state in zip(self._samplers(), state["sampler_rngs"], strict=True):
            sampler.rng = generator_from_state(rng_state)
        self.env.reset()

    def close(self) -> None:
        self.env.close()


SPEC = EnvSpec(
    name="smacv2",
    scenarios=RACES,
    is_scenario=lambda name: name in RACES,
    env_kwargs=("units", "use_agent_specific_state"),
    make_env=SMACv2Env,
)
