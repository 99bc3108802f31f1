"""PALSAR-2 pair selection (pure) and the ``kind = "tellus"`` configuration (step 12).

Seed 001, section 1: only scenes of one path, frame, beam and observation mode make a
coherent pair, and not too far apart in time.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from monitor.archive.tellus_pairs import (
    SceneInfo,
    frame_id,
    parse_frame_id,
    select_pairs,
)
from monitor.config import load_settings
from monitor.errors import ArchiveError, ConfigError, InputError

T0 = date(2020, 1, 10)


def _scene(day: int, *, path: int = 122, frame: int = 650, beam: str = "U2-8",
           mode: str = "SM1", pols: tuple[str, ...] = ("HH", "HV"),
           sid: str | None = None) -> SceneInfo:
    d = T0 + timedelta(days=day)
    return SceneInfo(sid or f"ALOS2-{path}-{frame}-{beam}-{d:%y%m%d}", path, frame, beam, mode,
                     pols, d)


def _pairs(scenes: list[SceneInfo], **kw: object) -> list[tuple[int, int]]:
    args: dict[str, object] = {"path": 122, "frame": 650, "polarisation": "HH",
                               "max_gap_days": 100, "beam": "U2-8", "mode": "SM1"}
    args.update(kw)
    return [((p.primary.acquired - T0).days, (p.secondary.acquired - T0).days)
            for p in select_pairs(scenes, **args)]  # type: ignore[arg-type]


CHAIN = [_scene(d) for d in (0, 14, 42, 98, 112)]


def test_daisy_chain_of_one_geometry() -> None:
    assert _pairs(CHAIN) == [(0, 14), (14, 42), (42, 98), (98, 112)]
    assert _pairs(list(reversed(CHAIN))) == _pairs(CHAIN)  # order of the search is irrelevant


def test_other_beams_paths_frames_modes_and_polarisations_never_pair() -> None:
    strangers = [_scene(7, beam="U2-9"), _scene(21, path=121), _scene(28, frame=660),
                 _scene(35, mode="SM2"), _scene(49, pols=("HV",))]
    assert _pairs(CHAIN + strangers) == _pairs(CHAIN)
    # The HV-only scene joins an HV chain; the HH-HV scenes too.
    assert (49, 98) in _pairs(CHAIN + strangers, polarisation="HV")


def test_maximum_gap_is_respected() -> None:
    assert _pairs(CHAIN, max_gap_days=28) == [(0, 14), (14, 42), (98, 112)]  # 56-day hole
    assert _pairs(CHAIN, max_gap_days=14) == [(0, 14), (98, 112)]
    assert _pairs(CHAIN, max_gap_days=56) == [(0, 14), (14, 42), (42, 98), (98, 112)]


def test_extra_pairs_within_the_gap() -> None:
    # (14, 98): 84 days, within the 100 allowed ...
    assert _pairs(CHAIN, extra_pairs=1) == [(0, 14), (0, 42), (14, 42), (14, 98), (42, 98),
                                            (42, 112), (98, 112)]
    assert (14, 98) not in _pairs(CHAIN, extra_pairs=1, max_gap_days=70)  # ... but not here


def test_since_keeps_pairs_ending_after_it() -> None:
    since = T0 + timedelta(days=42)
    assert _pairs(CHAIN, since=since) == [(42, 98), (98, 112)]
    assert _pairs(CHAIN, since=T0 + timedelta(days=112)) == []


def test_one_geometry_per_frame_unless_configured() -> None:
    mixed = CHAIN + [_scene(56, beam="U2-9"), _scene(70, beam="U2-9")]
    with pytest.raises(ArchiveError, match=r"P122F0650 .*beam U2-8 mode SM1 \(5 scenes\), "
                                           r"beam U2-9 mode SM1 \(2 scenes\).*set beam"):
        _pairs(mixed, beam=None, mode=None)
    assert _pairs(mixed, beam="U2-9", mode=None) == [(56, 70)]
    assert _pairs(CHAIN, beam=None, mode=None) == _pairs(CHAIN)  # one geometry: no need


def test_same_date_keeps_the_later_processing() -> None:
    twin = _scene(14, sid="ALOS2-zz-reprocessed")
    pairs = select_pairs(CHAIN + [twin], path=122, frame=650, polarisation="HH",
                         max_gap_days=100)
    assert pairs[0].secondary.dataset_id == "ALOS2-zz-reprocessed"
    assert pairs[1].primary.dataset_id == "ALOS2-zz-reprocessed"


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="polarisation"):
        _pairs(CHAIN, polarisation="XX")
    with pytest.raises(InputError, match="max_gap_days"):
        _pairs(CHAIN, max_gap_days=0)


@pytest.mark.parametrize(("frame", "ok"), [("P018F2900", (18, 2900)), ("P207F7199", (207, 7199)),
                                           ("P000F0100", None), ("P208F0100", None),
                                           ("P018F7200", None), ("P18F2900", None),
                                           ("022D_04826_121209", None)])
def test_frame_ids(frame: str, ok: tuple[int, int] | None) -> None:
    if ok is None:
        with pytest.raises(InputError, match="not a PALSAR-2 frame id"):
            parse_frame_id(frame)
    else:
        assert parse_frame_id(frame) == ok and frame_id(*ok) == frame


# -- configuration ----------------------------------------------------------------------------

TELLUS = """
[archives.alos2]
kind = "tellus"
base_url = "https://file.tellusxdp.com/api/v1/origin"
token_env = "TELLUS_TOKEN"
polarisation = "HH"
beam = "U2-8"
mode = "SM1"
max_gap_days = 180
extra_pairs = 1
max_pages = 50
[archives.licsar]
kind = "licsar_http"
base_url = "https://example.org/LiCSAR_products"
[[targets]]
id = "taal"
name = "Taal"
lon = 120.99
lat = 14.0
archive = "alos2"
frames = ["P126F0280"]
"""


def _load(tmp_path: Path, text: str) -> object:
    cfg = tmp_path / "m.toml"
    cfg.write_text(text)
    return load_settings(cfg, environ={})


def test_tellus_archive_configuration_loads(tmp_path: Path) -> None:
    s = _load(tmp_path, TELLUS)
    a = s.archives["alos2"]  # type: ignore[attr-defined]
    assert (a.kind, a.token_env, a.polarisation, a.beam, a.mode, a.max_gap_days,
            a.extra_pairs, a.max_pages) == ("tellus", "TELLUS_TOKEN", "HH", "U2-8", "SM1", 180,
                                            1, 50)


@pytest.mark.parametrize(("change", "needle"), [
    (('base_url = "https://file.tellusxdp.com/api/v1/origin"\n', ""),
     "a tellus archive needs base_url"),
    (('token_env = "TELLUS_TOKEN"', 'token_env = "eyJhbGciOi.secret token"'),
     "name of an environment variable"),
    (('polarisation = "HH"', 'polarisation = "H"'), "archives.alos2.polarisation"),
    (('beam = "U2-8"', 'beam = "U2 8; rm"'), "PALSAR-2 beam number"),
    (("max_gap_days = 180", "max_gap_days = 0"), "archives.alos2.max_gap_days"),
    (("max_gap_days = 180", "max_gap_days = 30.5"), "archives.alos2.max_gap_days"),
    (("extra_pairs = 1", "extra_pairs = 9"), "archives.alos2.extra_pairs"),
    (('kind = "licsar_http"\n', 'kind = "licsar_http"\nmax_gap_days = 30\n'),
     'max_gap_days apply to kind = "tellus" archives only'),
    (('frames = ["P126F0280"]', 'frames = ["022D_04826_121209"]'),
     "are not PALSAR-2 frames, but archive 'alos2' is kind = \"tellus\""),
    (('archive = "alos2"', 'archive = "licsar"'),
     "PALSAR-2 frames, which only a kind = \"tellus\" archive serves"),
    (('frames = ["P126F0280"]', 'frames = ["P126F9280"]'), "do not look like LiCSAR frames"),
])
def test_bad_tellus_configuration(tmp_path: Path, change: tuple[str, str], needle: str) -> None:
    assert change[0] in TELLUS
    with pytest.raises(ConfigError, match=needle) as info:
        _load(tmp_path, TELLUS.replace(*change))
    assert "secret token" not in str(info.value)
