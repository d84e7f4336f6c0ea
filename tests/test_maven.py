"""MAVEN: TD targets, monotonic mixer, per-episode latent, MI loss, targets, replay, resume, short runs."""
import csv
import importlib.util

import pytest
import torch

from onpolicy.algorithms.maven.networks import NoiseQMixer
from onpolicy.algorithms.maven.policy import Z_KEY, epsilon_greedy
from onpolicy.algorithms.maven.trainer import MAVENTrainer, epsilon_at, snapshot, td_targets
from onpolicy.config import ConfigError, parse_config
from onpolicy.runner.runner import Runner
from onpolicy.train import main
from onpolicy.utils.checkpoint import load_checkpoint

TINY = ["--n_rollout_threads", "10", "--episode_length", "20", "--no-progress_bar", "--n_eval_rollout_threads",
        "2", "--eval_episodes", "4", "--no-cuda"]


def read_csv(run_dir):
    with open(f"{run_dir}/progress.csv") as f:
        return list(csv.DictReader(f))


def runner_for(tmp_path, *flags, env=("--env_name", "predator_prey", "--max_steps", "7")):
    """A runner with 20-step rollouts of 10 predator-prey envs whose episodes last at most 7 steps."""
    cfg = parse_config([*env, "--algorithm_name", "maven", "--num_env_steps", "4000", *TINY,
                        "--run_dir", str(tmp_path / "run"), *flags])
    return Runner(cfg)


def test_td_targets_hand_computed():
    # Four transitions: continuing, terminated, truncated (V(final) = 5), continuing; γ = 0.9.
    col = lambda *v: torch.tensor(v).view(-1, 1)  # noqa: E731
    y = td_targets(rewards=col(1., 2., 3., 4.), next_q_tot=col(10., 20., 30., 40.), next_masks=col(1., 0., 0., 1.),
                   next_bad_masks=col(1., 1., 0., 1.), truncation_values=col(0., 0., 5., 0.), gamma=0.9)
    assert y.flatten().tolist() == pytest.approx([1 + 0.9 * 10, 2, 3 + 0.9 * 5, 4 + 0.9 * 40])


class StateReadout(torch.nn.Module):
    """A stand-in target mixer whose Q_tot is the state's first feature: targets become readable."""

    def forward(self, agent_qs, state, z):
        return state[..., :1]


def test_trainer_bootstraps_from_the_next_buffer_step(tmp_path):
    """Targets pair step t with step t+1 of the buffer, stop at terminations, use V(final) at truncations."""
    runner = runner_for(tmp_path)
    b, T = runner.buffer, runner.buffer.T
    b.state.copy_(torch.arange(T + 1.0).view(-1, 1, 1, 1).expand_as(b.state))  # state[t] = t
    b.extras[Z_KEY].zero_()[..., 0] = 1
    b.rewards.fill_(1.0)
    b.masks.fill_(1.0)
    b.bad_masks.fill_(1.0)
    b.masks[4] = 0  # step 3 terminated
    b.masks[7] = b.bad_masks[7] = 0  # step 6 truncated, V(final) = 50
    b.truncation_values[6] = 50.0
    runner.policy.target_mixer = StateReadout()
    batch = next(iter(runner.trainer.minibatches({k: v.unsqueeze(0) for k, v in snapshot(b).items()})))
    q = runner.policy.agent(batch["obs"], runner.policy.split_state(batch["rnn0"])[0], batch["masks"],
                            torch.cat([batch["z"], batch["z"][-1:]]))[0]
    hidden0 = runner.policy.split_state(batch["rnn0"])[0]
    y = runner.trainer.targets(batch, q, torch.cat([batch["z"], batch["z"][-1:]]), hidden0,
                               batch["state"][:, :, 0], batch["z"][:, :, 0])
    start = batch["obs"].new_tensor([float(s) for s in batch["state"][0, :, 0, 0]])  # each chunk's step t
    gamma = runner.cfg.gamma
    expected = {3: 1.0, 6: 1 + gamma * 50}
    for t, target in zip(start.tolist(), y[0, :, 0].tolist()):
        assert target == pytest.approx(expected.get(int(t), 1 + gamma * (t + 1)), rel=1e-6)


