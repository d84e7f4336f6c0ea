"""Network building blocks shared by every algorithm: MLP and GRU bases and init."""
from __future__ import annotations

import torch
from torch import nn


def init_linear(layer: nn.Linear, gain: float = 2 ** 0.5) -> nn.Linear:
    """Orthogonal weights and zero bias, as in the MAPPO paper's implementation."""
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


class MLPBase(nn.Module):
    """Input LayerNorm, then `layer_N + 1` hidden layers of `hidden_size`, each Linear → ReLU → LayerNorm.

    `layer_N` counts the hidden layers after the first, as in the MAPPO codebase's `MLPBase`
    (`fc1` then `layer_N` copies of `fc_h`) and the AgentMixer authors' copy of it, so their
    `--layer_N 1` (two hidden layers) builds the same network here. The input LayerNorm
    (MAPPO's feature normalisation) keeps unscaled observations (MuJoCo velocities, grid
    coordinates) from saturating the first layer.
    """

    def __init__(self, input_dim: int, hidden_size: int, layer_N: int, feature_norm: bool = True):
        super().__init__()
        self.input_norm = nn.LayerNorm(input_dim) if feature_norm else nn.Identity()
        layers, width = [], input_dim
        for _ in range(layer_N + 1):
            layers += [init_linear(nn.Linear(width, hidden_size)), nn.ReLU(), nn.LayerNorm(hidden_size)]
            width = hidden_size
        self.layers = nn.Sequential(*layers)
        self.output_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., hidden_size)."""
        return self.layers(self.input_norm(x))


class GRULayer(nn.Module):
    """A GRU over sequences whose hidden state is zeroed at episode starts.

    `masks[t] == 0` means step t begins a new episode, so the hidden state carried
    into step t is reset before the GRU sees it.
    """

    def __init__(self, input_dim: int, hidden_size: int, recurrent_N: int):
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden_size, num_layers=recurrent_N)
        for name, param in self.gru.named_parameters():
            if "weight" in name:
                nn.init.orthogonal_(param)
            else:
                nn.init.zeros_(param)
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor):
        """x (L, B, D), hidden (B, recurrent_N, H) at the first step, masks (L, B, 1).

        Returns features (L, B, H) and the hidden state after the last step (B, recurrent_N, H).
        """
        h = hidden.transpose(0, 1).contiguous()  # (recurrent_N, B, H) as nn.GRU wants
        outputs = []
        # Run uninterrupted stretches in one cuDNN/MKL call; only split where some mask is 0.
        starts = [0] + [t for t in range(1, x.shape[0]) if (masks[t] == 0).any()] + [x.shape[0]]
        for begin, end in zip(starts[:-1], starts[1:]):
            h = h * masks[begin].view(1, -1, 1)
            out, h = self.gru(x[begin:end], h)
            outputs.append(out)
        return self.norm(torch.cat(outputs, dim=0)), h.transpose(0, 1)


class FeatureExtractor(nn.Module):
    """MLP base, optionally followed by a GRU: the trunk of actors and critics."""

    def __init__(self, input_dim: int, hidden_size: int, layer_N: int, recurrent: bool, recurrent_N: int):
        super().__init__()
        self.mlp = MLPBase(input_dim, hidden_size, layer_N)
        self.rnn = GRULayer(self.mlp.output_dim, hidden_size, recurrent_N) if recurrent else None
        self.output_dim = hidden_size if recurrent else self.mlp.output_dim

    def forward(self, x: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor):
        """x (L, B, D), hidden (B, recurrent_N, H), masks (L, B, 1) -> features (L, B, F), hidden."""
        features = self.mlp(x)
        if self.rnn is None:
            return features, hidden
        return self.rnn(features, hidden, masks)
