"""The Tellus-style PALSAR-2 archive: search client, downloads, adapter (step 12).

A real HTTP server on 127.0.0.1 (``tests/tellus_server.py``) speaks the search API of the
Tellus InSAR tutorial: ``/api/search/palsar2-l11`` answers pages of scenes with a
``next`` link, ``/api/publish/palsar2-l11/<id>`` the scene's files, ``/files/<name>`` the
files with HTTP Range support; every request must carry the bearer token. Faults are
injected in the handler: a server that ignores Range, one that drops the connection mid
file, a wrong checksum, page loops, endless pages, bad JSON, a refused token that the
server echoes back. Scene files are small dummy bytes (reading CEOS is the CEOS reader's
business); the interferometry hook of the adapter tests writes a known phase, so the
decode is checked in ALOS-2 units.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from affine import Affine

from monitor.archive import TellusArchive
from monitor.archive.resumable import CHUNK_BYTES
from monitor.archive.tellus import PairRequest
from monitor.archive.tellus_api import TellusClient
from monitor.archive.tellus_pairs import SceneInfo
from monitor.config import settings_from_mapping
from monitor.domain import ProductStatus
from monitor.errors import ArchiveError, ArchiveUnavailable, BrokenProduct, InputError
from monitor.io.models import LoadedModel
from monitor.io.rasters import write_raster
from monitor.ports import Archive
from monitor.service.config_checks import online_findings
from monitor.service.context import WatchContext, build_archive, frame_areas
from monitor.service.pipeline import poll_target
from monitor.store import Store, make_engine, upgrade
from tests.tellus_server import TOKEN, TellusState, serving

FRAME = "P018F2900"
#: The five Tokyo Bay acquisitions of the tutorial (path 18, frame 2900, U2-8, SM1) ...
DATES = [date(2018, 3, 22), date(2018, 6, 28), date(2018, 10, 18), date(2018, 11, 29),
         date(2019, 3, 21)]
#: ... and scenes that must never join their chain: another beam, another path, HV only.
OTHERS = [("ALOS2222002900-180705", 18, 2900, "U2-9", "SM1", "HH", date(2018, 7, 5)),
          ("ALOS2230001890-180901", 19, 2900, "U2-8", "SM1", "HH", date(2018, 9, 1)),
          ("ALOS2240002900-181206", 18, 2900, "U2-8", "SM1", "HV", date(2018, 12, 6))]


def _scene_id(d: date) -> str:
    return f"ALOS22{d:%y%m%d}2900-{d:%y%m%d}"


def _item(dataset_id: str, path: int, frame: int, beam: str, mode: str, pol: str,
          d: date) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "path_number": path, "frame_number": frame,
            "beam_number": beam, "mode": mode, "polarization": pol,
            "begin_datetime": f"{d:%Y-%m-%d}T02:44:10Z", "off_nadir_angle": 37.9,
            "bbox": [139.5, 35.3, 140.2, 35.9]}


def _ceos_files(dataset_id: str) -> dict[str, bytes]:
    """Small dummy bytes under the names of an L1.1 product's CEOS files."""
    rng = np.random.default_rng(abs(hash(dataset_id)) % 2**32)
    names = [f"VOL-{dataset_id}-UBSR1.1__D", f"LED-{dataset_id}-UBSR1.1__D",
             f"IMG-HH-{dataset_id}-UBSR1.1__D", f"IMG-HV-{dataset_id}-UBSR1.1__D",
             f"TRL-{dataset_id}-UBSR1.1__D", "summary.txt"]
    sizes = [720, 9860, 2 * CHUNK_BYTES + 4321, 4000, 720, 300]  # the images span chunks
    return {n: rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            for n, size in zip(names, sizes, strict=True)}


@pytest.fixture(scope="module")
def tellus_server() -> Iterator[TellusState]:
    state = TellusState()
    for d in DATES:
        sid = _scene_id(d)
        state.items.append(_item(sid, 18, 2900, "U2-8", "SM1", "HH+HV", d))
        files = _ceos_files(sid)
        state.blobs.update(files)
        state.scenes[sid] = list(files)
    for sid, *rest in OTHERS:
        state.items.append(_item(sid, *rest))  # type: ignore[arg-type]
    with serving(state):
        yield state


@pytest.fixture()
def server(tellus_server: TellusState) -> TellusState:
    tellus_server.reset()
    return tellus_server


