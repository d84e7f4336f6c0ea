"""MAVEN (Mahajan et al., 2019): QMIX whose agents are conditioned on a latent z per episode.

z is a one-hot of `--noise_dim` categories, drawn uniformly at each episode start and
shared by the team (the uniform draw of the original's shipped configs and the authors'
port; the original's hierarchical latent policy is not implemented). It stays fixed for
the episode, so it selects one joint behaviour mode per episode: committed, coordinated
exploration instead of per-step dithering.

Where z lives: the runner carries each agent's recurrent state from step to step, from
rollout to rollout, into checkpoints and through evaluation, resetting it with the masks
at episode starts. MAVEN's recurrent state is therefore [GRU hidden (H) | z (K)],
`rnn_shape = (recurrent_N, H + K)`: an all-zero z slot (a fresh or just-reset state)
means "new episode: draw z". The z used at every step is also emitted as the stored
extra `maven_z`, so the trainer reads the z each transition was collected with.
"""
from __future__ import annotations

import copy

import torch
from gymnasium import spaces
from torch import nn

from onpolicy.algorithms.mappo.policy import ActResult, add_time
from onpolicy.algorithms.maven.networks import Discriminator, NoiseAgent, NoiseQMixer

Z_KEY = "maven_z"


def masked_argmax(q: torch.Tensor, avail: torch.Tensor | None) -> torch.Tensor:
    """Greedy action indices (..., 1) among the available ones."""
    if avail is not None:
        q = q.masked_fill(avail == 0, float("-inf"))
    return q.argmax(dim=-1, keepdim=True)


def epsilon_greedy(q: torch.Tensor, avail: torch.Tensor | None, epsilon: float) -> torch.Tensor:
    """Per agent: a uniformly random available action with probability ε, else the greedy one.

    q (E, N, A) -> actions (E, N, 1) as float indices (the buffer's action format). Each
    agent and env draws its own coin, as the original's EpsilonGreedyActionSelector does.
    """
    greedy = masked_argmax(q, avail)
    if epsilon <= 0.0:
        return greedy.float()
    weights = torch.ones_like(q) if avail is None else avail
    random = torch.multinomial(weights.reshape(-1, q.shape[-1]), 1).view(greedy.shape)
    explore = torch.rand(greedy.shape, device=q.device) < epsilon
    return torch.where(explore, random, greedy).float()


def epsilon_greedy_probs(q: torch.Tensor, avail: torch.Tensor | None, epsilon: float) -> torch.Tensor:
    """The ε-greedy action distribution (..., A) of `epsilon_greedy`."""
    avail = torch.ones_like(q) if avail is None else avail
    greedy = torch.zeros_like(q).scatter_(-1, masked_argmax(q, avail), 1.0)
    return (1 - epsilon) * greedy + epsilon * avail / avail.sum(-1, keepdim=True)


