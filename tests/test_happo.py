"""HAPPO: per-agent actors, sequential updates in a random order, the correction factor."""
import io

import pytest
import torch
from gymnasium import spaces

from onpolicy.algorithms.happo.policy import HAPPOPolicy
from onpolicy.algorithms.happo.trainer import HAPPOTrainer, rollout_batch
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.config import parse_config
from onpolicy.utils.buffer import RolloutBuffer

T, E, N, OBS_DIM, STATE_DIM, N_ACTIONS = 8, 4, 3, 5, 7, 4
SPACES = {"discrete": spaces.Discrete(N_ACTIONS), "box": spaces.Box(-1.0, 1.0, (2,))}


def make_cfg(*flags: str):
    return parse_config(["--env_name", "matrix", "--algorithm_name", "happo", "--hidden_size", "16",
                         "--ppo_epoch", "2", "--num_mini_batch", "2", "--data_chunk_length", "4", *flags])


def make_policy(cfg, space, seed: int = 0) -> HAPPOPolicy:
    torch.manual_seed(seed)
    return HAPPOPolicy(cfg, EnvInfo(N, OBS_DIM, STATE_DIM, space))


def random_avail(generator: torch.Generator, *lead: int) -> torch.Tensor:
    """0/1 availability (..., A) with action 0 always available."""
    avail = (torch.rand(*lead, N_ACTIONS, generator=generator) < 0.5).float()
    avail[..., 0] = 1.0
    return avail


def fill_buffer(policy: HAPPOPolicy, seed: int = 0) -> RolloutBuffer:
    """A rollout of random observations and rewards acted on by `policy`, with episode ends and
    dead agents, returns computed."""
    g = torch.Generator().manual_seed(seed)
    discrete = policy.actor.discrete
    buffer = RolloutBuffer(T, E, N, OBS_DIM, STATE_DIM, 1 if discrete else 2, N_ACTIONS if discrete else None,
                           policy.rnn_shape, torch.device("cpu"))
    avail = lambda: random_avail(g, E, N) if discrete else None  # noqa: E731
    buffer.set_first(torch.randn(E, N, OBS_DIM, generator=g), torch.randn(E, N, STATE_DIM, generator=g), avail())
    for t in range(T):
        with torch.no_grad():
            result = policy.act(buffer.obs[t], buffer.state[t], buffer.rnn_actor[t], buffer.rnn_critic[t],
                                buffer.masks[t], None if buffer.avail is None else buffer.avail[t])
        done = (torch.rand(E, 1, 1, generator=g) < 0.2).expand(E, N, 1).float()
        buffer.insert(obs=torch.randn(E, N, OBS_DIM, generator=g), state=torch.randn(E, N, STATE_DIM, generator=g),
                      avail=avail(), rnn_actor=result.rnn_actor, rnn_critic=result.rnn_critic,
                      actions=result.actions, log_probs=result.log_probs, values=result.values,
                      rewards=torch.randn(E, 1, 1, generator=g).expand(E, N, 1), masks=1 - done,
                      bad_masks=torch.ones(E, N, 1),
                      active_masks=(torch.rand(E, N, 1, generator=g) < 0.9).float(),
                      truncation_values=torch.zeros(E, N, 1))
    with torch.no_grad():
        next_values, _ = policy.values(buffer.obs[-1], buffer.state[-1], buffer.rnn_critic[-1], buffer.masks[-1])
    buffer.compute_returns(next_values, 0.99, 0.95)
    return buffer


def through_file(state: dict) -> dict:
    """Save and load, as a checkpoint does (a live state dict shares its tensors with the trainer)."""
    file = io.BytesIO()
    torch.save(state, file)
    file.seek(0)
    return torch.load(file, weights_only=True)


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters()))


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES)
@pytest.mark.parametrize("recurrent", [False, True], ids=["mlp", "gru"])
def test_act_shapes_and_stored_log_probs_match_evaluation(space, recurrent):
    cfg = make_cfg(*(["--use_recurrent_policy"] if recurrent else []))
    policy = make_policy(cfg, space)
    buffer = fill_buffer(policy)
    assert buffer.actions.shape == (T, E, N, 1 if isinstance(space, spaces.Discrete) else 2)
    # Replaying the whole rollout from its first RNN state reproduces the log-probs of the rollout.
    batch = rollout_batch(buffer, buffer.advantages)
    for agent in range(N):
        log_probs, entropy = policy.evaluate_agent(batch, agent)
        assert log_probs.shape == entropy.shape == (T, E, 1)
        assert torch.allclose(log_probs, buffer.log_probs[:, :, agent], atol=1e-5)


def test_sampled_actions_respect_availability():
    policy = make_policy(make_cfg(), SPACES["discrete"])
    g = torch.Generator().manual_seed(3)
    avail = random_avail(g, 256, N)
    rnn = torch.zeros(256, N, *policy.rnn_shape)
    with torch.no_grad():
        result = policy.act(torch.randn(256, N, OBS_DIM), torch.randn(256, N, STATE_DIM), rnn, rnn,
                            torch.ones(256, N, 1), avail)
    assert avail.gather(-1, result.actions.long()).eq(1).all()


