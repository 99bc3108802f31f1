"""Radar sensors: wavelength and the sign linking unwrapped phase to LOS displacement.

Plain Python (no numpy), so that the command line can show the defaults in its help
without loading the science stack. :mod:`monitor.science.geometry` re-exports them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.errors import InputError

#: Sentinel-1 C-band radar wavelength, metres (centre frequency 5.405 GHz).
SENTINEL1_WAVELENGTH_M = 0.05546576
#: ALOS-2 PALSAR-2 L-band wavelength, metres (centre frequency 1.2575 GHz).
ALOS2_WAVELENGTH_M = 0.2384


@dataclass(frozen=True)
class Sensor:
    """A radar sensor and the sign linking its unwrapped phase to LOS displacement.

    Attributes:
        name: Short name (``"sentinel1"``, ``"alos2"``).
        wavelength_m: Radar wavelength in metres.
        phase_sign: ``d_los = phase_sign * wavelength / (4 pi) * phase``. LiCSAR products
            use ``-1`` in the usual convention where a positive phase is a range increase
            (motion away from the satellite); set ``+1`` for a processor with the
            opposite convention.
    """

    name: str
    wavelength_m: float
    phase_sign: int = -1

    def __post_init__(self) -> None:
        if not (self.wavelength_m > 0 and math.isfinite(self.wavelength_m)):
            raise InputError(
                f"sensor {self.name!r}: wavelength_m must be a positive finite number of "
                f"metres, got {self.wavelength_m!r}"
            )
        if self.phase_sign not in (-1, 1):
            raise InputError(
                f"sensor {self.name!r}: phase_sign must be -1 or +1, got {self.phase_sign!r}"
            )

    @property
    def metres_per_radian(self) -> float:
        """LOS metres per radian of unwrapped phase (signed)."""
        return self.phase_sign * self.wavelength_m / (4.0 * math.pi)


SENTINEL1 = Sensor("sentinel1", SENTINEL1_WAVELENGTH_M, -1)
ALOS2 = Sensor("alos2", ALOS2_WAVELENGTH_M, -1)
SENSORS: dict[str, Sensor] = {s.name: s for s in (SENTINEL1, ALOS2)}
