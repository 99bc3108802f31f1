"""Alembic environment of the insar-monitor store.

The URL comes from the caller: ``config.attributes["connection"]`` (an open connection,
as ``monitor.store.schema.upgrade`` passes), ``config.attributes["url"]``, ``-x url=URL``,
``-x config=FILE`` (its ``[database] url``) or the embedded default configuration.
SQLite gets batch mode (its ALTER TABLE is limited); types are compared on autogenerate.
"""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy.engine import Connection

from monitor.config import load_settings
from monitor.store.models import Base
from monitor.store.session import make_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    xargs = context.get_x_argument(as_dictionary=True)
    if xargs.get("url"):
        return xargs["url"]
    return load_settings(xargs.get("config")).database.url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=_url().startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
