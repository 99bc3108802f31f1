"""What every stage of the watch works with: the settings, the store, the archives, the
detector, the delivery channels and the metrics, built once by the daemon or the CLI.

The poll (:mod:`monitor.service.pipeline`) and the outbox (:mod:`monitor.service.outbox`)
both take a :class:`WatchContext`; it lives here so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.archive import LicsarHttpArchive, LocalArchive
from monitor.config import ArchiveSettings, Settings
from monitor.io.models import LoadedModel
from monitor.io.raster_header import DEFAULT_MAX_BYTES
from monitor.metrics import WatchMetrics
from monitor.notify.email import EmailNotifier
from monitor.notify.smtp import DryRunSender, Sender, SmtpSender, SmtpSettings
from monitor.notify.webhook import WebhookNotifier
from monitor.ports import Archive, Notifier, Store
from monitor.service.executors import Executor, InlineExecutor


def build_archive(settings: ArchiveSettings, max_bytes: int = DEFAULT_MAX_BYTES) -> Archive:
    """The archive adapter an ``[archives.NAME]`` section describes; ``max_bytes`` is the
    memory budget of one product (``[rasters] max_bytes``)."""
    if settings.kind == "local":
        return LocalArchive(str(settings.root), max_bytes=max_bytes)
    connect_s = min(5.0, settings.timeout_s)
    return LicsarHttpArchive(str(settings.base_url), timeout_s=(connect_s, settings.timeout_s),
                             retries=settings.retries, max_bytes=max_bytes,
                             **http_limits(settings))


def http_limits(settings: ArchiveSettings) -> dict[str, Any]:
    """The deadlines, size caps and allowed hosts of an http archive section, as keyword
    arguments of :class:`~monitor.archive.LicsarHttpArchive`."""
    return {"deadline_s": settings.deadline_s,
            "listing_deadline_s": settings.listing_deadline_s,
            "max_listing_bytes": settings.max_listing_bytes,
            "max_product_bytes": settings.max_product_bytes,
            "max_retry_after_s": settings.max_retry_after_s,
            "allowed_hosts": settings.allowed_hosts}


def build_notifier(settings: Settings) -> Notifier:
    """The delivery channel the configuration describes: e-mail, sent over SMTP or
    written to a dry-run folder as ``[email] mode`` says."""
    transport: Sender
    if settings.email.mode == "dry-run":
        transport = DryRunSender(settings.email.outbox_dir)
    else:
        transport = SmtpSender(SmtpSettings.from_config(settings.email))
    return EmailNotifier(settings.email.sender, transport)


def build_notifiers(settings: Settings) -> dict[str, Notifier]:
    """Every delivery channel of the configuration, by channel name: ``email``
    (:func:`build_notifier`) always, ``webhook`` when ``[webhooks.NAME]`` sections exist."""
    notifiers: dict[str, Notifier] = {"email": build_notifier(settings)}
    if settings.webhooks:
        notifiers["webhook"] = WebhookNotifier(settings.webhooks)
    return notifiers


@dataclass(frozen=True)
class WatchContext:
    """What a poll needs, built once by the daemon or the CLI (no clock: ``now`` is passed).

    Attributes:
        settings: The configuration.
        store: The database.
        archives: Archive adapters by their ``[archives]`` name.
        model: The loaded detector (its ``sha256`` goes into every score).
        metrics: Prometheus metrics to update, or None.
        notifiers: The outbox's delivery channels by channel name (``email``,
            ``webhook``); empty: those of :func:`build_notifiers`. Tests put their own.
        config_file: Absolute path of the configuration file the context was built from
            (the acknowledge command in alerts names it); None when unknown.
        executor: Where the scoring tasks run (``[executor]``,
            :mod:`monitor.service.executors`); default: in the polling thread.
    """

    settings: Settings
    store: Store
    archives: Mapping[str, Archive]
    model: LoadedModel
    metrics: WatchMetrics | None = None
    notifiers: Mapping[str, Notifier] = field(default_factory=dict)
    config_file: str | None = None
    executor: Executor = field(default_factory=InlineExecutor)

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, model: LoadedModel,
                      metrics: WatchMetrics | None = None,
                      config_file: str | Path | None = None,
                      executor: Executor | None = None) -> WatchContext:
        """Build every configured archive with :func:`build_archive` and the notifiers
        with :func:`build_notifiers`; ``config_file`` is made absolute; ``executor``
        (default: inline) is the caller's, who closes it."""
        archives = {name: build_archive(a, settings.rasters.max_bytes)
                    for name, a in settings.archives.items()}
        return cls(settings, store, archives, model, metrics, build_notifiers(settings),
                   None if config_file is None else str(Path(config_file).absolute()),
                   executor or InlineExecutor())
