"""``config check [--online]``: warnings on valid but doubtful settings, and the outside
world reached for real (a local archive directory, an HTTP server and an SMTP server on
127.0.0.1, a port nobody listens on, a SQLite database)."""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from monitor.cli import main
from monitor.config import Settings, settings_from_mapping
from monitor.errors import ArchiveError, DeliveryError, StoreError
from monitor.service.config_checks import (
    Finding,
    check_database,
    check_email,
    check_http_archive,
    check_local_archive,
    offline_findings,
    online_findings,
    secret_findings,
    webhooks_for,
)
from monitor.store import upgrade

FRAME = "022D_04826_121209"
MISSING = "087A_05000_131313"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def watch(archive: dict[str, Any], *, recipients: list[str] | None = None,
          frames: tuple[str, ...] = (FRAME,), **sections: Any) -> Settings:
    target = {"id": "etna", "name": "Etna", "lon": 15.0, "lat": 37.7, "archive": "a",
              "frames": list(frames), "recipients": recipients or []}
    return settings_from_mapping({"archives": {"a": archive}, "targets": [target],
                                  **sections})


def lines(findings: list[Finding]) -> list[str]:
    return [f.line() for f in findings]


# -- offline ---------------------------------------------------------------------------------


def test_dry_run_and_a_target_that_reaches_nobody_are_warned() -> None:
    s = watch({"kind": "local", "root": "/nowhere"})
    got = lines(offline_findings(s))
    assert got[0].startswith('WARNING email: mode = "dry-run": alert e-mail is written to')
    assert "WARNING target etna: no recipients and no webhook: its alerts reach nobody" \
        in got[1]
    assert got[2].startswith("INFO database: SQLite")
    quiet = watch({"kind": "local", "root": "/x"}, recipients=["obs@example.org"],
                  email={"mode": "smtp"}, database={"url": "postgresql://u@h/db"})
    assert offline_findings(quiet) == []


def test_a_webhook_counts_as_a_channel() -> None:
    """A target reaches somebody when it has recipients or a webhook applies to it (its
    ``targets`` list empty: every target, or naming it)."""
    base = {"kind": "local", "root": "/x"}
    s = watch(base, email={"mode": "smtp"})
    assert webhooks_for(s, "etna") == []
    for only, reached in (([], True), (["etna"], True)):
        hook = {"url": "https://example.org/hook", "secret_env": "HOOK_SECRET",
                "targets": only}
        with_hook = watch(base, email={"mode": "smtp"}, webhooks={"obs": hook})
        assert webhooks_for(with_hook, "etna") == ["obs"]
        warned = any(f.where == "target etna" for f in offline_findings(with_hook))
        assert warned is not reached, only


def test_a_webhook_without_its_secret_is_warned_without_the_secret() -> None:
    hook = {"url": "https://example.org/hook", "secret_env": "HOOK_SECRET"}
    s = watch({"kind": "local", "root": "/x"}, webhooks={"obs": hook})
    (f,) = secret_findings(s, environ={})
    assert f.severity == "warning" and f.where == "webhooks.obs" and "HOOK_SECRET" in f.message
    assert secret_findings(s, environ={"HOOK_SECRET": "s3cret-value"}) == []


def test_endpoints_bound_beyond_loopback_are_warned() -> None:
    s = watch({"kind": "local", "root": "/x"}, recipients=["obs@example.org"],
              email={"mode": "smtp"}, database={"url": "postgresql://u@h/db"},
              metrics={"host": "0.0.0.0"})
    assert lines(offline_findings(s)) == [
        "WARNING metrics: bound to 0.0.0.0:9309, reachable from other machines; /metrics has "
        "no authentication: firewall the port or set [metrics] host = \"127.0.0.1\" and "
        "scrape it through a proxy"]
    for host, warned in (("::1", False), ("localhost", False), ("127.0.0.2", False),
                         ("10.0.0.5", True), ("monitor.example.org", True)):
        page = type("Page", (), {"enabled": True, "host": host, "port": 9310})()
        got = offline_findings(s.model_copy(update={"status_page": page}))
        assert any(f.where == "status_page" for f in got) is warned, host


