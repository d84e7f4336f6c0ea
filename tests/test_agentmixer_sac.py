"""AgentMixer-SAC and MASAC: the squashed likelihood, soft Bellman targets (termination vs truncation, n-step),
target networks, the entropy temperature, the replay, the joint policy and execution, config errors, exact
resume, and short runs from the train and sweep entry points."""
import csv
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
from gymnasium import spaces

from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.algorithms.sac.critic import TwinQ, polyak_update
from onpolicy.algorithms.sac.policy import AgentMixerSACPolicy, MASACPolicy
from onpolicy.algorithms.sac.squashed import SquashedGaussian
from onpolicy.algorithms.sac.trainer import SACTrainer, rollout_transitions, soft_bellman_target, temperature_loss
from onpolicy.config import ConfigError, parse_config
from onpolicy.utils.buffer import RolloutBuffer
from onpolicy.utils.replay import ReplayBuffer

CPU = torch.device("cpu")
GAMMA = 0.9
# A tiny MA-MuJoCo run: HalfCheetah 2x3 (2 agents × 3 joints), 2 in-process envs × 20 steps per rollout.
TINY = ["--env_name", "mujoco", "--scenario_name", "HalfCheetah", "--agent_conf", "2x3", "--n_rollout_threads", "2",
        "--episode_length", "20", "--vec_env", "dummy", "--hidden_size", "32", "--batch_size", "32",
        "--buffer_size", "60", "--warmup_steps", "40", "--utd_ratio", "0.1", "--n_step", "3", "--no-progress_bar",
        "--no-cuda"]
ALGORITHMS = ("agentmixer_sac", "masac")


def read_csv(run_dir):
    with open(f"{run_dir}/progress.csv") as f:
        return list(csv.DictReader(f))


def build(algorithm, *flags, n_agents=2, obs_dim=5, state_dim=7, act_dim=3):
    """(cfg, policy, trainer) on a stand-in env description: no MuJoCo needed."""
    cfg = parse_config(["--env_name", "mujoco", "--algorithm_name", algorithm, "--hidden_size", "16",
                        "--n_rollout_threads", "2", "--episode_length", "6", "--buffer_size", "40", "--no-cuda",
                        *flags])
    env = EnvInfo(n_agents, obs_dim, state_dim, spaces.Box(-1.0, 1.0, (act_dim,), np.float32))
    torch.manual_seed(0)
    policy = (AgentMixerSACPolicy if algorithm == "agentmixer_sac" else MASACPolicy)(cfg, env)
    return cfg, policy, SACTrainer(cfg, policy, torch.Generator().manual_seed(0))


# --- the squashed Gaussian -------------------------------------------------------------------------------------
def test_squashed_log_likelihood_matches_a_monte_carlo_density():
    """exp(log π) on a box [-2, 3] against a histogram of 400k samples, and E[−log π] against the entropy
    integrated on a fine grid."""
    torch.manual_seed(0)
    low, high = torch.tensor([-2.0]), torch.tensor([3.0])
    n = 400_000
    samples = SquashedGaussian(torch.full((n, 1), 0.4), torch.full((n, 1), 0.8), low, high)
    with torch.no_grad():
        actions, log_probs = samples.rsample()
    assert actions.min() > -2 and actions.max() < 3
    # The log-likelihood rsample returns is the density at the action it returns.
    inside = ((actions > -1.99) & (actions < 2.99)).squeeze(1)
    torch.testing.assert_close(samples.log_prob(actions)[inside], log_probs[inside], atol=2e-3, rtol=1e-4)

    edges = torch.linspace(-2.0, 3.0, 51)
    counts = torch.histc(actions.squeeze(1), bins=50, min=-2.0, max=3.0)
    empirical = counts / (n * 0.1)
    grid = edges[:-1, None] + 0.1 * (torch.arange(20) + 0.5) / 20  # 20 points inside each bin
    one = SquashedGaussian(torch.tensor([0.4]), torch.tensor([0.8]), low, high)
    analytic = one.log_prob(grid.reshape(-1, 1)).exp().view(50, 20).mean(1)
    assert (empirical - analytic).abs().max() < 0.05 * analytic.max()
    fine = torch.linspace(-2.0, 3.0, 200_001)[1:-1].unsqueeze(1)
    log_density = one.log_prob(fine).squeeze(1)
    entropy = -(log_density.exp() * log_density).sum() * (fine[1, 0] - fine[0, 0])
    assert float(-log_probs.mean()) == pytest.approx(float(entropy), abs=0.01)


