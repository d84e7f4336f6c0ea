"""SMAX (JaxMARL's StarCraft-like env in JAX), E envs batched with jax.vmap in one process.

The allies are the learning agents; the enemies follow JaxMARL's heuristic policy
(`HeuristicEnemySMAX`, attack mode "closest", as in JaxMARL's MAPPO baselines). SMAX episodes
end when one team is dead (terminated) or after 100 steps (truncated: the battle was not
decided, so the runner bootstraps from the final state).

Per agent i (N = number of allies, A = enemies + 5 moves/stop):
- obs_i (Do,): JaxMARL's unit-list observation of ally i (zeros once the unit is dead).
- state_i: `use_agent_specific_state=False`: the global world state (Dw,), copied to every agent.
  `use_agent_specific_state=True` (default): [world state (Dw), obs_i (Do), one-hot(i) (N)],
  so the critic knows whose value it estimates and what that agent sees.
- avail_i (A,): JaxMARL's action mask; a dead ally can only take the stop action (index 4).
- active (E, N): ally i is alive in the returned obs (all True right after an auto-reset).
- episode_info["won"]: 1.0 when all enemies died while an ally was alive, else 0.0.

Speed: one jitted, vmapped function steps all E envs and also resets every env with a fresh
key, keeping the reset state (jnp.where) where the episode ended. That costs one reset per env
per step but means no Python loop over envs and one compiled function whatever the number of
finished envs. Env k's key is the PRNGKey of its env seed (base.env_seeds) and is split every
step, so an env's trajectory depends only on its seed and its actions.

Compiling that function takes ~10-50 s on CPU, once per (scenario, state kind, E) in a process
(train and eval envs with the same E share it). Set JAX_COMPILATION_CACHE_DIR to keep compiled
functions on disk across runs.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium.spaces import Box, Discrete

from onpolicy.envs.base import BatchStep, EnvSpec, VecEnv, VecStep, discrete_actions

# jaxmarl 0.2.0's MAP_NAME_TO_SCENARIO, listed here so that config validation needs no jax import
# (tests/test_smax.py checks that the list still matches the installed jaxmarl).
SCENARIOS = (
    "3m", "2s3z", "25m", "3s5z", "8m", "5m_vs_6m", "10m_vs_11m", "27m_vs_30m", "3s5z_vs_3s6z", "3s_vs_5z",
    "6h_vs_8z", "smacv2_5_units", "smacv2_10_units", "smacv2_20_units",
)
INSTALL_HINT = 'pip install -e ".[smax]"  (jaxmarl==0.2.0, jax==0.10.2, jaxlib==0.10.2)'
# JaxMARL's MAPPO/IPPO SMAX baselines use these enemy settings.
HEURISTIC_ENEMY_KWARGS = dict(see_enemy_actions=True, walls_cause_death=True, attack_mode="closest")


def _import_jax():
    try:
        import jax
        import jax.numpy as jnp
        import jaxmarl  # noqa: F401  (checked here so the error names the install command)
    except ImportError as err:
        raise ImportError(f"--env_name smax needs JaxMARL and JAX ({err}); install them with: {INSTALL_HINT}") from err
    return jax, jnp


def make_heuristic_smax(scenario: str):
    """JaxMARL's HeuristicEnemySMAX for a scenario name (see SCENARIOS)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown smax scenario {scenario!r}; choices: {', '.join(SCENARIOS)}")
    _import_jax()
    import jaxmarl
    from jaxmarl.environments.smax import map_name_to_scenario

    return jaxmarl.make("HeuristicEnemySMAX", scenario=map_name_to_scenario(scenario), **HEURISTIC_ENEMY_KWARGS)


