"""Time the noise-model pieces of one synthetic interferogram sample.

Prints the median wall time (ms) over ``--repeats`` calls, after one warm-up call (which
fills the caches: circulant-embedding eigenvalues, spectral filters), for each function
the synthetic generator calls per sample on a ``--size`` x ``--size`` grid:

    .venv/bin/python bench/bench_atmosphere.py [--size 500] [--pixel-m 100] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from monitor.io.dem import dem_grid_metres, packaged_dem
from monitor.science.atmosphere import (
    draw_stratified_coefficients,
    stratified_delay,
    turbulent_delay,
    zenith_to_los,
)
from monitor.science.decorrelation import apply_decorrelation, coherence_map
from monitor.science.dem import resample_dem, synthetic_dem
from monitor.science.geometry import SENTINEL1_WAVELENGTH_M


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="grid side, pixels")
    parser.add_argument("--pixel-m", type=float, default=100.0, help="pixel spacing, metres")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per function")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shape = (args.size, args.size)
    px = args.pixel_m
    rng = np.random.default_rng(args.seed)
    dem = synthetic_dem(shape, px, "stratovolcano", rng)
    coeffs = draw_stratified_coefficients(rng, "strong")
    coh = coherence_map(shape, px, rng)
    disp = np.zeros(shape, dtype=np.float32)
    taal = packaged_dem("taal")
    taal_px = dem_grid_metres(taal)[::-1]
    m_per_rad = SENTINEL1_WAVELENGTH_M / (4 * np.pi)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("turbulent_delay L=8 km", lambda: turbulent_delay(shape, px, 0.0027, 8000.0, rng)),
        ("turbulent_delay L=18 km", lambda: turbulent_delay(shape, px, 0.0027, 18000.0, rng)),
        (
            "stratified_delay + zenith_to_los",
            lambda: zenith_to_los(
                stratified_delay(dem, coeffs.k1_m_per_m, coeffs.k2_m_per_m2), 0.6
            ),
        ),
        ("synthetic_dem stratovolcano", lambda: synthetic_dem(shape, px, "stratovolcano", rng)),
        ("synthetic_dem shield", lambda: synthetic_dem(shape, px, "shield", rng)),
        ("synthetic_dem caldera", lambda: synthetic_dem(shape, px, "caldera", rng)),
        ("resample packaged taal -> grid", lambda: resample_dem(taal.height_m, taal_px, px)),
        ("coherence_map", lambda: coherence_map(shape, px, rng)),
        (
            "coherence_map + dem + 5 patches",
            lambda: coherence_map(shape, px, rng, dem_m=dem, n_patches=5),
        ),
        (
            "apply_decorrelation (noise)",
            lambda: apply_decorrelation(disp, coh, rng=rng, units_per_rad=m_per_rad),
        ),
    ]
    print(f"grid {shape[0]} x {shape[1]} at {px:g} m, median of {args.repeats} calls")
    results = {}
    for name, fn in cases:
        results[name] = _median_ms(fn, args.repeats)
        print(f"  {name:36s} {results[name]:8.2f} ms")
    sample = (
        results["turbulent_delay L=8 km"]
        + results["stratified_delay + zenith_to_los"]
        + results["synthetic_dem stratovolcano"]
        + results["coherence_map"]
        + results["apply_decorrelation (noise)"]
    )
    print(f"  {'one sample (T + S + DEM + coherence)':36s} {sample:8.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