ENV = {"TELLUS_TOKEN": TOKEN}


def _archive(state: TellusState, **kw: Any) -> TellusArchive:
    args: dict[str, Any] = {"environ": ENV, "timeout_s": (2.0, 2.0), "retries": 2,
                            "backoff_s": 0.0, "sleep": lambda s: None, "beam": "U2-8",
                            "mode": "SM1", "max_gap_days": 200, "extra_pairs": 1}
    args.update(kw)
    return TellusArchive(f"{state.base}/api", **args)


def _client(state: TellusState, **kw: Any) -> TellusClient:
    args: dict[str, Any] = {"environ": ENV, "timeout_s": (2.0, 2.0), "retries": 1,
                            "backoff_s": 0.0, "sleep": lambda s: None}
    args.update(kw)
    return TellusClient(f"{state.base}/api", **args)


# -- search -----------------------------------------------------------------------------------


def test_search_follows_every_page_with_the_token(server: TellusState) -> None:
    scenes = _client(server).search()
    assert len(scenes) == len(DATES) + len(OTHERS)
    assert all(isinstance(s, SceneInfo) for s in scenes)
    pages = server.seen("/api/search")
    assert len(pages) == math.ceil(len(scenes) / server.page_size)
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h in pages)
    first = scenes[0]
    assert (first.path, first.frame, first.beam, first.mode) == (18, 2900, "U2-8", "SM1")
    assert first.polarisations == ("HH", "HV") and first.acquired == DATES[0]
    assert first.off_nadir_deg == 37.9


def test_search_sends_the_date_range_and_bbox(server: TellusState) -> None:
    scenes = _client(server).search(after=date(2018, 11, 1), bbox=(139.8, 35.5, 139.9, 35.7))
    assert {s.acquired for s in scenes} == {DATES[3], DATES[4], date(2018, 12, 6)}
    query = parse_qs(urlsplit(_client(server).search_url(
        after=date(2018, 11, 1), bbox=(139.8, 35.5, 139.9, 35.7))).query)
    assert query["after"] == ["2018-11-01T00:00:00"]
    assert query["bbox"] == ["139.800000,35.500000,139.900000,35.700000"]


@pytest.mark.parametrize(("mode", "needle"), [
    ("loop", "field 'next': links back to .* a page already read"),
    ("endless", "did not end within max_pages = 3 pages"),
    ("not-json", "body: not JSON .*maintenance"),
    ("missing-field", r"item 0 \(ALOS2.*\): field 'path_number' is missing"),
    ("foreign-next", "field 'next'.*elsewhere.example.*not on an allowed host"),
])
def test_bad_search_answers_are_clear_errors(server: TellusState, mode: str,
                                             needle: str) -> None:
    server.search_mode = mode
    with pytest.raises(ArchiveError, match=needle) as info:
        _client(server, max_pages=3).search()
    assert "/api/search/palsar2-l11" in str(info.value)
    assert not isinstance(info.value, ArchiveUnavailable)  # not retried as "down"


def test_missing_token_names_the_variable(server: TellusState) -> None:
    with pytest.raises(ArchiveError, match="environment variable TELLUS_TOKEN .* not set"):
        _client(server, environ={}).search()
    assert server.requests == []  # nothing sent without a token


def test_refused_token_is_named_and_never_shown(server: TellusState) -> None:
    wrong = "wrong-token-9876543210"
    with pytest.raises(ArchiveError) as info:
        _client(server, environ={"MY_TOKEN": wrong}, token_env="MY_TOKEN").search()
    text = str(info.value)
    assert "HTTP 401" in text and "MY_TOKEN" in text and "***" in text
    assert wrong not in text  # the server echoed it; the error masks it
    assert not isinstance(info.value, ArchiveUnavailable)


# -- downloads --------------------------------------------------------------------------------


def _img(d: date) -> str:
    return f"IMG-HH-{_scene_id(d)}-UBSR1.1__D"


