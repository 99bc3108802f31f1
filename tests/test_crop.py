"""Crops around the volcano, ``start`` dates and backfill progress (issue 17, step 11).

A 1500 x 1500 synthetic frame (pixels of 0.001 degree, written in the LiCSAR layout by
:func:`monitor.io.synth_archive.write_synthetic_archive`) is watched for a target 60
pixels from its western edge, off the frame's centre: the series grid is the crop (clipped
by the frame edge), only the crop is read, and every score equals that of a run on an
archive pre-cropped to the same window. The recorded crop outlives a change of
``crop_km``; references outside the crop are refused; ``start`` bounds the backfill; the
backfill's progress reaches the log, the gauges and a sink. The small tests use 128 x 128
frames.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from prometheus_client import CollectorRegistry
from rasterio.windows import Window

from monitor.config import Settings, settings_from_mapping
from monitor.errors import ConfigError, RasterError
from monitor.io.models import LoadedModel
from monitor.io.rasters import read_raster, write_raster
from monitor.io.synth_archive import write_synthetic_archive
from monitor.metrics import WatchMetrics
from monitor.science.crop import PixelWindow, crop_grid, crop_window
from monitor.science.grids import FrameGrid
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.frame_state import grid_path, load_series_grid
from monitor.service.pipeline import poll_target
from monitor.service.progress import BackfillProgress
from monitor.service.series_files import load_state, series_path
from monitor.store import Store, make_engine, upgrade

FRAME = "022D_04826_121209"
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
BIG = 1500
#: The big frame's north-west corner (its centre is 120.0, 14.0).
WEST, NORTH = 119.25, 14.75
#: The target: 60 pixels from the western edge, 700 rows down (pixel centres).
LON, LAT = WEST + 60.5 * 0.001, NORTH - 700.5 * 0.001
CROP_KM = 10.0
SCENARIO = SeriesScenario(n_epochs=4, onset=None, stratified_strength="none",
                          decorrelate=False)
SMALL = SeriesScenario(n_epochs=7, onset=None, stratified_strength="none",
                       decorrelate=False)


def world(tmp: Path, archive: Path, model: LoadedModel, *, metrics: WatchMetrics | None = None,
          progress: Any = None, archive_start: str | None = None,
          **target: Any) -> tuple[Settings, WatchContext]:
    """Settings, an upgraded SQLite database and the context for one target ``t1``."""
    tmp.mkdir(parents=True, exist_ok=True)
    local: dict[str, Any] = {"kind": "local", "root": str(archive)}
    if archive_start is not None:
        local["start"] = archive_start
    settings = settings_from_mapping({
        "database": {"url": f"sqlite:///{tmp}/watch.db"},
        "watch": {"series_dir": str(tmp / "series"), "cache_dir": str(tmp / "cache"),
                  "quicklook_dir": str(tmp / "quicklooks"), "jitter_s": 0},
        "email": {"mode": "dry-run", "outbox_dir": str(tmp / "outbox")},
        "archives": {"local": local},
        "targets": [{"id": "t1", "name": "Target", "archive": "local", "frames": [FRAME],
                     "radius_km": 1.5, **target}],
    }, "test_crop")
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    return settings, WatchContext.from_settings(settings, store, model, metrics,
                                                progress=progress)


def precrop(src_root: Path, dst_root: Path, window: PixelWindow) -> None:
    """Copy the frame under ``src_root`` to ``dst_root`` with every raster cut to
    ``window`` (its transform shifted accordingly), other files as they are."""
    src_frame = src_root / FRAME
    win = Window(window.col0, window.row0, window.cols, window.rows)
    for src in src_frame.rglob("*"):
        dst = dst_root / FRAME / src.relative_to(src_frame)
        if src.is_dir():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix != ".tif":
            shutil.copy2(src, dst)
            continue
        with rasterio.open(src) as r:
            data = r.read(1, window=win)
            profile = {**r.profile, "width": window.cols, "height": window.rows,
                       "transform": r.window_transform(win)}
        with rasterio.open(dst, "w", **profile) as w:
            w.write(data, 1)


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big") / "archive"
    write_synthetic_archive(root, scenario=SCENARIO, frame=FRAME, volcano="synthetic",
                            size_px=BIG, centre_lonlat=(120.0, 14.0), seed=5)
    return root


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small") / "archive"
    write_synthetic_archive(root, scenario=SMALL, frame=FRAME, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=6)
    return root


def scores(ctx: WatchContext) -> list[tuple[Any, ...]]:
    return [(s.epoch, s.p_fused, s.lstt_p, s.peak_row, s.peak_col, s.peak_lon, s.peak_lat,
             json.dumps(s.p_by_gain, sort_keys=True)) for s in ctx.store.latest_scores("t1", 99)]


def test_crop_window_is_clipped_to_the_frame_and_keeps_lon_lat() -> None:
    """The window rounds the ground square outward, is clipped by the frame edge, and its
    grid puts every pixel at the same lon/lat as the frame's."""
    frame = FrameGrid.from_transform((BIG, BIG), rasterio.Affine(0.001, 0, WEST, 0, -0.001,
                                                                  NORTH), "frame")
    w = crop_window(frame, LON, LAT, CROP_KM, "target t1")
    assert w.col0 == 0 and 140 < w.cols < 160  # clipped: 60 px west of the target
    assert abs((w.row0 + w.rows / 2) - 700.5) <= 1 and 180 < w.rows < 190
    cropped = crop_grid(frame, w)
    assert cropped.shape == w.shape
    assert cropped.lonlat(5, 7) == pytest.approx(frame.lonlat(w.row0 + 5, w.col0 + 7))
    with pytest.raises(Exception, match="lies outside the frame"):
        crop_window(frame, 130.0, 14.0, CROP_KM, "target t1")


