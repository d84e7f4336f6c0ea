"""Multi-Agent Transformer (MAT) and MAT-Dec, the paper's transformer baselines.

MAT encodes all agents' observations with self-attention over the agent axis, reads
per-agent values V_i from the encoding (its critic), and decodes actions auto-regressively:
agent i's action depends on every observation and on the actions of agents 0..i-1.
It therefore breaks decentralized execution: `act_decentralized` runs the full
transformer, so MAT's evaluation return is an upper bound, not a decentralized result.

MAT-Dec, by default (`--dec_actor`), is the MAT repository's `dec_actor` variant, the one the
AgentMixer authors ran and the paper's MAT-Dec numbers come from: each agent's action comes
from its own MLP on its own observation, and the encoder, which sees every observation, only
feeds the values (a centralized critic), so execution is decentralized. Their train scripts set
`dec_actor=True, share_actor=False` for mat_dec on every env (train_matrix.py:86-88@f3f0ca1,
train_predatorprey.py:76-78@dbe9688, train_mujoco.py:90-92@d0a94e6, train_smac.py:135-137@8c48deb,
all under bta/scripts/train/ of LiZhYun/BackPropagationThroughAgents): one actor per agent,
whatever `--share_policy` says. `--no-dec_actor` is this project's earlier MAT-Dec: agent i's
action from its own encoder output, which has attended to every observation (not decentralized).

Architecture and initialisation are those of the MAT code the authors ran,
bta/algorithms/mat/algorithm/ma_transformer.py@d0a94e6 (identical, line for line, to
PKU-MARL/Multi-Agent-Transformer mat/algorithms/mat/algorithm/ma_transformer.py@08a18c6;
the line numbers below hold for both). Every Linear is orthogonal with zero bias, gain √2
where an activation follows and 0.01 otherwise (`init_`, :13-16):

- token embedding: LayerNorm(obs), Linear, GELU (`obs_encoder`, :125-126), then the encoder's
  LayerNorm (:128, :143);
- attention: separate query/key/value/output projections of n_embd × n_embd, gain 0.01 (:28-32);
  the encoder's unmasked (:74), both decoder attentions causally masked, the second with the
  encoder output as queries and the action stream as keys/values (:96-97, :106);
- post-LayerNorm blocks whose MLP is Linear(√2), GELU, Linear(0.01) of width n_embd (:75-79, :98-102);
- heads Linear(√2), GELU, LayerNorm, Linear(0.01): the value head on the encoder output
  (:130-131) and MAT's action head on the decoder output (:193-194);
- decoder input: [start flag, one-hot previous action] through Linear(A + 1, n_embd, bias=False)
  for Discrete, the previous action vector (zeros for agent 0) through a biased Linear for Box
  (:184-188), then GELU and LayerNorm (:191, :216);
- the dec_actor MLP, one per agent: LayerNorm(obs), Linear(√2), GELU, LayerNorm, Linear(√2),
  GELU, LayerNorm, Linear(0.01) (:174-181);
- Gaussian actions: one std vector for all agents (their `decoder.log_std`, :161-164), here
  y · sigmoid(p / x) with p starting at x, which the defaults make their sigmoid(log_std) · 0.5
  with log_std starting at 1.

Left out on purpose: their Encoder's `state_encoder` (LayerNorm(37) + Linear(37, n_embd),
:123-124 with the hard-coded 37 of :237-238), never run with encode_state=False, and their
Decoder's `obs_encoder` (:189-190), never read by its forward (:214-219); both still count in
their parameter totals (see tests/test_mat.py). Added: `--no-share_policy` gives each agent its
own value head (and MAT its own action head); theirs are always shared, as ours by default.

Neither network is recurrent. The buffer still allocates RNN states, so `rnn_shape` is a
dummy (1, 1) and the states are passed through unchanged. `hidden_size` and `layer_N` do
not apply; the width is `n_embd`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from onpolicy.algorithms.mappo.policy import ActResult, EnvInfo, EvalResult
from onpolicy.algorithms.utils.distributions import (DIAGNOSTIC_SAMPLES, DiagGaussian, MaskedCategorical,
                                                     action_dim, autoregressive_rows, policy_param_dim)
from onpolicy.algorithms.utils.multi_agent import apply_per_agent
from onpolicy.utils.buffer import Batch

DUMMY_RNN_SHAPE = (1, 1)
RELU_GAIN = nn.init.calculate_gain("relu")  # MAT's init_(..., activate=True): a GELU follows
OUTPUT_GAIN = 0.01  # MAT's init_ default: projections and output layers


def mat_linear(in_dim: int, out_dim: int, gain: float, bias: bool = True) -> nn.Linear:
    """A Linear initialised as MAT's `init_`: orthogonal weights with `gain`, zero bias."""
    layer = nn.Linear(in_dim, out_dim, bias=bias)
    nn.init.orthogonal_(layer.weight, gain=gain)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


