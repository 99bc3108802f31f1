"""Archive adapters: where interferograms come from (docs/architecture.md, Ports).

``LocalArchive`` reads a directory in the LiCSAR layout; ``LicsarHttpArchive`` reads the
LiCSAR portal (Apache listings, HTML link pages to another tree or host, Atom XML feeds);
``TellusArchive`` pairs ALOS-2 PALSAR-2 scenes of a Tellus-style search API and makes their
interferograms with an injected hook. All implement :class:`monitor.ports.Archive`.
"""

from __future__ import annotations

from monitor.archive.cursor import advance_cursor
from monitor.archive.licsar_http import LicsarHttpArchive
from monitor.archive.local import LocalArchive
from monitor.archive.tellus import TellusArchive

__all__ = [
    "LicsarHttpArchive",
    "LocalArchive",
    "TellusArchive",
    "advance_cursor",
]
