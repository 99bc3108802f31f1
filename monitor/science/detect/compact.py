"""A compact, fully convolutional patch classifier for the dense inference path.

Anantrasirichai et al. (2019a) score 224 x 224 patches every 28 pixels with AlexNet: 64
overlapping patches see every pixel, so most of the work is repeated. This network is built
so that one pass over a whole (padded) image gives exactly the outputs of every 224 x 224
patch on the 28-pixel grid, patch for patch:

* every convolution and pooling is "valid" (no padding), so an output depends only on the
  pixels of its receptive field, exactly as it would inside a lone 224 x 224 patch;
* the total stride is 28, the patch stride, and every layer's cumulative stride divides
  it, so the patch at rows ``28 i ..`` and columns ``28 j ..`` lines up with output
  ``(i, j)``;
* the receptive field is exactly 224 px and a 224 x 224 input gives a 1 x 1 output, so no
  pixel of a patch is dropped and none outside it is read;
* no global pooling; the head is a 7 x 7 convolution over the last 7 x 7 map (the "fully
  connected" layer in convolutional form), then a 1 x 1 convolution to the classes.

Batch normalisation is a per-channel affine map in eval mode, so it keeps the equivalence.

Layers (input side 224 -> output side; receptive field, cumulative stride)::

    conv 4x4 /2   3 -> w1    224 -> 111   RF   4, stride 2
    conv 3x3 /2  w1 -> w2    111 ->  55   RF   8, stride 4
    conv 3x3     w2 -> w3     55 ->  53   RF  16, stride 4
    conv 3x3     w3 -> w3     53 ->  51   RF  24, stride 4
    conv 3x3     w3 -> w3     51 ->  49   RF  32, stride 4
    maxpool 7x7 /7            49 ->   7   RF  56, stride 28
    conv 7x7     w3 -> w4      7 ->   1   RF 224, stride 28
    conv 1x1     w4 -> 2       1 ->   1

Every convolution but the last is followed by batch normalisation (the head: dropout)
and ReLU. With the default widths (16, 32, 48, 96) it has about 0.29 M parameters.

Inference: when the whole network is in eval mode, ``forward`` folds each batch
normalisation into the convolution before it (``w' = w g / sqrt(v + eps)``,
``b' = beta - m g / sqrt(v + eps)``, from the current weights at every call) and runs in
channels-last memory layout, which oneDNN convolves faster on CPU for these widths:
together about 1.5 times faster than layer by layer on 2 CPU cores (500 x 500 image).
The outputs equal the layer-by-layer ones up to float32 round-off (about 1e-7 on the
logits); training mode runs the layers as they are.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

from monitor.science.detect.base import (
    PatchClassifier,
    check_dropout,
    check_num_classes,
    check_positive_ints,
)
from monitor.science.detect.encoding import N_CHANNELS, check_encoding

DEFAULT_WIDTHS = (16, 32, 48, 96)
#: Output stride of the network in input pixels (the patch stride of Anantrasirichai et al. 2019a).
COMPACT_STRIDE = 28


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=kernel, stride=stride, padding=0, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


def _fold_batch_norm(conv: nn.Conv2d,
                     bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``conv`` followed by eval-mode ``bn``, as one convolution."""
    assert bn.running_mean is not None and bn.running_var is not None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale
    if bn.affine:
        scale = scale * bn.weight
        shift = shift * bn.weight + bn.bias
    weight = (conv.weight * scale[:, None, None, None]).contiguous(
        memory_format=torch.channels_last
    )
    bias = shift if conv.bias is None else shift + conv.bias * scale
    return weight, bias


class CompactNet(PatchClassifier):
    """Compact fully convolutional detector (see the module docstring for the layers).

    Args:
        widths: Channels ``(w1, w2, w3, w4)``; tests use tiny ones such as (4, 4, 4, 8).
        num_classes: Output classes (2: index 1 = deformation).
        dropout: Dropout probability before the classifying 1 x 1 convolution.
        encoding: Input encoding name (default ``"cos_sin_mask"``).

    Output:
        ``forward`` maps ``(N, 3, H, W)`` to logits ``(N, num_classes, (H - 224) // 28 + 1,
        (W - 224) // 28 + 1)``; element ``(i, j)`` is the output for the patch with
        top-left pixel ``(28 i, 28 j)``. A 224 x 224 patch gives ``(N, num_classes, 1, 1)``.
    """

    arch = "compact"

    def __init__(
        self,
        widths: tuple[int, ...] = DEFAULT_WIDTHS,
        num_classes: int = 2,
        dropout: float = 0.2,
        encoding: str = "cos_sin_mask",
    ) -> None:
        super().__init__(check_encoding(encoding), check_num_classes(num_classes))
        w1, w2, w3, w4 = check_positive_ints("widths", widths, 4)
        self._widths = (w1, w2, w3, w4)
        self._dropout = check_dropout(dropout)
        self.dense_stride = COMPACT_STRIDE
        self.features = nn.Sequential(
            *_conv_bn_relu(N_CHANNELS, w1, 4, stride=2),
            *_conv_bn_relu(w1, w2, 3, stride=2),
            *_conv_bn_relu(w2, w3, 3),
            *_conv_bn_relu(w3, w3, 3),
            *_conv_bn_relu(w3, w3, 3),
            nn.MaxPool2d(kernel_size=7, stride=7),
        )
        self.head = nn.Sequential(
            nn.Conv2d(w3, w4, kernel_size=7),
            nn.ReLU(inplace=True),
            nn.Dropout(p=self._dropout),
            nn.Conv2d(w4, self.num_classes, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit map ``(N, num_classes, h, w)`` for encoded input ``(N, 3, H, W)``."""
        if any(module.training for module in self.modules()):
            return self.head(self.features(x))
        return self._folded_forward(x)

    def _folded_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode forward with batch norm folded into the convolutions, channels-last."""
        layers = list(self.features)
        h = x.contiguous(memory_format=torch.channels_last)
        for i in range(0, len(layers) - 1, 3):
            conv, bn = layers[i], layers[i + 1]
            assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            weight, bias = _fold_batch_norm(conv, bn)
            h = torch.relu_(functional.conv2d(h, weight, bias, conv.stride))
        return self.head(layers[-1](h)).contiguous()

    def config(self) -> dict[str, Any]:
        return {
            "widths": self._widths,
            "num_classes": self.num_classes,
            "dropout": self._dropout,
            "encoding": self.encoding,
        }
