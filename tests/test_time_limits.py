"""Time limits: bootstrapped by default (`--use_proper_time_limits`), a termination with
`--no-use_proper_time_limits`, as the AgentMixer authors' code runs.

Theirs: `use_proper_time_limits` is a store_true flag defaulting to False
(LiZhYun/BackPropagationThroughAgents bta/config.py:358-359@01578ae) and their scripts do not set it
(e.g. bta/scripts/temporal/mujoco/lumi/train_mujoco.sh@eb40b00). Their buffer then takes the branch
that discounts through `masks` alone (bta/utils/separated_buffer.py:197-211@01578ae; the
`bad_masks` branch, :172-196, is unused), and `masks` are 0 after every step on which the episode
ended, time limit included (MujocoRunner.insert, bta/runner/temporal/mujoco_runner.py@02ad182; it
passes no bad_masks at all). So at a time limit nothing is bootstrapped: delta = r - V(s).

The tests run a real Runner (its insert and the buffer's compute_returns) on a hand-made truncated
episode and on real rollouts up to the envs' limits (predator-prey: 128 steps; MuJoCo: 1000), and
check that the two settings' returns differ by exactly the bootstrap term gamma * V(final state),
carried back through GAE by (gamma * lambda)^k within the truncated episode and nowhere else.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from onpolicy.algorithms.mappo.policy import ActResult
from onpolicy.config import parse_config
from onpolicy.envs.base import VecStep
from onpolicy.runner.runner import Runner

GAMMA, LAMBDA = 0.99, 0.95


def make_runner(tmp_path, env: str, proper: bool, *flags: str) -> Runner:
    argv = ["--env_name", env, "--algorithm_name", "mappo", "--seed", "3", "--no-use_eval", "--no-progress_bar",
            "--no-cuda", "--no-use_valuenorm", "--runs_dir", str(tmp_path / f"{env}_{proper}"),
            "--use_proper_time_limits" if proper else "--no-use_proper_time_limits", *flags]
    return Runner(parse_config(argv))


def value_of(obs: torch.Tensor) -> torch.Tensor:
    """A fixed critic V(o) (E, N, 1) that depends on the observation, so that bootstrapping from the
    final observation and from the auto-reset one give different numbers."""
    weights = torch.linspace(0.1, 1.0, obs.shape[-1])
    return 1.0 + torch.tanh(obs @ weights / obs.shape[-1]).unsqueeze(-1)


def use_fixed_critic(runner: Runner) -> None:
    # MAPPOPolicy.act calls self.values too, so stored values and bootstraps all come from value_of.
    runner.policy.values = lambda obs, state, rnn_critic, masks: (value_of(obs), rnn_critic)


def masks_only_gae(buffer, use_gae: bool) -> torch.Tensor:
    """Returns as the authors' buffer computes them without proper time limits: every episode end,
    time limit or not, stops the bootstrap (masks only)."""
    values, masks, rewards = buffer.value_preds, buffer.masks, buffer.rewards
    returns, gae, next_return = torch.zeros_like(rewards), torch.zeros_like(values[0]), values[-1]
    for t in reversed(range(buffer.T)):
        if use_gae:
            delta = rewards[t] + GAMMA * values[t + 1] * masks[t + 1] - values[t]
            gae = delta + GAMMA * LAMBDA * masks[t + 1] * gae
            returns[t] = gae + values[t]
        else:
            next_return = rewards[t] + GAMMA * masks[t + 1] * next_return
            returns[t] = next_return
    return returns


def bootstrap_difference(T: int, E: int, N: int, truncations: dict, use_gae: bool) -> torch.Tensor:
    """Closed form of returns(proper) - returns(theirs) (T, E, N, 1): for an episode of env e cut at step k
    with final value v (N, 1), step t <= k of that episode gets gamma * v * (gamma*lambda)^(k-t)
    (gamma^(k-t) without GAE); steps of other episodes get nothing. truncations: {(k, e): (start, v)}."""
    diff = torch.zeros(T, E, N, 1)
    decay = GAMMA * LAMBDA if use_gae else GAMMA
    for (k, e), (start, v) in truncations.items():
        for t in range(start, k + 1):
            diff[t, e] = GAMMA * v * decay ** (k - t)
    return diff


# -- a hand-made truncated episode ---------------------------------------------------------

@pytest.mark.parametrize("env", ["predator_prey", "mujoco"])
def test_hand_made_truncated_episode(tmp_path, env):
    """Four steps, rewards 1..4, V(s_t) = 0.5, the episode cut at the 4th step with V(final) = 10."""
    if env == "mujoco":
        pytest.importorskip("gymnasium_robotics", reason="MA-MuJoCo needs the optional extra")
        flags = ["--vec_env", "dummy"]
    else:
        flags = []
    T, E, v_step, v_final = 4, 1, 0.5, 10.0
    returns = {}
    for proper in (True, False):
        runner = make_runner(tmp_path, env, proper, "--episode_length", str(T), "--n_rollout_threads", str(E),
                             *flags)
        try:
            b, N = runner.buffer, runner.envs.n_agents
            runner.policy.values = lambda obs, state, rnn_critic, masks: (
                torch.full((*obs.shape[:2], 1), v_final), rnn_critic)
            obs, state = np.zeros(b.obs.shape[1:], np.float32), np.zeros(b.state.shape[1:], np.float32)
            final_obs = np.ones_like(obs)  # the last observation of the cut episode (obs is the reset one)
            avail = None if b.avail is None else np.ones(b.avail.shape[1:], np.float32)
            act = ActResult(actions=torch.zeros(b.actions.shape[1:]), log_probs=torch.zeros(E, N, 1),
                            values=torch.full((E, N, 1), v_step), rnn_actor=torch.zeros(b.rnn_actor.shape[1:]),
                            rnn_critic=torch.zeros(b.rnn_critic.shape[1:]))
            for t in range(T):
                cut = np.array([t == T - 1])
                step = VecStep(obs=obs, state=state, avail=avail, reward=np.full((E, N), t + 1.0, np.float32),
                               terminated=np.zeros(E, bool), truncated=cut, active=np.ones((E, N), bool),
                               final_obs=final_obs if cut[0] else obs, final_state=state, episode_info={})
                runner.insert(step, act)
            runner.compute_returns()
            returns[proper] = b.returns[:, 0, :, 0].clone()  # (T, N)
            assert (b.masks[T] == 0).all()  # the episode ended either way
            assert (b.bad_masks[T] == (0 if proper else 1)).all()
        finally:
            runner.close()
    # delta_t = r_t + gamma V(s_t+1) - V(s_t) inside the episode; at the cut, gamma * V(final) or nothing.
    rewards = torch.arange(1.0, T + 1)
    for proper, bootstrap in ((True, v_final), (False, 0.0)):
        deltas = rewards + GAMMA * torch.tensor([v_step] * (T - 1) + [bootstrap]) - v_step
        expected = torch.tensor([sum((GAMMA * LAMBDA) ** (k - t) * deltas[k] for k in range(t, T)) + v_step
                                 for t in range(T)])
        torch.testing.assert_close(returns[proper], expected.unsqueeze(1).expand_as(returns[proper]))
    difference = returns[True] - returns[False]
    torch.testing.assert_close(difference[:, 0], GAMMA * v_final * (GAMMA * LAMBDA) ** torch.arange(T - 1.0, -1, -1))


# -- real rollouts to the envs' time limits ------------------------------------------------

def rollout(tmp_path, env: str, proper: bool, use_gae: bool, flags: list[str]):
    """One rollout by a Runner with the fixed critic; returns its buffer and every VecStep."""
    runner = make_runner(tmp_path, env, proper, *flags, *([] if use_gae else ["--no-use_gae"]))
    use_fixed_critic(runner)
    steps, step_fn = [], runner.envs.step

    def recording_step(actions):
        steps.append(step_fn(actions))
        return steps[-1]

    runner.envs.step = recording_step
    try:
        runner.collect()
        runner.compute_returns()
    finally:
        runner.close()
    return runner.buffer, steps


def check_time_limit_returns(tmp_path, env: str, limit: int, use_gae: bool, flags: list[str]) -> None:
    proper, theirs = (rollout(tmp_path, env, p, use_gae, flags) for p in (True, False))
    (b, steps), (b_theirs, _) = proper, theirs
    # the same trajectory both times (same seed, same sampled actions)
    torch.testing.assert_close(b.rewards, b_theirs.rewards, rtol=0, atol=0)
    torch.testing.assert_close(b.obs, b_theirs.obs, rtol=0, atol=0)
    # theirs: the masks-only returns of the authors' buffer
    torch.testing.assert_close(b_theirs.returns, masks_only_gae(b_theirs, use_gae))
    # ours: theirs plus the bootstrap from V(final observation) of each cut episode
    T, E, N = b.T, b.E, b.N
    starts, truncations = np.zeros(E, int), {}
    for t, step in enumerate(steps):
        for e in range(E):
            if step.truncated[e]:
                assert t + 1 - starts[e] == limit  # cut exactly at the env's step limit
                truncations[t, e] = (starts[e], value_of(torch.as_tensor(step.final_obs[e:e + 1]))[0])
            if step.terminated[e] or step.truncated[e]:
                starts[e] = t + 1
    assert truncations, "no episode reached the time limit in this rollout"
    expected = bootstrap_difference(T, E, N, truncations, use_gae)
    torch.testing.assert_close(b.returns - b_theirs.returns, expected, rtol=1e-5, atol=1e-4)
    # the bootstrap is V(final observation), not V of the auto-reset one stored in the buffer
    (k, e), (_, v_final) = next(iter(truncations.items()))
    assert not torch.allclose(v_final, value_of(b.obs[k + 1, e]))


@pytest.mark.parametrize("use_gae", [True, False])
def test_predator_prey_128_step_limit(tmp_path, use_gae):
    # one rollout of exactly the limit: every env not caught early is cut at its 128th step
    check_time_limit_returns(tmp_path, "predator_prey", 128, use_gae,
                             ["--episode_length", "128", "--n_rollout_threads", "4"])


def test_mujoco_1000_step_limit(tmp_path):
    pytest.importorskip("gymnasium_robotics", reason="MA-MuJoCo needs the optional extra")
    # HalfCheetah never terminates: the episode is cut at its 1000th step, the rollout's last
    check_time_limit_returns(tmp_path, "mujoco", 1000, True,
                             ["--episode_length", "1000", "--n_rollout_threads", "1", "--vec_env", "dummy"])


def test_flag_default_and_scope():
    base = ["--env_name", "predator_prey", "--algorithm_name", "mappo"]
    assert parse_config(base).use_proper_time_limits is True
    assert parse_config(base + ["--no-use_proper_time_limits"]).use_proper_time_limits is False
    # MAVEN's TD targets use the same bad_masks / truncation_values, so the flag applies to it too
    assert parse_config(["--env_name", "predator_prey", "--algorithm_name", "maven",
                         "--no-use_proper_time_limits"]).use_proper_time_limits is False
