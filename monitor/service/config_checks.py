"""What ``insar-monitor config check`` reports beyond a valid file: settings that are valid
but likely wrong for a running watch, and (``--online``) the outside world the file points to.

:func:`offline_findings` is pure over :class:`~monitor.config.Settings`: e-mail in dry-run
mode, a target whose alerts reach nobody (no recipient and no webhook that applies to it),
the metrics endpoint or the status page bound to an address other machines can reach, a
SQLite database behind a watch list. :func:`online_findings` does IO with short timeouts and
never changes anything remote: local archive roots and frame directories, the HTTP archive's
base URL and each frame's listing (through :meth:`~monitor.ports.Archive.list_products`),
a tellus archive's search with its token (one search per frame, or one search when no
target uses it), the SMTP server (connect, EHLO, STARTTLS or SSL, login when credentials
are set, QUIT: no message is sent,
:meth:`~monitor.notify.smtp.SmtpSender.check_connection`), the dry-run outbox folder, and
the database's schema revision. :func:`tool_findings` (always run) checks on this machine
what a tellus archive's interferometry needs: that SNAPHU runs, and its ``dem_dir``.

Each problem is a :class:`Finding`; ``error`` findings carry the exit code of the error
class they stand for (:mod:`monitor.errors`), which the CLI returns.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import requests

from monitor.config import ArchiveSettings, Settings
from monitor.errors import (
    ArchiveError,
    ConfigError,
    DeliveryError,
    MonitorError,
    ProcessingError,
    StoreError,
)
from monitor.redact import mask_secrets

Severity = Literal["info", "warning", "error"]

#: Seconds each online check may wait for a server (connect and read).
ONLINE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    """One thing ``config check`` has to say.

    Attributes:
        severity: ``info`` (worth knowing), ``warning`` (valid but likely wrong; exit 0) or
            ``error`` (an online check failed; the CLI exits non-zero).
        where: What it is about: ``email``, ``target ID``, ``archive NAME``,
            ``archive NAME frame FRAME``, ``smtp HOST:PORT``, ``database``, ``metrics``...
        message: What is wrong and what to do.
        exit_code: For errors, the exit code of the matching :mod:`monitor.errors` class.
    """

    severity: Severity
    where: str
    message: str
    exit_code: int = 0

    def line(self) -> str:
        """``WARNING target etna: no recipients ...`` (one line of ``config check``)."""
        return mask_secrets(f"{self.severity.upper()} {self.where}: {self.message}")


def _error(where: str, exc: BaseException, fallback: type[MonitorError]) -> Finding:
    code = exc.exit_code if isinstance(exc, MonitorError) else fallback.exit_code
    return Finding("error", where, str(exc), code)


# -- offline ---------------------------------------------------------------------------------


def webhooks_for(settings: Settings, target_id: str) -> list[str]:
    """Names of the ``[webhooks.NAME]`` sections that deliver ``target_id``'s alerts (its
    ``targets`` list is empty, meaning every target, or names it)."""
    return [name for name, hook in settings.webhooks.items()
            if not hook.targets or target_id in hook.targets]


def secret_findings(settings: Settings, environ: Mapping[str, str] | None = None
                    ) -> list[Finding]:
    """Webhooks whose secret variable is unset in ``environ`` (default: this process's
    environment): their deliveries would fail. Never prints a secret."""
    from monitor.notify.webhook import webhook_secret_problems

    return [Finding("warning", line.split(":", 1)[0], line.split(": ", 1)[1])
            for line in webhook_secret_problems(settings.webhooks, environ)]


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume other machines can reach it


def _exposed(what: str, section: str, host: str, port: int, path: str) -> Finding:
    return Finding("warning", what,
                   f"bound to {host}:{port}, reachable from other machines; {path} has no "
                   f"authentication: firewall the port or set [{section}] host = "
                   "\"127.0.0.1\" and scrape it through a proxy")


def offline_findings(settings: Settings) -> list[Finding]:
    """Valid settings that are likely wrong for a running watch. Pure: no IO.

    Returns:
        Findings in a stable order: e-mail, targets (configuration order), endpoints,
        database.
    """
    out: list[Finding] = []
    email = settings.email
    if email.mode == "dry-run":
        out.append(Finding("warning", "email",
                           f"mode = \"dry-run\": alert e-mail is written to "
                           f"{email.outbox_dir} and never leaves this machine; set "
                           "[email] mode = \"smtp\" to send it"))
    for t in settings.targets:
        if not t.recipients and not webhooks_for(settings, t.id):
            out.append(Finding("warning", f"target {t.id}",
                               "no recipients and no webhook: its alerts reach nobody; add "
                               "recipients = [...] or a [webhooks.NAME] section for it"))
    m = settings.metrics
    if m.enabled and not _loopback(m.host):
        out.append(_exposed("metrics", "metrics", m.host, m.port, "/metrics"))
    page = settings.status_page
    if page.enabled and not _loopback(page.host):
        out.append(_exposed("status_page", "status_page", page.host, page.port,
                            "the status page"))
    if settings.targets and settings.database.url.startswith("sqlite"):
        out.append(Finding("info", "database",
                           "SQLite: fine for one daemon on one machine; use PostgreSQL "
                           "(postgresql://user@host/db) for a production watch"))
    return out


def tool_findings(settings: Settings) -> list[Finding]:
    """The programs and files a tellus archive's interferometry needs, checked on this
    machine (no network): SNAPHU runs on a small test interferogram (an ``info`` finding
    saying so, or an ``error``), and each ``dem_dir`` is a folder holding ``.hgt`` tiles
    (a ``warning`` otherwise: the products would keep the topographic phase). Nothing
    when no archive is of kind ``tellus``."""
    tellus = {name: a for name, a in settings.archives.items() if a.kind == "tellus"}
    if not tellus:
        return []
    from monitor.io.snaphu_unwrap import check_snaphu

    out: list[Finding] = []
    where = f"archive {', '.join(sorted(tellus))}"
    try:
        out.append(Finding("info", where, check_snaphu()))
    except MonitorError as exc:
        out.append(_error(where, exc, ProcessingError))
    for name, a in sorted(tellus.items()):
        if a.dem_dir is None:
            continue
        folder = Path(a.dem_dir)
        tiles = sorted(folder.glob("*.hgt")) + sorted(folder.glob("*.HGT")) \
            if folder.is_dir() else []
        if not tiles:
            out.append(Finding("warning", f"archive {name}",
                               f"dem_dir {folder} is not a folder of SRTM .hgt tiles: the "
                               "packaged DEM crops are used where they cover a frame, else "
                               "the ellipsoid (the topographic phase stays in the products)"))
    return out


# -- online ----------------------------------------------------------------------------------


def _frames_of(settings: Settings, archive: str) -> list[str]:
    frames: list[str] = []
    for t in settings.targets:
        if t.archive == archive:
            frames.extend(f for f in t.frames if f not in frames)
    return frames


def check_local_archive(name: str, a: ArchiveSettings, frames: Iterable[str]) -> list[Finding]:
    """The root exists and is readable, and every frame has a directory under it."""
    from monitor.archive import LocalArchive

    root = Path(str(a.root))
    where = f"archive {name}"
    if not root.is_dir():
        return [Finding("error", where, f"root {root} does not exist or is not a directory",
                        ArchiveError.exit_code)]
    if not os.access(root, os.R_OK | os.X_OK):
        return [Finding("error", where, f"root {root} is not readable by this user",
                        ArchiveError.exit_code)]
    archive = LocalArchive(root)
    out = []
    for frame in frames:
        if not archive.layout(frame).frame_dir.is_dir():
            out.append(Finding("error", f"{where} frame {frame}",
                               f"no directory {frame} under {root} (nor under "
                               f"{root}/<track>/); check the frame id",
                               ArchiveError.exit_code))
            continue
        try:  # the adapter's own listing (a badly named pair is refused there)
            archive.list_products(frame, since=date.max)
        except MonitorError as exc:
            out.append(_error(f"{where} frame {frame}", exc, ArchiveError))
    return out


def check_http_archive(name: str, a: ArchiveSettings, frames: Iterable[str],
                       timeout_s: float = ONLINE_TIMEOUT_S) -> list[Finding]:
    """The base URL answers, and each frame's ``interferograms/`` listing can be read.

    The listing is read by the adapter's own :meth:`list_products` with ``since`` set past
    every date, so no pair directory is requested: one request per frame, no retries.
    """
    from monitor.archive import LicsarHttpArchive
    from monitor.archive.http_errors import archive_error
    from monitor.service.context import http_limits

    where = f"archive {name}"
    url = str(a.base_url).rstrip("/") + "/"
    t = min(timeout_s, a.timeout_s)
    session = requests.Session()
    try:
        try:
            resp = session.get(url, timeout=(t, t), stream=True)
            resp.close()
        except requests.RequestException as exc:
            return [_error(where, archive_error(url, exc=exc), ArchiveError)]
        if resp.status_code >= 400:
            return [_error(where, archive_error(url, response=resp), ArchiveError)]
        archive = LicsarHttpArchive(url, timeout_s=(t, t), retries=0, backoff_s=0.0,
                                    session=session, **http_limits(a))
        out = []
        for frame in frames:
            try:
                archive.list_products(frame, since=date.max)
            except MonitorError as exc:
                out.append(_error(f"{where} frame {frame}", exc, ArchiveError))
        return out
    finally:
        session.close()


def check_tellus_archive(name: str, a: ArchiveSettings, frames: Iterable[str],
                         timeout_s: float = ONLINE_TIMEOUT_S,
                         environ: Mapping[str, str] | None = None) -> list[Finding]:
    """The token is set and the search API answers it: for each frame, the adapter's own
    :meth:`~monitor.archive.TellusArchive.list_products` with ``since`` past every date (one
    page, no pair, nothing downloaded); without frames, one search for scenes after that
    date. No retries."""
    from monitor.archive import TellusArchive
    from monitor.service.context import http_limits, tellus_options

    where = f"archive {name}"
    t = min(timeout_s, a.timeout_s)
    archive = TellusArchive(str(a.base_url), timeout_s=(t, t), retries=0, backoff_s=0.0,
                            environ=environ, **tellus_options(a), **http_limits(a))
    try:
        archive.client.token()
    except ArchiveError as exc:
        return [_error(where, exc, ArchiveError)]
    out = []
    try:
        for frame in frames:
            try:
                archive.list_products(frame, since=date.max)
            except MonitorError as exc:
                out.append(_error(f"{where} frame {frame}", exc, ArchiveError))
        if not out and not list(frames):
            try:
                archive.client.search(after=date.max)
            except MonitorError as exc:
                out.append(_error(where, exc, ArchiveError))
    finally:
        archive.client.session.close()
    return out


def check_email(settings: Settings, environ: Mapping[str, str] | None = None,
                timeout_s: float = ONLINE_TIMEOUT_S) -> list[Finding]:
    """SMTP: the server greets, secures and (with credentials) logs in; nothing is sent.
    Dry run: the outbox folder can be written."""
    from monitor.notify.smtp import SmtpSender, SmtpSettings

    email = settings.email
    if email.mode == "dry-run":
        folder = Path(email.outbox_dir)
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
        if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
            return [Finding("error", "email", f"dry-run outbox {folder} cannot be written "
                            f"({existing} is not a writable directory)",
                            ConfigError.exit_code)]
        return []
    smtp = SmtpSettings.from_config(email)
    smtp = dataclasses.replace(smtp, timeout_s=min(timeout_s, smtp.timeout_s))
    where = f"smtp {smtp.host}:{smtp.port}"
    try:
        SmtpSender(smtp, environ).check_connection()
    except (DeliveryError, ConfigError) as exc:
        return [_error(where, exc, DeliveryError)]
    return []


def check_database(settings: Settings, config_file: str | None = None) -> list[Finding]:
    """The database can be reached and is at the code's schema revision. A SQLite file
    that does not exist is reported, not created."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    from monitor.store import require_current

    url = settings.database.url
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        return [Finding("error", "database",
                        f"URL is not a valid SQLAlchemy URL: {mask_secrets(str(exc))}",
                        StoreError.exit_code)]
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(str(parsed.database)).is_file():
        return [Finding("error", "database",
                        f"SQLite file {parsed.database} does not exist; run `insar-monitor db "
                        f"upgrade --config {config_file or 'FILE'}`", StoreError.exit_code)]
    try:
        require_current(url, config_file)
    except StoreError as exc:
        return [_error("database", exc, StoreError)]
    return []


def online_findings(settings: Settings, config_file: str | None = None, *,
                    environ: Mapping[str, str] | None = None,
                    timeout_s: float = ONLINE_TIMEOUT_S) -> list[Finding]:
    """Reach what the configuration points to (archives, SMTP or the outbox, database).

    Args:
        settings: The configuration.
        config_file: Its path, named in the ``db upgrade`` advice.
        environ: Where the SMTP credential variables and a tellus archive's token are read
            (default ``os.environ``).
        timeout_s: Longest wait for any one server, seconds.

    Returns:
        The findings: archives (configuration order), then e-mail, then the database.
    """
    out: list[Finding] = []
    for name, a in settings.archives.items():
        frames = _frames_of(settings, name)
        if a.kind == "local":
            out.extend(check_local_archive(name, a, frames))
        elif a.kind == "tellus":
            out.extend(check_tellus_archive(name, a, frames, timeout_s, environ))
        else:
            out.extend(check_http_archive(name, a, frames, timeout_s))
    out.extend(check_email(settings, environ, timeout_s))
    out.extend(check_database(settings, config_file))
    return out
