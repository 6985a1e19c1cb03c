"""Configuration dataclasses and per-dataset presets.

A preset is a (ModelConfig, TrainConfig) pair. Both are plain dataclasses so that a checkpoint can
store them as dicts and rebuild the exact model without pickling code objects. `ali-train` makes
one flag per field (training/train.py): a field's `help` metadata is its line in `--help`, and a
Literal type gives the flag its choices, so an option is written here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

Arch = Literal["toy", "mnist28", "svhn32", "cifar32", "celeba64"]
Kind = Literal["ali", "gan"]
DActivation = Literal["lrelu", "maxout"]
DCondition = Literal["concat", "projection"]
Autocast = Literal["none", "bf16"]
ARCHES: tuple[str, ...] = typing.get_args(Arch)
AUTOCAST: tuple[str, ...] = typing.get_args(Autocast)


def option(default: Any, help: str) -> Any:
    """A config field with its `ali-train --help` line."""
    return field(default=default, metadata={"help": help})


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """A config dataclass's field types, resolved (this module's annotations are strings)."""
    return typing.get_type_hints(cls)


def _check_choices(cfg: Any) -> None:
    """Every Literal-typed field holds one of its choices."""
    for name, tp in field_types(type(cfg)).items():
        value = getattr(cfg, name)
        if typing.get_origin(tp) is Literal and value not in typing.get_args(tp):
            raise ValueError(f"{name} must be one of {typing.get_args(tp)}, got {value!r}")


@dataclass
class ModelConfig:
    arch: Arch = option("mnist28", "network family (ALI paper appendix A; mnist28 is ours)")
    channels: int = option(1, "image channels")
    image_size: int = option(28, "image height and width")
    nlat: int = option(64, "latent dimension")
    num_classes: int = option(0, "> 0: condition all three nets on a class label")
    embed_dim: int = option(16, "size of the label embedding of a conditional model")
    # "concat": label planes beside x and the embedding beside z. "projection" (Miyato & Koyama
    # 2018): D(x) sees x alone, the label enters beside z and as an inner product <embed(y), h>
    # with the joint features; D also gets a label-free class head on its D(x) features, which
    # TrainConfig.aux_class_weight trains (AC-GAN).
    d_condition: DCondition = option(
        "concat", "how a conditional D sees the label (projection: inner product + class head)"
    )
    width: float = option(1.0, "width multiplier of every hidden layer (the paper's nets: 1.0)")
    kind: Kind = option(
        "ali", "ali: encoder + decoder + joint D(x, z); gan: the D(x)-only baseline"
    )
    leak: float = option(0.01, "leaky ReLU slope")
    # The paper uses maxout for CIFAR-10 and the toy data, leaky ReLU for SVHN and CelebA.
    d_activation: DActivation = option("lrelu", "D's activation")
    maxout_pieces: int = option(2, "pieces per maxout unit")
    # The decoder is scored by the head without labels (TrainConfig.aux_class_weight: confident
    # per sample, all classes used overall), so sampling needs no label.
    aux_classes: int = option(
        0, "unconditional models: a class head on D(x), trained on the labels of real x"
    )
    d_dropout: float = option(0.2, "dropout on D's input layers (paper: 0.2)")
    d_dropout_inner: float = option(0.5, "dropout on D's inner layers (paper: 0.5)")

    def __post_init__(self) -> None:
        _check_choices(self)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0


@dataclass
class TrainConfig:
    dataset: str = option("mnist", "mixture, mnist, svhn, cifar10, folder or fake")
    data_path: str | None = option(
        None, "dataset path (mnist.npz, CIFAR-10/SVHN folder, image folder)"
    )
    epochs: int = option(20, "passes over the data")
    batch_size: int = option(100, "batch size (per rank under DDP)")
    steps_per_epoch: int | None = option(
        None, "cap on steps per epoch (the toy recipe counts steps)"
    )
    lr_d: float = option(1e-4, "D's learning rate")
    lr_g: float = option(1e-4, "the encoder's and decoder's learning rate")
    # The paper's "beta2 = 1e-3" is Blocks' 1 - beta2 convention.
    betas: tuple[float, float] = option((0.5, 0.999), "Adam's betas (paper: 0.5 0.999)")
    ema_decay: float = option(0.0, "EMA of encoder/decoder weights, used for samples and export")
    lr_decay_to: float = option(1.0, "LR factor reached linearly at the last step (1 = constant)")
    # Weights, optimiser state and losses stay fp32.
    autocast: Autocast = option("none", "bf16: forward passes under bfloat16 autocast")
    # ALICE (Li et al. 2017): the generators also minimise cycle_weight * mean (x - Gx(Gz(x)))^2;
    # ALI alone does not tie Gx(Gz(x)) to x tightly.
    cycle_weight: float = option(0.0, "ALICE cycle-consistency weight (0 = off)")
    # AC-GAN (Odena et al. 2017) for conditional models with a projection D: D's class head learns
    # the labels of real x, and the decoder also minimises aux_class_weight * CE(head(Gx(z, y)), y).
    # Unconditional models with ModelConfig.aux_classes: the decoder minimises aux_class_weight *
    # (mean entropy of head(Gx(z)) - entropy of its mean) instead (CatGAN, Springenberg 2016).
    aux_class_weight: float = option(0.0, "weight of D's class head in both losses (0 = off)")
    seed: int = option(0, "seed of weights, data order and noise")
    num_workers: int = option(0, "data loader worker processes")
    log_every: int = option(50, "steps between log.jsonl lines")
    tensorboard: bool = option(False, "also log to OUT/tb (needs the tensorboard extra)")

    def __post_init__(self) -> None:
        _check_choices(self)


def _toy() -> tuple[ModelConfig, TrainConfig]:
    # The paper's mixture nets with a cheaper 2-piece maxout D, small batches, many steps and
    # ALICE's cycle term, sized for 2 minutes on 2 CPU cores (docs/experiments.md, the recipe).
    model = ModelConfig(
        arch="toy",
        channels=0,
        image_size=0,
        nlat=2,
        d_activation="maxout",
        maxout_pieces=2,
        d_dropout=0.0,
        d_dropout_inner=0.0,
    )
    train = TrainConfig(
        dataset="mixture",
        epochs=4,
        steps_per_epoch=1562,
        batch_size=64,
        lr_d=3e-4,
        lr_g=3e-4,
        betas=(0.5, 0.999),
        ema_decay=0.0,
        lr_decay_to=0.0,
        cycle_weight=1.0,
        log_every=500,
    )
    return model, train


def _mnist() -> tuple[ModelConfig, TrainConfig]:
    # Sized for one hour on 2 CPU cores, one run at a time (docs/mnist.md). A 256-d code (the
    # encoder's last hidden width at 0.5), so the code is no bottleneck for the linear probe. A
    # label-free class head on D (aux_classes, weight 1) pushes the decoder to draw digits D reads
    # confidently, using every class; sampling needs no label.
    model = ModelConfig(
        arch="mnist28", channels=1, image_size=28, nlat=256, width=0.5, aux_classes=10
    )
    # ALICE's cycle term (weight 10 on the per-pixel MSE) so reconstructions keep the digit. Sample
    # quality was still improving at the end of every schedule, so the hour buys steps: bf16
    # autocast; an EMA of the generators smooths the swings between epochs. Learning rate 1e-3,
    # inside the range the pilots measured and below its top (docs/mnist.md, session 6).
    train = TrainConfig(
        dataset="mnist",
        epochs=20,
        batch_size=100,
        lr_d=1e-3,
        lr_g=1e-3,
        lr_decay_to=0.0,
        ema_decay=0.999,
        autocast="bf16",
        cycle_weight=10.0,
        aux_class_weight=1.0,
    )
    return model, train


def _mnist_cond() -> tuple[ModelConfig, TrainConfig]:
    model, train = _mnist()
    # Projection D + AC-GAN class term, weight 3: samples show the digit asked for and keep the
    # data's variety within a class (docs/mnist.md, "Conditioning"). 32-d code. The rest is the
    # mnist recipe (lr 1e-3, EMA, bf16, 20 epochs): FD 5.72x -> 1.90x the floor (session 9).
    return (
        dataclasses.replace(
            model, nlat=32, num_classes=10, d_condition="projection", aux_classes=0
        ),
        dataclasses.replace(train, aux_class_weight=3.0),
    )


def _svhn() -> tuple[ModelConfig, TrainConfig]:
    model = ModelConfig(arch="svhn32", channels=3, image_size=32, nlat=256, leak=0.01)
    return model, TrainConfig(dataset="svhn", epochs=100, batch_size=100)


def _cifar() -> tuple[ModelConfig, TrainConfig]:
    model = ModelConfig(arch="cifar32", channels=3, image_size=32, nlat=64, d_activation="maxout")
    return model, TrainConfig(dataset="cifar10", epochs=100, batch_size=100)


def _celeba() -> tuple[ModelConfig, TrainConfig]:
    model = ModelConfig(arch="celeba64", channels=3, image_size=64, nlat=512, leak=0.02)
    return model, TrainConfig(dataset="folder", epochs=123, batch_size=100)


PRESETS: dict[str, Any] = {
    "toy": _toy,
    "mnist": _mnist,
    "mnist-cond": _mnist_cond,
    "svhn": _svhn,
    "cifar10": _cifar,
    "celeba": _celeba,
}


def preset(name: str) -> tuple[ModelConfig, TrainConfig]:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


# Options deleted in issue 28, with the value that meant "off" and the last commit that has them
# (docs/mnist.md, "Options removed"). Older checkpoints still load where the option was off.
REMOVED_OPTIONS: dict[str, Any] = {
    "d_unary": False,
    "d_spectral_norm": False,
    "toy_decoder_bn": True,
    "instance_noise": 0.0,
    "label_smoothing": 0.0,
    "prior_match_weight": 0.0,
}
REMOVED_AT = "0888805"


def _without_removed(d: dict[str, Any]) -> dict[str, Any]:
    d = dict(d)
    for name, off in REMOVED_OPTIONS.items():
        if name in d and d.pop(name) != off:
            raise ValueError(
                f"this checkpoint was trained with {name}, an option removed in issue 28; "
                f"commit {REMOVED_AT} still has it"
            )
    return d


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def model_config_from_dict(d: dict[str, Any]) -> ModelConfig:
    return ModelConfig(**_without_removed(d))


def train_config_from_dict(d: dict[str, Any]) -> TrainConfig:
    d = _without_removed(d)
    if "betas" in d:
        d["betas"] = tuple(d["betas"])
    return TrainConfig(**d)


__all__ = [
    "ARCHES",
    "AUTOCAST",
    "ModelConfig",
    "TrainConfig",
    "PRESETS",
    "preset",
    "option",
    "field_types",
    "config_to_dict",
    "model_config_from_dict",
    "train_config_from_dict",
]
