"""Convolutional encoder, decoder and discriminators for images, built from an ArchSpec.

Pixels live in [-1, 1] (tanh output). A conditional model feeds a trained label embedding to each
network: as extra constant input channels for x-convs, concatenated to z for the decoder, and to the
D(z) branch input for the discriminator.
"""

from __future__ import annotations

import torch
from torch import nn

from training.config import ModelConfig
from training.nets.layers import ByteDropout, ConditionEmbedding, Maxout, activation, width
from training.nets.specs import SPECS, Layer


def _conv(kind: str, c_in: int, c_out: int, k: int, s: int, p: int, bias: bool) -> nn.Module:
    cls = nn.ConvTranspose2d if kind == "convT" else nn.Conv2d
    return cls(c_in, c_out, k, stride=s, padding=p, bias=bias)


def _bn_stack(layers: list[Layer], c_in: int, cfg: ModelConfig) -> tuple[nn.Sequential, int]:
    """conv -> BN -> leaky ReLU for each layer; returns the stack and its output channels."""
    mods: list[nn.Module] = []
    for kind, k, c, s, p in layers:
        c_out = width(c, cfg.width)
        mods += [_conv(kind, c_in, c_out, k, s, p, bias=False), nn.BatchNorm2d(c_out)]
        mods.append(activation("lrelu", cfg.leak))
        c_in = c_out
    return nn.Sequential(*mods), c_in


def _d_stack(
    layers: list[Layer], c_in: int, cfg: ModelConfig, first_dropout: float
) -> tuple[nn.Sequential, int]:
    """D layers: dropout on each layer's input, conv, leaky ReLU or maxout. No batch norm."""
    mods: list[nn.Module] = []
    pieces = cfg.maxout_pieces if cfg.d_activation == "maxout" else 1
    for i, (kind, k, c, s, p) in enumerate(layers):
        drop = first_dropout if i == 0 else cfg.d_dropout_inner
        if drop > 0:
            mods.append(ByteDropout(drop))
        c_out = width(c, cfg.width)
        mods.append(_conv(kind, c_in, c_out * pieces, k, s, p, bias=True))
        mods.append(Maxout(pieces) if pieces > 1 else activation("lrelu", cfg.leak))
        c_in = c_out
    return nn.Sequential(*mods), c_in