def test_cli_prints_one_line_per_finding_and_exits_0_on_warnings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(f"""
[archives.a]
kind = "local"
root = "{tmp_path}"
[[targets]]
id = "etna"
name = "Etna"
lon = 15.0
lat = 37.7
archive = "a"
frames = ["{FRAME}"]
""")
    assert main(["config", "check", str(cfg)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == ("WARNING target etna: no recipients and no webhook: its alerts reach "
                      "nobody; add recipients = [...] or a [webhooks.NAME] section for it")
    assert out[-1] == f"{cfg}: OK (2 warnings)"


# -- online: archives ------------------------------------------------------------------------


def test_local_archive_root_and_frames(tmp_path: Path) -> None:
    a = {"kind": "local", "root": str(tmp_path / "archive")}
    s = watch(a, frames=(FRAME, MISSING))
    found = check_local_archive("a", s.archives["a"], [FRAME, MISSING])
    assert [(f.where, f.exit_code) for f in found] == [("archive a", ArchiveError.exit_code)]
    assert "does not exist" in found[0].message
    (tmp_path / "archive" / FRAME / "interferograms" / "20240101_20240113").mkdir(parents=True)
    found = check_local_archive("a", s.archives["a"], [FRAME, MISSING])
    assert lines(found) == [f"ERROR archive a frame {MISSING}: no directory {MISSING} under "
                            f"{tmp_path / 'archive'} (nor under {tmp_path / 'archive'}/"
                            "<track>/); check the frame id"]
    (tmp_path / "archive" / FRAME / "interferograms" / "not-a-pair").mkdir()
    found = check_local_archive("a", s.archives["a"], [FRAME])
    assert [f.where for f in found] == [f"archive a frame {FRAME}"]


class _QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture()
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "portal"
    (root / "22" / FRAME / "interferograms" / "20240101_20240113").mkdir(parents=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


def test_http_archive_frame_listing_ok_and_404(http_root: tuple[str, Path]) -> None:
    url, _ = http_root
    s = watch({"kind": "licsar_http", "base_url": url}, frames=(FRAME, MISSING))
    _QuietHandler.requests.clear()
    found = check_http_archive("a", s.archives["a"], [FRAME, MISSING], timeout_s=2.0)
    assert [(f.where, f.exit_code) for f in found] == [
        (f"archive a frame {MISSING}", ArchiveError.exit_code)]
    assert "HTTP 404" in found[0].message
    # the base URL, then one listing per frame: no pair directory is requested
    assert _QuietHandler.requests == ["/", f"/22/{FRAME}/interferograms/",
                                      f"/87/{MISSING}/interferograms/"]


def test_http_archive_nobody_listening() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    s = watch({"kind": "licsar_http", "base_url": url})
    found = check_http_archive("a", s.archives["a"], [FRAME], timeout_s=2.0)
    assert [f.where for f in found] == ["archive a"]
    assert "connection failed" in found[0].message


# -- online: e-mail and database -------------------------------------------------------------


class _Refuse:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raise AssertionError("config check must never send a message")


def test_smtp_greeted_and_nothing_sent() -> None:
    ctl = Controller(_Refuse(), hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        s = watch({"kind": "local", "root": "/x"}, email={
            "mode": "smtp", "host": "127.0.0.1", "port": ctl.port, "security": "none"})
        assert check_email(s, environ={}, timeout_s=2.0) == []
        # STARTTLS asked of a server that does not offer it: refused, named
        found = check_email(s.model_copy(update={"email": s.email.model_copy(
            update={"security": "starttls"})}), environ={}, timeout_s=2.0)
        assert [f.where for f in found] == [f"smtp 127.0.0.1:{ctl.port}"]
        assert found[0].exit_code == DeliveryError.exit_code
    finally:
        ctl.stop()


def test_smtp_port_nobody_listens_on() -> None:
    port = free_port()
    s = watch({"kind": "local", "root": "/x"}, email={
        "mode": "smtp", "host": "127.0.0.1", "port": port, "security": "none"})
    found = check_email(s, environ={}, timeout_s=2.0)
    assert lines(found)[0].startswith(f"ERROR smtp 127.0.0.1:{port}: cannot reach SMTP server")
    assert found[0].exit_code == DeliveryError.exit_code


def test_half_configured_credentials_are_an_error() -> None:
    s = watch({"kind": "local", "root": "/x"}, email={
        "mode": "smtp", "host": "127.0.0.1", "port": free_port(), "security": "none"})
    found = check_email(s, environ={"MONITOR_SMTP_USERNAME": "me"}, timeout_s=1.0)
    assert "MONITOR_SMTP_USERNAME is set but the password" in found[0].message


def test_dry_run_outbox_must_be_writable(tmp_path: Path) -> None:
    s = watch({"kind": "local", "root": "/x"}, email={"outbox_dir": str(tmp_path / "a/b")})
    assert check_email(s) == []
    (tmp_path / "file").write_text("")
    bad = watch({"kind": "local", "root": "/x"}, email={"outbox_dir": str(tmp_path / "file/x")})
    assert "cannot be written" in check_email(bad)[0].message


def test_database_missing_old_and_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    s = watch({"kind": "local", "root": "/x"}, database={"url": url})
    found = check_database(s, "w.toml")
    assert found[0].exit_code == StoreError.exit_code
    assert "does not exist; run `insar-monitor db upgrade --config w.toml`" in found[0].message
    assert not (tmp_path / "w.db").exists(), "the check must not create the database"
    upgrade(url, "0001")
    assert "run `insar-monitor db upgrade" in check_database(s, "w.toml")[0].message
    upgrade(url)
    assert check_database(s, "w.toml") == []


def test_cli_online_exit_code_is_the_first_failure(
        tmp_path: Path, http_root: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = http_root
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    cfg = tmp_path / "w.toml"
    body = f"""
[database]
url = "{db}"
[email]
mode = "smtp"
host = "127.0.0.1"
port = {free_port()}
security = "none"
timeout_s = 2.0
[archives.a]
kind = "licsar_http"
base_url = "{url}"
timeout_s = 2.0
[[targets]]
id = "etna"
name = "Etna"
lon = 15.0
lat = 37.7
archive = "a"
frames = ["{FRAME}"]
recipients = ["obs@example.org"]
"""
    cfg.write_text(body)
    assert main(["config", "check", str(cfg)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{cfg}: OK (0 warnings)"
    assert main(["config", "check", "--online", str(cfg)]) == DeliveryError.exit_code
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("INFO database: SQLite")
    assert out[1].startswith("ERROR smtp 127.0.0.1:")
    assert out[-1] == f"{cfg}: FAILED (1 error, 0 warnings)"
    cfg.write_text(body.replace(f'frames = ["{FRAME}"]', f'frames = ["{MISSING}"]'))
    assert main(["config", "check", "--online", str(cfg)]) == ArchiveError.exit_code
    assert capsys.readouterr().out.splitlines()[1].startswith(
        f"ERROR archive a frame {MISSING}:")


def test_online_findings_in_order(tmp_path: Path) -> None:
    s = watch({"kind": "local", "root": str(tmp_path / "none")},
              database={"url": f"sqlite:///{tmp_path}/none.db"},
              email={"outbox_dir": str(tmp_path / "outbox")})
    assert [f.where for f in online_findings(s, "w.toml", environ={})] == [
        "archive a", "database"]
