"""ALOS-2 PALSAR-2 CEOS products: the volume directory, leader, image and trailer files.

The format is JAXA's "ALOS-2/PALSAR-2 Level 1.1/1.5/2.1/3.1 CEOS SAR Product Format
Description": each file a sequence of records with a 12-byte binary header (sequence
number, type codes, length), ASCII fields in the volume, leader and trailer files and
big-endian binary ones in the image records' prefixes. The record layouts are one set of
field tables (:mod:`monitor.io.ceos.layouts`) that this reader and the fixture writer
(:mod:`monitor.io.ceos_write`) share; every field read was checked against the genuine
files of scene ALOS2015976960-140909 under ``tests/data/alos2_ceos``.

Why not a library. GDAL's SAR_CEOS driver (in rasterio's wheel) reads the image pixels
and a few leader items, but exposes neither the platform position record as state
vectors nor the facility record's lon/lat <-> pixel polynomials, and reads lines through
GDAL blocks rather than a memory map. sarpy's ``palsar2`` reader (NGA) parses the L1.1
leader but refuses L1.5 products (so not the real leader we test on), turns everything
into a SICD model with its own polynomial fits, and parses the facility record's
sequence number as binary (the files hold ASCII). pyroSAR's CEOS reader needs the GDAL
Python bindings and spatialist, a heavy install for a few hundred bytes of records.
None checks record headers or names the bad field. The format is stable (fixed offsets
since 2014), so a field table of a few hundred lines, verified against real files, is
the smaller and safer dependency.

Public API: :func:`read_slc` (an L1.1 scene or crop as an ``SlcScene``),
:func:`find_product`, :func:`read_volume`, :func:`read_leader`, :func:`read_trailer`,
:func:`read_image_descriptor`, :func:`open_image`; :class:`Window` and
:class:`LonLatBox` to crop. Errors: :class:`monitor.errors.CeosError`, naming the file,
the record (sequence number and type) and the field.
"""

from monitor.io.ceos.coordinates import FacilityCoordinates
from monitor.io.ceos.image import ImageDescriptor, ImageFile, open_image, read_image_descriptor
from monitor.io.ceos.leader import (
    Attitude,
    DataQuality,
    DatasetSummary,
    Leader,
    MapProjection,
    Radiometric,
    read_leader,
)
from monitor.io.ceos.product import (
    LonLatBox,
    ProductFiles,
    Window,
    find_product,
    read_slc,
    window_for_box,
)
from monitor.io.ceos.trailer import Trailer, read_trailer
from monitor.io.ceos.volume import FilePointer, VolumeDirectory, read_volume

__all__ = [
    "Attitude", "DataQuality", "DatasetSummary", "FacilityCoordinates", "FilePointer",
    "ImageDescriptor", "ImageFile", "Leader", "LonLatBox", "MapProjection", "ProductFiles",
    "Radiometric", "Trailer", "VolumeDirectory", "Window", "find_product", "open_image",
    "read_image_descriptor", "read_leader", "read_slc", "read_trailer", "read_volume",
    "window_for_box",
]
