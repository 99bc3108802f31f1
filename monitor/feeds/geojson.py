"""A GeoJSON FeatureCollection (RFC 7946) of every watched target: a Point at its centre
(``[lon, lat]``) and, as properties, its deformation notice level, the newest scores, each
frame's lag and the notice text. NaN and missing values are ``null``; ``json.dumps`` runs
with ``allow_nan=False`` so nothing else slips through.

``lag_days`` of a frame is how late its newest acquisition came in: days from the
acquisition (midnight UTC) to its ingestion, read from the store; a reader's own clock and
``newest_epoch`` give the data's age now. Nothing here reads a clock, so the same store
gives the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from monitor.feeds import wording
from monitor.feeds.cap import cap_file_name
from monitor.feeds.records import TargetState

#: The file name of the map in the feeds' folder.
GEOJSON_FILE = "alerts.geojson"


def _num(x: float | None, digits: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def feature(t: TargetState) -> dict[str, Any]:
    """One target as a GeoJSON Feature."""
    d = t.disc
    return {
        "type": "Feature",
        "id": d.target_id,
        "geometry": {"type": "Point", "coordinates": [round(d.lon, 6), round(d.lat, 6)]},
        "properties": {
            "id": d.target_id,
            "name": d.name,
            "radius_km": d.radius_km,
            "level": wording.level_name(t.level),
            "level_number": int(t.level),
            "level_since": t.level_since.isoformat() if t.level_since else None,
            "official_volcano_alert_level": False,
            "epoch": t.epoch.isoformat() if t.epoch else None,
            "frame": t.frame,
            "p_decision": _num(t.p_decision, 4),
            "p_raw": _num(t.p_raw, 4),
            "lstt_p": _num(t.lstt_p, 6),
            "displacement_m": _num(t.displacement_m, 4),
            "displacement_direction": wording.direction(t.displacement_m),
            "frames": [{"frame": f.frame,
                        "newest_epoch": f.newest_epoch.isoformat() if f.newest_epoch else None,
                        "ingested_at": f.ingested_at.isoformat() if f.ingested_at else None}
                       for f in t.frames],
            "lag_days": {f.frame: _num(f.lag_days, 2) for f in t.frames},
            "alerts": t.alerts,
            "unacknowledged_alerts": t.unacknowledged,
            "latest_notice": cap_file_name(t.latest_notice) if t.latest_notice else None,
            "notice": wording.target_notice(d.name, t.level, t.level_since, t.epoch),
        },
    }


def feature_collection(targets: Sequence[TargetState]) -> dict[str, Any]:
    """The FeatureCollection of ``targets``, in their order."""
    return {"type": "FeatureCollection", "features": [feature(t) for t in targets]}


def geojson_bytes(targets: Sequence[TargetState]) -> bytes:
    """The FeatureCollection as UTF-8 JSON (indented, keys in a fixed order)."""
    text = json.dumps(feature_collection(targets), allow_nan=False, ensure_ascii=False,
                      indent=2)
    return (text + "\n").encode("utf-8")
