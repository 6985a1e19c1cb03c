"""Fréchet distance and k-NN precision / recall on synthetic Gaussians with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from training import sample_quality
from training.sample_quality import frechet_distance, knn_radii, precision_recall


def test_fd_of_a_set_with_itself_is_zero() -> None:
    a = np.random.default_rng(0).standard_normal((2000, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_fd_matches_the_closed_form_for_shifted_and_scaled_gaussians() -> None:
    rng = np.random.default_rng(1)
    d, n = 4, 50_000
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    a = rng.standard_normal((n, d))
    b = rng.standard_normal((n, d)) + shift
    assert frechet_distance(a, b) == pytest.approx((shift**2).sum(), rel=0.02)  # ||dmu||^2 = 5.25
    c = 2.0 * rng.standard_normal((n, d))
    # same mean, covariances I and 4I: tr(I + 4I - 2 * 2I) = d
    assert frechet_distance(a, c) == pytest.approx(d, rel=0.03)


def test_fd_survives_singular_covariances() -> None:
    a = np.zeros((100, 5))
    a[:, 0] = np.random.default_rng(2).standard_normal(100)  # rank 1
    assert np.isfinite(frechet_distance(a, a + 1.0))
    assert frechet_distance(a, a + 1.0) == pytest.approx(5.0, abs=1e-3)


def test_knn_radius_skips_the_point_itself() -> None:
    pts = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert np.allclose(knn_radii(pts, 1), [1, 1, 2, 4])
    assert np.allclose(knn_radii(pts, 2), [3, 2, 3, 6])


def test_precision_recall_one_for_identical_sets_low_for_disjoint() -> None:
    rng = np.random.default_rng(3)
    real = rng.standard_normal((1500, 6))
    assert precision_recall(real, real, k=3) == (1.0, 1.0)
    far = rng.standard_normal((1500, 6)) + 20.0
    assert precision_recall(real, far, k=3) == (0.0, 0.0)


def test_precision_recall_separate_quality_from_coverage() -> None:
    """Samples from half the data: precise (inside its manifold) but half the data uncovered."""
    rng = np.random.default_rng(4)
    real = rng.standard_normal((3000, 2))
    half = rng.standard_normal((3000, 2))
    half[:, 0] = np.abs(half[:, 0])  # only the right half-plane
    precision, recall = precision_recall(real, half, k=3)
    assert precision > 0.9 and 0.4 < recall < 0.65


def test_blocks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((700, 3)), rng.standard_normal((500, 3)) * 1.2
    whole = precision_recall(real, fake)
    monkeypatch.setattr(sample_quality, "BLOCK", 64)
    assert precision_recall(real, fake) == whole