def test_truncations_store_the_team_bootstrap_value(tmp_path):
    runner = runner_for(tmp_path)
    runner.collect()
    b = runner.buffer
    truncated = b.bad_masks[1:] == 0  # the episode before step t+1 hit the 7-step limit at step t
    assert truncated.any()
    assert (b.truncation_values[~truncated] == 0).all() and (b.truncation_values[truncated] != 0).all()
    assert (b.truncation_values == b.truncation_values[:, :, :1]).all()  # one Q_tot for the team


def test_mixer_is_monotonic_in_every_agent_q():
    torch.manual_seed(0)
    mixer = NoiseQMixer(state_dim=6, n_agents=3, noise_dim=2, embed_dim=16)
    qs = torch.randn(64, 3, requires_grad=True)
    state, z = torch.randn(64, 6), torch.eye(2)[torch.randint(2, (64,))]
    q_tot = mixer(qs, state, z)
    assert q_tot.shape == (64, 1)
    grad, = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all()
    bumped = qs.detach().clone()
    bumped[:, 1] += 1.0
    assert (mixer(bumped, state, z) >= q_tot.detach() - 1e-6).all()


def test_z_is_constant_within_an_episode_and_redrawn_at_each_start(tmp_path):
    runner = runner_for(tmp_path, "--noise_dim", "16", "--episode_length", "60")
    runner.collect()
    z, masks = runner.buffer.extras[Z_KEY], runner.buffer.masks[:-1]  # z[t] was used at step t
    assert ((z.sum(-1) == 1) & ((z == 0) | (z == 1)).all(-1)).all()  # one-hot
    assert (z == z[:, :, :1]).all()  # shared by the team
    same = (z[1:] == z[:-1]).all(-1)[..., 0]  # (T-1, E)
    continuing = masks[1:, :, 0, 0] == 1
    assert same[continuing].all()
    assert (~same[~continuing]).float().mean() > 0.75  # a fresh uniform draw over 16 categories
    assert (~continuing).sum() >= 70  # 7-step episodes: many starts in 60 steps × 10 envs


def test_z_survives_rollout_boundaries_and_evaluation_draws_its_own(tmp_path):
    runner = runner_for(tmp_path, "--noise_dim", "16")
    runner.collect()
    runner.buffer.after_update()
    last_z = runner.buffer.extras[Z_KEY][-1].clone()
    b = runner.buffer
    result = runner.policy.act(b.obs[0], b.state[0], b.rnn_actor[0], b.rnn_critic[0], b.masks[0], b.avail[0])
    carried = b.masks[0, :, 0, 0] == 1
    assert torch.equal(result.extras[Z_KEY][carried], last_z[carried])
    obs = b.obs[0]
    fresh, masks = runner.policy.episode_start(obs)
    _, rnn = runner.policy.act_decentralized(obs, fresh, masks[0], b.avail[0])
    z = runner.policy.split_state(rnn)[1]
    assert (z.sum(-1) == 1).all() and (z == z[:, :1]).all()


def test_discriminator_loss_falls_on_a_fixed_batch(tmp_path):
    runner = runner_for(tmp_path, "--noise_dim", "4", "--lr", "1e-2")
    runner.collect()
    batch = next(iter(runner.trainer.minibatches({k: v.unsqueeze(0) for k, v in snapshot(runner.buffer).items()})))
    losses = [float(runner.trainer.update(batch)["discrim_loss"]) for _ in range(100)]
    assert losses[0] == pytest.approx(torch.log(torch.tensor(4.0)).item(), abs=0.3)  # chance at the start
    assert max(losses[-10:]) < 0.5 * losses[0]


