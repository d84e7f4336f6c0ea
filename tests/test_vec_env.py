"""Vectorized backends: identical trajectories, auto-reset bookkeeping, snapshots, worker failures."""

import os
import pickle
import signal
import time
from functools import partial

import numpy as np
import pytest

from onpolicy.envs import EnvWorkerError, SubprocVecEnv, env_seeds, make_vec_env
from onpolicy.envs.predator_prey import PredatorPrey

BACKENDS = ("batched", "dummy", "subproc")
ENVS = [
    ("predator_prey", "default", {"max_steps": 20, "penalty": -0.5}),  # short episodes: many auto-resets
    ("predator_prey", "default", {"n_predators": 3, "n_prey": 2, "grid_size": 4, "sight": 2}),
    ("matrix", "climbing_permuted", None),
]


def random_actions(rng: np.random.Generator, env) -> np.ndarray:
    """(E, N, 1) float action indices, as a policy with float buffers would send them."""
    return rng.integers(0, env.action_space[0].n, (env.num_envs, env.n_agents, 1)).astype(np.float32)


def rollout(env, n_steps: int, action_seed: int = 0) -> list:
    """Every array the env returns over n_steps random steps (episode_info flattened)."""
    rng = np.random.default_rng(action_seed)
    steps = []
    for _ in range(n_steps):
        out = env.step(random_actions(rng, env))
        arrays = [out.obs, out.state, out.avail, out.reward, out.terminated, out.truncated, out.active, out.final_state]
        steps.append(arrays + [out.episode_info[k] for k in sorted(out.episode_info)])
    return steps


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for step_a, step_b in zip(a, b):
        for x, y in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(x, y)  # NaNs compare equal here


@pytest.mark.parametrize("env_name, scenario, env_kwargs", ENVS)
def test_backends_give_identical_trajectories(env_name, scenario, env_kwargs):
    results = {}
    for backend in BACKENDS:
        env = make_vec_env(env_name, scenario, num_envs=5, seed=3, env_kwargs=env_kwargs, backend=backend)
        try:
            first = env.reset()
            results[backend] = [[first.obs, first.state, first.avail]] + rollout(env, 300)
        finally:
            env.close()
    assert_same(results["batched"], results["dummy"])
    assert_same(results["batched"], results["subproc"])
    if env_name == "predator_prey":  # the run really exercised auto-resets of both kinds
        assert any(step[4].any() for step in results["batched"][1:])  # terminated
        assert any(step[5].any() for step in results["batched"][1:])  # truncated


