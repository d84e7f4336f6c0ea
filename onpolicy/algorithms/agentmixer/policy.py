"""AgentMixer: individual policies + a Policy Modifier forming a correlated joint policy.

Rollouts sample from the joint policy; evaluation uses only the individual policies
(inherited `act_decentralized`). Individual-Global-Consistency ties the two: the joint
policy's mode is (by construction, or measured in the non-strict discrete form) the
individual policies' mode, so improving the joint policy improves the individual ones.

The PM is a deterministic function of the state and the individual policies, so given
the state the joint policy is a product over agents: agents are correlated only through
the state. Where the state carries no randomness (a matrix game's constant state) that
is no correlation at all. `--pm_noise_dim k` adds a correlation device: a random signal
z ~ N(0, I_k), drawn per env step and shared by all agents' PM tokens, stored in the
buffer so PPO re-evaluates the same joint policy. Execution never sees it.
"""
from __future__ import annotations

import torch
from gymnasium import spaces

from onpolicy.algorithms.agentmixer.joint_policy import (continuous_joint, discrete_joint_logits,
                                                         igc_violation_rate, masked_log_probs, pm_policy_input)
from onpolicy.algorithms.agentmixer.policy_modifier import PolicyModifier
from onpolicy.algorithms.mappo.policy import ActResult, EvalResult, MAPPOPolicy, add_time
from onpolicy.algorithms.utils.distributions import DiagGaussian, MaskedCategorical, policy_param_dim
from onpolicy.utils.buffer import Batch

DIAGNOSTIC_NOISE_SAMPLES = 512  # correlation-device draws used to estimate the joint distribution


class AgentMixerPolicy(MAPPOPolicy):
    def __init__(self, cfg, env):
        super().__init__(cfg, env)
        self.discrete = isinstance(env.action_space, spaces.Discrete)
        self.noise_dim = cfg.pm_noise_dim
        if self.noise_dim:
            self.stored_extras = {"pm_noise": self.noise_dim}
        width = policy_param_dim(env.action_space)
        self.modifier = PolicyModifier(env.n_agents, env.state_dim + self.noise_dim, width, self.actor.feature_dim,
                                       width, pm_type=cfg.pm_type, n_blocks=cfg.pm_blocks)
        self.temperature = cfg.temperature  # the trainer moves it along its schedule

    def sample_noise(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        """One correlation-device draw per env, shared by its agents: (E, N, k)."""
        if not self.noise_dim:
            return {}
        E, N = state.shape[:2]
        return {"pm_noise": torch.randn(E, 1, self.noise_dim, device=state.device).expand(E, N, -1)}

    def joint_distribution(self, obs, state, rnn_actor, masks, avail, noise=None):
        """π_joint from (L, B, N, ·) inputs: (distribution, rnn_actor, IGC violation rate or None)."""
        cfg = self.cfg
        params, features, rnn_actor = self.actor(obs, rnn_actor, masks)
        lead, N = params.shape[:2], params.shape[2]
        flat = lambda x: None if x is None else x.reshape(-1, N, x.shape[-1])  # noqa: E731  (L·B, N, ·)
        pm_state = flat(state if noise is None else torch.cat([state, noise], dim=-1))
        if self.discrete:
            log_probs = masked_log_probs(flat(params), flat(avail))
            h = self.modifier(pm_state, pm_policy_input(log_probs, flat(avail)), flat(features))
            joint = discrete_joint_logits(log_probs, h, flat(avail), cfg.sigmoid_gain, cfg.mix_std_y_coef,
                                          self.temperature, strict=cfg.igc_strict)
            violation = igc_violation_rate(joint, log_probs, flat(avail))
            return MaskedCategorical(joint.reshape(*lead, N, -1)), rnn_actor, violation
        h = self.modifier(pm_state, flat(params), flat(features))
        mean, std = continuous_joint(params, h.reshape(params.shape), cfg.sigmoid_gain, cfg.mix_std_y_coef)
        return DiagGaussian(mean, std), rnn_actor, None

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        extras = self.sample_noise(state)
        o, s, m, a, z = add_time(obs, state, masks, avail, extras.get("pm_noise"))
        dist, rnn_actor, violation = self.joint_distribution(o, s, rnn_actor, m, a, z)
        actions = dist.mode() if deterministic else dist.sample()
        values, rnn_critic = self.values(obs, state, rnn_critic, masks)
        info = {} if violation is None else {"igc_violation_rate": violation}
        return ActResult(actions[0], dist.log_prob(actions)[0], values, rnn_actor, rnn_critic, info, extras)

    def evaluate(self, batch: Batch) -> EvalResult:
        dist, _, _ = self.joint_distribution(batch.obs, batch.state, batch.rnn_actor, batch.masks, batch.avail,
                                             batch.extras.get("pm_noise"))
        values, _ = self.critic(self.critic_input(batch.obs, batch.state), batch.rnn_critic, batch.masks)
        return EvalResult(dist.log_prob(batch.actions), dist.entropy(), values)

    @torch.no_grad()
    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """Per-agent joint-policy probabilities (S, N, A) for the first env's input, one row per
        correlation-device draw (S = 1 without one); the joint distribution is their mean product."""
        samples = DIAGNOSTIC_NOISE_SAMPLES if self.noise_dim else 1
        obs, state, avail = (None if x is None else x[:1].expand(samples, *x.shape[1:]) for x in (obs, state, avail))
        o, s, a, z = add_time(obs, state, avail, self.sample_noise(state).get("pm_noise"))
        dist, _, _ = self.joint_distribution(o, s, *self.episode_start(obs), a, z)
        return dist.dist.probs[0]
