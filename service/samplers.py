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
gamma): plain exp(D - M) is the textbook rule, and on the 25-Gaussian toy the variants did not help.

Every network call goes through the `Networks` given (the service passes its ServedModel, whose
calls go through the dynamic batchers; `Offline` wraps a synchronous model for the evaluation).
All randomness comes from the one numpy Generator passed in, drawn in a fixed order: the prior
(z [m, d], then labels [m] for a conditional model without a fixed label), then per DRS round the
uniforms [m], then the Gibbs step's eps [n, d]. Ancestral draws exactly what /sample drew before
samplers existed.
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
CALIBRATION_CHUNK = 256


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
    """Synchronous networks with the same signatures (service.runtime.Model)."""

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
        z = rng.standard_normal((m, self.dim), dtype=np.float32)
        if not self.num_classes:
            return z, None
        if self.label is not None:
            return z, np.full(m, self.label, dtype=np.int64)
        return z, rng.integers(0, self.num_classes, m, dtype=np.int64)


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
) -> DrsBound:
    """M = the largest logit D(Gx(z), z) over `proposals` prior draws (seed 0, random labels).

    Synchronous (the registry runs it in a thread at load time, like the warm-up).
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    logits = []
    for i in range(0, proposals, CALIBRATION_CHUNK):
        z, y = prior.draw(rng, min(CALIBRATION_CHUNK, proposals - i))
        logits.append(discriminate(decode(z, y), z, y).astype(np.float64))
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
    """Propose in rounds until n pairs are kept or max(max_proposals, n) were drawn.

    A round is sized from the model's calibrated acceptance (1.5x the expected need, at least
    MIN_ROUND, at most max(n, 64) rows, so one request never floods a batcher's queue). At the cap,
    the missing images are the rejected proposals with the highest logits, counted in `filled`.
    """
    cap = max(max_proposals, n)
    kept: list[_Rows] = []
    spare: _Rows | None = None  # the best n rejected proposals so far
    accepted = proposed = 0
    while accepted < n and proposed < cap:
        need = math.ceil(1.5 * (n - accepted) / max(bound.acceptance, 1e-6))
        m = min(cap - proposed, max(n, 64), max(MIN_ROUND, need))
        z, y = prior.draw(rng, m)
        u = rng.random(m)  # [m] float64
        x = await nets.decode(z, y)
        d = (await nets.discriminate(x, z, y)).astype(np.float64)  # [m]
        keep = u < np.exp(np.minimum(d - bound.bound, 0.0))
        rows = _Rows(x, z, y, d)
        kept.append(rows.take(keep))
        spare = rows.take(~keep).join(spare).best(n)
        accepted += int(keep.sum())
        proposed += m
    filled = max(0, n - accepted)
    if filled and spare is not None:
        kept.append(spare)
    out = kept[0].join(*kept[1:]).take(np.arange(n))
    return Samples(out.x, out.z, out.y, proposed, accepted, filled)


@dataclass(frozen=True)
class _Rows:
    """Proposals: x [m, C, H, W], z [m, d], y [m] or None, logits d [m]."""

    x: np.ndarray
    z: np.ndarray
    y: np.ndarray | None
    d: np.ndarray

    def take(self, idx: np.ndarray) -> _Rows:
        return _Rows(self.x[idx], self.z[idx], None if self.y is None else self.y[idx], self.d[idx])

    def join(self, *others: _Rows | None) -> _Rows:
        parts = [self, *(o for o in others if o is not None)]
        y = None if self.y is None else np.concatenate([p.y for p in parts if p.y is not None])
        return _Rows(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.z for p in parts]),
            y,
            np.concatenate([p.d for p in parts]),
        )

    def best(self, n: int) -> _Rows:
        return self.take(np.argsort(-self.d, kind="stable")[:n])


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
