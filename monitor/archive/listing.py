"""Parse the archive's listings and validate every name they give.

Three forms are understood (issue 5, the LiCSAR portal before and after its 2025 move):

* Apache-style directory index pages (HTML ``<a href>`` to children);
* HTML pages of links pointing to another tree or host (absolute URLs or absolute paths);
* Atom XML feeds (``<file>.tif.xml``) whose ``<link rel="enclosure" href=...>`` gives the file.

Every link is checked before use. Navigation links (Apache sort links ``?C=N;O=D``, fragments,
the parent directory) are dropped silently. Links that try to leave a tree (``..`` segments,
also percent-encoded), hold backslashes, query strings, control characters, encoded slashes in
the name, or a scheme other than http(s) are **rejected**: kept out of the entries and listed in
``Listing.rejected`` with the reason, so the caller can log them and carry on with the rest
(one hostile or broken link does not hide the valid products of a frame).

XML is parsed with the standard library; since ``defusedxml`` is not installed, documents
over :data:`MAX_LISTING_BYTES` or holding a DTD / entity declaration are refused.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from monitor.errors import ArchiveError

#: Largest listing or feed body accepted, bytes.
MAX_LISTING_BYTES = 2_000_000
#: A file or directory name the archive may give: no separators, no leading dot.
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$")
_ATOM_NS = "{http://www.w3.org/2005/Atom}"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Entry:
    """One valid link of a listing.

    Attributes:
        name: Last path segment, decoded and validated (a trailing ``/`` marks directories
            and is removed here).
        url: Absolute URL of the link.
        is_dir: Whether the link ended with ``/``.
    """

    name: str
    url: str
    is_dir: bool


@dataclass(frozen=True)
class Listing:
    """Valid entries of a listing page and the links that were refused (href, reason)."""

    url: str
    entries: tuple[Entry, ...]
    rejected: tuple[tuple[str, str], ...] = field(default=())

    def find(self, name: str) -> Entry | None:
        """The entry called ``name``, if any."""
        return next((e for e in self.entries if e.name == name), None)


def validate_name(name: str, where: str) -> str:
    """Check one file or directory name from an archive.

    Raises:
        ArchiveError: the name is empty, ``.``/``..``, holds a separator, backslash, query,
            control character, or other characters outside ``[A-Za-z0-9._+-]``.
    """
    if not NAME_RE.match(name) or name in (".", ".."):
        raise ArchiveError(f"{where}: refusing archive name {name!r}; expected a plain file "
                           "or directory name (letters, digits, . _ + -; no path parts)")
    return name


def _check_href(href: str, page_url: str) -> Entry | None:
    """Validate and resolve one href; None for navigation links; ArchiveError if refused."""
    href = href.strip()
    if not href or href.startswith(("?", "#")) or href in ("../", ".."):
        return None  # sort links, anchors and the parent directory
    if _CONTROL_RE.search(href) or "\\" in href:
        raise ArchiveError("control character or backslash in link")
    parts = urlsplit(href)
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise ArchiveError(f"scheme {parts.scheme!r} is not http(s)")
    if parts.query or parts.fragment:
        raise ArchiveError("query string or fragment in a file link")
    segments = [unquote(s) for s in parts.path.split("/")]
    if any(s in ("..", ".") for s in segments) or any("/" in s or "\\" in s for s in segments):
        raise ArchiveError("path traversal ('..', '.' or encoded separator) in link")
    url = urljoin(page_url, href)
    page_path = urlsplit(page_url).path
    url_parts = urlsplit(url)
    if (url_parts.netloc == urlsplit(page_url).netloc and page_path.startswith(url_parts.path)
            and url_parts.path.endswith("/")):
        return None  # the page itself or one of its ancestors: navigation, not content
    is_dir = parts.path.endswith("/")
    name = unquote(url_parts.path.rstrip("/").rsplit("/", 1)[-1])
    validate_name(name, page_url)
    return Entry(name=name, url=url, is_dir=is_dir)


def _entries(hrefs: list[str], page_url: str) -> Listing:
    entries: list[Entry] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for href in hrefs:
        try:
            entry = _check_href(href, page_url)
        except ArchiveError as exc:
            rejected.append((href, str(exc)))
            continue
        if entry is not None and entry.url not in seen:
            seen.add(entry.url)
            entries.append(entry)
    return Listing(page_url, tuple(entries), tuple(rejected))


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":
            for key, value in attrs:
                if key.lower() == "href" and value is not None:
                    self.hrefs.append(value)


def _check_size(text: str, page_url: str) -> None:
    if len(text) > MAX_LISTING_BYTES:
        raise ArchiveError(f"{page_url}: listing of {len(text):,} characters exceeds "
                           f"{MAX_LISTING_BYTES:,}; refusing it")


def parse_html_listing(text: str, page_url: str) -> Listing:
    """Links of an Apache index page or of an HTML page of links to another tree or host.

    Args:
        text: The HTML body.
        page_url: URL the page was served from (relative links resolve against it).

    Raises:
        ArchiveError: the body is too large.
    """
    _check_size(text, page_url)
    parser = _LinkParser()
    parser.feed(text)
    parser.close()
    return _entries(parser.hrefs, page_url)


def looks_like_xml(text: str, content_type: str = "") -> bool:
    """Whether a listing body is an XML (Atom) document rather than HTML."""
    head = text.lstrip()[:200].lower()
    return "xml" in content_type.lower() or head.startswith(("<?xml", "<feed"))


def parse_atom_enclosures(text: str, page_url: str) -> Listing:
    """Enclosure links of an Atom feed or entry (``<link rel="enclosure" href=...>``).

    Raises:
        ArchiveError: the body is too large, declares a DTD or entities, or is not XML.
    """
    _check_size(text, page_url)
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise ArchiveError(f"{page_url}: XML with a DTD or entity declaration refused")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ArchiveError(f"{page_url}: malformed Atom XML ({exc})") from None
    hrefs = [link.get("href", "") for link in root.iter()
             if link.tag in (f"{_ATOM_NS}link", "link") and link.get("rel") == "enclosure"]
    return _entries(hrefs, page_url)


def parse_listing(text: str, page_url: str, content_type: str = "") -> Listing:
    """Parse whichever form the server gave: Atom XML or an HTML page of links."""
    if looks_like_xml(text, content_type):
        return parse_atom_enclosures(text, page_url)
    return parse_html_listing(text, page_url)
