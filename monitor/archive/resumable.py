"""Downloads that resume: large scene files fetched into the cache over several attempts.

A PALSAR-2 L1.1 image file is gigabytes; a dropped connection or a deadline passed must
not throw away what arrived. The bytes go to ``.download/<name>.partial`` in the final
file's directory, with ``.download/<name>.partial.json`` recording the URL and the
server's validator (ETag, else Last-Modified); the cache's sidecar and the lock live in
``.download/`` too, so the directory itself holds only the files (what a reader that
globs ``IMG-HH-*`` expects). The next attempt (a retry, or a later poll, even after a
restart) asks for the rest with ``Range: bytes=<size>-`` and ``If-Range: <validator>``:

* ``206 Partial Content`` starting at that offset: appended;
* ``200 OK`` (a server that ignores Range, or a file that changed since): the partial file
  is truncated and the download restarts from the first byte;
* ``416 Range Not Satisfiable``, or a 206 at another offset: the partial file is discarded
  and the download restarts.

A complete file is checked against the archive's checksum when it gives one (md5, sha1,
sha256, sha512), else against its announced size; a mismatch is
:class:`~monitor.errors.BrokenProduct`, the partial file is discarded and nothing is
installed. Only then is it moved to its final name (``os.replace``) with the cache's
sidecar (:mod:`monitor.archive.cache`), so a file under its final name is always whole and
verified. Two processes (the daemon and a ``poll --once``) never write one partial file at
once: the second finds it locked (``.download/<name>.lock``, ``flock``) and fails with
:class:`~monitor.errors.ArchiveUnavailable`, retried at a later poll.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

import requests

from monitor.archive import cache
from monitor.archive.bounded_http import Deadline, stream_body
from monitor.archive.http_errors import too_large
from monitor.errors import ArchiveError, ArchiveUnavailable, BrokenProduct
from monitor.io.atomic import atomic_write

log = logging.getLogger(__name__)
T = TypeVar("T")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
#: Bytes asked of ``requests`` per read: what a dropped connection can lose of what had
#: arrived (the read in progress), so smaller than the cache's copy chunk.
CHUNK_BYTES = 256 * 1024


class Opener(Protocol):
    """Sends an authenticated GET; statuses in ``allow`` come back, other errors raise."""

    def __call__(self, url: str, deadline: Deadline, headers: Mapping[str, str],
                 allow: tuple[int, ...]) -> requests.Response: ...


#: The hidden directory, beside the files, of the downloads' bookkeeping.
BOOKKEEPING_DIR = ".download"


def _book(final: Path, suffix: str) -> Path:
    return final.parent / BOOKKEEPING_DIR / (final.name + suffix)


def partial_path(final: Path) -> Path:
    """Where the bytes of an unfinished download of ``final`` are kept."""
    return _book(final, ".partial")


def sidecar_path(final: Path) -> Path:
    """Where the cache's sidecar of a downloaded ``final`` is kept."""
    return _book(final, ".meta.json")


def _state_path(final: Path) -> Path:
    return _book(final, ".partial.json")


@contextlib.contextmanager
def _locked(final: Path) -> Iterator[None]:
    lock = _book(final, ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveUnavailable(f"{final}: another process is downloading this file; "
                                     "retried at a later poll") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _discard(final: Path) -> None:
    for p in (partial_path(final), _state_path(final)):
        cache.discard(p)


def _resume_offset(final: Path, url: str) -> tuple[int, str | None]:
    """Bytes already there for ``url`` and the validator they were fetched under."""
    part, state = partial_path(final), _state_path(final)
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
        size = part.stat().st_size
    except (OSError, ValueError):
        _discard(final)
        return 0, None
    if not isinstance(saved, dict) or saved.get("url") != url:
        _discard(final)
        return 0, None
    validator = saved.get("validator")
    return size, validator if isinstance(validator, str) and validator else None


def _digests(path: Path, algo: str | None) -> tuple[str, str | None]:
    """sha256 of ``path`` and its ``algo`` digest (None without one), one read."""
    sha = hashlib.sha256()
    other = hashlib.new(algo) if algo and algo != "sha256" else None
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(cache.CHUNK_BYTES), b""):
            sha.update(chunk)
            if other is not None:
                other.update(chunk)
    digest = sha.hexdigest()
    return digest, (digest if algo == "sha256" else other.hexdigest() if other else None)


def reusable(final: Path, url: str, size_bytes: int | None,
             checksum: tuple[str, str] | None) -> cache.Sidecar | None:
    """The sidecar of a cached ``final`` still good for this file: same URL, the announced
    size and sha256 (when given) matching, and its content intact."""
    side = cache.read_sidecar(final, sidecar_path(final)) if final.is_file() else None
    if side is None or side.url != url:
        return None
    if (size_bytes is not None and side.size_bytes != size_bytes) or (
            checksum is not None and checksum[0] == "sha256" and checksum[1] != side.sha256):
        return None
    return side if cache.sha256_file(final) == side.sha256 else None


