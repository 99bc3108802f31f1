"""Volcanoes with a packaged DEM crop (``monitor/data/dem``): name -> summit (lon, lat).

Plain constants, so that the command line can offer the names without loading rasterio.
"""

from __future__ import annotations

#: Volcanoes with a packaged DEM crop: name -> (lon, lat), degrees.
KNOWN_VOLCANOES: dict[str, tuple[float, float]] = {
    "taal": (120.99, 14.00),
    "campi_flegrei": (14.14, 40.83),
    "agung": (115.51, -8.34),
    "sakurajima": (130.66, 31.59),
}
