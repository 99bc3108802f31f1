"""Log output an operator can parse: JSON lines with structured fields, and the
configuration's ``[logging]`` section applied by the watch commands."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.domain import AlertLevel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario

ROOT = Path(__file__).resolve().parents[1]
FRAME = "022D_04826_121209"
BROKEN = "087A_05000_131313"


def _json_lines(capfd: pytest.CaptureFixture[str], **extra: Any) -> dict[str, Any]:
    """One record logged with ``extra`` through the handler ``--log-json`` installs."""
    capfd.readouterr()
    logging.getLogger("monitor.x").warning("poll %s: %d", "etna", 3, extra=extra)
    return dict(json.loads(capfd.readouterr().err.strip().splitlines()[-1]))


def test_json_line_carries_whitelisted_fields_json_safe(
        capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-json", "config", "show"]) == 0  # installs the JSON-lines handler
    doc = _json_lines(capfd, target="etna", frame=FRAME, epoch=date(2024, 2, 23),
                      alert_level=AlertLevel.WARNING, duration_s=1.25, alert_id=7,
                      delivery_id=9, channel="email", password="secret", other=float("nan"))
    assert doc.pop("message") == "poll etna: 3" and doc.pop("level") == "WARNING"
    assert doc.pop("logger") == "monitor.x" and doc.pop("time").endswith("+00:00")
    assert doc == {"target": "etna", "frame": FRAME, "epoch": "2024-02-23",
                   "alert_level": "warning", "duration_s": 1.25, "alert_id": 7,
                   "delivery_id": 9, "channel": "email"}  # only the whitelist travels
    assert set(_json_lines(capfd)) == {"time", "level", "logger", "message"}
    assert _json_lines(capfd, duration_s=float("inf"))["duration_s"] == "inf"


def _config(tmp: Path, archive: Path, logging_section: str) -> Path:
    tmp.mkdir(exist_ok=True)
    cfg = tmp / "watch.toml"
    targets = ""
    for tid, frame in (("synth1", FRAME), ("broken", BROKEN)):
        targets += f"""
[[targets]]
id = "{tid}"
name = "Target {tid}"
lon = 120.0
lat = 14.0
radius_km = 1.5
archive = "local"
frames = ["{frame}"]
recipients = ["observatory@example.org"]
"""
    cfg.write_text(f"""
[database]
url = "sqlite:///{tmp}/watch.db"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
jitter_s = 0
[science]
# The CNN: this scenario's alerts come from its single-map rule. On a 128-pixel frame
# (13 km, under one 20 km window) the block detector, the default, is not calibrated.
detector = "cnn"
[email]
mode = "dry-run"
outbox_dir = "{tmp}/outbox"
[metrics]
enabled = false
[archives.local]
kind = "local"
root = "{archive}"
{logging_section}
{targets}""", encoding="utf-8")
    return cfg


def _run_once(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "monitor", *args, "run", "--once",
                           "--config", str(cfg)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_run_once_subprocess_writes_structured_json_lines(tmp_path: Path) -> None:
    scenario = SeriesScenario(n_epochs=8, onset=date(2024, 2, 11), rate_m_per_yr=0.8,
                              stratified_strength="none", decorrelate=False)
    write_synthetic_archive(tmp_path / "archive", scenario=scenario, frame=FRAME,
                            volcano="synthetic", size_px=128, centre_lonlat=(120.0, 14.0),
                            seed=3)
    pair = tmp_path / "archive" / BROKEN / "interferograms" / "20240101_20240113"
    pair.mkdir(parents=True)
    (pair / "20240101_20240113.geo.unw.tif").write_bytes(b"not a raster")
    cfg = _config(tmp_path / "json", tmp_path / "archive",
                  '[logging]\nlevel = "INFO"\njson_lines = true\n')
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0

    proc = _run_once(cfg)  # no -v, no --log-json: the file's [logging] decides
    assert proc.returncode == 4, proc.stderr  # the broken product
    docs = [json.loads(x) for x in proc.stderr.splitlines() if x.strip()]
    poll = next(d for d in docs if d["message"].startswith("poll synth1: listed="))
    assert poll["level"] == "INFO" and poll["target"] == "synth1"
    assert isinstance(poll["duration_s"], float) and poll["duration_s"] > 0
    # A product that is not a raster is quarantined (refused for what it holds).
    failed = next(d for d in docs if "product 20240101_20240113 quarantined" in d["message"])
    assert (failed["target"], failed["frame"], failed["epoch"]) == ("broken", BROKEN,
                                                                    "2024-01-13")
    raised = [d for d in docs if "alert_level" in d]
    assert raised, "the scenario's uplift raises an alert"
    assert all(d["target"] == "synth1" and d["level"] == "WARNING" for d in raised)
    assert {d["alert_level"] for d in raised} <= {"watch", "warning"}
    date.fromisoformat(raised[0]["epoch"])
    sent = [d for d in docs if "delivery_id" in d]
    assert sent and all(d["channel"] == "email" and d["alert_id"] in
                        {r["alert_id"] for r in raised} for d in sent)

    # [logging] level = "WARNING": the INFO lines go; text, not JSON, without json_lines
    cfg = _config(tmp_path / "text", tmp_path / "archive", '[logging]\nlevel = "WARNING"\n')
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    proc = _run_once(cfg)
    assert proc.returncode == 4, proc.stderr
    assert " INFO " not in proc.stderr and " WARNING " in proc.stderr
    assert not proc.stderr.lstrip().startswith("{")
