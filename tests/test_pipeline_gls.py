"""The watch's GLS confirmation: the series file keeps the filter's noise history, the
filter judges every epoch after its warm-up of 20 increments and the policy reads its P;
an epoch scored again after a crash gets the judgement a clean run gives it, and
``scan-series`` gives every epoch the watch's judgement. A series that starts late begins
its history with the archive's products before its start, and the filter judges from its
first increment; a product before the start that cannot be read is left out with a note.

The archive is synthetic (:func:`monitor.io.synth_archive.write_synthetic_archive`): 26
epochs 12 days apart over 128 x 128 pixels of 0.001 degree, weak turbulence, a Mogi source
inflating at 0.5 m/yr from the 22nd epoch; the detector is the packaged ``compact`` model.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.transform
import torch

from monitor.cli import main
from monitor.config import DEFAULT_GLS_BORROW, Settings, load_settings
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.detect.series_gls import BORROW, WARM_UP
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.pipeline import poll_target
from monitor.service.series_files import load_noise, series_path
from monitor.service.target_status import policy_input
from monitor.store import Product, Store, make_engine, upgrade

torch.set_num_threads(1)

FRAME = "022D_04826_121209"
START = date(2024, 1, 6)
ONSET = START + timedelta(days=12 * 21)
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
SCENARIO = SeriesScenario(n_epochs=26, onset=ONSET, rate_m_per_yr=0.5,
                          stratified_strength="none", decorrelate=False)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gls_archive")
    write_synthetic_archive(root, scenario=SCENARIO, frame=FRAME, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=5)
    return root


def _world(tmp: Path, archive: Path, model: LoadedModel, start: date | None = None,
           borrow: int = BORROW) -> tuple[Settings, WatchContext]:
    cfg = tmp / "monitor.toml"
    since = "" if start is None else f"start = {start.isoformat()}"
    cfg.write_text(f"""
