import math

import pytest
import torch

from training.rejection import rejection_sample


def _two_points(q_first: float):
    """Proposal: z ~ N(0, 1), x = sign(z) (so p(+1) = p(-1) = 1/2); D = log q(x)/p(x)."""
    log_ratio = {1.0: math.log(q_first / 0.5), -1.0: math.log((1 - q_first) / 0.5)}
    g = torch.Generator().manual_seed(0)

    def prior(n: int) -> torch.Tensor:
        return torch.randn(n, 1, generator=g)

    def decode(z: torch.Tensor) -> torch.Tensor:
        return torch.sign(z)

    def logit(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.where(x[:, 0] > 0, log_ratio[1.0], log_ratio[-1.0])

    return decode, logit, prior, g


def test_recovers_the_target_from_an_exact_log_ratio() -> None:
    decode, logit, prior, g = _two_points(q_first=0.9)
    res = rejection_sample(decode, logit, prior, n=20_000, chunk=5_000, generator=g)
    assert res.samples.shape == (20_000, 1)
    assert (res.samples[:, 0] > 0).float().mean().item() == pytest.approx(0.9, abs=0.01)
    # M = log(0.9 / 0.5): a +1 is always kept, a -1 with prob 0.1 / 0.9 -> (0.5 + 0.5/9) kept.
    assert res.acceptance == pytest.approx(0.5 + 0.5 / 9, abs=0.01)


def test_a_constant_logit_keeps_everything() -> None:
    decode, _, prior, g = _two_points(q_first=0.5)
    res = rejection_sample(decode, lambda x, z: torch.zeros(len(x)), prior, n=1000, chunk=500)
    assert res.acceptance == 1.0 and res.proposed == 1000


def test_gives_up_when_nothing_is_accepted() -> None:
    decode, _, prior, g = _two_points(q_first=0.5)

    def logit(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # one huge logit, then nothing
        out = torch.full((len(x),), -1e4)
        out[0] = 0.0
        return out

    with pytest.raises(RuntimeError, match="kept"):
        rejection_sample(decode, logit, prior, n=100, chunk=100, max_proposals=1000)
