"""Benchmark: scoring a 500 x 500 map at 4 gains, dense compact path vs sliding AlexNet
(issue 3 goal: the dense compact path at least 20 times faster on 2 CPU cores).

Each path runs in its own subprocess, so that its peak resident memory (``ru_maxrss``;
tracemalloc does not see torch's allocations) is its own. The networks have RANDOM weights:
speed does not depend on the weights, only on which patches the Canny prefilter sends to
the network, and that depends on the image alone. The image is synthetic (seeded): a 5 cm
Gaussian uplift, smooth "atmospheric" noise of about 1 cm, 2 mm white noise and an
incoherent (NaN) disc; the script prints the fraction of patches tested at each gain.
``--all-patches`` turns the prefilter off (every patch goes to the network: worst case).

Paths:
    dense-compact    compact net (default widths), one pass per gain, raw fusion
    dense-calibrated the same with a calibration as the packaged model carries one: the
                     map's noise at 2 km, the gains it allows, Platt scaling of each gain
                     and of the fused map (the packaged detector's path)
    sliding-compact  the same net, patch by patch (to show what the dense pass saves)
    sliding-alexnet  AlexNet (torchvision widths), patch by patch, as the papers
    blocks           the block detector (monitor.science.detect.blocks, random weights):
                     650 m block means (pixels of 100 m), 20 km windows every 10 km

Usage:
    python bench/bench_detect.py                     # 2 threads, all three paths
    python bench/bench_detect.py --threads 1 --paths dense-compact,sliding-alexnet
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

PATHS = ("dense-compact", "dense-calibrated", "sliding-compact", "sliding-alexnet", "blocks")
GAINS = (1.0, 2.0, 4.0, 8.0)


def make_scene(size: int, seed: int) -> np.ndarray:
    """Synthetic LOS displacement, metres, (size, size), NaN = incoherent."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    d = 0.05 * np.exp(-((yy - 0.45 * size) ** 2 + (xx - 0.55 * size) ** 2) / (2 * 30.0**2))
    smooth = ndimage.gaussian_filter(rng.standard_normal((size, size)), 25.0)
    d = d + 0.01 * smooth / smooth.std() + 0.002 * rng.standard_normal((size, size))
    d[(yy - 0.8 * size) ** 2 + (xx - 0.2 * size) ** 2 < (0.08 * size) ** 2] = np.nan
    return d.astype(np.float32)


def _blocks_worker(scene: np.ndarray, repeats: int) -> dict[str, object]:
    from monitor.science.detect.blocks import BlockCalibration, BlockDetector, BlockNet

    net = BlockNet()
    detector = BlockDetector(net, BlockCalibration(0.0, 1.0), (100.0, 100.0))
    detector.detect(scene[:224, :224])  # warm-up
    rss_ready_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        det = detector.detect(scene)
        times.append(time.perf_counter() - t0)
        assert det.prob_map.shape == scene.shape
    return {
        "path": "blocks", "seconds_per_map": float(np.median(times)),
        "maps_per_s": 1.0 / float(np.median(times)), "repeats": repeats,
        "patches_per_gain": len(detector.window_logits(scene)),
        "tested_fraction_by_gain": {},
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_warmup_mib": rss_ready_mib,
    }


