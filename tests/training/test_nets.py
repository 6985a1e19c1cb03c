import dataclasses

import pytest
import torch

from training.config import ModelConfig, preset
from training.nets import build_networks
from training.nets.layers import ByteDropout

CASES = {
    "toy": ((2,), 2),
    "mnist": ((1, 28, 28), 256),
    "mnist-cond": ((1, 28, 28), 32),
    "svhn": ((3, 32, 32), 256),
    "cifar10": ((3, 32, 32), 64),
    "celeba": ((3, 64, 64), 512),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes(name: str) -> None:
    mcfg, _ = preset(name)
    x_shape, nlat = CASES[name]
    nets = build_networks(mcfg)
    n = 3
    x = torch.rand(n, *x_shape) * 2 - 1
    y = torch.randint(0, 10, (n,)) if mcfg.conditional else None
    z = nets.encoder(x, y)
    assert z.shape == (n, nlat)
    assert nets.decoder(z, y).shape == (n, *x_shape)
    assert nets.discriminator(x, z, y).shape == (n,)
    if mcfg.arch != "toy":
        mu, log_sigma = nets.encoder.moments(x, y)
        assert mu.shape == log_sigma.shape == (n, nlat)
        assert nets.decoder(z, y).abs().max() <= 1.0  # tanh output in the pixel range


@pytest.mark.parametrize("name", ["toy", "mnist"])
def test_gan_baseline_discriminator_sees_x_only(name: str) -> None:
    mcfg, _ = preset(name)
    nets = build_networks(dataclasses.replace(mcfg, kind="gan"))
    x = torch.randn(4, 2) if mcfg.arch == "toy" else torch.rand(4, 1, 28, 28)
    assert nets.discriminator(x).shape == (4,)


def test_conditional_embeddings_receive_gradients() -> None:
    mcfg = ModelConfig(
        arch="mnist28", channels=1, image_size=28, nlat=8, num_classes=10, width=0.25
    )
    nets = build_networks(mcfg)
    x, y = torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 3, 3, 9])
    z = nets.encoder(x, y)
    logit = nets.discriminator(nets.decoder(z, y), z, y)
    logit.sum().backward()
    for name, net in nets.modules().items():
        grad = net.embed.table.weight.grad
        assert grad is not None, name
        used = grad.abs().sum(dim=1) > 0
        assert used[[0, 3, 9]].all(), name  # rows of the labels in the batch
        assert not used[[1, 2]].any(), name  # and only those


def test_conditional_output_depends_on_label() -> None:
    mcfg = ModelConfig(
        arch="mnist28", channels=1, image_size=28, nlat=8, num_classes=10, width=0.25
    )
    dec = build_networks(mcfg).decoder.eval()
    z = torch.randn(1, 8).repeat(2, 1)
    out = dec(z, torch.tensor([1, 7]))
    assert not torch.allclose(out[0], out[1])


def test_projection_discriminator_keeps_the_label_out_of_its_x_branch() -> None:
    mcfg = ModelConfig(
        arch="mnist28",
        channels=1,
        image_size=28,
        nlat=8,
        num_classes=10,
        width=0.25,
        d_condition="projection",
    )
    disc = build_networks(mcfg).discriminator.eval()
    x = torch.rand(1, 1, 28, 28).repeat(2, 1, 1, 1) * 2 - 1
    z = torch.randn(1, 8).repeat(2, 1)
    logit, classes = disc(x, z, torch.tensor([1, 7]), with_classes=True)
    assert logit.shape == (2,) and classes.shape == (2, 10)
    assert not torch.isclose(logit[0], logit[1])  # the label moves the logit ...
    assert torch.equal(classes[0], classes[1])  # ... but the class head never sees it
    logit.sum().backward()
    assert disc.proj.table.weight.grad is not None
    assert disc.proj.table.weight.grad[[1, 7]].abs().sum(dim=1).gt(0).all()


def test_concat_discriminator_has_no_class_head() -> None:
    mcfg = ModelConfig(
        arch="mnist28", channels=1, image_size=28, nlat=8, num_classes=10, width=0.25
    )
    disc = build_networks(mcfg).discriminator
    with pytest.raises(ValueError, match="projection"):
        disc(torch.rand(2, 1, 28, 28), torch.randn(2, 8), torch.tensor([0, 1]), with_classes=True)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_byte_dropout_drops_a_share_p_and_keeps_the_mean(p: float) -> None:
    torch.manual_seed(0)
    drop = ByteDropout(p)
    x = torch.ones(200_000, dtype=torch.bfloat16)
    y = drop(x)
    assert y.dtype == torch.bfloat16
    assert (y == 0).float().mean().item() == pytest.approx(p, abs=0.005)
    assert y.float().mean().item() == pytest.approx(1.0, abs=0.01)  # inverted scaling
    drop.eval()
    assert drop(x) is x


def test_byte_dropout_backward_uses_the_forward_mask() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5, requires_grad=True)
    y = ByteDropout(0.5)(x)
    y.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad == 0, y == 0)  # dropped units get no gradient, kept ones 1/(1-p)
    assert torch.allclose(x.grad[y != 0], torch.full_like(x.grad[y != 0], 2.0))


@pytest.mark.parametrize("p", [-0.1, 1.0, 0.999])  # 0.999 would round to dropping every unit
def test_byte_dropout_rejects_p_it_cannot_draw(p: float) -> None:
    with pytest.raises(ValueError, match="dropout"):
        ByteDropout(p)


def test_conv_discriminator_drops_with_byte_dropout() -> None:
    mcfg, _ = preset("mnist")
    d = build_networks(mcfg).discriminator
    drops = [m for m in d.modules() if isinstance(m, ByteDropout)]
    assert [m.p for m in drops[:2]] == [51 / 256, 0.5]  # input layer 0.2 rounded, inner 0.5
    assert not any(isinstance(m, torch.nn.Dropout) for m in d.modules())
