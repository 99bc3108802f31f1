"""``outbox list`` and ``outbox retry``: the deliveries of alerts, seen and re-sent by hand.

``insar-monitor outbox list --config FILE [--failed] [--alert ID]`` prints one JSON line
per delivery (``id``, ``alert_id``, ``channel``, ``recipient``, ``status``: ``queued``,
``retrying``, ``sent`` or ``failed``, ``attempts``, ``last_error``, ``next_attempt_at``,
``created_at``, ``sent_at``, ``waiting_s``: seconds since it was queued, None once sent)
and a summary line (``waiting``, ``failed``). ``--failed`` lists only the deliveries that
failed permanently: a bad address, a webhook that refused the message with a 4xx, a
message that could not be built. They stay in the database until an operator re-sends
them.

``insar-monitor outbox retry --config FILE (--delivery ID [--delivery ID ...] | --alert ID
| --all-failed)`` makes those deliveries due now (attempts and last error are kept as
history; the status becomes ``queued``): the running daemon sends them within ``[outbox]
interval_s``, or ``--now`` sends them from this command at once (one pass over the
outbox, with the configured channels). A retrying delivery named by ``--delivery`` or
``--alert`` is also made due at once instead of after its backoff. Sent deliveries are
never sent again. Exit 0; with ``--now``, 7 when a re-sent delivery failed again.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from monitor.cli.logs import apply_configured_logging
from monitor.cli.watch_cmds import delivery_doc
from monitor.errors import DeliveryError

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.io.models import LoadedModel
    from monitor.service.outbox import DeliveryReport
    from monitor.store import Store

#: Exit status of ``outbox retry --now`` when a re-sent delivery failed again.
EXIT_DELIVERY_FAILED = DeliveryError.exit_code


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", required=True,
                        help="TOML configuration (database, e-mail, webhooks)")


def register(subparsers: argparse._SubParsersAction) -> None:
    outbox = subparsers.add_parser("outbox", help="list alert deliveries, re-send failed ones")
    sub = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    sub.required = True
    olist = sub.add_parser("list", help="deliveries, one JSON line each, then a summary")
    olist.add_argument("--failed", action="store_true",
                       help="only deliveries that failed permanently (wait for retry)")
    olist.add_argument("--alert", metavar="ID", type=int, help="only this alert's deliveries")
    _config_arg(olist)
    olist.set_defaults(func=run_list)
    retry = sub.add_parser("retry", help="re-queue failed deliveries after fixing the cause")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--delivery", metavar="ID", type=int, action="append",
                       help="this delivery (repeatable; see outbox list)")
    which.add_argument("--alert", metavar="ID", type=int,
                       help="every unsent delivery of this alert")
    which.add_argument("--all-failed", action="store_true",
                       help="every delivery that failed permanently")
    retry.add_argument("--now", action="store_true",
                       help="send them from this command at once instead of leaving them to "
                            "the daemon")
    _config_arg(retry)
    retry.set_defaults(func=run_retry)


def _now() -> datetime:
    return datetime.now(UTC)


def _print(doc: dict[str, Any]) -> None:
    print(json.dumps(doc, default=str))


def run_list(args: argparse.Namespace) -> int:
    from monitor.cli.watch_cmds import _open

    _, store = _open(args)
    now = _now()
    rows = store.list_deliveries(alert_ids=None if args.alert is None else [args.alert],
                                 failed_only=bool(args.failed))
    for d in rows:
        _print(delivery_doc(d, now))
    _print({"summary": {"listed": len(rows), "waiting": store.outbox_depth(),
                        "failed": store.failed_count()}})
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from monitor.cli.watch_cmds import _open

    settings, store = _open(args)
    apply_configured_logging(args, settings.logging)
    now = _now()
    rows = store.requeue_deliveries(now, delivery_ids=args.delivery or (),
                                    alert_id=args.alert, all_failed=bool(args.all_failed))
    for d in rows:
        _print({"requeued": delivery_doc(d, now)})
    summary: dict[str, Any] = {"requeued": len(rows)}
    code = 0
    if args.now and rows:
        report = _send_now(settings, store, args.config, now)
        summary.update(sent=report.sent, failed=report.failed, given_up=report.given_up,
                       outbox=report.problem or "ok")
        code = EXIT_DELIVERY_FAILED if report.failed else 0
    else:
        summary["note"] = ("the daemon sends them within [outbox] interval_s "
                           f"({settings.outbox.interval_s:g} s)" if rows
                           else "nothing to re-send (sent deliveries are not sent again)")
    _print({"summary": summary})
    return code


def _send_now(settings: Settings, store: Store, config: str, now: datetime
              ) -> DeliveryReport:
    """One pass over the outbox from this command, with the configured channels (the
    outbox reads no detector nor archive, so none is loaded)."""
    from monitor.service.context import WatchContext, build_notifiers
    from monitor.service.outbox import deliver_outbox

    ctx = WatchContext(settings, store, {}, cast("LoadedModel", None),
                       notifiers=build_notifiers(settings),
                       config_file=str(Path(config).absolute()))
    return deliver_outbox(ctx, now)
