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


class ByteDropout(nn.Module):
    """Inverted dropout whose keep-mask comes from random bytes: drop where byte < round(256 p).

    Same semantics as nn.Dropout (identity in eval mode, kept units scaled by 1 / (1 - p)), but
    drawing uint8s is ~3.5x cheaper than nn.Dropout's Bernoulli draw on these CPUs, and D's 16
    masks a step were 17 % of an MNIST training step (docs/mnist.md). p is rounded to a multiple
    of 1/256: 0.2 becomes 51/256 = 0.199; 0.5 is exact.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.threshold = round(256 * p)
        if not 0.0 <= p < 1.0 or self.threshold >= 256:
            raise ValueError(f"dropout p must be in [0, 255/256], got {p}")
        self.p = self.threshold / 256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.threshold == 0:
            return x
        keep = torch.empty_like(x, dtype=torch.uint8).random_() >= self.threshold
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


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
