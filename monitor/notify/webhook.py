"""The webhook delivery channel: each alert as a JSON POST signed with HMAC-SHA256.

A ``[webhooks.NAME]`` section (:class:`~monitor.config.WebhookSettings`) names a URL and
the environment variable that holds a shared secret. The outbox queues one delivery per
webhook (recipient = the webhook's NAME) beside the e-mail ones and hands it to
:class:`WebhookNotifier`, with the same retries and backoff. Delivery is at least once:
a POST the receiver accepted but the process did not record is sent again, with the same
``id`` (alert id and webhook name), so a receiver drops the copy by that id.

**The request.** ``POST url`` with the body :func:`webhook_payload` (UTF-8 JSON, keys
sorted) and the headers:

* ``Content-Type: application/json``
* ``X-Insar-Monitor-Delivery: <id>``: the stable id, also the body's ``id``;
* ``X-Insar-Monitor-Timestamp: <unix seconds>``: when this attempt was made;
* ``X-Insar-Monitor-Signature: sha256=<hex>``: HMAC-SHA256, keyed with the secret, of the
  bytes ``<timestamp>.<body>`` (the timestamp header's text, a dot, the raw body).

**Verifying it (the receiver).** Read the raw body bytes before parsing them, recompute
the HMAC over ``timestamp + "." + body`` with the shared secret and compare it with the
header in constant time (:func:`verify_signature` does exactly this; in another language:
``hmac.new(secret, f"{ts}.".encode() + body, sha256).hexdigest()``). Reject a timestamp
more than a few minutes from your clock (a replayed request), then deduplicate by ``id``.

**Answers.** 2xx: delivered. 408, 429, 5xx, a refused or dropped connection, a timeout:
retried with backoff. Any other 4xx: given up at once (the receiver refuses the message
and would refuse it again). A redirect (3xx) is not followed, so a signed alert never
goes to an address nobody configured; it is a permanent failure naming the new location
(fix ``url``). A secret variable that is unset is the set-up's fault, not the
message's: it is retried with backoff (``needs_operator``: logged at ERROR naming the
variable) so that setting it and restarting is all it takes
(:func:`webhook_secret_problems` lets ``config check`` tell before).

HTTP failures are mapped in one place (:func:`classify_response`,
:func:`classify_exception`). Every request has a connect and a read timeout; at most
:data:`MAX_RESPONSE_BYTES` of the answer are read. The secret is never logged nor
written into a result.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from monitor.config import WebhookSettings
from monitor.domain import AlertDelivery, DeliveryResult

log = logging.getLogger(__name__)

#: Header carrying the stable delivery id.
DELIVERY_HEADER = "X-Insar-Monitor-Delivery"
#: Header carrying the attempt's Unix time, seconds (signed with the body).
TIMESTAMP_HEADER = "X-Insar-Monitor-Timestamp"
#: Header carrying ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
SIGNATURE_HEADER = "X-Insar-Monitor-Signature"
#: Bytes of a receiver's answer read (the rest is dropped).
MAX_RESPONSE_BYTES = 4096
#: Characters of the answer kept in a result's detail.
SNIPPET_CHARS = 200
#: Longest connect timeout, seconds (the read timeout is the webhook's ``timeout_s``).
CONNECT_TIMEOUT_S = 5.0
#: What every payload says it is (and is not).
NOTICE = ("Automated deformation notice from insar-monitor (InSAR processing of satellite "
          "radar data). It is not an official volcano alert level: the observatory "
          "responsible for the volcano sets those.")

#: HTTP statuses of a failure worth retrying: request timeout, too many requests.
RETRYABLE_STATUSES = frozenset({408, 429})


def delivery_id(alert_id: int, webhook: str) -> str:
    """The stable id of one alert's delivery to one webhook (the same on every retry)."""
    return f"alert-{alert_id}-{webhook}"


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of
    ``<timestamp>.<body>`` keyed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str | bytes, timestamp: str | int, body: bytes | str,
                     header: str) -> bool:
    """Whether ``header`` (the ``X-Insar-Monitor-Signature`` value) signs ``body`` sent
    at ``timestamp`` (the ``X-Insar-Monitor-Timestamp`` value) with ``secret``.

    Compares in constant time (``hmac.compare_digest``). The receiver should also reject
    a timestamp far from its own clock (replays) and deduplicate by the delivery id.

    Args:
        secret: The shared secret.
        timestamp: The timestamp header, as received.
        body: The raw request body, as received (before any JSON parsing).
        header: The signature header, as received.
    """
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, timestamp, raw).encode(), header.strip().encode())


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def webhook_payload(delivery: AlertDelivery, webhook: str,
                    settings: WebhookSettings | None = None) -> dict[str, Any]:
    """The JSON document POSTed for ``delivery`` to the webhook named ``webhook``.

    Deterministic for a delivery (no time of sending in it), so a retry is the same
    document. Keys: ``id`` (:func:`delivery_id`), ``alert_id``, ``kind`` (``raised`` or
    ``cleared``), ``notice``, ``target`` (``id``, ``name``, ``lon``, ``lat``,
    ``radius_km``), ``frame``, ``epoch`` (``YYYY-MM-DD``), ``level`` (after the alert:
    ``watch``, ``warning``, ``none`` for a clear), ``cleared_level``, ``new_episode``,
    ``created_at``, ``reason``, ``decision``, ``scores`` (``p_fused`` deciding and
    ``p_fused_raw``, ``correction``, ``p_by_gain``, ``lstt_p`` with ``lstt_p_floor`` =
    1/(n+1) and ``lstt_permutations`` n, ``gls_p`` the P of the series' GLS filter that
    confirms ``p_fused`` (None: not judged), ``displacement_m`` signed metres of LOS
    (positive towards the satellite) and ``displacement_direction`` (``towards`` or
    ``away``), ``cumulative_max_m``, ``peak``), ``model_sha256``, ``quicklook_url``
    (None unless ``quicklook_base_url`` is set and the alert has a picture) and
    ``acknowledge`` (the command that acknowledges the alert).
    """
    m = delivery.message
    quicklook_url = None
    if settings is not None and settings.quicklook_base_url and delivery.quicklook_name \
            and delivery.quicklook_png is not None:
        quicklook_url = f"{settings.quicklook_base_url.rstrip('/')}/{delivery.quicklook_name}"
    peak = (None if m.peak_lon is None or m.peak_lat is None
            else {"lon": _round(m.peak_lon), "lat": _round(m.peak_lat)})
    return {
        "id": delivery_id(delivery.alert_id, webhook),
        "alert_id": delivery.alert_id,
        "kind": m.kind,
        "notice": NOTICE,
        "target": {"id": m.target_id, "name": m.target_name, "lon": m.lon, "lat": m.lat,
                   "radius_km": m.radius_km},
        "frame": m.frame,
        "epoch": m.epoch.isoformat(),
        "level": m.level,
        "cleared_level": m.cleared_level if m.cleared else None,
        "new_episode": m.new_episode,
        "created_at": delivery.created_at.isoformat(),
        "reason": m.reason,
        "decision": m.decision,
        "scores": {
            "p_fused": _round(m.p_fused),
            "p_fused_raw": _round(m.p_fused_raw if m.p_fused_raw is not None else m.p_fused),
            "correction": m.correction,
            "p_by_gain": {f"{g:g}": _round(p) for g, p in m.p_by_gain},
            "lstt_p": _round(m.lstt_p),
            "lstt_p_floor": _round(m.lstt_floor),
            "lstt_permutations": m.lstt_permutations,
            "gls_p": _round(m.gls_p),
            "displacement_m": _round(m.displacement_m),
            "displacement_direction": m.direction,
            "cumulative_max_m": _round(m.cumulative_max_m),
            "peak": peak,
        },
        "model_sha256": m.model_sha256,
        "quicklook_url": quicklook_url,
        "acknowledge": m.ack_command or None,
    }


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The body bytes: compact UTF-8 JSON with sorted keys (deterministic)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _where(url: str) -> str:
    """The URL without query or credentials, for messages (a token may sit there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _snippet(raw: bytes) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")


def classify_response(name: str, url: str, status: int, reason: str, answer: bytes,
                      location: str | None = None) -> DeliveryResult:
    """The result of a POST the receiver answered (module docstring, "Answers")."""
    where = f"webhook {name} ({_where(url)})"
    said = _snippet(answer)
    said_text = f" (receiver said: {said!r})" if said else ""
    if 200 <= status < 300:
        return DeliveryResult(True, detail=f"{where} accepted it: HTTP {status}")
    head = f"{where} answered HTTP {status} {reason}".rstrip()
    if 300 <= status < 400:
        return DeliveryResult(False, retryable=False, detail=(
            f"{head} (redirect to {location or 'no Location'}); redirects are not followed, "
            f"a signed alert goes only to the configured address: set webhooks.{name}.url "
            "to the final address"))
    if status in RETRYABLE_STATUSES or status >= 500:
        return DeliveryResult(False, retryable=True,
                              detail=f"{head}{said_text}; will retry")
    return DeliveryResult(False, retryable=False, detail=(
        f"{head}{said_text}; the receiver refuses this message (check webhooks.{name}.url "
        "and the secret), not retried"))


def classify_exception(name: str, url: str, exc: BaseException) -> DeliveryResult:
    """The result of a POST that got no answer (module docstring, "Answers")."""
    where = f"webhook {name} ({_where(url)})"
    if isinstance(exc, requests.Timeout):
        return DeliveryResult(False, retryable=True,
                              detail=f"{where} did not answer in time: {exc}; will retry")
    if isinstance(exc, requests.ConnectionError):
        return DeliveryResult(False, retryable=True,
                              detail=f"cannot reach {where}: {exc}; will retry")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return DeliveryResult(False, retryable=False,
                              detail=f"{where}: invalid URL ({exc}); fix webhooks.{name}.url")
    if isinstance(exc, (requests.RequestException, OSError)):
        return DeliveryResult(False, retryable=True,
                              detail=f"POST to {where} failed: {exc!r}; will retry")
    return DeliveryResult(False, retryable=False,
                          detail=f"POST to {where} failed: {exc!r}")


def webhook_secret_problems(webhooks: Mapping[str, WebhookSettings],
                            environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per webhook whose secret variable is unset or empty (for ``config check``
    and start-up logs); never the secrets themselves."""
    env = os.environ if environ is None else environ
    return [f"webhooks.{name}: environment variable {hook.secret_env} (secret_env) is not "
            "set; deliveries to this webhook fail until it holds the shared secret"
            for name, hook in sorted(webhooks.items()) if not env.get(hook.secret_env)]


