"""PettingZoo adapter against real envs: MPE2 (simple_spread, simple_speaker_listener) and
Knights-Archers-Zombies (agents that die); a small ParallelEnv below covers action masks and
dict observations, which no bundled parallel env has."""
import csv
import shutil

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv

from onpolicy.config import ConfigError, parse_config
from onpolicy.envs import make_vec_env
from onpolicy.envs.pettingzoo import PettingZooEnv, PettingZooEnvError, episode_seed
from onpolicy.train import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pygame / gymnasium deprecation chatter

SPREAD = "mpe2.simple_spread_v3"
KAZ = "pettingzoo.butterfly.knights_archers_zombies_v11"
KAZ_ARGS = dict(num_archers=1, num_knights=1, max_zombies=4, spawn_delay=1, max_cycles=40, line_death=True)


def spread(num_envs=2, seed=0, backend="dummy", **env_args):
    return make_vec_env("pettingzoo", SPREAD, num_envs, seed, {"env_args": {"N": 3, **env_args}}, backend=backend)


def random_actions(rng, avail):
    """One available action per agent, (E, N, 1)."""
    p = avail / avail.sum(-1, keepdims=True)
    return (rng.random(p.shape[:-1] + (1,)) > p.cumsum(-1)).sum(-1, keepdims=True).astype(np.float32)


class MaskedPairEnv(ParallelEnv):
    """Two agents with dict observations {"observation", "action_mask"}: agent 0 may only take
    even actions, agent 1 only action 3; 4 steps, then truncated."""

    metadata = {"name": "masked_pair_v0"}

    def __init__(self, extra_obs_key=False):
        self.possible_agents = ["a", "b"]
        keys = {"observation": spaces.Box(-1, 1, (3,)), "action_mask": spaces.MultiBinary(4)}
        if extra_obs_key:
            keys["goal"] = spaces.Box(-1, 1, (2,))
        self._obs_space = spaces.Dict(keys)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return spaces.Discrete(4)

    def _obs(self):
        masks = {"a": np.array([1, 0, 1, 0], np.int8), "b": np.array([0, 0, 0, 1], np.int8)}
        return {a: {"observation": np.full(3, self.t / 10, np.float32), "action_mask": masks[a]} for a in self.agents}

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        done = self.t >= 4
        obs = self._obs()
        rewards = {a: float(actions[a]) for a in self.agents}
        flags = {a: done for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, dict.fromkeys(flags, False), flags, infos


def masked_pair(**kwargs):
    return MaskedPairEnv(**kwargs)


def mixed_actions():
    env = MaskedPairEnv()
    env.action_space = lambda agent: spaces.Discrete(4) if agent == "a" else spaces.Box(-1, 1, (2,))
    return env


def test_simple_spread_shapes_state_and_time_limit():
    envs = spread(num_envs=2, max_cycles=25)
    first = envs.reset()
    assert first.obs.shape == (2, 3, 18) and first.state.shape == (2, 3, 54) and first.avail.shape == (2, 3, 5)
    assert (first.avail == 1).all() and envs.action_space[0].n == 5
    np.testing.assert_allclose(first.state[:, 0], first.state[:, 2])  # env.state(), copied to every agent
    rng = np.random.default_rng(0)
    for t in range(25):
        step = envs.step(random_actions(rng, first.avail))
        assert step.reward.shape == (2, 3) and step.active.all()
        assert not step.terminated.any()
        assert step.truncated.all() == (t == 24)  # max_cycles is a time limit: truncated, bootstrapped
    assert (step.episode_info["length"] == 25).all()
    assert not np.allclose(step.final_obs, step.obs)  # final obs before the auto-reset is kept


def test_heterogeneous_agents_are_padded_and_extra_actions_masked():
    envs = make_vec_env("pettingzoo", "mpe2.simple_speaker_listener_v4", 1, 0, {"env_args": None}, backend="dummy")
    first = envs.reset()
    assert first.obs.shape == (1, 2, 11) and (first.obs[0, 0, 3:] == 0).all()  # the speaker sees 3 numbers
    assert first.state.shape == (1, 2, 14)
    np.testing.assert_array_equal(first.avail[0], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])  # speaker: 3 actions
    with pytest.raises(ValueError, match="out of range"):
        envs.step(np.array([[[4], [0]]]))


