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
(one hostile or broken link does not hide the valid products of a frame). Given a
:class:`~monitor.archive.hosts.LinkScope`, links to a host not allowed or outside the frame's
tree are rejected the same way.

A 200 answer must *be* a listing (:func:`parse_listing`): an Atom ``feed``/``entry``, an index
page (``Index of ...`` in its title or heading, complete up to ``</html>`` or ``</body>``), or
an HTML page of at least one valid link. A login form (a password field), an error page
without links, JSON, plain text or binary garbage is refused as "not a directory listing",
never read as an empty directory; an index page with no entries is a real empty listing.

XML is parsed with the standard library; since ``defusedxml`` is not installed, documents
over the size cap or holding a DTD / entity declaration are refused.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from monitor.archive.hosts import LinkScope
from monitor.archive.http_errors import not_a_listing
from monitor.errors import ArchiveError

#: Largest listing or feed body parsed at all, characters: a ceiling over the client's
#: ``max_listing_bytes`` (default 8 MiB, at most this), which caps the download first.
MAX_LISTING_BYTES = 64 * 1024 * 1024
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


def _check_href(href: str, page_url: str, scope: LinkScope | None = None) -> Entry | None:
    """Validate and resolve one href; None for navigation links; ArchiveError if refused."""
    href = href.strip()
    if not href or href.startswith(("?", "#")) or href in ("../", ".."):
        return None  # sort links, anchors and the parent directory
    if _CONTROL_RE.search(href) or "\\" in href:
        raise ArchiveError("control character or backslash in link")
    parts = urlsplit(href)
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise ArchiveError(f"scheme {parts.scheme!r} is not http(s)")
    if parts.scheme and not parts.netloc:
        raise ArchiveError(f"scheme {parts.scheme!r} without a host")
    if parts.query or parts.fragment:
        raise ArchiveError("query string or fragment in a file link")
    segments = [unquote(s) for s in parts.path.split("/")]
    if any(s in ("..", ".") for s in segments) or any("/" in s or "\\" in s for s in segments):
        raise ArchiveError("path traversal ('..', '.' or encoded separator) in link")
    url = urljoin(page_url, href)
    page_path = urlsplit(page_url).path
    url_parts = urlsplit(url)
    if url_parts.scheme not in ("http", "https") or not url_parts.netloc:
        raise ArchiveError(f"link does not resolve to an http(s) URL with a host: {url!r}")
    if (url_parts.netloc == urlsplit(page_url).netloc and page_path.startswith(url_parts.path)
            and url_parts.path.endswith("/")):
        return None  # the page itself or one of its ancestors: navigation, not content
    is_dir = parts.path.endswith("/")
    name = unquote(url_parts.path.rstrip("/").rsplit("/", 1)[-1])
    validate_name(name, page_url)
    refusal = None if scope is None else scope.refusal(url)
    if refusal is not None:
        raise ArchiveError(refusal)
    return Entry(name=name, url=url, is_dir=is_dir)


def _entries(hrefs: list[str], page_url: str, scope: LinkScope | None = None) -> Listing:
    entries: list[Entry] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for href in hrefs:
        try:
            entry = _check_href(href, page_url, scope)
        except ArchiveError as exc:
            rejected.append((href, str(exc)))
            continue
        except ValueError as exc:  # urlsplit: a malformed IPv6 literal or port
            rejected.append((href, f"malformed URL ({exc})"))
            continue
        if entry is not None and entry.url not in seen:
            seen.add(entry.url)
            entries.append(entry)
    return Listing(page_url, tuple(entries), tuple(rejected))


