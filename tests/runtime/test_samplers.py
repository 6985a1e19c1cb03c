"""GET /sample's samplers: runtime/samplers.py on fake networks (the route: tests/service)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from runtime.samplers import (
    SAMPLERS,
    DrsBound,
    Offline,
    Prior,
    Samples,
    calibrate,
    sample,
)

# ---- the numpy samplers on fake networks ------------------------------------------------------


class Fake:
    """Networks with known answers, recording every call as (network, rows, labels).

    decoder: x = z + y (as [m, 1, 1, d]), so x - z recovers the label it was decoded with;
    discriminator: D = -1.5 z_0^2 (- label_penalty * y), so keeping exp(D - 0) of N(0, 1) draws leaves N(0, 0.5^2),
    with acceptance 1 / sqrt(1 + 3) = 0.5; encoder: mu = x - y, log sigma = log 0.5.
    """

    def __init__(self, label_penalty: float = 0.0) -> None:
        self.label_penalty = label_penalty  # D -= penalty * y: D prefers small labels
        self.calls: list[tuple[str, int, np.ndarray | None]] = []
        self.logits: list[tuple[np.ndarray, np.ndarray]] = []  # (z, D) of every proposal

    @staticmethod
    def _offset(y: np.ndarray | None) -> np.ndarray | float:
        return 0.0 if y is None else y[:, None].astype(np.float32)

    def decode_sync(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        self.calls.append(("decoder", len(z), y))
        return (z + self._offset(y))[:, None, None, :].astype(np.float32)

    def discriminate_sync(
        self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray:
        self.calls.append(("discriminator", len(z), y))
        penalty = 0.0 if y is None else self.label_penalty * y
        d = (-1.5 * z[:, 0] ** 2 - penalty).astype(np.float32)
        self.logits.append((z, d))
        return d

    def encode_sync(
        self, x: np.ndarray, y: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(("encoder", len(x), y))
        mu = x.reshape(len(x), -1) - self._offset(y)
        return mu.astype(np.float32), np.full_like(mu, np.log(0.5), dtype=np.float32)

    async def decode(self, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        return self.decode_sync(z, y)

    async def discriminate(self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        return self.discriminate_sync(x, z, y)

    async def encode(self, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        return self.encode_sync(x, y)


def run(nets: Fake, sampler: str, n: int, seed: int, prior: Prior, **kw: object) -> Samples:
    bound = kw.pop("bound", DrsBound(0.0, 0.5))
    cap = kw.pop("max_proposals", 1_000_000)
    rng = np.random.default_rng(seed)
    return asyncio.run(sample(nets, sampler, n, rng, prior, bound, cap))  # type: ignore[arg-type]


def test_ancestral_draws_what_sample_always_drew() -> None:
    """z [n, d] float32 first, then the labels: GET /sample's images did not change."""
    out = run(Fake(), "ancestral", 5, 7, Prior(4, 10))
    rng = np.random.default_rng(7)
    z = rng.standard_normal((5, 4), dtype=np.float32)
    y = rng.integers(0, 10, 5, dtype=np.int64)
    assert np.array_equal(out.latents, z) and np.array_equal(out.labels, y)
    assert (out.proposed, out.accepted, out.filled, out.acceptance) == (5, 5, 0, 1.0)


def test_drs_keeps_pairs_with_probability_exp_d_minus_m() -> None:
    out = run(Fake(), "drs", 4000, 0, Prior(1))
    assert out.images.shape == (4000, 1, 1, 1) and out.filled == 0
    assert abs(out.latents[:, 0].std() - 0.5) < 0.03  # N(0, 1) reweighted by exp(-1.5 z^2)
    assert abs(out.acceptance - 0.5) < 0.03
    assert out.accepted >= 4000 and out.proposed == pytest.approx(out.accepted / 0.5, rel=0.1)


def test_every_sampler_is_reproducible_per_seed() -> None:
    for name in SAMPLERS:
        a, b = (run(Fake(), name, 50, 3, Prior(2)) for _ in range(2))
        c = run(Fake(), name, 50, 4, Prior(2))
        assert np.array_equal(a.images, b.images) and a.acceptance == b.acceptance, name
        assert not np.array_equal(a.images, c.images), name


def test_drs_rounds_are_sized_from_the_calibrated_acceptance_and_bounded() -> None:
    nets = Fake()
    run(nets, "drs", 8, 0, Prior(1), bound=DrsBound(0.0, 0.01))  # expects to need 1,200 draws
    rows = [r for net, r, _ in nets.calls if net == "decoder"]
    assert max(rows) == 64  # max(n, 64): one request never floods a batcher's queue
    nets = Fake()
    run(nets, "drs", 2, 0, Prior(1), bound=DrsBound(0.0, 0.9))
    assert [r for net, r, _ in nets.calls if net == "decoder"][0] == 16  # at least MIN_ROUND