def test_squashed_log_likelihood_sums_the_features():
    low, high = -torch.ones(2), torch.ones(2)
    dist = SquashedGaussian(torch.tensor([[0.3, -1.0]]), torch.tensor([[0.5, 2.0]]), low, high)
    action = torch.tensor([[0.2, -0.7]])
    one = lambda d: SquashedGaussian(dist.mean[:, d:d + 1], dist.std[:, d:d + 1], low[:1], high[:1])  # noqa: E731
    parts = [one(d).log_prob(action[:, d:d + 1]) for d in range(2)]
    torch.testing.assert_close(dist.log_prob(action), parts[0] + parts[1])
    assert dist.mode()[0].tolist() == pytest.approx([np.tanh(0.3), np.tanh(-1.0)])


# --- soft Bellman targets on hand-made transitions ---------------------------------------------------------------
def hand_made_rollout(proper_time_limits=True) -> RolloutBuffer:
    """One env, one agent, 6 steps with rewards 1..6 and state t at step t. The episode is cut by its time
    limit after step 1 (final state 101) and terminates after step 3 (final state 103); steps 4, 5 go on."""
    buffer = RolloutBuffer(6, 1, 1, 1, 1, 1, None, (1, 1), CPU, store_next_obs=True)
    steps = torch.arange(7.0).view(7, 1, 1, 1)
    buffer.obs.copy_(steps)
    buffer.state.copy_(steps)
    buffer.rewards.copy_(torch.arange(1.0, 7.0).view(6, 1, 1, 1))
    buffer.next_obs.copy_(steps[1:])
    buffer.next_obs[1], buffer.next_obs[3] = 101.0, 103.0  # what the ended episodes reached, before auto-reset
    buffer.next_state.copy_(buffer.next_obs)
    buffer.masks[2] = buffer.masks[4] = 0.0  # episodes ended at steps 1 and 3
    if proper_time_limits:
        buffer.bad_masks[2] = 0.0  # step 1's end was a truncation; the runner leaves it at 1 without the flag
    return buffer


def targets_by_start(replay, n_step):
    """{start row: (n-step return, bootstrap discount, next state, steps)} over a large sample."""
    batch = replay.sample(4000, n_step, GAMMA, torch.Generator().manual_seed(0))
    columns = (batch.row, batch.returns[:, 0], batch.bootstrap_discount[:, 0], batch.next_state[:, 0], batch.steps[:, 0])
    return {int(r): (float(R), float(d), float(s), int(k)) for r, R, d, s, k in zip(*columns)}


def test_rollouts_mark_terminations_apart_from_truncations():
    steps = rollout_transitions(hand_made_rollout())
    assert steps["ended"][:, 0].tolist() == [0, 1, 0, 1, 0, 0]
    assert steps["terminated"][:, 0].tolist() == [0, 0, 0, 1, 0, 0]
    assert steps["next_state"][:, 0, 0].tolist() == [1, 101, 3, 103, 5, 6]
    # --no-use_proper_time_limits: the time limit is a termination, as the authors' code treats it.
    assert rollout_transitions(hand_made_rollout(False))["terminated"][:, 0].tolist() == [0, 1, 0, 1, 0, 0]


def test_soft_bellman_targets_on_hand_made_transitions():
    replay = ReplayBuffer(8, 1, 1, 1, 1, 1, CPU)
    replay.add(rollout_transitions(hand_made_rollout()))
    g = GAMMA
    one_step = targets_by_start(replay, 1)
    assert sorted(one_step) == [0, 1, 2, 3, 4, 5]
    expected = {0: (1, g, 1), 1: (2, g, 101),  # a truncation bootstraps from the state it was cut in
                2: (3, g, 3), 3: (4, 0, 103),  # a termination bootstraps from nothing
                4: (5, g, 5), 5: (6, g, 6)}    # the newest step bootstraps from where it got
    for row, (R, d, s) in expected.items():
        assert one_step[row][:2] == pytest.approx((R, d)) and (d == 0 or one_step[row][2] == s), row
    three_step = targets_by_start(replay, 3)
    expected = {0: (1 + g * 2, g ** 2, 101, 2),        # cut short by the truncation after step 1
                1: (2, g, 101, 1),
                2: (3 + g * 4, 0.0, None, 2),           # ends in the termination: no bootstrap
                3: (4, 0.0, None, 1),
                4: (5 + g * 6, g ** 2, 6, 2),           # stops at the newest step
                5: (6, g, 6, 1)}
    for row, (R, d, s, k) in expected.items():
        got = three_step[row]
        assert got[0] == pytest.approx(R) and got[1] == pytest.approx(d) and got[3] == k, row
        assert s is None or got[2] == s, row
    # y = R + d · (min Q̄(s', a') − α log π(a'|s')): Q̄ = 10, log π = −1, α = 0.5.
    y = soft_bellman_target(torch.tensor([[3.0], [3.0], [1.0]]), torch.tensor([[0.0], [g], [g ** 2]]),
                            torch.full((3, 1), 10.0), torch.full((3, 1), -1.0), 0.5)
    assert y[:, 0].tolist() == pytest.approx([3.0, 3.0 + g * 10.5, 1.0 + g ** 2 * 10.5])


