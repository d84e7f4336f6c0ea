"""HAPPO's trainer: agents' actors updated one after another with a correction factor.

Each call to `train` draws a random order of the agents. Agent i_m then runs the usual
ppo_epoch × num_mini_batch PPO-clip updates of its own actor, with its advantage
multiplied by M = Π_{j before i_m} π_j,new(a_j)/π_j,old(a_j): the ratios of the agents
already updated in this iteration, evaluated after their update, detached, over the whole
rollout. This is the multi-agent advantage decomposition that makes HAPPO's joint
update monotonic (Kuba et al., 2021, Alg. 1). The critic is trained afterwards exactly
as in MAPPO (same value loss and ValueNorm). With independent critics (no `--share_policy`)
everything is per agent, as in MAPPO: advantages normalised over each agent's own entries,
one ValueNorm and one critic gradient clip per agent; every actor has its own Adam and clip
whatever `--share_policy` says.
"""
from __future__ import annotations

import torch

from onpolicy.algorithms.mappo.trainer import PPOTrainer, clip_grad_norms, make_adam
from onpolicy.algorithms.utils.metrics import mean_of
from onpolicy.algorithms.utils.ppo import clipped_surrogate, masked_mean
from onpolicy.utils.buffer import Batch, RolloutBuffer


def rollout_batch(buffer: RolloutBuffer, advantages: torch.Tensor) -> Batch:
    """The whole rollout as one Batch: a single chunk of length L = T per env (B = E).

    Recurrent actors replay each env's full sequence from the rollout's initial RNN state,
    so log-probs are those of the current policy on the true histories.
    """
    b = buffer
    return Batch(obs=b.obs[:-1], state=b.state[:-1], avail=None if b.avail is None else b.avail[:-1],
                 actions=b.actions, old_log_probs=b.log_probs, value_preds=b.value_preds[:-1],
                 returns=b.returns, advantages=advantages, masks=b.masks[:-1], active_masks=b.active_masks[:-1],
                 rnn_actor=b.rnn_actor[0], rnn_critic=b.rnn_critic[0])


class HAPPOTrainer(PPOTrainer):
    """Sequential per-agent PPO with one Adam per actor (`actor_<i>`) and MAPPO's critic update.

    Logged metrics are averaged over agents (never keyed by position in the order, which
    changes every iteration): policy_loss, entropy, ratio, approx_kl, actor_grad_norm, the
    mean/std of the factors the agents were trained with, joint_ratio (the final product of
    all agents' ratios), value_loss and critic_grad_norm.
    """

    def __init__(self, cfg, policy, generator: torch.Generator):
        super().__init__(cfg, policy, generator)
        # One optimizer per agent: an agent's turn steps (and clips) only its own actor.
        self.actor_optimizers = {f"actor_{i}": make_adam(policy.agent_actor_parameters(i), cfg.lr, cfg)
                                 for i in range(policy.env.n_agents)}

    def train(self, buffer: RolloutBuffer) -> dict[str, float]:
        advantages = self.normalized_advantages(buffer)
        factor = torch.ones_like(advantages[:, :, :1])  # (T, E, 1, 1), broadcast over agents
        order = torch.randperm(self.policy.env.n_agents, generator=self.generator).tolist()
        agent_metrics = []
        for agent in order:
            agent_metrics.append(self.train_agent(buffer, agent, advantages, factor))
            factor = factor * self.rollout_ratio(buffer, agent)
        metrics = {**mean_of(agent_metrics, read=False), "joint_ratio": factor.mean(),
                   **self.train_critic(buffer, advantages)}
        return mean_of([metrics])  # the only read of this update's metrics

    def train_agent(self, buffer: RolloutBuffer, agent: int, advantages: torch.Tensor,
                    factor: torch.Tensor) -> dict[str, torch.Tensor]:
        """ppo_epoch × num_mini_batch PPO-clip updates of one actor on advantages (T, E, N, 1) × factor."""
        active = buffer.active_masks[:-1, :, agent]
        mean = masked_mean(factor[:, :, 0], active)
        std = masked_mean((factor[:, :, 0] - mean) ** 2, active).sqrt()
        stats = {"factor_mean": mean, "factor_std": std}
        # M > 0, so M·min(r·A, clip(r)·A) = min(r·MA, clip(r)·MA): PPO-clip on the corrected advantage.
        corrected = advantages * factor
        records = []
        for _ in range(self.cfg.ppo_epoch):
            for batch in buffer.minibatches(self.cfg.num_mini_batch, self.chunk_length(), corrected, self.generator):
                records.append(self.update_agent(batch, agent))
        return {**mean_of(records, read=False), **stats}

    def update_agent(self, batch: Batch, agent: int) -> dict[str, torch.Tensor]:
        """One PPO-clip step of `agent`'s actor on a Batch (L, B, N, ·) whose advantages carry the factor."""
        log_probs, entropy = self.policy.evaluate_agent(batch, agent)
        active = batch.active_masks[:, :, agent]
        log_ratio = log_probs - batch.old_log_probs[:, :, agent]
        ratio = log_ratio.exp()
        weights = self.policy_mask(batch)[:, :, agent]
        policy_loss = masked_mean(clipped_surrogate(ratio, batch.advantages[:, :, agent], self.cfg.clip_param), weights)
        entropy = masked_mean(entropy, weights)
        optimizer = self.actor_optimizers[f"actor_{agent}"]
        optimizer.zero_grad()
        (policy_loss - self.cfg.entropy_coef * entropy).backward()
        grad_norm = clip_grad_norms(self.clip_groups(f"actor_{agent}"), self.cfg.max_grad_norm)
        optimizer.step()
        return {"policy_loss": policy_loss, "entropy": entropy, "actor_grad_norm": grad_norm,
                "ratio": masked_mean(ratio, active), "approx_kl": masked_mean(-log_ratio, active)}

    @torch.no_grad()
    def rollout_ratio(self, buffer: RolloutBuffer, agent: int) -> torch.Tensor:
        """π_new(a)/π_old(a) of one agent over the whole rollout, (T, E, 1, 1); 1 where it is inactive."""
        batch = rollout_batch(buffer, buffer.advantages)
        log_probs, _ = self.policy.evaluate_agent(batch, agent)
        log_ratio = (log_probs - batch.old_log_probs[:, :, agent]) * batch.active_masks[:, :, agent]
        return log_ratio.exp().unsqueeze(2)

    def train_critic(self, buffer: RolloutBuffer, advantages: torch.Tensor) -> dict[str, torch.Tensor]:
        """MAPPO's critic update: ppo_epoch × num_mini_batch steps of the (clipped, Huber) value loss."""
        cfg, critic = self.cfg, self.policy.critic
        records = []
        for _ in range(cfg.ppo_epoch):
            for batch in buffer.minibatches(cfg.num_mini_batch, self.chunk_length(), advantages, self.generator):
                values, _ = critic(self.policy.critic_input(batch.obs, batch.state), batch.rnn_critic, batch.masks)
                records.append(self.critic_step(batch, values))
        return mean_of(records, read=False)
