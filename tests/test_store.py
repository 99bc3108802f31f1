"""Contract tests of the store, run against SQLite always and PostgreSQL when
``MONITOR_TEST_POSTGRES_URL`` is set (each PostgreSQL test in its own fresh schema)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.cli import main
from monitor.domain import AlertLevel, ProductRef, ProductStatus, RemoteFile, ScoreCorrection
from monitor.errors import InputError, StoreError
from monitor.store import (
    Backoff,
    Base,
    Store,
    current_revision,
    head_revision,
    make_engine,
    require_current,
    upgrade,
)
from monitor.store.schema import alembic_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FRAME = "022D_04826_121209"


@pytest.fixture
def database_url(watch_database_url: str) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema (conftest)."""
    return watch_database_url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    upgrade(database_url)
    engine = make_engine(database_url)
    s = Store(engine)
    s.upsert_target("211010", "Campi Flegrei", 14.139, 40.827, 10.0, now=T0)
    yield s
    engine.dispose()


def _ref(d1: date, d2: date) -> ProductRef:
    pair = f"{d1:%Y%m%d}_{d2:%Y%m%d}"
    return ProductRef(FRAME, d1, d2, RemoteFile(f"http://h/{pair}.geo.unw.tif",
                                                f"{pair}.geo.unw.tif", 1234, T0))


REFS = [_ref(date(2026, 1, 1) + timedelta(days=12 * k),
             date(2026, 1, 13) + timedelta(days=12 * k)) for k in range(3)]


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


# -- schema -------------------------------------------------------------------------------


