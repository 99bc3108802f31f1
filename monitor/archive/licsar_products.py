"""Decoding LiCSAR products, shared by the local and the HTTP adapters.

LiCSAR writes unwrapped phase in radians with 0 (or NaN) where there is no data, and
coherence as uint8 0-255 (see :mod:`monitor.io.licsar`). :func:`decode_licsar_product`
turns a fetched pair into LOS metres (NaN = no data) and coherence 0-1 on the phase's grid,
so the pipeline never handles LiCSAR encodings.
"""

from __future__ import annotations

import numpy as np

from monitor.domain import DecodedProduct, FetchedProduct
from monitor.errors import DatasetError, RasterError
from monitor.io.licsar import read_cc_file, read_unw_file
from monitor.science.crop import PixelWindow
from monitor.science.geometry import Sensor, phase_to_displacement
from monitor.science.product_checks import phase_problem


def decode_licsar_product(fetched: FetchedProduct, max_pixels: int,
                          sensor: Sensor, *, max_bytes: int | None = None,
                          window: PixelWindow | None = None) -> DecodedProduct:
    """The fetched LiCSAR pair in LOS metres and coherence 0-1.

    Args:
        fetched: The cached files of the pair.
        max_pixels: Largest raster accepted.
        sensor: Wavelength and phase sign of the archive (``d = sign * lambda / 4 pi * phi``).
        max_bytes: Memory budget of the product, judged from the headers before any
            pixel is read (:mod:`monitor.io.raster_header`); None: no budget. With
            ``window``, judged on the window.
        window: Decode only these pixels of both files (a target's crop); the transform
            returned is the window's. None: the whole product.

    Raises:
        RasterError: a file cannot be read, is larger than ``max_pixels`` or the budget,
            holds phase that is not floating point, or phase no interferogram can hold
            (infinite, or beyond :data:`~monitor.science.product_checks.MAX_ABS_PHASE_RAD`).
        DatasetError: coherence outside [0, 1], or on another shape than the phase.
    """
    unw = read_unw_file(fetched.unw_path, max_pixels=max_pixels, max_bytes=max_bytes,
                        window=window)
    problem = phase_problem(unw.data)
    if problem is not None:
        raise RasterError(f"{fetched.unw_path}: {problem}")
    if fetched.cc_path is None:
        coherence = np.ones(unw.shape, np.float32)
    else:
        coherence = read_cc_file(fetched.cc_path, max_pixels=max_pixels, max_bytes=max_bytes,
                                 window=window)
        if coherence.shape != unw.shape:
            raise DatasetError(f"{fetched.cc_path}: coherence shape {coherence.shape} differs "
                               f"from the phase's {unw.shape}")
    return DecodedProduct(fetched.ref, phase_to_displacement(unw.data, sensor), coherence,
                          unw.transform, unw.crs, str(unw.path or fetched.unw_path))
