"""Rollout buffer: GAE against a hand computation, truncation bootstrap, minibatch shapes."""
import torch

from onpolicy.algorithms.utils.valuenorm import ValueNorm
from onpolicy.utils.buffer import RolloutBuffer


def make_buffer(T=3, E=1, N=1, rnn=(1, 4)):
    return RolloutBuffer(T, E, N, obs_dim=2, state_dim=3, act_dim=1, n_actions=4, rnn_shape=rnn,
                         device=torch.device("cpu"))


def fill(buf, rewards, values, masks, bad_masks, trunc_values):
    for t in range(buf.T):
        z = lambda *s: torch.zeros(buf.E, buf.N, *s)  # noqa: E731
        buf.insert(obs=z(2), state=z(3), avail=torch.ones(buf.E, buf.N, 4), rnn_actor=z(1, 4), rnn_critic=z(1, 4),
                   actions=z(1), log_probs=z(1), values=torch.full((buf.E, buf.N, 1), values[t]),
                   rewards=torch.full((buf.E, buf.N, 1), rewards[t]),
                   masks=torch.full((buf.E, buf.N, 1), masks[t]), bad_masks=torch.full((buf.E, buf.N, 1), bad_masks[t]),
                   active_masks=torch.ones(buf.E, buf.N, 1),
                   truncation_values=torch.full((buf.E, buf.N, 1), trunc_values[t]))


def test_gae_matches_hand_computation_with_termination_and_truncation():
    g, lam = 0.9, 0.5
    r, v = [1.0, 2.0, 3.0], [0.5, 1.0, 1.5]
    # step 0 terminates (mask 0, bad 1); step 1 is truncated with V(final) = 4; step 2 continues; V(next) = 2.
    buf = make_buffer()
    fill(buf, r, v, masks=[0, 0, 1], bad_masks=[1, 0, 1], trunc_values=[0, 4.0, 0])
    buf.compute_returns(torch.full((1, 1, 1), 2.0), g, lam)
    d2 = 3.0 + g * 2.0 - 1.5
    a2 = d2
    d1 = 2.0 + g * 4.0 - 1.0  # truncated: bootstrap from the final state's value, not the next episode's
    a1 = d1  # the trace does not cross the episode boundary
    d0 = 1.0 - 0.5  # terminated: nothing to bootstrap
    a0 = d0
    expected = torch.tensor([a0, a1, a2])
    assert torch.allclose(buf.advantages.view(-1), expected)
    assert torch.allclose(buf.returns.view(-1), expected + torch.tensor(v))


def test_gae_continuing_trace_and_monte_carlo_returns():
    g, lam = 0.99, 0.95
    r, v = [1.0, 0.0, 2.0], [0.2, 0.4, 0.6]
    buf = make_buffer()
    fill(buf, r, v, masks=[1, 1, 1], bad_masks=[1, 1, 1], trunc_values=[0, 0, 0])
    buf.compute_returns(torch.full((1, 1, 1), 1.0), g, lam)
    deltas = [r[0] + g * v[1] - v[0], r[1] + g * v[2] - v[1], r[2] + g * 1.0 - v[2]]
    a2 = deltas[2]
    a1 = deltas[1] + g * lam * a2
    a0 = deltas[0] + g * lam * a1
    assert torch.allclose(buf.advantages.view(-1), torch.tensor([a0, a1, a2]), atol=1e-6)

    buf.compute_returns(torch.full((1, 1, 1), 1.0), g, lam, use_gae=False)
    ret2 = 2.0 + g * 1.0
    ret1 = 0.0 + g * ret2
    ret0 = 1.0 + g * ret1
    assert torch.allclose(buf.returns.view(-1), torch.tensor([ret0, ret1, ret2]), atol=1e-6)


def test_gae_denormalizes_values():
    norm = ValueNorm()
    for _ in range(50):
        norm.update(torch.randn(100) * 3 + 10)
    buf = make_buffer()
    fill(buf, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], masks=[1, 1, 1], bad_masks=[1, 1, 1], trunc_values=[0, 0, 0])
    buf.compute_returns(torch.zeros(1, 1, 1), 0.9, 0.5, denormalize=norm.denormalize)
    mean = norm.denormalize(torch.zeros(1)).item()
    assert abs(mean - 10) < 1.0
    # stored 0 means "the running mean" in return units
    assert torch.allclose(buf.returns - buf.advantages, torch.full_like(buf.returns, mean), atol=1e-5)


