"""The watch daemon: schedule, fault isolation, late products, metrics, stop, CLI, signals.

The archive is synthetic (:func:`monitor.io.synth_archive.write_synthetic_archive`): a
Mogi source inflating from ``ONSET`` at 0.5 m/yr, 12 epochs 12 days apart, 128 x 128
pixels; the detector is the packaged ``compact`` model (as in ``tests/test_pipeline.py``).
Target ``synth1`` watches that frame; target ``synth2`` watches a frame whose archive
directory does not exist (or whose poll is made to raise).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import torch

import monitor.service.daemon as daemon_mod
from monitor.cli import main
from monitor.config import Settings, TargetSettings, load_settings
from monitor.errors import InputError, StoreError
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.ports import SystemClock
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.daemon import Daemon, PollOutcome
from monitor.service.pipeline import PollReport
from monitor.store import Store, make_engine, upgrade

torch.set_num_threads(1)

FRAME1 = "022D_04826_121209"
FRAME2 = "087A_05000_131313"
ONSET = date(2024, 2, 23)
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
SCENARIO1 = SeriesScenario(n_epochs=12, onset=ONSET, rate_m_per_yr=0.5,
                           stratified_strength="none", decorrelate=False)
ROOT = Path(__file__).resolve().parents[1]


class FixedClock:
    """A clock stopped at ``NOW``."""

    def now(self) -> datetime:
        return NOW


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staging")
    write_synthetic_archive(root, scenario=SCENARIO1, frame=FRAME1, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=3)
    return root


def publish(staging: Path, archive: Path, first: int, last: int | None) -> None:
    """Copy FRAME1's metadata and its pairs ``first:last`` (date order) into the archive."""
    src, dst = staging / FRAME1, archive / FRAME1
    shutil.copytree(src / "metadata", dst / "metadata", dirs_exist_ok=True)
    pairs = sorted(p.name for p in (src / "interferograms").iterdir())
    (dst / "interferograms").mkdir(parents=True, exist_ok=True)
    for name in pairs[first:last]:
        # Each pair appears whole (copied beside the archive, then renamed into it), as a
        # mirror publishes: a poll running meanwhile sees a pair entirely or not at all.
        partial = archive / f".partial-{name}"
        shutil.copytree(src / "interferograms" / name, partial)
        partial.rename(dst / "interferograms" / name)


def write_config(tmp: Path, *, metrics: bool = True, interval_s: float = 10.0) -> Path:
    cfg = tmp / "monitor.toml"
    targets = ""
    for tid, frame, lon, lat in (("synth1", FRAME1, 120.0, 14.0),
                                 ("synth2", FRAME2, 121.0, 15.0)):
        targets += f"""
[[targets]]
id = "{tid}"
name = "Target {tid}"
lon = {lon}
lat = {lat}
radius_km = 1.5
archive = "local"
frames = ["{frame}"]
recipients = ["observatory@example.org"]
poll_interval_s = {interval_s}
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
enabled = {str(metrics).lower()}
port = 0
[status_page]
port = 0
[archives.local]
kind = "local"
root = "{tmp}/archive"
{targets}""", encoding="utf-8")
    return cfg


def fast(settings: Settings, interval_s: float) -> Settings:
    """The settings with every target polled every ``interval_s`` seconds.

    The configuration refuses intervals under 10 s (kind to the archive); tests need 1 s.
    """
    targets = tuple(t.model_copy(update={"poll_interval_s": interval_s})
                    for t in settings.targets)
    return settings.model_copy(update={"targets": targets})


