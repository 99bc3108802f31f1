"""``insar-monitor scan-series``: per-epoch JSON, truth recovery, LSTT, skipped products, errors.

Archives are written by :func:`monitor.io.synth_archive.write_synthetic_archive` (96 x 96
pixels of 0.001 degree around 120.99 E, 14.0 N: about 104 x 111 m pixels) with a Mogi
source 1 km deep under the centre; the detector is an untrained tiny network, so the tests
check the CNN fields' contract, not their values. The second-look tests use Agung relief
with strong stratification and the packaged CNN (``[science] detector = "cnn"``: the second
look is the CNN's; the block detector, the default, fits its own plane and height term).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from rasterio.transform import from_origin

from monitor.cli import main
from monitor.io.licsar import FrameLayout
from monitor.io.models import model_sha256, save_model
from monitor.io.rasters import read_raster, write_raster
from monitor.io.synth_archive import KNOWN_VOLCANOES, write_synthetic_archive
from monitor.science.detect.compact import CompactNet
from monitor.science.synth_series import SeriesScenario

torch.set_num_threads(1)

FRAME = "022D_04826_121209"
CENTRE = (120.99, 14.0)
TARGET = "120.99,14.0,1.5"
PERMUTATIONS = "30"  # smallest possible p-value 1/31 = 0.032
#: A noise-free series sums exactly; what remains is the Mogi source's own tail inside the
#: reference windows, whose median is removed with the reference (about 2 % of the peak
#: at 1 km depth in this 96 px frame), and float32 rounding.
CLEAN_REL_TOL = 0.03
CLEAN_ABS_TOL_M = 1e-4
#: Turbulence of the noisy archive: 3 mm per date, so a cumulative epoch (two dates) has
#: about 4.2 mm; the largest |value| of some 300 target pixels is then up to about 2 cm.
NOISE_ABS_TOL_M = 0.02


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(path, CompactNet(widths=(4, 4, 4, 8)), {"note": "untrained test model"})
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SeriesScenario]:
    """Daisy chain, 6 epochs, no atmosphere or decorrelation, 1 m/yr from the 2nd epoch."""
    root = tmp_path_factory.mktemp("clean")
    scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=6, interval_days=12,
                              onset=date(2024, 1, 18), rate_m_per_yr=1.0,
                              source_depth_m=1000.0, decorrelate=False,
                              turbulent_sigma_m=0.0, stratified_strength="none")
    write_synthetic_archive(root, scenario=scenario, frame=FRAME, volcano="synthetic",
                            centre_lonlat=CENTRE, size_px=96, seed=3)
    return root, scenario


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SeriesScenario]:
    """LiCSAR-like network (3 nearest epochs), 7 epochs, turbulence and decorrelation;
    no deformation up to the 4th epoch, then 1 m/yr (3.3, 6.6, 9.9 cm)."""
    root = tmp_path_factory.mktemp("noisy")
    scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=7, interval_days=12,
                              onset=date(2024, 2, 11), rate_m_per_yr=1.0,
                              source_depth_m=1000.0, decorrelate=True,
                              turbulent_sigma_m=0.003, turbulent_length_m=100.0,
                              stratified_strength="none")
    write_synthetic_archive(root, scenario=scenario, frame=FRAME, volcano="synthetic",
                            centre_lonlat=CENTRE, size_px=96, network="nearest3", seed=4)
    return root, scenario


@pytest.fixture(scope="module")
def cnn_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configuration naming the packaged CNN as the detector."""
    path = tmp_path_factory.mktemp("config") / "cnn.toml"
    path.write_text('[science]\ndetector = "cnn"\n', encoding="utf-8")
    return path


def _truth(root: Path) -> list[float]:
    return json.loads((root / f"{FRAME}.synth_truth.json").read_text())["peak_los_m"]


