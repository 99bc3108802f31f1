"""Atomic file writes: a temporary file in the target's directory, then ``os.replace``.

A crash or an error while writing leaves the previous file (or none) under the final
name, never a torn one, and removes the temporary file. A process killed outright
(``kill -9``, power loss) cannot remove it: temporary files therefore carry their writer's
process id (``.NAME.<pid>.XXXXXXXX.tmp``; the product cache's ``NAME.<pid>.XXXXXXXX.part``
and the dry-run e-mail folder's ``NAME.eml.<pid>.part`` follow the same rule), and
:func:`sweep_orphaned_temp_files`, run by the daemon when it starts, removes those whose
writer is no longer running (never the file of a live writer, such as a ``poll --once``
running beside the daemon). The file gets the permissions an
ordinary ``open`` would give it (0666 less the process umask), not the 0600 of
:func:`tempfile.mkstemp`, so that quicklooks, reports and series files stay readable by
the other users and services of an observatory (a web server, a backup job).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

#: A temporary file of a writer that follows this module's rule: ``.<pid>`` then an
#: optional random part, then ``.tmp`` or ``.part``, at the end of the name.
ORPHAN_TEMP_RE = re.compile(r"\.(\d+)(\.[A-Za-z0-9_]+)?\.(tmp|part)$")


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
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp",
                               dir=target.parent)
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


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (ours or another user's)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    except OverflowError:  # not a pid at all
        return False
    return True


def sweep_orphaned_temp_files(*folders: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files (and working directories) that writers killed mid-write
    left in ``folders``.

    Only paths named by this module's rule (``ORPHAN_TEMP_RE``) whose writer process is no
    longer running are removed: files, and directories with all they hold (the working
    directory of a PALSAR-2 product or of a zip being extracted, made with that rule);
    missing folders are skipped, and a path that cannot be removed is logged and left.

    Args:
        folders: Folders searched recursively (the watch's series, cache, quicklook,
            dry-run outbox and feeds folders).

    Returns:
        The files and directories removed.
    """
    removed: list[Path] = []
    for folder in folders:
        base = Path(folder)
        if not base.is_dir():
            continue
        orphans = [p for p in base.rglob("*")
                   if (m := ORPHAN_TEMP_RE.search(p.name)) and not _alive(int(m.group(1)))]
        for path in sorted(orphans, key=lambda p: len(p.parts)):  # a directory before its files
            if any(path.is_relative_to(done) for done in removed):
                continue
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.is_file():
                    path.unlink()
                else:
                    continue
            except OSError as exc:
                log.warning("cannot remove the orphaned temporary path %s: %s", path, exc)
                continue
            removed.append(path)
    if removed:
        log.info("removed %d temporary file(s) or folder(s) left by killed writers, e.g. %s",
                 len(removed), removed[0])
    return removed
