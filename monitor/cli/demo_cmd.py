"""``insar-monitor demo``: the whole chain on embedded defaults, no download needed.

It draws a synthetic LiCSAR-layout archive of Campi Flegrei (real SRTM relief, 30
Sentinel-1 epochs, uplift starting mid-series, atmosphere and decorrelation), reads it
back through the frame readers the watch uses, builds the cumulative series, scores every
epoch with the packaged CNN (gains 1, 2, 4, 8) and the LSTT against automatic reference
regions, prints one line per epoch and renders a quicklook figure.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from monitor.cli.detector_options import load_detector
from monitor.io.licsar_frame import open_frame, read_frame, read_grid
from monitor.io.synth_archive import KNOWN_VOLCANOES, write_synthetic_archive
from monitor.quicklook import series_figure
from monitor.science.synth_series import SeriesScenario
from monitor.series_scan import GroundDisc, ScoringOptions, prepare_series, score_epoch

FRAME = "022D_04826_121209"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the demo on embedded defaults")
    parser.add_argument("--out", default="demo-out", help="output directory")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--model", default=None, help="detector model (default: packaged)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=30, interval_days=12,
                              onset=date(2024, 6, 16), rate_m_per_yr=0.12)
    summary = write_synthetic_archive(out / "archive", scenario=scenario, frame=FRAME,
                                      volcano="campi_flegrei", size_px=200, seed=args.seed)
    loaded = load_detector(args.model, None)
    layout = open_frame(out / "archive", FRAME)
    grid, dem = read_grid(layout)
    products = read_frame(layout, grid, dem)
    lon, lat = KNOWN_VOLCANOES["campi_flegrei"]
    target = GroundDisc(lon, lat, 2.5)
    prepared = prepare_series(products, target, None)
    options = ScoringOptions(seed=args.seed)
    scores = []
    for epoch in products.listed_epochs:
        s = score_epoch(prepared, epoch, loaded.model, options)
        scores.append(s)
        print(json.dumps({"epoch": epoch.isoformat(), "cum_max_m": _r(s.cum_max_m),
                          "p_fused": _r(s.p_fused), "flag": s.flag, "lstt_p": _r(s.lstt_p)}))
    truth = json.loads((out / "archive" / f"{FRAME}.synth_truth.json").read_text())
    png = series_figure(out / "demo.png", dem=dem, stack_m=prepared.maps,
                        epochs=list(prepared.series.epochs), truth_peak_m=truth["peak_los_m"],
                        onset=summary.onset, target_mask=prepared.target_region.mask,
                        scores=scores, title=f"Synthetic Campi Flegrei, frame {FRAME}")
    first = next((s.epoch for s in scores if s.flag), None)
    print(json.dumps({"archive": str(layout.frame_dir), "epochs": len(scores),
                      "onset": summary.onset.isoformat() if summary.onset else None,
                      "first_flag": first.isoformat() if first else None,
                      "model": loaded.path, "figure": str(png)}))
    return 0


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)
