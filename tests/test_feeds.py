"""The published feeds: CAP 1.2 per alert (valid against the OASIS schema), Atom, GeoJSON.

The alerts are real: a synthetic LiCSAR-layout archive (a Mogi source inflating from
``ONSET`` at 0.5 m/yr under weak turbulence, 12 epochs 12 days apart, 128 x 128 pixels, as
in ``tests/test_pipeline.py``) polled once by the packaged ``compact`` detector. The
target's name holds ``<``, ``&`` and quotes; a second target has no data at all. A
``cleared`` alert (level 0, as the alert policy records when a level clears) is added by
hand where a test needs one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

import monitor
from monitor.cli import main
from monitor.config import FeedSettings, Settings, load_settings, settings_from_mapping
from monitor.domain import AlertLevel
from monitor.errors import ConfigError, FeedError
from monitor.feeds import cap
from monitor.feeds.atom import atom_feed
from monitor.feeds.geojson import geojson_bytes
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.daemon import Daemon
from monitor.service.feeds import FeedReport, feeds_dir, publish_feeds
from monitor.service.pipeline import poll_target
from monitor.service.target_status import watch_status
from monitor.store import Store, make_engine, upgrade

FRAME = "022D_04826_121209"
FRAME_EMPTY = "087A_05000_131313"
ONSET = date(2024, 2, 23)
POLL_AT = datetime(2025, 1, 1, 12, tzinfo=UTC)
NOW = datetime(2025, 1, 2, 8, tzinfo=UTC)
NAME = 'Volcán <Test> & "Sons" \'quoted\''
XSD = Path(monitor.__file__).parent / "data" / "schemas" / "CAP-v1.2.xsd"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "atom": "http://www.w3.org/2005/Atom"}
BASE = "https://example.org/insar/"


@dataclass(frozen=True)
class World:
    root: Path
    cfg: Path
    settings: Settings
    store: Store


def _config(tmp: Path) -> Path:
    cfg = tmp / "monitor.toml"
    name = NAME.replace("\\", "\\\\").replace('"', '\\"')
    cfg.write_text(f"""