class SMAXCore:
    """The jitted, vmapped SMAX function for one (scenario, state kind).

    `advance(keys, env_states, actions, force_reset)` steps E envs and auto-resets them, with
    keys (E, 2) uint32, env_states the batched HeuristicEnemySMAX state (leaves (E, ...)),
    actions (E, N) int32 and force_reset (E,) bool (reset even if the episode goes on: that is
    how reset() is done, so reset and step share ONE compiled function). Cores are shared by
    all vec envs of the same scenario (see `smax_core`), so e.g. train and eval envs with the
    same E compile once.
    """

    def __init__(self, scenario: str, use_agent_specific_state: bool):
        self.jax, self.jnp = _import_jax()
        self.env = make_heuristic_smax(scenario)
        self.use_agent_specific_state = use_agent_specific_state
        self.n_agents, self.obs_dim = self.env.num_allies, self.env.obs_size
        self.state_dim = self.env.state_size + (self.obs_dim + self.n_agents if use_agent_specific_state else 0)
        self.n_actions = self.env.num_ally_actions
        self.advance = self.jax.jit(self.jax.vmap(self._advance_one))

    def _strong_types(self, env_state):
        """Drop JAX weak types (the reset state's `step` is one) so that the state `advance`
        returns has the types of the one it got, and jit compiles `advance` once."""
        return self.jax.tree.map(lambda x: x.astype(x.dtype), env_state)

    def _view(self, obs: dict, env_state) -> tuple:
        """obs (N, Do), state (N, Ds), avail (N, A), all float32, of one env."""
        jnp, agents = self.jnp, self.env.agents
        agent_obs = jnp.stack([obs[a] for a in agents]).astype(jnp.float32)
        state = jnp.broadcast_to(obs["world_state"].astype(jnp.float32), (self.n_agents, self.env.state_size))
        if self.use_agent_specific_state:
            state = jnp.concatenate([state, agent_obs, jnp.eye(self.n_agents, dtype=jnp.float32)], axis=-1)
        avail_by_agent = self.env.get_avail_actions(env_state)
        avail = jnp.stack([avail_by_agent[a] for a in agents]).astype(jnp.float32)
        return agent_obs, state, avail

    def _advance_one(self, key, env_state, actions, force_reset):
        """One env: step with actions (N,), then reset if the episode ended or force_reset.

        Returns (next key, carried state, view after the step, reward (N,), terminated,
        truncated, won, allies alive (N,), view after the reset); views as in `_view`.
        """
        jax, jnp, n = self.jax, self.jnp, self.n_agents
        key, step_key, reset_key = jax.random.split(key, 3)
        obs, next_state, rewards, dones, _ = self.env.step_env(
            step_key, env_state, {a: actions[i] for i, a in enumerate(self.env.agents)})
        next_state = self._strong_types(next_state)
        alive = next_state.state.unit_alive
        allies_alive, enemies_alive = alive[:n].any(), alive[n:].any()
        battle_over = ~allies_alive | ~enemies_alive  # else the time limit ended the episode
        reset_obs, reset_state = self.env.reset(reset_key)
        reset_state = self._strong_types(reset_state)
        restart = dones["__all__"] | force_reset
        carried = jax.tree.map(lambda r, s: jnp.where(restart, r, s), reset_state, next_state)
        reward = jnp.stack([rewards[a] for a in self.env.agents]).astype(jnp.float32)
        won = (~enemies_alive & allies_alive).astype(jnp.float32)
        return (key, carried, self._view(obs, next_state), reward, battle_over, dones["__all__"] & ~battle_over,
                won, alive[:n], self._view(reset_obs, reset_state))

    def blank_states(self, num_envs: int):
        """A batched state of zeros, the right structure and dtypes, to force-reset from."""
        shapes = self.jax.eval_shape(self.env.reset, self.jnp.zeros(2, self.jnp.uint32))[1]
        return self.jax.tree.map(lambda s: self.jnp.zeros((num_envs,) + s.shape, s.dtype), shapes)


@functools.lru_cache(maxsize=None)
def smax_core(scenario: str, use_agent_specific_state: bool) -> SMAXCore:
    return SMAXCore(scenario, use_agent_specific_state)


