"""Multi-Agent MuJoCo adapter: spaces, padding, agent ids, seeding, time limit, snapshots, training."""

import ctypes.util
import functools
import os
import pickle

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="MA-MuJoCo needs the optional extra: pip install -e .[mujoco]")

from onpolicy.envs import make_vec_env  # noqa: E402
from onpolicy.envs.mujoco import MujocoMultiAgentEnv  # noqa: E402
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
    env = MujocoMultiAgentEnv("HalfCheetah", "6x1")
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
    env = MujocoMultiAgentEnv("Humanoid", "9|8", add_agent_id=True)
    assert env.obs_sizes == [236, 167] and env.action_sizes == [9, 8]
    obs_dim = max(env.obs_sizes) + 2
    assert env.observation_space[0].shape == (obs_dim,) and env.action_space[0].shape == (9,)
    obs, state, _ = env.reset(seed=0)
    assert obs.shape == (2, obs_dim)
    np.testing.assert_array_equal(obs[:, -2:], np.eye(2))
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
