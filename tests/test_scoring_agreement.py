"""The watch and ``scan-series`` give every epoch the same scores (one scoring path).

``poll --once`` over an archive and ``scan-series`` over the same archive must agree on
every epoch's raw and decided fused P, raw and decided LSTT p-value, second-look method
and flag to 1e-6, on a synthetic frame (stratified atmosphere over Agung and an inflating
source, with GACOS delays so the second look has a weather model to use) and on real
Sentinel-1 interferograms of Erta Ale (tests/data/erta_ale_014A, a 20 km clip with the
2017 dyke in its last pair, see its README).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import torch

from monitor.cli import main
from monitor.config import load_settings
from monitor.io.synth_archive import KNOWN_VOLCANOES, write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.store import Store, make_engine

torch.set_num_threads(1)

DATA = Path(__file__).parent / "data"
ERTA_ALE = ("014A_07688_131313", 40.67, 13.60)
SYNTH_FRAME = "022D_04826_121209"
TOL = 1e-6


def _config(tmp: Path, root: Path, frame: str, lon: float, lat: float, radius_km: float,
            detector: str = "cnn") -> Path:
    path = tmp / "watch.toml"
    path.write_text(f"""
[science]
detector = "{detector}"
[database]
url = "sqlite:///{tmp / 'watch.db'}"
[watch]
series_dir = "{tmp / 'series'}"
cache_dir = "{tmp / 'cache'}"
quicklook_dir = "{tmp / 'quicklooks'}"
[email]
mode = "dry-run"
outbox_dir = "{tmp / 'outbox'}"
[archives.local]
kind = "local"
root = "{root}"
[[targets]]
id = "volcano"
name = "Volcano"
lon = {lon}
lat = {lat}
radius_km = {radius_km}
archive = "local"
frames = ["{frame}"]
""", encoding="utf-8")
    return path


def _watch_and_scan(tmp: Path, root: Path, frame: str, lon: float, lat: float,
                    radius_km: float, capsys: pytest.CaptureFixture[str],
                    detector: str = "cnn"
                    ) -> tuple[dict[date, Any], dict[date, dict[str, Any]]]:
    config = _config(tmp, root, frame, lon, lat, radius_km, detector)
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["poll", "volcano", "--once", "--config", str(config)]) == 0
    capsys.readouterr()
    settings = load_settings(config)
    watch = {s.epoch: s for s in
             Store(make_engine(settings.database.url)).latest_scores("volcano", 10_000)}
    assert main(["scan-series", str(root), "--frame", frame,
                 f"--target={lon},{lat},{radius_km}", "--json", "--config", str(config),
                 "--threads", "1"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    scan = {date.fromisoformat(r["epoch"]): r for r in lines if r["scored"]}
    return watch, scan


def _close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None
                                         and abs(a - b) <= TOL)


def _assert_agree(watch: dict[date, Any], scan: dict[date, dict[str, Any]],
                  threshold: float = 0.5) -> float:
    """Every epoch agrees; returns the largest difference of any score."""
    assert watch and set(watch) == set(scan)
    largest = 0.0
    for epoch, w in watch.items():
        r = scan[epoch]
        corrected = r["correction_method"] is not None
        pairs = [(w.p_fused, r["p_fused_raw"] if corrected else r["p_fused"]),
                 (w.lstt_p, r["lstt_p_raw"] if corrected else r["lstt_p"]),
                 (w.decision_p_fused, r["p_fused"]), (w.decision_lstt_p, r["lstt_p"])]
        for a, b in pairs:
            assert _close(a, b), (epoch, pairs)
            if a is not None and b is not None:
                largest = max(largest, abs(a - b))
        assert w.correction_method == r["correction_method"], epoch
        assert (w.decision_p_fused > threshold) == r["flag"], epoch
    return largest


def test_watch_and_scan_series_agree_on_a_synthetic_frame(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "archive"
    scenario = SeriesScenario(n_epochs=8, onset=date(2024, 2, 11), rate_m_per_yr=0.3,
                              stratified_strength="strong", decorrelate=False)
    write_synthetic_archive(root, scenario=scenario, frame=SYNTH_FRAME, volcano="agung",
                            size_px=120, seed=11, delays=("gacos",))
    lon, lat = KNOWN_VOLCANOES["agung"]
    watch, scan = _watch_and_scan(tmp_path, root, SYNTH_FRAME, lon, lat, 2.0, capsys)
    _assert_agree(watch, scan)
    # The comparison covers the second look too: some steps were corrected.
    assert any(w.correction_method is not None for w in watch.values())


@pytest.mark.parametrize("radius_km", [3.0, 6.0])
def test_watch_and_scan_series_agree_on_real_erta_ale(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], radius_km: float) -> None:
    root = tmp_path / "archive"
    shutil.copytree(DATA / "erta_ale_014A", root)
    frame, lon, lat = ERTA_ALE
    watch, scan = _watch_and_scan(tmp_path, root, frame, lon, lat, radius_km, capsys)
    _assert_agree(watch, scan)
    if radius_km == 3.0:
        # On the real 20 km clip the LSTT runs on every epoch with a 3 km disc.
        assert all(r["lstt_p"] is not None for r in scan.values()), \
            [r["lstt_error"] for r in scan.values() if r["lstt_p"] is None]
    else:
        # A 6 km disc leaves no stable ground on the clip for the empirical null's windows
        # of its shape: every epoch says so instead of giving an uncalibrated p-value.
        assert all(r["lstt_p"] is None and "no room for null windows" in r["lstt_error"]
                   for r in scan.values())
    # The dyke's first pair (20170111_20170204) is flagged.
    assert scan[date(2017, 2, 4)]["flag"]


def test_watch_and_scan_series_agree_with_the_block_detector_on_real_erta_ale(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``[science] detector = "blocks"``: the watch (its executor's worker loads the
    block model) and ``scan-series`` score every epoch alike with the packaged block
    detector, and it flags the dyke's first pair."""
    root = tmp_path / "archive"
    shutil.copytree(DATA / "erta_ale_014A", root)
    frame, lon, lat = ERTA_ALE
    watch, scan = _watch_and_scan(tmp_path, root, frame, lon, lat, 3.0, capsys, "blocks")
    _assert_agree(watch, scan)
    assert {r["model"]["arch"] for r in scan.values()} == {"blocks"}
    assert all(r["p_by_gain"] in ({}, None) for r in scan.values())
    assert scan[date(2017, 2, 4)]["flag"]
