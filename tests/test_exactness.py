"""The fast code paths compute the same function as a straightforward implementation.

Each reference below is written the plain way (nn.functional on the module's own parameters),
run in float64 on fixed inputs, and compared with the optimised forward pass and its gradients:
a speed-up may change how a number is computed, never which number it is.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from onpolicy.algorithms.agentmixer import policy_modifier as pm_module
from onpolicy.algorithms.agentmixer.policy_modifier import PM_TYPES, PolicyModifier

TOL = dict(rtol=1e-10, atol=1e-12)


def layer_norm(x, norm):
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def feature(x, seq):
    """Linear -> ReLU -> LayerNorm (the PM's feature_layer)."""
    return layer_norm(F.relu(F.linear(x, seq[0].weight, seq[0].bias)), seq[2])


def feed_forward(x, seq):
    """Linear -> ReLU -> LayerNorm -> Linear (the PM's feed_forward, the authors' FeedForward)."""
    return F.linear(feature(x, seq), seq[3].weight, seq[3].bias)


def mlp_base(x, base):
    """Input LayerNorm, then Linear -> ReLU -> LayerNorm layers (MLPBase, the PM's state encoder)."""
    x = layer_norm(x, base.input_norm)
    for i in range(0, len(base.layers), 3):
        x = feature(x, base.layers[i:i + 3])
    return x


def reference_agent_mixing(layer, tokens, pm_type):
    normed = layer_norm(tokens, layer.norm)
    if pm_type == "mixer":  # an MLP over the agent axis, channel by channel
        per_channel = normed.transpose(1, 2)  # (B, C, N)
        return tokens + feed_forward(per_channel, layer.mlp).transpose(1, 2)
    if pm_type == "hypernet":
        B = tokens.shape[0]
        pooled = normed.mean(1)
        w_in = F.linear(pooled, layer.make_weights_in.weight, layer.make_weights_in.bias).view(B, layer.hidden, -1)
        w_out = F.linear(pooled, layer.make_weights_out.weight, layer.make_weights_out.bias).view(B, -1, layer.hidden)
        hidden = F.relu(torch.einsum("bhn,bnc->bhc", w_in, normed) / math.sqrt(layer.n_agents))
        return tokens + torch.einsum("bnh,bhc->bnc", w_out, hidden) / math.sqrt(layer.hidden)
    q, k, v = (F.linear(normed, lin.weight, lin.bias) for lin in (layer.query, layer.key, layer.value))
    weights = torch.softmax(torch.einsum("bnc,bmc->bnm", q, k) / math.sqrt(q.shape[-1]), dim=-1)
    return tokens + F.linear(torch.einsum("bnm,bmc->bnc", weights, v), layer.out.weight, layer.out.bias)


def reference_pm(pm, state, policy, obs_feat):
    B = state.shape[0]
    ids = torch.eye(pm.n_agents, dtype=state.dtype).expand(B, -1, -1)
    tokens = feature(torch.cat([mlp_base(state, pm.state_encoder), feature(policy, pm.policy_encoder),
                                obs_feat, ids], -1), pm.token_encoder)
    for block in pm.blocks:
        tokens = reference_agent_mixing(block.agent_mixing, tokens, pm.pm_type)
        cm = block.channel_mixing
        tokens = tokens + feed_forward(layer_norm(tokens, cm.norm), cm.mlp)
    return F.linear(layer_norm(tokens, pm.final_norm), pm.head.weight, pm.head.bias)


def loss_and_grads(fn, pm, inputs, weights):
    pm.zero_grad()
    inputs = [x.clone().requires_grad_() for x in inputs]
    loss = (fn(pm, *inputs) * weights).sum()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in pm.parameters()]


