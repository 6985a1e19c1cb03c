"""Samplers for GET /sample, built from ALI's three networks (numpy only, no web framework).

- ancestral: z ~ N(0, I), x = Gx(z). What /sample always did; the same seed gives the same images.
- drs: discriminator rejection sampling (Azadi et al. 2019). ALI's discriminator logit estimates
  log q(x, z) / p(x, z), encoder joint over decoder joint, so keeping a decoder pair (Gx(z), z)
  with probability exp(D(x, z) - M) moves the kept x towards the data (training/rejection.py has
  the derivation; this is the same sampler in numpy).
- gibbs: one sweep through the two conditionals, x -> z' ~ q(z | x) -> x' = Gx(z'), which moves a
  decoder sample that fell between the data's modes back onto them (training/gibbs.py).
- drs+gibbs: DRS, then one Gibbs step.

The bound M is a per-model constant, not a per-request burn-in: `calibrate` draws a fixed number
of decoder pairs with seed 0 when the model is loaded and takes the largest logit. So a request's
images depend only on its seed, n and label (not on what ran before or on the size of the
request's first chunk). A proposal whose logit is above M is kept with probability 1 (the
acceptance ratio is clipped): those are rare (about 1 in the calibration size) and are exactly
the pairs D likes most. No gamma shift (Azadi et al.'s F = D - M - log(1 - exp(D - M - eps)) -
gamma, which raises acceptance at the cost of exactness): plain exp(D - M) is the textbook rule,
and on the 25-Gaussian toy sharper variants traded diversity for quality (README).

Every network call goes through the `Networks` given (the service passes its ServedModel, whose
calls go through the dynamic batchers; `Offline` wraps a synchronous model for the evaluation).
All randomness comes from the one numpy Generator passed in, drawn in a fixed order. Ancestral:
z [n, d], then labels [n] (conditional model, no fixed label) - exactly what /sample drew before
samplers existed. DRS: labels [n] first, then per round z [m, d] and uniforms [m]. A Gibbs step
then draws eps [n, d]. (Rows batched with other requests' rows can differ from a lone run in the
last float bit; a DRS decision flips only if its uniform lies within that of the threshold.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

import numpy as np

Sampler = Literal["ancestral", "drs", "gibbs", "drs+gibbs"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
MIN_ROUND = 16  # DRS proposals per round, at least (tiny rounds cost more in overhead than rows)
CALIBRATION_SEED = 0
DRS_CALIBRATION = 2048  # decoder samples drawn per model for its bound M (the service's default)
MAX_DRS_PROPOSALS = 4096  # proposals one DRS request may draw (the service's default)
CALIBRATION_DRAW = 256  # prior rows drawn at a time: fixes the random stream, hence M
CALIBRATION_CHUNK = 64  # rows per network call: larger calls grow onnxruntime's arenas for good


class Networks(Protocol):
    """The three networks as async calls: ServedModel in the service, `Offline` elsewhere."""

    async def decode(self, z: np.ndarray, y: np.ndarray | None) -> np.ndarray: ...

    async def encode(
        self, x: np.ndarray, y: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    async def discriminate(
        self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None
    ) -> np.ndarray: ...


class SyncNetworks(Protocol):
    """Synchronous networks with the same signatures (runtime.model.Model)."""

    def decode(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray: ...

    def encode(
        self, x: np.ndarray, y: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def discriminate(
        self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class Prior:
    """z ~ N(0, I) [m, dim]; labels [m]: `label` if given, else uniform (conditional models)."""

    dim: int
    num_classes: int = 0  # 0: unconditional
    label: int | None = None

    def draw(self, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray | None]:
        """z [m, dim] first, then the labels [m] (None for an unconditional model)."""
        return self.latents(rng, m), self.labels(rng, m)

    def latents(self, rng: np.random.Generator, m: int) -> np.ndarray:
        return rng.standard_normal((m, self.dim), dtype=np.float32)

    def labels(self, rng: np.random.Generator, m: int) -> np.ndarray | None:
        if not self.num_classes:
            return None
        if self.label is not None:
            return np.full(m, self.label, dtype=np.int64)
        return rng.integers(0, self.num_classes, m, dtype=np.int64)


@dataclass(frozen=True)
class DrsBound:
    """A model's bound M on D's logit, and the mean acceptance exp(D - M) it gave."""

    bound: float
    acceptance: float


@dataclass(frozen=True)
class Samples:
    images: np.ndarray  # [n, C, H, W]
    latents: np.ndarray  # [n, d]: the codes the images are decoded from (z' after a Gibbs step)
    labels: np.ndarray | None  # [n] int64 (conditional models)
    proposed: int  # decoder samples drawn from the prior
    accepted: int  # of those, kept by DRS (all of them for the other samplers)
    filled: int = 0  # images taken from the best rejected proposals when the cap was reached

    @property
    def acceptance(self) -> float:
        return self.accepted / self.proposed


def calibrate(
    decode: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
    discriminate: Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray],
    prior: Prior,
    proposals: int,
    chunk: int = CALIBRATION_CHUNK,
) -> DrsBound:
    """M = the largest logit D(Gx(z), z) over `proposals` prior draws (seed 0, random labels).

    Synchronous (the registry runs it in a thread at load time, like the warm-up).
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    logits = []
    for i in range(0, proposals, CALIBRATION_DRAW):
        z, y = prior.draw(rng, min(CALIBRATION_DRAW, proposals - i))
        for j in range(0, len(z), chunk):
            zj, yj = z[j : j + chunk], None if y is None else y[j : j + chunk]
            logits.append(discriminate(decode(zj, yj), zj, yj).astype(np.float64))
    d = np.concatenate(logits)  # [proposals]
    if not np.isfinite(d).all():
        raise ValueError("the discriminator returned non-finite logits on decoder samples")
    bound = float(d.max())
    return DrsBound(bound, float(np.exp(d - bound).mean()))


