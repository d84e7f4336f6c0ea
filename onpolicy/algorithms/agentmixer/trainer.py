"""AgentMixer's trainer: PPO on the joint ratio, PM and actors in one backward pass."""
from __future__ import annotations

import math

import torch

from onpolicy.algorithms.mappo.trainer import PPOTrainer, make_adam
from onpolicy.algorithms.utils.ppo import clipped_surrogate, masked_mean
from onpolicy.utils.buffer import Batch


def temperature_at(cfg, progress: float) -> float:
    """Softmax temperature T at a training progress in [0, 1]."""
    if cfg.temperature_schedule == "constant":
        return cfg.temperature
    if cfg.temperature_schedule == "cosine":
        # The authors' predator-prey schedule (their decay_id 1, decay_factor 1 / ramp): a half cosine from
        # --temperature down to --temperature_min at `ramp` of the run; past it the cosine rises again
        # (to the midpoint at the end when ramp = 2/3), as theirs does.
        cosine = (1 + math.cos(math.pi * progress / cfg.temperature_ramp)) / 2
        return cfg.temperature_min + cosine * (cfg.temperature - cfg.temperature_min)
    frac = min(progress / cfg.temperature_ramp, 1.0)
    return cfg.temperature_start + frac * (cfg.temperature - cfg.temperature_start)


class AgentMixerTrainer(PPOTrainer):
    """Joint ratio r = Π_i π_joint,i(a_i)/π_old,i(a_i) times each agent's own advantage.

    Advantages are normalised per agent (agent-specific critics). The loss is averaged
    over agents rather than summed, as in MAPPO, so the entropy and clipping scales
    match the baselines'; under Adam this only rescales the gradient norm.
    """

    per_agent_advantages = True

    def __init__(self, cfg, policy, generator: torch.Generator):
        super().__init__(cfg, policy, generator)
        self.actor_optimizers["modifier"] = make_adam(policy.modifier.parameters(), cfg.mixer_lr, cfg)

    def set_progress(self, progress: float) -> None:
        self.policy.temperature = temperature_at(self.cfg, progress)

    def actor_loss(self, batch: Batch, result) -> tuple[torch.Tensor, dict]:
        # Dead agents contribute factor 1 to the product (their log-ratio is masked to 0).
        log_ratio = ((result.log_probs - batch.old_log_probs) * batch.active_masks).sum(dim=2, keepdim=True)
        ratio = torch.exp(log_ratio).expand_as(batch.advantages)
        loss = masked_mean(clipped_surrogate(ratio, batch.advantages, self.cfg.clip_param), batch.active_masks)
        return loss, {"joint_ratio": ratio.mean(), "approx_kl": -log_ratio.mean(),
                      "temperature": self.policy.temperature}
