"""``insar-monitor scan``: the JSON contract, units, wrapped input, maps and per-file errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from monitor.cli import main
from monitor.io.models import model_sha256, save_model
from monitor.io.rasters import Raster, read_raster, write_raster
from monitor.raster_scan import ScanOptions, to_network_input
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.fusion import detect_displacement
from monitor.science.geometry import SENTINEL1, Sensor, rewrap, wrap
from monitor.science.sources import mogi

TRANSFORM = from_origin(120.0, 14.0, 0.001, 0.001)  # 0.001 deg pixels, north-up


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny network, its convolutions amplified 3 times so that its outputs
    depend clearly on the input (P spreads over about 0.84-0.97 on the test uplift)."""
    torch.manual_seed(0)
    net = CompactNet(widths=(4, 4, 4, 8))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(3.0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(path, net, {"note": "untrained test model"})
    return path


@pytest.fixture(scope="module")
def displacement() -> np.ndarray:
    """An 8 cm Mogi uplift (3 fringes at 2.8 cm) off-centre on a 120 x 150 grid, NaN hole."""
    yy, xx = np.mgrid[:120, :150]
    enu = mogi((xx - 90.0) * 100.0, (60.0 - yy) * 100.0, depth_m=2500.0, dvolume_m3=2.1e6)
    d = enu.up.astype(np.float32)
    d[10:20, 10:30] = np.nan
    return d


def _scan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict], str]:
    rc = main(["scan", *argv])
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return rc, records, captured.err


def test_json_contract_on_a_georeferenced_geotiff(
        tmp_path: Path, model_path: Path, displacement: np.ndarray,
        capsys: pytest.CaptureFixture[str]) -> None:
    tif = tmp_path / "uplift.tif"
    write_raster(tif, displacement, crs="EPSG:4326", transform=TRANSFORM)
    rc, records, err = _scan(capsys, str(tif), "--model", str(model_path), "--json")
    assert rc == 0 and err == ""
    (rec,) = records
    assert rec["file"] == str(tif)
    assert set(rec["p_by_gain"]) == {"1", "2", "4", "8"}
    assert 0.0 <= rec["p_fused"] <= 1.0
    assert rec["flag"] is (rec["p_fused"] > 0.5) and rec["threshold"] == 0.5
    assert rec["shape"] == [120, 150] and rec["seconds"] >= 0
    assert rec["model"] == {"path": str(model_path), "arch": "compact",
                            "sha256": model_sha256(model_path)}
    peak = rec["peak"]
    assert 0 <= peak["row"] < 120 and 0 <= peak["col"] < 150
    # lon/lat of the peak pixel's centre
    assert peak["lon"] == pytest.approx(120.0 + 0.001 * (peak["col"] + 0.5), abs=1e-9)
    assert peak["lat"] == pytest.approx(14.0 - 0.001 * (peak["row"] + 0.5), abs=1e-9)
    # a projected CRS: the peak is converted to lon/lat (UTM 51N: central meridian 123 E,
    # northing 1550 km is about 14.0 N)
    utm = tmp_path / "uplift_utm.tif"
    write_raster(utm, displacement, crs="EPSG:32651",
                 transform=from_origin(500000.0, 1550000.0, 100.0, 100.0))
    _, (rec_utm,), _ = _scan(capsys, str(utm), "--model", str(model_path), "--json")
    east_m = 100.0 * (rec_utm["peak"]["col"] + 0.5)
    assert rec_utm["peak"]["lon"] == pytest.approx(123.0 + east_m / 108_000.0, abs=0.01)
    assert rec_utm["peak"]["lat"] == pytest.approx(14.0, abs=0.1)
    # the same numbers as the science function on the same array
    model = CompactNet(widths=(4, 4, 4, 8))
    model.load_state_dict(torch.load(model_path, weights_only=True)["state_dict"])
    det = detect_displacement(model.eval(), displacement)
    assert rec["p_fused"] == pytest.approx(det.p_fused, abs=1e-6)
    assert (peak["row"], peak["col"]) == (det.peak_row, det.peak_col)


