"""Actors and critics for N agents, with or without parameter sharing.

With sharing, agents are folded into the batch and one network serves all of them;
without, each agent has its own network and inputs are split along the agent axis.
Either way callers see (L, B, N, ·) tensors. A shared network is given a one-hot agent
id (`agent_id=True`) unless its input already carries one: without it, agents whose
inputs coincide (the copied global state, MuJoCo joints with agent_obsk 0) would be
forced to act and be valued alike.
"""
from __future__ import annotations

import torch
from gymnasium import spaces
from torch import nn

from onpolicy.algorithms.utils.distributions import ActionHead, DiagGaussian, MaskedCategorical
from onpolicy.algorithms.utils.networks import FeatureExtractor, init_linear


def run_per_agent(nets: nn.ModuleList, x: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor):
    """Apply trunk(s) to x (L, B, N, D) with hidden (B, N, R, H) and masks (L, B, N, 1)."""
    if hidden is None:  # feed-forward use (e.g. AIL's expert): no RNN state to carry
        return apply_per_agent([lambda z, net=net: net(z, None, None)[0] for net in nets], x), None
    L, B, N = x.shape[:3]
    if len(nets) == 1:
        feats, h = nets[0](x.reshape(L, B * N, -1), hidden.reshape(B * N, *hidden.shape[2:]),
                           masks.reshape(L, B * N, 1))
        return feats.reshape(L, B, N, -1), h.reshape(hidden.shape)
    outs = [net(x[:, :, i], hidden[:, i], masks[:, :, i]) for i, net in enumerate(nets)]
    return torch.stack([o[0] for o in outs], dim=2), torch.stack([o[1] for o in outs], dim=1)


def with_agent_id(x: torch.Tensor) -> torch.Tensor:
    """x (..., N, D) -> (..., N, D + N): the one-hot agent id appended to each agent's input."""
    n_agents = x.shape[-2]
    ids = torch.eye(n_agents, dtype=x.dtype, device=x.device).expand(*x.shape[:-1], n_agents)
    return torch.cat([x, ids], dim=-1)


def apply_per_agent(fns, x: torch.Tensor) -> torch.Tensor:
    """Apply stateless per-agent callables (one if shared) to x (..., N, D)."""
    if len(fns) == 1:
        return fns[0](x)
    return torch.stack([f(x[..., i, :]) for i, f in enumerate(fns)], dim=-2)


class MultiAgentActor(nn.Module):
    """Decentralized actors π_i(a_i | τ_i): trunk (MLP or MLP+GRU) and action head."""

    def __init__(self, obs_dim: int, action_space: spaces.Space, n_agents: int, shared: bool,
                 hidden_size: int, layer_N: int, recurrent: bool, recurrent_N: int, gain: float = 0.01,
                 agent_id: bool = False, std_x_coef: float = 1.0, std_y_coef: float = 0.5):
        super().__init__()
        n_nets = 1 if shared else n_agents
        self.agent_id = agent_id
        in_dim = obs_dim + (n_agents if agent_id else 0)
        self.trunks = nn.ModuleList(FeatureExtractor(in_dim, hidden_size, layer_N, recurrent, recurrent_N)
                                    for _ in range(n_nets))
        feat_dim = self.trunks[0].output_dim
        self.heads = nn.ModuleList(ActionHead(feat_dim, action_space, gain, std_x_coef, std_y_coef)
                                   for _ in range(n_nets))
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.n_agents = n_agents
        self.feature_dim = feat_dim

    def forward(self, obs, hidden, masks):
        """obs (L, B, N, Do) -> params (L, B, N, P), features (L, B, N, F), hidden (B, N, R, H)."""
        features, hidden = run_per_agent(self.trunks, with_agent_id(obs) if self.agent_id else obs, hidden, masks)
        params = apply_per_agent([h.params for h in self.heads], features)
        return params, features, hidden

    def std(self) -> torch.Tensor:
        """Per-agent Gaussian std (N, Da) (continuous actions only)."""
        return torch.stack([h.std() for h in self.heads]).expand(self.n_agents, -1)

    def distribution(self, params: torch.Tensor, avail: torch.Tensor | None):
        if self.discrete:
            return MaskedCategorical(params, avail)
        return DiagGaussian(params, self.std())


class MultiAgentCritic(nn.Module):
    """Value functions V_i(input_i): centralized when fed the state, decentralized on obs."""

    def __init__(self, input_dim: int, n_agents: int, shared: bool, hidden_size: int, layer_N: int,
                 recurrent: bool, recurrent_N: int, agent_id: bool = False):
        super().__init__()
        n_nets = 1 if shared else n_agents
        self.agent_id = agent_id
        in_dim = input_dim + (n_agents if agent_id else 0)
        self.trunks = nn.ModuleList(FeatureExtractor(in_dim, hidden_size, layer_N, recurrent, recurrent_N)
                                    for _ in range(n_nets))
        self.heads = nn.ModuleList(init_linear(nn.Linear(self.trunks[0].output_dim, 1), 1.0)
                                   for _ in range(n_nets))
        self.feature_dim = self.trunks[0].output_dim

    def forward(self, x, hidden, masks):
        """x (L, B, N, D) -> values (L, B, N, 1), hidden (B, N, R, H)."""
        features, hidden = run_per_agent(self.trunks, with_agent_id(x) if self.agent_id else x, hidden, masks)
        return apply_per_agent(self.heads, features), hidden