def test_actors_are_per_agent_even_when_share_policy_is_on():
    cfg = make_cfg("--share_policy")
    policy = make_policy(cfg, SPACES["discrete"])
    assert len(policy.actor.trunks) == N and len(policy.critic.trunks) == 1
    trainer = HAPPOTrainer(cfg, policy, torch.Generator().manual_seed(0))
    assert set(trainer.actor_optimizers) == {f"actor_{i}" for i in range(N)}


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES)
@pytest.mark.parametrize("recurrent", [False, True], ids=["mlp", "gru"])
def test_agents_update_in_a_random_order_with_the_product_of_earlier_ratios(space, recurrent):
    cfg = make_cfg(*(["--use_recurrent_policy"] if recurrent else []))
    policy = make_policy(cfg, space)
    buffer = fill_buffer(policy)
    trainer = HAPPOTrainer(cfg, policy, torch.Generator().manual_seed(0))
    calls = []  # (agent, factor it was trained with)
    train_agent = trainer.train_agent
    trainer.train_agent = lambda buf, agent, adv, factor: (calls.append((agent, factor.clone())),
                                                           train_agent(buf, agent, adv, factor))[1]
    actors_before = [snapshot(torch.nn.ModuleList([policy.actor.trunks[i], policy.actor.heads[i]]))
                     for i in range(N)]
    critic_before = snapshot(policy.critic)
    metrics = trainer.train(buffer)

    order = [agent for agent, _ in calls]
    assert sorted(order) == list(range(N))
    # An agent's parameters only move in its own turn, so ratios under the final parameters are
    # the ones each later agent saw. Computed here through the all-agents evaluation path.
    with torch.no_grad():
        new_log_probs = policy.evaluate(rollout_batch(buffer, buffer.advantages)).log_probs
    ratios = ((new_log_probs - buffer.log_probs) * buffer.active_masks[:-1]).exp()  # (T, E, N, 1)
    expected = torch.ones(T, E, 1)
    for agent, factor in calls:
        assert torch.allclose(factor[:, :, 0], expected, rtol=1e-4)
        expected = expected * ratios[:, :, agent]
    assert not torch.allclose(expected, torch.ones_like(expected))  # the factor is not trivially 1
    assert metrics["joint_ratio"] == pytest.approx(expected.mean().item(), rel=1e-4)
    for i in range(N):
        assert changed(actors_before[i], torch.nn.ModuleList([policy.actor.trunks[i], policy.actor.heads[i]]))
    assert changed(critic_before, policy.critic)
    for key in ("policy_loss", "ratio", "factor_mean", "factor_std", "actor_grad_norm", "value_loss",
                "critic_grad_norm"):
        assert key in metrics


def test_order_is_reshuffled_each_iteration_and_repeats_with_the_seed():
    def orders(seed):
        cfg = make_cfg("--ppo_epoch", "1", "--num_mini_batch", "1")
        policy = make_policy(cfg, SPACES["discrete"])
        buffer = fill_buffer(policy)
        trainer = HAPPOTrainer(cfg, policy, torch.Generator().manual_seed(seed))
        seen = []
        train_agent = trainer.train_agent
        trainer.train_agent = lambda buf, agent, *rest: (seen.append(agent), train_agent(buf, agent, *rest))[1]
        for _ in range(6):
            trainer.train(buffer)
        return [tuple(seen[k:k + N]) for k in range(0, len(seen), N)]

    first = orders(seed=0)
    assert first == orders(seed=0)
    assert len(set(first)) > 1


def test_factor_scales_the_advantage():
    """With no entropy bonus, a zero factor leaves the actor untouched; a unit factor moves it."""
    cfg = make_cfg("--entropy_coef", "0")
    policy = make_policy(cfg, SPACES["discrete"])
    buffer = fill_buffer(policy)
    trainer = HAPPOTrainer(cfg, policy, torch.Generator().manual_seed(0))
    advantages = buffer.advantages.clone()
    agent_0 = torch.nn.ModuleList([policy.actor.trunks[0], policy.actor.heads[0]])
    before = snapshot(agent_0)
    trainer.train_agent(buffer, 0, advantages, torch.zeros(T, E, 1, 1))
    assert not changed(before, agent_0)
    trainer.train_agent(buffer, 0, advantages, torch.ones(T, E, 1, 1))
    assert changed(before, agent_0)


def test_checkpoint_round_trip_restores_outputs_and_optimizers():
    cfg = make_cfg()
    policy = make_policy(cfg, SPACES["box"], seed=0)
    buffer = fill_buffer(policy)
    trainer = HAPPOTrainer(cfg, policy, torch.Generator().manual_seed(0))
    trainer.train(buffer)
    restored_policy = make_policy(cfg, SPACES["box"], seed=1)
    restored = HAPPOTrainer(cfg, restored_policy, torch.Generator().manual_seed(0))
    restored.load_state_dict(through_file(trainer.state_dict()))
    batch = rollout_batch(buffer, buffer.advantages)
    with torch.no_grad():
        a, b = policy.evaluate(batch), restored_policy.evaluate(batch)
    assert torch.equal(a.log_probs, b.log_probs) and torch.equal(a.values, b.values)
    # Adam moments and ValueNorm came along too: the next update is identical.
    trainer.generator.manual_seed(5)
    restored.generator.manual_seed(5)
    trainer.train(buffer)
    restored.train(buffer)
    for p, q in zip(policy.parameters(), restored_policy.parameters()):
        assert torch.equal(p, q)