def feed_forward(n_embd: int) -> nn.Sequential:
    """The per-agent MLP of a transformer block: Linear(√2), GELU, Linear(0.01), width n_embd."""
    return nn.Sequential(mat_linear(n_embd, n_embd, RELU_GAIN), nn.GELU(), mat_linear(n_embd, n_embd, OUTPUT_GAIN))


def mat_head(n_embd: int, out_dim: int) -> nn.Sequential:
    """MAT's value/action head on n_embd features: Linear(√2), GELU, LayerNorm, Linear(0.01)."""
    return nn.Sequential(mat_linear(n_embd, n_embd, RELU_GAIN), nn.GELU(), nn.LayerNorm(n_embd),
                         mat_linear(n_embd, out_dim, OUTPUT_GAIN))


def dec_actor_mlp(obs_dim: int, n_embd: int, out_dim: int) -> nn.Sequential:
    """MAT's dec_actor: LayerNorm(obs), 2 × [Linear(√2), GELU, LayerNorm] of n_embd, Linear(0.01)."""
    return nn.Sequential(nn.LayerNorm(obs_dim), mat_linear(obs_dim, n_embd, RELU_GAIN), nn.GELU(), nn.LayerNorm(n_embd),
                         mat_linear(n_embd, n_embd, RELU_GAIN), nn.GELU(), nn.LayerNorm(n_embd),
                         mat_linear(n_embd, out_dim, OUTPUT_GAIN))


def causal_mask(n_agents: int, device) -> torch.Tensor:
    """(N, N) boolean mask, True where position i may not attend to position j > i."""
    return torch.ones(n_agents, n_agents, dtype=torch.bool, device=device).triu(diagonal=1)


class AgentAttention(nn.Module):
    """Multi-head attention over the agent axis with MAT's projections and initialisation.

    MAT's separate query, key and value Linears (n_embd × n_embd each, in that order) are stored
    stacked in `in_proj_weight`/`in_proj_bias` (nn.MultiheadAttention's layout), each block
    orthogonal with gain 0.01 and zero bias, as is the output projection `out_proj`. Computed
    with plain matmuls: over sequences of a few agents, the fused attention kernels spend most
    of their time on layout copies and zero-filled gradient buffers for (B, heads, N, d) tensors.
    """

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.in_proj_weight = nn.Parameter(torch.empty(3 * n_embd, n_embd))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * n_embd))
        for block in range(3):  # query, key, value: each orthogonal on its own, as three Linears
            nn.init.orthogonal_(self.in_proj_weight.data[block * n_embd:(block + 1) * n_embd], gain=OUTPUT_GAIN)
        self.out_proj = mat_linear(n_embd, n_embd, OUTPUT_GAIN)

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


def embedding(input_dim: int, n_embd: int, input_norm: bool, bias: bool = True) -> nn.Sequential:
    """Per-agent token embedding (..., input_dim) -> (..., n_embd): [LayerNorm], Linear(√2), GELU,
    LayerNorm (MAT's obs/action encoder followed by the encoder's/decoder's `ln`)."""
    layers = [nn.LayerNorm(input_dim)] if input_norm else []
    return nn.Sequential(*layers, mat_linear(input_dim, n_embd, RELU_GAIN, bias=bias), nn.GELU(), nn.LayerNorm(n_embd))


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


