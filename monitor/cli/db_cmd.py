"""``insar-monitor db upgrade`` and ``db current``: the store's schema version."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="upgrade or inspect the database schema")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION")
    sub.required = True
    for name, func, text in (
            ("upgrade", run_upgrade, "upgrade the database to the code's schema (Alembic head)"),
            ("current", run_current, "print the database's schema revision and the code's")):
        action = sub.add_parser(name, help=text)
        action.add_argument("--config", metavar="FILE",
                            help="TOML configuration whose [database] url is used "
                                 "(default: embedded defaults)")
        action.add_argument("--url", help="database URL (overrides the configuration)")
        action.set_defaults(func=func)


def database_url(args: argparse.Namespace) -> str:
    """``--url`` if given, else the configuration's ``[database] url``."""
    if args.url:
        return str(args.url)
    from monitor.config import load_settings

    return load_settings(args.config).database.url


def run_upgrade(args: argparse.Namespace) -> int:
    from monitor.store.schema import current_revision, upgrade
    from monitor.store.session import mask_url

    url = database_url(args)
    before = current_revision(url)
    upgrade(url)
    after = current_revision(url)
    if before == after:
        print(f"{mask_url(url)}: already at revision {after}")
    else:
        print(f"{mask_url(url)}: upgraded from {before or 'an empty database'} to {after}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from monitor.store.schema import current_revision, head_revision
    from monitor.store.session import mask_url

    url = database_url(args)
    current = current_revision(url)
    head = head_revision()
    state = "up to date" if current == head else "needs `insar-monitor db upgrade`"
    print(f"{mask_url(url)}: revision {current or 'none (empty database)'}, "
          f"code expects {head} ({state})")
    return 0
