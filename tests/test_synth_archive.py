from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from monitor.errors import DatasetError, InputError
from monitor.io.licsar import FrameLayout, parse_metadata_txt, parse_pair
from monitor.io.rasters import read_raster
from monitor.io.synth_archive import network_pairs, write_synthetic_archive
from monitor.science.geometry import SENTINEL1, phase_to_displacement
from monitor.science.synth_series import SeriesScenario

FRAME = "022D_04826_121209"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SeriesScenario]:
    root = tmp_path_factory.mktemp("archive")
    scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=8, interval_days=12,
                              onset=date(2024, 2, 11), rate_m_per_yr=0.5,
                              decorrelate=False, turbulent_sigma_m=0.0,
                              stratified_strength="none")
    write_synthetic_archive(root, scenario=scenario, frame=FRAME, volcano="synthetic",
                            centre_lonlat=(14.14, 40.83), size_px=64, seed=3)
    return root, scenario


def test_layout_dates_and_georeference(archive: tuple[Path, SeriesScenario]) -> None:
    root, scenario = archive
    layout = FrameLayout(root, FRAME)
    pairs = layout.pairs()
    assert pairs == [(scenario.epochs[i], scenario.epochs[i + 1]) for i in range(7)]
    unw = layout.read_unw(*pairs[0])
    assert unw.crs == "EPSG:4326"
    assert unw.transform.a == pytest.approx(0.001) and unw.transform.e == pytest.approx(-0.001)
    lon, lat = unw.lonlat(31.5, 31.5)
    assert lon == pytest.approx(14.14, abs=1e-3) and lat == pytest.approx(40.83, abs=1e-3)
    cc = read_raster(layout.cc(*pairs[0]))
    assert cc.data.max() <= 255 and cc.data.min() >= 1
    raw = layout.cc(*pairs[0])
    import rasterio

    with rasterio.open(raw) as src:
        assert src.dtypes[0] == "uint8"
    with rasterio.open(layout.unw(*pairs[0])) as src:
        assert src.dtypes[0] == "float32"
    for kind in ("hgt", "E", "N", "U"):
        r = read_raster(layout.metadata_raster(kind))
        assert r.shape == (64, 64) and r.transform == unw.transform
    e, n, u = (read_raster(layout.metadata_raster(k)).data[0, 0] for k in "ENU")
    assert e * e + n * n + u * u == pytest.approx(1.0, rel=1e-5)
    meta = layout.read_metadata()
    assert float(meta["heading"]) == pytest.approx(-169.8)
    assert float(meta["avg_incidence_angle"]) == pytest.approx(39.0)
    lines = layout.baselines.read_text().splitlines()
    assert len(lines) == 8 and lines[0].startswith("20240106 20240106")


def test_noise_free_archive_sums_to_truth(archive: tuple[Path, SeriesScenario]) -> None:
    root, scenario = archive
    layout = FrameLayout(root, FRAME)
    truth = json.loads((root / f"{FRAME}.synth_truth.json").read_text())
    cum = np.zeros((64, 64), np.float32)
    peaks = [0.0]
    for d1, d2 in layout.pairs():
        cum = cum + phase_to_displacement(layout.read_unw(d1, d2).data, SENTINEL1)
        peaks.append(float(np.max(cum)))
    expected = [0.5 * max(0, (ep - scenario.onset).days) / 365.25 for ep in scenario.epochs]
    np.testing.assert_allclose(truth["peak_los_m"], expected, atol=1e-9)
    # No atmosphere, no decorrelation: the daisy-chain sum is the deformation put in, an
    # uplift seen as positive LOS, to float32 precision.
    np.testing.assert_allclose(peaks, expected, atol=1e-5)


def test_same_seed_same_archive(tmp_path: Path) -> None:
    scenario = SeriesScenario(n_epochs=3, onset=None)
    for sub in ("a", "b"):
        write_synthetic_archive(tmp_path / sub, scenario=scenario, frame=FRAME,
                                volcano="synthetic", size_px=32, seed=11)
    la, lb = FrameLayout(tmp_path / "a", FRAME), FrameLayout(tmp_path / "b", FRAME)
    for pair in la.pairs():
        np.testing.assert_array_equal(la.read_unw(*pair).data, lb.read_unw(*pair).data)


def test_decorrelated_archive_has_nan_and_zero_nodata(tmp_path: Path) -> None:
    scenario = SeriesScenario(n_epochs=3, onset=None, decorrelate=True)
    write_synthetic_archive(tmp_path, scenario=scenario, frame=FRAME, volcano="synthetic",
                            size_px=64, seed=5)
    layout = FrameLayout(tmp_path, FRAME)
    d1, d2 = layout.pairs()[0]
    unw = layout.read_unw(d1, d2).data
    cc = layout.read_cc(d1, d2)
    assert 0 < np.isnan(unw).mean() < 0.9
    np.testing.assert_array_equal(np.isnan(unw), ~(cc > 0.1))