def test_episode_info_and_final_state_on_truncation():
    env = make_vec_env("predator_prey", "default", num_envs=3, seed=0, env_kwargs={"max_steps": 5, "grid_size": 8})
    env.reset()
    rewards = []
    for t in range(5):
        out = env.step(np.zeros((3, 2, 1)))  # predators stay: prey never walks into a capture
        rewards.append(out.reward)
        assert set(out.episode_info) == {"return", "length", "captures", "miscaptures", "won"}
        if t < 4:
            assert np.isnan(out.episode_info["return"]).all()
            np.testing.assert_array_equal(out.final_state, out.state)
    assert out.truncated.all() and not out.terminated.any()
    np.testing.assert_array_equal(out.episode_info["length"], [5, 5, 5])
    np.testing.assert_allclose(out.episode_info["return"], np.sum(rewards, axis=0)[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(out.episode_info["won"], [0, 0, 0])
    np.testing.assert_array_equal(out.final_state[:, :, -1], 1.0)  # t / max_steps before the reset...
    np.testing.assert_array_equal(out.state[:, :, -1], 0.0)  # ...and after it
    assert out.active.all() and out.active.shape == (3, 2)


def test_matrix_episode_info_every_step():
    env = make_vec_env("matrix", "climbing", num_envs=2, seed=0)
    env.reset()
    out = env.step(np.array([[[0], [0]], [[0], [1]]]))
    np.testing.assert_array_equal(out.reward, [[11, 11], [-30, -30]])
    np.testing.assert_array_equal(out.episode_info["return"], [11, -30])
    np.testing.assert_array_equal(out.episode_info["length"], [1, 1])
    assert out.terminated.all() and not out.truncated.any()


def test_seeding():
    def initial_obs(seed, stream="train"):
        env = make_vec_env("predator_prey", "default", num_envs=4, seed=seed, stream=stream)
        return env.reset().obs

    np.testing.assert_array_equal(initial_obs(5), initial_obs(5))  # a seed replays exactly
    assert not np.array_equal(initial_obs(5), initial_obs(6))
    assert not np.array_equal(initial_obs(5), initial_obs(5, "eval"))
    obs = initial_obs(5)
    assert len({o.tobytes() for o in obs}) == 4
    # env k of a vec env starts like a single env reset with env k's seed
    np.testing.assert_array_equal(obs[2], PredatorPrey().reset(seed=env_seeds(5, 4)[2])[0])


def test_seeds_share_no_env_stream():
    """With seed + k, seeds 1..5 would share 46 of their 50 training streams; now none, and
    training and evaluation streams never meet."""
    streams = [set(env_seeds(seed, 50, stream)) for seed in range(1, 6) for stream in ("train", "eval")]
    assert all(len(s) == 50 for s in streams)
    assert len(set().union(*streams)) == 50 * len(streams)
    assert env_seeds(3, 10) == env_seeds(3, 10) and env_seeds(3, 10) == env_seeds(3, 50)[:10]
    with pytest.raises(ValueError, match="unknown seed stream 'test'; choices: train, eval"):
        env_seeds(1, 2, "test")
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        make_vec_env("matrix", "climbing", 2, seed=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_state_round_trip(backend):
    env = make_vec_env("predator_prey", "default", 4, seed=1, env_kwargs={"max_steps": 15}, backend=backend)
    try:
        env.reset()
        rollout(env, 10)
        snapshot = pickle.loads(pickle.dumps(env.get_state()))
        original = rollout(env, 30, action_seed=1)
        env.set_state(snapshot)
        assert_same(original, rollout(env, 30, action_seed=1))
    finally:
        env.close()
    # snapshots are portable: a fresh env of another backend continues identically
    other = make_vec_env("predator_prey", "default", 4, seed=99, env_kwargs={"max_steps": 15}, backend="dummy")
    other.set_state(snapshot)
    assert_same(original, rollout(other, 30, action_seed=1))


class FailingEnv(PredatorPrey):
    """Raises on its second step (module level so worker processes can unpickle it)."""

    def step(self, actions):
        if self.t == 1:
            raise ZeroDivisionError("boom in step")
        return super().step(actions)


def test_worker_exception_names_env_and_cause():
    env_fns = [partial(PredatorPrey)] * 3 + [partial(FailingEnv)]
    env = SubprocVecEnv(env_fns, n_workers=2, seed=0, env_label="predator_prey/default")
    env.reset()
    env.step(np.zeros((4, 2, 1)))
    start = time.monotonic()
    with pytest.raises(EnvWorkerError) as err:
        env.step(np.zeros((4, 2, 1)))
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert "predator_prey/default env 3" in message
    assert "ZeroDivisionError" in message and "boom in step" in message
    assert "Traceback" in message and "test_vec_env.py" in message
    env.close()  # already closed by the failure: must be a no-op


def test_killed_worker_raises_instead_of_hanging():
    env = make_vec_env("predator_prey", "default", 4, seed=0, backend="subproc")
    env.reset()
    os.kill(env.worker_pids[1], signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(EnvWorkerError, match="predator_prey/default envs 2-3.*died"):
        env.step(np.zeros((4, 2, 1)))
    assert time.monotonic() - start < 5
    env.close()
    env.close()


def test_close_is_idempotent_and_stops_workers():
    env = make_vec_env("matrix", "climbing", 3, seed=0, backend="subproc", n_workers=3)
    env.reset()
    env.close()
    env.close()
    for pid in env.worker_pids:
        with pytest.raises(ProcessLookupError):  # joined and reaped
            os.kill(pid, 0)
    with pytest.raises(RuntimeError, match="closed"):
        env.step(np.zeros((3, 2, 1)))


def test_step_before_reset_and_bad_action_shape():
    env = make_vec_env("matrix", "climbing", 2, seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, 2, 1)))
    env.reset()
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((3, 2, 1)))
