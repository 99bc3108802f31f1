from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from monitor.errors import RasterError
from monitor.io.raster_header import read_header
from monitor.io.rasters import read_raster, write_raster

#: A GeoTIFF whose geokeys hold bytes that are not UTF-8 (found by the coverage-guided
#: fuzzing of ``bench/fuzz_atheris.py raster``): rasterio raises UnicodeDecodeError
#: reading its CRS.
BAD_GEOKEYS_TIFF = base64.b64decode(
    "SUkqAAgAAAASAAABAwABAAAACAAAAAEBAwABAAAACAAAAAIBAwABAAAAIAAAAAMBAwABAAAACAAA"
    "AAYBAwABAAAAAQAAABEBBAABAAAAhgEAABUBAwABAAAAAQAAABYBAwABAAAACAAAABcBBAABAAAA"
    "hwAAABwBAwABAAAAAQAAAD0BAwABAAAAAQAAAFMBAwABAAAAAwAAAA6DDAADAAAA5gAAAIKEDAAG"
    "AAAA/gAAAK+HAwAgAAAALgEAALCHDAACAAAAbgEAALGHAgAIAAAAeQEAAIGkAgAEAAAAbmFuAAAA"
    "AAD8qfHSTWJQP/yp8dJNYlA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABe"
    "QAAAAAAAACxAAAAAAAAAAAABAAEAAAAHAAAEAAABAAL7AQQAAAEAAQAACAAAAQDmEAEIsYcHAAAA"
    "BggAAAEAjiMJCLCHAQABAAsIsIcBAAAAiG10lh2kckAAAABAplRYQVdHUyA4NHwAeJwdxBEQwmAA"
    "huEfgiAIgiAIgiAIgqC7VhcEwSAIgkEQBIMgCIZhGA7DMByGYTgMw7Dn+u573vBfNpbIycgpKAmT"
    "EOq06RMRk5CSceLMhZwrN+4UPHjyouTNhy9hGkKFKjXqNGjSok2HLj36DBgyImLGnAUxS1asSdiw"
    "ZUfKAAAAAADbmyjY"
)

TRANSFORM = from_origin(120.9, 14.1, 0.001, 0.001)


def test_geotiff_round_trip_keeps_georeference_and_nan(tmp_path: Path,
                                                      rng: np.random.Generator) -> None:
    data = rng.normal(size=(40, 60)).astype(np.float32)
    data[3:7, 10:20] = np.nan
    path = write_raster(tmp_path / "a.tif", data, crs="EPSG:4326", transform=TRANSFORM)
    r = read_raster(path)
    assert r.crs == "EPSG:4326"
    assert r.transform == TRANSFORM
    assert r.data.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(r.data), np.isnan(data))
    np.testing.assert_array_equal(r.data[~np.isnan(data)], data[~np.isnan(data)])
    lon, lat = r.lonlat(0, 0)
    assert lon == pytest.approx(120.9005) and lat == pytest.approx(14.0995)


def test_uint8_with_nodata_becomes_nan(tmp_path: Path) -> None:
    data = np.full((5, 5), 200.0)
    data[0, 0] = np.nan
    path = write_raster(tmp_path / "cc.tif", data, dtype="uint8", nodata=0,
                        crs="EPSG:4326", transform=TRANSFORM)
    r = read_raster(path)
    assert np.isnan(r.data[0, 0]) and r.data[1, 1] == 200


def test_zero_is_nodata_option(tmp_path: Path) -> None:
    data = np.ones((4, 4), np.float32)
    data[1, 1] = 0
    path = write_raster(tmp_path / "unw.tif", data)
    assert read_raster(path).data[1, 1] == 0
    assert np.isnan(read_raster(path, zero_is_nodata=True).data[1, 1])


def test_npy_round_trip(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float64).reshape(3, 4)
    path = write_raster(tmp_path / "a.npy", data)
    r = read_raster(path)
    assert r.data.dtype == np.float32 and r.crs is None and not r.georeferenced
    np.testing.assert_array_equal(r.data, data)


def test_not_a_raster(tmp_path: Path) -> None:
    bad = tmp_path / "notes.tif"
    bad.write_text("this is not a GeoTIFF")
    with pytest.raises(RasterError, match="notes.tif: not a readable raster"):
        read_raster(bad)
    badnpy = tmp_path / "x.npy"
    badnpy.write_bytes(b"\x00\x01garbage")
    with pytest.raises(RasterError, match="x.npy"):
        read_raster(badnpy)
    geokeys = tmp_path / "geokeys.tif"
    geokeys.write_bytes(BAD_GEOKEYS_TIFF)
    with pytest.raises(RasterError, match="geokeys.tif: not a readable raster"):
        read_raster(geokeys, max_pixels=1_000_000)
    with pytest.raises(RasterError, match="geokeys.tif: not a readable raster"):
        read_header(geokeys)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RasterError, match="no such file"):
        read_raster(tmp_path / "missing.tif")
    with pytest.raises(RasterError, match="directory"):
        read_raster(tmp_path)


def test_wrong_band_count(tmp_path: Path) -> None:
    path = tmp_path / "rgb.tif"
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=3,
                       dtype="float32", crs="EPSG:4326", transform=TRANSFORM) as dst:
        dst.write(np.ones((3, 4, 4), np.float32))
    with pytest.raises(RasterError, match="single-band.*3 bands"):
        read_raster(path)
    np.save(tmp_path / "cube.npy", np.ones((3, 4, 4)))
    with pytest.raises(RasterError, match="2-D"):
        read_raster(tmp_path / "cube.npy")


def test_absurd_size_refused(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "big.tif", np.ones((100, 100), np.float32))
    with pytest.raises(RasterError, match="10,000 pixels, above the limit of 9,999"):
        read_raster(path, max_pixels=9_999)
    assert read_raster(path, max_pixels=10_000).shape == (100, 100)


def test_no_finite_values(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "nan.tif", np.full((5, 5), np.nan, np.float32))
    with pytest.raises(RasterError, match="no finite value"):
        read_raster(path)
    assert read_raster(path, require_finite=False).shape == (5, 5)


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(RasterError, match="2-D"):
        write_raster(tmp_path / "a.tif", np.ones(5))
    with pytest.raises(RasterError, match="nodata"):
        write_raster(tmp_path / "a.tif", np.full((2, 2), np.nan), dtype="uint8")
    with pytest.raises(RasterError, match="suffix"):
        write_raster(tmp_path / "a.png", np.ones((2, 2)))
