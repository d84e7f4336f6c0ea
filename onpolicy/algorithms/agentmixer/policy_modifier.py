"""Policy Modifier (PM) of AgentMixer: mixes per-agent tokens into per-agent outputs h.

Shapes use B = batch, N = agents, C = token channels, H = hidden width.
The PM only shapes the joint policy's exploration; it is never used at evaluation.

Module for module it is the authors' `Action_Attention` with `--mix_id 0` (the MLP-mixer), in
LiZhYun/BackPropagationThroughAgents bta/algorithms/utils/action_attention.py@6bdca01 (below "AA"; of the
stored versions, the one whose forward takes the six inputs their predator-prey runner passes it,
bta/runner/temporal/predator_runner.py@b7a9cb8; no copy at b7a9cb8 itself was found):
- state encoder: their MLPBase (AA:50-51; bta/algorithms/utils/mlp.py:10-32,73-74@ecc9a14): input
  LayerNorm, then `layer_N + 1` Linear-ReLU-LayerNorm layers of `--hidden_size` (our MLPBase), and with
  recurrent policies their RNNLayer (AA:54-56): a GRU and a LayerNorm (our GRULayer);
- policy encoder: Linear-ReLU-LayerNorm to 64 channels (their logit_encoder, AA:75-77);
- token encoder: Linear-ReLU-LayerNorm of [state features, policy features, actor feature, one-hot id]
  (their feat_encoder, AA:81-84, input in that order, AA:135);
- mixer blocks (AA:192-228): x + MLP over agents of LayerNorm(x), then x + MLP over channels of
  LayerNorm(x); each MLP is their FeedForward (AA:271-292), Linear-ReLU-LayerNorm-Linear, hidden
  0.5 · 64 = 32 over agents and 4 · 64 = 256 over channels;
- a final LayerNorm and a Linear head (AA:107,112).
Initialisation as theirs: orthogonal weights with gain sqrt(2) (ReLU's) and zero biases in every
Linear that feeds a ReLU and in both Linears of every FeedForward (AA:20-23, 275-287), orthogonal
gain 0.01 for the head (AA:112), GRU weights orthogonal and biases zero, LayerNorms at 1 and 0.
Their id_encoder (AA:78-80) and MLPLayer.fc_h (mlp.py:24-25, deep-copied into fc2 which is what
runs) are built but never called; we do not build them.
"""

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from onpolicy.algorithms.utils.networks import GRULayer, MLPBase, init_linear

PM_TYPES = ("mixer", "hypernet", "attention")
FEATURE_DIM = 64  # width of the policy features and tokens (the authors' attn_size 64)
RELU_GAIN = 2 ** 0.5  # nn.init.calculate_gain("relu"), the authors' gain for Linears before a ReLU


def feature_layer(in_dim: int, out_dim: int) -> nn.Sequential:
    """Linear -> ReLU -> LayerNorm with an orthogonal sqrt(2)-gain Linear: the PM's encoders."""
    return nn.Sequential(init_linear(nn.Linear(in_dim, out_dim), RELU_GAIN), nn.ReLU(), nn.LayerNorm(out_dim))


def feed_forward(dim: int, hidden: int) -> nn.Sequential:
    """Linear -> ReLU -> LayerNorm -> Linear, both Linears orthogonal with gain sqrt(2): the authors'
    FeedForward (action_attention.py:271-292@6bdca01), the MLP of every mixing layer."""
    return nn.Sequential(init_linear(nn.Linear(dim, hidden), RELU_GAIN), nn.ReLU(), nn.LayerNorm(hidden),
                         init_linear(nn.Linear(hidden, dim), RELU_GAIN))


# Hidden values per block of a ColumnMLP on a CPU (2 MiB of float32): a block stays in cache between
# the matmul that writes it and the ones that read it.
CPU_BLOCK_FLOATS = 1 << 19
# Up to this inner dimension a CPU product is faster as a sum of outer products than as a GEMM, whose
# packing dominates when the inner dimension is the agent-axis MLP's N + 1 (measured: 2x at 2 and 3, even at 4).
SMALL_INNER_DIM = 4


