"""Radar geometry: wavelengths, line of sight, phase <-> displacement, wrapping.

Conventions (docs/architecture.md): displacement is metres along the line of sight (LOS),
positive towards the satellite (uplift seen from above is positive); phase is radians. Each
sensor declares the sign that links its unwrapped phase to LOS displacement, and converts
once.

Sources:
    Re-wrapping with a gain ``mu`` and an offset ``tau`` follows Anantrasirichai et al.
    (2019b, re-wrapping cumulative time series): ``psi'_mu = mu * psi (mod 2 pi)`` and
    ``psi'_tau = psi + tau (mod 2 pi)``, applied here to displacement through a reference
    fringe spacing ``F`` (metres of LOS per fringe), so that
    ``psi = wrap(2 pi mu d / F + tau)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.sensors import ALOS2 as ALOS2
from monitor.science.sensors import ALOS2_WAVELENGTH_M as ALOS2_WAVELENGTH_M
from monitor.science.sensors import SENSORS as SENSORS
from monitor.science.sensors import SENTINEL1 as SENTINEL1
from monitor.science.sensors import SENTINEL1_WAVELENGTH_M as SENTINEL1_WAVELENGTH_M
from monitor.science.sensors import Sensor as Sensor

#: Default reference fringe spacing: 2.8 cm of LOS per fringe (half a C-band wavelength,
#: Anantrasirichai et al. 2019a figure captions and docs/architecture.md).
DEFAULT_FRINGE_SPACING_M = 0.028


def sensor_by_name(name: str) -> Sensor:
    """Return a known sensor by name, with a clear error listing the known ones."""
    try:
        return SENSORS[name.lower()]
    except KeyError:
        raise InputError(
            f"unknown sensor {name!r}; known sensors: {', '.join(sorted(SENSORS))}"
        ) from None


def los_unit_vector(incidence_deg: ArrayLike, heading_deg: ArrayLike) -> NDArray[np.float64]:
    """Ground-to-satellite line-of-sight unit vector in east, north, up components.

    The satellite flies along ``heading`` (degrees clockwise from north) and looks to the
    right (Sentinel-1 and ALOS-2 right-looking modes). The look direction on the ground
    points from the satellite to the ground, ``heading + 90``; the LOS vector used here
    points the other way, from the ground to the satellite, so that uplift projects to a
    positive LOS displacement.

    Args:
        incidence_deg: Incidence angle from the vertical, degrees, scalar or array.
        heading_deg: Flight heading, degrees clockwise from north, scalar or array.

    Returns:
        Array of shape ``(3,) + broadcast shape`` holding (east, north, up).
    """
    inc = np.deg2rad(np.asarray(incidence_deg, dtype=np.float64))
    head = np.deg2rad(np.asarray(heading_deg, dtype=np.float64))
    if np.any(~np.isfinite(inc)) or np.any((inc < 0) | (inc >= np.pi / 2)):
        raise InputError(
            f"incidence_deg must lie in [0, 90) degrees, got {np.asarray(incidence_deg)!r}"
        )
    # Horizontal direction from ground towards the satellite: heading - 90 degrees.
    az = head - np.pi / 2
    east = np.sin(inc) * np.sin(az)
    north = np.sin(inc) * np.cos(az)
    up = np.cos(inc) * np.ones_like(az)
    return np.stack(np.broadcast_arrays(east, north, up))


def project_to_los(
    east: ArrayLike,
    north: ArrayLike,
    up: ArrayLike,
    incidence_deg: ArrayLike,
    heading_deg: ArrayLike,
) -> NDArray[np.float32]:
    """Project east/north/up displacement (metres) onto the line of sight.

    Args:
        east, north, up: Displacement components, metres, broadcastable shapes ``(ny, nx)``.
        incidence_deg: Incidence angle, degrees (scalar or per pixel).
        heading_deg: Flight heading, degrees clockwise from north (scalar or per pixel).

    Returns:
        LOS displacement in metres, positive towards the satellite, float32.
    """
    e_los, n_los, u_los = los_unit_vector(incidence_deg, heading_deg)
    los = np.asarray(east) * e_los + np.asarray(north) * n_los + np.asarray(up) * u_los
    return np.asarray(los, dtype=np.float32)


def phase_to_displacement(phase_rad: ArrayLike, sensor: Sensor) -> NDArray[np.float32]:
    """Unwrapped phase (radians) to LOS displacement (metres), with the sensor's sign."""
    return np.asarray(np.asarray(phase_rad) * sensor.metres_per_radian, dtype=np.float32)