[database]
url = "sqlite:///{tmp}/watch.db"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
[email]
mode = "dry-run"
outbox_dir = "{tmp}/outbox"
[archives.local]
kind = "local"
root = "{archive}"
gls_borrow = {borrow}
[[targets]]
id = "gls"
name = "Synthetic"
lon = 120.0
lat = 14.0
radius_km = 1.5
archive = "local"
frames = ["{FRAME}"]
recipients = ["observatory@example.org"]
{since}
""", encoding="utf-8")
    settings = load_settings(cfg, environ={})
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    return settings, WatchContext.from_settings(settings, store, model)


def _judgements(ctx: WatchContext) -> dict[date, dict[str, object]]:
    return {s.epoch: {k: v for k, v in (s.signal or {}).items() if k.startswith("gls")}
            for s in ctx.store.latest_scores("gls", 1000)}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, archive: Path,
          model: LoadedModel) -> tuple[Settings, WatchContext]:
    settings, ctx = _world(tmp_path_factory.mktemp("clean"), archive, model)
    report = poll_target(ctx, settings.target("gls"), NOW)
    assert report.ingested == 25 and report.scored == 25 and report.failures == ()
    return settings, ctx


def test_the_filter_judges_after_its_warm_up_and_the_policy_reads_it(
        clean: tuple[Settings, WatchContext]) -> None:
    settings, ctx = clean
    judged = _judgements(ctx)
    epochs = sorted(judged)
    assert len(epochs) == 25
    # The k-th scored epoch has k - 1 increments before it.
    assert all(not judged[e] for e in epochs[:WARM_UP])
    assert all(judged[e]["gls_history"] == k for k, e in enumerate(epochs) if k >= WARM_UP)
    last = judged[epochs[-1]]
    assert float(last["gls_p"]) > 0.5 and float(last["gls_t"]) > float(last["gls_threshold"])
    scores = {s.epoch: s for s in ctx.store.latest_scores("gls", 1000)}
    assert policy_input(scores[epochs[-1]]).gls_p == last["gls_p"]
    assert policy_input(scores[epochs[0]]).gls_p is None
    noise = load_noise(series_path(settings.watch.series_dir, "gls", FRAME))
    assert noise is not None and len(noise) == 25 and noise.last_epoch == epochs[-1]
    assert np.isfinite(noise.arrivals).all()  # the first filter scored the warm-up's


def test_an_epoch_scored_again_after_a_crash_is_judged_as_in_a_clean_run(
        tmp_path: Path, archive: Path, model: LoadedModel,
        clean: tuple[Settings, WatchContext], monkeypatch: pytest.MonkeyPatch) -> None:
    settings, ctx = _world(tmp_path, archive, model)
    _killed_at(WARM_UP + 3, ctx, settings, monkeypatch)
    resumed = poll_target(ctx, settings.target("gls"), NOW + timedelta(minutes=5))
    assert resumed.reconciled == 1 and resumed.failures == ()
    assert _judgements(ctx) == _judgements(clean[1])
    path = series_path(settings.watch.series_dir, "gls", FRAME)
    noise, ok = load_noise(path), load_noise(series_path(clean[0].watch.series_dir, "gls",
                                                         FRAME))
    assert noise is not None and ok is not None
    np.testing.assert_array_equal(noise.blocks, ok.blocks)
    np.testing.assert_array_equal(noise.arrivals, ok.arrivals)


def test_scan_series_judges_as_the_watch_does(archive: Path,
                                              clean: tuple[Settings, WatchContext],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan-series", str(archive), "--frame", FRAME, "--target", "120.0,14.0,1.5",
                 "--json", "--no-second-look", "--permutations", "20"])
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scanned = {date.fromisoformat(r["epoch"]): r["gls_p"] for r in records if r["scored"]}
    watched = {e: j.get("gls_p") for e, j in _judgements(clean[1]).items()}
    assert scanned.keys() == watched.keys()
    for epoch, p in watched.items():
        assert (p is None) == (scanned[epoch] is None), epoch
        if p is not None:
            assert scanned[epoch] == pytest.approx(p, abs=1e-6), epoch
    assert sum(p is not None for p in scanned.values()) == 25 - WARM_UP


#: A start that leaves 22 of the archive's 25 products before the series.
LATE = START + timedelta(days=12 * 22)


def test_a_late_series_borrows_its_warm_up_from_the_archive(
        tmp_path: Path, archive: Path, model: LoadedModel) -> None:
    settings, ctx = _world(tmp_path, archive, model, start=LATE)
    report = poll_target(ctx, settings.target("gls"), NOW)
    assert report.ingested == 3 and report.failures == () and not any(
        "left out of the GLS" in n for n in report.notes)
    judged = _judgements(ctx)
    epochs = sorted(judged)
    assert epochs == [LATE + timedelta(days=12 * k) for k in (1, 2, 3)]
    # 22 borrowed increments (fewer than BORROW are there): judged from the first increment.
    assert BORROW > 22
    assert [judged[e]["gls_history"] for e in epochs] == [22, 23, 24]
    # Each map is judged against the level of the series' own first dates (the borrowed
    # products are noise samples, not dates of the series), kept in the series file.
    assert [judged[e]["gls_level_dates"] for e in epochs] == [1, 2, 3]
    noise = load_noise(series_path(settings.watch.series_dir, "gls", FRAME))
    assert noise is not None and len(noise) == 25 and np.isfinite(noise.arrivals).all()
    assert noise.level_epochs == tuple(epochs) and not noise.first_date_only
    # Only the series' own products are recorded for the target.
    assert {p.date1 for p in ctx.store.list_products("gls")} == {
        LATE + timedelta(days=12 * k) for k in range(3)}
    assert noise.last_epoch == epochs[-1]


def test_scan_series_with_start_judges_as_the_late_watch_does(
        tmp_path: Path, archive: Path, model: LoadedModel,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings, ctx = _world(tmp_path, archive, model, start=LATE)
    poll_target(ctx, settings.target("gls"), NOW)
    watched = {e: j["gls_p"] for e, j in _judgements(ctx).items()}
    code = main(["scan-series", str(archive), "--frame", FRAME, "--target", "120.0,14.0,1.5",
                 "--json", "--no-second-look", "--permutations", "20",
                 "--start", LATE.isoformat()])
    assert code == 0
    out = capsys.readouterr()
    assert "22 product(s) before --start left out; the GLS filter's noise history begins " \
        "with 22 of them" in out.err
    records = [json.loads(line) for line in out.out.splitlines()]
    scanned = {date.fromisoformat(r["epoch"]): r["gls_p"] for r in records if r["scored"]}
    assert scanned.keys() == watched.keys() and len(watched) == 3
    for epoch, p in watched.items():
        assert scanned[epoch] == pytest.approx(p, abs=1e-6), epoch
    assert main(["scan-series", str(archive), "--frame", FRAME, "--target", "120.0,14.0",
                 "--start", "2030-01-01"]) == 2
    assert "--start 2030-01-01: no product" in capsys.readouterr().err


def test_the_default_borrows_what_the_first_threshold_uses() -> None:
    assert DEFAULT_GLS_BORROW == BORROW


def test_gls_borrow_0_fetches_nothing_before_the_start(
        tmp_path: Path, archive: Path, model: LoadedModel) -> None:
    settings, ctx = _world(tmp_path, archive, model, start=LATE, borrow=0)
    report = poll_target(ctx, settings.target("gls"), NOW)
    assert report.ingested == 3 and report.failures == ()
    assert not any(_judgements(ctx).values())  # three increments: within the warm-up
    cached = {f.name for f in Path(settings.watch.cache_dir).rglob("*.unw.tif")}
    assert len(cached) == 3 and all(n >= f"{LATE:%Y%m%d}" for n in cached)


def test_a_broken_product_before_the_start_is_left_out_with_a_note(
        tmp_path: Path, archive: Path, model: LoadedModel) -> None:
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    broken_pair = f"{(LATE - timedelta(days=12)):%Y%m%d}_{LATE:%Y%m%d}"
    unw = next(copy.rglob(f"{broken_pair}.geo.unw.tif"))
    unw.write_bytes(b"not a GeoTIFF")
    settings, ctx = _world(tmp_path, copy, model, start=LATE)
    report = poll_target(ctx, settings.target("gls"), NOW)
    assert report.ingested == 3 and report.failures == ()
    notes = [n for n in report.notes if "left out of the GLS" in n]
    assert len(notes) == 1 and broken_pair[:8] in notes[0].replace("-", "")
    judged = _judgements(ctx)
    assert [judged[e]["gls_history"] for e in sorted(judged)] == [21, 22, 23]


def test_an_epoch_without_target_pixels_goes_on_in_the_history_as_in_scan_series(
        tmp_path: Path, archive: Path, model: LoadedModel,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The last product has no data over the target: the epoch is not scored, but its
    increment joins the history with the arrival score scan-series gives it (before, the
    watch kept it without one, to be scored later by another filter)."""
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    last = START + timedelta(days=12 * 25)
    unw = next(copy.rglob(f"{last - timedelta(days=12):%Y%m%d}_{last:%Y%m%d}.geo.unw.tif"))
    with rasterio.open(unw, "r+") as ds:
        phase = ds.read(1)
        rows, cols = np.indices(phase.shape)
        lon, lat = rasterio.transform.xy(ds.transform, rows, cols)
        near = np.hypot((np.asarray(lon) - 120.0) * 107.9, (np.asarray(lat) - 14.0) * 110.6)
        phase[near.reshape(phase.shape) < 2.0] = 0.0  # LiCSAR's no-data
        ds.write(phase, 1)
    settings, ctx = _world(tmp_path, copy, model)
    report = poll_target(ctx, settings.target("gls"), NOW)
    assert report.ingested == 25 and report.failures == ()
    assert last not in _judgements(ctx)  # not scored
    noise = load_noise(series_path(settings.watch.series_dir, "gls", FRAME))
    assert noise is not None and len(noise) == 25 and noise.last_epoch == last
    assert np.isfinite(noise.arrivals).all()
    code = main(["scan-series", str(copy), "--frame", FRAME, "--target", "120.0,14.0,1.5",
                 "--json", "--no-second-look", "--permutations", "20"])
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scanned = {date.fromisoformat(r["epoch"]): r["gls_p"] for r in records if r["scored"]}
    assert last not in scanned
    for epoch, judged in _judgements(ctx).items():
        assert scanned[epoch] == pytest.approx(judged.get("gls_p"), abs=1e-6), epoch