def _run(capsys: pytest.CaptureFixture[str], root: Path, *extra: str,
         model: Path | None = None, frame: str = FRAME, target: str = TARGET,
         json_out: bool = True) -> tuple[int, list[dict[str, Any]], str]:
    argv = ["scan-series", str(root), "--frame", frame, "--target", target,
            "--permutations", PERMUTATIONS, *extra]
    if model is not None:
        argv += ["--model", str(model)]
    if json_out:
        argv.append("--json")
    rc = main(argv)
    out = capsys.readouterr()
    records = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
    return rc, records, out.err


def test_one_json_line_per_epoch(clean: tuple[Path, SeriesScenario], model_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    root, scenario = clean
    rc, records, err = _run(capsys, root, model=model_path)
    assert rc == 0 and "error:" not in err
    assert [r["epoch"] for r in records] == [e.isoformat() for e in scenario.epochs]
    first, rest = records[0], records[1:]
    # the first epoch is reported, with its zero displacement, but not scored
    assert first["scored"] is False and "zero by definition" in first["note"]
    assert first["cum_max_m"] == 0.0 and first["n_valid"] > 0
    for key in ("p_fused", "p_by_gain", "flag", "lstt_p", "lstt_pe", "lstt_reject"):
        assert first[key] is None
    sha = model_sha256(model_path)
    for k, rec in enumerate(records):
        assert rec["relative_to"] == "2024-01-06"
        assert rec["support_min"] == max(k, 1)  # k interferograms summed (1 touch epoch 0)
        assert rec["n_valid"] == first["n_valid"]  # no decorrelation: the whole disc
        assert rec["model"] == {"path": str(model_path), "arch": "compact", "sha256": sha}
        assert rec["series_method"] == "daisy-chain" and rec["frame"] == FRAME
    for rec in rest:
        assert rec["scored"] is True and rec["note"] is None
        assert set(rec["p_by_gain"]) == {"1", "2", "4", "8"}
        assert 0.0 <= rec["p_fused"] <= rec["p_fused_frame"] <= 1.0
        assert all(0.0 <= p <= 1.0 for p in rec["p_by_gain"].values())
        assert rec["flag"] is (rec["p_fused"] > 0.5) and rec["threshold"] == 0.5
        # either a p-value or the reason why the LSTT could not run (noise-free maps give
        # smooth, nearly constant references and few samples after thinning)
        assert (rec["lstt_p"] is None) is bool(rec["lstt_error"])
        assert (rec["lstt_reject"] is None) is (rec["lstt_p"] is None)
        # the second look runs on flagged epochs only, and says which it was
        assert (rec["correction_method"] is None) is (rec["p_fused_raw"] is None)
        assert rec["correction_method"] in (None, "empirical", "none")
        if rec["p_fused_raw"] is None:
            assert rec["correction"] is None


def test_cum_max_follows_truth_without_noise(clean: tuple[Path, SeriesScenario],
                                             model_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = clean
    truth = _truth(root)
    refs = "121.03,14.04,0.8;120.95,13.96,0.8"  # far corners of the frame
    for extra in ((), ("--references", refs, "--network", "daisy")):
        rc, records, _ = _run(capsys, root, *extra, model=model_path)
        assert rc == 0
        cum = [r["cum_max_m"] for r in records]
        assert cum[1] == pytest.approx(0.0, abs=1e-6)  # onset: nothing yet
        for c, t in zip(cum[2:], truth[2:], strict=True):
            assert c == pytest.approx(t, rel=CLEAN_REL_TOL, abs=CLEAN_ABS_TOL_M)
        # the reference tail scales with the source: cum / truth is one constant
        ratios = [c / t for c, t in zip(cum[2:], truth[2:], strict=True)]
        assert max(ratios) - min(ratios) < 1e-4


def test_lstt_rejects_after_deformation_not_before(noisy: tuple[Path, SeriesScenario],
                                                   model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root, scenario = noisy
    truth = _truth(root)
    rc, records, err = _run(capsys, root, model=model_path)
    assert rc == 0 and "error:" not in err
    assert [r["epoch"] for r in records] == [e.isoformat() for e in scenario.epochs]
    assert records[0]["scored"] is False
    assert all(r["series_method"] == "sbas" for r in records)
    # The intersection-union p-value is at most 5 % likely below 0.05 per epoch without
    # deformation; with this seed none of the three is.
    for rec in records[1:4]:
        assert rec["lstt_p"] > 0.05 and rec["lstt_reject"] is False
        assert rec["cum_max_m"] < NOISE_ABS_TOL_M
    # 3.3 cm and more of uplift against 4 mm of noise: the smallest possible p-value
    for rec, peak in zip(records[4:], truth[4:], strict=True):
        assert peak >= 0.03
        assert rec["lstt_p"] == pytest.approx(1 / 31) and rec["lstt_reject"] is True
        assert rec["cum_max_m"] == pytest.approx(peak, abs=NOISE_ABS_TOL_M)
        assert rec["lstt_pe"] > max(r["lstt_pe"] for r in records[1:4])


def _spoil(layout: FrameLayout, pair: tuple[date, date], how: str) -> Path:
    """Damage one product of a copied archive; return the file named in the error."""
    unw, cc = layout.unw(*pair), layout.cc(*pair)
    if how == "garbage":
        unw.write_bytes(b"this is not a GeoTIFF")
        return unw
    if how == "wrong grid":
        write_raster(unw, np.ones((90, 90), np.float32), crs="EPSG:4326",
                     transform=from_origin(120.94, 14.05, 0.001, 0.001))
        return unw
    if how == "missing coherence":
        cc.unlink()
        return cc
    # coherence 20/255 = 0.08 everywhere: nothing above the 0.1 threshold
    write_raster(cc, np.full((96, 96), 20), dtype="uint8", nodata=0,
                 **_georef(layout, pair))
    return unw


def _georef(layout: FrameLayout, pair: tuple[date, date]) -> dict[str, Any]:
    r = read_raster(layout.unw(*pair))
    return {"crs": r.crs, "transform": r.transform}


@pytest.mark.parametrize("how", ["garbage", "wrong grid", "missing coherence", "incoherent"])
def test_bad_product_is_skipped_named_and_splits_the_series(
        clean: tuple[Path, SeriesScenario], model_path: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], how: str) -> None:
    src, scenario = clean
    root = tmp_path / "archive"
    shutil.copytree(src, root)
    ep = scenario.epochs
    named = _spoil(FrameLayout(root, FRAME), (ep[2], ep[3]), how)
    _, good, _ = _run(capsys, src, model=model_path)
    rc, records, err = _run(capsys, root, model=model_path)
    assert rc == 3  # RasterError / DatasetError exit code, after every epoch was printed
    assert f"skipped pair {ep[2].isoformat()}_{ep[3].isoformat()}" in err and str(named) in err
    assert "network gap between 2024-01-30 and 2024-02-11" in err
    assert [r["epoch"] for r in records] == [e.isoformat() for e in ep]
    # before the gap: unchanged
    for a, b in zip(records[:3], good[:3], strict=True):
        assert a["cum_max_m"] == b["cum_max_m"] and a["relative_to"] == b["relative_to"]
    # after it the series restarts at ep[3]: nothing is bridged or invented
    assert records[3]["scored"] is False and "network gap" in records[3]["note"]
    assert all(r["relative_to"] == ep[3].isoformat() for r in records[3:])
    truth = _truth(src)
    ratio = good[5]["cum_max_m"] / truth[5]
    for k in (4, 5):
        assert records[k]["cum_max_m"] == pytest.approx((truth[k] - truth[3]) * ratio,
                                                        rel=1e-3)
        assert records[k]["support_min"] == k - 3


def test_last_product_missing_leaves_its_epoch_unscored(
        clean: tuple[Path, SeriesScenario], model_path: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    src, scenario = clean
    root = tmp_path / "archive"
    shutil.copytree(src, root)
    ep = scenario.epochs
    _spoil(FrameLayout(root, FRAME), (ep[4], ep[5]), "garbage")
    rc, records, _ = _run(capsys, root, model=model_path)
    assert rc == 3 and [r["epoch"] for r in records] == [e.isoformat() for e in ep]
    last = records[-1]
    assert last["scored"] is False and last["relative_to"] is None
    assert "no readable interferogram includes this epoch" in last["note"]


def test_no_readable_product(clean: tuple[Path, SeriesScenario], model_path: Path,
                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, scenario = clean
    root = tmp_path / "archive"
    shutil.copytree(src, root)
    layout = FrameLayout(root, FRAME)
    for pair in layout.pairs():
        _spoil(layout, pair, "garbage")
    rc, records, err = _run(capsys, root, model=model_path)
    assert rc == 3 and records == []
    assert "no readable interferogram" in err and "5 failed" in err


def test_text_output(clean: tuple[Path, SeriesScenario], model_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    root, scenario = clean
    rc = main(["scan-series", str(root), "--frame", FRAME, "--target", TARGET,
               "--model", str(model_path), "--permutations", PERMUTATIONS])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and len(lines) == scenario.n_epochs
    assert lines[0].startswith("2024-01-06: not scored")
    assert "P=" in lines[-1] and "cum_max" in lines[-1] and "LSTT" in lines[-1]


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--target", "121.5,14.0"), 2, "--target 121.5,14.0 lies outside the frame"),
    (("--target", "east,north"), 2, "--target 'east,north': expected LON,LAT"),
    (("--target", "120.99"), 2, "expected LON,LAT or LON,LAT,RADIUS_KM"),
    (("--target", "120.99,14.0,-1"), 2, "radius must be a positive"),
    (("--frame", "022D_00000_000000"), 3, "no directory"),
    (("--frame", "frame1"), 3, "does not look like a LiCSAR frame"),
    (("--references", "121.0,14.0"), 2, "--references '121.0,14.0': expected LON,LAT,RADIUS"),
    (("--references", "125.0,14.0,1"), 2, "--references 125.0,14.0 lies outside the frame"),
    (("--references", "121.03,14.04,0.8;121.0,14.0,1"), 2,
     "reference 2 (disc 121.0,14.0 radius 1.0 km) overlaps the target disc"),
    (("--permutations", "0"), 2, "--permutations must be at least 1"),
])
def test_bad_arguments(clean: tuple[Path, SeriesScenario], model_path: Path,
                       capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int,
                       message: str) -> None:
    root, _ = clean
    opts = dict(zip(args[::2], args[1::2], strict=True))
    frame = opts.pop("--frame", FRAME)
    target = opts.pop("--target", TARGET)
    extra = [x for kv in opts.items() for x in kv]
    rc, _, err = _run(capsys, root, *extra, model=model_path, frame=frame, target=target)
    assert rc == code
    assert message in err


def test_daisy_network_refused_on_a_redundant_network(
        noisy: tuple[Path, SeriesScenario], model_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = noisy
    rc, records, err = _run(capsys, root, "--network", "daisy", model=model_path)
    assert rc == 2 and records == []
    assert "--network daisy" in err and "non-consecutive pairs" in err


def test_missing_archive_and_models(clean: tuple[Path, SeriesScenario], model_path: Path,
                                   cnn_config: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = clean
    rc, _, err = _run(capsys, tmp_path / "nowhere", model=model_path)
    assert rc == 3 and "archive directory" in err and "does not exist" in err
    rc, _, err = _run(capsys, root, model=tmp_path / "missing.pt")
    assert rc == 6 and "missing.pt" in err
    # no --model and no packaged weights: the detector helpers' ModelError
    import monitor.io.models as models

    monkeypatch.setattr(models, "packaged_weights", lambda arch: tmp_path / f"{arch}.pt")
    rc, records, err = _run(capsys, root)
    assert rc == 6 and records == []
    assert "no packaged block detector" in err and "train-blocks" in err
    rc, records, err = _run(capsys, root, "--config", str(cnn_config))
    assert rc == 6 and records == []
    assert "no packaged 'compact' detector weights" in err and "--model" in err


@pytest.fixture(scope="module")
def stratified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Agung relief (224 x 224 pixels), strong stratification per date, 6 epochs 12 days
    apart: ``quiet`` without a source, ``inflating`` with a Mogi source at 0.5 m/yr from
    the first epoch (as in test_correction_pipeline.py)."""
    out = {}
    for name, onset in (("quiet", None), ("inflating", date(2024, 1, 6))):
        root = tmp_path_factory.mktemp(name)
        scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=6, onset=onset,
                                  rate_m_per_yr=0.5, stratified_strength="strong",
                                  decorrelate=False)
        write_synthetic_archive(root, scenario=scenario, frame=FRAME, volcano="agung",
                                size_px=224, seed=1)
        out[name] = root
    return out


def _agung(capsys: pytest.CaptureFixture[str], root: Path, config: Path,
           *extra: str) -> list[dict[str, Any]]:
    """Scan-series of an Agung archive with the packaged CNN (target 3 km disc)."""
    lon, lat = KNOWN_VOLCANOES["agung"]
    rc, records, err = _run(capsys, root, "--threads", "1", "--config", str(config), *extra,
                            target=f"{lon},{lat},3")
    assert rc == 0, err
    return records


def test_second_look_clears_stratified_epochs_and_keeps_inflation(
        stratified: dict[str, Path], cnn_config: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The packaged detector flags every epoch of the quiet Agung series (raw P 0.59-0.93
    when written); the epochs whose raw scores qualify for an alert (the LSTT rejects too)
    get the second look, which clears them, so no epoch keeps an alert level; the
    inflating source stays flagged from its third epoch on (3.3 cm and more)."""
    raw = _agung(capsys, stratified["quiet"], cnn_config, "--no-second-look")[1:]
    looked = _agung(capsys, stratified["quiet"], cnn_config)[1:]
    assert all(r["flag"] for r in raw)
    assert all(r["correction_method"] is None and r["p_fused_raw"] is None for r in raw)
    assert all(r["level"] == "none" for r in looked)
    # the calibrated LSTT (empirical null) rejects the strong stratification on some
    # epochs: those are looked at again
    assert any(r["level"] != "none" for r in raw)
    for before, after in zip(raw, looked, strict=True):
        if before["level"] == "none":
            assert after["correction_method"] is None
            continue
        assert after["correction_method"] == "empirical"
        assert after["p_fused_raw"] == pytest.approx(before["p_fused"], abs=1e-6)
        assert after["correction"]["order"] == 2 and after["correction"]["n_pixels"] >= 200
        assert after["flag"] is False and after["p_fused"] < 0.5
    inflating = _agung(capsys, stratified["inflating"], cnn_config)[1:]
    assert all(r["correction_method"] == "empirical" for r in inflating if r["p_fused_raw"])
    assert all(r["flag"] for r in inflating[1:])


def test_second_look_without_a_dem_says_so(
        stratified: dict[str, Path], cnn_config: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "no_dem"
    shutil.copytree(stratified["quiet"], root)
    for hgt in root.rglob("*.geo.hgt.tif"):
        hgt.unlink()
    records = _agung(capsys, root, cnn_config)[1:]
    assert records and all(r["flag"] for r in records)  # the raw decision stands
    # the epochs whose raw scores qualify for an alert (the LSTT rejects too) try it
    tried = [r for r in records if r["correction_method"] is not None]
    assert tried
    for r in tried:
        assert r["correction_method"] == "none" and r["p_fused"] == r["p_fused_raw"]
        assert "no DEM" in r["correction"]["reason"]
    # The text line says it too.
    lon, lat = KNOWN_VOLCANOES["agung"]
    main(["scan-series", str(root), "--frame", FRAME, f"--target={lon},{lat},3",
          "--threads", "1", "--permutations", PERMUTATIONS, "--config", str(cnn_config)])
    out = capsys.readouterr().out
    assert "second look not possible: " in out and "no DEM" in out
