"""Archive adapter for the LiCSAR portal over HTTP.

URL layout (COMET LiCSAR products)::

    <base>/<track>/<frame>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.unw.tif   (and .geo.cc.tif)

with ``<track>`` the frame's track without leading zeros (``022D_04826_121209`` -> ``22``).
For each pair the client follows whichever form the server gives (issue 5): an Apache directory
listing holding the files, an HTML page of links to another tree or host, or Atom XML (the pair
directory lists ``<name>.tif.xml`` whose ``rel="enclosure"`` link is the file; a pair URL that
answers with a feed directly also works). Links are validated by :mod:`monitor.archive.listing`;
refused links are logged and skipped.

Every request has a ``(connect, read)`` timeout and a total deadline (issue 10,
:mod:`monitor.archive.bounded_http`): ``listing_deadline_s`` for a listing or a HEAD,
``deadline_s`` for a file, each covering all its attempts and the waits between them, so a
trickling server holds a worker no longer than that. Transient failures
(``ArchiveUnavailable``: timeouts, dropped connections, 5xx, 429) are retried ``retries`` times
with exponential backoff ``backoff_s * 2**attempt`` while the deadline leaves time; a
``Retry-After`` is waited for when at most ``max_retry_after_s`` and within the deadline,
otherwise :class:`~monitor.errors.ArchiveThrottled` is raised at once (retried at a later
poll); other errors are raised at once. Bodies are capped (``max_listing_bytes``,
``max_product_bytes``): refused from their Content-Length before reading, or by counting when
it is absent or lies. Redirects and listing links go only to ``allowed_hosts`` (the base URL's
host by default), links only inside the frame's tree. A 200 page that is not a listing (a
login form, garbage) is an error, never "no products". Downloads go to a ``.part``
file, are checked against Content-Length, validated as single-band rasters with a finite phase,
then moved into place; a HEAD request and the cache sidecar skip files whose size and
Last-Modified have not changed.

Frame files outside the pairs are fetched on demand only (issue 6, for flagged steps):
``<frame>/metadata/`` (``<frame>.geo.hgt.tif``, ``<frame>.geo.U.tif``, ``metadata.txt``) and
the per-epoch weather-model delays ``<frame>/epochs/<d>/<d>.sltd.geo.tif`` (GACOS) and
``<d>.icams.sltd.geo.tif`` (ICAMS), with the same listing forms, retries, validation and cache.
An HTTP 404 on such a directory means the archive has none of its files.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

import requests

from monitor.archive import cache
from monitor.archive.bounded_http import (
    Deadline,
    open_response,
    raise_for_status,
    refuse_announced_oversize,
    stream_body,
    track_connections,
    with_retries,
)
from monitor.archive.cursor import products_since
from monitor.archive.hosts import HostAllowList, LinkScope
from monitor.archive.http_errors import too_large
from monitor.archive.licsar_products import decode_licsar_product
from monitor.archive.listing import MAX_LISTING_BYTES, Listing, parse_listing_bytes
from monitor.archive.local import track_of
from monitor.domain import (
    DecodedProduct,
    FetchedProduct,
    FrameMetadata,
    ProductRef,
    RemoteFile,
)
from monitor.errors import (
    ArchiveError,
    BrokenProduct,
    DatasetError,
    InputError,
)
from monitor.io.licsar import (
    DELAY_SUFFIXES,
    PAIR_RE,
    check_delay_kinds,
    delay_file_name,
    format_date,
    parse_pair,
)
from monitor.io.raster_header import DEFAULT_MAX_BYTES
from monitor.science.crop import PixelWindow
from monitor.science.geometry import SENTINEL1, Sensor

log = logging.getLogger(__name__)
T = TypeVar("T")


class LicsarHttpArchive:
    """Sentinel-1 products from the LiCSAR portal (or any server with its layout).

    Args:
        base_url: Portal root, e.g. ``https://gws-access.jasmin.ac.uk/public/nceo_geohazards/
            LiCSAR_products``.
        timeout_s: ``(connect, read)`` timeouts in seconds for every request.
        retries: Extra attempts after a transient failure (total attempts ``retries + 1``).
        backoff_s: First backoff in seconds, doubled at each retry (0 in tests).
        session: A ``requests.Session`` to use (a new one by default); its http(s)
            adapters are replaced by :class:`~monitor.archive.bounded_http.TrackingAdapter`.
        sleep: Called with the backoff in seconds (injected by tests).
        deadline_s: Total time for one file (all attempts and waits), seconds.
        listing_deadline_s: Total time for one listing or HEAD request, seconds.
        max_listing_bytes: Largest listing body accepted, bytes.
        max_product_bytes: Largest file accepted, bytes.
        allowed_hosts: Hosts (``host`` or ``host:port``) that redirects and listing links
            may lead to, besides the base URL's host.
        max_retry_after_s: Longest ``Retry-After`` waited for within a request, seconds.
        max_bytes: Memory budget of one decoded product (``[rasters] max_bytes``): a file
            whose header claims more pixels than fit in it is refused before its pixels
            are read (:mod:`monitor.io.raster_header`); not a download size.
    """

    name = "licsar-http"
    wavelength_m: float = SENTINEL1.wavelength_m
    phase_sign: int = SENTINEL1.phase_sign

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: tuple[float, float] = (5.0, 60.0),
        retries: int = 3,
        backoff_s: float = 1.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadline_s: float = 120.0,
        listing_deadline_s: float = 30.0,
        max_listing_bytes: int = 8 * 1024 * 1024,
        max_product_bytes: int = 512 * 1024 * 1024,
        allowed_hosts: Sequence[str] = (),
        max_retry_after_s: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InputError(f"archive base_url={base_url!r} must start with http:// or https://")
        if retries < 0 or backoff_s < 0 or min(timeout_s) <= 0:
            raise InputError(f"archive retries={retries}, backoff_s={backoff_s}, "
                             f"timeout_s={timeout_s}: expected retries >= 0, backoff_s >= 0 "
                             "and positive timeouts")
        limits = {"deadline_s": deadline_s, "listing_deadline_s": listing_deadline_s,
                  "max_listing_bytes": max_listing_bytes,
                  "max_product_bytes": max_product_bytes,
                  "max_retry_after_s": max_retry_after_s}
        bad = {k: v for k, v in limits.items()
               if not (math.isfinite(v) and (v >= 0 if k == "max_retry_after_s" else v > 0))}
        if bad or max_listing_bytes > MAX_LISTING_BYTES:
            raise InputError(f"archive limits {bad or limits}: expected finite positive "
                             f"deadlines and caps, max_listing_bytes <= {MAX_LISTING_BYTES:,}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.session = session if session is not None else requests.Session()
        track_connections(self.session)  # so that the deadline also bounds the headers
        self._sleep = sleep
        self.deadline_s = deadline_s
        self.listing_deadline_s = listing_deadline_s
        self.max_listing_bytes = max_listing_bytes
        self.max_product_bytes = max_product_bytes
        self.max_retry_after_s = max_retry_after_s
        self.hosts = HostAllowList.of(self.base_url, allowed_hosts)
        self.max_bytes = max_bytes

    # -- requests ---------------------------------------------------------------------------

    def _with_retries(self, url: str, deadline: Deadline, attempt_once: Callable[[], T]) -> T:
        """``attempt_once`` until it succeeds, retrying transient failures while ``retries``
        and the deadline allow (:func:`~monitor.archive.bounded_http.with_retries`)."""
        return with_retries(url, deadline, attempt_once, retries=self.retries,
                            backoff_s=self.backoff_s,
                            max_retry_after_s=self.max_retry_after_s, sleep=self._sleep)

    def _open(self, method: str, url: str, deadline: Deadline) -> requests.Response:
        return open_response(self.session, method, url, timeout_s=self.timeout_s,
                             deadline=deadline, hosts=self.hosts)

    def _scope(self, frame: str) -> LinkScope:
        """Where the links of ``frame``'s listings may point."""
        return LinkScope(self.hosts, f"/{track_of(frame)}/{frame}/")

    def _listing(self, url: str, scope: LinkScope) -> Listing:
        listing = self._listing_or_none(url, scope, missing_ok=False)
        if listing is None:  # pragma: no cover - only missing_ok answers None
            raise ArchiveError(f"{url}: no listing")
        return listing

    def _listing_or_none(self, url: str, scope: LinkScope, *,
                         missing_ok: bool = True) -> Listing | None:
        """The parsed listing at ``url``; None on HTTP 404 when ``missing_ok``."""
        deadline = Deadline(self.listing_deadline_s)

        def once() -> Listing | None:
            resp = self._open("GET", url, deadline)
            if missing_ok and resp.status_code == 404:
                resp.close()
                return None
            raise_for_status(resp, url, deadline)
            body = bytearray()
            stream_body(resp, url, deadline=deadline, cap_bytes=self.max_listing_bytes,
                        what="listing", sink=body.extend, chunk_bytes=64 * 1024)
            return parse_listing_bytes(bytes(body), resp.url or url,
                                       resp.headers.get("Content-Type", ""), resp.encoding,
                                       scope)

        listing = self._with_retries(url, deadline, once)
        if listing is not None:
            for href, reason in listing.rejected:
                log.warning("archive listing %s: link %r refused and skipped: %s", url, href,
                            reason)
        return listing

    # -- listing ----------------------------------------------------------------------------

    def frame_url(self, frame: str) -> str:
        """URL of a frame's directory (track without leading zeros)."""
        return f"{self.base_url}/{track_of(frame)}/{frame}/"

    def _resolve_file(self, listing: Listing, name: str, scope: LinkScope
                      ) -> RemoteFile | None:
        entry = listing.find(name)
        if entry is not None and not entry.is_dir:
            return RemoteFile(url=entry.url, name=name)
        feed_entry = listing.find(name + ".xml")
        if feed_entry is None:
            return None
        enclosure = self._listing(feed_entry.url, scope).find(name)
        return None if enclosure is None else RemoteFile(url=enclosure.url, name=name)

    def list_products(self, frame: str, since: date | None = None) -> list[ProductRef]:
        """Pairs of ``frame`` whose second date is after ``since``, with their file URLs.

        Pairs without an unwrapped file (still being published) are logged and skipped.

        Raises:
            ArchiveUnavailable: the portal cannot be reached after the retries.
            ArchiveTimeout: a listing did not arrive within ``listing_deadline_s`` (a partial
                listing is never read as "nothing new").
            ArchiveError: the frame is unknown (HTTP 404), a listing is malformed, too large
                or not a listing at all (a login page), or redirects to a host not allowed.
        """
        ifg_url = self.frame_url(frame) + "interferograms/"
        scope = self._scope(frame)
        refs: list[ProductRef] = []
        for entry in self._listing(ifg_url, scope).entries:
            if not PAIR_RE.match(entry.name):
                continue
            try:
                d1, d2 = parse_pair(entry.name, ifg_url)
            except DatasetError as exc:
                log.warning("archive listing %s: %s; skipped", ifg_url, exc)
                continue
            if since is not None and d2 <= since:
                continue
            pair_url = entry.url if entry.url.endswith("/") else entry.url + "/"
            pair_listing = self._listing(pair_url, scope)
            unw = self._resolve_file(pair_listing, f"{entry.name}.geo.unw.tif", scope)
            if unw is None:
                log.warning("archive %s: pair %s lists no %s.geo.unw.tif, skipped",
                            pair_url, entry.name, entry.name)
                continue
            cc = self._resolve_file(pair_listing, f"{entry.name}.geo.cc.tif", scope)
            refs.append(ProductRef(frame, d1, d2, unw, cc))
        return products_since(refs, since)

    # -- fetching ---------------------------------------------------------------------------

    def _head(self, url: str) -> tuple[int | None, str | None]:
        deadline = Deadline(self.listing_deadline_s)

        def once() -> tuple[int | None, str | None]:
            resp = self._open("HEAD", url, deadline)
            raise_for_status(resp, url, deadline)
            resp.close()
            length = resp.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
            return size, resp.headers.get("Last-Modified")

        return self._with_retries(url, deadline, once)

    def _download_once(self, url: str, kind: str, final: Path, head_size: int | None,
                       deadline: Deadline) -> tuple[int, str, str | None]:
        resp = self._open("GET", url, deadline)
        raise_for_status(resp, url, deadline)
        refuse_announced_oversize(resp, url, self.max_product_bytes, "product")
        fd, part = cache.temp_part(final)
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                def sink(chunk: bytes) -> None:
                    out.write(chunk)
                    h.update(chunk)

                n = stream_body(resp, url, deadline=deadline, cap_bytes=self.max_product_bytes,
                                what="product", sink=sink, chunk_bytes=cache.CHUNK_BYTES)
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else head_size
            if expected is not None and n != expected:
                raise BrokenProduct(f"{url}: broken product, received {n} bytes but the server "
                                   f"announced {expected}; not installed in the cache")
            cache.validate_product(part, kind, url, self.max_bytes)
            cache.install(part, final)
        except BaseException:
            cache.discard(part)
            raise
        return n, h.hexdigest(), resp.headers.get("Last-Modified")

    def _fetch_file(self, ref: ProductRef, remote: RemoteFile, kind: str,
                    cache_dir: Path) -> tuple[Path, str]:
        return self._fetch_into(remote, kind, cache.cache_path(cache_dir, ref, remote.name))

    def _fetch_into(self, remote: RemoteFile, kind: str, final: Path) -> tuple[Path, str]:
        size, last_modified = self._head(remote.url)
        if size is not None and size > self.max_product_bytes:
            raise too_large(remote.url, "product", self.max_product_bytes, announced=size)
        side = cache.reusable(final, remote.url, size, last_modified)
        if side is not None:
            log.debug("archive %s unchanged (size %d, %s); cached copy kept",
                      remote.url, size, last_modified)
            return final, side.sha256
        deadline = Deadline(self.deadline_s)
        n, digest, get_lm = self._with_retries(
            remote.url, deadline,
            lambda: self._download_once(remote.url, kind, final, size, deadline))
        cache.write_sidecar(final, cache.Sidecar(remote.url, n, get_lm or last_modified, digest))
        return final, digest

    def fetch(self, ref: ProductRef, cache_dir: Path) -> FetchedProduct:
        """Download the product's files into ``cache_dir`` (skipping unchanged cached files).

        Raises:
            ArchiveUnavailable: the portal cannot be reached after the retries.
            ArchiveError: a file is missing (4xx), of the wrong size, or not a usable raster;
                the message names its URL and nothing is left under the final name.
        """
        unw_path, digest = self._fetch_file(ref, ref.unw, "unw", Path(cache_dir))
        extra = {"unw_url": ref.unw.url}
        cc_path: str | None = None
        if ref.cc is not None:
            path, cc_digest = self._fetch_file(ref, ref.cc, "cc", Path(cache_dir))
            cc_path, extra["cc_sha256"], extra["cc_url"] = str(path), cc_digest, ref.cc.url
        return FetchedProduct(ref, str(unw_path), cc_path, digest, extra)

    # -- frame files fetched on demand (issue 6) --------------------------------------------

    def decode(self, fetched: FetchedProduct, max_pixels: int,
               window: PixelWindow | None = None) -> DecodedProduct:
        """The fetched pair (``window`` of it, when given) in LOS metres and coherence 0-1
        (the LiCSAR decoder, :func:`~monitor.archive.licsar_products.decode_licsar_product`)."""
        return decode_licsar_product(fetched, max_pixels,
                                     Sensor(self.name, self.wavelength_m, self.phase_sign),
                                     max_bytes=self.max_bytes, window=window)

    def fetch_metadata(self, frame: str, cache_dir: Path) -> FrameMetadata:
        """Download the frame's ``hgt`` and ``U`` rasters and ``metadata.txt`` into
        ``<cache_dir>/<frame>/metadata/`` (unchanged cached copies kept); files the archive
        does not list, or a missing ``metadata/`` directory, give None.

        Raises:
            ArchiveUnavailable: the portal cannot be reached after the retries.
            ArchiveError: a listed file cannot be fetched or is not usable; its URL is named
                and nothing is left under its final name.
        """
        url = self.frame_url(frame) + "metadata/"
        scope = self._scope(frame)
        listing = self._listing_or_none(url, scope)
        out: dict[str, str | None] = {"hgt": None, "U": None, "metadata_txt": None}
        if listing is None:
            log.info("archive %s: no metadata directory (HTTP 404)", url)
            return FrameMetadata(frame, None, None, None)
        for kind, name in (("hgt", f"{frame}.geo.hgt.tif"), ("U", f"{frame}.geo.U.tif"),
                           ("metadata_txt", "metadata.txt")):
            remote = self._resolve_file(listing, name, scope)
            if remote is None:
                continue
            final = cache.frame_file_path(Path(cache_dir), frame, "metadata", name)
            out[kind] = str(self._fetch_into(remote, kind, final)[0])
        return FrameMetadata(frame, out["hgt"], out["U"], out["metadata_txt"])

    def fetch_epoch_delays(self, frame: str, epoch: date, cache_dir: Path,
                           kinds: Sequence[str] = tuple(DELAY_SUFFIXES)) -> dict[str, str]:
        """Download the epoch's GACOS / ICAMS delay files into
        ``<cache_dir>/<frame>/epochs/<YYYYMMDD>/``; ``{}`` when the epoch directory is
        missing (HTTP 404) or lists neither.

        Raises:
            ArchiveUnavailable: the portal cannot be reached after the retries.
            ArchiveError: a listed delay file cannot be fetched or is not a single-band
                float raster; its URL is named and nothing is left under its final name.
        """
        day = format_date(epoch)
        url = f"{self.frame_url(frame)}epochs/{day}/"
        scope = self._scope(frame)
        listing = self._listing_or_none(url, scope)
        if listing is None:
            log.info("archive %s: no epoch directory (HTTP 404), no delays", url)
            return {}
        out: dict[str, str] = {}
        for kind in check_delay_kinds(kinds):
            name = delay_file_name(epoch, kind)
            remote = self._resolve_file(listing, name, scope)
            if remote is None:
                continue
            final = cache.frame_file_path(Path(cache_dir), frame, "epochs", day, name)
            out[kind] = str(self._fetch_into(remote, "delay", final)[0])
        return out
