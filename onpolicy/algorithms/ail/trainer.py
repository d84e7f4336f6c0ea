"""AIL trainer: PPO for the expert and critic, then the students imitate the expert."""
from __future__ import annotations

import torch
from torch import nn

from onpolicy.algorithms.mappo.trainer import PPOTrainer, make_adam
from onpolicy.algorithms.utils.metrics import MetricMeans
from onpolicy.algorithms.utils.ppo import masked_mean
from onpolicy.utils.buffer import RolloutBuffer


def beta_at(cfg, progress: float) -> float:
    """Probability of acting with the expert: 1 → 0 over the first `ail_beta_ramp` of training."""
    if cfg.ail_beta_schedule == "step":
        return 1.0 if progress < cfg.ail_beta_ramp else 0.0
    return max(0.0, 1.0 - progress / cfg.ail_beta_ramp)


class AILTrainer(PPOTrainer):
    def __init__(self, cfg, policy, generator: torch.Generator):
        super().__init__(cfg, policy, generator)
        self.other_optimizers["students"] = make_adam(policy.actor.parameters(), cfg.student_lr, cfg)

    def set_progress(self, progress: float) -> None:
        self.policy.beta = beta_at(self.cfg, progress)

    def train(self, buffer: RolloutBuffer) -> dict[str, float]:
        metrics = super().train(buffer)
        metrics.update(self.distill(buffer))
        return metrics

    def distill(self, buffer: RolloutBuffer) -> dict[str, float]:
        """bc_epochs passes minimising KL(π_E(·|s) ‖ π_i(·|o_i)) or the NLL of the expert's mode."""
        cfg, policy, opt = self.cfg, self.policy, self.other_optimizers["students"]
        losses = MetricMeans()
        for _ in range(cfg.bc_epochs):
            for batch in buffer.minibatches(cfg.num_mini_batch, self.chunk_length(), buffer.advantages,
                                            self.generator):
                with torch.no_grad():
                    expert = policy.expert_distribution(batch.state, batch.avail)
                student = policy.student_distribution(batch.obs, batch.rnn_actor, batch.masks, batch.avail)
                if cfg.ail_loss == "kl":
                    per_entry = expert.kl(student)
                else:
                    per_entry = -student.log_prob(expert.mode())
                loss = masked_mean(per_entry, batch.active_masks)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.actor.parameters(), cfg.max_grad_norm)
                opt.step()
                losses.add({"distill_loss": loss})
        return {**losses.means(), "beta": policy.beta}
