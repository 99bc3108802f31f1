"""Real quiet maps with nuisances no detector was trained on: how many are flagged?

The block detector was trained on real quiet increments of Erta Ale, which hold the
frame's atmosphere and processing residue but few unwrapping errors and no large orbital
ramps. This bench adds to every quiet pair of the held-out years (``--years``) one
nuisance at a time and counts the maps each detector flags at its own P > 0.5, all in
one run:

* ``none``: the maps as they are (the false-alarm rate of ``evaluate real``);
* ``unwrap cut``: one whole-fringe jump (half a wavelength, 2.77 cm) on the smaller side
  of a random curve across the clip (:func:`monitor.science.unwrapping.unwrapping_errors`);
* ``unwrap island``: one island of 5-25 px semi-axes offset by one fringe;
* ``orbital ramp``: a ramp of 3 cm peak to peak with a curved part of weight 0.3
  (:func:`monitor.science.orbital.orbital_ramp`).

Detectors: the packaged block detector (with the frame's heights), the packaged CNN
(calibrated fused P), the GLS Mogi filter (the frame's noise correlation and its
empirical threshold from the quiet pairs of the other years, as ``evaluate real``), the
peak-to-noise baseline, and each network confirmed by the GLS filter (flagged where both
flag, as the watch's ``[alerts] confirm``).

Run: ``python bench/bench_block_nuisances.py --archive DIR --frame F --events A:B
--years 2017,2018,2023,2024`` (about a minute on 2 cores). Without arguments it runs on the
small real crop the tests use (12 quiet pairs of 2016; the GLS filter then takes the
Bonferroni bound, one other quiet pair being too few for its empirical threshold), which
only shows it runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from real_frame_args import add_real_frame_arguments  # bench/, beside this script

from monitor.config import load_settings
from monitor.errors import InputError
from monitor.event_windows import in_years, parse_events, parse_years
from monitor.io.models import load_block_model, load_detector
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.baseline import PeakToNoiseDetector
from monitor.science.detect.blocks import BlockDetector
from monitor.science.detect.fusion import CnnDetector
from monitor.science.detect.gls_filter import GlsMogiFilter
from monitor.science.noise_covariance import block_factor, estimate_correlation
from monitor.science.orbital import orbital_ramp
from monitor.science.sensors import SENTINEL1
from monitor.science.unwrapping import unwrapping_errors

NUISANCES = ("none", "unwrap cut", "unwrap island", "orbital ramp")


def nuisance(kind: str, shape: tuple[int, int], pixel_m: float,
             rng: np.random.Generator) -> np.ndarray:
    """One draw of ``kind`` (LOS metres, ``shape``)."""
    if kind == "none":
        return np.zeros(shape, np.float32)
    if kind == "unwrap cut":
        return unwrapping_errors(shape, rng, SENTINEL1.wavelength_m, n_cuts=1)
    if kind == "unwrap island":
        return unwrapping_errors(shape, rng, SENTINEL1.wavelength_m, n_cuts=0, n_islands=1)
    return orbital_ramp(shape, pixel_m, 0.03, rng, quadratic_fraction=0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows A:B[,A:B]")
    ap.add_argument("--years", default="2016", help="the held-out years scored")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blocks", default=None, metavar="MODEL",
                    help="a block model file (default: the packaged one)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    settings = load_settings(None)
    bank = load_noise_bank(args.archive, args.frame, settings,
                           events=parse_events(args.events))
    grid, years = bank.grid, parse_years(args.years)
    test = [e.displacement_m for e in bank.epochs if in_years((e.date1, e.date2), years)]
    other = [e.displacement_m for e in bank.epochs if not in_years((e.date1, e.date2), years)]
    pixel = 0.5 * (grid.pixel_m[0] + grid.pixel_m[1])
    blocks = load_block_model(args.blocks)
    cnn_model = load_detector(None, None)
    cnn = CnnDetector(cnn_model.model, gains=tuple(settings.science.gains),
                      fringe_spacing_m=settings.science.fringe_spacing_m,
                      calibration=cnn_model.calibration, pixel_m=pixel)
    gls = GlsMogiFilter(grid.pixel_m, estimate_correlation(
        other, block_factor(grid.pixel_m, 650.0, grid.shape)), height_m=bank.dem)
    try:
        gls = gls.with_null_threshold(other)
    except InputError as err:  # too few other maps (the crop): the Gaussian bound
        print(f"GLS filter: the Bonferroni bound, not an empirical threshold ({err})")
    detectors: dict[str, Callable[[np.ndarray], bool]] = {
        "block network": BlockDetector(blocks.model, blocks.calibration, grid.pixel_m,
                                       bank.dem).detect,
        "packaged CNN": cnn.detect,
        "GLS Mogi filter": gls.detect,
        "baseline": PeakToNoiseDetector(grid.pixel_m).detect,
    }
    results: dict[str, dict[str, int]] = {}
    for kind in NUISANCES:
        rng = np.random.default_rng(args.seed)
        maps = [m + nuisance(kind, grid.shape, pixel, rng) for m in test]
        flags = {name: np.array([bool(det(m).flag) for m in maps])
                 for name, det in detectors.items()}
        # a network confirmed by the filter, as the watch's [alerts] confirm does
        for name in ("block network", "packaged CNN"):
            flags[f"{name}, confirmed by GLS"] = flags[name] & flags["GLS Mogi filter"]
        results[kind] = {name: int(f.sum()) for name, f in flags.items()}
        print(f"{kind:14s} " + "  ".join(f"{name} {k}/{len(maps)}"
                                         for name, k in results[kind].items()), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"frame": args.frame, "years": sorted(years or []),
                                         "n": len(test), "seed": args.seed,
                                         "block_model_sha256": blocks.sha256,
                                         "flagged": results}, indent=1))


if __name__ == "__main__":
    main()
