"""The Prometheus rules and Grafana dashboards of deploy/ against the metrics the daemon
really exports.

- ``promtool check rules`` and ``promtool test rules`` (deploy/prometheus/rules_test.yml);
- the dashboards' JSON: datasource, template variables, the panels the requirement names,
  and every metric a query names is one the daemon exports or a rule records;
- a real ``prometheus`` (Debian's package) on 127.0.0.1 scraping a running daemon on a
  small synthetic archive every second and evaluating the rules every second: every
  PromQL expression of the dashboards (panel targets, template variable queries,
  annotations) and every recording rule returns data, every alerting rule evaluates, and
  ``InsarMonitorTargetAboveThreshold`` fires for the inflating target. ``promtool check
  metrics`` passes on the real scrape.

Grafana itself is not installable here (neither Debian nor PyPI has it), so the dashboards
are checked through their queries.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from prometheus_client import CollectorRegistry

from monitor.config import Settings, settings_from_mapping
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.metrics import WatchMetrics
from monitor.science.synth_series import SeriesScenario
from monitor.service.daemon import Daemon
from monitor.store import upgrade

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "rules_test.yml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
DATASOURCE_UID = "insar-monitor-prometheus"
JOB = "insar-monitor"

FRAME = "022D_04826_121209"
QUIET_FRAME = "087A_05000_131313"
#: The inflating target starts at its archive's 21st acquisition: the 20 products before
#: it begin its GLS filter's history (borrowed), so the filter judges from its first
#: epoch and the dashboards' GLS series has data.
LEAD = 20
START = date(2024, 1, 6)
SERIES_START = START + timedelta(days=12 * LEAD)
ONSET = SERIES_START + timedelta(days=14)
SCENARIO = SeriesScenario(start=START, n_epochs=LEAD + 8, onset=ONSET, rate_m_per_yr=0.5,
                          stratified_strength="none", decorrelate=False)
#: What Grafana would put in for its own variables, at a 1 s scrape interval.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "5m", "$__range": "1h"}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not on PATH: install Debian's prometheus package "
                    "(`make system-deps`) to run the Prometheus checks")
    return path


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def load_dashboard(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARDS / f"{name}.json").read_text())
    return data


def panel_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) of every panel target and annotation of a dashboard."""
    out = [(f"panel {p['title']!r} {t['refId']}", t["expr"])
           for p in dashboard["panels"] for t in p.get("targets", ())]
    out += [(f"annotation {a['name']!r}", a["expr"])
            for a in dashboard.get("annotations", {}).get("list", ())]
    return out


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, selector, label) of every ``label_values`` template variable."""
    out = []
    for v in dashboard["templating"]["list"]:
        m = LABEL_VALUES.match(v["query"]["query"])
        assert m, f"variable {v['name']}: only label_values(selector, label) is handled"
        out.append((v["name"], m["selector"], m["label"]))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    for name, value in {**GRAFANA_VARIABLES, **values}.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable is left in {expr!r}"
    return expr


def exported_names() -> set[str]:
    """Every sample name the daemon's registry can export, and every recorded rule."""
    registry = CollectorRegistry()
    WatchMetrics(registry)
    names = {f.name for f in registry.collect()}
    names |= {f"{n}{suffix}" for n in names for suffix in ("_total", "_bucket", "_count",
                                                           "_sum", "_created")}
    return names | {r["record"] for r in rules() if "record" in r} | {"up", "ALERTS"}


