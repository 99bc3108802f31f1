"""The one typed configuration of insar-monitor.

Settings come from a TOML file (see ``deploy/monitor.example.toml``, which lists every
option with its unit and default) and then from environment variables, which win:
``MONITOR__<SECTION>__<KEY>=value`` (double underscores, case-insensitive), for example
``MONITOR__RASTERS__MAX_PIXELS=20000000``. Values of environment overrides are parsed as
TOML literals when they parse (numbers, booleans, ``[1, 2]``) and kept as strings otherwise.

Everything is validated when loaded; a bad key or value raises :class:`ConfigError` naming
the file (or the environment variable), the key and the value.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.errors import ConfigError
from monitor.science.second_look_settings import SecondLookSettings

ENV_PREFIX = "MONITOR__"
#: The defaults of the second look, defined once in the science.
_LOOK = SecondLookSettings()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RasterSettings(_Section):
    """Limits applied when reading rasters."""

    #: Largest raster, in pixels, that the readers accept (absurd sizes are refused).
    max_pixels: int = Field(50_000_000, gt=0)


class ScienceSettings(_Section):
    """Parameters shared by the scoring science."""

    #: LOS metres per fringe at gain 1 (Anantrasirichai et al. 2019b; 2.8 cm for Sentinel-1).
    fringe_spacing_m: float = Field(0.028, gt=0)
    #: Wrap gains mu for multi-gain fusion (Anantrasirichai et al. 2019b).
    gains: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    #: Pixels with coherence at or below this are incoherent (NaN) (as in the Taal
    #: application of Sugiyama et al. 2011).
    coherence_threshold: float = Field(0.1, ge=0, lt=1)
    #: Fused probability above which an image is flagged (Anantrasirichai et al. 2019a).
    flag_threshold: float = Field(0.5, gt=0, lt=1)

    @field_validator("gains")
    @classmethod
    def _gains_positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise ValueError("at least one gain is needed")
        if any(g <= 0 for g in v):
            raise ValueError(f"gains must be positive, got {list(v)}")
        return v


class SynthSettings(_Section):
    """Defaults of the synthetic interferogram generator (Anantrasirichai et al. 2019a, s. 3)."""

    #: Sample size (rows, columns) of training datasets; 224 is the CNN input.
    shape: tuple[int, int] = (224, 224)
    #: Pixel spacing, metres (Sentinel-1 LiCSAR products are about 100 m).
    pixel_m: float = Field(100.0, gt=0)
    #: Samples per ``.npz`` shard.
    shard_size: int = Field(500, gt=0)
    #: Turbulent delay: standard deviation range, metres (Anantrasirichai et al. 2019a:
    #: sigma^2 5-9 mm^2).
    turbulent_sigma_m: tuple[float, float] = (0.0022, 0.0030)
    #: Turbulent delay: e-folding length range, metres (Anantrasirichai et al. 2019a: 4-18 km).
    turbulent_length_m: tuple[float, float] = (4000.0, 18000.0)
    #: Fraction of samples with incoherent patches (Anantrasirichai et al. 2019a name their
    #: absence).
    decorrelation_fraction: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ranges_ordered(self) -> SynthSettings:
        for name in ("turbulent_sigma_m", "turbulent_length_m"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must be [min, max] with 0 <= min <= max, got "
                                 f"[{lo}, {hi}]")
        if min(self.shape) < 1:
            raise ValueError(f"shape must be positive, got {list(self.shape)}")
        return self


class DatabaseSettings(_Section):
    """Where scores and alerts are stored."""

    #: SQLAlchemy URL; the embedded default is a SQLite file in the working directory.
    url: str = "sqlite:///insar-monitor.db"


class LoggingSettings(_Section):
    """Log output of the CLI and the daemon."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: One JSON object per line instead of human text.
    json_lines: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


FRAME_PATTERN = r"^\d{3}[AD]_\d{5}_\d{6}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ArchiveSettings(_Section):
    """One archive the watch can poll, referred to by its name from the targets."""

    #: ``local`` (a directory in the LiCSAR layout) or ``licsar_http`` (the portal).
    kind: Literal["local", "licsar_http"]
    #: Root directory (``local``).
    root: str | None = None
    #: Base URL (``licsar_http``), under which ``<track>/<frame>/...`` are listed.
    base_url: str | None = None
    #: Per-request timeout, seconds.
    timeout_s: float = Field(60.0, gt=0)
    #: Retries of a failed request (timeouts, 5xx), with exponential backoff.
    retries: int = Field(3, ge=0, le=10)

    @model_validator(mode="after")
    def _location(self) -> ArchiveSettings:
        if self.kind == "local" and not self.root:
            raise ValueError("a local archive needs root = \"DIRECTORY\"")
        if self.kind == "licsar_http" and not (
                self.base_url and self.base_url.startswith(("http://", "https://"))):
            raise ValueError("a licsar_http archive needs base_url = \"http(s)://...\"")
        return self


