"""AgentMixer's trainer: PPO on the joint ratio, PM and actors in one backward pass."""
from __future__ import annotations

import math

import torch

from onpolicy.algorithms.mappo.trainer import PPOTrainer, make_adam
from onpolicy.algorithms.utils.ppo import clipped_surrogate, masked_mean
from onpolicy.utils.buffer import Batch


def run_updates(cfg) -> int:
    """The number of PPO updates in a run, counted as the runner counts them."""
    return math.ceil(cfg.num_env_steps / (cfg.episode_length * cfg.n_rollout_threads))


def decay_factor(ramp: float) -> float:
    """The authors' `--decay_factor` for a ramp fraction: 1 / ramp to 12 significant digits, so that
    the default ramp 2/3 (a float a little below 2/3) gives exactly their 1.5."""
    return float(f"{1 / ramp:.12g}")


def cosine_rise(t_start: float, t_end: float, factor: float, update: int, n_updates: int) -> float:
    """The authors' predator-prey temperature (`--decay_id 1`) at update `update` of `n_updates`.

    Half a cosine from t_start (update 0) up to t_end, reached when update · factor = n_updates - 1
    (2/3 of the run for factor 1.5), then t_end while update · factor <= n_updates, and t_end
    after that. Written as LiZhYun/BackPropagationThroughAgents bta/runner/temporal/predator_runner.py:46-50
    @b7a9cb8 computes it (their 0.1 is our t_start, their --temperature our t_end), operation for
    operation so that the floats agree; their update count is predator_runner.py:35-36@b7a9cb8.
    """
    if update * factor > n_updates:
        return t_end
    if n_updates == 1:  # their (E - 1) denominator is 0; at update 0 the formula gives t_start for any E > 1
        return t_start
    return t_start + (t_end - t_start) * (1 + math.cos(math.pi * (update * factor) / (n_updates - 1) + math.pi)) / 2


def temperature_at(cfg, update: int, n_updates: int) -> float:
    """Softmax temperature T of the joint policy at PPO update `update` (0-based) of `n_updates`.

    constant: --temperature. linear: --temperature_start to --temperature by --temperature_ramp of the
    run. cosine_rise: the authors' predator-prey schedule (`cosine_rise` above, decay factor 1 / ramp).
    cosine_dip: this project's earlier schedule, kept so that old runs can be replayed: a half cosine
    from --temperature down to --temperature_min at the ramp, rising again after it.
    """
    schedule = cfg.temperature_schedule
    if schedule == "constant":
        return cfg.temperature
    if schedule == "cosine_rise":
        return cosine_rise(cfg.temperature_start, cfg.temperature, decay_factor(cfg.temperature_ramp), update,
                           n_updates)
    progress = update / n_updates  # the runner's progress, as the earlier schedules read it
    if schedule == "cosine_dip":
        cosine = (1 + math.cos(math.pi * progress / cfg.temperature_ramp)) / 2
        return cfg.temperature_min + cosine * (cfg.temperature - cfg.temperature_min)
    if schedule == "linear":
        frac = min(progress / cfg.temperature_ramp, 1.0)
        return cfg.temperature_start + frac * (cfg.temperature - cfg.temperature_start)
    raise ValueError(f"unknown temperature_schedule {schedule!r}; choose constant, linear, cosine_rise or cosine_dip")


class AgentMixerTrainer(PPOTrainer):
    """Joint ratio r = Π_i π_joint,i(a_i)/π_old,i(a_i) times each agent's own advantage (with
    --no-joint_ratio each agent's own factor r_i instead, as MAPPO).

    Advantages are normalised per agent (agent-specific critics), with or without
    --share_policy. Without it each agent's critic also has its own ValueNorm and each
    agent's actor and critic their own gradient clip (PPOTrainer); the Policy Modifier,
    one network for all agents, is clipped on its own (`modifier_grad_norm`). The loss is averaged
    over agents rather than summed, as in MAPPO, so the entropy and clipping scales
    match the baselines'; under Adam this only rescales the gradient norm.
    """

    per_agent_advantages = True

    def __init__(self, cfg, policy, generator: torch.Generator):
        super().__init__(cfg, policy, generator)
        self.actor_optimizers["modifier"] = make_adam(policy.modifier.parameters(), cfg.mixer_lr, cfg)

    def set_progress(self, progress: float) -> None:
        """The runner passes updates done / updates in the run; the schedule reads the update index,
        recovered exactly (progress · n is within a few ulps of an integer)."""
        n_updates = run_updates(self.cfg)
        self.policy.temperature = temperature_at(self.cfg, round(progress * n_updates), n_updates)
        # --pm_warmup: at lr 0 Adam leaves the PM's weights exactly as they are (its moments still track).
        for group in self.actor_optimizers["modifier"].param_groups:
            group["lr"] = 0.0 if progress < self.cfg.pm_warmup else self.cfg.mixer_lr

    def actor_loss(self, batch: Batch, result) -> tuple[torch.Tensor, dict]:
        # Dead agents contribute factor 1 to the product (their log-ratio is masked to 0).
        agent_log_ratio = (result.log_probs - batch.old_log_probs) * batch.active_masks  # (L, B, N, 1)
        log_ratio = agent_log_ratio.sum(dim=2, keepdim=True)
        joint = torch.exp(log_ratio).expand_as(batch.advantages)
        # The product clips the team's step: one agent's large factor stops every agent's gradient.
        ratio = joint if self.cfg.joint_ratio else torch.exp(agent_log_ratio)
        loss = masked_mean(clipped_surrogate(ratio, batch.advantages, self.cfg.clip_param), self.policy_mask(batch))
        metrics = {"joint_ratio": joint.mean(), "approx_kl": -log_ratio.mean(), "temperature": self.policy.temperature}
        if "igc_consistency_kl" in result.info:  # --igc_consistency_coef: the actors follow the joint policy
            consistency = masked_mean(result.info["igc_consistency_kl"], self.policy_mask(batch))
            loss = loss + self.cfg.igc_consistency_coef * consistency
            metrics["igc_consistency_kl"] = consistency
        return loss, metrics
