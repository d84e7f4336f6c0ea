"""VMAS adapter against real VMAS scenarios (balance, transport, navigation), all E envs in one instance."""
import csv
import shutil

import numpy as np
import pytest

from onpolicy.config import ConfigError, parse_config
from onpolicy.envs import make_vec_env
from onpolicy.envs.vmas import VMASVecEnv
from onpolicy.train import main


def vmas_envs(scenario="balance", num_envs=4, seed=0, **env_args):
    return make_vec_env("vmas", scenario, num_envs, seed, {"env_args": env_args})


def uniform(rng, envs):
    return rng.uniform(-1, 1, size=(envs.num_envs, envs.n_agents, envs.action_space[0].shape[0]))


@pytest.mark.parametrize("scenario, n_agents, obs_dim", [("balance", 3, 16), ("transport", 2, 11),
                                                         ("navigation", 2, 18)])
def test_one_vmas_instance_holds_all_envs(scenario, n_agents, obs_dim):
    envs = vmas_envs(scenario, num_envs=5, n_agents=n_agents)
    assert isinstance(envs, VMASVecEnv) and envs._env.num_envs == 5  # batched: no subprocesses
    first = envs.reset()
    assert first.obs.shape == (5, n_agents, obs_dim) and first.state.shape == (5, n_agents, n_agents * obs_dim)
    assert first.avail is None and envs.action_space[0].shape == (2,)
    np.testing.assert_array_equal(first.state[:, 0], first.obs.reshape(5, -1))  # state: all observations
    step = envs.step(uniform(np.random.default_rng(0), envs))
    assert step.obs.dtype == np.float32 and step.reward.shape == (5, n_agents) and step.active.all()


def test_termination_and_the_step_limit_are_kept_apart():
    envs = vmas_envs("balance", num_envs=16, n_agents=2, max_steps=30)
    envs.reset()
    rng, lengths = np.random.default_rng(0), {"terminated": [], "truncated": []}
    for _ in range(90):
        step = envs.step(uniform(rng, envs))
        assert not (step.terminated & step.truncated).any()
        for kind in lengths:
            lengths[kind] += list(step.episode_info["length"][getattr(step, kind)])
    assert lengths["terminated"] and min(lengths["terminated"]) < 30  # the package fell: a true end
    assert max(lengths["terminated"]) <= 30  # (falling on the last step is still a termination)
    assert lengths["truncated"] and set(lengths["truncated"]) == {30.0}  # max_steps: a time limit


def test_discrete_actions():
    envs = vmas_envs("navigation", num_envs=3, n_agents=2, continuous_actions=False)
    first = envs.reset()
    assert envs.action_space[0].n == 9 and first.avail.shape == (3, 2, 9) and (first.avail == 1).all()
    step = envs.step(np.full((3, 2, 1), 8.0))
    assert np.isfinite(step.reward).all()
    with pytest.raises(ValueError, match="discrete actions must be integers"):
        envs.step(np.full((3, 2, 1), 9.0))


def trajectory(envs, steps=35, seed=0):
    rng = np.random.default_rng(seed)
    out = [envs.reset().obs]
    out += [envs.step(uniform(rng, envs)).obs for _ in range(steps)]
    return np.stack(out)


def test_seeding_is_repeatable_and_each_vec_env_has_its_own_stream():
    a = trajectory(vmas_envs(seed=1, max_steps=10))
    np.testing.assert_array_equal(a, trajectory(vmas_envs(seed=1, max_steps=10)))
    assert not np.array_equal(a, trajectory(vmas_envs(seed=2, max_steps=10)))
    # Interleaving another VMAS vec env (e.g. the eval envs) does not change this one's episodes.
    train, other = vmas_envs(seed=1, max_steps=10), vmas_envs(seed=9, max_steps=10)
    rng, obs = np.random.default_rng(0), [train.reset().obs]
    other.reset()
    for _ in range(35):
        obs.append(train.step(uniform(rng, train)).obs)
        other.step(np.zeros((4, 3, 2)))
    np.testing.assert_array_equal(a, np.stack(obs))


def test_resume_ends_interrupted_episodes_and_restores_the_rng():
    envs = vmas_envs(seed=3, max_steps=20)
    rng = np.random.default_rng(0)
    envs.reset()
    for _ in range(7):
        last = envs.step(uniform(rng, envs))
    snapshot = envs.get_state()
    copies = []
    for _ in range(2):
        resumed = vmas_envs(seed=3, max_steps=20)
        resumed.set_state(snapshot)
        cut = resumed.step(uniform(np.random.default_rng(1), resumed))
        assert cut.truncated.all() and not cut.terminated.any() and (cut.reward == 0).all()
        np.testing.assert_array_equal(cut.final_obs, last.obs)
        assert (cut.episode_info["length"] == 8).all()
        copies.append([cut.obs] + [resumed.step(uniform(np.random.default_rng(2), resumed)).obs for _ in range(5)])
    np.testing.assert_array_equal(np.stack(copies[0]), np.stack(copies[1]))  # new episodes: from the saved RNG


def test_bad_names_and_arguments_are_refused():
    with pytest.raises(ConfigError, match="unknown vmas scenario 'balanse'; choices: balance"):
        parse_config(["--env_name", "vmas", "--algorithm_name", "mappo", "--scenario_name", "balanse"])
    with pytest.raises(ConfigError, match="max_steps must be an int >= 1"):
        parse_config(["--env_name", "vmas", "--algorithm_name", "mappo", "--scenario_name", "balance",
                      "--env_args", '{"max_steps": 0}'])
    with pytest.raises(ValueError, match="vmas has only the batched backend"):
        make_vec_env("vmas", "balance", 2, 0, {"env_args": None}, backend="dummy")
    with pytest.raises(ValueError, match=r"does not take some of env_args \{'n_agentz': 2\}"):
        vmas_envs(n_agentz=2)


def read_rows(run_dir):
    with open(f"{run_dir}/progress.csv") as f:
        return [{k: v for k, v in row.items() if k != "fps"} for row in csv.DictReader(f)]


TINY = ["--env_name", "vmas", "--scenario_name", "balance", "--env_args", '{"n_agents": 2, "max_steps": 25}',
        "--n_rollout_threads", "8", "--episode_length", "20", "--n_eval_rollout_threads", "4", "--eval_episodes", "4",
        "--ppo_epoch", "2", "--no-progress_bar"]


@pytest.mark.parametrize("algorithm", ["mappo", "agentmixer"])
def test_short_training_run(tmp_path, algorithm):
    summary = main([*TINY, "--algorithm_name", algorithm, "--num_env_steps", "320", "--runs_dir", str(tmp_path)])
    rows = read_rows(summary["run_dir"])
    assert [int(r["env_steps"]) for r in rows] == [160, 320]
    assert np.isfinite(summary["eval_episode_return"])


def test_killed_run_resumes_repeatably(tmp_path, run_killed_at_update):
    argv = [*TINY, "--algorithm_name", "mappo", "--num_env_steps", "480", "--save_interval", "1"]
    run_killed_at_update([*argv, "--run_dir", str(tmp_path / "a")], 2)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for name in ("a", "b"):
        main(["--resume", str(tmp_path / name), "--no-progress_bar"])
    rows = read_rows(tmp_path / "a")
    assert [int(r["env_steps"]) for r in rows] == [160, 320, 480] and rows == read_rows(tmp_path / "b")
