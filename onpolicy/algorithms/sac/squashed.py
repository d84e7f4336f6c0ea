"""The squashed Gaussian of SAC: u ~ N(mean, std), a = center + half · tanh(u), on the action box.

Shapes: (..., Da) per agent; log-likelihoods are summed over the action features and, for a team, over
its agents by the caller. The density of a is the Gaussian density of u divided by |da/du|:

    log π(a) = log N(u; mean, std) − Σ_d [ log(1 − tanh(u_d)²) + log half_d ]

with log(1 − tanh(u)²) = 2 (log 2 − u − softplus(−2u)), which stays finite where tanh(u) rounds to ±1
(the form of HARL's squashed_gaussian_policy.py:71-72@a6309b8 and of SAC's appendix C).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2 = math.log(2.0)


def tanh_log_det(pre_tanh: torch.Tensor) -> torch.Tensor:
    """log |d tanh(u) / du| = log(1 − tanh(u)²) per feature, (..., Da), without cancellation."""
    return 2.0 * (LOG_2 - pre_tanh - F.softplus(-2.0 * pre_tanh))


class SquashedGaussian:
    """tanh-squashed diagonal Gaussian, mapped affinely onto [low, high] (each (Da,) or broadcastable).

    mean, std (..., Da). `rsample` keeps the graph (the reparameterised SAC policy loss); under
    torch.no_grad it is the plain sampler. `mode` is tanh(mean), the deterministic execution action.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, low: torch.Tensor, high: torch.Tensor):
        self.mean, self.std = mean, std.expand_as(mean)
        self.center, self.half = (high + low) / 2, (high - low) / 2

    def squash(self, pre_tanh: torch.Tensor) -> torch.Tensor:
        return self.center + self.half * torch.tanh(pre_tanh)

    def log_prob_of_pre_tanh(self, pre_tanh: torch.Tensor) -> torch.Tensor:
        """log π(squash(u)) for pre-squash values u (..., Da) -> (..., 1)."""
        gaussian = torch.distributions.Normal(self.mean, self.std, validate_args=False).log_prob(pre_tanh)
        return (gaussian - tanh_log_det(pre_tanh) - torch.log(self.half)).sum(-1, keepdim=True)

    def log_prob(self, actions: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """log π(a) of actions on the box (..., Da) -> (..., 1); a is clamped eps inside the box, where
        atanh is finite (the policy itself never needs this: it keeps u)."""
        unit = ((actions - self.center) / self.half).clamp(-1 + eps, 1 - eps)
        return self.log_prob_of_pre_tanh(torch.atanh(unit))

    def rsample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(actions (..., Da), their log-likelihood (..., 1)), differentiable in mean and std."""
        pre_tanh = self.mean + self.std * torch.randn_like(self.mean)
        return self.squash(pre_tanh), self.log_prob_of_pre_tanh(pre_tanh)

    def mode(self) -> torch.Tensor:
        return self.squash(self.mean)
