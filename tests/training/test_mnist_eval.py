"""ali-eval mnist end to end on a tiny exported model and tiny generated MNIST-layout data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from runtime.manifest import load_manifest
from tests.conftest import write_tiny_mnist
from tests.training.test_export import tiny_checkpoint
from training.classifier import photometric
from training.evaluate import main as eval_main
from training.export import export_checkpoint
from training.mnist_eval import (
    few_label_probe_errors,
    semi_supervised_errors,
    within_class_diversity,
)


@pytest.mark.parametrize("conditional", [True, False], ids=["conditional", "unconditional"])
def test_eval_writes_metrics_figures_and_card(tmp_path: Path, conditional: bool) -> None:
    data = write_tiny_mnist(tmp_path / "mnist.npz", n_train=300, n_test=50)
    ckpt = tiny_checkpoint(tmp_path, conditional=conditional)
    export_checkpoint(ckpt, "tiny", tmp_path / "models")
    model = tmp_path / "models" / "tiny" / "1"  # the version ali-export wrote
    eval_main(
        [
            "mnist",
            "--model",
            str(model),
            "--data",
            str(data),
            "--classifier",
            str(tmp_path / "clf.pt"),
            "--samples",
            "200",
            "--write",
        ]
    )
    m = load_manifest(model).metrics  # hashes still verify after the rewrite
    probes = ("linear_probe_accuracy", "semi_supervised_100_error", "few_label_probe_100_error")
    if conditional:  # meaningless when the encoder is given the label
        assert not any(k in m for k in probes)
    else:
        assert all(k in m for k in probes)
        assert len(m["semi_supervised_100_error"]["per_draw"]) == 10
    for key in (
        "reconstruction_mse",
        "conditional_accuracy" if conditional else "sample_class_histogram",
        "sample_largest_class_share",
        "reconstruction_class_accuracy",
        "classifier_test_accuracy",
        "classifier_robustness",
        "sample_diversity_ratio",
        "sample_fd",
        "sample_fd_floor",
        "sample_fd_ratio",
        "sample_confident_share",
        "sample_precision",
        "sample_recall",
        "sample_precision_reference",
        "sample_recall_reference",
    ):
        assert key in m, key
    assert m["sample_fd"] >= 0 and m["sample_fd_floor"] > 0
    assert 0 <= m["sample_precision"] <= 1 and 0 <= m["sample_confident_share"] <= 1
    assert list(m["sampler_metrics"]) == ["ancestral", "drs", "gibbs", "drs+gibbs"]
    for name, q in m["sampler_metrics"].items():
        assert {"fd", "fd_ratio", "precision", "recall", "acceptance", "ms_per_image"} <= set(q)
        assert 0 < q["acceptance"] <= 1
        assert name.startswith("drs") or q["acceptance"] == 1.0
        assert ("class_accuracy" in q) == conditional
    assert m["drs_bound"]["calibration_samples"] == 2048
    if conditional:
        assert 0.0 <= m["conditional_accuracy"] <= 1.0
    assert abs(sum(m["sample_class_histogram"]) - 1.0) < 1e-6
    grids = [f"samples-{s}.png" for s in ("ancestral", "drs", "gibbs", "drs-gibbs")]
    for fig in ("samples.png", "reconstructions.png", "interpolations.png", *grids):
        assert (model / fig).stat().st_size > 100
    card = (model / "README.md").read_text()
    assert "## Samplers" in card and "| `drs+gibbs` |" in card and "samples-drs-gibbs.png" in card
    assert "sample_fd_floor" in card
    assert ("conditional_accuracy" if conditional else "semi_supervised_100_error") in card
    assert "ali-export" in card
    assert "background lift 0.2" in card
    assert json.loads((model / "manifest.json").read_text())["metrics"] == m


def test_photometric_augmentation_stays_in_range_and_lifts_backgrounds() -> None:
    torch.manual_seed(0)
    x = -torch.ones(256, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0  # a white square on black
    out = photometric(x)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    background = out[:, :, :5, :5].mean(dim=(1, 2, 3))
    assert (background > -0.9).float().mean() > 0.2  # a fair share of images got a grey background
    assert (background < -0.95).float().mean() > 0.2  # and a fair share kept a black one


def test_within_class_diversity_is_one_for_data_and_zero_for_collapse() -> None:
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (400, 1, 4, 4)).astype(np.float32)
    labels = np.arange(400) % 4
    assert abs(within_class_diversity(real, labels, real, labels) - 1.0) < 1e-9
    collapsed = real[labels][:4][labels]  # every sample of class c is one and the same image
    assert within_class_diversity(collapsed, labels, real, labels) < 1e-6
    half = real * 0.5  # half the spread
    assert abs(within_class_diversity(half, labels, real, labels) - 0.5) < 1e-6


def _rings(n_per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """10 concentric rings in 2-D, one class each: no line separates them, neighbours do."""
    y = np.repeat(np.arange(10), n_per_class)
    angle = rng.uniform(0, 2 * np.pi, len(y))
    radius = 1.0 + y + rng.normal(0, 0.03, len(y))
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1), y


def test_semi_supervised_uses_the_unlabelled_data() -> None:
    rng = np.random.default_rng(0)
    f_tr, y_tr = _rings(1000, rng)
    f_te, y_te = _rings(50, rng)
    spread = semi_supervised_errors(f_tr, y_tr, f_te, y_te, seed=0)
    few = few_label_probe_errors(f_tr, y_tr, f_te, y_te, seed=0)
    assert len(spread) == len(few) == 10
    # 100 labels alone cannot draw rings with lines; the unlabelled points trace them out.
    assert max(spread) < 0.05
    assert min(few) > 0.5
