"""Export parity on tiny randomly initialised models, and the shipped model repository."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from runtime.manifest import ManifestError, load_manifest
from runtime.model import load_model
from runtime.repository import latest_version_dir
from training.checkpoint import save_checkpoint
from training.config import ModelConfig, TrainConfig
from training.export import PARITY_TOL, ExportError, check_parity, export_checkpoint
from training.trainer import Trainer, inference_modules_from_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("mnist", "mnist-cond")


def tiny_checkpoint(tmp_path: Path, conditional: bool, d_condition: str = "concat") -> Path:
    mcfg = ModelConfig(
        arch="mnist28",
        channels=1,
        image_size=28,
        nlat=8,
        width=0.125,
        num_classes=10 if conditional else 0,
        d_condition=d_condition,
    )
    aux = 1.0 if d_condition == "projection" else 0.0
    tcfg = TrainConfig(dataset="fake", ema_decay=0.9, aux_class_weight=aux)
    tr = Trainer(mcfg, tcfg, total_steps=2)
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (8,))
    tr.train_step(x, y)  # BN statistics and EMA weights are not at their init values
    tr.meta["command"] = "test"
    tr.meta["preset"] = "mnist"
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, tr.state_dict())
    return path


@pytest.mark.parametrize(
    ("conditional", "d_condition"),
    [(False, "concat"), (True, "concat"), (True, "projection")],
    ids=["unconditional", "conditional", "conditional-projection"],
)
def test_export_parity_and_manifest(tmp_path: Path, conditional: bool, d_condition: str) -> None:
    ckpt = tiny_checkpoint(tmp_path, conditional, d_condition)
    name = "tiny-cond" if conditional else "tiny"
    manifest = export_checkpoint(ckpt, name, tmp_path / "models")
    model_dir = tmp_path / "models" / name / "1"
    assert load_manifest(model_dir) == manifest  # round trip, hashes verified
    assert manifest.conditional == conditional and manifest.latent.dim == 8
    assert manifest.classes == ([str(i) for i in range(10)] if conditional else [])
    assert manifest.training.command == "test"
    assert manifest.training.preset == "mnist"  # the preset's name, not the architecture

    # The service runtime gives the same numbers as the PyTorch modules (EMA weights, eval mode).
    from training.checkpoint import load_checkpoint

    _, mods = inference_modules_from_checkpoint(load_checkpoint(ckpt))
    model = load_model(model_dir)
    for n in (1, 37):  # the batch axis is dynamic
        z = np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32)
        y = np.arange(n) % 10 if conditional else None
        yt = None if y is None else torch.from_numpy(y)
        with torch.no_grad():
            expected = mods["decoder"](torch.from_numpy(z), yt).numpy()
            mu_t, _ = mods["encoder"].moments(torch.from_numpy(expected), yt)
        got = model.decode(z, y)
        assert got.shape == (n, 1, 28, 28)
        assert np.abs(got - expected).max() <= PARITY_TOL
        mu, log_sigma = model.encode(got, y)
        assert np.abs(mu - mu_t.numpy()).max() <= 1e-3 and log_sigma.shape == (n, 8)
        assert model.discriminate(got, mu, y).shape == (n,)


def test_parity_check_fails_loudly(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path, False)
    export_checkpoint(ckpt, "tiny", tmp_path / "models")
    from training.checkpoint import load_checkpoint
    from training.export import DecoderGraph

    cfg, mods = inference_modules_from_checkpoint(load_checkpoint(ckpt))
    with torch.no_grad():  # a model that no longer matches the exported graph
        for p in mods["decoder"].parameters():
            p.add_(0.5)
    with pytest.raises(ExportError, match="max \\|onnxruntime - torch\\|"):
        check_parity(
            "decoder",
            DecoderGraph(mods["decoder"]).eval(),
            cfg,
            tmp_path / "models" / "tiny" / "1" / "decoder.onnx",
        )


def test_preset_name_for_older_checkpoints() -> None:
    from training.export import preset_name

    assert preset_name({"command": "ali-train --preset mnist-cond --epochs 10"}) == "mnist-cond"
    assert preset_name({"preset": "toy", "command": "ali-train --preset mnist"}) == "toy"
    assert preset_name({"command": "ali-train"}) is None


def test_shipped_manifests_name_their_preset() -> None:
    for name in SHIPPED:
        assert load_manifest(latest_version_dir(ROOT / "models" / name)).training.preset == name


def test_manifest_hash_mismatch_is_named(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path, False)
    export_checkpoint(ckpt, "tiny", tmp_path / "models")
    d = tmp_path / "models" / "tiny" / "1"
    m = json.loads((d / "manifest.json").read_text())
    m["files"]["encoder"]["sha256"] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="encoder.onnx sha256"):
        load_manifest(d)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_load_and_hashes_match(name: str) -> None:
    d = latest_version_dir(ROOT / "models" / name)
    m = load_manifest(d)  # verifies size and sha256 of every file
    assert m.name == name and m.conditional == (name == "mnist-cond")
    assert sum(f.bytes for f in m.files.values()) <= 15 * 1024 * 1024
    for fig in ("samples.png", "reconstructions.png", "interpolations.png", "README.md"):
        assert (d / fig).is_file(), fig
    assert "reconstruction_mse" in m.metrics and "reconstruction_class_accuracy" in m.metrics
    key = "conditional_accuracy" if m.conditional else "linear_probe_accuracy"
    assert key in m.metrics


def test_git_commit_marks_uncommitted_code_but_not_models(tmp_path: Path) -> None:
    import subprocess

    from training.export import git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "models").mkdir()
    (tmp_path / "code.py").write_text("a = 1\n")
    (tmp_path / "models" / "manifest.json").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "models" / "manifest.json").write_text('{"new": 1}\n')  # exports rewrite models/
    assert git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("a = 2\n")
    assert git_commit(tmp_path) == clean + "+dirty"