class _LinkParser(HTMLParser):
    """Links of a page and what tells an index page from another page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.tags = 0
        self.password_field = False
        self.index_heading = False
        self.closed = False
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        tag = tag.lower()
        if tag == "a":
            for key, value in attrs:
                if key.lower() == "href" and value is not None:
                    self.hrefs.append(value)
        elif tag == "input" and any(k.lower() == "type" and (v or "").strip().lower()
                                    == "password" for k, v in attrs):
            self.password_field = True
        self._in_heading = tag in ("title", "h1")

    def handle_endtag(self, tag: str) -> None:
        self._in_heading = False
        if tag.lower() in ("html", "body"):
            self.closed = True

    def handle_data(self, data: str) -> None:
        if self._in_heading and data.strip().lower().startswith("index of"):
            self.index_heading = True


def _feed(parser: HTMLParser, text: str, page_url: str) -> None:
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError, IndexError) as exc:  # html.parser on broken markup
        raise not_a_listing(page_url, f"malformed HTML: {exc}", text[:200]) from None


def _check_size(text: str, page_url: str) -> None:
    if len(text) > MAX_LISTING_BYTES:
        raise ArchiveError(f"{page_url}: listing of {len(text):,} characters exceeds "
                           f"{MAX_LISTING_BYTES:,}; refusing it")


def parse_html_listing(text: str, page_url: str, scope: LinkScope | None = None) -> Listing:
    """Links of an Apache index page or of an HTML page of links to another tree or host.

    Args:
        text: The HTML body.
        page_url: URL the page was served from (relative links resolve against it).
        scope: Where links may point (hosts, the frame's tree); None: anywhere http(s).

    Raises:
        ArchiveError: the body is too large, or is not a directory listing: a login form,
            a truncated index page, a page with neither an index heading nor a valid link.
    """
    _check_size(text, page_url)
    parser = _LinkParser()
    _feed(parser, text, page_url)
    if parser.password_field:
        raise not_a_listing(page_url, "a login form: the page asks for a password", text)
    listing = _entries(parser.hrefs, page_url, scope)
    if parser.index_heading:
        if not parser.closed:
            raise not_a_listing(page_url, "an index page cut short: no closing </body> or "
                                "</html>, so entries may be missing", text[:200])
        return listing
    if not listing.entries:
        why = ("no index heading and none of its links is a usable entry" if parser.tags
               else "no HTML markup at all")
        raise not_a_listing(page_url, why, text)
    return listing


def looks_like_xml(text: str, content_type: str = "") -> bool:
    """Whether a listing body is an XML (Atom) document rather than HTML."""
    head = text.lstrip()[:200].lower()
    return "xml" in content_type.lower() or head.startswith(("<?xml", "<feed"))


def parse_atom_enclosures(text: str, page_url: str, scope: LinkScope | None = None) -> Listing:
    """Enclosure links of an Atom feed or entry (``<link rel="enclosure" href=...>``).

    Raises:
        ArchiveError: the body is too large, declares a DTD or entities, is not XML, or is
            XML whose root is not an Atom ``feed`` or ``entry``.
    """
    _check_size(text, page_url)
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise ArchiveError(f"{page_url}: XML with a DTD or entity declaration refused")
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise ArchiveError(f"{page_url}: malformed Atom XML ({exc})") from None
    if root.tag not in (f"{_ATOM_NS}feed", f"{_ATOM_NS}entry", "feed", "entry"):
        raise not_a_listing(page_url, f"XML whose root is <{root.tag}>, not an Atom feed",
                            text)
    hrefs = [link.get("href", "") for link in root.iter()
             if link.tag in (f"{_ATOM_NS}link", "link") and link.get("rel") == "enclosure"]
    return _entries(hrefs, page_url, scope)


#: Content types a listing may come with (an absent or generic one is sniffed).
_LISTING_TYPES = ("text/html", "application/xhtml+xml", "application/atom+xml",
                  "application/xml", "text/xml", "text/plain", "application/octet-stream", "")


def parse_listing(text: str, page_url: str, content_type: str = "",
                  scope: LinkScope | None = None) -> Listing:
    """Parse whichever form the server gave: Atom XML or an HTML page of links.

    Raises:
        ArchiveError: the body is not a directory listing (see the module docstring), or a
            listing refused as a whole (too large, DTD, malformed XML).
    """
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime not in _LISTING_TYPES:
        raise not_a_listing(page_url, f"Content-Type {mime!r}", "")
    if looks_like_xml(text, content_type):
        return parse_atom_enclosures(text, page_url, scope)
    return parse_html_listing(text, page_url, scope)


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def decode_body(body: bytes, encoding: str | None) -> str:
    """A body as text in the charset its byte-order mark or header declares (UTF-8 when
    absent or unknown); undecodable bytes become U+FFFD."""
    bom = next((name for mark, name in _BOMS if body.startswith(mark)), None)
    try:
        codec = codecs.lookup(bom or encoding or "utf-8").name
    except LookupError:
        codec = "utf-8"
    try:
        return body.decode(codec, errors="replace")
    except (UnicodeError, ValueError, LookupError):  # a non-text codec (rot13, base64...)
        return body.decode("utf-8", errors="replace")


def parse_listing_bytes(body: bytes, page_url: str, content_type: str = "",
                        encoding: str | None = None, scope: LinkScope | None = None
                        ) -> Listing:
    """:func:`parse_listing` of a raw body: any bytes give a :class:`Listing` whose entries
    are valid names and in-scope URLs, or an :class:`~monitor.errors.ArchiveError`."""
    text = decode_body(body, encoding)
    if "\x00" in text[:4096]:
        raise not_a_listing(page_url, "binary data (NUL characters)", "")
    return parse_listing(text, page_url, content_type, scope)
