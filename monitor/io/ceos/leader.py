"""The leader file (``LED-``) of an ALOS-2 PALSAR-2 CEOS product.

:func:`read_leader` checks every record header against the leader's file descriptor and
parses the fields the watch uses into frozen dataclasses: the dataset summary, the
platform position (state vectors), the map projection, attitude, radiometric and data
quality records where present, and facility-related record 5 (the image <-> lon/lat
polynomials). A malformed file is a :class:`~monitor.errors.CeosError` naming the file,
the record and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.errors import CeosError
from monitor.io.ceos import layouts
from monitor.io.ceos.coordinates import FacilityCoordinates
from monitor.io.ceos.fields import Record
from monitor.io.ceos.scan import expect_end, read_file, record_at
from monitor.science.sar.scene import StateVectors


@dataclass(frozen=True)
class DatasetSummary:
    """The leader's dataset summary record (the scene, the radar, the processing).

    Attributes:
        scene_id: Scene id (``ALOS2015976960-140909``).
        centre_time: Scene centre time (UTC).
        centre_lat: Scene centre latitude, degrees (None when blank).
        centre_lon: Scene centre longitude, degrees (None when blank).
        heading_deg: Platform heading at the scene centre, degrees from north (None when
            blank).
        centre_line: Line of the scene centre (as the product counts it).
        centre_pixel: Pixel of the scene centre.
        orbit: Orbit (revolution) number.
        look_side: ``"right"`` (clock angle +90) or ``"left"`` (-90).
        incidence_deg: Incidence angle at the scene centre, degrees (None when blank).
        off_nadir_deg: Off-nadir angle, degrees.
        wavelength_m: Radar wavelength, metres.
        sampling_rate_hz: Range sampling rate, Hz.
        prf_hz: Pulse repetition frequency, Hz.
        pulse_width_s: Transmitted pulse length, seconds (None when blank).
        chirp_rate_hz_s: Range chirp rate, Hz per second (None when blank).
        processing_level: ``1.1``, ``1.5``...
        product_type: Product type text.
        line_spacing_m: Line (azimuth) spacing, metres (None when blank).
        pixel_spacing_m: Pixel spacing, metres (slant range for L1.1).
        time_direction_line: ``ASCEND`` or ``DESCEND`` (time along the lines).
        time_direction_pixel: ``ASCEND``, ``DESCEND`` or blank (time along a line).
    """

    scene_id: str
    centre_time: datetime
    centre_lat: float | None
    centre_lon: float | None
    heading_deg: float | None
    centre_line: int
    centre_pixel: int
    orbit: int
    look_side: str
    incidence_deg: float | None
    off_nadir_deg: float | None
    wavelength_m: float
    sampling_rate_hz: float
    prf_hz: float
    pulse_width_s: float | None
    chirp_rate_hz_s: float | None
    processing_level: str
    product_type: str
    line_spacing_m: float | None
    pixel_spacing_m: float
    time_direction_line: str
    time_direction_pixel: str


@dataclass(frozen=True)
class MapProjection:
    """The leader's map projection record (L1.5 and above).

    Attributes:
        projection: Projection description (``UTM-PROJECTION``).
        n_pixels: Pixels per line of the projected image.
        n_lines: Lines of the projected image.
        pixel_spacing_m: Pixel spacing, metres.
        line_spacing_m: Line spacing, metres.
        ellipsoid: Ellipsoid name (``GRS80``).
        utm_zone: UTM zone (None when blank).
        corners_latlon: ``(4, 2)`` (latitude, longitude) of the first line's first and last
            pixel and of the last line's last and first pixel, degrees.
    """

    projection: str
    n_pixels: int
    n_lines: int
    pixel_spacing_m: float
    line_spacing_m: float
    ellipsoid: str
    utm_zone: int | None
    corners_latlon: NDArray[np.float64]


@dataclass(frozen=True)
class Attitude:
    """The leader's attitude record.

    Attributes:
        times: Time of each point (UTC), ``(n,)``.
        pitch_roll_yaw_deg: ``(n, 3)`` pitch, roll and yaw, degrees.
        rates_deg_s: ``(n, 3)`` their rates, degrees per second.
    """

    times: tuple[datetime, ...]
    pitch_roll_yaw_deg: NDArray[np.float64]
    rates_deg_s: NDArray[np.float64]


@dataclass(frozen=True)
class Radiometric:
    """The leader's radiometric record.

    Attributes:
        calibration_factor_db: ``CF`` of sigma0 = 10 log10(DN**2) + CF - 32 dB (L1.1: the
            DN is the complex sample's modulus), dB.
        transmit_distortion: ``(2, 2)`` complex transmit distortion matrix.
        receive_distortion: ``(2, 2)`` complex receive distortion matrix.
    """

    calibration_factor_db: float
    transmit_distortion: NDArray[np.complex128]
    receive_distortion: NDArray[np.complex128]


@dataclass(frozen=True)
class DataQuality:
    """A few fields of the leader's data quality summary record (dB and metres)."""

    islr_db: float | None
    pslr_db: float | None
    azimuth_ambiguity_db: float | None
    range_ambiguity_db: float | None
    slant_range_resolution_m: float | None
    azimuth_resolution_m: float | None


@dataclass(frozen=True)
class Leader:
    """The leader file (``LED-``).

    Attributes:
        path: The file.
        summary: The dataset summary.
        orbit: The platform position record's state vectors.
        coordinates: Facility-related record 5 (image <-> latitude/longitude), when the
            leader has it.
        map_projection: The map projection record (L1.5), when present.
        attitude: The attitude record, when present.
        radiometric: The radiometric record, when present.
        quality: The data quality summary, when present.
        reference_frame: Frame of the state vectors as the record names it (``ECR``).
    """

    path: Path
    summary: DatasetSummary
    orbit: StateVectors
    coordinates: FacilityCoordinates | None
    map_projection: MapProjection | None
    attitude: Attitude | None
    radiometric: Radiometric | None
    quality: DataQuality | None
    reference_frame: str


def read_leader(path: str | Path) -> Leader:
    """Parse a leader file: its file descriptor, then every record it announces.

    Raises:
        CeosError: Missing file; bad record header (sequence, type codes, length against
            the file descriptor); a required field blank or not a number; a missing
            dataset summary or platform position record; bytes after the last record.
    """
    path = Path(path)
    data = read_file(path, "leader")
    fd = record_at(path, data, 0, 1, layouts.LEADER_DESCRIPTOR)
    offset, number = len(fd.raw), 2
    found: dict[str, Record] = {}
    known = {"dataset summary": layouts.DATASET_SUMMARY, "map projection": layouts.MAP_PROJECTION,
             "platform position": layouts.PLATFORM_POSITION, "attitude": layouts.ATTITUDE,
             "radiometric": layouts.RADIOMETRIC, "data quality summary": layouts.DATA_QUALITY}
    plan: list[tuple[str, int, int]] = [(name, fd.integer(count), fd.integer(length))
                                        for name, count, length in layouts.LEADER_SECTIONS]
    counts, lengths = fd.array("facility_counts"), fd.array("facility_lengths")
    plan += [(f"facility {k + 1}", int(counts[k]), int(lengths[k])) for k in range(5)]
    for name, count, length in plan:
        for _ in range(count):
            if name in known:
                layout = known[name]
            elif name == "facility 5" and length == layouts.FACILITY_COORDINATES.length:
                layout = layouts.FACILITY_COORDINATES
            elif name.startswith("facility"):
                layout = layouts.FACILITY
            else:
                layout = layouts.Layout(name, (0, 0, 0, 0), None, ())
            rec = record_at(path, data, offset, number, layout, length=length,
                            declared_by="the leader file descriptor",
                            check_codes=layout.codes != (0, 0, 0, 0))
            found.setdefault(name, rec)
            offset += length
            number += 1
    expect_end(path, data, offset, "leader file descriptor")
    for name in ("dataset summary", "platform position"):
        if name not in found:
            raise CeosError(path, f"the leader has no {name} record (its file descriptor "
                            "announces none)", "use a complete L1.1 or L1.5 product",
                            record_type=name)
    position = found["platform position"]
    coords = found.get("facility 5")
    return Leader(
        path=path, summary=_summary(found["dataset summary"]),
        orbit=_state_vectors(position),
        coordinates=(FacilityCoordinates.from_record(coords)
                     if coords is not None and coords.layout is layouts.FACILITY_COORDINATES
                     else None),
        map_projection=_map_projection(found["map projection"])
        if "map projection" in found else None,
        attitude=_attitude(found["attitude"], position.integer("year"))
        if "attitude" in found else None,
        radiometric=_radiometric(found["radiometric"]) if "radiometric" in found else None,
        quality=_quality(found["data quality summary"])
        if "data quality summary" in found else None,
        reference_frame=position.text("reference_frame"))


def _utc(rec: Record, field: str, text: str) -> datetime:
    """``YYYYMMDDhhmmssttt`` (milliseconds) as an aware UTC datetime."""
    try:
        base = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        millis = int(text[14:17] or 0)
    except ValueError as exc:
        raise rec.error(field, f"{text!r} is not a time YYYYMMDDhhmmssttt",
                        "the file is corrupt; fetch the product again") from exc
    return base + timedelta(milliseconds=millis)


def _summary(rec: Record) -> DatasetSummary:
    clock = rec.real("clock_angle")
    if abs(abs(clock) - 90.0) > 1.0:
        raise rec.error("clock_angle", f"sensor clock angle {clock} degrees, expected +90 "
                        "(right-looking) or -90 (left-looking)",
                        "the product is not a stripmap SAR scene this reader supports")
    chirp = rec.optional("range_pulse_amplitude", 1)
    return DatasetSummary(
        scene_id=rec.text("scene_id"),
        centre_time=_utc(rec, "scene_centre_time", rec.text("scene_centre_time")),
        centre_lat=rec.optional("centre_lat"), centre_lon=rec.optional("centre_lon"),
        heading_deg=rec.optional("heading"), centre_line=rec.integer("centre_line"),
        centre_pixel=rec.integer("centre_pixel"), orbit=rec.integer("orbit"),
        look_side="right" if clock > 0 else "left",
        incidence_deg=rec.optional("incidence"), off_nadir_deg=rec.optional("off_nadir"),
        wavelength_m=rec.real("wavelength"),
        sampling_rate_hz=rec.real("sampling_rate") * 1e6,
        prf_hz=rec.real("prf") * 1e-3, pulse_width_s=_scaled(rec.optional("pulse_width"), 1e-6),
        chirp_rate_hz_s=chirp,
        processing_level=rec.text("processing_level"),
        product_type=rec.text("product_type"),
        line_spacing_m=rec.optional("line_spacing"), pixel_spacing_m=rec.real("pixel_spacing"),
        time_direction_line=rec.text("time_direction_line"),
        time_direction_pixel=rec.text("time_direction_pixel"))


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _state_vectors(rec: Record) -> StateVectors:
    n = rec.integer("n_vectors")
    if not 4 <= n <= layouts.MAX_STATE_VECTORS:
        raise rec.error("n_vectors", f"{n} state vectors, expected 4 to "
                        f"{layouts.MAX_STATE_VECTORS}", "the file is corrupt; fetch the product "
                        "again")
    year, month, day_of_month = rec.integer("year"), rec.integer("month"), rec.integer("day")
    try:
        day = datetime(year, month, day_of_month, tzinfo=UTC)
    except ValueError as exc:
        raise rec.error("day", f"{year}-{month}-{day_of_month} is not a date",
                        "the file is corrupt; fetch the product again") from exc
    vectors = rec.array("vectors", 6 * n).reshape(n, 6)
    radius = np.linalg.norm(vectors[:, :3], axis=1)
    if not ((radius > 6.0e6) & (radius < 4.3e7)).all():
        raise rec.error("vectors", f"orbit radii {radius.min():.0f} to {radius.max():.0f} m "
                        "are not those of an Earth orbit (expected metres, ECEF)",
                        "the file is corrupt; fetch the product again")
    return StateVectors(first_time=day + timedelta(seconds=rec.real("seconds_of_day")),
                        interval_s=rec.real("interval"), positions_m=vectors[:, :3].copy(),
                        velocities_m_s=vectors[:, 3:].copy())


def _map_projection(rec: Record) -> MapProjection:
    zone = rec.optional("utm_zone")
    return MapProjection(
        projection=rec.text("projection"), n_pixels=rec.integer("n_pixels"),
        n_lines=rec.integer("n_lines"), pixel_spacing_m=rec.real("pixel_spacing"),
        line_spacing_m=rec.real("line_spacing"), ellipsoid=rec.text("ellipsoid"),
        utm_zone=None if zone is None else int(zone),
        corners_latlon=rec.array("corners").reshape(4, 2))


def _attitude(rec: Record, year: int) -> Attitude:
    n = rec.integer("n_points")
    if not 0 <= n <= layouts.MAX_ATTITUDE_POINTS:
        raise rec.error("n_points", f"{n} attitude points, at most "
                        f"{layouts.MAX_ATTITUDE_POINTS} fit the record",
                        "the file is corrupt; fetch the product again")
    days, ms = rec.array("day_of_year", n), rec.array("ms_of_day", n)
    angles = np.stack([rec.array(k, n) for k in ("pitch", "roll", "yaw")], axis=1)
    rates = np.stack([rec.array(k, n) for k in ("pitch_rate", "roll_rate", "yaw_rate")],
                     axis=1)
    # The record gives the day of year and the milliseconds of day; the year is the
    # platform position record's.
    base = datetime(year, 1, 1, tzinfo=UTC)
    times = tuple(base + timedelta(days=float(d) - 1, milliseconds=float(m))
                  for d, m in zip(days, ms, strict=True))
    return Attitude(times=times, pitch_roll_yaw_deg=angles, rates_deg_s=rates)


def _radiometric(rec: Record) -> Radiometric:
    d = rec.array("distortion")
    c = d[0::2] + 1j * d[1::2]
    return Radiometric(calibration_factor_db=rec.real("calibration_factor"),
                       transmit_distortion=c[:4].reshape(2, 2),
                       receive_distortion=c[4:].reshape(2, 2))


def _quality(rec: Record) -> DataQuality:
    return DataQuality(
        islr_db=rec.optional("islr"), pslr_db=rec.optional("pslr"),
        azimuth_ambiguity_db=rec.optional("azimuth_ambiguity"),
        range_ambiguity_db=rec.optional("range_ambiguity"),
        slant_range_resolution_m=rec.optional("slant_range_resolution"),
        azimuth_resolution_m=rec.optional("azimuth_resolution"))
