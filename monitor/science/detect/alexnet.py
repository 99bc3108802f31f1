"""AlexNet, as Anantrasirichai et al. (2019a, 2019b) use it, in torchvision's layout.

Anantrasirichai et al. (2019a, 2019b) fine-tune AlexNet (Krizhevsky et al., 2012): five
convolutional layers, max pooling after the first, second and fifth, ReLU after every
layer, and three fully connected layers; the last one is replaced by a 2-class layer
(deformation or not).

The modules, their names and their shapes are those of ``torchvision.models.AlexNet``
(``features.0/3/6/8/10``, ``avgpool`` = ``AdaptiveAvgPool2d((6, 6))``,
``classifier.1/4/6`` with dropout at ``classifier.0/3``), so a torchvision state dict
(for example its ImageNet weights, where a user has them) loads with
:func:`load_torchvision_weights`. torchvision itself is not a dependency.

Input: ``(N, 3, 224, 224)`` encoded patches; the papers' encoding is the grey wrapped phase
replicated on the three channels (``encoding="gray"``, the default here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from monitor.errors import ModelError
from monitor.science.detect.base import (
    PatchClassifier,
    check_dropout,
    check_num_classes,
    check_positive_ints,
)
from monitor.science.detect.encoding import N_CHANNELS, check_encoding

#: torchvision's AlexNet widths: the five convolutions, then the two hidden FC layers.
TORCHVISION_CONV_WIDTHS = (64, 192, 384, 256, 256)
TORCHVISION_FC_WIDTH = 4096
#: Keys of the last fully connected layer, replaced for a new number of classes.
FINAL_LAYER_KEYS = ("classifier.6.weight", "classifier.6.bias")


class AlexNet(PatchClassifier):
    """AlexNet with torchvision's module layout.

    Args:
        num_classes: Output classes (2: index 1 = deformation).
        dropout: Dropout probability before the first two FC layers (torchvision: 0.5).
        encoding: Input encoding name (default ``"gray"``, as the papers).
        conv_widths: Output channels of the five convolutions. Default torchvision's; smaller
            values make tiny test networks with the same layout (and then torchvision
            weights no longer fit).
        fc_width: Width of the two hidden FC layers (torchvision: 4096).
    """

    arch = "alexnet"

    def __init__(
        self,
        num_classes: int = 2,
        dropout: float = 0.5,
        encoding: str = "gray",
        conv_widths: tuple[int, ...] = TORCHVISION_CONV_WIDTHS,
        fc_width: int = TORCHVISION_FC_WIDTH,
    ) -> None:
        super().__init__(check_encoding(encoding), check_num_classes(num_classes))
        c1, c2, c3, c4, c5 = check_positive_ints("conv_widths", conv_widths, 5)
        (fc,) = check_positive_ints("fc_width", (fc_width,), 1)
        self._dropout = check_dropout(dropout)
        self._conv_widths = (c1, c2, c3, c4, c5)
        self._fc_width = fc
        self.features = nn.Sequential(
            nn.Conv2d(N_CHANNELS, c1, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=self._dropout),
            nn.Linear(c5 * 6 * 6, fc),
            nn.ReLU(inplace=True),
            nn.Dropout(p=self._dropout),
            nn.Linear(fc, fc),
            nn.ReLU(inplace=True),
            nn.Linear(fc, self.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for encoded patches ``(N, 3, 224, 224)``."""
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)

    def config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "dropout": self._dropout,
            "encoding": self.encoding,
            "conv_widths": self._conv_widths,
            "fc_width": self._fc_width,
        }


def load_torchvision_weights(
    model: AlexNet, state_dict: Mapping[str, torch.Tensor]
) -> tuple[str, ...]:
    """Load a torchvision AlexNet state dict, all but a final layer of another class count.

    Every layer is copied; the last FC layer (``classifier.6``) is copied only when its
    shape matches (same number of classes) and otherwise keeps its initialisation, which
    is how the papers fine-tune the ImageNet network for 2 classes (Anantrasirichai et al. 2019a,
    section 4.1).

    Args:
        model: The network to load into (torchvision widths).
        state_dict: A torchvision ``alexnet`` state dict (for example ImageNet weights).

    Returns:
        The keys left out (empty, or the two ``classifier.6`` keys).

    Raises:
        ModelError: A key is missing or unexpected, or any other layer's shape differs.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise ModelError(
            f"not a torchvision AlexNet state dict: missing keys {missing}, "
            f"unexpected keys {unexpected}"
        )
    skipped: list[str] = []
    to_load: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if tuple(tensor.shape) == tuple(own[key].shape):
            to_load[key] = tensor
        elif key in FINAL_LAYER_KEYS:
            skipped.append(key)
        else:
            raise ModelError(
                f"torchvision AlexNet weight {key!r} has shape {tuple(tensor.shape)}, the "
                f"network expects {tuple(own[key].shape)}; build AlexNet with torchvision's "
                f"widths to load these weights"
            )
    model.load_state_dict(to_load, strict=False)
    return tuple(skipped)
