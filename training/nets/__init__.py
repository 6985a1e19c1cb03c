"""Network construction: `build_networks(cfg)` returns the encoder, decoder and discriminator."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from training.config import ModelConfig
from training.nets.conv import ConvDecoder, ConvDiscriminator, ConvEncoder, ConvXDiscriminator
from training.nets.toy import ToyDecoder, ToyDiscriminator, ToyEncoder, ToyXDiscriminator


@dataclass
class Networks:
    encoder: nn.Module
    decoder: nn.Module
    discriminator: nn.Module

    def modules(self) -> dict[str, nn.Module]:
        return {
            "encoder": self.encoder,
            "decoder": self.decoder,
            "discriminator": self.discriminator,
        }


def build_networks(cfg: ModelConfig) -> Networks:
    """Build Gz, Gx and D for a config. For kind="gan" the encoder exists but is never trained."""
    if cfg.arch == "toy":
        enc, dec = ToyEncoder(cfg), ToyDecoder(cfg)
        disc: nn.Module = ToyDiscriminator(cfg) if cfg.kind == "ali" else ToyXDiscriminator(cfg)
    else:
        enc, dec = ConvEncoder(cfg), ConvDecoder(cfg)
        disc = ConvDiscriminator(cfg) if cfg.kind == "ali" else ConvXDiscriminator(cfg)
    return Networks(enc, dec, disc)
