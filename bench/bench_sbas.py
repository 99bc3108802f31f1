"""Benchmark: SBAS inversion of a LiCSAR-like network (goal: 100 epochs, ~300 pairs,
500 x 500 pixels in under 30 s and under 4 GB).

The network pairs every epoch with its 3 next epochs (294 interferograms for 100 epochs).
The interferograms are exact differences of a random-walk truth plus optional noise; a
static incoherent disc (a lake) and, in a fraction of the interferograms, a random
decorrelated disc make the validity patterns realistic (a few hundred distinct patterns).
The script prints the median wall time of the inversion, the worst error against the truth,
the number of validity patterns, the process peak RSS and the tracemalloc peak during the
inversion.

Usage:
    python bench/bench_sbas.py                    # full size
    python bench/bench_sbas.py --size 100 --epochs 30 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import date, timedelta

import numpy as np

from monitor.science.network import nearest_neighbour_pairs
from monitor.science.timeseries import Interferogram, cumulative_series


def make_network(size: int, n_epochs: int, blob_fraction: float, noise_m: float,
                 random_nan: float, rng: np.random.Generator
                 ) -> tuple[list[Interferogram], np.ndarray]:
    epochs = [date(2020, 1, 1) + timedelta(days=12 * k) for k in range(n_epochs)]
    steps = rng.normal(0.0, 0.004, (n_epochs, size, size)).astype(np.float32)
    steps[0] = 0.0
    truth = np.cumsum(steps, axis=0, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    lake = (yy - 0.7 * size) ** 2 + (xx - 0.3 * size) ** 2 < (0.08 * size) ** 2
    index = {d: k for k, d in enumerate(epochs)}
    ifgs = []
    for d1, d2 in nearest_neighbour_pairs(epochs, 3):
        disp = truth[index[d2]] - truth[index[d1]]
        if noise_m > 0:
            disp = disp + rng.normal(0.0, noise_m, disp.shape).astype(np.float32)
        disp[lake] = np.nan
        if rng.random() < blob_fraction:
            cy, cx = rng.uniform(0, size, 2)
            radius = rng.uniform(0.05, 0.15) * size
            disp[(yy - cy) ** 2 + (xx - cx) ** 2 < radius ** 2] = np.nan
        if random_nan > 0:
            disp[rng.random(disp.shape) < random_nan] = np.nan
        ifgs.append(Interferogram(d1, d2, disp))
    return ifgs, truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="image side in pixels")
    parser.add_argument("--epochs", type=int, default=100, help="number of epochs")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--blob-fraction", type=float, default=0.1,
                        help="fraction of interferograms with a random decorrelated disc")
    parser.add_argument("--random-nan", type=float, default=0.0,
                        help="fraction of pixels set NaN at random in every interferogram "
                             "(worst case: almost every pixel gets its own pattern)")
    parser.add_argument("--noise-m", type=float, default=0.0, help="white noise per ifg, m")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    ifgs, truth = make_network(args.size, args.epochs, args.blob_fraction, args.noise_m,
                               args.random_nan, rng)
    times = []
    trace_peak = 0
    series = None
    for r in range(args.repeats):
        series = None
        if r == 0:
            tracemalloc.start()
        t0 = time.perf_counter()
        series = cumulative_series(ifgs, loop_closure=True)
        times.append(time.perf_counter() - t0)
        if r == 0:
            trace_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert series is not None
    err = np.nanmax(np.abs(series.displacement - truth))
    stack_valid = np.isfinite(np.stack([i.displacement_m.ravel() for i in ifgs]))
    packed = np.ascontiguousarray(np.packbits(stack_valid, axis=0).T)
    n_patterns = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel()).size
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    n_tri = len(series.loop_closure.triangles) if series.loop_closure else 0
    print(f"SBAS: {args.epochs} epochs, {len(ifgs)} interferograms, "
          f"{args.size}x{args.size} px, {n_patterns} validity patterns, {n_tri} triangles")
    print(f"  cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print(f"  wall time: median {statistics.median(times):.2f} s over {len(times)} runs "
          f"(all: {', '.join(f'{t:.2f}' for t in times)}); goal < 30 s at 500x500")
    print(f"  max |error| vs truth: {err:.2e} m; NaN fraction "
          f"{np.isnan(series.displacement).mean():.3f}")
    print(f"  peak RSS (whole process, inputs included): {rss_mb:.0f} MB; "
          f"tracemalloc peak during the inversion: {trace_peak / 2**20:.0f} MB; goal < 4096 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