def displacement_to_phase(displacement_m: ArrayLike, sensor: Sensor) -> NDArray[np.float32]:
    """LOS displacement (metres) to unwrapped phase (radians), with the sensor's sign."""
    return np.asarray(np.asarray(displacement_m) / sensor.metres_per_radian, dtype=np.float32)


def wrap(phase_rad: ArrayLike) -> NDArray[np.floating]:
    """Wrap phase to [-pi, pi). NaN stays NaN.

    Args:
        phase_rad: Phase in radians, any shape.

    Returns:
        Wrapped phase, same shape and floating dtype as the input (float64 for integers).
    """
    arr = np.asarray(phase_rad)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    two_pi = arr.dtype.type(2.0 * np.pi)
    pi = arr.dtype.type(np.pi)
    return np.asarray(np.mod(arr + pi, two_pi) - pi)


def rewrap(
    displacement_m: ArrayLike,
    gain: float = 1.0,
    offset_rad: float = 0.0,
    fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M,
) -> NDArray[np.float32]:
    """Re-wrap LOS displacement into phase with a gain and offset (Anantrasirichai et al. 2019b).

    ``psi = wrap(2 pi * gain * d / F + tau)``: a gain ``mu`` produces ``mu`` times as many
    fringes without changing the signal-to-noise ratio; ``tau`` shifts the wrap boundaries.
    With ``gain = 1`` and ``tau = 0`` this is plain wrapping of the phase a sensor with
    half-wavelength ``F`` would measure.

    Args:
        displacement_m: Unwrapped LOS displacement, metres, shape ``(ny, nx)`` (any shape).
            NaN (incoherent) stays NaN.
        gain: Wrap gain ``mu`` (> 0; Anantrasirichai et al. 2019b use 1, 2, 4, 8).
        offset_rad: Constant phase offset ``tau`` added before wrapping, radians.
        fringe_spacing_m: LOS displacement per fringe ``F`` at gain 1, metres
            (default 0.028 m).

    Returns:
        Wrapped phase in [-pi, pi), float32, same shape.
    """
    if not (gain > 0 and math.isfinite(gain)):
        raise InputError(f"rewrap: gain must be a positive finite number, got {gain!r}")
    if not (fringe_spacing_m > 0 and math.isfinite(fringe_spacing_m)):
        raise InputError(
            f"rewrap: fringe_spacing_m must be a positive number of metres, "
            f"got {fringe_spacing_m!r}"
        )
    if not math.isfinite(offset_rad):
        raise InputError(f"rewrap: offset_rad must be finite, got {offset_rad!r}")
    d = np.asarray(displacement_m, dtype=np.float64)
    psi = 2.0 * np.pi * gain * d / fringe_spacing_m + offset_rad
    return np.asarray(wrap(psi), dtype=np.float32)


def rewrap_phase(wrapped_rad: ArrayLike, gain: int) -> NDArray[np.float32]:
    """Re-wrap already wrapped phase with an integer gain: ``wrap(mu * wrap(phi))``.

    For integer ``mu`` this equals ``wrap(mu * phi)`` exactly, so wrapped products (such as
    LiCSAR's ``.geo.diff_pha.tif``) can be re-wrapped without unwrapping (Anantrasirichai
    et al. 2019b).

    Args:
        wrapped_rad: Wrapped phase, radians, any shape.
        gain: Positive integer wrap gain.
    """
    if int(gain) != gain or gain < 1:
        raise InputError(
            f"rewrap_phase: wrapped phase can only be re-wrapped with a positive integer "
            f"gain, got {gain!r}"
        )
    return np.asarray(wrap(int(gain) * np.asarray(wrapped_rad, dtype=np.float64)),
                      dtype=np.float32)


def fringe_count(displacement_m: ArrayLike, gain: float = 1.0,
                 fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M) -> float:
    """Number of fringes spanned by a displacement field: ``gain * (max - min) / F``."""
    d = np.asarray(displacement_m, dtype=np.float64)
    finite = d[np.isfinite(d)]
    if finite.size == 0:
        return 0.0
    return float(gain * (finite.max() - finite.min()) / fringe_spacing_m)