def params_equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_targets_are_copied_every_interval(tmp_path):
    runner = runner_for(tmp_path, "--target_update_interval", "3")
    policy = runner.policy
    assert params_equal(policy.agent, policy.target_agent) and params_equal(policy.mixer, policy.target_mixer)
    synced = []
    for _ in range(7):
        runner.collect()
        runner.trainer.train(runner.buffer)
        runner.buffer.after_update()
        synced.append(params_equal(policy.agent, policy.target_agent) and
                      params_equal(policy.mixer, policy.target_mixer))
    assert synced == [False, False, True, False, False, True, False]
    assert not any(p.requires_grad for p in policy.target_agent.parameters())


def test_replay_keeps_the_last_k_rollouts(tmp_path):
    runner = runner_for(tmp_path, "--replay_rollouts", "3")
    seen = []
    for _ in range(4):
        runner.collect()
        seen.append(snapshot(runner.buffer))
        metrics = runner.trainer.train(runner.buffer)
        runner.buffer.after_update()
    assert metrics["replay_rollouts"] == 3.0
    assert len(runner.trainer.replay) == 2
    for kept, rollout in zip(runner.trainer.replay, seen[-2:]):
        assert all(torch.equal(kept[k], rollout[k]) for k in rollout)


def test_epsilon_schedule_and_selection():
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "maven"])
    assert (epsilon_at(cfg, 0.0), epsilon_at(cfg, 0.5), epsilon_at(cfg, 1.0)) == pytest.approx((1.0, 0.525, 0.05))
    table = parse_config(["--env_name", "matrix", "--algorithm_name", "maven", "--epsilon_finish", "1.0"])
    assert epsilon_at(table, 0.7) == 1.0  # the paper table's 1.0 -> 1.0
    original = parse_config(["--env_name", "matrix", "--algorithm_name", "maven", "--epsilon_anneal_time", "50000"])
    assert epsilon_at(original, 0.25) == pytest.approx(0.05)  # 50k of the 200k steps: done at a quarter
    assert epsilon_at(original, 0.125) == pytest.approx(0.525)

    torch.manual_seed(0)
    q = torch.tensor([[[0.0, 5.0, 1.0, 2.0]]]).expand(2000, 1, 4)
    avail = torch.tensor([1.0, 0.0, 1.0, 1.0]).expand(2000, 1, 4)
    assert (epsilon_greedy(q, avail, 0.0) == 3).all()  # the best available action
    random = epsilon_greedy(q, avail, 1.0)
    counts = torch.bincount(random.long().flatten(), minlength=4).float() / 2000
    assert counts[1] == 0 and torch.allclose(counts[[0, 2, 3]], torch.full((3,), 1 / 3), atol=0.05)


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="maven .*discrete actions; --env_name mujoco has continuous"):
        parse_config(["--env_name", "mujoco", "--algorithm_name", "maven"])
    with pytest.raises(ConfigError, match="--clip_param is a PPO setting"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "maven", "--clip_param", "0.1"])
    with pytest.raises(ConfigError, match="--noise_dim applies only to --algorithm_name maven, not mappo"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--noise_dim", "4"])
    with pytest.raises(ConfigError, match="--replay_rollouts must be > 0"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "maven", "--replay_rollouts", "0"])
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "maven"])
    assert (cfg.noise_dim, cfg.target_update_interval, cfg.ppo_epoch, cfg.epsilon_finish) == (2, 200, 1, 0.05)


