"""``products list`` and ``products retry``: the products of the watch, and re-queueing one.

``products list --config FILE [--target ID] [--status S]`` prints one JSON line per product
(``id``, ``target``, ``frame``, ``pair``, ``status``, ``attempts``, ``last_error``,
``next_attempt_at``...). A ``quarantined`` product was refused for what it holds (corrupt,
a decompression bomb, values no interferogram can hold, another grid, a failed scoring);
``last_error`` names the file and the check, and the watch does not try it again by
itself. ``products retry ID --config FILE`` makes it (or a ``failed`` one waiting for its
backoff) due at the next poll, once the archive holds a good copy or the cause is fixed.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.domain import ProductStatus

if TYPE_CHECKING:
    from monitor.store import Product


def register(subparsers: argparse._SubParsersAction) -> None:
    products = subparsers.add_parser("products", help="list the watch's products or "
                                                      "re-queue a quarantined one")
    sub = products.add_subparsers(dest="products_command", metavar="ACTION")
    sub.required = True
    plist = sub.add_parser("list", help="products, one JSON line each")
    plist.add_argument("--target", metavar="ID", help="only this target's products")
    plist.add_argument("--status", choices=[s.value for s in ProductStatus],
                       help="only products in this state")
    plist.add_argument("--config", metavar="FILE", required=True, help="TOML configuration")
    plist.set_defaults(func=run_list)
    retry = sub.add_parser("retry", help="make a quarantined or failed product due again")
    retry.add_argument("product_id", metavar="ID", type=int,
                       help="product id (see products list)")
    retry.add_argument("--config", metavar="FILE", required=True, help="TOML configuration")
    retry.set_defaults(func=run_retry)


def _store(config: str) -> Any:
    from monitor.config import load_settings
    from monitor.store import Store, make_engine, require_current

    settings = load_settings(config)
    require_current(settings.database.url, config)
    return settings, Store(make_engine(settings.database.url))


def _doc(p: Product) -> dict[str, Any]:
    return {"id": p.id, "target": p.target_id, "frame": p.frame,
            "pair": f"{p.date1:%Y%m%d}_{p.date2:%Y%m%d}", "status": p.status,
            "attempts": p.attempts, "last_error": p.last_error,
            "next_attempt_at": p.next_attempt_at, "listed_at": p.listed_at,
            "ingested_at": p.ingested_at, "url": p.unw_url}


def run_list(args: argparse.Namespace) -> int:
    settings, store = _store(args.config)
    if args.target is not None:
        settings.target(args.target)
    for p in store.list_products(args.target, status=args.status):
        print(json.dumps(_doc(p), default=str))
    return 0


def run_retry(args: argparse.Namespace) -> int:
    _, store = _store(args.config)
    print(json.dumps(_doc(store.requeue_product(args.product_id, datetime.now(UTC))),
                     default=str))
    return 0
