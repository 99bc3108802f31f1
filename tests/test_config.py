from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import Settings, WebhookSettings, load_settings, settings_from_mapping
from monitor.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "monitor.example.toml"


def test_defaults_without_file() -> None:
    s = load_settings(None, environ={})
    assert s == Settings()
    assert s.rasters.max_pixels == 50_000_000
    assert s.science.gains == (1.0, 2.0, 4.0, 8.0)
    assert s.science.coherence_threshold == 0.1


def test_example_file_lists_every_option_with_defaults() -> None:
    s = load_settings(EXAMPLE, environ={})
    assert s == Settings(), "the example file must spell out the defaults"
    text = EXAMPLE.read_text()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if section in ("archives", "webhooks", "targets"):
            assert f"[{section}." in text or f"[[{section}]]" in text
            continue
        assert f"[{section}]" in text
        for key in model.model_fields:  # type: ignore[union-attr]
            assert f"\n{key} =" in text, f"{section}.{key} missing from the example"
    for key in WebhookSettings.model_fields:  # a commented [webhooks.observatory] block
        assert f"\n# {key} =" in text, f"webhooks.NAME.{key} missing from the example"


def test_watch_list_example() -> None:
    s = load_settings(EXAMPLE.with_name("volcanoes.example.toml"), environ={})
    assert [t.name for t in s.targets] == ["Campi Flegrei", "Erta Ale", "Ol Doinyo Lengai"]
    assert s.target("221080").references[1].lon == 40.90  # type: ignore[index]
    assert s.target("222120").alerts.combine == "cnn"  # type: ignore[union-attr]
    assert s.archives["licsar"].kind == "licsar_http"
    with pytest.raises(ConfigError, match="no target 'etna'.*211010, 221080, 222120"):
        s.target("etna")


TARGET = """
[archives.a]
kind = "local"
root = "/data"
[[targets]]
id = "t1"
name = "T"
lon = 1.0
lat = 2.0
archive = "a"
frames = ["022D_04826_121209"]
"""


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (('archive = "a"', 'archive = "b"'), "archive 'b' is not defined"),
        (('["022D_04826_121209"]', '["22D_1"]'), "do not look like LiCSAR frames"),
        (('lat = 2.0', 'lat = 95.0'), "targets.0.lat = 95.0"),
        (('frames = ["022D_04826_121209"]', 'frames = []'), "targets.0.frames"),
        (('kind = "local"\nroot = "/data"', 'kind = "licsar_http"'), "needs base_url"),
        (('name = "T"', 'name = "T"\nrecipients = ["not-an-address"]'), "not e-mail addresses"),
    ],
)
def test_bad_watch_list(tmp_path: Path, change: tuple[str, str], needle: str) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(TARGET.replace(*change))
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg, environ={})