def test_runner_keeps_the_observation_a_truncated_step_reached(tmp_path):
    from onpolicy.runner.runner import Runner

    cfg = parse_config([*TINY, "--algorithm_name", "masac", "--no-use_eval", "--run_dir", str(tmp_path / "r")])
    runner = Runner(cfg)
    try:
        with torch.no_grad():
            b = runner.buffer
            result = runner.policy.act(b.obs[0], b.state[0], b.rnn_actor[0], b.rnn_critic[0], b.masks[0], None)
        step = runner.envs.step(result.actions.numpy())
        final_obs, final_state = step.final_obs + 1.0, step.final_state + 2.0  # as if env 0 had been cut there
        step = dataclasses.replace(step, truncated=np.array([True, False]), final_obs=final_obs,
                                   final_state=final_state)
        runner.insert(step, result)
        torch.testing.assert_close(b.next_obs[0], torch.as_tensor(final_obs))
        torch.testing.assert_close(b.next_state[0], torch.as_tensor(final_state))
        assert b.masks[1, :, 0, 0].tolist() == [0, 1] and b.bad_masks[1, :, 0, 0].tolist() == [0, 1]
    finally:
        runner.close()


# --- target networks and the temperature -------------------------------------------------------------------------
def test_polyak_update_moves_targets_a_fraction_tau():
    torch.manual_seed(0)
    online, target = TwinQ(6, 8, 1), TwinQ(6, 8, 1)
    with torch.no_grad():
        for p in online.parameters():
            p.normal_()  # LayerNorm affines too, which start at 1 and 0 in both
    before = [p.clone() for p in target.parameters()]
    polyak_update(target, online, 0.25)
    for old, new, o in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * o)
    polyak_update(target, online, 1.0)
    assert all(torch.equal(t, o) for t, o in zip(target.parameters(), online.parameters()))


def test_trainer_updates_targets_after_every_gradient_step():
    cfg, policy, trainer = build("masac", "--polyak", "0.5")
    trainer.replay.add(random_steps(6, 2, 2, 5, 7, 3))
    target_before = [p.clone() for p in policy.target_critic.parameters()]
    trainer.update(trainer.replay.sample(8, 1, 0.99, trainer.sample_generator))
    for old, new, online in zip(target_before, policy.target_critic.parameters(), policy.critic.parameters()):
        torch.testing.assert_close(new, 0.5 * old + 0.5 * online)


def test_temperature_update_direction_and_value():
    log_alpha = torch.zeros((), requires_grad=True)
    # Entropy −log π = 2 above the target −6: the loss is −log α · (−2 − 6) and α must fall.
    loss = temperature_loss(log_alpha, torch.tensor([[-1.0], [-3.0]]), -6.0)
    loss.backward()
    assert float(loss.detach()) == 0.0 and float(log_alpha.grad) == pytest.approx(8.0)
    optimizer = torch.optim.Adam([log_alpha], lr=0.1)
    optimizer.step()
    assert float(log_alpha.detach()) == pytest.approx(-0.1)  # Adam's first step is lr against the gradient's sign
    # Entropy −7 below the target −6: α must rise.
    log_alpha.grad = None
    temperature_loss(log_alpha, torch.tensor([[7.0]]), -6.0).backward()
    assert float(log_alpha.grad) == pytest.approx(-1.0)