@pytest.mark.parametrize("pm_type", PM_TYPES)
@pytest.mark.parametrize("batch,n_agents", [(7, 3), (300, 2)])  # 300 x 64 columns, blocks of 512: ragged last block
def test_policy_modifier_matches_the_plain_computation(pm_type, batch, n_agents, monkeypatch):
    monkeypatch.setattr(pm_module, "CPU_BLOCK_FLOATS", 1 << 14)
    torch.manual_seed(0)
    pm = PolicyModifier(n_agents, 6, 4, 5, 4, pm_type=pm_type, n_blocks=2, head_gain=1.0).double()
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(batch, n_agents, d, generator=g, dtype=torch.float64) for d in (6, 4, 5)]
    weights = torch.randn(batch, n_agents, 4, generator=g, dtype=torch.float64)
    loss, grads = loss_and_grads(lambda m, *x: m(*x), pm, inputs, weights)
    ref_loss, ref_grads = loss_and_grads(reference_pm, pm, inputs, weights)
    torch.testing.assert_close(loss, ref_loss, **TOL)
    names = [n for n, _ in pm.named_parameters()]
    for name, got, want in zip(names, grads, ref_grads):
        torch.testing.assert_close(got, want, **TOL, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("din,hidden,dout,columns", [(2, 32, 2, 700), (3, 5, 3, 64), (64, 256, 64, 37), (7, 9, 4, 300)])
@pytest.mark.parametrize("with_norm", [True, False])
def test_column_mlp_is_the_nn_modules(din, hidden, dout, columns, with_norm, monkeypatch):
    """ColumnMLP, forward and every gradient (input, both Linears, the hidden LayerNorm's weight and bias),
    equals nn.Linear -> ReLU -> nn.LayerNorm -> nn.Linear (or without the LayerNorm) on the rows of X^T, in
    float64: with small and large inner dimensions (outer-product and GEMM paths) and a ragged last block."""
    monkeypatch.setattr(pm_module, "CPU_BLOCK_FLOATS", 1 << 11)
    torch.manual_seed(0)
    layers = [torch.nn.Linear(din, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, dout)]
    if with_norm:
        layers.insert(2, torch.nn.LayerNorm(hidden))
    mlp = torch.nn.Sequential(*layers).double()
    with torch.no_grad():  # a trained-looking LayerNorm, so its weight and bias matter
        for p in mlp.parameters():
            p.add_(0.3 * torch.randn_like(p))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(din, columns, generator=g, dtype=torch.float64)
    x[:, :3] = -5.0  # columns whose hidden values are mostly zero after the ReLU
    out_w = torch.randn(dout, columns, generator=g, dtype=torch.float64)
    results = []
    for fn in (lambda c: pm_module.column_mlp(c, mlp), lambda c: mlp(c.t()).t()):
        mlp.zero_grad()
        c = x.clone().requires_grad_()
        y = fn(c)
        (y * out_w).sum().backward()
        results.append([y.detach(), c.grad] + [p.grad.clone() for p in mlp.parameters()])
    names = ["output", "input grad"] + [n for n, _ in mlp.named_parameters()]
    for name, got, want in zip(names, *results):
        torch.testing.assert_close(got, want, **TOL, msg=lambda m, name=name: f"{name}: {m}")


def test_column_mlp_passes_gradcheck():
    """Finite differences agree with ColumnMLP's backward, LayerNorm parameters included."""
    torch.manual_seed(0)
    args = [torch.randn(*shape, dtype=torch.float64, requires_grad=True)
            for shape in ((3, 11), (6, 3), (6,), (2, 6), (2,), (6,), (6,))]
    assert torch.autograd.gradcheck(lambda *a: pm_module.ColumnMLP.apply(*a, 1e-5), args)


def test_agent_axis_mlp_input_gradient_and_float32():
    """The fused agent-axis MLP's input gradient matches autograd through nn.Linear, also in float32."""
    torch.manual_seed(0)
    layer = pm_module.AgentMixing(3, 64, 32)
    tokens = torch.randn(400, 3, 64)
    out_w = torch.randn(400, 3, 64)
    grads = []
    for fn in (lambda x: layer(x), lambda x: reference_agent_mixing(layer, x, "mixer")):
        x = tokens.clone().requires_grad_()
        (fn(x) * out_w).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


# -- MAT: attention over agents and the auto-regressive decoding --------------------------------------------

class TorchAttention(torch.nn.Module):
    """nn.MultiheadAttention behind AgentAttention's call signature: the reference."""

    def __init__(self, fast):
        super().__init__()
        E, heads = fast.out_proj.in_features, fast.n_head
        self.mha = torch.nn.MultiheadAttention(E, heads, batch_first=True).to(fast.in_proj_weight.dtype)
        self.mha.load_state_dict(fast.state_dict())

    def forward(self, query, key_value, mask=None):
        return self.mha(query, key_value, key_value, attn_mask=mask, need_weights=False)[0]


def with_torch_attention(policy):
    """A deep copy of a MAT policy whose every AgentAttention is nn.MultiheadAttention."""
    import copy

    from onpolicy.algorithms.mat.policy import AgentAttention
    reference = copy.deepcopy(policy)
    for module in list(reference.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, AgentAttention):
                setattr(module, name, TorchAttention(child))
    return reference


def test_agent_attention_is_torch_multihead_attention():
    from onpolicy.algorithms.mat.policy import AgentAttention, causal_mask
    torch.manual_seed(3)
    fast = AgentAttention(16, 4).double()
    reference = TorchAttention(fast)
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randn(9, 5, 16, generator=g, dtype=torch.float64) for _ in range(2))
    for args in [(x, x, None), (x, x, causal_mask(5, "cpu")), (y, x, causal_mask(5, "cpu"))]:
        outs = [m(*args) for m in (fast, reference)]
        torch.testing.assert_close(outs[0], outs[1], **TOL)
        grads = [torch.autograd.grad(o.sin().sum(), list(m.parameters())) for o, m in zip(outs, (fast, reference))]
        for got, want in zip(*grads):
            torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("space_name", ["discrete", "box"])
