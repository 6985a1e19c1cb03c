"""A small MNIST CNN used only to judge generated and reconstructed digits (~99% test accuracy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from training.data import load_mnist


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


def train_classifier(
    mnist_path: str | Path, epochs: int = 3, seed: int = 0
) -> tuple[nn.Module, float]:
    """Train on the 60k training images (light shift augmentation); returns (model, test acc)."""
    torch.manual_seed(seed)
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
            dx, dy = np.random.randint(-2, 3, size=2)
            x = torch.roll(x, shifts=(int(dx), int(dy)), dims=(2, 3))
            loss = F.cross_entropy(model(x), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    acc = float((predict(model, test.x.numpy()) == test.y.numpy()).mean())
    return model, acc


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """x [N, 1, 28, 28] float in [-1, 1] -> predicted digit [N]."""
    model.eval()
    out = [model(torch.from_numpy(x[i : i + batch])).argmax(1) for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def load_or_train(cache: Path, mnist_path: str | Path) -> tuple[nn.Module, float]:
    """Cached at `cache` (weights + accuracy, loaded with weights_only=True)."""
    if cache.is_file():
        blob = torch.load(cache, weights_only=True)
        model = DigitClassifier()
        model.load_state_dict(blob["weights"])
        return model.eval(), float(blob["test_accuracy"])
    model, acc = train_classifier(mnist_path)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weights": model.state_dict(), "test_accuracy": acc}, cache)
    return model, acc
