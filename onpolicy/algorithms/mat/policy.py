"""Multi-Agent Transformer (MAT) and MAT-Dec, the paper's transformer baselines.

MAT encodes all agents' observations with self-attention over the agent axis, reads
per-agent values V_i from the encoding (its critic), and decodes actions auto-regressively:
agent i's action depends on every observation and on the actions of agents 0..i-1.
It therefore breaks decentralized execution: `act_decentralized` runs the full
transformer, so MAT's evaluation return is an upper bound, not a decentralized result
(the registry marks it decentralized=False). MAT-Dec keeps the encoder, still fed all
observations, but reads each agent's action from its own encoder output alone. With
`--dec_actor` (the MAT repository's `dec_actor` variant of MAT-Dec) each agent's action
instead comes from an MLP on its own observation, and the encoder only feeds the values:
that actor is decentralized at execution.

Neither network is recurrent. The buffer still allocates RNN states, so `rnn_shape` is a
dummy (1, 1) and the states are passed through unchanged. The encoder and decoder are
shared by all agents (they attend over the agent axis); the value and action heads are
MLPs of width `n_embd`, one for all agents or one per agent as `--share_policy` says.
`hidden_size` and `layer_N` do not apply.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from onpolicy.algorithms.mappo.policy import ActResult, EnvInfo, EvalResult
from onpolicy.algorithms.utils.distributions import (DIAGNOSTIC_SAMPLES, action_dim, autoregressive_rows,
                                                     policy_param_dim)
from onpolicy.algorithms.utils.multi_agent import MultiAgentActor, MultiAgentCritic
from onpolicy.algorithms.utils.networks import init_linear
from onpolicy.utils.buffer import Batch

DUMMY_RNN_SHAPE = (1, 1)


def feed_forward(n_embd: int) -> nn.Sequential:
    """The per-agent MLP of a transformer block (width n_embd, as in MAT)."""
    return nn.Sequential(init_linear(nn.Linear(n_embd, n_embd)), nn.GELU(), init_linear(nn.Linear(n_embd, n_embd)))


def causal_mask(n_agents: int, device) -> torch.Tensor:
    """(N, N) boolean mask, True where position i may not attend to position j > i."""
    return torch.ones(n_agents, n_agents, dtype=torch.bool, device=device).triu(diagonal=1)


class AgentAttention(nn.Module):
    """Multi-head attention over the agent axis: nn.MultiheadAttention's function and parameters.

    The same parameters (in_proj_weight, in_proj_bias, out_proj) and the same arithmetic as
    nn.MultiheadAttention(batch_first=True) without dropout, computed with plain matmuls: over
    sequences of a few agents, the fused attention kernels spend most of their time on layout
    copies and zero-filled gradient buffers for (B, heads, N, d) tensors.
    """

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.in_proj_weight = nn.Parameter(torch.empty(3 * n_embd, n_embd))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * n_embd))
        self.out_proj = nn.Linear(n_embd, n_embd)
        nn.init.xavier_uniform_(self.in_proj_weight)  # nn.MultiheadAttention's initialisation
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor, mask: torch.Tensor | None = None):
        """query (M, Nq, E), key_value (M, Nk, E), mask (Nq, Nk) True = may not attend -> (M, Nq, E)."""
        E = query.shape[-1]
        w, b = self.in_proj_weight, self.in_proj_bias
        if query is key_value:
            q, k, v = F.linear(query, w, b).chunk(3, dim=-1)
        else:
            q = F.linear(query, w[:E], b[:E])
            k, v = F.linear(key_value, w[E:], b[E:]).chunk(2, dim=-1)
        heads = lambda x: x.unflatten(-1, (self.n_head, -1)).transpose(1, 2)  # noqa: E731  (M, h, N, d)
        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (M, h, Nq, Nk)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        attended = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).flatten(-2)  # (M, Nq, E)
        return self.out_proj(attended)


class EncoderBlock(nn.Module):
    """Self-attention over the agent axis, then a per-agent MLP (post-LayerNorm, as in MAT)."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.attention = AgentAttention(n_embd, n_head)
        self.norm1, self.norm2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.mlp = feed_forward(n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(M, N, n_embd) -> (M, N, n_embd)."""
        x = self.norm1(x + self.attention(x, x))
        return self.norm2(x + self.mlp(x))


class DecoderBlock(nn.Module):
    """Causal self-attention over action tokens, then attention from the encoder output to them.

    As in MAT, the second attention's queries are the encoder representations and its
    keys/values the (causally masked) action stream: position i is agent i's own
    representation plus what it reads from the actions of agents 0..i-1.
    """

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.self_attention = AgentAttention(n_embd, n_head)
        self.cross_attention = AgentAttention(n_embd, n_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.mlp = feed_forward(n_embd)

    def forward(self, x: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """Action tokens x and encoder output (M, N, n_embd) -> (M, N, n_embd)."""
        mask = causal_mask(x.shape[1], x.device)
        x = self.norm1(x + self.self_attention(x, x, mask))
        x = self.norm2(encoded + self.cross_attention(encoded, x, mask))
        return self.norm3(x + self.mlp(x))


def embedding(input_dim: int, n_embd: int, input_norm: bool) -> nn.Sequential:
    """Per-agent token embedding (..., input_dim) -> (..., n_embd), MAT's Linear-GELU-LayerNorm."""
    layers = [nn.LayerNorm(input_dim)] if input_norm else []
    return nn.Sequential(*layers, init_linear(nn.Linear(input_dim, n_embd)), nn.GELU(), nn.LayerNorm(n_embd))


class ObservationEncoder(nn.Module):
    """All agents' observations (M, N, Do) -> representations (M, N, n_embd)."""

    def __init__(self, obs_dim: int, n_embd: int, n_head: int, n_block: int):
        super().__init__()
        self.embed = embedding(obs_dim, n_embd, input_norm=True)
        self.blocks = nn.ModuleList(EncoderBlock(n_embd, n_head) for _ in range(n_block))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.embed(obs)
        for block in self.blocks:
            x = block(x)
        return x


def shifted_action_tokens(actions: torch.Tensor, space: spaces.Space) -> torch.Tensor:
    """Decoder input (M, N, 1 + P) from actions (M, N, Da): position i holds agent i-1's action.

    Channel 0 flags the start token at position 0; the other channels hold the action,
    one-hot (P = A) for Discrete, the vector itself (P = Da) for Box.
    """
    if isinstance(space, spaces.Discrete):
        actions = nn.functional.one_hot(actions[..., 0].long(), int(space.n)).to(actions.dtype)
    start = torch.zeros_like(actions[:, :1])
    flag = torch.zeros_like(actions[..., :1])
    flag[:, 0] = 1.0
    return torch.cat([flag, torch.cat([start, actions[:, :-1]], dim=1)], dim=-1)


class ActionDecoder(nn.Module):
    """Shifted action tokens (M, N, 1 + P) and encoder output (M, N, n_embd) -> (M, N, n_embd)."""

    def __init__(self, space: spaces.Space, n_embd: int, n_head: int, n_block: int):
        super().__init__()
        self.space = space
        self.embed = embedding(1 + policy_param_dim(space), n_embd, input_norm=False)
        self.blocks = nn.ModuleList(DecoderBlock(n_embd, n_head) for _ in range(n_block))

    def forward(self, actions: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: features at position i depend on actions of agents < i only."""
        x = self.embed(shifted_action_tokens(actions, self.space))
        for block in self.blocks:
            x = block(x, encoded)
        return x


class TransformerPolicy(nn.Module):
    """What MAT and MAT-Dec share: the encoder, its value head (the critic) and the interface.

    Subclasses define `action_distribution` (all agents at once, given teacher-forcing
    actions) and `generate` (choose the actions). All methods fold leading dims into one
    batch dim M, so (E, N, ·) rollout inputs and (L, B, N, ·) minibatches both work.
    """

    def __init__(self, cfg, env: EnvInfo):
        super().__init__()
        if cfg.use_recurrent_policy:
            raise ValueError(f"--use_recurrent_policy is not supported by --algorithm_name {cfg.algorithm_name} "
                             "(MAT and MAT-Dec are feed-forward transformers over the agent axis); "
                             "use --no-use_recurrent_policy")
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"--n_embd {cfg.n_embd} must be divisible by --n_head {cfg.n_head}")
        self.cfg, self.env = cfg, env
        self.encoder = ObservationEncoder(env.obs_dim, cfg.n_embd, cfg.n_head, cfg.n_block)
        heads = dict(n_agents=env.n_agents, shared=cfg.share_policy, hidden_size=cfg.n_embd, layer_N=1,
                     recurrent=False, recurrent_N=1)
        # Value head V_i on the encoder output; the value loss also trains the encoder,
        # whose parameters belong to the actor optimizer (see MATTrainer).
        self.critic = MultiAgentCritic(cfg.n_embd, **heads)
        self.dec_actor = cfg.dec_actor
        if self.dec_actor:  # MAT's dec_actor MLP: own observation -> 2 hidden layers of n_embd -> action
            heads.update(layer_N=2)
        self.action_head = MultiAgentActor(env.obs_dim if self.dec_actor else cfg.n_embd, env.action_space,
                                           **heads, std_x_coef=cfg.std_x_coef, std_y_coef=cfg.std_y_coef)
        self.rnn_shape = DUMMY_RNN_SHAPE
        self.stored_extras: dict[str, int] = {}  # nothing beyond the standard buffer fields

    def actor_parameters(self):
        """Everything but the value head: encoder, decoder, action head."""
        return [p for name, p in self.named_parameters() if not name.startswith("critic.")]

    def action_distribution(self, encoded, actions, avail):
        """Per-agent distributions (M, N, ·) given the encoder output and teacher-forcing actions."""
        raise NotImplementedError

    def generate(self, encoded, avail, deterministic: bool):
        """Actions (M, N, Da) and the distribution they were drawn from."""
        raise NotImplementedError

    def head_distribution(self, features: torch.Tensor, avail: torch.Tensor | None):
        params, _, _ = self.action_head(features, None, None)
        return self.action_head.distribution(params, avail)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(..., N, Do) -> (M, N, n_embd)."""
        return self.encoder(obs.reshape(-1, *obs.shape[-2:]))

    def actor_input(self, obs: torch.Tensor, encoded: torch.Tensor | None = None) -> torch.Tensor:
        """What the action decoding reads, (M, N, ·): the encoder output, or with dec_actor each
        agent's own observation."""
        if self.dec_actor:
            return obs.reshape(-1, *obs.shape[-2:])
        return self.encode(obs) if encoded is None else encoded

    def values(self, obs, state, rnn_critic, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """V_i from the encoder over all observations (E, N, 1); the state is not used."""
        values, _ = self.critic(self.encode(obs), None, None)
        return values.reshape(*obs.shape[:-1], 1), rnn_critic

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """Actions, log-probs and values (E, N, ·) for one step; RNN states pass through."""
        encoded = self.encode(obs)
        actions, dist = self.generate(self.actor_input(obs, encoded), avail, deterministic)
        values, _ = self.critic(encoded, None, None)
        return ActResult(actions, dist.log_prob(actions), values, rnn_actor, rnn_critic)

    def act_decentralized(self, obs, rnn_actor, masks, avail, deterministic: bool = True):
        """NOT decentralized: the full transformer, which sees every agent's observation."""
        actions, _ = self.generate(self.actor_input(obs), avail, deterministic)
        return actions, rnn_actor

    def evaluate(self, batch: Batch) -> EvalResult:
        """Log-probs, entropies and values (L, B, N, 1) of the stored actions, teacher-forced."""
        lead = batch.obs.shape[:-1]
        fold = lambda x: None if x is None else x.reshape(-1, *x.shape[-2:])  # noqa: E731  (L·B, N, ·)
        unfold = lambda x: x.reshape(*lead, 1)  # noqa: E731
        encoded = self.encode(batch.obs)
        actions = fold(batch.actions)
        dist = self.action_distribution(self.actor_input(batch.obs, encoded), actions, fold(batch.avail))
        values, _ = self.critic(encoded, None, None)
        return EvalResult(unfold(dist.log_prob(actions)), unfold(dist.entropy()), unfold(values))

    @torch.no_grad()
    def individual_action_probs(self, obs, avail) -> torch.Tensor:
        """Per-agent probabilities (E, N, A) along the greedy decode (discrete actions).

        For MAT, agent i's entry is conditioned on the greedy actions of agents < i, so
        the argmax is the executed joint action (not a marginal of a product policy).
        """
        _, dist = self.generate(self.actor_input(obs), avail, deterministic=True)
        return dist.dist.probs

    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """Per-agent probabilities (1, N, A) for the first env's input (MAT-Dec: a product policy)."""
        return self.individual_action_probs(obs[:1], None if avail is None else avail[:1])

    def extra_evaluators(self) -> dict:
        return {}


class MATPolicy(TransformerPolicy):
    """MAT: π(a | o) = Π_i π(a_i | o_1..o_N, a_0..a_{i-1}), decoded in the fixed agent order."""

    def __init__(self, cfg, env: EnvInfo):
        super().__init__(cfg, env)
        self.decoder = ActionDecoder(env.action_space, cfg.n_embd, cfg.n_head, cfg.n_block)

    def action_distribution(self, encoded, actions, avail):
        return self.head_distribution(self.decoder(actions, encoded), avail)

    def generate(self, encoded, avail, deterministic: bool):
        """Decode agents 0..N-1 in turn, each conditioned on the actions chosen before it."""
        n_agents = encoded.shape[1]
        actions = encoded.new_zeros(encoded.shape[0], n_agents, action_dim(self.env.action_space))
        for i in range(n_agents):
            dist = self.action_distribution(encoded, actions, avail)
            choice = dist.mode() if deterministic else dist.sample()
            actions[:, i] = choice[:, i].detach()
        # Position j sees only the actions of agents < j, all fixed before the last pass,
        # so the last distribution is exactly the one every chosen action was drawn from.
        return actions, dist

    @torch.no_grad()
    def training_action_probs(self, obs, state, avail) -> torch.Tensor:
        """MAT's correlated sampling policy for the first env's input as S rows (S, N, A).

        Row s holds one sampled decode a^s: one-hot actions for agents 0..N-2 and the
        last agent's conditional π(· | o, a^s_{<N-1}), so the mean over rows of the
        rows' product distributions is an unbiased estimate of the joint π(a | o).
        """
        obs, avail = (None if x is None else x[:1].expand(DIAGNOSTIC_SAMPLES, *x.shape[1:]) for x in (obs, avail))
        actions, dist = self.generate(self.actor_input(obs), avail, deterministic=False)
        return autoregressive_rows(actions, dist.dist.probs[:, -1], int(self.env.action_space.n))


class MATDecPolicy(TransformerPolicy):
    """MAT-Dec: π(a_i | o_1..o_N) from agent i's encoder output alone, no other agent's action."""

    def action_distribution(self, encoded, actions, avail):
        return self.head_distribution(encoded, avail)

    def generate(self, encoded, avail, deterministic: bool):
        dist = self.action_distribution(encoded, None, avail)
        return (dist.mode() if deterministic else dist.sample()), dist
