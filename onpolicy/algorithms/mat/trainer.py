"""MAT's trainer: PPO-clip per agent with policy, entropy and value losses in one backward pass."""
from __future__ import annotations

from torch import nn

from onpolicy.algorithms.mappo.trainer import PPOTrainer
from onpolicy.algorithms.utils.ppo import masked_mean, value_loss
from onpolicy.utils.buffer import Batch


class MATTrainer(PPOTrainer):
    """Minimises L_policy − c_ent · entropy + c_v · L_value with a single backward pass (MAT's loss).

    The encoder feeds both the action decoder and the value head, so PPOTrainer's two
    separate steps cannot be used: the value loss's backward would run through encoder
    weights the policy step has already changed in place. The encoder, decoder and
    action head share the "actor" optimizer (lr), which therefore also applies the value
    loss's encoder gradient; the value head keeps the "critic" optimizer (critic_lr, equal
    to lr in every paper setting). As in MAT, the gradients of all of them (encoder, decoder,
    action and value heads) are clipped together to one norm, `grad_norm`. Advantages are
    normalised over all agents and one ValueNorm serves them all, as in MAT.
    """
    per_agent_advantages = False
    per_agent_value_norm = False

    def update(self, batch: Batch) -> dict[str, float]:
        cfg = self.cfg
        result = self.policy.evaluate(batch)
        policy_loss, metrics = self.actor_loss(batch, result)
        entropy = masked_mean(result.entropy, self.policy_mask(batch))
        v_loss = value_loss(result.values, batch.value_preds, batch.returns, self.value_mask(batch), cfg, self.value_norm)
        for opt in self.optimizers().values():
            opt.zero_grad()
        (policy_loss - cfg.entropy_coef * entropy + cfg.value_loss_coef * v_loss).backward()
        grad_norm = nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        for opt in self.optimizers().values():
            opt.step()
        metrics.update(grad_norm=grad_norm, policy_loss=policy_loss, value_loss=v_loss, entropy=entropy)
        return metrics