async def ancestral(nets: Networks, n: int, rng: np.random.Generator, prior: Prior) -> Samples:
    z, y = prior.draw(rng, n)
    return Samples(await nets.decode(z, y), z, y, n, n)


async def drs(
    nets: Networks,
    n: int,
    rng: np.random.Generator,
    prior: Prior,
    bound: DrsBound,
    max_proposals: int,
) -> Samples:
    """n slots, each filled by the first kept proposal drawn for its label.

    The slots' labels come first (the requested label, or drawn from rng): proposals cycle over
    the open slots with their labels, and a kept proposal fills the first open slot of its label.
    So every image is a rejection sample from its own label's conditional and the labels are the
    seeded ones: DRS does not reweight the classes (keeping random labels with whichever
    proposals D liked moved the shipped conditional model's classes from 10 % each to 8-13 %).
    Rounds are sized from the model's calibrated acceptance (1.5x the expected need, at least
    MIN_ROUND, at most max(n, 64) rows, so one request never floods a batcher's queue). Proposals
    stop at max(max_proposals, n); slots still open then get the rejected proposals of their
    label with the highest logits, counted in `filled`.
    """
    cap = max(max_proposals, n)
    slot_y = prior.labels(rng, n)  # [n] or None
    group = np.zeros(n, np.int64) if slot_y is None else slot_y  # slots that are interchangeable
    per_group = np.bincount(group)
    is_open = np.ones(n, dtype=bool)
    x_out: np.ndarray | None = None
    z_out = np.empty((n, prior.dim), np.float32)
    spare: _Rows | None = None  # per label, the best rejected proposals (as many as its slots)
    accepted = proposed = 0
    while is_open.any() and proposed < cap:
        slots = np.flatnonzero(is_open)
        need = math.ceil(1.5 * len(slots) / max(bound.acceptance, 1e-6))
        m = min(cap - proposed, max(n, 64), max(MIN_ROUND, need))
        target = np.resize(slots, m)  # [m]: the slot each proposal is drawn for
        y = None if slot_y is None else slot_y[target]
        z = prior.latents(rng, m)
        u = rng.random(m)  # [m] float64
        x = await nets.decode(z, y)
        d = (await nets.discriminate(x, z, y)).astype(np.float64)  # [m]
        keep = u < np.exp(np.minimum(d - bound.bound, 0.0))
        accepted += int(keep.sum())
        proposed += m
        if x_out is None:
            x_out = np.empty((n, *x.shape[1:]), x.dtype)
        g = group[target]  # [m]
        for label in np.unique(g[keep]):
            rows = np.flatnonzero(keep & (g == label))
            free = slots[group[slots] == label][: len(rows)]
            x_out[free], z_out[free] = x[rows[: len(free)]], z[rows[: len(free)]]
            is_open[free] = False
        rejected = _Rows(x[~keep], z[~keep], g[~keep], d[~keep])
        spare = rejected.join(spare).best_per_group(per_group)
    filled = int(is_open.sum())
    if filled and spare is not None and x_out is not None:
        for label in np.unique(group[is_open]):
            free = np.flatnonzero(is_open & (group == label))
            rows = np.flatnonzero(spare.g == label)[: len(free)]  # best first
            x_out[free[: len(rows)]], z_out[free[: len(rows)]] = spare.x[rows], spare.z[rows]
    assert x_out is not None
    return Samples(x_out, z_out, slot_y, proposed, accepted, filled)


