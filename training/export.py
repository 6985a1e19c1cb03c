"""`ali-export`: checkpoint -> models/NAME/VERSION/{encoder,decoder,discriminator}.onnx + manifest.json.

    ali-export runs/mnist/checkpoint.pt --name mnist --out models/

Each graph is checked with the ONNX checker and compared with PyTorch (eval mode) on random inputs
at batch 1 and 37; a max abs difference above 1e-4 fails the export. The decoder is exported with
its transposed convolutions rewritten for onnxruntime (`training.onnx_rewrite`); the parity check
compares that graph with the original module.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from runtime.manifest import (
    MANIFEST_VERSION,
    ImageSpec,
    LatentSpec,
    Manifest,
    PixelRange,
    TrainingSummary,
    file_ref,
    write_manifest,
)
from runtime.repository import publish_version
from training.checkpoint import load_checkpoint
from training.config import ModelConfig
from training.onnx_rewrite import subpixel_decoder
from training.trainer import inference_modules_from_checkpoint

OPSET = 18
PARITY_TOL = 1e-4
PARITY_BATCHES = (1, 37)
MNIST_CLASSES = [str(d) for d in range(10)]


class ExportError(RuntimeError):
    pass


class EncoderGraph(nn.Module):
    """x [N, C, H, W] (+ y [N]) -> mu, log_sigma [N, nlat]."""

    def __init__(self, enc: nn.Module) -> None:
        super().__init__()
        self.enc = enc

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        return self.enc.moments(x, y)


class DecoderGraph(nn.Module):
    """z [N, nlat] (+ y) -> x [N, C, H, W]."""

    def __init__(self, dec: nn.Module) -> None:
        super().__init__()
        self.dec = dec

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.dec(z, y)


class DiscriminatorGraph(nn.Module):
    """x, z (+ y) -> logit [N]."""

    def __init__(self, disc: nn.Module) -> None:
        super().__init__()
        self.disc = disc

    def forward(
        self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.disc(x, z, y)


def example_inputs(net: str, cfg: ModelConfig, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, cfg.channels, cfg.image_size, cfg.image_size, generator=g) * 2 - 1
    z = torch.randn(n, cfg.nlat, generator=g)
    inputs = {"encoder": {"x": x}, "decoder": {"z": z}, "discriminator": {"x": x, "z": z}}[net]
    if cfg.conditional:
        inputs["y"] = torch.randint(0, cfg.num_classes, (n,), generator=g)
    return inputs


OUTPUT_NAMES = {"encoder": ["mu", "log_sigma"], "decoder": ["x"], "discriminator": ["logit"]}


GRAPHS: dict[str, type[nn.Module]] = {
    "encoder": EncoderGraph,
    "decoder": DecoderGraph,
    "discriminator": DiscriminatorGraph,
}


def export_network(
    net: str, module: nn.Module, cfg: ModelConfig, path: Path, opset: int, rewrite: bool = True
) -> None:
    """Export one network to `path`, check it, and compare it with PyTorch (see module doc)."""
    graph = GRAPHS[net](module).eval()
    if net == "decoder" and rewrite:
        exported = GRAPHS[net](subpixel_decoder(module.eval())).eval()
    else:
        exported = graph
    inputs = example_inputs(net, cfg, 2)
    batch = torch.export.Dim("batch", min=1, max=65536)
    dynamic = {name: {0: batch} for name in inputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            exported,
            tuple(inputs.values()),
            str(path),
            input_names=list(inputs),
            output_names=OUTPUT_NAMES[net],
            dynamic_shapes=dynamic,
            dynamo=True,
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    check_parity(net, graph, cfg, path)


@torch.no_grad()
def check_parity(net: str, graph: nn.Module, cfg: ModelConfig, path: Path) -> float:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for n in PARITY_BATCHES:
        inputs = example_inputs(net, cfg, n, seed=n)
        expected = graph(*inputs.values())
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
        for name, e, o in zip(OUTPUT_NAMES[net], expected, got, strict=True):
            if o.shape != tuple(e.shape):
                raise ExportError(
                    f"{net}.{name}: onnxruntime shape {o.shape} != torch {tuple(e.shape)}"
                )
            diff = float(np.abs(o - e.numpy()).max())
            worst = max(worst, diff)
            if diff > PARITY_TOL:
                raise ExportError(
                    f"{net}.{name} at batch {n}: max |onnxruntime - torch| = {diff:.2e} > {PARITY_TOL}"
                )
    return worst


def preset_name(meta: dict[str, Any]) -> str | None:
    """The preset a checkpoint was trained from (older checkpoints: from their command line)."""
    if meta.get("preset"):
        return str(meta["preset"])
    found = re.search(r"--preset[ =](\S+)", str(meta.get("command", "")))
    return found.group(1) if found else None


def git_commit(root: Path = Path(__file__).parent.parent) -> str:
    """HEAD's hash, with "+dirty" when tracked code (anything outside models/) has uncommitted
    changes: then HEAD alone did not make the model."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=root
        )
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", ".", ":(exclude)models"],
            capture_output=True,
            cwd=root,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + ("+dirty" if dirty.returncode == 1 else "")


