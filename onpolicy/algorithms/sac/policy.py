"""MASAC and AgentMixer-SAC: squashed-Gaussian actors, twin centralized soft Q(s, a_1..a_N), off-policy.

MASAC: each agent's policy is its own squashed Gaussian, mean and state-dependent std from its actor
(SAC's and HARL's HASAC actor: a log-std head clamped to [−20, 2], squashed_gaussian_policy.py:10-11,55
@a6309b8).

AgentMixer-SAC: the joint policy is AgentMixer's continuous form, squashed as SAC squashes: agent i's
pre-squash Gaussian has the individual mean μ_i (with its gradient) and the Policy Modifier's std
sigmoid(g · h_i) · y, h = PM(state, detached means, detached actor features) (`continuous_joint`). Its
mode before squashing is exactly μ_i, so the executed tanh(μ_i) is the joint policy's median action:
Individual-Global-Consistency holds by construction. Given the state the joint policy is a product
over agents, so its log-likelihood is the sum of the agents'.

Both execute the individual policies alone, deterministically: a_i = tanh(μ_i) on the action box.

The team state: the continuous envs here (MA-MuJoCo, PettingZoo, VMAS) hand every agent a copy of one
global state (MA-MuJoCo appends the agent's id before standardising it), so the critic, the PM and the
replay use agent 0's row; the PM's tokens carry their agent id of their own.

The runner is the on-policy one: it asks for values (zeros here, nothing reads them) and keeps, through
`stores_next_obs`, the observation each step reached before any auto-reset, which the replay bootstraps
from.
"""
from __future__ import annotations

import copy

import torch
from gymnasium import spaces
from torch import nn

from onpolicy.algorithms.agentmixer.joint_policy import continuous_joint
from onpolicy.algorithms.agentmixer.policy_modifier import PolicyModifier
from onpolicy.algorithms.mappo.policy import ActResult
from onpolicy.algorithms.sac.critic import TwinQ
from onpolicy.algorithms.sac.squashed import SquashedGaussian
from onpolicy.algorithms.utils.distributions import action_dim
from onpolicy.algorithms.utils.multi_agent import MultiAgentActor, apply_per_agent
from onpolicy.algorithms.utils.networks import init_linear

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SAC's bounds on a state-dependent log-std (HARL's, see above)


def team_state(state: torch.Tensor) -> torch.Tensor:
    """Per-agent state rows (B, N, Ds) -> the team's (B, Ds): agent 0's row (see the module docstring)."""
    return state[:, 0]


