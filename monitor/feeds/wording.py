"""What the feeds say in words, and how a level maps to CAP's urgency, severity and
certainty: once, for the CAP documents, the Atom entries and the GeoJSON map.

Every notice says plainly that it is an automated deformation notice from satellite radar
(InSAR) and **not an official volcano alert level**: the watch's levels (``watch``,
``warning``) grade how sure the detector is that the ground moves, nothing more; volcano
alert levels are issued by the observatory responsible for the volcano alone.

CAP mapping (:data:`CAP_GRADES`), chosen to never outrank an observatory:

| level | urgency | severity | certainty | responseType |
| --- | --- | --- | --- | --- |
| ``watch`` (1) | Future | Minor | Possible | Monitor |
| ``warning`` (2) | Future | Moderate | Likely | Assess |
| cleared (0) | Past | Minor | Unlikely | AllClear |

*Urgency* is ``Future`` (an assessment by the observatory in the near future), never
``Immediate``: the radar sees the ground every 6-12 days and the notice comes after the
acquisition's processing lag. *Severity* stays ``Minor``/``Moderate``: deformation is not
by itself a threat to life, and the hazard is for the observatory to judge. *Certainty* is
the detector's (a fused CNN probability of 0.5 or more with the LSTT: ``Possible``; 0.8 or
more, or a fast change: ``Likely``), not the certainty of an eruption.
"""

from __future__ import annotations

import math
from datetime import date
from typing import NamedTuple

from monitor.domain import AlertLevel

#: CAP ``event`` of every notice.
EVENT = "Ground deformation (automated InSAR detection)"
#: CAP ``senderName``.
SENDER_NAME = "insar-monitor (automated satellite radar deformation detection)"
#: The sentence every text carries.
NOT_OFFICIAL = ("This is an automated deformation notice from satellite radar (InSAR), "
                "not an official volcano alert level; only the volcano observatory issues "
                "those.")
#: CAP ``instruction``.
INSTRUCTION = ("Refer to the volcano observatory responsible for this volcano for the "
               "official volcano alert level and any advice. This notice is an input to "
               "their assessment.")
#: Longest target name a headline quotes (CAP asks for headlines under 160 characters).
HEADLINE_NAME_CHARS = 60


class CapGrades(NamedTuple):
    """CAP ``urgency``, ``severity``, ``certainty`` and ``responseType`` of a level."""

    urgency: str
    severity: str
    certainty: str
    response: str


#: The mapping of the module docstring.
CAP_GRADES: dict[AlertLevel, CapGrades] = {
    AlertLevel.WATCH: CapGrades("Future", "Minor", "Possible", "Monitor"),
    AlertLevel.WARNING: CapGrades("Future", "Moderate", "Likely", "Assess"),
    AlertLevel.NONE: CapGrades("Past", "Minor", "Unlikely", "AllClear"),
}


def level_name(level: AlertLevel) -> str:
    """``watch``, ``warning`` or ``none``."""
    return AlertLevel(level).name.lower()


def level_phrase(level: AlertLevel) -> str:
    """``deformation level watch (1 of 2)``: how a level is named in sentences."""
    top = max(AlertLevel).value
    return f"deformation level {level_name(level)} ({int(level)} of {top})"


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def fmt_p(x: float | None) -> str:
    """A probability or p-value for a text (``n/a`` when missing)."""
    return f"{x:.3f}" if x is not None and _finite(x) else "n/a"


def fmt_lstt(x: float | None) -> str:
    return f"{x:.3g}" if x is not None and _finite(x) else "n/a"


def direction(displacement_m: float | None) -> str | None:
    """``towards the satellite`` (positive LOS: uplift seen from above), ``away from the
    satellite``, or None when not measured."""
    if displacement_m is None or not _finite(displacement_m):
        return None
    return "towards the satellite" if displacement_m >= 0 else "away from the satellite"


def displacement_phrase(displacement_m: float | None) -> str:
    """``1.2 cm towards the satellite`` or ``not measured``."""
    way = direction(displacement_m)
    if way is None or displacement_m is None:
        return "not measured"
    return f"{abs(displacement_m) * 100:.1f} cm {way}"


def short_name(name: str) -> str:
    one_line = " ".join(name.split())
    if len(one_line) <= HEADLINE_NAME_CHARS:
        return one_line
    return one_line[:HEADLINE_NAME_CHARS - 3].rstrip() + "..."


def headline(name: str, level: AlertLevel, epoch: date, cleared: bool) -> str:
    """CAP ``headline`` and Atom title/summary (under 160 characters)."""
    what = "cleared" if cleared else f"({level_name(level)})"
    return (f"Automated InSAR deformation notice {what} for {short_name(name)}, "
            f"acquisition {epoch:%Y-%m-%d}; not an official volcano alert level")


def target_notice(name: str, level: AlertLevel, since: date | None,
                  epoch: date | None) -> str:
    """One paragraph on where a target stands (GeoJSON ``notice``)."""
    if epoch is None:
        state = f"insar-monitor has not scored any satellite radar acquisition of {name} yet."
    elif level > AlertLevel.NONE:
        state = (f"Automated detection of ground deformation at {name} from satellite radar "
                 f"(InSAR): {level_phrase(level)}"
                 f"{f' since the acquisition of {since:%Y-%m-%d}' if since else ''}; newest "
                 f"acquisition scored {epoch:%Y-%m-%d}.")
    else:
        state = (f"No ground deformation detected automatically at {name} from satellite "
                 f"radar (InSAR); newest acquisition scored {epoch:%Y-%m-%d}.")
    return f"{state} {NOT_OFFICIAL}"
