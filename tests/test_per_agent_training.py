"""Independent parameters train every agent as if it had a trainer of its own.

The reference trainers (LiZhYun/BackPropagationThroughAgents) build one trainer per agent when
parameters are not shared: each normalises its own agent's advantages, owns a ValueNorm and clips
its own actor's and critic's gradients. PPOTrainer does the same for MAPPO, IPPO, HAPPO, ARMAPPO,
MAPPO_FULL, AIL's expert and AgentMixer's actors and critics; `--share_policy` keeps a single
normalisation, ValueNorm and clip.
"""
import copy
import io

import pytest
import torch
from gymnasium import spaces

from onpolicy.algorithms import get_algorithm
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.config import parse_config
from onpolicy.algorithms.happo.trainer import rollout_batch
from onpolicy.algorithms.utils.ppo import clipped_surrogate, masked_mean, value_loss
from onpolicy.utils.buffer import RolloutBuffer

T, E, N, OBS_DIM, STATE_DIM, N_ACTIONS = 6, 4, 2, 5, 7, 3
PER_AGENT_ALGORITHMS = ["mappo", "ippo", "happo", "armappo", "mappo_full", "agentmixer", "ail"]


def make(algorithm: str, *flags: str, seed: int = 0):
    """(policy, trainer) of `algorithm` for N agents with discrete actions."""
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", algorithm, "--hidden_size", "8",
                        "--ppo_epoch", "2", "--num_mini_batch", "2", *flags])
    policy_cls, trainer_cls = get_algorithm(algorithm).load()
    torch.manual_seed(seed)
    policy = policy_cls(cfg, EnvInfo(N, OBS_DIM, STATE_DIM, spaces.Discrete(N_ACTIONS)))
    return policy, trainer_cls(cfg, policy, torch.Generator().manual_seed(seed))


def random_buffer(policy, seed: int = 0, advantages=None, returns=None) -> RolloutBuffer:
    """A rollout of random inputs and actions with some dead agents; advantages and returns
    (T, E, N, 1) as given, else standard normal."""
    g = torch.Generator().manual_seed(seed)
    buf = RolloutBuffer(T, E, N, OBS_DIM, STATE_DIM, 1, N_ACTIONS, policy.rnn_shape, torch.device("cpu"),
                        extras=policy.stored_extras, critic_rnn_shape=policy.critic_rnn_shape)
    randn = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    buf.obs.copy_(randn(*buf.obs.shape))
    buf.state.copy_(randn(*buf.state.shape))
    buf.rnn_actor.copy_(randn(*buf.rnn_actor.shape))
    buf.rnn_critic.copy_(randn(*buf.rnn_critic.shape))
    buf.value_preds.copy_(randn(*buf.value_preds.shape))
    buf.actions.copy_(torch.randint(0, N_ACTIONS, buf.actions.shape, generator=g).float())
    buf.log_probs.copy_(-randn(*buf.log_probs.shape).abs() - 0.5)
    buf.masks.copy_((torch.rand(buf.masks.shape, generator=g) > 0.2).float())
    buf.active_masks.copy_((torch.rand(buf.active_masks.shape, generator=g) > 0.15).float())
    buf.advantages.copy_(randn(T, E, N, 1) if advantages is None else advantages)
    buf.returns.copy_(randn(T, E, N, 1) if returns is None else returns)
    return buf


def scaled_per_agent(scales, offsets, seed: int = 1) -> torch.Tensor:
    """(T, E, N, 1) standard normals, agent i's times scales[i] plus offsets[i]."""
    x = torch.randn(T, E, N, 1, generator=torch.Generator().manual_seed(seed))
    return x * torch.tensor(scales).view(N, 1) + torch.tensor(offsets).view(N, 1)


def masked_stats(x: torch.Tensor, active: torch.Tensor) -> tuple[float, float]:
    n = active.sum()
    mean = (x * active).sum() / n
    return mean.item(), (((x - mean) * active) ** 2).sum().div(n).sqrt().item()


def advantages_trained_on(trainer, buffer) -> torch.Tensor:
    """The advantages `trainer.train` hands to the first minibatch pass (HAPPO's first agent's
    factor is 1, so they are the normalised advantages there too)."""
    seen = []
    minibatches = buffer.minibatches

    def record(num_mini_batch, chunk_length, advantages, generator=None):
        seen.append(advantages.clone())
        return minibatches(num_mini_batch, chunk_length, advantages, generator)

    buffer.minibatches = record
    trainer.train(buffer)
    return seen[0]