@dataclass(frozen=True)
class _Rows:
    """Rejected proposals: x [m, C, H, W], z [m, d], label group g [m], logits d [m]."""

    x: np.ndarray
    z: np.ndarray
    g: np.ndarray
    d: np.ndarray

    def join(self, other: _Rows | None) -> _Rows:
        if other is None:
            return self
        return _Rows(
            *(np.concatenate([getattr(self, f), getattr(other, f)]) for f in ("x", "z", "g", "d"))
        )

    def best_per_group(self, per_group: np.ndarray) -> _Rows:
        """Per group, its per_group[g] rows with the highest logits; by group, best first."""
        order = np.lexsort((-self.d, self.g))  # by group, then logit descending
        g = self.g[order]
        rank = np.arange(len(g)) - np.searchsorted(g, g)  # position within its group
        order = order[rank < per_group[g]]
        return _Rows(self.x[order], self.z[order], self.g[order], self.d[order])


async def gibbs_step(
    nets: Networks, x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """x [n, ...] -> (Gx(z'), z') with z' = mu(x) + sigma(x) * eps, eps ~ N(0, I) from rng."""
    mu, log_sigma = await nets.encode(x, y)
    eps = rng.standard_normal(mu.shape, dtype=np.float32)
    z = (mu + np.exp(log_sigma) * eps).astype(np.float32)
    return await nets.decode(z, y), z


async def sample(
    nets: Networks,
    sampler: str,
    n: int,
    rng: np.random.Generator,
    prior: Prior,
    bound: DrsBound | None = None,
    max_proposals: int = 4096,
) -> Samples:
    """n images from `sampler` (one of SAMPLERS); DRS needs the model's calibrated bound."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; one of {', '.join(SAMPLERS)}")
    if sampler.startswith("drs"):
        if bound is None:
            raise ValueError("DRS needs the model's bound (calibrate)")
        out = await drs(nets, n, rng, prior, bound, max_proposals)
    else:
        out = await ancestral(nets, n, rng, prior)
    if sampler.endswith("gibbs"):
        images, z = await gibbs_step(nets, out.images, out.labels, rng)
        out = Samples(images, z, out.labels, out.proposed, out.accepted, out.filled)
    return out


class Offline:
    """`Networks` over a synchronous model (evaluation, benchmarks): calls in `batch`-row chunks.

    The calls block; use it from asyncio.run, never inside the service's event loop.
    """

    def __init__(self, model: SyncNetworks, batch: int = 500) -> None:
        self.model, self.batch = model, batch

    def _chunks(self, n: int) -> range:
        return range(0, n, self.batch)

    @staticmethod
    def _part(a: np.ndarray | None, i: int, b: int) -> np.ndarray | None:
        return None if a is None else a[i : i + b]

    async def decode(self, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        b = self.batch
        return np.concatenate(
            [self.model.decode(z[i : i + b], self._part(y, i, b)) for i in self._chunks(len(z))]
        )

    async def encode(self, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        b = self.batch
        parts = [self.model.encode(x[i : i + b], self._part(y, i, b)) for i in self._chunks(len(x))]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    async def discriminate(self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        b = self.batch
        return np.concatenate(
            [
                self.model.discriminate(x[i : i + b], z[i : i + b], self._part(y, i, b))
                for i in self._chunks(len(x))
            ]
        )
