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

`--pm_gumbel_noise` stores, the same way, a Gumbel(0, 1) draw per env step, agent and action that
the discrete joint logits add to log π_i (see `discrete_joint_logits`): the joint policy is then
the categorical given that draw, so PPO re-evaluates exactly the policy that acted.

With recurrent policies the PM encodes the state with a GRU of its own (the authors'
setting). Its hidden state travels with the actors' in one actor-side RNN tensor
(E, N, 2·recurrent_N, hidden_size): the actors' GRU layers first, the PM's after them.
"""
from __future__ import annotations

import torch
from gymnasium import spaces

from onpolicy.algorithms.agentmixer.joint_policy import (consistency_kl, continuous_joint, discrete_joint_logits,
                                                         igc_mode_margin, igc_violation_rate, masked_log_probs,
                                                         pm_policy_input, sample_gumbel)
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
        width = policy_param_dim(env.action_space)
        self.gumbel = self.discrete and cfg.pm_gumbel_noise
        self.stored_extras = {**({"pm_noise": self.noise_dim} if self.noise_dim else {}),
                              **({"pm_gumbel": width} if self.gumbel else {})}
        self.pm_layers = cfg.recurrent_N if cfg.use_recurrent_policy else 0
        self.modifier = PolicyModifier(env.n_agents, env.state_dim + self.noise_dim, width, self.actor.feature_dim,
                                       width, pm_type=cfg.pm_type, n_blocks=cfg.pm_blocks,
                                       recurrent_N=self.pm_layers, state_hidden=cfg.hidden_size,
                                       layer_N=cfg.layer_N)
        if self.pm_layers:
            self.rnn_shape = (cfg.recurrent_N + self.pm_layers, cfg.hidden_size)
        self.temperature = cfg.temperature  # the trainer moves it along its schedule

    def split_rnn(self, rnn_actor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Actor-side RNN state (B, N, R + R_pm, H) -> the actors' (B, N, R, H), the PM's or None."""
        if not self.pm_layers:
            return rnn_actor, None
        return rnn_actor[:, :, : -self.pm_layers], rnn_actor[:, :, -self.pm_layers :]

    def join_rnn(self, actor_rnn: torch.Tensor, pm_rnn: torch.Tensor | None) -> torch.Tensor:
        return actor_rnn if pm_rnn is None else torch.cat([actor_rnn, pm_rnn], dim=2)

    def sample_noise(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        """The per-step random inputs of the joint policy, as the buffer stores them: the correlation
        device's draw per env, shared by its agents (E, N, k), and the Gumbel draw per env, agent and
        action (E, N, A), each only when its flag is on."""
        E, N = state.shape[:2]
        extras = {}
        if self.noise_dim:
            extras["pm_noise"] = torch.randn(E, 1, self.noise_dim, device=state.device).expand(E, N, -1)
        if self.gumbel:
            extras["pm_gumbel"] = sample_gumbel((E, N, self.stored_extras["pm_gumbel"]), device=state.device)
        return extras

    def joint_distribution(self, obs, state, rnn_actor, masks, avail, noise=None, gumbel=None):
        """π_joint from (L, B, N, ·) inputs (noise: the correlation device's draw, gumbel: the Gumbel draw):
        (distribution, rnn_actor, IGC diagnostics (discrete only), KL(stop-grad π_joint,i ‖ π_i)
        (L, B, N, 1) when --igc_consistency_coef is on, else None)."""
        cfg = self.cfg
        actor_rnn, pm_rnn = self.split_rnn(rnn_actor)
        params, features, actor_rnn = self.actor(obs, actor_rnn, masks)
        state_features, pm_rnn = self.modifier.encode_state(
            state if noise is None else torch.cat([state, noise], dim=-1), pm_rnn, masks)
        rnn_actor = self.join_rnn(actor_rnn, pm_rnn)
        lead, N = params.shape[:2], params.shape[2]
        flat = lambda x: None if x is None else x.reshape(-1, N, x.shape[-1])  # noqa: E731  (L·B, N, ·)
        if self.discrete:
            log_probs = masked_log_probs(flat(params), flat(avail))
            h = self.modifier.mix(flat(state_features), pm_policy_input(log_probs, flat(avail)), flat(features))
            form = dict(strict=cfg.igc_strict, mode_preserving=cfg.igc_mode_preserving)
            joint = discrete_joint_logits(log_probs, h, flat(avail), cfg.sigmoid_gain, cfg.mix_std_y_coef,
                                          self.temperature, gumbel=flat(gumbel), **form)
            # With sampled Gumbel noise the joint policy is the average over draws; its mode is the argmax
            # of the logits with the draw set to 0 (discrete_joint_logits), so IGC is measured there.
            modal = joint if gumbel is None else discrete_joint_logits(
                log_probs.detach(), h.detach(), flat(avail), cfg.sigmoid_gain, cfg.mix_std_y_coef, self.temperature,
                gumbel=torch.zeros_like(log_probs), **form)
            igc = {"igc_violation_rate": igc_violation_rate(modal, log_probs, flat(avail)),
                   "igc_mode_margin": igc_mode_margin(log_probs, flat(avail))}
            consistency = (consistency_kl(joint, log_probs).reshape(*lead, N, 1)
                           if cfg.igc_consistency_coef else None)
            return MaskedCategorical(joint.reshape(*lead, N, -1)), rnn_actor, igc, consistency
        h = self.modifier.mix(flat(state_features), flat(params), flat(features))
        mean, std = continuous_joint(params, h.reshape(params.shape), cfg.sigmoid_gain, cfg.mix_std_y_coef)
        return DiagGaussian(mean, std), rnn_actor, {}, None  # IGC holds exactly: the joint mode is the mean

    def act_decentralized(self, obs, rnn_actor, masks, avail, deterministic: bool = True):
        """The individual policies only; the PM's part of the RNN state passes through untouched."""
        actor_rnn, pm_rnn = self.split_rnn(rnn_actor)
        actions, actor_rnn = super().act_decentralized(obs, actor_rnn, masks, avail, deterministic)
        return actions, self.join_rnn(actor_rnn, pm_rnn)

    @torch.no_grad()
    def individual_action_probs(self, obs, avail) -> torch.Tensor:
        o, a = add_time(obs, avail)
        rnn, masks = self.episode_start(obs)
        params, _, _ = self.actor(o, self.split_rnn(rnn)[0], masks)
        return self.actor.distribution(params, a).dist.probs[0]

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        extras = self.sample_noise(state)
        o, s, m, a, z, g = add_time(obs, state, masks, avail, extras.get("pm_noise"), extras.get("pm_gumbel"))
        dist, rnn_actor, igc, _ = self.joint_distribution(o, s, rnn_actor, m, a, z, g)
        actions = dist.mode() if deterministic else dist.sample()
        values, rnn_critic = self.values(obs, state, rnn_critic, masks)
        return ActResult(actions[0], dist.log_prob(actions)[0], values, rnn_actor, rnn_critic, igc, extras)

    def evaluate(self, batch: Batch) -> EvalResult:
        dist, _, _, consistency = self.joint_distribution(batch.obs, batch.state, batch.rnn_actor, batch.masks,
                                                          batch.avail, batch.extras.get("pm_noise"),
                                                          batch.extras.get("pm_gumbel"))
        values, _ = self.critic(self.critic_input(batch.obs, batch.state), batch.rnn_critic, batch.masks)
        info = {} if consistency is None else {"igc_consistency_kl": consistency}
        return EvalResult(dist.log_prob(batch.actions), dist.entropy(), values, info)

    @torch.no_grad()
    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """Per-agent joint-policy probabilities (S, N, A) for the first env's input, one row per
        correlation-device or Gumbel draw (S = 1 without either); the joint distribution is their mean product."""
        samples = DIAGNOSTIC_NOISE_SAMPLES if self.noise_dim or self.gumbel else 1
        obs, state, avail = (None if x is None else x[:1].expand(samples, *x.shape[1:]) for x in (obs, state, avail))
        extras = self.sample_noise(state)
        o, s, a, z, g = add_time(obs, state, avail, extras.get("pm_noise"), extras.get("pm_gumbel"))
        dist, _, _, _ = self.joint_distribution(o, s, *self.episode_start(obs), a, z, g)
        return dist.dist.probs[0]