def test_migrations_upgrade_empty_database_and_match_models(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    upgrade(database_url)  # a second upgrade is a no-op
    assert current_revision(database_url) == head_revision() == "0004"
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def test_require_current_refuses_empty_and_old_database(database_url: str) -> None:
    with pytest.raises(StoreError, match=r"is at revision none \(empty database\), code "
                                         r"expects 0004; run `insar-monitor db upgrade "
                                         r"--config watch.toml`"):
        require_current(database_url, "watch.toml")
    upgrade(database_url, "0001")
    with pytest.raises(StoreError, match=r"is at revision 0001, code expects 0004"):
        require_current(database_url, "watch.toml")
    upgrade(database_url)
    assert require_current(database_url) == "0004"
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:  # an older schema: downgraded to the base
            cfg = alembic_config(database_url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="--config FILE"):
        require_current(database_url)


def test_db_cli_upgrades_and_reports(database_url: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current", "--url", database_url]) == 0
    assert "none (empty database)" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", database_url]) == 0
    assert "upgraded from an empty database to 0004" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", database_url]) == 0
    assert "already at revision 0004" in capsys.readouterr().out
    require_current(database_url)


# -- products -----------------------------------------------------------------------------


def test_listed_products_are_recorded_once(store: Store) -> None:
    first = store.record_listed_products("211010", REFS[:2], now=T0)
    second = store.record_listed_products("211010", REFS, now=T0 + timedelta(hours=1))
    assert [p.date1 for p in first] == [REFS[0].date1, REFS[1].date1]
    assert [p.id for p in second[:2]] == [p.id for p in first]
    assert len(second) == 3 and _count(store, "products") == 3
    assert all(p.status == ProductStatus.LISTED and p.attempts == 0 for p in second)
    assert second[0].listed_at == T0  # the first listing is kept
    p = store.get_product("211010", FRAME, REFS[0].date1, REFS[0].date2)
    assert p.unw_url == REFS[0].unw.url and p.size_bytes == 1234 and p.last_modified == T0


def test_product_lifecycle_is_idempotent(store: Store) -> None:
    p = store.record_listed_products("211010", REFS, now=T0)[0]
    f1 = store.mark_product_fetched(p.id, "ab" * 32, now=T0, size_bytes=99)
    f2 = store.mark_product_fetched(p.id, "cd" * 32, now=T0 + timedelta(minutes=5))
    assert f1.status == f2.status == ProductStatus.FETCHED
    assert f2.checksum == "ab" * 32 and f2.fetched_at == T0 and f2.size_bytes == 99
    i1 = store.mark_product_ingested(p.id, now=T0 + timedelta(minutes=1))
    i2 = store.mark_product_ingested(p.id, now=T0 + timedelta(minutes=9))
    assert i1.ingested_at == i2.ingested_at == T0 + timedelta(minutes=1)
    assert store.mark_product_failed(p.id, "late", now=T0).status == ProductStatus.INGESTED
    pending = [q.id for q in store.pending_products("211010", T0)]
    assert p.id not in pending and len(pending) == 2
    assert [q.id for q in store.record_listed_products("211010", REFS, now=T0)] == pending
    with pytest.raises(InputError, match="product_id=424242"):
        store.mark_product_ingested(424242, now=T0)


def test_failed_product_counts_attempts_and_backs_off(store: Store) -> None:
    p = store.record_listed_products("211010", REFS[:1], now=T0)[0]
    backoff = Backoff(base_s=60, factor=2, max_s=200)
    f = store.mark_product_failed(p.id, "HTTP 500 from http://h", now=T0, backoff=backoff)
    assert (f.attempts, f.status, f.last_error) == (1, ProductStatus.FAILED,
                                                     "HTTP 500 from http://h")
    assert f.next_attempt_at == T0 + timedelta(seconds=60)
    assert store.pending_products("211010", T0 + timedelta(seconds=59)) == []
    assert store.record_listed_products("211010", REFS[:1], now=T0 + timedelta(seconds=59)) == []
    t1 = T0 + timedelta(seconds=60)
    assert [q.id for q in store.pending_products("211010", t1)] == [p.id]
    f = store.mark_product_failed(p.id, "timeout", now=t1, backoff=backoff)
    assert f.attempts == 2 and f.next_attempt_at == t1 + timedelta(seconds=120)
    f = store.mark_product_failed(p.id, "timeout", now=t1, backoff=backoff)
    assert f.attempts == 3 and f.next_attempt_at == t1 + timedelta(seconds=200)  # capped
    ok = store.mark_product_fetched(p.id, "ef" * 32, now=t1)
    assert ok.status == ProductStatus.FETCHED and ok.next_attempt_at is None


def test_a_quarantined_product_returns_when_the_archive_republishes_it(store: Store) -> None:
    """Quarantine waits for an operator, unless the archive lists the phase file again
    with another size or time (a file caught mid-copy, a corrected product): then it is
    due again, once per change."""
    p = store.record_listed_products("211010", REFS[:1], now=T0)[0]
    q = store.quarantine_product(p.id, "fetch (validate): truncated", now=T0)
    assert q.status == ProductStatus.QUARANTINED
    t1 = T0 + timedelta(hours=1)
    assert store.record_listed_products("211010", REFS[:1], now=t1) == []  # same file
    old = REFS[0]
    bigger = ProductRef(old.frame, old.date1, old.date2,
                        RemoteFile(old.unw.url, old.unw.name, 5678, t1))
    (again,) = store.record_listed_products("211010", [bigger], now=t1)
    assert again.id == p.id and again.status == ProductStatus.LISTED
    assert again.attempts == 0 and again.size_bytes == 5678
    assert again.last_error is not None and "truncated" in again.last_error
    store.quarantine_product(p.id, "fetch (validate): still broken", now=t1)
    assert store.record_listed_products("211010", [bigger], now=t1) == []  # no change


def test_unknown_target_violates_the_foreign_key(store: Store) -> None:
    with pytest.raises(StoreError, match="database error"):
        store.record_listed_products("no-such-volcano", REFS[:1], now=T0)
    assert _count(store, "products") == 0


# -- epochs and scores --------------------------------------------------------------------


def _score(store: Store, epoch: date, p: float, now: datetime = T0) -> None:
    store.record_score("211010", epoch, p_fused=p, p_by_gain={"1": p, "2": p / 2},
                       model_sha256="0" * 64, code_version="0.1.0", params={"gains": [1, 2]},
                       now=now, peak_row=10, peak_col=20, peak_lon=14.1, peak_lat=40.8,
                       lstt_p=0.01, lstt_pe=0.3,
                       lstt_by_reference={"east": {"p": 0.01, "pe": 0.3}})


def test_scores_and_epochs_upsert_deterministic_values(store: Store) -> None:
    for _ in range(2):
        store.record_epoch("211010", date(2026, 1, 13), 1, 0, "series/211010.npz", 0.012)
        _score(store, date(2026, 1, 13), 0.25)
    _score(store, date(2026, 1, 13), 0.75, now=T0 + timedelta(days=1))  # rescored
    store.record_epoch("211010", date(2026, 1, 13), 2, 1, "series/211010.npz", None)
    assert _count(store, "scores") == 1 and _count(store, "epochs") == 1
    (e,) = store.list_epochs("211010")
    assert (e.n_products, e.segment, e.cum_max_m) == (2, 1, None)
    (s,) = store.latest_scores("211010", 5)
    assert s.p_fused == 0.75 and s.p_by_gain == {"1": 0.75, "2": 0.375}
    assert s.created_at == T0 and s.params == {"gains": [1, 2]}
    assert s.lstt_by_reference == {"east": {"p": 0.01, "pe": 0.3}}
    for k in range(1, 4):
        _score(store, date(2026, 1, 13) + timedelta(days=12 * k), 0.1 * k)
    latest = store.latest_scores("211010", 2)
    assert [x.epoch for x in latest] == [date(2026, 2, 6), date(2026, 2, 18)]
    with pytest.raises(InputError, match="n=-1"):
        store.latest_scores("211010", -1)


def test_scores_keep_the_corrected_rescoring_beside_the_raw_one(store: Store) -> None:
    epoch = date(2026, 1, 13)
    _score(store, epoch, 0.9)
    (s,) = store.latest_scores("211010", 1)
    assert s.correction_method is None and not s.corrected
    assert (s.decision_p_fused, s.decision_lstt_p) == (0.9, 0.01)
    fit = {"coefficients": [1.5e-5, -2e-9], "order": 2, "fallbacks": [
        {"method": "gacos", "reason": "no delay file for 2026-01-13"}]}
    store.record_score("211010", epoch, p_fused=0.9, p_by_gain={"1": 0.9},
                       model_sha256="0" * 64, code_version="0.1.0", params={}, now=T0,
                       lstt_p=0.01, correction=ScoreCorrection("empirical", 0.2, {"1": 0.2},
                                                               0.4, fit))
    (s,) = store.latest_scores("211010", 1)
    assert s.corrected and s.correction_method == "empirical" and s.correction == fit
    assert (s.p_fused, s.decision_p_fused, s.decision_lstt_p) == (0.9, 0.2, 0.4)
    assert s.p_by_gain_corrected == {"1": 0.2}
    store.record_score("211010", epoch, p_fused=0.9, p_by_gain={"1": 0.9},
                       model_sha256="0" * 64, code_version="0.1.0", params={}, now=T0,
                       lstt_p=0.01, correction=ScoreCorrection(
                           "none", None, None, None, {"reason": "flat DEM"}))
    (s,) = store.latest_scores("211010", 1)
    assert not s.corrected and (s.decision_p_fused, s.decision_lstt_p) == (0.9, 0.01)


def test_upgrade_from_0001_keeps_stored_scores(database_url: str) -> None:
    upgrade(database_url, "0001")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO targets (id, name, lon, lat, radius_km, created_at) VALUES "
                "('211010', 'Campi Flegrei', 14.1, 40.8, 10.0, :t)"), {"t": T0})
            conn.execute(sa.text(
                "INSERT INTO scores (target_id, epoch, p_fused, p_by_gain, lstt_by_reference,"
                " model_sha256, code_version, params, created_at) VALUES ('211010', "
                ":e, 0.7, '{}', '{}', :m, '0.1.0', '{}', :t)"),
                {"e": date(2026, 1, 13), "m": "0" * 64, "t": T0})
        upgrade(database_url)
        (s,) = Store(engine).latest_scores("211010", 5)
        assert s.p_fused == 0.7 and s.correction_method is None and s.correction is None
    finally:
        engine.dispose()


