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


def prior_mmd(z_hat: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 between encoder codes z_hat = Gz(x) [N, d] and prior draws z [N, d].

    Inverse multiquadratic kernels k(a, b) = c / (c + |a - b|^2), c = 2 d s, summed over scales s
    (WAE, Tolstikhin et al. 2018). Minimised by the encoder, it spreads q(z) over the whole prior:
    where q(z) leaves a gap, the decoder is never trained and prior samples from it land between
    the data's modes. Zero in expectation when both sets come from one distribution.
    """
    n, d = z.shape
    off_diag = 1 - torch.eye(n, device=z.device, dtype=z.dtype)
    # Squared distances [N, N]: within the codes, within the prior draws, and across.
    aa, bb, ab = (torch.cdist(a, b) ** 2 for a, b in ((z_hat, z_hat), (z, z), (z_hat, z)))
    out = z.new_zeros(())
    for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        c = 2 * d * s
        within = ((c / (c + aa) + c / (c + bb)) * off_diag).sum() / (n * (n - 1))  # i != j only
        out = out + within - 2 * (c / (c + ab)).mean()
    return out


def confident_and_balanced_loss(logits: torch.Tensor) -> torch.Tensor:
    """CatGAN's generator term on class logits [N, K] of generated x, with no labels given:
    mean_i H(p_i) - H(mean_i p_i). Low when each sample is one confident class and the batch as a
    whole uses every class (the second term keeps it from putting every sample in one class)."""
    logp = F.log_softmax(logits, dim=1)
    p = logp.exp()
    per_sample = -(p * logp).sum(1).mean()
    mean = p.mean(0)
    return per_sample + (mean * mean.clamp_min(1e-8).log()).sum()
