"""The second look in the watch: flagged steps corrected and rescored (issue 6).

Worlds: synthetic LiCSAR-layout archives on the packaged SRTM crop of Agung (0-2993 m,
224 x 224 pixels of 0.001 degree), strong stratification per date, 6 epochs 12 days
apart, weather-model delay files consistent with the drawn stratification (GACOS 3 mm,
ICAMS 5 mm errors). ``quiet``: atmosphere only (no source); ``inflating``: a Mogi source
inflating at 0.5 m/yr from the first epoch. The detector is the packaged compact model;
the policy is the CNN alone with one qualifying step, so every flag counts.

Measured when this test was written (seed 1): on ``quiet`` the raw fused P of every step
lies between 0.57 and 0.92 (all flagged) and between 0.18 and 0.37 after the GACOS
correction; on ``inflating`` the corrected P stays above 0.68 from the second step on.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import numpy as np
import pytest
import torch
from prometheus_client import CollectorRegistry

import monitor.science.scoring as scoring
from monitor.config import Settings, settings_from_mapping
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import KNOWN_VOLCANOES, write_synthetic_archive
from monitor.metrics import WatchMetrics
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.outbox import deliver_outbox
from monitor.service.pipeline import poll_target
from monitor.store import Score, Store, make_engine, upgrade

torch.set_num_threads(1)

FRAME = "022D_04826_121209"
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
START = date(2024, 1, 6)
N_EPOCHS = 6


def _scenario(onset: date | None) -> SeriesScenario:
    return SeriesScenario(start=START, n_epochs=N_EPOCHS, onset=onset, rate_m_per_yr=0.5,
                          stratified_strength="strong", decorrelate=False)


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both worlds written once, with GACOS and ICAMS delays; tests copy and edit them."""
    out = {}
    for name, onset in (("quiet", None), ("inflating", START)):
        root = tmp_path_factory.mktemp(name)
        write_synthetic_archive(root, scenario=_scenario(onset), frame=FRAME, volcano="agung",
                                size_px=224, seed=1, delays=("gacos", "icams"))
        out[name] = root
    return out


def make_world(tmp: Path, source: Path, model: LoadedModel,
               metrics: WatchMetrics | None = None) -> tuple[Settings, WatchContext, Path]:
    """Copy an archive into ``tmp``; settings, an upgraded SQLite database, a context."""
    archive = tmp / "archive"
    shutil.copytree(source, archive)
    lon, lat = KNOWN_VOLCANOES["agung"]
    settings = settings_from_mapping({
        "database": {"url": f"sqlite:///{tmp / 'watch.db'}"},
        "watch": {"series_dir": str(tmp / "series"), "cache_dir": str(tmp / "cache"),
                  "quicklook_dir": str(tmp / "quicklooks")},
        "email": {"mode": "dry-run", "outbox_dir": str(tmp / "outbox")},
        "alerts": {"combine": "cnn", "raise_after": 1},
        "archives": {"local": {"kind": "local", "root": str(archive)}},
        "targets": [{"id": "agung", "name": "Agung (synthetic)", "lon": lon, "lat": lat,
                     "radius_km": 3.0, "archive": "local", "frames": [FRAME],
                     "recipients": ["observatory@example.org"]}],
    }, "test_correction_pipeline")
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    return settings, WatchContext.from_settings(settings, store, model, metrics), archive


def scored(ctx: WatchContext) -> list[Score]:
    return [s for s in ctx.store.latest_scores("agung", 100) if s.p_fused is not None]


def flagged(ctx: WatchContext) -> list[Score]:
    return [s for s in scored(ctx) if s.p_fused >= 0.5]


def test_gacos_clears_flagged_atmosphere_and_fetches_only_what_flags_need(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel) -> None:
    registry = CollectorRegistry()
    settings, ctx, _ = make_world(tmp_path, staging["quiet"], model, WatchMetrics(registry))
    report = poll_target(ctx, settings.target("agung"), NOW)
    assert report.scored == N_EPOCHS - 1 and not report.failures
    raw_flags = flagged(ctx)
    assert len(raw_flags) >= 3, "the strong stratification should fool the raw detector"
    for s in scored(ctx):
        if s.p_fused >= 0.5:
            assert s.correction_method == "gacos" and s.corrected
            assert s.p_fused_corrected is not None and s.p_fused_corrected < 0.5
            assert s.correction is not None and s.correction["fallbacks"] == []
            assert s.correction["files"] == [f"{START:%Y%m%d}.sltd.geo.tif",
                                             f"{s.epoch:%Y%m%d}.sltd.geo.tif"]
            assert s.decision_p_fused == s.p_fused_corrected
        else:  # an unflagged step is not corrected at all
            assert s.correction_method is None and s.decision_p_fused == s.p_fused
    assert ctx.store.list_alerts() == [], "corrected scores decide: nothing to alert"
    # Delay files were fetched for flagged steps only (and the chain's first epoch).
    cached = {p.name for p in (Path(settings.watch.cache_dir) / FRAME / "epochs").iterdir()}
    assert cached == {f"{d:%Y%m%d}" for d in [START] + [s.epoch for s in raw_flags]}
    assert not any((Path(settings.watch.cache_dir) / FRAME / "epochs").rglob("*icams*")), \
        "only the first method that works is fetched"
    count = registry.get_sample_value("insar_monitor_atmospheric_corrections_total",
                                      {"target": "agung", "method": "gacos"})
    assert count == len(raw_flags)
    # A second poll changes nothing (idempotent), corrections included.
    before = [(s.epoch, s.p_fused_corrected, s.correction_method) for s in scored(ctx)]
    poll_target(ctx, settings.target("agung"), NOW)
    assert [(s.epoch, s.p_fused_corrected, s.correction_method) for s in scored(ctx)] == before