[database]
url = "sqlite:///{tmp}/watch.db"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
jitter_s = 0
[email]
mode = "dry-run"
outbox_dir = "{tmp}/outbox"
[metrics]
enabled = false
[archives.local]
kind = "local"
root = "{tmp}/archive"
[[targets]]
id = "synth1"
name = "{name}"
lon = 120.0
lat = 14.0
radius_km = 1.5
archive = "local"
frames = ["{FRAME}"]
recipients = ["observatory@example.org"]
[[targets]]
id = "quiet2"
name = "Nothing Yet"
lon = -179.99
lat = -60.0
radius_km = 2.0
archive = "local"
frames = ["{FRAME_EMPTY}"]
""", encoding="utf-8")
    return cfg


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model: LoadedModel) -> World:
    """One poll of the synthetic archive: a store with real alerts and quicklooks."""
    tmp = tmp_path_factory.mktemp("feeds")
    write_synthetic_archive(
        tmp / "archive", scenario=SeriesScenario(n_epochs=12, onset=ONSET, rate_m_per_yr=0.5,
                                                 stratified_strength="none",
                                                 decorrelate=False),
        frame=FRAME, volcano="synthetic", size_px=128, centre_lonlat=(120.0, 14.0), seed=3)
    cfg = _config(tmp)
    settings = load_settings(cfg, environ={})
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    ctx = WatchContext.from_settings(settings, store, model)
    poll_target(ctx, settings.target("synth1"), POLL_AT)
    store.upsert_target("quiet2", "Nothing Yet", -179.99, -60.0, 2.0, POLL_AT)
    assert store.list_alerts("synth1"), "the synthetic uplift must raise an alert"
    return World(tmp, cfg, settings, store)


def _with_feeds(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"feeds": settings.feeds.model_copy(update=changes)})


def _cap_tree(path: Path) -> etree._Element:
    return etree.fromstring(path.read_bytes())


def _params(doc: etree._Element) -> dict[str, str]:
    return {p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
            for p in doc.iterfind("cap:info/cap:parameter", NS)}


def _inside(lat: float, lon: float, ring: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting in the (lon, lat) plane."""
    inside = False
    for (la1, lo1), (la2, lo2) in zip(ring, ring[1:], strict=False):
        if (la1 > lat) != (la2 > lat):
            cross = lo1 + (lat - la1) * (lo2 - lo1) / (la2 - la1)
            inside ^= lon < cross
    return inside


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * cap.EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def test_every_cap_document_is_valid_cap_1_2_and_says_what_the_alert_says(
        world: World, tmp_path: Path, model: LoadedModel) -> None:
    report = publish_feeds(world.store, world.settings, tmp_path / "feeds", NOW)
    alerts = world.store.list_alerts("synth1")
    assert len(report.cap_files) == len(alerts) >= 1
    schema = xmlschema.XMLSchema(str(XSD))  # the vendored OASIS schema, read on its own
    views = {v.epoch: v for v in watch_status(world.store, world.settings)[0].history}
    for alert, path in zip(alerts, report.cap_files, strict=True):
        schema.validate(str(path))  # raises on any violation
        assert cap.schema_errors(path.read_bytes()) == []
        doc = _cap_tree(path)
        ident = f"insar-monitor.localhost.synth1.{alert.id}"
        assert path.name == f"{ident}.xml"
        assert doc.findtext("cap:identifier", namespaces=NS) == ident
        assert doc.findtext("cap:sender", namespaces=NS) == "insar-monitor@localhost"
        sent = doc.findtext("cap:sent", namespaces=NS)
        assert sent == alert.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")
        assert doc.findtext("cap:status", namespaces=NS) == "Actual"
        assert doc.findtext("cap:msgType", namespaces=NS) == "Alert"
        assert doc.findtext("cap:scope", namespaces=NS) == "Public"
        info = doc.find("cap:info", NS)
        assert info is not None
        assert info.findtext("cap:category", namespaces=NS) == "Geo"
        assert info.findtext("cap:event", namespaces=NS) == (
            "Ground deformation (automated InSAR detection)")
        level = AlertLevel(alert.level)
        expected = {AlertLevel.WATCH: ("Future", "Minor", "Possible"),
                    AlertLevel.WARNING: ("Future", "Moderate", "Likely")}[level]
        assert tuple(info.findtext(f"cap:{k}", namespaces=NS)
                     for k in ("urgency", "severity", "certainty")) == expected
        params = _params(doc)
        view = views[alert.epoch]
        assert params["deformation_level"] == level.name.lower()
        assert params["deformation_level_number"] == str(int(level))
        assert params["epoch"] == alert.epoch.isoformat() and params["frame"] == FRAME
        assert view.p_decision is not None and view.p_raw is not None
        assert float(params["p_decision"]) == pytest.approx(view.p_decision, abs=1e-4)
        assert float(params["p_raw"]) == pytest.approx(view.p_raw, abs=1e-4)
        assert float(params["lstt_p"]) == pytest.approx(view.lstt_p_decision, rel=1e-3)
        assert view.bell_m is not None and view.bell_m > 0  # uplift: towards the satellite
        assert float(params["los_displacement_m"]) == pytest.approx(view.bell_m, abs=1e-4)
        assert params["los_direction"] == "towards the satellite"
        assert params["detector_sha256"] == model.sha256
        # No base URL: no <web>; the quicklook is a resource beside it, with its SHA-1.
        assert info.find("cap:web", NS) is None
        png = world.root / "quicklooks" / f"synth1_{alert.epoch:%Y%m%d}.png"
        assert info.findtext("cap:resource/cap:mimeType", namespaces=NS) == "image/png"
        assert info.findtext("cap:resource/cap:digest", namespaces=NS) == hashlib.sha1(
            png.read_bytes()).hexdigest()
        assert (tmp_path / "feeds" / "quicklooks" / png.name).read_bytes() == png.read_bytes()
        # The target disc: a closed ring of "lat,lon" pairs around the centre, and a circle.
        ring = [tuple(map(float, pair.split(",")))
                for pair in info.findtext("cap:area/cap:polygon", namespaces=NS).split()]
        assert len(ring) == cap.POLYGON_VERTICES + 1 >= 4 and ring[0] == ring[-1]
        assert _inside(14.0, 120.0, ring)  # type: ignore[arg-type]
        assert not _inside(14.1, 120.0, ring)  # type: ignore[arg-type]
        assert all(_haversine_km(14.0, 120.0, la, lo) == pytest.approx(1.5, rel=1e-3)
                   for la, lo in ring)
        assert info.findtext("cap:area/cap:circle", namespaces=NS) == "14.00000,120.00000 1.5"


