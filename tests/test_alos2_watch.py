"""The ALOS-2 PALSAR-2 path end to end: simulated scenes -> CEOS files -> a Tellus-style
API on 127.0.0.1 -> a ``kind = "tellus"`` watch -> products, series and scores (issue 18).

Four acquisitions of one frame are simulated (:func:`simulate_pair`, 300 x 300 SLC pixels
of 20 m x 15 m: a 600 m cone given as an SRTM ``.hgt`` tile, a Mogi source inflating by
4e5 m^3 per date, up to 6 cm of LOS; a sub-pixel offset, a different perpendicular
baseline and, for the last date, a 6 m error of the stored orbit: an orbital ramp),
written as L1.1 CEOS products (:func:`write_ceos_product`) and served by the test server of
``tests/tellus_server.py``. The third date's leader is corrupted. The watch lists the five
pairs, makes the products of the chain 1 -> 2 -> 4 with the real maker (the pair 2 -> 3
is quarantined naming the leader file and its record; the extra pair 2 -> 4 bridges it)
and scores both epochs. The products recover the simulated LOS within 5 mm RMS after
removing a plane (the plane the residual-plane option and the orbit error leave).

The simulator makes one primary and three secondaries sharing its speckle with the same
seed and the same padded grid (every offset below 1 pixel), so every pair of dates is
coherent; the truth of a pair is the difference of the two secondaries' LOS on the
primary's ground points.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from scipy.interpolate import LinearNDInterpolator

from monitor.archive import TellusArchive
from monitor.archive.tellus_products import Palsar2Maker
from monitor.config import settings_from_mapping
from monitor.domain import FetchedProduct, ProductRef, ProductStatus, RemoteFile
from monitor.errors import BrokenProduct
from monitor.io.ceos import LonLatBox, read_slc
from monitor.io.ceos_write import crop_as_scene, write_ceos_product
from monitor.io.dem import read_hgt
from monitor.io.models import LoadedModel
from monitor.io.palsar2_product import ChainOptions, make_palsar2_product
from monitor.io.sar_chain import as_geodem, predicted_offsets
from monitor.science.sar.coregistration import (
    OffsetModel,
    fit_offsets,
    measure_offsets,
    resample,
)
from monitor.science.sar.geometric_phase import geometric_phase
from monitor.science.sar.interferogram import multilooked_centres, multilooked_interferogram
from monitor.science.sar.orbit import Orbit
from monitor.science.sar.scene import SlcGeometry, SlcScene
from monitor.science.sar.simulate import SimulatedPair, simulate_pair
from monitor.service.config_checks import tool_findings
from monitor.service.context import WatchContext, frame_process_areas
from monitor.service.pipeline import poll_target
from monitor.store import Store, make_engine, upgrade
from tests.tellus_server import TOKEN, TellusState, serving

FRAME = "P126F0270"
LON0, LAT0 = 120.5, 13.5
DATES = [date(2020, 1, 6), date(2020, 2, 17), date(2020, 3, 30), date(2020, 5, 11)]
#: Mogi volume change since the first date, m^3 (LOS up to 2, 4, 6 cm).
VOLUMES = [0.0, 4e5, 8e5, 1.2e6]
OFFSETS = [(0.4, 0.35), (0.7, -0.3), (-0.6, 0.9)]
BASELINES_M = [300.0, -150.0, 200.0]
ORBIT_ERRORS_M = [(0.0, 0.0), (0.0, 0.0), (6.0, 0.0)]
BROKEN = 2  # the third date's leader is corrupted
SHAPE = (300, 300)
OPTIONS = {"looks": [4, 4], "spacing_deg": 0.0006, "remove_residual_plane": True,
           "process_km": 2.5}


def scene_id(d: date) -> str:
    return f"ALOS2{30000 + d.toordinal() % 1000:05d}0270-{d:%y%m%d}"


def write_cone_hgt(folder: Path) -> Path:
    """A 600 m cone of 3 km radius at (LON0, LAT0) as the SRTM3 tile N13E120.hgt."""
    folder.mkdir(parents=True, exist_ok=True)
    k = np.arange(1201)
    lon, lat = 120 + k / 1200, 14 - k / 1200
    r = np.hypot((lon[None, :] - LON0) * 111_320.0 * math.cos(math.radians(LAT0)),
                 (lat[:, None] - LAT0) * 111_132.0)
    path = folder / "N13E120.hgt"
    np.rint(600.0 * np.clip(1 - r / 3000.0, 0, None) ** 1.5).astype(">i2").tofile(path)
    return path


@dataclass
class Scenes:
    """The simulated acquisitions and what was written."""

    sims: list[SimulatedPair]
    dirs: list[Path]
    dem_dir: Path

    def truth(self, a: int, b: int) -> np.ndarray:
        """LOS from date ``a`` to date ``b`` on the first primary's ground points, m."""
        los = [np.zeros_like(self.sims[0].los_m)] + [s.los_m for s in self.sims]
        return los[b] - los[a]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Scenes:
    root = tmp_path_factory.mktemp("alos2")
    dem_dir = root / "dem"
    dem = as_geodem(read_hgt(write_cone_hgt(dem_dir)))
    sims = [simulate_pair(np.random.default_rng(7), SHAPE, centre_lonlat=(LON0, LAT0),
                          acquired=(DATES[0], DATES[k]), dem=dem,
                          source_dvolume_m3=VOLUMES[k], source_depth_m=2000.0,
                          offset_px=OFFSETS[k - 1], perpendicular_baseline_m=BASELINES_M[k - 1],
                          orbit_error_m=ORBIT_ERRORS_M[k - 1], coherence=0.85,
                          geometry_step=4)
            for k in (1, 2, 3)]
    written = [sims[0].primary] + [s.secondary for s in sims]
    dirs = []
    for d, scene in zip(DATES, written, strict=True):
        out = root / "scenes" / scene_id(d)
        write_ceos_product(crop_as_scene(scene, scene_id(d)), out)
        dirs.append(out)
    return Scenes(sims, dirs, dem_dir)


