"""Shared fixtures: tiny data and tiny exported models, all made at test time (no ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_tiny_mnist(path: Path, n_train: int = 64, n_test: int = 32, seed: int = 0) -> Path:
    """A keras-layout npz with random digits-shaped data."""
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=(np.arange(n_train) % 10).astype(np.uint8),
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=(np.arange(n_test) % 10).astype(np.uint8),
    )
    return path


@pytest.fixture()
def tiny_mnist(tmp_path: Path) -> Path:
    return write_tiny_mnist(tmp_path / "mnist.npz")