def _product(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out = a · b for a (R, K), b (K, W)."""
    if a.shape[1] > SMALL_INNER_DIM or not a.device.type == "cpu":
        return torch.mm(a, b, out=out)
    torch.mul(a[:, :1], b[:1], out=out)
    for k in range(1, a.shape[1]):
        out.addcmul_(a[:, k:k + 1], b[k:k + 1])
    return out


class ColumnMLP(torch.autograd.Function):
    """Y = W2 · LN(relu(W1 · X + b1)) + b2 for the columns of X (Din, M) -> Y (Dout, M), where LN is a
    LayerNorm over the H hidden values of each column (weight γ, bias β, eps), or none when γ is None.

    The same function as nn.Linear(Din, H) -> ReLU -> nn.LayerNorm(H) -> nn.Linear(H, Dout) on the rows
    of X^T, computed differently because the PM's two MLPs are memory-bound: their hidden layers have
    M·H values (20 M for the agent-axis MLP at the paper's sizes) and autograd would write and re-read
    them about ten times. Here the hidden layer is made in cache-sized blocks of columns and recomputed
    in the backward pass instead of stored, and every product is one 2-D matmul: each bias is the last
    column of its weight, multiplying a row of ones under the block, so no pass broadcasts a bias, and
    the bias gradients come out of the weight-gradient matmuls. The LayerNorm's backward is the usual
    one, per column: with x̂ the normalised hidden values, r = 1/sqrt(var + eps) and g = γ · dL/dLN,
    dL/dh = r · (g - mean(g) - x̂ · mean(g · x̂)).
    """

    @staticmethod
    def forward(ctx, columns, w1, b1, w2, b2, norm_weight=None, norm_bias=None, eps=1e-5):
        norm = None if norm_weight is None else (norm_weight, norm_bias, eps)
        block = max(1, CPU_BLOCK_FLOATS // w1.shape[0]) if columns.device.type == "cpu" else columns.shape[1]
        w1b, w2b = torch.cat([w1, b1[:, None]], 1), torch.cat([w2, b2[:, None]], 1)
        out = columns.new_empty(w2.shape[0], columns.shape[1])
        for blk in _column_blocks(columns, w1b, block, norm):
            torch.mm(w2b, blk.out1, out=out[:, blk.span])
        ctx.save_for_backward(columns, w1b, w2b, norm_weight, norm_bias)
        ctx.block, ctx.eps = block, eps
        return out

    @staticmethod
    def backward(ctx, grad_out):
        columns, w1b, w2b, norm_weight, norm_bias = ctx.saved_tensors
        norm = None if norm_weight is None else (norm_weight, norm_bias, ctx.eps)
        hidden_dim = w2b.shape[1] - 1
        grad_columns = torch.empty_like(columns)
        grad_w1b, grad_w2b = torch.zeros_like(w1b), torch.zeros_like(w2b)
        grad_norm_weight = None if norm is None else torch.zeros_like(norm_weight)
        grad_norm_bias = None if norm is None else torch.zeros_like(norm_bias)
        for blk in _column_blocks(columns, w1b, ctx.block, norm):
            g_block = grad_out[:, blk.span]
            grad_w2b.addmm_(g_block, blk.out1.t())
            grad_hidden = _product(w2b[:, :hidden_dim].t(), g_block, torch.empty_like(blk.hidden))
            if norm is not None:  # through the LayerNorm: grad_hidden is dL/dLN here, dL/dh after
                grad_norm_weight += (grad_hidden * blk.xhat).sum(1)
                grad_norm_bias += grad_hidden.sum(1)
                grad_hidden.mul_(norm_weight[:, None])
                mean_g = grad_hidden.mean(0)
                mean_gx = (grad_hidden * blk.xhat).mean(0)
                grad_hidden.sub_(mean_g).sub_(blk.xhat * mean_gx).mul_(blk.rstd)
            grad_hidden = torch.ops.aten.threshold_backward(grad_hidden, blk.hidden, 0)
            grad_w1b.addmm_(grad_hidden, blk.x1.t())
            torch.mm(w1b[:, :-1].t(), grad_hidden, out=grad_columns[:, blk.span])
        return (grad_columns, grad_w1b[:, :-1], grad_w1b[:, -1], grad_w2b[:, :-1], grad_w2b[:, -1],
                grad_norm_weight, grad_norm_bias, None)


class _Block(NamedTuple):
    span: slice  # the block's columns
    x1: torch.Tensor  # (Din + 1, width): the block's columns with a row of ones
    hidden: torch.Tensor  # (H, width): relu(W1 · X + b1)
    out1: torch.Tensor  # (H + 1, width): what the second Linear reads (LN(hidden), or hidden), with a row of ones
    xhat: torch.Tensor | None  # (H, width): the LayerNorm's normalised hidden values
    rstd: torch.Tensor | None  # (width,): the LayerNorm's 1 / sqrt(var + eps) per column


def _column_blocks(columns: torch.Tensor, w1b: torch.Tensor, block: int, norm=None):
    """For each block of `block` columns, a _Block. The buffers are reused from block to block, so
    each is valid until the next one is yielded. norm: (γ, β, eps) of the hidden LayerNorm, or None."""
    din, total = columns.shape
    hidden_dim = w1b.shape[0]
    buffers = {}
    for start in range(0, total, block):
        width = min(block, total - start)
        if width not in buffers:
            x1, out1 = columns.new_empty(din + 1, width), columns.new_empty(hidden_dim + 1, width)
            x1[din], out1[hidden_dim] = 1.0, 1.0
            if norm is None:
                buffers[width] = x1, out1, out1[:hidden_dim], None
            else:
                buffers[width] = x1, out1, columns.new_empty(hidden_dim, width), columns.new_empty(hidden_dim, width)
        x1, out1, hidden, xhat = buffers[width]
        span = slice(start, start + width)
        x1[:din] = columns[:, span]
        _product(w1b, x1, hidden).relu_()
        rstd = None
        if norm is not None:
            weight, bias, eps = norm
            var, mean = torch.var_mean(hidden, dim=0, correction=0)
            rstd = (var + eps).rsqrt_()
            torch.sub(hidden, mean, out=xhat).mul_(rstd)
            torch.addcmul(bias[:, None], xhat, weight[:, None], out=out1[:hidden_dim])
        yield _Block(span, x1, hidden, out1, xhat, rstd)


def column_mlp(columns: torch.Tensor, mlp: nn.Sequential) -> torch.Tensor:
    """ColumnMLP with the parameters of `mlp` = feed_forward(...) (Linear, ReLU, LayerNorm, Linear) or
    Sequential(Linear, ReLU, Linear): (Din, M) -> (Dout, M)."""
    first, last = mlp[0], mlp[-1]
    if len(mlp) == 3:
        return ColumnMLP.apply(columns, first.weight, first.bias, last.weight, last.bias)
    norm = mlp[2]
    return ColumnMLP.apply(columns, first.weight, first.bias, last.weight, last.bias, norm.weight, norm.bias, norm.eps)


class AgentMixing(nn.Module):
    """MLP-mixer token mixing: an MLP over the agent axis, shared by all channels (the authors'
    token mixer, action_attention.py:202-204,213-216@6bdca01)."""

    def __init__(self, n_agents: int, channels: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.mlp = feed_forward(n_agents, hidden)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, C) -> (B, N, C)."""
        B, N, C = tokens.shape
        # Columns are (sample, channel) pairs: the MLP runs along the agent axis of each.
        columns = self.norm(tokens).transpose(0, 1).reshape(N, B * C)
        return tokens + column_mlp(columns, self.mlp).view(N, B, C).transpose(0, 1)


class HypernetAgentMixing(nn.Module):
    """Agent mixing whose weights are generated per sample from the pooled token.

    A plain AgentMixing uses one fixed (N -> H -> N) MLP for every state; here a
    hypernetwork reads the mean token (a global summary of the state) and emits
    the two mixing matrices, so how agents are combined depends on the situation.
    """

    def __init__(self, n_agents: int, channels: int, hidden: int):
        super().__init__()
        self.n_agents = n_agents
        self.hidden = hidden
        self.norm = nn.LayerNorm(channels)
        self.make_weights_in = nn.Linear(channels, hidden * n_agents)
        self.make_weights_out = nn.Linear(channels, n_agents * hidden)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, C) -> (B, N, C)."""
        batch = tokens.shape[0]
        normed = self.norm(tokens)
        pooled = normed.mean(dim=1)  # (B, C)
        # Scale like a fan-in initialisation so the generated layers neither blow up nor vanish.
        weights_in = self.make_weights_in(pooled).view(batch, self.hidden, self.n_agents)
        weights_out = self.make_weights_out(pooled).view(batch, self.n_agents, self.hidden)
        hidden = F.relu(weights_in @ normed / math.sqrt(self.n_agents))  # (B, H, C)
        return tokens + weights_out @ hidden / math.sqrt(self.hidden)


class SelfAttentionMixing(nn.Module):
    """Single-head scaled dot-product self-attention over the agent tokens."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.query = nn.Linear(channels, channels)
        self.key = nn.Linear(channels, channels)
        self.value = nn.Linear(channels, channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, C) -> (B, N, C)."""
        normed = self.norm(tokens)
        query, key, value = self.query(normed), self.key(normed), self.value(normed)
        scores = query @ key.transpose(1, 2) / math.sqrt(query.shape[-1])  # (B, N, N)
        attended = torch.softmax(scores, dim=-1) @ value
        return tokens + self.out(attended)


class ChannelMixing(nn.Module):
    """MLP over the channels of each agent token; never mixes across agents (the authors' channel
    mixer, action_attention.py:206-208,218-221@6bdca01)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.mlp = feed_forward(channels, hidden)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, C) -> (B, N, C)."""
        rows = self.norm(tokens).reshape(-1, tokens.shape[-1])  # one row per (sample, agent)
        return tokens + column_mlp(rows.t(), self.mlp).t().view(tokens.shape)


class MixerBlock(nn.Module):
    """Agent mixing (across agents) followed by channel mixing (within each agent)."""

    def __init__(self, agent_mixing: nn.Module, channel_mixing: ChannelMixing):
        super().__init__()
        self.agent_mixing = agent_mixing
        self.channel_mixing = channel_mixing

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, C) -> (B, N, C)."""
        return self.channel_mixing(self.agent_mixing(tokens))