def test_free_text_names_are_escaped(world: World, tmp_path: Path) -> None:
    report = publish_feeds(world.store, world.settings, tmp_path, NOW)
    raw = report.cap_files[0].read_bytes()
    assert b"<Test>" not in raw and b"&lt;Test&gt; &amp;" in raw
    area = _cap_tree(report.cap_files[0]).findtext("cap:info/cap:area/cap:areaDesc",
                                                   namespaces=NS)
    assert area is not None and area.startswith(NAME + ":")
    atom = etree.fromstring(report.atom.read_bytes())
    assert NAME in atom.findtext("atom:entry/atom:title", namespaces=NS)  # type: ignore[operator]
    geo = json.loads(report.geojson.read_text(encoding="utf-8"))
    assert geo["features"][0]["properties"]["name"] == NAME
    # Characters XML cannot hold (a control character) are dropped, not a crash.
    assert cap.xml_text("a\x00b\x1fc\u00e9") == "abc\u00e9"


def test_publishing_twice_gives_the_same_bytes_and_rewrites_nothing(
        world: World, tmp_path: Path) -> None:
    first = publish_feeds(world.store, world.settings, tmp_path, NOW)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"atom.xml", "alerts.geojson"}
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    again = publish_feeds(world.store, world.settings, tmp_path, NOW + timedelta(days=3))
    assert first.written == len(files) and again.written == 0
    assert again.unchanged == len(files)
    assert first.validated == len(first.cap_files) >= 1 and again.validated == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
    # Into a fresh folder, later: byte for byte the same files.
    other = tmp_path.parent / f"{tmp_path.name}-again"
    publish_feeds(world.store, world.settings, other, NOW + timedelta(days=30))
    assert {p.relative_to(other): p.read_bytes() for p in other.rglob("*") if p.is_file()} \
        == {p.relative_to(tmp_path): b for p, (b, _) in before.items()}
    shutil.rmtree(other)


