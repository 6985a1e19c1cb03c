import dataclasses

import pytest
import torch

from training.config import TrainConfig, preset
from training.losses import cycle_loss, discriminator_loss, generator_loss
from training.trainer import Trainer


def test_loss_values_match_the_definition() -> None:
    d_real, d_fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected_d = (
        -torch.log(torch.sigmoid(d_real)).mean() - torch.log(1 - torch.sigmoid(d_fake)).mean()
    )
    expected_g = (
        -torch.log(1 - torch.sigmoid(d_real)).mean() - torch.log(torch.sigmoid(d_fake)).mean()
    )
    assert torch.allclose(discriminator_loss(d_real, d_fake), expected_d)
    assert torch.allclose(generator_loss(d_real, d_fake), expected_g)


def _fixed_batch_trainer() -> tuple[Trainer, torch.Tensor, torch.Tensor, torch.Tensor]:
    mcfg, tcfg = preset("toy")
    # A small step: one Adam step of 1e-3 on ~1M weights can overshoot on a fixed batch.
    tcfg = dataclasses.replace(tcfg, ema_decay=0.0, lr_d=1e-5, lr_g=1e-5, cycle_weight=0.0)
    tr = Trainer(mcfg, tcfg, total_steps=10)
    g = torch.Generator().manual_seed(0)
    x, z, eps = (torch.randn(64, 2, generator=g) for _ in range(3))
    return tr, x, z, eps


def _losses(
    tr: Trainer, x: torch.Tensor, z: torch.Tensor, eps: torch.Tensor
) -> tuple[float, float]:
    with torch.no_grad():
        z_hat, x_tilde = tr.encoder(x, None, eps), tr.decoder(z)
        d_real, d_fake = tr.disc(x, z_hat), tr.disc(x_tilde, z)
        return discriminator_loss(d_real, d_fake).item(), generator_loss(d_real, d_fake).item()


def test_one_discriminator_step_lowers_its_loss() -> None:
    tr, x, z, eps = _fixed_batch_trainer()
    before, _ = _losses(tr, x, z, eps)
    with torch.no_grad():
        z_hat, x_tilde = tr.encoder(x, None, eps), tr.decoder(z)
    loss = discriminator_loss(tr.disc(x, z_hat), tr.disc(x_tilde, z))
    tr.opt_d.zero_grad()
    loss.backward()
    tr.opt_d.step()
    after, _ = _losses(tr, x, z, eps)
    assert after < before


def test_one_generator_step_lowers_its_loss() -> None:
    tr, x, z, eps = _fixed_batch_trainer()
    _, before = _losses(tr, x, z, eps)
    loss = generator_loss(tr.disc(x, tr.encoder(x, None, eps)), tr.disc(tr.decoder(z), z))
    tr.opt_g.zero_grad()
    loss.backward()
    tr.opt_g.step()
    _, after = _losses(tr, x, z, eps)
    assert after < before


def test_train_step_updates_only_through_its_optimisers() -> None:
    tr, x, _, _ = _fixed_batch_trainer()
    before = {k: v.clone() for k, v in tr.disc.state_dict().items()}
    stats = tr.train_step(x, None)
    assert set(stats) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert any(not torch.equal(before[k], v) for k, v in tr.disc.state_dict().items())
    # D's params must be trainable again after the generator step froze them.
    assert all(p.requires_grad for p in tr.disc.parameters())


def test_cycle_term_trains_the_reconstruction() -> None:
    """With ALICE's cycle weight on, train steps report it and drive x -> Gx(Gz(x)) towards x."""
    mcfg, tcfg = preset("toy")
    tcfg = dataclasses.replace(tcfg, cycle_weight=50.0, lr_d=1e-4, lr_g=1e-3)
    tr = Trainer(mcfg, tcfg, total_steps=1000)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))

    def recon() -> float:
        tr.encoder.eval(), tr.decoder.eval()
        with torch.no_grad():
            err = cycle_loss(x, tr.decoder(tr.encoder(x))).item()
        tr.encoder.train(), tr.decoder.train()
        return err

    before = recon()
    stats = [tr.train_step(x, None) for _ in range(30)]
    assert all("cycle" in s for s in stats)
    assert recon() < 0.5 * before
    # Off unless a preset opts in: the paper's objective alone.
    assert TrainConfig().cycle_weight == 0.0


def _tiny_conditional(aux_class_weight: float) -> Trainer:
    mcfg, tcfg = preset("mnist-cond")
    mcfg = dataclasses.replace(mcfg, nlat=8, width=0.25, d_condition="projection")
    tcfg = dataclasses.replace(
        tcfg, aux_class_weight=aux_class_weight, cycle_weight=0.0, lr_d=1e-3, lr_g=1e-3
    )
    return Trainer(mcfg, tcfg, total_steps=1000)


def test_class_head_learns_the_labels_of_real_images() -> None:
    """AC-GAN: D's class head is trained on real x, and the decoder is scored by it too."""
    tr = _tiny_conditional(aux_class_weight=1.0)
    gen = torch.Generator().manual_seed(0)
    templates = torch.rand(10, 1, 28, 28, generator=gen) * 2 - 1  # one pattern per class
    y = torch.arange(32) % 10
    x = (templates[y] + 0.1 * torch.randn(32, 1, 28, 28, generator=gen)).clamp(-1, 1)
    stats = [tr.train_step(x, y) for _ in range(100)]
    assert {"cls_real", "cls_fake"} <= set(stats[0])
    assert stats[0]["cls_real"] > 2.0  # ~ln 10 at init
    assert stats[-1]["cls_real"] < 1.0 and stats[-1]["cls_fake"] < 1.5
    # Off by default, and refused where D has no label-free class head.
    assert TrainConfig().aux_class_weight == 0.0
    mcfg, tcfg = preset("mnist-cond")
    assert tcfg.aux_class_weight > 0 and mcfg.d_condition == "projection"  # the shipped recipe
    with pytest.raises(ValueError, match="projection"):
        Trainer(dataclasses.replace(mcfg, d_condition="concat"), tcfg)


def test_confident_and_balanced_loss_prefers_confident_samples_of_every_class() -> None:
    from training.losses import confident_and_balanced_loss

    eye = torch.eye(4) * 20  # each sample one confident class, all four classes used
    one_class = torch.zeros(4, 4)
    one_class[:, 0] = 20  # confident, but every sample the same class
    unsure = torch.zeros(4, 4)  # every sample uniform over the classes
    best = confident_and_balanced_loss(eye)
    assert best < confident_and_balanced_loss(one_class)
    assert best < confident_and_balanced_loss(unsure)
    assert best == pytest.approx(-torch.log(torch.tensor(4.0)).item(), abs=1e-4)


def test_unconditional_class_head_learns_labels_and_scores_samples_without_them() -> None:
    from training.config import ModelConfig, TrainConfig

    mcfg = ModelConfig(
        arch="mnist28", channels=1, image_size=28, nlat=8, width=0.125, aux_classes=10
    )
    tr = Trainer(mcfg, TrainConfig(dataset="fake", aux_class_weight=1.0), total_steps=2)
    stats = tr.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10)
    assert {"cls_real", "cls_fake"} <= set(stats)
    assert tr.decoder.embed is None  # the decoder never sees a label
    with pytest.raises(ValueError, match="aux_classes"):
        Trainer(dataclasses.replace(mcfg, aux_classes=0), TrainConfig(aux_class_weight=1.0))
