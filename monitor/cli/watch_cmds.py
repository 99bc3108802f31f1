"""``poll``, ``targets list``, ``alerts list`` and ``alerts ack``: the watch by hand.

Each command first checks the database schema (``require_current``) and refuses an old or
empty database with the command that fixes it (``insar-monitor db upgrade --config FILE``).

``poll TARGET --once`` runs one poll of one target (:func:`monitor.service.pipeline.
poll_target`) then one pass over the outbox (:func:`monitor.service.outbox.deliver_outbox`),
prints one JSON line per new epoch (``epoch``, ``frame``, ``cum_max_m``, ``p_fused``,
``lstt_p``, ``p_corrected`` and ``correction`` for flagged steps' second look, ``level``)
and a summary line (``alerts_raised``, ``alerts_cleared``, ``deliveries_queued`` over
every channel, ``quarantined`` and ``blocked`` frames with their reason, ``sent``,
``delivery_failed``, ``delivery_given_up``, ``deliveries_failed`` (every delivery waiting
for ``outbox retry``), ``outbox``: ``ok``, ``deliveries failed permanently`` or
``deliveries remain queued after errors``...), and exits with 4 (the archive errors'
code) when a product or a listing failed or a frame of the target is blocked (a
quarantined product no listed pair bridges: ``insar-monitor products list --status
quarantined``, then ``products retry ID``), else 7 (the delivery errors' code) when the
outbox is not ``ok``. It logs as the configuration's ``[logging]`` section says unless
``-v`` or ``--log-json`` is given, like ``run``.

``alerts list`` prints one JSON line per alert: ``kind`` is ``deformation`` (a level
raised; ``level`` is that level) or ``cleared`` (a raised level fell back; ``level`` is
``none`` and the message names the level that cleared) with its ``deliveries``: channel,
recipient, status (``queued``, ``retrying``, ``sent``, ``failed``), attempts, last error,
when the next attempt is due and since when it waits. ``alerts ack ID --by NAME
--config FILE`` is the command every alert e-mail and webhook payload spells out.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.cli.detector_options import load_scoring_model
from monitor.cli.logs import apply_configured_logging
from monitor.domain import AlertLevel
from monitor.errors import ArchiveError, DeliveryError

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.store import Store

#: Exit status of ``poll`` when a product failed or a frame is blocked.
EXIT_PRODUCT_FAILED = ArchiveError.exit_code
#: Exit status of ``poll`` and ``run --once`` when deliveries failed permanently or remain
#: queued after errors (and no product failed).
EXIT_DELIVERY_FAILED = DeliveryError.exit_code


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", required=True,
                        help="TOML configuration (targets, archives, database, e-mail)")


def register(subparsers: argparse._SubParsersAction) -> None:
    poll = subparsers.add_parser("poll", help="poll one target once: list, fetch, ingest, "
                                              "score, alert, then send the outbox")
    poll.add_argument("target", metavar="TARGET", help="target id from the configuration")
    poll.add_argument("--once", action="store_true", required=True,
                      help="one poll, then exit (the daemon polls on a schedule)")
    poll.add_argument("--model", metavar="FILE",
                      help="detector model file (default: the packaged weights)")
    poll.add_argument("--arch", default=None, help="architecture of the packaged weights "
                                                   "(default: compact)")
    _config_arg(poll)
    poll.set_defaults(func=run_poll)

    targets = subparsers.add_parser("targets", help="list the watched targets")
    tsub = targets.add_subparsers(dest="targets_command", metavar="ACTION")
    tsub.required = True
    tlist = tsub.add_parser("list", help="targets of the configuration and their state")
    _config_arg(tlist)
    tlist.set_defaults(func=run_targets_list)

    alerts = subparsers.add_parser("alerts", help="list or acknowledge alerts")
    asub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    asub.required = True
    alist = asub.add_parser("list", help="alerts, oldest first, one JSON line each")
    alist.add_argument("--target", metavar="ID", help="only this target's alerts")
    alist.add_argument("--unacknowledged", action="store_true",
                       help="only alerts nobody has acknowledged")
    _config_arg(alist)
    alist.set_defaults(func=run_alerts_list)
    ack = asub.add_parser("ack", help="record who acknowledged an alert")
    ack.add_argument("alert_id", metavar="ID", type=int, help="alert id (see alerts list)")
    ack.add_argument("--by", required=True, metavar="NAME", help="who acknowledges it")
    _config_arg(ack)
    ack.set_defaults(func=run_alerts_ack)


def _open(args: argparse.Namespace) -> tuple[Settings, Store]:
    from monitor.config import load_settings
    from monitor.store import Store, make_engine, require_current

    settings = load_settings(args.config)
    require_current(settings.database.url, args.config)
    return settings, Store(make_engine(settings.database.url))


def _now() -> datetime:
    return datetime.now(UTC)


def _print(doc: dict[str, Any]) -> None:
    print(json.dumps(doc, default=str))


def run_poll(args: argparse.Namespace) -> int:
    from monitor.service.context import WatchContext
    from monitor.service.executors import build_executor
    from monitor.service.outbox import deliver_outbox
    from monitor.service.pipeline import poll_target

    settings, store = _open(args)
    apply_configured_logging(args, settings.logging)
    target = settings.target(args.target)
    model = load_scoring_model(args.model, args.arch, settings.science.detector)
    # The scoring runs where the daemon's would ([executor]): one rule for every command.
    executor = build_executor(settings.executor, model)
    try:
        ctx = WatchContext.from_settings(settings, store, model, config_file=args.config,
                                         executor=executor)
        report = poll_target(ctx, target, _now())
    finally:
        executor.close()
    for e in report.epochs:
        _print({"epoch": e.epoch.isoformat(), "frame": e.frame, "cum_max_m": e.cum_max_m,
                "p_fused": e.p_fused, "lstt_p": e.lstt_p, "p_corrected": e.p_corrected,
                "correction": e.correction, "level": e.level.name.lower()})
    delivery = deliver_outbox(ctx, _now())
    _print({"summary": {
        "target": report.target_id, "listed": report.listed, "fetched": report.fetched,
        "ingested": report.ingested, "reconciled": report.reconciled,
        "scored": report.scored, "alerts_raised": report.alerts_raised,
        "alerts_cleared": report.alerts_cleared,
        "deliveries_queued": report.deliveries_queued, "sent": delivery.sent,
        "delivery_failed": delivery.failed, "delivery_given_up": delivery.given_up,
        "deliveries_failed": delivery.failed_total, "outbox_depth": delivery.outbox_depth,
        "outbox": delivery.problem or "ok",
        "failures": [{"frame": f.frame, "pair": f.pair, "stage": f.stage,
                      "reason": f.reason, "message": f.message} for f in report.failures],
        "quarantined": report.quarantined,
        "blocked": [{"frame": b.frame, "at": b.at, "reason": b.reason}
                    for b in report.blocked],
        "notes": list(report.notes)}})
    if not report.ok:
        return EXIT_PRODUCT_FAILED
    return EXIT_DELIVERY_FAILED if delivery.problem else 0


def run_targets_list(args: argparse.Namespace) -> int:
    settings, store = _open(args)
    for t in settings.targets:
        epochs = store.list_epochs(t.id)
        scores = store.latest_scores(t.id, 1)
        _print({"id": t.id, "name": t.name, "lon": t.lon, "lat": t.lat,
                "radius_km": t.radius_km, "archive": t.archive, "frames": list(t.frames),
                "recipients": len(t.recipients), "epochs": len(epochs),
                "last_epoch": epochs[-1].epoch.isoformat() if epochs else None,
                "last_p_fused": scores[-1].p_fused if scores else None,
                "unacknowledged_alerts": len(store.list_alerts(t.id, True))})
    return 0


def _alert_doc(a: Any) -> dict[str, Any]:
    return {"id": a.id, "target": a.target_id, "epoch": a.epoch.isoformat(), "kind": a.kind,
            "level": AlertLevel(a.level).name.lower(), "message": a.message,
            "created_at": a.created_at, "acknowledged_by": a.acknowledged_by,
            "acknowledged_at": a.acknowledged_at}


def delivery_doc(d: Any, now: datetime) -> dict[str, Any]:
    """What ``alerts list`` and ``outbox list`` say of one delivery: ``waiting_s`` is how
    long it has been queued without being sent (None once sent)."""
    created = d.created_at if d.created_at.tzinfo else d.created_at.replace(tzinfo=UTC)
    return {"id": d.id, "alert_id": d.alert_id, "channel": d.channel,
            "recipient": d.recipient, "status": d.status, "attempts": d.attempts,
            "last_error": d.last_error, "next_attempt_at": d.next_attempt_at,
            "created_at": d.created_at, "sent_at": d.sent_at,
            "waiting_s": None if d.sent_at is not None
            else round((now - created).total_seconds())}


def run_alerts_list(args: argparse.Namespace) -> int:
    settings, store = _open(args)
    if args.target is not None:
        settings.target(args.target)
    alerts = store.list_alerts(args.target, bool(args.unacknowledged))
    by_alert: dict[int, list[dict[str, Any]]] = {}
    now = _now()
    for d in store.list_deliveries(alert_ids=[a.id for a in alerts]):
        doc = delivery_doc(d, now)
        del doc["alert_id"]
        by_alert.setdefault(d.alert_id, []).append(doc)
    for a in alerts:
        _print({**_alert_doc(a), "deliveries": by_alert.get(a.id, [])})
    return 0


def run_alerts_ack(args: argparse.Namespace) -> int:
    _, store = _open(args)
    _print(_alert_doc(store.acknowledge_alert(args.alert_id, args.by, _now())))
    return 0