class WebhookNotifier:
    """Delivers alerts as signed JSON POSTs (a :class:`~monitor.ports.Notifier`).

    The recipient of a delivery is the webhook's ``[webhooks.NAME]`` name; its URL,
    secret variable and timeout are looked up in ``webhooks`` at delivery time.

    Args:
        webhooks: The configured webhooks by name (``Settings.webhooks``).
        environ: Where secrets are read (default ``os.environ``, read at each delivery
            so a secret set after start is used).
        clock: Unix time for the timestamp header (default :func:`time.time`).
        session: The HTTP session (default: a new ``requests.Session``).
    """

    channel = "webhook"

    def __init__(self, webhooks: Mapping[str, WebhookSettings], *,
                 environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time,
                 session: requests.Session | None = None) -> None:
        self.webhooks = dict(webhooks)
        self._environ = environ
        self._clock = clock
        self._session = session or requests.Session()

    def _secret(self, hook: WebhookSettings) -> str | None:
        env = os.environ if self._environ is None else self._environ
        return env.get(hook.secret_env) or None

    def deliver(self, delivery: AlertDelivery) -> DeliveryResult:
        """POST the alert to the webhook named by ``delivery.recipient``; a failure is a
        result, retryable or not (module docstring), never an exception."""
        name = delivery.recipient
        hook = self.webhooks.get(name)
        if hook is None:
            return DeliveryResult(False, retryable=False, detail=(
                f"webhook {name!r} is not configured (known: "
                f"{', '.join(sorted(self.webhooks)) or 'none'}); add [webhooks.{name}]"))
        secret = self._secret(hook)
        if secret is None:  # the set-up's fault, not the message's: retried until fixed
            return DeliveryResult(False, retryable=True, needs_operator=True, detail=(
                f"webhook {name}: environment variable {hook.secret_env} (secret_env) is not "
                "set; set it to the shared secret and restart the daemon"))
        body = encode_payload(webhook_payload(delivery, name, hook))
        timestamp = str(int(self._clock()))
        stable_id = delivery_id(delivery.alert_id, name)
        headers = {"Content-Type": "application/json",
                   "User-Agent": "insar-monitor-webhook",
                   DELIVERY_HEADER: stable_id, TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(secret, timestamp, body)}
        timeout = (min(CONNECT_TIMEOUT_S, hook.timeout_s), hook.timeout_s)
        try:
            response = self._session.post(hook.url, data=body, headers=headers,
                                          timeout=timeout, allow_redirects=False,
                                          stream=True)
        except Exception as exc:  # mapped to a result in one place
            return classify_exception(name, hook.url, exc)
        try:
            try:
                answer = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True) or b""
            except Exception:  # the status decides; a broken answer body does not
                answer = b""
            result = classify_response(name, hook.url, response.status_code,
                                       response.reason or "", answer,
                                       response.headers.get("Location"))
        finally:
            response.close()
        log.debug("webhook %s delivery %s: %s", name, stable_id, result.detail)
        return result
