"""``insar-monitor --help`` and ``--version`` answer without the science stack.

Every subcommand registers its parser at start-up, so a command module that imports torch,
scipy or matplotlib at its top makes every call of the CLI wait seconds for them. The
choices and defaults the parsers show live in light modules; these tests keep them equal
to what the heavy modules use and check in a fresh interpreter what start-up imports.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import pytest

from monitor.cli import main

#: Never imported by building the parser (``--help``, ``--version``).
HEAVY = ("torch", "matplotlib", "scipy", "rasterio", "sqlalchemy", "skimage", "numpy",
         "pydantic", "tqdm", "alembic")


def _imported_after(code: str) -> set[str]:
    """Top-level packages imported by ``code`` in a fresh interpreter (help text that
    ``code`` prints is kept apart from the list)."""
    script = (f"import sys\n{code}\n"
              "print('@@modules@@', *sorted({m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(out.stdout.rsplit("@@modules@@", 1)[1].split())


def test_building_the_parser_imports_nothing_heavy() -> None:
    loaded = _imported_after("from monitor.cli import build_parser\nbuild_parser()")
    assert "monitor" in loaded
    assert not loaded & set(HEAVY), f"start-up imports {sorted(loaded & set(HEAVY))}"


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["scan", "--help"],
                                  ["evaluate", "roc", "--help"]])
def test_version_and_help_import_nothing_heavy(argv: list[str]) -> None:
    code = ("from monitor.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass")
    loaded = _imported_after(code)
    assert not loaded & set(HEAVY), f"{argv} imports {sorted(loaded & set(HEAVY))}"


def test_light_choices_match_the_implementations() -> None:
    from monitor import series_defaults
    from monitor.io import models, synth_archive
    from monitor.science import geometry, lstt, lstt_defaults, sensors, synth, synth_schemes
    from monitor.science.detect import (
        evaluation,
        inference,
        names,
        patching,
        registry,
        threshold_protocol,
    )
    from monitor.service import series_scan

    assert sorted(registry.ARCHITECTURES) == sorted(names.ARCHITECTURE_NAMES)
    assert models.DEFAULT_ARCH == names.DEFAULT_ARCH in registry.ARCHITECTURES
    assert inference.METHODS is names.INFERENCE_METHODS
    assert patching.COVERAGES is names.PATCH_COVERAGES
    assert evaluation.PROTOCOL_DEPTHS_M is threshold_protocol.PROTOCOL_DEPTHS_M
    assert lstt.DEFAULT_PERMUTATIONS == lstt_defaults.DEFAULT_PERMUTATIONS
    assert lstt.SELECT_ON is lstt_defaults.SELECT_ON
    assert series_scan.NETWORKS is series_defaults.NETWORKS
    assert synth.SCHEMES is synth_schemes.SCHEMES
    assert geometry.SENTINEL1 is sensors.SENTINEL1
    assert synth_archive.KNOWN_VOLCANOES is __import__(
        "monitor.io.volcanoes", fromlist=["KNOWN_VOLCANOES"]).KNOWN_VOLCANOES


#: Sphinx markup that must not reach a terminal.
MARKUP = (":mod:", ":func:", ":class:", ":data:", ":meth:", ":attr:", ":exc:", "``")


def _all_parsers(parser: argparse.ArgumentParser,
                 prog: str = "insar-monitor") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _all_parsers(sub, f"{prog} {name}")
    return found


def _parser_of_main(monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser ``main`` builds, caught as it parses ``--version``."""
    seen: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_args

    def capture(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        seen.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        main(["--version"])
    return seen[0]


def test_no_help_text_shows_sphinx_markup(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    parsers = _all_parsers(_parser_of_main(monkeypatch))
    capsys.readouterr()
    assert len(parsers) > 15 and "insar-monitor scan-series" in dict(parsers)
    offenders = []
    for prog, p in parsers:
        text = p.format_help()
        offenders += [f"{prog}: {m}" for m in MARKUP if m in text]
    assert not offenders, "help text with reST markup:\n" + "\n".join(offenders)
    # the roles became their targets: scan-series names the module that holds its rules
    scan_series = dict(parsers)["insar-monitor scan-series"].format_help()
    assert "monitor.service.series_scan" in scan_series
