"""SMAX (JaxMARL) batched env: spaces, masks, seeding, termination, dead agents, snapshots, one compile.

Compiling SMAX's step is slow on CPU (tens of seconds), so every test that steps uses the same
(scenario, state kind, E) and thus the same compiled function, and the compilation is cached
on disk in pytest's cache directory: repeated runs skip it.
"""

import importlib.util
import pickle
import sys

import numpy as np
import pytest

from onpolicy.envs import make_vec_env, validate_env_args
from onpolicy.envs.smax import SCENARIOS, SMAXVecEnv

requires_jaxmarl = pytest.mark.skipif(importlib.util.find_spec("jaxmarl") is None,
                                      reason='needs the smax extra: pip install -e ".[smax]"')

SCENARIO, E = "smacv2_5_units", 4
N, N_ENEMIES, N_MOVES = 5, 5, 5


@pytest.fixture(scope="module", autouse=True)
def jax_compilation_cache(request):
    if importlib.util.find_spec("jax") is None:
        yield
        return
    import jax

    previous = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(request.config.cache.mkdir("jax-compilation-cache")))
    yield
    jax.config.update("jax_compilation_cache_dir", previous)


def make(seed: int = 0) -> SMAXVecEnv:
    return make_vec_env("smax", SCENARIO, num_envs=E, seed=seed)


def random_available_actions(rng: np.random.Generator, avail: np.ndarray) -> np.ndarray:
    """(E, N, 1) float indices drawn uniformly among the available actions avail (E, N, A)."""
    cumulative = np.cumsum(avail / avail.sum(-1, keepdims=True), axis=-1)
    return (rng.random(avail.shape[:-1] + (1,)) > cumulative).sum(-1, keepdims=True).astype(np.float32)


def rollout(env, avail: np.ndarray, n_steps: int, action_seed: int = 0) -> list:
    rng = np.random.default_rng(action_seed)
    steps = []
    for _ in range(n_steps):
        out = env.step(random_available_actions(rng, avail))
        avail = out.avail
        steps.append(out)
    return steps


def as_arrays(steps) -> list[np.ndarray]:
    return [x for s in steps for x in (s.obs, s.state, s.avail, s.reward, s.terminated, s.truncated, s.active,
                                         s.final_obs, *(s.episode_info[k] for k in sorted(s.episode_info)))]


@pytest.fixture(scope="module")
def trajectory():
    """110 random steps of E envs (SMAX episodes last at most 100 steps), from seed 0."""
    env = make(seed=0)
    first = env.reset()
    return env, first, rollout(env, first.avail, 110)


@requires_jaxmarl
def test_scenarios_match_jaxmarl():
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    assert set(SCENARIOS) == set(MAP_NAME_TO_SCENARIO)


@requires_jaxmarl
def test_bad_scenario_and_backend_errors_name_the_choices():
    with pytest.raises(ValueError, match="smacv2_5_units"):
        validate_env_args("smax", "smacv2_6_units")
    with pytest.raises(ValueError, match="only the batched backend"):
        make_vec_env("smax", SCENARIO, num_envs=2, seed=0, backend="dummy")


@requires_jaxmarl
def test_spaces_and_state_layouts():
    specific = SMAXVecEnv(SCENARIO, num_envs=2, use_agent_specific_state=True)
    shared = SMAXVecEnv(SCENARIO, num_envs=2, use_agent_specific_state=False)
    obs_dim, world_dim = 13 * (N - 1 + N_ENEMIES) + 10, 12 * (N + N_ENEMIES)  # JaxMARL's unit-list features
    assert specific.n_agents == N and specific.action_space[0].n == N_ENEMIES + N_MOVES
    assert specific.observation_space[0].shape == (obs_dim,)
    assert shared.state_space[0].shape == (world_dim,)
    assert specific.state_space[0].shape == (world_dim + obs_dim + N,)


@requires_jaxmarl
def test_reset_shapes_dtypes_and_masks(trajectory):
    env, first, _ = trajectory
    assert first.obs.shape == (E, N, env.observation_space[0].shape[0]) and first.obs.dtype == np.float32
    assert first.state.shape == (E, N, env.state_space[0].shape[0]) and first.state.dtype == np.float32
    assert first.avail.shape == (E, N, N_ENEMIES + N_MOVES) and first.avail.dtype == np.float32
    assert set(np.unique(first.avail)) <= {0.0, 1.0}
    assert (first.avail[..., :N_MOVES] == 1).all()  # alive units can always move and stop
    # Agent-specific state = [world state, own obs, one-hot id]; the world state is the same for all agents.
    world_dim = env.state_space[0].shape[0] - first.obs.shape[-1] - N
    world = first.state[..., :world_dim]
    np.testing.assert_array_equal(world, np.broadcast_to(world[:, :1], world.shape))
    np.testing.assert_array_equal(first.state[..., world_dim:-N], first.obs)
    np.testing.assert_array_equal(first.state[..., -N:], np.broadcast_to(np.eye(N), (E, N, N)))


