"""The one typed configuration of insar-monitor.

Settings come from a TOML file (see ``deploy/monitor.example.toml``, which lists every
option with its unit and default) and then from environment variables, which win:
``MONITOR__<SECTION>__<KEY>=value`` (double underscores, case-insensitive), for example
``MONITOR__RASTERS__MAX_PIXELS=20000000``. Values of environment overrides are parsed as
TOML literals when they parse (numbers, booleans, ``[1, 2]``) and kept as strings otherwise.

Everything is validated when loaded; a bad key or value raises :class:`ConfigError` naming
the file (or the environment variable), the key and the value. Validation is strict where a
daemon that runs for months would otherwise misbehave: numbers are finite and within sane
ranges, an integer is never a boolean (``raise_after = true`` is refused) nor a float, a
boolean is never a number, and no string holds a control character (every value is one line;
names end up in e-mail headers, log lines, feeds and HTML). Messages never show a secret:
the database URL's password and the values of secret-looking keys are masked
(:func:`monitor.redact.mask_secrets`).
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.redact import MASK, is_secret_key, mask_secrets
from monitor.science.crop import default_crop_km, square_holds_disc
from monitor.science.grids import GroundDisc
from monitor.science.second_look_settings import SecondLookSettings

ENV_PREFIX = "MONITOR__"
#: The defaults of the second look, defined once in the science.
_LOOK = SecondLookSettings()


#: Longest time a poll interval may span, seconds (30 days).
MAX_POLL_INTERVAL_S = 30 * 86400.0


def _no_bool_or_float(v: Any) -> Any:
    if isinstance(v, bool | float):
        raise ValueError(f"expected one of the listed choices, not {type(v).__name__} {v!r}")
    return v


def _flag(v: Any) -> Any:
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"  # MONITOR__X__ENABLED=True from a shell
    return v


#: An integer: ``true`` or ``2.0`` are refused, not read as 1 or 2.
Int = Annotated[int, Strict()]
#: A number (an integer is accepted, a boolean is not); finite by :class:`_Section`.
Real = Annotated[float, Strict()]
#: A boolean: ``true`` or ``false`` (a number is refused).
Flag = Annotated[bool, BeforeValidator(_flag), Strict()]
#: A wrap gain: finite, in (0, 64].
Gain = Annotated[float, Strict(), Field(gt=0, le=64)]
#: An order in height of the empirical fit (``true`` is not 1).
Order = Annotated[Literal[1, 2, "auto"], BeforeValidator(_no_bool_or_float)]



def _day(v: Any) -> Any:
    if isinstance(v, datetime):  # a TOML date-time is a datetime, itself a date
        raise ValueError(f"expected a date such as 2021-01-01, not a date and time ({v})")
    if isinstance(v, str):
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"expected a date YYYY-MM-DD such as 2021-01-01, got {v!r}"
                             ) from None
    return v


#: A calendar date: a TOML date (``start = 2021-01-01``) or ``"YYYY-MM-DD"`` (from the
#: environment); a date-time or a number is refused.
Day = Annotated[date, BeforeValidator(_day), Strict()]

#: Format characters that reorder text (bidi embeddings, overrides, isolates): refused
#: like controls, since they disguise what a name or address says.
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def control_characters(text: str) -> list[str]:
    """The control characters of ``text`` as ``U+000A``: C0 and C1 controls (CR, LF, TAB
    included), DEL, the Unicode line and paragraph separators and bidi controls."""
    bad = {c for c in text if c in _BIDI or unicodedata.category(c) in ("Cc", "Zl", "Zp")}
    return [f"U+{ord(c):04X}" for c in sorted(bad)]


def _check_one_line(value: Any) -> None:
    """Refuse control characters in a raw value: a string, the strings of a list, the keys
    of a table (nested tables are sections, checked by their own model, so that the error
    names the innermost key)."""
    items: list[tuple[str, Any]] = []
    if isinstance(value, str):
        items = [("", value)]
    elif isinstance(value, list | tuple):
        items = [(f"item {i} ", v) for i, v in enumerate(value) if isinstance(v, str)]
    elif isinstance(value, dict):
        items = [(f"name {k!r} " if len(k) <= 80 else "a name ", k) for k in value
                 if isinstance(k, str)]
    for what, text in items:
        bad = control_characters(text)
        if bad:
            raise ValueError(f"{what}contains control character{'s' if len(bad) > 1 else ''} "
                             f"{', '.join(bad)}; configuration values are one line of "
                             "printable text")


class _Section(BaseModel):
    # allow_inf_nan: no float of the configuration may be inf or nan (every range below
    # is also a finite range).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _one_line(cls, v: Any) -> Any:
        _check_one_line(v)
        return v


class RasterSettings(_Section):
    """Limits applied when reading rasters."""

    #: Largest raster, in pixels, that the readers accept (absurd sizes are refused).
    max_pixels: Int = Field(50_000_000, gt=0, le=2**32)
    #: Memory budget of one product, bytes: a product whose header claims more pixels
    #: than the watch can process within it (64 float32 images per pixel,
    #: monitor/io/raster_header.py) is refused before its pixels are read (a
    #: decompression bomb). 2 GiB takes a whole LiCSAR frame.
    max_bytes: Int = Field(2 * 1024**3, gt=0, le=2**40)
    #: Smallest fraction of a product's pixels that must be finite and coherent for it to
    #: join a series (monitor/science/product_checks.py); lower it for a frame mostly
    #: over sea.
    min_valid_fraction: Real = Field(0.05, ge=0, le=1)


class ScienceSettings(_Section):
    """Parameters shared by the scoring science."""

    #: LOS metres per fringe at gain 1 (Anantrasirichai et al. 2019b; 2.8 cm for Sentinel-1).
    fringe_spacing_m: Real = Field(0.028, gt=0, le=1)
    #: Wrap gains mu for multi-gain fusion (Anantrasirichai et al. 2019b), each in (0, 64].
    gains: tuple[Gain, ...] = Field((1.0, 2.0, 4.0, 8.0), min_length=1, max_length=16)
    #: Pixels with coherence at or below this are incoherent (NaN) (as in the Taal
    #: application of Sugiyama et al. 2011).
    coherence_threshold: Real = Field(0.1, ge=0, lt=1)
    #: Fused probability above which an image is flagged (Anantrasirichai et al. 2019a).
    flag_threshold: Real = Field(0.5, gt=0, lt=1)
    #: The packaged detector the watch and every command score with when no model file is
    #: given: ``blocks`` (the block detector, ``monitor/science/detect/MODEL_CARD_blocks.md``;
    #: on real quiet increments it flags 0 of 47 where the CNN flags 13%) or ``cnn`` (the
    #: multi-gain CNN, ``MODEL_CARD.md``).
    detector: Literal["cnn", "blocks"] = "blocks"


class SynthSettings(_Section):
    """Defaults of the synthetic interferogram generator (Anantrasirichai et al. 2019a, s. 3)."""

    #: Sample size (rows, columns) of training datasets; 224 is the CNN input.
    shape: tuple[Annotated[Int, Field(ge=1, le=16384)],
                 Annotated[Int, Field(ge=1, le=16384)]] = (224, 224)
    #: Pixel spacing, metres (Sentinel-1 LiCSAR products are about 100 m).
    pixel_m: Real = Field(100.0, gt=0, le=10_000)
    #: Samples per ``.npz`` shard.
    shard_size: Int = Field(500, gt=0, le=1_000_000)
    #: Turbulent delay: standard deviation range, metres (Anantrasirichai et al. 2019a:
    #: sigma^2 5-9 mm^2).
    turbulent_sigma_m: tuple[Annotated[Real, Field(le=1)],
                             Annotated[Real, Field(le=1)]] = (0.0022, 0.0030)
    #: Turbulent delay: e-folding length range, metres (Anantrasirichai et al. 2019a: 4-18 km).
    turbulent_length_m: tuple[Annotated[Real, Field(le=1e6)],
                              Annotated[Real, Field(le=1e6)]] = (4000.0, 18000.0)
    #: Fraction of samples with incoherent patches (Anantrasirichai et al. 2019a name their
    #: absence).
    decorrelation_fraction: Real = Field(0.5, ge=0, le=1)

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
    url: str = Field("sqlite:///insar-monitor.db", min_length=1)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        expected = ("expected a SQLAlchemy URL of SQLite or PostgreSQL (sqlite:///FILE or "
                    "postgresql://user@host/db)")
        try:
            url = make_url(v)
            port = url.port
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ValueError(expected) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(expected)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range (1-65535)")
        return v


class LoggingSettings(_Section):
    """Log output of the CLI and the daemon."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: One JSON object per line instead of human text.
    json_lines: Flag = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


