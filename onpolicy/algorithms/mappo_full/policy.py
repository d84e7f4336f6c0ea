"""MAPPO_FULL: MAPPO whose actors see the state, at training and at execution.

The paper's full-information baseline (its Figure 10): π_i(a_i | s_i) with the env's
(agent-specific) state s_i in place of the observation o_i, and MAPPO's centralized critic.
It is NOT decentralized (the registry marks it decentralized=False): executing it needs the
state, so on tasks where the observation hides what coordination needs (the passage game) it
is an upper bound beside AIL's expert, not a CTDE result.

Everything MAPPO does with the observation this policy does with the state; evaluation hands
it the state because `executes_on_state` is set.
"""
from __future__ import annotations

import dataclasses

import torch

from onpolicy.algorithms.mappo.policy import ActResult, EnvInfo, EvalResult, MAPPOPolicy
from onpolicy.utils.buffer import Batch


def state_as_observation(env: EnvInfo) -> EnvInfo:
    """The EnvInfo of an env whose observation is its per-agent state."""
    return dataclasses.replace(env, obs_dim=env.state_dim, obs_has_agent_id=env.state_has_agent_id)


class MAPPOFullPolicy(MAPPOPolicy):
    executes_on_state = True  # evaluation (and the exact diagnostics) pass the state as the actors' input

    def __init__(self, cfg, env: EnvInfo):
        super().__init__(cfg, state_as_observation(env))

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """MAPPO's act with the state (E, N, Ds) as every actor's input."""
        return super().act(state, state, rnn_actor, rnn_critic, masks, avail, deterministic)

    def evaluate(self, batch: Batch) -> EvalResult:
        return super().evaluate(dataclasses.replace(batch, obs=batch.state))

    @torch.no_grad()
    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """Per-agent probabilities (1, N, A) of the state-conditioned actors for the first env."""
        return self.individual_action_probs(state[:1], None if avail is None else avail[:1])
