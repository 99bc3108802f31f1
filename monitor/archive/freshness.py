"""Freshness of a frame and the ``since`` cursor: pure functions over listed products.

Frames that stop updating upstream are a silent failure of today's tools (issue 5), so the
daemon exports, per frame, the newest acquisition seen and the archive's lag behind ``now``.

Cursor semantics (shared by every adapter): ``since`` is the second date of the newest product
already handled; a listing ``since`` a date returns the products whose *second* date is
strictly after it (``None`` returns everything). After a poll the cursor advances to the
largest second date seen, never backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from monitor.domain import ProductRef
from monitor.errors import InputError


@dataclass(frozen=True)
class FrameFreshness:
    """How up to date a frame is.

    Attributes:
        frame: LiCSAR frame id.
        newest_epoch: Latest acquisition (second date) among the listed products, or None.
        lag_days: Days from the start (00:00 UTC) of ``newest_epoch`` to ``now``; None when
            nothing is listed.
        n_products: Number of products listed.
    """

    frame: str
    newest_epoch: date | None
    lag_days: float | None
    n_products: int


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


def frame_freshness(frame: str, products: Iterable[ProductRef], now: datetime) -> FrameFreshness:
    """Newest epoch of ``frame`` among ``products`` and its lag behind ``now``.

    Args:
        frame: Frame id; products of other frames are ignored.
        products: Listed products (any order).
        now: Current time, timezone-aware (UTC or any zone).

    Returns:
        The freshness record; ``lag_days`` in days (float), negative only if the archive
        claims acquisitions in the future.

    Raises:
        InputError: ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError(f"freshness now={now!r} is naive; pass a timezone-aware UTC time")
    mine = [p for p in products if p.frame == frame]
    newest = max((p.date2 for p in mine), default=None)
    if newest is None:
        return FrameFreshness(frame, None, None, 0)
    start = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
    lag = (now - start).total_seconds() / 86400.0
    return FrameFreshness(frame, newest, lag, len(mine))