def download(url: str, final: Path, *, open_get: Opener,
             retrying: Callable[[str, Deadline, Callable[[], cache.Sidecar]], cache.Sidecar],
             deadline_s: float, max_bytes: int, size_bytes: int | None = None,
             checksum: tuple[str, str] | None = None) -> cache.Sidecar:
    """Fetch ``url`` into ``final`` (resuming a partial download), verify and install it.

    Args:
        url: The file's URL.
        final: Its path in the cache.
        open_get: Sends the GET (authenticated, bounded, redirects checked).
        retrying: Runs one attempt with the archive's retries within the deadline.
        deadline_s: Total time for this file in this call, seconds (what arrived stays
            for the next call).
        max_bytes: Largest file accepted, bytes.
        size_bytes: The size the archive announces, when it does.
        checksum: ``(algorithm, hex digest)`` the archive announces, when it does.

    Returns:
        The sidecar of the installed (or reused) file.

    Raises:
        ArchiveUnavailable: the archive failed after the retries (partial bytes kept), or
            another process is downloading the file.
        BrokenProduct: the complete file does not match its checksum or size (discarded).
        ArchiveError: an HTTP error, or a file over ``max_bytes``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    side = reusable(final, url, size_bytes, checksum)
    if side is not None:
        log.debug("archive %s: cached copy %s kept", url, final)
        return side
    if size_bytes is not None and size_bytes > max_bytes:
        raise too_large(url, "product", max_bytes, announced=size_bytes)
    with _locked(final):
        deadline = Deadline(deadline_s)
        return retrying(url, deadline, lambda: _attempt(
            url, final, open_get, deadline, max_bytes, size_bytes, checksum))


def _open_from(url: str, final: Path, open_get: Opener, deadline: Deadline
               ) -> tuple[requests.Response, int, str | None]:
    """The response to continue from: its status decides whether the partial bytes stay."""
    offset, validator = _resume_offset(final, url)
    if offset == 0:
        return open_get(url, deadline, {}, ()), 0, None
    headers = {"Range": f"bytes={offset}-"}
    if validator:
        headers["If-Range"] = validator
    resp = open_get(url, deadline, headers, (416,))
    m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", "").strip())
    if resp.status_code == 206 and m is not None and int(m.group(1)) == offset:
        return resp, offset, m.group(3)
    if resp.status_code == 200:
        log.info("archive %s: the server sent the whole file instead of bytes %d-; "
                 "restarting the download", url, offset)
        _discard(final)
        return resp, 0, None
    log.info("archive %s: cannot resume at byte %d (HTTP %d, Content-Range %r); "
             "restarting the download", url, offset, resp.status_code,
             resp.headers.get("Content-Range"))
    resp.close()
    _discard(final)
    return open_get(url, deadline, {}, ()), 0, None


def _attempt(url: str, final: Path, open_get: Opener, deadline: Deadline, max_bytes: int,
             size_bytes: int | None, checksum: tuple[str, str] | None) -> cache.Sidecar:
    offset, _ = _resume_offset(final, url)
    if offset and offset == size_bytes:  # complete before a crash, never verified
        return _verify_and_install(url, final, offset, size_bytes, checksum, None)
    resp, offset, total_text = _open_from(url, final, open_get, deadline)
    if resp.status_code not in (200, 206):
        resp.close()
        raise ArchiveError(f"{url}: unexpected HTTP {resp.status_code} for a file download")
    length = resp.headers.get("Content-Length", "").strip()
    total = (int(total_text) if total_text and total_text.isdigit()
             else offset + int(length) if length.isdigit() else None)
    if total is not None and total > max_bytes:
        resp.close()
        _discard(final)
        raise too_large(url, "product", max_bytes, announced=total)
    if total is not None and size_bytes is not None and total != size_bytes:
        resp.close()
        _discard(final)
        raise BrokenProduct(f"{url}: the server sends {total:,} bytes but the archive's file "
                            f"list announces {size_bytes:,}; not installed in the cache")
    validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
    with atomic_write(_state_path(final), "w") as fh:
        json.dump({"url": url, "validator": validator}, fh)
    part = partial_path(final)
    with open(part, "r+b" if offset else "wb") as out:
        out.seek(offset)
        out.truncate(offset)
        stream_body(resp, url, deadline=deadline, cap_bytes=max_bytes - offset,
                    what="product", sink=out.write, chunk_bytes=CHUNK_BYTES)
    size = part.stat().st_size
    if total is not None and size < total:  # the server ended early: resume next attempt
        raise ArchiveUnavailable(f"{url}: the download ended at {size:,} of {total:,} bytes; "
                                 "the rest is asked for at the next attempt")
    return _verify_and_install(url, final, size, size_bytes, checksum,
                               resp.headers.get("Last-Modified"))


def _verify_and_install(url: str, final: Path, size: int, size_bytes: int | None,
                        checksum: tuple[str, str] | None,
                        last_modified: str | None) -> cache.Sidecar:
    part = partial_path(final)
    problem = None
    if size_bytes is not None and size != size_bytes:
        problem = f"received {size:,} bytes, the archive announces {size_bytes:,}"
    sha256, digest = _digests(part, checksum[0] if checksum else None)
    if problem is None and checksum is not None and digest != checksum[1]:
        problem = (f"{checksum[0]} checksum {digest} differs from the archive's "
                   f"{checksum[1]}")
    if problem is not None:
        _discard(final)
        raise BrokenProduct(f"{url}: broken download ({problem}); not installed in the "
                            "cache, the partial download was discarded")
    os.replace(part, final)
    side = cache.Sidecar(url, size, last_modified, sha256)
    cache.write_sidecar(final, side, sidecar_path(final))
    cache.discard(_state_path(final))
    return side