def test_trainer_learns_alpha_only_with_auto_alpha():
    _, policy, trainer = build("masac")
    assert policy.target_entropy == -6.0 and float(trainer.alpha()) == 1.0  # −dim(joint action); log α = 0
    trainer.replay.add(random_steps(6, 2, 2, 5, 7, 3))
    trainer.update(trainer.replay.sample(8, 1, 0.99, trainer.sample_generator))
    assert float(trainer.log_alpha.detach()) != 0.0
    _, _, fixed = build("masac", "--no-auto_alpha", "--alpha", "0.3")
    fixed.replay.add(random_steps(6, 2, 2, 5, 7, 3))
    metrics = fixed.update(fixed.replay.sample(8, 1, 0.99, fixed.sample_generator))
    assert float(fixed.alpha()) == pytest.approx(0.3) and "alpha_loss" not in metrics


# --- the replay ----------------------------------------------------------------------------------------------------
def random_steps(T, E, N, obs_dim, state_dim, act_dim, start=0):
    """T steps of E envs whose obs, state and reward all read the global step index start + t."""
    t = torch.arange(start, start + T, dtype=torch.float32).view(T, 1)
    return {"obs": t.view(T, 1, 1, 1).expand(T, E, N, obs_dim), "state": t.view(T, 1, 1).expand(T, E, state_dim),
            "actions": torch.rand(T, E, N, act_dim) * 2 - 1, "rewards": t.expand(T, E),
            "next_obs": (t + 1).view(T, 1, 1, 1).expand(T, E, N, obs_dim),
            "next_state": (t + 1).view(T, 1, 1).expand(T, E, state_dim),
            "ended": torch.zeros(T, E), "terminated": torch.zeros(T, E)}


def test_replay_samples_have_the_shapes_and_only_filled_slots():
    replay = ReplayBuffer(32, 3, 2, 5, 7, 4, CPU)  # 10 rows of 3 envs (capacity rounded down to 30)
    assert (replay.rows, replay.capacity) == (10, 30)
    replay.add(random_steps(4, 3, 2, 5, 7, 4))
    assert len(replay) == 12
    batch = replay.sample(3000, 2, GAMMA, torch.Generator().manual_seed(1))
    assert batch.obs.shape == (3000, 2, 5) and batch.next_obs.shape == (3000, 2, 5)
    assert batch.state.shape == batch.next_state.shape == (3000, 7)
    assert batch.actions.shape == (3000, 2, 4) and batch.returns.shape == batch.bootstrap_discount.shape == (3000, 1)
    assert set(zip(batch.row.tolist(), batch.env.tolist())) == {(r, e) for r in range(4) for e in range(3)}
    torch.testing.assert_close(batch.state[:, 0], batch.row.float())  # each sample is its own slot's data


def test_replay_wraps_around_and_walks_across_the_ring_end():
    replay = ReplayBuffer(20, 2, 1, 1, 1, 1, CPU)  # 10 rows
    for start, T in ((0, 4), (4, 4), (8, 5)):
        replay.add(random_steps(T, 2, 1, 1, 1, 1, start))
    assert replay.rows_written == 13 and len(replay) == 20
    assert replay.data["state"][:, 0, 0].tolist() == [10, 11, 12, 3, 4, 5, 6, 7, 8, 9]  # 0-2 overwritten
    batch = replay.sample(4000, 3, GAMMA, torch.Generator().manual_seed(2))
    assert set(batch.row.tolist()) == set(range(10))
    by_step = {int(s): (float(R), int(k), float(ns)) for s, R, k, ns in
               zip(batch.state[:, 0], batch.returns[:, 0], batch.steps[:, 0], batch.next_state[:, 0])}
    assert by_step[9] == pytest.approx((9 + GAMMA * 10 + GAMMA ** 2 * 11, 3, 12))  # rows 9, 0, 1
    assert by_step[11] == pytest.approx((11 + GAMMA * 12, 2, 13))  # stops at the newest step
    assert by_step[12] == pytest.approx((12, 1, 13))


def test_replay_checkpoint_restores_the_same_samples():
    replay = ReplayBuffer(20, 2, 1, 1, 1, 1, CPU)
    replay.add(random_steps(6, 2, 1, 1, 1, 1))
    state = replay.state_dict()
    assert state["obs"].shape[0] == 6  # only the filled rows
    restored = ReplayBuffer(20, 2, 1, 1, 1, 1, CPU)
    restored.load_state_dict(state)
    a = replay.sample(16, 3, GAMMA, torch.Generator().manual_seed(3))
    b = restored.sample(16, 3, GAMMA, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b)))
    with pytest.raises(ValueError, match="--buffer_size and --n_rollout_threads must match"):
        ReplayBuffer(20, 4, 1, 1, 1, 1, CPU).load_state_dict(state)