def test_resume_after_a_crash_continues_exactly(tmp_path, run_killed_at_update):
    argv = ["--env_name", "predator_prey", "--algorithm_name", "maven", "--num_env_steps", "1000", "--max_steps", "30",
            "--save_interval", "2", "--eval_interval", "1", "--replay_rollouts", "2", "--target_update_interval", "2",
            *TINY]
    reference = read_csv(main([*argv, "--runs_dir", str(tmp_path / "ref")])["run_dir"])

    run_killed_at_update([*argv, "--run_dir", str(tmp_path / "crashed")], 4, MAVENTrainer)
    checkpoint = load_checkpoint(tmp_path / "crashed")
    assert checkpoint["counters"]["env_steps"] == 400
    trainer_state = checkpoint["trainer"]
    assert trainer_state["updates"] == 2 and len(trainer_state["replay"]) == 1
    assert any(k.startswith("target_agent.") for k in trainer_state["policy"])
    main(["--resume", str(tmp_path / "crashed"), "--no-progress_bar"])
    resumed = read_csv(tmp_path / "crashed")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "fps"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(reference)


@pytest.mark.parametrize("env", [("--env_name", "matrix", "--scenario_name", "climbing"),
                                 ("--env_name", "predator_prey", "--penalty", "-1")], ids=["climbing", "predator_prey"])
def test_short_run(tmp_path, env):
    summary = main([*env, "--algorithm_name", "maven", "--num_env_steps", "400", *TINY, "--runs_dir", str(tmp_path)])
    rows = read_csv(summary["run_dir"])
    assert [int(r["env_steps"]) for r in rows] == [200, 400]
    for column in ("td_loss", "discrim_loss", "epsilon", "q_tot_mean", "eval_episode_return"):
        assert rows[-1][column] != "", column
    assert float(rows[0]["epsilon"]) == 1.0 and float(rows[-1]["epsilon"]) < 1.0


@pytest.fixture
def jax_compilation_cache(request):
    """Share SMAX's compiled step with tests/test_smax.py (same scenario, state kind and E)."""
    import jax

    previous = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(request.config.cache.mkdir("jax-compilation-cache")))
    yield
    jax.config.update("jax_compilation_cache_dir", previous)


requires_jaxmarl = pytest.mark.skipif(importlib.util.find_spec("jaxmarl") is None,
                                      reason='needs the smax extra: pip install -e ".[smax]"')


@requires_jaxmarl
def test_short_smax_run(tmp_path, jax_compilation_cache):
    # Agent-specific states like tests/test_smax.py's envs, so the compiled step is shared; the mixer
    # then reads agent 0's state (maven's default is the global state).
    summary = main(["--env_name", "smax", "--scenario_name", "smacv2_5_units", "--algorithm_name", "maven",
                    "--use_agent_specific_state", "--num_env_steps", "400", "--n_rollout_threads", "4",
                    "--episode_length", "100", "--n_eval_rollout_threads", "4", "--eval_episodes", "4",
                    "--no-progress_bar", "--no-cuda", "--runs_dir", str(tmp_path)])
    assert summary["env_steps"] == 400
    assert 0.0 <= summary["eval_episode_won"] <= 1.0


def test_sweep_plans_maven_runs_and_stops_on_a_continuous_env(tmp_path):
    from onpolicy.sweep import build_parser, plan_runs

    def plan(*argv):
        args, train_flags = build_parser().parse_known_args([*argv, "--runs_dir", str(tmp_path)])
        return plan_runs(args, train_flags)

    jobs, finished = plan("--algorithms", "maven", "mappo", "--env", "matrix", "--scenarios", "climbing",
                          "--seeds", "1-2")
    assert [(j.algorithm, j.seed) for j in jobs] == [("maven", 1), ("mappo", 1), ("maven", 2), ("mappo", 2)]  # seed-major
    assert not finished
    with pytest.raises(ConfigError, match="maven .*mujoco has continuous actions"):
        plan("--algorithms", "maven", "--env", "mujoco", "--seeds", "1")


