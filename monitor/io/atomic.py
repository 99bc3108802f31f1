"""Atomic file writes: a temporary file in the target's directory, then ``os.replace``.

A crash or an error while writing leaves the previous file (or none) under the final
name, never a torn one, and removes the temporary file. The file gets the permissions an
ordinary ``open`` would give it (0666 less the process umask), not the 0600 of
:func:`tempfile.mkstemp`, so that quicklooks, reports and series files stay readable by
the other users and services of an observatory (a web server, a backup job).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import: ``os.umask`` is process-wide, so reading it later, while the
#: daemon's threads may be creating files, would race.
_FILE_MODE = 0o666 & ~_process_umask()


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *,
                 fsync: bool = False, encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path``.

    Args:
        path: Final file; its directory is created when missing.
        mode: ``"wb"`` or ``"w"``.
        fsync: Flush to disk before the rename (for state a daemon restarts from).
        encoding: Text encoding for ``"w"`` (default UTF-8).

    Yields:
        The open temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if text else None) as fh:
            yield fh
            os.fchmod(fh.fileno(), _FILE_MODE)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
