"""The interferometry hook of the tellus archive: a downloaded pair of PALSAR-2 scenes to
a product (:func:`monitor.io.palsar2_product.make_palsar2_product`).

:class:`Palsar2Maker` is what :func:`monitor.service.context.build_archive` gives a
``kind = "tellus"`` archive as ``make_product``: it turns the archive's
:class:`~monitor.archive.tellus.PairRequest` (frame, pair, polarisation, the box processed
in that frame) into a call of the chain with the archive's options, and warns once per
frame when no DEM covers it (the topographic phase then stays in the products).
"""

from __future__ import annotations

import logging
from pathlib import Path

from monitor.archive.tellus import PairRequest
from monitor.errors import InputError
from monitor.io.ceos import LonLatBox
from monitor.io.palsar2_product import ChainOptions, make_palsar2_product

log = logging.getLogger(__name__)


class Palsar2Maker:
    """The tellus archive's ``make_product``: two scene directories to a LiCSAR-format
    product over the request's box.

    Args:
        options: The chain's options (``[archives.NAME]`` of the tellus archive).
    """

    def __init__(self, options: ChainOptions | None = None) -> None:
        self.options = options or ChainOptions()
        self._warned: set[str] = set()

    def __call__(self, primary_dir: Path, secondary_dir: Path, out_dir: Path,
                 request: PairRequest) -> tuple[Path, Path, Path]:
        """Make the product of ``request`` under ``out_dir``.

        Returns:
            ``(unw_path, cc_path, provenance_path)``.

        Raises:
            InputError: no box to process in the request's frame, or what
                :func:`~monitor.io.palsar2_product.make_palsar2_product` raises.
        """
        if request.area is None:
            raise InputError(f"frame {request.frame}: no lon/lat box to process (no target "
                             "watches it); the interferometry reads only the targets' crops")
        box = LonLatBox(*request.area)
        made = make_palsar2_product(primary_dir, secondary_dir, out_dir, box=box,
                                    polarisation=request.polarisation,
                                    options=self.options, name=request.pair)
        dem = made.provenance.get("dem")
        if isinstance(dem, dict) and dem.get("source") is None \
                and request.frame not in self._warned:
            self._warned.add(request.frame)
            if self.options.use_dem:
                log.warning("tellus frame %s: no DEM covers the box %s (%s): its products "
                            "keep the topographic phase; set [archives.NAME] dem_dir to a "
                            "folder of SRTM .hgt tiles", request.frame, request.area,
                            dem.get("why"))
        return made.unw_path, made.cc_path, made.provenance_path
