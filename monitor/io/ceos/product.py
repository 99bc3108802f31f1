"""An ALOS-2 PALSAR-2 L1.1 product read as an :class:`~monitor.science.sar.scene.SlcScene`.

:func:`find_product` names the files of a product directory (``VOL-``, ``LED-``,
``IMG-<pol>-``, ``TRL-`` followed by the scene id and product code, as JAXA and Tellus
deliver them); :func:`read_slc` reads the leader, checks it against the volume
directory, maps the image file and returns the whole scene (a memory map) or a crop: a
window of lines and pixels, or a longitude/latitude box turned into a window with the
leader's latitude/longitude-to-pixel polynomial (plus a margin), of which only the lines
are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from monitor.errors import CeosError, InputError
from monitor.io.ceos.coordinates import FacilityCoordinates
from monitor.io.ceos.image import ImageFile, open_image
from monitor.io.ceos.leader import Leader, read_leader
from monitor.io.ceos.trailer import read_trailer
from monitor.io.ceos.volume import read_volume
from monitor.science.sar.scene import SlcGeometry, SlcScene

_POLARISATIONS = ("H", "V")


@dataclass(frozen=True)
class ProductFiles:
    """The files of one CEOS product.

    Attributes:
        directory: Where they are.
        leader: The leader file.
        images: Polarisation (``HH``...) -> image file.
        volume: The volume directory file, when present.
        trailer: The trailer file, when present.
    """

    directory: Path
    leader: Path
    images: dict[str, Path]
    volume: Path | None = None
    trailer: Path | None = None


def find_product(path: str | Path) -> ProductFiles:
    """The files of the product in ``path`` (a directory, or any file of the product).

    Raises:
        CeosError: No leader or no image file, or files of several products.
    """
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    if not directory.is_dir():
        raise CeosError(path, "no such product directory", "give the directory that "
                        "holds the VOL-, LED-, IMG- and TRL- files")
    found: dict[str, list[Path]] = {"VOL": [], "LED": [], "TRL": [], "IMG": []}
    for p in sorted(directory.iterdir()):
        kind = p.name.split("-", 1)[0]
        if kind in found and p.is_file() and not p.name.endswith((".jpg", ".kml", ".xml")):
            found[kind].append(p)
    for kind in ("VOL", "LED", "TRL"):
        if len(found[kind]) > 1:
            raise CeosError(directory, f"several {kind}- files: "
                            f"{', '.join(p.name for p in found[kind])}",
                            "keep one product per directory")
    if not found["LED"]:
        raise CeosError(directory, "no leader file (LED-...)", "give the directory of a "
                        "complete CEOS product")
    images = {}
    for p in found["IMG"]:
        pol = p.name.split("-")[1] if p.name.count("-") >= 2 else ""
        if len(pol) != 2 or any(c not in _POLARISATIONS for c in pol):
            raise CeosError(p, f"image file name without a polarisation ({pol!r})",
                            "image files are named IMG-<HH|HV|VH|VV>-<scene>-<product>")
        images[pol] = p
    if not images:
        raise CeosError(directory, "no image file (IMG-<pol>-...)", "give the directory "
                        "of a complete CEOS product")
    return ProductFiles(directory=directory, leader=found["LED"][0], images=images,
                        volume=found["VOL"][0] if found["VOL"] else None,
                        trailer=found["TRL"][0] if found["TRL"] else None)


@dataclass(frozen=True)
class Window:
    """A window of image lines and pixels (of the full scene, counted from 0)."""

    line0: int
    pixel0: int
    n_lines: int
    n_pixels: int

    def __post_init__(self) -> None:
        if min(self.line0, self.pixel0) < 0 or min(self.n_lines, self.n_pixels) < 1:
            raise InputError(f"window {self} must start at >= 0 and hold >= 1 x 1 pixels")


@dataclass(frozen=True)
class LonLatBox:
    """A longitude/latitude box, degrees (WGS84)."""

    lon_min: float
    lat_min: float
    lon_max: float
    lat_max: float

    def __post_init__(self) -> None:
        if not (-180 <= self.lon_min < self.lon_max <= 180
                and -90 <= self.lat_min < self.lat_max <= 90):
            raise InputError(f"box {self}: expected lon_min < lon_max within [-180, 180] "
                             "and lat_min < lat_max within [-90, 90], degrees")


def window_for_box(coordinates: FacilityCoordinates, box: LonLatBox, n_lines: int,
                   n_pixels: int, margin_px: int = 16, samples_per_edge: int = 9) -> Window:
    """The image window covering ``box``, from the leader's lon/lat -> pixel polynomial.

    The polynomial is evaluated along the box's four edges (``samples_per_edge`` points
    each, so a curved image of the box's sides is covered), the bounding lines and pixels
    are widened by ``margin_px`` on each side and clipped to the scene.

    Raises:
        InputError: The box does not overlap the scene.
    """
    t = np.linspace(0.0, 1.0, samples_per_edge)
    lon = np.concatenate([box.lon_min + (box.lon_max - box.lon_min) * t,
                          np.full_like(t, box.lon_max),
                          box.lon_min + (box.lon_max - box.lon_min) * t,
                          np.full_like(t, box.lon_min)])
    lat = np.concatenate([np.full_like(t, box.lat_min),
                          box.lat_min + (box.lat_max - box.lat_min) * t,
                          np.full_like(t, box.lat_max),
                          box.lat_min + (box.lat_max - box.lat_min) * t])
    pixel, line = coordinates.pixel_line(lat, lon)
    l0 = max(0, math.floor(line.min()) - margin_px)
    l1 = min(n_lines, math.ceil(line.max()) + 1 + margin_px)
    p0 = max(0, math.floor(pixel.min()) - margin_px)
    p1 = min(n_pixels, math.ceil(pixel.max()) + 1 + margin_px)
    if l0 >= l1 or p0 >= p1:
        raise InputError(f"box {box} lies outside the scene (lines {line.min():.0f} to "
                         f"{line.max():.0f}, pixels {pixel.min():.0f} to {pixel.max():.0f} "
                         f"of {n_lines} x {n_pixels})")
    return Window(line0=l0, pixel0=p0, n_lines=l1 - l0, n_pixels=p1 - p0)


def _check_volume(files: ProductFiles, leader: Leader, image: ImageFile) -> None:
    """Cross-check the volume directory (when present) with the leader and image."""
    if files.volume is None:
        return
    vol = read_volume(files.volume)
    if vol.scene_id and vol.scene_id != leader.summary.scene_id:
        raise CeosError(files.volume, f"scene {vol.scene_id!r}, the leader's is "
                        f"{leader.summary.scene_id!r}", "keep one product per directory",
                        record_type="text record", field="scene_id")
    images = [f for f in vol.files if f.class_code == "IMOP"]
    n = image.descriptor.n_lines + 1
    if images and all(f.n_records != n for f in images):
        raise CeosError(files.volume, f"its image file pointers announce "
                        f"{sorted({f.n_records for f in images})} records, "
                        f"{image.descriptor.path.name} has {n}",
                        "the product's files do not belong together; fetch it again",
                        record_type="file pointer", field="n_records")


def read_slc(path: str | Path, polarisation: str = "HH", *, window: Window | None = None,
             box: LonLatBox | None = None, margin_px: int = 16) -> SlcScene:
    """Read an L1.1 SLC (or a crop of it) with its geometry.

    Args:
        path: The product directory (or any of its files).
        polarisation: Which image (``HH``, ``HV``, ``VH``, ``VV``).
        window: Lines and pixels to read; the scene's full extent when neither this nor
            ``box`` is given.
        box: A longitude/latitude box to read (turned into a window with the leader's
            polynomial, widened by ``margin_px``).
        margin_px: Margin around a box, pixels and lines.

    Returns:
        The scene. Without window or box its ``slc`` is a read-only memory map of dtype
        ``>c8`` (complex64, big-endian: nothing is read until used); a crop is a native
        complex64 array of the window's lines and pixels only.

    Raises:
        CeosError: A malformed or incomplete file (naming file, record and field); an
            image that is not an L1.1 complex image; a leader without the polynomial a
            box needs.
        InputError: Both window and box, a window outside the scene, a box outside the
            scene, a polarisation the product lacks.
    """
    if window is not None and box is not None:
        raise InputError("read_slc: give a window or a lon/lat box, not both")
    files = find_product(path)
    if polarisation not in files.images:
        raise InputError(f"{files.directory}: no {polarisation} image (it has "
                         f"{', '.join(sorted(files.images))})")
    leader = read_leader(files.leader)
    image = open_image(files.images[polarisation])
    d = image.descriptor
    if d.sample_type_code != "C*8":
        raise CeosError(d.path, f"sample type {d.sample_type_code} ({d.sample_type}, "
                        f"processing level {leader.summary.processing_level}) is not a "
                        "single-look complex image", "interferometry needs the L1.1 "
                        "product (sample type C*8)", record=1,
                        record_type="image file descriptor", field="sample_type_code")
    _check_volume(files, leader, image)
    if files.trailer is not None:
        read_trailer(files.trailer)
    first = image.prefix(0)
    pol = "".join(_POLARISATIONS[first.integer(k)] if first.integer(k) in (0, 1) else "?"
                  for k in ("tx_polarisation", "rx_polarisation"))
    if pol != polarisation:
        raise first.error("tx_polarisation", f"the signal data say {pol}, the file name "
                          f"says {polarisation}", "the file was renamed or is corrupt; "
                          "fetch the product again")
    summary = leader.summary
    near_range = first.integer("slant_range_first")
    if near_range <= 0:
        raise first.error("slant_range_first", f"{near_range} m", "the file is corrupt; "
                          "fetch the product again")
    p2l, l2p = (leader.coordinates.polynomials() if leader.coordinates is not None
                else (None, None))
    first_time = image.line_time(0)
    line_interval_s = 1.0 / summary.prf_hz
    if d.n_lines > 1:
        # Lines are 1/PRF apart in an L1.1 product; their times (to the microsecond) say
        # whether this one is.
        elapsed = (image.line_time(d.n_lines - 1) - first_time).total_seconds()
        measured = elapsed / (d.n_lines - 1)
        if abs(measured - line_interval_s) > 2e-6 / (d.n_lines - 1) + 1e-12:
            raise CeosError(files.leader, f"the image's lines are {measured:.9f} s apart "
                            f"(line times of {d.path.name}), 1/PRF is {line_interval_s:.9f} "
                            "s", "the leader and image do not belong together, or the "
                            "product is not sampled at its PRF, which this reader does not "
                            "support", record=2, record_type="dataset summary", field="prf")
    geometry = SlcGeometry(
        first_line_time=first_time, line_interval_s=line_interval_s,
        slant_range_first_m=float(near_range), range_pixel_spacing_m=summary.pixel_spacing_m,
        wavelength_m=summary.wavelength_m, n_lines=d.n_lines, n_pixels=d.n_pixels,
        look_side=summary.look_side, orbit=leader.orbit, pixel_to_lonlat=p2l,
        lonlat_to_pixel=l2p)
    _check_orbit_covers(leader, geometry)
    if box is not None:
        if leader.coordinates is None:
            raise CeosError(files.leader, "no facility related record 5 (the lon/lat to "
                            "pixel polynomial) to crop a lon/lat box with",
                            "give a window of lines and pixels instead",
                            record_type="facility related (coordinate conversion)")
        window = window_for_box(leader.coordinates, box, d.n_lines, d.n_pixels, margin_px)
    acquired = summary.centre_time.date()
    if window is None:
        return SlcScene(scene_id=summary.scene_id, acquired=acquired,
                        polarisation=polarisation, slc=image.samples, geometry=geometry)
    if window.line0 + window.n_lines > d.n_lines or window.pixel0 + window.n_pixels > d.n_pixels:
        raise InputError(f"window {window} lies outside the scene of {d.n_lines} x "
                         f"{d.n_pixels} ({d.path})")
    slc = image.read_complex(window.line0, window.line0 + window.n_lines, window.pixel0,
                     window.pixel0 + window.n_pixels)
    return SlcScene(scene_id=summary.scene_id, acquired=acquired, polarisation=polarisation,
                    slc=slc, geometry=geometry, line0=window.line0, pixel0=window.pixel0)


def _check_orbit_covers(leader: Leader, g: SlcGeometry) -> None:
    """Refuse state vectors that do not span the scene's acquisition."""
    orbit = leader.orbit
    start = orbit.first_time
    end = start + timedelta(seconds=orbit.interval_s * (len(orbit.positions_m) - 1))
    last = g.first_line_time + timedelta(seconds=g.line_interval_s * (g.n_lines - 1))
    if g.first_line_time < start or last > end:
        raise CeosError(leader.path, f"the state vectors span {start:%H:%M:%S} to "
                        f"{end:%H:%M:%S}, the image {g.first_line_time:%H:%M:%S.%f} to "
                        f"{last:%H:%M:%S.%f}", "the leader and image are not of the same "
                        "acquisition; fetch the product again", record_type="platform "
                        "position", field="vectors")
