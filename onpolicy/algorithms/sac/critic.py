"""Twin centralized soft Q-functions Q_k(s, a_1, …, a_N), k = 1, 2, and their Polyak-averaged targets."""
from __future__ import annotations

import torch
from torch import nn

from onpolicy.algorithms.utils.networks import MLPBase, init_linear


class QNetwork(nn.Module):
    """MLP trunk (input LayerNorm, `layer_N + 1` hidden layers) and a linear head: (B, D) -> (B, 1)."""

    def __init__(self, input_dim: int, hidden_size: int, layer_N: int):
        super().__init__()
        self.trunk = MLPBase(input_dim, hidden_size, layer_N)
        self.head = init_linear(nn.Linear(self.trunk.output_dim, 1), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


class TwinQ(nn.Module):
    """Two independent Q networks on [team state, every agent's action]; SAC's clipped double Q takes
    their minimum, which keeps the overestimation of one network out of the targets and the policy loss."""

    def __init__(self, input_dim: int, hidden_size: int, layer_N: int):
        super().__init__()
        self.q1 = QNetwork(input_dim, hidden_size, layer_N)
        self.q2 = QNetwork(input_dim, hidden_size, layer_N)

    def forward(self, state: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """state (B, Ds), actions (B, N·Da) -> (Q1, Q2), each (B, 1)."""
        x = torch.cat([state, actions], dim=-1)
        return self.q1(x), self.q2(x)


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target ← (1 − τ) · target + τ · online, parameter by parameter (LayerNorm affines included).

    One fused foreach call instead of a Python loop over tensors: it runs after every gradient step."""
    torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)
