"""The off-policy trainer of agentmixer_sac and masac: soft actor-critic on the joint policy, from a replay.

It receives each rollout from the shared runner, appends it to the replay (onpolicy/utils/replay.py) and
takes --utd_ratio · T · E gradient steps (rounded), each on --batch_size transitions sampled with their
--n_step returns (none during the first --warmup_steps env steps, which act uniformly at random):

1. critics: both Q_k regress the soft target y = R + γ^n (1 − terminated) (min_k Q̄_k(s', a') − α log π(a'|s')),
   a' ~ π(·|s'), Q̄ the Polyak targets (HARL soft_twin_continuous_q_critic.py `train`: the sum of the two
   critics' losses, squared error as its tuned MA-MuJoCo configs set use_huber_loss false);
2. actors and PM in one backward pass: minimise E[α log π(a|s) − min_k Q_k(s, a)], a reparameterised from
   the joint policy (the PM, AgentMixer-SAC only, gets its gradient through the std it sets);
3. temperature: minimise −log α · (log π(a|s) + H̄) with H̄ = −dim(joint action) (--auto_alpha);
4. targets: Q̄ ← (1 − τ) Q̄ + τ Q (--polyak), after every gradient step.

Where HASAC updates agents one after another, each with its own α, the joint policy here is one policy
(the PM couples its agents' stds), so it has one loss, one backward pass and one α for the team.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from onpolicy.algorithms.mappo.trainer import load_optimizers, make_adam
from onpolicy.algorithms.sac.critic import polyak_update
from onpolicy.algorithms.utils.metrics import MetricMeans
from onpolicy.config import gradient_steps_per_rollout
from onpolicy.utils.buffer import RolloutBuffer
from onpolicy.utils.replay import ReplayBatch, ReplayBuffer


def soft_bellman_target(returns, bootstrap_discount, next_q, next_log_prob, alpha) -> torch.Tensor:
    """y = R + d · (Q̄(s', a') − α log π(a'|s')), all (B, 1).

    d = γ^n after n steps that end in a non-terminal state (a cut by the time limit included: its next
    state is where the episode was cut), 0 after a termination: nothing follows a terminal state.
    """
    return returns + bootstrap_discount * (next_q - alpha * next_log_prob)


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """−log α · E[log π + H̄], log π detached: α grows while the entropy −log π is below H̄, shrinks above."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


def rollout_transitions(buffer: RolloutBuffer) -> dict[str, torch.Tensor]:
    """The rollout's T × E team transitions as the replay stores them, each field (T, E, ·).

    masks[t+1] = 0: the episode ended at step t; bad_masks[t+1] = 0: it was cut by the time limit (the
    runner leaves bad_masks at 1 under --no-use_proper_time_limits, which makes a cut a termination).
    next_obs[t] is the observation step t reached, before any auto-reset. The team reward is the agents'
    mean (the same number on the team-reward envs).
    """
    ended = 1 - buffer.masks[1:, :, 0, 0]
    cut = 1 - buffer.bad_masks[1:, :, 0, 0]
    return {"obs": buffer.obs[:-1], "state": buffer.state[:-1, :, 0], "actions": buffer.actions,
            "rewards": buffer.rewards[..., 0].mean(-1), "next_obs": buffer.next_obs,
            "next_state": buffer.next_state[:, :, 0], "ended": ended, "terminated": ended * (1 - cut)}


