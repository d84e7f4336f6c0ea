"""MAPPO: decentralized actors with centralized critics (Yu et al., 2022)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from onpolicy.algorithms.utils.multi_agent import MultiAgentActor, MultiAgentCritic
from onpolicy.utils.buffer import Batch


@dataclass
class EnvInfo:
    """What a policy needs to know about the environment."""

    n_agents: int
    obs_dim: int
    state_dim: int
    action_space: object  # gymnasium Discrete or Box, identical for all agents
    obs_has_agent_id: bool = False  # the observation already carries a one-hot agent id
    state_has_agent_id: bool = False  # the (agent-specific) state already carries one

    @classmethod
    def from_vec_env(cls, envs, id_inputs: tuple[bool, bool] = (False, False)) -> "EnvInfo":
        """id_inputs: onpolicy.envs.agent_id_inputs(...) of the env the vec env was built from."""
        return cls(envs.n_agents, envs.observation_space[0].shape[0], envs.state_space[0].shape[0],
                   envs.action_space[0], *id_inputs)

    @classmethod
    def for_run(cls, cfg, envs) -> "EnvInfo":
        """The EnvInfo of vec env `envs` built from run config `cfg`."""
        from onpolicy.config import env_kwargs
        from onpolicy.envs import agent_id_inputs

        return cls.from_vec_env(envs, agent_id_inputs(cfg.env_name, cfg.scenario_name, env_kwargs(cfg)))


@dataclass
class ActResult:
    """One rollout step's outputs, (E, N, ·).

    `info`: scalar diagnostics averaged over the rollout; `extras`: tensors the buffer
    stores (declared by the policy's `stored_extras`) and hands back in Batch.extras.
    """

    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rnn_actor: torch.Tensor
    rnn_critic: torch.Tensor
    info: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


@dataclass
class EvalResult:
    """Re-evaluation of stored actions on a Batch, (L, B, N, 1) each."""

    log_probs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor
    info: dict = field(default_factory=dict)


def add_time(*tensors):
    """(E, N, ·) -> (1, E, N, ·) so single rollout steps go through the sequence code."""
    return [None if t is None else t.unsqueeze(0) for t in tensors]


class MAPPOPolicy(nn.Module):
    """Per-agent actors π_i(a_i|τ_i) and critics V_i(s_i) (or V_i(o_i) when decentralized)."""

    def __init__(self, cfg, env: EnvInfo):
        super().__init__()
        self.cfg, self.env = cfg, env
        self.actor = self.make_actor(env.obs_dim, cfg.share_policy)
        critic_in = env.state_dim if cfg.use_centralized_V else env.obs_dim
        critic_has_id = env.state_has_agent_id if cfg.use_centralized_V else env.obs_has_agent_id
        self.critic = MultiAgentCritic(critic_in, env.n_agents, cfg.share_policy, cfg.hidden_size, cfg.layer_N,
                                       cfg.use_recurrent_policy, cfg.recurrent_N,
                                       agent_id=cfg.share_policy and not critic_has_id)
        self.rnn_shape = (cfg.recurrent_N, cfg.hidden_size)  # actor side; a subclass may widen it
        self.critic_rnn_shape = (cfg.recurrent_N, cfg.hidden_size)
        self.stored_extras: dict[str, int] = {}  # per-step inputs the buffer must keep (name -> width)

    def make_actor(self, input_dim: int, shared: bool) -> MultiAgentActor:
        """The decentralized actors; subclasses change their input or their sharing."""
        cfg = self.cfg
        return MultiAgentActor(input_dim, self.env.action_space, self.env.n_agents, shared, cfg.hidden_size,
                               cfg.layer_N, cfg.use_recurrent_policy, cfg.recurrent_N,
                               agent_id=shared and not self.env.obs_has_agent_id,
                               std_x_coef=cfg.std_x_coef, std_y_coef=cfg.std_y_coef)

    def actor_parameters(self):
        return self.actor.parameters()

    def critic_input(self, obs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return state if self.cfg.use_centralized_V else obs

    def values(self, obs, state, rnn_critic, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """Critic outputs (E, N, 1) and next critic RNN state for one step."""
        x, m = add_time(self.critic_input(obs, state), masks)
        values, rnn_critic = self.critic(x, rnn_critic, m)
        return values[0], rnn_critic

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """Sample (or take the mode of) each agent's action for one step: inputs (E, N, ·)."""
        o, m, a = add_time(obs, masks, avail)
        params, _, rnn_actor = self.actor(o, rnn_actor, m)
        dist = self.actor.distribution(params, a)
        actions = dist.mode() if deterministic else dist.sample()
        values, rnn_critic = self.values(obs, state, rnn_critic, masks)
        return ActResult(actions[0], dist.log_prob(actions)[0], values, rnn_actor, rnn_critic)

    def act_decentralized(self, obs, rnn_actor, masks, avail, deterministic: bool = True):
        """Execution-time actions from the individual policies only: (E, N, Da), rnn state."""
        o, m, a = add_time(obs, masks, avail)
        params, _, rnn_actor = self.actor(o, rnn_actor, m)
        dist = self.actor.distribution(params, a)
        return (dist.mode() if deterministic else dist.sample())[0], rnn_actor

    def evaluate(self, batch: Batch) -> EvalResult:
        """Log-probs, entropies and values of the stored actions on (L, B, N, ·) chunks."""
        params, _, _ = self.actor(batch.obs, batch.rnn_actor, batch.masks)
        dist = self.actor.distribution(params, batch.avail)
        values, _ = self.critic(self.critic_input(batch.obs, batch.state), batch.rnn_critic, batch.masks)
        return EvalResult(dist.log_prob(batch.actions), dist.entropy(), values)

    @torch.no_grad()
    def individual_action_probs(self, obs, avail) -> torch.Tensor:
        """Per-agent action probabilities (E, N, A) of the decentralized policies (feed-forward)."""
        o, a = add_time(obs, avail)
        params, _, _ = self.actor(o, *self.episode_start(obs))
        return self.actor.distribution(params, a).dist.probs[0]

    def episode_start(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero RNN state (E, N, R, H) and masks of ones (1, E, N, 1) for one step from a fresh
        episode: the diagnostics probe the policies outside any rollout."""
        rnn = torch.zeros(obs.shape[0], obs.shape[1], *self.rnn_shape, device=obs.device)
        return rnn, torch.ones(1, *obs.shape[:2], 1, device=obs.device)

    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """Per-agent probabilities (S, N, A) of the policy that collects rollouts, for the first
        env's input; S > 1 only for policies correlated through a random signal."""
        return self.individual_action_probs(obs[:1], None if avail is None else avail[:1])

    def extra_evaluators(self) -> dict:
        """Other policies worth evaluating next to the decentralized one (name -> act fn)."""
        return {}