def test_units_and_wrapped_input_give_the_same_scores(
        tmp_path: Path, model_path: Path, displacement: np.ndarray,
        capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "metres.npy", displacement)
    np.save(tmp_path / "millimetres.npy", displacement * 1000.0)
    phase = displacement / SENTINEL1.metres_per_radian  # LiCSAR sign: uplift = negative
    np.save(tmp_path / "phase.npy", phase.astype(np.float32))
    # A sensor of wavelength 5.6 cm has exactly the networks' 2.8 cm per fringe.
    wrapped = wrap(-4 * math.pi * displacement.astype(np.float64) / 0.056)
    np.save(tmp_path / "wrapped.npy", wrapped.astype(np.float32))
    common = ["--model", str(model_path), "--json"]
    _, (m,), _ = _scan(capsys, str(tmp_path / "metres.npy"), *common)
    _, (mm,), _ = _scan(capsys, str(tmp_path / "millimetres.npy"), "--units", "mm", *common)
    _, (rad,), _ = _scan(capsys, str(tmp_path / "phase.npy"), "--units", "rad", *common)
    _, (wr,), _ = _scan(capsys, str(tmp_path / "wrapped.npy"), "--wrapped", *common)
    for other, tol in ((mm, 1e-6), (rad, 1e-5), (wr, 1e-4)):
        assert other["p_fused"] == pytest.approx(m["p_fused"], abs=tol)
        for g, p in m["p_by_gain"].items():
            assert other["p_by_gain"][g] == pytest.approx(p, abs=tol)
    assert "lon" not in m["peak"] and "lat" not in m["peak"]  # .npy has no georeference
    assert wr["input"] == {"units": "rad", "wrapped": True}
    assert mm["input"] == {"units": "mm", "wrapped": False}
    # What the network sees from LiCSAR-sign wrapped phase: the fringes of the displacement
    # (uplift = positive), as from unwrapped input; --phase-sign 1 mirrors them.
    opts = ScanOptions("rad", True, Sensor("s", 0.056, -1), (1.0,), 0.5, "auto", 0.028, 10**8)
    seen = to_network_input(Raster(wrapped.astype(np.float32)), opts)
    expected = rewrap(displacement, 1.0)
    ok = np.isfinite(expected)
    np.testing.assert_allclose(np.angle(np.exp(1j * (seen[ok] - expected[ok]))), 0.0,
                               atol=1e-4)
    mirrored = to_network_input(Raster(wrapped.astype(np.float32)),
                                replace(opts, sensor=Sensor("s", 0.056, 1)))
    np.testing.assert_allclose(mirrored[ok], -seen[ok])
    _, (flipped,), _ = _scan(capsys, str(tmp_path / "wrapped.npy"), "--wrapped",
                             "--phase-sign", "1", *common)
    assert max(abs(flipped["p_by_gain"][g] - p) for g, p in m["p_by_gain"].items()) > 1e-3
    text_rc = main(["scan", str(tmp_path / "metres.npy"), "--model", str(model_path)])
    text = capsys.readouterr().out
    assert text_rc == 0 and text.startswith(f"{tmp_path / 'metres.npy'}: ") and "P=" in text


