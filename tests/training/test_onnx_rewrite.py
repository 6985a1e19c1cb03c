"""The sub-pixel rewrite of transposed convolutions gives the same outputs as the original."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from training.config import preset
from training.nets import build_networks
from training.onnx_rewrite import LatentConvTranspose, SubpixelConvTranspose, subpixel_decoder


def _randomise_bn(module: nn.Module) -> None:
    """Non-trivial running statistics, so folding batch norm is actually exercised."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)


@pytest.mark.parametrize(
    ("k", "s", "p", "size"), [(4, 2, 1, 7), (4, 2, 0, 5), (3, 1, 0, 1), (3, 1, 1, 6), (6, 3, 2, 4)]
)
@pytest.mark.parametrize("with_head", [False, True])
def test_layer_matches_conv_transpose(k: int, s: int, p: int, size: int, with_head: bool) -> None:
    torch.manual_seed(k * 100 + s * 10 + p)
    convt = nn.ConvTranspose2d(5, 6, k, stride=s, padding=p, bias=False)
    bn = nn.BatchNorm2d(6)
    _randomise_bn(bn)
    act = nn.LeakyReLU(0.2)
    head = nn.Conv2d(6, 2, 1) if with_head else None
    ref = nn.Sequential(convt, bn.eval(), act, *([head] if head else []))
    x = torch.randn(3, 5, size, size)
    with torch.no_grad():
        want = ref(x)
        got = SubpixelConvTranspose(convt, bn, act, head)(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("k", "s"), [(3, 1), (4, 1), (4, 2), (3, 2)])
def test_latent_layer_matches_conv_transpose_on_1x1(k: int, s: int) -> None:
    torch.manual_seed(k * 10 + s)
    convt = nn.ConvTranspose2d(5, 6, k, stride=s, bias=True)
    bn = nn.BatchNorm2d(6)
    _randomise_bn(bn)
    act = nn.LeakyReLU(0.2)
    z = torch.randn(3, 5, 1, 1)
    with torch.no_grad():
        want = act(bn.eval()(convt(z)))  # [3, 6, k, k]
        got = LatentConvTranspose(convt, bn, act)(z)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="1x1"):
        LatentConvTranspose(convt, bn, act)(torch.randn(3, 5, 2, 2))


def test_rejects_kernel_not_multiple_of_stride() -> None:
    with pytest.raises(ValueError, match="multiple of the stride"):
        SubpixelConvTranspose(nn.ConvTranspose2d(2, 2, 3, stride=2))


@pytest.mark.parametrize("name", ["mnist", "mnist-cond", "svhn", "celeba"])
def test_decoder_rewrite_is_exact(name: str) -> None:
    mcfg, _ = preset(name)
    mcfg = dataclasses.replace(mcfg, width=min(mcfg.width, 0.25))
    dec = build_networks(mcfg).decoder
    _randomise_bn(dec)
    dec.eval()
    new = subpixel_decoder(dec)
    z = torch.randn(4, mcfg.nlat)
    y = torch.arange(4) % 10 if mcfg.conditional else None
    with torch.no_grad():
        torch.testing.assert_close(new(z, y), dec(z, y), atol=1e-5, rtol=1e-5)
    kept = [m for m in new.modules() if isinstance(m, nn.ConvTranspose2d)]
    # Only layers whose kernel is not a multiple of the stride stay transposed convolutions.
    assert all(m.kernel_size[0] % m.stride[0] for m in kept)
    assert any(isinstance(m, SubpixelConvTranspose) for m in new.modules())
    assert isinstance(new.body[0], LatentConvTranspose)  # every preset's first layer is unpadded


def test_rewrite_refuses_training_mode() -> None:
    mcfg, _ = preset("mnist")
    with pytest.raises(ValueError, match="eval-mode"):
        subpixel_decoder(build_networks(mcfg).decoder.train())
