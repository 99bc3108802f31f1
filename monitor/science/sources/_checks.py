"""Argument checks shared by the deformation sources (private to the package)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError


def finite(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise InputError if it is not a finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return v


def positive(name: str, value: float, unit: str) -> float:
    """Return ``value`` if it is finite and > 0, else raise InputError naming ``unit``."""
    v = finite(name, value)
    if v <= 0.0:
        raise InputError(f"{name} must be > 0 {unit}, got {value!r}")
    return v


def poisson(nu: float) -> float:
    """Return Poisson's ratio if it lies in the open interval (0, 0.5)."""
    v = finite("nu", nu)
    if not 0.0 < v < 0.5:
        raise InputError(f"nu (Poisson's ratio) must lie in (0, 0.5), got {nu!r}")
    return v


def coordinates(x_m: ArrayLike, y_m: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Broadcast surface coordinates to one float64 shape; reject non-finite values."""
    try:
        x, y = np.broadcast_arrays(np.asarray(x_m, np.float64), np.asarray(y_m, np.float64))
    except ValueError as exc:
        raise InputError(
            f"x_m {np.shape(x_m)} and y_m {np.shape(y_m)} must broadcast to one shape: {exc}"
        ) from None
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("x_m and y_m must be finite coordinates in metres (found NaN or inf)")
    return x, y