def test_drs_at_the_cap_fills_with_the_best_rejected_proposals() -> None:
    nets = Fake()
    # M far above every logit: nearly nothing is accepted, so the cap of 40 proposals is hit.
    out = run(nets, "drs", 10, 0, Prior(1), bound=DrsBound(50.0, 0.5), max_proposals=40)
    assert (out.proposed, out.accepted, out.filled, len(out.images)) == (40, 0, 10, 10)
    z = np.concatenate([z for z, _ in nets.logits])[:, 0]
    assert len(z) == 40
    best = np.sort(np.abs(z))[:10]  # the highest logits -1.5 z^2
    assert np.allclose(np.sort(np.abs(out.latents[:, 0])), best)
    out = run(Fake(), "drs", 10, 0, Prior(1), bound=DrsBound(50.0, 0.5), max_proposals=3)
    assert out.proposed == 10 and len(out.images) == 10  # the cap is at least n


def test_gibbs_step_encodes_then_decodes_with_eps_drawn_after_the_prior() -> None:
    out = run(Fake(), "gibbs", 6, 5, Prior(3))
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 3), dtype=np.float32)
    eps = rng.standard_normal((6, 3), dtype=np.float32)
    assert np.allclose(out.latents, z + 0.5 * eps)  # mu(Gx(z)) = z, sigma 0.5
    assert np.allclose(out.images[:, 0, 0], out.latents)  # x' = Gx(z')
    assert out.acceptance == 1.0


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_conditional_labels_stay_through_every_call(sampler: str) -> None:
    nets = Fake()
    out = run(nets, sampler, 20, 1, Prior(2, 10, label=3))
    assert out.labels is not None and (out.labels == 3).all()
    assert all(y is not None and (y == 3).all() for _, _, y in nets.calls)
    out = run(Fake(), sampler, 40, 1, Prior(2, 10))  # random labels, kept with their images
    assert out.labels is not None and len(set(out.labels.tolist())) > 1
    assert np.allclose(out.images[:, 0, 0] - out.latents, out.labels[:, None])


def test_drs_keeps_the_seeded_labels_instead_of_reweighting_classes() -> None:
    """Labels are drawn first, one per slot; a D that prefers small labels cannot skew them."""
    nets = Fake(label_penalty=1.0)
    out = run(nets, "drs", 300, 4, Prior(1, 10), bound=DrsBound(0.0, 0.1))
    assert np.array_equal(out.labels, np.random.default_rng(4).integers(0, 10, 300))
    assert np.allclose(out.images[:, 0, 0, 0] - out.latents[:, 0], out.labels)
    assert out.acceptance < 0.3  # large labels were rejected often, and proposed again
    assert abs(out.latents[:, 0].std() - 0.5) < 0.06  # within a label, still exp(D - M)


def test_drs_cap_fill_uses_rejected_proposals_of_the_slots_label() -> None:
    out = run(Fake(), "drs", 20, 0, Prior(1, 10), bound=DrsBound(50.0, 0.5), max_proposals=20)
    assert out.filled == 20 and out.labels is not None
    assert np.allclose(out.images[:, 0, 0, 0] - out.latents[:, 0], out.labels)


def test_calibrate_takes_the_largest_logit_of_seeded_draws() -> None:
    nets = Fake()
    bound = calibrate(nets.decode_sync, nets.discriminate_sync, Prior(1), 600)
    d = np.concatenate([d for _, d in nets.logits]).astype(np.float64)
    assert len(d) == 600 and bound.bound == d.max()
    assert bound.acceptance == pytest.approx(np.exp(d - d.max()).mean())
    again = calibrate(Fake().decode_sync, Fake().discriminate_sync, Prior(1), 600)
    assert again == bound  # seed 0: one model, one M
    # Calls no larger than the server's batches (onnxruntime keeps arenas sized for the largest
    # call), and the same M whatever their size, also with labels drawn per round.
    small = Fake()
    assert calibrate(small.decode_sync, small.discriminate_sync, Prior(1), 600, chunk=16) == bound
    assert max(len(d) for _, d in small.logits) <= 16
    labelled = [
        calibrate(Fake().decode_sync, Fake().discriminate_sync, Prior(1, 10), 600, c)
        for c in (16, 64)
    ]
    assert labelled[0] == labelled[1]


def test_unknown_sampler_and_drs_without_a_bound_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown sampler"):
        run(Fake(), "metropolis", 4, 0, Prior(1))
    with pytest.raises(ValueError, match="bound"):
        run(Fake(), "drs", 4, 0, Prior(1), bound=None)


def test_offline_runs_a_synchronous_model_in_chunks() -> None:
    class Sync:
        def __init__(self, fake: Fake) -> None:
            self.decode, self.encode = fake.decode_sync, fake.encode_sync
            self.discriminate = fake.discriminate_sync

    fake = Fake()
    nets = Offline(Sync(fake), batch=3)  # type: ignore[arg-type]
    z = np.arange(7, dtype=np.float32)[:, None]
    x = asyncio.run(nets.decode(z, None))
    mu, _ = asyncio.run(nets.encode(x, None))
    d = asyncio.run(nets.discriminate(x, z, None))
    assert [r for _, r, _ in fake.calls] == [3, 3, 1] * 3
    assert np.array_equal(mu, z) and d.shape == (7,)