def test_upgrade_from_0003_keeps_queued_deliveries_as_email(database_url: str) -> None:
    upgrade(database_url, "0003")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO targets (id, name, lon, lat, radius_km, created_at) VALUES "
                "('211010', 'Campi Flegrei', 14.1, 40.8, 10.0, :t)"), {"t": T0})
            conn.execute(sa.text(
                "INSERT INTO alerts (target_id, epoch, kind, level, message, created_at) "
                "VALUES ('211010', :e, 'deformation', 1, 'P=0.8', :t)"),
                {"e": date(2026, 2, 6), "t": T0})
            alert_id = conn.execute(sa.text("SELECT id FROM alerts")).scalar_one()
            for k, (who, status) in enumerate((("a@ov.it", "queued"), ("b@ov.it", "failed"),
                                               ("c@ov.it", "sent")), 1):
                conn.execute(sa.text(
                    "INSERT INTO deliveries (alert_id, recipient, status, attempts, "
                    "last_error, next_attempt_at, created_at, sent_at) VALUES (:a, :r, "
                    ":s, :n, :err, :due, :t, :sent)"),
                    {"a": alert_id, "r": who, "s": status, "n": k - 1,
                     "err": "421 busy" if status == "failed" else None,
                     "due": None if status == "sent" else T0 + timedelta(minutes=k),
                     "t": T0, "sent": T0 if status == "sent" else None})
        cols = "id, alert_id, recipient, status, attempts, last_error, next_attempt_at"
        with engine.connect() as conn:
            before = [tuple(r) for r in conn.execute(sa.text(
                f"SELECT {cols} FROM deliveries ORDER BY id"))]
        upgrade(database_url)
        with engine.connect() as conn:
            after = [tuple(r) for r in conn.execute(sa.text(
                f"SELECT {cols}, channel FROM deliveries ORDER BY id"))]
        assert [r[:-1] for r in after] == before and {r[-1] for r in after} == {"email"}
        store = Store(engine)
        due = store.pending_deliveries(T0 + timedelta(hours=1))
        assert [(d.recipient, d.channel) for d in due] == [("a@ov.it", "email"),
                                                          ("b@ov.it", "email")]
        assert store.outbox_depth() == store.outbox_depth("email") == 2
        # The new key: the same alert and name on another channel is another delivery.
        assert store.queue_deliveries(alert_id, ["a@ov.it"], now=T0) == []
        (hook,) = store.queue_deliveries(alert_id, ["a@ov.it"], now=T0, channel="webhook")
        assert hook.channel == "webhook" and store.outbox_depth("webhook") == 1
    finally:
        engine.dispose()


