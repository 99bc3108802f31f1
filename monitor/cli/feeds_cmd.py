"""``insar-monitor feeds --config FILE [--out DIR]``: write the feeds the daemon publishes
(:func:`monitor.service.feeds.publish_feeds`): a CAP 1.2 document per alert, ``atom.xml``
and ``alerts.geojson``, into ``--out`` or ``[feeds] dir``. Prints one JSON line saying
what was written. A CAP document that is not valid CAP 1.2 is refused (exit 2, naming the
alert) and nothing is written.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "feeds", help="write the CAP, Atom and GeoJSON feeds of the alerts and levels")
    parser.add_argument("--config", metavar="FILE", required=True,
                        help="TOML configuration (targets, database, [feeds])")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output folder (default: [feeds] dir)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from monitor.config import load_settings
    from monitor.service.feeds import publish_feeds
    from monitor.store import Store, make_engine, require_current

    settings = load_settings(args.config)
    require_current(settings.database.url, args.config)
    store = Store(make_engine(settings.database.url))
    report = publish_feeds(store, settings, args.out, datetime.now(UTC))
    print(json.dumps({
        "out": str(report.out_dir), "cap": [str(p) for p in report.cap_files],
        "atom": str(report.atom), "geojson": str(report.geojson),
        "quicklooks": [str(p) for p in report.quicklooks], "written": report.written,
        "unchanged": report.unchanged, "validated": report.validated,
        "status": settings.feeds.status}))
    return 0
