"""Multi-Agent MuJoCo adapter: spaces, padding, agent ids, standardised vectors, seeding, time limit,
snapshots, training."""

import ctypes.util
import functools
import os
import pickle

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="MA-MuJoCo needs the optional extra: pip install -e .[mujoco]")

from onpolicy.envs import make_vec_env  # noqa: E402
from onpolicy.config import env_kwargs, parse_config  # noqa: E402
from onpolicy.envs import agent_id_inputs  # noqa: E402
from onpolicy.envs.mujoco import MujocoMultiAgentEnv, standardize_rows  # noqa: E402
from onpolicy.train import main  # noqa: E402


def random_actions(env, rng, scale=1.5):
    """(N, Da) actions, partly out of bounds to exercise clipping."""
    return rng.uniform(-scale, scale, (env.n_agents, env.action_space[0].shape[0])).astype(np.float32)


def rollout(env, seed, n_steps, action_seed=0):
    """obs (T+1, N, Do), state, rewards (T, N) of n_steps random steps after reset(seed)."""
    rng = np.random.default_rng(action_seed)
    obs, state, _ = env.reset(seed=seed)
    all_obs, all_state, rewards = [obs], [state], []
    for _ in range(n_steps):
        obs, state, _, reward, *_ = env.step(random_actions(env, rng))
        all_obs.append(obs)
        all_state.append(state)
        rewards.append(reward)
    return np.stack(all_obs), np.stack(all_state), np.stack(rewards)


def test_halfcheetah_6x1_spaces_and_shapes():
    env = MujocoMultiAgentEnv("HalfCheetah", "6x1", standardize_obs_vectors=False)  # the raw vectors
    assert env.n_agents == 6
    assert env.observation_space[0].shape == (7,)  # own joint qpos, qvel + root z, pitch, velocities
    assert env.state_space[0].shape == (17,)  # the Gymnasium HalfCheetah-v5 observation
    assert env.action_space[0].shape == (1,) and env.action_space[0].dtype == np.float32
    obs, state, avail = env.reset(seed=0)
    assert obs.shape == (6, 7) and state.shape == (6, 17) and avail is None
    assert obs.dtype == state.dtype == np.float32
    assert (state == state[0]).all()  # the global state, copied per agent
    obs, state, avail, reward, terminated, truncated, info = env.step(np.zeros((6, 1), np.float32))
    assert reward.shape == (6,) and reward.dtype == np.float32 and (reward == reward[0]).all()
    assert not terminated and not truncated and np.isfinite(info["x_velocity"])
    with pytest.raises(ValueError, match=r"expected actions of shape \(6, 1\)"):
        env.step(np.zeros((6, 2)))


def test_heterogeneous_agents_are_padded_and_get_one_hot_ids():
    env = MujocoMultiAgentEnv("Humanoid", "9|8", add_agent_id=True, standardize_obs_vectors=False)
    assert env.obs_sizes == [236, 167] and env.action_sizes == [9, 8]
    obs_dim = max(env.obs_sizes) + 2
    assert env.observation_space[0].shape == (obs_dim,) and env.action_space[0].shape == (9,)
    obs, state, _ = env.reset(seed=0)
    assert obs.shape == (2, obs_dim)
    np.testing.assert_array_equal(obs[:, -2:], np.eye(2))
    np.testing.assert_array_equal(state[:, -2:], np.eye(2))  # the state carries the id too
    np.testing.assert_array_equal(state[0, :-2], state[1, :-2])
    np.testing.assert_array_equal(obs[1, 167:236], 0.0)  # the smaller agent's padding
    assert np.abs(obs[1, :167]).sum() > 0
    # Agent 1 has 8 joints: its 9th action entry is padding and must not change anything.
    actions = np.full((2, 9), 0.3, np.float32)
    padded = actions.copy()
    padded[1, 8] = -0.4
    env.reset(seed=1)
    expected = env.step(actions)
    env.reset(seed=1)
    np.testing.assert_array_equal(env.step(padded)[0], expected[0])


