"""Benchmark the synthetic interferogram generator (issue: Step 1).

Prints the median time of one D+S+T sample (default 500 x 500 pixels at 100 m), per
source kind and over the mix of Anantrasirichai et al. (2019a), and the wall time of
writing a training set (default 10,000 samples of 224 x 224 with ``--workers`` processes).

    .venv/bin/python bench/bench_synth.py                 # both parts
    .venv/bin/python bench/bench_synth.py --dataset-n 0   # sample timing only
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from monitor.io.datasets import write_dataset
from monitor.science.atmosphere import turbulent_delay
from monitor.science.dem import synthetic_dem
from monitor.science.synth import SOURCE_KINDS, SynthRecipe, make_sample


def time_samples(recipe: SynthRecipe, n: int, pool: list[np.ndarray] | None) -> list[float]:
    times = []
    for i in range(n):
        rng = np.random.default_rng([99, i])
        t0 = time.perf_counter()
        make_sample(rng, recipe, "2class", 1, pool)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--pixel-m", type=float, default=100.0)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--dataset-n", type=int, default=10_000)
    ap.add_argument("--dataset-size", type=int, default=224)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    recipe = SynthRecipe(shape=(args.size, args.size), pixel_m=args.pixel_m)
    rng = np.random.default_rng(0)
    pool = [synthetic_dem(recipe.shape, recipe.pixel_m, k, rng)
            for k in ("stratovolcano", "shield", "caldera") for _ in range(4)]
    # Warm the circulant-embedding cache for every length on the generator's 500 m grid
    # (29 lengths for 4-18 km): a dataset writer pays this once per process.
    lo, hi = recipe.turbulent_length_m
    for length in np.arange(np.ceil(lo / 500) * 500, hi + 1, 500.0):
        turbulent_delay(recipe.shape, recipe.pixel_m, 0.001, float(length), rng)
    time_samples(recipe, 5, pool)
    print(f"one D+S+T sample, {args.size} x {args.size} at {args.pixel_m:g} m "
          f"(median of {args.repeats}; DEM pool of {len(pool)})")
    for kind in SOURCE_KINDS:
        r = SynthRecipe(shape=recipe.shape, pixel_m=recipe.pixel_m, source_kinds=(kind,))
        t = time_samples(r, max(5, args.repeats // 4), pool)
        print(f"  {kind:12s} {1000 * statistics.median(t):7.1f} ms")
    t = time_samples(recipe, args.repeats, pool)
    print(f"  {'mix':12s} {1000 * statistics.median(t):7.1f} ms  "
          f"(p90 {1000 * float(np.percentile(t, 90)):.1f} ms)")
    t = time_samples(recipe, max(5, args.repeats // 4), None)
    print(f"  {'mix, new DEM':12s} {1000 * statistics.median(t):7.1f} ms  "
          "(a synthetic DEM drawn per sample)")

    if args.dataset_n > 0:
        out = Path(tempfile.mkdtemp(prefix="bench-synth-"))
        try:
            ds_recipe = SynthRecipe(shape=(args.dataset_size, args.dataset_size),
                                    pixel_m=args.pixel_m)
            t0 = time.perf_counter()
            write_dataset(out, n=args.dataset_n, recipe=ds_recipe, seed=0,
                          shard_size=500, workers=args.workers)
            wall = time.perf_counter() - t0
            size_mb = sum(p.stat().st_size for p in out.iterdir()) / 2**20
            print(f"training set: {args.dataset_n} samples of {args.dataset_size}^2, "
                  f"{args.workers} workers: {wall:.1f} s "
                  f"({1000 * wall / args.dataset_n:.1f} ms/sample, {size_mb:.0f} MiB)")
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