def agent_params(net, agent: int) -> list[torch.nn.Parameter]:
    """Agent `agent`'s own trunk and head of a MultiAgentActor/MultiAgentCritic."""
    return [*net.trunks[agent].parameters(), *net.heads[agent].parameters()]


def ppo_actor(policy):
    """The network PPO trains: AIL's expert, everyone else's actor."""
    return policy.expert if hasattr(policy, "expert") else policy.actor


# -- advantages -------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", PER_AGENT_ALGORITHMS)
def test_each_agents_advantages_are_normalised_over_its_own_entries(algorithm):
    policy, trainer = make(algorithm)
    buf = random_buffer(policy, advantages=scaled_per_agent([1000.0, 0.1], [300.0, -2.0]))
    advantages = advantages_trained_on(trainer, buf)
    active = buf.active_masks[:-1]
    for agent in range(N):
        mean, std = masked_stats(advantages[:, :, agent], active[:, :, agent])
        assert mean == pytest.approx(0.0, abs=1e-4) and std == pytest.approx(1.0, abs=1e-3), agent


@pytest.mark.parametrize("algorithm", ["mappo", "happo"])
def test_shared_parameters_normalise_advantages_over_all_agents(algorithm):
    policy, trainer = make(algorithm, "--share_policy")
    buf = random_buffer(policy, advantages=scaled_per_agent([1000.0, 0.1], [300.0, -2.0]))
    advantages = advantages_trained_on(trainer, buf)
    active = buf.active_masks[:-1]
    mean, std = masked_stats(advantages, active)
    assert mean == pytest.approx(0.0, abs=1e-5) and std == pytest.approx(1.0, abs=1e-3)
    assert masked_stats(advantages[:, :, 1], active[:, :, 1])[1] < 0.01  # agent 1's small spread stays small


# -- ValueNorm ----------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", PER_AGENT_ALGORITHMS)
def test_each_agent_has_its_own_value_norm_statistics(algorithm):
    policy, trainer = make(algorithm)
    returns = scaled_per_agent([1.0, 0.1], [100.0, -5.0])
    trainer.train(random_buffer(policy, returns=returns))
    mean, var = trainer.value_norm.mean_var()
    assert mean.shape == (N, 1)
    for agent in range(N):  # every update saw the same entries of each agent: the running mean is theirs
        agent_returns = returns[:, :, agent].double()
        assert mean[agent].item() == pytest.approx(agent_returns.mean().item(), rel=1e-6)
        assert var[agent].item() == pytest.approx(max(agent_returns.var(unbiased=False).item(), 1e-2), rel=1e-4)


def test_shared_parameters_keep_one_value_norm():
    policy, trainer = make("mappo", "--share_policy")
    returns = scaled_per_agent([1.0, 0.1], [100.0, -5.0])
    trainer.train(random_buffer(policy, returns=returns))
    mean, _ = trainer.value_norm.mean_var()
    assert mean.shape == (1,) and mean.item() == pytest.approx(returns.double().mean().item(), rel=1e-6)


def test_gae_denormalises_each_agents_values_with_its_own_statistics():
    policy, trainer = make("mappo")
    trainer.value_norm.update(scaled_per_agent([1.0, 2.0], [10.0, -40.0]))
    buf = random_buffer(policy)
    buf.value_preds.zero_()
    buf.truncation_values.zero_()
    buf.compute_returns(torch.zeros(E, N, 1), 0.99, 0.95, denormalize=trainer.denormalize())
    mean, _ = trainer.value_norm.mean_var()
    # A stored (normalised) value of 0 is each agent's own running mean in return units.
    torch.testing.assert_close(buf.returns - buf.advantages, mean.float().expand(T, E, N, 1))


def test_per_agent_value_norm_needs_the_agent_axis():
    policy, trainer = make("mappo")
    with pytest.raises(ValueError, match="per-agent ValueNorm"):
        trainer.value_norm.update(torch.zeros(T, E, N))  # (..., N) without the trailing 1 would broadcast


def through_file(state: dict) -> dict:
    file = io.BytesIO()
    torch.save(state, file)
    file.seek(0)
    return torch.load(file, weights_only=True)