class MAVENPolicy(nn.Module):
    """Latent-conditioned agents Q_i(τ_i, ·; z), the QMIX mixer on [s, z], the discriminator
    q(z | s, softmax Q) and target copies of agents and mixer.

    The runner's recurrent-state slots `rnn_actor` and `rnn_critic` both hold the same
    [hidden | z] state: `values()` (the runner's truncation bootstrap) receives only
    `rnn_critic` and needs the agents' hidden state and z to evaluate Q_tot at the final state.
    """

    def __init__(self, cfg, env):
        super().__init__()
        if not isinstance(env.action_space, spaces.Discrete):
            raise ValueError(f"--algorithm_name maven is value-based and needs discrete actions; --env_name "
                             f"{cfg.env_name} has the action space {env.action_space}")
        self.cfg, self.env = cfg, env
        N, A, K, H = env.n_agents, int(env.action_space.n), cfg.noise_dim, cfg.hidden_size
        self.n_agents, self.n_actions, self.noise_dim, self.hidden_size = N, A, K, H
        # The authors' port: the agent has one hidden layer (fc1, GRU) whatever --layer_N says, the
        # mixer's width is --hidden_size, the discriminator has --layer_N hidden layers (networks.py).
        self.agent = NoiseAgent(env.obs_dim, N, A, K, cfg.share_policy, H, cfg.use_recurrent_policy, cfg.recurrent_N)
        self.mixer = NoiseQMixer(env.state_dim, N, K, H)
        self.discriminator = Discriminator(env.state_dim + N * A, K, H, cfg.layer_N)
        self.target_agent = copy.deepcopy(self.agent).requires_grad_(False)
        self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False)
        self.rnn_shape = (cfg.recurrent_N, H + K)
        self.stored_extras = {Z_KEY: K}
        self.epsilon = cfg.epsilon_start  # moved along its schedule by the trainer

    # -- the [hidden | z] recurrent state --------------------------------------------------
    def split_state(self, rnn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rnn (E, N, R, H + K) -> GRU hidden (E, N, R, H), z (E, N, K)."""
        return rnn[..., :self.hidden_size], rnn[..., 0, self.hidden_size:]

    def join_state(self, hidden: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([hidden, z.unsqueeze(-2).expand(*hidden.shape[:-1], self.noise_dim)], dim=-1)

    def sample_z(self, n_envs: int, device) -> torch.Tensor:
        """One uniform one-hot z per env, shared by its agents: (E, N, K)."""
        index = torch.randint(self.noise_dim, (n_envs,), device=device)
        z = nn.functional.one_hot(index, self.noise_dim).float()
        return z.unsqueeze(1).expand(n_envs, self.n_agents, self.noise_dim)

    def episode_z(self, rnn: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """The z of each env's current episode (E, N, K): the carried one, or a new draw where
        an episode starts (masks 0) or no z was drawn yet (a zero state)."""
        carried = self.split_state(rnn)[1] * masks
        fresh = carried.sum(-1, keepdim=True) == 0
        return torch.where(fresh, self.sample_z(rnn.shape[0], rnn.device), carried)

    # -- acting ------------------------------------------------------------------------------
    def agent_q(self, obs, rnn, masks, z, target: bool = False):
        """One step: obs (E, N, Do) -> Q values (E, N, A), next GRU hidden (E, N, R, H)."""
        agent = self.target_agent if target else self.agent
        o, m, zz = add_time(obs, masks, z)
        q, hidden = agent(o, self.split_state(rnn)[0], m, zz)
        return q[0], hidden

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """ε-greedy (greedy if deterministic) actions for one step: inputs (E, N, ·)."""
        z = self.episode_z(rnn_actor, masks)
        q, hidden = self.agent_q(obs, rnn_actor, masks, z)
        epsilon = 0.0 if deterministic else self.epsilon
        actions = epsilon_greedy(q, avail, epsilon)
        rnn = self.join_state(hidden, z)
        # The buffer stores a log-prob and a value per step for PPO; MAVEN's TD targets use
        # neither (its returns come from Q_tot in the trainer), so they are zeros.
        zeros = torch.zeros(*actions.shape[:-1], 1, device=actions.device)
        return ActResult(actions, zeros, zeros, rnn, rnn, {"epsilon": epsilon}, {Z_KEY: z})

    def act_decentralized(self, obs, rnn_actor, masks, avail, deterministic: bool = True):
        """Execution: each agent acts on its own Q_i(τ_i, ·; z), z drawn per episode as in training."""
        z = self.episode_z(rnn_actor, masks)
        q, hidden = self.agent_q(obs, rnn_actor, masks, z)
        return epsilon_greedy(q, avail, 0.0 if deterministic else self.epsilon), self.join_state(hidden, z)

    @torch.no_grad()
    def values(self, obs, state, rnn_critic, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """The bootstrap value of a step (E, N, 1), the team's Q_tot replicated per agent:
        target Q_tot(s, argmax_a Q(o, a; z); z) (double Q) or max_a target Q (without).

        The runner calls this on the final observation of a truncated episode (masks 1, the
        episode's z in `rnn_critic`). It is not given the available actions there, so the
        argmax runs over all actions. Nothing is drawn: a state without z (the runner's GAE
        bootstrap after an episode end, which MAVEN does not use) is evaluated with z = 0.
        """
        z = self.split_state(rnn_critic)[1] * masks
        target_q, _ = self.agent_q(obs, rnn_critic, masks, z, target=True)
        if self.cfg.double_q:
            online_q, _ = self.agent_q(obs, rnn_critic, masks, z)
            next_q = target_q.gather(-1, masked_argmax(online_q, None)).squeeze(-1)
        else:
            next_q = target_q.max(dim=-1).values
        q_tot = self.target_mixer(next_q, state[:, 0], z[:, 0])  # (E, 1)
        return q_tot.unsqueeze(1).expand(-1, self.n_agents, 1), rnn_critic

    # -- diagnostics (matrix games) -----------------------------------------------------------
    def _per_latent_q(self, obs) -> torch.Tensor:
        """Q values (K, E, N, A) at a fresh episode for observations (E, N, Do), one row per z."""
        K, (E, N) = self.noise_dim, obs.shape[:2]
        rnn = torch.zeros(K * E, N, *self.rnn_shape, device=obs.device)
        masks = torch.ones(K * E, N, 1, device=obs.device)
        z = torch.eye(K, device=obs.device).view(K, 1, 1, K).expand(K, E, N, K).reshape(K * E, N, K)
        q, _ = self.agent_q(obs.repeat(K, 1, 1), rnn, masks, z)
        return q.view(K, E, N, -1)

    @torch.no_grad()
    def individual_action_probs(self, obs, avail) -> torch.Tensor:
        """Each agent's marginal (E, N, A) over the uniform z of its greedy action (execution).

        The executed joint policy is a mixture over z of greedy joint actions; this is its
        per-agent marginal, so diagnostics that multiply marginals ignore the correlation z adds.
        """
        q = self._per_latent_q(obs)
        return epsilon_greedy_probs(q, None if avail is None else avail.expand_as(q), 0.0).mean(0)

    @torch.no_grad()
    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """The ε-greedy rollout policy (K, N, A) for the first env, one row per z (uniform):
        the joint rollout policy is the mean of the rows' products."""
        q = self._per_latent_q(obs[:1])[:, 0]
        return epsilon_greedy_probs(q, None if avail is None else avail[:1].expand_as(q), self.epsilon)

    def episode_start(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero recurrent state (E, N, R, H + K) and masks of ones (1, E, N, 1)."""
        rnn = torch.zeros(obs.shape[0], obs.shape[1], *self.rnn_shape, device=obs.device)
        return rnn, torch.ones(1, *obs.shape[:2], 1, device=obs.device)

    def extra_evaluators(self) -> dict:
        return {}

    def sync_targets(self) -> None:
        """Copy the online agents and mixer into their targets."""
        self.target_agent.load_state_dict(self.agent.state_dict())
        self.target_mixer.load_state_dict(self.mixer.state_dict())

    def trained_parameters(self):
        """What the one optimiser trains: agents, mixer and discriminator (never the targets)."""
        return [*self.agent.parameters(), *self.mixer.parameters(), *self.discriminator.parameters()]