def worker(path: str, size: int, repeats: int, threads: int, all_patches: bool,
           seed: int) -> dict[str, object]:
    """Run one path in this process; return its figures."""
    import torch

    from monitor.science.detect.calibration import Calibration, PlattScaling
    from monitor.science.detect.fusion import detect_displacement
    from monitor.science.detect.inference import probability_map
    from monitor.science.detect.patching import PatchConfig, patch_grid, prefilter_patches
    from monitor.science.detect.registry import build_model
    from monitor.science.geometry import rewrap

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    scene = make_scene(size, seed)
    if path == "blocks":
        return _blocks_worker(scene, repeats)
    arch = "alexnet" if path.endswith("alexnet") else "compact"
    method = "dense" if path.startswith("dense") else "sliding"
    model = build_model(arch).eval()
    calibration = (Calibration({g: PlattScaling(1.2, -0.3) for g in GAINS},
                               fused=PlattScaling(1.1, -0.1))
                   if path == "dense-calibrated" else None)
    config = PatchConfig(min_edge_pixels=0 if all_patches else 1)
    grid = patch_grid(size, size, config)
    tested = {g: float(prefilter_patches(rewrap(scene, g), grid, config).mean())
              for g in GAINS}
    probability_map(model, rewrap(scene[:224, :224], 1.0), method=method)  # warm-up
    rss_ready_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def one_map() -> float:
        t0 = time.perf_counter()
        det = detect_displacement(model, scene, gains=GAINS, method=method, config=config,
                                  calibration=calibration)
        seconds = time.perf_counter() - t0
        assert det.prob_map.shape == (size, size)
        return seconds

    times = [one_map() for _ in range(repeats)]
    return {
        "path": path,
        "seconds_per_map": float(np.median(times)),
        "maps_per_s": 1.0 / float(np.median(times)),
        "repeats": repeats,
        "patches_per_gain": grid.n_rows * grid.n_cols,
        "tested_fraction_by_gain": tested,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_warmup_mib": rss_ready_mib,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="image side, pixels")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per path")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated paths")
    parser.add_argument("--repeats-dense", type=int, default=5,
                        help="timed maps for the compact paths (median reported)")
    parser.add_argument("--repeats-alexnet", type=int, default=1,
                        help="timed maps for the AlexNet path")
    parser.add_argument("--all-patches", action="store_true",
                        help="turn the Canny prefilter off (every patch is scored)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        repeats = args.repeats_alexnet if args.worker.endswith("alexnet") else args.repeats_dense
        figures = worker(args.worker, args.size, repeats, args.threads, args.all_patches,
                         args.seed)
        print(json.dumps(figures))
        return 0

    import torch

    load = os.getloadavg()
    print(f"bench_detect: {args.size} x {args.size} map, gains {GAINS}, {args.threads} "
          f"torch thread(s), {os.cpu_count()} CPUs, load average {load[0]:.2f} at start, "
          f"torch {torch.__version__}, prefilter {'off' if args.all_patches else 'on'}; "
          f"random weights")
    results = {}
    for path in args.paths.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", path,
               "--size", str(args.size), "--threads", str(args.threads),
               "--repeats-dense", str(args.repeats_dense),
               "--repeats-alexnet", str(args.repeats_alexnet), "--seed", str(args.seed)]
        if args.all_patches:
            cmd.append("--all-patches")
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{path}: failed\n{out.stderr}", file=sys.stderr)
            return 1
        fig = json.loads(out.stdout.strip().splitlines()[-1])
        results[path] = fig
        tested = ", ".join(f"{float(g):g}: {f:.2f}"
                           for g, f in fig["tested_fraction_by_gain"].items())
        print(f"{path:16s} {fig['seconds_per_map']:8.3f} s/map  {fig['maps_per_s']:8.3f} "
              f"maps/s  peak RSS {fig['peak_rss_mib']:7.1f} MiB (after warm-up "
              f"{fig['rss_after_warmup_mib']:.1f})  {fig['parameters']:,} params  "
              f"{fig['patches_per_gain']} patches/gain, tested by gain {{{tested}}}")
    if "dense-compact" in results and "sliding-alexnet" in results:
        ratio = (results["sliding-alexnet"]["seconds_per_map"]
                 / results["dense-compact"]["seconds_per_map"])
        print(f"speed-up dense-compact vs sliding-alexnet: {ratio:.1f}x (goal >= 20x)")
    if "dense-calibrated" in results and "sliding-alexnet" in results:
        ratio = (results["sliding-alexnet"]["seconds_per_map"]
                 / results["dense-calibrated"]["seconds_per_map"])
        print(f"speed-up dense-calibrated vs sliding-alexnet: {ratio:.1f}x")
    if "dense-compact" in results and "dense-calibrated" in results:
        ratio = (results["dense-calibrated"]["seconds_per_map"]
                 / results["dense-compact"]["seconds_per_map"])
        print(f"dense-calibrated / dense-compact time: {ratio:.2f}")
    if "dense-compact" in results and "sliding-compact" in results:
        ratio = (results["sliding-compact"]["seconds_per_map"]
                 / results["dense-compact"]["seconds_per_map"])
        print(f"speed-up dense-compact vs sliding-compact: {ratio:.1f}x")
    if "dense-calibrated" in results and "blocks" in results:
        ratio = (results["blocks"]["seconds_per_map"]
                 / results["dense-calibrated"]["seconds_per_map"])
        print(f"blocks / dense-calibrated time: {ratio:.2f}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