class AlertSettings(_Section):
    """Alert policy: CNN probability and LSTT p-value with hysteresis and levels."""

    #: Fused CNN probability over the target at or above which a step counts for ``watch``.
    p_watch: float = Field(0.5, gt=0, lt=1)
    #: ... and for ``warning``.
    p_warning: float = Field(0.8, gt=0, lt=1)
    #: LSTT p-value at or below which the target differs from the references.
    lstt_alpha: float = Field(0.05, gt=0, lt=1)
    #: ``cnn`` alone, ``cnn_and_lstt`` (both must agree) or ``cnn_or_lstt``.
    combine: Literal["cnn", "cnn_and_lstt", "cnn_or_lstt"] = "cnn_and_lstt"
    #: Consecutive qualifying steps before a level is raised.
    raise_after: int = Field(2, ge=1)
    #: Consecutive quiet steps before the level is cleared.
    clear_after: int = Field(3, ge=1)
    #: Time-series rule (:mod:`monitor.science.trend`): |z| of the best new change of the
    #: series at or above which a step counts for ``watch`` (raised at once) ...
    trend_z_watch: float = Field(4.5, gt=0, allow_inf_nan=False)
    #: ... and for ``warning``. Both, with ``trend_min_epochs`` and
    #: ``trend_confirm_epochs``, set from the false alerts per volcano-year against the
    #: delays measured by ``insar-monitor evaluate series`` (docs/detection_series.md).
    trend_z_warning: float = Field(7.0, gt=0, allow_inf_nan=False)
    #: Candidate onsets among the last this many epochs of a series.
    trend_window_epochs: int = Field(15, ge=1)
    #: Epochs of a series the fit uses (the newest).
    trend_history_epochs: int = Field(60, ge=4)
    #: Fewest epochs of a series before the time-series rule speaks.
    trend_min_epochs: int = Field(15, ge=4)
    #: Consecutive epochs of a series whose best new change must reach the threshold
    #: before the time-series rule qualifies (2: an outlier of one date's atmosphere is
    #: not a change until the next epoch confirms it; a change at ``trend_z_warning`` or
    #: more needs no confirmation).
    trend_confirm_epochs: int = Field(2, ge=1)
    #: Fast path: fused P at or above this ...
    fast_p: float = Field(0.95, gt=0, lt=1)
    #: ... with the LSTT p-value of the newest interferogram alone at or below this ...
    fast_lstt_alpha: float = Field(0.02, gt=0, lt=1)
    #: ... and the newest interferogram moving the target by at least this many metres
    #: (95th percentile of |increment - median| over the target) raises warning at once.
    fast_step_m: float = Field(0.03, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> AlertSettings:
        if self.p_warning < self.p_watch:
            raise ValueError(f"p_warning ({self.p_warning}) must not be below p_watch "
                             f"({self.p_watch})")
        if self.trend_z_warning < self.trend_z_watch:
            raise ValueError(f"trend_z_warning ({self.trend_z_warning}) must not be below "
                             f"trend_z_watch ({self.trend_z_watch})")
        if self.trend_history_epochs < self.trend_min_epochs:
            raise ValueError(f"trend_history_epochs ({self.trend_history_epochs}) must not "
                             f"be below trend_min_epochs ({self.trend_min_epochs})")
        return self


class CorrectionSettings(_Section):
    """Atmospheric correction of flagged steps before the policy decides (issue 6).

    A step that qualifies for an alert level on its raw scores is corrected for stratified
    tropospheric delay and scored again; the policy decides on the corrected scores.
    Anantrasirichai et al. (2019a, section 5): correcting only the positives removed 11 of 12 false
    positives.
    """

    #: Correct and rescore flagged steps at all.
    enabled: bool = True
    #: Sources tried in this order: ``gacos`` and ``icams`` are the archive's per-epoch
    #: delay files (``epochs/<date>/<date>.sltd.geo.tif``, ``<date>.icams.sltd.geo.tif``);
    #: ``empirical`` fits delay against DEM height outside the target.
    methods: tuple[Literal["gacos", "icams", "empirical"], ...] = ("gacos", "icams",
                                                                   "empirical")
    #: Geometry of the archive's delay files: ``zenith`` delays are projected to the line
    #: of sight with the frame's incidence (``metadata/<frame>.geo.U.tif`` or
    #: ``metadata.txt``); ``slant`` delays are used as they are.
    delay_geometry: Literal["zenith", "slant"] = "zenith"
    #: The empirical fit (:class:`~monitor.science.second_look_settings.
    #: SecondLookSettings`, where each is documented with its measurement): polynomial
    #: order in height (1, 2 or ``auto``) with the target known, and without one.
    order: Literal[1, 2, "auto"] = _LOOK.order
    untargeted_order: Literal[1, 2, "auto"] = _LOOK.untargeted_order
    #: Gaussian sigma (metres) of the low-pass removed before the empirical coefficients
    #: are estimated (scale separation); 0 fits the whole band (the plain fit).
    band_sigma_m: float = Field(_LOOK.band_sigma_m, ge=0)
    #: Disc on the target left out of the empirical fit, in target radii (>= 1).
    fit_exclusion_radii: float = Field(_LOOK.fit_exclusion_radii, ge=1)
    #: Radius around the detected peak left out of the empirical fit, in target radii
    #: (the P > threshold region is left out too, unless too few pixels would remain).
    peak_exclusion_radii: float = Field(_LOOK.peak_exclusion_radii, ge=0)
    #: Fewest pixels the empirical fit may use.
    min_pixels: int = Field(_LOOK.min_pixels, ge=10)
    #: Smallest height range (metres) among those pixels for the fit to be attempted.
    min_height_range_m: float = Field(_LOOK.min_height_range_m, gt=0)

    def second_look(self, exclusion_radius_m: float | None = None) -> SecondLookSettings:
        """The fit's settings as the science takes them (``exclusion_radius_m``: the disc
        left out around the peak when no target is known; default 3 km)."""
        extra = {} if exclusion_radius_m is None else {"exclusion_radius_m":
                                                       exclusion_radius_m}
        return SecondLookSettings(
            order=self.order, untargeted_order=self.untargeted_order,
            band_sigma_m=self.band_sigma_m, fit_exclusion_radii=self.fit_exclusion_radii,
            peak_exclusion_radii=self.peak_exclusion_radii, min_pixels=self.min_pixels,
            min_height_range_m=self.min_height_range_m, **extra)

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"methods must not repeat, got {list(v)}")
        return v


