"""A target on two frames that share acquisition dates (adjacent frames of one track).

Both frames cover the same target and list the same 12 epochs: ``inflating`` holds a Mogi
source inflating from ``ONSET`` at 0.5 m/yr (as in test_pipeline.py), ``quiet`` only weak
turbulence. Scores are keyed by (target, epoch), so the frame scored second used to
replace the first frame's score of every shared date: a quiet frame listed after the
inflating one silently took its alert back. The more alarming score must stand, in
either order.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import torch

from monitor.config import Settings, settings_from_mapping
from monitor.domain import AlertLevel
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.pipeline import poll_target
from monitor.store import Store, make_engine, upgrade

torch.set_num_threads(1)

INFLATING = "022D_04826_121209"
QUIET = "022D_04827_121210"
ONSET = date(2024, 2, 23)
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
CENTRE = (120.0, 14.0)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for frame, onset, seed in ((INFLATING, ONSET, 3), (QUIET, None, 5)):
        scenario = SeriesScenario(n_epochs=12, onset=onset, rate_m_per_yr=0.5,
                                  stratified_strength="none", decorrelate=False)
        write_synthetic_archive(root, scenario=scenario, frame=frame, volcano="synthetic",
                                size_px=128, centre_lonlat=CENTRE, seed=seed)
    return root


def world(tmp: Path, archive: Path, model: LoadedModel,
          frames: list[str]) -> tuple[Settings, WatchContext]:
    tmp.mkdir(parents=True)
    settings = settings_from_mapping({
        "database": {"url": f"sqlite:///{tmp / 'watch.db'}"},
        "watch": {"series_dir": str(tmp / "series"), "cache_dir": str(tmp / "cache"),
                  "quicklook_dir": str(tmp / "quicklooks")},
        "email": {"mode": "dry-run", "outbox_dir": str(tmp / "outbox")},
        "archives": {"local": {"kind": "local", "root": str(archive)}},
        "targets": [{"id": "twin", "name": "Two frames", "lon": CENTRE[0], "lat": CENTRE[1],
                     "radius_km": 1.5, "archive": "local", "frames": frames,
                     "recipients": ["observatory@example.org"]}],
    }, "test_multi_frame")
    upgrade(settings.database.url)
    return settings, WatchContext.from_settings(
        settings, Store(make_engine(settings.database.url)), model, None)


def test_the_more_alarming_frame_stands_in_either_order(tmp_path: Path, archive: Path,
                                                        model: LoadedModel) -> None:
    # What the inflating frame alone raises.
    settings, ctx = world(tmp_path / "alone", archive, model, [INFLATING])
    poll_target(ctx, settings.target("twin"), NOW)
    alone = [(a.epoch, a.level) for a in ctx.store.list_alerts("twin")]
    assert alone and alone[0][1] == AlertLevel.WATCH and alone[0][0] > ONSET
    alone_scores = {s.epoch: s.decision_p_fused for s in ctx.store.latest_scores("twin", 100)}
    for order in ([INFLATING, QUIET], [QUIET, INFLATING]):
        settings, ctx = world(tmp_path / "-".join(order), archive, model, order)
        report = poll_target(ctx, settings.target("twin"), NOW)
        assert report.scored == 22 - sum("stands" in n for n in report.notes)
        scores = ctx.store.latest_scores("twin", 100)
        assert len(scores) == 11
        # Every qualifying step of the inflating frame is still its own, scores included.
        for s in scores:
            p_alone = alone_scores[s.epoch]
            assert p_alone is not None and s.decision_p_fused is not None
            assert s.decision_p_fused >= p_alone - 1e-9, (order, s.epoch)
            if p_alone >= 0.5:
                assert s.params["frame"] == INFLATING, (order, s.epoch)
        assert [(a.epoch, a.level) for a in ctx.store.list_alerts("twin")] == alone, order
        # A second poll changes nothing.
        poll_target(ctx, settings.target("twin"), NOW)
        assert [(s.epoch, s.params["frame"], s.decision_p_fused)
                for s in ctx.store.latest_scores("twin", 100)] == [
            (s.epoch, s.params["frame"], s.decision_p_fused) for s in scores]