def test_the_block_detector_scores_an_epoch_again_with_its_kept_increment(
        tmp_path: Path, archive: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The block detector judges the newest increment, against the series' own threshold
    once the history gives one (as scan-series does): the series file keeps it, so an
    epoch saved but not scored before a crash gets the scores of a clean run (step and
    P); a file written before the increment was kept gives a failure note, not a guess."""
    from monitor.io.models import load_block_model
    from monitor.service.series_files import load_increment, load_state, save_state

    blocks = load_block_model(None)
    settings, ctx = _world(_dir(tmp_path, "clean"), archive, blocks)  # type: ignore[arg-type]
    assert poll_target(ctx, settings.target("gls"), NOW).scored == 25

    def scores(c: WatchContext) -> dict[date, tuple[float | None, object]]:
        return {s.epoch: (s.p_fused, (s.signal or {}).get("step_m"))
                for s in c.store.latest_scores("gls", 1000)}

    clean = scores(ctx)
    # from the epoch with WARM_UP increments before it, P is judged against the series'
    # own threshold (monitor.science.detect.series_blocks), and scan-series judges alike
    stored = sorted(ctx.store.latest_scores("gls", 1000), key=lambda s: s.epoch)
    assert all("series_p" not in s.params for s in stored[:WARM_UP])
    assert all(s.params["series_arrivals"] + s.params["series_set_aside"] == k
               and s.p_fused == s.params["series_p"]
               for k, s in enumerate(stored) if k >= WARM_UP)
    code = main(["scan-series", str(archive), "--frame", FRAME, "--target", "120.0,14.0,1.5",
                 "--json", "--permutations", "20"])
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scanned = {date.fromisoformat(r["epoch"]): r for r in records if r["scored"]}
    for s in stored:
        assert scanned[s.epoch]["series_p"] == pytest.approx(s.params.get("series_p"),
                                                            abs=1e-6), s.epoch
        assert scanned[s.epoch]["p_fused"] == pytest.approx(s.p_fused, abs=1e-6), s.epoch
    settings2, ctx2 = _world(_dir(tmp_path, "killed"), archive, blocks)  # type: ignore[arg-type]
    _killed_at(WARM_UP + 3, ctx2, settings2, monkeypatch)
    path = series_path(settings2.watch.series_dir, "gls", FRAME)
    state = load_state(path)
    assert state is not None
    kept = load_increment(path, state.cumulative_m.shape)
    assert kept is not None and np.isfinite(kept).any()
    resumed = poll_target(ctx2, settings2.target("gls"), NOW + timedelta(minutes=5))
    assert resumed.reconciled == 1 and resumed.failures == ()
    again = scores(ctx2)
    assert again.keys() == clean.keys()
    for epoch, (p, step) in clean.items():
        assert again[epoch][0] == pytest.approx(p, abs=1e-6), epoch
        assert again[epoch][1] == pytest.approx(step, abs=1e-9), epoch
    # the same crash in a series file written before the increment was kept
    settings3, ctx3 = _world(_dir(tmp_path, "old"), archive, blocks)  # type: ignore[arg-type]
    _killed_at(WARM_UP + 3, ctx3, settings3, monkeypatch)
    path3 = series_path(settings3.watch.series_dir, "gls", FRAME)
    state3 = load_state(path3)
    assert state3 is not None
    save_state(path3, state3, load_noise(path3))  # no increment: as an older file
    report = poll_target(ctx3, settings3.target("gls"), NOW + timedelta(minutes=5))
    notes = [f for f in report.failures if f.stage == "score"]
    assert len(notes) == 1 and "not at hand" in notes[0].message


def _killed_at(n: int, ctx: WatchContext, settings: Settings,
               monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll the target once, killed between the series file's save and the ``n``-th
    product's mark (the crash the watch recovers from), and undo the kill."""
    original = Store.mark_product_ingested
    calls = {"n": 0}

    def killed(self: Store, product_id: int, now: datetime) -> Product:
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError("killed between save_state and mark_product_ingested")
        return original(self, product_id, now)

    monkeypatch.setattr(Store, "mark_product_ingested", killed)
    with pytest.raises(RuntimeError, match="killed"):
        poll_target(ctx, settings.target("gls"), NOW)
    monkeypatch.setattr(Store, "mark_product_ingested", original)


def _dir(root: Path, name: str) -> Path:
    (root / name).mkdir()
    return root / name
