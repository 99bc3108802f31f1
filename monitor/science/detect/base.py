"""The interface every detector network offers to inference, training and model files.

A detector network classifies a 224 x 224 patch of encoded wrapped phase into 2 classes,
index 0 = no deformation ("S+T", background) and index 1 = deformation ("D+S+T"), the
2-class model of Anantrasirichai et al. (2019a, section 4). It also records what is needed
to rebuild it: its architecture name and a plain configuration (including the input
encoding), which the model files store beside the weights.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
from torch import nn

from monitor.errors import InputError

#: Patch side in pixels (Anantrasirichai et al. 2019a: AlexNet's 224 x 224 input).
PATCH_SIZE = 224
#: Index of the deformation class in the network output.
DEFORMATION_CLASS = 1


class PatchClassifier(nn.Module, abc.ABC):
    """Base class of the detector networks.

    Class attributes:
        arch: Registry name (``"compact"``, ``"alexnet"``).

    Attributes:
        encoding: Input encoding name (see :mod:`monitor.science.detect.encoding`).
        num_classes: Number of output classes (2 for detection).
        dense_stride: For fully convolutional networks, the output stride in input pixels
            (divides the 28 px patch stride), so that one pass over a large image gives the
            224 x 224 patch outputs on a grid; None when the network only takes patches.
    """

    arch: ClassVar[str] = ""
    patch_size: ClassVar[int] = PATCH_SIZE

    def __init__(self, encoding: str, num_classes: int) -> None:
        super().__init__()
        self.encoding = encoding
        self.num_classes = num_classes
        self.dense_stride: int | None = None

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this network through ``build_model(arch, ...)``.

        Values are plain Python (str, int, float, tuples of int) so that they survive
        ``torch.load(weights_only=True)``.
        """

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of 224 x 224 patches.

        Args:
            x: Encoded patches, shape ``(N, 3, 224, 224)``.

        Returns:
            Logits, shape ``(N, num_classes)``.
        """
        if x.ndim != 4 or x.shape[-2:] != (self.patch_size, self.patch_size):
            raise InputError(
                f"{self.arch}: patches must have shape (N, C, {self.patch_size}, "
                f"{self.patch_size}), got {tuple(x.shape)}"
            )
        out = self(x)
        if out.ndim == 4:
            out = out[:, :, 0, 0]
        return out


def check_positive_ints(name: str, values: tuple[int, ...], length: int) -> tuple[int, ...]:
    """Validate a tuple of layer widths: ``length`` positive integers."""
    vals = tuple(values)
    if len(vals) != length or not all(isinstance(v, int) and v > 0 for v in vals):
        raise InputError(f"{name} must be {length} positive integers, got {values!r}")
    return vals


def check_num_classes(num_classes: int) -> int:
    """Validate a class count (at least 2)."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise InputError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return num_classes


def check_dropout(p: float) -> float:
    """Validate a dropout probability in [0, 1)."""
    if not (0.0 <= float(p) < 1.0):
        raise InputError(f"dropout must lie in [0, 1), got {p!r}")
    return float(p)