class SMAXVecEnv(VecEnv):
    """num_envs SMAX battles stepped by one jitted jax.vmap'ed function (see SMAXCore).

    Arrays handed out are NumPy float32 (bool for flags): obs (E, N, Do), state (E, N, Ds),
    avail (E, N, A). The jax state lives on the default jax device between steps.
    """

    def __init__(self, scenario: str = "smacv2_5_units", num_envs: int = 1, seed: int = 0,
                 use_agent_specific_state: bool = True):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown smax scenario {scenario!r}; choices: {', '.join(SCENARIOS)}")
        self.core = smax_core(scenario, use_agent_specific_state)
        n_agents = self.core.n_agents
        super().__init__(
            num_envs=num_envs,
            seed=seed,
            n_agents=n_agents,
            observation_space=[Box(-np.inf, np.inf, (self.core.obs_dim,), np.float32) for _ in range(n_agents)],
            state_space=[Box(-np.inf, np.inf, (self.core.state_dim,), np.float32) for _ in range(n_agents)],
            action_space=[Discrete(self.core.n_actions) for _ in range(n_agents)],
            episode_info_keys=("won",),
        )
        self.scenario = scenario
        self._keys = None  # (E, 2) uint32 jax PRNG keys, one stream per env
        self._env_states = None  # batched HeuristicEnemySMAX state pytree, leaves (E, ...)
        self._auto_reset_view = None  # NumPy (obs, state, avail) after the auto-reset of the current step

    def _advance(self, actions: np.ndarray, force_reset: bool) -> tuple:
        jnp = self.core.jnp
        out = self.core.advance(self._keys, self._env_states, jnp.asarray(actions, dtype=jnp.int32),
                                jnp.full(self.num_envs, force_reset))
        self._keys, self._env_states = out[0], out[1]
        return out[2:]

    # --- VecEnv backend hooks ------------------------------------------------------------------------
    def _reset_envs(self, env_ids: np.ndarray, seeds: list[int] | None) -> tuple:
        if self._auto_reset_view is not None:  # called by step() for the envs that just finished
            return tuple(x[env_ids] for x in self._auto_reset_view)
        # Otherwise VecEnv.reset() resets every env.
        jax, jnp = self.core.jax, self.core.jnp
        if seeds is not None:
            self._keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, dtype=jnp.uint32))
            self._env_states = self.core.blank_states(self.num_envs)
        no_op = np.zeros((self.num_envs, self.n_agents), dtype=np.int32)
        reset_view = self._advance(no_op, force_reset=True)[-1]
        return tuple(np.array(x) for x in reset_view)

    def _step_envs(self, actions: np.ndarray) -> BatchStep:
        idx = discrete_actions(actions, (self.num_envs, self.n_agents), self.action_space[0].n)
        view, reward, terminated, truncated, won, alive, reset_view = self._advance(idx, force_reset=False)
        obs, state, avail = (np.array(x) for x in view)  # writable copies: step() writes resets into them
        self._auto_reset_view = tuple(np.asarray(x) for x in reset_view)
        return BatchStep(obs=obs, state=state, avail=avail, reward=np.array(reward),
                         terminated=np.array(terminated), truncated=np.array(truncated),
                         info={"won": np.asarray(won, dtype=np.float64)}, active=np.array(alive))

    def step(self, actions: np.ndarray) -> VecStep:
        try:
            return super().step(actions)
        finally:
            self._auto_reset_view = None  # only this step's own auto-reset may read the cached view

    def _get_env_states(self) -> list[dict[str, Any]]:
        """Per env: {"key": (2,) uint32, "env_state": nested dict of NumPy arrays (flax state dict)}."""
        from flax.serialization import to_state_dict

        jax = self.core.jax
        keys = np.asarray(self._keys)
        batched = jax.tree.map(np.asarray, to_state_dict(self._env_states))
        return [{"key": keys[k].copy(), "env_state": jax.tree.map(lambda x: x[k].copy(), batched)}
                for k in range(self.num_envs)]

    def _set_env_states(self, states: list[dict[str, Any]]) -> None:
        from flax.serialization import from_state_dict

        jax, jnp = self.core.jax, self.core.jnp
        template = self.core.blank_states(self.num_envs)
        stacked = jax.tree.map(lambda *xs: np.stack(xs), *[s["env_state"] for s in states])
        restored = from_state_dict(template, stacked)
        self._env_states = jax.tree.map(lambda x, t: jnp.asarray(x, dtype=t.dtype), restored, template)
        self._keys = jnp.asarray(np.stack([s["key"] for s in states]), dtype=jnp.uint32)


def _batched_only(scenario: str, **env_kwargs):
    raise ValueError("smax has only the batched backend (all envs in one jax.vmap); use --vec_env auto or "
                     "--vec_env batched, not dummy or subproc")


SPEC = EnvSpec(
    name="smax",
    scenarios=SCENARIOS,
    is_scenario=lambda name: name in SCENARIOS,
    env_kwargs=("use_agent_specific_state",),
    make_env=_batched_only,
    make_batched=SMAXVecEnv,
    agent_id_inputs=lambda scenario, use_agent_specific_state=True: (False, use_agent_specific_state),
)
