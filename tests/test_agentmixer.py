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


def inputs(n_actions=4, rnn_layers=2):
    """obs, state, actor-side RNN state (E, N, rnn_layers, 16), masks, avail; the default config is
    recurrent, so the actor side holds the actors' GRU layer and the PM's."""
    obs, state = torch.randn(E, N, OBS), torch.randn(E, N, STATE)
    avail = torch.ones(E, N, n_actions)
    avail[:, 0, 1] = 0
    return obs, state, torch.zeros(E, N, rnn_layers, 16), torch.ones(E, N, 1), avail


def rollout_buffer(policy, steps=4, noise=False):
    """A tiny buffer filled by policy.act, carrying the RNN states as the runner does."""
    buf = RolloutBuffer(steps, E, N, OBS, STATE, 1, 4, policy.rnn_shape, torch.device("cpu"), policy.stored_extras,
                        policy.critic_rnn_shape)
    obs, state, _, masks, avail = inputs()
    buf.set_first(obs, state, avail)
    for _ in range(steps):
        t = buf.step
        with torch.no_grad():
            r = policy.act(buf.obs[t], buf.state[t], buf.rnn_actor[t], buf.rnn_critic[t], masks, avail)
        buf.insert(obs=torch.randn(E, N, OBS), state=torch.randn(E, N, STATE), avail=avail, rnn_actor=r.rnn_actor,
                   rnn_critic=r.rnn_critic, actions=r.actions, log_probs=r.log_probs, values=r.values,
                   rewards=torch.randn(E, N, 1), masks=masks, bad_masks=masks, active_masks=masks,
                   truncation_values=torch.zeros(E, N, 1), extras=r.extras)
    return buf


@pytest.mark.parametrize("flags", [(), ("--pm_noise_dim", "3"), ("--no-use_recurrent_policy",)])
def test_stored_log_probs_are_reproduced_in_training(flags):
    """PPO's first ratio must be exactly 1: training re-evaluates the same joint policy (incl. its
    noise and, with recurrent policies, the actors' and the PM's stored hidden states)."""
    _, policy = make_policy(spaces.Discrete(4), *flags)
    buf = rollout_buffer(policy)
    assert set(buf.extras) == ({"pm_noise"} if "--pm_noise_dim" in flags else set())
    batch = next(buf.minibatches(1, 1, buf.advantages))
    assert torch.allclose(policy.evaluate(batch).log_probs, batch.old_log_probs, atol=1e-5)


def test_recurrent_policy_modifier_remembers_the_state():
    """With recurrent policies the PM has a GRU over the state (spec; the authors' code): the same
    current inputs after different state histories give different joint policies, while the
    individual policies, which never see the state, stay the same."""
    _, policy = make_policy(spaces.Discrete(4))
    assert policy.modifier.state_rnn is not None and policy.rnn_shape == (2, 16) and policy.critic_rnn_shape == (1, 16)
    with torch.no_grad():
        for p in policy.modifier.head.parameters():
            p.normal_()  # a trained-looking head, so h depends on its inputs
    obs, state, rnn, masks, avail = inputs()
    critic_rnn = torch.zeros(E, N, 1, 16)
    ends = []
    for first_state in (state, -state):
        step1 = policy.act(obs, first_state, rnn, critic_rnn, masks, avail)
        _, pm_part = policy.split_rnn(step1.rnn_actor)
        assert pm_part.abs().sum() > 0
        o, s, m, a = (x.unsqueeze(0) for x in (obs, state, masks, avail))
        ends.append((policy.joint_distribution(o, s, step1.rnn_actor, m, a)[0].dist.probs,
                     policy.act_decentralized(obs, step1.rnn_actor, masks, avail)[0]))
    assert not torch.allclose(ends[0][0], ends[1][0])
    assert torch.equal(ends[0][1], ends[1][1])
    feed_forward = make_policy(spaces.Discrete(4), "--no-use_recurrent_policy")[1]
    assert feed_forward.modifier.state_rnn is None and feed_forward.rnn_shape == (1, 16)


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
    joint = policy.act(obs, state, rnn, rnn[:, :, :1], masks, None, deterministic=True).actions
    individual, _ = policy.act_decentralized(obs, rnn, masks, None, deterministic=True)
    assert torch.allclose(joint, individual)


def test_temperature_schedule_and_trainer_optimizers():
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer", "--temperature_start",
                        "0.1", "--temperature", "1.0", "--temperature_ramp", "0.5", "--temperature_schedule", "linear"])
    assert [round(temperature_at(cfg, p), 3) for p in (0, 0.25, 0.5, 0.9)] == [0.1, 0.55, 1.0, 1.0]
    # The authors' predator-prey default: their decay_id 1 with decay_factor 1.5, i.e. at update k of n,
    # T = 0.05 + 0.95 (1 + cos(pi k 1.5 / n)) / 2: 1 at the start, 0.05 at 2/3 of the run, 0.525 at the end.
    cosine = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer"])
    assert (cosine.temperature_schedule, cosine.temperature, cosine.temperature_min) == ("cosine", 1.0, 0.05)
    assert [round(temperature_at(cosine, p), 3) for p in (0, 1 / 3, 2 / 3, 1)] == [1.0, 0.525, 0.05, 0.525]
    _, policy = make_policy(spaces.Discrete(4), "--mixer_lr", "1e-3")
    trainer = AgentMixerTrainer(policy.cfg, policy, torch.Generator().manual_seed(0))
    assert set(trainer.optimizers()) == {"actor", "modifier", "critic"}
    assert trainer.actor_optimizers["modifier"].param_groups[0]["lr"] == 1e-3
    before = [p.clone() for p in policy.modifier.parameters()]
    metrics = trainer.train(rollout_buffer(policy))
    assert {"joint_ratio", "modifier_grad_norm", "actor_grad_norm", "temperature"} <= set(metrics)
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.modifier.parameters()))
