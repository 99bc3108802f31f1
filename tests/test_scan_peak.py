"""On maps one patch wide the peak is reported where the deformation is, not at (0, 0).

A 200 x 200 map is covered by a single 224-pixel patch, so the merged probability is the
same at every pixel; the peak then goes to the largest smoothed displacement anomaly
(:func:`monitor.science.detect.fusion.peak_pixel`). Truth: a Mogi source off-centre,
plus turbulence drawn with a fixed generator; tolerance 3 pixels (300 m here, a tenth
of the source depth). The block detector (``scan``'s default) reports the centre of a
650 m block: its tolerance is half a block's diagonal (5 pixels of the GeoTIFF's 0.001
degree at 40.8 N, about 84 x 111 m).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from monitor.cli import main
from monitor.io.models import load_detector
from monitor.io.rasters import write_raster
from monitor.science.atmosphere import turbulent_delay
from monitor.science.detect.fusion import (
    PEAK_TIE_TOLERANCE,
    detect_displacement,
    detect_wrapped,
    fuse_maps,
    peak_pixel,
)
from monitor.science.geometry import wrap
from monitor.science.sources import mogi

SOURCE_RC = (62, 141)  # off-centre: upper right of the 200 x 200 map
PIXEL_M = 100.0
TOLERANCE_PX = 3


@pytest.fixture(scope="module")
def uplift() -> np.ndarray:
    """8-9 cm of Mogi uplift at ``SOURCE_RC`` (3 km deep) plus 3 mm turbulence, metres."""
    yy, xx = np.mgrid[:200, :200]
    d = mogi((xx - SOURCE_RC[1]) * PIXEL_M, (SOURCE_RC[0] - yy) * PIXEL_M, depth_m=3000.0,
             dvolume_m3=3e6).up
    t = turbulent_delay((200, 200), PIXEL_M, 0.003, 8000.0, np.random.default_rng(7))
    return (d + t).astype(np.float32)


def _off_by(row: int, col: int) -> float:
    return float(np.hypot(row - SOURCE_RC[0], col - SOURCE_RC[1]))


def test_the_merged_map_is_flat_yet_the_peak_is_on_the_source(uplift: np.ndarray) -> None:
    model = load_detector(None, None).model
    det = detect_displacement(model, uplift)
    assert np.ptp(det.prob_map) <= PEAK_TIE_TOLERANCE  # one patch: nothing to locate by P
    assert det.flag
    assert _off_by(det.peak_row, det.peak_col) <= TOLERANCE_PX, (det.peak_row, det.peak_col)


@pytest.mark.parametrize(("detector", "tolerance_px"), [("cnn", TOLERANCE_PX), ("blocks", 5)])
def test_scan_reports_the_peak_at_the_source(tmp_path: Path, uplift: np.ndarray,
                                             capsys: pytest.CaptureFixture[str],
                                             detector: str, tolerance_px: int) -> None:
    tif = tmp_path / "mogi200.tif"
    transform = from_origin(14.0, 40.9, 0.001, 0.001)
    write_raster(tif, uplift, crs="EPSG:4326", transform=transform)
    assert main(["scan", str(tif), "--json", "--detector", detector]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["flag"] and record["model"]["arch"] == ("blocks" if detector == "blocks"
                                                           else "compact")
    peak = record["peak"]
    assert _off_by(peak["row"], peak["col"]) <= tolerance_px, peak
    assert peak["lon"] == pytest.approx(14.0 + 0.001 * (SOURCE_RC[1] + 0.5),
                                        abs=0.001 * tolerance_px)
    assert peak["lat"] == pytest.approx(40.9 - 0.001 * (SOURCE_RC[0] + 0.5),
                                        abs=0.001 * tolerance_px)


def test_wrapped_phase_on_a_flat_map_peaks_at_the_centre_not_the_corner(
        uplift: np.ndarray) -> None:
    model = load_detector(None, None).model
    psi = wrap(-4.0 * np.pi * uplift / 0.05546576)
    det = detect_wrapped(model, psi)
    assert (det.peak_row, det.peak_col) != (0, 0)
    assert abs(det.peak_row - 99.5) <= 1 and abs(det.peak_col - 99.5) <= 1


def test_peak_pixel_rules() -> None:
    flat = np.full((5, 7), 0.8, np.float32)
    assert peak_pixel(flat) == (2, 3)  # centre of the tied region
    evidence = np.zeros((5, 7))
    evidence[4, 1] = 1.0
    assert peak_pixel(flat, evidence) == (4, 1)
    # a single maximum wins whatever the evidence says
    single = flat.copy()
    single[1, 5] = 0.9
    assert peak_pixel(single, evidence) == (1, 5)
    # ties within the tolerance only; NaN evidence falls back to the centre rule
    near = flat.copy()
    near[0, 0] = 0.8 + PEAK_TIE_TOLERANCE / 2
    assert peak_pixel(near, np.where(evidence > 0, 1.0, 0.0)) == (4, 1)
    assert peak_pixel(flat, np.full((5, 7), np.nan)) == (2, 3)
    # fuse_maps passes the evidence through; p_fused stays the maximum
    det = fuse_maps({1: near, 2: near}, evidence=evidence)
    assert (det.peak_row, det.peak_col) == (4, 1)
    # a flagged map: the evidence places the peak anywhere in the flagged region that
    # holds the maximum, not in another flagged island, and not below the threshold
    assert peak_pixel(single, evidence, threshold=0.5) == (4, 1)
    islands = np.full((5, 7), 0.2, np.float32)
    islands[0:2, 4:7] = 0.9
    islands[0, 6] = 0.95
    islands[4, 0:2] = 0.7
    strong = np.zeros((5, 7))
    strong[4, 1], strong[1, 4], strong[2, 2] = 5.0, 2.0, 9.0
    assert peak_pixel(islands, strong, threshold=0.5) == (1, 4)
    assert peak_pixel(islands, strong) == (0, 6)  # no threshold: ties only
    assert peak_pixel(islands * 0.5, strong, threshold=0.5) == (0, 6)  # not flagged
    flagged = fuse_maps({1: islands}, evidence=strong)
    assert (flagged.peak_row, flagged.peak_col) == (1, 4)
    assert flagged.p_fused == pytest.approx(0.95, rel=1e-6)
    assert det.p_fused == pytest.approx(float(near.max()))
