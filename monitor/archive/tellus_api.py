"""Client of the Tellus-style PALSAR-2 L1.1 search and download API (the Tellus web
tutorial "Using Tellus to Determine Land Subsidence via InSAR Analysis", section 1).

Endpoints, under the archive's ``base_url`` (Tellus: ``https://file.tellusxdp.com/api/v1/
origin``), every request with the header ``Authorization: Bearer <token>``:

* ``GET <base>/search/palsar2-l11?after=...&before=...&bbox=...`` answers one page of
  scenes, ``{"items": [...], "next": "<url of the next page>"}`` (no ``next``, or null,
  on the last page). Each item is a scene: ``dataset_id``, ``path_number``,
  ``frame_number``, ``beam_number``, ``mode``, ``polarization`` (``"HH"``, ``"HH+HV"`` or a
  list; ``polarisation`` is read too), ``begin_datetime`` (ISO 8601, UTC; or
  ``observation_date``, ``YYYY-MM-DD``), and optionally ``off_nadir_angle`` (degrees) and
  ``bbox`` (``[lon_min, lat_min, lon_max, lat_max]``). Other fields are ignored.
* ``GET <base>/publish/palsar2-l11/<dataset_id>`` answers the scene's files,
  ``{"files": [{"file_name": ..., "url": ..., "file_size": bytes, "checksum":
  "sha256:<hex>"}]}``; ``file_size`` and ``checksum`` (``md5``, ``sha1``, ``sha256`` or
  ``sha512``) are optional.

The query parameters also name the frame (``path_number``, ``frame_number``) and, when
configured, ``beam_number`` and ``mode``; a server that ignores them is fine, the adapter
filters what comes back. Every request goes through :mod:`monitor.archive.bounded_http`
(a total deadline, a size cap, redirects and ``next`` links to allowed hosts only, retries
of transient failures) and every failure through :mod:`monitor.archive.http_errors`. The
token is read from the environment variable the configuration names (``token_env``) when
a request is made; it is never logged, and any echo of it in a server's answer is masked
(``***``) in the errors raised. A body that is not JSON, a missing or mistyped field, a
``next`` link seen before (a page loop) or more than ``max_pages`` pages is an
:class:`~monitor.errors.ArchiveError` naming the URL and the field: never a partial
result read as "no new scenes".
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urljoin

import requests

from monitor.archive.bounded_http import (
    Deadline,
    open_response,
    raise_for_status,
    stream_body,
    track_connections,
    with_retries,
)
from monitor.archive.hosts import HostAllowList
from monitor.archive.http_errors import bad_json, token_refused
from monitor.archive.listing import MAX_LISTING_BYTES, validate_name
from monitor.archive.tellus_pairs import (
    DATASET_ID_RE,
    MAX_FRAME,
    MAX_PATH,
    POLARISATIONS,
    SceneInfo,
)
from monitor.errors import ArchiveError, ArchiveThrottled, InputError, MonitorError
from monitor.redact import MASK

T = TypeVar("T")
#: Checksum algorithms accepted in a file list (hashlib names).
CHECKSUM_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


@dataclass(frozen=True)
class SceneFile:
    """One file of a scene as the publish endpoint lists it.

    Attributes:
        name: File name (validated: no directory part), e.g. ``IMG-HH-ALOS2...-UBSR1.1__D``.
        url: Where to download it.
        size_bytes: Its size, when the API gives it.
        checksum: ``(algorithm, lower-case hex digest)``, when the API gives one.
    """

    name: str
    url: str
    size_bytes: int | None = None
    checksum: tuple[str, str] | None = None


def _masked(exc: MonitorError, token: str) -> MonitorError:
    """A copy of ``exc`` (same type) with every occurrence of ``token`` replaced by ***."""
    text = str(exc).replace(token, MASK)
    if isinstance(exc, ArchiveThrottled):
        return ArchiveThrottled(text, retry_after_s=exc.retry_after_s)
    try:
        return type(exc)(text)
    except TypeError:  # an error type with required keyword arguments
        return ArchiveError(text)


class TellusClient:
    """Search, file lists and authenticated requests of a Tellus-style archive.

    Args:
        base_url: API root (``https://file.tellusxdp.com/api/v1/origin``).
        token_env: Name of the environment variable holding the API token.
        environ: Where the token is read (default ``os.environ``), at each request.
        timeout_s: ``(connect, read)`` timeouts of every request, seconds.
        retries: Extra attempts after a transient failure.
        backoff_s: First backoff, seconds, doubled at each retry.
        session: The ``requests.Session`` to use (a new one by default).
        sleep: Called with each backoff, seconds (tests pass a no-op).
        listing_deadline_s: Total time for one search page or file list, seconds.
        max_listing_bytes: Largest JSON answer accepted, bytes.
        max_pages: Most search pages followed for one search.
        allowed_hosts: Hosts besides the base URL's that redirects, ``next`` links and
            file URLs may point to.
        max_retry_after_s: Longest ``Retry-After`` waited for, seconds.
    """

    def __init__(self, base_url: str, *, token_env: str = "TELLUS_TOKEN",
                 environ: Mapping[str, str] | None = None,
                 timeout_s: tuple[float, float] = (5.0, 60.0), retries: int = 3,
                 backoff_s: float = 1.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 listing_deadline_s: float = 30.0,
                 max_listing_bytes: int = 8 * 1024 * 1024, max_pages: int = 100,
                 allowed_hosts: Sequence[str] = (), max_retry_after_s: float = 60.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InputError(f"archive base_url={base_url!r} must start with http:// or https://")
        if retries < 0 or backoff_s < 0 or min(timeout_s) <= 0 or max_pages < 1 \
                or not 0 < max_listing_bytes <= MAX_LISTING_BYTES \
                or not (math.isfinite(listing_deadline_s) and listing_deadline_s > 0):
            raise InputError(f"tellus client: retries={retries}, backoff_s={backoff_s}, "
                             f"timeout_s={timeout_s}, max_pages={max_pages}, "
                             f"max_listing_bytes={max_listing_bytes}, listing_deadline_s="
                             f"{listing_deadline_s}: expected non-negative retries and backoff, "
                             "positive timeouts, deadline and page count, and a listing cap "
                             f"of at most {MAX_LISTING_BYTES:,} bytes")
        self.base_url = base_url.rstrip("/")
        self.token_env = token_env
        self._environ = environ
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.session = session if session is not None else requests.Session()
        track_connections(self.session)
        self._sleep = sleep
        self.listing_deadline_s = listing_deadline_s
        self.max_listing_bytes = max_listing_bytes
        self.max_pages = max_pages
        self.max_retry_after_s = max_retry_after_s
        self.hosts = HostAllowList.of(self.base_url, allowed_hosts)

    # -- the token and requests ---------------------------------------------------------------

    def token(self) -> str:
        """The API token, read from the environment now.

        Raises:
            ArchiveError: the variable is not set or empty (the message names it).
        """
        env = os.environ if self._environ is None else self._environ
        value = env.get(self.token_env, "").strip()
        if not value:
            raise ArchiveError(f"archive {self.base_url}: the environment variable "
                               f"{self.token_env} holding the API token is not set; export "
                               "it in the daemon's environment (never in the configuration "
                               "file)")
        return value

    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <token>``."""
        return {"Authorization": f"Bearer {self.token()}"}

    def masked(self, attempt: Callable[[], T]) -> Callable[[], T]:
        """``attempt`` whose errors never show the token (an answer that echoes it), and
        whose HTTP 401 / 403 say to check the token."""
        def run() -> T:
            try:
                return attempt()
            except MonitorError as exc:
                token = self._token_or_none()
                if token and token in str(exc):
                    exc = _masked(exc, token)
                raise exc from None
        return run

    def _token_or_none(self) -> str | None:
        env = os.environ if self._environ is None else self._environ
        return env.get(self.token_env, "").strip() or None

    def retrying(self, url: str, deadline: Deadline, attempt: Callable[[], T]) -> T:
        """``attempt`` with the client's retries, within ``deadline``, errors masked."""
        return with_retries(url, deadline, self.masked(attempt), retries=self.retries,
                            backoff_s=self.backoff_s,
                            max_retry_after_s=self.max_retry_after_s, sleep=self._sleep)

    def open(self, method: str, url: str, deadline: Deadline,
             headers: Mapping[str, str] | None = None,
             allow: tuple[int, ...] = ()) -> requests.Response:
        """Send an authenticated request (redirects to allowed hosts only); an HTTP error
        answer whose status is not in ``allow`` is raised as the mapped error (401 / 403:
        the token was refused)."""
        resp = open_response(self.session, method, url, timeout_s=self.timeout_s,
                             deadline=deadline, hosts=self.hosts,
                             headers={**self.auth_headers(), **(headers or {})})
        if resp.status_code >= 400 and resp.status_code not in allow:
            status = resp.status_code
            try:
                raise_for_status(resp, url, deadline)
            except ArchiveError as exc:
                if status in (401, 403):
                    raise token_refused(exc, self.token_env) from None
                raise
        return resp

    def get_json(self, url: str) -> Any:
        """The JSON document at ``url`` (within ``listing_deadline_s`` and
        ``max_listing_bytes``, retried).

        Raises:
            ArchiveUnavailable: the archive cannot be reached after the retries.
            ArchiveError: an HTTP error, an answer over the cap, or not JSON.
        """
        deadline = Deadline(self.listing_deadline_s)

        def once() -> Any:
            resp = self.open("GET", url, deadline)
            body = bytearray()
            stream_body(resp, url, deadline=deadline, cap_bytes=self.max_listing_bytes,
                        what="listing", sink=body.extend, chunk_bytes=64 * 1024)
            try:
                return json.loads(bytes(body))
            except (ValueError, RecursionError) as exc:
                start = bytes(body[:200]).decode("utf-8", "replace")
                raise bad_json(url, "body", f"not JSON ({exc}); the server said "
                               f"{' '.join(start.split())!r}") from None

        return self.retrying(url, deadline, once)

    # -- search -------------------------------------------------------------------------------

    def search_url(self, *, bbox: tuple[float, float, float, float] | None = None,
                   after: date | None = None, before: date | None = None,
                   filters: Mapping[str, str | int] | None = None) -> str:
        """The first page's URL of a search (dates as UTC midnights)."""
        params: dict[str, str] = {}
        if after is not None:
            params["after"] = f"{after:%Y-%m-%d}T00:00:00"
        if before is not None:
            params["before"] = f"{before:%Y-%m-%d}T00:00:00"
        if bbox is not None:
            params["bbox"] = ",".join(f"{v:.6f}" for v in bbox)
        params.update({k: str(v) for k, v in (filters or {}).items()})
        query = urlencode(params)
        return f"{self.base_url}/search/palsar2-l11" + (f"?{query}" if query else "")

    def search(self, *, bbox: tuple[float, float, float, float] | None = None,
               after: date | None = None, before: date | None = None,
               filters: Mapping[str, str | int] | None = None) -> list[SceneInfo]:
        """Every scene of a search, all pages followed.

        Args:
            bbox: ``(lon_min, lat_min, lon_max, lat_max)``, degrees.
            after: Scenes acquired on or after this date (UTC).
            before: Scenes acquired before this date.
            filters: Further query parameters (``path_number``, ``frame_number``...).

        Raises:
            ArchiveUnavailable: the archive cannot be reached after the retries.
            ArchiveError: an HTTP error (401 / 403: the token), a page that is not the
                search JSON (naming the URL, the item and the field), a ``next`` link to a
                host not allowed or seen before, or more than ``max_pages`` pages.
        """
        url: str | None = self.search_url(bbox=bbox, after=after, before=before,
                                          filters=filters)
        seen: set[str] = set()
        scenes: list[SceneInfo] = []
        while url is not None:
            if len(seen) >= self.max_pages:
                raise ArchiveError(f"{url}: the search did not end within max_pages = "
                                   f"{self.max_pages} pages; the archive keeps answering "
                                   "more (raise [archives.NAME] max_pages if genuine)")
            seen.add(url)
            items, nxt = parse_search_page(self.get_json(url), url)
            scenes.extend(items)
            if nxt is not None:
                nxt = urljoin(url, nxt)
                if nxt in seen:
                    raise bad_json(url, "field 'next'", f"links back to {nxt!r}, a page "
                                   "already read (a page loop)")
                if not self.hosts.allows(nxt):
                    raise bad_json(url, "field 'next'", f"{nxt!r} is not on an allowed host "
                                   f"({self.hosts.describe()})")
            url = nxt
        return scenes

    # -- files --------------------------------------------------------------------------------

    def get_file(self, url: str, deadline: Deadline, headers: Mapping[str, str],
                 allow: tuple[int, ...]) -> requests.Response:
        """An authenticated GET of a file (the :class:`~monitor.archive.resumable.Opener`
        of :func:`~monitor.archive.resumable.download`)."""
        return self.open("GET", url, deadline, headers, allow)

    def files_url(self, dataset_id: str) -> str:
        """Where the file list of a scene is published."""
        return f"{self.base_url}/publish/palsar2-l11/{dataset_id}"

    def scene_files(self, dataset_id: str) -> list[SceneFile]:
        """The files of one scene, with their sizes and checksums when given.

        Raises:
            ArchiveUnavailable: the archive cannot be reached after the retries.
            ArchiveError: an HTTP error, an answer that is not the file list, or a file URL
                on a host not allowed.
        """
        url = self.files_url(dataset_id)
        files = parse_file_list(self.get_json(url), url)
        for f in files:
            if not self.hosts.allows(f.url):
                raise bad_json(url, f"file {f.name!r} field 'url'", f"{f.url!r} is not on an "
                               f"allowed host ({self.hosts.describe()}); add it to "
                               "[archives.NAME] allowed_hosts if the archive stores files "
                               "there")
        return files


# -- the JSON documents ------------------------------------------------------------------------


def _field(item: Mapping[str, Any], names: Sequence[str], url: str, where: str) -> Any:
    for name in names:
        if item.get(name) is not None:
            return item[name]
    raise bad_json(url, where, f"field {names[0]!r} is missing")


def _int(value: Any, lo: int, hi: int, url: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise bad_json(url, where, f"{value!r} is not an integer in {lo}-{hi}")
    return value


def _text(value: Any, url: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise bad_json(url, where, f"{value!r} is not a short non-empty string")
    return value.strip()


def _polarisations(value: Any, url: str, where: str) -> tuple[str, ...]:
    parts = value if isinstance(value, list) else (
        value.replace("/", "+").replace(",", "+").split("+") if isinstance(value, str)
        else None)
    pols = tuple(p.strip().upper() for p in parts if isinstance(p, str)) if parts else ()
    if not pols or len(pols) != len(parts or ()) or any(p not in POLARISATIONS for p in pols):
        raise bad_json(url, where, f"{value!r} is not a polarisation list (e.g. \"HH\", "
                       "\"HH+HV\")")
    return pols


def _acquired(item: Mapping[str, Any], url: str, where: str) -> date:
    value = _field(item, ("begin_datetime", "observation_date"), url, where)
    try:
        if not isinstance(value, str):
            raise ValueError("not a string")
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_json(url, f"{where} field 'begin_datetime'",
                       f"{value!r} is not an ISO 8601 date or time") from None
    return (when.astimezone(UTC) if when.tzinfo is not None else when).date()


def _bbox(value: Any, url: str, where: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    ok = (isinstance(value, list) and len(value) == 4
          and all(isinstance(v, int | float) and not isinstance(v, bool)
                  and math.isfinite(v) for v in value))
    if not ok or not (value[0] <= value[2] and value[1] <= value[3]):
        raise bad_json(url, f"{where} field 'bbox'", f"{value!r} is not [lon_min, lat_min, "
                       "lon_max, lat_max]")
    return (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def parse_scene(item: Any, url: str, index: int) -> SceneInfo:
    """One search item as a :class:`SceneInfo`.

    Raises:
        ArchiveError: naming ``url``, the item (index and id) and the field at fault.
    """
    where = f"item {index}"
    if not isinstance(item, dict):
        raise bad_json(url, where, f"expected an object, got {type(item).__name__}")
    raw_id = item.get("dataset_id")
    if not isinstance(raw_id, str) or not DATASET_ID_RE.match(raw_id):
        raise bad_json(url, f"{where} field 'dataset_id'", f"{raw_id!r} is missing or not a "
                       "scene id (letters, digits, '.', '_', '-')")
    where = f"item {index} ({raw_id})"
    off_nadir = item.get("off_nadir_angle")
    if off_nadir is not None and (isinstance(off_nadir, bool)
                                  or not isinstance(off_nadir, int | float)
                                  or not 0 <= off_nadir <= 90):
        raise bad_json(url, f"{where} field 'off_nadir_angle'",
                       f"{off_nadir!r} is not an angle in degrees (0-90)")
    return SceneInfo(
        dataset_id=raw_id,
        path=_int(_field(item, ("path_number",), url, where), 1, MAX_PATH, url,
                  f"{where} field 'path_number'"),
        frame=_int(_field(item, ("frame_number",), url, where), 0, MAX_FRAME, url,
                   f"{where} field 'frame_number'"),
        beam=_text(_field(item, ("beam_number",), url, where), url,
                   f"{where} field 'beam_number'"),
        mode=_text(_field(item, ("mode",), url, where), url, f"{where} field 'mode'"),
        polarisations=_polarisations(_field(item, ("polarization", "polarisation"), url,
                                            where), url, f"{where} field 'polarization'"),
        acquired=_acquired(item, url, where),
        off_nadir_deg=None if off_nadir is None else float(off_nadir),
        bbox=_bbox(item.get("bbox"), url, where))


def parse_search_page(data: Any, url: str) -> tuple[list[SceneInfo], str | None]:
    """The scenes of one search page and its ``next`` link (None on the last page).

    Raises:
        ArchiveError: the page is not ``{"items": [...], "next": ...}`` or an item is bad.
    """
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise bad_json(url, "field 'items'", "missing or not a list (expected {\"items\": "
                       "[...], \"next\": ...})")
    nxt = data.get("next")
    if nxt is not None and not isinstance(nxt, str):
        raise bad_json(url, "field 'next'", f"{nxt!r} is not a URL")
    return ([parse_scene(item, url, i) for i, item in enumerate(data["items"])],
            nxt or None)


def _checksum(value: Any, url: str, where: str) -> tuple[str, str] | None:
    if value is None:
        return None
    algo, _, digest = value.partition(":") if isinstance(value, str) else ("", "", "")
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if algo not in CHECKSUM_ALGORITHMS or not digest or any(
            c not in "0123456789abcdef" for c in digest):
        raise bad_json(url, f"{where} field 'checksum'", f"{value!r} is not "
                       f"'<algorithm>:<hex digest>' with an algorithm of "
                       f"{', '.join(CHECKSUM_ALGORITHMS)}")
    return algo, digest


def parse_file_list(data: Any, url: str) -> list[SceneFile]:
    """The files of a publish answer ``{"files": [...]}``.

    Raises:
        ArchiveError: naming ``url``, the file and the field at fault.
    """
    if not isinstance(data, dict) or not isinstance(data.get("files"), list) \
            or not data["files"]:
        raise bad_json(url, "field 'files'", "missing, empty or not a list")
    out = []
    for i, f in enumerate(data["files"]):
        where = f"file {i}"
        if not isinstance(f, dict):
            raise bad_json(url, where, f"expected an object, got {type(f).__name__}")
        name = f.get("file_name")
        try:
            validate_name(name if isinstance(name, str) else "", url)
        except ArchiveError:
            raise bad_json(url, f"{where} field 'file_name'", f"{name!r} is missing or not "
                           "a plain file name") from None
        where = f"file {i} ({name})"
        link = f.get("url")
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            raise bad_json(url, f"{where} field 'url'", f"{link!r} is not an http(s) URL")
        size = f.get("file_size")
        if size is not None:
            size = _int(size, 0, 2**50, url, f"{where} field 'file_size'")
        out.append(SceneFile(str(name), urljoin(url, link), size,
                             _checksum(f.get("checksum"), url, where)))
    return out