class MASACPolicy(nn.Module):
    """Independent squashed-Gaussian actors π_i(a_i | o_i) and the twin centralized critic."""

    stores_next_obs = True  # the runner keeps each step's next observation (the replay's s')
    uses_modifier = False

    def __init__(self, cfg, env):
        super().__init__()
        if not isinstance(env.action_space, spaces.Box):
            from onpolicy.config import ConfigError  # a user error: printed as one `error:` line
            raise ConfigError(f"--algorithm_name {cfg.algorithm_name} needs continuous (Box) actions; --env_name "
                              f"{cfg.env_name} --scenario_name {cfg.scenario_name} has {env.action_space}. Valid: "
                              "mujoco, and pettingzoo/vmas scenarios with Box actions")
        self.cfg, self.env = cfg, env
        N, Da = env.n_agents, action_dim(env.action_space)
        self.n_agents, self.act_dim = N, Da
        # Feed-forward actors (the replay holds single transitions, no sequences to unroll a GRU over).
        self.actor = MultiAgentActor(env.obs_dim, env.action_space, N, cfg.share_policy, cfg.hidden_size,
                                     cfg.layer_N, recurrent=False, recurrent_N=1,
                                     agent_id=cfg.share_policy and not env.obs_has_agent_id)
        self.critic = TwinQ(env.state_dim + N * Da, cfg.hidden_size, cfg.layer_N)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.register_buffer("action_low", torch.as_tensor(env.action_space.low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(env.action_space.high, dtype=torch.float32))
        self.target_entropy = -float(N * Da)  # −dim of the joint action (HARL: −dim per agent, summed)
        self.rnn_shape = (1, 1)  # the runner carries an RNN state per agent; these actors have none
        self.stored_extras: dict[str, int] = {}
        self.explore_uniformly = False  # set by the trainer during the warm-up
        self.build_std_source()

    def build_std_source(self) -> None:
        """MASAC's state-dependent log-std, one head per actor network (one if shared)."""
        n_nets, Da = len(self.actor.heads), self.act_dim
        self.log_std_heads = nn.ModuleList(init_linear(nn.Linear(self.actor.feature_dim, Da), 0.01)
                                           for _ in range(n_nets))

    def actor_parameters(self):
        """What the actor optimizer trains: the actors and their std heads (not the PM, not the critics)."""
        return [*self.actor.parameters(), *getattr(self, "log_std_heads", nn.ModuleList()).parameters()]

    # -- policies ------------------------------------------------------------------------------
    def individual(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, N, Do) -> individual means (B, N, Da) and actor features (B, N, F)."""
        means, features, _ = self.actor(obs.unsqueeze(0), None, None)
        return means[0], features[0]

    def exploration_std(self, means, features, state) -> torch.Tensor:
        """The pre-squash std (B, N, Da) the training policy samples with: each actor's own here."""
        log_std = apply_per_agent(list(self.log_std_heads), features)
        return log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()

    def squashed(self, means: torch.Tensor, std: torch.Tensor) -> SquashedGaussian:
        return SquashedGaussian(means, std, self.action_low, self.action_high)

    def joint_distribution(self, obs: torch.Tensor, state: torch.Tensor) -> SquashedGaussian:
        """The training policy's per-agent squashed Gaussians: obs (B, N, Do), team state (B, Ds)."""
        means, features = self.individual(obs)
        return self.squashed(means, self.exploration_std(means, features, state))

    def joint_log_prob(self, dist: SquashedGaussian) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised joint actions (B, N, Da) and their joint log-likelihood (B, 1), the sum over agents."""
        actions, log_probs = dist.rsample()
        return actions, log_probs.sum(dim=1)

    # -- critics -------------------------------------------------------------------------------
    def action_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Center and half-width (Da,) of the action box."""
        return (self.action_high + self.action_low) / 2, (self.action_high - self.action_low) / 2

    def q_values(self, state: torch.Tensor, actions: torch.Tensor, target: bool = False):
        """(Q1, Q2) (B, 1) of team state (B, Ds) and joint actions (B, N, Da) on the action box; the
        critics see the actions rescaled to [−1, 1]."""
        center, half = self.action_box()
        unit = ((actions - center) / half).flatten(1)
        return (self.target_critic if target else self.critic)(state, unit)

    # -- the runner's interface ------------------------------------------------------------------
    def uniform_actions(self, obs: torch.Tensor) -> torch.Tensor:
        """Warm-up actions (E, N, Da), uniform on the action box (HARL's random warm-up)."""
        shape = (*obs.shape[:2], self.act_dim)
        return self.action_low + (self.action_high - self.action_low) * torch.rand(shape, device=obs.device)

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """One rollout step from the training policy (inputs (E, N, ·)); log-probs and values are not
        stored for training (the replay re-evaluates everything), so they are zeros."""
        zeros = torch.zeros(*obs.shape[:2], 1, device=obs.device)
        if self.explore_uniformly and not deterministic:
            return ActResult(self.uniform_actions(obs), zeros, zeros, rnn_actor, rnn_critic)
        dist = self.joint_distribution(obs, team_state(state))
        actions = dist.mode() if deterministic else dist.rsample()[0]
        return ActResult(actions, zeros, zeros, rnn_actor, rnn_critic, {"exploration_std": dist.std.mean()})

    def act_decentralized(self, obs, rnn_actor, masks, avail, deterministic: bool = True):
        """Execution: each agent's tanh(μ_i) on the action box, from its own observation only."""
        if not deterministic:
            raise ValueError(f"{self.cfg.algorithm_name} executes its individual policies deterministically")
        means, _ = self.individual(obs)
        center, half = self.action_box()
        return center + half * torch.tanh(means), rnn_actor

    def values(self, obs, state, rnn_critic, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """The runner's bootstrap values (E, N, 1): unused here (the soft targets come from the replay)."""
        return torch.zeros(*obs.shape[:2], 1, device=obs.device), rnn_critic

    def extra_evaluators(self) -> dict:
        return {}


class AgentMixerSACPolicy(MASACPolicy):
    """MASAC's actors and critics plus the Policy Modifier, which sets the joint policy's std."""

    uses_modifier = True

    def build_std_source(self) -> None:
        """The Policy Modifier in place of MASAC's log-std heads."""
        cfg, env = self.cfg, self.env
        # The PPO AgentMixer's feed-forward PM (state encoder of --layer_N + 1 layers, mixer blocks,
        # small-gain head), reading the team state and each agent's detached mean and actor feature.
        self.modifier = PolicyModifier(env.n_agents, env.state_dim, self.act_dim, self.actor.feature_dim,
                                       self.act_dim, pm_type=cfg.pm_type, n_blocks=cfg.pm_blocks,
                                       state_hidden=cfg.hidden_size, layer_N=cfg.layer_N)

    def exploration_std(self, means, features, state) -> torch.Tensor:
        """σ_PM = sigmoid(g · h) · y (B, N, Da) with h = PM(team state, means, features)."""
        tokens_state = state.unsqueeze(1).expand(-1, self.n_agents, -1)
        h = self.modifier(tokens_state, means, features)
        return continuous_joint(means, h, self.cfg.sigmoid_gain, self.cfg.mix_std_y_coef)[1]