def test_checkpoint_restores_every_agents_value_norm():
    policy, trainer = make("mappo")
    trainer.train(random_buffer(policy, returns=scaled_per_agent([1.0, 0.1], [100.0, -5.0])))
    state = through_file(trainer.state_dict())
    fresh_policy, fresh = make("mappo", seed=1)
    fresh.load_state_dict(state)
    fresh.generator.set_state(trainer.generator.get_state())  # the runner's checkpoint carries it
    for name, value in trainer.value_norm.state_dict().items():
        assert value.shape == (N, 1) and torch.equal(fresh.value_norm.state_dict()[name], value), name
    # Everything came along: the next update is identical.
    buf = random_buffer(policy, seed=3)
    trainer.train(buf)
    fresh.train(random_buffer(fresh_policy, seed=3))
    for (name, a), b in zip(policy.named_parameters(), fresh_policy.parameters()):
        assert torch.equal(a, b), name
    # A shared-parameter checkpoint does not fit (the runner reports it as a CheckpointError).
    _, shared = make("mappo", "--share_policy")
    with pytest.raises(RuntimeError):
        make("mappo")[1].value_norm.load_state_dict(shared.state_dict()["value_norm"])


# -- gradient clipping --------------------------------------------------------------------------
def set_grads(params, seed: int, scale: float = 1.0) -> None:
    g = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 0.05 * scale


@pytest.mark.parametrize("algorithm", ["mappo", "ippo", "armappo", "mappo_full", "agentmixer", "ail"])
def test_a_huge_actor_gradient_of_one_agent_does_not_shrink_another_agents_update(algorithm):
    policy, trainer = make(algorithm)
    twin = copy.deepcopy(trainer)  # the same trainer whose agent 0 never sees the spike
    logged = []  # (logged actor_grad_norm, mean of the agents' norms before clipping)
    for t, tr in enumerate((trainer, twin)):
        for step in range(3):  # Adam with history: a shrunk gradient would change agent 1's step
            for agent in range(N):
                spike = 1e6 if (t == 0 and agent == 0 and step == 2) else 1.0
                set_grads(agent_params(ppo_actor(tr.policy), agent), seed=10 * step + agent, scale=spike)
            if algorithm == "agentmixer":
                set_grads(tr.policy.modifier.parameters(), seed=10 * step + 9)
            net = ppo_actor(tr.policy)
            expected = torch.stack([torch.nn.utils.get_total_norm([p.grad for p in agent_params(net, a)])
                                    for a in range(N)]).mean()
            logged.append((tr.step_actor_optimizers()["actor_grad_norm"].item(), expected.item()))
    spiked, calm = ppo_actor(trainer.policy), ppo_actor(twin.policy)
    for a, b in zip(agent_params(spiked, 1), agent_params(calm, 1)):
        assert torch.equal(a, b)
    assert max(p.grad.norm() for p in agent_params(spiked, 0)) <= trainer.cfg.max_grad_norm + 1e-4
    assert not all(torch.equal(a, b) for a, b in zip(agent_params(spiked, 0), agent_params(calm, 0)))
    if algorithm == "agentmixer":  # the Policy Modifier keeps a clip of its own
        for a, b in zip(trainer.policy.modifier.parameters(), twin.policy.modifier.parameters()):
            assert torch.equal(a, b)
    for got, want in logged:
        assert got == pytest.approx(want, rel=1e-5)


def spike_agent(policy, agent: int, networks, factor: float = 1e6) -> None:
    """Multiply every gradient reaching `agent`'s own part of `networks` by `factor`."""
    for net in networks:
        for p in agent_params(net, agent):
            p.register_hook(lambda grad: grad * factor)


def test_mappo_a_huge_gradient_of_agent_0_leaves_agent_1s_training_unchanged():
    policy, trainer = make("mappo")
    twin = copy.deepcopy(trainer)
    spike_agent(policy, 0, (policy.actor, policy.critic))
    trainer.train(random_buffer(policy))
    twin.train(random_buffer(twin.policy))
    for net, twin_net in ((policy.actor, twin.policy.actor), (policy.critic, twin.policy.critic)):
        for a, b in zip(agent_params(net, 1), agent_params(twin_net, 1)):
            assert torch.equal(a, b)


def test_happo_a_huge_gradient_of_one_agent_leaves_the_others_actor_and_critic_unchanged():
    policy, trainer = make("happo")
    first, last = torch.randperm(N, generator=trainer.generator.clone_state()).tolist()
    twin = copy.deepcopy(trainer)
    # The agent updated last cannot change the factor of the one updated first, so only clipping could.
    spike_agent(policy, last, (policy.actor, policy.critic))
    trainer.train(random_buffer(policy))
    twin.train(random_buffer(twin.policy))
    for net, twin_net in ((policy.actor, twin.policy.actor), (policy.critic, twin.policy.critic)):
        for a, b in zip(agent_params(net, first), agent_params(twin_net, first)):
            assert torch.equal(a, b)
    for a, b in zip(agent_params(policy.critic, last), agent_params(twin.policy.critic, last)):
        assert not torch.equal(a, b)


