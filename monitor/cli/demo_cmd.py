"""``insar-monitor demo``: the whole watch on embedded defaults, no download needed.

It draws a synthetic LiCSAR-layout archive of a fictional volcano on the real relief of
Campi Flegrei (40 Sentinel-1 epochs 12 days apart, uplift starting mid-series, stratified
and turbulent atmosphere, decorrelation), then runs the watch daemon over it once with
its embedded defaults (SQLite database, dry-run e-mail into a folder, no network):
every product is fetched, validated, appended to the cumulative series, scored by the
packaged detector (``[science] detector``: the block detector on each epoch's newest
increment, or ``--model``) and by the LSTT, the alert policy runs and the e-mails
it would send are written, with the feeds it would publish (``feeds/``: CAP documents of
status ``Exercise``, ``atom.xml``, ``alerts.geojson``). It prints one line per epoch and
renders a quicklook.
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import date
from pathlib import Path

FRAME = "022D_04826_121209"
TARGET_ID = "demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the watch on embedded defaults")
    parser.add_argument("--out", default="demo-out", help="output directory")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--model", default=None, help="detector model (default: packaged)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from monitor.config import settings_from_mapping
    from monitor.figures.demo import series_figure
    from monitor.io.licsar_frame import open_frame
    from monitor.io.models import load_scoring_model
    from monitor.io.rasters import read_raster
    from monitor.io.synth_archive import KNOWN_VOLCANOES, write_synthetic_archive
    from monitor.science.synth_series import SeriesScenario
    from monitor.service.daemon import Daemon
    from monitor.service.feeds import publish_feeds
    from monitor.service.frame_state import grid_path, load_grid
    from monitor.service.scoring import target_discs
    from monitor.service.series_files import load_state, series_path
    from monitor.store.schema import upgrade

    out = Path(args.out).resolve()
    scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=40, interval_days=12,
                              onset=date(2024, 9, 2), rate_m_per_yr=0.08)
    summary = write_synthetic_archive(out / "archive", scenario=scenario, frame=FRAME,
                                      volcano="campi_flegrei", size_px=200, seed=args.seed,
                                      delays=("gacos",))
    lon, lat = KNOWN_VOLCANOES["campi_flegrei"]
    db = out / "monitor.db"
    db.unlink(missing_ok=True)
    shutil.rmtree(out / "series", ignore_errors=True)  # a rerun starts a fresh series
    shutil.rmtree(out / "feeds", ignore_errors=True)  # ... and fresh feeds
    settings = settings_from_mapping({
        "database": {"url": f"sqlite:///{db}"},
        "watch": {"series_dir": str(out / "series"), "cache_dir": str(out / "cache"),
                  "quicklook_dir": str(out / "quicklooks"), "jitter_s": 0},
        "email": {"mode": "dry-run", "outbox_dir": str(out / "outbox")},
        "metrics": {"enabled": False},
        "feeds": {"dir": str(out / "feeds"), "status": "Exercise"},
        "archives": {"local": {"kind": "local", "root": str(out / "archive")}},
        "targets": [{"id": TARGET_ID, "name": "Fictional volcano (Campi Flegrei relief)",
                     "lon": lon, "lat": lat, "radius_km": 2.5, "archive": "local",
                     "frames": [FRAME], "recipients": ["observatory@example.org"]}],
    }, "the demo's embedded defaults")
    upgrade(settings.database.url)
    loaded = load_scoring_model(args.model, None, settings.science.detector)
    daemon = Daemon(settings, "the demo's embedded defaults", model_loader=lambda: loaded)
    (outcome,) = daemon.run_once()
    report = outcome.report
    if report is None:
        raise RuntimeError(f"demo poll failed: {outcome.error}")
    print(f"{'epoch':10s}  {'cum max':>8s}  {'P fused':>7s}  {'LSTT p':>7s}  "
          f"{'P corr':>7s}  {'corrected by':12s}  level")
    for e in report.epochs:
        cum = "" if e.cum_max_m is None else f"{100 * e.cum_max_m:6.2f}cm"
        p = "" if e.p_fused is None else f"{e.p_fused:7.3f}"
        q = "" if e.lstt_p is None else f"{e.lstt_p:7.4f}"
        pc = "" if e.p_corrected is None else f"{e.p_corrected:7.3f}"
        print(f"{e.epoch.isoformat():10s}  {cum:>8s}  {p:>7s}  {q:>7s}  {pc:>7s}  "
              f"{e.correction or '':12s}  {e.level.name.lower()}")

    # The daemon published the feeds after its poll, logging any failure; publishing again
    # changes no byte and raises what went wrong.
    feeds = publish_feeds(daemon.prepare().store, settings, None, outcome.started_at)

    # The quicklook, from what the watch stored: the last cumulative map and the scores.
    state = load_state(series_path(settings.watch.series_dir, TARGET_ID, FRAME))
    grid = load_grid(grid_path(series_path(settings.watch.series_dir, TARGET_ID, FRAME)))
    if state is None:
        raise RuntimeError("demo: the watch wrote no series file")
    _, mask = grid.disc_mask(target_discs(settings.targets[0])[0], "target")
    dem = read_raster(open_frame(out / "archive", FRAME).metadata_raster("hgt")).data
    truth = json.loads((out / "archive" / f"{FRAME}.synth_truth.json").read_text())
    levels = [e for e in report.epochs if e.level.value > 0]
    png = series_figure(
        out / "demo.png", dem=dem, last_map_m=state.image,
        epochs=[e.epoch for e in report.epochs], peak_m=[e.cum_max_m for e in report.epochs],
        truth_peak_m=truth["peak_los_m"], onset=summary.onset, target_mask=mask,
        p_fused=[e.p_fused for e in report.epochs], lstt_p=[e.lstt_p for e in report.epochs],
        alert_from=levels[0].epoch if levels else None,
        p_label=("block detector P (newest step)" if loaded.arch == "blocks"
                 else "CNN fused P"),
        title=f"Synthetic volcano on Campi Flegrei relief, frame {FRAME}")
    print(json.dumps({
        "epochs": len(report.epochs), "ingested": report.ingested, "scored": report.scored,
        "onset": summary.onset.isoformat() if summary.onset else None,
        "alerts_raised": report.alerts_raised,
        "first_alert_epoch": levels[0].epoch.isoformat() if levels else None,
        "emails": sorted(p.name for p in (out / "outbox").glob("*.eml")),
        "feeds": {"dir": str(feeds.out_dir), "cap": [p.name for p in feeds.cap_files],
                  "atom": feeds.atom.name, "geojson": feeds.geojson.name},
        "database": str(db), "figure": str(png), "model": loaded.path,
    }))
    return 0
