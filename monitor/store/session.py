"""The one session pattern of the store: ``make_engine(url)`` and ``session_scope(engine)``.

SQLite (the embedded default) gets foreign keys switched on for every connection and WAL
journaling for file databases; PostgreSQL is reached through psycopg2 (a bare
``postgresql://`` URL is given that driver, since SQLAlchemy 2.1 would otherwise pick
psycopg 3). Connection failures become :class:`~monitor.errors.StoreError` naming the URL
with its password masked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import StoreError
from monitor.redact import mask_secrets


def mask_url(url: str | URL) -> str:
    """The URL as a string with its password replaced by ``***`` (for messages and logs);
    one SQLAlchemy cannot parse is masked by :func:`monitor.redact.mask_secrets`."""
    try:
        return mask_secrets(sa.make_url(url).render_as_string(hide_password=True))
    except (ArgumentError, ValueError):
        return mask_secrets(str(url))


def _parse(url: str | URL) -> URL:
    try:
        parsed = sa.make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise StoreError(f"database URL {mask_url(url)!r} is not a valid SQLAlchemy URL "
                         f"(expected e.g. sqlite:///monitor.db or "
                         f"postgresql://user@host/db): {mask_secrets(str(exc))}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"database URL {mask_url(parsed)}: backend "
                         f"{parsed.get_backend_name()!r} is not supported; use sqlite or "
                         f"postgresql")
    return parsed


def _sqlite_pragmas(file_db: bool) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        if file_db:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()
    return on_connect


def make_engine(url: str | URL, *, connect_timeout_s: float = 10.0,
                check: bool = True) -> Engine:
    """Engine for ``url`` (SQLite or PostgreSQL), checked by one connection.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user:pw@host/db``).
        connect_timeout_s: Connection timeout (PostgreSQL) or busy timeout (SQLite), seconds.
        check: Connect once now so an unreachable database fails here, clearly.

    Raises:
        StoreError: invalid URL, unsupported backend, missing driver or unreachable database.
    """
    parsed = _parse(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args["timeout"] = connect_timeout_s
    else:
        connect_args["connect_timeout"] = max(1, round(connect_timeout_s))
    try:
        engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"database URL {mask_url(parsed)}: driver unavailable "
                         f"({mask_secrets(str(exc))}); "
                         f"install psycopg2-binary for PostgreSQL") from None
    if parsed.get_backend_name() == "sqlite":
        file_db = parsed.database not in (None, "", ":memory:")
        event.listen(engine, "connect", _sqlite_pragmas(file_db))
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except DBAPIError as exc:
            engine.dispose()
            raise StoreError(f"cannot connect to the database at {mask_url(parsed)}: "
                             f"{_reason(exc)}; check the URL, the server and the "
                             f"credentials") from None
    return engine


def _reason(exc: DBAPIError) -> str:
    text = str(exc.orig).strip() if exc.orig is not None else str(exc)
    return mask_secrets(" ".join(text.split()))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error.

    Objects loaded inside stay readable after the block (``expire_on_commit=False``).

    Raises:
        StoreError: the database failed (connection lost, locked, constraint violated).
    """
    factory = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        raise StoreError(f"database error at {mask_url(engine.url)}: {_reason(exc)}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