def test_geojson_has_one_feature_per_target_with_the_levels_the_store_says(
        world: World, tmp_path: Path) -> None:
    report = publish_feeds(world.store, world.settings, tmp_path, NOW)

    def no_nan(token: str) -> float:
        raise AssertionError(f"{token} in the GeoJSON")

    geo = json.loads(report.geojson.read_text(encoding="utf-8"), parse_constant=no_nan)
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 2
    status = {s.target.id: s for s in watch_status(world.store, world.settings)}
    one, two = geo["features"]
    assert one["geometry"] == {"type": "Point", "coordinates": [120.0, 14.0]}  # lon, lat
    assert two["geometry"]["coordinates"] == [-179.99, -60.0]
    p = one["properties"]
    s1 = status["synth1"]
    assert s1.latest is not None and s1.level > AlertLevel.NONE
    assert (p["id"], p["level"], p["level_number"]) == (
        "synth1", s1.level.name.lower(), int(s1.level))
    assert p["level_since"] == (s1.level_since.isoformat() if s1.level_since else None)
    assert p["epoch"] == s1.latest.epoch.isoformat() and p["frame"] == FRAME
    assert p["p_decision"] == pytest.approx(s1.latest.p_decision, abs=1e-4)
    assert p["p_raw"] == pytest.approx(s1.latest.p_raw, abs=1e-4)
    assert p["lstt_p"] == pytest.approx(s1.latest.lstt_p_decision, rel=1e-3, abs=1e-6)
    assert p["displacement_m"] == pytest.approx(s1.latest.bell_m, abs=1e-4)
    assert p["displacement_direction"] == "towards the satellite"
    frame = s1.frames[0]
    assert frame.newest_epoch is not None and frame.ingested_at is not None
    assert p["lag_days"] == {FRAME: pytest.approx(
        (POLL_AT - datetime.combine(frame.newest_epoch, datetime.min.time(), UTC)
         ).total_seconds() / 86400, abs=0.01)}
    assert p["unacknowledged_alerts"] == s1.unacknowledged == len(s1.alerts)
    assert p["official_volcano_alert_level"] is False
    assert "not an official volcano alert level" in p["notice"]
    q = two["properties"]
    assert (q["level"], q["level_number"], q["level_since"], q["epoch"]) == ("none", 0, None,
                                                                           None)
    assert q["p_decision"] is None and q["displacement_m"] is None
    assert q["lag_days"] == {FRAME_EMPTY: None} and q["latest_notice"] is None


def test_atom_feed_has_one_entry_per_alert_newest_first(world: World, tmp_path: Path) -> None:
    settings = _with_feeds(world.settings, base_url=BASE, title="Feed & <title>")
    report = publish_feeds(world.store, settings, tmp_path, NOW)
    feed = etree.fromstring(report.atom.read_bytes())
    alerts = world.store.list_alerts()
    entries = feed.findall("atom:entry", NS)
    assert len(entries) == len(alerts)
    assert feed.findtext("atom:title", namespaces=NS) == "Feed & <title>"
    assert feed.findtext("atom:id", namespaces=NS) == BASE + "atom.xml"
    newest = max(a.created_at for a in alerts)
    assert datetime.fromisoformat(feed.findtext("atom:updated", namespaces=NS)) == newest
    ordered = sorted(alerts, key=lambda a: (a.created_at, a.id), reverse=True)
    for alert, entry in zip(ordered, entries, strict=True):
        ident = f"insar-monitor.localhost.{alert.target_id}.{alert.id}"
        assert entry.findtext("atom:id", namespaces=NS) == (
            f"tag:insar-monitor@localhost,{alert.created_at:%Y-%m-%d}:cap/{ident}")
        link = entry.find("atom:link[@rel='alternate']", NS)
        assert link is not None and link.get("type") == "application/cap+xml"
        assert link.get("href") == f"{BASE}cap/{ident}.xml"
        assert (tmp_path / "cap" / f"{ident}.xml").is_file()
        assert "not an official volcano alert level" in entry.findtext(  # type: ignore[operator]
            "atom:summary", namespaces=NS)
    # With a base URL the CAP <web> is the quicklook's URL, served from the same folder.
    doc = _cap_tree(report.cap_files[0])
    web = doc.findtext("cap:info/cap:web", namespaces=NS)
    assert web == f"{BASE}quicklooks/synth1_{alerts[0].epoch:%Y%m%d}.png"
    assert (tmp_path / web.removeprefix(BASE)).is_file()
    cap.validate(report.cap_files[0].read_bytes(), "the first alert")