def test_downgrade_to_0003_keeps_the_email_deliveries(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        store = Store(engine)
        store.upsert_target("211010", "Campi Flegrei", 14.139, 40.827, 10.0, now=T0)
        a = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WATCH,
                              "P=0.8", now=T0)
        assert a is not None
        store.queue_deliveries(a.id, ["a@ov.it"], now=T0)
        store.queue_deliveries(a.id, ["observatory"], now=T0, channel="webhook")
        with engine.begin() as conn:
            cfg = alembic_config(database_url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.text(
                "SELECT recipient, status FROM deliveries"))]
        assert rows == [("a@ov.it", "queued")]
    finally:
        engine.dispose()


# -- alerts and deliveries ----------------------------------------------------------------


def test_alert_is_raised_once_and_acknowledged(store: Store) -> None:
    a = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WATCH,
                          "P=0.8", now=T0)
    assert a is not None and a.level == AlertLevel.WATCH and a.created_at == T0
    again = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WARNING,
                              "other", now=T0 + timedelta(hours=1))
    assert again is None and _count(store, "alerts") == 1
    assert store.get_alert(a.id).message == "P=0.8"
    b = store.raise_alert("211010", date(2026, 2, 18), "deformation", AlertLevel.WARNING,
                          "P=0.9", now=T0)
    assert b is not None
    assert [x.id for x in store.list_alerts("211010", unacknowledged_only=True)] == [a.id, b.id]
    ack = store.acknowledge_alert(a.id, "duty volcanologist", now=T0 + timedelta(hours=2))
    assert ack.acknowledged_by == "duty volcanologist"
    assert ack.acknowledged_at == T0 + timedelta(hours=2)
    ack2 = store.acknowledge_alert(a.id, "someone else", now=T0 + timedelta(hours=3))
    assert ack2.acknowledged_by == "duty volcanologist"
    assert [x.id for x in store.list_alerts(unacknowledged_only=True)] == [b.id]
    assert store.list_alerts("other-target") == []
    with pytest.raises(InputError, match="alert id 999"):
        store.acknowledge_alert(999, "me", now=T0)
    with pytest.raises(InputError, match="by=' '"):
        store.acknowledge_alert(a.id, " ", now=T0)


