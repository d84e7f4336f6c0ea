"""Evaluation counts a number of episodes per eval env fixed in advance, whatever their lengths."""
import numpy as np
import torch
from gymnasium.spaces import Box, Discrete

from onpolicy.envs import DummyVecEnv, env_seeds
from onpolicy.envs.base import MultiAgentEnv
from onpolicy.runner.evaluation import episode_quotas, run_episodes


class ShortOrLong(MultiAgentEnv):
    """Episodes of 1 step that succeed (return 1) in envs with an even seed, of 20 steps that
    fail (return 0) in the others."""

    n_agents = 1
    observation_space = [Box(0.0, 1.0, (1,), np.float32)]
    state_space = [Box(0.0, 1.0, (1,), np.float32)]
    action_space = [Discrete(2)]

    def observe(self):
        return np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32), np.ones((1, 2), np.float32)

    def reset(self, seed=None):
        if seed is not None:
            self.short = seed % 2 == 0
        self.t = 0
        return self.observe()

    def step(self, actions):
        self.t += 1
        done = self.t >= (1 if self.short else 20)
        reward = np.full(1, float(done and self.short), np.float32)
        return *self.observe(), reward, done, False, {}

    def get_state(self):
        return {"short": self.short, "t": self.t}

    def set_state(self, state):
        self.short, self.t = state["short"], state["t"]


def test_every_env_contributes_its_fixed_share():
    E = 10
    envs = DummyVecEnv([ShortOrLong for _ in range(E)], seed=3)
    envs.seed_stream = "eval"
    short = np.array([s % 2 == 0 for s in env_seeds(3, E, "eval")], dtype=float)
    assert 0 < short.mean() < 1  # both kinds are present, so first-to-finish counting would be biased
    act = lambda obs, state, rnn, masks, avail, deterministic: (torch.zeros(E, 1, 1), rnn)  # noqa: E731
    for n in (40, 32, 5):  # 4 each; 4 in envs 0-1 and 3 in the rest; 1 in envs 0-4 and none in the others
        metrics, used = run_episodes(act, envs, (1, 1), torch.device("cpu"), n)
        quotas = episode_quotas(n, E)
        assert used == quotas.sum() == n
        # the first n to finish would all be the short, successful ones
        assert metrics["return"] == np.average(short, weights=quotas)
    assert episode_quotas(32, 10).tolist() == [4, 4, 3, 3, 3, 3, 3, 3, 3, 3]
    assert episode_quotas(5, 10).tolist() == [1] * 5 + [0] * 5


def test_window_metric_is_the_mean_reward_per_step_over_a_fixed_window_with_auto_reset():
    """The authors' predator-prey metric: W greedy steps in every env, episodes restarting as they end.
    Short envs earn 1 every step (a 1-step episode each step), long ones 0 (one 20-step episode)."""
    E, W = 10, 50
    envs = DummyVecEnv([ShortOrLong for _ in range(E)], seed=3)
    envs.seed_stream = "eval"
    short = np.array([s % 2 == 0 for s in env_seeds(3, E, "eval")], dtype=float)
    act = lambda obs, state, rnn, masks, avail, deterministic: (torch.zeros(E, 1, 1), rnn)  # noqa: E731
    metrics, used = run_episodes(act, envs, (1, 1), torch.device("cpu"), E, window_steps=W)
    assert used == E  # the episode quotas are unchanged by the window
    assert metrics["window_reward_per_step"] == short.mean()
    assert metrics["return"] == short.mean()
    assert "window_reward_per_step" not in run_episodes(act, envs, (1, 1), torch.device("cpu"), E)[0]


def test_predator_prey_logs_both_metrics_by_default(tmp_path):
    """Their metric is on by default on predator-prey (200 steps, their episode_length), off elsewhere,
    and a run logs it in its own column beside our episode return."""
    from onpolicy.config import parse_config
    from onpolicy.train import main
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "mappo"])
    assert cfg.eval_window_steps == 200
    assert parse_config(["--env_name", "matrix", "--algorithm_name", "mappo"]).eval_window_steps == 0
    summary = main(["--env_name", "predator_prey", "--algorithm_name", "mappo", "--num_env_steps", "40",
                    "--n_rollout_threads", "2", "--episode_length", "20", "--n_eval_rollout_threads", "2",
                    "--eval_episodes", "2", "--eval_window_steps", "150", "--ppo_epoch", "1", "--no-progress_bar",
                    "--runs_dir", str(tmp_path)])
    # each step costs -0.01 and pays at most 10 (a capture) or the penalty 0: a mean per step in [-0.01, 10]
    assert -0.01 <= summary["eval_window_reward_per_step"] <= 10
    assert "eval_episode_return" in summary
