"""Actors and critics for N agents, with or without parameter sharing.

With sharing, agents are folded into the batch and one network serves all of them;
without, each agent has its own network and inputs are split along the agent axis.
Either way callers see (L, B, N, ·) tensors.
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


def apply_per_agent(fns, x: torch.Tensor) -> torch.Tensor:
    """Apply stateless per-agent callables (one if shared) to x (..., N, D)."""
    if len(fns) == 1:
        return fns[0](x)
    return torch.stack([f(x[..., i, :]) for i, f in enumerate(fns)], dim=-2)


class MultiAgentActor(nn.Module):
    """Decentralized actors π_i(a_i | τ_i): trunk (MLP or MLP+GRU) and action head."""

    def __init__(self, obs_dim: int, action_space: spaces.Space, n_agents: int, shared: bool,
                 hidden_size: int, layer_N: int, recurrent: bool, recurrent_N: int, gain: float = 0.01):
        super().__init__()
        n_nets = 1 if shared else n_agents
        self.trunks = nn.ModuleList(FeatureExtractor(obs_dim, hidden_size, layer_N, recurrent, recurrent_N)
                                    for _ in range(n_nets))
        feat_dim = self.trunks[0].output_dim
        self.heads = nn.ModuleList(ActionHead(feat_dim, action_space, gain) for _ in range(n_nets))
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.n_agents = n_agents
        self.feature_dim = feat_dim

    def forward(self, obs, hidden, masks):
        """obs (L, B, N, Do) -> params (L, B, N, P), features (L, B, N, F), hidden (B, N, R, H)."""
        features, hidden = run_per_agent(self.trunks, obs, hidden, masks)
        params = apply_per_agent([h.params for h in self.heads], features)
        return params, features, hidden

    def std(self) -> torch.Tensor:
        """Per-agent Gaussian std (N, Da) (continuous actions only)."""
        log_std = torch.stack([h.log_std for h in self.heads])
        return log_std.expand(self.n_agents, -1).exp()

    def distribution(self, params: torch.Tensor, avail: torch.Tensor | None):
        if self.discrete:
            return MaskedCategorical(params, avail)
        return DiagGaussian(params, self.std())


class MultiAgentCritic(nn.Module):
    """Value functions V_i(input_i): centralized when fed the state, decentralized on obs."""

    def __init__(self, input_dim: int, n_agents: int, shared: bool, hidden_size: int, layer_N: int,
                 recurrent: bool, recurrent_N: int):
        super().__init__()
        n_nets = 1 if shared else n_agents
        self.trunks = nn.ModuleList(FeatureExtractor(input_dim, hidden_size, layer_N, recurrent, recurrent_N)
                                    for _ in range(n_nets))
        self.heads = nn.ModuleList(init_linear(nn.Linear(self.trunks[0].output_dim, 1), 1.0)
                                   for _ in range(n_nets))
        self.feature_dim = self.trunks[0].output_dim

    def forward(self, x, hidden, masks):
        """x (L, B, N, D) -> values (L, B, N, 1), hidden (B, N, R, H)."""
        features, hidden = run_per_agent(self.trunks, x, hidden, masks)
        return apply_per_agent(self.heads, features), hidden