def test_scene_download_verifies_and_keeps_only_what_is_needed(server: TellusState,
                                                              tmp_path: Path) -> None:
    sid = _scene_id(DATES[0])
    scene_dir = _archive(server).fetch_scene(FRAME, sid, tmp_path)
    assert scene_dir == tmp_path / FRAME / "scenes" / sid
    names = sorted(p.name for p in scene_dir.iterdir())  # the files, nothing else
    assert names == [".download", *sorted(n for n in server.scenes[sid]
                                          if n.startswith(("VOL", "LED", "TRL", "IMG-HH")))]
    for name in names[1:]:
        assert (scene_dir / name).read_bytes() == server.blobs[name]
    before = len(server.seen("/files/"))
    _archive(server).fetch_scene(FRAME, sid, tmp_path)  # intact cached copies are kept
    assert len(server.seen("/files/")) == before


def test_dropped_connection_resumes_with_range(server: TellusState, tmp_path: Path) -> None:
    name = _img(DATES[1])
    server.file_fault[name] = "drop-once"
    scene_dir = _archive(server).fetch_scene(FRAME, _scene_id(DATES[1]), tmp_path)
    assert (scene_dir / name).read_bytes() == server.blobs[name]
    gets = [h for _, p, h in server.seen(f"/files/{name}")]
    assert len(gets) == 2 and "Range" not in gets[0]
    # What had arrived before the read that broke was kept: the rest is asked for.
    assert gets[1]["Range"] == f"bytes={CHUNK_BYTES}-" and gets[1]["If-Range"] == '"v1"'
    assert not list(scene_dir.rglob("*.partial*"))


def test_server_ignoring_range_restarts_cleanly(server: TellusState, tmp_path: Path) -> None:
    name = _img(DATES[2])
    server.file_fault[name] = "drop-once"
    archive = _archive(server, retries=0)
    with pytest.raises(ArchiveUnavailable):  # half the file arrives, no retry left
        archive.fetch_scene(FRAME, _scene_id(DATES[2]), tmp_path)
    partial = tmp_path / FRAME / "scenes" / _scene_id(DATES[2]) / ".download" / f"{name}.partial"
    assert partial.stat().st_size == CHUNK_BYTES  # half the file sent: one whole read kept
    server.file_fault[name] = "ignore-range"  # the next poll's server sends 200 in full
    scene_dir = archive.fetch_scene(FRAME, _scene_id(DATES[2]), tmp_path)
    assert (scene_dir / name).read_bytes() == server.blobs[name]
    assert server.seen(f"/files/{name}")[-1][2]["Range"].startswith("bytes=")
    assert not partial.exists()


@pytest.mark.parametrize("leftover", ["complete", "too-long"])
def test_partial_left_by_a_killed_poll(server: TellusState, tmp_path: Path,
                                       leftover: str) -> None:
    name, sid = _img(DATES[4]), _scene_id(DATES[4])
    book = tmp_path / FRAME / "scenes" / sid / ".download"
    book.mkdir(parents=True)
    data = server.blobs[name]
    (book / f"{name}.partial").write_bytes(data if leftover == "complete" else data + b"xx")
    (book / f"{name}.partial.json").write_text(json.dumps(
        {"url": f"{server.base}/files/{name}", "validator": '"v1"'}))
    scene_dir = _archive(server).fetch_scene(FRAME, sid, tmp_path)
    assert (scene_dir / name).read_bytes() == data
    gets = [h for _, _, h in server.seen(f"/files/{name}")]
    if leftover == "complete":  # whole but never verified: verified, not fetched again
        assert gets == []
    else:  # longer than the file: 416, then the whole file
        assert [h.get("Range") for h in gets] == [f"bytes={len(data) + 2}-", None]
    assert not list(book.glob("*.partial*"))


@pytest.mark.parametrize("checked_by", ["checksum", "size"])
def test_broken_download_is_refused_and_not_cached(server: TellusState, tmp_path: Path,
                                                   checked_by: str) -> None:
    name = _img(DATES[3])
    if checked_by == "checksum":
        server.bad_checksum.add(name)
    else:  # no checksum: the announced size decides; the server sends fewer bytes
        server.no_checksum = True
        server.file_fault[name] = "short"
    with pytest.raises(BrokenProduct, match=f"{name}.*not installed in the cache"):
        _archive(server).fetch_scene(FRAME, _scene_id(DATES[3]), tmp_path)
    scene_dir = tmp_path / FRAME / "scenes" / _scene_id(DATES[3])
    assert not (scene_dir / name).exists()
    assert not list(scene_dir.rglob(f"{name}.partial*"))


