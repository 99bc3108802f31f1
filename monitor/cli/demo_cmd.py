"""``insar-monitor demo``: the whole chain on embedded defaults, no download needed.

Today (step 1) it draws a synthetic LiCSAR-layout archive of Campi Flegrei (real SRTM
relief, deformation starting mid-series), reads it back through the raster readers,
builds the daisy-chain cumulative series and renders a quicklook figure.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np

from monitor.io.licsar import FrameLayout
from monitor.io.rasters import read_raster
from monitor.io.synth_archive import write_synthetic_archive
from monitor.quicklook import series_figure
from monitor.science.geometry import SENTINEL1, phase_to_displacement
from monitor.science.synth_series import SeriesScenario


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the demo on embedded defaults")
    parser.add_argument("--out", default="demo-out", help="output directory")
    parser.add_argument("--seed", type=int, default=2)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=30, interval_days=12,
                              onset=date(2024, 6, 16), rate_m_per_yr=0.12)
    frame = "022D_04826_121209"
    summary = write_synthetic_archive(out / "archive", scenario=scenario, frame=frame,
                                      volcano="campi_flegrei", size_px=200, seed=args.seed)
    layout = FrameLayout(out / "archive", frame)
    pairs = layout.pairs()
    dem = read_raster(layout.metadata_raster("hgt")).data
    cum = np.zeros(summary.shape, np.float32)
    series = [cum.copy()]
    for d1, d2 in pairs:
        ifg = phase_to_displacement(layout.read_unw(d1, d2).data, SENTINEL1)
        cum = cum + ifg
        series.append(cum.copy())
    stack = np.stack(series)
    epochs = [pairs[0][0]] + [p[1] for p in pairs]
    truth = json.loads((out / "archive" / f"{frame}.synth_truth.json").read_text())
    png = series_figure(out / "demo.png", dem=dem, stack_m=stack, epochs=epochs,
                        truth_peak_m=truth["peak_los_m"], onset=summary.onset,
                        centre_rc=tuple(truth["centre_pixel_rc"]),
                        title=f"Synthetic Campi Flegrei, frame {frame}")
    print(json.dumps({"archive": str(layout.frame_dir), "epochs": len(epochs),
                      "interferograms": len(pairs), "figure": str(png),
                      "final_cumulative_peak_m": round(float(np.nanmax(stack[-1])), 4)}))
    return 0
