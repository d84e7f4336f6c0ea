"""TEST DOUBLE of the `smacv2` API that onpolicy/envs/smacv2.py calls. NOT SMACv2 support.

StarCraft II cannot be installed here, so this module stands in for
`smacv2.env.starcraft2.wrapper.StarCraftCapabilityEnvWrapper` in the tests. What is faithful to
oxwhirl/smacv2 (wrapper.py, starcraft2.py, distributions.py, maps/smac_maps.py) is the part our
adapter depends on:
- the constructor keywords of StarCraft2Env (an unknown keyword is a TypeError, as there);
- the 10gen_{protoss,terran,zerg} map parameters (episode limit 200, 3 unit-type bits, races);
- sizes: get_obs_size(), get_state_size(), get_total_actions() by the package's formulas for the
  options the official configs use (e.g. protoss 5v5: obs 92, state 130, 11 actions);
- the call protocol: reset() returns (obs list, state), step(actions) returns
  (reward, terminated, info) with info["battle_won"], "dead_allies", "dead_enemies", and
  "episode_limit" only when continuing_episode=True (as in the package: otherwise a time-out is
  just terminated=True); a step with an unavailable action fails like the package's assert;
- dead allies: death_tracker_ally[i] = 1, zero observation, only action 0 (no-op) available;
- the capability distributions ("weighted_teams", "surrounded_and_reflect") with the package's
  attribute layout: each holds `rng = numpy.random.default_rng()` (unseeded) and the composite
  position distribution holds nested ones; teams and get_obs() call Python's global
  `random.shuffle`, as the package does;
- reward shaping: damage and kills (reward_death_value), reward_win on a win, scaled by
  max_reward / reward_scale_rate, reward_only_positive.

What is NOT the game: the battle is a small deterministic-given-seed simulation (units with
health+shield, attack ranges, an enemy AI that attacks the nearest ally in range and otherwise
walks towards it, random hit variation from a generator seeded by the `seed` keyword, like SC2's
random_seed at launch). Test knob (not in smacv2): the environment variable
SMACV2_DOUBLE_EPISODE_LIMIT overrides the maps' 200-step limit so short tests see time-outs.
`install_package(directory)` writes a `smacv2` package there whose wrapper module re-exports this
double, so subprocess workers that import `smacv2` find it through PYTHONPATH.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

MAPS = {
    "10gen_protoss": dict(limit=200, a_race="P", b_race="P", unit_type_bits=3, map_type="protoss_gen"),
    "10gen_terran": dict(limit=200, a_race="T", b_race="T", unit_type_bits=3, map_type="terran_gen"),
    "10gen_zerg": dict(limit=200, a_race="Z", b_race="Z", unit_type_bits=3, map_type="zerg_gen"),
}
# Per unit type: (type bit within its race, health, shield, damage per hit, shoot range); medivacs heal, not hit.
UNITS = {
    "stalker": (0, 80, 80, 13, 6), "zealot": (1, 100, 50, 16, 2), "colossus": (2, 200, 150, 20, 7),
    "marine": (0, 45, 0, 6, 5), "marauder": (1, 125, 0, 10, 6), "medivac": (2, 150, 0, 0, 4),
    "zergling": (0, 35, 0, 5, 2), "hydralisk": (1, 90, 0, 12, 5), "baneling": (2, 30, 0, 16, 2),
}
MAP_SIZE = 32
SIGHT_RANGE = 9


# --- capability distributions (same attribute layout as smacv2/env/starcraft2/distributions.py) ---
class WeightedTeamsDistribution:
    def __init__(self, config):
        self.units = np.array(config["unit_types"])
        self.n_units, self.n_enemies = config["n_units"], config["n_enemies"]
        self.weights = np.array(config["weights"])
        self.exceptions = config.get("exception_unit_types", set())
        self.rng = np.random.default_rng()
        self.env_key = config["env_key"]

    def _gen_team(self, n_units):
        team = []
        while not team or all(member in self.exceptions for member in team):
            team = list(self.rng.choice(self.units, size=(n_units,), p=self.weights))
            random.shuffle(team)
        return [str(u) for u in team]

    def generate(self):
        team = self._gen_team(self.n_units)
        enemies = team.copy()
        if self.n_enemies > self.n_units:
            enemies += self._gen_team(self.n_enemies - self.n_units)
        return {self.env_key: {"ally_team": team, "enemy_team": enemies[: self.n_enemies], "id": 0}}


class PerAgentUniformDistribution:
    def __init__(self, config):
        self.lower_bound, self.upper_bound = config["lower_bound"], config["upper_bound"]
        self.env_key, self.n_units = config["env_key"], config["n_units"]
        self.rng = np.random.default_rng()

    def generate(self):
        item = self.rng.uniform(self.lower_bound, self.upper_bound, size=(self.n_units, len(self.lower_bound)))
        return {self.env_key: {"item": item, "id": 0}}


class ReflectPositionDistribution:
    def __init__(self, config):
        self.n_units, self.n_enemies = config["n_units"], config["n_enemies"]
        self.map_x, self.map_y = config["map_x"], config["map_y"]
        self.pos_generator = PerAgentUniformDistribution(
            {**config, "env_key": "ally_start_positions", "lower_bound": (0, 0),
             "upper_bound": (self.map_x / 2 - 1, self.map_y)})
        if self.n_enemies > self.n_units:
            self.enemy_pos_generator = PerAgentUniformDistribution(
                {**config, "env_key": "enemy_start_positions", "lower_bound": (self.map_x / 2, 0),
                 "upper_bound": (self.map_x, self.map_y), "n_units": self.n_enemies - self.n_units})

    def generate(self):
        allies = self.pos_generator.generate()["ally_start_positions"]["item"]
        enemies = np.zeros((self.n_enemies, 2))
        k = min(self.n_units, self.n_enemies)
        enemies[:k, 0], enemies[:k, 1] = self.map_x - allies[:k, 0], allies[:k, 1]
        if self.n_enemies > self.n_units:
            enemies[k:] = self.enemy_pos_generator.generate()["enemy_start_positions"]["item"]
        return {"ally_start_positions": {"item": allies, "id": 0}, "enemy_start_positions": {"item": enemies, "id": 0}}


class SurroundedPositionDistribution:
    def __init__(self, config):
        self.n_units, self.n_enemies = config["n_units"], config["n_enemies"]
        self.map_x, self.map_y = config["map_x"], config["map_y"]
        self.rng = np.random.default_rng()

    def generate(self):
        centre = np.array([self.map_x / 2, self.map_y / 2])
        corners = np.array([[0, 0], [0, self.map_y], [self.map_x, self.map_y], [self.map_x, 0]], dtype=float)
        n_groups = self.rng.integers(1, 5)
        sizes = self.rng.multinomial(self.n_enemies, np.ones(n_groups) / n_groups)
        where = self.rng.uniform(size=(n_groups,))
        diagonals = self.rng.choice(np.arange(4), size=(n_groups,), replace=False)
        enemies, start = np.zeros((self.n_enemies, 2)), 0
        for size, t, d in zip(sizes, where, diagonals):
            near_centre = centre + 2 * np.sign(corners[d] - centre)
            enemies[start: start + size] = near_centre * t + corners[d] * (1 - t)
            start += size
        return {"ally_start_positions": {"item": np.tile(centre, (self.n_units, 1)), "id": 0},
                "enemy_start_positions": {"item": enemies, "id": 0}}


class SurroundedAndReflectPositionDistribution:
    def __init__(self, config):
        self.p_threshold = config["p"]
        self.surrounded_distribution = SurroundedPositionDistribution(config)
        self.reflect_distribution = ReflectPositionDistribution(config)
        self.rng = np.random.default_rng()

    def generate(self):
        if self.rng.random() > self.p_threshold:
            return self.surrounded_distribution.generate()
        return self.reflect_distribution.generate()


DISTRIBUTIONS = {"weighted_teams": WeightedTeamsDistribution,
                 "surrounded_and_reflect": SurroundedAndReflectPositionDistribution}


class _Unit:
    def __init__(self, unit_type: str, pos):
        self.unit_type = unit_type
        self.type_bit, self.health_max, self.shield_max, self.damage, self.shoot_range = UNITS[unit_type]
        self.health, self.shield = float(self.health_max), float(self.shield_max)
        self.pos = np.array(pos, dtype=float)

    @property
    def alive(self) -> bool:
        return self.health > 0

    def hit(self, damage: float) -> None:
        absorbed = min(self.shield, damage)
        self.shield -= absorbed
        self.health = max(0.0, self.health - (damage - absorbed))


class StarCraft2Env:
    """The double of smacv2.env.starcraft2.starcraft2.StarCraft2Env (keywords as in the package)."""

    def __init__(self, map_name="8m", step_mul=8, move_amount=2, difficulty="7", game_version=None, seed=None,
                 continuing_episode=False, obs_all_health=True, obs_own_health=True, obs_last_action=False,
                 obs_pathing_grid=False, obs_terrain_height=False, obs_instead_of_state=False,
                 obs_timestep_number=False, obs_own_pos=False, obs_starcraft=True, conic_fov=False,
                 num_fov_actions=12, state_last_action=True, state_timestep_number=False, reward_sparse=False,
                 reward_only_positive=True, reward_death_value=10, reward_win=200, reward_defeat=0,
                 reward_negative_scale=0.5, reward_scale=True, reward_scale_rate=20, use_unit_ranges=False,
                 min_attack_range=2, kill_unit_step_mul=2, fully_observable=False, capability_config={},
                 replay_dir="", replay_prefix="", window_size_x=1920, window_size_y=1200, heuristic_ai=False,
                 heuristic_rest=False, debug=False, prob_obs_enemy=1.0, action_mask=True):
        if map_name not in MAPS:
            raise NotImplementedError(f"the smacv2 double only has the maps {sorted(MAPS)}, not {map_name}")
        unsupported = dict(obs_pathing_grid=obs_pathing_grid, obs_terrain_height=obs_terrain_height,
                           obs_instead_of_state=obs_instead_of_state, conic_fov=conic_fov,
                           obs_last_action=obs_last_action, obs_timestep_number=obs_timestep_number,
                           state_timestep_number=state_timestep_number, heuristic_ai=heuristic_ai,
                           reward_sparse=reward_sparse)
        if any(unsupported.values()):
            raise NotImplementedError(f"the smacv2 double does not model {[k for k, v in unsupported.items() if v]}")
        params = MAPS[map_name]
        self.map_name, self.map_type = map_name, params["map_type"]
        self.episode_limit = int(os.environ.get("SMACV2_DOUBLE_EPISODE_LIMIT", params["limit"]))
        self._move_amount, self._seed, self.continuing_episode = move_amount, seed, continuing_episode
        self.obs_all_health, self.obs_own_pos, self.state_last_action = obs_all_health, obs_own_pos, state_last_action
        self.obs_own_health = obs_own_health or obs_all_health
        self.reward_only_positive, self.reward_death_value = reward_only_positive, reward_death_value
        self.reward_win, self.reward_defeat = reward_win, reward_defeat
        self.reward_scale, self.reward_scale_rate = reward_scale, reward_scale_rate
        self.use_unit_ranges, self.min_attack_range = use_unit_ranges, min_attack_range
        self.capability_config = capability_config
        team_gen = capability_config["team_gen"]
        self.n_agents, self.n_enemies = team_gen["n_units"], team_gen["n_enemies"]
        self.unit_type_bits = params["unit_type_bits"]
        self.shield_bits_ally = self.shield_bits_enemy = 1 if params["a_race"] == "P" else 0
        self.n_actions_no_attack = 6
        grows = self.map_type in ("MMM", "terran_gen") and self.n_agents > self.n_enemies
        self.n_actions = self.n_actions_no_attack + (self.n_agents if grows else self.n_enemies)
        self.max_reward = self.n_enemies * reward_death_value + reward_win
        self._episode_count = self._episode_steps = self._total_steps = 0
        self.battles_won = self.battles_game = self.timeouts = 0
        self.death_tracker_ally = np.zeros(self.n_agents)
        self.death_tracker_enemy = np.zeros(self.n_enemies)
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        self.agents, self.enemies = {}, {}
        self._game_rng = None  # SC2's own randomness, created at launch from `seed`
        self.launched = False

    # --- sizes (the package's formulas for the supported options) -------------------------------
    def get_obs_size(self):
        enemy_feats = 4 + self.unit_type_bits + (1 + self.shield_bits_enemy if self.obs_all_health else 0)
        ally_feats = 4 + self.unit_type_bits + (1 + self.shield_bits_ally if self.obs_all_health else 0)
        own = self.unit_type_bits + (1 + self.shield_bits_ally if self.obs_own_health else 0)
        own += 2 if self.obs_own_pos else 0
        return 4 + self.n_enemies * enemy_feats + (self.n_agents - 1) * ally_feats + own

    def get_state_size(self):
        ally = 4 + self.shield_bits_ally + self.unit_type_bits
        enemy = 3 + self.shield_bits_enemy + self.unit_type_bits
        size = self.n_agents * ally + self.n_enemies * enemy
        return size + (self.n_agents * self.n_actions if self.state_last_action else 0)

    def get_total_actions(self):
        return self.n_actions

    def get_env_info(self):
        return {"state_shape": self.get_state_size(), "obs_shape": self.get_obs_size(),
                "cap_shape": self.unit_type_bits, "n_actions": self.get_total_actions(), "n_agents": self.n_agents,
                "episode_limit": self.episode_limit}

    # --- episode ---------------------------------------------------------------------------------
    def reset(self, episode_config={}):
        self._episode_steps = 0
        if not self.launched:  # the package launches SC2 on the first reset, seeding the game with `seed`
            self._game_rng = np.random.default_rng(self._seed)
            self.launched = True
        team = episode_config["team_gen"]
        allies = episode_config["ally_start_positions"]["item"]
        enemies = episode_config["enemy_start_positions"]["item"]
        self.agents = {i: _Unit(u, allies[i]) for i, u in enumerate(team["ally_team"])}
        self.enemies = {j: _Unit(u, enemies[j]) for j, u in enumerate(team["enemy_team"])}
        self.death_tracker_ally = np.zeros(self.n_agents)
        self.death_tracker_enemy = np.zeros(self.n_enemies)
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        self.win_counted = False
        return self.get_obs(), self.get_state()

    def _shoot_range(self, unit):
        return max(unit.shoot_range, self.min_attack_range) if self.use_unit_ranges else 6

    def get_avail_agent_actions(self, agent_id):
        unit = self.agents[agent_id]
        if not unit.alive:
            return [1] + [0] * (self.n_actions - 1)
        avail = [0, 1] + [0] * (self.n_actions - 2)
        for k, step in enumerate(((0, 1), (0, -1), (1, 0), (-1, 0))):
            target = unit.pos + np.array(step) * self._move_amount / 2
            avail[2 + k] = int(0 <= target[0] < MAP_SIZE and 0 <= target[1] < MAP_SIZE)
        for j, enemy in self.enemies.items():
            if enemy.alive and np.linalg.norm(enemy.pos - unit.pos) <= self._shoot_range(unit):
                avail[self.n_actions_no_attack + j] = 1
        return avail

    def get_avail_actions(self):
        return [self.get_avail_agent_actions(i) for i in range(self.n_agents)]

    def step(self, actions):
        actions_int = [int(a) for a in actions]
        self.last_action = np.eye(self.n_actions)[np.array(actions_int)]
        before = {k: u.health + u.shield for k, u in self.enemies.items()}
        avail = self.get_avail_actions()  # the package checks every order against the state before the step
        for a_id, action in enumerate(actions_int):
            assert avail[a_id][action] == 1, f"Agent {a_id} cannot perform action {action}"
        for a_id, action in enumerate(actions_int):
            self._apply(self.agents[a_id], action)
        self._enemy_ai()
        self._total_steps += 1
        self._episode_steps += 1
        reward = self._reward(before)
        info = {"battle_won": False}
        allies_alive = any(u.alive for u in self.agents.values())
        enemies_alive = any(u.alive for u in self.enemies.values())
        info["dead_allies"] = sum(not u.alive for u in self.agents.values())
        info["dead_enemies"] = sum(not u.alive for u in self.enemies.values())
        terminated = False
        if not allies_alive or not enemies_alive:
            terminated = True
            self.battles_game += 1
            if allies_alive and not self.win_counted:
                self.battles_won += 1
                self.win_counted = True
                info["battle_won"] = True
                reward += self.reward_win
            elif not allies_alive:
                reward += self.reward_defeat
        elif self._episode_steps >= self.episode_limit:
            terminated = True
            if self.continuing_episode:
                info["episode_limit"] = True
            self.battles_game += 1
            self.timeouts += 1
        if terminated:
            self._episode_count += 1
        if self.reward_scale:
            reward /= self.max_reward / self.reward_scale_rate
        return reward, terminated, info

    def _apply(self, unit, action):
        if action < 2:
            return  # no-op (dead) or stop
        if action < 6:
            step = ((0, 1), (0, -1), (1, 0), (-1, 0))[action - 2]
            unit.pos = np.clip(unit.pos + np.array(step) * self._move_amount, 0, MAP_SIZE - 1e-3)
            return
        target = self.enemies[action - self.n_actions_no_attack]
        if target.alive:  # another ally's shot this step may have killed it already
            target.hit(unit.damage * self._game_rng.uniform(0.8, 1.2))

    def _enemy_ai(self):
        """Each living enemy attacks the nearest living ally in range, else walks towards it."""
        for enemy in self.enemies.values():
            living = [u for u in self.agents.values() if u.alive]
            if not enemy.alive or not living:
                continue
            nearest = min(living, key=lambda u: np.linalg.norm(u.pos - enemy.pos))
            gap = nearest.pos - enemy.pos
            if np.linalg.norm(gap) <= enemy.shoot_range:
                nearest.hit(enemy.damage * self._game_rng.uniform(0.8, 1.2))
            else:
                enemy.pos = enemy.pos + gap / np.linalg.norm(gap) * min(self._move_amount / 2, np.linalg.norm(gap))
        for i, unit in self.agents.items():
            if not unit.alive:
                self.death_tracker_ally[i] = 1

    def _reward(self, before):
        reward = 0.0
        for j, enemy in self.enemies.items():
            if self.death_tracker_enemy[j]:
                continue
            reward += before[j] - enemy.health - enemy.shield
            if not enemy.alive:
                self.death_tracker_enemy[j] = 1
                reward += self.reward_death_value
        return max(reward, 0.0) if self.reward_only_positive else reward

    # --- observations ------------------------------------------------------------------------------
    def get_obs_agent(self, agent_id, fully_observable=False):
        unit = self.agents[agent_id]
        obs = np.zeros(self.get_obs_size(), dtype=np.float32)
        if not unit.alive:
            return obs
        avail = self.get_avail_agent_actions(agent_id)
        obs[:4] = avail[2:6]
        at = 4
        for j in range(self.n_enemies):
            at = self._unit_feats(obs, at, unit, self.enemies[j], avail[self.n_actions_no_attack + j],
                                  self.shield_bits_enemy)
        for i in range(self.n_agents):
            if i != agent_id:
                at = self._unit_feats(obs, at, unit, self.agents[i], 1, self.shield_bits_ally)
        if self.obs_own_health:
            obs[at] = unit.health / unit.health_max
            at += 1
            if self.shield_bits_ally:
                obs[at] = unit.shield / max(unit.shield_max, 1)
                at += 1
        if self.obs_own_pos:
            obs[at: at + 2] = unit.pos / MAP_SIZE
            at += 2
        obs[at + unit.type_bit] = 1
        return obs

    def _unit_feats(self, obs, at, me, other, first_flag, shield_bits):
        size = 4 + self.unit_type_bits + (1 + shield_bits if self.obs_all_health else 0)
        distance = float(np.linalg.norm(other.pos - me.pos))
        if other.alive and distance < SIGHT_RANGE:
            obs[at: at + 4] = first_flag, distance / SIGHT_RANGE, *((other.pos - me.pos) / SIGHT_RANGE)
            k = at + 4
            if self.obs_all_health:
                obs[k] = other.health / other.health_max
                if shield_bits:
                    obs[k + 1] = other.shield / max(other.shield_max, 1)
                k += 1 + shield_bits
            obs[k + other.type_bit] = 1
        return at + size

    def get_obs(self):
        order = list(range(self.n_agents))
        random.shuffle(order)  # the package computes observations in a shuffled order
        observations = [None] * self.n_agents
        for agent_id in order:
            observations[agent_id] = self.get_obs_agent(agent_id)
        return observations

    def get_state(self):
        ally = np.zeros((self.n_agents, 4 + self.shield_bits_ally + self.unit_type_bits))
        for i, u in self.agents.items():
            if u.alive:
                ally[i, :4] = u.health / u.health_max, 0.0, *((u.pos - MAP_SIZE / 2) / MAP_SIZE)
                if self.shield_bits_ally:
                    ally[i, 4] = u.shield / max(u.shield_max, 1)
                ally[i, u.type_bit - self.unit_type_bits] = 1
        enemy = np.zeros((self.n_enemies, 3 + self.shield_bits_enemy + self.unit_type_bits))
        for j, u in self.enemies.items():
            if u.alive:
                enemy[j, :3] = u.health / u.health_max, *((u.pos - MAP_SIZE / 2) / MAP_SIZE)
                if self.shield_bits_enemy:
                    enemy[j, 3] = u.shield / max(u.shield_max, 1)
                enemy[j, u.type_bit - self.unit_type_bits] = 1
        parts = [ally.ravel(), enemy.ravel()] + ([self.last_action.ravel()] if self.state_last_action else [])
        return np.concatenate(parts).astype(np.float32)

    def get_stats(self):
        return {"battles_won": self.battles_won, "battles_game": self.battles_game, "battles_draw": self.timeouts,
                "win_rate": self.battles_won / max(self.battles_game, 1), "timeouts": self.timeouts, "restarts": 0}

    def close(self):
        self.launched = False


class StarCraftCapabilityEnvWrapper:
    """The double of smacv2's wrapper: parses capability_config into distributions, delegates the rest."""

    def __init__(self, **kwargs):
        self.distribution_config = kwargs["capability_config"]
        self.env_key_to_distribution_map = {}
        for env_key, config in self.distribution_config.items():
            if env_key in ("n_units", "n_enemies"):
                continue
            config["env_key"] = env_key
            config["n_units"] = self.distribution_config["n_units"]
            config["n_enemies"] = self.distribution_config["n_enemies"]
            self.env_key_to_distribution_map[env_key] = DISTRIBUTIONS[config["dist_type"]](config)
        self.env = StarCraft2Env(**kwargs)

    def reset(self):
        reset_config = {}
        for distribution in self.env_key_to_distribution_map.values():
            reset_config = {**reset_config, **distribution.generate()}
        return self.env.reset(reset_config)

    def __getattr__(self, name):
        if name != "env" and hasattr(self.env, name):
            return getattr(self.env, name)
        raise AttributeError(name)

    def get_obs(self):
        return self.env.get_obs()

    def get_state(self):
        return self.env.get_state()

    def get_avail_actions(self):
        return self.env.get_avail_actions()

    def get_avail_agent_actions(self, agent_id):
        return self.env.get_avail_agent_actions(agent_id)

    def get_env_info(self):
        return self.env.get_env_info()

    def step(self, actions):
        return self.env.step(actions)

    def close(self):
        return self.env.close()


def install_package(directory: Path) -> Path:
    """Write a `smacv2` package into `directory` whose wrapper re-exports this double; returns it.

    Put `directory` and this file's folder on PYTHONPATH so that processes started later
    (subprocess env workers) import the double as `smacv2`.
    """
    package = Path(directory) / "smacv2"
    (package / "env" / "starcraft2").mkdir(parents=True, exist_ok=True)
    for init in (package, package / "env", package / "env" / "starcraft2"):
        (init / "__init__.py").write_text('"""Test double of smacv2 (see tests/smacv2_double.py)."""\n')
    (package / "env" / "starcraft2" / "wrapper.py").write_text(
        "from smacv2_double import StarCraftCapabilityEnvWrapper  # noqa: F401  (a test double)\n")
    return Path(directory)


__all__ = ["StarCraftCapabilityEnvWrapper", "StarCraft2Env", "install_package"]