def test_rules_pass_promtool() -> None:
    promtool = need("promtool")
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([promtool, "test", "rules", RULES_TEST.name], cwd=RULES.parent,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    alerts = {r["alert"] for r in rules() if "alert" in r}
    assert alerts == {"InsarMonitorDown", "InsarMonitorPollStalled",
                      "InsarMonitorArchiveLagGrowing", "InsarMonitorDeliveriesFailing",
                      "InsarMonitorOutboxGrowing", "InsarMonitorFrameBlocked",
                      "InsarMonitorTargetAboveThreshold"}
    tested = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    assert tested == alerts
    for r in rules():
        if "alert" in r:
            assert set(r["annotations"]) >= {"summary", "description", "runbook"}, r["alert"]
    example = yaml.safe_load((RULES.parent / "prometheus.yml").read_text())
    assert [j["job_name"] for j in example["scrape_configs"]] == [JOB]


def test_dashboards_query_what_the_daemon_exports() -> None:
    names = exported_names()
    metric = re.compile(r"\b(insar_monitor[:\w]*|up|ALERTS)\b")
    for name in ("volcano", "overview"):
        d = load_dashboard(name)
        exprs = panel_exprs(d) + [(f"variable {v}", s) for v, s, _ in variable_queries(d)]
        for where, expr in exprs:
            used = set(metric.findall(expr))
            assert used and used <= names, (name, where, used - names)
        for p in d["panels"]:
            assert p["datasource"]["uid"] == DATASOURCE_UID, (name, p["title"])
            for t in p["targets"]:
                assert t["datasource"]["uid"] == DATASOURCE_UID, (name, p["title"])
    volcano = load_dashboard("volcano")
    assert [v for v, _, _ in variable_queries(volcano)] == ["target", "frame"]
    titles = " | ".join(p["title"] for p in volcano["panels"])
    for wanted in ("Fused P", "P per gain", "LSTT", "displacement", "Archive lag",
                   "Poll health", "Alert level"):
        assert wanted in titles
    lstt = next(p for p in volcano["panels"] if p["title"].startswith("LSTT"))
    assert lstt["fieldConfig"]["defaults"]["custom"]["scaleDistribution"]["type"] == "log"
    fused = next(p for p in volcano["panels"] if p["title"].startswith("Fused P"))
    assert any("probability_threshold" in t["expr"] for t in fused["targets"])
    assert "insar_monitor_alerts_raised_total" in volcano["annotations"]["list"][0]["expr"]
    table = load_dashboard("overview")["panels"][0]
    assert table["type"] == "table"
    assert {"Risk", "Latest P", "Level"} <= set(
        table["transformations"][1]["options"]["renameByName"].values())
    assert table["transformations"][-1]["options"]["sort"] == [{"field": "Risk",
                                                                 "desc": True}]
    source = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    assert [s["uid"] for s in source["datasources"]] == [DATASOURCE_UID]
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "insar-monitor.yaml").read_text())
    (p,) = provider["providers"]
    assert p["type"] == "file"
    assert p["options"]["path"] == "/var/lib/grafana/dashboards/insar-monitor"


# -- a real Prometheus scraping a running daemon ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish(staging: Path, archive: Path, first: int, last: int | None) -> None:
    src, dst = staging / FRAME, archive / FRAME
    shutil.copytree(src / "metadata", dst / "metadata", dirs_exist_ok=True)
    pairs = sorted(p.name for p in (src / "interferograms").iterdir())
    (dst / "interferograms").mkdir(parents=True, exist_ok=True)
    for name in pairs[first:last]:
        # Copied beside the archive and renamed into it: a poll never sees half a pair.
        partial = archive / f".partial-{name}"
        shutil.copytree(src / "interferograms" / name, partial)
        partial.rename(dst / "interferograms" / name)


def make_settings(tmp: Path) -> Settings:
    def target(tid: str, frame: str, lon: float) -> dict[str, object]:
        return {"id": tid, "name": f"Target {tid}", "lon": lon, "lat": 14.0,
                "radius_km": 1.5, "archive": "local", "frames": [frame],
                "recipients": ["observatory@example.org"], "start": SERIES_START.isoformat()}

    settings = settings_from_mapping({
        "database": {"url": f"sqlite:///{tmp / 'watch.db'}"},
        "watch": {"series_dir": str(tmp / "series"), "cache_dir": str(tmp / "cache"),
                  "quicklook_dir": str(tmp / "quicklooks"), "jitter_s": 0},
        "email": {"mode": "dry-run", "outbox_dir": str(tmp / "outbox")},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "archives": {"local": {"kind": "local", "root": str(tmp / "archive")}},
        "targets": [target("inflating", FRAME, 120.0), target("quiet", QUIET_FRAME, 121.0)],
    }, "test_prometheus")
    # The configuration refuses intervals under 10 s; the test polls every second.
    targets = tuple(t.model_copy(update={"poll_interval_s": 1.0}) for t in settings.targets)
    return settings.model_copy(update={"targets": targets})


