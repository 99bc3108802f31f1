"""Archive adapters: where interferograms come from (docs/architecture.md, Ports).

``LocalArchive`` reads a directory in the LiCSAR layout; ``LicsarHttpArchive`` reads the
LiCSAR portal (Apache listings, HTML link pages to another tree or host, Atom XML feeds).
Both implement :class:`monitor.ports.Archive`.
"""

from __future__ import annotations

from monitor.archive.cursor import advance_cursor
from monitor.archive.licsar_http import LicsarHttpArchive
from monitor.archive.local import LocalArchive

__all__ = [
    "LicsarHttpArchive",
    "LocalArchive",
    "advance_cursor",
]
