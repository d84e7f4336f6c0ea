"""Action distributions with a common interface over Discrete and Box action spaces.

Every distribution here works on actions shaped (..., Da) (Da = 1 for discrete,
holding the index as a float) and returns log-probs and entropies shaped (..., 1),
so buffers and losses never branch on the action space.
"""
from __future__ import annotations

import torch
from gymnasium import spaces
from torch import nn

from onpolicy.algorithms.utils.networks import init_linear

UNAVAILABLE_LOGIT = -1e10


class MaskedCategorical:
    """Categorical over logits (..., A) whose unavailable actions have zero probability."""

    def __init__(self, logits: torch.Tensor, avail: torch.Tensor | None = None):
        if avail is not None:
            logits = logits.masked_fill(avail == 0, UNAVAILABLE_LOGIT)
        self.logits = logits
        self.dist = torch.distributions.Categorical(logits=logits)

    def sample(self) -> torch.Tensor:
        return self.dist.sample().unsqueeze(-1).float()

    def mode(self) -> torch.Tensor:
        return self.logits.argmax(dim=-1, keepdim=True).float()

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(actions.squeeze(-1).long()).unsqueeze(-1)

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy().unsqueeze(-1)

    def kl(self, other: "MaskedCategorical") -> torch.Tensor:
        """KL(self ‖ other), (..., 1)."""
        return torch.distributions.kl_divergence(self.dist, other.dist).unsqueeze(-1)


class DiagGaussian:
    """Diagonal Gaussian; log-probs and entropies are summed over action dimensions."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean = mean
        self.dist = torch.distributions.Normal(mean, std.expand_as(mean))

    def sample(self) -> torch.Tensor:
        return self.dist.sample()

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(actions).sum(-1, keepdim=True)

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy().sum(-1, keepdim=True)

    def kl(self, other: "DiagGaussian") -> torch.Tensor:
        """KL(self ‖ other), (..., 1)."""
        return torch.distributions.kl_divergence(self.dist, other.dist).sum(-1, keepdim=True)


def action_dim(space: spaces.Space) -> int:
    """Width of the stored action: 1 for Discrete (the index), the vector size for Box."""
    if isinstance(space, spaces.Discrete):
        return 1
    if isinstance(space, spaces.Box):
        return int(space.shape[0])
    raise ValueError(f"unsupported action space {space!r}; valid: gymnasium Discrete or Box")


def policy_param_dim(space: spaces.Space) -> int:
    """Size of the distribution parameters a head outputs (logits or mean)."""
    return int(space.n) if isinstance(space, spaces.Discrete) else action_dim(space)


class ActionHead(nn.Module):
    """Maps features to a distribution: masked logits (Discrete) or a Gaussian (Box).

    The Gaussian's std is a learned state-independent parameter, as in MAPPO/HAPPO.
    """

    def __init__(self, input_dim: int, space: spaces.Space, gain: float = 0.01):
        super().__init__()
        self.discrete = isinstance(space, spaces.Discrete)
        self.linear = init_linear(nn.Linear(input_dim, policy_param_dim(space)), gain)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(action_dim(space)))

    def params(self, features: torch.Tensor) -> torch.Tensor:
        """Distribution parameters (..., P): logits or Gaussian means."""
        return self.linear(features)

    def distribution(self, params: torch.Tensor, avail: torch.Tensor | None = None):
        if self.discrete:
            return MaskedCategorical(params, avail)
        return DiagGaussian(params, self.log_std.exp())