def test_zipped_product_is_downloaded_and_extracted(server: TellusState,
                                                    tmp_path: Path) -> None:
    sid = "ALOS2999992900-190404"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in _ceos_files(sid).items():
            zf.writestr(f"{sid}/{n}", data)
    server.blobs[f"{sid}.zip"] = buf.getvalue()
    server.scenes[sid] = [f"{sid}.zip"]
    try:
        scene_dir = _archive(server).fetch_scene(FRAME, sid, tmp_path)
    finally:
        del server.scenes[sid]
    assert (scene_dir / sid / sid / f"IMG-HH-{sid}-UBSR1.1__D").is_file()


# -- the adapter ------------------------------------------------------------------------------


def test_list_products_pairs_the_frames_geometry_only(server: TellusState) -> None:
    refs = _archive(server).list_products(FRAME)
    pairs = [(r.date1, r.date2) for r in refs]
    chain = list(zip(DATES, DATES[1:], strict=False))
    extra = [(a, c) for a, c in zip(DATES, DATES[2:], strict=False) if (c - a).days <= 200]
    assert pairs == sorted(chain + extra)
    assert all(r.frame == FRAME and r.unw.url.startswith("urn:tellus:palsar2-l11:")
               for r in refs)
    assert refs[0].unw.name == "20180322_20180628.geo.unw.tif"
    query = parse_qs(urlsplit(server.first_search_url).query)
    assert query == {"path_number": ["18"], "frame_number": ["2900"], "beam_number": ["U2-8"],
                     "mode": ["SM1"]}


def test_list_products_since_asks_from_one_gap_before(server: TellusState) -> None:
    archive = _archive(server)
    refs = archive.list_products(FRAME, since=DATES[2])
    # Every pair ending after `since`, the extra pairs (within 200 days) included.
    assert [(r.date1, r.date2) for r in refs] == [
        (DATES[1], DATES[3]), (DATES[2], DATES[3]), (DATES[2], DATES[4]),
        (DATES[3], DATES[4])]
    after = parse_qs(urlsplit(server.first_search_url).query)["after"]
    assert after == ["2018-04-01T00:00:00"]  # since - max_gap_days: the first dates needed
    assert archive.list_products(FRAME, since=DATES[-1]) == []


def test_unpinned_beam_with_two_geometries_is_refused(server: TellusState) -> None:
    with pytest.raises(ArchiveError, match="beam U2-8 mode SM1 .*beam U2-9 mode SM1.*set beam"):
        _archive(server, beam=None, mode=None).list_products(FRAME)


def test_not_a_palsar2_frame_is_an_archive_error(server: TellusState, tmp_path: Path) -> None:
    for call in (lambda a: a.list_products("022D_04826_121209"),
                 lambda a: a.fetch_metadata("P999F0001", tmp_path)):
        with pytest.raises(ArchiveError, match="not a PALSAR-2 frame id"):
            call(_archive(server))


class KnownPhase:
    """An interferometry hook for the adapter's tests: writes a known unwrapped phase and
    coherence (the real chain is the interferometry's, tested there) and records what it
    was given."""

    def __init__(self, phase: np.ndarray | None = None) -> None:
        self.calls: list[tuple[Path, Path]] = []
        self.requests: list[PairRequest] = []
        self.phase = phase if phase is not None else np.linspace(
            -20, 20, 64, dtype=np.float32).reshape(8, 8)

    def __call__(self, primary: Path, secondary: Path, out: Path,
                 request: PairRequest) -> tuple[Path, Path]:
        self.calls.append((primary, secondary))
        self.requests.append(request)
        transform = Affine(0.001, 0, 139.85, 0, -0.001, 35.65)
        unw = write_raster(out / "pair.unw.tif", self.phase, crs="EPSG:4326",
                           transform=transform)
        cc = write_raster(out / "pair.cc.tif", np.full(self.phase.shape, 0.7, np.float32),
                          crs="EPSG:4326", transform=transform)
        return unw, cc