def test_map_is_written_with_the_input_georeference(
        tmp_path: Path, model_path: Path, displacement: np.ndarray,
        capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.tif", tmp_path / "b.npy"
    write_raster(a, displacement, crs="EPSG:4326", transform=TRANSFORM)
    np.save(b, displacement[:100, :110])
    pattern = str(tmp_path / "maps" / "{stem}_prob.tif")
    (tmp_path / "maps").mkdir()
    rc, records, _ = _scan(capsys, str(a), str(b), "--model", str(model_path), "--json",
                           "--map", pattern, "--gains", "1,2")
    assert rc == 0 and [r["map"] for r in records] == [
        str(tmp_path / "maps" / "a_prob.tif"), str(tmp_path / "maps" / "b_prob.tif")]
    with rasterio.open(records[0]["map"]) as src:
        assert src.crs.to_string() == "EPSG:4326"
        assert src.transform == TRANSFORM
        prob = src.read(1)
    assert prob.shape == (120, 150) and 0.0 <= prob.min() <= prob.max() <= 1.0
    assert float(prob.max()) == pytest.approx(records[0]["p_fused"], abs=1e-6)
    assert read_raster(records[1]["map"]).shape == (100, 110)
    # several files need a {stem} pattern or a directory
    rc, _, err = _scan(capsys, str(a), str(b), "--model", str(model_path),
                       "--map", str(tmp_path / "one.tif"))
    assert rc == 2 and "{stem}" in err
    rc, records, _ = _scan(capsys, str(a), "--model", str(model_path), "--json",
                           "--map", str(tmp_path / "maps"), "--gains", "1")
    assert rc == 0 and records[0]["map"] == str(tmp_path / "maps" / "a.prob.tif")


def test_bad_files_are_reported_and_the_others_scored(
        tmp_path: Path, model_path: Path, displacement: np.ndarray,
        capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.npy"
    np.save(good, displacement)
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((3, 4, 5), dtype=np.float32))
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    missing = tmp_path / "missing.tif"
    not_wrapped = tmp_path / "unwrapped.npy"
    np.save(not_wrapped, np.full((50, 50), 7.0, dtype=np.float32))
    rc, records, err = _scan(capsys, str(cube), str(good), str(text), str(missing),
                             "--model", str(model_path), "--json", "--gains", "1,2")
    assert rc == 3  # RasterError
    assert [r["file"] for r in records] == [str(good)]
    lines = err.strip().splitlines()
    assert len(lines) == 3
    for bad, line in zip((cube, text, missing), lines, strict=True):
        assert line.startswith("insar-monitor scan: error: ") and str(bad) in line
    rc, records, err = _scan(capsys, str(not_wrapped), str(good), "--wrapped",
                             "--model", str(model_path), "--json", "--gains", "1")
    assert rc == 2 and len(records) == 1
    assert str(not_wrapped) in err and "wrapped phase in [-pi, pi]" in err


def test_model_and_option_errors(tmp_path: Path, model_path: Path, displacement: np.ndarray,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.npy"
    np.save(good, displacement)
    rc, records, err = _scan(capsys, str(good), "--model", str(tmp_path / "nope.pt"))
    assert rc == 6 and not records and "nope.pt" in err and "does not exist" in err
    # [science] detector (the block detector) unless --detector, a --model file, --arch
    # or wrapped input (which only the CNN reads) says otherwise
    rc, records, err = _scan(capsys, str(good), "--wrapped", "--json")
    assert rc == 0 and records[0]["model"]["arch"] == "compact"
    assert "--wrapped: scored with the CNN" in err
    rc, records, err = _scan(capsys, str(good), "--arch", "compact", "--json")
    assert rc == 0 and records[0]["model"]["arch"] == "compact" and err == ""
    rc, records, err = _scan(capsys, str(good), "--json", "--pixel-m", "100")
    assert rc == 0 and records[0]["model"]["arch"] == "blocks", err
    monkeypatch.setattr("monitor.io.models.packaged_weights",
                        lambda arch: tmp_path / "weights" / f"{arch}.pt")
    rc, _, err = _scan(capsys, str(good))
    assert rc == 6 and str(tmp_path / "weights" / "blocks.pt") in err and "train-blocks" in err
    rc, _, err = _scan(capsys, str(good), "--detector", "cnn")
    shipped = tmp_path / "weights" / "compact.pt"
    assert rc == 6 and str(shipped) in err and "insar-monitor train --arch" in err
    rc, _, err = _scan(capsys, str(good), "--model", str(model_path), "--arch", "alexnet")
    assert rc == 6 and "holds a 'compact' network" in err
    rc, _, err = _scan(capsys, str(good), "--model", str(model_path), "--wrapped",
                       "--units", "mm")
    assert rc == 2 and "--units mm" in err
    rc, _, err = _scan(capsys, str(good), "--model", str(model_path), "--wrapped",
                       "--gains", "1.5")
    assert rc == 2 and "integer gains" in err


@pytest.fixture(scope="module")
def scene(agung_scene: Callable[..., dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Agung relief, 3 cm of zenith delay per km at 35 degrees, 2 mm of turbulence, and a
    6 cm uplift under the summit (tests/conftest.py)."""
    return agung_scene(3e-5, 35.0, 0.002, 5000.0, seed=0, uplift_m=0.06)


def test_dem_second_look_clears_stratification_and_keeps_uplift(
        tmp_path: Path, scene: dict[str, np.ndarray],
        capsys: pytest.CaptureFixture[str]) -> None:
    """The packaged detector flags the stratified delay over Agung; with --dem the
    corrected map decides: the atmosphere is cleared, the uplift under the summit kept."""
    grid = from_origin(115.35, -8.2, 0.0009, 0.0009)  # about 99 m pixels at 8 S
    paths = {}
    for name in ("dem", "atmosphere", "deformation"):
        paths[name] = tmp_path / f"{name}.tif"
        write_raster(paths[name], scene[name], crs="EPSG:4326", transform=grid)
    files = [str(paths["atmosphere"]), str(paths["deformation"])]
    rc, raw, err = _scan(capsys, *files, "--json", "--threads", "1", "--detector", "cnn")
    assert rc == 0 and err == "" and [r["flag"] for r in raw] == [True, True]
    assert all("second_look" not in r for r in raw)
    rc, looked, err = _scan(capsys, *files, "--json", "--threads", "1", "--detector", "cnn",
                            "--dem", str(paths["dem"]))
    assert rc == 0 and err == ""
    atm, dfm = looked
    for before, after in zip(raw, looked, strict=True):
        look = after["second_look"]
        assert look["method"] == "empirical" and look["flag_raw"] is True
        assert look["p_fused_raw"] == pytest.approx(before["p_fused"], abs=1e-6)
        assert look["order"] == 1 and look["n_pixels"] >= 200
    assert atm["flag"] is False and atm["p_fused"] < 0.5
    assert dfm["flag"] is True and dfm["p_fused"] > 0.5
    # The fitted slope is the stratification's: -3e-5 / cos(35 deg) LOS m per m, within 10%.
    slope = atm["second_look"]["coefficients"][0]
    assert slope == pytest.approx(-3e-5 / math.cos(math.radians(35.0)), rel=0.10)
    # The text line says what decided.
    rc = main(["scan", files[0], "--threads", "1", "--detector", "cnn", "--dem",
               str(paths["dem"])])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith(f"{files[0]}: ok P=") and "second look: empirical" in out
    # The block detector (the default) flags both without heights; with --dem it fits a
    # height term in every window instead of a second look, and keeps only the uplift.
    rc, no_dem, err = _scan(capsys, *files, "--json", "--threads", "1")
    assert rc == 0 and err == "" and [r["flag"] for r in no_dem] == [True, True]
    rc, blocks, err = _scan(capsys, *files, "--json", "--threads", "1", "--dem",
                            str(paths["dem"]))
    assert rc == 0 and err == "" and [r["flag"] for r in blocks] == [False, True]
    assert all(r["method"] == "blocks" and "second_look" not in r for r in blocks)


def test_dem_second_look_errors(tmp_path: Path, model_path: Path,
                                scene: dict[str, np.ndarray],
                                capsys: pytest.CaptureFixture[str]) -> None:
    dem = tmp_path / "dem.npy"
    np.save(dem, scene["dem"])
    atmosphere_npy = tmp_path / "scene.npy"
    np.save(atmosphere_npy, scene["atmosphere"])
    small = tmp_path / "small.npy"
    np.save(small, scene["atmosphere"][:100, :100])
    common = ["--model", str(model_path), "--json", "--gains", "1", "--dem", str(dem)]
    # Another grid: that file fails by name, the other is scored.
    rc, records, err = _scan(capsys, str(small), str(atmosphere_npy), *common, "--pixel-m", "100")
    assert rc == 2 and [r["file"] for r in records] == [str(atmosphere_npy)]
    assert str(small) in err and "must share a grid" in err
    # No georeference and no --pixel-m: a flagged file (threshold 0 flags every one) fails
    # by name; an unflagged one (threshold 1) needs no second look.
    rc, records, err = _scan(capsys, str(atmosphere_npy), *common, "--threshold", "0")
    assert rc == 2 and not records and str(atmosphere_npy) in err and "--pixel-m" in err
    rc, records, err = _scan(capsys, str(atmosphere_npy), *common, "--threshold", "1")
    assert rc == 0 and records[0]["second_look"] == {
        "method": "none", "p_fused_raw": records[0]["p_fused"],
        "p_by_gain_raw": records[0]["p_by_gain"], "flag_raw": False}
    # Georeferenced on another grid or in another CRS: refused by name.
    here = tmp_path / "here.tif"
    write_raster(here, scene["atmosphere"], crs="EPSG:4326", transform=TRANSFORM)
    for name, crs, grid in (("shifted", "EPSG:4326", from_origin(120.5, 14.0, 0.001, 0.001)),
                            ("utm", "EPSG:32651", TRANSFORM)):
        other = tmp_path / f"dem_{name}.tif"
        write_raster(other, scene["dem"], crs=crs, transform=grid)
        rc, _, err = _scan(capsys, str(here), *common[:-1], str(other))
        assert rc == 2 and str(here) in err and "must share a grid" in err, err
    rc, _, err = _scan(capsys, str(atmosphere_npy), *common, "--wrapped")
    assert rc == 2 and "unwrapped" in err
    rc, _, err = _scan(capsys, str(atmosphere_npy), *common, "--pixel-m", "-5")
    assert rc == 2 and "--pixel-m" in err
    rc, _, err = _scan(capsys, str(atmosphere_npy), *common[:-1], str(tmp_path / "none.tif"))
    assert rc == 3 and "none.tif" in err


CROP = Path(__file__).parent / "data" / "erta_ale_014A" / "014A_07688_131313"


def test_the_block_detector_scans_real_unwrapped_phase_and_finds_an_added_source(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real quiet LiCSAR pair of Erta Ale (radians, LiCSAR's sign) and the same pair
    with a 6 cm Mogi uplift 3 km east of the clip's centre, scored with the packaged block
    detector and the frame's heights."""
    pair = "20160305_20160329"
    quiet = CROP / "interferograms" / pair / f"{pair}.geo.unw.tif"
    hgt = CROP / "metadata" / "014A_07688_131313.geo.hgt.tif"
    raster = read_raster(quiet)
    ny, nx = raster.shape
    yy, xx = np.mgrid[:ny, :nx]
    pixel = (107.9, 110.6)  # 0.001 degree at 13.6 N, east and north, metres
    enu = mogi((xx - (nx - 1) / 2) * pixel[0] - 3000.0, ((ny - 1) / 2 - yy) * pixel[1],
               depth_m=3000.0, dvolume_m3=1e6)
    uplift = 0.06 * enu.up / np.abs(enu.up).max()
    # radians with LiCSAR's sign: d = -wavelength / (4 pi) phase
    phase = raster.data - (4 * math.pi / SENTINEL1.wavelength_m) * uplift.astype(np.float32)
    phase[raster.data == 0] = 0  # LiCSAR's no-data stays no-data
    added = tmp_path / "added.tif"
    write_raster(added, phase.astype(np.float32), crs=raster.crs, transform=raster.transform)
    rc, (rec_q, rec_a), err = _scan(capsys, str(quiet), str(added), "--units", "rad",
                                    "--detector", "blocks", "--dem", str(hgt), "--json")
    assert rc == 0 and err == ""
    for rec in (rec_q, rec_a):
        assert rec["model"]["arch"] == "blocks" and len(rec["model"]["sha256"]) == 64
        assert rec["gains"] == [] and rec["method"] == "blocks" and rec["p_by_gain"] == {}
        assert rec["flag"] is (rec["p_fused"] > 0.5) and "second_look" not in rec
    assert not rec_q["flag"] and rec_a["flag"] and rec_a["p_fused"] > rec_q["p_fused"]
    # the peak is near the source, 3 km east of the clip's centre (0.001 degree is 107.9 m
    # east and 110.6 m north there)
    centre_lon = raster.transform.c + raster.transform.a * nx / 2
    centre_lat = raster.transform.f + raster.transform.e * ny / 2
    east_km = (rec_a["peak"]["lon"] - centre_lon) * 107.9
    north_km = (rec_a["peak"]["lat"] - centre_lat) * 110.6
    assert math.hypot(east_km - 3.0, north_km) < 3.0
    # text output names the detector instead of gains
    assert main(["scan", str(added), "--units", "rad", "--detector", "blocks"]) == 0
    assert "FLAG" in capsys.readouterr().out


def test_block_detector_option_errors(tmp_path: Path, model_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    pair = "20160305_20160329"
    quiet = str(CROP / "interferograms" / pair / f"{pair}.geo.unw.tif")
    rc, _, err = _scan(capsys, quiet, "--wrapped", "--detector", "blocks")
    assert rc == 2 and "reads unwrapped displacement" in err
    rc, _, err = _scan(capsys, quiet, "--units", "rad", "--detector", "blocks", "--arch",
                       "compact")
    assert rc == 2 and "--arch picks a CNN" in err
    rc, _, err = _scan(capsys, quiet, "--units", "rad", "--detector", "blocks", "--model",
                       str(model_path))
    assert rc == 6 and "holds a 'compact' network, not the block detector" in err
    small = tmp_path / "small.tif"
    write_raster(small, np.zeros((10, 10), np.float32), crs="EPSG:4326", transform=TRANSFORM)
    rc, _, err = _scan(capsys, str(small), "--detector", "blocks")
    assert rc == 2 and f"{small}: block detector: map (10, 10) is smaller" in err
