"""Input encodings: wrapped phase -> the channels a detector network reads.

Two encodings, both with 3 channels so that either network can read either one:

``"gray"`` (Anantrasirichai et al. 2019a, 2019b)
    The papers convert the wrapped interferogram to a grey image, scaling [-pi, pi] to
    [0, 255], or to [-125, 125] with zero-centre normalisation, and feed it to AlexNet
    replicated on its three colour channels. Here the grey value is ``psi / pi`` in
    [-1, 1): the zero-centred grey image up to a constant factor, which the first
    convolution absorbs. Incoherent (NaN) pixels read 0, i.e. mid-grey, as a NaN-free grey
    image would show them; the network cannot tell them from zero phase.

``"cos_sin_mask"`` ("tell the network where the data are")
    ``(cos psi, sin psi, valid)``: continuous across the wrap boundary, so a fringe is a
    smooth rotation rather than a -pi/pi jump, plus a mask channel that is 1 on valid
    pixels and 0 on incoherent ones, where cos = sin = 0.

Both are pointwise, so edge-padding the phase and then encoding equals encoding and then
edge-padding the channels (the inference code pads the channels).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError

#: Number of channels every encoding produces.
N_CHANNELS = 3


def encode_gray(wrapped_rad: ArrayLike) -> NDArray[np.float32]:
    """The grey-image encoding of Anantrasirichai et al. (2019a, 2019b), replicated to 3 channels.

    Args:
        wrapped_rad: Wrapped phase, radians in [-pi, pi], shape ``(..., H, W)``; NaN =
            incoherent.

    Returns:
        float32 array ``(..., 3, H, W)``: ``psi / pi`` on every channel, 0 at NaN pixels.
    """
    psi = np.asarray(wrapped_rad, dtype=np.float32)
    grey = np.where(np.isfinite(psi), psi / np.float32(np.pi), np.float32(0.0))
    return np.ascontiguousarray(
        np.stack([grey, grey, grey], axis=-3).astype(np.float32, copy=False)
    )


def encode_cos_sin_mask(wrapped_rad: ArrayLike) -> NDArray[np.float32]:
    """``(cos psi, sin psi, valid mask)`` encoding.

    Args:
        wrapped_rad: Wrapped (or unwrapped: the encoding is 2 pi periodic) phase, radians,
            shape ``(..., H, W)``; NaN = incoherent.

    Returns:
        float32 array ``(..., 3, H, W)``; at NaN pixels all three channels are 0.
    """
    psi = np.asarray(wrapped_rad, dtype=np.float32)
    valid = np.isfinite(psi)
    safe = np.where(valid, psi, np.float32(0.0))
    mask = valid.astype(np.float32)
    return np.ascontiguousarray(
        np.stack([np.cos(safe) * mask, np.sin(safe) * mask, mask], axis=-3).astype(
            np.float32, copy=False
        )
    )


ENCODINGS: dict[str, Callable[[ArrayLike], NDArray[np.float32]]] = {
    "gray": encode_gray,
    "cos_sin_mask": encode_cos_sin_mask,
}


def check_encoding(name: str) -> str:
    """Return ``name`` if it is a known encoding, else raise :class:`InputError`."""
    if name not in ENCODINGS:
        raise InputError(
            f"unknown input encoding {name!r}; expected one of {', '.join(sorted(ENCODINGS))}"
        )
    return name


def encode(wrapped_rad: ArrayLike, encoding: str) -> NDArray[np.float32]:
    """Encode wrapped phase ``(..., H, W)`` into ``(..., 3, H, W)`` float32 channels.

    Args:
        wrapped_rad: Wrapped phase in radians, NaN = incoherent.
        encoding: ``"gray"`` or ``"cos_sin_mask"`` (see the module docstring).
    """
    fn = ENCODINGS[check_encoding(encoding)]
    arr = np.asarray(wrapped_rad)
    if arr.ndim < 2:
        raise InputError(
            f"encode: wrapped phase must have at least 2 dimensions (..., H, W), "
            f"got shape {arr.shape}"
        )
    return fn(arr)
