"""Write an :class:`~monitor.science.sar.scene.SlcScene` as an ALOS-2 PALSAR-2 L1.1 CEOS
product (volume directory, leader, image and trailer files), for test fixtures and
benchmarks.

The records use the same field tables as the reader (:mod:`monitor.io.ceos.layouts`),
so what is written is what :func:`monitor.io.ceos.read_slc` reads. The leader holds a
file descriptor, the dataset summary, the platform position record and, when the
scene's geometry has its lon/lat polynomials, facility-related record 5 (centred on the
scene centre, as JAXA writes it); the image one 544-byte signal data prefix and the
big-endian complex float samples per line; the trailer a file descriptor alone.

What the format stores with less precision than the scene: the slant range to the first
pixel in whole metres (signal data record), the PRF in mHz to 7 decimals, the pixel
spacing and wavelength to 7 decimals, the polynomial coefficients to 11 significant
digits, the state vectors to 16, line times to the microsecond. A scene with a near
range in whole metres and spacings of at most 7 decimals comes back equal to 1e-9 or
better.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.errors import InputError
from monitor.io.ceos import layouts
from monitor.io.ceos.coordinates import FacilityCoordinates
from monitor.io.ceos.fields import encode_record
from monitor.io.ceos.image import SAMPLE_TYPES
from monitor.science.sar.polynomial import evaluate
from monitor.science.sar.scene import LonLatPolynomial, SlcGeometry, SlcScene

log = logging.getLogger(__name__)

_SPEED_OF_LIGHT = 299_792_458.0
_COMMON = {"ascii_flag": "A", "document_id": "CEOS-SAR", "document_revision": " A",
           "record_revision": " A", "software_version": "002.012"}
_FD_LOCATORS = {"sequence_flag": "FSEQ", "sequence_location": 1, "sequence_length": 4,
                "code_flag": "FTYP", "code_location": 5, "code_length": 4,
                "length_flag": "FLGT", "length_location": 9, "length_length": 4}
_LINES_PER_BLOCK = 512
_FD_BYTES = 720  # every file descriptor record


@dataclass(frozen=True)
class WrittenProduct:
    """The files :func:`write_ceos_product` wrote."""

    directory: Path
    volume: Path
    leader: Path
    image: Path
    trailer: Path


def _time_of_day(t: datetime) -> tuple[int, int, int]:
    """(year, day of year, microseconds of day) of a UTC time."""
    t = t.astimezone(UTC)
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    us = (t - midnight) // timedelta(microseconds=1)
    return t.year, t.timetuple().tm_yday, us


def _orbit_number(scene_id: str) -> int:
    match = re.fullmatch(r"ALOS2(\d{5})\d{4}-\d{6}", scene_id)
    return int(match.group(1)) if match else 0


def write_ceos_product(scene: SlcScene, directory: str | Path,
                       product_code: str = "UBSR1.1__A") -> WrittenProduct:
    """Write ``scene`` (a full scene, not a crop) as an L1.1 CEOS product.

    Args:
        scene: The scene; its ``slc`` is written as complex float32.
        directory: Where to write (created if missing).
        product_code: The product code ending the file names (``UBSR1.1__A``: L1.1).

    Returns:
        The paths written: ``VOL-``, ``LED-``, ``IMG-<pol>-``, ``TRL-`` +
        ``<scene id>-<product code>``.

    Raises:
        InputError: A crop, or values that do not fit their fields.
    """
    g = scene.geometry
    ny, nx = scene.slc.shape
    if scene.line0 or scene.pixel0 or (ny, nx) != (g.n_lines, g.n_pixels):
        raise InputError(f"scene {scene.scene_id}: write the full scene, not a crop of "
                         f"{ny} x {nx} at ({scene.line0}, {scene.pixel0})")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{scene.scene_id}-{product_code}"
    paths = WrittenProduct(directory=out, volume=out / f"VOL-{stem}",
                           leader=out / f"LED-{stem}",
                           image=out / f"IMG-{scene.polarisation}-{stem}",
                           trailer=out / f"TRL-{stem}")
    try:
        leader = _leader(scene)
        image_fd, record_length = _image_descriptor(scene)
        trailer = encode_record(layouts.TRAILER_DESCRIPTOR, 1, {
            **_COMMON, **_FD_LOCATORS, "file_number": 3, "file_id": "AL2 SARBSART",
            "n_low_resolution": 0})
        volume = _volume(scene, product_code, leader, record_length)
    except ValueError as exc:
        raise InputError(f"scene {scene.scene_id}: {exc}") from exc
    paths.leader.write_bytes(b"".join(leader))
    paths.trailer.write_bytes(trailer)
    paths.volume.write_bytes(volume)
    _write_image(scene, paths.image, image_fd, record_length)
    return paths


def crop_as_scene(scene: SlcScene, scene_id: str | None = None) -> SlcScene:
    """A crop (e.g. of the scene simulator) as a full scene of its own, as a CEOS product
    holds one: the geometry moved to the crop's first line and pixel (first line time,
    near range), its size the crop's, the lon/lat polynomials re-based on it.

    Args:
        scene: The crop.
        scene_id: Its new scene id (default: the crop's).
    """
    g = scene.geometry
    ny, nx = scene.slc.shape
    m_l, m_p = scene.line0, scene.pixel0
    fwd, inv = g.pixel_to_lonlat, g.lonlat_to_pixel
    if fwd is not None:
        fwd = LonLatPolynomial(fwd.lon, fwd.lat, (fwd.origin[0] - m_l, fwd.origin[1] - m_p))
    if inv is not None:
        inv_lon, inv_lat = np.array(inv.lon, dtype=np.float64), np.array(inv.lat, np.float64)
        inv_lon[0, 0] -= m_p  # the polynomial's constant term: outputs move, not inputs
        inv_lat[0, 0] -= m_l
        inv = LonLatPolynomial(inv_lon, inv_lat, inv.origin)
    geometry = SlcGeometry(
        g.first_line_time + timedelta(seconds=m_l * g.line_interval_s), g.line_interval_s,
        g.slant_range_first_m + m_p * g.range_pixel_spacing_m, g.range_pixel_spacing_m,
        g.wavelength_m, ny, nx, g.look_side, g.orbit, fwd, inv)
    return SlcScene(scene_id or scene.scene_id, scene.acquired, scene.polarisation, scene.slc,
                    geometry)


def _leader(scene: SlcScene) -> list[bytes]:
    g = scene.geometry
    centre_line, centre_pixel = g.n_lines // 2, g.n_pixels // 2
    centre_time = g.first_line_time + timedelta(seconds=centre_line * g.line_interval_s)
    summary: dict[str, object] = {
        "sequence": 1, "sar_channel": 1, "scene_id": scene.scene_id,
        "scene_centre_time": centre_time.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        + f"{centre_time.microsecond // 1000:03d}",
        "ellipsoid": "GRS80", "semi_major": 6378.137, "semi_minor": 6356.7523141,
        "centre_line": centre_line, "centre_pixel": centre_pixel, "n_channels": 1,
        "platform": "ALOS2", "orbit": _orbit_number(scene.scene_id),
        "clock_angle": 90.0 if g.look_side == "right" else -90.0,
        "wavelength": g.wavelength_m,
        "sampling_rate": _SPEED_OF_LIGHT / (2.0 * g.range_pixel_spacing_m) / 1e6,
        "prf": 1000.0 / g.line_interval_s, "processing_facility": "INSAR-MONITOR",
        "processing_level": "1.1", "product_type": "SLANT RANGE SINGLE LOOK COMPLEX",
        "pixel_spacing": g.range_pixel_spacing_m, "time_direction_pixel": "ASCEND",
        "time_direction_line": "ASCEND"}
    coords = None
    if g.pixel_to_lonlat is not None and g.lonlat_to_pixel is not None:
        u, v = float(centre_line), float(centre_pixel)
        lon_a, lat_a = evaluate(g.pixel_to_lonlat, u, v)
        lon, lat = float(lon_a), float(lat_a)
        summary.update(centre_lat=lat, centre_lon=lon)
        # Centre on the origin as the file will hold it (E20.10), not on more digits.
        lat, lon = float(f"{lat:.10E}"), float(f"{lon:.10E}")
        coords = FacilityCoordinates.from_polynomials(
            g.pixel_to_lonlat, g.lonlat_to_pixel, origin_pixel=v, origin_line=u,
            origin_lat=lat, origin_lon=lon)
    orbit = g.orbit
    n = len(orbit.positions_m)
    if n > layouts.MAX_STATE_VECTORS:
        raise ValueError(f"{n} state vectors, the platform position record holds "
                         f"{layouts.MAX_STATE_VECTORS}")
    t0 = orbit.first_time.astimezone(UTC)
    midnight = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    position = {
        "orbital_elements": "2", "n_vectors": n, "year": t0.year, "month": t0.month,
        "day": t0.day, "day_of_year": t0.timetuple().tm_yday,
        "seconds_of_day": (t0 - midnight).total_seconds(), "interval": orbit.interval_s,
        "reference_frame": "ECR",
        "vectors": np.hstack([orbit.positions_m, orbit.velocities_m_s]).reshape(-1).tolist(),
        "leap_second": "0"}
    counts = [0, 0, 0, 0, 1 if coords is not None else 0]
    lengths = [0, 0, 0, 0, layouts.FACILITY_COORDINATES.length if coords is not None else 0]
    fd = encode_record(layouts.LEADER_DESCRIPTOR, 1, {
        **_COMMON, **_FD_LOCATORS, "file_number": 1, "file_id": "AL2 SARBSARL",
        "n_data_records": 1, "data_record_length": layouts.DATASET_SUMMARY.length,
        **{f.name: 0 for f in layouts.LEADER_DESCRIPTOR.fields
           if f.name.startswith("n_") and f.name != "n_data_records"},
        **{f.name: 0 for f in layouts.LEADER_DESCRIPTOR.fields if f.name.endswith("_length")
           and f.name not in ("data_record_length", "sequence_length", "code_length",
                              "length_length")},
        "n_position": 1, "position_length": layouts.PLATFORM_POSITION.length,
        "facility_counts": counts, "facility_lengths": lengths})
    records = [fd, encode_record(layouts.DATASET_SUMMARY, 2, summary),
               encode_record(layouts.PLATFORM_POSITION, 3, position)]
    if coords is not None:
        records.append(encode_record(layouts.FACILITY_COORDINATES, 4, {
            "sequence": 5, "pixel_line_to_lat": coords.pixel_line_to_lat.tolist(),
            "pixel_line_to_lon": coords.pixel_line_to_lon.tolist(),
            "origin_pixel": coords.origin_pixel, "origin_line": coords.origin_line,
            "lat_lon_to_pixel": coords.lat_lon_to_pixel.tolist(),
            "lat_lon_to_line": coords.lat_lon_to_line.tolist(),
            "origin_lat": coords.origin_lat, "origin_lon": coords.origin_lon}))
    return records


def _image_descriptor(scene: SlcScene) -> tuple[bytes, int]:
    g = scene.geometry
    nbytes = int(SAMPLE_TYPES["C*8"].itemsize)
    length = layouts.SIGNAL_PREFIX_BYTES + g.n_pixels * nbytes
    fd = encode_record(layouts.IMAGE_DESCRIPTOR, 1, {
        **_COMMON, **_FD_LOCATORS, "file_number": 2, "file_id": "AL2 SARBIMOP",
        "n_data_records": g.n_lines, "data_record_length": length,
        "bits_per_sample": 32, "samples_per_group": 2, "bytes_per_group": nbytes,
        "n_channels": 1, "n_lines": g.n_lines, "left_border": 0, "n_pixels": g.n_pixels,
        "right_border": 0, "top_border": 0, "bottom_border": 0, "interleave": "BSQ",
        "records_per_line": 1, "records_per_multichannel_line": 1,
        "prefix_bytes": layouts.SIGNAL_PREFIX_BYTES, "data_bytes": g.n_pixels * nbytes,
        "suffix_bytes": 0, "line_number_locator": "  13 4PB", "channel_locator": "  49 2PB",
        "time_locator": "  45 4PB", "left_fill_locator": "  21 4PB",
        "right_fill_locator": "  29 4PB", "quality_locator": "  97 4PB",
        "sample_type": "COMPLEX*8", "sample_type_code": "C*8", "left_fill_bits": 0,
        "right_fill_bits": 0})
    return fd, length


def _volume(scene: SlcScene, product_code: str, leader: list[bytes],
            image_record_length: int) -> bytes:
    g = scene.geometry
    pointers = [
        (1, "AL2 SARBSARL", "SARLEADER FILE", "SARL", len(leader), len(leader[0]),
         max(len(r) for r in leader)),
        (2, "AL2 SARBIMOP", "IMAGERY OPTIONS FILE", "IMOP", g.n_lines + 1, _FD_BYTES,
         max(image_record_length, _FD_BYTES)),
        (3, "AL2 SARBSART", "SARTRAILER FILE", "SART", 1, _FD_BYTES, _FD_BYTES)]
    now = datetime.now(UTC)
    records = [encode_record(layouts.VOLUME_DESCRIPTOR, 1, {
        **_COMMON, "physical_volume_id": "INSAR-MONITOR", "logical_volume_id": "AL2SAR",
        "volume_set_id": "ALOS2  SAR", "n_physical_volumes": 1, "first_physical_volume": 1,
        "last_physical_volume": 1, "this_physical_volume": 1, "first_file_number": 1,
        "logical_volume": 1, "logical_volume_number": 1,
        "creation_date": now.strftime("%Y%m%d"), "creation_time": now.strftime("%H%M%S"),
        "country": "", "agency": "", "facility": "INSAR-MON",
        "n_file_pointers": len(pointers), "n_text_records": 1})]
    for k, (number, file_id, klass, code, n, first, biggest) in enumerate(pointers):
        records.append(encode_record(layouts.FILE_POINTER, 2 + k, {
            "ascii_flag": "A", "file_number": number, "file_id": file_id,
            "file_class": klass, "file_class_code": code,
            "data_type": "MIXED BINARY AND ASCII", "data_type_code": "MBAA",
            "n_records": n, "first_record_length": first, "max_record_length": biggest,
            "record_length_type": "VARIABLE LEN", "record_length_type_code": "VARE",
            "first_physical_volume": 1, "last_physical_volume": 1, "first_record": 1,
            "last_record": n}))
    records.append(encode_record(layouts.TEXT, 2 + len(pointers), {
        "ascii_flag": "A", "product_id": f"PRODUCT:{product_code}",
        "location": "PROCESS:INSAR-MONITOR SIMULATION", "physical_id": "TAPE ID:",
        "scene_id": f"ORBIT :{scene.scene_id}"}))
    return b"".join(records)


def _write_image(scene: SlcScene, path: Path, descriptor: bytes, record_length: int) -> None:
    g = scene.geometry
    pol = {"H": 0, "V": 1}
    tx, rx = (pol.get(c, 0) for c in (scene.polarisation + "HH")[:2])
    prf_mhz = round(1000.0 / g.line_interval_s)
    near = round(g.slant_range_first_m)
    if abs(near - g.slant_range_first_m) > 1e-6:
        log.warning("%s: slant range to the first pixel %s m written as %s m (the signal "
                    "data record holds whole metres)", path.name, g.slant_range_first_m, near)
    record = np.dtype([("prefix", np.uint8, layouts.SIGNAL_PREFIX_BYTES),
                       ("samples", ">c8", (g.n_pixels,))])
    assert record.itemsize == record_length
    with open(path, "wb") as fh:
        fh.write(descriptor)
        for start in range(0, g.n_lines, _LINES_PER_BLOCK):
            stop = min(g.n_lines, start + _LINES_PER_BLOCK)
            block = np.zeros(stop - start, dtype=record)
            block["samples"] = scene.slc[start:stop]
            for k, line in enumerate(range(start, stop)):
                t = g.first_line_time + timedelta(seconds=line * g.line_interval_s)
                year, day, us = _time_of_day(t)
                prefix = bytearray(encode_record(
                    layouts.SIGNAL_DATA, line + 2, {
                        "line_number": line + 1, "record_index": 1, "left_fill": 0,
                        "n_pixels": g.n_pixels, "right_fill": 0, "year": year,
                        "day_of_year": day, "ms_of_day": us // 1000, "channel_id": 1,
                        "tx_polarisation": tx, "rx_polarisation": rx, "prf": prf_mhz,
                        "us_of_day": us, "slant_range_first": near},
                    length=layouts.SIGNAL_PREFIX_BYTES, fill=b"\0"))
                prefix[8:12] = record_length.to_bytes(4, "big")  # the whole record's
                block["prefix"][k] = np.frombuffer(bytes(prefix), dtype=np.uint8)
            block.tofile(fh)