def test_default_vectors_are_the_authors_standardised_ones_with_the_id():
    """The default: [padded local obs, one-hot id] and [task observation, one-hot id], each row
    standardised by its own mean and std, as the authors' MA-MuJoCo wrapper builds them (read from
    the first author's copy, LiZhYun/HARL harl/envs/mamujoco/multiagent_mujoco/mujoco_multi.py:
    202-212 get_obs, 214-225 get_obs_agent, 235-245 get_state @25b9c9f; BTA's own mujoco_multi.py
    is not in the reference index). The raw flag gives the vectors of before."""
    N = 6
    env = MujocoMultiAgentEnv("HalfCheetah", "6x1")
    raw = MujocoMultiAgentEnv("HalfCheetah", "6x1", standardize_obs_vectors=False)
    assert env.add_agent_id and not raw.add_agent_id
    assert env.observation_space[0].shape == (7 + N,) and env.state_space[0].shape == (17 + N,)
    assert raw.observation_space[0].shape == (7,) and raw.state_space[0].shape == (17,)
    rng, rng_raw = np.random.default_rng(0), np.random.default_rng(0)
    steps = [env.reset(seed=3)[:2]] + [env.step(random_actions(env, rng))[:2] for _ in range(5)]
    raw_steps = [raw.reset(seed=3)[:2]] + [raw.step(random_actions(raw, rng_raw))[:2] for _ in range(5)]
    for (obs, state), (raw_obs, raw_state) in zip(steps, raw_steps):
        assert obs.dtype == state.dtype == np.float32
        for x in (obs, state):  # every agent's vector, at every step, on its own
            np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-6)
            np.testing.assert_allclose(x.std(axis=1), 1.0, atol=1e-5)
            # the id ends each vector: its entries are the standardised 1 (own column) and 0s
            ids = x[:, -N:]
            assert (ids.argmax(axis=1) == np.arange(N)).all()
            off_diagonal = ids[~np.eye(N, dtype=bool)].reshape(N, N - 1)
            np.testing.assert_allclose(off_diagonal, off_diagonal[:, :1].repeat(N - 1, axis=1))
        # exactly (v - mean(v)) / std(v) of v = [raw vector, one-hot id], in float64 like theirs
        expected_obs = standardize_rows(np.concatenate([raw_obs.astype(np.float64), np.eye(N)], axis=1))
        expected_state = standardize_rows(np.concatenate([raw_state.astype(np.float64), np.eye(N)], axis=1))
        np.testing.assert_allclose(obs, expected_obs, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(state, expected_state, rtol=1e-6, atol=1e-6)
        # de-standardised, the id is the one-hot id (scale and shift from the raw vector's own stats)
        v = np.concatenate([raw_obs.astype(np.float64), np.eye(N)], axis=1)
        np.testing.assert_allclose(obs[:, -N:] * v.std(axis=1, keepdims=True) + v.mean(axis=1, keepdims=True),
                                   np.eye(N), atol=1e-5)


def test_standardised_padding_and_state_of_unequal_agents():
    """Humanoid 9|8: the smaller agent's zero padding sits before its id and counts in its mean and std
    (the authors pad the local obs to the largest size, then append the id, then standardise)."""
    env = MujocoMultiAgentEnv("Humanoid", "9|8")
    raw = MujocoMultiAgentEnv("Humanoid", "9|8", add_agent_id=True, standardize_obs_vectors=False)
    obs, state, _ = env.reset(seed=0)
    raw_obs, raw_state, _ = raw.reset(seed=0)
    assert obs.shape == raw_obs.shape == (2, 236 + 2) and state.shape == raw_state.shape
    np.testing.assert_allclose(obs, standardize_rows(raw_obs.astype(np.float64)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state, standardize_rows(raw_state.astype(np.float64)), rtol=1e-5, atol=1e-5)
    padding = obs[1, 167:236]
    assert (padding == padding[0]).all() and padding[0] != 0  # the standardised 0, one value


def test_standardize_rows_matches_numpy_and_survives_constant_rows():
    x = np.array([[1.0, 2.0, 4.0, 0.0], [3.0, 3.0, 3.0, 3.0]])
    out = standardize_rows(x)
    np.testing.assert_allclose(out[0], (x[0] - np.mean(x[0])) / np.std(x[0]))
    np.testing.assert_array_equal(out[1], 0.0)  # theirs would be NaN; ours is only centred


def test_config_defaults_and_flags_for_the_vectors():
    base = ["--env_name", "mujoco", "--algorithm_name", "mappo"]
    cases = {(): (True, True), ("--no-standardize_obs_vectors",): (False, False),
             ("--no-add_agent_id",): (True, False),
             ("--no-standardize_obs_vectors", "--add_agent_id"): (False, True)}
    for flags, (standardize, add_id) in cases.items():
        cfg = parse_config(base + list(flags))
        assert (cfg.standardize_obs_vectors, cfg.add_agent_id) == (standardize, add_id), flags
        assert env_kwargs(cfg)["standardize_obs_vectors"] == standardize
        assert agent_id_inputs("mujoco", "HalfCheetah", env_kwargs(cfg)) == (add_id, add_id)
    with pytest.raises(Exception, match="standardize_obs_vectors applies only to --env_name mujoco"):
        parse_config(["--env_name", "predator_prey", "--algorithm_name", "mappo", "--no-standardize_obs_vectors"])


def test_actions_are_clipped_to_the_joint_bounds():
    env = MujocoMultiAgentEnv("HalfCheetah", "2x3")
    env.reset(seed=0)
    clipped = env.step(np.ones((2, 3)))
    env.reset(seed=0)
    np.testing.assert_array_equal(env.step(np.full((2, 3), 5.0))[0], clipped[0])


def test_bad_scenario_and_agent_conf_list_the_choices():
    with pytest.raises(ValueError, match="choices: 2x4, 2x4d, 4x2, 8x1"):
        MujocoMultiAgentEnv("Ant", "6x1")
    with pytest.raises(ValueError, match="choices: HalfCheetah, Ant"):
        MujocoMultiAgentEnv("Cheetah", "6x1")
    with pytest.raises(ValueError, match="agent_obsk"):
        MujocoMultiAgentEnv("HalfCheetah", "6x1", agent_obsk=-1)
    with pytest.raises(ValueError, match="<agents>x<segments per agent>"):
        MujocoMultiAgentEnv("ManySegmentSwimmer", "0x2")


def test_extra_agent_confs_cover_every_joint_once():
    env = MujocoMultiAgentEnv("HalfCheetah", "3x2")
    assert env.action_sizes == [2, 2, 2]
    assert MujocoMultiAgentEnv("Ant", "8x1").n_agents == 8
    assert MujocoMultiAgentEnv("ManySegmentSwimmer", "4x2").action_sizes == [2, 2, 2, 2]


def test_same_seed_same_trajectory():
    env = MujocoMultiAgentEnv("HalfCheetah", "6x1")
    first, second = rollout(env, seed=5, n_steps=20), rollout(env, seed=5, n_steps=20)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = rollout(env, seed=6, n_steps=20)
    assert not np.array_equal(first[0][0], other[0][0])  # reset noise depends on the seed


def test_time_limit_truncates_and_reports_mean_x_velocity():
    env = MujocoMultiAgentEnv("HalfCheetah", "6x1", max_episode_steps=5)  # HalfCheetah never terminates
    env.reset(seed=0)
    root_x = env._env.single_agent_env.unwrapped.data.qpos  # qpos[0]: the torso's x position
    start_x = root_x[0]
    for t in range(5):
        *_, terminated, truncated, info = env.step(np.full((6, 1), 0.5, np.float32))
        assert not terminated and truncated == (t == 4)
    # The mean of per-step velocities (x_after - x_before) / dt is the distance over the episode time.
    np.testing.assert_allclose(info["x_velocity"], (root_x[0] - start_x) / (5 * env.dt), rtol=1e-9)


def test_vec_env_keeps_termination_and_truncation_apart():
    envs = make_vec_env("mujoco", "Hopper", 2, seed=0, env_kwargs={"agent_conf": "3x1"}, backend="dummy")
    envs.reset()
    terminated = truncated = False
    for _ in range(300):  # a Hopper pushed with full force falls within a few dozen steps
        step = envs.step(np.ones((2, 3, 1), np.float32))
        terminated |= step.terminated.any()
        truncated |= step.truncated.any()
        if step.terminated.any():
            e = int(np.flatnonzero(step.terminated)[0])
            assert np.isfinite(step.episode_info["x_velocity"][e]) and step.episode_info["length"][e] < 1000
            break
    assert terminated and not truncated


def test_get_state_set_state_repeats_the_next_steps():
    env = MujocoMultiAgentEnv("Ant", "4x2")  # contacts and a free root: the hard case
    rng = np.random.default_rng(0)
    env.reset(seed=3)
    for _ in range(20):
        env.step(random_actions(env, rng))
    snapshot = pickle.loads(pickle.dumps(env.get_state()))
    actions = [random_actions(env, rng) for _ in range(10)]
    expected = [env.step(a) for a in actions]
    restored = MujocoMultiAgentEnv("Ant", "4x2")  # a fresh env, as when resuming a run
    restored.set_state(snapshot)
    for action, want in zip(actions, expected):
        got = restored.step(action)
        for g, w in zip(got[:4], want[:4]):
            np.testing.assert_array_equal(g, w)
        assert got[4:] == want[4:]
    # The RNG is restored too: the next reset draws the same initial state.
    np.testing.assert_array_equal(restored.reset()[0], env.reset()[0])


def test_mujoco_log_stays_out_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONPOLICY_MUJOCO_LOG", str(tmp_path / "logs" / "mujoco.txt"))
    # Compiling half_cheetah.xml makes MuJoCo 4 warn about its deprecated settotalmass attribute.
    MujocoMultiAgentEnv("HalfCheetah", "6x1")
    assert "settotalmass" in (tmp_path / "logs" / "mujoco.txt").read_text()
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_mappo_training_smoke(tmp_path):
    summary = main(["--env_name", "mujoco", "--scenario_name", "HalfCheetah", "--agent_conf", "6x1",
                    "--algorithm_name", "mappo", "--num_env_steps", "400", "--n_rollout_threads", "2",
                    "--episode_length", "100", "--n_workers", "1", "--ppo_epoch", "1", "--no-use_eval",
                    "--no-progress_bar", "--runs_dir", str(tmp_path), "--seed", "1"])
    assert summary["env_steps"] == 400


def test_record_episode_writes_a_playable_mp4(tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="MP4 encoding needs imageio-ffmpeg")
    if os.environ.get("MUJOCO_GL", "egl") == "egl" and ctypes.util.find_library("EGL") is None:
        pytest.skip("offscreen rendering with MUJOCO_GL=egl needs libEGL (apt-get install libegl1)")
    import imageio.v2 as imageio

    from onpolicy.utils.video import record_episode

    make_env = functools.partial(MujocoMultiAgentEnv, "HalfCheetah", agent_conf="6x1")
    path = tmp_path / "episode.mp4"
    result = record_episode(make_env, lambda obs, state: np.zeros((6, 1)), path, max_steps=4, width=64, height=48)
    assert result["length"] == 4 and np.isfinite(result["x_velocity"])
    frames = [frame for frame in imageio.get_reader(path)]  # list() asks for a length ffmpeg does not know
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3)  # the reset frame + one per step