def test_mat_decoding_and_loss_match_torch_attention(space_name):
    """MAT's greedy decode and its PPO loss gradients equal those of the same MAT on nn.MultiheadAttention."""
    from test_mat import SPACES, make_batch, make_policy, make_trainer, step_inputs
    space = SPACES[space_name]
    policy = make_policy("mat", space).double()
    reference = with_torch_attention(policy)
    obs, state, rnn, _, masks, avail = (None if x is None else x.double() for x in step_inputs(policy, space))
    with torch.no_grad():
        decoded = [p.act(obs, state, rnn, rnn, masks, avail, deterministic=True) for p in (policy, reference)]
    torch.testing.assert_close(decoded[0].actions, decoded[1].actions, **TOL)  # discrete: the same indices
    torch.testing.assert_close(decoded[0].log_probs, decoded[1].log_probs, **TOL)
    torch.testing.assert_close(decoded[0].values, decoded[1].values, **TOL)
    batch = make_batch(make_policy("mat", space), space)  # float32 actions of the same (float32) policy
    batch = type(batch)(**{k: (v.double() if torch.is_tensor(v) and v.is_floating_point() else v)
                           for k, v in vars(batch).items()})
    grads = []
    for p in (policy, reference):
        trainer = make_trainer(p)
        result = p.evaluate(batch)
        loss, _ = trainer.actor_loss(batch, result)
        grads.append(torch.autograd.grad(loss - 0.01 * result.entropy.mean() + result.values.pow(2).mean(),
                                         list(p.parameters())))
    names = [n for n, _ in policy.named_parameters()]
    for name, got, want in zip(names, *grads):
        torch.testing.assert_close(got, want, **TOL, msg=lambda m, name=name: f"{name}: {m}")


# -- the shared PPO update ----------------------------------------------------------------------------------

def random_rollout(policy, T=6, E=5, seed=0):
    """A RolloutBuffer (float64) filled with random inputs, the policy's own actions and random returns."""
    from onpolicy.utils.buffer import RolloutBuffer
    env = policy.env
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    buf = RolloutBuffer(T, E, env.n_agents, env.obs_dim, env.state_dim, 1, env.action_space.n, policy.rnn_shape,
                        torch.device("cpu"), critic_rnn_shape=policy.critic_rnn_shape)
    for name in ("obs", "state", "rnn_actor", "rnn_critic", "value_preds", "returns", "advantages"):
        tensor = getattr(buf, name)
        setattr(buf, name, rand(*tensor.shape))
    buf.log_probs = -rand(*buf.log_probs.shape).abs()
    buf.actions = torch.randint(0, env.action_space.n, buf.actions.shape, generator=g).double()
    buf.masks = (torch.rand(buf.masks.shape, generator=g) > 0.2).double()
    buf.active_masks = (torch.rand(buf.active_masks.shape, generator=g) > 0.1).double()
    buf.avail = buf.avail.double()
    return buf