def test_fetch_downloads_both_scenes_and_decodes_alos2(server: TellusState,
                                                       tmp_path: Path) -> None:
    hook = KnownPhase()
    archive = _archive(server, make_product=hook)
    ref = archive.list_products(FRAME)[0]
    fetched = archive.fetch(ref, tmp_path)
    primary, secondary = hook.calls[0]
    assert primary.name == _scene_id(DATES[0]) and secondary.name == _scene_id(DATES[1])
    assert (primary / _img(DATES[0])).read_bytes() == server.blobs[_img(DATES[0])]
    assert Path(fetched.unw_path) == tmp_path / FRAME / ref.pair / f"{ref.pair}.geo.unw.tif"
    decoded = archive.decode(fetched, 10_000)
    expected = -0.2384 / (4 * math.pi) * hook.phase
    np.testing.assert_allclose(decoded.displacement_m, expected, rtol=1e-6)
    np.testing.assert_allclose(decoded.coherence, 0.7, rtol=1e-6)
    assert archive.wavelength_m == 0.2384 and archive.phase_sign == -1
    n_files = len(server.seen("/files/"))
    again = archive.fetch(ref, tmp_path)  # made once: the cached product is kept
    assert again.sha256 == fetched.sha256 and len(hook.calls) == 1
    assert len(server.seen("/files/")) == n_files
    assert not [p for p in (tmp_path / FRAME / ref.pair).iterdir() if p.name.startswith(".")]


def test_scenes_no_later_pair_can_use_are_deleted_unless_kept(server: TellusState,
                                                              tmp_path: Path) -> None:
    """After each product, the frame's scenes acquired more than max_gap_days (200) before
    its second date are deleted; a pair made again downloads its scenes again; with
    keep_scenes every scene stays."""
    archive = _archive(server, make_product=KnownPhase())
    chain = [r for r in archive.list_products(FRAME)
             if (r.date1, r.date2) in set(zip(DATES, DATES[1:], strict=False))]
    scenes = tmp_path / FRAME / "scenes"
    for ref in chain[:3]:
        archive.fetch(ref, tmp_path)
    # made until 2018-11-29: 2018-03-22 is more than 200 days before it, 2018-06-28 is not
    assert sorted(p.name for p in scenes.iterdir()) == [_scene_id(d) for d in DATES[1:4]]
    archive.fetch(chain[3], tmp_path)  # until 2019-03-21: 2018-06-28 goes too
    assert sorted(p.name for p in scenes.iterdir()) == [_scene_id(d) for d in DATES[2:]]
    shutil.rmtree(tmp_path / FRAME / chain[0].pair)  # made again (a rebuilt series) ...
    again = archive.fetch(chain[0], tmp_path)
    assert Path(again.unw_path).is_file()  # ... its scenes are downloaded again
    assert {_scene_id(DATES[0]), _scene_id(DATES[1])} <= {p.name for p in scenes.iterdir()}
    kept = _archive(server, make_product=KnownPhase(), keep_scenes=True)
    for ref in [r for r in kept.list_products(FRAME) if r in chain]:
        kept.fetch(ref, tmp_path / "kept")
    assert len(list((tmp_path / "kept" / FRAME / "scenes").iterdir())) == len(DATES)


def test_fetch_without_interferometry_says_so_and_downloads_nothing(
        server: TellusState, tmp_path: Path) -> None:
    archive = _archive(server)
    ref = archive.list_products(FRAME)[0]
    with pytest.raises(ArchiveError, match="interferometry not available"):
        archive.fetch(ref, tmp_path)
    assert server.seen("/files/") == [] and server.seen("/api/publish") == []


@pytest.mark.parametrize("fault", ["refused", "not-a-raster"])
def test_broken_product_is_not_installed(server: TellusState, tmp_path: Path,
                                         fault: str) -> None:
    def hook(primary: Path, secondary: Path, out: Path,
             request: PairRequest) -> tuple[Path, Path]:
        if fault == "refused":
            raise InputError(f"{primary}: record 2 of the leader is not a leader record")
        (out / "u.tif").write_bytes(b"not a tiff")
        (out / "c.tif").write_bytes(b"not a tiff")
        return out / "u.tif", out / "c.tif"

    archive = _archive(server, make_product=hook)
    ref = archive.list_products(FRAME)[-1]
    with pytest.raises(BrokenProduct, match=ref.pair if fault == "refused" else "broken"):
        archive.fetch(ref, tmp_path)
    pair_dir = tmp_path / FRAME / ref.pair
    assert not pair_dir.exists() or list(pair_dir.iterdir()) == []


