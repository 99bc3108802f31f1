"""Memory and time of decoding one product whole or through a target's crop (issue 17).

Writes a ``--size`` x ``--size`` LiCSAR-like pair (float32 phase, uint8 coherence, deflate,
0.001 degree pixels) once, then decodes it in a fresh interpreter per mode with the
watch's decoder (:func:`~monitor.archive.licsar_products.decode_licsar_product`): the
whole frame, and the window a target with ``crop_km`` (default 25) at the frame centre
reads. Prints one JSON line per mode: pixels decoded, seconds, and the peak resident
memory of the decoding above the process's memory after the imports (Linux: the peak is
reset through ``/proc/self/clear_refs`` and read as ``VmHWM``), MiB:

    .venv/bin/python bench/bench_crop_read.py [--size 3000] [--crop-km 25]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from rasterio.transform import from_origin

from monitor.io.rasters import write_raster

CHILD = r"""
import json, sys, time
from datetime import date
from monitor.archive.licsar_products import decode_licsar_product
from monitor.domain import FetchedProduct, ProductRef, RemoteFile
from monitor.io.raster_header import read_header
from monitor.science.crop import crop_window
from monitor.science.geometry import SENTINEL1
from monitor.service.frame_state import header_grid
unw, cc, mode, crop_km = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
grid = header_grid(read_header(unw))
window = None
if mode == "crop":
    lon, lat = grid.lonlat(grid.shape[0] / 2, grid.shape[1] / 2)
    window = crop_window(grid, lon, lat, crop_km, "bench")
ref = ProductRef("022D_04826_121209", date(2024, 1, 1), date(2024, 1, 13),
                 RemoteFile("file:///x", "x.geo.unw.tif", None, None), None)
def vm(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
base = vm("VmRSS")
t0 = time.perf_counter()
d = decode_licsar_product(FetchedProduct(ref, unw, cc, "0", {}), 50_000_000, SENTINEL1,
                          window=window)
dt = time.perf_counter() - t0
peak = vm("VmHWM")
print(json.dumps({"mode": mode, "pixels": int(d.displacement_m.size),
                  "shape": list(d.shape), "seconds": round(dt, 3),
                  "rss_growth_mib": round((peak - base) / 1024, 1),
                  "peak_rss_mib": round(peak / 1024, 1)}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--crop-km", type=float, default=25.0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        n = args.size
        y, x = np.mgrid[0:n, 0:n].astype(np.float32)
        phase = (np.sin(x / 97.0) + np.cos(y / 53.0)).astype(np.float32) + np.float32(3.0)
        cc = np.full((n, n), 200, np.uint8)
        georef = {"crs": "EPSG:4326", "transform": from_origin(119.0, 15.0, 0.001, 0.001)}
        unw = write_raster(Path(tmp) / "p.geo.unw.tif", phase, **georef)
        ccp = write_raster(Path(tmp) / "p.geo.cc.tif", cc, dtype="uint8", nodata=0, **georef)
        del phase, cc, x, y
        for mode in ("whole", "crop"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(unw), str(ccp), mode,
                                  str(args.crop_km)], capture_output=True, text=True,
                                 check=True)
            print(json.dumps({"size": n, "crop_km": args.crop_km,
                              **json.loads(out.stdout)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
