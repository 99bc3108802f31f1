"""The CEOS reader on the genuine files of an ALOS-2 PALSAR-2 scene, and writer -> reader
round trips of a small simulated L1.1 scene (monitor.io.ceos, monitor.io.ceos_write)."""

from __future__ import annotations

import pickle
import shutil
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from numpy.polynomial import polynomial as npoly
from scipy.interpolate import CubicSpline

from monitor.errors import CeosError, DatasetError, InputError
from monitor.io.ceos import (
    LonLatBox,
    Window,
    find_product,
    open_image,
    read_image_descriptor,
    read_leader,
    read_slc,
    read_trailer,
    read_volume,
)
from monitor.io.ceos.coordinates import FacilityCoordinates
from monitor.io.ceos_write import write_ceos_product
from monitor.science.sar.polynomial import evaluate
from monitor.science.sar.scene import LonLatPolynomial, SlcGeometry, SlcScene, StateVectors

REAL = Path(__file__).parent / "data" / "alos2_ceos"
STEM = "ALOS2015976960-140909-FBDR1.5GUA"
LED = REAL / f"LED-{STEM}"
SPEED_OF_LIGHT = 299_792_458.0


@pytest.fixture(scope="module")
def summary() -> dict[str, str]:
    """The product's summary.txt (key="value" lines)."""
    out = {}
    for line in (REAL / "summary.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        out[key] = value.strip('"')
    return out


# --- the genuine files -------------------------------------------------------------------


def test_real_volume_directory(summary: dict[str, str]) -> None:
    vol = read_volume(REAL / f"VOL-{STEM}")
    assert vol.scene_id == summary["Scs_SceneID"] == "ALOS2015976960-140909"
    assert vol.product_id == summary["Pds_ProductID"]
    assert vol.agency == "JAXA"
    counts = {f.class_code: f.n_records for f in vol.files}
    assert counts == {"SARL": 12, "IMOP": int(summary["Pdi_NoOfLines_0"]) + 1, "SART": 2}
    assert sum(f.class_code == "IMOP" for f in vol.files) == 2  # HH and HV


def test_real_leader_summary_matches_summary_txt(summary: dict[str, str]) -> None:
    led = read_leader(LED)
    s = led.summary
    assert s.scene_id == summary["Scs_SceneID"]
    assert s.centre_time == datetime.strptime(summary["Img_SceneCenterDateTime"] + "000",
                                              "%Y%m%d %H:%M:%S.%f").replace(tzinfo=UTC)
    assert s.centre_time.strftime("%Y%m%d") == summary["Lbi_ObservationDate"]
    assert s.centre_lat == pytest.approx(float(summary["Img_FrameSceneCenterLatitude"]),
                                         abs=6e-4)
    assert s.centre_lon == pytest.approx(float(summary["Img_FrameSceneCenterLongitude"]),
                                         abs=6e-4)
    assert s.processing_level == summary["Lbi_ProcessLevel"] == "1.5"
    assert s.orbit == int(summary["Scs_SceneID"][5:10]) == 1597
    assert s.off_nadir_deg == pytest.approx(float(summary["Img_OffNadirAngle"]), abs=0.05)
    assert s.pixel_spacing_m == float(summary["Pds_PixelSpacing"])
    # Ascending (product code ...A, heading north-north-west), right-looking.
    assert summary["Pds_ProductID"].endswith("A") and s.time_direction_line == "ASCEND"
    assert -30 < s.heading_deg < 0 and s.look_side == "right"
    # PALSAR-2 FBD: 1236.5 MHz carrier, 34.93 MHz range sampling, a PRF near 2.1 kHz.
    assert SPEED_OF_LIGHT / s.wavelength_m == pytest.approx(1236.5e6, rel=1e-6)
    assert s.sampling_rate_hz == pytest.approx(34.9305319e6)
    assert s.prf_hz == pytest.approx(2122.318448518)
    mp = led.map_projection
    assert mp is not None and mp.utm_zone == int(summary["Pds_UTM_ZoneNo"])
    assert (mp.n_lines, mp.n_pixels) == (int(summary["Pdi_NoOfLines_0"]),
                                         int(summary["Pdi_NoOfPixels_0"]))
    frame = np.array([[float(summary[f"Img_FrameScene{c}{k}"]) for k in ("Latitude",
                                                                          "Longitude")]
                      for c in ("LeftTop", "RightTop", "RightBottom", "LeftBottom")])
    np.testing.assert_allclose(mp.corners_latlon, frame, atol=6e-4)
    assert led.radiometric is not None and led.radiometric.calibration_factor_db == -83.0
    assert led.attitude is not None and len(led.attitude.times) == 22
    assert led.quality is not None and led.quality.azimuth_resolution_m == pytest.approx(9.498,
                                                                                         abs=1e-3)


def test_real_state_vectors_are_a_physical_orbit() -> None:
    led = read_leader(LED)
    orbit = led.orbit
    assert led.reference_frame == "ECR"
    assert orbit.first_time == datetime(2014, 9, 9, 4, 20, tzinfo=UTC)
    assert orbit.interval_s == 60.0 and orbit.positions_m.shape == (28, 3)
    radius = np.linalg.norm(orbit.positions_m, axis=1)
    speed = np.linalg.norm(orbit.velocities_m_s, axis=1)
    assert ((radius > 6.95e6) & (radius < 7.10e6)).all()  # ALOS-2: about 630 km up
    assert ((speed > 7.4e3) & (speed < 7.7e3)).all()
    # The velocities are the positions' time derivative (spline of the positions).
    t = np.arange(28) * orbit.interval_s
    derivative = CubicSpline(t, orbit.positions_m, axis=0)(t, 1)
    assert np.abs(derivative - orbit.velocities_m_s)[3:-3].max() < 0.05
    # ... and they span the scene.
    start = (led.summary.centre_time - orbit.first_time).total_seconds()
    assert 60 < start < t[-1] - 60


def test_real_polynomials_map_the_scene_centre_and_corners(summary: dict[str, str]) -> None:
    led = read_leader(LED)
    c = led.coordinates
    s = led.summary
    assert c is not None and led.map_projection is not None
    n_lines, n_pixels = int(summary["Pdi_NoOfLines_0"]), int(summary["Pdi_NoOfPixels_0"])
    # The image centre maps to the scene centre (within half a pixel: 12870 pixels have
    # no centre pixel), and back.
    lat, lon = c.lat_lon((n_pixels - 1) / 2, (n_lines - 1) / 2)
    assert (lat, lon) == pytest.approx((s.centre_lat, s.centre_lon), abs=3e-5)
    assert (lat, lon) == pytest.approx((float(summary["Img_FrameSceneCenterLatitude"]),
                                        float(summary["Img_FrameSceneCenterLongitude"])),
                                       abs=6e-4)
    pixel, line = c.pixel_line(s.centre_lat, s.centre_lon)
    assert abs(pixel - s.centre_pixel) <= 1 and abs(line - s.centre_line) <= 1
    pixels = np.array([0, n_pixels - 1, n_pixels - 1, 0])
    lines = np.array([0, 0, n_lines - 1, n_lines - 1])
    corners = led.map_projection.corners_latlon
    np.testing.assert_allclose(np.stack(c.lat_lon(pixels, lines), axis=1), corners, atol=1e-6)
    back = np.stack(c.pixel_line(corners[:, 0], corners[:, 1]), axis=1)
    np.testing.assert_allclose(back, np.stack([pixels, lines], axis=1), atol=2e-3)
    # The contract's polynomials keep the leader's centring as their origin (no
    # expansion into powers of raw degrees, which loses precision far from 0) and agree
    # with the file's centred form to rounding.
    p2l, l2p = c.polynomials()
    assert p2l.origin == (c.origin_line, c.origin_pixel) == (6580.0, 6435.0)
    assert l2p.origin == (c.origin_lat, c.origin_lon) == (-11.051031594, -62.532240322)
    grid_p, grid_l = np.meshgrid(np.linspace(0, n_pixels - 1, 5), np.linspace(0, n_lines - 1, 5))
    lat_g, lon_g = c.lat_lon(grid_p, grid_l)
    lon_p, lat_p = evaluate(p2l, grid_l, grid_p)
    np.testing.assert_allclose(lat_p, lat_g, atol=1e-13)
    np.testing.assert_allclose(lon_p, lon_g, atol=1e-13)
    pix_p, line_p = evaluate(l2p, lat_g, lon_g)
    np.testing.assert_allclose(np.stack([pix_p, line_p]), np.stack(c.pixel_line(lat_g, lon_g)),
                               atol=1e-9)
    np.testing.assert_allclose(pix_p, grid_p, atol=2e-3)
    np.testing.assert_allclose(line_p, grid_l, atol=2e-3)
    # Expanded into raw degrees (what the reader did before), the inverse polynomial
    # evaluated in float64 near (-11, -62.5) drifts from the centred form.
    raw = FacilityCoordinates.from_polynomials(p2l, l2p, 0.0, 0.0, 0.0, 0.0)
    raw_pix = npoly.polyval2d(lat_g, lon_g, raw.polynomials()[1].lon)
    assert np.abs(raw_pix - pix_p).max() > 1e3 * np.abs(pix_p - c.pixel_line(lat_g, lon_g)[0]
                                                        ).max()
    # Written back by the fixture writer and read again, the centring survives.
    again = FacilityCoordinates.from_polynomials(p2l, l2p, c.origin_pixel, c.origin_line,
                                                 c.origin_lat, c.origin_lon)
    np.testing.assert_allclose(again.lat_lon_to_pixel, c.lat_lon_to_pixel, rtol=1e-12,
                               atol=0)
    np.testing.assert_allclose(again.pixel_line_to_lon, c.pixel_line_to_lon, rtol=1e-12,
                               atol=0)


def test_real_image_and_trailer_descriptors(summary: dict[str, str]) -> None:
    for pol in ("HH", "HV"):
        d = read_image_descriptor(REAL / f"IMG-{pol}-{STEM}")
        assert (d.n_lines, d.n_pixels) == (int(summary["Pdi_NoOfLines_0"]),
                                           int(summary["Pdi_NoOfPixels_0"]))
        assert d.sample_type_code == "IU2" and d.bytes_per_sample * 8 == int(
            summary["Pdi_BitPixel"])
        assert (d.prefix_bytes, d.suffix_bytes, d.record_length) == (192, 0, 192 + 2 * 12870)
    trailer = read_trailer(REAL / f"TRL-{STEM}")
    assert trailer.low_resolution_shape == (822, 804) and trailer.low_resolution_bytes == 2
    files = find_product(REAL)
    assert set(files.images) == {"HH", "HV"} and files.leader == LED


def test_real_image_cut_to_its_descriptor_is_refused() -> None:
    with pytest.raises(CeosError, match=rf"IMG-HH-{STEM}: record 2 \(processed data\):.*"
                       r"0 whole data records.*announces 13161.*fetch the product again"):
        open_image(REAL / f"IMG-HH-{STEM}")
    with pytest.raises(CeosError, match="IMG-HH"):
        read_slc(REAL)


# --- a simulated L1.1 scene ---------------------------------------------------------------


def simulated_scene(n_lines: int = 64, n_pixels: int = 48, look_side: str = "right",
                    polarisation: str = "HH", seed: int = 0) -> SlcScene:
    """A small L1.1 scene: random speckle, a circular orbit, linear lon/lat mapping."""
    rng = np.random.default_rng(seed)
    t = np.arange(20) * 10.0
    omega, radius = 2 * np.pi / 5_900.0, 7.0e6
    incl = np.deg2rad(97.9)
    pos = radius * np.stack([np.cos(omega * t), np.sin(omega * t) * np.cos(incl),
                             np.sin(omega * t) * np.sin(incl)], axis=1)
    vel = radius * omega * np.stack([-np.sin(omega * t), np.cos(omega * t) * np.cos(incl),
                                     np.cos(omega * t) * np.sin(incl)], axis=1)
    orbit = StateVectors(datetime(2020, 1, 12, 15, 29, 50, tzinfo=UTC), 10.0, pos, vel)
    dlat, dlon = -4.0e-5, 3.5e-5  # degrees per line, per pixel
    lat0, lon0 = 14.05, 120.95
    p2l = LonLatPolynomial(lon=np.array([[lon0, dlon], [1e-9, 0.0]]),
                           lat=np.array([[lat0, 2e-8], [dlat, 0.0]]))
    l2p = LonLatPolynomial(lon=np.array([[0.0, 1 / dlon], [0.0, 0.0]]) +
                           np.array([[-lon0 / dlon, 0], [0, 0]]),
                           lat=np.array([[-lat0 / dlat, 0.0], [1 / dlat, 0.0]]))
    geometry = SlcGeometry(
        first_line_time=datetime(2020, 1, 12, 15, 30, 41, 250_123, tzinfo=UTC),
        line_interval_s=1 / 2_000.0, slant_range_first_m=851_234.0,
        range_pixel_spacing_m=4.2827494, wavelength_m=0.2384, n_lines=n_lines,
        n_pixels=n_pixels, look_side=look_side, orbit=orbit, pixel_to_lonlat=p2l,
        lonlat_to_pixel=l2p)
    slc = (rng.normal(size=(n_lines, n_pixels)) + 1j * rng.normal(size=(n_lines, n_pixels))
           ).astype(np.complex64)
    return SlcScene("ALOS2312340270-200112", date(2020, 1, 12), polarisation, slc, geometry)


@pytest.mark.parametrize(("look_side", "polarisation"), [("right", "HH"), ("left", "HV")])
def test_write_read_round_trip(tmp_path: Path, look_side: str, polarisation: str) -> None:
    scene = simulated_scene(look_side=look_side, polarisation=polarisation)
    written = write_ceos_product(scene, tmp_path)
    back = read_slc(tmp_path, polarisation)
    assert back.slc.tobytes() == scene.slc.astype(">c8").tobytes()  # the bytes on disk
    np.testing.assert_array_equal(np.asarray(back.slc), scene.slc)
    assert (back.scene_id, back.acquired, back.polarisation) == (
        scene.scene_id, scene.acquired, polarisation)
    g, h = scene.geometry, back.geometry
    assert h.first_line_time == g.first_line_time
    assert h.line_interval_s == pytest.approx(g.line_interval_s, rel=1e-12)
    for name in ("slant_range_first_m", "range_pixel_spacing_m", "wavelength_m", "n_lines",
                 "n_pixels", "look_side"):
        assert getattr(h, name) == getattr(g, name), name
    assert h.orbit.first_time == g.orbit.first_time
    assert h.orbit.interval_s == g.orbit.interval_s
    np.testing.assert_allclose(h.orbit.positions_m, g.orbit.positions_m, rtol=1e-15)
    np.testing.assert_allclose(h.orbit.velocities_m_s, g.orbit.velocities_m_s, rtol=1e-15)
    assert h.pixel_to_lonlat is not None and h.lonlat_to_pixel is not None
    assert g.pixel_to_lonlat is not None and g.lonlat_to_pixel is not None
    lines, pixels = np.meshgrid(np.arange(0, 64, 9.0), np.arange(0, 48, 7.0))
    np.testing.assert_allclose(evaluate(h.pixel_to_lonlat, lines, pixels),
                               evaluate(g.pixel_to_lonlat, lines, pixels), atol=1e-10)
    lon, lat = evaluate(g.pixel_to_lonlat, lines, pixels)
    np.testing.assert_allclose(evaluate(h.lonlat_to_pixel, lat, lon),
                               evaluate(g.lonlat_to_pixel, lat, lon), atol=1e-6)
    # The volume directory and leader agree with what was written.
    assert read_volume(written.volume).scene_id == scene.scene_id
    assert read_leader(written.leader).summary.processing_level == "1.1"
    assert read_trailer(written.trailer).low_resolution_shape is None


def test_near_range_is_written_in_whole_metres(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    scene = simulated_scene()
    g = scene.geometry
    fractional = SlcGeometry(**{**g.__dict__, "slant_range_first_m": 851_234.4})
    write_ceos_product(SlcScene(scene.scene_id, scene.acquired, "HH", scene.slc, fractional),
                       tmp_path)
    assert read_slc(tmp_path).geometry.slant_range_first_m == 851_234.0
    assert "written as 851234 m" in caplog.text


def test_window_reads_the_window(tmp_path: Path) -> None:
    scene = simulated_scene()
    write_ceos_product(scene, tmp_path)
    crop = read_slc(tmp_path, window=Window(line0=10, pixel0=5, n_lines=20, n_pixels=30))
    assert (crop.line0, crop.pixel0) == (10, 5) and crop.slc.dtype == np.complex64
    np.testing.assert_array_equal(crop.slc, scene.slc[10:30, 5:35])
    with pytest.raises(InputError, match="outside the scene"):
        read_slc(tmp_path, window=Window(line0=60, pixel0=0, n_lines=10, n_pixels=4))
    with pytest.raises(InputError, match="no VV image"):
        read_slc(tmp_path, "VV")


def test_crop_by_lonlat_box_reads_only_its_lines(tmp_path: Path) -> None:
    n_lines, n_pixels = 2_000, 256  # a 4 MB image file
    scene = simulated_scene(n_lines, n_pixels)
    written = write_ceos_product(scene, tmp_path)
    # Lines 1000-1099 and pixels 100-149 of the linear mapping, 8 lines of margin.
    box = LonLatBox(lon_min=120.95 + 100 * 3.5e-5, lat_min=14.05 - 1099 * 4.0e-5,
                    lon_max=120.95 + 149 * 3.5e-5, lat_max=14.05 - 1000 * 4.0e-5)
    # Every line outside the crop gets a corrupt record header: a crop that read them
    # would fail; the crop does not look at them.
    with open(written.image, "r+b") as fh:
        for line in [*range(1, 985), *range(1115, n_lines - 1)]:
            fh.seek(720 + line * (544 + 8 * n_pixels))
            fh.write(b"\xff\xff\xff\xff")
    tracemalloc.start()
    try:
        crop = read_slc(tmp_path, box=box, margin_px=8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The box's lines and pixels plus the margin (one more where the box's edge falls
    # a hair before a pixel: the mapping has small cross terms).
    l0, p0 = crop.line0, crop.pixel0
    l1, p1 = l0 + crop.slc.shape[0], p0 + crop.slc.shape[1]
    assert 1000 - 8 - 1 <= l0 <= 1000 - 8 and 1100 + 8 <= l1 <= 1100 + 8 + 1
    assert 100 - 8 - 1 <= p0 <= 100 - 8 and 150 + 8 <= p1 <= 150 + 8 + 1
    np.testing.assert_array_equal(crop.slc, scene.slc[l0:l1, p0:p1])
    assert peak < 600_000, f"peak {peak} bytes for a 4 MB image and a 70 kB crop"
    with pytest.raises(CeosError, match=r"IMG-HH-.*record 972 \(signal data\): header of "
                       r"line 970: sequence number 4294967295, expected 972; "):
        read_slc(tmp_path, window=Window(line0=970, pixel0=0, n_lines=30, n_pixels=8))
    with pytest.raises(InputError, match="outside the scene"):
        read_slc(tmp_path, box=LonLatBox(10.0, 10.0, 10.1, 10.1))


# --- malformed files ----------------------------------------------------------------------


def _patched(tmp_path: Path, source: Path, offset: int, data: bytes,
             truncate: int | None = None) -> Path:
    target = tmp_path / source.name
    raw = bytearray(source.read_bytes())
    raw[offset:offset + len(data)] = data
    target.write_bytes(bytes(raw[:truncate]))
    return target


def test_truncated_leader_is_refused(tmp_path: Path) -> None:
    bad = _patched(tmp_path, LED, 0, b"", truncate=3000)
    with pytest.raises(CeosError, match=rf"LED-{STEM}: record 2 \(dataset summary\): the "
                       r"file ends at byte 3000, inside this record of 4096 bytes"):
        read_leader(bad)


def test_wrong_record_length_is_refused(tmp_path: Path) -> None:
    bad = _patched(tmp_path, LED, 720 + 8, (4000).to_bytes(4, "big"))
    with pytest.raises(CeosError, match=r"record 2 \(dataset summary\): record length 4000 "
                       r"bytes, the leader file descriptor says 4096"):
        read_leader(bad)


def test_corrupt_number_field_is_refused(tmp_path: Path) -> None:
    bad = _patched(tmp_path, LED, 720 + 500, b"       0.24a4525")
    with pytest.raises(CeosError, match=r"record 2 \(dataset summary\), field wavelength: "
                       r"'0.24a4525' at bytes 501-516 is not a number"):
        read_leader(bad)
    bad = _patched(tmp_path, LED, 6436 + 140, b"  2x")
    with pytest.raises(CeosError, match=r"record 4 \(platform position\), field n_vectors"):
        read_leader(bad)


def test_wrong_sequence_number_and_type_codes_are_refused(tmp_path: Path) -> None:
    vol = REAL / f"VOL-{STEM}"
    with pytest.raises(CeosError, match=r"record 3 \(file pointer\): sequence number 9"):
        read_volume(_patched(tmp_path, vol, 720, (9).to_bytes(4, "big")))
    with pytest.raises(CeosError, match=r"record 4 \(platform position\): record type codes "
                       r"\(18, 40, 18, 20\), expected \(18, 30, 18, 20\)"):
        read_leader(_patched(tmp_path, LED, 6436 + 5, bytes([40])))


def test_missing_record_is_refused(tmp_path: Path) -> None:
    written = write_ceos_product(simulated_scene(), tmp_path / "p")
    raw = bytearray(written.leader.read_bytes())
    # Announce no platform position record, drop it, renumber the facility record.
    raw[204:216] = b"     0     0"
    fd, summary, position, facility = (raw[:720], raw[720:4816], raw[4816:9496],
                                       bytearray(raw[9496:]))
    assert len(position) == 4680
    facility[0:4] = (3).to_bytes(4, "big")
    written.leader.write_bytes(bytes(fd + summary + facility))
    with pytest.raises(CeosError, match=r"LED-.*platform position.*has no platform "
                       r"position record"):
        read_leader(written.leader)


def test_image_with_fewer_records_than_announced_is_refused(tmp_path: Path) -> None:
    written = write_ceos_product(simulated_scene(), tmp_path)
    size = written.image.stat().st_size
    with open(written.image, "r+b") as fh:
        fh.truncate(size - (544 + 8 * 48) - 100)
    with pytest.raises(CeosError, match=r"IMG-HH-.*record 64 \(signal data\): .* hold 62 "
                       r"whole data records \(lines\), the descriptor announces 64"):
        read_slc(tmp_path)


def test_unsupported_sample_type_is_refused(tmp_path: Path) -> None:
    written = write_ceos_product(simulated_scene(), tmp_path)
    raw = bytearray(written.image.read_bytes())
    raw[428:432] = b"C*16"
    written.image.write_bytes(bytes(raw))
    with pytest.raises(CeosError, match=r"record 1 \(image file descriptor\), field "
                       r"sample_type_code: unsupported sample type 'C\*16'"):
        read_slc(tmp_path)


def test_l15_amplitude_image_is_not_an_slc(tmp_path: Path) -> None:
    """An L1.5 product (integer amplitude) is refused by read_slc with the reason."""
    product = tmp_path / "l15"
    product.mkdir()
    for p in REAL.iterdir():
        if p.name.startswith(("LED-", "VOL-")):
            shutil.copy(p, product)
    d = read_image_descriptor(REAL / f"IMG-HH-{STEM}")
    # Give the cut image file 3 lines (processed data records), and say so.
    header = bytearray((REAL / f"IMG-HH-{STEM}").read_bytes())
    header[180:186] = b"     3"
    header[236:244] = b"       3"
    records = b""
    for line in range(3):
        rec = bytearray(d.record_length)
        rec[0:12] = (line + 2).to_bytes(4, "big") + bytes([50, 11, 18, 20]) + \
            d.record_length.to_bytes(4, "big")
        records += bytes(rec)
    (product / f"IMG-HH-{STEM}").write_bytes(bytes(header) + records)
    image = open_image(product / f"IMG-HH-{STEM}")
    assert image.read(0, 3, 0, 4).dtype == np.float32
    with pytest.raises(CeosError, match=r"sample type IU2 .*processing level 1.5.* is not a "
                       r"single-look complex image; interferometry needs the L1.1 product"):
        read_slc(product)


def test_leader_and_image_of_different_line_rates_are_refused(tmp_path: Path) -> None:
    written = write_ceos_product(simulated_scene(), tmp_path)
    raw = bytearray(written.leader.read_bytes())
    raw[720 + 934:720 + 950] = b" 2100000.0000000"  # the PRF, mHz (2000 Hz written)
    written.leader.write_bytes(bytes(raw))
    with pytest.raises(CeosError, match=r"LED-.*record 2 \(dataset summary\), field prf: "
                       r"the image's lines are 0.000500000 s apart"):
        read_slc(tmp_path)


def test_ceos_error_is_a_dataset_error_and_pickles() -> None:
    err = CeosError("LED-x", "bad", "fetch it again", record=2, record_type="dataset summary",
                    field="wavelength")
    assert isinstance(err, DatasetError) and isinstance(err, OSError)
    assert str(err) == "LED-x: record 2 (dataset summary), field wavelength: bad; fetch it again"
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