class ReferenceRegion(_Section):
    """A stable reference region: a disc on the ground."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    radius_km: float = Field(gt=0, le=100)


class TargetSettings(_Section):
    """One watched volcano."""

    #: Stable identifier, e.g. the Smithsonian GVP volcano number.
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    #: Radius of the target disc, kilometres.
    radius_km: float = Field(3.0, gt=0, le=100)
    #: Name of an entry of ``[archives]``.
    archive: str
    frames: tuple[str, ...] = Field(min_length=1)
    #: ``"auto"`` or a list of reference discs.
    references: Literal["auto"] | tuple[ReferenceRegion, ...] = "auto"
    #: Observatory e-mail addresses.
    recipients: tuple[str, ...] = ()
    #: Wrap gains for this target (default: ``science.gains``).
    gains: tuple[float, ...] | None = None
    #: Seconds between polls of this target.
    poll_interval_s: float = Field(3600.0, ge=10)
    #: Alert policy of this target (default: ``[alerts]``).
    alerts: AlertSettings | None = None

    @field_validator("frames")
    @classmethod
    def _frames(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [f for f in v if not re.match(FRAME_PATTERN, f)]
        if bad:
            raise ValueError(f"frame ids {bad} do not look like LiCSAR frames "
                             "(e.g. 022D_04826_121209)")
        return v

    @field_validator("recipients")
    @classmethod
    def _emails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if not re.match(EMAIL_PATTERN, r)]
        if bad:
            raise ValueError(f"recipients {bad} are not e-mail addresses")
        return v


class EmailSettings(_Section):
    """How alert e-mail leaves: printed to a folder and the log, or sent over SMTP."""

    mode: Literal["dry-run", "smtp"] = "dry-run"
    #: Folder where dry-run messages are written as ``.eml`` files.
    outbox_dir: str = "insar-monitor-data/outbox"
    host: str = "localhost"
    port: int = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str = "insar-monitor@localhost"
    #: Names of the environment variables holding the SMTP credentials (never the values).
    username_env: str = "MONITOR_SMTP_USERNAME"
    password_env: str = "MONITOR_SMTP_PASSWORD"
    timeout_s: float = Field(30.0, gt=0)


class OutboxSettings(_Section):
    """How the outbox sends and retries deliveries (:mod:`monitor.service.outbox`)."""

    #: Seconds between the daemon's own passes over the outbox (besides the pass after
    #: each poll), so a retry never waits for the next poll.
    interval_s: float = Field(60.0, ge=1, le=86400)
    #: Delay before the first retry of a delivery that failed and may succeed later,
    #: seconds; each further failure doubles it up to ``max_backoff_s``.
    first_backoff_s: float = Field(60.0, gt=0, le=86400)
    #: Longest delay between two attempts of one delivery, seconds. Retryable failures
    #: are retried forever at most this far apart (no attempt limit).
    max_backoff_s: float = Field(3600.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _backoff_order(self) -> OutboxSettings:
        if self.max_backoff_s < self.first_backoff_s:
            raise ValueError(f"max_backoff_s ({self.max_backoff_s:g}) must be >= "
                             f"first_backoff_s ({self.first_backoff_s:g})")
        return self


WEBHOOK_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class WebhookSettings(_Section):
    """One receiver of alerts as a signed JSON POST (``[webhooks.NAME]``, see
    :mod:`monitor.notify.webhook` and ``docs/webhooks.md``)."""

    #: Where to POST (``http://`` or ``https://``); redirects are not followed.
    url: str
    #: Name of the environment variable holding the HMAC-SHA256 secret (never the value).
    secret_env: str = Field(pattern=ENV_NAME_PATTERN)
    #: Read timeout of one POST, seconds (the connect timeout is at most 5 s of it).
    timeout_s: float = Field(10.0, gt=0, le=300)
    #: Target ids whose alerts go to this webhook; empty: every target.
    targets: tuple[str, ...] = ()
    #: Also POST when a level clears (kind ``cleared``).
    notify_cleared: bool = True
    #: Public base URL under which the quicklook PNGs (``watch.quicklook_dir``) are
    #: served; None: the payload carries no quicklook URL.
    quicklook_base_url: str | None = None

    @field_validator("url", "quicklook_base_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        return v

    def wants(self, target_id: str, cleared: bool = False) -> bool:
        """Whether an alert of ``target_id`` (a clear when ``cleared``) goes here."""
        if cleared and not self.notify_cleared:
            return False
        return not self.targets or target_id in self.targets


class MetricsSettings(_Section):
    """The Prometheus endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9309, ge=0, lt=65536)


