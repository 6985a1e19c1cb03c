"""Sample quality in a feature space: Fréchet distance and k-NN precision / recall.

Features are any [N, F] array; `ali-eval mnist` uses the penultimate layer of its digit
classifier (training/classifier.py), so "FD" here is the FID recipe with a small MNIST judge in
place of Inception. Its numbers are comparable only with each other (same judge, same sizes).

- frechet_distance: ||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between Gaussians fitted
  to the two sets (Heusel et al. 2017).
- precision_recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls around
  its points, radius the distance to the point's k-th nearest neighbour in the same set.
  Precision: the share of generated points inside the real manifold (are samples realistic?);
  recall: the share of real points inside the generated manifold (is the data covered?).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

BLOCK = 1024  # rows of a distance block: 1024 x 10k float32 = 40 MB


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """a [Na, F], b [Nb, F] -> FD between Gaussians fitted to each (float64 throughout)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # a singular product is handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # nudge both (as pytorch-fid does)
        eps = 1e-6 * np.eye(len(cov_a))
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(
        ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root.real)
    )


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a [n, F], b [m, F] -> squared Euclidean distances [n, m]."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0)


def knn_radii(feats: np.ndarray, k: int) -> np.ndarray:
    """[N, F] -> [N]: each point's distance to its k-th nearest other point."""
    f = feats.astype(np.float32)
    out = np.empty(len(f), np.float32)
    for i in range(0, len(f), BLOCK):
        d = _sq_dists(f[i : i + BLOCK], f)
        out[i : i + BLOCK] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return np.sqrt(out)


def coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """The share of points [N, F] within radii [M] of some centre [M, F]."""
    p, c = points.astype(np.float32), centres.astype(np.float32)
    r2 = radii.astype(np.float32) ** 2
    inside = 0
    for i in range(0, len(p), BLOCK):
        inside += int((_sq_dists(p[i : i + BLOCK], c) <= r2[None, :]).any(1).sum())
    return inside / len(p)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of fake [N, F] against real [M, F], k-NN manifolds."""
    precision = coverage(fake, real, knn_radii(real, k))
    recall = coverage(real, fake, knn_radii(fake, k))
    return precision, recall