def test_deliveries_outbox(store: Store) -> None:
    a = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WATCH,
                          "P=0.8", now=T0)
    assert a is not None
    new = store.queue_deliveries(a.id, ["a@ov.it", "b@ov.it", "a@ov.it"], now=T0)
    assert sorted(d.recipient for d in new) == ["a@ov.it", "b@ov.it"]
    assert store.queue_deliveries(a.id, ["a@ov.it", "b@ov.it"], now=T0) == []
    assert _count(store, "deliveries") == 2 and store.outbox_depth() == 2
    da, db_ = sorted(new, key=lambda d: d.recipient)
    assert {d.id for d in store.pending_deliveries(T0)} == {da.id, db_.id}
    sent = store.mark_delivery_sent(da.id, now=T0 + timedelta(seconds=3))
    assert (sent.status, sent.attempts, sent.sent_at) == ("sent", 1, T0 + timedelta(seconds=3))
    assert store.mark_delivery_sent(da.id, now=T0 + timedelta(hours=1)).sent_at == sent.sent_at
    assert store.outbox_depth() == 1
    backoff = Backoff(base_s=30, factor=3, max_s=1000)
    f = store.mark_delivery_failed(db_.id, "421 busy", now=T0, backoff=backoff, max_attempts=2)
    assert (f.status, f.attempts, f.last_error) == ("retrying", 1, "421 busy")
    assert f.next_attempt_at == T0 + timedelta(seconds=30)
    assert store.pending_deliveries(T0 + timedelta(seconds=29)) == []
    assert [d.id for d in store.pending_deliveries(T0 + timedelta(seconds=30))] == [db_.id]
    assert store.outbox_depth() == 1
    f = store.mark_delivery_failed(db_.id, "550 no such user", now=T0, backoff=backoff,
                                   max_attempts=2)
    assert f.attempts == 2 and f.next_attempt_at is None  # given up, kept with its reason
    assert f.status == "failed" and store.failed_count() == store.failed_count("email") == 1
    assert store.outbox_depth() == 0 and store.pending_deliveries(T0 + timedelta(days=9)) == []
    with pytest.raises(InputError, match="alert id 77"):
        store.queue_deliveries(77, ["a@ov.it"], now=T0)


def test_retryable_failures_retry_forever_permanent_ones_wait_for_requeue(
        store: Store) -> None:
    a = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WATCH,
                          "P=0.8", now=T0)
    assert a is not None
    d, bad = store.queue_deliveries(a.id, ["a@ov.it", "nobody@ov.it"], now=T0)
    backoff = Backoff(base_s=60, max_s=3600)
    now = T0
    for _ in range(40):  # far beyond the 8 attempts after which the old outbox gave up
        row = store.mark_delivery_failed(d.id, "421 busy", now=now, backoff=backoff)
        assert row.status == "retrying" and row.next_attempt_at is not None
        assert row.next_attempt_at - now <= timedelta(hours=1)
        now = row.next_attempt_at
    assert row.attempts == 40 and store.outbox_depth() == 2 and store.failed_count() == 0
    assert store.oldest_waiting() == T0 and store.oldest_waiting("webhook") is None
    gone = store.mark_delivery_failed(bad.id, "550 5.1.1 no such user", now=T0,
                                      permanent=True)
    assert (gone.status, gone.next_attempt_at, gone.attempts) == ("failed", None, 1)
    assert store.failed_count("email") == 1 and store.outbox_depth() == 1
    assert [x.id for x in store.list_deliveries(failed_only=True)] == [bad.id]
    assert [x.id for x in store.list_deliveries(alert_ids=[a.id])] == [d.id, bad.id]
    # Re-queued by an operator: due at once, attempts and last error kept as history.
    (again,) = store.requeue_deliveries(now, all_failed=True)
    assert (again.id, again.status, again.next_attempt_at, again.attempts,
            again.last_error) == (bad.id, "queued", now, 1, "550 5.1.1 no such user")
    assert store.failed_count() == 0 and store.outbox_depth() == 2
    store.mark_delivery_sent(bad.id, now=now)
    assert [x.id for x in store.requeue_deliveries(now, alert_id=a.id)] == [d.id]
    assert store.requeue_deliveries(now, delivery_ids=[bad.id]) == []  # sent stays sent
    with pytest.raises(InputError, match="delivery id 999"):
        store.requeue_deliveries(now, delivery_ids=[999])
    with pytest.raises(InputError, match="alert id 999"):
        store.requeue_deliveries(now, alert_id=999)
    with pytest.raises(InputError, match="name delivery ids"):
        store.requeue_deliveries(now)