def test_the_series_grid_is_the_crop_and_scores_match_a_precropped_archive(
        tmp_path: Path, big_archive: Path, model: LoadedModel) -> None:
    """Off-centre target on a 1500 x 1500 frame: the series, its grid document and every
    score (P, LSTT, peak pixel and lon/lat, per-gain P) equal those of a run on an archive
    already cut to the recorded window."""
    settings, ctx = world(tmp_path / "crop", big_archive, model, lon=LON, lat=LAT,
                          crop_km=CROP_KM)
    report = poll_target(ctx, settings.target("t1"), NOW)
    assert report.ok and report.ingested == 3 and report.scored == 3, report
    sgrid = load_series_grid(grid_path(series_path(settings.watch.series_dir, "t1", FRAME)))
    assert sgrid.frame.shape == (BIG, BIG) and sgrid.crop_km == CROP_KM
    assert sgrid.window.col0 == 0 and sgrid.grid.shape == sgrid.window.shape
    state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
    assert state is not None and state.cumulative_m.shape == sgrid.window.shape
    cropped = scores(ctx)
    for s in ctx.store.latest_scores("t1", 99):  # the peak's lon/lat is the crop's pixel's
        assert s.peak_row is not None and s.peak_col is not None
        assert (s.peak_lon, s.peak_lat) == pytest.approx(
            sgrid.frame.lonlat(sgrid.window.row0 + s.peak_row, sgrid.window.col0 + s.peak_col))

    pre = tmp_path / "pre" / "archive"
    precrop(big_archive, pre, sgrid.window)
    settings2, ctx2 = world(tmp_path / "pre", pre, model, lon=LON, lat=LAT, crop_km=CROP_KM)
    assert poll_target(ctx2, settings2.target("t1"), NOW).ok
    sgrid2 = load_series_grid(grid_path(series_path(settings2.watch.series_dir, "t1", FRAME)))
    assert sgrid2.window == PixelWindow(0, 0, *sgrid.window.shape)
    assert sgrid2.grid.transform.almost_equals(sgrid.grid.transform)
    state2 = load_state(series_path(settings2.watch.series_dir, "t1", FRAME))
    assert state2 is not None
    np.testing.assert_array_equal(state.cumulative_m, state2.cumulative_m)
    np.testing.assert_array_equal(state.reference_mask, state2.reference_mask)
    assert cropped == scores(ctx2)


