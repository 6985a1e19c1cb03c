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


def prior_moment_loss(z: torch.Tensor) -> torch.Tensor:
    """How far the codes' second moment E[z z^T] is from the prior's (I), ||E[zz^T] - I||_F^2 / d.

    z [N, d] are encoder samples Gz(x). The aggregate posterior q(z) should match the prior
    N(0, I) that samples are drawn from; when it is squeezed into a few directions, prior samples
    land where the decoder never saw a code. With N < d one batch's moment matrix is rank
    deficient, so ||M - I||^2 from one batch is biased; the product of two halves' estimates,
    tr((M1 - I)(M2 - I)), is unbiased (the halves are independent). The uncentred moment also
    pulls the mean to 0.
    """
    n, d = z.shape
    half = n // 2
    eye = torch.eye(d, device=z.device, dtype=z.dtype)
    m1 = z[:half].T @ z[:half] / half - eye  # [d, d]
    m2 = z[half : 2 * half].T @ z[half : 2 * half] / half - eye
    return (m1 * m2).sum() / d  # tr(m1 m2) for symmetric matrices


def confident_and_balanced_loss(logits: torch.Tensor) -> torch.Tensor:
    """CatGAN's generator term on class logits [N, K] of generated x, with no labels given:
    mean_i H(p_i) - H(mean_i p_i). Low when each sample is one confident class and the batch as a
    whole uses every class (the second term keeps it from putting every sample in one class)."""
    logp = F.log_softmax(logits, dim=1)
    p = logp.exp()
    per_sample = -(p * logp).sum(1).mean()
    mean = p.mean(0)
    return per_sample + (mean * mean.clamp_min(1e-8).log()).sum()
