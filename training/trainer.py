"""The ALI training step and its state: two Adam optimisers, optional EMA, checkpoints.

Each step draws z ~ N(0, I), computes z_hat = Gz(x) and x_tilde = Gx(z) once, then
  (1) updates D on (x, z_hat) vs (x_tilde, z) with the generators' outputs detached;
  (2) updates Gz and Gx with the non-saturating swapped loss through the freshly updated D.
For kind="gan" the encoder is unused and D sees x alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from training.config import (
    ModelConfig,
    TrainConfig,
    config_to_dict,
)
from training.distributed import DistInfo
from training.losses import (
    confident_and_balanced_loss,
    cycle_loss,
    discriminator_loss,
    generator_loss,
)
from training.nets import build_networks


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DDP | AveragedModel) else m


@dataclass
class Generated:
    """One step's batch and the generators' outputs, shared by the D and G updates."""

    x: torch.Tensor  # real x [N, ...]
    y: torch.Tensor | None  # the label the networks see (conditional models)
    labels: torch.Tensor | None  # labels of real x for D's class head (aux_class_weight > 0)
    z: torch.Tensor  # prior draws [N, nlat]
    z_hat: torch.Tensor | None  # Gz(x) [N, nlat]; None for the GAN baseline
    x_tilde: torch.Tensor  # Gx(z)
    x_rec: torch.Tensor | None  # Gx(Gz(x)) when the cycle term is on


class Trainer:
    def __init__(
        self,
        mcfg: ModelConfig,
        tcfg: TrainConfig,
        dist: DistInfo | None = None,
        total_steps: int = 1,
    ) -> None:
        self.mcfg, self.tcfg = mcfg, tcfg
        self.dist = dist or DistInfo()
        self.device = torch.device(self.dist.device)
        torch.manual_seed(tcfg.seed)  # same init on every rank; DDP also broadcasts rank 0's
        nets = build_networks(mcfg)
        self.ali = mcfg.kind == "ali"
        self.aux = tcfg.aux_class_weight > 0
        projection = mcfg.conditional and mcfg.d_condition == "projection"
        label_free = not mcfg.conditional and mcfg.aux_classes > 0
        if self.aux and not (self.ali and (projection or label_free)):
            raise ValueError(
                "aux_class_weight needs a conditional ALI model with d_condition='projection' "
                "or an unconditional one with aux_classes > 0"
            )
        # Conv nets in channels-last: oneDNN's convolutions skip a layout conversion per layer
        # (1.14x per MNIST step on 2 CPU cores, 347 vs ~398 ms; the same fp32 arithmetic).
        layout = torch.contiguous_format if mcfg.arch == "toy" else torch.channels_last
        self.encoder = nets.encoder.to(self.device, memory_format=layout)
        self.decoder = nets.decoder.to(self.device, memory_format=layout)
        self.disc = nets.discriminator.to(self.device, memory_format=layout)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=tcfg.lr_d, betas=tcfg.betas)
        g_params = list(self.decoder.parameters())
        if self.ali:
            g_params += list(self.encoder.parameters())
        self.opt_g = torch.optim.Adam(g_params, lr=tcfg.lr_g, betas=tcfg.betas)
        self.total_steps = max(1, total_steps)
        decay = lambda s: 1.0 - (1.0 - tcfg.lr_decay_to) * min(s / self.total_steps, 1.0)  # noqa: E731
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, decay)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, decay)
        self.ema: dict[str, AveragedModel] = {}
        if tcfg.ema_decay > 0:
            fn = get_ema_multi_avg_fn(tcfg.ema_decay)
            for name, m in (("encoder", self.encoder), ("decoder", self.decoder)):
                self.ema[name] = AveragedModel(m, multi_avg_fn=fn, use_buffers=True)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.decoder = DDP(self.decoder, device_ids=ids)
            self.disc = DDP(self.disc, device_ids=ids)
            if self.ali:
                self.encoder = DDP(self.encoder, device_ids=ids)
        self.step = 0
        self.epoch = 0
        self._split_rng_by_rank()
        # Provenance carried into the checkpoint and from there into the model manifest.
        self.meta: dict[str, Any] = {"command": "", "train_seconds": 0.0}

    def _split_rng_by_rank(self) -> None:
        """Under DDP every rank starts from the same seed (same initial weights); after that each
        rank needs its own stream, or all ranks draw the same z and the same dropout masks and the
        global batch holds each prior sample `world` times. Single-process runs are untouched."""
        if self.dist.enabled:
            torch.manual_seed(self.tcfg.seed + 1_000_003 * (self.dist.rank + 1) + self.step)

    # ---- one step -------------------------------------------------------------------------
    def prior(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.mcfg.nlat, device=self.device)

    def _autocast(self) -> torch.autocast:
        """bfloat16 autocast when TrainConfig.autocast says so (convolutions in bf16, weights and
        optimiser state in fp32); a no-op context otherwise."""
        on = self.tcfg.autocast == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=on)

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        """One step: the generators run once, then (1) D is updated, then (2) Gz and Gx."""
        x = x.to(self.device, non_blocking=True)
        # Labels of real x: the class head's targets even when the networks are not given them.
        labels = y.to(self.device) if (y is not None and self.aux) else None
        y = y.to(self.device) if (y is not None and self.mcfg.conditional) else None
        with self._autocast():  # forward passes only; backward runs outside
            g = self._generate(x, y, labels)
        stats: dict[str, float] = {}
        loss_d, d_real, d_fake = self._update_d(g, stats)
        loss_g = self._update_g(g, stats)
        for name, ema in self.ema.items():
            ema.update_parameters(_unwrap(getattr(self, name)))
        self.sched_d.step()
        self.sched_g.step()
        self.step += 1
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(d_real).mean().item(),
            "d_fake": torch.sigmoid(d_fake).mean().item(),
            **stats,
        }

    def _generate(
        self, x: torch.Tensor, y: torch.Tensor | None, labels: torch.Tensor | None
    ) -> Generated:
        """z ~ N(0, I), z_hat = Gz(x) and x_tilde = Gx(z), once for both updates."""
        n = x.shape[0]
        z = self.prior(n)
        z_hat = self.encoder(x, y) if self.ali else None  # [N, nlat]
        x_rec = None
        if z_hat is not None and self.tcfg.cycle_weight > 0:
            # One decoder call for Gx(z) and the cycle Gx(Gz(x)) (one forward per step under DDP).
            yy = torch.cat([y, y]) if y is not None else None
            x_tilde, x_rec = self.decoder(torch.cat([z, z_hat]), yy).split(n)
        else:
            x_tilde = self.decoder(z, y)  # [N, C, H, W]
        return Generated(x, y, labels, z, z_hat, x_tilde, x_rec)

    def _d_logits(
        self,
        d: nn.Module,
        x: torch.Tensor,
        z_hat: torch.Tensor | None,
        x_tilde: torch.Tensor,
        z: torch.Tensor,
        y: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """D(x, z_hat) [N], D(x_tilde, z) [N] as one batch of 2N; the GAN baseline's D sees x alone.

        Third: the class head's logits [2N, classes] (real rows first) when aux_class_weight > 0.
        """
        zz = torch.cat([z_hat, z]) if z_hat is not None else None
        yy = torch.cat([y, y]) if y is not None else None
        xx = torch.cat([x, x_tilde])
        # Losses in fp32 under bf16 autocast: the logits are upcast (no-op in fp32).
        if self.aux:
            logits, classes = (t.float() for t in d(xx, zz, yy, with_classes=True))
        else:
            logits, classes = d(xx, zz, yy).float(), None
        return logits[: x.shape[0]], logits[x.shape[0] :], classes

    # ---- (1) Update D: minimise softplus(-D(x, Gz(x))) + softplus(D(Gx(z), z)) -------------
    def _update_d(
        self, g: Generated, stats: dict[str, float]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """D's step on the generators' detached outputs (and, with AC-GAN, its class head on the
        real half); returns (loss_d, D's real logits, D's fake logits)."""
        z_hat = None if g.z_hat is None else g.z_hat.detach()
        with self._autocast():
            d_real, d_fake, classes = self._d_logits(
                self.disc, g.x, z_hat, g.x_tilde.detach(), g.z, g.y
            )
            loss_d = discriminator_loss(d_real, d_fake)
            if classes is not None:
                assert g.labels is not None, "aux_class_weight needs labelled data"
                loss_cls = F.cross_entropy(classes[: len(g.x)], g.labels)
                loss_d = loss_d + self.tcfg.aux_class_weight * loss_cls
                stats["cls_real"] = loss_cls.item()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        return loss_d, d_real, d_fake

    # ---- (2) Update G: Gz and Gx minimise the swapped loss through the updated D -------------
    def _update_g(self, g: Generated, stats: dict[str, float]) -> torch.Tensor:
        """The encoder's and decoder's step, through D unwrapped (its grads are not needed), plus
        the class-head and cycle terms where the config has them; returns loss_g."""
        d_raw = _unwrap(self.disc)
        d_raw.requires_grad_(False)
        with self._autocast():
            g_real, g_fake, classes = self._d_logits(d_raw, g.x, g.z_hat, g.x_tilde, g.z, g.y)
            loss_g = generator_loss(g_real if self.ali else None, g_fake)
            if classes is not None:
                fake = classes[len(g.x) :]
                # Unconditional: confident and all classes used; conditional: the label shows.
                loss_cls = (
                    confident_and_balanced_loss(fake) if g.y is None else F.cross_entropy(fake, g.y)
                )
                loss_g = loss_g + self.tcfg.aux_class_weight * loss_cls
                stats["cls_fake"] = loss_cls.item()
            if g.x_rec is not None:
                loss_cycle = cycle_loss(g.x, g.x_rec.float())
                loss_g = loss_g + self.tcfg.cycle_weight * loss_cycle
                stats["cycle"] = loss_cycle.item()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        d_raw.requires_grad_(True)
        return loss_g

    # ---- inference views ------------------------------------------------------------------
    def inference_nets(self) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder) for sampling/eval: the EMA copies when EMA is on."""
        enc = _unwrap(self.ema["encoder"]) if "encoder" in self.ema else _unwrap(self.encoder)
        dec = _unwrap(self.ema["decoder"]) if "decoder" in self.ema else _unwrap(self.decoder)
        return enc, dec

    @property
    def discriminator(self) -> nn.Module:
        """D without its DDP wrapper (for rejection sampling after training)."""
        return _unwrap(self.disc)

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "encoder": _unwrap(self.encoder).state_dict(),
            "decoder": _unwrap(self.decoder).state_dict(),
            "discriminator": _unwrap(self.disc).state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
        }
        for name, ema in self.ema.items():
            state[f"ema_{name}"] = ema.state_dict()
        return {
            "model_config": config_to_dict(self.mcfg),
            "train_config": {**config_to_dict(self.tcfg), "betas": list(self.tcfg.betas)},
            "epoch": self.epoch,
            "step": self.step,
            "total_steps": self.total_steps,
            "rng": torch.get_rng_state(),
            "meta": dict(self.meta),
            "state": state,
        }

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        s = ckpt["state"]
        _unwrap(self.encoder).load_state_dict(s["encoder"])
        _unwrap(self.decoder).load_state_dict(s["decoder"])
        _unwrap(self.disc).load_state_dict(s["discriminator"])
        self.opt_d.load_state_dict(s["opt_d"])
        self.opt_g.load_state_dict(s["opt_g"])
        self.sched_d.load_state_dict(s["sched_d"])
        self.sched_g.load_state_dict(s["sched_g"])
        for name, ema in self.ema.items():
            ema.load_state_dict(s[f"ema_{name}"])
        self.epoch, self.step = ckpt["epoch"], ckpt["step"]
        self.meta = dict(ckpt.get("meta", self.meta))
        torch.set_rng_state(ckpt["rng"])
        self._split_rng_by_rank()


def inference_modules_from_checkpoint(
    ckpt: dict[str, Any],
) -> tuple[ModelConfig, dict[str, nn.Module]]:
    """Rebuild eval-mode encoder/decoder/discriminator from a checkpoint (EMA weights if present)."""
    from training.config import model_config_from_dict

    mcfg = model_config_from_dict(ckpt["model_config"])
    nets = build_networks(mcfg)
    s = ckpt["state"]
    out: dict[str, nn.Module] = {}
    for name, module in nets.modules().items():
        ema_key = f"ema_{name}"
        if ema_key in s:
            avg = AveragedModel(copy.deepcopy(module), use_buffers=True)
            avg.load_state_dict(s[ema_key])
            module = avg.module
        else:
            module.load_state_dict(s[name])
        out[name] = module.eval()
    return mcfg, out
