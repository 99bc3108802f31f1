"""What every stage of the watch works with: the settings, the store, the archives, the
detector, the delivery channels and the metrics, built once by the daemon or the CLI.

The poll (:mod:`monitor.service.pipeline`) and the outbox (:mod:`monitor.service.outbox`)
both take a :class:`WatchContext`; it lives here so that neither imports the other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.archive import LicsarHttpArchive, LocalArchive, TellusArchive
from monitor.config import ArchiveSettings, Settings
from monitor.io.models import ScoringModel
from monitor.io.palsar2_product import ChainOptions
from monitor.io.raster_header import DEFAULT_MAX_BYTES
from monitor.metrics import WatchMetrics
from monitor.notify.email import EmailNotifier
from monitor.notify.smtp import DryRunSender, Sender, SmtpSender, SmtpSettings
from monitor.notify.webhook import WebhookNotifier
from monitor.ports import Archive, Notifier, Store
from monitor.service.executors import Executor, InlineExecutor
from monitor.service.progress import ProgressSink


def build_archive(settings: ArchiveSettings, max_bytes: int = DEFAULT_MAX_BYTES,
                  areas: Mapping[str, tuple[float, float, float, float]] | None = None,
                  process_areas: Mapping[str, tuple[float, float, float, float]] | None = None
                  ) -> Archive:
    """The archive adapter an ``[archives.NAME]`` section describes; ``max_bytes`` is the
    memory budget of one product (``[rasters] max_bytes``); ``areas`` the bounding box
    watched in each frame (:func:`frame_areas`), which a tellus archive searches;
    ``process_areas`` the box its interferometry processes in each frame
    (:func:`frame_process_areas`; default ``areas``). A tellus archive gets the PALSAR-2
    chain (:class:`~monitor.archive.tellus_products.Palsar2Maker`) with the section's
    options."""
    if settings.kind == "local":
        return LocalArchive(str(settings.root), max_bytes=max_bytes)
    connect_s = min(5.0, settings.timeout_s)
    if settings.kind == "tellus":
        from monitor.archive.tellus_products import Palsar2Maker

        return TellusArchive(str(settings.base_url), timeout_s=(connect_s, settings.timeout_s),
                             retries=settings.retries, max_bytes=max_bytes, areas=areas,
                             process_areas=process_areas,
                             make_product=Palsar2Maker(chain_options(settings)),
                             **tellus_options(settings), **http_limits(settings))
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


def tellus_options(settings: ArchiveSettings) -> dict[str, Any]:
    """The scene selection of a tellus archive section, as keyword arguments of
    :class:`~monitor.archive.TellusArchive`."""
    return {"token_env": settings.token_env, "polarisation": settings.polarisation,
            "beam": settings.beam, "mode": settings.mode,
            "max_gap_days": settings.max_gap_days, "extra_pairs": settings.extra_pairs,
            "max_pages": settings.max_pages, "keep_scenes": settings.keep_scenes}


def chain_options(settings: ArchiveSettings) -> ChainOptions:
    """The interferometry options of a tellus archive section."""
    return ChainOptions(
        looks=(int(settings.looks[0]), int(settings.looks[1])),
        coherence_threshold=settings.coherence_threshold,
        remove_residual_plane=settings.remove_residual_plane,
        spacing_deg=settings.spacing_deg, geoid_undulation_m=settings.geoid_undulation_m,
        dem_dir=None if settings.dem_dir is None else Path(settings.dem_dir))


#: Kilometres per degree of latitude (and of longitude at the equator), WGS84 mean.
_KM_PER_DEGREE = 111.32


def frame_process_areas(settings: Settings, archive: str
                        ) -> dict[str, tuple[float, float, float, float]]:
    """Per frame of a tellus ``archive``, the box its interferometry processes: the union
    of squares of half-width ``min(process_km, crop)`` around its targets (the watch reads
    no more than a target's crop), degrees."""
    a = settings.archives.get(archive)
    half = None if a is None else float(a.process_km)
    return frame_areas(settings, archive, half_km=half)


def frame_areas(settings: Settings, archive: str, half_km: float | None = None
                ) -> dict[str, tuple[float, float, float, float]]:
    """Per frame of ``archive``, the bounding box ``(lon_min, lat_min, lon_max, lat_max)``
    (degrees) of the target discs watched in it: what a scene search needs to cover.
    With ``half_km``, of squares of that half-width (at most each target's crop) instead
    of the discs."""
    out: dict[str, tuple[float, float, float, float]] = {}
    for t in settings.targets:
        if t.archive != archive:
            continue
        size_km = t.radius_km if half_km is None else min(half_km, t.crop_half_km)
        dlat = size_km / _KM_PER_DEGREE
        dlon = min(180.0, dlat / max(math.cos(math.radians(t.lat)), 1e-6))
        box = (max(-180.0, t.lon - dlon), max(-90.0, t.lat - dlat),
               min(180.0, t.lon + dlon), min(90.0, t.lat + dlat))
        for frame in t.frames:
            old = out.get(frame)
            out[frame] = box if old is None else (min(old[0], box[0]), min(old[1], box[1]),
                                                  max(old[2], box[2]), max(old[3], box[3]))
    return out


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
        progress: Receives the progress of every frame's poll through its due products
            (:mod:`monitor.service.progress`; the terminal bar of ``run --once``), or None.
        executor: Where the scoring tasks run (``[executor]``,
            :mod:`monitor.service.executors`); default: in the polling thread.
    """

    settings: Settings
    store: Store
    archives: Mapping[str, Archive]
    model: ScoringModel
    metrics: WatchMetrics | None = None
    notifiers: Mapping[str, Notifier] = field(default_factory=dict)
    config_file: str | None = None
    progress: ProgressSink | None = None
    executor: Executor = field(default_factory=InlineExecutor)

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, model: ScoringModel,
                      metrics: WatchMetrics | None = None,
                      config_file: str | Path | None = None,
                      progress: ProgressSink | None = None,
                      executor: Executor | None = None) -> WatchContext:
        """Build every configured archive with :func:`build_archive` and the notifiers
        with :func:`build_notifiers`; ``config_file`` is made absolute; ``executor``
        (default: inline) is the caller's, who closes it."""
        archives = {name: build_archive(a, settings.rasters.max_bytes,
                                        frame_areas(settings, name),
                                        frame_process_areas(settings, name))
                    for name, a in settings.archives.items()}
        return cls(settings, store, archives, model, metrics, build_notifiers(settings),
                   None if config_file is None else str(Path(config_file).absolute()),
                   progress, executor or InlineExecutor())