# --- the joint policy and execution ------------------------------------------------------------------------------
def test_joint_policy_keeps_the_individual_means_and_the_pm_sets_the_std():
    cfg, policy, _ = build("agentmixer_sac")
    obs, state = torch.randn(4, 2, 5), torch.randn(4, 7)
    dist = policy.joint_distribution(obs, state)
    means, _ = policy.individual(obs)
    torch.testing.assert_close(dist.mean, means)  # IGC: the pre-squash mode is the individual mean
    assert (dist.std > 0).all() and (dist.std < cfg.mix_std_y_coef).all()
    executed, _ = policy.act_decentralized(obs, None, None, None)
    torch.testing.assert_close(executed, torch.tanh(means))
    with torch.no_grad():  # the PM never reaches execution
        for p in policy.modifier.parameters():
            p.add_(1.0)
    torch.testing.assert_close(policy.act_decentralized(obs, None, None, None)[0], executed)
    assert not torch.allclose(policy.joint_distribution(obs, state).std, dist.std)


def test_actors_and_pm_learn_in_one_backward_pass_with_the_critics_frozen():
    cfg, policy, trainer = build("agentmixer_sac", "--mixer_lr", "1e-3")
    trainer.replay.add(random_steps(6, 2, 2, 5, 7, 3))
    snapshot = {name: p.clone() for name, p in policy.named_parameters()}
    _, metrics = trainer.actor_step(trainer.replay.sample(8, 1, 0.99, trainer.sample_generator))
    changed = {name for name, p in policy.named_parameters() if not torch.equal(p, snapshot[name])}
    assert any(n.startswith("actor.") for n in changed) and any(n.startswith("modifier.") for n in changed)
    assert not any(n.startswith(("critic.", "target_critic.")) for n in changed)
    assert {"actor_grad_norm", "modifier_grad_norm", "policy_loss", "entropy"} <= set(metrics)
    assert all(p.requires_grad for p in policy.critic.parameters())


def test_masac_has_no_modifier_and_a_state_dependent_std():
    _, policy, trainer = build("masac")
    assert not hasattr(policy, "modifier") and set(trainer.actor_optimizers) == {"actor"}
    dist = policy.joint_distribution(torch.randn(4, 2, 5), torch.randn(4, 7))
    assert dist.std.shape == (4, 2, 3) and (dist.std > 0).all()


def test_warmup_acts_uniformly_then_the_policy_takes_over():
    cfg, policy, trainer = build("masac", "--warmup_steps", "24")  # 2 rollouts of 6 steps × 2 envs
    assert policy.explore_uniformly
    buffer = RolloutBuffer(6, 2, 2, 5, 7, 3, None, (1, 1), CPU, store_next_obs=True)
    assert trainer.train(buffer)["gradient_steps"] == 0 and policy.explore_uniformly
    metrics = trainer.train(buffer)
    assert not policy.explore_uniformly and metrics["gradient_steps"] == round(0.05 * 6 * 2) == 1
    assert metrics["replay_transitions"] == 24


# --- configuration -----------------------------------------------------------------------------------------------
def test_config_refuses_discrete_actions_ppo_flags_and_impossible_replays():
    with pytest.raises(ConfigError, match="agentmixer_sac needs continuous .*--env_name matrix has discrete actions. "
                                          "Valid: mujoco, and pettingzoo/vmas"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "agentmixer_sac"])
    mujoco = ["--env_name", "mujoco", "--algorithm_name", "masac"]
    for flag, message in ((["--clip_param", "0.1"], "--clip_param is a PPO setting; --algorithm_name masac"),
                          (["--ppo_epoch", "2"], "--ppo_epoch counts passes over each rollout"),
                          (["--std_y_coef", "0.3"], "--std_y_coef sets the PPO actors' state-independent std"),
                          (["--mixer_lr", "1e-4"], "--mixer_lr applies only to --algorithm_name agentmixer/"),
                          (["--alpha", "0.1"], "--alpha applies only with --no-auto_alpha"),
                          (["--use_recurrent_policy"], "--use_recurrent_policy is not supported by .*masac"),
                          (["--buffer_size", "500"], "holds 25 steps of the 20 envs; it must hold a whole rollout"),
                          (["--utd_ratio", "0.0001"], "no gradient step per rollout")):
        with pytest.raises(ConfigError, match=message):
            parse_config([*mujoco, *flag])
    with pytest.raises(ConfigError, match="--batch_size applies only to --algorithm_name agentmixer_sac/masac"):
        parse_config(["--env_name", "mujoco", "--algorithm_name", "mappo", "--batch_size", "10"])