def test_a_restart_keeps_the_recorded_crop_after_crop_km_changes(
        tmp_path: Path, big_archive: Path, model: LoadedModel,
        caplog: pytest.LogCaptureFixture) -> None:
    """The first poll sees two pairs and records a 10 km crop; the configuration then asks
    for 15 km: the next poll warns, keeps the recorded window and appends the new pair."""
    archive = tmp_path / "archive"
    shutil.copytree(big_archive / FRAME / "metadata", archive / FRAME / "metadata")
    pairs = sorted((big_archive / FRAME / "interferograms").iterdir())
    for pair in pairs[:2]:
        shutil.copytree(pair, archive / FRAME / "interferograms" / pair.name)
    settings, ctx = world(tmp_path, archive, model, lon=LON, lat=LAT, crop_km=CROP_KM)
    assert poll_target(ctx, settings.target("t1"), NOW).ingested == 2
    gfile = grid_path(series_path(settings.watch.series_dir, "t1", FRAME))
    recorded = gfile.read_text()

    shutil.copytree(pairs[2], archive / FRAME / "interferograms" / pairs[2].name)
    settings2, ctx2 = world(tmp_path, archive, model, lon=LON, lat=LAT, crop_km=15.0)
    with caplog.at_level(logging.WARNING, logger="monitor.service.pipeline"):
        report = poll_target(ctx2, settings2.target("t1"), NOW + timedelta(hours=1))
    assert report.ok and report.ingested == 1, report
    assert any("the recorded crop is kept" in r.getMessage() and "crop_km 10 km" in
               r.getMessage() for r in caplog.records)
    assert gfile.read_text() == recorded
    state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
    assert state is not None and state.n_epochs == 4
    assert state.cumulative_m.shape == load_series_grid(gfile).window.shape


def test_a_reference_outside_the_crop_is_refused(tmp_path: Path, small_archive: Path,
                                                  model: LoadedModel) -> None:
    """In the configuration (naming the target and the disc), and at ingest for a series
    whose recorded crop is smaller than the one the configuration now allows."""
    far = [{"lon": 120.0 + 0.3, "lat": 14.0, "radius_km": 2.0}]  # about 32 km east
    with pytest.raises(ConfigError, match=r"target t1: reference 1 \(disc 120.3,14.0 "
                                          r"radius 2 km\) lies outside the crop of 25 km"):
        world(tmp_path, small_archive, model, lon=120.0, lat=14.0, references=far)
    with pytest.raises(ConfigError, match=r"crop_km \(1 km\) must be larger than radius_km"):
        world(tmp_path, small_archive, model, lon=120.0, lat=14.0, crop_km=1.0)
    archive = tmp_path / "archive"
    shutil.copytree(small_archive / FRAME, archive / FRAME)
    last = sorted((archive / FRAME / "interferograms").iterdir())[-1]
    shutil.move(last, tmp_path / last.name)
    settings, ctx = world(tmp_path, archive, model, lon=120.0, lat=14.0, crop_km=5.0)
    assert poll_target(ctx, settings.target("t1"), NOW).ingested == 5
    shutil.move(tmp_path / last.name, last)  # a new acquisition
    near = [{"lon": 120.055, "lat": 14.0, "radius_km": 0.8}]  # 5.1-6.8 km east, in the frame
    settings2, ctx2 = world(tmp_path, archive, model, lon=120.0, lat=14.0,
                            crop_km=8.0, references=near)
    report = poll_target(ctx2, settings2.target("t1"), NOW + timedelta(days=1))
    (blocked,) = report.blocked
    assert "target t1: reference 1 (disc 120.055,14.0 radius 0.8 km) lies outside the crop" \
        in blocked.reason and "crop_km 5 km" in blocked.reason


def test_start_bounds_the_backfill_and_no_start_says_whole_history(
        tmp_path: Path, small_archive: Path, model: LoadedModel,
        caplog: pytest.LogCaptureFixture) -> None:
    """Products whose first date is before ``start`` are not recorded (the series neither
    holds nor scores them) and are read only as the GLS filter's first noise samples (a
    daisy chain back from the start); the archive's start is the default; without one the
    log says the whole history comes."""
    epochs = sorted({date.fromisoformat(e) for e in json.loads(
        (small_archive / f"{FRAME}.synth_truth.json").read_text())["epochs"]})
    start = epochs[3]
    settings, ctx = world(tmp_path / "a", small_archive, model, lon=120.0, lat=14.0,
                          archive_start=start.isoformat())
    with caplog.at_level(logging.INFO, logger="monitor.service.pipeline"):
        report = poll_target(ctx, settings.target("t1"), NOW)
    assert report.ok and report.listed == 3 and report.ingested == 3
    assert {p.date1 for p in ctx.store.list_products("t1")} == set(epochs[3:6])
    state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
    assert state is not None and state.first_epoch == start
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"3 listed product(s) before start {start}" in m for m in messages)
    assert any("noise history begins with 3 product(s) before the series start "
               f"({epochs[0]}_{epochs[1]} to {epochs[2]}_{epochs[3]})" in m for m in messages)
    # The target's own start wins over the archive's.
    settings_b, _ = world(tmp_path / "b", small_archive, model, lon=120.0, lat=14.0,
                          archive_start=start.isoformat(), start=epochs[1].isoformat())
    assert settings_b.target_start(settings_b.target("t1")) == epochs[1]
    caplog.clear()
    settings_c, ctx_c = world(tmp_path / "c", small_archive, model, lon=120.0, lat=14.0)
    with caplog.at_level(logging.INFO, logger="monitor.service.pipeline"):
        poll_target(ctx_c, settings_c.target("t1"), NOW)
    assert any("no start date: the series backfills the frame's whole history, 6 product(s)"
               in r.getMessage() for r in caplog.records)