def test_valuenorm_normalize_roundtrip_and_statistics():
    norm = ValueNorm(beta=0.99)
    data = torch.randn(2000, 1) * 5 + 3
    for chunk in data.split(100):
        norm.update(chunk)
    mean, var = norm.mean_var()
    assert abs(mean.item() - 3) < 0.6 and abs(var.sqrt().item() - 5) < 0.8
    x = torch.randn(10, 1)
    assert torch.allclose(norm.denormalize(norm.normalize(x)), x, atol=1e-5)
    restored = ValueNorm(beta=0.99)
    restored.load_state_dict(norm.state_dict())
    assert torch.equal(restored.normalize(x), norm.normalize(x))


def test_per_agent_valuenorm_is_one_valuenorm_per_agent():
    """ValueNorm(n_agents=N) on (..., N, 1) keeps exactly the statistics N shared ValueNorms would,
    each fed only its own agent's entries, and (de)normalises each agent with its own."""
    n = 3
    per_agent, separate = ValueNorm(n, beta=0.99), [ValueNorm(beta=0.99) for _ in range(n)]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        batch = torch.randn(5, 4, n, 1, generator=g) * torch.tensor([1.0, 10.0, 0.1]).view(n, 1) \
            + torch.tensor([0.0, 100.0, -3.0]).view(n, 1)
        per_agent.update(batch)
        for i, norm in enumerate(separate):
            norm.update(batch[:, :, i])
    mean, var = per_agent.mean_var()
    assert mean.shape == var.shape == (n, 1)
    for i, norm in enumerate(separate):
        m, v = norm.mean_var()
        assert torch.allclose(mean[i], m) and torch.allclose(var[i], v)
    x = torch.randn(2, 4, n, 1, generator=g)
    expected = torch.stack([separate[i].normalize(x[:, :, i]) for i in range(n)], dim=2)
    assert torch.allclose(per_agent.normalize(x), expected, atol=1e-6)
    assert torch.allclose(per_agent.denormalize(per_agent.normalize(x)), x, atol=1e-5)
    restored = ValueNorm(n, beta=0.99)
    restored.load_state_dict(per_agent.state_dict())
    assert torch.equal(restored.normalize(x), per_agent.normalize(x))


def test_minibatches_cover_every_sample_once_and_keep_agents_together():
    T, E, N = 4, 3, 2
    buf = make_buffer(T=T, E=E, N=N)
    buf.obs[:-1] = torch.arange(T * E * N * 2, dtype=torch.float32).view(T, E, N, 2)
    gen = torch.Generator().manual_seed(0)
    seen = []
    for batch in buf.minibatches(3, 1, buf.advantages, gen):
        assert batch.obs.shape == (1, 4, N, 2) and batch.rnn_actor.shape == (4, N, 1, 4)
        seen.append(batch.obs.reshape(-1, N, 2))
    seen = torch.cat(seen)
    assert torch.equal(torch.sort(seen[:, 0, 0]).values, torch.sort(buf.obs[:-1, :, 0, 0].reshape(-1)).values)
    assert torch.all(seen[:, 1, 0] == seen[:, 0, 0] + 2)  # agent 1 of the same env step


def test_recurrent_chunks_are_contiguous_in_time():
    T, E, N, L = 6, 2, 1, 3
    buf = make_buffer(T=T, E=E, N=N)
    buf.obs[:-1, :, :, 0] = torch.arange(T, dtype=torch.float32).view(T, 1, 1)
    buf.rnn_actor[:, :, :, 0, 0] = torch.arange(T + 1, dtype=torch.float32).view(T + 1, 1, 1)
    for batch in buf.minibatches(2, L, buf.advantages, torch.Generator().manual_seed(1)):
        steps = batch.obs[:, :, 0, 0]  # (L, B)
        assert torch.all(steps[1:] - steps[:-1] == 1)
        assert torch.equal(batch.rnn_actor[:, 0, 0, 0], steps[0])  # RNN state at the chunk start
