"""The paper's 2-D mixture networks (ALI appendix): MLPs with 400 units.

x and z are both 2-D. The encoder takes [x, eps] and outputs z directly (change of variables), so
q(z|x) is not restricted to a Gaussian.
"""

from __future__ import annotations

import torch
from torch import nn

from training.config import ModelConfig
from training.nets.layers import Maxout

HIDDEN = 400


def _mlp_bn(n_in: int, n_out: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else HIDDEN, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU()]
    mods.append(nn.Linear(HIDDEN, n_out))
    return nn.Sequential(*mods)


def _maxout_stack(n_in: int, layers: int, pieces: int, dropout: float) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
        mods += [nn.Linear(n_in if i == 0 else HIDDEN, HIDDEN * pieces), Maxout(pieces)]
    mods.append(nn.Linear(HIDDEN, 1))
    return nn.Sequential(*mods)


class ToyEncoder(nn.Module):
    """Gz(x): [x (N, 2), eps (N, 2)] -> z (N, nlat)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.nlat = cfg.nlat
        self.net = _mlp_bn(2 + cfg.nlat, cfg.nlat, layers=3)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], self.nlat, device=x.device)
        return self.net(torch.cat([x, noise], dim=1))


class ToyDecoder(nn.Module):
    """Gx(z): z (N, 2) -> 400 x 4 -> x (N, 2)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = _mlp_bn(cfg.nlat, 2, layers=4)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """D(x, z): identity x and z branches, concatenated, maxout layers, a logit (N,). No BN."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = _maxout_stack(2 + cfg.nlat, 3, cfg.maxout_pieces, cfg.d_dropout)

    def forward(
        self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.net(torch.cat([x, z], dim=1)).squeeze(1)


class ToyXDiscriminator(nn.Module):
    """GAN baseline D(x): the same maxout stack on x alone."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = _maxout_stack(2, 3, cfg.maxout_pieces, cfg.d_dropout)

    def forward(
        self, x: torch.Tensor, z: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.net(x).squeeze(1)
