"""Options shared by the detector commands (``train``, ``scan``, ``evaluate``).

Argument types for lists of gains and widths, the compute device and thread count, and
the loading of detector model files, including the weights shipped inside the package
(``monitor/science/detect/weights/<arch>.pt``). Torch and the detector are imported only
when a command runs, so that ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from monitor.errors import InputError

if TYPE_CHECKING:
    from monitor.config import CorrectionSettings
    from monitor.io.models import LoadedModel
    from monitor.science.detect.second_look import SecondLookSettings

DEVICES = ("auto", "cpu", "cuda")


def add_second_look_radius(parser: argparse.ArgumentParser) -> None:
    """``--second-look-radius-km``, for the commands that give the detector its second look."""
    parser.add_argument("--second-look-radius-km", type=float, default=3.0,
                        help="second look: disc around the detected peak left out of the "
                             "phase-elevation fit, km (3, the watch's target radius)")


def second_look_settings(radius_km: float,
                         correction: CorrectionSettings) -> SecondLookSettings:
    """The detector's second look: ``--second-look-radius-km`` and the ``[correction]``
    band and pixel limits (linear in height, see :class:`SecondLookSettings`)."""
    from monitor.science.detect.second_look import SecondLookSettings

    if not (radius_km >= 0 and math.isfinite(radius_km)):
        raise InputError(f"--second-look-radius-km must be >= 0, got {radius_km}")
    return SecondLookSettings(exclusion_radius_m=radius_km * 1e3,
                              band_sigma_m=correction.band_sigma_m,
                              min_pixels=correction.min_pixels,
                              min_height_range_m=correction.min_height_range_m)


def gains_arg(text: str) -> tuple[float, ...]:
    """argparse type: ``"1,2,4,8"`` -> ``(1.0, 2.0, 4.0, 8.0)`` (positive, distinct)."""
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of gains such as 1,2,4,8"
        ) from None
    if not vals or any(not (v > 0 and math.isfinite(v)) for v in vals) \
            or len(set(vals)) != len(vals):
        raise argparse.ArgumentTypeError(
            f"{text!r}: gains must be distinct positive numbers such as 1,2,4,8"
        )
    return vals


def ints_arg(text: str) -> tuple[int, ...]:
    """argparse type: ``"4,8,8,16"`` -> ``(4, 8, 8, 16)`` (positive integers)."""
    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers such as 16,32,48,96"
        ) from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: widths must be positive integers")
    return vals


def resolve_device(name: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; checks ``"cuda"``."""
    import torch

    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch sees no CUDA device; "
                         "use --device cpu or auto")
    return name


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads`` when ``--threads`` is given (at least 1)."""
    if threads is None:
        return
    if threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def load_detector(path: str | None, arch: str | None, device: str = "cpu") -> LoadedModel:
    """:func:`monitor.io.models.load_detector`, imported when a command needs a network
    (so that ``--help`` does not load torch)."""
    from monitor.io.models import load_detector as load

    return load(path, arch, device)
