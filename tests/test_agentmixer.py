"""AgentMixer at the policy/trainer level: joint policy, IGC, correlation device, schedules."""
import pytest
import torch
from gymnasium import spaces

from onpolicy.algorithms.agentmixer.policy import AgentMixerPolicy
from onpolicy.algorithms.agentmixer.trainer import AgentMixerTrainer, temperature_at
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.config import parse_config
from onpolicy.utils.buffer import RolloutBuffer

E, N, OBS, STATE = 6, 3, 5, 7


def make_policy(space, *flags):
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "agentmixer", "--hidden_size", "16", *flags])
    torch.manual_seed(0)
    return cfg, AgentMixerPolicy(cfg, EnvInfo(N, OBS, STATE, space))


def inputs(n_actions=4):
    obs, state = torch.randn(E, N, OBS), torch.randn(E, N, STATE)
    avail = torch.ones(E, N, n_actions)
    avail[:, 0, 1] = 0
    return obs, state, torch.zeros(E, N, 1, 16), torch.ones(E, N, 1), avail


def rollout_buffer(policy, steps=4, noise=False):
    """A tiny buffer filled by policy.act, as the runner does."""
    buf = RolloutBuffer(steps, E, N, OBS, STATE, 1, 4, policy.rnn_shape, torch.device("cpu"), policy.stored_extras)
    obs, state, rnn, masks, avail = inputs()
    buf.set_first(obs, state, avail)
    for _ in range(steps):
        with torch.no_grad():
            r = policy.act(buf.obs[buf.step], buf.state[buf.step], rnn, rnn, masks, avail)
        buf.insert(obs=torch.randn(E, N, OBS), state=torch.randn(E, N, STATE), avail=avail, rnn_actor=rnn,
                   rnn_critic=rnn, actions=r.actions, log_probs=r.log_probs, values=r.values,
                   rewards=torch.randn(E, N, 1), masks=masks, bad_masks=masks, active_masks=masks,
                   truncation_values=torch.zeros(E, N, 1), extras=r.extras)
    return buf


@pytest.mark.parametrize("flags", [(), ("--pm_noise_dim", "3")])
def test_stored_log_probs_are_reproduced_in_training(flags):
    """PPO's first ratio must be exactly 1: training re-evaluates the same joint policy (incl. its noise)."""
    _, policy = make_policy(spaces.Discrete(4), *flags)
    buf = rollout_buffer(policy)
    assert set(buf.extras) == ({"pm_noise"} if flags else set())
    batch = next(buf.minibatches(1, 1, buf.advantages))
    assert torch.allclose(policy.evaluate(batch).log_probs, batch.old_log_probs, atol=1e-5)


def test_correlation_device_is_shared_by_agents_and_changes_the_joint_policy():
    _, policy = make_policy(spaces.Discrete(4), "--pm_noise_dim", "3")
    noise = policy.sample_noise(torch.zeros(E, N, STATE))["pm_noise"]
    assert noise.shape == (E, N, 3) and torch.equal(noise[:, 0], noise[:, 1])
    with torch.no_grad():
        for p in policy.modifier.head.parameters():
            p.normal_()  # a trained-looking head, so h depends on its inputs
    obs, state, rnn, masks, avail = inputs()
    o, s, m, a = (x.unsqueeze(0) for x in (obs, state, masks, avail))
    p1 = policy.joint_distribution(o, s, rnn, m, a, noise.unsqueeze(0))[0].dist.probs
    p2 = policy.joint_distribution(o, s, rnn, m, a, torch.randn_like(noise).unsqueeze(0))[0].dist.probs
    assert not torch.allclose(p1, p2)


def test_execution_uses_only_the_individual_policies():
    _, policy = make_policy(spaces.Discrete(4))
    obs, state, rnn, masks, avail = inputs()
    before, _ = policy.act_decentralized(obs, rnn, masks, avail)
    with torch.no_grad():
        for p in policy.modifier.parameters():
            p.add_(torch.randn_like(p))
    after, _ = policy.act_decentralized(obs, rnn, masks, avail)
    assert torch.equal(before, after)
    assert torch.all(after[:, 0] != 1)  # masked action never chosen


def test_joint_log_prob_trains_actors_and_modifier_but_not_through_pm_inputs():
    cfg, policy = make_policy(spaces.Discrete(4))
    buf = rollout_buffer(policy)
    batch = next(buf.minibatches(1, 1, buf.advantages))
    policy.evaluate(batch).log_probs.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.actor.heads.parameters())
    assert policy.modifier.head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in policy.critic.parameters())


def test_continuous_joint_mode_is_the_individual_mean():
    _, policy = make_policy(spaces.Box(-1, 1, (2,)))
    obs, state, rnn, masks, _ = inputs()
    joint = policy.act(obs, state, rnn, rnn, masks, None, deterministic=True).actions
    individual, _ = policy.act_decentralized(obs, rnn, masks, None, deterministic=True)
    assert torch.allclose(joint, individual)


def test_temperature_schedule_and_trainer_optimizers():
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer", "--temperature_start",
                        "0.1", "--temperature", "1.0", "--temperature_ramp", "0.5"])
    assert cfg.temperature_schedule == "linear"
    assert [round(temperature_at(cfg, p), 3) for p in (0, 0.25, 0.5, 0.9)] == [0.1, 0.55, 1.0, 1.0]
    _, policy = make_policy(spaces.Discrete(4), "--mixer_lr", "1e-3")
    trainer = AgentMixerTrainer(policy.cfg, policy, torch.Generator().manual_seed(0))
    assert set(trainer.optimizers()) == {"actor", "modifier", "critic"}
    assert trainer.actor_optimizers["modifier"].param_groups[0]["lr"] == 1e-3
    before = [p.clone() for p in policy.modifier.parameters()]
    metrics = trainer.train(rollout_buffer(policy))
    assert {"joint_ratio", "modifier_grad_norm", "actor_grad_norm", "temperature"} <= set(metrics)
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.modifier.parameters()))
