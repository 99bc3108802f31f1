"""Which hosts the archive client may talk to, and which links of a listing it may follow.

A remote listing decides what the client fetches next, and a server decides where a
redirect goes; neither is trusted to send the client to a host the operator did not name.
:class:`HostAllowList` holds the hosts of ``[archives.NAME] allowed_hosts`` (by default the
base URL's host only); :class:`LinkScope` adds that a link must stay inside one frame's tree
(``/<track>/<frame>/`` somewhere in its path: the portal's own tree, a mirror's
``/mirror/<track>/<frame>/...`` or a blob store's ``/blobs/<track>/<frame>/...``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.config import HOST_ENTRY_RE
from monitor.errors import InputError


def normalise_host_entry(entry: str) -> str:
    """One allow-list entry, ``host`` or ``host:port``, in lower case.

    Raises:
        InputError: the entry holds a scheme, a path, credentials or other characters.
    """
    value = entry.strip().lower()
    if not HOST_ENTRY_RE.match(value):
        raise InputError(f"allowed host {entry!r}: expected 'host' or 'host:port' (no scheme, "
                         "path or credentials), e.g. 'gws-access.jasmin.ac.uk'")
    return value


def host_of(url: str) -> str:
    """The ``host`` or ``host:port`` of an http(s) URL as written (port only if explicit)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port is not None else host


@dataclass(frozen=True)
class HostAllowList:
    """Hosts the client may request. An entry without a port allows every port of that
    host; ``host:port`` allows that port only. Only http and https are ever allowed."""

    hosts: tuple[str, ...]

    @classmethod
    def of(cls, base_url: str, extra: Iterable[str] = ()) -> HostAllowList:
        """The base URL's host (with its port when the URL names one) and ``extra``."""
        entries = [host_of(base_url), *extra]
        return cls(tuple(dict.fromkeys(normalise_host_entry(e) for e in entries)))

    def allows(self, url: str) -> bool:
        """Whether ``url`` is http(s) on an allowed host (and port)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # a malformed port or IPv6 literal
            return False
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return False
        port = port if port is not None else (443 if parts.scheme == "https" else 80)
        return any(entry in (host, f"{host}:{port}") for entry in self.hosts)

    def describe(self) -> str:
        return ", ".join(self.hosts)


@dataclass(frozen=True)
class LinkScope:
    """Where the links of one frame's listings may point.

    Attributes:
        hosts: The hosts allowed.
        frame_path: ``/<track>/<frame>/``; a link's path must contain it.
    """

    hosts: HostAllowList
    frame_path: str

    def refusal(self, url: str) -> str | None:
        """Why ``url`` is outside the scope, or None when it may be followed."""
        if not self.hosts.allows(url):
            return (f"host {host_of(url)!r} is not in allowed_hosts ({self.hosts.describe()}); "
                    "add it to [archives.NAME] allowed_hosts if it is a trusted mirror")
        if self.frame_path not in urlsplit(url).path:
            return f"outside the frame's tree (no {self.frame_path!r} in its path)"
        return None
