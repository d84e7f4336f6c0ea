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
        # No argument validation: it checks every logit and reads the answer on the host, a device
        # sync per rollout step and per minibatch; the logits come from our own networks.
        self.dist = torch.distributions.Categorical(logits=logits, validate_args=False)

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
        self.dist = torch.distributions.Normal(mean, std.expand_as(mean), validate_args=False)  # as above

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


DIAGNOSTIC_SAMPLES = 512  # sampled decodes used to estimate an auto-regressive policy's joint distribution


def autoregressive_rows(actions: torch.Tensor, last_probs: torch.Tensor, n_actions: int) -> torch.Tensor:
    """Rows (S, N, A) of an auto-regressive policy from S sampled decodes, for the diagnostics'
    "mean of the rows' product distributions": one-hot actions (S, N, 1) for agents 0..N-2 and the
    last agent's conditional probabilities (S, A) given them. The mean is an unbiased estimate of
    the sampling joint Σ_{a<N-1} π(a_<N-1) π(· | a_<N-1)."""
    rows = torch.nn.functional.one_hot(actions[..., 0].long(), n_actions).to(torch.float32)
    rows[:, -1] = last_probs
    return rows


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

    The Gaussian's std is state-independent and bounded, std = y · sigmoid(p / x) for a
    learned p that starts at x, as in HARL, MAT and the AgentMixer authors' code: with the
    defaults x = 1, y = 0.5 it starts at 0.5 · sigmoid(1) ≈ 0.366 and stays below 0.5.
    """

    def __init__(self, input_dim: int, space: spaces.Space, gain: float = 0.01, std_x_coef: float = 1.0,
                 std_y_coef: float = 0.5):
        super().__init__()
        self.discrete = isinstance(space, spaces.Discrete)
        self.linear = init_linear(nn.Linear(input_dim, policy_param_dim(space)), gain)
        if not self.discrete:
            self.std_x_coef, self.std_y_coef = std_x_coef, std_y_coef
            self.std_param = nn.Parameter(torch.full((action_dim(space),), float(std_x_coef)))

    def std(self) -> torch.Tensor:
        """The Gaussian's std (Da,) (continuous actions only)."""
        return self.std_y_coef * torch.sigmoid(self.std_param / self.std_x_coef)

    def params(self, features: torch.Tensor) -> torch.Tensor:
        """Distribution parameters (..., P): logits or Gaussian means."""
        return self.linear(features)

    def distribution(self, params: torch.Tensor, avail: torch.Tensor | None = None):
        if self.discrete:
            return MaskedCategorical(params, avail)
        return DiagGaussian(params, self.std())