def test_missing_delays_fall_back_to_the_empirical_fit_with_reasons(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel) -> None:
    settings, ctx, archive = make_world(tmp_path, staging["quiet"], model)
    shutil.rmtree(archive / FRAME / "epochs")
    poll_target(ctx, settings.target("agung"), NOW)
    assert flagged(ctx)
    for s in flagged(ctx):
        assert s.correction_method == "empirical" and s.correction is not None
        assert [f["method"] for f in s.correction["fallbacks"]] == ["gacos", "icams"]
        assert all("publishes no" in f["reason"] for f in s.correction["fallbacks"])
        assert s.correction["order"] == 2 and s.correction["n_pixels"] >= 200
        assert s.correction["band_sigma_m"] == 1000.0
        assert s.correction["rms_after_m"] <= 1.01 * s.correction["rms_before_m"]


def test_a_corrupt_delay_file_falls_back_to_the_next_source(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel) -> None:
    settings, ctx, archive = make_world(tmp_path, staging["quiet"], model)
    first = archive / FRAME / "epochs" / f"{START:%Y%m%d}" / f"{START:%Y%m%d}.sltd.geo.tif"
    first.write_bytes(b"II*\x00 this is not a GeoTIFF")
    poll_target(ctx, settings.target("agung"), NOW)
    assert flagged(ctx)
    for s in flagged(ctx):
        assert s.correction_method == "icams" and s.correction is not None
        (fallback,) = s.correction["fallbacks"]
        assert fallback["method"] == "gacos" and "broken product" in fallback["reason"]
        assert str(first.name) in fallback["reason"]
    # The broken file never got a name in the cache; the good ICAMS files did.
    cached = Path(settings.watch.cache_dir) / FRAME / "epochs" / f"{START:%Y%m%d}"
    assert not (cached / first.name).exists()
    assert (cached / f"{START:%Y%m%d}.icams.sltd.geo.tif").is_file()
    assert not list(cached.glob("*.part"))


def test_no_usable_source_keeps_the_raw_decision_and_says_so(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel) -> None:
    settings, ctx, archive = make_world(tmp_path, staging["quiet"], model)
    shutil.rmtree(archive / FRAME / "epochs")
    (archive / FRAME / "metadata" / f"{FRAME}.geo.hgt.tif").unlink()
    poll_target(ctx, settings.target("agung"), NOW)
    assert flagged(ctx)
    for s in flagged(ctx):
        assert s.correction_method == "none" and not s.corrected
        assert s.correction is not None and "height file" in s.correction["reason"]
        assert s.decision_p_fused == s.p_fused
    alerts = ctx.store.list_alerts()
    assert alerts, "the raw decision stands when no correction can be made"
    assert "no atmospheric correction possible" in alerts[0].message
    deliver_outbox(ctx, NOW)
    (eml,) = sorted(Path(settings.email.outbox_dir).glob("*.eml"))[:1]
    msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "no atmospheric correction possible" in body.get_content()


def test_deformation_survives_the_correction_and_the_email_says_which(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel) -> None:
    settings, ctx, _ = make_world(tmp_path, staging["inflating"], model)
    poll_target(ctx, settings.target("agung"), NOW)
    later = [s for s in scored(ctx) if s.epoch > START + timedelta(days=12)]
    assert later and all(s.correction_method == "gacos" for s in later)
    assert all(s.p_fused_corrected is not None and s.p_fused_corrected > 0.5 for s in later)
    alerts = ctx.store.list_alerts()
    assert alerts and "atmosphere-corrected scores (gacos)" in alerts[0].message
    deliver_outbox(ctx, NOW)
    texts = []
    for eml in sorted(Path(settings.email.outbox_dir).glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
        body = msg.get_body(preferencelist=("plain",))
        assert body is not None
        texts.append(body.get_content())
    assert texts and all("after atmospheric correction: gacos" in t for t in texts)
    assert all("Raw fused probability (before correction)" in t for t in texts)


def test_a_numerical_failure_of_the_fit_is_recorded_and_the_step_still_decided(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def singular(*args: object, **kwargs: object) -> None:
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(scoring, "correct_with_dem", singular)
    settings, ctx, archive = make_world(tmp_path, staging["quiet"], model)
    shutil.rmtree(archive / FRAME / "epochs")
    report = poll_target(ctx, settings.target("agung"), NOW)
    assert report.scored == N_EPOCHS - 1 and not report.failures
    assert flagged(ctx)
    for s in flagged(ctx):
        assert s.correction_method == "none" and s.correction is not None
        assert "LinAlgError: SVD did not converge" in s.correction["reason"]