def test_shared_parameters_keep_one_clip_per_network_and_the_modifier_its_own():
    _, trainer = make("mappo", "--share_policy")
    assert [len(trainer.clip_groups(name)) for name in ("actor", "critic")] == [1, 1]
    assert trainer.value_norm.n_agents is None
    _, trainer = make("agentmixer")
    assert [len(trainer.clip_groups(name)) for name in ("actor", "modifier", "critic")] == [N, 1, N]
    _, trainer = make("agentmixer", "--share_policy")
    assert [len(trainer.clip_groups(name)) for name in ("actor", "modifier", "critic")] == [1, 1, 1]
    assert trainer.per_agent_advantages  # AgentMixer normalises per agent either way
    _, trainer = make("happo", "--share_policy")  # actors per agent always, the critic shared
    assert [len(trainer.clip_groups(f"actor_{i}")) for i in range(N)] == [1] * N
    assert len(trainer.clip_groups("critic")) == 1 and trainer.value_norm.n_agents is None


def test_mat_keeps_one_value_norm_and_normalisation():
    _, trainer = make("mat", "--no-use_recurrent_policy", "--n_embd", "8", "--n_head", "1")
    assert trainer.value_norm.n_agents is None and not trainer.per_agent_advantages



@pytest.mark.parametrize("algorithm", ["mappo", "happo", "agentmixer"])
def test_active_mask_flags_choose_the_entries_each_loss_averages(algorithm):
    """Dead agents' entries leave the losses by default; --no-use_value_active_masks brings them back
    into the value loss only (the authors' SMACv2 setting), --no-use_policy_active_masks into the policy
    loss and entropy only."""
    policy, _ = make(algorithm)
    buf = random_buffer(policy)
    batch = rollout_batch(buf, buf.advantages)
    active, ones = batch.active_masks, torch.ones_like(batch.active_masks)
    assert 0 < active.sum() < ones.sum()  # some agents are dead
    for flags, policy_weights, value_weights in [((), active, active),
                                                 (("--no-use_value_active_masks",), active, ones),
                                                 (("--no-use_policy_active_masks",), ones, active)]:
        _, trainer = make(algorithm, *flags)
        assert torch.equal(trainer.policy_mask(batch), policy_weights)
        assert torch.equal(trainer.value_mask(batch), value_weights)
    cfg = parse_config(["--env_name", "smacv2", "--algorithm_name", algorithm])
    assert (cfg.use_value_active_masks, cfg.use_policy_active_masks) == (False, True)


@pytest.mark.parametrize("flag", ["--use_value_active_masks", "--no-use_value_active_masks"])
def test_mappo_losses_average_over_the_chosen_entries(flag):
    """The value loss a critic step reports and the policy loss are the masked means of the
    per-entry losses over the entries the flags choose."""
    policy, trainer = make("mappo", flag, "--no-use_policy_active_masks", "--no-use_valuenorm")
    buf = random_buffer(policy)
    batch = rollout_batch(buf, buf.advantages)
    result = policy.evaluate(batch)
    weights = batch.active_masks if flag == "--use_value_active_masks" else torch.ones_like(batch.active_masks)
    expected = value_loss(result.values.detach(), batch.value_preds, batch.returns, weights, trainer.cfg)
    other = torch.ones_like(weights) if flag == "--use_value_active_masks" else batch.active_masks
    assert not torch.isclose(expected, value_loss(result.values.detach(), batch.value_preds, batch.returns, other,
                                                  trainer.cfg))  # the two weightings differ on this batch
    assert trainer.critic_step(batch, result.values)["value_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    ratio = torch.exp(result.log_probs - batch.old_log_probs)
    surrogate = clipped_surrogate(ratio, batch.advantages, trainer.cfg.clip_param)
    loss, _ = trainer.actor_loss(batch, result)
    assert loss.item() == pytest.approx(masked_mean(surrogate, torch.ones_like(surrogate)).item(), rel=1e-6)
    assert loss.item() != pytest.approx(masked_mean(surrogate, batch.active_masks).item(), rel=1e-6)


def test_active_mask_flags_are_ppo_settings():
    with pytest.raises(Exception, match="--use_value_active_masks is a PPO setting"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "maven", "--no-use_value_active_masks"])
