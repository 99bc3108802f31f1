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
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.errors import ConfigError

ENV_PREFIX = "MONITOR__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RasterSettings(_Section):
    """Limits applied when reading rasters."""

    #: Largest raster, in pixels, that the readers accept (absurd sizes are refused).
    max_pixels: int = Field(50_000_000, gt=0)


class ScienceSettings(_Section):
    """Parameters shared by the scoring science."""

    #: LOS metres per fringe at gain 1 (seed 003; 2.8 cm for Sentinel-1).
    fringe_spacing_m: float = Field(0.028, gt=0)
    #: Wrap gains mu for multi-gain fusion (seed 003).
    gains: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    #: Pixels with coherence at or below this are incoherent (NaN) (seed 000).
    coherence_threshold: float = Field(0.1, ge=0, lt=1)
    #: Fused probability above which an image is flagged (seed 002).
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
    """Defaults of the synthetic interferogram generator (seed 002 section 3)."""

    #: Sample size (rows, columns) of training datasets; 224 is the CNN input.
    shape: tuple[int, int] = (224, 224)
    #: Pixel spacing, metres (Sentinel-1 LiCSAR products are about 100 m).
    pixel_m: float = Field(100.0, gt=0)
    #: Samples per ``.npz`` shard.
    shard_size: int = Field(500, gt=0)
    #: Turbulent delay: standard deviation range, metres (seed 002: sigma^2 5-9 mm^2).
    turbulent_sigma_m: tuple[float, float] = (0.0022, 0.0030)
    #: Turbulent delay: e-folding length range, metres (seed 002: 4-18 km).
    turbulent_length_m: tuple[float, float] = (4000.0, 18000.0)
    #: Fraction of samples with incoherent patches (seed 002 names their absence).
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


class Settings(_Section):
    """The whole configuration. Immutable once loaded."""

    rasters: RasterSettings = RasterSettings()
    science: ScienceSettings = ScienceSettings()
    synth: SynthSettings = SynthSettings()
    database: DatabaseSettings = DatabaseSettings()
    logging: LoggingSettings = LoggingSettings()


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