def test_a_cleared_alert_is_an_update_referencing_the_alerts_it_clears(
        world: World, tmp_path: Path, model: LoadedModel) -> None:
    raised = world.store.list_alerts("synth1")
    cleared_epoch = raised[-1].epoch + timedelta(days=36)
    row = world.store.raise_alert("synth1", cleared_epoch, "cleared", AlertLevel.NONE,
                                  "level cleared after 3 quiet epochs", NOW)
    assert row is not None
    try:
        report = publish_feeds(world.store, _with_feeds(world.settings, status="Exercise"),
                               tmp_path, NOW)
        path = tmp_path / "cap" / f"insar-monitor.localhost.synth1.{row.id}.xml"
        assert path in report.cap_files
        xmlschema.XMLSchema(str(XSD)).validate(str(path))
        doc = _cap_tree(path)
        assert doc.findtext("cap:msgType", namespaces=NS) == "Update"
        assert doc.findtext("cap:status", namespaces=NS) == "Exercise"
        refs = doc.findtext("cap:references", namespaces=NS).split()  # type: ignore[union-attr]
        assert refs == [f"insar-monitor@localhost,insar-monitor.localhost.synth1.{a.id},"
                        f"{a.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}-00:00"
                        for a in raised]
        info = doc.find("cap:info", NS)
        assert info is not None
        assert [info.findtext(f"cap:{k}", namespaces=NS) for k in
                ("responseType", "urgency", "severity", "certainty")] == [
            "AllClear", "Past", "Minor", "Unlikely"]
        assert _params(doc)["deformation_level"] == "none"
        assert "cleared" in info.findtext("cap:headline", namespaces=NS)  # type: ignore[operator]
        for other in report.cap_files:
            if other != path:
                assert _cap_tree(other).find("cap:references", NS) is None
    finally:
        with world.store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM alerts WHERE id = ?", (row.id,))


