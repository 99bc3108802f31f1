"""Every implementation honours its port (monitor/ports.py; docs/architecture.md, Ports).

The signature check is the same for every pair: each method of the port exists on the
implementation and accepts every call the port allows (same parameter names and kinds;
extra parameters of the implementation have defaults). Behaviour checks follow per port,
run on every implementation (and, for the notifier and the detector, on a stand-in that
shows a second channel or a non-CNN detector fits without touching the pipeline).
"""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from numpy.typing import NDArray

from monitor import ports
from monitor.archive import LicsarHttpArchive, LocalArchive, TellusArchive
from monitor.domain import AlertDelivery, AlertMessage, DeliveryResult
from monitor.errors import DeliveryError
from monitor.notify.email import EmailNotifier
from monitor.notify.smtp import DryRunSender
from monitor.science.detect.fusion import CnnDetector, Detection, fuse_maps
from monitor.science.detect.registry import build_model
from monitor.store import Store, upgrade

IMPLEMENTATIONS: list[tuple[type, type]] = [
    (ports.Archive, LocalArchive),
    (ports.Archive, LicsarHttpArchive),
    (ports.Archive, TellusArchive),
    (ports.Store, Store),
    (ports.Notifier, EmailNotifier),
    (ports.Clock, ports.SystemClock),
    (ports.Detector, CnnDetector),
]


def _methods(port: type) -> list[str]:
    return [name for name, value in vars(port).items()
            if callable(value) and not name.startswith("_")]


@pytest.mark.parametrize(("port", "impl"), IMPLEMENTATIONS,
                         ids=[f"{p.__name__}-{i.__name__}" for p, i in IMPLEMENTATIONS])
