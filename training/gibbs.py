"""Gibbs steps through ALI's two conditionals: x -> z ~ q(z | x) -> x' = Gx(z).

ALI trains two joints to be equal: the encoder's q(x, z) = q(x) q(z | x) and the decoder's
p(x, z) = p(z) p(x | z). Where they are equal, drawing z from the encoder's conditional and then x
from the decoder's is a Gibbs sweep of that one joint, so it leaves the distribution of x
unchanged. Where they are not, a decoder sample that fell between the data's modes is encoded
and decoded again, and the decoder maps codes of data-like points back onto the data (the
training cycle term asks for exactly that). On the 25-Gaussian toy one step after discriminator
rejection sampling (training/rejection.py) moved the samples that DRS had left between modes onto
them without changing how often each mode is drawn (README, "The 25-Gaussian experiment").

A step can only sharpen what the model already has: it does not fix mode weights (DRS does), and
its samples are as spread around a mode as the model's reconstructions of real data.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def gibbs_steps(
    encode: Callable[[torch.Tensor], torch.Tensor],
    decode: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    steps: int = 1,
) -> torch.Tensor:
    """x [N, ...] -> x after `steps` sweeps of z ~ encode(x), x = decode(z).

    encode must draw from q(z | x) (the encoder with its noise), not return the mean.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    for _ in range(steps):
        x = decode(encode(x))
    return x
