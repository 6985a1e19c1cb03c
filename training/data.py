"""Datasets: the 25-Gaussian mixture, MNIST (keras npz), CIFAR-10 (binary), SVHN (.mat), an image
folder, and fake data for smoke tests.

In-memory datasets are tensors x [N, C, H, W] in [-1, 1] (or [N, 2] for the mixture) and int64
labels y [N]; `Batches` shuffles and slices them, which is far faster on CPU than a DataLoader over
single items. The image folder streams through a DataLoader.
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

# The mixture: means on {-4, -2, 0, 2, 4}^2, std 0.05.
MIXTURE_GRID = (-4.0, -2.0, 0.0, 2.0, 4.0)
MIXTURE_STD = 0.05


def mixture_means() -> np.ndarray:
    g = np.array(MIXTURE_GRID, dtype=np.float32)
    return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)  # [25, 2]


def sample_mixture(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points from the uniform mixture of 25 isotropic Gaussians -> (x [n, 2], component [n])."""
    rng = np.random.default_rng(seed)
    comp = rng.integers(0, 25, size=n)
    x = mixture_means()[comp] + MIXTURE_STD * rng.standard_normal((n, 2)).astype(np.float32)
    return x.astype(np.float32), comp


def to_unit_range(pixels: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]: x = p / 127.5 - 1 (the manifest records this map)."""
    return pixels.astype(np.float32) / 127.5 - 1.0


@dataclass
class ArrayData:
    x: torch.Tensor  # [N, C, H, W] float32 in [-1, 1], or [N, 2] for the mixture
    y: torch.Tensor  # [N] int64 (zeros when the data has no labels)

    def __len__(self) -> int:
        return self.x.shape[0]


class Batches:
    """Shuffled minibatches over in-memory tensors, optionally sharded across ranks."""

    def __init__(
        self, data: ArrayData, batch_size: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.rank, self.world = rank, world

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        perm = torch.randperm(len(self.data), generator=g)[self.rank :: self.world]
        for i in range(len(perm) // self.batch_size):  # drop the last partial batch (BN)
            idx = perm[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.data.x[idx], self.data.y[idx]

    def __len__(self) -> int:
        return len(self.data) // self.world // self.batch_size


def load_mnist(path: str | Path, split: str = "train") -> ArrayData:
    """MNIST from a keras-layout npz: x_{train,test} [N, 28, 28] uint8, y_{train,test} [N]."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such MNIST npz (use --download to fetch it)")
    with np.load(path, allow_pickle=False) as f:
        missing = {f"x_{split}", f"y_{split}"} - set(f.files)
        if missing:
            raise ValueError(f"{path} is not a keras-layout MNIST npz: missing {sorted(missing)}")
        x, y = f[f"x_{split}"], f[f"y_{split}"]
    return ArrayData(
        torch.from_numpy(to_unit_range(x)[:, None]), torch.from_numpy(y.astype(np.int64))
    )