@requires_jaxmarl
def test_termination_and_episode_info(trajectory):
    _, _, steps = trajectory
    n_done = 0
    for s in steps:
        done = s.terminated | s.truncated
        assert not (s.terminated & s.truncated).any()
        for key in ("return", "length", "won"):
            assert np.isfinite(s.episode_info[key][done]).all() and np.isnan(s.episode_info[key][~done]).all()
        assert (s.episode_info["length"][done] <= 100).all()
        assert (s.episode_info["length"][s.truncated] == 100).all()  # the time limit is a truncation
        assert set(s.episode_info["won"][done]) <= {0.0, 1.0}
        assert (s.episode_info["won"][s.truncated] == 0).all()
        assert (s.active[done]).all() and (s.avail[done][..., :N_MOVES] == 1).all()  # fresh episodes
        n_done += done.sum()
    assert n_done >= E  # every env finished at least one episode in 110 steps


@requires_jaxmarl
def test_dead_agents_are_inactive_and_can_only_stop(trajectory):
    _, _, steps = trajectory
    dead = [(s, ~s.active) for s in steps if (~s.active).any()]
    assert dead, "no ally died in 110 random steps"
    for s, mask in dead:
        stop_only = np.zeros(N_ENEMIES + N_MOVES, dtype=np.float32)
        stop_only[N_MOVES - 1] = 1.0
        np.testing.assert_array_equal(s.avail[mask], np.broadcast_to(stop_only, s.avail[mask].shape))
        np.testing.assert_array_equal(s.obs[mask], 0.0)


@requires_jaxmarl
def test_same_seed_same_trajectory_other_seed_differs(trajectory):
    _, first, steps = trajectory
    env = make(seed=0)
    again = env.reset()
    np.testing.assert_array_equal(again.obs, first.obs)
    for a, b in zip(as_arrays(rollout(env, again.avail, 30)), as_arrays(steps[:30])):
        np.testing.assert_array_equal(a, b)
    other = make(seed=1).reset()
    assert not np.array_equal(other.obs, first.obs)
    # env streams come from SeedSequence(seed, stream, k): seeds 0 and 1 share none
    assert not any(np.array_equal(o, f) for o in other.obs for f in first.obs)


@requires_jaxmarl
def test_get_set_state_replays_the_same_steps():
    env = make(seed=5)
    first = env.reset()
    last = rollout(env, first.avail, 60)[-1]
    snapshot = pickle.loads(pickle.dumps(env.get_state()))
    assert set(snapshot["envs"][0]) == {"key", "env_state"}
    assert isinstance(snapshot["envs"][0]["env_state"]["state"]["unit_health"], np.ndarray)
    original = as_arrays(rollout(env, last.avail, 60, action_seed=1))
    restored = make(seed=99)
    restored.set_state(snapshot)
    replay = as_arrays(rollout(restored, last.avail, 60, action_seed=1))
    for a, b in zip(original, replay):
        np.testing.assert_array_equal(a, b)


@requires_jaxmarl
def test_reset_step_and_set_state_share_one_compilation(trajectory):
    env, _, _ = trajectory
    env.set_state(env.get_state())
    env.reset()
    rollout(env, env.reset().avail, 3)
    assert env.core.advance._cache_size() == 1


@requires_jaxmarl
def test_mappo_smoke_run(tmp_path):
    from onpolicy.train import main

    summary = main(["--env_name", "smax", "--scenario_name", SCENARIO, "--algorithm_name", "mappo",
                    "--num_env_steps", "400", "--n_rollout_threads", str(E), "--episode_length", "100",
                    "--n_eval_rollout_threads", str(E), "--eval_episodes", "4", "--ppo_epoch", "2",
                    "--no-progress_bar", "--no-cuda", "--runs_dir", str(tmp_path)])
    assert summary["env_steps"] == 400
    assert 0.0 <= summary["eval_episode_won"] <= 1.0


def test_missing_jaxmarl_error_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "jaxmarl", None)  # makes `import jaxmarl` fail
    with pytest.raises(ImportError, match=r"pip install -e \"\.\[smax\]\""):
        make_vec_env("smax", "3m", num_envs=1, seed=0)
