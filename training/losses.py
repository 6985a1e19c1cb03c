"""The ALI objective in its logit form.

D(x, z) returns a logit; "real" pairs are (x, Gz(x)) from the encoder, "fake" pairs (Gx(z), z) from
the decoder. softplus(-l) = -log sigmoid(l) and softplus(l) = -log(1 - sigmoid(l)), so these are
the usual binary cross-entropies written stably.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D minimises softplus(-D(x, Gz(x))) + softplus(D(Gx(z), z))."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


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


def confident_and_balanced_loss(logits: torch.Tensor) -> torch.Tensor:
    """CatGAN's generator term on class logits [N, K] of generated x, with no labels given:
    mean_i H(p_i) - H(mean_i p_i). Low when each sample is one confident class and the batch as a
    whole uses every class (the second term keeps it from putting every sample in one class)."""
    logp = F.log_softmax(logits, dim=1)
    p = logp.exp()
    per_sample = -(p * logp).sum(1).mean()
    mean = p.mean(0)
    return per_sample + (mean * mean.clamp_min(1e-8).log()).sum()
