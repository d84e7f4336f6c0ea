"""Asymmetric imitation learning (AIL): a centralized expert π_E(a|s) taught to students π_i(a|o_i).

The expert is trained with PPO on the state from β-mixture rollouts; the students
imitate it and are what gets evaluated. When the expert relies on information the
students cannot see, imitation fails: the asymmetric learning failure AgentMixer avoids.
"""
from __future__ import annotations

import math

import torch

from onpolicy.algorithms.mappo.policy import ActResult, EvalResult, MAPPOPolicy, add_time
from onpolicy.algorithms.utils.multi_agent import MultiAgentActor
from onpolicy.utils.buffer import Batch


class AILPolicy(MAPPOPolicy):
    def __init__(self, cfg, env):
        super().__init__(cfg, env)  # self.actor: the students, on local observations
        # The per-agent state is one row copied to every agent on most envs: a shared expert needs
        # the agent id to give agents different actions (e.g. the penalty game's optimum).
        self.expert = MultiAgentActor(env.state_dim, env.action_space, env.n_agents, cfg.share_policy,
                                      cfg.hidden_size, cfg.layer_N, recurrent=False, recurrent_N=cfg.recurrent_N,
                                      agent_id=cfg.share_policy and not env.state_has_agent_id,
                                      std_x_coef=cfg.std_x_coef, std_y_coef=cfg.std_y_coef)
        self.beta = 1.0  # probability of acting with the expert; the trainer anneals it

    def actor_parameters(self):
        """PPO trains the expert; the students learn by imitation in the trainer."""
        return self.expert.parameters()

    def expert_distribution(self, state, avail):
        """π_E(·|s) on (L, B, N, ·) inputs (the expert is feed-forward: no RNN state)."""
        params, _, _ = self.expert(state, None, None)
        return self.expert.distribution(params, avail)

    def student_distribution(self, obs, rnn_actor, masks, avail):
        params, _, _ = self.actor(obs, rnn_actor, masks)
        return self.actor.distribution(params, avail)

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """Each agent acts with the expert w.p. β, else with its student; stores log μ(a)."""
        o, s, m, a = add_time(obs, state, masks, avail)
        expert = self.expert_distribution(s, a)
        params, _, rnn_actor = self.actor(o, rnn_actor, m)
        student = self.actor.distribution(params, a)
        pick = expert.mode() if deterministic else expert.sample()
        other = student.mode() if deterministic else student.sample()
        use_expert = torch.rand(pick.shape[:-1] + (1,), device=pick.device) < self.beta
        actions = torch.where(use_expert, pick, other)
        log_mix = torch.logaddexp(expert.log_prob(actions) + _log(self.beta),
                                  student.log_prob(actions) + _log(1 - self.beta))
        values, rnn_critic = self.values(obs, state, rnn_critic, masks)
        return ActResult(actions[0], log_mix[0], values, rnn_actor, rnn_critic, {"beta": self.beta})

    def evaluate(self, batch: Batch) -> EvalResult:
        """Expert log-probs/entropy for PPO (the stored log-probs are the behaviour mixture's)."""
        dist = self.expert_distribution(batch.state, batch.avail)
        values, _ = self.critic(self.critic_input(batch.obs, batch.state), batch.rnn_critic, batch.masks)
        return EvalResult(dist.log_prob(batch.actions), dist.entropy(), values)

    @torch.no_grad()
    def act_expert(self, obs, state, rnn_actor, masks, avail, deterministic: bool = True):
        dist = self.expert_distribution(*add_time(state, avail))
        return (dist.mode() if deterministic else dist.sample())[0], rnn_actor

    def extra_evaluators(self) -> dict:
        return {"expert": self.act_expert}

    @torch.no_grad()
    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """The β-mixture that collects the rollouts, (1, N, A): each agent independently acts with
        the expert w.p. β, else with its student."""
        avail = None if avail is None else avail[:1]
        expert = self.expert_distribution(*add_time(state[:1], avail)).dist.probs[0]
        return self.beta * expert + (1 - self.beta) * self.individual_action_probs(obs[:1], avail)


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf
