"""Layer tables for the image architectures (ALI paper, appendix A), plus a small 28x28 MNIST net.

Each conv layer is (kind, kernel, out_channels, stride, padding); kind is "conv" or "convT".
Spatial sizes are given in comments for the paper's input sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

Layer = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class ArchSpec:
    encoder: list[Layer]  # x -> [N, C_last, 1, 1], then a 1x1 conv to 2*nlat (mu, log sigma)
    decoder: list[Layer]  # z [N, nlat, 1, 1] -> ... ; a final 1x1 conv to image channels + tanh
    d_x: list[Layer]  # D(x) branch: x -> [N, C, 1, 1]
    d_z: list[int]  # D(z) branch: 1x1 conv widths
    d_joint: list[int]  # D(x, z): 1x1 conv widths, then a 1x1 conv to one logit


# SVHN and CIFAR-10 (paper tables 3-4): 32 -> 28 -> 13 -> 10 -> 4 -> 1.
_ENC32: list[Layer] = [
    ("conv", 5, 32, 1, 0),
    ("conv", 4, 64, 2, 0),
    ("conv", 4, 128, 1, 0),
    ("conv", 4, 256, 2, 0),
    ("conv", 4, 512, 1, 0),
    ("conv", 1, 512, 1, 0),
]
# 1 -> 4 -> 10 -> 13 -> 28 -> 32.
_DEC32: list[Layer] = [
    ("convT", 4, 256, 1, 0),
    ("convT", 4, 128, 2, 0),
    ("convT", 4, 64, 1, 0),
    ("convT", 4, 32, 2, 0),
    ("convT", 5, 32, 1, 0),
    ("conv", 1, 32, 1, 0),
]
_DX32: list[Layer] = [
    ("conv", 5, 32, 1, 0),
    ("conv", 4, 64, 2, 0),
    ("conv", 4, 128, 1, 0),
    ("conv", 4, 256, 2, 0),
    ("conv", 4, 512, 1, 0),
]

SPECS: dict[str, ArchSpec] = {
    "svhn32": ArchSpec(_ENC32, _DEC32, _DX32, [512, 512], [1024, 1024]),
    "cifar32": ArchSpec(_ENC32, _DEC32, _DX32, [512, 512], [1024, 1024]),
    # CelebA (paper table 5): 64 -> 63 -> 29 -> 13 -> 4 -> 1, and back.
    "celeba64": ArchSpec(
        encoder=[
            ("conv", 2, 64, 1, 0),
            ("conv", 7, 128, 2, 0),
            ("conv", 5, 256, 2, 0),
            ("conv", 7, 256, 2, 0),
            ("conv", 4, 512, 1, 0),
        ],
        decoder=[
            ("convT", 4, 512, 1, 0),
            ("convT", 7, 256, 2, 0),
            ("convT", 5, 256, 2, 0),
            ("convT", 7, 128, 2, 0),
            ("convT", 2, 64, 1, 0),
        ],
        d_x=[
            ("conv", 2, 64, 1, 0),
            ("conv", 7, 128, 2, 0),
            ("conv", 5, 256, 2, 0),
            ("conv", 7, 256, 2, 0),
            ("conv", 4, 512, 1, 0),
        ],
        d_z=[1024, 1024],
        d_joint=[2048, 2048],
    ),
    # MNIST, 28x28 (ours, sized for CPU training): 28 -> 28 -> 14 -> 7 -> 3 -> 1.
    "mnist28": ArchSpec(
        encoder=[
            ("conv", 3, 64, 1, 1),
            ("conv", 4, 128, 2, 1),
            ("conv", 4, 256, 2, 1),
            ("conv", 3, 512, 2, 0),
            ("conv", 3, 512, 1, 0),
        ],
        # 1 -> 3 -> 7 -> 14 -> 28.
        decoder=[
            ("convT", 3, 512, 1, 0),
            ("convT", 3, 256, 2, 0),
            ("convT", 4, 128, 2, 1),
            ("convT", 4, 64, 2, 1),
        ],
        d_x=[
            ("conv", 4, 64, 2, 1),
            ("conv", 4, 128, 2, 1),
            ("conv", 3, 256, 2, 0),
            ("conv", 3, 512, 1, 0),
        ],
        d_z=[512, 512],
        d_joint=[1024, 1024],
    ),
}