def download_mnist(dest: str | Path) -> Path:
    """Fetch the keras MNIST npz (for users with internet) and verify its sha256."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    urllib.request.urlretrieve(MNIST_URL, tmp)  # noqa: S310 (fixed https URL)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    if digest != MNIST_SHA256:
        tmp.unlink()
        raise ValueError(f"downloaded MNIST has sha256 {digest}, expected {MNIST_SHA256}")
    tmp.rename(dest)
    return dest


def load_cifar10(root: str | Path, split: str = "train") -> ArrayData:
    """CIFAR-10 'binary version' (data_batch_{1..5}.bin, test_batch.bin): no unpickling needed."""
    root = Path(root)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    raw = []
    for name in names:
        f = next(root.rglob(name), None)
        if f is None:
            raise FileNotFoundError(f"{name} not found under {root} (CIFAR-10 binary version)")
        raw.append(np.fromfile(f, dtype=np.uint8).reshape(-1, 1 + 3 * 32 * 32))
    rec = np.concatenate(raw)
    x = rec[:, 1:].reshape(-1, 3, 32, 32)
    return ArrayData(
        torch.from_numpy(to_unit_range(x)), torch.from_numpy(rec[:, 0].astype(np.int64))
    )


def load_svhn(root: str | Path, split: str = "train") -> ArrayData:
    """SVHN cropped digits (train_32x32.mat / test_32x32.mat); label 10 means digit 0."""
    from scipy.io import loadmat

    f = Path(root)
    if f.is_dir():
        f = f / f"{split}_32x32.mat"
    m = loadmat(f)
    x = np.transpose(m["X"], (3, 2, 0, 1))  # [32, 32, 3, N] -> [N, 3, 32, 32]
    y = m["y"].reshape(-1).astype(np.int64) % 10
    return ArrayData(torch.from_numpy(to_unit_range(x)), torch.from_numpy(y))


def load_fake(n: int, channels: int, size: int, num_classes: int, seed: int) -> ArrayData:
    g = torch.Generator().manual_seed(seed)
    if channels == 0:  # toy: 2-D points
        x = torch.randn(n, 2, generator=g)
    else:
        x = torch.rand(n, channels, size, size, generator=g) * 2 - 1
    y = torch.randint(0, max(num_classes, 1), (n,), generator=g)
    return ArrayData(x, y)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


class ImageFolder(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """All images under a folder (e.g. CelebA's img_align_celeba), centre-cropped and resized."""

    def __init__(self, root: str | Path, size: int, channels: int = 3, crop: int | None = None):
        self.files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise FileNotFoundError(f"no images found under {root}")
        self.size, self.mode, self.crop = size, ("L" if channels == 1 else "RGB"), crop

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image, ImageOps

        with Image.open(self.files[i]) as im:
            im = im.convert(self.mode)
            if self.crop:  # CelebA: 108x108 centre crop before resizing (as in the paper's code)
                w, h = im.size
                left, top = (w - self.crop) // 2, (h - self.crop) // 2
                im = im.crop((left, top, left + self.crop, top + self.crop))
            im = ImageOps.fit(im, (self.size, self.size))
            a = np.asarray(im, dtype=np.uint8)
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        return torch.from_numpy(to_unit_range(a)), torch.tensor(0)


class LoaderBatches:
    """`Batches`-like wrapper over a DataLoader (for the streaming image folder)."""

    def __init__(
        self, ds: Dataset, batch_size: int, seed: int, workers: int, rank: int = 0, world: int = 1
    ) -> None:
        from torch.utils.data.distributed import DistributedSampler

        self.sampler = DistributedSampler(ds, world, rank, shuffle=True, seed=seed, drop_last=True)
        self.loader = DataLoader(
            ds, batch_size, sampler=self.sampler, num_workers=workers, drop_last=True
        )

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.set_epoch(epoch)
        yield from self.loader

    def __len__(self) -> int:
        return len(self.loader)


def load_dataset(
    name: str,
    path: str | None,
    split: str,
    model_channels: int,
    image_size: int,
    num_classes: int,
    seed: int,
) -> ArrayData | Dataset:
    """Dispatch by dataset name. Returns in-memory ArrayData or a streaming Dataset (folder)."""
    if name == "mixture":
        x, comp = sample_mixture(100_000 if split == "train" else 10_000, seed + (split != "train"))
        return ArrayData(torch.from_numpy(x), torch.from_numpy(comp.astype(np.int64)))
    if name == "fake":
        return load_fake(512, model_channels, image_size, num_classes, seed)
    if path is None:
        raise ValueError(f"dataset {name!r} needs --data PATH")
    if name == "mnist":
        return load_mnist(path, split)
    if name == "cifar10":
        return load_cifar10(path, split)
    if name == "svhn":
        return load_svhn(path, split)
    if name == "folder":
        return ImageFolder(path, image_size, model_channels, crop=108 if image_size == 64 else None)
    raise ValueError(f"unknown dataset {name!r}")