def los_of(unw_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded LOS (with the file's wavelength tag) and the grid's lon/lat centres."""
    with rasterio.open(unw_path) as src:
        unw, tr, tags = src.read(1), src.transform, src.tags()
    los = -float(tags["WAVELENGTH_M"]) / (4 * math.pi) * unw
    gy, gx = unw.shape
    lon, lat = np.meshgrid(tr.c + (np.arange(gx) + 0.5) * tr.a,
                           tr.f + (np.arange(gy) + 0.5) * tr.e)
    return los, lon, lat


def misfit_mm(scenes: Scenes, a: int, b: int, los: np.ndarray, lon: np.ndarray,
              lat: np.ndarray) -> tuple[float, float, float]:
    """RMS (mm) of product - truth over the valid pixels after removing a plane, the
    valid fraction, and the truth's range there (mm)."""
    sim = scenes.sims[0]
    truth = LinearNDInterpolator(np.c_[sim.lon_deg.ravel(), sim.lat_deg.ravel()],
                                 scenes.truth(a, b).ravel())(lon, lat)
    ok = np.isfinite(los) & np.isfinite(truth)
    diff = los[ok] - truth[ok]
    design = np.c_[np.ones(ok.sum()), lon[ok] - LON0, lat[ok] - LAT0]
    coef, *_ = np.linalg.lstsq(design, diff, rcond=None)
    return (float(np.sqrt(np.mean((diff - design @ coef) ** 2)) * 1e3),
            float(ok[np.isfinite(truth)].mean()), float(np.ptp(truth[ok]) * 1e3))


# -- the maker alone ---------------------------------------------------------------------------


def test_maker_recovers_the_los_with_the_scenes_wavelength(scenes: Scenes, tmp_path: Path
                                                           ) -> None:
    """Two CEOS scenes -> the LiCSAR-format product over a box: the right LOS, the scene's
    wavelength in the file, the DEM of dem_dir used, the provenance complete."""
    box = LonLatBox(LON0 - 0.02, LAT0 - 0.02, LON0 + 0.02, LAT0 + 0.02)
    options = ChainOptions(looks=(4, 4), spacing_deg=0.0006, dem_dir=scenes.dem_dir)
    made = make_palsar2_product(scenes.dirs[0], scenes.dirs[1], tmp_path, box=box,
                                options=options, name="20200106_20200217")
    assert made.unw_path.name == "20200106_20200217.geo.unw.tif"
    los, lon, lat = los_of(made.unw_path)
    rms, valid, span = misfit_mm(scenes, 0, 1, los, lon, lat)
    assert valid > 0.95 and span > 15 and rms < 5.0, (rms, valid, span)
    with rasterio.open(made.cc_path) as src:
        cc = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 0
    assert np.median(cc[cc > 0]) / 255 > 0.8
    with rasterio.open(made.unw_path) as src:
        assert src.crs.to_epsg() == 4326 and src.transform.a == pytest.approx(0.0006)
        assert src.tags()["WAVELENGTH_M"] == repr(0.2384) and src.tags()["PHASE_SIGN"] == "-1"
    prov = made.provenance
    assert prov["dem"]["source"].startswith("crop of ") and "N13E120.hgt" in prov["dem"]["source"]
    assert prov["dem"]["topographic_phase_removed"] is True
    assert set(prov["stage_s"]) >= {"read", "dem", "offsets", "resample", "geometric_phase",
                                    "unwrap", "geocode", "write"}
    assert prov["chain"]["primary"] == scene_id(DATES[0])
    assert made.provenance_path.is_file()
    # A box outside the DEM's tiles and the packaged crops: the ellipsoid, and it says so.
    bare = make_palsar2_product(scenes.dirs[0], scenes.dirs[1], tmp_path / "bare", box=box,
                                options=ChainOptions(looks=(4, 4), spacing_deg=0.0006))
    assert bare.provenance["dem"]["source"] is None
    assert "topographic phase stays" in bare.provenance["warning"]


def test_decoded_los_uses_the_wavelength_the_product_records(scenes: Scenes,
                                                             tmp_path: Path) -> None:
    """A scene whose leader gives another wavelength (a real one gave 0.2424525 m): the
    product records it and the archive decodes with it, not with the nominal 0.2384."""
    real = 0.2424525
    dirs = []
    sim = scenes.sims[0]
    for scene, d in ((sim.primary, DATES[0]), (sim.secondary, DATES[1])):
        g = scene.geometry
        moved = SlcScene(scene.scene_id, scene.acquired, "HH", scene.slc,
                         SlcGeometry(**{**g.__dict__, "wavelength_m": real}),
                         scene.line0, scene.pixel0)
        dirs.append(write_ceos_product(crop_as_scene(moved, scene_id(d)),
                                       tmp_path / scene_id(d)).directory)
    assert read_slc(dirs[0]).geometry.wavelength_m == real
    archive = TellusArchive("http://127.0.0.1:9/api", environ={"TELLUS_TOKEN": TOKEN})
    made = make_palsar2_product(dirs[0], dirs[1], tmp_path / "out",
                                box=LonLatBox(LON0 - 0.02, LAT0 - 0.02, LON0 + 0.02,
                                              LAT0 + 0.02),
                                options=ChainOptions(looks=(4, 4), spacing_deg=0.0006,
                                                     dem_dir=scenes.dem_dir))
    ref = ProductRef(FRAME, DATES[0], DATES[1], RemoteFile("urn:x", "a"), RemoteFile("urn:x", "b"))
    fetched = FetchedProduct(ref, str(made.unw_path), str(made.cc_path), "0" * 64, {})
    decoded = archive.decode(fetched, 10_000_000)
    with rasterio.open(made.unw_path) as src:
        unw = src.read(1)
        assert float(src.tags()["WAVELENGTH_M"]) == real
    ok = np.isfinite(unw) & np.isfinite(decoded.displacement_m)
    np.testing.assert_allclose(decoded.displacement_m[ok], -real / (4 * math.pi) * unw[ok],
                               rtol=1e-6)
    assert archive.sensor_of(fetched).wavelength_m == real


def test_subpixel_coregistration_beats_the_whole_pixel_shift_through_ceos(
        scenes: Scenes) -> None:
    """Crops read from the CEOS files by a lon/lat box: the chain's sub-pixel offsets and
    Knab resampling keep the coherence that the tutorial's whole-pixel shift loses
    (tests/test_sar_interferometry.py shows the same on the simulator's arrays)."""
    box = LonLatBox(LON0 - 0.02, LAT0 - 0.02, LON0 + 0.02, LAT0 + 0.02)
    p = read_slc(scenes.dirs[0], box=box, margin_px=16)
    s = read_slc(scenes.dirs[1], box=box, margin_px=16)
    orbits = (Orbit(p.geometry.orbit), Orbit(s.geometry.orbit))
    seed, _ = predicted_offsets(p, s, *orbits, None)
    model = fit_offsets(measure_offsets(p.slc, s.slc, window=64, n_windows=(6, 6),
                                        predicted=seed), p.slc.shape)
    ny, nx = p.slc.shape
    d_line, d_pixel = model((ny - 1) / 2, (nx - 1) / 2)
    whole = OffsetModel.constant(float(np.round(d_line)), float(np.round(d_pixel)))
    lines, pixels = multilooked_centres(p.slc.shape, (4, 4))
    geo = geometric_phase(p, s, np.r_[0.0, lines, ny - 1.0], np.r_[0.0, pixels, nx - 1.0],
                          as_geodem(read_hgt(scenes.dem_dir / "N13E120.hgt")), orbits)
    coherence = []
    for m in (model, whole):
        s2, valid = resample(s.slc, m, p.slc.shape)
        _, coh = multilooked_interferogram(p.slc, s2, (4, 4), phase_rad=geo.phase_rad,
                                           phase_rows=geo.rows, phase_cols=geo.cols,
                                           valid=valid)
        coherence.append(coh)
    both = np.isfinite(coherence[0]) & np.isfinite(coherence[1])
    sub, rounded = (float(np.mean(c[both])) for c in coherence)
    assert sub > 0.8 and sub - rounded > 0.1, (sub, rounded)


# -- the watch ---------------------------------------------------------------------------------


def _items_and_files(scenes: Scenes, state: TellusState) -> None:
    for d, folder in zip(DATES, scenes.dirs, strict=True):
        sid = scene_id(d)
        state.items.append({
            "dataset_id": sid, "path_number": 126, "frame_number": 270,
            "beam_number": "U2-6", "mode": "SM3", "polarization": "HH",
            "begin_datetime": f"{d:%Y-%m-%d}T11:59:58Z", "bbox": [120.4, 13.4, 120.6, 13.6]})
        names = []
        for f in sorted(folder.iterdir()):
            data = f.read_bytes()
            if d == DATES[BROKEN] and f.name.startswith("LED-"):
                data = data[:720] + (99).to_bytes(4, "big") + data[724:]  # record 2's number
            state.blobs[f.name] = data
            names.append(f.name)
        state.scenes[sid] = names


@pytest.fixture()
def server(scenes: Scenes) -> Iterator[TellusState]:
    state = TellusState(page_size=3)
    _items_and_files(scenes, state)
    with serving(state):
        yield state


def _settings(state: TellusState, tmp_path: Path, scenes: Scenes) -> Any:
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    return settings_from_mapping({
        "database": {"url": url},
        "watch": {"cache_dir": str(tmp_path / "cache"), "series_dir": str(tmp_path / "series")},
        "archives": {"alos2": {"kind": "tellus", "base_url": f"{state.base}/api",
                               "max_gap_days": 200, "retries": 0,
                               "dem_dir": str(scenes.dem_dir), **OPTIONS}},
        "targets": [{"id": "cone", "name": "Simulated cone", "lon": LON0, "lat": LAT0,
                     "radius_km": 1.0, "archive": "alos2", "frames": [FRAME]}]})


def test_the_watch_makes_scores_and_quarantines_a_broken_scene(
        scenes: Scenes, server: TellusState, tmp_path: Path, model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELLUS_TOKEN", TOKEN)
    settings = _settings(server, tmp_path, scenes)
    upgrade(settings.database.url)
    ctx = WatchContext.from_settings(settings, Store(make_engine(settings.database.url)), model)
    archive = ctx.archives["alos2"]
    assert isinstance(archive, TellusArchive) and isinstance(archive.make_product, Palsar2Maker)
    box = frame_process_areas(settings, "alos2")[FRAME]
    assert box[2] - box[0] == pytest.approx(2 * 2.5 / 111.32 / math.cos(math.radians(LAT0)))

    report = poll_target(ctx, settings.target("cone"), datetime(2021, 1, 1, tzinfo=UTC))
    rows = {f"{p.date1:%Y%m%d}_{p.date2:%Y%m%d}": p for p in ctx.store.list_products("cone")}
    assert report.listed == len(rows) == 5  # the daisy chain and one extra pair per date
    assert report.ingested == 2 and report.scored == 2 and report.quarantined == 1
    assert [e.epoch for e in report.epochs] == [DATES[0], DATES[1], DATES[3]]
    assert report.epochs[-1].cum_max_m > 0.03  # the 4.6 cm peak of the simulated LOS
    bad = rows["20200217_20200330"]
    assert bad.status == ProductStatus.QUARANTINED.value
    assert f"LED-{scene_id(DATES[BROKEN])}-UBSR1.1__A: record 2" in (bad.last_error or "")
    assert rows["20200217_20200511"].status == ProductStatus.INGESTED.value
    scores = [ctx.store.get_score("cone", d) for d in (DATES[1], DATES[3])]
    assert all(s is not None and s.p_fused is not None for s in scores)

    # The products on the frame grid recover the truth; their provenance sits beside them.
    for a, b in ((0, 1), (1, 3)):
        pair = f"{DATES[a]:%Y%m%d}_{DATES[b]:%Y%m%d}"
        folder = tmp_path / "cache" / FRAME / pair
        los, lon, lat = los_of(folder / f"{pair}.geo.unw.tif")
        rms, valid, span = misfit_mm(scenes, a, b, los, lon, lat)
        assert valid > 0.95 and span > 15 and rms < 5.0, (pair, rms, valid, span)
        assert (folder / f"{pair}.provenance.json").is_file()

    # A second poll changes nothing and makes nothing again.
    n_files = len(server.seen("/files/"))
    again = poll_target(ctx, settings.target("cone"), datetime(2021, 1, 2, tzinfo=UTC))
    assert again.ingested == 0 and len(server.seen("/files/")) == n_files


def test_a_broken_leader_is_a_broken_product_naming_file_and_record(
        scenes: Scenes, server: TellusState, tmp_path: Path) -> None:
    archive = TellusArchive(f"{server.base}/api", environ={"TELLUS_TOKEN": TOKEN},
                            retries=0, max_gap_days=200,
                            areas={FRAME: (LON0 - 0.02, LAT0 - 0.02, LON0 + 0.02, LAT0 + 0.02)},
                            make_product=Palsar2Maker(ChainOptions(looks=(4, 4),
                                                                   spacing_deg=0.0006)))
    ref = next(r for r in archive.list_products(FRAME) if r.pair == "20200217_20200330")
    with pytest.raises(BrokenProduct, match=rf"LED-{scene_id(DATES[BROKEN])}-UBSR1.1__A: "
                       r"record 2 \(.*\): sequence number 99"):
        archive.fetch(ref, tmp_path)


def test_config_check_says_whether_snaphu_runs(server: TellusState, tmp_path: Path,
                                               scenes: Scenes,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(server, tmp_path, scenes)
    found = tool_findings(settings)
    assert [(f.severity, f.where) for f in found] == [("info", "archive alos2")]
    assert found[0].message.startswith("SNAPHU runs (snaphu package ")
    broken = settings.model_copy(update={"archives": {"alos2": settings.archives[
        "alos2"].model_copy(update={"dem_dir": str(tmp_path / "nowhere")})}})
    monkeypatch.setitem(sys.modules, "snaphu", None)  # as if not installed
    found = tool_findings(broken)
    assert [(f.severity, f.exit_code) for f in found] == [("error", 8), ("warning", 0)]
    assert "install the snaphu package" in found[0].message
    assert "nowhere is not a folder of SRTM .hgt tiles" in found[1].message
    assert tool_findings(settings_from_mapping({})) == []
