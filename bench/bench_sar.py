"""Benchmark: a simulated ALOS-2-like SLC pair to a geocoded, unwrapped interferogram.

Goal (issue 18): a 4,000 x 4,000 pair on 2 cores, time per stage and peak memory. The
pair is simulated (monitor.science.sar.simulate: a 628 km orbit at 35 degrees, 300 m of
perpendicular baseline, a 0.4 x 0.35 pixel offset, a synthetic cone and a Mogi source,
coherence 0.85); its making is timed apart and not counted. The chain
(monitor.io.sar_chain.make_differential_interferogram) records the wall time of each of
its stages; the script prints their medians over the repeats, the peak memory during the
chain (RSS of this process plus its children, SNAPHU, sampled every 20 ms with psutil;
the RSS before the chain, which holds the simulated pair, is printed beside it), the
process's lifetime peak (ru_maxrss, the simulation's included) and the RMS error of the
LOS against the truth.

With ``--ceos DIR`` the pair goes through the files the watch gets instead: the scenes
are written as ALOS-2 L1.1 CEOS products under DIR (``monitor.io.ceos_write``; the cone is
written as an SRTM ``.hgt`` tile and the simulation uses that tile, so the chain's DEM is
the simulation's), the simulated arrays are freed, and the product maker of the tellus
archive (``monitor.io.palsar2_product.make_palsar2_product``) reads both scenes by a
lon/lat box (``read_slc``, memory-mapped), runs the chain and writes the geocoded
unwrapped phase and coherence GeoTIFFs and the provenance; the figures then include the
reading, DEM and writing stages, and the LOS error is measured on the geocoded grid
against the truth (interpolated from every 8th pixel).

Usage:
    python bench/bench_sar.py                         # 4000 x 4000, looks 4 x 4
    python bench/bench_sar.py --size 1000 --repeats 3
    python bench/bench_sar.py --ceos /tmp/alos2-bench  # through CEOS files and GeoTIFFs
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import statistics
import threading
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from monitor.io.ceos import LonLatBox  # noqa: E402
from monitor.io.ceos_write import crop_as_scene, write_ceos_product  # noqa: E402
from monitor.io.dem import read_hgt  # noqa: E402
from monitor.io.palsar2_product import ChainOptions, make_palsar2_product  # noqa: E402
from monitor.io.sar_chain import as_geodem, make_differential_interferogram  # noqa: E402
from monitor.science.sar.interferogram import multilook  # noqa: E402
from monitor.science.sar.simulate import simulate_pair  # noqa: E402


class PeakMemory:
    """Samples the RSS of this process and its children (MiB) in a thread."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self.peak_children_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                kids = sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                kids = 0
            rss = me.memory_info().rss
            self.peak_mib = max(self.peak_mib, (rss + kids) / 2**20)
            self.peak_children_mib = max(self.peak_children_mib, kids / 2**20)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="pixels per side")
    parser.add_argument("--looks", type=int, nargs=2, default=(4, 4), metavar=("AZ", "RG"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--azimuth-spacing", type=float, default=3.0,
                        help="azimuth pixel spacing, metres (ALOS-2 SM3 L1.1: about 3)")
    parser.add_argument("--range-spacing", type=float, default=4.3,
                        help="slant-range pixel spacing, metres (SM3 L1.1: 4.3)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--ceos", metavar="DIR",
                        help="go through CEOS files written under DIR and the product "
                             "GeoTIFFs (the watch's path)")
    parser.add_argument("--spacing-deg", type=float, default=0.00027,
                        help="geocoded spacing with --ceos, degrees (about the multilooked "
                             "ground pixel of 4 x 4 SM3 looks)")
    args = parser.parse_args()
    if args.ceos:
        ceos_bench(args)
        return

    t = time.perf_counter()
    extent_m = args.size * max(args.azimuth_spacing, args.range_spacing * 1.7)
    pair = simulate_pair(
        np.random.default_rng(2024), (args.size, args.size),
        azimuth_spacing_m=args.azimuth_spacing, range_spacing_m=args.range_spacing,
        coherence=0.85, cone_height_m=700.0, cone_radius_m=0.4 * extent_m,
        source_dvolume_m3=2e7 * (extent_m / 12_000.0) ** 3, source_depth_m=0.25 * extent_m,
        geometry_step=8)
    sim_s = time.perf_counter() - t
    rss_after_sim = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"simulated {args.size} x {args.size} pair in {sim_s:.1f} s "
          f"(peak RSS so far {rss_after_sim:.0f} MiB)", flush=True)

    stages: dict[str, list[float]] = {}
    totals = []
    rms_mm = float("nan")
    rss_before = psutil.Process().memory_info().rss / 2**20
    peaks, snaphu_peaks = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        with PeakMemory() as mem:
            result = make_differential_interferogram(pair.primary, pair.secondary,
                                                     dem=pair.dem, looks=tuple(args.looks))
        totals.append(time.perf_counter() - t)
        peaks.append(mem.peak_mib)
        snaphu_peaks.append(mem.peak_children_mib)
        stage_s = result.provenance["stage_s"]
        assert isinstance(stage_s, dict)
        for name, value in stage_s.items():
            stages.setdefault(name, []).append(float(value))
        truth = multilook(pair.los_m.astype(np.float64), tuple(args.looks))
        los = result.radar.los_m
        ok = np.isfinite(los)
        diff = los[ok] - truth[ok]
        rms_mm = 1e3 * float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))
    figures = {
        "size": args.size, "looks": list(args.looks), "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "simulation_s": round(sim_s, 1),
        "stage_median_s": {k: round(statistics.median(v), 2) for k, v in stages.items()},
        "total_median_s": round(statistics.median(totals), 1),
        "rss_before_chain_mib": round(rss_before),
        "chain_peak_rss_mib": round(max(peaks)),
        "chain_peak_above_inputs_mib": round(max(peaks) - rss_before),
        "snaphu_peak_rss_mib": round(max(snaphu_peaks)),
        "lifetime_peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
        "multilooked_shape": list(result.radar.ifg.shape),
        "geocoded_shape": list(result.los_m.shape),
        "los_rms_error_mm": round(rms_mm, 2),
        "coherent_fraction": result.provenance["coherent_fraction"],
        "offsets_fitted": result.provenance["offsets_fitted"],
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


#: Centre of the --ceos scene: the middle of SRTM tile N13E120, which holds its cone.
_CENTRE = (120.5, 13.5)


def _cone_tile(folder: str, height_m: float, radius_m: float) -> str:
    """The cone of the simulation as the SRTM3 tile N13E120.hgt (int16 metres)."""
    os.makedirs(folder, exist_ok=True)
    k = np.arange(1201)
    lon, lat = 120 + k / 1200, 14 - k / 1200
    r = np.hypot((lon[None, :] - _CENTRE[0]) * 111_320.0 * math.cos(math.radians(_CENTRE[1])),
                 (lat[:, None] - _CENTRE[1]) * 111_132.0)
    path = os.path.join(folder, "N13E120.hgt")
    np.rint(height_m * np.clip(1 - r / radius_m, 0, None) ** 1.5).astype(">i2").tofile(path)
    return path


def ceos_bench(args: argparse.Namespace) -> None:
    """The pair through CEOS files on disk to the product GeoTIFFs (``--ceos``)."""
    root = args.ceos
    t = time.perf_counter()
    extent_m = args.size * max(args.azimuth_spacing, args.range_spacing * 1.7)
    dem_dir = os.path.join(root, "dem")
    dem = as_geodem(read_hgt(_cone_tile(dem_dir, 700.0, 0.4 * extent_m)))
    pair = simulate_pair(
        np.random.default_rng(2024), (args.size, args.size), centre_lonlat=_CENTRE,
        azimuth_spacing_m=args.azimuth_spacing, range_spacing_m=args.range_spacing,
        coherence=0.85, dem=dem, source_dvolume_m3=2e7 * (extent_m / 12_000.0) ** 3,
        source_depth_m=0.25 * extent_m, geometry_step=8)
    sim_s = time.perf_counter() - t
    t = time.perf_counter()
    dirs = []
    for scene, sid in ((pair.primary, "ALOS2300010270-200101"),
                       (pair.secondary, "ALOS2300430270-200212")):
        dirs.append(write_ceos_product(crop_as_scene(scene, sid),
                                       os.path.join(root, sid)).directory)
    write_s = time.perf_counter() - t
    image_bytes = sum(os.path.getsize(p) for d in dirs for p in d.iterdir())
    step = 8
    lon = pair.lon_deg[::step, ::step].ravel()
    lat = pair.lat_deg[::step, ::step].ravel()
    truth = pair.los_m[::step, ::step].ravel().astype(np.float64)
    box = LonLatBox(float(np.percentile(lon, 1)), float(np.percentile(lat, 1)),
                    float(np.percentile(lon, 99)), float(np.percentile(lat, 99)))
    del pair, dem
    gc.collect()
    print(f"simulated {args.size} x {args.size} pair in {sim_s:.1f} s, wrote the CEOS "
          f"products ({image_bytes / 2**20:.0f} MiB) in {write_s:.1f} s", flush=True)

    import rasterio
    from scipy.interpolate import LinearNDInterpolator

    options = ChainOptions(looks=tuple(args.looks), spacing_deg=args.spacing_deg,
                           dem_dir=dem_dir)
    stages: dict[str, list[float]] = {}
    totals, peaks, snaphu_peaks = [], [], []
    rss_before = psutil.Process().memory_info().rss / 2**20
    made = None
    for k in range(args.repeats):
        t = time.perf_counter()
        with PeakMemory() as mem:
            made = make_palsar2_product(dirs[0], dirs[1], os.path.join(root, f"out{k}"),
                                        box=box, options=options)
        totals.append(time.perf_counter() - t)
        peaks.append(mem.peak_mib)
        snaphu_peaks.append(mem.peak_children_mib)
        stage_s = made.provenance["stage_s"]
        assert isinstance(stage_s, dict)
        for name, value in stage_s.items():
            stages.setdefault(name, []).append(float(value))
    assert made is not None
    with rasterio.open(made.unw_path) as src:
        unw, tr, tags = src.read(1), src.transform, src.tags()
    los = -float(tags["WAVELENGTH_M"]) / (4 * math.pi) * unw
    gy, gx = los.shape
    glon, glat = np.meshgrid(tr.c + (np.arange(gx) + 0.5) * tr.a,
                             tr.f + (np.arange(gy) + 0.5) * tr.e)
    expected = LinearNDInterpolator(np.c_[lon, lat], truth)(glon, glat)
    ok = np.isfinite(los) & np.isfinite(expected)
    diff = los[ok] - expected[ok]
    chain = made.provenance["chain"]
    assert isinstance(chain, dict)
    figures = {
        "size": args.size, "looks": list(args.looks), "repeats": args.repeats,
        "cpus": os.cpu_count(), "through": "CEOS files and product GeoTIFFs",
        "simulation_s": round(sim_s, 1), "write_ceos_s": round(write_s, 1),
        "ceos_mib": round(image_bytes / 2**20),
        "stage_median_s": {k: round(statistics.median(v), 2) for k, v in stages.items()},
        "total_median_s": round(statistics.median(totals), 1),
        "rss_before_mib": round(rss_before),
        "peak_rss_mib": round(max(peaks)),
        "peak_above_start_mib": round(max(peaks) - rss_before),
        "snaphu_peak_rss_mib": round(max(snaphu_peaks)),
        "crop": chain["crop_primary"], "geocoded_shape": [gy, gx],
        "los_rms_error_mm": round(1e3 * float(np.sqrt(np.mean((diff - diff.mean()) ** 2))),
                                  2),
        "valid_fraction_of_truth": round(float(ok.sum() / np.isfinite(expected).sum()), 3),
        "dem": made.provenance["dem"],
    }
    print(json.dumps(figures, indent=2, default=str))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2, default=str)


if __name__ == "__main__":
    main()