def test_an_invalid_document_is_refused_naming_the_alert(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = cap.cap_document

    def bad_status(*args: object, **kwargs: object) -> bytes:
        return build(*args, **kwargs).replace(b"<status>Actual</status>",  # type: ignore[arg-type]
                                              b"<status>Rumour</status>")

    monkeypatch.setattr(cap, "cap_document", bad_status)
    first = world.store.list_alerts("synth1")[0]
    with pytest.raises(FeedError, match=rf"alert {first.id} .*of target synth1 is not valid "
                                        r"CAP 1\.2 .*status.*not published"):
        publish_feeds(world.store, world.settings, tmp_path / "out", NOW)
    assert not (tmp_path / "out").exists()  # nothing half-published
    with pytest.raises(FeedError, match="not well-formed"):
        cap.validate(b"<alert", "a broken document")


def test_no_text_claims_an_official_volcano_alert_level(world: World, tmp_path: Path) -> None:
    report = publish_feeds(world.store, world.settings, tmp_path, NOW)
    texts = [p.read_text(encoding="utf-8") for p in
             (*report.cap_files, report.atom, report.geojson)]
    allowed = re.compile(r"not an official volcano alert level|the official volcano alert "
                         r"level and any advice|official_volcano_alert_level|only the volcano "
                         r"observatory issues those", re.IGNORECASE)
    for text in texts:
        assert "automated" in text.lower()
        rest = allowed.sub("", text)
        assert not re.search(r"alert level", rest, re.IGNORECASE), rest
        # The watch's level names never appear as bare capitals (USGS-style WATCH/WARNING).
        assert not re.search(r"\b(WATCH|WARNING|ADVISORY|NORMAL|RED|ORANGE)\b", rest)
    for path in report.cap_files:
        doc = _cap_tree(path)
        assert "not an official volcano alert level" in doc.findtext(  # type: ignore[operator]
            "cap:info/cap:description", namespaces=NS)
        assert "not an official volcano alert level" in doc.findtext(  # type: ignore[operator]
            "cap:info/cap:headline", namespaces=NS)
        assert len(doc.findtext("cap:info/cap:headline", namespaces=NS) or "") < 160
        assert _params(doc)["official_volcano_alert_level"] == "not issued by this system"


def test_polygon_of_a_disc_across_the_antimeridian_and_near_a_pole() -> None:
    for lon, lat, r in ((179.99, -60.0, 2.0), (0.0, 85.0, 50.0), (-73.5, 4.9, 0.5)):
        ring = cap.disc_ring(lon, lat, r, 64)
        assert len(ring) == 65 and ring[0] == ring[-1]
        assert all(-180 <= lo < 180 and -90 <= la <= 90 for la, lo in ring)
        assert all(_haversine_km(lat, lon, la, lo) == pytest.approx(r, rel=1e-9)
                   for la, lo in ring)
    with pytest.raises(FeedError, match="at least 3"):
        cap.disc_ring(0, 0, 1, 2)
    with pytest.raises(FeedError, match="naive"):
        cap.cap_time(datetime(2024, 1, 1))


def test_empty_feeds_are_valid_and_fixed() -> None:
    feed = etree.fromstring(atom_feed([], FeedSettings()))
    assert feed.findall("atom:entry", NS) == []
    assert feed.findtext("atom:updated", namespaces=NS) == "1970-01-01T00:00:00+00:00"
    assert feed.findtext("atom:id", namespaces=NS) == (
        "tag:insar-monitor@localhost,2025-01-01:insar-monitor/feeds")
    assert json.loads(geojson_bytes([])) == {"type": "FeatureCollection", "features": []}


def test_feeds_settings_are_validated() -> None:
    ok = settings_from_mapping({"feeds": {"base_url": "https://example.org/x"}})
    assert ok.feeds.base_url == "https://example.org/x/" and ok.feeds.status == "Actual"
    for bad in ({"base_url": "ftp://example.org/"}, {"base_url": "example.org"},
                {"sender": "two words@example.org"}, {"sender": "a,b@example.org"},
                {"status": "Rumour"}, {"language": "en US"}, {"title": ""}):
        with pytest.raises(ConfigError, match="feeds"):
            settings_from_mapping({"feeds": bad})


def test_cli_feeds_writes_and_prints_what_it_wrote(world: World, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feeds", "--config", str(world.cfg), "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["out"] == str(tmp_path) and out["status"] == "Actual"
    assert len(out["cap"]) == len(world.store.list_alerts())
    assert all(Path(p).is_file() for p in (*out["cap"], out["atom"], out["geojson"]))
    assert out["written"] == len(out["cap"]) + 2 + len(out["quicklooks"])
    assert out["validated"] == len(out["cap"])


def test_daemon_publishes_after_polls_and_a_failure_never_stops_it(
        world: World, model: LoadedModel, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    folder = feeds_dir(world.settings)
    assert folder == world.root / "feeds"  # beside the quicklooks when [feeds] dir is empty
    shutil.rmtree(folder, ignore_errors=True)
    daemon = Daemon(world.settings, str(world.cfg), model_loader=lambda: model)
    outcome = daemon.poll_and_deliver(world.settings.target("synth1"))  # nothing new
    assert outcome.ok and (folder / "atom.xml").is_file() and (folder / "alerts.geojson").is_file()
    assert len(list((folder / "cap").glob("*.xml"))) == len(world.store.list_alerts())

    def broken(*args: object, **kwargs: object) -> FeedReport:
        raise FeedError("the CAP document of alert 1 is not valid CAP 1.2")

    monkeypatch.setattr("monitor.service.daemon.publish_feeds", broken)
    caplog.set_level(logging.ERROR, logger="monitor")
    # A poll that records nothing leaves the feeds as they are (they read every target).
    assert daemon.poll_and_deliver(world.settings.target("synth1")).ok
    assert "publishing the feeds" not in caplog.text
    # A daemon's first poll writes them: a failure is logged and the watch goes on.
    daemon = Daemon(world.settings, str(world.cfg), model_loader=lambda: model)
    outcome = daemon.poll_and_deliver(world.settings.target("synth1"))
    assert outcome.ok and outcome.error is None
    assert "publishing the feeds" in caplog.text and "alert 1" in caplog.text
    disabled = Daemon(_with_feeds(world.settings, enabled=False), str(world.cfg),
                      model_loader=lambda: model)
    assert disabled.poll_and_deliver(world.settings.target("synth1")).ok  # broken not called
