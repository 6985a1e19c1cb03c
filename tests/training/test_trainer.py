import dataclasses

import pytest
import torch

from training.config import (
    ModelConfig,
    TrainConfig,
    config_to_dict,
    model_config_from_dict,
    preset,
    train_config_from_dict,
)
from training.train import build_parser, configs_from_args
from training.trainer import Trainer


def _tiny_mnist(**train: object) -> Trainer:
    mcfg = ModelConfig(
        arch="mnist28", channels=1, image_size=28, nlat=8, width=0.125, aux_classes=10
    )
    tcfg = TrainConfig(dataset="fake", aux_class_weight=1.0, cycle_weight=10.0, **train)  # type: ignore[arg-type]
    return Trainer(mcfg, tcfg, total_steps=2)


def test_bf16_autocast_step_is_close_to_fp32_and_keeps_fp32_weights() -> None:
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    y = torch.arange(8) % 10
    stats = {}
    for mode in ("none", "bf16"):
        tr = _tiny_mnist(autocast=mode)  # seeds torch itself: same init, z and dropout
        stats[mode] = tr.train_step(x, y)
        assert {p.dtype for p in tr.decoder.parameters()} == {torch.float32}
        assert {p.dtype for p in tr.discriminator.parameters()} == {torch.float32}
    # bf16 really ran (the figures differ) but computes the same step to bf16's precision
    assert stats["bf16"]["loss_d"] != stats["none"]["loss_d"]
    assert stats["bf16"].keys() == stats["none"].keys()
    for key, value in stats["none"].items():
        assert stats["bf16"][key] == pytest.approx(value, rel=0.05, abs=0.02), key


def test_conv_nets_train_channels_last_and_the_toy_net_does_not() -> None:
    tr = _tiny_mnist()
    first_conv = tr.decoder.body[0].weight  # [C_in, C_out, k, k]
    assert first_conv.is_contiguous(memory_format=torch.channels_last)
    assert not first_conv.is_contiguous()
    toy = Trainer(ModelConfig(arch="toy", channels=0, image_size=0, nlat=2), TrainConfig())
    assert all(p.is_contiguous() for p in toy.decoder.parameters())


def test_autocast_must_be_known() -> None:
    with pytest.raises(ValueError, match="autocast"):
        TrainConfig(autocast="fp16")


def _configs(*argv: str) -> tuple[ModelConfig, TrainConfig]:
    return configs_from_args(build_parser().parse_args(list(argv)))


def test_cli_has_a_flag_with_help_for_every_config_field() -> None:
    help_text = build_parser().format_help()
    for cls in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            assert f"--{f.name.replace('_', '-')}" in help_text, f.name
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help"


def test_cli_overrides_only_the_fields_given() -> None:
    assert _configs() == preset("mnist")
    mcfg, tcfg = _configs("--autocast", "none", "--d-dropout-inner", "0.2", "--kind", "gan")
    assert tcfg.autocast == "none" and mcfg.d_dropout_inner == 0.2 and mcfg.kind == "gan"
    assert (mcfg, tcfg) == (
        dataclasses.replace(preset("mnist")[0], d_dropout_inner=0.2, kind="gan"),
        dataclasses.replace(preset("mnist")[1], autocast="none"),
    )
    _, tcfg = _configs("--betas", "0", "0.9", "--steps-per-epoch", "7", "--tensorboard")
    assert tcfg.betas == (0.0, 0.9) and tcfg.steps_per_epoch == 7 and tcfg.tensorboard
    assert not _configs("--tensorboard", "--no-tensorboard")[1].tensorboard


def test_cli_keeps_its_shorthands_and_older_flag_names() -> None:
    mcfg, tcfg = _configs("--preset", "toy", "--lr", "0.01", "--lr-g", "0.02", "--conditional")
    assert (tcfg.lr_d, tcfg.lr_g, mcfg.num_classes) == (0.01, 0.02, 10)
    _, tcfg = _configs("--data", "d.npz", "--workers", "2")
    assert tcfg.data_path == "d.npz" and tcfg.num_workers == 2
    _, tcfg = _configs("--dry-run")
    assert (tcfg.dataset, tcfg.epochs, tcfg.steps_per_epoch) == ("fake", 1, 3)


def test_cli_offers_a_literal_field_its_choices_only() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--autocast", "fp16"])
    with pytest.raises(ValueError, match="d_condition"):
        ModelConfig(d_condition="sum")  # type: ignore[arg-type]


def test_checkpoints_from_before_issue_28_load_where_the_removed_options_were_off() -> None:
    mcfg, tcfg = preset("mnist")
    m = {**config_to_dict(mcfg), "d_unary": False, "d_spectral_norm": False}
    t = {**config_to_dict(tcfg), "instance_noise": 0.0, "prior_match_weight": 0.0}
    assert model_config_from_dict(m) == mcfg and train_config_from_dict(t) == tcfg
    with pytest.raises(ValueError, match="d_unary.*removed"):
        model_config_from_dict({**m, "d_unary": True})
    with pytest.raises(ValueError, match="label_smoothing.*removed"):
        train_config_from_dict({**t, "label_smoothing": 0.1})


def test_ddp_ranks_share_initial_weights_but_not_noise(tmp_path) -> None:
    """Each rank must draw its own z (and dropout masks): same seed for the weights, then split."""
    import torch.distributed as dist

    from training.distributed import DistInfo

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        mcfg = ModelConfig(arch="mnist28", channels=1, image_size=28, nlat=8, width=0.125)
        tcfg = TrainConfig(dataset="fake")
        ranks = [Trainer(mcfg, tcfg, DistInfo(rank=r, world=2), total_steps=2) for r in (0, 1)]
        w0, w1 = (next(t.discriminator.parameters()).detach() for t in ranks)
        assert torch.equal(w0, w1)

        def first_noise(trainer: Trainer) -> torch.Tensor:  # as that rank's process would draw
            trainer._split_rng_by_rank()
            return trainer.prior(4)

        z0, z1 = first_noise(ranks[0]), first_noise(ranks[1])
        assert not torch.equal(z0, z1)
        assert torch.equal(z0, first_noise(ranks[0]))  # reproducible per rank
        single = Trainer(mcfg, tcfg, total_steps=2)
        torch.manual_seed(5)
        single._split_rng_by_rank()  # a no-op without DDP
        z = single.prior(4)
        torch.manual_seed(5)
        assert torch.equal(z, torch.randn(4, 8))
    finally:
        dist.destroy_process_group()