FRAME_PATTERN = r"^\d{3}[AD]_\d{5}_\d{6}$"
#: A PALSAR-2 frame of a ``kind = "tellus"`` archive: ``P<path>F<frame>`` (path 001-207,
#: frame 0000-7199), e.g. ``P018F2900`` (monitor/archive/tellus_pairs.py).
PALSAR2_FRAME_PATTERN = r"^P(00[1-9]|0[1-9]\d|1\d\d|20[0-7])F([0-6]\d{3}|7[01]\d\d)$"
_LOCAL_PART = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: An observatory's e-mail address (RFC 5322 dot-atom, ASCII, a domain with a dot); no
#: display name, quotes, spaces or line breaks that could reach a header.
EMAIL_PATTERN = rf"^{_LOCAL_PART}@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+$"
#: The ``From`` address: as :data:`EMAIL_PATTERN`, the domain may be one label
#: (``insar-monitor@localhost``).
SENDER_PATTERN = rf"^{_LOCAL_PART}@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*$"
#: A host name or IP address to connect to or bind (no scheme, port, path or spaces).
HOST_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*|[A-Za-z0-9_.-]{1,253})$"
#: A name of an archive: 1-64 printable characters (it appears in logs and metrics).
ARCHIVE_NAME_MAX = 64


#: An ``allowed_hosts`` entry: ``host`` or ``host:port``, a DNS name or IPv4 address.
HOST_ENTRY_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")


