"""``scan`` refuses values that cannot be what the units flag says, and measures pixels
as the frame grid does. Real GeoTIFFs written by the project's raster writer."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from monitor.cli import main
from monitor.errors import InputError, UnitsError
from monitor.input_checks import (
    MAX_LOS_SPAN_M,
    check_values,
    check_wavelength,
    looks_like_coherence,
)
from monitor.io.licsar_frame import frame_grid
from monitor.io.rasters import read_raster, write_raster
from monitor.raster_scan import pixel_size_m
from monitor.science.geometry import SENTINEL1, displacement_to_phase
from monitor.science.sources import mogi

TRANSFORM = from_origin(120.0, 14.0, 0.001, 0.001)  # 0.001 deg pixels, north-up


def _uplift_m(amplitude_m: float = 0.25) -> np.ndarray:
    """A Mogi uplift (plus a little noise) on a 120 x 150 grid of about 100 m pixels."""
    yy, xx = np.mgrid[:120, :150]
    up = mogi((xx - 80.0) * 100.0, (60.0 - yy) * 100.0, depth_m=3000.0,
              dvolume_m3=1e6).up
    noise = np.random.default_rng(0).normal(0.0, 0.002, up.shape)
    return (amplitude_m * up / up.max() + noise).astype(np.float32)


def _scan_error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(["scan", *argv])
    return rc, capsys.readouterr().err


def test_licsar_radians_read_as_metres_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unw = tmp_path / "20240101_20240113.geo.unw.tif"
    phase = displacement_to_phase(_uplift_m(), SENTINEL1)  # about 57 rad of uplift
    assert np.ptp(phase) > 30.0
    write_raster(unw, phase, crs="EPSG:4326", transform=TRANSFORM)
    rc, err = _scan_error(capsys, str(unw), "--units", "m")
    assert rc == UnitsError.exit_code == InputError.exit_code
    assert str(unw) in err and "looks like radians; use --units rad" in err
    assert "(or --units mm" not in err  # a LiCSAR .unw. name: radians, nothing else
    # the same file with the right units is scored
    assert main(["scan", str(unw), "--units", "rad", "--json"]) == 0
    assert '"flag"' in capsys.readouterr().out


def test_millimetres_read_as_metres_name_both_fixes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tif = tmp_path / "uplift_mm.tif"
    write_raster(tif, 1000.0 * _uplift_m(), crs="EPSG:4326", transform=TRANSFORM)
    rc, err = _scan_error(capsys, str(tif))
    assert rc == UnitsError.exit_code
    assert str(tif) in err and "--units rad" in err and "--units mm" in err
    assert main(["scan", str(tif), "--units", "mm"]) == 0


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("flags", [[], ["--units", "rad"], ["--wrapped"]])
def test_a_coherence_file_is_refused_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dtype: str,
        flags: list[str]) -> None:
    rng = np.random.default_rng(1)
    coherence = np.clip(rng.beta(2.0, 2.0, (120, 150)), 0.0, 1.0)
    values = np.round(255 * coherence) if dtype == "uint8" else coherence
    cc = tmp_path / "20240101_20240113.geo.cc.tif"
    write_raster(cc, values, crs="EPSG:4326", transform=TRANSFORM, dtype=dtype)
    rc, err = _scan_error(capsys, str(cc), *flags)
    assert rc == UnitsError.exit_code
    assert str(cc) in err and "looks like a coherence map" in err
    assert ("8-bit" in err) is (dtype == "uint8")


@pytest.mark.parametrize(("given", "fix"), [(5.546576, "0.0554658"), (23.84, "0.2384"),
                                            (55.46576, "0.0554658")])
def test_a_wavelength_in_cm_or_mm_is_refused_with_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], given: float, fix: str) -> None:
    tif = tmp_path / "phase.tif"
    write_raster(tif, displacement_to_phase(_uplift_m(0.05), SENTINEL1), crs="EPSG:4326",
                 transform=TRANSFORM)
    rc, err = _scan_error(capsys, str(tif), "--units", "rad", "--wavelength", str(given))
    assert rc == UnitsError.exit_code
    assert f"use --wavelength {fix}" in err
    with pytest.raises(UnitsError, match="no spaceborne radar"):
        check_wavelength(given)
    for ok in (0.031, SENTINEL1.wavelength_m, 0.2384, 0.69):
        check_wavelength(ok)


def test_real_maps_pass_the_checks() -> None:
    """Displacement of up to the bound, in every unit, and wrapped phase are accepted."""
    from monitor.io.rasters import Raster

    d = _uplift_m(0.9 * MAX_LOS_SPAN_M)
    for units, scale in (("m", 1.0), ("mm", 1000.0)):
        check_values(Raster(scale * d, path="d.tif"), units, False, SENTINEL1)
    phase = displacement_to_phase(_uplift_m(1.0), SENTINEL1)
    check_values(Raster(phase, path="p.tif"), "rad", False, SENTINEL1)
    wrapped = np.angle(np.exp(1j * phase)).astype(np.float32)
    check_values(Raster(wrapped, path="w.tif"), "rad", True, SENTINEL1)
    # a small, all-positive displacement in metres is not coherence
    assert not looks_like_coherence(Raster(np.abs(_uplift_m(0.05)), path="u.tif"))
    with pytest.raises(UnitsError, match="more than the 5 m"):
        check_values(Raster(_uplift_m(1.2 * MAX_LOS_SPAN_M), path="big.tif"), "m", False,
                     SENTINEL1)


def test_scan_measures_pixels_with_the_frame_grid_formula(tmp_path: Path) -> None:
    tif = tmp_path / "frame.geo.unw.tif"
    write_raster(tif, np.zeros((300, 200), np.float32), crs="EPSG:4326",
                 transform=from_origin(14.0, 41.2, 0.00083333, 0.00083333))
    raster = read_raster(tif)
    assert pixel_size_m(raster) == frame_grid(raster).pixel_m  # exactly the same numbers
    east, north = pixel_size_m(raster)
    lat_mid = 41.2 - 0.00083333 * 150
    assert east == pytest.approx(0.00083333 * 111_320.0 * math.cos(math.radians(lat_mid)))
    assert north == pytest.approx(0.00083333 * 111_320.0)
    # projected rasters keep their metres; rasters without georeference take --pixel-m
    utm = tmp_path / "utm.tif"
    write_raster(utm, np.zeros((10, 10), np.float32), crs="EPSG:32651",
                 transform=from_origin(500000.0, 1550000.0, 90.0, 80.0))
    assert pixel_size_m(read_raster(utm)) == (90.0, 80.0)
    npy = tmp_path / "plain.npy"
    np.save(npy, np.zeros((10, 10), np.float32))
    assert pixel_size_m(read_raster(npy), 75.0) == (75.0, 75.0)
    with pytest.raises(InputError, match="--pixel-m"):
        pixel_size_m(read_raster(npy))