def test_duplicate_target_ids(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    block = TARGET[TARGET.index("[[targets]]"):]
    cfg.write_text(TARGET + block)
    with pytest.raises(ConfigError, match="repeated: \\['t1'\\]"):
        load_settings(cfg, environ={})


def test_file_and_environment_override(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text("[rasters]\nmax_pixels = 1000\n[science]\ngains = [1, 2]\n")
    s = load_settings(cfg, environ={"MONITOR__SCIENCE__FLAG_THRESHOLD": "0.7",
                                    "MONITOR__LOGGING__LEVEL": "debug", "HOME": "/x"})
    assert s.rasters.max_pixels == 1000
    assert s.science.gains == (1.0, 2.0)
    assert s.science.flag_threshold == 0.7
    assert s.logging.level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[rasters]\nmax_pixels = -5\n", "rasters.max_pixels = -5"),
        ("[rasters]\nmax_pixel = 5\n", "rasters.max_pixel = 5: unknown key"),
        ("[science]\ngains = [1, -2]\n", "science.gains"),
        ("[synth]\nturbulent_length_m = [9000, 4000]\n", "turbulent_length_m"),
        ("[nope]\nx = 1\n", "nope"),
        ("[rasters\n", "not valid TOML"),
    ],
)
def test_bad_values_name_key_and_value(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert needle in str(err.value)
    assert str(cfg) in str(err.value)


def test_bad_environment_override_names_variable() -> None:
    with pytest.raises(ConfigError, match="MONITOR__RASTERS__MAX_PIXELS"):
        load_settings(None, environ={"MONITOR__RASTERS__MAX_PIXELS": "lots"})
    with pytest.raises(ConfigError, match="MONITOR__NOSECTION"):
        load_settings(None, environ={"MONITOR__NOSECTION": "1"})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings("/nonexistent/monitor.toml", environ={})


def test_gls_borrow_defaults_by_archive_kind() -> None:
    """LiCSAR archives lend a new series 30 products before its start, a Tellus archive
    (each product two scene downloads and an interferogram) none unless told to."""
    def settings(kind: str, extra: dict[str, object]) -> Settings:
        where = {"root": "/data"} if kind == "local" else {"base_url": "https://example.org"}
        return settings_from_mapping({
            "archives": {"a": {"kind": kind, **where, **extra}},
            "targets": [{"id": "t", "name": "T", "lon": 1.0, "lat": 2.0, "archive": "a",
                         "frames": ["022D_04826_121209" if kind != "tellus" else "P018F2900"],
                         "recipients": ["o@example.org"]}]}, "test")

    for kind, extra, expected in (("local", {}, 30), ("licsar_http", {}, 30),
                                  ("tellus", {}, 0), ("tellus", {"gls_borrow": 12}, 12),
                                  ("local", {"gls_borrow": 0}, 0)):
        s = settings(kind, extra)
        assert s.gls_borrow(s.target("t")) == expected, (kind, extra)


def test_cli_config_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[science]\ncoherence_threshold = 2\n")
    assert main(["config", "check", str(bad)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "science.coherence_threshold = 2" in err and str(bad) in err


# -- every value range-checked, strictly typed and one line (step 10) -------------------------

#: (where, key, TOML value, what the message says): ``where`` is a section, ``archive`` (the
#: archive ``a`` of ``TARGET``) or ``target`` (its ``[[targets]]`` table).
BAD_VALUES = [
    ("target", "poll_interval_s", "inf", "finite number"),
    ("target", "poll_interval_s", "nan", "finite number"),
    ("target", "poll_interval_s", "5", "greater than or equal to 10"),
    ("target", "poll_interval_s", "1e9", "less than or equal to"),
    ("target", "poll_interval_s", "true", "valid number"),
    ("target", "poll_interval_s", '"3600"', "valid number"),
    ("target", "gains", "[inf]", "finite number"),
    ("target", "gains", "[]", "1 to 16 gains"),
    ("target", "gains", "[0.0]", "greater than 0"),
    ("target", "gains", "[65]", "less than or equal to 64"),
    ("target", "gains", "[true]", "valid number"),
    ("target", "radius_km", "-inf", "finite number"),
    ("target", "lon", "nan", "finite number"),
    ("target", "references", "[]", "at least 1 item"),
    ("target", "crop_km", "0", "greater than 0"),
    ("target", "crop_km", "inf", "finite number"),
    ("target", "crop_km", "true", "valid number"),
    ("target", "start", "2021-01-01T00:00:00", "not a date and time"),
    ("target", "start", '"2021-13-01"', "expected a date YYYY-MM-DD"),
    ("target", "start", "20210101", "valid date"),
    ("archive", "start", '"yesterday"', "expected a date YYYY-MM-DD"),
    ("archive", "gls_borrow", "31", "less than or equal to 30"),
    ("archive", "gls_borrow", "-1", "greater than or equal to 0"),
    ("target", "name", '"Etna\\r\\nBcc: all@example.org"', "U+000A, U+000D"),
    ("target", "name", '"Etna\\tnord"', "U+0009"),
    ("target", "name", '"Etna\\u0085"', "U+0085"),
    ("target", "name", '"Etna\\u2028"', "U+2028"),
    ("target", "name", '"Etna\\u0000"', "U+0000"),
    ("target", "name", '"Etna\\u202e"', "U+202E"),
    ("target", "name", '"' + "x" * 201 + '"', "at most 200"),
    ("target", "recipients", '["duty@example.org\\r\\nBcc: x@example.org"]', "U+000A"),
    ("target", "recipients", '["Duty <duty@example.org>"]', "not e-mail addresses"),
    ("target", "recipients", '["duty@localhost"]', "not e-mail addresses"),
    ("target", "recipients", '["duty@@example.org"]', "not e-mail addresses"),
    ("target", "alerts", "{ raise_after = true }", "valid integer"),
    ("science", "gains", "[nan]", "finite number"),
    ("science", "gains", "[1, 100]", "less than or equal to 64"),
    ("science", "fringe_spacing_m", "inf", "finite number"),
    ("science", "flag_threshold", "1.0", "less than 1"),
    ("science", "coherence_threshold", "nan", "finite number"),
    ("science", "detector", '"alexnet"', "'cnn' or 'blocks'"),
    ("alerts", "raise_after", "true", "valid integer"),
    ("alerts", "raise_after", "2.0", "valid integer"),
    ("alerts", "raise_after", "0", "greater than or equal to 1"),
    ("alerts", "clear_after", "1e6", "valid integer"),
    ("alerts", "p_watch", "nan", "finite number"),
    ("alerts", "trend_z_watch", "inf", "finite number"),
    ("alerts", "fast_step_m", "-0.1", "greater than 0"),
    ("rasters", "max_pixels", "true", "valid integer"),
    ("rasters", "max_pixels", "1e7", "valid integer"),
    ("rasters", "max_pixels", "0", "greater than 0"),
    ("synth", "shape", "[0, 224]", "greater than or equal to 1"),
    ("synth", "shape", "[true, 224]", "valid integer"),
    ("synth", "turbulent_sigma_m", "[0.001, inf]", "finite number"),
    ("synth", "decorrelation_fraction", "nan", "finite number"),
    ("archive", "timeout_s", "0", "greater than 0"),
    ("archive", "timeout_s", "inf", "finite number"),
    ("archive", "timeout_s", "1e6", "less than or equal to 3600"),
    ("archive", "retries", "true", "valid integer"),
    ("archive", "retries", "11", "less than or equal to 10"),
    ("archive", "root", '""', "needs root"),
    ("archive", "root", '"/data\\n"', "U+000A"),
    ("email", "port", "0", "greater than 0"),
    ("email", "port", "65536", "less than 65536"),
    ("email", "port", "true", "valid integer"),
    ("email", "timeout_s", "inf", "finite number"),
    ("email", "timeout_s", "0", "greater than 0"),
    ("email", "sender", '"monitor@example.org\\r\\nBcc: x@example.org"', "U+000A"),
    ("email", "sender", '"Monitor <monitor@example.org>"', "pattern"),
    ("email", "host", '"smtp.example.org:25"', "pattern"),
    ("email", "outbox_dir", '""', "at least 1 character"),
    ("email", "password_env", '"not a name"', "pattern"),
    ("metrics", "port", "-1", "greater than or equal to 0"),
    ("metrics", "port", "65536", "less than 65536"),
    ("metrics", "enabled", "1", "valid boolean"),
    ("metrics", "host", '"0.0.0.0 "', "pattern"),
    ("status_page", "refresh_s", "100000", "less than or equal to 86400"),
    ("status_page", "port", "9310.5", "valid integer"),
    ("watch", "jitter_s", "-inf", "finite number"),
    ("watch", "jitter_s", "nan", "finite number"),
    ("watch", "series_dir", '""', "at least 1 character"),
    ("watch", "cache_dir", '"cache\\u0000"', "U+0000"),
    ("feeds", "title", '"Notices\\nX-Injected: 1"', "U+000A"),
    ("feeds", "title", '""', "at least 1 character"),
    ("feeds", "sender", '"a\\u0007b"', "U+0007"),
    ("correction", "order", "true", "listed choices"),
    ("correction", "untargeted_order", "1.0", "listed choices"),
    ("correction", "methods", "[]", "at least 1 item"),
    ("correction", "band_sigma_m", "nan", "finite number"),
    ("correction", "min_pixels", "true", "valid integer"),
    ("correction", "enabled", "0", "valid boolean"),
    ("logging", "json_lines", "1", "valid boolean"),
    ("database", "url", '"mysql://u@h/db"', "SQLite or PostgreSQL"),
    ("database", "url", '""', "at least 1 character"),
    ("database", "url", '"postgresql://u@h:99999/db"', "port 99999"),
]


def bad_document(where: str, key: str, value: str) -> tuple[str, str]:
    """A watch list with one bad value, and the dotted key an error must name."""
    line = f"{key} = {value}\n"
    if where == "target":
        kept = [x for x in TARGET.split("\n") if not x.startswith(f"{key} = ")
                or x == 'lon = 1.0' and key != "lon"]
        return "\n".join(kept) + line, f"targets.0.{key}"
    if where == "archive":
        text = TARGET.replace('root = "/data"\n', "") if key == "root" else TARGET
        return text.replace('kind = "local"\n', 'kind = "local"\n' + line), \
            "archives.a" if key == "root" and value == '""' else f"archives.a.{key}"
    return f"[{where}]\n{line}" + TARGET, f"{where}.{key}"


@pytest.mark.parametrize(("where", "key", "value", "needle"), BAD_VALUES,
                         ids=[f"{w}.{k}={v[:24]}" for w, k, v, _ in BAD_VALUES])
def test_every_bad_value_names_file_and_key(tmp_path: Path, where: str, key: str, value: str,
                                            needle: str) -> None:
    cfg = tmp_path / "bad.toml"
    text, dotted = bad_document(where, key, value)
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    message = str(err.value)
    assert str(cfg) in message
    assert dotted in message, message
    assert needle in message, message


@pytest.mark.parametrize("name", ['"a\\nb"', '"a\\tb"', '"a\\u0085b"'])
def test_control_characters_refused_in_archive_and_webhook_names(tmp_path: Path,
                                                                 name: str) -> None:
    cfg = tmp_path / "names.toml"
    cfg.write_text(TARGET.replace("[archives.a]", f"[archives.{name}]\nkind = \"local\"\n"
                                  "root = \"/x\"\n[archives.a]"))
    with pytest.raises(ConfigError, match="archives: Value error, name .* contains control"):
        load_settings(cfg, environ={})
    cfg.write_text(f"[webhooks.{name}]\nurl = \"https://h.example.org/\"\n"
                   "secret_env = \"S\"\n")
    with pytest.raises(ConfigError, match="webhooks: Value error, name .* contains control"):
        load_settings(cfg, environ={})


def test_good_values_still_load(tmp_path: Path) -> None:
    """Integers where numbers are expected, plain addresses, 0 ports, an empty username_env
    and shell-style booleans from the environment all pass."""
    cfg = tmp_path / "ok.toml"
    cfg.write_text(TARGET + "poll_interval_s = 600\ngains = [1, 2]\n"
                   "recipients = [\"duty+insar@observatory.example.org\"]\n"
                   "[email]\nusername_env = \"\"\nsender = \"monitor@obs.example.org\"\n"
                   "[metrics]\nport = 0\n")
    s = load_settings(cfg, environ={"MONITOR__METRICS__ENABLED": "False",
                                    "MONITOR__WATCH__JITTER_S": "0"})
    assert s.targets[0].poll_interval_s == 600.0 and s.targets[0].gains == (1.0, 2.0)
    assert s.metrics.enabled is False and s.metrics.port == 0 and s.watch.jitter_s == 0.0


def test_environment_override_is_named_and_checked() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, environ={"MONITOR__ALERTS__RAISE_AFTER": "true"})
    assert "alerts.raise_after (from MONITOR__ALERTS__RAISE_AFTER) = True" in str(err.value)
    with pytest.raises(ConfigError, match="finite number"):
        load_settings(None, environ={"MONITOR__WATCH__JITTER_S": "nan"})


# -- secrets never shown ----------------------------------------------------------------------

SECRET = "s3cretpw"
PG_URL = f"postgresql://u:{SECRET}@127.0.0.1:1/x"


def test_config_show_masks_the_database_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pg.toml"
    cfg.write_text(f'[database]\nurl = "{PG_URL}"\n')
    assert main(["config", "show", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert '"url": "postgresql://u:***@127.0.0.1:1/x"' in out
    assert '"password_env": "MONITOR_SMTP_PASSWORD"' in out  # names of variables stay


@pytest.mark.parametrize("extra", [
    "[alerts]\nraise_after = true\n",                 # an error elsewhere in the file
    "[database]\npool = 3\n",                         # an unknown key beside the URL
    "[database]\nurl = \"mysql://u:s3cretpw@h/x\"\n",  # the URL itself is wrong
    "[database]\nurl = \"postgresql://u:s3cretpw@h:70000/x\"\n",
    "[database]\nurl = \"postgresql://u:s3cretpw@h/x\\n\"\n",
    "[email]\npassword = \"s3cretpw\"\n",             # a secret where none belongs
    "[webhooks.w]\nurl = \"https://h.example.org/\"\nsecret_env = \"s3cretpw!\"\n",
    "[webhooks.w]\nurl = \"ftp://h.example.org/?token=s3cretpw\"\nsecret_env = \"S\"\n",
    "[feeds]\nbase_url = \"https://u:s3cretpw@h.example.org/ x\"\n",
])
def test_config_errors_never_show_the_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str) -> None:
    cfg = tmp_path / "pg.toml"
    base = f'[database]\nurl = "{PG_URL}"\n'
    cfg.write_text(extra if extra.startswith("[database]") else base + extra)
    if extra.startswith("[database]\npool"):
        cfg.write_text(base + "pool = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert SECRET not in str(err.value) and str(cfg) in str(err.value)
    assert main(["config", "check", str(cfg)]) == ConfigError.exit_code
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err


def test_environment_secrets_are_masked() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, environ={"MONITOR__DATABASE__URL": PG_URL + "\t",
                                     "MONITOR__EMAIL__SMTP_PASSWORD": SECRET})
    assert SECRET not in str(err.value)
    assert "email.smtp_password (from MONITOR__EMAIL__SMTP_PASSWORD) = '***'" in str(err.value)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["run", "--once"],
                                     ["config", "check", "--online"]])
def test_unreachable_postgresql_is_reported_without_the_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        command: list[str]) -> None:
    cfg = tmp_path / "pg.toml"
    cfg.write_text(f'[database]\nurl = "{PG_URL}"\n[metrics]\nenabled = false\n'
                   "[status_page]\nenabled = false\n[feeds]\nenabled = false\n"
                   + TARGET.replace("/data", str(tmp_path)))
    (tmp_path / "022D_04826_121209" / "interferograms").mkdir(parents=True)
    args = [*command, str(cfg)] if command[0] == "config" else [*command, "--config", str(cfg)]
    assert main(args) == 5
    captured = capsys.readouterr()
    assert "u:***@127.0.0.1:1/x" in captured.out + captured.err
    assert SECRET not in captured.out + captured.err + caplog.text