class ArchiveSettings(_Section):
    """One archive the watch can poll, referred to by its name from the targets."""

    #: ``local`` (a directory in the LiCSAR layout), ``licsar_http`` (the portal) or
    #: ``tellus`` (ALOS-2 PALSAR-2 scenes from a Tellus-style search API, docs/alos2.md).
    kind: Literal["local", "licsar_http", "tellus"]
    #: Root directory (``local``).
    root: str | None = None
    #: Base URL (``licsar_http``), under which ``<track>/<frame>/...`` are listed; the API
    #: root of a ``tellus`` archive (``<base_url>/search/palsar2-l11``).
    base_url: str | None = None
    #: Per-request timeout, seconds (at most an hour).
    timeout_s: Real = Field(60.0, gt=0, le=3600)
    #: Retries of a failed request (timeouts, 5xx), with exponential backoff.
    retries: Int = Field(3, ge=0, le=10)
    #: ``licsar_http``: total time for one file (all attempts, waits and the transfer),
    #: seconds; a file not complete by then fails with a timeout, retried at a later poll.
    deadline_s: Real = Field(120.0, gt=0, le=86400)
    #: ``licsar_http``: total time for one listing or HEAD request, seconds (a trickled
    #: listing holds a worker no longer; a partial listing is never "nothing new").
    listing_deadline_s: Real = Field(30.0, gt=0, le=3600)
    #: ``licsar_http``: largest listing body accepted, bytes (at most 64 MiB).
    max_listing_bytes: Int = Field(8 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)
    #: ``licsar_http``: largest file accepted, bytes; refused from its Content-Length, or
    #: while counting, before more than this reaches the disk.
    max_product_bytes: Int = Field(512 * 1024 * 1024, gt=0, le=64 * 1024**3)
    #: ``licsar_http``: longest Retry-After (HTTP 429 / 503) waited for within a request,
    #: seconds; a longer one fails the request at once, retried at a later poll.
    max_retry_after_s: Real = Field(60.0, ge=0, le=3600)
    #: ``licsar_http``: hosts (``"host"`` or ``"host:port"``) that redirects and listing
    #: links may lead to besides the base URL's host; [] (the default): that host only.
    allowed_hosts: tuple[str, ...] = ()
    #: Default ``start`` of the targets on this archive (a target's own wins): products
    #: whose first date is before it are not listed as due nor watched (up to 30 of them
    #: are read once, as a new series' GLS noise samples). None: no bound.
    start: Day | None = None
    #: Products before a target's ``start`` that begin a new series' GLS noise history
    #: (``monitor/service/noise_warmup.py``), fetched once when the series starts; 0: none,
    #: the filter then waits for 20 of the series' own increments; at most the 30 the
    #: filter's first threshold uses. None (the default): 30 for LiCSAR archives, whose
    #: products are made already; 0 for ``tellus``, where each product is two scene
    #: downloads and an interferogram.
    gls_borrow: Int | None = Field(None, ge=0, le=30)

    # -- kind = "tellus" only (docs/alos2.md, "Archive") ---------------------------------
    #: Name of the environment variable holding the API token (never the token itself).
    token_env: str = "TELLUS_TOKEN"
    #: Polarisation of the image files paired (``HH``, ``HV``, ``VH`` or ``VV``).
    polarisation: Literal["HH", "HV", "VH", "VV"] = "HH"
    #: Beam number of the scenes watched (e.g. ``"U2-8"``); unset: the frame's only one
    #: (a frame seen in several beams is then refused, never mixed into one series).
    beam: str | None = None
    #: Observation mode of the scenes watched (e.g. ``"SM1"``); unset: the frame's only one.
    mode: str | None = None
    #: Longest time between the two acquisitions of a pair, days.
    max_gap_days: Int = Field(365, ge=1, le=3650)
    #: Pairs of each scene with later acquisitions besides the next one (0: the bare daisy
    #: chain); they let the watch bridge a bad date.
    extra_pairs: Int = Field(1, ge=0, le=5)
    #: Most search pages followed in one listing; more is an error, never a cut listing.
    max_pages: Int = Field(100, ge=1, le=10_000)
    # -- kind = "tellus": the interferometry of each pair (docs/alos2.md) ----------------
    #: Half-width of the square of each scene processed around each target of a frame, km
    #: (at most the target's crop; only these lines of the scenes are read).
    process_km: Real = Field(10.0, gt=0, le=100)
    #: ``[azimuth, range]`` looks of the interferogram (each 1-64).
    looks: tuple[Int, Int] = (4, 4)
    #: Multilooked coherence at or below which a pixel is NaN in the product.
    coherence_threshold: Real = Field(0.1, ge=0, lt=1)
    #: Also remove a phase plane fitted after the orbits' phase (orbit errors; it also
    #: takes up deformation planar at the scale of the processed square).
    remove_residual_plane: Flag = False
    #: Keep every downloaded scene in the cache. False (the default): once a pair's product
    #: is made, the frame's scenes acquired more than ``max_gap_days`` before its second
    #: date are deleted (no later pair can use them; an older pair made again, e.g. after
    #: ``products retry``, downloads its scenes again). An L1.1 scene is 1-2 GB.
    keep_scenes: Flag = False
    #: Spacing of the geocoded product grid, degrees (LiCSAR's: 0.001, about 110 m).
    spacing_deg: Real = Field(0.001, gt=0, lt=0.1)
    #: A folder of SRTM ``.hgt`` tiles (``N14E120.hgt``...) for the topographic phase;
    #: unset: the packaged SRTM3 crops where they cover the square, else the ellipsoid.
    dem_dir: str | None = None
    #: Geoid undulation added to the DEM's (EGM96) heights to make them ellipsoidal,
    #: metres (about +45 at Taal; 0 leaves a mostly constant error of a quarter fringe for
    #: a 300 m baseline).
    geoid_undulation_m: Real = Field(0.0, ge=-120, le=120)

    @field_validator("looks")
    @classmethod
    def _looks(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(1 <= k <= 64 for k in v):
            raise ValueError("expected [azimuth, range] looks, each from 1 to 64, e.g. "
                             "looks = [4, 4]")
        return v

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, v: str) -> str:
        if not re.fullmatch(ENV_NAME_PATTERN, v):
            raise ValueError("expected the name of an environment variable (letters, digits "
                             "and '_', not starting with a digit), e.g. \"TELLUS_TOKEN\"; "
                             "the token itself never goes in the file")
        return v

    @field_validator("beam", "mode")
    @classmethod
    def _beam_mode(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,15}", v):
            raise ValueError("expected a PALSAR-2 beam number or observation mode as the "
                             "search API writes it, e.g. beam = \"U2-8\", mode = \"SM1\"")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(h.strip().lower() for h in hosts)
        bad = [h for h in out if not HOST_ENTRY_RE.match(h)]
        if bad:
            raise ValueError(f"allowed_hosts {bad}: expected 'host' or 'host:port' (no scheme, "
                             "path or credentials), e.g. \"gws-access.jasmin.ac.uk\"")
        return out

    @model_validator(mode="after")
    def _location(self) -> ArchiveSettings:
        if self.kind == "local" and not self.root:
            raise ValueError("a local archive needs root = \"DIRECTORY\"")
        if self.kind == "licsar_http" and not (self.base_url and _http_url(self.base_url)):
            raise ValueError("a licsar_http archive needs base_url = \"http(s)://HOST/...\"")
        if self.kind == "tellus" and not (self.base_url and _http_url(self.base_url)):
            raise ValueError("a tellus archive needs base_url = \"http(s)://HOST/...\", the "
                             "API root (e.g. \"https://file.tellusxdp.com/api/v1/origin\")")
        misplaced = sorted(self.model_fields_set & set(TELLUS_ONLY_KEYS))
        if self.kind != "tellus" and misplaced:
            raise ValueError(f"{', '.join(misplaced)} apply to kind = \"tellus\" archives "
                             f"only, not to kind = \"{self.kind}\"")
        return self


