"""PPO loss terms shared by every on-policy algorithm."""
from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over entries where mask == 1 (dead agents and padding do not count)."""
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def normalize_advantages(advantages: torch.Tensor, active: torch.Tensor, per_agent: bool) -> torch.Tensor:
    """Zero-mean unit-std advantages (T, E, N, 1) over active entries, globally or per agent."""
    dims = (0, 1, 3) if per_agent else (0, 1, 2, 3)
    count = active.sum(dim=dims, keepdim=True).clamp(min=1.0)
    mean = (advantages * active).sum(dim=dims, keepdim=True) / count
    var = (((advantages - mean) * active) ** 2).sum(dim=dims, keepdim=True) / count
    return (advantages - mean) / (var.sqrt() + 1e-5)


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip: float) -> torch.Tensor:
    """Per-entry PPO objective to be minimised: −min(r·A, clip(r)·A)."""
    return -torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)


def huber(error: torch.Tensor, delta: float) -> torch.Tensor:
    a = error.abs()
    return torch.where(a <= delta, 0.5 * error ** 2, delta * (a - 0.5 * delta))


def value_loss(values, old_values, returns, active, cfg, value_norm=None) -> torch.Tensor:
    """MAPPO's value loss: targets normalised by ValueNorm, optional clipping and Huber.

    values/old_values are critic outputs (normalised space when ValueNorm is on);
    returns are in reward units. The ValueNorm statistics are updated here.
    """
    if value_norm is not None:
        value_norm.update(returns)
        returns = value_norm.normalize(returns)
    clipped = old_values + (values - old_values).clamp(-cfg.clip_param, cfg.clip_param)
    loss_fn = (lambda e: huber(e, cfg.huber_delta)) if cfg.use_huber_loss else (lambda e: 0.5 * e ** 2)
    loss = loss_fn(returns - values)
    if cfg.use_clipped_value_loss:
        loss = torch.max(loss, loss_fn(returns - clipped))
    return masked_mean(loss, active)
