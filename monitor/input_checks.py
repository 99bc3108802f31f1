"""Can a raster's values be what the units flag says? Refuse the ones that cannot.

``insar-monitor scan`` trusts ``--units``, ``--wrapped`` and ``--wavelength``; a wrong one
does not fail, it scores nonsense (a LiCSAR ``.geo.unw.tif`` in radians read as metres is
tens of metres of "displacement", re-wrapped into hundreds of fringes). These checks
refuse such inputs with an :class:`~monitor.errors.UnitsError` that names the file and
the likely fix. The bounds, and why:

* **LOS span** (:data:`MAX_LOS_SPAN_M`, 5 m between the 0.5th and 99.5th percentiles of
  the map in metres, after ``--units``/``--wavelength``): the largest volcanic signals
  unwrapped from one radar pair (caldera collapses, dyke intrusions) reach one to two
  metres of LOS; an unwrapped C-band interferogram cannot hold much more, since the
  fringes (2.8 cm each) become denser than the pixels and decorrelate near the source.
  Unwrapped LiCSAR phase spans tens of radians, so read as metres it fails this bound:
  "looks like radians; use --units rad". Read as radians with a wavelength in
  centimetres it fails it too.
* **Coherence** (:func:`looks_like_coherence`): a band stored as 8-bit unsigned integers
  (LiCSAR's ``.geo.cc.tif`` holds coherence scaled to 0-255; displacement and phase are
  never stored so), or every finite value in [0, 1] with the central 99 % spread over at
  least :data:`COHERENCE_MIN_SPREAD` (0.3) of that range and none negative. Displacement
  and phase maps are referenced to stable ground, so their noise takes both signs; wrapped
  phase fills [-pi, pi].
* **Wavelength** (:data:`WAVELENGTH_RANGE_M`, 1 cm to 1 m): spaceborne SAR runs from
  X band (3.1 cm) to P band (BIOMASS, 69 cm). 5.5 is C band in centimetres: use 0.055
  (of the centimetre and millimetre readings, the one nearest a band is suggested).

The percentiles make the bounds robust to a few bad pixels (unwrapping errors at a
coastline, a stray nodata value left unmasked).
"""

from __future__ import annotations

import math

import numpy as np

from monitor.errors import UnitsError
from monitor.io.rasters import Raster
from monitor.science.sensors import Sensor

#: Largest robust span (0.5th to 99.5th percentile) of LOS displacement, metres, that
#: one interferogram of volcanic deformation can hold (module docstring).
MAX_LOS_SPAN_M = 5.0
#: Smallest robust spread (0.5th to 99.5th percentile) of a [0, 1] map taken as coherence.
COHERENCE_MIN_SPREAD = 0.3
#: Radar wavelengths accepted, metres: X band (3.1 cm) to P band (69 cm), with margin.
WAVELENGTH_RANGE_M = (0.01, 1.0)
#: Wavelengths of the spaceborne SAR bands, metres (TerraSAR-X, Sentinel-1, NISAR S,
#: ALOS-2, BIOMASS): a wavelength given in cm or mm is read back to the nearest.
RADAR_BANDS_M = {"X": 0.031, "C": 0.05546576, "S": 0.094, "L": 0.2384, "P": 0.69}
_PERCENTILES = (0.5, 99.5)


def check_wavelength(wavelength_m: float) -> None:
    """Refuse a wavelength that is no spaceborne radar's in metres, with the fix.

    Args:
        wavelength_m: ``--wavelength``, metres.

    Raises:
        UnitsError: Outside :data:`WAVELENGTH_RANGE_M` (a value in centimetres or
            millimetres gets the same wavelength in metres as its fix).
    """
    lo, hi = WAVELENGTH_RANGE_M
    if lo <= wavelength_m <= hi:
        return
    hint = ""
    # the reading (cm or mm) that lands nearest a radar band's wavelength is the likely one
    readings = [(abs(math.log(wavelength_m * scale / band)), unit, wavelength_m * scale)
                for unit, scale in (("centimetres", 1e-2), ("millimetres", 1e-3))
                if lo <= wavelength_m * scale <= hi for band in RADAR_BANDS_M.values()]
    if readings:
        _, unit, metres = min(readings)
        hint = f"; {wavelength_m:g} looks like {unit}: use --wavelength {metres:g}"
    raise UnitsError(f"--wavelength {wavelength_m:g} m is no spaceborne radar's wavelength "
                     f"(X band 0.031 m to P band 0.69 m; Sentinel-1 0.05546576){hint}")