def test_no_metadata_and_no_delays(server: TellusState, tmp_path: Path) -> None:
    archive: Archive = _archive(server)
    assert isinstance(archive, Archive)
    meta = archive.fetch_metadata(FRAME, tmp_path)
    assert (meta.hgt_path, meta.u_path, meta.metadata_txt_path) == (None, None, None)
    assert archive.fetch_epoch_delays(FRAME, DATES[0], tmp_path) == {}


# -- configuration ----------------------------------------------------------------------------


def _settings(state: TellusState, frames: list[str] | None = None) -> Any:
    return settings_from_mapping({
        "archives": {"alos2": {"kind": "tellus", "base_url": f"{state.base}/api",
                               "beam": "U2-8", "mode": "SM1", "max_gap_days": 200,
                               "retries": 0}},
        "targets": [{"id": "tokyo-bay", "name": "Tokyo Bay", "lon": 139.88, "lat": 35.63,
                     "radius_km": 2.0, "archive": "alos2",
                     "frames": frames or [FRAME]}]})


def test_configured_archive_is_built_with_the_targets_area(server: TellusState) -> None:
    settings = _settings(server)
    areas = frame_areas(settings, "alos2")
    lon0, lat0, lon1, lat1 = areas[FRAME]
    assert lon0 < 139.88 < lon1 and lat0 < 35.63 < lat1
    assert lat1 - lat0 == pytest.approx(2 * 2.0 / 111.32)
    archive = build_archive(settings.archives["alos2"], areas=areas)
    assert isinstance(archive, TellusArchive) and archive.areas == areas
    assert archive.max_gap_days == 200 and archive.beam == "U2-8"


def test_config_check_online_searches_with_the_token(server: TellusState,
                                                     tmp_path: Path) -> None:
    settings = _settings(server)
    settings = settings.model_copy(update={"database": settings.database.model_copy(
        update={"url": f"sqlite:///{tmp_path / 'absent.db'}"})})
    archive_findings = [f for f in online_findings(settings, environ=ENV, timeout_s=2.0)
                        if f.where.startswith("archive")]
    assert archive_findings == []
    assert server.seen("/api/search")
    bad = [f for f in online_findings(settings, environ={}, timeout_s=2.0)
           if f.where.startswith("archive")]
    assert len(bad) == 1 and "TELLUS_TOKEN" in bad[0].message and bad[0].severity == "error"
    wrong = [f for f in online_findings(settings, environ={"TELLUS_TOKEN": "nope-nope-nope"},
                                        timeout_s=2.0) if f.where.startswith("archive")]
    assert len(wrong) == 1 and "HTTP 401" in wrong[0].message
    assert "nope-nope-nope" not in wrong[0].message


def test_a_poll_quarantines_scenes_that_are_not_ceos(
        server: TellusState, tmp_path: Path, model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch polls a tellus target like any other, with the PALSAR-2 chain wired in:
    the pairs are recorded, both scenes of each due pair downloaded, and scenes whose
    files are not CEOS (these are random bytes) are quarantined with the file and the
    record that is wrong; the series is not started. (tests/test_alos2_watch.py runs the
    watch on real CEOS files.)"""
    monkeypatch.setenv("TELLUS_TOKEN", TOKEN)
    settings = _settings(server)
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    settings = settings.model_copy(update={
        "database": settings.database.model_copy(update={"url": url}),
        "watch": settings.watch.model_copy(update={"cache_dir": str(tmp_path / "cache"),
                                                   "series_dir": str(tmp_path / "series")})})
    upgrade(url)
    ctx = WatchContext.from_settings(settings, Store(make_engine(url)), model)
    report = poll_target(ctx, settings.target("tokyo-bay"), datetime(2025, 1, 1, tzinfo=UTC))
    rows = ctx.store.list_products("tokyo-bay")
    assert report.listed == len(rows) == 6 and report.ingested == 0
    assert report.failures[0].stage == "fetch"
    assert report.failures[0].pair == "20180322_20180628"
    first = next(p for p in rows if p.date1 == DATES[0])
    assert first.status == ProductStatus.QUARANTINED.value
    assert f"LED-{_scene_id(DATES[0])}-UBSR1.1__D: record 1 (leader file descriptor)" \
        in (first.last_error or "")
    assert first.unw_url == f"urn:tellus:palsar2-l11:{_scene_id(DATES[0])}:" \
                            f"{_scene_id(DATES[1])}"
    assert server.seen("/files/") and not (tmp_path / "series").exists()
