"""Make the small DEM crops that the package ships in ``monitor/data/dem/``.

Reads SRTM3 ``.hgt`` tiles from a folder (``--src``), mosaics the tiles
each window needs, fills voids once over the mosaic, and writes a ~0.3 x 0.3 degree
window (+-16.7 km on the ground) around each volcano as an int16, deflate-compressed,
EPSG:4326 GeoTIFF ``<name>.tif``. Run from the repository root:

    .venv/bin/python scripts/make_dem_crops.py --src DIR [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from monitor.io.dem import crop_dem, read_hgt

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Crop:
    """One volcano window: name, centre (degrees) and the SRTM tiles it needs."""

    name: str
    lon: float
    lat: float
    tiles: tuple[str, ...]


CROPS = (
    Crop("taal", 120.99, 14.00, ("N13E120", "N13E121", "N14E120", "N14E121")),
    Crop("campi_flegrei", 14.14, 40.83, ("N40E013", "N40E014")),
    Crop("agung", 115.51, -8.34, ("S09E115",)),
    Crop("sakurajima", 130.66, 31.59, ("N31E130",)),
)
#: Half the window, km: 0.15 degree of latitude.
HALF_SIZE_KM = 16.7


def make_crops(src: Path, out: Path, half_size_km: float = HALF_SIZE_KM) -> list[Path]:
    """Write one GeoTIFF per entry of :data:`CROPS`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for crop in CROPS:
        tiles = [read_hgt(src / f"{t}.hgt") for t in crop.tiles]
        tile = crop_dem(tiles, crop.lon, crop.lat, half_size_km)
        data = np.rint(tile.height_m).astype(np.int16)
        path = out / f"{crop.name}.tif"
        profile = {
            "driver": "GTiff",
            "width": data.shape[1],
            "height": data.shape[0],
            "count": 1,
            "dtype": "int16",
            "crs": tile.crs,
            "transform": tile.transform,
            "compress": "deflate",
            "predictor": 2,
            "zlevel": 9,
        }
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(
                source="SRTM3 (public domain)",
                tiles=",".join(crop.tiles),
                centre_lon=str(crop.lon),
                centre_lat=str(crop.lat),
                half_size_km=str(half_size_km),
                voids_filled=str(int(tile.filled_mask.sum())),
                made_by="scripts/make_dem_crops.py",
            )
        written.append(path)
        print(
            f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
            f"{data.shape[0]} x {data.shape[1]}, {path.stat().st_size / 1024:.0f} kB, "
            f"heights {data.min()}..{data.max()} m, {int(tile.filled_mask.sum())} voids filled"
        )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--src",
        type=Path,
        required=True,
        help="folder holding the SRTM3 .hgt tiles",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "monitor" / "data" / "dem",
        help="folder to write <name>.tif into",
    )
    parser.add_argument("--half-size-km", type=float, default=HALF_SIZE_KM)
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        parser.error(f"--src {args.src} is not a folder of .hgt tiles")
    make_crops(args.src, args.out, args.half_size_km)
    return 0


if __name__ == "__main__":
    sys.exit(main())
