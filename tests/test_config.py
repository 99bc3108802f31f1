from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import Settings, WebhookSettings, load_settings
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


def test_cli_config_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[science]\ncoherence_threshold = 2\n")
    assert main(["config", "check", str(bad)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "science.coherence_threshold = 2" in err and str(bad) in err
