"""Discriminator rejection sampling (DRS; Azadi et al. 2019, arXiv 1810.06758) for ALI.

ALI's discriminator is trained with encoder pairs (x, Gz(x)) as "real" and decoder pairs
(Gx(z), z) as "fake", so at its optimum its logit is the log density ratio of the two joints:

    D*(x, z) = log q(x, z) / p(x, z),   q(x, z) = q(x) q(z | x),  p(x, z) = p(z) p(x | z).

Drawing (x, z) from the decoder and keeping each pair with probability exp(D(x, z) - M), with M
an upper bound on the logit, is rejection sampling from q(x, z), whose x-marginal is the data
distribution. A trained D is only an estimate, so the result is closer to the data, not equal
to it. No retraining: it uses the decoder and discriminator as they are.

M is the largest logit seen so far, starting from a burn-in batch and raised whenever a larger
one appears (Azadi et al.'s scheme); pairs accepted under a smaller M were accepted a little too
often, a bias that shrinks with the burn-in size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RejectionResult:
    samples: torch.Tensor  # [n, ...]: decoder outputs that were kept
    acceptance: float  # kept / proposed
    proposed: int


@torch.no_grad()
def rejection_sample(
    decode: Callable[[torch.Tensor], torch.Tensor],
    logit: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    prior: Callable[[int], torch.Tensor],
    n: int,
    chunk: int = 10_000,
    max_proposals: int = 10_000_000,
    generator: torch.Generator | None = None,
) -> RejectionResult:
    """Keep decoder samples with probability exp(D(x, z) - M) until n are kept.

    decode: z [B, nlat] -> x [B, ...]; logit: (x, z) -> D's logit [B]; prior: B -> z [B, nlat].
    Raises RuntimeError when max_proposals are drawn without n acceptances (a D that rejects
    nearly everything is a broken model, not a slow sampler).
    """
    kept: list[torch.Tensor] = []
    n_kept = proposed = 0
    bound = -float("inf")
    while n_kept < n:
        if proposed >= max_proposals:
            raise RuntimeError(
                f"rejection sampling kept {n_kept} of {proposed} proposals; needed {n}"
            )
        z = prior(chunk)
        x = decode(z)
        d = logit(x, z).double()  # [chunk]
        bound = max(bound, float(d.max()))  # the first chunk is the burn-in
        u = torch.rand(chunk, generator=generator, dtype=torch.float64)
        keep = u < torch.exp(d - bound)
        kept.append(x[keep])
        n_kept += int(keep.sum())
        proposed += chunk
    return RejectionResult(torch.cat(kept)[:n], n_kept / proposed, proposed)
