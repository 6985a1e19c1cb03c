"""Training throughput of the MNIST preset, two paired comparisons on the same fixed batch.

1. Our Trainer vs a plain PyTorch loop, same networks. The plain loop is the textbook ALI step:
   D update with the generators under no_grad, then a fresh forward of encoder and decoder for
   the generator update (and, when the preset uses ALICE's cycle term, a separate decoder call on
   Gz(x) for it).
2. Our Trainer with D's ByteDropout (training/nets/layers.py) vs the same Trainer with
   torch's nn.Dropout of the same p in its place.

The two sides of each comparison run alternately, round by round, so machine drift hits both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from training.config import preset
from training.nets import build_networks
from training.nets.layers import ByteDropout
from training.trainer import Trainer

Step = Callable[[torch.Tensor, torch.Tensor], object]


class PlainLoop:
    def __init__(self, name: str) -> None:
        mcfg, tcfg = preset(name)
        torch.manual_seed(0)
        n = build_networks(mcfg)
        self.enc, self.dec, self.disc, self.nlat = n.encoder, n.decoder, n.discriminator, mcfg.nlat
        self.cond = mcfg.conditional
        self.cycle_weight = tcfg.cycle_weight
        self.opt_d = torch.optim.Adam(self.disc.parameters(), tcfg.lr_d, betas=tcfg.betas)
        g = list(self.enc.parameters()) + list(self.dec.parameters())
        self.opt_g = torch.optim.Adam(g, tcfg.lr_g, betas=tcfg.betas)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        y_ = y if self.cond else None
        z = torch.randn(x.shape[0], self.nlat)
        with torch.no_grad():
            z_hat, x_tilde = self.enc(x, y_), self.dec(z, y_)
        d_real, d_fake = self.disc(x, z_hat, y_), self.disc(x_tilde, z, y_)
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        z_hat = self.enc(x, y_)
        d_real, d_fake = self.disc(x, z_hat, y_), self.disc(self.dec(z, y_), z, y_)
        loss_g = F.softplus(d_real).mean() + F.softplus(-d_fake).mean()
        if self.cycle_weight > 0:
            loss_g = loss_g + self.cycle_weight * F.mse_loss(self.dec(z_hat, y_), x)
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()


def _batch(name: str, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    mcfg, _ = preset(name)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, mcfg.channels, mcfg.image_size, mcfg.image_size, generator=g) * 2 - 1
    return x, torch.randint(0, 10, (batch,), generator=g)


def paired(a: Step, b: Step, x: torch.Tensor, y: torch.Tensor, steps: int, rounds: int) -> dict:
    """Seconds per step of a and b (medians over rounds), timed alternately, round by round."""
    a(x, y)  # warm-up
    b(x, y)
    t_a: list[float] = []
    t_b: list[float] = []
    for _ in range(rounds):
        for fn, out in ((a, t_a), (b, t_b)):
            t0 = time.perf_counter()
            for _ in range(steps):
                fn(x, y)
            out.append((time.perf_counter() - t0) / steps)
    med = lambda t: sorted(t)[len(t) // 2]  # noqa: E731
    return {
        "a": med(t_a),
        "b": med(t_b),
        "pairwise": [q / p for p, q in zip(t_a, t_b, strict=True)],
    }


def compare(name: str = "mnist", steps: int = 10, rounds: int = 3, batch: int = 100) -> dict:
    """Our Trainer vs the plain loop: images/s of each and their ratio (> 1: ours is faster)."""
    mcfg, tcfg = preset(name)
    ours = Trainer(mcfg, tcfg, total_steps=10_000)
    plain = PlainLoop(name)
    x, y = _batch(name, batch)
    r = paired(ours.train_step, plain.step, x, y, steps, rounds)
    return {
        "preset": name,
        "batch": batch,
        "ours_images_per_s": batch / r["a"],
        "plain_images_per_s": batch / r["b"],
        "ratio": r["b"] / r["a"],
        "pairwise_ratios": r["pairwise"],
    }


def with_torch_dropout(trainer: Trainer) -> Trainer:
    """Swap D's ByteDropout modules for nn.Dropout of the same p, in place."""
    for parent in list(trainer.disc.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, ByteDropout):
                setattr(parent, child_name, nn.Dropout(child.p))
    return trainer


def compare_dropout(
    name: str = "mnist", steps: int = 10, rounds: int = 3, batch: int = 100
) -> dict:
    """Trainer steps with ByteDropout vs nn.Dropout in D: ms per step of each, and the speed-up."""
    mcfg, tcfg = preset(name)
    byte = Trainer(mcfg, tcfg, total_steps=10_000)
    torch_drop = with_torch_dropout(Trainer(mcfg, tcfg, total_steps=10_000))
    x, y = _batch(name, batch)
    r = paired(byte.train_step, torch_drop.train_step, x, y, steps, rounds)
    return {
        "preset": name,
        "batch": batch,
        "byte_ms_per_step": 1000 * r["a"],
        "torch_ms_per_step": 1000 * r["b"],
        "speedup": r["b"] / r["a"],
        "pairwise_speedups": r["pairwise"],
    }
