"""Schema version of the store: programmatic Alembic upgrade and the start-up check.

The migrations live in ``monitor/migrations/`` and ship inside the package, so ``db upgrade``
works from an installed wheel, not only from a source checkout (``alembic.ini`` is
``monitor/migrations/alembic.ini``). The daemon calls :func:`require_current` before it starts, so
it never runs on a schema older (or newer) than the code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL

from monitor.errors import StoreError
from monitor.store.session import make_engine, mask_url

#: The Alembic environment (``env.py``, ``versions/``).
MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for ``url`` pointing at :data:`MIGRATIONS_DIR`.

    Raises:
        StoreError: the migrations directory is missing (package installed without it).
    """
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise StoreError(f"Alembic migrations not found at {MIGRATIONS_DIR}; the "
                         f"insar-monitor installation is incomplete, reinstall it")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def head_revision() -> str:
    """The revision the code expects (the head of the migration scripts)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    if head is None:
        raise StoreError(f"no migration scripts found in {MIGRATIONS_DIR / 'versions'}")
    return head


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (default: the head).

    Raises:
        StoreError: unreachable database or a failing migration.
    """
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except CommandError as exc:
        raise StoreError(f"cannot upgrade the database at {mask_url(url)} to {revision}: "
                         f"{exc}") from None
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    """The database's Alembic revision, or None for an empty (never upgraded) database.

    Raises:
        StoreError: unreachable database.
    """
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def require_current(url: str | URL, config_file: str | None = None) -> str:
    """Refuse a database whose schema is not the code's head revision.

    Args:
        url: The database.
        config_file: Configuration file to name in the message (``FILE`` when None).

    Returns:
        The (current) revision.

    Raises:
        StoreError: ``database at URL is at revision X, code expects Y; run
            `insar-monitor db upgrade --config FILE```.
    """
    current = current_revision(url)
    head = head_revision()
    if current != head:
        shown = "none (empty database)" if current is None else current
        raise StoreError(f"database at {mask_url(url)} is at revision {shown}, code expects "
                         f"{head}; run `insar-monitor db upgrade --config "
                         f"{config_file or 'FILE'}`")
    return head
