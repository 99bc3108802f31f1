"""`make demo` runs the watch over a synthetic archive and raises the alert after onset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xmlschema

import monitor
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
    # ... and the feeds it would publish: a valid CAP 1.2 Exercise per alert, Atom, GeoJSON.
    feeds = tmp_path / "feeds"
    assert Path(summary["feeds"]["dir"]) == feeds
    caps = sorted((feeds / "cap").glob("*.xml"))
    assert [p.name for p in caps] == sorted(summary["feeds"]["cap"])
    assert len(caps) == summary["alerts_raised"]
    schema = xmlschema.XMLSchema(str(Path(monitor.__file__).parent / "data" / "schemas"
                                     / "CAP-v1.2.xsd"))
    for path in caps:
        schema.validate(str(path))
        assert b"<status>Exercise</status>" in path.read_bytes()
    assert (feeds / "atom.xml").read_bytes().count(b"<entry>") == len(caps)
    geo = json.loads((feeds / "alerts.geojson").read_text(encoding="utf-8"))
    assert [f["id"] for f in geo["features"]] == ["demo"]
    assert geo["features"][0]["properties"]["level"] != "none"
    # running it again gives the same result (fresh database, same archive seed)
    assert main(["demo", "--out", str(tmp_path)]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["first_alert_epoch"] == summary["first_alert_epoch"]