def test_defaults_follow_harls_tuned_halfcheetah_settings():
    cfg = parse_config(["--env_name", "mujoco", "--algorithm_name", "agentmixer_sac"])
    assert (cfg.buffer_size, cfg.batch_size, cfg.n_step, cfg.polyak, cfg.alpha_lr) == (1_000_000, 1000, 10, 0.005, 3e-4)
    assert (cfg.lr, cfg.critic_lr, cfg.hidden_size, cfg.layer_N, cfg.gamma) == (1e-3, 1e-3, 256, 1, 0.99)
    assert (cfg.n_rollout_threads, cfg.episode_length, cfg.utd_ratio, cfg.warmup_steps) == (20, 50, 0.05, 10_000)
    assert cfg.auto_alpha and not cfg.use_recurrent_policy and cfg.use_proper_time_limits
    assert (cfg.mixer_lr, cfg.mix_std_y_coef, cfg.sigmoid_gain) == (3e-5, 0.75, 0.3)


def test_the_cli_prints_one_error_line_for_discrete_actions():
    done = subprocess.run([sys.executable, "-m", "onpolicy.train", "--env_name", "predator_prey", "--algorithm_name",
                           "masac"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: --algorithm_name masac needs continuous")


# --- end to end ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_resume_after_a_crash_continues_exactly(tmp_path, run_killed_at_update, algorithm):
    """5 updates of 40 steps into a replay of 30 rows that wraps before the checkpoint at update 2; the run is
    killed as update 4 starts, resumed, and logs what an uninterrupted run logs (the final evaluation too)."""
    from onpolicy.train import main
    from onpolicy.utils.checkpoint import load_checkpoint

    argv = [*TINY, "--algorithm_name", algorithm, "--num_env_steps", "200", "--save_interval", "2",
            "--eval_interval", "100", "--eval_episodes", "1", "--n_eval_rollout_threads", "1"]
    reference = read_csv(main([*argv, "--runs_dir", str(tmp_path / "ref")])["run_dir"])
    run_killed_at_update([*argv, "--run_dir", str(tmp_path / "crashed")], 4, SACTrainer)
    checkpoint = load_checkpoint(tmp_path / "crashed")
    assert checkpoint["counters"]["env_steps"] == 80
    replay = checkpoint["trainer"]["replay"]
    assert replay["rows_written"] == 40 and replay["obs"].shape[:2] == (30, 2)  # full, wrapped
    assert any(k.startswith("target_critic.") for k in checkpoint["trainer"]["policy"])
    main(["--resume", str(tmp_path / "crashed"), "--no-progress_bar"])
    resumed = read_csv(tmp_path / "crashed")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "fps"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(reference)
    assert [int(r["env_steps"]) for r in reference] == [40, 80, 120, 160, 200]
    for column in ("critic_loss", "policy_loss", "alpha", "entropy", "q_mean", "eval_episode_return"):
        assert reference[-1][column] != "", column
    if algorithm == "agentmixer_sac":
        assert reference[-1]["modifier_grad_norm"] != ""


def test_sweep_plans_both_and_refuses_a_discrete_env(tmp_path, capsys):
    from onpolicy.sweep import main as sweep

    assert sweep(["--algorithms", "agentmixer_sac", "masac", "--env", "mujoco", "--scenarios", "HalfCheetah",
                  "--seeds", "1-2", "--runs_dir", str(tmp_path), "--dry_run", "--agent_conf", "6x1"]) == 0
    out = capsys.readouterr().out
    assert "sweep: 4 runs" in out
    for algo in ALGORITHMS:
        assert f"mujoco/HalfCheetah/{algo}/default_seed1" in out and f"mujoco/HalfCheetah/{algo}/default_seed2" in out
    assert sweep(["--algorithms", "masac", "--env", "passage", "--seeds", "1", "--runs_dir", str(tmp_path),
                  "--dry_run"]) == 2
    assert "masac needs continuous (Box) actions" in capsys.readouterr().err