def export_checkpoint(
    ckpt_path: str | Path,
    name: str,
    out_root: str | Path,
    version: str | None = None,
    opset: int = OPSET,
    classes: list[str] | None = None,
) -> Manifest:
    """Export into the next version folder of `out_root/name` (or `version`), written aside and
    renamed into place when complete: a server polling the repository never sees half of it."""
    ckpt = load_checkpoint(ckpt_path)
    cfg, modules = inference_modules_from_checkpoint(ckpt)
    if cfg.arch == "toy" or cfg.kind != "ali":
        raise ExportError("only image ALI models are exported (toy and GAN runs have no service)")
    with publish_version(out_root, name, version) as (out, version):
        return _export_into(out, ckpt, cfg, modules, name, version, opset, classes)


def _export_into(
    out: Path,
    ckpt: dict[str, Any],
    cfg: ModelConfig,
    modules: dict[str, nn.Module],
    name: str,
    version: str,
    opset: int,
    classes: list[str] | None,
) -> Manifest:
    files = {}
    for net in ("encoder", "decoder", "discriminator"):
        path = out / f"{net}.onnx"
        export_network(net, modules[net], cfg, path, opset)
        files[net] = file_ref(path)
    tcfg: dict[str, Any] = ckpt["train_config"]
    meta = ckpt.get("meta", {})
    if cfg.conditional and classes is None:
        classes = (
            MNIST_CLASSES if cfg.num_classes == 10 else [str(i) for i in range(cfg.num_classes)]
        )
    manifest = Manifest(
        manifest_version=MANIFEST_VERSION,
        name=name,
        version=version,
        created=datetime.now(timezone.utc).replace(microsecond=0),
        conditional=cfg.conditional,
        image=ImageSpec(channels=cfg.channels, height=cfg.image_size, width=cfg.image_size),
        pixels=PixelRange(),
        latent=LatentSpec(dim=cfg.nlat),
        classes=classes or [],
        opset=opset,
        files=files,
        training=TrainingSummary(
            dataset=tcfg["dataset"],
            preset=preset_name(meta) or cfg.arch,
            epochs=int(ckpt["epoch"]) + 1,
            seed=int(tcfg["seed"]),
            git_commit=git_commit(),
            command=str(meta.get("command", "")),
            train_seconds=float(meta.get("train_seconds", 0.0)) or None,
        ),
        metrics={},
    )
    write_manifest(manifest, out)
    return manifest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ali-export", description="Export a checkpoint to ONNX.")
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True, help="model name (folder under --out)")
    p.add_argument("--out", default="models", help="the model repository")
    p.add_argument("--version", help="version folder to write (default: the next integer)")
    p.add_argument("--opset", type=int, default=OPSET)
    args = p.parse_args(argv)
    logging.getLogger("torch").setLevel(logging.ERROR)
    try:
        m = export_checkpoint(args.checkpoint, args.name, args.out, args.version, args.opset)
    except ExportError as e:
        sys.exit(f"ali-export: {e}")
    print(
        f"exported {m.name} version {m.version} -> {Path(args.out) / m.name / m.version} "
        f"({sum(f.bytes for f in m.files.values()) / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
