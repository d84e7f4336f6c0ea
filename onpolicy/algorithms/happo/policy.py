"""HAPPO's policy: one actor per agent (never shared) and MAPPO's centralized critic."""
from __future__ import annotations

from onpolicy.algorithms.mappo.policy import MAPPOPolicy
from onpolicy.algorithms.utils.multi_agent import MultiAgentActor


class HAPPOPolicy(MAPPOPolicy):
    """Per-agent actors π_i(a_i|τ_i) and centralized critics V(s_i) (Kuba et al., 2021).

    HAPPO's sequential update trains agent i's actor against the ratios of the agents
    updated before it, which needs separate parameters per agent: the actors are
    therefore per-agent whatever `--share_policy` says (it still decides whether the
    critic is shared). Rollouts, evaluation and decentralized execution are MAPPO's.
    """

    def make_actor(self, input_dim: int, shared: bool) -> MultiAgentActor:
        return super().make_actor(input_dim, shared=False)

    def agent_actor_parameters(self, agent: int):
        """The parameters of agent `agent`'s actor only (its trunk and action head)."""
        return [*self.actor.trunks[agent].parameters(), *self.actor.heads[agent].parameters()]

    def agent_distribution(self, agent: int, obs, rnn_actor, masks, avail):
        """π_agent on that agent's inputs: obs (L, B, Do), rnn_actor (B, R, H), masks (L, B, 1),
        avail (L, B, A) or None. Returns the distribution over (L, B, ·)."""
        features, _ = self.actor.trunks[agent](obs, rnn_actor, masks)
        head = self.actor.heads[agent]
        return head.distribution(head.params(features), avail)

    def evaluate_agent(self, batch, agent: int):
        """Log-probs and entropies (L, B, 1) of agent `agent`'s stored actions in a Batch (L, B, N, ·)."""
        avail = None if batch.avail is None else batch.avail[:, :, agent]
        dist = self.agent_distribution(agent, batch.obs[:, :, agent], batch.rnn_actor[:, agent],
                                       batch.masks[:, :, agent], avail)
        return dist.log_prob(batch.actions[:, :, agent]), dist.entropy()
