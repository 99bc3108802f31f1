"""Alert e-mail: composed, sent to a real SMTP server on 127.0.0.1 (aiosmtpd), errors typed."""

from __future__ import annotations

import io
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.config import EmailSettings
from monitor.domain import AlertMessage
from monitor.errors import ConfigError, DeliveryError, InputError
from monitor.figures.alert import (
    alert_quicklook_figure,
    alert_quicklook_png,
    contour_levels_drawn,
)
from monitor.notify.email import compose_alert_email
from monitor.notify.smtp import (
    DryRunSender,
    Sender,
    SmtpSender,
    SmtpSettings,
    _classify,
    retry_delay_s,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_EPOCHS = 20
EPOCHS = [date(2024, 1, 1) + timedelta(days=12 * i) for i in range(N_EPOCHS)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collect:
    """aiosmtpd handler keeping every message; ``rcpt_reply``/``data_reply`` force errors."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str = "250 OK") -> None:
        self.messages: list[bytes] = []
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any,  # noqa: N802
                          envelope: Any) -> str:
        if self.data_reply.startswith("250"):
            self.messages.append(bytes(envelope.content))
        return self.data_reply


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Collect]]:
    handler = Collect()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield ctl, handler
    finally:
        ctl.stop()


def _disc(n: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[:n, :n]
    r2 = ((x - n / 2) ** 2 + (y - n / 2) ** 2) / radius**2
    return r2, r2 < 4


def quicklook(n: int = 120, p_peak: float = 0.95) -> bytes:
    r2, mask = _disc(n, n / 8)
    disp = (0.05 * np.exp(-r2)).astype(np.float32)
    prob = (p_peak * np.exp(-r2 / 2)).astype(np.float32)
    return alert_quicklook_png(disp, prob, mask, epochs=EPOCHS,
                               p_history=np.linspace(0.1, p_peak, N_EPOCHS),
                               lstt_p_history=np.linspace(0.9, 0.001, N_EPOCHS),
                               title="Testvolcano 2024-08-18 WARNING")


def alert() -> AlertMessage:
    return AlertMessage(
        target_id="211060", target_name="Etna", lon=14.999, lat=37.748,
        epoch=date(2024, 8, 18), level="warning", p_fused=0.91,
        p_by_gain=((1.0, 0.88), (2.0, 0.93), (4.0, 0.92), (8.0, 0.91)), lstt_p=0.002,
        cumulative_max_m=0.043, peak_lon=15.01, peak_lat=37.75,
        model_sha256="ab" * 32, link_text="Acknowledge: insar-monitor alerts ack 7 --by NAME")


def message(png: bytes | None = None, to: str = "observatory@example.org") -> EmailMessage:
    return compose_alert_email(alert(), sender="monitor@example.org", recipients=[to],
                               created_at=datetime(2024, 8, 20, 6, 0, tzinfo=UTC),
                               quicklook_png=png, message_id="<alert-7.obs@example.org>")


def settings(port: int, **kw: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security=kw.pop("security", "none"),
                        sender="monitor@example.org", timeout_s=kw.pop("timeout_s", 3.0),
                        **kw)


def test_alert_arrives_with_text_html_and_quicklook(
        smtp_server: tuple[Controller, Collect]) -> None:
    ctl, handler = smtp_server
    png = quicklook()
    sender: Sender = SmtpSender(settings(ctl.port), environ={})
    sender.send(message(png))
    assert len(handler.messages) == 1
    got = BytesParser(policy=policy.default).parsebytes(handler.messages[0])
    assert got["Subject"] == "[insar-monitor] WARNING Etna (211060) epoch 2024-08-18"
    assert got["To"] == "observatory@example.org"
    text = got.get_body(preferencelist=("plain",))
    html = got.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Detector probability: 0.910" in text.get_content()
    assert "which confirms the detector: not judged (fewer than 20" in text.get_content()
    assert "gain 2: 0.93" in text.get_content()
    assert "4.3 cm" in text.get_content()
    html_text = html.get_content()
    assert "<table>" in html_text and "cid:" in html_text
    cid = html_text.split('src="cid:')[1].split('"')[0]
    images = [p for p in got.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2  # inline (related to the HTML) and attached
    inline = [p for p in images if p["Content-ID"] == f"<{cid}>"]
    assert len(inline) == 1
    attached = [p for p in got.iter_attachments() if p.get_content_type() == "image/png"]
    assert attached and attached[0].get_filename() == "211060_20240818_quicklook.png"
    assert attached[0].get_content() == png


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI) and a server context with it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not on PATH: cannot make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True,
                   timeout=20)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    return cert, server_ctx


def test_starttls_with_login(certificate: tuple[Path, ssl.SSLContext]) -> None:
    cert, server_ctx = certificate
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # handled=False: the server replies 535

    handler = Collect()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=server_ctx,
                     require_starttls=True, authenticator=authenticator, auth_required=True)
    ctl.start()
    try:
        env = {"SMTP_USER": "volcano", "SMTP_PASS": "s3cret"}
        s = settings(ctl.port, security="starttls", username_env="SMTP_USER",
                     password_env="SMTP_PASS", ca_file=str(cert))
        SmtpSender(s, environ=env).send(message())
        assert len(handler.messages) == 1
        assert logins == [(b"volcano", b"s3cret")]
        with pytest.raises(DeliveryError) as err:
            SmtpSender(s, environ={**env, "SMTP_PASS": "wrong"}).send(message())
        # a rejected login is the set-up's problem, not the message's: retried, and the
        # outbox logs it at ERROR with what to fix
        assert err.value.retryable and err.value.needs_operator
        assert err.value.smtp_code == 535
        # without the private CA the certificate does not verify: the set-up's as well
        with pytest.raises(DeliveryError) as err:
            SmtpSender(settings(ctl.port, security="starttls"), environ={}).send(message())
        assert err.value.retryable and err.value.needs_operator
        assert "certificate" in str(err.value)
        # a plain client on a server that requires STARTTLS is refused (530): the set-up's
        with pytest.raises(DeliveryError) as err:
            SmtpSender(settings(ctl.port), environ={}).send(message())
        assert err.value.needs_operator and err.value.smtp_code == 530
    finally:
        ctl.stop()
    assert len(handler.messages) == 1


def test_implicit_ssl(certificate: tuple[Path, ssl.SSLContext]) -> None:
    cert, server_ctx = certificate
    handler = Collect()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port(), ssl_context=server_ctx)
    ctl.start()
    try:
        SmtpSender(settings(ctl.port, security="ssl", ca_file=str(cert)),
                   environ={}).send(message(quicklook()))
    finally:
        ctl.stop()
    assert len(handler.messages) == 1
    got = BytesParser(policy=policy.default).parsebytes(handler.messages[0])
    assert got["Message-ID"] == "<alert-7.obs@example.org>"


def test_settings_from_config() -> None:
    email = EmailSettings(mode="smtp", host="mail.example.org", port=465, security="ssl",
                          sender="alerts@example.org", password_env="PW", timeout_s=5)
    s = SmtpSettings.from_config(email)
    assert (s.host, s.port, s.security, s.sender, s.password_env, s.timeout_s) == \
        ("mail.example.org", 465, "ssl", "alerts@example.org", "PW", 5.0)


def test_550_is_permanent_451_retryable() -> None:
    for handler, retryable, code in ((Collect(rcpt_reply="550 5.1.1 no such user"), False, 550),
                                     (Collect(data_reply="451 4.3.0 try later"), True, 451)):
        ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
        ctl.start()
        try:
            with pytest.raises(DeliveryError) as err:
                SmtpSender(settings(ctl.port), environ={}).send(message())
        finally:
            ctl.stop()
        assert err.value.retryable is retryable
        assert err.value.smtp_code == code
        assert f"127.0.0.1:{ctl.port}" in str(err.value)
        assert isinstance(err.value, ConnectionError)


def test_closed_port_is_retryable_and_named() -> None:
    port = free_port()
    with pytest.raises(DeliveryError) as err:
        SmtpSender(settings(port), environ={}).send(message())
    assert err.value.retryable
    assert f"127.0.0.1:{port}" in str(err.value)


def test_silent_server_times_out_retryable() -> None:
    with socket.socket() as listener:  # accepts TCP connections, never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        t0 = time.perf_counter()
        with pytest.raises(DeliveryError) as err:
            SmtpSender(settings(port, timeout_s=0.5), environ={}).send(message())
        elapsed = time.perf_counter() - t0
    assert err.value.retryable
    assert "did not answer in time" in str(err.value)
    assert 0.4 < elapsed < 3.0


def test_credentials_only_from_named_environment_variables() -> None:
    s = settings(25, username_env="U", password_env="P")
    assert s.credentials({}) is None
    assert s.credentials({"U": "me", "P": "pw"}) == ("me", "pw")
    with pytest.raises(ConfigError, match="'P'"):
        s.credentials({"U": "me"})


@pytest.mark.parametrize("kw, match", [({"port": 0}, "port"), ({"security": "tls"}, "security"),
                                       ({"sender": "nobody"}, "sender"),
                                       ({"timeout_s": 0}, "timeout_s")])
def test_bad_settings_are_refused(kw: dict[str, Any], match: str) -> None:
    base: dict[str, Any] = {"host": "smtp.example.org", "port": 587}
    with pytest.raises(ConfigError, match=match):
        SmtpSettings(**{**base, **kw})


def test_dry_run_writes_eml_once_per_message(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    sender = DryRunSender(tmp_path / "outbox")
    caplog.set_level("INFO", logger="monitor.notify.smtp")
    msg = message(quicklook())
    sender.send(msg)
    sender.send(msg)  # same Message-ID: same file, no duplicate
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert [f.name for f in files] == ["alert-7.obs_example.org.eml"]
    parsed = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert parsed["Subject"] == msg["Subject"]
    assert any("dry-run e-mail to observatory@example.org" in r.getMessage()
               for r in caplog.records)


def test_quicklook_png_is_decodable() -> None:
    # (its speed is not a unit test's: on a loaded 2-core machine a 1.5 s bound failed)
    import matplotlib.image as mpimg

    png = quicklook(500)
    assert png.startswith(PNG_MAGIC)
    img = mpimg.imread(io.BytesIO(png), format="png")
    assert img.shape[:2] == (336, 800)
    assert float(img[..., :3].std()) > 0.05  # not a blank canvas


def _gids(p_peak: float) -> set[str]:
    r2, mask = _disc(100, 12)
    fig = alert_quicklook_figure(
        (0.02 * np.exp(-r2)).astype(np.float32), (p_peak * np.exp(-r2 / 2)).astype(np.float32),
        mask, epochs=EPOCHS[:3], p_history=[0.1, 0.2, p_peak],
        lstt_p_history=[0.5, np.nan, 0.01], title="t")
    return {str(a.get_gid()) for a in fig.axes[0].get_children() if a.get_gid()}


def test_contours_only_where_probability_exceeds_levels() -> None:
    assert _gids(0.95) == {"p>0.5", "p>0.8", "target"}
    assert _gids(0.7) == {"p>0.5", "target"}
    assert _gids(0.3) == {"target"}
    assert contour_levels_drawn(np.array([[np.nan, 0.81]])) == (0.5, 0.8)
    assert contour_levels_drawn(np.full((2, 2), np.nan)) == ()


def test_quicklook_rejects_bad_inputs() -> None:
    r2, mask = _disc(50, 6)
    ok = np.zeros((50, 50), np.float32)
    with pytest.raises(InputError, match="shape"):
        alert_quicklook_png(ok, ok[:10], mask, epochs=EPOCHS[:1], p_history=[0.1],
                            lstt_p_history=[0.5], title="t")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        alert_quicklook_png(ok, ok + 2, mask, epochs=EPOCHS[:1], p_history=[0.1],
                            lstt_p_history=[0.5], title="t")
    with pytest.raises(InputError, match="length"):
        alert_quicklook_png(ok, ok, mask, epochs=EPOCHS[:2], p_history=[0.1],
                            lstt_p_history=[0.5], title="t")


def test_compose_rejects_bad_inputs() -> None:
    with pytest.raises(InputError, match="recipients"):
        compose_alert_email(alert(), sender="a@b.c", recipients=[],
                            created_at=datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(InputError, match="timezone"):
        compose_alert_email(alert(), sender="a@b.c", recipients=["x@y.z"],
                            created_at=datetime(2024, 1, 1))
    with pytest.raises(InputError, match="PNG"):
        compose_alert_email(alert(), sender="a@b.c", recipients=["x@y.z"],
                            created_at=datetime(2024, 1, 1, tzinfo=UTC),
                            quicklook_png=b"GIF89a")
    with pytest.raises(InputError, match="p_fused"):
        AlertMessage(target_id="1", target_name="x", lon=0, lat=0, epoch=date(2024, 1, 1),
                     level="watch", p_fused=1.5, p_by_gain=(), lstt_p=None,
                     cumulative_max_m=0.0, peak_lon=None, peak_lat=None, model_sha256="")
    with pytest.raises(InputError, match="gls_p"):
        replace(alert(), gls_p=-0.1)


def test_the_gls_filters_p_is_in_the_email() -> None:
    text = compose_alert_email(replace(alert(), gls_p=0.87), sender="a@b.c",
                               recipients=["x@y.z"],
                               created_at=datetime(2024, 1, 1, tzinfo=UTC))
    body = text.get_body(preferencelist=("plain",))
    assert body is not None and "which confirms the detector: P 0.870" in body.get_content()


def test_the_email_says_when_p_is_judged_against_the_series_own_threshold() -> None:
    from monitor.service.outbox import _series_arrivals

    def body(message: AlertMessage) -> str:
        text = compose_alert_email(message, sender="a@b.c", recipients=["x@y.z"],
                                   created_at=datetime(2024, 1, 1, tzinfo=UTC))
        part = text.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    own = body(replace(alert(), series_arrivals=120))
    assert "0.5 at this series' own threshold, from 120 earlier acquisitions" in own
    assert "series' own threshold" not in body(alert())
    # what the outbox reads of a stored score's parameters
    assert _series_arrivals({"series_arrivals": 120, "series_threshold": 1.9}) == 120
    assert _series_arrivals({"lstt_permutations": 100}) is None and _series_arrivals(None) is None


def test_retry_delay_is_exponential_and_capped() -> None:
    assert [retry_delay_s(a) for a in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert retry_delay_s(500) == 3600
    assert retry_delay_s(3, base_s=1, cap_s=10) == 4
    with pytest.raises(InputError, match="attempts"):
        retry_delay_s(0)
    with pytest.raises(InputError, match="cap_s"):
        retry_delay_s(1, base_s=10, cap_s=5)


def test_new_episode_is_in_the_subject_and_the_reason_in_the_body() -> None:
    from dataclasses import replace
    why = ("Etna (211060): level warning at epoch 2024-08-18: new episode: the series shows "
           "a rate of +8.5 cm/yr since 2024-06-01 (6.1 sigma; series noise 0.90 cm)")
    msg = compose_alert_email(replace(alert(), reason=why), sender="monitor@example.org",
                              recipients=["o@example.org"],
                              created_at=datetime(2024, 8, 20, 6, 0, tzinfo=UTC),
                              quicklook_png=None, message_id="<alert-8.obs@example.org>")
    assert msg["Subject"].startswith("[insar-monitor] WARNING NEW EPISODE Etna")
    body = msg.get_body(("plain",))
    assert body is not None and "+8.5 cm/yr since 2024-06-01" in body.get_content()
    assert "NEW EPISODE" not in message()["Subject"]


@pytest.mark.parametrize("exc, retryable, operator", [
    (smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"5.1.1 no such user")}), False, False),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (553, b"mailbox name not allowed")}), False,
     False),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (554, b"transaction failed")}), False, False),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (554, b"5.7.1 relay access denied")}), True,
     True),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (552, b"mailbox full")}), True, False),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (450, b"mailbox busy")}), True, False),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (421, b"closing")}), True, False),
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), True, True),
    (smtplib.SMTPSenderRefused(530, b"5.7.0 authentication required", "m@x.org"), True, True),
    (smtplib.SMTPResponseException(534, b"mechanism too weak"), True, True),
    (smtplib.SMTPResponseException(454, b"4.7.0 temporary auth failure"), True, True),
    (smtplib.SMTPSenderRefused(553, b"sender not allowed", "m@x.org"), True, True),
    (smtplib.SMTPConnectError(554, b"no SMTP service here"), True, True),
    (smtplib.SMTPConnectError(421, b"too busy"), True, False),
    (smtplib.SMTPDataError(554, b"transaction failed"), True, True),
    (smtplib.SMTPDataError(552, b"message too big"), False, False),
    (smtplib.SMTPDataError(550, b"5.6.0 content refused"), False, False),
    (smtplib.SMTPDataError(451, b"local error"), True, False),
    (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), True, True),
    (ConnectionRefusedError(111, "Connection refused"), True, False),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True, False),
])
def test_reply_table_permanent_only_for_the_message(exc: BaseException, retryable: bool,
                                                    operator: bool) -> None:
    """The table of ``monitor/notify/smtp.py``: permanent only when the server refuses the
    message itself (per recipient, or its content); the session's problems need an operator
    and are retried so the fix alone sends the message."""
    err = _classify(exc, "mail.example.org", 25)
    assert (err.retryable, err.needs_operator) == (retryable, operator), str(err)
    assert "mail.example.org:25" in str(err)


def test_missing_password_is_retried_and_needs_an_operator(
        smtp_server: tuple[Controller, Collect]) -> None:
    ctl, handler = smtp_server
    sender = SmtpSender(settings(ctl.port, username_env="U", password_env="P"),
                        environ={"U": "me"})
    with pytest.raises(DeliveryError) as err:
        sender.send(message())
    assert err.value.retryable and err.value.needs_operator and "'P'" in str(err.value)
    assert handler.messages == []