def make_agent_mixing(pm_type: str, n_agents: int, channels: int, agent_hidden: int) -> nn.Module:
    """The cross-agent layer that distinguishes the three PM variants."""
    if pm_type == "mixer":
        return AgentMixing(n_agents, channels, agent_hidden)
    if pm_type == "hypernet":
        return HypernetAgentMixing(n_agents, channels, agent_hidden)
    return SelfAttentionMixing(channels)


class PolicyModifier(nn.Module):
    """Mixes per-agent tokens into per-agent modifier outputs h (B, N, out_dim).

    The state encoder is the actors' MLPBase (input LayerNorm, `layer_N + 1` layers of width
    `state_hidden`); with `recurrent_N` > 0 a GRU of width `state_hidden` follows it over the state
    sequence (the authors' recurrent PM, used with recurrent policies), and its hidden state
    (B, N, recurrent_N, state_hidden) is carried like an actor's. Every pm_type shares it.
    """

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        policy_dim: int,
        obs_feat_dim: int,
        out_dim: int,
        pm_type: str = "mixer",
        n_blocks: int = 1,
        channels: int = 64,
        agent_hidden: int = 32,
        channel_hidden: int = 256,
        head_gain: float = 0.01,
        recurrent_N: int = 0,
        state_hidden: int = FEATURE_DIM,
        layer_N: int = 1,
    ):
        super().__init__()
        if pm_type not in PM_TYPES:
            raise ValueError(f"unknown pm_type {pm_type!r}; choose one of {PM_TYPES}")
        self.n_agents = n_agents
        self.state_dim = state_dim
        self.policy_dim = policy_dim
        self.obs_feat_dim = obs_feat_dim
        self.pm_type = pm_type

        self.state_encoder = MLPBase(state_dim, state_hidden, layer_N)
        self.state_rnn = GRULayer(state_hidden, state_hidden, recurrent_N) if recurrent_N else None
        self.policy_encoder = feature_layer(policy_dim, FEATURE_DIM)
        token_in_dim = state_hidden + FEATURE_DIM + obs_feat_dim + n_agents
        self.token_encoder = feature_layer(token_in_dim, channels)
        # The one-hot agent id lets a shared network tell the tokens apart.
        self.register_buffer("agent_ids", torch.eye(n_agents), persistent=False)

        self.blocks = nn.ModuleList(
            MixerBlock(
                make_agent_mixing(pm_type, n_agents, channels, agent_hidden),
                ChannelMixing(channels, channel_hidden),
            )
            for _ in range(n_blocks)
        )
        self.final_norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, out_dim)
        # A tiny head makes h start near 0, so the joint policy starts near the individual ones.
        nn.init.orthogonal_(self.head.weight, gain=head_gain)
        nn.init.zeros_(self.head.bias)

    def forward(self, state: torch.Tensor, policy_params: torch.Tensor, obs_feat: torch.Tensor) -> torch.Tensor:
        """state (B, N, Ds), policy_params (B, N, P), obs_feat (B, N, F) -> h (B, N, out_dim).

        All inputs are detached: the PM must not push gradient into the actors
        through its inputs, only through the joint policy it shapes. Feed-forward PMs only;
        a recurrent PM runs encode_state over the sequence, then mix.
        """
        if self.state_rnn is not None:
            raise ValueError("a recurrent PM needs its hidden state: call encode_state(...) then mix(...)")
        self._check_inputs(state, policy_params, obs_feat)
        return self.mix(self.state_encoder(state.detach()), policy_params, obs_feat)

    def encode_state(self, state: torch.Tensor, hidden: torch.Tensor | None = None,
                     masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """State sequence (L, B, N, Ds) -> features (L, B, N, Fs) and the next hidden state
        (B, N, R, H) (None for a feed-forward PM); hidden (B, N, R, H), masks (L, B, N, 1)."""
        if state.shape[-1] != self.state_dim:
            raise ValueError(f"state: expected {self.state_dim} features, got shape {tuple(state.shape)}")
        features = self.state_encoder(state.detach())
        if self.state_rnn is None:
            return features, hidden
        L, B, N = state.shape[:3]
        features, hidden_out = self.state_rnn(features.reshape(L, B * N, -1), hidden.reshape(B * N, *hidden.shape[2:]),
                                              masks.reshape(L, B * N, 1))
        return features.reshape(L, B, N, -1), hidden_out.reshape(hidden.shape)

    def mix(self, state_features: torch.Tensor, policy_params: torch.Tensor, obs_feat: torch.Tensor) -> torch.Tensor:
        """Encoded state (B, N, Fs), policy_params (B, N, P), obs_feat (B, N, F) -> h (B, N, out_dim)."""
        policy_params, obs_feat = policy_params.detach(), obs_feat.detach()
        agent_ids = self.agent_ids.expand(state_features.shape[0], -1, -1)  # (B, N, N)
        token_inputs = torch.cat(
            [state_features, self.policy_encoder(policy_params), obs_feat, agent_ids], dim=-1
        )
        tokens = self.token_encoder(token_inputs)  # (B, N, C)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.final_norm(tokens))

    def _check_inputs(self, state: torch.Tensor, policy_params: torch.Tensor, obs_feat: torch.Tensor) -> None:
        """Raise ValueError naming the input whose shape is not (B, N, D) as configured."""
        expected_dims = {"state": self.state_dim, "policy_params": self.policy_dim, "obs_feat": self.obs_feat_dim}
        inputs = {"state": state, "policy_params": policy_params, "obs_feat": obs_feat}
        for name, tensor in inputs.items():
            expected = (self.n_agents, expected_dims[name])
            if tensor.ndim != 3 or tuple(tensor.shape[1:]) != expected:
                raise ValueError(
                    f"{name}: expected shape (B, {expected[0]}, {expected[1]}), got {tuple(tensor.shape)}"
                )
        batch_sizes = {name: tensor.shape[0] for name, tensor in inputs.items()}
        if len(set(batch_sizes.values())) != 1:
            raise ValueError(f"inputs must share the batch size, got {batch_sizes}")