class PrometheusApi:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}" if params \
            else f"{self.base}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:  # a bad query: 400 with the error in JSON
            body = json.loads(exc.read().decode())
        return body

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = self.get("/api/v1/query", query=expr)
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, expr: str, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                result = self.query(expr)
            except (OSError, AssertionError):
                result = []
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A config folder and port for a prometheus process the test starts (and this
    fixture terminates)."""
    need("prometheus")
    folder = tmp_path / "prometheus"
    folder.mkdir()
    yield folder, free_port()


@pytest.mark.slow
def test_a_real_prometheus_evaluates_every_dashboard_and_rule_expression(
        tmp_path: Path, model: LoadedModel, prometheus: tuple[Path, int]) -> None:
    promtool = need("promtool")
    folder, prom_port = prometheus
    staging = tmp_path / "staging"
    write_synthetic_archive(staging, scenario=SCENARIO, frame=FRAME, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=3)
    (tmp_path / "archive" / QUIET_FRAME / "interferograms").mkdir(parents=True)
    publish(staging, tmp_path / "archive", 0, LEAD + 2)  # before the onset's second epoch
    settings = make_settings(tmp_path)
    upgrade(settings.database.url)
    daemon = Daemon(settings, "test_prometheus.toml", model_loader=lambda: model)
    proc: subprocess.Popen[bytes] | None = None
    try:
        daemon.start()
        assert daemon.metrics_server is not None
        (folder / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [
                {"targets": [f"127.0.0.1:{daemon.metrics_server.port}"]}]}]}))
        log = (folder / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [need("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT)
        api = PrometheusApi(prom_port)
        up = api.wait_for(f'up{{job="{JOB}"}} == 1', 60)
        assert up, (folder / "prometheus.log").read_text()
        # Prometheus has seen the counters at zero before the alerts are raised, so that
        # the annotation query (an increase of alerts_raised_total) sees them rise.
        assert api.wait_for('insar_monitor_alerts_raised_total{target="inflating"}', 30)
        assert daemon.wait_for(lambda o: any(x.target_id == "inflating" and x.ok
                                             for x in o), 60)
        publish(staging, tmp_path / "archive", LEAD + 2, None)
        assert daemon.wait_for(lambda o: any(
            x.report is not None and x.report.alerts_raised for x in o), 60)
        assert api.wait_for('increase(insar_monitor_alerts_raised_total[5m]) > 0', 30)

        # promtool check metrics on the real scrape.
        body = urllib.request.urlopen(daemon.metrics_server.url, timeout=5).read()
        lint = subprocess.run([promtool, "check", "metrics"], input=body,
                              capture_output=True, timeout=30)
        assert lint.returncode == 0, (lint.stdout + lint.stderr).decode()

        values = {"$target": "inflating", "$frame": FRAME}
        exprs: list[tuple[str, str]] = []
        for name in ("volcano", "overview"):
            d = load_dashboard(name)
            exprs += [(f"{name}: {where}", substitute(e, values))
                      for where, e in panel_exprs(d)]
            for var, selector, label in variable_queries(d):
                result = api.wait_for(substitute(selector, values), 15)
                assert result, f"{name}: variable {var}: {selector} returns nothing"
                assert {r["metric"].get(label) for r in result} >= {values[f"${var}"]}
        exprs += [(f"record {r['record']}", r["expr"]) for r in rules() if "record" in r]
        empty = [where for where, e in exprs if not api.wait_for(e, 20)]
        assert not empty, f"no data from {empty}"
        # Every alerting rule evaluates (possibly to nothing: its condition is false).
        for r in rules():
            if "alert" in r:
                api.query(r["expr"])
        # Risk ordering: the inflating target (a raised level) above the quiet one.
        ranked = api.query("sort_desc(insar_monitor:target_risk)")
        assert [r["metric"]["target"] for r in ranked] == ["inflating", "quiet"]
        firing = api.wait_for('ALERTS{alertname="InsarMonitorTargetAboveThreshold", '
                              'alertstate="firing"}', 20)
        assert {(r["metric"]["target"], r["metric"]["frame"]) for r in firing} == {
            ("inflating", FRAME)}
        alerts = api.get("/api/v1/alerts")["data"]["alerts"]
        assert any(a["labels"]["alertname"] == "InsarMonitorTargetAboveThreshold"
                   and a["state"] == "firing" for a in alerts)
        nan = [w for w, e in exprs if all(r["value"][1] == "NaN" for r in api.query(e))]
        print(f"{len(exprs)} PromQL expressions (dashboards and recording rules) returned "
              f"data ({len(nan)} only NaN: {nan}), "
              f"{sum('alert' in r for r in rules())} alerting rules evaluated")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        daemon.stop()
