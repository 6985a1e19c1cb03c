"""Training throughput of the MNIST preset: our Trainer vs a plain PyTorch loop, same networks.

The plain loop is the textbook ALI step: D update with the generators under no_grad, then a fresh
forward of encoder and decoder for the generator update (and, when the preset uses ALICE's cycle
term, a separate decoder call on Gz(x) for it). Both run alternately on the same fixed
batches, so machine drift hits them equally.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from training.config import preset
from training.nets import build_networks
from training.trainer import Trainer


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


def compare(name: str = "mnist", steps: int = 10, rounds: int = 3, batch: int = 100) -> dict:
    mcfg, tcfg = preset(name)
    ours = Trainer(mcfg, tcfg, total_steps=10_000)
    plain = PlainLoop(name)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, mcfg.channels, mcfg.image_size, mcfg.image_size, generator=g) * 2 - 1
    y = torch.randint(0, 10, (batch,), generator=g)
    ours.train_step(x, y)  # warm-up
    plain.step(x, y)
    t_ours, t_plain = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            ours.train_step(x, y)
        t_ours.append((time.perf_counter() - t0) / steps)
        t0 = time.perf_counter()
        for _ in range(steps):
            plain.step(x, y)
        t_plain.append((time.perf_counter() - t0) / steps)
    a, b = sorted(t_ours)[len(t_ours) // 2], sorted(t_plain)[len(t_plain) // 2]
    return {
        "preset": name,
        "batch": batch,
        "ours_images_per_s": batch / a,
        "plain_images_per_s": batch / b,
        "ratio": b / a,
        "pairwise_ratios": [p / o for o, p in zip(t_ours, t_plain, strict=True)],
    }
