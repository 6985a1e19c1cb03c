"""Small building blocks shared by the networks."""

from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """Max over `pieces` groups of channels: [N, C*pieces, ...] -> [N, C, ...]."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return x.view(n, c // self.pieces, self.pieces, *x.shape[2:]).amax(dim=2)


class ConditionEmbedding(nn.Module):
    """A trained embedding of the condition: class ids [N] (int64) -> [N, dim].

    Each network owns one, and it is registered as a submodule so its weights get gradients and
    are stepped by that network's optimiser (the reference ALI code left it at its random init).
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(num_classes, dim)
        nn.init.normal_(self.table.weight, std=1.0)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.table(y)


def activation(kind: str, leak: float) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(leak, inplace=True)


def width(channels: int, mult: float) -> int:
    return max(8, int(round(channels * mult)))