class StatusPageSettings(_Section):
    """The read-only status page the daemon serves (watch list, histories, quicklooks)."""

    enabled: bool = True
    #: Listen address; 127.0.0.1 keeps the page on this machine (expose it deliberately,
    #: e.g. behind a reverse proxy that authenticates).
    host: str = "127.0.0.1"
    #: TCP port; 0 picks a free one (the daemon logs the URL).
    port: int = Field(9310, ge=0, lt=65536)
    #: Seconds between the browser's automatic reloads of a page; 0: no reload.
    refresh_s: int = Field(300, ge=0)


#: CAP 1.2 forbids spaces, commas, ``<`` and ``&`` in the sender (OASIS CAP 1.2, 3.2.1).
CAP_SENDER_PATTERN = r"^[^\s,<&]+$"
#: ``xs:language`` (RFC 3066 tags such as ``en-US``).
LANGUAGE_PATTERN = r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$"


class FeedSettings(_Section):
    """The published feeds (:mod:`monitor.service.feeds`): a CAP 1.2 document per alert, an
    Atom feed of them and a GeoJSON map of every target's level and latest scores. They
    are automated deformation notices, never an official volcano alert level."""

    #: Write the feeds after every poll of the daemon.
    enabled: bool = True
    #: Folder the feeds are written to (``cap/*.xml``, ``atom.xml``, ``alerts.geojson``,
    #: ``quicklooks/*.png``); empty: ``feeds`` beside ``watch.quicklook_dir``
    #: (``insar-monitor-data/feeds`` by default).
    dir: str = ""
    #: URL under which that folder is served (``http(s)://...``), used for the links of
    #: the feeds (quicklook, CAP files, the feed itself); empty: relative links only.
    base_url: str = ""
    #: CAP ``sender``: an address that identifies the originator (no spaces, commas,
    #: ``<`` or ``&``); its domain is part of each CAP identifier.
    sender: str = Field("insar-monitor@localhost", pattern=CAP_SENDER_PATTERN)
    #: CAP ``status``: ``Actual``, ``Exercise``, ``System``, ``Test`` or ``Draft``.
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = "Actual"
    #: CAP ``language`` of the texts (RFC 3066).
    language: str = Field("en-US", pattern=LANGUAGE_PATTERN)
    #: Title of the Atom feed.
    title: str = Field("insar-monitor: automated InSAR deformation notices", min_length=1)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        if not v:
            return v
        if not re.match(r"^https?://[^\s/]+", v) or any(c in v for c in " <>\"&"):
            raise ValueError(f"base_url must be empty or an http(s):// URL, got {v!r}")
        return v if v.endswith("/") else v + "/"


