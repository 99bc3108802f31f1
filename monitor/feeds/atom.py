"""An Atom feed (RFC 4287) of the CAP notices, newest first, built with feedgen.

Each entry is one alert: its id is the CAP identifier as a tag URI (RFC 4151), its title and
summary the CAP headline, its ``alternate`` link the CAP document (``application/cap+xml``)
and its ``related`` link the quicklook. ``updated`` is the newest entry's time (the alert's
own ``created_at``, never the clock), so the same alerts give the same bytes; a feed
without entries says :data:`EMPTY_UPDATED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator
from lxml import etree

from monitor import __version__
from monitor.config import FeedSettings
from monitor.feeds import wording
from monitor.feeds.cap import (
    CAP_MIME,
    QUICKLOOK_FOLDER,
    UPDATE_KINDS,
    cap_file_name,
    feed_url,
    xml_text,
)
from monitor.feeds.records import Notice

ATOM_NS = "http://www.w3.org/2005/Atom"
#: The file name of the feed in the feeds' folder.
ATOM_FILE = "atom.xml"
#: ``updated`` of a feed with no entry (a fixed time, so an empty store gives fixed bytes).
EMPTY_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)


#: Date in the feed's tag URI when there is no base URL (when the scheme was minted).
FEED_TAG_DATE = "2025-01-01"


def tag_uri(settings: FeedSettings, minted: datetime, specific: str) -> str:
    """``tag:<sender>,<YYYY-MM-DD>:<specific>`` (RFC 4151; the sender is the authority)."""
    return f"tag:{settings.sender},{minted.astimezone(UTC):%Y-%m-%d}:{specific}"


def feed_id(settings: FeedSettings) -> str:
    """The feed's id: its URL when ``base_url`` is set, else a tag URI of the sender."""
    url = feed_url(settings, ATOM_FILE)
    return url or f"tag:{settings.sender},{FEED_TAG_DATE}:insar-monitor/feeds"


def _link(settings: FeedSettings, path: str) -> str:
    return feed_url(settings, path) or path


def atom_feed(notices: Sequence[Notice], settings: FeedSettings) -> bytes:
    """The feed of ``notices`` (any order; written newest first), UTF-8 bytes."""
    ordered = sorted(notices, key=lambda n: (n.created_at, n.alert_id), reverse=True)
    fg = FeedGenerator()
    fg.id(feed_id(settings))
    fg.title(xml_text(settings.title))
    fg.subtitle(wording.NOT_OFFICIAL)
    fg.author({"name": "insar-monitor", "email": settings.sender})
    fg.language(settings.language)
    fg.generator("insar-monitor", version=__version__)
    fg.updated(ordered[0].created_at if ordered else EMPTY_UPDATED)
    self_url = feed_url(settings, ATOM_FILE)
    if self_url:
        fg.link(href=self_url, rel="self", type="application/atom+xml")
    links: list[list[dict[str, str]]] = []
    for n in ordered:
        title = wording.headline(n.disc.name, n.level, n.epoch, n.kind in UPDATE_KINDS)
        e = fg.add_entry(order="append")
        e.id(tag_uri(settings, n.created_at, f"cap/{n.identifier}"))
        e.title(xml_text(title))
        e.summary(xml_text(title))
        e.updated(n.created_at)
        e.published(n.created_at)
        mine = [{"href": _link(settings, cap_file_name(n.identifier)), "rel": "alternate",
                 "type": CAP_MIME}]
        if n.quicklook_name:
            mine.append({"href": _link(settings, f"{QUICKLOOK_FOLDER}/{n.quicklook_name}"),
                         "rel": "related", "type": "image/png"})
        e.link(mine)
        links.append(mine)
        e.category(term=wording.level_name(n.level), label=wording.level_phrase(n.level))
    return _with_link_attributes(bytes(fg.atom_str(pretty=True)), links)


def _with_link_attributes(feed: bytes, links: Sequence[Sequence[dict[str, str]]]) -> bytes:
    """Put back the ``rel`` and ``type`` of the entries' links: feedgen 1.0 writes only
    their ``href`` (its entry serialiser reads them from the new element, not the dict)."""
    root = etree.fromstring(feed)
    for entry, mine in zip(root.iterfind(f"{{{ATOM_NS}}}entry"), links, strict=True):
        for element, link in zip(entry.iterfind(f"{{{ATOM_NS}}}link"), mine, strict=True):
            for key in ("rel", "type"):
                element.set(key, link[key])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                pretty_print=True))
