"""Options shared by the detector commands (``train``, ``scan``, ``evaluate``).

Argument types for lists of gains and widths, the compute device and thread count, and
the loading of detector model files, including the weights shipped inside the package
(``monitor/science/detect/weights/<arch>.pt``). Torch and the detector are imported only
when a command runs, so that ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from monitor.io.models import LoadedModel, ScoringModel


def _radius_km(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number of km >= 0, got {text!r}")
    return value


def add_second_look_radius(parser: argparse.ArgumentParser) -> None:
    """``--second-look-radius-km``, for the commands that give the detector its second look
    (the ``[correction]`` settings' ``second_look(exclusion_radius_m)``)."""
    parser.add_argument("--second-look-radius-km", type=_radius_km, default=3.0,
                        help="second look: disc around the detected peak left out of the "
                             "phase-elevation fit, km (3, the watch's target radius)")


def date_arg(text: str) -> date:
    """A date argument: ``YYYY-MM-DD`` or ``YYYYMMDD``."""
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)")


_T = TypeVar("_T", int, float)


def range_arg(text: str) -> tuple[float, float]:
    """argparse type: ``"0.015,0.2"`` -> ``(0.015, 0.2)`` (checked by the command)."""
    return _pair(text, float, "")


def int_range_arg(text: str) -> tuple[int, int]:
    """argparse type: ``"0,2"`` -> ``(0, 2)`` (checked by the command)."""
    return _pair(text, int, " (integers)")


def _pair(text: str, cast: Callable[[str], _T], kind: str) -> tuple[_T, _T]:
    try:
        lo, hi = (cast(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX{kind}") from None
    return lo, hi


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
    """:func:`monitor.compute_device.resolve_device` (torch imported when called)."""
    from monitor.compute_device import resolve_device as resolve

    return resolve(name)


def set_threads(threads: int | None) -> None:
    """:func:`monitor.compute_device.set_threads` (torch imported when called)."""
    from monitor.compute_device import set_threads as set_torch_threads

    set_torch_threads(threads)


def load_scoring_model(path: str | None, arch: str | None, detector: str,
                       device: str = "cpu") -> ScoringModel:
    """:func:`monitor.io.models.load_scoring_model` (the watch's detector: a model file of
    either kind, or the packaged one ``[science] detector`` names), imported when needed."""
    from monitor.io.models import load_scoring_model as load

    return load(path, arch, detector, device)


def load_detector(path: str | None, arch: str | None, device: str = "cpu") -> LoadedModel:
    """:func:`monitor.io.models.load_detector`, imported when a command needs a network
    (so that ``--help`` does not load torch)."""
    from monitor.io.models import load_detector as load

    return load(path, arch, device)