def test_implementation_accepts_every_call_of_its_port(port: type, impl: type) -> None:
    assert _methods(port), f"{port.__name__} declares no method"
    for name in _methods(port):
        assert hasattr(impl, name), f"{impl.__name__} lacks {port.__name__}.{name}"
        want = inspect.signature(getattr(port, name))
        have = inspect.signature(getattr(impl, name)).parameters
        for pname, param in want.parameters.items():
            assert pname in have, f"{impl.__name__}.{name} lacks parameter {pname!r}"
            assert have[pname].kind == param.kind or (
                param.kind is inspect.Parameter.KEYWORD_ONLY
                and have[pname].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD), \
                f"{impl.__name__}.{name}({pname}) is {have[pname].kind}, port: {param.kind}"
            if param.default is not inspect.Parameter.empty:
                assert have[pname].default is not inspect.Parameter.empty, \
                    f"{impl.__name__}.{name}({pname}) must be optional as in the port"
        for pname, param in have.items():
            if pname not in want.parameters and param.kind not in (
                    inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                assert param.default is not inspect.Parameter.empty, \
                    f"{impl.__name__}.{name} requires {pname!r}, which the port never passes"


def test_store_is_a_store_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ports.db'}"
    upgrade(url)
    assert isinstance(Store(sa.create_engine(url)), ports.Store)


def test_system_clock_is_aware_utc() -> None:
    now = ports.SystemClock().now()
    assert isinstance(ports.SystemClock(), ports.Clock)
    assert now.tzinfo is not None and now.utcoffset() == UTC.utcoffset(now)


# -- Notifier ---------------------------------------------------------------------------

def _delivery(recipient: str = "observatory@example.org") -> AlertDelivery:
    msg = AlertMessage(
        target_id="211060", target_name="Etna", lon=14.999, lat=37.748,
        epoch=date(2024, 8, 18), level="warning", p_fused=0.91,
        p_by_gain=((1.0, 0.88), (2.0, 0.93)), lstt_p=0.002, cumulative_max_m=0.043,
        peak_lon=15.01, peak_lat=37.75, model_sha256="ab" * 32)
    return AlertDelivery(delivery_id=3, alert_id=7, recipient=recipient, message=msg,
                         created_at=datetime(2024, 8, 20, 6, 0, tzinfo=UTC))


class FeedNotifier:
    """A second channel (a CAP-like feed kept in memory): what the port admits."""

    channel = "feed"

    def __init__(self) -> None:
        self.entries: dict[tuple[int, str], str] = {}

    def deliver(self, delivery: AlertDelivery) -> DeliveryResult:
        self.entries[(delivery.alert_id, delivery.recipient)] = delivery.message.subject
        return DeliveryResult(True, detail="in the feed")


def _notifiers(tmp: Path) -> dict[str, tuple[ports.Notifier, Any]]:
    """Each notifier and a function that counts what it has delivered."""
    folder = tmp / "outbox"
    feed = FeedNotifier()
    return {
        "email-dry-run": (EmailNotifier("monitor@example.org", DryRunSender(folder)),
                          lambda: len(list(folder.glob("*.eml")))),
        "feed": (feed, lambda: len(feed.entries)),
    }


@pytest.mark.parametrize("kind", ["email-dry-run", "feed"])
def test_notifier_delivers_once_per_alert_and_recipient(tmp_path: Path, kind: str) -> None:
    notifier, delivered = _notifiers(tmp_path)[kind]
    assert isinstance(notifier, ports.Notifier) and notifier.channel
    first = notifier.deliver(_delivery())
    again = notifier.deliver(_delivery())  # a resend after a crash is the same message
    other = notifier.deliver(_delivery("volcanologist@example.org"))
    assert first.delivered and again.delivered and other.delivered
    assert delivered() == 2


class Refusing:
    """An SMTP transport whose server answers with ``code``."""

    def __init__(self, code: int) -> None:
        self.code = code

    def send(self, message: EmailMessage) -> None:
        raise DeliveryError(f"{self.code} refused", retryable=self.code < 500,
                            host="smtp.test", port=25, smtp_code=self.code)


@pytest.mark.parametrize(("code", "retryable"), [(421, True), (550, False)])
def test_email_notifier_reports_refusals_as_results(code: int, retryable: bool) -> None:
    result = EmailNotifier("monitor@example.org", Refusing(code)).deliver(_delivery())
    assert not result.delivered
    assert result.retryable is retryable and str(code) in result.detail


def test_email_notifier_reports_an_unbuildable_message_as_permanent(tmp_path: Path) -> None:
    bad = _delivery()
    bad = AlertDelivery(bad.delivery_id, bad.alert_id, bad.recipient, bad.message,
                        bad.created_at, quicklook_png=b"GIF89a")
    result = EmailNotifier("monitor@example.org", DryRunSender(tmp_path)).deliver(bad)
    assert not result.delivered and not result.retryable and "PNG" in result.detail


# -- Detector ---------------------------------------------------------------------------

class AmplitudeDetector:
    """A non-CNN detector: P rises with |displacement| (1 at 5 cm and beyond)."""

    def detect(self, displacement_m: NDArray[np.floating]) -> Detection:
        d = np.nan_to_num(np.abs(np.asarray(displacement_m, dtype=np.float64)))
        return fuse_maps({1.0: np.clip(d / 0.05, 0.0, 1.0).astype(np.float32)}, 0.5, True)


def _detectors() -> dict[str, ports.Detector]:
    net = build_model("compact", widths=(4, 4, 4, 8), encoding="gray")
    net.eval()
    return {"cnn": CnnDetector(net, gains=(1.0, 2.0)), "amplitude": AmplitudeDetector()}


@pytest.mark.parametrize("kind", ["cnn", "amplitude"])
def test_detector_turns_a_map_into_a_detection(kind: str) -> None:
    detector = _detectors()[kind]
    assert isinstance(detector, ports.Detector)
    y, x = np.mgrid[:64, :80]
    d = (0.08 * np.exp(-((x - 40.0) ** 2 + (y - 32.0) ** 2) / 200.0)).astype(np.float32)
    d[:4, :4] = np.nan  # no data stays no data, never a crash
    det = detector.detect(d)
    assert isinstance(det, Detection)
    assert det.prob_map.shape == d.shape
    finite = det.prob_map[np.isfinite(det.prob_map)]
    assert finite.size and finite.min() >= 0.0 and finite.max() <= 1.0
    assert det.flag == (det.p_fused > det.threshold)