def test_backfill_progress_reaches_the_log_the_gauges_and_the_sink(
        tmp_path: Path, small_archive: Path, model: LoadedModel,
        caplog: pytest.LogCaptureFixture) -> None:
    """Six products: a progress line per product with target/frame/done/total fields, the
    remaining gauge counting down while the poll runs and 0 (with rate and ETA) after."""
    registry = CollectorRegistry()
    seen: list[tuple[BackfillProgress, float | None]] = []

    def sink(p: BackfillProgress) -> None:
        seen.append((p, registry.get_sample_value(
            "insar_monitor_backfill_products_remaining", {"target": "t1", "frame": FRAME})))

    settings, ctx = world(tmp_path, small_archive, model, metrics=WatchMetrics(registry),
                          progress=sink, lon=120.0, lat=14.0)
    with caplog.at_level(logging.INFO, logger="monitor.service.progress"):
        assert poll_target(ctx, settings.target("t1"), NOW).ingested == 6
    lines = [r for r in caplog.records if r.name == "monitor.service.progress"]
    assert [vars(r)["done"] for r in lines] == [1, 2, 3, 4, 5, 6]
    assert all(vars(r)["total"] == 6 and vars(r)["frame"] == FRAME
               and vars(r)["target"] == "t1" for r in lines)
    assert "caught up: 6/6 products" in lines[-1].getMessage()
    assert "products/s, about" in lines[2].getMessage()
    assert [p.done for p, _ in seen] == [0, 1, 2, 3, 4, 5, 6, 6]
    assert [g for _, g in seen[:-1]] == [6, 5, 4, 3, 2, 1, 0]
    assert seen[-1][0].finished and seen[3][0].rate_per_s > 0 and seen[3][0].eta_s
    labels = {"target": "t1", "frame": FRAME}
    for name in ("backfill_products_remaining", "backfill_rate_products_per_second",
                 "backfill_eta_seconds"):
        assert registry.get_sample_value(f"insar_monitor_{name}", labels) == 0.0
    # A routine poll with nothing new logs no progress line.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="monitor.service.progress"):
        poll_target(ctx, settings.target("t1"), NOW + timedelta(hours=1))
    assert not [r for r in caplog.records if r.name == "monitor.service.progress"]


def test_a_window_read_decodes_only_the_window(tmp_path: Path) -> None:
    """``read_raster(window=)``: the window's pixels and transform; a window beyond the
    file is refused naming it; the budget is judged on the window."""
    data = np.arange(60 * 80, dtype=np.float32).reshape(60, 80)
    t = rasterio.Affine(0.001, 0, 10.0, 0, -0.001, 5.0)
    path = write_raster(tmp_path / "a.tif", data, crs="EPSG:4326", transform=t)
    r = read_raster(path, window=PixelWindow(10, 20, 5, 7), max_bytes=5 * 7 * 4 * 64)
    np.testing.assert_array_equal(r.data, data[10:15, 20:27])
    assert r.transform is not None
    assert r.transform.almost_equals(t @ rasterio.Affine.translation(20, 10))
    with pytest.raises(RasterError, match="does not hold the window"):
        read_raster(path, window=PixelWindow(50, 0, 20, 10))
    with pytest.raises(RasterError, match="rasters.max_bytes"):
        read_raster(path, window=PixelWindow(0, 0, 60, 80), max_bytes=5 * 7 * 4 * 64)
