"""Benchmark: LSTT with 2 x 5,000 samples and 100 permutations (goal: under 1 s on 2 cores).

Prints the median wall time of the whole test (:func:`monitor.science.lstt.lstt`: pooled
standardisation, LOOCV over the sigma/lambda grid, observed split and the batch of
permutations), and compares the permutation phase with the straightforward loop that
refits uLSIF for every permutation (recomputing the kernels), on the same splits: the
ratio of their times and the largest difference of their PE values.

Usage:
    python bench/bench_lstt.py                     # 2 x 5,000 samples, 100 permutations
    python bench/bench_lstt.py --n 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from monitor.science import lstt


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="samples in each set")
    parser.add_argument("--dim", type=int, default=1, help="sample dimension (patch k*k)")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--centres", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs (median reported)")
    parser.add_argument("--loop-repeats", type=int, default=3, help="timed runs of the loop")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x_a = rng.normal(0.0, 1.0, (args.n, args.dim))
    x_b = rng.normal(0.1, 1.0, (args.n, args.dim))
    result = lstt.lstt(x_a, x_b, n_permutations=args.permutations, n_centres=args.centres,
                       rng=np.random.default_rng(args.seed))  # warm-up
    full, full_all = _median_time(
        lambda: lstt.lstt(x_a, x_b, n_permutations=args.permutations,
                          n_centres=args.centres, rng=np.random.default_rng(args.seed)),
        args.repeats)

    # permutation phase on identical inputs: batch against the per-permutation loop
    a, b, _, _ = lstt.standardise(x_a, x_b)
    pooled = np.concatenate([a, b])
    n = pooled.shape[0]
    centres = pooled[rng.choice(n, args.centres, replace=False)]
    kernel = lstt.gaussian_kernel(pooled, centres, result.sigma)
    splits = rng.permuted(np.broadcast_to(np.arange(n), (args.permutations, n)), axis=1)
    batch_t, _ = _median_time(
        lambda: lstt._permuted_pe(kernel, splits, args.n, result.lambda_), args.repeats)
    loop_t, _ = _median_time(
        lambda: lstt._permuted_pe_loop(pooled, centres, result.sigma, result.lambda_, splits,
                                       args.n), args.loop_repeats)
    batch = lstt._permuted_pe(kernel, splits, args.n, result.lambda_)
    loop = lstt._permuted_pe_loop(pooled, centres, result.sigma, result.lambda_, splits,
                                  args.n)

    print(f"LSTT: 2 x {args.n} samples of dimension {args.dim}, {args.permutations} "
          f"permutations, {args.centres} centres")
    print(f"  cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"numpy {np.__version__}")
    print(f"  whole test: median {full:.3f} s over {len(full_all)} runs "
          f"(min {min(full_all):.3f}, max {max(full_all):.3f}); goal < 1 s")
    print(f"  permutation phase: batch {batch_t:.3f} s, per-permutation loop {loop_t:.3f} s, "
          f"ratio {loop_t / batch_t:.1f}x")
    print(f"  whole test with the loop instead (estimate): {full - batch_t + loop_t:.3f} s, "
          f"ratio {(full - batch_t + loop_t) / full:.1f}x")
    print(f"  max |PE_batch - PE_loop| = {np.abs(batch - loop).max():.2e} "
          f"(PE spread over permutations: sd {np.std(loop):.2e})")
    print(f"  result: PE {result.pe:.4g}, p {result.p_value:.3f}, sigma {result.sigma:.3g}, "
          f"lambda {result.lambda_:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