def plain_ppo_step(policy, trainer, buf, advantages):
    """MAPPO's update written out: PPO-clip + entropy for the actors, clipped Huber value loss on
    ValueNorm targets for the critics, each clipped to max_grad_norm and stepped by its own Adam."""
    cfg = trainer.cfg
    T, E = buf.T, buf.E
    rows = lambda x: x[:T].reshape(1, T * E, *x.shape[2:])  # noqa: E731
    obs, state, masks, active = rows(buf.obs), rows(buf.state), rows(buf.masks), rows(buf.active_masks)
    logits, _, _ = policy.actor(obs, buf.rnn_actor[:T].reshape(T * E, *buf.rnn_actor.shape[2:]), masks)
    log_p = torch.log_softmax(logits.masked_fill(rows(buf.avail) == 0, -1e10), -1)
    new_log_prob = log_p.gather(-1, rows(buf.actions).long())
    ratio = torch.exp(new_log_prob - rows(buf.log_probs))
    adv = rows(advantages)
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - cfg.clip_param, 1 + cfg.clip_param) * adv)
    policy_loss = -(surrogate * active).sum() / active.sum()
    entropy = (-(log_p.exp() * log_p).sum(-1, keepdim=True) * active).sum() / active.sum()
    actor_opt = torch.optim.Adam(policy.actor.parameters(), lr=cfg.lr, eps=cfg.opti_eps)
    actor_opt.zero_grad()
    (policy_loss - cfg.entropy_coef * entropy).backward()
    for trunk, head in zip(policy.actor.trunks, policy.actor.heads):  # each agent's actor on its own
        torch.nn.utils.clip_grad_norm_([*trunk.parameters(), *head.parameters()], cfg.max_grad_norm)
    actor_opt.step()

    values, _ = policy.critic(state, buf.rnn_critic[:T].reshape(T * E, *buf.rnn_critic.shape[2:]), masks)
    value_norm = trainer.value_norm
    returns = rows(buf.returns)
    value_norm.update(returns)
    target = value_norm.normalize(returns)
    old = rows(buf.value_preds)
    clipped = old + (values - old).clamp(-cfg.clip_param, cfg.clip_param)
    huber = lambda e: torch.where(e.abs() <= cfg.huber_delta, 0.5 * e ** 2,  # noqa: E731
                                  cfg.huber_delta * (e.abs() - 0.5 * cfg.huber_delta))
    v_loss = (torch.max(huber(target - values), huber(target - clipped)) * active).sum() / active.sum()
    critic_opt = torch.optim.Adam(policy.critic.parameters(), lr=cfg.critic_lr, eps=cfg.opti_eps)
    critic_opt.zero_grad()
    (cfg.value_loss_coef * v_loss).backward()
    for trunk, head in zip(policy.critic.trunks, policy.critic.heads):  # each agent's critic on its own
        torch.nn.utils.clip_grad_norm_([*trunk.parameters(), *head.parameters()], cfg.max_grad_norm)
    critic_opt.step()
    return {"policy_loss": policy_loss.item(), "entropy": entropy.item(), "value_loss": v_loss.item()}


@pytest.mark.parametrize("flags", [[], ["--share_policy", "--no-use_recurrent_policy"]])
def test_ppo_update_matches_a_plain_ppo_step(flags):
    import copy

    from gymnasium.spaces import Discrete

    from onpolicy.algorithms.mappo.policy import EnvInfo, MAPPOPolicy
    from onpolicy.algorithms.mappo.trainer import PPOTrainer
    from onpolicy.algorithms.utils.ppo import normalize_advantages
    from onpolicy.config import parse_config
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--hidden_size", "8",
                        "--ppo_epoch", "1", "--max_grad_norm", "0.5", *flags])
    torch.manual_seed(0)
    policy = MAPPOPolicy(cfg, EnvInfo(2, 4, 6, Discrete(3))).double()
    trainer = PPOTrainer(cfg, policy, torch.Generator().manual_seed(0))
    trainer.value_norm.double()
    reference, ref_trainer = copy.deepcopy(policy), copy.deepcopy(trainer)
    buf = random_rollout(policy)
    metrics = trainer.train(buf)
    advantages = normalize_advantages(buf.advantages, buf.active_masks[:-1], per_agent=not cfg.share_policy)
    expected = plain_ppo_step(reference, ref_trainer, buf, advantages)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-9), key
    for (name, got), want in zip(policy.named_parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, **TOL, msg=lambda m, name=name: f"{name}: {m}")


def test_a_single_minibatch_is_the_whole_rollout_and_draws_the_same_permutation():
    from test_buffer import make_buffer
    buf = make_buffer(T=4, E=3, N=2)
    buf.obs = torch.randn_like(buf.obs)
    drawn, expected_gen = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    (batch,) = buf.minibatches(1, 1, buf.advantages, drawn)
    torch.randperm(4 * 3, generator=expected_gen)
    assert torch.equal(drawn.get_state(), expected_gen.get_state())  # HAPPO's agent orders stay the same
    assert torch.equal(batch.obs, buf.obs[:4].reshape(1, 12, 2, -1))
    shuffled = next(iter(buf.minibatches(2, 1, buf.advantages, torch.Generator().manual_seed(5))))
    assert shuffled.obs.shape == (1, 6, 2, buf.obs.shape[-1])  # two minibatches still shuffle and gather