def test_a_due_delivery_is_claimed_by_one_pass_only(store: Store) -> None:
    a = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WATCH,
                          "P=0.8", now=T0)
    assert a is not None
    (d,) = store.queue_deliveries(a.id, ["a@ov.it"], now=T0)
    assert store.claim_delivery(d.id, T0, lease_s=120)
    assert not store.claim_delivery(d.id, T0, lease_s=120)  # the other pass leaves it
    assert store.pending_deliveries(T0 + timedelta(seconds=119)) == []
    # A pass that died while sending: due again once the lease has run out.
    assert store.claim_delivery(d.id, T0 + timedelta(seconds=120), lease_s=120)
    store.mark_delivery_sent(d.id, now=T0 + timedelta(seconds=121))
    assert not store.claim_delivery(d.id, T0 + timedelta(days=1), lease_s=120)
    with pytest.raises(InputError, match="lease_s"):
        store.claim_delivery(d.id, T0, lease_s=0)


def test_deliveries_are_queued_per_channel(store: Store) -> None:
    a = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WATCH,
                          "P=0.8", now=T0)
    assert a is not None
    mail = store.queue_deliveries(a.id, ["a@ov.it"], now=T0)
    hooks = store.queue_deliveries(a.id, ["observatory", "civil-protection"], now=T0,
                                   channel="webhook")
    assert [d.channel for d in mail] == ["email"]
    assert sorted((d.channel, d.recipient) for d in hooks) == [
        ("webhook", "civil-protection"), ("webhook", "observatory")]
    assert store.queue_deliveries(a.id, ["observatory"], now=T0, channel="webhook") == []
    assert (store.outbox_depth(), store.outbox_depth("email"),
            store.outbox_depth("webhook"), store.outbox_depth("cap")) == (3, 1, 2, 0)
    assert {d.channel for d in store.pending_deliveries(T0)} == {"email", "webhook"}
    store.mark_delivery_sent(hooks[0].id, now=T0)
    assert (store.outbox_depth(), store.outbox_depth("webhook")) == (2, 1)
    with pytest.raises(InputError, match="channel"):
        store.queue_deliveries(a.id, ["x"], now=T0, channel="")


# -- time ---------------------------------------------------------------------------------


def test_datetimes_come_back_timezone_aware_utc(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 1, 14, 30, tzinfo=cest)
    a = store.raise_alert("211010", date(2026, 2, 6), "deformation", AlertLevel.WATCH,
                          "m", now=local)
    assert a is not None
    (back,) = store.list_alerts()
    assert back.created_at.tzinfo is not None and back.created_at.utcoffset() == timedelta(0)
    assert back.created_at == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    (t,) = store.list_targets()
    assert t.created_at == T0 and t.created_at.utcoffset() == timedelta(0)
    with pytest.raises(InputError, match="naive"):
        store.pending_deliveries(datetime(2026, 3, 1, 12, 0))


# -- connection errors --------------------------------------------------------------------


def test_unreachable_database_is_a_clear_store_error() -> None:
    url = "postgresql://nobody:s3cret@127.0.0.1:1/x"
    with pytest.raises(StoreError) as info:
        make_engine(url, connect_timeout_s=1)
    text = str(info.value)
    assert "cannot connect to the database at" in text and "127.0.0.1:1/x" in text
    assert "nobody:***@" in text and "s3cret" not in text
    with pytest.raises(StoreError) as info:
        current_revision(url)
    assert "s3cret" not in str(info.value)


def test_invalid_and_unsupported_urls_are_refused(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    with pytest.raises(StoreError, match="cannot connect to the database at sqlite:///"):
        make_engine(missing)
    with pytest.raises(StoreError, match="not a valid SQLAlchemy URL"):
        make_engine("not a url")
    with pytest.raises(StoreError, match="backend 'mysql' is not supported"):
        make_engine("mysql://u@h/db", check=False)


def test_sqlite_file_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        engine.dispose()


def test_migrations_ship_with_the_package() -> None:
    """Every migration file matches the package-data patterns, so `db upgrade` works
    from an installed wheel and not only from a source checkout."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["monitor"]
    files = [p.relative_to(root / "monitor").as_posix()
             for p in (root / "monitor" / "migrations").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert any(f.startswith("migrations/versions/") for f in files)
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert missing == []
