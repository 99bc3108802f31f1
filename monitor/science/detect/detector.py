"""What a detector is to the scoring path: a displacement map in, a detection out.

The multi-gain CNN (:class:`~monitor.science.detect.fusion.CnnDetector`) is the one the
project ships; a non-CNN detector is another implementation of :class:`Detector`, and
:mod:`monitor.science.scoring`, the second look and ``scan`` take any of them. The
Protocol lives here, free of torch, so that :mod:`monitor.ports` can name it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from monitor.science.detect.fusion import Detection


@runtime_checkable
class Detector(Protocol):
    """Turns one LOS displacement map into a :class:`~monitor.science.detect.fusion.
    Detection`."""

    def detect(self, displacement_m: NDArray[np.floating]) -> Detection:
        """Score ``displacement_m`` (LOS metres, ``(ny, nx)``, NaN = no data).

        Returns:
            The detection, with ``prob_map`` (and the per-gain maps, for a multi-gain
            detector) of the input's shape, values in [0, 1].
        """
        ...
