"""ARMAPPO: auto-regressive MAPPO, agent i's actor also sees the actions of agents 0..i-1.

As in the AgentMixer authors' ar_mappo (bta/algorithms/ar_mappo/algorithm/r_actor_critic.py@ecc9a14
of LiZhYun/BackPropagationThroughAgents), the other agents' actions enter the action head, not the
trunk: agent i's trunk (input LayerNorm, MLP, GRU; MAPPO's) reads its own observation o_i only
(:55-56, :63-65), and its action head is a Linear on [trunk features, c_i] (:81, :85, :138-139)
with the context c_i ∈ R^{(N-1)·K}. Here block j < i of c_i holds agent j's action encoding
(one-hot for Discrete, K = A; the raw vector for Box, K = Da) and blocks j ≥ i are zero; theirs
holds the N-1 other agents' actions times an execution mask that zeroes those not yet taken,
the same information in another order. Rollouts decode agents 0, 1, …, N-1 in this fixed order;
`evaluate` feeds the stored actions (teacher forcing), so PPO's per-agent ratios are those of
π_i(a_i | τ_i, a_0..a_{i-1}). As the trunk does not see the context, it (and its GRU) runs once
per step, and only the heads run once per agent.

ARMAPPO is NOT decentralized at execution: agent i must receive the actions of the agents
before it (the registry marks it decentralized=False). `act_decentralized` still works, by
decoding sequentially, so the runner's evaluation and the matrix diagnostics run unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from onpolicy.algorithms.mappo.policy import ActResult, EvalResult, MAPPOPolicy, add_time
from onpolicy.algorithms.utils.distributions import (DIAGNOSTIC_SAMPLES, ActionHead, DiagGaussian,
                                                     MaskedCategorical, autoregressive_rows, policy_param_dim)
from onpolicy.algorithms.utils.multi_agent import apply_per_agent, run_per_agent, with_agent_id
from onpolicy.algorithms.utils.networks import FeatureExtractor
from onpolicy.utils.buffer import Batch


class AutoRegressiveActor(nn.Module):
    """Per-agent (or shared) trunks on the agents' own observations and action heads on
    [trunk features, preceding agents' actions]: the authors' ar_mappo R_Actor."""

    def __init__(self, obs_dim: int, context_dim: int, action_space: spaces.Space, n_agents: int, shared: bool,
                 hidden_size: int, layer_N: int, recurrent: bool, recurrent_N: int, gain: float = 0.01,
                 agent_id: bool = False, std_x_coef: float = 1.0, std_y_coef: float = 0.5):
        super().__init__()
        n_nets = 1 if shared else n_agents
        self.agent_id = agent_id
        in_dim = obs_dim + (n_agents if agent_id else 0)
        self.trunks = nn.ModuleList(FeatureExtractor(in_dim, hidden_size, layer_N, recurrent, recurrent_N)
                                    for _ in range(n_nets))
        self.feature_dim = self.trunks[0].output_dim
        self.heads = nn.ModuleList(ActionHead(self.feature_dim + context_dim, action_space, gain, std_x_coef,
                                              std_y_coef) for _ in range(n_nets))
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.n_agents = n_agents

    def forward(self, obs, hidden, masks):
        """obs (L, B, N, Do) -> trunk features (L, B, N, F), hidden (B, N, R, H)."""
        return run_per_agent(self.trunks, with_agent_id(obs) if self.agent_id else obs, hidden, masks)

    def params(self, features: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Features (..., N, F) and contexts (..., N, C) -> distribution parameters (..., N, P)."""
        return apply_per_agent([h.params for h in self.heads], torch.cat([features, context], dim=-1))

    def std(self) -> torch.Tensor:
        """Per-agent Gaussian std (N, Da) (continuous actions only)."""
        return torch.stack([h.std() for h in self.heads]).expand(self.n_agents, -1)

    def distribution(self, params: torch.Tensor, avail: torch.Tensor | None):
        if self.discrete:
            return MaskedCategorical(params, avail)
        return DiagGaussian(params, self.std())


class ARMAPPOPolicy(MAPPOPolicy):
    def __init__(self, cfg, env):
        self.discrete = isinstance(env.action_space, spaces.Discrete)
        self.encoding_dim = policy_param_dim(env.action_space)  # A (one-hot) or Da (raw action)
        super().__init__(cfg, env)
        # preceding[i, j] = 1 iff agent j acts before agent i: which context blocks agent i sees.
        self.register_buffer("preceding", torch.ones(env.n_agents, env.n_agents - 1).tril(-1), persistent=False)

    def make_actor(self, input_dim: int, shared: bool) -> AutoRegressiveActor:
        """MAPPO's actor trunk on the observation; heads that also read the preceding agents' actions."""
        cfg = self.cfg
        return AutoRegressiveActor(input_dim, (self.env.n_agents - 1) * self.encoding_dim, self.env.action_space,
                                   self.env.n_agents, shared, cfg.hidden_size, cfg.layer_N, cfg.use_recurrent_policy,
                                   cfg.recurrent_N, agent_id=shared and not self.env.obs_has_agent_id,
                                   std_x_coef=cfg.std_x_coef, std_y_coef=cfg.std_y_coef)

    def encode_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions (..., Da) -> encodings (..., K): one-hot indices or the raw vectors."""
        if self.discrete:
            return F.one_hot(actions.squeeze(-1).long(), self.encoding_dim).float()
        return actions

    def context(self, encoded: torch.Tensor) -> torch.Tensor:
        """Action encodings (..., N, K) -> the heads' contexts (..., N, (N-1)·K).

        Agent i's context keeps only the encodings of agents j < i, so later agents'
        entries (known or not yet decoded) never reach it.
        """
        others = encoded[..., :-1, :].unsqueeze(-3)  # (..., 1, N-1, K): agent N-1 precedes nobody
        return (others * self.preceding.unsqueeze(-1)).flatten(-2)

    def conditional_params(self, obs, encoded, rnn_actor=None, masks=None) -> torch.Tensor:
        """Every agent's distribution parameters (L, B, N, P) given the actions `encoded` (L, B, N, K)
        of the agents before it (feed-forward actors may leave rnn_actor and masks out)."""
        features, _ = self.actor(obs, rnn_actor, masks)
        return self.actor.params(features, self.context(encoded))

    def agent_distribution(self, params: torch.Tensor, avail: torch.Tensor | None, agent: int):
        """Agent `agent`'s distribution from all agents' params (..., N, P)."""
        if self.discrete:
            return MaskedCategorical(params[..., agent, :], None if avail is None else avail[..., agent, :])
        return DiagGaussian(params[..., agent, :], self.actor.std()[agent])

    def decode(self, obs, rnn_actor, masks, avail, deterministic: bool):
        """Sequential decoding on (1, E, N, ·) inputs, agent 0 first.

        The trunks run once; pass i runs the heads with the actions of agents 0..i-1 in the
        context and keeps agent i's output. Returns actions (1, E, N, Da), the per-agent
        distributions (each over (1, E, ·)) and the actors' next RNN states (E, N, R, H).
        """
        features, next_rnn = self.actor(obs, rnn_actor, masks)
        encoded = torch.zeros(*obs.shape[:-1], self.encoding_dim, device=obs.device)
        actions, dists = [], []
        for agent in range(self.env.n_agents):
            params = self.actor.params(features, self.context(encoded))
            dist = self.agent_distribution(params, avail, agent)
            action = dist.mode() if deterministic else dist.sample()
            encoded[..., agent, :] = self.encode_actions(action)  # safe in place: context() copies it
            actions.append(action)
            dists.append(dist)
        return torch.stack(actions, dim=-2), dists, next_rnn

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """Auto-regressive actions for one step (E, N, ·); log-probs are π_i(a_i | o_i, a_<i)."""
        o, m, a = add_time(obs, masks, avail)
        actions, dists, rnn_actor = self.decode(o, rnn_actor, m, a, deterministic)
        log_probs = torch.stack([d.log_prob(actions[..., i, :]) for i, d in enumerate(dists)], dim=-2)
        values, rnn_critic = self.values(obs, state, rnn_critic, masks)
        return ActResult(actions[0], log_probs[0], values, rnn_actor, rnn_critic)

    def act_decentralized(self, obs, rnn_actor, masks, avail, deterministic: bool = True):
        """Execution-time actions (E, N, Da), decoded sequentially: agent i uses agents 0..i-1's
        actions, so this is centralized execution despite the interface's name."""
        o, m, a = add_time(obs, masks, avail)
        actions, _, rnn_actor = self.decode(o, rnn_actor, m, a, deterministic)
        return actions[0], rnn_actor

    def evaluate(self, batch: Batch) -> EvalResult:
        """Teacher forcing: every agent is conditioned on the stored actions of the agents before it."""
        params = self.conditional_params(batch.obs, self.encode_actions(batch.actions), batch.rnn_actor, batch.masks)
        dist = self.actor.distribution(params, batch.avail)
        values, _ = self.critic(self.critic_input(batch.obs, batch.state), batch.rnn_critic, batch.masks)
        return EvalResult(dist.log_prob(batch.actions), dist.entropy(), values)

    @torch.no_grad()
    def individual_action_probs(self, obs, avail) -> torch.Tensor:
        """Per-agent probabilities (E, N, A) of agent i given the greedy actions of agents 0..i-1.

        Their argmax is the deterministic joint action. The policy is correlated, so the
        product of these conditionals is not its joint distribution.
        """
        o, a = add_time(obs, avail)
        _, dists, _ = self.decode(o, *self.episode_start(obs), a, deterministic=True)
        return torch.stack([d.dist.probs for d in dists], dim=-2)[0]

    @torch.no_grad()
    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """The sampling joint Σ_a0 π_0(a0) π_1(· | a0) ... for the first env's input, as S rows of
        sampled decodes (see autoregressive_rows), not the greedy conditionals' product."""
        obs, avail = (None if x is None else x[:1].expand(DIAGNOSTIC_SAMPLES, *x.shape[1:]) for x in (obs, avail))
        o, a = add_time(obs, avail)
        actions, dists, _ = self.decode(o, *self.episode_start(obs), a, deterministic=False)
        return autoregressive_rows(actions[0], dists[-1].dist.probs[0], self.encoding_dim)
