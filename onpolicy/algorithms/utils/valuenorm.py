"""Running normalisation of value targets (MAPPO's ValueNorm)."""
from __future__ import annotations

import torch
from torch import nn


class ValueNorm(nn.Module):
    """Debiased exponential running mean/variance of returns.

    Critics regress normalised targets, so the value loss scale stays the same whether
    rewards are ±1 (matrix games) or ±1000 (MuJoCo). State is kept in buffers so it is
    part of `state_dict()` and travels with checkpoints.

    `n_agents=None` keeps one set of statistics over every entry (a shared critic).
    `n_agents=N` keeps one per agent, for inputs (..., N, 1): each agent's statistics see
    only that agent's returns, as if every agent's critic had a ValueNorm of its own
    (independent critics; the reference trainers hold one per agent).
    """

    def __init__(self, n_agents: int | None = None, beta: float = 0.99999, epsilon: float = 1e-5):
        super().__init__()
        self.n_agents, self.beta, self.epsilon = n_agents, beta, epsilon
        shape = (1,) if n_agents is None else (n_agents, 1)
        self.register_buffer("running_mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("running_mean_sq", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("debiasing_term", torch.zeros(shape, dtype=torch.float64))

    def _per_agent(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., N, 1) -> (M, N, 1) rows of agents (per-agent statistics only)."""
        if x.shape[-2:] != (self.n_agents, 1):
            raise ValueError(f"per-agent ValueNorm of {self.n_agents} agents needs inputs (..., "
                             f"{self.n_agents}, 1), got {tuple(x.shape)}")
        return x.reshape(-1, self.n_agents, 1)

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance: (1,) shared, (N, 1) per agent."""
        debias = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / debias
        var = (self.running_mean_sq / debias - mean ** 2).clamp(min=1e-2)
        return mean, var

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.detach().double()
        if self.n_agents is None:
            batch_mean, batch_sq = x.mean(), (x ** 2).mean()
        else:
            rows = self._per_agent(x)
            batch_mean, batch_sq = rows.mean(0), (rows ** 2).mean(0)
        self.running_mean.mul_(self.beta).add_(batch_mean * (1 - self.beta))
        self.running_mean_sq.mul_(self.beta).add_(batch_sq * (1 - self.beta))
        self.debiasing_term.mul_(self.beta).add_(1 - self.beta)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_agents is not None:
            self._per_agent(x)
        mean, var = self.mean_var()
        return ((x.double() - mean) / var.sqrt()).to(x.dtype)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_agents is not None:
            self._per_agent(x)
        mean, var = self.mean_var()
        return (x.double() * var.sqrt() + mean).to(x.dtype)