def test_matrix_diagnostics_see_the_mixture_over_z(tmp_path):
    runner = runner_for(tmp_path, "--noise_dim", "3", env=("--env_name", "matrix", "--scenario_name", "climbing"))
    policy, b = runner.policy, runner.buffer
    individual = policy.individual_action_probs(b.obs[0], b.avail[0])
    assert individual.shape == (10, 2, 3) and torch.allclose(individual.sum(-1), torch.ones(10, 2))
    assert torch.all((individual * 3).round() == individual * 3)  # a mean of 3 greedy one-hots
    policy.epsilon = 0.3
    training = policy.training_action_probs(b.obs[0], b.state[0], b.avail[0])
    assert training.shape == (3, 2, 3)
    assert torch.allclose(training.max(-1).values, torch.full((3, 2), 0.7 + 0.1))  # (1 - ε) + ε / 3


def test_networks_have_the_ports_depth_and_parameter_count():
    """The agent, mixer and discriminator at predator-prey's sizes (2 agents, obs 28, state 56,
    5 actions, hidden 64, --layer_N 1, GRU, noise_dim 2) against the authors' MAVEN port
    (bta/algorithms/maven/algorithm/*.py@f3f0ca1 of LiZhYun/BackPropagationThroughAgents).

    The port builds its agent like pymarl's RNNAgent, not with MLPBase: one hidden layer whatever
    --layer_N says. By hand, H = 64, K = 2, N = 2, A = 5, Linear(a, b) = a·b + b:
      RNNAgent, one for all agents (noise_rnn_agent.py:41-51; base_runner.py builds one policy):
        fc1 Linear(28, H)                                   1 856
        rnn GRU(H, H) 2·3·H·H + 2·3·H = 24 960 + LayerNorm(H) 128 = 25 088  (on-policy RNNLayer)
        hyper_noise_fc1 Linear(K + N, H·A) = 4·320 + 320     1 600
        = 28 544 run by forward (:63-72); the port also builds fc2 Linear(H, A) 325 and
        noise_fc1-3 Linear(K + N, H) 320, Linear(H, H) 4 160, Linear(H, A) 325 that the hyper
        branch never runs: + 5 130 = 33 674 in its parameters().
      QMixer (noise_mix.py:33-47), S' = state 56 + K = 58, embed H:
        hyper_w_1 Linear(S', H·N) 58·128 + 128 = 7 552; hyper_w_final, hyper_b_1, V[0] Linear(S', H)
        3 × 3 776 = 11 328; V[2] Linear(H, 1) 65; = 18 945 (= 320·S' + 385).
      Discrim (maven_policy.py:163-173), input 56 + N·A = 66, --layer_N 1 ⇒ one hidden layer:
        Linear(66, H) 4 288 + Linear(H, K) 130 = 4 418.
    """
    from gymnasium import spaces

    from onpolicy.algorithms.mappo.policy import EnvInfo
    from onpolicy.algorithms.maven.policy import MAVENPolicy

    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "maven"])
    assert (cfg.hidden_size, cfg.layer_N, cfg.noise_dim, cfg.use_recurrent_policy, cfg.share_policy) == \
        (64, 1, 2, True, True)
    policy = MAVENPolicy(cfg, EnvInfo(2, 28, 56, spaces.Discrete(5)))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(policy.agent) == 33674 - 5130
    assert count(policy.mixer) == 18945
    assert count(policy.discriminator) == 4418
    assert len(policy.agent.trunks) == 1
    linears = [m for m in policy.agent.trunks[0].modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(28, 64)]  # fc1 only, then the GRU
    # Deeper --layer_N deepens the discriminator only (the port's Discrim: layer_N hidden layers).
    deeper = MAVENPolicy(parse_config(["--env_name", "predator_prey", "--algorithm_name", "maven", "--layer_N", "3"]),
                         EnvInfo(2, 28, 56, spaces.Discrete(5)))
    assert count(deeper.agent) == count(policy.agent) and count(deeper.mixer) == count(policy.mixer)
    assert count(deeper.discriminator) == 4418 + 2 * 4160
