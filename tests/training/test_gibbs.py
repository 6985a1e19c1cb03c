import pytest
import torch

from training.gibbs import gibbs_steps


def test_an_exact_inverse_pair_leaves_samples_unchanged() -> None:
    # Joints that agree: z = log x, x = exp z. A Gibbs sweep is then the identity.
    x = torch.rand(100, 2) + 0.1
    torch.testing.assert_close(gibbs_steps(torch.log, torch.exp, x, steps=3), x)


def test_a_step_moves_points_onto_the_decoders_range() -> None:
    # A decoder that only reaches the integers: one sweep snaps every point onto one,
    # a second sweep changes nothing.
    x = torch.tensor([[0.2], [0.9], [-1.4]])
    one = gibbs_steps(lambda v: v, torch.round, x)
    assert one.tolist() == [[0.0], [1.0], [-1.0]]
    torch.testing.assert_close(gibbs_steps(lambda v: v, torch.round, x, steps=2), one)


def test_uses_the_encoder_noise_each_step() -> None:
    calls = []

    def encode(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return x + 1.0

    assert (
        gibbs_steps(encode, lambda z: z, torch.zeros(4, 1), steps=2).flatten().tolist() == [2.0] * 4
    )
    assert calls == [4, 4]
    assert gibbs_steps(encode, lambda z: z, torch.zeros(4, 1), steps=0).sum().item() == 0.0
    with pytest.raises(ValueError, match="steps"):
        gibbs_steps(encode, lambda z: z, torch.zeros(1, 1), steps=-1)
