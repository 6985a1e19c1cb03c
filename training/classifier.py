"""A small MNIST CNN used only to judge generated and reconstructed digits (~99% test accuracy).

The judge is trained with photometric augmentation as well as shifts: without it, a barely
visible grey background (black lifted to 25/255) made it call most digits "8" (test accuracy
0.99 -> 0.20), so it judged a generator's background rather than its digits. `robustness`
reports accuracy under such perturbations; `ali-eval mnist` records it with the metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from training.data import load_mnist

# Bump when the recipe changes: cached judges of other versions are retrained. Version 3: the
# shifts come from the seed (version 2 drew them from numpy's unseeded global RNG, so no two
# runs trained the same judge).
JUDGE_VERSION = 3


class DigitClassifier(nn.Module):
    """x [N, 1, 28, 28] in [-1, 1] -> logits [N, 10]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 7
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 1, 28, 28] -> the penultimate layer [N, 128] (after its ReLU)."""
        return self.net[:-1](x)


def train_classifier(
    mnist_path: str | Path, epochs: int = 3, seed: int = 0
) -> tuple[nn.Module, float]:
    """Train on the 60k training images (shifts + photometric augmentation); (model, test acc)."""
    torch.manual_seed(seed)
    shifts = np.random.default_rng(seed)
    train, test = load_mnist(mnist_path, "train"), load_mnist(mnist_path, "test")
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (len(train) // 128))
    for _ in range(epochs):
        perm = torch.randperm(len(train))
        model.train()
        for i in tqdm(range(len(train) // 128), desc="digit classifier", leave=False):
            idx = perm[i * 128 : (i + 1) * 128]
            x = train.x[idx]
            dx, dy = shifts.integers(-2, 3, size=2)
            x = torch.roll(x, shifts=(int(dx), int(dy)), dims=(2, 3))
            x = photometric(x)
            loss = F.cross_entropy(model(x), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    acc = float((predict(model, test.x.numpy()) == test.y.numpy()).mean())
    return model, acc


def photometric(x: torch.Tensor) -> torch.Tensor:
    """Per-image random background level, blur and noise on [N, 1, 28, 28] in [-1, 1]."""
    n = x.shape[0]
    lift = torch.rand(n, 1, 1, 1) * 0.6 * (torch.rand(n, 1, 1, 1) < 0.5)  # black -> up to -0.4
    x = lift - 1 + (x + 1) * (2 - lift) / 2
    blur = torch.rand(n, 1, 1, 1) < 0.3
    x = torch.where(blur, F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False), x)
    sigma = torch.rand(n, 1, 1, 1) * 0.15 * (torch.rand(n, 1, 1, 1) < 0.5)
    return (x + sigma * torch.randn_like(x)).clamp(-1, 1)


def robustness(model: nn.Module, x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Accuracy on x [N, 1, 28, 28] with the background lifted or noise added."""
    rng = np.random.default_rng(seed)
    out = {}
    for lift in (0.1, 0.2, 0.4):
        xl = np.where(x < 0, np.minimum(x + lift, 0), x).astype(np.float32)
        out[f"background_lift_{lift}"] = float((predict(model, xl) == y).mean())
    for sigma in (0.1, 0.2):
        xn = np.clip(x + sigma * rng.standard_normal(x.shape), -1, 1).astype(np.float32)
        out[f"noise_{sigma}"] = float((predict(model, xn) == y).mean())
    return out


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """x [N, 1, 28, 28] float in [-1, 1] -> predicted digit [N]."""
    model.eval()
    out = [model(torch.from_numpy(x[i : i + batch])).argmax(1) for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


@torch.no_grad()
def judge(model: nn.Module, x: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """x [N, 1, 28, 28] in [-1, 1] -> (penultimate features [N, 128], class probabilities [N, 10])."""
    assert isinstance(model, DigitClassifier)
    model.eval()
    feats = torch.cat(
        [model.features(torch.from_numpy(x[i : i + batch])) for i in range(0, len(x), batch)]
    )
    return feats.numpy(), torch.softmax(model.net[-1](feats), 1).numpy()


def load_or_train(cache: Path, mnist_path: str | Path) -> tuple[nn.Module, float]:
    """Cached at `cache` (weights + accuracy, loaded with weights_only=True)."""
    if cache.is_file():
        blob = torch.load(cache, weights_only=True)
        if blob.get("version") == JUDGE_VERSION:
            model = DigitClassifier()
            model.load_state_dict(blob["weights"])
            return model.eval(), float(blob["test_accuracy"])
    model, acc = train_classifier(mnist_path)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"weights": model.state_dict(), "test_accuracy": acc, "version": JUDGE_VERSION}, cache
    )
    return model, acc
