"""Detector architectures by name, so that model files and the CLI can rebuild networks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.errors import InputError
from monitor.science.detect.alexnet import AlexNet
from monitor.science.detect.base import PatchClassifier
from monitor.science.detect.compact import CompactNet

ARCHITECTURES: dict[str, type[PatchClassifier]] = {
    CompactNet.arch: CompactNet,
    AlexNet.arch: AlexNet,
}


def build_model(arch: str, **config: Any) -> PatchClassifier:
    """Build a detector network from its architecture name and configuration.

    Args:
        arch: ``"compact"`` (default detector, dense path) or ``"alexnet"`` (the papers').
        **config: Keyword arguments of the architecture's constructor, as returned by its
            ``config()`` (for example ``widths=(16, 32, 48, 96), encoding="cos_sin_mask"``).
            Lists are accepted where tuples are expected.

    Returns:
        A freshly initialised network (train mode, float32, CPU).

    Raises:
        InputError: Unknown architecture or configuration key, or an invalid value.
    """
    try:
        cls = ARCHITECTURES[arch]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown detector architecture {arch!r}; expected one of "
            f"{', '.join(sorted(ARCHITECTURES))}"
        ) from None
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    factory: Callable[..., PatchClassifier] = cls
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise InputError(
            f"invalid configuration for detector architecture {arch!r}: {exc}; "
            f"got keys {sorted(config)}"
        ) from None
