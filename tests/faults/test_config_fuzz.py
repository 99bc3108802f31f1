"""Fuzzing the configuration loader: whatever the file or the environment holds, loading
gives a :class:`~monitor.config.Settings` or a :class:`~monitor.errors.ConfigError` that
names the file and the key, never another exception and never the database password.

Four sources of hostile input, each recorded in the ``faults`` tally by the kind of value
fed: arbitrary text as a TOML file, TOML documents built from plausible keys with random
values, mappings with one plausible key set to a random value, and ``MONITOR__*``
environment overrides. Settings that do load are checked too: every float finite, no
control character in any string. ``derandomize`` keeps runs reproducible; about 1,000
examples in all take a few seconds (``MONITOR_FUZZ_EXAMPLES=5000`` for a long random run).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from monitor.config import (
    AlertSettings,
    ArchiveSettings,
    Settings,
    TargetSettings,
    WebhookSettings,
    control_characters,
    load_settings,
    settings_from_mapping,
)
from monitor.errors import ConfigError
from monitor.redact import is_secret_key
from tests.faults.conftest import FaultTally

SECRET = "s3cretpw"
PG_URL = f"postgresql://u:{SECRET}@127.0.0.1:1/x"
#: Examples per test (``MONITOR_FUZZ_EXAMPLES`` raises it for a long, random run).
EXAMPLES = int(os.environ.get("MONITOR_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES == 250,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def base() -> dict[str, Any]:
    """A valid configuration with a password in its database URL."""
    return {
        "database": {"url": PG_URL},
        "archives": {"a": {"kind": "local", "root": "/data"}},
        "targets": [{"id": "t1", "name": "Etna", "lon": 15.0, "lat": 37.7, "archive": "a",
                     "frames": ["022D_04826_121209"], "recipients": ["duty@example.org"]}],
        "webhooks": {"w": {"url": "https://h.example.org/hook", "secret_env": "HOOK_SECRET"}},
    }


def test_the_fuzzed_base_is_valid() -> None:
    s = settings_from_mapping(base(), "base")
    assert s.database.url == PG_URL and s.targets[0].name == "Etna"
    assert_sane(s)


def _keys(model: type[BaseModel], prefix: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    return [(*prefix, name) for name in model.model_fields]


#: Every plausible key: each field of each section, of the archive, target, its alerts and
#: the webhook of :func:`base`.
PATHS: list[tuple[str | int, ...]] = [
    *(path for section, field in Settings.model_fields.items()
      if section not in ("archives", "webhooks", "targets")
      for path in _keys(field.annotation, (section,))),  # type: ignore[arg-type]
    *_keys(ArchiveSettings, ("archives", "a")),
    *_keys(TargetSettings, ("targets", 0)),
    *_keys(AlertSettings, ("targets", 0, "alerts")),
    *_keys(WebhookSettings, ("webhooks", "w")),
    ("archives",), ("webhooks",), ("targets",), ("database",),
]
SECTIONS = sorted({str(p[0]) for p in PATHS})

_controls = st.sampled_from(["\r\n", "\n", "\r", "\t", "\x00", "\x07", "\x1b[31m", "\x7f",
                             "\x85", "\u2028", "\u202e"])


def _tagged(kind: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.tuples(st.just(kind), values)


#: (kind, value): the hostile values, labelled for the tally.
VALUES: st.SearchStrategy[tuple[str, Any]] = st.one_of(
    _tagged("inf/nan", st.sampled_from([math.inf, -math.inf, math.nan])),
    _tagged("boolean", st.booleans()),
    _tagged("integer", st.integers(min_value=-2**63, max_value=2**63 - 1)),
    _tagged("float", st.floats(allow_nan=False, allow_infinity=False)),
    _tagged("text", st.text(max_size=40)),
    _tagged("control characters", st.builds(lambda a, c, b: a + c + b, st.text(max_size=8),
                                            _controls, st.text(max_size=8))),
    _tagged("secret URL", st.builds(lambda a, b: f"{a}postgresql://u:{SECRET}@h{b}/x",
                                    st.sampled_from(["", "mysql+", " "]),
                                    st.sampled_from(["", ":1", ":99999", ":x", " "]))),
    _tagged("empty", st.sampled_from(["", [], {}])),
    _tagged("list", st.lists(st.one_of(st.floats(), st.integers(-10, 100), st.booleans(),
                                       st.text(max_size=8)), max_size=5)),
    _tagged("table", st.dictionaries(st.text(max_size=8), st.integers(-5, 5), max_size=3)),
)


def put(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for p in path[:-1]:
        node = node.setdefault(p, {}) if isinstance(node, dict) else node[p]
    node[path[-1]] = value


def names_key(message: str, path: tuple[str | int, ...]) -> bool:
    """The message names the key, or the table holding it (a check across its keys)."""
    dotted = [str(p) for p in path]
    return dotted[-1] in message or ".".join(dotted[:2]) in message


def assert_sane(s: Settings) -> None:
    """Settings that loaded: finite floats, one-line strings."""
    def walk(v: Any) -> None:
        if isinstance(v, float):
            assert math.isfinite(v)
        elif isinstance(v, str):
            assert not control_characters(v), v
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(k)
                walk(item)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item)
    walk(s.model_dump())


def outcome(load: Any, source: str) -> str:
    """Load; ``ok`` or the ConfigError message (checked for the source, the file or a
    ``MONITOR__`` variable, and for the secret)."""
    try:
        s = load()
    except ConfigError as err:
        message = str(err)
        assert any(name in message for name in source.split("|")), message
        assert SECRET not in message, message
        return message
    assert_sane(s)
    return "ok"


# -- TOML text ---------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    out = []
    for c in text:
        out.append(c if " " <= c <= "~" and c not in '"\\' else
                   f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}")
    return '"' + "".join(out) + '"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_string(str(k))} = {toml_value(x)}"
                               for k, x in v.items()) + "}"
    raise TypeError(v)


def toml_document(data: dict[str, Any]) -> str:
    """``data`` as TOML: one inline value per top-level key (sections as inline tables)."""
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


@FUZZ
@given(text=st.one_of(st.text(max_size=300),
                      st.builds(lambda a, b: a + b, st.sampled_from(
                          ["[database]\nurl = \"" + PG_URL + "\"\n", "[alerts]\n",
                           "[[targets]]\n", "[archives.a]\n", "a = [[[[[[[[[[[[1]]]]]]]]]]]]\n"]),
                          st.text(max_size=200))))
def test_any_toml_text_loads_or_is_a_config_error(faults: FaultTally, text: str) -> None:
    faults.bad_input("config: arbitrary TOML text")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "fuzz.toml"
        cfg.write_text(text, encoding="utf-8", errors="surrogatepass")
        outcome(lambda: load_settings(cfg, environ={}), str(cfg))


@FUZZ
@given(path=st.sampled_from(PATHS), tagged=VALUES)
def test_toml_document_with_a_random_value(faults: FaultTally, path: tuple[str | int, ...],
                                           tagged: tuple[str, Any]) -> None:
    kind, value = tagged
    faults.bad_input(f"config value: {kind}")
    data = base()
    put(data, path, value)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "fuzz.toml"
        cfg.write_text(toml_document(data), encoding="utf-8")
        message = outcome(lambda: load_settings(cfg, environ={}), str(cfg))
    if message != "ok":
        assert names_key(message, path), (path, message)


#: Python values TOML cannot hold, for the mapping loader.
PYTHON_ONLY = _tagged("non-TOML value", st.sampled_from(
    [None, b"bytes", object(), {1: 2}, (1, 2), 10**400, -(10**400), complex(1, 2),
     {"a": {"b": {"c": {}}}}]))


@FUZZ
@given(path=st.sampled_from(PATHS), tagged=st.one_of(VALUES, PYTHON_ONLY),
       extra=st.one_of(st.none(), st.tuples(st.sampled_from(SECTIONS), st.one_of(
           st.text(max_size=12), st.sampled_from(["password", "smtp_password", "token",
                                                  "api_key", "secret"])))))
def test_mapping_with_a_random_value(faults: FaultTally, path: tuple[str | int, ...],
                                     tagged: tuple[str, Any],
                                     extra: tuple[str, str] | None) -> None:
    kind, value = tagged
    faults.bad_input(f"config value: {kind}")
    data = base()
    put(data, path, value)
    if extra is not None and isinstance(data.get(extra[0]), dict):
        # A bare secret can only be recognised by its key's name; under any other key
        # it is a URL's password.
        section, key = extra
        faults.bad_input("config: unknown key")
        data[section][key] = SECRET if is_secret_key(key) else PG_URL
    message = outcome(lambda: settings_from_mapping(data, "fuzz.toml"), "fuzz.toml")
    if message != "ok" and extra is None:
        assert names_key(message, path), (path, message)


_ENV_NAMES = st.one_of(
    st.sampled_from([f"MONITOR__{'__'.join(str(p).upper() for p in path)}"
                     for path in PATHS if len(path) == 2]),
    st.builds(lambda a, b: f"MONITOR__{a}__{b}", st.sampled_from(SECTIONS + ["X", ""]),
              st.sampled_from(["PASSWORD", "TOKEN", "SECRET_KEY", "URL", "", "A__B"])),
)


@FUZZ
@given(environ=st.dictionaries(_ENV_NAMES, st.one_of(
    st.sampled_from([PG_URL, PG_URL + "\n", SECRET, "inf", "nan", "true", "True", "[inf]",
                     "1e400", "0", "-1", "[]", "{}", "[[[[1]]]]"]),
    st.text(max_size=20).filter(lambda t: "\x00" not in t)), min_size=1, max_size=4))
def test_environment_overrides(faults: FaultTally, environ: dict[str, str]) -> None:
    faults.bad_input("config: MONITOR__* override", len(environ))
    # A bare secret is recognisable only under a secret-looking name (as above).
    environ = {k: PG_URL if v == SECRET and not is_secret_key(k) else v
               for k, v in environ.items()}
    environ.setdefault("MONITOR__DATABASE__URL", PG_URL)
    outcome(lambda: load_settings(None, environ=environ),
            "embedded defaults|environment variable MONITOR__")
