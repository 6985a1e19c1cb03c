from pathlib import Path

import numpy as np
import pytest

from training.data import Batches, load_cifar10, load_dataset, load_mnist, sample_mixture


def test_mnist_npz_from_any_path(tiny_mnist: Path) -> None:
    d = load_mnist(tiny_mnist, "train")
    assert d.x.shape == (64, 1, 28, 28) and d.y.shape == (64,)
    assert d.x.min() >= -1.0 and d.x.max() <= 1.0
    raw = np.load(tiny_mnist)["x_train"][0, 0, 0]
    assert float(d.x[0, 0, 0, 0]) == pytest.approx(raw / 127.5 - 1.0)
    assert len(load_mnist(tiny_mnist, "test")) == 32


def test_mnist_wrong_layout_is_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="x_train"):
        load_mnist(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="--download"):
        load_mnist(tmp_path / "missing.npz")


def test_cifar10_binary_records(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)]:
        rec = rng.integers(0, 256, (3, 3073), dtype=np.uint8)
        rec[:, 0] = [1, 2, 9]
        rec.tofile(tmp_path / name)
    d = load_cifar10(tmp_path, "train")
    assert d.x.shape == (15, 3, 32, 32)
    assert d.y[:3].tolist() == [1, 2, 9]


def test_mixture_data() -> None:
    x, comp = sample_mixture(1000, seed=0)
    assert x.shape == (1000, 2) and set(np.unique(comp)) <= set(range(25))
    d = load_dataset("mixture", None, "train", 0, 0, 0, seed=0)
    assert len(d) == 100_000


def test_batches_shard_without_overlap(tiny_mnist: Path) -> None:
    d = load_mnist(tiny_mnist)
    seen = []
    for rank in range(2):
        for x, _ in Batches(d, 8, seed=1, rank=rank, world=2).epoch(0):
            seen += [tuple(x[i].flatten()[:8].tolist()) for i in range(len(x))]
    assert len(seen) == len(set(seen)) == 64
