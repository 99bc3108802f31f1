"""What every stage of the watch works with: the settings, the store, the archives, the
detector and the metrics, built once by the daemon or the CLI.

The poll (:mod:`monitor.service.pipeline`) and the outbox (:mod:`monitor.service.outbox`)
both take a :class:`WatchContext`; it lives here so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.archive import LicsarHttpArchive, LocalArchive
from monitor.config import ArchiveSettings, Settings
from monitor.io.models import LoadedModel
from monitor.metrics import WatchMetrics
from monitor.notify.email import EmailNotifier
from monitor.notify.smtp import DryRunSender, Sender, SmtpSender, SmtpSettings
from monitor.ports import Archive, Notifier, Store


def build_archive(settings: ArchiveSettings) -> Archive:
    """The archive adapter an ``[archives.NAME]`` section describes."""
    if settings.kind == "local":
        return LocalArchive(str(settings.root))
    connect_s = min(5.0, settings.timeout_s)
    return LicsarHttpArchive(str(settings.base_url), timeout_s=(connect_s, settings.timeout_s),
                             retries=settings.retries)


def build_notifier(settings: Settings) -> Notifier:
    """The delivery channel the configuration describes: e-mail, sent over SMTP or
    written to a dry-run folder as ``[email] mode`` says."""
    transport: Sender
    if settings.email.mode == "dry-run":
        transport = DryRunSender(settings.email.outbox_dir)
    else:
        transport = SmtpSender(SmtpSettings.from_config(settings.email))
    return EmailNotifier(settings.email.sender, transport)


@dataclass(frozen=True)
class WatchContext:
    """What a poll needs, built once by the daemon or the CLI (no clock: ``now`` is passed).

    Attributes:
        settings: The configuration.
        store: The database.
        archives: Archive adapters by their ``[archives]`` name.
        model: The loaded detector (its ``sha256`` goes into every score).
        metrics: Prometheus metrics to update, or None.
        notifier: The delivery channel of the outbox; None: the one of
            :func:`build_notifier`.
    """

    settings: Settings
    store: Store
    archives: Mapping[str, Archive]
    model: LoadedModel
    metrics: WatchMetrics | None = None
    notifier: Notifier | None = None

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, model: LoadedModel,
                      metrics: WatchMetrics | None = None) -> WatchContext:
        """Build every configured archive with :func:`build_archive` and the notifier with
        :func:`build_notifier`."""
        archives = {name: build_archive(a) for name, a in settings.archives.items()}
        return cls(settings, store, archives, model, metrics, build_notifier(settings))