class WatchSettings(_Section):
    """Where the daemon keeps its files."""

    #: Cumulative series arrays, one file per target, written atomically.
    series_dir: str = "insar-monitor-data/series"
    #: Downloaded products.
    cache_dir: str = "insar-monitor-data/cache"
    #: Quicklook images of alerts.
    quicklook_dir: str = "insar-monitor-data/quicklooks"
    #: Random delay added to each poll, seconds (spreads load on the archive).
    jitter_s: float = Field(30.0, ge=0)


class Settings(_Section):
    """The whole configuration. Immutable once loaded."""

    rasters: RasterSettings = RasterSettings()
    science: ScienceSettings = ScienceSettings()
    synth: SynthSettings = SynthSettings()
    database: DatabaseSettings = DatabaseSettings()
    logging: LoggingSettings = LoggingSettings()
    watch: WatchSettings = WatchSettings()
    alerts: AlertSettings = AlertSettings()
    correction: CorrectionSettings = CorrectionSettings()
    email: EmailSettings = EmailSettings()
    outbox: OutboxSettings = OutboxSettings()
    metrics: MetricsSettings = MetricsSettings()
    status_page: StatusPageSettings = StatusPageSettings()
    feeds: FeedSettings = FeedSettings()
    archives: dict[str, ArchiveSettings] = Field(default_factory=dict)
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)
    targets: tuple[TargetSettings, ...] = ()

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        ids = [t.id for t in self.targets]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"target ids must be unique; repeated: {dup}")
        for k, t in enumerate(self.targets):
            if t.archive not in self.archives:
                raise ValueError(
                    f"targets[{k}] ({t.id}): archive {t.archive!r} is not defined; defined "
                    f"archives: {sorted(self.archives) or 'none'}")
        for name, hook in self.webhooks.items():
            if not re.match(WEBHOOK_NAME_PATTERN, name):
                raise ValueError(f"webhooks.{name}: a webhook name is 1-64 letters, digits, "
                                 "'_', '.' or '-'")
            unknown = [t for t in hook.targets if t not in ids]
            if unknown:
                raise ValueError(f"webhooks.{name}.targets: {unknown} are not target ids; "
                                 f"known targets: {', '.join(ids) or 'none'}")
        return self

    def webhooks_for(self, target_id: str, cleared: bool = False) -> list[str]:
        """Names of the webhooks an alert of ``target_id`` (a clear when ``cleared``) goes
        to, sorted."""
        return sorted(n for n, h in self.webhooks.items() if h.wants(target_id, cleared))

    def target(self, target_id: str) -> TargetSettings:
        """The target with this id, with a clear error listing the known ones."""
        for t in self.targets:
            if t.id == target_id:
                return t
        raise ConfigError(f"no target {target_id!r} in the configuration; known targets: "
                          f"{', '.join(t.id for t in self.targets) or 'none'}")


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        value = e.get("input")
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against deploy/monitor.example.toml)"
        lines.append(f"  {key} = {value!r}: {msg}")
    return "\n".join(lines)


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Collect ``MONITOR__SECTION__KEY`` overrides into a nested dict.

    Returns:
        The nested overrides and, for error messages, a map from dotted key to the
        environment variable that set it.
    """
    nested: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(
                f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>, "
                f"for example {ENV_PREFIX}RASTERS__MAX_PIXELS"
            )
        node = nested
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name} conflicts with another one")
        node[parts[-1]] = _parse_env_value(raw)
        origin[".".join(parts)] = name
    return nested, origin


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def settings_from_mapping(data: Mapping[str, Any], source: str = "<mapping>") -> Settings:
    """Validate a nested mapping (as parsed from TOML) into :class:`Settings`."""
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Load the configuration from a TOML file (optional) and environment overrides.

    Args:
        path: TOML file; ``None`` uses the embedded defaults.
        environ: Environment to read overrides from (defaults to ``os.environ``).

    Raises:
        ConfigError: unreadable file, TOML syntax error, unknown key or invalid value.
    """
    data: dict[str, Any] = {}
    source = "the embedded defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration file {p} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read configuration file {p}: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {p} is not valid TOML: {exc}") from None
    overrides, origin = env_overrides(os.environ if environ is None else environ)
    if overrides:
        source = f"{source} with environment overrides ({', '.join(sorted(origin.values()))})"
        data = _merge(data, overrides)
    return settings_from_mapping(data, source)
