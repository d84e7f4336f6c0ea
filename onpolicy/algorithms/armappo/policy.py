"""ARMAPPO: auto-regressive MAPPO, agent i's actor also sees the actions of agents 0..i-1.

Agent i's actor input is [o_i, c_i] with the context c_i ∈ R^{(N-1)·K}: block j < i holds
agent j's action encoding (one-hot for Discrete, K = A; the raw vector for Box, K = Da)
and blocks j ≥ i are zero, so one shared network can serve every position. Rollouts
decode agents 0, 1, …, N-1 in this fixed order; `evaluate` feeds the stored actions
(teacher forcing), so PPO's per-agent ratios are those of π_i(a_i | τ_i, a_0..a_{i-1}).

ARMAPPO is NOT decentralized at execution: agent i must receive the actions of the agents
before it (the registry marks it decentralized=False). `act_decentralized` still works, by
decoding sequentially, so the runner's evaluation and the matrix diagnostics run unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from gymnasium import spaces

from onpolicy.algorithms.mappo.policy import ActResult, EvalResult, MAPPOPolicy, add_time
from onpolicy.algorithms.utils.distributions import (DIAGNOSTIC_SAMPLES, DiagGaussian, MaskedCategorical,
                                                     autoregressive_rows, policy_param_dim)
from onpolicy.algorithms.utils.multi_agent import MultiAgentActor
from onpolicy.utils.buffer import Batch


class ARMAPPOPolicy(MAPPOPolicy):
    def __init__(self, cfg, env):
        self.discrete = isinstance(env.action_space, spaces.Discrete)
        self.encoding_dim = policy_param_dim(env.action_space)  # A (one-hot) or Da (raw action)
        super().__init__(cfg, env)
        # preceding[i, j] = 1 iff agent j acts before agent i: which context blocks agent i sees.
        self.register_buffer("preceding", torch.ones(env.n_agents, env.n_agents - 1).tril(-1), persistent=False)

    def make_actor(self, input_dim: int, shared: bool) -> MultiAgentActor:
        """MAPPO's actor with a wider input: observation + the preceding agents' action context."""
        return super().make_actor(input_dim + (self.env.n_agents - 1) * self.encoding_dim, shared)

    def encode_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions (..., Da) -> encodings (..., K): one-hot indices or the raw vectors."""
        if self.discrete:
            return F.one_hot(actions.squeeze(-1).long(), self.encoding_dim).float()
        return actions

    def actor_input(self, obs: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """obs (..., N, Do) and action encodings (..., N, K) -> actor inputs (..., N, Do + (N-1)·K).

        Agent i's context keeps only the encodings of agents j < i, so later agents'
        entries (known or not yet decoded) never reach it.
        """
        others = encoded[..., :-1, :].unsqueeze(-3)  # (..., 1, N-1, K): agent N-1 precedes nobody
        context = (others * self.preceding.unsqueeze(-1)).flatten(-2)  # (..., N, (N-1)·K)
        return torch.cat([obs, context], dim=-1)

    def agent_distribution(self, params: torch.Tensor, avail: torch.Tensor | None, agent: int):
        """Agent `agent`'s distribution from all agents' params (..., N, P)."""
        if self.discrete:
            return MaskedCategorical(params[..., agent, :], None if avail is None else avail[..., agent, :])
        return DiagGaussian(params[..., agent, :], self.actor.std()[agent])

    def decode(self, obs, rnn_actor, masks, avail, deterministic: bool):
        """Sequential decoding on (1, E, N, ·) inputs, agent 0 first.

        Pass i runs the actor with the actions of agents 0..i-1 in the context and keeps
        agent i's output. Returns actions (1, E, N, Da), the per-agent distributions (each
        over (1, E, ·)) and the actors' next RNN states (E, N, R, H).
        """
        n_agents = self.env.n_agents
        encoded = torch.zeros(*obs.shape[:-1], self.encoding_dim, device=obs.device)
        actions, dists, next_rnn = [], [], []
        for agent in range(n_agents):
            params, _, rnn = self.actor(self.actor_input(obs, encoded), rnn_actor, masks)
            dist = self.agent_distribution(params, avail, agent)
            action = dist.mode() if deterministic else dist.sample()
            encoded[..., agent, :] = self.encode_actions(action)  # safe in place: actor_input copies it
            actions.append(action)
            dists.append(dist)
            next_rnn.append(rnn[:, agent])
        return torch.stack(actions, dim=-2), dists, torch.stack(next_rnn, dim=1)

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
        x = self.actor_input(batch.obs, self.encode_actions(batch.actions))
        params, _, _ = self.actor(x, batch.rnn_actor, batch.masks)
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
