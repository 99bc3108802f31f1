"""The ``since`` cursor of archive listings: pure functions over listed products.

(A frame's freshness, the newest acquisition ingested and the archive's lag from it to its
ingestion, is exported by the daemon through :mod:`monitor.service.metrics_restore`.)

Cursor semantics (shared by every adapter): ``since`` is the second date of the newest product
already handled; a listing ``since`` a date returns the products whose *second* date is
strictly after it (``None`` returns everything). After a poll the cursor advances to the
largest second date seen, never backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from monitor.domain import ProductRef


def products_since(products: Iterable[ProductRef], since: date | None) -> list[ProductRef]:
    """Products whose second date is strictly after ``since`` (all when None), sorted by pair."""
    kept = [p for p in products if since is None or p.date2 > since]
    return sorted(kept, key=lambda p: (p.date1, p.date2))


def advance_cursor(cursor: date | None, products: Iterable[ProductRef]) -> date | None:
    """The new cursor after handling ``products``: the largest second date, never backwards."""
    newest = max((p.date2 for p in products), default=None)
    if newest is None:
        return cursor
    return newest if cursor is None or newest > cursor else cursor
