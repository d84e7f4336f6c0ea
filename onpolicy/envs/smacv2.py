"""SMACv2 (StarCraft II) adapter: the 10gen_{protoss,terran,zerg} maps with the official capability config.

Needs the `smacv2` package and StarCraft II 4.10 with the SMAC maps; neither is on PyPI, see
train_scripts/install_sc2.sh. `smacv2` is imported only when an env is built, so configs and
`build_capability_config` work without it. Scenario = race; team sizes come from `--units`.

Per agent i (N allies, A = 6 + enemies, or what the installed smacv2 reports):
- obs_i (Do,): SMACv2's observation of ally i (zeros once the unit is dead).
- state_i: `use_agent_specific_state=False`: the global state (Ds,) copied to every agent;
  `use_agent_specific_state=True` (default): [global state, obs_i, one-hot(i)].
- avail_i (A,): SMACv2's mask; a dead ally can only take no-op (index 0).
- active_i: ally i is alive (smacv2's death tracker); dead allies are masked out of the losses.
- episode_info["won"]: SMACv2's battle_won (1.0/0.0; a time-out counts as not won, as in
  smacv2's own win rate). Reaching the episode limit with the battle undecided is a truncation
  (bootstrapped); smacv2 itself flags it only with continuing_episode=True, which the official
  configs do not use, so the adapter checks the limit itself.

Seeding: reset(seed) seeds every capability-distribution RNG (nested ones too: the start
positions' surrounded/reflect parts have their own), the Python `random` stream smacv2 shuffles
teams with (kept per env, swapped in around smacv2 calls), and SC2's game seed.

Each SC2 game runs in its own process (subproc backend, the default for this env). The game
engine cannot be snapshot: get_state keeps those RNG states and the last observation; on resume
the interrupted episode ends as a truncation at the resume point and the next episode is the one
an uninterrupted run would have drawn (onpolicy/envs/restart.py).

tests/test_smacv2_double.py runs this adapter's game loop against tests/smacv2_double.py, a test
double of the smacv2 API (not the game).
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import EnvSpec, MultiAgentEnv, discrete_actions, generator_from_state
from onpolicy.envs.restart import InterruptedEpisode

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


def _generators(obj, path: str = "", seen: set | None = None) -> list[tuple[str, Any, str]]:
    """Every numpy Generator attribute reachable from a capability distribution, as (path, owner,
    attribute), in a fixed order. smacv2's composite distributions (e.g. surrounded_and_reflect)
    hold nested distributions with RNGs of their own, so seeding only the top-level `rng` would
    leave start positions unseeded."""
    seen = set() if seen is None else seen
    if id(obj) in seen or not hasattr(obj, "__dict__"):
        return []
    seen.add(id(obj))
    found = []
    for name, value in sorted(vars(obj).items()):
        if isinstance(value, np.random.Generator):
            found.append((f"{path}{name}", obj, name))
        elif hasattr(value, "generate"):  # a nested distribution
            found += _generators(value, f"{path}{name}.", seen)
    return found


class SMACv2Env(MultiAgentEnv):
    """One SMACv2 battle (one StarCraft II process, started on the first reset)."""

    episode_info_keys = ("won",)

    def __init__(self, scenario: str = "protoss", units: str = "5v5", use_agent_specific_state: bool = True):
        wrapper_cls = _import_wrapper()
        self.env = wrapper_cls(**build_env_args(scenario, units))
        info = self.env.get_env_info()
        self.n_agents, n_actions = info["n_agents"], info["n_actions"]
        self.n_enemies = UNITS[units][1]
        obs_dim, self._global_dim = info["obs_shape"], info["state_shape"]
        self.use_agent_specific_state = use_agent_specific_state
        state_dim = self._global_dim + (obs_dim + self.n_agents if use_agent_specific_state else 0)
        self.observation_space = [Box(-np.inf, np.inf, (obs_dim,), np.float32) for _ in range(self.n_agents)]
        self.state_space = [Box(-np.inf, np.inf, (state_dim,), np.float32) for _ in range(self.n_agents)]
        self.action_space = [Discrete(n_actions) for _ in range(self.n_agents)]
        # smacv2 shuffles with Python's process-global `random`: teams at reset, the order in which
        # get_obs computes observations at every step. Each env keeps its own streams (envs sharing
        # a worker stay independent and seeded), one for resets and one for steps, so the teams of
        # the next episode do not depend on how long the current one lasts (resume relies on it).
        self._python_random = {"reset": random.Random(0), "step": random.Random(0)}
        self._game_seed: int | None = None
        self._interrupted = InterruptedEpisode()

    def _samplers(self) -> list[tuple[str, Any, str]]:
        """The capability distributions' RNGs (teams, start positions), nested ones included."""
        found = []
        for key, distribution in self.env.env_key_to_distribution_map.items():
            found += _generators(distribution, f"{key}.")
        return found

    @contextlib.contextmanager
    def _own_python_random(self, kind: str):
        """Run smacv2 code with this env's `kind` ("reset"/"step") stream as Python's global random."""
        outside = random.getstate()
        random.setstate(self._python_random[kind].getstate())
        try:
            yield
        finally:
            self._python_random[kind].setstate(random.getstate())
            random.setstate(outside)

    def _observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs (N, Do), state (N, Ds), avail (N, A), float32."""
        with self._own_python_random("step"):
            obs = np.asarray(self.env.get_obs(), dtype=np.float32)
        state = np.tile(np.asarray(self.env.get_state(), dtype=np.float32), (self.n_agents, 1))
        if self.use_agent_specific_state:
            state = np.concatenate([state, obs, np.eye(self.n_agents, dtype=np.float32)], axis=1)
        avail = np.asarray([self.env.get_avail_agent_actions(i) for i in range(self.n_agents)], dtype=np.float32)
        self._interrupted.remember(obs, state, avail, self._alive())
        return obs, state, avail

    def _alive(self) -> np.ndarray:
        """(N,) bool: allies not yet dead (smacv2's death tracker)."""
        return np.asarray(self.env.death_tracker_ally) == 0

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """seed fixes the team/position samplers, Python's shuffles and (before the game starts) SC2's seed."""
        if seed is not None:
            self._game_seed = int(seed)
            self.env.env._seed = self._game_seed
            for k, (_, owner, name) in enumerate(self._samplers()):
                setattr(owner, name, np.random.default_rng([seed, k]))
            for k, stream in enumerate(self._python_random.values()):
                stream.seed(int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
        self._interrupted.clear()
        with self._own_python_random("reset"):
            self.env.reset()
        return self._observe()

    def _timed_out(self, ended: bool, info: dict) -> bool:
        """The episode ended at smacv2's episode limit with the battle undecided (a truncation).

        smacv2 reports `info["episode_limit"]` only with continuing_episode=True; the official
        configs use False, where a time-out is just terminated=True, so the limit is checked here.
        An empty info is smacv2's answer after a crashed game restarted: the episode was cut, too.
        """
        if not ended:
            return False
        if not info or info.get("episode_limit", False):
            return True
        decided = (bool(info.get("battle_won", False)) or info.get("dead_allies", 0) >= self.n_agents
                   or info.get("dead_enemies", 0) >= self.n_enemies or self._only_medivacs_left())
        return not decided and self.env._episode_steps >= self.env.episode_limit

    def _only_medivacs_left(self) -> bool:
        """Terran battles end when one side has only medivacs (which cannot fight) left."""
        check = getattr(self.env, "only_medivac_left", None)
        return bool(check is not None and (check(ally=True) or check(ally=False)))

    def step(self, actions: np.ndarray) -> tuple:
        interrupted = self._interrupted.take_truncation()
        if interrupted is not None:
            return interrupted
        idx = discrete_actions(actions, (self.n_agents,), self.action_space[0].n)
        with self._own_python_random("step"):
            reward, ended, info = self.env.step(idx.tolist())
        truncated = self._timed_out(bool(ended), info)
        # A time-out is a battle not won (smacv2's win rate counts it as played); a crashed game has
        # no outcome at all, and NaN keeps it out of the win rate.
        won = float(info.get("battle_won", False)) if info else np.nan
        team_reward = np.full(self.n_agents, reward, dtype=np.float32)
        obs, state, avail = self._observe()
        # "active" (N,) bool: allies alive after the step, read by the vec envs as VecStep.active.
        info = {"won": won, "active": self._alive()}
        return obs, state, avail, team_reward, bool(ended) and not truncated, truncated, info

    def get_state(self) -> dict[str, Any]:
        """The samplers' and Python-shuffle RNG states, SC2's seed and the last observation: a running
        StarCraft II game cannot be saved."""
        python_random = {}
        for kind, stream in self._python_random.items():
            version, internal, _ = stream.getstate()
            python_random[kind] = {"version": version, "internal": np.asarray(internal, dtype=np.int64)}
        return {"sampler_rngs": {path: getattr(owner, name).bit_generator.state for path, owner, name in self._samplers()},
                "python_random": python_random, "game_seed": self._game_seed,
                "last_view": self._interrupted.snapshot()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the RNGs; the next step() ends the interrupted episode as a truncation and the
        episode after it is the one an uninterrupted run would have drawn next."""
        samplers = {path: (owner, name) for path, owner, name in self._samplers()}
        if set(samplers) != set(state["sampler_rngs"]):
            raise ValueError(f"snapshot samplers {sorted(state['sampler_rngs'])} do not match {sorted(samplers)}")
        for path, rng_state in state["sampler_rngs"].items():
            owner, name = samplers[path]
            setattr(owner, name, generator_from_state(rng_state))
        for kind, saved in state["python_random"].items():
            self._python_random[kind].setstate((int(saved["version"]), tuple(int(x) for x in saved["internal"]), None))
        self._game_seed = state["game_seed"]
        self.env.env._seed = self._game_seed  # used if this process has not started its game yet
        self._interrupted.arm(state["last_view"])

    def close(self) -> None:
        self.env.close()


SPEC = EnvSpec(
    name="smacv2",
    scenarios=RACES,
    is_scenario=lambda name: name in RACES,
    env_kwargs=("units", "use_agent_specific_state"),
    make_env=SMACv2Env,
    agent_id_inputs=lambda scenario, use_agent_specific_state=True, **_: (False, use_agent_specific_state),
)