@pytest.mark.parametrize(("text", "masked"), [
    ("postgresql://u:s3cretpw@db/x", "postgresql://u:***@db/x"),
    ("postgresql+psycopg2://u:pa ss@db:5432/x", "postgresql+psycopg2://u:***@db:5432/x"),
    ("url 'postgresql://u:s3cretpw@db/x' is wrong", "url 'postgresql://u:***@db/x' is wrong"),
    ("postgresql://u@db/x", "postgresql://u@db/x"),
    ("https://h.example.org/hook?a=1&token=s3cretpw", "https://h.example.org/hook?a=1&token=***"),
    ("https://h.example.org/?design=1", "https://h.example.org/?design=1"),
])
def test_mask_secrets(text: str, masked: str) -> None:
    from monitor.redact import mask_secrets

    assert mask_secrets(text) == masked


def test_the_outbox_claim_outlasts_one_delivery_attempt() -> None:
    """A claim shorter than an attempt would let a second pass send the delivery again
    meanwhile: refused, naming the key and what it must exceed."""
    hook = {"url": "https://example.org/hook", "secret_env": "HOOK_SECRET", "timeout_s": 200}
    with pytest.raises(ConfigError, match=r"claim_lease_s \(120 s\).*205 s"):
        settings_from_mapping({"webhooks": {"obs": hook}})
    ok = settings_from_mapping({"webhooks": {"obs": hook}, "outbox": {"claim_lease_s": 300}})
    assert ok.outbox.claim_lease_s == 300
    with pytest.raises(ConfigError, match="claim_lease_s"):
        settings_from_mapping({"email": {"timeout_s": 30}, "outbox": {"claim_lease_s": 30}})
