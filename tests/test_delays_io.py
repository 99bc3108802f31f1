"""Readers of delay, height and incidence files onto the frame grid (issue 6)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine, from_origin

from monitor.errors import DatasetError
from monitor.io.delays import read_cos_incidence, read_delay_on_grid, read_heights_on_grid
from monitor.io.licsar_frame import frame_grid
from monitor.io.rasters import read_raster, write_raster
from monitor.science.grids import FrameGrid

LON0, LAT0 = 14.10, 40.87  # north-west corner of the frame
SHAPE = (40, 50)
POSTING = 0.001


def _grid(tmp_path: Path) -> FrameGrid:
    path = write_raster(tmp_path / "frame.tif", np.ones(SHAPE, np.float32), crs="EPSG:4326",
                        transform=from_origin(LON0, LAT0, POSTING, POSTING))
    return frame_grid(read_raster(path))


def _centres(transform: Affine, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    lon = transform.c + (cols + 0.5) * transform.a
    lat = transform.f + (rows + 0.5) * transform.e
    return lon, lat


def _plane(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """A delay varying linearly in lon/lat: about 2.2 m, a few cm across the frame."""
    return 2.2 + 0.8 * (lon - LON0) - 1.1 * (lat - LAT0)


def test_same_grid_is_read_as_is(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    rng = np.random.default_rng(0)
    delay = (2.3 + 0.01 * rng.standard_normal(SHAPE)).astype(np.float32)
    delay[3, 4] = np.nan
    path = write_raster(tmp_path / "d.sltd.geo.tif", delay, crs="EPSG:4326",
                        transform=grid.transform)
    got = read_delay_on_grid(path, grid)
    assert got.dtype == np.float32 and got.shape == SHAPE
    np.testing.assert_array_equal(got, delay)


def test_other_grid_is_resampled_bilinearly(tmp_path: Path) -> None:
    """A coarser file covering the frame: bilinear resampling of a plane is exact."""
    grid = _grid(tmp_path)
    coarse_t = from_origin(LON0 - 0.01, LAT0 + 0.01, 0.0025, 0.0025)
    coarse_shape = (30, 32)
    src = _plane(*_centres(coarse_t, coarse_shape)).astype(np.float32)
    path = write_raster(tmp_path / "coarse.tif", src, crs="EPSG:4326", transform=coarse_t)
    got = read_delay_on_grid(path, grid)
    want = _plane(*_centres(grid.transform, SHAPE))
    assert got.shape == SHAPE and np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=2e-6)  # float32 of ~2.2 m
    # Heights go through the same resampling.
    hgt = write_raster(tmp_path / "hgt.tif", (src - 2.2) * 1e4, crs="EPSG:4326",
                       transform=coarse_t)
    np.testing.assert_allclose(read_heights_on_grid(hgt, grid), (want - 2.2) * 1e4, atol=0.05)


def test_partial_overlap_leaves_nan_outside(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    # Covers only the western 20 columns of the frame.
    t = from_origin(LON0 - 0.005, LAT0 + 0.005, POSTING, POSTING)
    path = write_raster(tmp_path / "west.tif", np.full((60, 25), 2.0, np.float32),
                        crs="EPSG:4326", transform=t)
    got = read_delay_on_grid(path, grid)
    assert np.isfinite(got[:, :19]).all() and np.isnan(got[:, 21:]).all()


@pytest.mark.parametrize(("make", "match"), [
    ("garbage", "unreadable"),
    ("all_nan", "no finite value"),
    ("radians", "above 10 m"),
    ("elsewhere", "does not overlap"),
    ("no_georef", "no georeference"),
])
def test_bad_delay_files(tmp_path: Path, make: str, match: str) -> None:
    grid = _grid(tmp_path)
    path = tmp_path / f"{make}.sltd.geo.tif"
    geo = {"crs": "EPSG:4326", "transform": grid.transform}
    if make == "garbage":
        path.write_bytes(b"II*\x00" + b"\x00" * 100)
    elif make == "all_nan":
        write_raster(path, np.full(SHAPE, np.nan, np.float32), **geo)
    elif make == "radians":
        # A slant delay in radians: -4 pi / wavelength * 2.3 m, about -520.
        write_raster(path, np.full(SHAPE, -4 * math.pi / 0.0555 * 2.3, np.float32), **geo)
    elif make == "elsewhere":
        write_raster(path, np.full(SHAPE, 2.3, np.float32), crs="EPSG:4326",
                     transform=from_origin(LON0 + 1.0, LAT0, POSTING, POSTING))
    else:
        write_raster(path, np.full((10, 10), 2.3, np.float32))
    with pytest.raises(DatasetError, match=match) as info:
        read_delay_on_grid(path, grid)
    assert str(path) in str(info.value)


def test_implausible_heights(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    path = write_raster(tmp_path / "hgt.tif", np.full(SHAPE, 150_000.0, np.float32),
                        crs="EPSG:4326", transform=grid.transform)  # centimetres
    with pytest.raises(DatasetError, match="expected DEM heights in metres"):
        read_heights_on_grid(path, grid)


def _metadata(tmp_path: Path, text: str) -> str:
    path = tmp_path / "metadata.txt"
    path.write_text(text)
    return str(path)


def test_cos_incidence_from_u_raster(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    inc = np.linspace(30.0, 45.0, SHAPE[1])[None, :].repeat(SHAPE[0], axis=0)
    u = np.cos(np.radians(inc)).astype(np.float32)
    path = write_raster(tmp_path / "U.tif", u, crs="EPSG:4326", transform=grid.transform)
    meta = _metadata(tmp_path, "avg_incidence_angle=10.0\n")  # ignored: U comes first
    got = read_cos_incidence(str(path), meta, grid)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(np.degrees(np.arccos(got)), inc, atol=1e-3)


@pytest.mark.parametrize("key", ["avg_incidence_angle", "incidence_angle"])
def test_cos_incidence_from_metadata_txt(tmp_path: Path, key: str) -> None:
    grid = _grid(tmp_path)
    meta = _metadata(tmp_path, f"master=20240106\n{key}=39.0\n")
    assert read_cos_incidence(None, meta, grid) == pytest.approx(math.cos(math.radians(39)))
    # A U raster in degrees (not a unit vector component) is refused; metadata.txt is used.
    bad_u = write_raster(tmp_path / "U.tif", np.full(SHAPE, 39.0, np.float32),
                         crs="EPSG:4326", transform=grid.transform)
    assert read_cos_incidence(str(bad_u), meta, grid) == pytest.approx(0.7771, abs=1e-4)


def test_no_usable_incidence(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    with pytest.raises(DatasetError, match="no LOS up raster.*no metadata.txt"):
        read_cos_incidence(None, None, grid)
    meta = _metadata(tmp_path, "heading=-169.8\n")
    with pytest.raises(DatasetError, match="none of avg_incidence_angle"):
        read_cos_incidence(None, meta, grid)
    meta = _metadata(tmp_path, "avg_incidence_angle=95\n")
    with pytest.raises(DatasetError, match="outside \\(0, 1\\]"):
        read_cos_incidence(None, meta, grid)
    u = write_raster(tmp_path / "U.tif", np.full(SHAPE, -0.8, np.float32), crs="EPSG:4326",
                     transform=grid.transform)
    with pytest.raises(DatasetError, match=f"{u}.*outside \\(0, 1\\].*{meta}"):
        read_cos_incidence(str(u), meta, grid)
