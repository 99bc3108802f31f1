"""The command-line arguments the benches on a real LiCSAR-layout frame share.

Without ``--archive`` they run on the small real crop the tests use
(``tests/data/erta_ale_014A``: Erta Ale, Sentinel-1 014A), which only shows they run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.science.detect.series_gls import NoiseHistory
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.service.scoring import new_noise_history

#: The committed real crop (tests/data/erta_ale_014A/README.md gives its provenance).
CROP = Path(__file__).resolve().parent.parent / "tests" / "data" / "erta_ale_014A"


def add_real_frame_arguments(ap: argparse.ArgumentParser, events_help: str) -> None:
    """``--archive``, ``--frame`` and ``--events``, with the crop's frame and its dyke
    window (2017-01-11 to 2018-12-31) as defaults."""
    ap.add_argument("--archive", default=str(CROP))
    ap.add_argument("--frame", default="014A_07688_131313")
    ap.add_argument("--events", default="2017-01-11:2018-12-31", help=events_help)


def target_history(grid: FrameGrid, target: str) -> NoiseHistory:
    """The empty noise history of the watch's 20 km window around ``target``
    (``"LON,LAT"``, a 3 km target disc), as the watch starts one; exits naming the target
    when it lies too near the frame's edge for one."""
    lon, lat = (float(v) for v in target.split(","))
    history = new_noise_history(grid, GroundDisc(lon, lat, 3.0))
    if history is None:
        raise SystemExit(f"the target {target} is too near the frame's edge")
    return history