def test_continuous_actions_are_one_box_and_clipped():
    envs = spread(num_envs=1, continuous_actions=True)
    first = envs.reset()
    assert first.avail is None and envs.action_space[0].shape == (5,)
    assert envs.action_space[0].low.min() == 0.0 and envs.action_space[0].high.max() == 1.0
    step = envs.step(np.full((1, 3, 5), 7.0))  # far out of bounds: clipped, not an error
    assert np.isfinite(step.reward).all()


def test_agents_that_leave_become_inactive_until_the_episode_ends():
    envs = make_vec_env("pettingzoo", KAZ, 1, 0, {"env_args": KAZ_ARGS}, backend="dummy")
    first = envs.reset()
    assert first.obs.shape == (1, 2, 90) and first.state.shape == (1, 2, 68)  # (18, 5) obs, (17, 4) state, flattened
    up, stay = 0, 5  # the archer walks into the top line (line_death) and dies, the knight stands still
    saw_dead = False
    for _ in range(KAZ_ARGS["max_cycles"]):
        step = envs.step(np.array([[[up if not saw_dead else 0], [stay]]], dtype=np.float32))
        if step.terminated.any() or step.truncated.any():
            break
        if not step.active[0, 0]:
            saw_dead = True
            assert step.active[0, 1]
            assert (step.obs[0, 0] == 0).all()
            np.testing.assert_array_equal(step.avail[0, 0], [1, 0, 0, 0, 0, 0])  # placeholder no-op only
            assert step.reward[0, 0] == 0
    assert saw_dead
    assert step.truncated[0] and not step.terminated[0] and step.active.all()  # reset: everyone back


def test_action_masks_from_dict_observations():
    envs = make_vec_env("pettingzoo", "test_pettingzoo:masked_pair", 1, 0, {"env_args": None}, backend="dummy")
    first = envs.reset()
    np.testing.assert_array_equal(first.avail[0], [[1, 0, 1, 0], [0, 0, 0, 1]])
    assert first.obs.shape == (1, 2, 3) and first.state.shape == (1, 2, 6)  # no state(): observations concatenated
    for _ in range(4):
        step = envs.step(np.array([[[2], [3]]]))
    assert step.truncated[0] and step.episode_info["return"][0] == pytest.approx(4 * 2.5)