def emails(tmp: Path) -> list[Path]:
    folder = tmp / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def of(target: str) -> Any:
    return lambda outcomes: [o for o in outcomes if o.target_id == target]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_daemon_polls_isolates_failures_picks_up_new_products_and_stops(
        tmp_path: Path, staging: Path, model: LoadedModel,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    publish(staging, tmp_path / "archive", 0, 6)
    cfg = write_config(tmp_path)
    settings = fast(load_settings(cfg, environ={}), 1.0)
    upgrade(settings.database.url)
    daemon = Daemon(settings, str(cfg), clock=FixedClock(), model_loader=lambda: model)
    daemon.start()
    try:
        assert daemon.metrics_server is not None
        port = daemon.metrics_server.port
        # Generous waits: each returns as soon as it holds (CI machines can be slow).
        assert daemon.wait_for(lambda o: of("synth1")(o) and of("synth2")(o), 60)
        first1, first2 = of("synth1")(daemon.outcomes)[0], of("synth2")(daemon.outcomes)[0]
        assert first1.ok and first1.report is not None
        assert (first1.report.ingested, first1.report.scored) == (6, 6)
        # The broken frame fails (listed as a failure, logged) without stopping synth1.
        assert not first2.ok
        assert "poll synth2" in caplog.text and "poll synth1: listed=6" in caplog.text
        # Products published while the daemon runs are picked up by later polls (a poll
        # may run while they are being published and take some of them: count them all).
        publish(staging, tmp_path / "archive", 6, None)
        assert daemon.wait_for(lambda o: sum(
            x.report.ingested for x in of("synth1")(o) if x.report is not None) == 11, 60)
        # synth2 keeps being retried on its schedule (polls run one at a time, so its
        # second run may come after synth1's: wait for it rather than assume the order).
        assert daemon.wait_for(lambda o: len(of("synth2")(o)) >= 2, 60)
        store = Store(make_engine(settings.database.url))
        assert len(store.list_epochs("synth1")) == 12
        alerts = store.list_alerts("synth1")
        # Alerts only after the onset (a watch may escalate to a warning: one e-mail each).
        assert alerts and all(a.epoch > ONSET for a in alerts)
        assert daemon.wait_for(lambda o: len(emails(tmp_path)) == len(alerts), 30)
        assert "synth1" in emails(tmp_path)[0].read_text()
        body = urllib.request.urlopen(daemon.metrics_server.url, timeout=5).read().decode()
        line = next(x for x in body.splitlines()
                    if x.startswith('insar_monitor_probability_decision{')
                    and 'target="synth1"' in x and f'frame="{FRAME1}"' in x)
        assert 0.5 < float(line.split()[-1]) <= 1.0
        assert 'insar_monitor_probability_decision{frame="' + FRAME2 not in body
    finally:
        t0 = time.monotonic()
        daemon.stop()
        stop_s = time.monotonic() - t0
    assert stop_s < 10.0 and not daemon.running
    assert daemon.metrics_server is None and not port_open(port)
    daemon.stop()  # idempotent


def test_exception_in_one_target_is_logged_counted_and_others_go_on(
        tmp_path: Path, staging: Path, model: LoadedModel, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    publish(staging, tmp_path / "archive", 0, 2)
    cfg = write_config(tmp_path, metrics=False)
    settings = load_settings(cfg, environ={})
    upgrade(settings.database.url)
    real = daemon_mod.poll_target

    def flaky(ctx: WatchContext, target: TargetSettings, now: datetime) -> PollReport:
        if target.id == "synth2":
            raise RuntimeError("disk on fire")
        return real(ctx, target, now)

    monkeypatch.setattr(daemon_mod, "poll_target", flaky)
    daemon = Daemon(settings, str(cfg), clock=FixedClock(), model_loader=lambda: model)
    order = [t.id for t in settings.targets]
    outcomes = daemon.run_once()
    assert [o.target_id for o in outcomes] == order
    good, bad = outcomes
    assert good.ok and good.report is not None and good.report.ingested == 2
    assert bad.report is None and bad.error == "RuntimeError: disk on fire" and not bad.ok
    assert "poll synth2 failed: RuntimeError: disk on fire" in caplog.text
    get = daemon.registry.get_sample_value
    assert get("insar_monitor_products_failed_total",
               {"target": "synth2", "reason": "other"}) == 1
    assert get("insar_monitor_products_ingested_total", {"target": "synth1"}) == 2
    # Polled at once: the daemon keeps them in the order they finished.
    assert sorted(daemon.outcomes, key=lambda o: order.index(o.target_id)) == list(outcomes)
    assert daemon.metrics_server is None


def test_old_schema_refuses_to_start(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    settings = load_settings(cfg, environ={})
    loads: list[int] = []

    def loader() -> LoadedModel:
        loads.append(1)
        raise AssertionError("the model must not be loaded before the schema check")

    daemon = Daemon(settings, str(cfg), model_loader=loader)
    with pytest.raises(StoreError, match=r"insar-monitor db upgrade --config .*monitor\.toml"):
        daemon.start()
    assert not daemon.running and daemon.metrics_server is None and loads == []


def test_clock_and_bad_arguments(tmp_path: Path, model: LoadedModel) -> None:
    now = SystemClock().now()
    assert now.utcoffset() is not None
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5
    cfg = write_config(tmp_path, metrics=False)
    settings = load_settings(cfg, environ={})
    with pytest.raises(InputError, match=r"no \[\[targets\]\]"):
        Daemon(settings.model_copy(update={"targets": ()}), str(cfg))
    upgrade(settings.database.url)
    daemon = Daemon(settings, str(cfg), clock=FixedClock(), model_loader=lambda: model)
    daemon.start()
    try:
        with pytest.raises(InputError, match="already running"):
            daemon.start()
    finally:
        daemon.stop(wait=True)
    assert not daemon.running
    report = PollReport("t", 0, 0, 0, 0, 0, 0, 0, (), (), ())
    assert PollOutcome("t", now, 0.0, report, None, None).ok
    assert not PollOutcome("t", now, 0.0, report, None, "RuntimeError: x").ok
    assert not PollOutcome("t", now, 0.0, None, None, None).ok


@pytest.mark.slow
def test_run_once_cli_processes_everything(tmp_path: Path, staging: Path) -> None:
    publish(staging, tmp_path / "archive", 0, None)
    (tmp_path / "archive" / FRAME2).mkdir(parents=True)
    cfg = write_config(tmp_path)
    # Only the good target: --once exits 0 when every poll is clean.
    text = cfg.read_text()
    cfg.write_text(text[:text.index('[[targets]]\nid = "synth2"')], encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    assert main(["run", "--config", str(cfg), "--once"]) == 0
    store = Store(make_engine(load_settings(cfg, environ={}).database.url))
    assert len(store.list_epochs("synth1")) == 12
    assert len(store.latest_scores("synth1", 100)) == 11
    alerts = store.list_alerts("synth1")
    assert alerts and len(emails(tmp_path)) == len(alerts)
    assert store.outbox_depth() == 0


def test_run_once_cli_exit_code_when_a_target_fails(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    text = cfg.read_text()
    cfg.write_text(text[:text.index('[[targets]]\nid = "synth1"')]
                   + text[text.index('[[targets]]\nid = "synth2"'):], encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    assert main(["run", "--config", str(cfg), "--once"]) == 4


def test_run_logs_at_the_configured_level_unless_the_command_line_says(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    text = cfg.read_text()
    cfg.write_text(text[:text.index('[[targets]]\nid = "synth1"')]
                   + text[text.index('[[targets]]\nid = "synth2"'):], encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    capfd.readouterr()
    assert main(["run", "--config", str(cfg), "--once"]) == 4
    assert "INFO" in capfd.readouterr().err  # [logging] level = "INFO", the default
    assert "[logging]" not in cfg.read_text()
    cfg.write_text(cfg.read_text() + '\n[logging]\nlevel = "error"\n', encoding="utf-8")
    assert main(["run", "--config", str(cfg), "--once"]) == 4
    err = capfd.readouterr().err
    assert "INFO" not in err and "WARNING" not in err
    assert main(["-v", "run", "--config", str(cfg), "--once"]) == 4  # -v wins
    assert "INFO" in capfd.readouterr().err


def _read_until(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> list[str]:
    lines: list[str] = []
    found = threading.Event()

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if needle in line:
                found.set()

    threading.Thread(target=reader, daemon=True).start()
    found.wait(timeout_s)
    return lines


@pytest.mark.slow
def test_run_daemon_subprocess_stops_on_sigterm(tmp_path: Path, staging: Path) -> None:
    publish(staging, tmp_path / "archive", 0, 2)
    cfg = write_config(tmp_path)
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "-v", "run", "--config",
                             str(cfg)], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        lines = _read_until(proc, "poll synth1: listed=2", 60)
        assert any("poll synth1: listed=2" in x for x in lines), "".join(lines)
        assert proc.poll() is None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
        assert rc == 0 and time.monotonic() - t0 < 15
        time.sleep(0.2)
        assert any("daemon stopped" in x for x in lines), "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
