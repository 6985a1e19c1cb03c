"""Export-time rewrite of the decoder's transposed convolutions into sub-pixel convolutions.

onnxruntime's CPU ConvTranspose kernel is a GEMM followed by col2im, much slower per FLOP than
its Conv kernel (blocked NCHWc layout, activation fused into the convolution). A transposed
convolution with stride s is exactly s*s ordinary convolutions, one per output phase, interleaved
by a pixel shuffle (DepthToSpace) and cropped by the padding:

    ConvTranspose(k, s, p) -> BN -> act   ==   Conv(k/s, pad k/s - 1) -> act
                                                -> PixelShuffle(s) -> crop [p : p + H_out]

with batch norm (eval mode) folded into the convolution. Elementwise activations commute with
the shuffle and the crop, so they sit right after the Conv where onnxruntime fuses them. The
shuffle itself is a memory-bound transpose, so the decoder's 1x1 output head is folded in before
the last shuffle (which then moves C_img channels instead of 32+). Layers where k is not a
multiple of s would need zero taps (more FLOPs than they save) and are kept as they are.

The first layer, an unpadded ConvTranspose on z as a 1x1 image, becomes a Linear and a reshape
(`LatentConvTranspose`): as a Conv it would run on a zero-padded (2k-1)^2 input. On the shipped
MNIST decoder this took its first layer from 0.82 to 0.21 ms of a 8.2 ms batch of 64 (~5 %
end to end).

Measured on the shipped MNIST decoder, batch 64, 2 cores: BENCHMARKS.md, section 5. The export
parity check compares the rewritten graph in onnxruntime with the original PyTorch module.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class SubpixelConvTranspose(nn.Module):
    """ConvTranspose2d (+ BatchNorm2d) (+ activation) (+ 1x1 head), same output, Conv kernels.

    x [N, c_in, H, W] -> [N, c_out (or head's out), (H-1)*s + k - 2p, (W-1)*s + k - 2p].
    """

    def __init__(
        self,
        convt: nn.ConvTranspose2d,
        bn: nn.BatchNorm2d | None = None,
        act: nn.Module | None = None,
        head: nn.Conv2d | None = None,
    ) -> None:
        super().__init__()
        (k, kw), (s, sw), (p, pw) = convt.kernel_size, convt.stride, convt.padding
        if k != kw or s != sw or p != pw or k % s:
            raise ValueError("only square kernels with k a multiple of the stride are rewritten")
        if convt.groups != 1 or convt.dilation != (1, 1) or convt.output_padding != (0, 0):
            raise ValueError("groups, dilation and output_padding are not rewritten")
        c_in, c_out = convt.in_channels, convt.out_channels
        m = k // s  # taps per phase
        w, bias = _folded(convt, bn)  # [c_in, c_out, k, k], [c_out]
        # Tap t = mi * s + r of the transposed kernel feeds output phase r through conv tap m-1-mi.
        wp = w.reshape(c_in, c_out, m, s, m, s)  # [ci, co, mi_h, r_h, mi_w, r_w]
        wc = wp.permute(1, 3, 5, 0, 2, 4).flip(-1, -2)  # [co, r_h, r_w, ci, j_h, j_w]
        # Stride 1 needs no shuffle: the crop becomes a smaller zero padding.
        self.conv = nn.Conv2d(c_in, c_out * s * s, m, padding=m - 1 - (p if s == 1 else 0))
        with torch.no_grad():
            self.conv.weight.copy_(wc.reshape(c_out * s * s, c_in, m, m))
            self.conv.bias.copy_(bias.repeat_interleave(s * s))
        self.act = act if act is not None else nn.Identity()
        self.head: nn.Module = nn.Identity()
        if head is not None:  # a 1x1 conv applied to each phase alike: kron(H, I_{s*s})
            if head.kernel_size != (1, 1) or head.in_channels != c_out:
                raise ValueError("only a 1x1 head on this layer's channels is folded")
            hw = head.weight.detach()[:, :, 0, 0]  # [c_img, c_out]
            eye = torch.eye(s * s)
            self.head = nn.Conv2d(c_out * s * s, head.out_channels * s * s, 1)
            with torch.no_grad():
                self.head.weight.copy_(torch.kron(hw, eye)[:, :, None, None])
                hb = head.bias.detach() if head.bias is not None else torch.zeros(len(hw))
                self.head.bias.copy_(hb.repeat_interleave(s * s))
        self.shuffle = nn.PixelShuffle(s) if s > 1 else nn.Identity()
        self.k, self.s, self.p = k, s, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.shuffle(self.head(self.act(self.conv(x))))
        if self.s == 1:
            return y
        h_out = (x.shape[-2] - 1) * self.s + self.k - 2 * self.p
        w_out = (x.shape[-1] - 1) * self.s + self.k - 2 * self.p
        return y[:, :, self.p : self.p + h_out, self.p : self.p + w_out]


class LatentConvTranspose(nn.Module):
    """The decoder's first layer, ConvTranspose2d(k, padding 0) (+ BN) (+ act) on a 1x1 input.

    On a 1x1 input every output pixel sees exactly one kernel tap, so the layer is a matrix
    product: z [N, c_in, 1, 1] -> [N, c_in] @ W [c_in, c_out*k*k] -> [N, c_out, k, k]. As a Conv
    (the sub-pixel form with stride 1) onnxruntime would pad the 1x1 input to (2k-1)^2 and spend
    k*k times the FLOPs multiplying zeros.
    """

    def __init__(
        self, convt: nn.ConvTranspose2d, bn: nn.BatchNorm2d | None, act: nn.Module | None
    ) -> None:
        super().__init__()
        if convt.padding != (0, 0) or convt.groups != 1 or convt.output_padding != (0, 0):
            raise ValueError("only an unpadded, ungrouped first layer is rewritten as a matmul")
        w, bias = _folded(convt, bn)  # [c_in, c_out, kh, kw], [c_out]
        c_in, c_out, kh, kw = w.shape
        self.linear = nn.Linear(c_in, c_out * kh * kw)
        with torch.no_grad():
            self.linear.weight.copy_(w.reshape(c_in, -1).t())
            self.linear.bias.copy_(bias.repeat_interleave(kh * kw))
        self.act = act if act is not None else nn.Identity()
        self.out_shape = (c_out, kh, kw)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[-2:] != (1, 1):
            raise ValueError("LatentConvTranspose takes a 1x1 input")
        return self.act(self.linear(z.flatten(1)).reshape(-1, *self.out_shape))


def _folded(
    convt: nn.ConvTranspose2d, bn: nn.BatchNorm2d | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """ConvTranspose2d weight [c_in, c_out, k, k] and bias [c_out] with eval-mode BN folded in."""
    w = convt.weight.detach()
    bias = convt.bias.detach() if convt.bias is not None else torch.zeros(convt.out_channels)
    if bn is not None:  # eval-mode BN: y * scale + shift per output channel
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        w = w * scale[None, :, None, None]
        bias = (bias - bn.running_mean) * scale + bn.bias.detach()
    return w, bias


def _rewrite_kind(mod: nn.Module, first: bool) -> str | None:
    """How a decoder layer is rewritten: "latent" (matmul), "subpixel" (Conv + shuffle), None."""
    if not isinstance(mod, nn.ConvTranspose2d):
        return None
    if first and mod.padding == (0, 0):  # the body's input is z as [N, nlat, 1, 1]
        return "latent"
    return "subpixel" if mod.kernel_size[0] % mod.stride[0] == 0 else None


def subpixel_decoder(decoder: nn.Module) -> nn.Module:
    """A copy of an eval-mode conv decoder with its ConvTranspose2d layers rewritten.

    `decoder.body` is the Sequential of (ConvTranspose2d, BatchNorm2d, activation) triples that
    `training.nets.conv` builds, and `decoder.head` the 1x1 conv to image channels after it.
    """
    if decoder.training:
        raise ValueError("rewrite an eval-mode decoder (batch norm is folded with running stats)")
    out = copy.deepcopy(decoder)
    old = list(out.body)
    new: list[nn.Module] = []
    i = 0
    while i < len(old):
        mod = old[i]
        kind = _rewrite_kind(mod, first=i == 0)
        if kind is None:
            new.append(mod)
            i += 1
            continue
        bn = old[i + 1] if i + 1 < len(old) and isinstance(old[i + 1], nn.BatchNorm2d) else None
        j = i + 1 + (bn is not None)
        act = old[j] if j < len(old) and isinstance(old[j], nn.LeakyReLU | nn.ReLU) else None
        i = j + (act is not None)
        if kind == "latent":
            new.append(LatentConvTranspose(mod, bn, act))
            continue
        last = i == len(old)
        head = out.head if last and isinstance(out.head, nn.Conv2d) else None
        new.append(SubpixelConvTranspose(mod, bn, act, head))
        if head is not None:
            out.head = nn.Identity()
    out.body = nn.Sequential(*new)
    return out
