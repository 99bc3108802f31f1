"""Tests for synthetic DEMs (monitor.science.dem) and DEM reading (monitor.io.dem)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from monitor.errors import InputError, RasterError
from monitor.io.dem import (
    DemTile,
    crop_dem,
    dem_grid_metres,
    metres_per_degree,
    packaged_dem,
    packaged_dem_names,
    read_dem,
    read_hgt,
)
from monitor.science.dem import fill_voids, fractal_noise, resample_dem, synthetic_dem

#: A folder of whole SRTM3 tiles (N13E120.hgt ...), for the tests of the mosaic against the
#: tiles themselves; the packaged crops stand in for them everywhere else. Set
#: MONITOR_TEST_SRTM_DIR to run them.
SRTM_DIR = Path(os.environ.get("MONITOR_TEST_SRTM_DIR", "")) \
    if os.environ.get("MONITOR_TEST_SRTM_DIR") else None
needs_tiles = pytest.mark.skipif(
    SRTM_DIR is None or not SRTM_DIR.is_dir(),
    reason="MONITOR_TEST_SRTM_DIR does not name a folder of SRTM3 .hgt tiles"
)
STEP = 1.0 / 1200.0


def _slopes(dem: np.ndarray, pixel_m: float) -> np.ndarray:
    gy, gx = np.gradient(dem.astype(np.float64), pixel_m)
    return np.hypot(gy, gx)


# --------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("kind", ["stratovolcano", "shield", "caldera"])
def test_synthetic_dem_is_reproducible_nonnegative_float32(kind: str) -> None:
    a = synthetic_dem((120, 150), 100.0, kind, np.random.default_rng(4))  # type: ignore[arg-type]
    b = synthetic_dem((120, 150), 100.0, kind, np.random.default_rng(4))  # type: ignore[arg-type]
    c = synthetic_dem((120, 150), 100.0, kind, np.random.default_rng(5))  # type: ignore[arg-type]
    assert a.shape == (120, 150) and a.dtype == np.float32
    assert float(a.min()) >= 0.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stratovolcano_summit_height_and_position() -> None:
    dem = synthetic_dem(
        (201, 201),
        100.0,
        "stratovolcano",
        np.random.default_rng(0),
        height_m=2500.0,
        base_radius_m=9000.0,
        roughness=0.0,
        max_offset_fraction=0.0,
        crater=False,
    )
    assert np.unravel_index(int(dem.argmax()), dem.shape) == (100, 100)
    assert float(dem.max()) == pytest.approx(2500.0, rel=1e-4)
    # Concave up: the mid-radius height is below the straight cone's (half the summit).
    assert float(dem[100, 100 + 45]) < 0.5 * 2500.0
    assert float(dem[100, 100 + 95]) == 0.0  # beyond the base radius


def test_summit_offset_stays_within_bound() -> None:
    rng = np.random.default_rng(9)
    for _ in range(10):
        dem = synthetic_dem((200, 200), 100.0, "stratovolcano", rng, roughness=0.0, crater=False)
        row, col = np.unravel_index(int(dem.argmax()), dem.shape)
        assert abs(row - 99.5) <= 0.1 * 200 + 1 and abs(col - 99.5) <= 0.1 * 200 + 1


def test_caldera_centre_is_lower_than_its_rim() -> None:
    rng = np.random.default_rng(2)
    for _ in range(5):
        dem = synthetic_dem(
            (301, 301),
            100.0,
            "caldera",
            rng,
            height_m=800.0,
            base_radius_m=12000.0,
            max_offset_fraction=0.0,
        )
        centre = float(dem[150, 150])
        ring = np.hypot(*np.mgrid[-150:151, -150:151]) * 100.0
        rim = float(dem[(ring > 0.3 * 12000) & (ring < 0.6 * 12000)].max())
        assert centre < 0.6 * rim
        assert rim == pytest.approx(dem.max(), rel=1e-6)
        assert 700.0 < rim < 1000.0


def test_shield_slopes_are_gentler_than_stratovolcano_slopes() -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        strato = synthetic_dem((300, 300), 100.0, "stratovolcano", rng)
        shield = synthetic_dem((300, 300), 100.0, "shield", rng)
        s_strato = _slopes(strato, 100.0)[strato > 0.2 * strato.max()]
        s_shield = _slopes(shield, 100.0)[shield > 0.2 * shield.max()]
        assert np.median(s_shield) < np.median(s_strato)
        assert np.percentile(s_shield, 95) < 0.35  # below ~20 degrees


def test_fractal_noise_has_unit_variance_and_requested_spectrum() -> None:
    rng = np.random.default_rng(1)
    beta = 2.5
    fields = np.stack([fractal_noise((128, 128), rng, beta=beta) for _ in range(100)])
    assert np.abs(fields.mean(axis=(1, 2))).max() < 1e-4  # no mean term
    assert float(np.mean(fields.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=0.1)
    power = np.mean(np.abs(np.fft.fft2(fields)) ** 2, axis=0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128), indexing="ij"))
    band = (f > 0.02) & (f < 0.4)
    slope = np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.1)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"kind": "cone"}, "kind"),
        ({"shape": (0, 5)}, "shape"),
        ({"pixel_m": -1.0}, "pixel_m"),
        ({"height_m": -10.0}, "height_m"),
        ({"roughness": -0.1}, "roughness"),
    ],
)
def test_synthetic_dem_rejects_bad_inputs(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {"shape": (20, 20), "pixel_m": 100.0, "kind": "shield"}
    args.update(kwargs)
    with pytest.raises(InputError, match=needle):
        synthetic_dem(rng=np.random.default_rng(0), **args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- voids, resampling


def test_fill_voids_laplace_restores_a_plane_exactly() -> None:
    yy, xx = np.mgrid[0:60, 0:80]
    plane = 3.0 * xx - 2.0 * yy + 500.0
    mask = np.zeros_like(plane, dtype=bool)
    mask[10:25, 30:50] = True
    mask[40, 5] = True
    dem = plane.copy()
    dem[mask] = -32768.0
    dem[50, 70] = np.nan  # NaN counts as a void too
    out = fill_voids(dem, mask)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, plane, atol=1e-3)


def test_fill_voids_nearest_copies_a_valid_neighbour() -> None:
    dem = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0], [7.0, 8.0, 9.0]])
    out = fill_voids(dem, method="nearest")
    assert out[1, 1] in (2.0, 4.0, 6.0, 8.0)
    np.testing.assert_array_equal(np.delete(out.ravel(), 4), np.delete(dem.ravel(), 4))


def test_fill_voids_errors() -> None:
    with pytest.raises(InputError, match="no valid pixel"):
        fill_voids(np.full((4, 4), np.nan))
    with pytest.raises(InputError, match="void_mask shape"):
        fill_voids(np.zeros((4, 4)), np.zeros((3, 4), dtype=bool))


def test_resample_dem_keeps_a_plane_and_extent() -> None:
    src = 90.0
    x = (np.arange(200) + 0.5) * src
    dem = np.tile(0.05 * x, (150, 1))  # 5 % slope eastwards
    out = resample_dem(dem, src, 100.0)
    assert out.shape == (round(150 * 0.9), round(200 * 0.9))
    dst = 200 * src / out.shape[1]
    xo = (np.arange(out.shape[1]) + 0.5) * dst
    inner = slice(2, -2)
    np.testing.assert_allclose(
        out[:, inner], np.tile(0.05 * xo, (out.shape[0], 1))[:, inner], atol=1e-2
    )
    shaped = resample_dem(dem, (92.0, 70.0), out_shape=(64, 80))
    assert shaped.shape == (64, 80) and shaped.dtype == np.float32


def test_resample_dem_errors() -> None:
    with pytest.raises(InputError, match="fill_voids"):
        resample_dem(np.array([[1.0, np.nan]]), 90.0, 100.0)
    with pytest.raises(InputError, match="exactly one"):
        resample_dem(np.ones((4, 4)), 90.0)
    with pytest.raises(InputError, match="src_pixel_m"):
        resample_dem(np.ones((4, 4)), 0.0, 100.0)


# --------------------------------------------------------------------------- .hgt / GeoTIFF


def _write_hgt(path: Path, grid: np.ndarray) -> Path:
    grid.astype(">i2").tofile(path)
    return path


def _ramp(n: int = 1201) -> np.ndarray:
    rows, cols = np.mgrid[0:n, 0:n]
    return (2 * rows + cols).astype(np.int16)


def test_read_hgt_georeference_and_void_filling(tmp_path: Path) -> None:
    grid = _ramp()
    grid[600:605, 700:703] = -32768
    tile = read_hgt(_write_hgt(tmp_path / "N13E120.hgt", grid))
    assert tile.shape == (1201, 1201) and tile.height_m.dtype == np.float32
    assert tile.crs == "EPSG:4326"
    # SRTM samples lie on whole arc-seconds: pixel (0, 0) centre is the NW corner 14 N 120 E.
    assert tile.lonlat(0, 0) == pytest.approx((120.0, 14.0), abs=1e-12)
    assert tile.lonlat(1200, 1200) == pytest.approx((121.0, 13.0), abs=1e-12)
    assert tile.bounds == pytest.approx(
        (120 - STEP / 2, 13 - STEP / 2, 121 + STEP / 2, 14 + STEP / 2)
    )
    assert tile.rowcol(120.5, 13.5) == (600, 600)
    assert int(tile.filled_mask.sum()) == 15
    assert np.array_equal(tile.filled_mask, grid == -32768)
    np.testing.assert_allclose(tile.height_m, _ramp().astype(np.float32), atol=1e-3)


def test_read_hgt_southern_western_names(tmp_path: Path) -> None:
    tile = read_hgt(_write_hgt(tmp_path / "S09W078.hgt", np.zeros((1201, 1201), np.int16)))
    assert tile.lonlat(1200, 0) == pytest.approx((-78.0, -9.0), abs=1e-12)
    assert tile.lonlat(0, 1200) == pytest.approx((-77.0, -8.0), abs=1e-12)


def test_read_hgt_srtm1_size(tmp_path: Path) -> None:
    path = _write_hgt(tmp_path / "n31e130.hgt", np.full((3601, 3601), 7, np.int16))
    tile = read_dem(path)
    assert tile.shape == (3601, 3601)
    assert tile.transform.a == pytest.approx(1 / 3600)
    assert tile.lonlat(0, 0) == pytest.approx((130.0, 32.0))


def test_read_hgt_errors_name_the_file(tmp_path: Path) -> None:
    small = tmp_path / "N13E120.hgt"
    small.write_bytes(b"\x00" * 1000)
    with pytest.raises(RasterError, match=r"N13E120\.hgt.*1000 bytes"):
        read_hgt(small)
    bad_name = _write_hgt(tmp_path / "taal.hgt", np.zeros((1201, 1201), np.int16))
    with pytest.raises(RasterError, match=r"taal\.hgt.*SRTM tile name"):
        read_hgt(bad_name)
    with pytest.raises(RasterError, match=r"N14E121\.hgt.*cannot read"):
        read_hgt(tmp_path / "N14E121.hgt")
    voids = _write_hgt(tmp_path / "N01E001.hgt", np.full((1201, 1201), -32768, np.int16))
    with pytest.raises(RasterError, match=r"N01E001\.hgt.*void"):
        read_hgt(voids)
    with pytest.raises(RasterError, match=r"dem\.png.*unknown DEM format"):
        read_dem(tmp_path / "dem.png")


def _write_tif(
    path: Path, data: np.ndarray, crs: str = "EPSG:4326", nodata: float | None = None
) -> Path:
    transform = Affine(0.001, 0.0, 14.0, 0.0, -0.001, 41.0)
    count = 1 if data.ndim == 2 else data.shape[0]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[-1],
        height=data.shape[-2],
        count=count,
        dtype=str(data.dtype),
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data if data.ndim == 3 else data[None])
    return path


def test_read_dem_geotiff_fills_nodata(tmp_path: Path) -> None:
    rows, cols = np.mgrid[0:40, 0:50]
    data = (rows + cols).astype(np.float32)
    data[10, 10] = -9999.0
    tile = read_dem(_write_tif(tmp_path / "dem.tif", data, nodata=-9999.0))
    assert tile.shape == (40, 50)
    assert bool(tile.filled_mask[10, 10]) and int(tile.filled_mask.sum()) == 1
    assert float(tile.height_m[10, 10]) == pytest.approx(20.0, abs=1e-3)
    assert tile.lonlat(0, 0) == pytest.approx((14.0005, 40.9995))


def test_read_dem_geotiff_errors(tmp_path: Path) -> None:
    two = _write_tif(tmp_path / "two.tif", np.zeros((2, 5, 5), np.float32))
    with pytest.raises(RasterError, match=r"two\.tif.*2 bands"):
        read_dem(two)
    utm = _write_tif(tmp_path / "utm.tif", np.zeros((5, 5), np.float32), crs="EPSG:32633")
    with pytest.raises(RasterError, match=r"utm\.tif.*EPSG:32633"):
        read_dem(utm)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff")
    with pytest.raises(RasterError, match=r"junk\.tif.*cannot read"):
        read_dem(junk)


# --------------------------------------------------------------------------- crop / mosaic


def _grid_tile(
    lon0: float, lat0: float, n: int = 11, step: float = 0.1, void: tuple[int, int] | None = None
) -> DemTile:
    """A small SRTM-like tile (edges shared with neighbours) of h = 1000 lon + 10 lat."""
    rows, cols = np.mgrid[0:n, 0:n]
    lon = lon0 + cols * step
    lat = lat0 + 1 - rows * step
    height = (1000.0 * lon + 10.0 * lat).astype(np.float32)
    filled = np.zeros((n, n), dtype=bool)
    if void is not None:
        filled[void] = True
        height[void] = -5.0  # a wrong per-tile fill that the mosaic must not keep
    transform = Affine(step, 0.0, lon0 - step / 2, 0.0, -step, lat0 + 1 + step / 2)
    return DemTile(height, transform, "EPSG:4326", f"tile{lon0}_{lat0}", filled)


def test_crop_mosaics_four_tiles_without_seam() -> None:
    tiles = [
        _grid_tile(0.0, 0.0, void=(0, 10)),  # void on the corner shared by all four
        _grid_tile(1.0, 0.0, void=(0, 0)),
        _grid_tile(0.0, 1.0, void=(10, 10)),
        _grid_tile(1.0, 1.0, void=(10, 0)),
    ]
    crop = crop_dem(tiles, 1.0, 1.0, 30.0)  # +-0.27 deg around the shared corner
    rows, cols = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]]
    lon, lat = crop.transform @ (cols + 0.5, rows + 0.5)
    expected = 1000.0 * lon + 10.0 * lat
    np.testing.assert_allclose(crop.height_m, expected, atol=1e-2)
    r, c = crop.rowcol(1.0, 1.0)
    assert bool(crop.filled_mask[r, c]) and int(crop.filled_mask.sum()) == 1
    assert crop.lonlat(r, c) == pytest.approx((1.0, 1.0))
    assert crop.shape == (5, 5)


def test_crop_errors() -> None:
    tile = _grid_tile(0.0, 0.0)
    with pytest.raises(RasterError, match="partly outside"):
        crop_dem(tile, 0.05, 0.5, 30.0)
    with pytest.raises(RasterError, match=r"lies outside the tiles: tile0\.0_0\.0"):
        crop_dem(tile, 5.0, 5.0, 10.0)
    with pytest.raises(InputError, match="half_size_km"):
        crop_dem(tile, 0.5, 0.5, 0.0)
    shifted = _grid_tile(1.05, 0.0)
    with pytest.raises(RasterError, match="fraction of a pixel"):
        crop_dem([tile, shifted], 1.0, 0.5, 5.0)
    coarse = _grid_tile(1.0, 0.0, n=6, step=0.2)
    with pytest.raises(RasterError, match="pixel size"):
        crop_dem([tile, coarse], 1.0, 0.5, 5.0)


def test_metres_per_degree_and_grid_size(tmp_path: Path) -> None:
    east, north = metres_per_degree(0.0)
    assert east == pytest.approx(111319.49, abs=0.01)  # WGS84 equator
    assert north == pytest.approx(110574.28, abs=0.05)
    tile = read_hgt(_write_hgt(tmp_path / "N13E120.hgt", np.zeros((1201, 1201), np.int16)))
    dx, dy = dem_grid_metres(tile)
    spherical = 6371008.8 * math.pi / 180 / 1200
    assert dy == pytest.approx(spherical, rel=0.01)
    assert dx == pytest.approx(spherical * math.cos(math.radians(13.5)), rel=0.01)


# --------------------------------------------------------------------------- real tiles


def _tiles() -> Path:
    assert SRTM_DIR is not None
    return SRTM_DIR


@pytest.mark.parametrize(
    ("name", "lon", "lat", "half_km", "low", "high"),
    [
        ("taal", 120.99, 14.00, 3.0, 230.0, 340.0),  # Taal island ~311 m
        ("agung", 115.51, -8.34, 5.0, 2850.0, 3150.0),  # Agung 3031 m
        ("sakurajima", 130.66, 31.59, 5.0, 1000.0, 1200.0),  # Kita-dake 1117 m
        ("campi_flegrei", 14.14, 40.83, 5.0, 380.0, 520.0),  # Camaldoli ~458 m
    ],
)
def test_real_heights_at_the_volcanoes(name: str, lon: float, lat: float, half_km: float,
                                       low: float, high: float) -> None:
    # The packaged crops are real SRTM3 heights (monitor/data/dem/README.md).
    crop = crop_dem([packaged_dem(name)], lon, lat, half_km)
    assert low <= float(crop.height_m.max()) <= high


def test_taal_lake_is_flat_near_sea_level() -> None:
    crop = crop_dem([packaged_dem("taal")], 120.99, 14.00, 8.0)
    values, counts = np.unique(np.rint(crop.height_m), return_counts=True)
    lake_level = float(values[counts.argmax()])
    assert 0.0 <= lake_level <= 6.0  # Taal Lake ~3-5 m a.s.l.
    assert counts.max() > 0.2 * crop.height_m.size


@needs_tiles
def test_taal_mosaic_matches_every_tile_exactly() -> None:
    names = ("N13E120", "N13E121", "N14E120", "N14E121")
    tiles = [read_hgt(_tiles() / f"{t}.hgt") for t in names]
    crop = crop_dem(tiles, 120.99, 14.00, 16.7)
    west, south, east, north = crop.bounds
    assert west < 121.0 < east and south < 14.0 < north  # crosses both tile edges
    for name in names:
        # Independent reader: raw samples of the tile at the crop's pixel centres.
        raw = np.fromfile(_tiles() / f"{name}.hgt", ">i2").reshape(1201, 1201)
        lat0, lon0 = int(name[1:3]), int(name[4:7])
        rows, cols = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]]
        lon, lat = crop.transform @ (cols + 0.5, rows + 0.5)
        tr = np.rint((lat0 + 1 - lat) * 1200).astype(int)
        tc = np.rint((lon - lon0) * 1200).astype(int)
        inside = (tr >= 0) & (tr <= 1200) & (tc >= 0) & (tc <= 1200)
        samples = raw[tr[inside], tc[inside]]
        valid = samples != -32768
        assert valid.sum() > 1000
        np.testing.assert_array_equal(
            crop.height_m[inside][valid], samples[valid].astype(np.float32)
        )
        assert not crop.filled_mask[inside][valid].any()
    # Across the seams the surface is as smooth as elsewhere (no step, no duplicated row).
    r, c = crop.rowcol(121.0 + 1e-6, 14.0 - 1e-6)
    steps = np.abs(np.diff(crop.height_m.astype(np.float64), axis=0))
    assert steps[r - 1].mean() < 3 * steps.mean() and steps[r - 1].mean() > 0
    steps_x = np.abs(np.diff(crop.height_m.astype(np.float64), axis=1))
    assert steps_x[:, c - 1].mean() < 3 * steps_x.mean() and steps_x[:, c - 1].mean() > 0


# --------------------------------------------------------------------------- packaged crops


def test_packaged_dems_load() -> None:
    expected = {"taal": 943.0, "campi_flegrei": 459.0, "agung": 2995.0, "sakurajima": 1216.0}
    assert set(expected) <= set(packaged_dem_names())
    for name, peak in expected.items():
        tile = packaged_dem(name)
        assert tile.crs == "EPSG:4326" and tile.source == f"packaged:{name}"
        assert tile.height_m.dtype == np.float32 and np.isfinite(tile.height_m).all()
        assert float(tile.height_m.max()) == pytest.approx(peak, abs=1.0)
        dx, dy = dem_grid_metres(tile)
        assert 60.0 < dx < 95.0 and 90.0 < dy < 95.0
        assert 0.29 < tile.bounds[3] - tile.bounds[1] < 0.31


def test_packaged_dem_unknown_name_lists_available() -> None:
    with pytest.raises(InputError, match=r"etna.*agung.*taal"):
        packaged_dem("etna")


@needs_tiles
def test_packaged_taal_equals_a_fresh_crop() -> None:
    tiles = [
        read_hgt(_tiles() / f"{t}.hgt") for t in ("N13E120", "N13E121", "N14E120", "N14E121")
    ]
    fresh = crop_dem(tiles, 120.99, 14.00, 16.7)
    shipped = packaged_dem("taal")
    assert shipped.transform.almost_equals(fresh.transform)
    np.testing.assert_allclose(shipped.height_m, fresh.height_m, atol=0.5)
