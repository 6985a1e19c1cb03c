"""The ALI objective in its logit form.

D(x, z) returns a logit; "real" pairs are (x, Gz(x)) from the encoder, "fake" pairs (Gx(z), z) from
the decoder. softplus(-l) = -log sigmoid(l) and softplus(l) = -log(1 - sigmoid(l)), so these are
the usual binary cross-entropies written stably.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor, real_label: float = 1.0
) -> torch.Tensor:
    """D minimises softplus(-D(x, Gz(x))) + softplus(D(Gx(z), z)); real_label < 1 smooths."""
    if real_label == 1.0:
        real = F.softplus(-d_real).mean()
    else:
        real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
    return real + F.softplus(d_fake).mean()


def generator_loss(d_real: torch.Tensor | None, d_fake: torch.Tensor) -> torch.Tensor:
    """Encoder and decoder minimise the swapped, non-saturating form.

    softplus(D(x, Gz(x))) + softplus(-D(Gx(z), z)). For the GAN baseline d_real is None: D(x) of
    real data does not depend on the generator.
    """
    loss = F.softplus(-d_fake).mean()
    if d_real is not None:
        loss = loss + F.softplus(d_real).mean()
    return loss


def cycle_loss(x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
    """ALICE's explicit cycle-consistency term: mean squared error of x -> Gx(Gz(x)) per pixel."""
    return F.mse_loss(x_rec, x)
