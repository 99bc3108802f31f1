"""PALSAR-2 scenes and the coherent pairs the watch makes of them (pure: no I/O).

Two PALSAR-2 acquisitions make a usable interferogram only when they were taken from the
same orbit track, in the same observation mode and beam, and not too far apart in time
(the Tellus InSAR tutorial, section 1: "path number", "frame number",
"beam number" and "mode" must match; "most analyses are made in intervals of a couple of
months"). :func:`select_pairs` keeps the scenes of one geometry (path, frame, beam, mode)
that carry the wanted polarisation, and pairs consecutive acquisitions into a daisy chain,
plus optional extra pairs to the next acquisitions (so a bad date can be bridged), never
across more than ``max_gap_days``.

A watched PALSAR-2 frame is named ``P<path>F<frame>`` (``P018F2900``: path 18, frame 2900,
three and four digits); its beam and mode come from the archive's configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.config import PALSAR2_FRAME_PATTERN
from monitor.errors import ArchiveError, InputError

#: A PALSAR-2 frame id of the watch: path 001-207, frame 0000-7199 (the configuration's
#: pattern: targets are validated with it when loaded).
PALSAR2_FRAME_RE = re.compile(PALSAR2_FRAME_PATTERN)
#: A scene id as the cache uses it for a directory name (the Tellus ``dataset_id``,
#: e.g. ``ALOS2206702900-180322``).
DATASET_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: PALSAR-2 polarisations.
POLARISATIONS = ("HH", "HV", "VH", "VV")
#: Highest path number of ALOS-2's 14-day repeat cycle (207 orbits).
MAX_PATH = 207
#: Frame numbers run 0000-7199 along one orbit (0.05 degree of orbit each).
MAX_FRAME = 7199


def parse_frame_id(frame: str) -> tuple[int, int]:
    """The path and frame numbers of a watch frame id ``P<path>F<frame>``.

    Raises:
        InputError: not of that form, or the numbers out of PALSAR-2's ranges.
    """
    m = PALSAR2_FRAME_RE.match(frame)
    if m is None:
        raise InputError(f"frame={frame!r} is not a PALSAR-2 frame id; expected "
                         f"P<path>F<frame> with 3 and 4 digits (paths 1-{MAX_PATH}, frames "
                         f"0-{MAX_FRAME}), e.g. P018F2900")
    return int(m.group(1)), int(m.group(2))


def frame_id(path: int, frame: int) -> str:
    """The watch frame id of a path and frame number (``frame_id(18, 2900)`` ->
    ``"P018F2900"``)."""
    return f"P{path:03d}F{frame:04d}"


@dataclass(frozen=True)
class SceneInfo:
    """One PALSAR-2 L1.1 scene as the search API describes it.

    Attributes:
        dataset_id: The archive's scene id (safe as a directory name).
        path: Path (orbit track) number, 1-207.
        frame: Frame number, 0-7199.
        beam: Beam number (observation mode and off-nadir angle, e.g. ``U2-8``).
        mode: Observation mode (e.g. ``SM1``, 3 m stripmap).
        polarisations: Polarisations the product holds (``("HH",)``, ``("HH", "HV")``).
        acquired: Acquisition date (UTC) of the scene's start.
        off_nadir_deg: Off-nadir angle, degrees, when the API gives it.
        bbox: ``(lon_min, lat_min, lon_max, lat_max)``, degrees, when given.
    """

    dataset_id: str
    path: int
    frame: int
    beam: str
    mode: str
    polarisations: tuple[str, ...]
    acquired: date
    off_nadir_deg: float | None = None
    bbox: tuple[float, float, float, float] | None = None

    @property
    def geometry(self) -> tuple[int, int, str, str]:
        """What two scenes must share to be paired: path, frame, beam and mode."""
        return (self.path, self.frame, self.beam, self.mode)


@dataclass(frozen=True)
class ScenePair:
    """Two scenes of one geometry, ``primary`` acquired before ``secondary``."""

    primary: SceneInfo
    secondary: SceneInfo

    @property
    def gap_days(self) -> int:
        """Days between the two acquisitions."""
        return (self.secondary.acquired - self.primary.acquired).days


def _describe(geometry: tuple[int, int, str, str]) -> str:
    return f"beam {geometry[2]} mode {geometry[3]}"


def select_pairs(scenes: Iterable[SceneInfo], *, path: int, frame: int, polarisation: str,
                 max_gap_days: int, beam: str | None = None, mode: str | None = None,
                 extra_pairs: int = 0, since: date | None = None) -> list[ScenePair]:
    """The coherent pairs of one frame: a daisy chain of consecutive acquisitions plus
    ``extra_pairs`` more per scene, none longer than ``max_gap_days``.

    Scenes of another path or frame, of another beam or mode than given, or without
    ``polarisation`` are left out. The remaining scenes must share one geometry: a frame
    seen in two beams (or modes) with neither configured is refused rather than mixed
    into one series. Of two scenes of the same date, the one with the larger
    ``dataset_id`` (the later processing) is kept.

    Args:
        scenes: What the search found (any order, any frames).
        path: Path number of the frame.
        frame: Frame number.
        polarisation: ``HH``, ``HV``, ``VH`` or ``VV``.
        max_gap_days: Longest time between the two dates of a pair, days.
        beam: Beam number to keep (None: the frame's only one).
        mode: Observation mode to keep (None: the frame's only one).
        extra_pairs: Each scene is also paired with this many further acquisitions
            after the next one (within ``max_gap_days``): 0 gives the bare daisy chain.
        since: Only pairs whose second date is after it (None: all).

    Returns:
        The pairs sorted by (first date, second date).

    Raises:
        InputError: a bad argument.
        ArchiveError: the frame's scenes come in several geometries and ``beam`` / ``mode``
            do not say which one to watch.
    """
    if polarisation not in POLARISATIONS:
        raise InputError(f"polarisation={polarisation!r}: expected one of {POLARISATIONS}")
    if max_gap_days < 1 or extra_pairs < 0:
        raise InputError(f"max_gap_days={max_gap_days} must be >= 1 and extra_pairs="
                         f"{extra_pairs} >= 0")
    kept = [s for s in scenes
            if s.path == path and s.frame == frame and polarisation in s.polarisations
            and (beam is None or s.beam == beam) and (mode is None or s.mode == mode)]
    counts: dict[tuple[int, int, str, str], int] = {}
    for s in kept:
        counts[s.geometry] = counts.get(s.geometry, 0) + 1
    if len(counts) > 1:
        seen = ", ".join(f"{_describe(g)} ({n} scenes)" for g, n in sorted(counts.items()))
        raise ArchiveError(
            f"frame {frame_id(path, frame)} has {polarisation} scenes in several geometries "
            f"({seen}); they cannot be paired into one series: set beam = \"...\" and "
            "mode = \"...\" in the archive's configuration")
    by_date: dict[date, SceneInfo] = {}
    for s in sorted(kept, key=lambda s: (s.acquired, s.dataset_id)):
        by_date[s.acquired] = s
    chain = [by_date[d] for d in sorted(by_date)]
    gap = timedelta(days=max_gap_days)
    pairs = []
    for i, first in enumerate(chain):
        for second in chain[i + 1: i + 2 + extra_pairs]:
            if second.acquired - first.acquired > gap:
                break
            if since is None or second.acquired > since:
                pairs.append(ScenePair(first, second))
    return sorted(pairs, key=lambda p: (p.primary.acquired, p.secondary.acquired))
