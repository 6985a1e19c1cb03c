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
import typing
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from runtime.grid import save_grid
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import (
    PRESETS,
    ModelConfig,
    TrainConfig,
    field_types,
    model_config_from_dict,
    preset,
    train_config_from_dict,
)
from training.data import ArrayData, Batches, LoaderBatches, download_mnist, load_dataset
from training.distributed import DistInfo, cleanup, setup
from training.trainer import Trainer

DRY_RUN_STEPS = 3
# Second names for config flags, kept from the hand-written CLI (README, Makefile, model cards).
ALIASES = {"data_path": ["--data"], "num_workers": ["--workers"]}


def _flag_kwargs(tp: Any) -> dict[str, Any]:
    """argparse keywords for a config field's type: bool, Literal, tuple, optional or plain."""
    if tp is bool:
        return {"action": argparse.BooleanOptionalAction}
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Literal:
        return {"choices": args, "type": type(args[0])}
    base = args[0] if args else tp  # X | None and tuple[X, X] take Xs
    kw = {"type": base, "metavar": base.__name__.upper()}
    return {**kw, "nargs": len(args)} if typing.get_origin(tp) is tuple else kw


def _add_config_flags(p: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of a config dataclass; given flags override the preset's values."""
    group = p.add_argument_group(f"{cls.__name__} (default: the preset's value)")
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        flags = [f"--{f.name.replace('_', '-')}", *ALIASES.get(f.name, [])]
        help_ = f.metadata.get("help")
        group.add_argument(*flags, dest=f.name, help=help_, **_flag_kwargs(types[f.name]))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ali-train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="mnist", choices=sorted(PRESETS))
    p.add_argument("--download", action="store_true", help="fetch MNIST to --data if missing")
    p.add_argument("--out", default="runs/ali", help="output folder")
    p.add_argument("--lr", type=float, help="sets both --lr-d and --lr-g")
    p.add_argument("--conditional", action="store_true", help="same as --num-classes 10")
    p.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device"
    )
    p.add_argument("--threads", type=int, help="torch intra-op threads (CPU)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    p.add_argument("--dry-run", action="store_true", help=f"{DRY_RUN_STEPS} steps on fake data")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(p, ModelConfig)
    _add_config_flags(p, TrainConfig)
    return p


def _given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of cls whose flags were given on the command line."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name) is not None
    }


def configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    mcfg, tcfg = preset(args.preset)
    m, t = _given(args, ModelConfig), _given(args, TrainConfig)
    if args.conditional:
        m.setdefault("num_classes", 10)
    if args.lr is not None:
        t.setdefault("lr_d", args.lr)
        t.setdefault("lr_g", args.lr)
    if "betas" in t:
        t["betas"] = tuple(t["betas"])
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
        if args.data_path:
            tcfg = dataclasses.replace(tcfg, data_path=args.data_path)
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