def test_nearest_three_network() -> None:
    assert network_pairs(5, "nearest3") == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (1, 4),
                                            (2, 3), (2, 4), (3, 4)]
    with pytest.raises(InputError, match="unknown network"):
        network_pairs(5, "star")  # type: ignore[arg-type]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="frame id"):
        write_synthetic_archive(tmp_path, scenario=SeriesScenario(), frame="bad")
    with pytest.raises(InputError, match="unknown volcano"):
        write_synthetic_archive(tmp_path, scenario=SeriesScenario(), volcano="etna")
    with pytest.raises(InputError, match="onset"):
        SeriesScenario(n_epochs=3, onset=date(2030, 1, 1))
    with pytest.raises(InputError, match="n_epochs"):
        SeriesScenario(n_epochs=1)


def test_licsar_name_parsing(tmp_path: Path) -> None:
    assert parse_pair("20240106_20240118") == (date(2024, 1, 6), date(2024, 1, 18))
    with pytest.raises(DatasetError, match="second date"):
        parse_pair("20240118_20240106")
    with pytest.raises(DatasetError, match="not a YYYYMMDD date"):
        parse_pair("20241306_20241318")
    meta = tmp_path / "metadata.txt"
    meta.write_text("heading=-10.5\n# comment\n\nbroken line\n")
    with pytest.raises(DatasetError, match="metadata.txt:4: expected key=value"):
        parse_metadata_txt(meta)


def test_coherence_encodings(tmp_path: Path) -> None:
    from monitor.io.rasters import write_raster

    layout = FrameLayout(tmp_path, FRAME)
    d1, d2 = date(2024, 1, 6), date(2024, 1, 18)
    low = np.full((4, 4), 1.0)
    low[0, 0] = 0
    write_raster(layout.cc(d1, d2), low, dtype="uint8", nodata=0)
    cc = layout.read_cc(d1, d2)
    assert cc[1, 1] == pytest.approx(1 / 255) and np.isnan(cc[0, 0])
    write_raster(layout.cc(d1, d2), np.full((4, 4), 0.7))
    assert layout.read_cc(d1, d2)[1, 1] == pytest.approx(0.7)
    write_raster(layout.cc(d1, d2), np.full((4, 4), 3.0))
    with pytest.raises(DatasetError, match="coherence outside"):
        layout.read_cc(d1, d2)


def test_truth_exposes_stratified_zenith_delay() -> None:
    """Without turbulence the LOS atmosphere is exactly -s / cos(incidence)."""
    from monitor.science.synth_series import draw_series

    scenario = SeriesScenario(n_epochs=4, onset=None, turbulent_sigma_m=0.0,
                              stratified_strength="strong", decorrelate=False)
    dem = np.linspace(0, 2000, 32 * 32, dtype=np.float32).reshape(32, 32)
    truth = draw_series(np.random.default_rng(4), scenario, dem, (90.0, 110.0),
                        (0.6, -0.1, 0.79))
    s = truth.stratified_zenith_m
    assert s.shape == (4, 32, 32) and s.dtype == np.float32
    np.testing.assert_allclose(truth.atmosphere, -s / np.float32(0.79), rtol=1e-6, atol=1e-9)
    assert np.ptp(s[1] - s[0]) > 0.01  # strong stratification: centimetres over 2 km


@pytest.fixture(scope="module")
def delay_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("delays")
    scenario = SeriesScenario(n_epochs=6, onset=None, decorrelate=False,
                              turbulent_sigma_m=0.0, stratified_strength="strong")
    summary = write_synthetic_archive(root, scenario=scenario, frame=FRAME,
                                      volcano="synthetic", centre_lonlat=(14.14, 40.83),
                                      size_px=96, network="nearest3", seed=21,
                                      delays="gacos,icams")
    assert summary.delays == ("gacos", "icams")
    return root


def test_delays_do_not_change_the_rest_of_the_archive(delay_archive: Path,
                                                      tmp_path: Path) -> None:
    scenario = SeriesScenario(n_epochs=6, onset=None, decorrelate=False,
                              turbulent_sigma_m=0.0, stratified_strength="strong")
    write_synthetic_archive(tmp_path, scenario=scenario, frame=FRAME, volcano="synthetic",
                            centre_lonlat=(14.14, 40.83), size_px=96, network="nearest3",
                            seed=21)
    plain, with_delays = FrameLayout(tmp_path, FRAME), FrameLayout(delay_archive, FRAME)
    assert not plain.epochs_dir.exists()
    for d1, d2 in plain.pairs():
        assert plain.unw(d1, d2).read_bytes() == with_delays.unw(d1, d2).read_bytes()
    assert plain.metadata_raster("hgt").read_bytes() == \
        with_delays.metadata_raster("hgt").read_bytes()