class SACTrainer:
    """Adams for actors, PM (agentmixer_sac), critics and log α; the replay and its sampling generator.

    Gradient norms are clipped to --max_grad_norm per optimizer; metrics are means over the update's
    gradient steps (none during the warm-up), plus α, the replay's size and the gradient steps so far."""

    def __init__(self, cfg, policy, generator: torch.Generator):
        self.cfg, self.policy, self.generator = cfg, policy, generator
        device = policy.action_low.device
        self.actor_optimizers = {"actor": make_adam(policy.actor_parameters(), cfg.lr, cfg)}
        if policy.uses_modifier:
            self.actor_optimizers["modifier"] = make_adam(policy.modifier.parameters(), cfg.mixer_lr, cfg)
        self.critic_optimizer = make_adam(policy.critic.parameters(), cfg.critic_lr, cfg)
        # log α starts at 0 (α = 1), as HARL's does; HARL's temperature Adam has torch's default eps.
        self.log_alpha = torch.zeros((), device=device, requires_grad=True)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        env = policy.env
        self.replay = ReplayBuffer(cfg.buffer_size, cfg.n_rollout_threads, env.n_agents, env.obs_dim, env.state_dim,
                                   policy.act_dim, device)
        # Replay indices come from a generator of their own on the device: no host round trip per step.
        self.sample_generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self.gradient_steps = 0
        self.sync_exploration()

    # -- runner hooks ----------------------------------------------------------------------------
    def set_progress(self, progress: float) -> None:
        """Nothing follows a schedule."""

    def denormalize(self):
        return None  # the runner's GAE pass over the (zero) values is unused

    # -- training --------------------------------------------------------------------------------
    def alpha(self) -> torch.Tensor:
        """The entropy temperature α (a 0-dim tensor): learned with --auto_alpha, else --alpha."""
        if self.cfg.auto_alpha:
            return self.log_alpha.detach().exp()
        return torch.tensor(self.cfg.alpha, device=self.log_alpha.device)

    def transitions_seen(self) -> int:
        """Transitions ever added to the replay (env steps of the run so far)."""
        return self.replay.rows_written * self.replay.n_envs

    def sync_exploration(self) -> None:
        """Act uniformly at random until the replay has seen --warmup_steps transitions."""
        self.policy.explore_uniformly = self.transitions_seen() < self.cfg.warmup_steps

    def train(self, buffer: RolloutBuffer) -> dict[str, float]:
        cfg = self.cfg
        self.replay.add(rollout_transitions(buffer))
        totals = MetricMeans()
        if self.transitions_seen() >= cfg.warmup_steps:  # HARL trains only after its random warm-up
            for _ in range(gradient_steps_per_rollout(cfg)):
                batch = self.replay.sample(cfg.batch_size, cfg.n_step, cfg.gamma, self.sample_generator)
                totals.add(self.update(batch))
                self.gradient_steps += 1
        self.sync_exploration()
        metrics = totals.means()
        metrics.update(alpha=float(self.alpha()), replay_transitions=float(len(self.replay)),
                       gradient_steps=float(self.gradient_steps))
        return metrics

    def update(self, batch: ReplayBatch) -> dict[str, torch.Tensor]:
        """One gradient step of critics, actors (+ PM), temperature and targets; metrics as 0-dim tensors."""
        metrics = self.critic_step(batch)
        log_prob, actor_metrics = self.actor_step(batch)
        metrics.update(actor_metrics)
        if self.cfg.auto_alpha:
            loss = temperature_loss(self.log_alpha, log_prob, self.policy.target_entropy)
            self.alpha_optimizer.zero_grad()
            loss.backward()
            self.alpha_optimizer.step()
            metrics["alpha_loss"] = loss.detach()
        polyak_update(self.policy.target_critic, self.policy.critic, self.cfg.polyak)
        return metrics

    def critic_step(self, batch: ReplayBatch) -> dict[str, torch.Tensor]:
        policy, alpha = self.policy, self.alpha()
        with torch.no_grad():
            next_actions, next_log_prob = policy.joint_log_prob(policy.joint_distribution(batch.next_obs,
                                                                                          batch.next_state))
            next_q = torch.min(*policy.q_values(batch.next_state, next_actions, target=True))
            target = soft_bellman_target(batch.returns, batch.bootstrap_discount, next_q, next_log_prob, alpha)
        q1, q2 = policy.q_values(batch.state, batch.actions)
        loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(policy.critic.parameters(), self.cfg.max_grad_norm)
        self.critic_optimizer.step()
        return {"critic_loss": loss.detach(), "q_mean": q1.detach().mean(), "target_mean": target.mean(),
                "critic_grad_norm": grad_norm, "n_step_mean": batch.steps.mean()}

    def actor_step(self, batch: ReplayBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Actors and PM in one backward pass on the reparameterised joint policy; the critics are frozen
        for it (their gradients would be thrown away)."""
        policy = self.policy
        dist = policy.joint_distribution(batch.obs, batch.state)
        actions, log_prob = policy.joint_log_prob(dist)
        policy.critic.requires_grad_(False)
        q = torch.min(*policy.q_values(batch.state, actions))
        policy.critic.requires_grad_(True)
        loss = (self.alpha() * log_prob - q).mean()
        for optimizer in self.actor_optimizers.values():
            optimizer.zero_grad()
        loss.backward()
        metrics = {"policy_loss": loss.detach(), "entropy": -log_prob.detach().mean(),
                   "exploration_std_train": dist.std.detach().mean()}
        for name, optimizer in self.actor_optimizers.items():
            params = [p for group in optimizer.param_groups for p in group["params"]]
            metrics[f"{name}_grad_norm"] = nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
            optimizer.step()
        return log_prob, metrics

    # -- checkpoints -------------------------------------------------------------------------------
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**self.actor_optimizers, "critic": self.critic_optimizer, "alpha": self.alpha_optimizer}

    def state_dict(self) -> dict:
        """Networks (online and target), optimizers, α, the replay's contents and its sampling generator,
        so a resumed run continues exactly."""
        return {"policy": self.policy.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
                "log_alpha": self.log_alpha.detach().clone(), "replay": self.replay.state_dict(),
                "sample_generator": self.sample_generator.get_state(), "gradient_steps": self.gradient_steps}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        load_optimizers(self.optimizers(), state["optimizers"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.replay.load_state_dict(state["replay"])
        self.sample_generator.set_state(state["sample_generator"])
        self.gradient_steps = int(state["gradient_steps"])
        self.sync_exploration()
