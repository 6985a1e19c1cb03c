"""bench/train_speed.py: the dropout comparison swaps only D's dropout, and timing is paired."""

from __future__ import annotations

import torch
from torch import nn

from bench.train_speed import paired, with_torch_dropout
from training.config import preset
from training.nets.layers import ByteDropout
from training.trainer import Trainer


def test_with_torch_dropout_swaps_every_byte_dropout_for_the_same_p() -> None:
    mcfg, tcfg = preset("mnist")
    byte = Trainer(mcfg, tcfg)
    ps = [m.p for m in byte.disc.modules() if isinstance(m, ByteDropout)]
    swapped = with_torch_dropout(Trainer(mcfg, tcfg))
    assert not any(isinstance(m, ByteDropout) for m in swapped.disc.modules())
    assert [m.p for m in swapped.disc.modules() if isinstance(m, nn.Dropout)] == ps
    assert len(ps) == 8  # dropout before each of D's layers: 4 convs, 2 D(z), 2 joint


def test_paired_runs_both_sides_every_round_in_turn() -> None:
    calls: list[str] = []
    x, y = torch.zeros(1), torch.zeros(1)
    r = paired(lambda *_: calls.append("a"), lambda *_: calls.append("b"), x, y, 2, 3)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 3  # warm-up, then alternating rounds
    assert len(r["pairwise"]) == 3 and r["a"] > 0 and r["b"] > 0