def _label_planes(emb: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[N, E] -> [N, E, H, W] matching like's spatial size."""
    return emb[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


class ConvEncoder(nn.Module):
    """Gz(x): x [N, C, H, W] -> mu, log_sigma [N, nlat]; z = mu + sigma * eps."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        spec = SPECS[cfg.arch]
        self.nlat = cfg.nlat
        self.embed = ConditionEmbedding(cfg.num_classes, cfg.embed_dim) if cfg.conditional else None
        c_in = cfg.channels + (cfg.embed_dim if cfg.conditional else 0)
        self.body, c = _bn_stack(spec.encoder, c_in, cfg)
        self.head = nn.Conv2d(c, 2 * cfg.nlat, 1)

    def moments(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.embed is not None:
            if y is None:
                raise ValueError("conditional encoder needs labels y")
            x = torch.cat([x, _label_planes(self.embed(y), x)], dim=1)
        h = self.head(self.body(x)).flatten(1)  # [N, 2*nlat]
        mu, log_sigma = h.chunk(2, dim=1)
        return mu, log_sigma

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        mu, log_sigma = self.moments(x, y)
        if noise is None:
            noise = torch.randn_like(mu)
        return mu + log_sigma.exp() * noise


class ConvDecoder(nn.Module):
    """Gx(z): z [N, nlat] -> x [N, C, H, W] in [-1, 1]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        spec = SPECS[cfg.arch]
        self.embed = ConditionEmbedding(cfg.num_classes, cfg.embed_dim) if cfg.conditional else None
        c_in = cfg.nlat + (cfg.embed_dim if cfg.conditional else 0)
        self.body, c = _bn_stack(spec.decoder, c_in, cfg)
        self.head = nn.Conv2d(c, cfg.channels, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("conditional decoder needs labels y")
            z = torch.cat([z, self.embed(y)], dim=1)
        return torch.tanh(self.head(self.body(z[:, :, None, None])))


class ConvDiscriminator(nn.Module):
    """D(x, z) -> logit [N]: a conv D(x) branch, a 1x1 D(z) branch, and a joint 1x1 stack.

    Conditional, d_condition="concat": label planes beside x, the embedding beside z.
    Conditional, d_condition="projection": x alone into D(x), the embedding beside z, plus
    <proj(y), h_joint> on the logit and a class head on the label-free D(x) features.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        spec = SPECS[cfg.arch]
        e = cfg.embed_dim if cfg.conditional else 0
        self.projection = cfg.conditional and cfg.d_condition == "projection"
        self.embed = ConditionEmbedding(cfg.num_classes, cfg.embed_dim) if cfg.conditional else None
        ex = 0 if self.projection else e  # label planes beside x only in "concat" mode
        self.dx, cx = _d_stack(spec.d_x, cfg.channels + ex, cfg, cfg.d_dropout)
        z_layers: list[Layer] = [("conv", 1, c, 1, 0) for c in spec.d_z]
        self.dz, cz = _d_stack(z_layers, cfg.nlat + e, cfg, cfg.d_dropout)
        j_layers: list[Layer] = [("conv", 1, c, 1, 0) for c in spec.d_joint]
        self.joint, cj = _d_stack(j_layers, cx + cz, cfg, cfg.d_dropout_inner)
        self.out = nn.Conv2d(cj, 1, 1)
        if self.projection:
            self.proj = ConditionEmbedding(cfg.num_classes, cj)
            self.classes = nn.Conv2d(cx, cfg.num_classes, 1)
        elif cfg.aux_classes > 0 and not cfg.conditional:
            self.classes = nn.Conv2d(cx, cfg.aux_classes, 1)

    def forward(
        self,
        x: torch.Tensor,
        z: torch.Tensor,
        y: torch.Tensor | None = None,
        with_classes: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """logit [N]; with_classes: (logit, the class head's logits [N, classes])."""
        z = z[:, :, None, None]
        if self.embed is not None:
            if y is None:
                raise ValueError("conditional discriminator needs labels y")
            emb = self.embed(y)
            if not self.projection:
                x = torch.cat([x, _label_planes(emb, x)], dim=1)
            z = torch.cat([z, emb[:, :, None, None]], dim=1)
        hx = self.dx(x)  # [N, cx, 1, 1]
        hz = self.dz(z)  # [N, cz, 1, 1]
        h = self.joint(torch.cat([hx, hz], dim=1))  # [N, cj, 1, 1]
        logit = self.out(h).flatten()
        if with_classes and not hasattr(self, "classes"):
            raise ValueError(
                "only a projection discriminator (or aux_classes > 0) has a class head"
            )
        if self.projection:
            assert y is not None
            logit = logit + (self.proj(y) * h.flatten(1)).sum(1)
        return (logit, self.classes(hx).flatten(1)) if with_classes else logit


class ConvXDiscriminator(nn.Module):
    """GAN baseline D(x) -> logit [N]: the same D(x) branch and a joint stack on it alone."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        spec = SPECS[cfg.arch]
        e = cfg.embed_dim if cfg.conditional else 0
        self.embed = ConditionEmbedding(cfg.num_classes, cfg.embed_dim) if cfg.conditional else None
        self.dx, cx = _d_stack(spec.d_x, cfg.channels + e, cfg, cfg.d_dropout)
        j_layers: list[Layer] = [("conv", 1, c, 1, 0) for c in spec.d_joint]
        self.joint, cj = _d_stack(j_layers, cx, cfg, cfg.d_dropout_inner)
        self.out = nn.Conv2d(cj, 1, 1)

    def forward(
        self, x: torch.Tensor, z: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("conditional discriminator needs labels y")
            x = torch.cat([x, _label_planes(self.embed(y), x)], dim=1)
        return self.out(self.joint(self.dx(x))).flatten()