#: ``gls_borrow`` of a LiCSAR archive that sets none (the series GLS filter's warm-up and
#: one refresh, ``monitor.science.detect.series_gls.BORROW``).
DEFAULT_GLS_BORROW = 30
#: The keys of ``[archives.NAME]`` that only a ``kind = "tellus"`` archive takes.
TELLUS_ONLY_KEYS = ("token_env", "polarisation", "beam", "mode", "max_gap_days",
                    "extra_pairs", "max_pages", "process_km", "looks", "keep_scenes",
                    "coherence_threshold", "remove_residual_plane", "spacing_deg", "dem_dir",
                    "geoid_undulation_m")


def _http_url(url: str) -> bool:
    """Whether ``url`` is an ``http://`` or ``https://`` URL with a host (and a valid port)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url


class AlertSettings(_Section):
    """Alert policy: the detector's probability and the LSTT p-value with hysteresis and
    levels."""

    #: The detector's probability over the target (the block detector's of the newest
    #: increment, or the CNN's fused P) at or above which a step counts for ``watch``.
    p_watch: Real = Field(0.5, gt=0, lt=1)
    #: ... and for ``warning``.
    p_warning: Real = Field(0.8, gt=0, lt=1)
    #: LSTT p-value at or below which the target differs from the references.
    lstt_alpha: Real = Field(0.05, gt=0, lt=1)
    #: ``cnn`` (the detector, whichever ``[science] detector`` is; the name predates the
    #: block detector) alone, ``cnn_and_lstt`` (both must agree) or ``cnn_or_lstt``.
    combine: Literal["cnn", "cnn_and_lstt", "cnn_or_lstt"] = "cnn_and_lstt"
    #: ``gls``: the detector's P counts only as far as the series' own GLS Mogi filter on
    #: the epoch's map confirms it (the smaller of the two P; the filter judges an epoch
    #: once the series holds 20 increments before it,
    #: ``monitor.science.detect.series_gls``); ``none``: the detector's P alone.
    confirm: Literal["gls", "none"] = "gls"
    #: Consecutive qualifying steps before a level is raised.
    raise_after: Int = Field(2, ge=1, le=1000)
    #: Consecutive quiet steps before the level is cleared.
    clear_after: Int = Field(3, ge=1, le=1000)
    #: Time-series rule (:mod:`monitor.science.trend`): |z| of the best new change of the
    #: series at or above which a step counts for ``watch`` (raised at once) ...
    trend_z_watch: Real = Field(4.5, gt=0, le=1000)
    #: ... and for ``warning``. Both, with ``trend_min_epochs`` and
    #: ``trend_confirm_epochs``, set from the false alerts per volcano-year against the
    #: delays measured by ``insar-monitor evaluate series`` (docs/detection_series.md).
    trend_z_warning: Real = Field(7.0, gt=0, le=1000)
    #: Candidate onsets among the last this many epochs of a series.
    trend_window_epochs: Int = Field(15, ge=1, le=10_000)
    #: Epochs of a series the fit uses (the newest).
    trend_history_epochs: Int = Field(60, ge=4, le=10_000)
    #: Fewest epochs of a series before the time-series rule speaks.
    trend_min_epochs: Int = Field(15, ge=4, le=10_000)
    #: Consecutive epochs of a series whose best new change must reach the threshold
    #: before the time-series rule qualifies (2: an outlier of one date's atmosphere is
    #: not a change until the next epoch confirms it; a change at ``trend_z_warning`` or
    #: more needs no confirmation).
    trend_confirm_epochs: Int = Field(2, ge=1, le=1000)
    #: Fast path: fused P at or above this ...
    fast_p: Real = Field(0.95, gt=0, lt=1)
    #: ... with the LSTT p-value of the newest interferogram alone at or below this ...
    fast_lstt_alpha: Real = Field(0.02, gt=0, lt=1)
    #: ... and the newest interferogram moving the target by at least this many metres
    #: (95th percentile of |increment - median| over the target) raises warning at once.
    fast_step_m: Real = Field(0.03, gt=0, le=100)

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
    enabled: Flag = True
    #: Sources tried in this order: ``gacos`` and ``icams`` are the archive's per-epoch
    #: delay files (``epochs/<date>/<date>.sltd.geo.tif``, ``<date>.icams.sltd.geo.tif``);
    #: ``empirical`` fits delay against DEM height outside the target.
    methods: tuple[Literal["gacos", "icams", "empirical"], ...] = Field(
        ("gacos", "icams", "empirical"), min_length=1)
    #: Geometry of the archive's delay files: ``zenith`` delays are projected to the line
    #: of sight with the frame's incidence (``metadata/<frame>.geo.U.tif`` or
    #: ``metadata.txt``); ``slant`` delays are used as they are.
    delay_geometry: Literal["zenith", "slant"] = "zenith"
    #: The empirical fit (:class:`~monitor.science.second_look_settings.
    #: SecondLookSettings`, where each is documented with its measurement): polynomial
    #: order in height (1, 2 or ``auto``) with the target known, and without one.
    order: Order = _LOOK.order
    untargeted_order: Order = _LOOK.untargeted_order
    #: Gaussian sigma (metres) of the low-pass removed before the empirical coefficients
    #: are estimated (scale separation); 0 fits the whole band (the plain fit).
    band_sigma_m: Real = Field(_LOOK.band_sigma_m, ge=0, le=100_000)
    #: Disc on the target left out of the empirical fit, in target radii (>= 1).
    fit_exclusion_radii: Real = Field(_LOOK.fit_exclusion_radii, ge=1, le=100)
    #: Radius around the detected peak left out of the empirical fit, in target radii
    #: (the P > threshold region is left out too, unless too few pixels would remain).
    peak_exclusion_radii: Real = Field(_LOOK.peak_exclusion_radii, ge=0, le=100)
    #: Fewest pixels the empirical fit may use.
    min_pixels: Int = Field(_LOOK.min_pixels, ge=10, le=2**32)
    #: Smallest height range (metres) among those pixels for the fit to be attempted.
    min_height_range_m: Real = Field(_LOOK.min_height_range_m, gt=0, le=10_000)

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

    lon: Real = Field(ge=-180, le=180)
    lat: Real = Field(ge=-90, le=90)
    radius_km: Real = Field(gt=0, le=100)


class TargetSettings(_Section):
    """One watched volcano."""

    #: Stable identifier, e.g. the Smithsonian GVP volcano number.
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    #: Name shown in e-mail subjects, feeds and pages: one line, at most 200 characters.
    name: str = Field(min_length=1, max_length=200)
    lon: Real = Field(ge=-180, le=180)
    lat: Real = Field(ge=-90, le=90)
    #: Radius of the target disc, kilometres.
    radius_km: Real = Field(3.0, gt=0, le=100)
    #: Name of an entry of ``[archives]``.
    archive: str = Field(min_length=1)
    frames: tuple[str, ...] = Field(min_length=1)
    #: ``"auto"`` or a (non-empty) list of reference discs.
    references: Literal["auto"] | Annotated[tuple[ReferenceRegion, ...],
                                            Field(min_length=1)] = "auto"
    #: Observatory e-mail addresses (plain ``user@domain``, no display names).
    recipients: tuple[str, ...] = ()
    #: Wrap gains for this target, each in (0, 64] (default: ``science.gains``).
    gains: tuple[Gain, ...] | None = None
    #: Seconds between polls of this target (10 s to 30 days).
    poll_interval_s: Real = Field(3600.0, ge=10, le=MAX_POLL_INTERVAL_S)
    #: Alert policy of this target (default: ``[alerts]``).
    alerts: AlertSettings | None = None
    # -- crop and backfill (issue 17) --
    #: Half-width of the square window of each frame read and scored around the target,
    #: kilometres (default: 25 km, or 5 target radii when that is more). Recorded with a
    #: new series; a later change applies when the series is rebuilt.
    crop_km: Real | None = Field(None, gt=0, le=1000)
    #: Earliest first date of the products watched (backfill bound); None: the archive's
    #: ``start``, else the frame's whole history.
    start: Day | None = None

    @property
    def crop_half_km(self) -> float:
        """The crop's half-width in effect, kilometres (``crop_km`` or its default)."""
        return float(self.crop_km) if self.crop_km is not None \
            else default_crop_km(self.radius_km)

    @model_validator(mode="after")
    def _crop_holds_discs(self) -> TargetSettings:
        half = self.crop_half_km
        if half <= self.radius_km:
            raise ValueError(f"crop_km ({half:g} km) must be larger than radius_km "
                             f"({self.radius_km:g} km): the crop must hold the target disc")
        if self.references != "auto":
            for k, r in enumerate(self.references, 1):
                if not square_holds_disc(self.lon, self.lat, half,
                                         GroundDisc(r.lon, r.lat, r.radius_km)):
                    raise ValueError(
                        f"target {self.id}: reference {k} (disc {r.lon},{r.lat} radius "
                        f"{r.radius_km:g} km) lies outside the crop of {half:g} km around "
                        "the target; raise crop_km or move the reference closer")
        return self

    @field_validator("gains")
    @classmethod
    def _gains(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is not None and not 1 <= len(v) <= 16:
            raise ValueError(f"expected 1 to 16 gains, got {len(v)}")
        return v

    @field_validator("frames")
    @classmethod
    def _frames(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [f for f in v if not (re.fullmatch(FRAME_PATTERN, f)
                                    or re.fullmatch(PALSAR2_FRAME_PATTERN, f))]
        if bad:
            raise ValueError(f"frame ids {bad} do not look like LiCSAR frames "
                             "(e.g. 022D_04826_121209) nor PALSAR-2 frames of a tellus "
                             "archive (P<path>F<frame>, e.g. P018F2900)")
        return v

    @field_validator("recipients")
    @classmethod
    def _emails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if len(r) > 254 or not re.fullmatch(EMAIL_PATTERN, r)]
        if bad:
            raise ValueError(f"recipients {bad} are not e-mail addresses (user@domain.tld)")
        return v


WEBHOOK_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class EmailSettings(_Section):
    """How alert e-mail leaves: printed to a folder and the log, or sent over SMTP."""

    mode: Literal["dry-run", "smtp"] = "dry-run"
    #: Folder where dry-run messages are written as ``.eml`` files.
    outbox_dir: str = Field("insar-monitor-data/outbox", min_length=1)
    host: str = Field("localhost", pattern=HOST_PATTERN)
    port: Int = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    #: ``From`` address (plain ``user@domain``; its domain ends each ``Message-ID``).
    sender: str = Field("insar-monitor@localhost", max_length=254, pattern=SENDER_PATTERN)
    #: Names of the environment variables holding the SMTP credentials (never the values;
    #: empty: no login).
    username_env: str = Field("MONITOR_SMTP_USERNAME", pattern=r"^$|" + ENV_NAME_PATTERN)
    password_env: str = Field("MONITOR_SMTP_PASSWORD", pattern=r"^$|" + ENV_NAME_PATTERN)
    #: Seconds (at most 10 minutes).
    timeout_s: Real = Field(30.0, gt=0, le=600)


class OutboxSettings(_Section):
    """How the outbox sends and retries deliveries (:mod:`monitor.service.outbox`)."""

    #: Seconds between the daemon's own passes over the outbox (besides the pass after
    #: each poll), so a retry never waits for the next poll.
    interval_s: Real = Field(60.0, ge=1, le=86400)
    #: Delay before the first retry of a delivery that failed and may succeed later,
    #: seconds; each further failure doubles it up to ``max_backoff_s``.
    first_backoff_s: Real = Field(60.0, gt=0, le=86400)
    #: Longest delay between two attempts of one delivery, seconds. Retryable failures
    #: are retried forever at most this far apart (no attempt limit).
    max_backoff_s: Real = Field(3600.0, gt=0, le=86400)
    #: How long a pass holds a delivery it is sending, seconds (a claim in the store, so
    #: two passes never send one delivery together). Longer than one attempt of any
    #: channel; a process killed while sending leaves the delivery due again this long
    #: after it claimed it (at least once).
    claim_lease_s: Real = Field(120.0, ge=1, le=3600)

    @model_validator(mode="after")
    def _backoff_order(self) -> OutboxSettings:
        if self.max_backoff_s < self.first_backoff_s:
            raise ValueError(f"max_backoff_s ({self.max_backoff_s:g}) must be >= "
                             f"first_backoff_s ({self.first_backoff_s:g})")
        return self




class WebhookSettings(_Section):
    """One receiver of alerts as a signed JSON POST (``[webhooks.NAME]``, see
    :mod:`monitor.notify.webhook` and ``docs/webhooks.md``)."""

    #: Where to POST (``http://`` or ``https://``); redirects are not followed.
    url: str
    #: Name of the environment variable holding the HMAC-SHA256 secret (never the value).
    secret_env: str = Field(pattern=ENV_NAME_PATTERN)
    #: Read timeout of one POST, seconds (the connect timeout is at most 5 s of it).
    timeout_s: Real = Field(10.0, gt=0, le=300)
    #: Target ids whose alerts go to this webhook; empty: every target.
    targets: tuple[str, ...] = ()
    #: Also POST when a level clears (kind ``cleared``).
    notify_cleared: Flag = True
    #: Public base URL under which the quicklook PNGs (``watch.quicklook_dir``) are
    #: served; None: the payload carries no quicklook URL.
    quicklook_base_url: str | None = None

    @field_validator("url", "quicklook_base_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _http_url(v):
            raise ValueError("expected an http:// or https:// URL with a host")
        return v

    def wants(self, target_id: str, cleared: bool = False) -> bool:
        """Whether an alert of ``target_id`` (a clear when ``cleared``) goes here."""
        if cleared and not self.notify_cleared:
            return False
        return not self.targets or target_id in self.targets


class MetricsSettings(_Section):
    """The Prometheus endpoint."""

    enabled: Flag = True
    host: str = Field("127.0.0.1", pattern=HOST_PATTERN)
    port: Int = Field(9309, ge=0, lt=65536)


class StatusPageSettings(_Section):
    """The read-only status page the daemon serves (watch list, histories, quicklooks)."""

    enabled: Flag = True
    #: Listen address; 127.0.0.1 keeps the page on this machine (expose it deliberately,
    #: e.g. behind a reverse proxy that authenticates).
    host: str = Field("127.0.0.1", pattern=HOST_PATTERN)
    #: TCP port; 0 picks a free one (the daemon logs the URL).
    port: Int = Field(9310, ge=0, lt=65536)
    #: Seconds between the browser's automatic reloads of a page; 0: no reload (at most a
    #: day).
    refresh_s: Int = Field(300, ge=0, le=86400)


#: CAP 1.2 forbids spaces, commas, ``<`` and ``&`` in the sender (OASIS CAP 1.2, 3.2.1).
CAP_SENDER_PATTERN = r"^[^\s,<&]+$"
#: ``xs:language`` (RFC 3066 tags such as ``en-US``).
LANGUAGE_PATTERN = r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$"


class FeedSettings(_Section):
    """The published feeds (:mod:`monitor.service.feeds`): a CAP 1.2 document per alert, an
    Atom feed of them and a GeoJSON map of every target's level and latest scores. They
    are automated deformation notices, never an official volcano alert level."""

    #: Write the feeds after the daemon's first poll and every poll that records
    #: something (new epochs, scores or alerts).
    enabled: Flag = True
    #: Folder the feeds are written to (``cap/*.xml``, ``atom.xml``, ``alerts.geojson``,
    #: ``quicklooks/*.png``); empty: ``feeds`` beside ``watch.quicklook_dir``
    #: (``insar-monitor-data/feeds`` by default).
    dir: str = ""
    #: URL under which that folder is served (``http(s)://...``), used for the links of
    #: the feeds (quicklook, CAP files, the feed itself); empty: relative links only.
    base_url: str = ""
    #: CAP ``sender``: an address that identifies the originator (no spaces, commas,
    #: ``<`` or ``&``); its domain is part of each CAP identifier.
    sender: str = Field("insar-monitor@localhost", max_length=254,
                        pattern=CAP_SENDER_PATTERN)
    #: CAP ``status``: ``Actual``, ``Exercise``, ``System``, ``Test`` or ``Draft``.
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = "Actual"
    #: CAP ``language`` of the texts (RFC 3066).
    language: str = Field("en-US", pattern=LANGUAGE_PATTERN)
    #: Title of the Atom feed.
    title: str = Field("insar-monitor: automated InSAR deformation notices", min_length=1,
                       max_length=200)

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
    series_dir: str = Field("insar-monitor-data/series", min_length=1)
    #: Downloaded products.
    cache_dir: str = Field("insar-monitor-data/cache", min_length=1)
    #: Quicklook images of alerts.
    quicklook_dir: str = Field("insar-monitor-data/quicklooks", min_length=1)
    #: Random delay added to each poll, seconds (spreads load on the archive; at most a
    #: day).
    jitter_s: Real = Field(30.0, ge=0, le=86400)


#: A Dask scheduler address: ``tcp://host:port`` (or ``tls://``, ``ucx://``, ``inproc://``).
DASK_ADDRESS_PATTERN = r"^(tcp|tls|ucx|inproc)://[^\s/]+$"


class ExecutorSettings(_Section):
    """Where scoring runs and how many targets are polled at once
    (:mod:`monitor.service.executors`, docs/scaling.md)."""

    #: ``inline``: in the polling thread (the default); ``process``: a pool of ``workers``
    #: worker processes on this machine; ``dask``: an existing Dask distributed cluster
    #: (``dask_scheduler``).
    kind: Literal["inline", "process", "dask"] = "inline"
    #: Targets polled at once (one writer thread each) and, for ``process``, the worker
    #: processes; 0: the machine's cores.
    workers: Int = Field(0, ge=0, le=1024)
    #: The Dask scheduler's address (``tcp://host:8786``); required with ``kind = "dask"``.
    dask_scheduler: str = ""
    #: Seconds to wait for the Dask scheduler when the daemon starts.
    dask_connect_timeout_s: Real = Field(10.0, gt=0, le=600)
    #: Times a scoring task is run again when its worker is lost (a killed process).
    task_retries: Int = Field(2, ge=0, le=10)
    #: Longest wait for one scoring task, seconds; past it the product is failed and
    #: retried at a later poll.
    task_timeout_s: Real = Field(600.0, gt=0, le=86400)

    @field_validator("dask_scheduler")
    @classmethod
    def _address(cls, v: str) -> str:
        if v and not re.match(DASK_ADDRESS_PATTERN, v):
            raise ValueError(f"dask_scheduler must be a scheduler address such as "
                             f"tcp://host:8786, got {v!r}")
        return v

    @model_validator(mode="after")
    def _dask_needs_an_address(self) -> ExecutorSettings:
        if self.kind == "dask" and not self.dask_scheduler:
            raise ValueError("executor.dask_scheduler is required with executor.kind = "
                             "\"dask\": the address of a running scheduler, e.g. "
                             "\"tcp://scheduler-host:8786\" (docs/scaling.md)")
        return self

    def worker_count(self) -> int:
        """``workers``, or the machine's cores when it is 0."""
        return self.workers or os.cpu_count() or 1


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
    executor: ExecutorSettings = ExecutorSettings()

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        # A claim shorter than one attempt would let a second pass send it meanwhile.
        longest = max([self.email.timeout_s] + [5.0 + h.timeout_s
                                                for h in self.webhooks.values()])
        if self.outbox.claim_lease_s <= longest:
            raise ValueError(f"outbox.claim_lease_s ({self.outbox.claim_lease_s:g} s) must "
                             f"be longer than the longest delivery attempt ({longest:g} s: "
                             "email.timeout_s, or 5 s of connection plus a webhook's "
                             "timeout_s)")
        return self

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        ids = [t.id for t in self.targets]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"target ids must be unique; repeated: {dup}")
        long = [n for n in self.archives if not 1 <= len(n) <= ARCHIVE_NAME_MAX]
        if long:
            raise ValueError(f"archives: a name is 1-{ARCHIVE_NAME_MAX} characters, got "
                             f"{[n[:80] for n in long]}")
        for k, t in enumerate(self.targets):
            if t.archive not in self.archives:
                raise ValueError(
                    f"targets[{k}] ({t.id}): archive {t.archive!r} is not defined; defined "
                    f"archives: {sorted(self.archives) or 'none'}")
            _frames_fit_archive(k, t, self.archives[t.archive])
            a = self.archives[t.archive]
            if a.kind == "tellus" and a.process_km <= t.radius_km:
                raise ValueError(
                    f"targets[{k}] ({t.id}): archives.{t.archive}.process_km = "
                    f"{a.process_km:g} km does not exceed its radius_km = {t.radius_km:g}: "
                    "the interferometry would not cover the target and its reference "
                    "regions; raise process_km (default 10)")
        for name, hook in self.webhooks.items():
            if not re.fullmatch(WEBHOOK_NAME_PATTERN, name):
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

    def target_start(self, target: TargetSettings) -> date | None:
        """The backfill bound of ``target``: its ``start``, else its archive's, else None."""
        if target.start is not None:
            return target.start
        archive = self.archives.get(target.archive)
        return None if archive is None else archive.start

    def gls_borrow(self, target: TargetSettings) -> int:
        """Products before ``target``'s start its new series' GLS filter learns from (its
        archive's ``gls_borrow``)."""
        archive = self.archives.get(target.archive)
        if archive is None:
            return 0
        if archive.gls_borrow is not None:
            return archive.gls_borrow
        return 0 if archive.kind == "tellus" else DEFAULT_GLS_BORROW

    def target(self, target_id: str) -> TargetSettings:
        """The target with this id, with a clear error listing the known ones."""
        for t in self.targets:
            if t.id == target_id:
                return t
        raise ConfigError(f"no target {target_id!r} in the configuration; known targets: "
                          f"{', '.join(t.id for t in self.targets) or 'none'}")


def _frames_fit_archive(k: int, target: TargetSettings, archive: ArchiveSettings) -> None:
    """A tellus archive watches PALSAR-2 frames (``P018F2900``), the others LiCSAR ones."""
    tellus = archive.kind == "tellus"
    bad = [f for f in target.frames
           if not re.fullmatch(PALSAR2_FRAME_PATTERN if tellus else FRAME_PATTERN, f)]
    if bad and tellus:
        raise ValueError(f"targets[{k}] ({target.id}): frames {bad} are not PALSAR-2 frames, "
                         f"but archive {target.archive!r} is kind = \"tellus\": name them "
                         "P<path>F<frame>, e.g. P018F2900 (path 18, frame 2900; the beam and "
                         "mode are the archive's)")
    if bad:
        raise ValueError(f"targets[{k}] ({target.id}): frames {bad} are PALSAR-2 frames, "
                         f"which only a kind = \"tellus\" archive serves; archive "
                         f"{target.archive!r} is kind = \"{archive.kind}\" (LiCSAR frames, "
                         "e.g. 022D_04826_121209)")


#: Longest value echoed in an error message, characters.
_SHOWN_MAX = 120


def _shown(value: Any, depth: int = 0) -> str:
    """A value as an error message echoes it: secrets masked before it is cut to length,
    nesting and length bounded (a hostile file cannot make the message huge)."""
    if isinstance(value, str):
        text = mask_secrets(value)
        return repr(text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "...")
    if isinstance(value, list | tuple):
        if depth >= 2:
            return "[...]"
        items = [_shown(v, depth + 1) for v in value[:8]]
        return "[" + ", ".join(items + (["..."] if len(value) > 8 else [])) + "]"
    if isinstance(value, Mapping):
        return "{...}"
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."


def _key_text(loc: tuple[int | str, ...]) -> str:
    """``targets.0.name``; a part that is not printable is shown as its repr."""
    parts = [str(p) if str(p) and not control_characters(str(p)) else repr(str(p))[:80]
             for p in loc]
    return ".".join(parts) or "<root>"


def _format_validation_error(err: ValidationError, source: str,
                             origin: Mapping[str, str] | None = None) -> str:
    """One line per error: ``  KEY = VALUE: what is wrong`` (``KEY: ...`` for a whole
    section, whose keys the message names), with the environment variable that set the key
    and every secret masked."""
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        key = _key_text(loc)
        value = e.get("input")
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against deploy/monitor.example.toml)"
        names = [str(p) for p in loc]
        env = next((v for k, v in (origin or {}).items()
                    if names[:len(k.split("."))] == k.split(".")), None)
        if env:
            key = f"{key} (from {env})"
        if isinstance(value, Mapping):
            lines.append(f"  {key}: {msg}")
        elif any(is_secret_key(n) for n in names):
            lines.append(f"  {key} = {MASK!r}: {msg}")
        else:
            lines.append(f"  {key} = {_shown(value)}: {msg}")
    return mask_secrets("\n".join(lines))


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
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


def settings_from_mapping(data: Mapping[str, Any], source: str = "<mapping>",
                          origin: Mapping[str, str] | None = None) -> Settings:
    """Validate a nested mapping (as parsed from TOML) into :class:`Settings`.

    Args:
        data: The mapping.
        source: What it came from, named in errors (the file).
        origin: Dotted keys set by environment variables, to name those in errors.

    Raises:
        ConfigError: one line per invalid key, secrets masked.
    """
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source, origin)) from None


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
        except RecursionError:
            raise ConfigError(f"configuration file {p} nests arrays or tables too deeply "
                              "to be a configuration") from None
    overrides, origin = env_overrides(os.environ if environ is None else environ)
    if overrides:
        source = f"{source} with environment overrides ({', '.join(sorted(origin.values()))})"
        data = _merge(data, overrides)
    return settings_from_mapping(data, source, origin)