def action_token_dim(space: spaces.Space) -> int:
    """Width of a decoder input token: start flag + one-hot (A + 1) for Discrete, Da for Box."""
    return int(space.n) + 1 if isinstance(space, spaces.Discrete) else action_dim(space)


def shifted_action_tokens(actions: torch.Tensor, space: spaces.Space) -> torch.Tensor:
    """Decoder input (M, N, action_token_dim) from actions (M, N, Da): position i holds agent i-1's action.

    Discrete: channel 0 flags the start token at position 0, the other channels hold the
    one-hot action. Box: the action vector itself, zeros at position 0 (as MAT).
    """
    if isinstance(space, spaces.Discrete):
        one_hot = nn.functional.one_hot(actions[..., 0].long(), int(space.n)).to(actions.dtype)
        tokens = torch.cat([torch.zeros_like(one_hot[..., :1]), one_hot], dim=-1)
        start = torch.zeros_like(tokens[:, :1])
        start[..., 0] = 1.0
    else:
        tokens, start = actions, torch.zeros_like(actions[:, :1])
    return torch.cat([start, tokens[:, :-1]], dim=1)


class ActionDecoder(nn.Module):
    """Shifted action tokens and encoder output (M, N, n_embd) -> (M, N, n_embd)."""

    def __init__(self, space: spaces.Space, n_embd: int, n_head: int, n_block: int):
        super().__init__()
        self.space = space
        # MAT's Discrete action encoder has no bias (the start flag plays its part); the Box one has.
        self.embed = embedding(action_token_dim(space), n_embd, input_norm=False,
                               bias=not isinstance(space, spaces.Discrete))
        self.blocks = nn.ModuleList(DecoderBlock(n_embd, n_head) for _ in range(n_block))

    def forward(self, actions: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: features at position i depend on actions of agents < i only."""
        x = self.embed(shifted_action_tokens(actions, self.space))
        for block in self.blocks:
            x = block(x, encoded)
        return x


class PerAgent(nn.Module):
    """One network for all agents, or one per agent applied along the agent axis (..., N, D)."""

    def __init__(self, nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_per_agent(self.nets, x)


class ActionHead(nn.Module):
    """Distribution parameters from per-agent features, and the distribution they define.

    Continuous actions have one std vector for all agents (MAT's decoder-level log_std):
    std = y · sigmoid(p / x), p starting at x.
    """

    def __init__(self, nets: PerAgent, space: spaces.Space, std_x_coef: float, std_y_coef: float):
        super().__init__()
        self.nets = nets
        self.discrete = isinstance(space, spaces.Discrete)
        if not self.discrete:
            self.std_x_coef, self.std_y_coef = std_x_coef, std_y_coef
            self.std_param = nn.Parameter(torch.full((action_dim(space),), float(std_x_coef)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(..., N, F) -> logits or Gaussian means (..., N, P)."""
        return self.nets(features)

    def std(self) -> torch.Tensor:
        return self.std_y_coef * torch.sigmoid(self.std_param / self.std_x_coef)

    def distribution(self, params: torch.Tensor, avail: torch.Tensor | None):
        if self.discrete:
            return MaskedCategorical(params, avail)
        return DiagGaussian(params, self.std())


class TransformerPolicy(nn.Module):
    """What MAT and MAT-Dec share: the encoder, its value head (the critic) and the interface.

    Subclasses define `action_distribution` (all agents at once, given teacher-forcing
    actions) and `generate` (choose the actions). All methods fold leading dims into one
    batch dim M, so (E, N, ·) rollout inputs and (L, B, N, ·) minibatches both work.
    """

    uses_dec_actor = False  # whether --dec_actor applies (MAT-Dec only)

    def __init__(self, cfg, env: EnvInfo):
        super().__init__()
        if cfg.use_recurrent_policy:
            raise ValueError(f"--use_recurrent_policy is not supported by --algorithm_name {cfg.algorithm_name} "
                             "(MAT and MAT-Dec are feed-forward transformers over the agent axis); "
                             "use --no-use_recurrent_policy")
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"--n_embd {cfg.n_embd} must be divisible by --n_head {cfg.n_head}")
        self.cfg, self.env = cfg, env
        E, N, out_dim = cfg.n_embd, env.n_agents, policy_param_dim(env.action_space)
        n_heads = 1 if cfg.share_policy else N
        self.encoder = ObservationEncoder(env.obs_dim, E, cfg.n_head, cfg.n_block)
        # Value head V_i on the encoder output; the value loss also trains the encoder,
        # whose parameters belong to the actor optimizer (see MATTrainer).
        self.critic = PerAgent(mat_head(E, 1) for _ in range(n_heads))
        self.dec_actor = self.uses_dec_actor and cfg.dec_actor
        if self.dec_actor:  # one MLP per agent on its own observation (the authors' share_actor=False)
            nets = PerAgent(dec_actor_mlp(env.obs_dim, E, out_dim) for _ in range(N))
        else:  # MAT's action head on the decoder output (MAT-Dec --no-dec_actor: on the encoder output)
            nets = PerAgent(mat_head(E, out_dim) for _ in range(n_heads))
        self.action_head = ActionHead(nets, env.action_space, cfg.std_x_coef, cfg.std_y_coef)
        self.rnn_shape = DUMMY_RNN_SHAPE
        self.stored_extras: dict[str, int] = {}  # nothing beyond the standard buffer fields

    def actor_parameters(self):
        """Everything but the value head: encoder, decoder, action head (one Adam over all of
        them and the value head together in MAT, transformer_policy.py:72-74@d0a94e6; here the
        value head has its own, at the same lr by default)."""
        return [p for name, p in self.named_parameters() if not name.startswith("critic.")]

    def action_distribution(self, encoded, actions, avail):
        """Per-agent distributions (M, N, ·) given the encoder output and teacher-forcing actions."""
        raise NotImplementedError

    def generate(self, encoded, avail, deterministic: bool):
        """Actions (M, N, Da) and the distribution they were drawn from."""
        raise NotImplementedError

    def head_distribution(self, features: torch.Tensor, avail: torch.Tensor | None):
        return self.action_head.distribution(self.action_head(features), avail)

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
        values = self.critic(self.encode(obs))
        return values.reshape(*obs.shape[:-1], 1), rnn_critic

    def act(self, obs, state, rnn_actor, rnn_critic, masks, avail, deterministic: bool = False) -> ActResult:
        """Actions, log-probs and values (E, N, ·) for one step; RNN states pass through."""
        encoded = self.encode(obs)
        actions, dist = self.generate(self.actor_input(obs, encoded), avail, deterministic)
        values = self.critic(encoded)
        return ActResult(actions, dist.log_prob(actions), values, rnn_actor, rnn_critic)

    def act_decentralized(self, obs, rnn_actor, masks, avail, deterministic: bool = True):
        """MAT and MAT-Dec --no-dec_actor: NOT decentralized, the transformer sees every agent's
        observation. MAT-Dec --dec_actor: decentralized, agent i's MLP reads o_i only."""
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
        values = self.critic(encoded)
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
    """MAT-Dec: π(a_i | o_i) from agent i's own MLP (`--dec_actor`, the default and the authors'
    runs), or π(a_i | o_1..o_N) from agent i's encoder output (`--no-dec_actor`); never another
    agent's action."""

    uses_dec_actor = True

    def action_distribution(self, encoded, actions, avail):
        return self.head_distribution(encoded, avail)

    def generate(self, encoded, avail, deterministic: bool):
        dist = self.action_distribution(encoded, None, avail)
        return (dist.mode() if deterministic else dist.sample()), dist
