"""Blocks of time: event windows to leave out and calendar years to keep.

Real interferograms are split by time, never by random epochs: neighbouring epochs share
atmosphere, so a random split would put near copies of a validation map in training. An
epoch (a date pair) is kept out of the quiet set when it overlaps an event window, and
assigned to a block by the calendar year of its second date.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from monitor.errors import InputError

#: An event window: first and last day, inclusive.
Window = tuple[date, date]


def parse_events(text: str | None) -> tuple[Window, ...]:
    """``START:END[,START:END...]`` (dates ``YYYY-MM-DD``, inclusive) as windows.

    Raises:
        InputError: a window that is not two ISO dates, or ends before it starts.
    """
    if text is None or not text.strip():
        return ()
    windows = []
    for part in text.split(","):
        bits = part.strip().split(":")
        try:
            if len(bits) != 2:
                raise ValueError
            start, end = date.fromisoformat(bits[0].strip()), date.fromisoformat(bits[1].strip())
        except ValueError:
            raise InputError(f"--events: {part.strip()!r} is not START:END with dates "
                             "YYYY-MM-DD (e.g. 2017-01-11:2018-12-31)") from None
        if end < start:
            raise InputError(f"--events: window {part.strip()!r} ends before it starts")
        windows.append((start, end))
    return tuple(windows)


def overlaps(pair: tuple[date, date], windows: tuple[Window, ...]) -> bool:
    """True when the pair's time span ``[date1, date2]`` and some window share time of
    positive length (``date1 < end`` and ``date2 > start``): a pair that ends on a
    window's first day measured nothing of it (acquisitions are instants, the window's
    first day is the last quiet acquisition, e.g. ``2017-01-11:...`` for the Erta Ale dyke
    first seen in ``20170111_20170204``)."""
    d1, d2 = min(pair), max(pair)
    return any(d1 < end and d2 > start for start, end in windows)


def parse_years(text: str | None, flag: str = "--years") -> frozenset[int] | None:
    """``2015,2016,2019-2021`` as a set of years; None or empty text: every year.

    Raises:
        InputError: a part that is not a year or a ``FIRST-LAST`` range of years.
    """
    if text is None or not text.strip():
        return None
    years: set[int] = set()
    for part in text.split(","):
        bits = part.strip().split("-")
        try:
            if len(bits) == 1:
                years.add(int(bits[0]))
                continue
            if len(bits) != 2:
                raise ValueError
            first, last = int(bits[0]), int(bits[1])
        except ValueError:
            raise InputError(f"{flag}: {part.strip()!r} is not a year or FIRST-LAST "
                             "(e.g. 2015,2016,2019-2021)") from None
        if last < first:
            raise InputError(f"{flag}: range {part.strip()!r} ends before it starts")
        years.update(range(first, last + 1))
    return frozenset(years)


def in_years(pair: tuple[date, date], years: Collection[int] | None) -> bool:
    """True when the pair's second date falls in one of ``years`` (None: every year)."""
    return years is None or max(pair).year in years