def test_what_cannot_be_taken_is_refused_by_name():
    with pytest.raises(PettingZooEnvError, match=r"masked_pair.*keys \['action_mask', 'goal', 'observation'\]"):
        PettingZooEnv("test_pettingzoo:masked_pair", {"extra_obs_key": True})
    with pytest.raises(PettingZooEnvError, match=r"mixed_actions: action spaces \['Box', 'Discrete'\]"):
        PettingZooEnv("test_pettingzoo:mixed_actions")
    with pytest.raises(ConfigError, match="cannot import no_such_module"):
        parse_config(["--env_name", "pettingzoo", "--algorithm_name", "mappo", "--scenario_name", "no_such_module"])
    with pytest.raises(ConfigError, match="has no function nope"):
        parse_config(["--env_name", "pettingzoo", "--algorithm_name", "mappo", "--scenario_name", f"{SPREAD}:nope"])
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_config(["--env_name", "pettingzoo", "--algorithm_name", "mappo", "--scenario_name", SPREAD,
                      "--env_args", "[3]"])
    with pytest.raises(ConfigError, match="--env_args applies only to --env_name"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--env_args", "{}"])


def test_env_args_reach_the_factory():
    cfg = parse_config(["--env_name", "pettingzoo", "--algorithm_name", "mappo", "--scenario_name", SPREAD,
                        "--env_args", '{"N": 2, "max_cycles": 7}'])
    assert cfg.env_args == {"N": 2, "max_cycles": 7}
    envs = make_vec_env("pettingzoo", SPREAD, 1, 0, {"env_args": cfg.env_args}, backend="dummy")
    assert envs.reset().obs.shape == (1, 2, 12)


def rollout(envs, steps=40, seed=0):
    rng = np.random.default_rng(seed)
    obs = [envs.reset().obs]
    avail = np.ones((envs.num_envs, envs.n_agents, 5))
    for _ in range(steps):
        obs.append(envs.step(random_actions(rng, avail)).obs)
    envs.close()
    return np.stack(obs)


def test_seeds_repeat_across_backends_and_episodes_differ():
    a = rollout(spread(seed=3, max_cycles=10))
    b = rollout(spread(seed=3, max_cycles=10, backend="subproc"))
    np.testing.assert_array_equal(a, b)  # the same seed, the same episodes, whatever the backend
    assert not np.array_equal(a, rollout(spread(seed=4, max_cycles=10)))
    assert not np.allclose(a[0], a[11])  # episode 2 (after the 10-step limit) is a new draw, not a replay
    assert episode_seed(3, 1) != episode_seed(3, 2)


def test_resume_ends_the_interrupted_episode_and_continues_the_seed_stream():
    rng = np.random.default_rng(1)
    envs, ones = spread(num_envs=2, seed=5, max_cycles=25), np.ones((2, 3, 5))
    envs.reset()
    for _ in range(10):
        last = envs.step(random_actions(rng, ones))
    snapshot = envs.get_state()
    for _ in range(15):  # the uninterrupted run finishes its episode and starts episode 1
        reference = envs.step(random_actions(rng, ones))
    assert reference.truncated.all()

    resumed = spread(num_envs=2, seed=5, max_cycles=25, backend="subproc")
    resumed.set_state(snapshot)
    cut = resumed.step(random_actions(rng, ones))  # the interrupted episode cannot continue: cut here
    assert cut.truncated.all() and not cut.terminated.any() and (cut.reward == 0).all()
    np.testing.assert_array_equal(cut.final_obs, last.obs)  # bootstrapped from the last observation
    assert (cut.episode_info["length"] == 11).all()
    np.testing.assert_array_equal(cut.obs, reference.obs)  # the next episode is the one it would have had
    resumed.close()


def read_rows(run_dir):
    with open(f"{run_dir}/progress.csv") as f:
        return [{k: v for k, v in row.items() if k != "fps"} for row in csv.DictReader(f)]


TINY = ["--env_name", "pettingzoo", "--scenario_name", SPREAD, "--env_args", '{"N": 2, "max_cycles": 25}',
        "--n_rollout_threads", "2", "--n_workers", "1", "--episode_length", "40", "--n_eval_rollout_threads", "1",
        "--eval_episodes", "1", "--ppo_epoch", "2", "--no-progress_bar"]


@pytest.mark.parametrize("algorithm", ["mappo", "agentmixer"])
def test_short_training_run(tmp_path, algorithm):
    summary = main([*TINY, "--algorithm_name", algorithm, "--num_env_steps", "160", "--runs_dir", str(tmp_path)])
    rows = read_rows(summary["run_dir"])
    assert [int(r["env_steps"]) for r in rows] == [80, 160]
    assert np.isfinite(summary["eval_episode_return"]) and rows[-1]["train_episode_return"] != ""


def test_killed_run_resumes_mid_episode_repeatably(tmp_path, run_killed_at_update):
    argv = [*TINY, "--algorithm_name", "agentmixer", "--num_env_steps", "240", "--save_interval", "1"]
    run_killed_at_update([*argv, "--run_dir", str(tmp_path / "a")], 2)  # at 80 steps: mid-episode (25-step episodes)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for name in ("a", "b"):
        main(["--resume", str(tmp_path / name), "--no-progress_bar"])
    rows = read_rows(tmp_path / "a")
    assert [int(r["env_steps"]) for r in rows] == [80, 160, 240]
    assert rows == read_rows(tmp_path / "b")  # a resumed run is repeatable
