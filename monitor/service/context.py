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
from monitor.ports import Archive
from monitor.store import Store


def build_archive(settings: ArchiveSettings) -> Archive:
    """The archive adapter an ``[archives.NAME]`` section describes."""
    if settings.kind == "local":
        return LocalArchive(str(settings.root))
    connect_s = min(5.0, settings.timeout_s)
    return LicsarHttpArchive(str(settings.base_url), timeout_s=(connect_s, settings.timeout_s),
                             retries=settings.retries)


@dataclass(frozen=True)
class WatchContext:
    """What a poll needs, built once by the daemon or the CLI (no clock: ``now`` is passed).

    Attributes:
        settings: The configuration.
        store: The database.
        archives: Archive adapters by their ``[archives]`` name.
        model: The loaded detector (its ``sha256`` goes into every score).
        metrics: Prometheus metrics to update, or None.
    """

    settings: Settings
    store: Store
    archives: Mapping[str, Archive]
    model: LoadedModel
    metrics: WatchMetrics | None = None

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, model: LoadedModel,
                      metrics: WatchMetrics | None = None) -> WatchContext:
        """Build every configured archive with :func:`build_archive`."""
        archives = {name: build_archive(a) for name, a in settings.archives.items()}
        return cls(settings, store, archives, model, metrics)
