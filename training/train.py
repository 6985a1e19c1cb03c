"""`ali-train`: train ALI (or the GAN baseline) from a preset.

    ali-train --preset mnist --data ../shared/datasets/mnist.npz --out runs/mnist
    ali-train --preset mnist --dry-run                  # a few steps on fake data
    torchrun --nproc-per-node 2 -m training.train --preset mnist --data ...   # DDP

Writes OUT/checkpoint.pt (latest, self-describing), OUT/samples_XXX.png (fixed noise) and
OUT/reconstructions_XXX.png per epoch, and OUT/log.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from service.grid import save_grid
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import (
    AUTOCAST,
    PRESETS,
    ModelConfig,
    TrainConfig,
    model_config_from_dict,
    preset,
    train_config_from_dict,
)
from training.data import ArrayData, Batches, LoaderBatches, download_mnist, load_dataset
from training.distributed import DistInfo, cleanup, setup
from training.trainer import Trainer

DRY_RUN_STEPS = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ali-train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="mnist", choices=sorted(PRESETS))
    p.add_argument("--data", help="dataset path (mnist.npz, CIFAR-10/SVHN folder, image folder)")
    p.add_argument("--download", action="store_true", help="fetch MNIST to --data if missing")
    p.add_argument("--dataset", help="override the preset's dataset (mixture, mnist, ..., fake)")
    p.add_argument("--out", default="runs/ali", help="output folder")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate for D and the generators")
    p.add_argument("--seed", type=int)
    p.add_argument("--kind", choices=["ali", "gan"], help="gan: the D(x)-only baseline")
    p.add_argument("--conditional", action="store_true", help="condition on the class label")
    p.add_argument("--width", type=float, help="width multiplier of every hidden layer")
    p.add_argument("--nlat", type=int, help="latent dimension")
    p.add_argument("--ema-decay", type=float)
    p.add_argument("--instance-noise", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--cycle-weight", type=float, help="ALICE cycle-consistency weight (0 = off)")
    p.add_argument(
        "--prior-match-weight",
        type=float,
        help="weight of the codes' second-moment match to the prior, ||E[zz^T] - I||^2 (0 = off)",
    )
    p.add_argument(
        "--d-condition",
        choices=["concat", "projection"],
        help="how a conditional D sees the label (projection: inner product + class head)",
    )
    p.add_argument(
        "--d-unary",
        action="store_true",
        help="BigBiGAN unary scores: D also judges x alone and z alone (trained beside the joint)",
    )
    p.add_argument(
        "--d-spectral-norm", action="store_true", help="spectral normalisation of D's weights"
    )
    p.add_argument("--d-dropout", type=float, help="dropout on D's input layers (paper: 0.2)")
    p.add_argument("--d-dropout-inner", type=float, help="dropout on D's inner layers (paper: 0.5)")
    p.add_argument("--aux-class-weight", type=float, help="AC-GAN class-head weight (0 = off)")
    p.add_argument(
        "--aux-classes",
        type=int,
        help="unconditional models: a class head on D(x) trained on real labels (with "
        "--aux-class-weight); samples are pushed to be confident and to use every class",
    )
    p.add_argument(
        "--autocast", choices=AUTOCAST, help="bf16: forward passes in bfloat16 (CPU/GPU)"
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads (CPU)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    p.add_argument("--tensorboard", action="store_true", help="log to OUT/tb")
    p.add_argument("--dry-run", action="store_true", help=f"{DRY_RUN_STEPS} steps on fake data")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    mcfg, tcfg = preset(args.preset)
    m: dict[str, Any] = {}
    if args.kind:
        m["kind"] = args.kind
    if args.conditional:
        m["num_classes"] = 10
    if args.width is not None:
        m["width"] = args.width
    if args.nlat is not None:
        m["nlat"] = args.nlat
    if args.d_condition:
        m["d_condition"] = args.d_condition
    if args.d_unary:
        m["d_unary"] = True
    if args.aux_classes is not None:
        m["aux_classes"] = args.aux_classes
    if args.d_spectral_norm:
        m["d_spectral_norm"] = True
    if args.d_dropout is not None:
        m["d_dropout"] = args.d_dropout
    if args.d_dropout_inner is not None:
        m["d_dropout_inner"] = args.d_dropout_inner
    t: dict[str, Any] = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "batch_size": args.batch_size,
            "lr_d": args.lr,
            "lr_g": args.lr,
            "seed": args.seed,
            "ema_decay": args.ema_decay,
            "instance_noise": args.instance_noise,
            "label_smoothing": args.label_smoothing,
            "cycle_weight": args.cycle_weight,
            "prior_match_weight": args.prior_match_weight,
            "aux_class_weight": args.aux_class_weight,
            "autocast": args.autocast,
            "data_path": args.data,
            "dataset": args.dataset,
        }.items()
        if v is not None
    }
    t["tensorboard"] = args.tensorboard
    t["num_workers"] = args.workers
    if args.dry_run:
        t.update(dataset="fake", epochs=1, steps_per_epoch=DRY_RUN_STEPS, batch_size=8)
    return dataclasses.replace(mcfg, **m), dataclasses.replace(tcfg, **t)


def make_batches(mcfg: ModelConfig, tcfg: TrainConfig, dist: DistInfo) -> Batches | LoaderBatches:
    ds = load_dataset(
        tcfg.dataset,
        tcfg.data_path,
        "train",
        mcfg.channels,
        mcfg.image_size,
        mcfg.num_classes,
        tcfg.seed,
    )
    if isinstance(ds, ArrayData):
        return Batches(ds, tcfg.batch_size, tcfg.seed, dist.rank, dist.world)
    return LoaderBatches(ds, tcfg.batch_size, tcfg.seed, tcfg.num_workers, dist.rank, dist.world)


class EpochImages:
    """Fixed noise and a fixed real batch, rendered to PNG grids after every epoch."""

    def __init__(self, trainer: Trainer, batches: Batches | LoaderBatches, out: Path) -> None:
        self.trainer, self.out = trainer, out
        cfg = trainer.mcfg
        g = torch.Generator().manual_seed(1234)
        n = 80 if cfg.conditional else 64  # conditional: 8 rows x 10 classes
        self.cols = 10 if cfg.conditional else 8
        self.z = torch.randn(n, cfg.nlat, generator=g)
        self.y = torch.arange(n) % 10 if cfg.conditional else None
        self.x_real, y_real = next(iter(batches.epoch(0)))
        self.x_real = self.x_real[:32]
        self.y_real = y_real[:32] if cfg.conditional else None

    @torch.no_grad()
    def save(self, epoch: int) -> None:
        enc, dec = self.trainer.inference_nets()
        enc.eval(), dec.eval()
        dev = self.trainer.device
        y = None if self.y is None else self.y.to(dev)
        samples = dec(self.z.to(dev), y).cpu().numpy()
        save_grid(str(self.out / f"samples_{epoch:03d}.png"), samples, cols=self.cols)
        if self.trainer.ali:
            yr = None if self.y_real is None else self.y_real.to(dev)
            xr = self.x_real.to(dev)
            rec = dec(enc.moments(xr, yr)[0], yr)
            pairs = torch.stack([xr, rec], dim=1).flatten(0, 1).cpu().numpy()  # x0, r0, x1, r1...
            save_grid(str(self.out / f"reconstructions_{epoch:03d}.png"), pairs, cols=8)
        enc.train(), dec.train()


def train(
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    out: Path,
    resume: str | None = None,
    device: str = "cpu",
    progress: bool = True,
    command: str = "",
    preset_name: str = "",
) -> Trainer:
    """Run training; returns the trainer (used by ali-eval and tests)."""
    dist = setup(device)
    try:
        batches = make_batches(mcfg, tcfg, dist)
        steps_per_epoch = min(len(batches), tcfg.steps_per_epoch or len(batches))
        if steps_per_epoch == 0:
            raise ValueError("dataset smaller than one batch")
        trainer = Trainer(mcfg, tcfg, dist, total_steps=steps_per_epoch * tcfg.epochs)
        if resume:
            trainer.load_state_dict(load_checkpoint(resume))
            trainer.epoch += 1  # the checkpoint holds a finished epoch
        else:
            trainer.meta["command"] = command
            trainer.meta["preset"] = preset_name  # the manifest records it (training.preset)
        if dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
        images = EpochImages(trainer, batches, out) if mcfg.arch != "toy" and dist.is_main else None
        writer = None
        if tcfg.tensorboard and dist.is_main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        log = (out / "log.jsonl").open("a") if dist.is_main else None
        for epoch in range(trainer.epoch, tcfg.epochs):
            trainer.epoch = epoch
            t0 = time.perf_counter()
            bar = tqdm(
                total=steps_per_epoch,
                desc=f"epoch {epoch + 1}/{tcfg.epochs}",
                disable=not (progress and dist.is_main),
                leave=False,
                dynamic_ncols=True,
            )
            for i, (x, y) in enumerate(batches.epoch(epoch)):
                if i >= steps_per_epoch:
                    break
                stats = trainer.train_step(x, y)
                bar.update(1)
                if trainer.step % tcfg.log_every == 0 or i == steps_per_epoch - 1:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()})
                    if log:
                        log.write(
                            json.dumps({"epoch": epoch, "step": trainer.step, **stats}) + "\n"
                        )
                        log.flush()
                    if writer:
                        for k, v in stats.items():
                            writer.add_scalar(k, v, trainer.step)
            bar.close()
            trainer.meta["train_seconds"] += time.perf_counter() - t0
            if dist.is_main:
                secs = time.perf_counter() - t0
                imgs = steps_per_epoch * tcfg.batch_size * dist.world / secs
                print(
                    f"epoch {epoch + 1}/{tcfg.epochs}: {secs:.1f}s ({imgs:.0f} ex/s) "
                    + " ".join(f"{k}={v:.3f}" for k, v in stats.items()),
                    file=sys.stderr,
                )
                if images:
                    images.save(epoch + 1)
                save_checkpoint(out / "checkpoint.pt", trainer.state_dict())
        if log:
            log.close()
        if writer:
            writer.close()
        return trainer
    finally:
        cleanup(dist)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume:
        ckpt = load_checkpoint(args.resume)
        mcfg = model_config_from_dict(ckpt["model_config"])
        tcfg = train_config_from_dict(ckpt["train_config"])
        if args.epochs:
            tcfg = dataclasses.replace(tcfg, epochs=args.epochs)
        if args.data:
            tcfg = dataclasses.replace(tcfg, data_path=args.data)
    else:
        mcfg, tcfg = configs_from_args(args)
    if args.download and tcfg.dataset == "mnist" and tcfg.data_path:
        download_mnist(tcfg.data_path)
    command = " ".join(["ali-train", *(argv if argv is not None else sys.argv[1:])])
    train(
        mcfg,
        tcfg,
        Path(args.out),
        resume=args.resume,
        device=args.device,
        progress=not args.quiet,
        command=command,
        preset_name=args.preset,
    )


if __name__ == "__main__":
    main()