def test_delay_differences_reproduce_the_stratified_truth(delay_archive: Path) -> None:
    """-(ztd_j - ztd_i) / cos(inc) predicts each interferogram (all stratified delay here)
    to the weather model's error, whose per-pixel std is sqrt(2) sigma / cos(inc) (sigma
    3 mm GACOS, 5 mm ICAMS): the RMS misfit stays under twice that, and where the
    stratified signal exceeds 8 mm (std) the misfit's std is under 0.6 times the signal's."""
    from monitor.io.delays import read_cos_incidence, read_delay_on_grid
    from monitor.io.licsar_frame import frame_grid
    from monitor.io.synth_archive import DELAY_MODEL_ERRORS

    layout = FrameLayout(delay_archive, FRAME)
    grid = frame_grid(read_raster(layout.metadata_raster("hgt")))
    cos_inc = read_cos_incidence(str(layout.metadata_raster("U")), None, grid)
    hgt = read_raster(layout.metadata_raster("hgt")).data
    for kind, (sigma_m, _) in DELAY_MODEL_ERRORS.items():
        ztd = {d: read_delay_on_grid(layout.epoch_delay(d, kind), grid)
               for d in {d for pair in layout.pairs() for d in pair}}
        # Total delays are about 2.3 m * exp(-h / 7 km): metres, not radians.
        z0 = next(iter(ztd.values()))
        assert np.nanmedian(np.abs(z0 - 2.3 * np.exp(-hgt / 7000.0))) < 0.05
        model_std = math.sqrt(2) * sigma_m / float(np.mean(cos_inc))
        strong = 0
        for d1, d2 in layout.pairs():
            ifg = phase_to_displacement(layout.read_unw(d1, d2).data, SENTINEL1)
            misfit = -(ztd[d2] - ztd[d1]) / cos_inc - ifg
            assert 1e-4 < float(np.sqrt(np.nanmean(misfit ** 2))) < 2 * model_std, \
                (kind, d1, d2)
            if np.nanstd(ifg) > 0.008:
                strong += 1
                assert np.nanstd(misfit) < 0.6 * np.nanstd(ifg), (kind, d1, d2)
        assert strong >= 3  # the test sees the stratified signal, not only the error


def test_delay_files_reproducible_and_models_differ(delay_archive: Path,
                                                    tmp_path: Path) -> None:
    layout = FrameLayout(delay_archive, FRAME)
    d = layout.pairs()[0][0]
    gacos = read_raster(layout.epoch_delay(d, "gacos"))
    icams = read_raster(layout.epoch_delay(d, "icams"))
    assert gacos.transform == read_raster(layout.unw(*layout.pairs()[0])).transform
    assert gacos.crs == "EPSG:4326"
    assert 1e-4 < float(np.std(gacos.data - icams.data)) < 0.02
    scenario = SeriesScenario(n_epochs=6, onset=None, decorrelate=False,
                              turbulent_sigma_m=0.0, stratified_strength="strong")
    write_synthetic_archive(tmp_path, scenario=scenario, frame=FRAME, volcano="synthetic",
                            centre_lonlat=(14.14, 40.83), size_px=96, network="nearest3",
                            seed=21, delays=["icams"])
    again = FrameLayout(tmp_path, FRAME)
    assert again.epoch_delay(d, "icams").read_bytes() == \
        layout.epoch_delay(d, "icams").read_bytes()  # same model error whatever else is asked
    assert not again.epoch_delay(d, "gacos").exists()
    with pytest.raises(InputError, match="unknown delay model"):
        write_synthetic_archive(tmp_path, scenario=scenario, frame=FRAME, volcano="synthetic",
                                size_px=32, seed=1, delays="gacos,era5")


def test_slant_delays_are_zenith_over_u(delay_archive: Path, tmp_path: Path) -> None:
    """The portal's .sltd files are zenith delays divided by the U raster."""
    scenario = SeriesScenario(n_epochs=6, onset=None, decorrelate=False,
                              turbulent_sigma_m=0.0, stratified_strength="strong")
    write_synthetic_archive(tmp_path, scenario=scenario, frame=FRAME, volcano="synthetic",
                            centre_lonlat=(14.14, 40.83), size_px=96, network="nearest3",
                            seed=21, delays="gacos", delay_geometry="slant")
    zenith, slant = FrameLayout(delay_archive, FRAME), FrameLayout(tmp_path, FRAME)
    u = read_raster(slant.metadata_raster("U")).data
    d = zenith.pairs()[-1][1]
    np.testing.assert_allclose(read_raster(slant.epoch_delay(d, "gacos")).data,
                               read_raster(zenith.epoch_delay(d, "gacos")).data / u, rtol=1e-6)
    with pytest.raises(InputError, match="delay_geometry"):
        write_synthetic_archive(tmp_path, scenario=scenario, frame=FRAME, size_px=32,
                                volcano="synthetic", delays="gacos",
                                delay_geometry="vertical")  # type: ignore[arg-type]
