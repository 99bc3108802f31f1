"""`make demo` runs the watch over a synthetic archive and raises the alert after onset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main


@pytest.mark.slow
def test_demo_runs_the_watch_end_to_end(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    table = lines[1:-1]
    assert summary["epochs"] == 40 and summary["scored"] == 39 and len(table) == 40
    assert summary["alerts_raised"] >= 1
    assert summary["first_alert_epoch"] > summary["onset"]  # no alert before the onset
    assert len(summary["emails"]) == summary["alerts_raised"]
    assert b"Content-Type: image/png" in (tmp_path / "outbox" / summary["emails"][0]).read_bytes()
    assert Path(summary["figure"]).stat().st_size > 10_000
    # running it again gives the same result (fresh database, same archive seed)
    assert main(["demo", "--out", str(tmp_path)]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["first_alert_epoch"] == summary["first_alert_epoch"]