def looks_like_coherence(raster: Raster) -> bool:
    """Whether ``raster`` holds coherence rather than displacement or phase (module
    docstring: 8-bit unsigned storage, or non-negative values spread over [0, 1])."""
    if raster.source_dtype == "uint8":
        return True
    finite = raster.data[np.isfinite(raster.data)]
    if finite.size == 0 or float(finite.min()) < 0.0 or float(finite.max()) > 1.0:
        return False
    lo, hi = np.percentile(finite, _PERCENTILES)
    return float(hi - lo) >= COHERENCE_MIN_SPREAD


def los_span_m(raster: Raster, units: str, sensor: Sensor) -> float:
    """Robust span (0.5th to 99.5th percentile) of the map in LOS metres under ``units``
    (``m``, ``mm``, or ``rad`` through ``sensor``); 0 for a map without finite values."""
    finite = raster.data[np.isfinite(raster.data)]
    if finite.size == 0:
        return 0.0
    lo, hi = np.percentile(finite.astype(np.float64), _PERCENTILES)
    scale = {"m": 1.0, "mm": 1e-3, "rad": abs(sensor.metres_per_radian)}[units]
    return float(hi - lo) * scale


def check_values(raster: Raster, units: str, wrapped: bool, sensor: Sensor) -> None:
    """Refuse a raster whose values cannot be what the units flag says.

    Args:
        raster: The file as read.
        units: ``--units`` of unwrapped input (``m``, ``mm``, ``rad``).
        wrapped: ``--wrapped``: wrapped phase in radians.
        sensor: Wavelength and sign turning radians into LOS metres.

    Raises:
        UnitsError: A coherence map, or a span beyond :data:`MAX_LOS_SPAN_M`; the message
            names the file and the likely fix.
    """
    name = raster.path or "the raster"
    what = "wrapped phase" if wrapped else {"m": "LOS displacement in metres",
                                            "mm": "LOS displacement in millimetres",
                                            "rad": "unwrapped phase in radians"}[units]
    if looks_like_coherence(raster):
        how = "stored as 8-bit integers 0-255" if raster.source_dtype == "uint8" else \
            "every value lies in [0, 1]"
        raise UnitsError(f"{name}: {how}: this looks like a coherence map (such as "
                         f"LiCSAR's .geo.cc.tif), not {what}; scan the interferogram "
                         "instead (.geo.unw.tif with --units rad, or .geo.diff_pha.tif "
                         "with --wrapped)")
    if wrapped:
        return
    span = los_span_m(raster, units, sensor)
    if span <= MAX_LOS_SPAN_M:
        return
    if units == "rad":
        fix = ("check --wavelength (metres: 0.0555 for Sentinel-1) and --units (a map in "
               "millimetres needs --units mm)")
    elif units == "mm":
        fix = "check --units (radians need --units rad)"
    else:
        # LiCSAR's unwrapped products are radians; elsewhere millimetres are as likely
        fix = "looks like radians; use --units rad"
        if ".unw." not in name:
            fix += " (or --units mm for millimetres)"
    raise UnitsError(f"{name}: read as {what} the map spans {span:.3g} m of LOS "
                     f"displacement, more than the {MAX_LOS_SPAN_M:g} m one interferogram "
                     f"of volcanic deformation can hold: {fix}")
