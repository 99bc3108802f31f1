"""Sending alert e-mail: over SMTP, or into a folder (dry run), behind one small protocol.

SMTP errors are mapped in one place (:func:`_classify`) to :class:`DeliveryError`, which says
whether a later attempt may succeed (``retryable``) and whether someone must act first
(``needs_operator``). The outbox (:mod:`monitor.service.outbox`) retries every retryable
failure with a capped backoff and no attempt limit, and keeps a permanent one as ``failed``
until ``insar-monitor outbox retry`` re-queues it.

**Replies and what they mean** (RFC 5321 section 4.2 and 4.5.3.1.10, RFC 4954 for AUTH,
RFC 3207 for STARTTLS, RFC 3463 enhanced status codes ``class.subject.detail``). The
question is always: is it this *message* (its recipient, its content) that the server
refuses, or the *session* (our login, our sender, our relay permission, the server's
state)? Only the first is permanent: a session problem is fixed once by an operator and
then every waiting message must go out by itself.

=========================================  =================================  ============
reply (where)                              meaning                            outcome
=========================================  =================================  ============
refused/reset connection, timeout, closed  server or network down             retry
421 (any step)                             service closing, busy              retry
450, 451, 452, other 4xx                   transient: mailbox busy, local     retry
                                           error, no storage
552 to RCPT TO                             storage exceeded; 4.5.3.1.10 says  retry
                                           clients treat it as 452
454 to AUTH or STARTTLS                    temporary auth/TLS failure         retry, operator
530, 534, 535, 538 (AUTH)                  auth required, mechanism too weak, retry, operator
                                           bad credentials, encryption needed
username set, password variable unset      our set-up                         retry, operator
no STARTTLS or AUTH offered, certificate   our set-up (``[email] security``,  retry, operator
that does not verify                       ``ca_file``)
5xx greeting (554 "no SMTP service"),      the server refuses *us*            retry, operator
5xx to EHLO or MAIL FROM (550, 553, 555)
5xx to RCPT TO with 5.7.x (554 5.7.1       policy: relaying denied for us,    retry, operator
relay denied, 550 5.7.1)                   not this recipient
5xx to RCPT TO otherwise (550 5.1.1,       this recipient does not exist or   permanent
551, 553, 554 "transaction failed")        is refused: per recipient, so the
                                           message cannot be delivered
552 or 5.3.4 / 5.6.x to DATA               this message is too big or its     permanent
                                           content is refused
other 5xx to DATA (554 without recipient)  the server's policy for the        retry, operator
                                           session, not named per recipient
=========================================  =================================  ============

554 "transaction failed" is therefore permanent for a message only when the server says it
per recipient (in the RCPT TO reply); the same code at the greeting or after DATA refuses
the session and is retried, logged at ERROR, until an operator fixes it.

Credentials never sit in settings files: :class:`SmtpSettings` holds the *names* of the
environment variables that hold them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

from monitor.config import EmailSettings
from monitor.errors import ConfigError, DeliveryError, InputError

logger = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
SECURITY_MODES: tuple[str, ...] = ("starttls", "ssl", "none")


class Sender(Protocol):
    """Anything that delivers a composed message (to its ``To``/``Cc`` recipients)."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise :class:`DeliveryError`."""
        ...


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server.

    Attributes:
        host: Server host name or address.
        port: TCP port (587 for STARTTLS, 465 for SSL, 25 plain).
        security: ``starttls`` (upgrade after EHLO), ``ssl`` (TLS from the start) or
            ``none`` (plain; only for a relay on a trusted network or tests).
        sender: Envelope and ``From`` address.
        username_env: Name of the environment variable holding the user name; when it is
            unset or empty, no login is attempted.
        password_env: Name of the environment variable holding the password.
        timeout_s: Socket timeout for every step, seconds.
        ca_file: PEM file of extra trusted certificates (a private CA); None: system store.
    """

    host: str
    port: int
    security: Security = "starttls"
    sender: str = "insar-monitor@localhost"
    username_env: str | None = "MONITOR_SMTP_USERNAME"
    password_env: str | None = "MONITOR_SMTP_PASSWORD"
    timeout_s: float = 30.0
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("email: host must name the SMTP server, got an empty string")
        if not 0 < self.port < 65536:
            raise ConfigError(f"email: port must be in 1-65535, got {self.port!r}")
        if self.security not in SECURITY_MODES:
            raise ConfigError(f"email: security must be one of {SECURITY_MODES}, "
                              f"got {self.security!r}")
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", self.sender):
            raise ConfigError(f"email: sender must be an e-mail address, got {self.sender!r}")
        if not self.timeout_s > 0:
            raise ConfigError(f"email: timeout_s must be > 0 seconds, got {self.timeout_s!r}")

    @classmethod
    def from_config(cls, email: EmailSettings, ca_file: str | None = None) -> SmtpSettings:
        """The SMTP part of the ``[email]`` section of the configuration."""
        return cls(host=email.host, port=email.port, security=email.security,
                   sender=email.sender, username_env=email.username_env,
                   password_env=email.password_env, timeout_s=email.timeout_s, ca_file=ca_file)

    def credentials(self, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
        """User name and password from the environment, or None when no login is set up.

        Raises:
            ConfigError: The user name is set but the password variable is not.
        """
        env = os.environ if environ is None else environ
        user = env.get(self.username_env, "") if self.username_env else ""
        if not user:
            return None
        password = env.get(self.password_env, "") if self.password_env else ""
        if not password:
            raise ConfigError(f"email: {self.username_env} is set but the password variable "
                              f"{self.password_env!r} is unset or empty; export it")
        return user, password


class SmtpSender:
    """Delivers messages over SMTP, one connection per message.

    Args:
        settings: Server, security and the names of the credential variables.
        environ: Environment to read credentials from (default ``os.environ``).
    """

    def __init__(self, settings: SmtpSettings,
                 environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._environ = environ

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the server for its ``To``/``Cc``/``Bcc`` recipients.

        Raises:
            DeliveryError: With ``retryable`` set as described in the module docstring;
                the message names host:port and the server's reply.
            ConfigError: Credentials half configured.
        """
        s = self.settings
        try:
            credentials = s.credentials(self._environ)
        except ConfigError as exc:  # the set-up's fault, not the message's: keep it
            raise DeliveryError(f"{exc} (the SMTP server {self.where} was not contacted; "
                                "the message is retried until the variable is set and the "
                                "daemon restarted)", retryable=True, host=s.host,
                                port=s.port, needs_operator=True) from exc
        try:
            with self._session(credentials) as client:
                refused = client.send_message(message, from_addr=s.sender)
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, s.host, s.port) from exc
        if refused:
            raise _refused_recipients(refused, s.host, s.port, "refused recipients")
        logger.info("e-mail %r sent via %s to %s", message["Subject"], self.where,
                    message["To"])

    @contextlib.contextmanager
    def _session(self, credentials: tuple[str, str] | None) -> Iterator[smtplib.SMTP]:
        """An SMTP session as configured: connected (SSL or plain), greeted, STARTTLS when
        asked, logged in when ``credentials`` are given; QUIT on leaving. The one place
        :meth:`send` and :meth:`check_connection` open a session."""
        s = self.settings
        client: smtplib.SMTP
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s,
                                      context=self._tls_context())
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with client:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            if credentials is not None:
                client.login(*credentials)
            yield client

    def check_connection(self) -> None:
        """Connect, EHLO, STARTTLS or SSL as configured, log in when credentials are set,
        then QUIT; nothing is sent (``insar-monitor config check --online``).

        Raises:
            DeliveryError: As :meth:`send` would, for the same failures.
            ConfigError: Credentials half configured.
        """
        s = self.settings
        credentials = s.credentials(self._environ)
        try:
            with self._session(credentials):
                pass
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, s.host, s.port) from exc


def _reply(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {body}".strip()


#: AUTH replies that say our login is wrong or missing (RFC 4954): 530 authentication
#: required, 534 mechanism too weak, 535 credentials invalid, 538 encryption required;
#: 454 temporary authentication failure.
AUTH_CODES = frozenset({454, 530, 534, 535, 538})

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


def enhanced_status(text: bytes | str) -> tuple[int, int, int] | None:
    """The RFC 3463 enhanced status code at the start of a reply's text (``5.1.1 no such
    user`` -> ``(5, 1, 1)``), or None."""
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    m = _ENHANCED.match(body)
    return None if m is None else (int(m[1]), int(m[2]), int(m[3]))


def _operator(message: str, host: str, port: int, code: int | None = None) -> DeliveryError:
    return DeliveryError(message, retryable=True, host=host, port=port, smtp_code=code,
                         needs_operator=True)


def _refused_recipients(refused: Mapping[str, tuple[int, bytes]], host: str, port: int,
                        what: str) -> DeliveryError:
    """The result of RCPT TO replies refusing recipients (the module's table): permanent
    only for a 5xx that is not 552 and not a 5.7.x policy refusal."""
    where = f"{host}:{port}"
    codes = [code for code, _ in refused.values()]
    said = "; ".join(f"{addr}: {_reply(code, reply)}" for addr, (code, reply)
                     in refused.items())
    text = f"SMTP server {where} {what}: {said}"
    policy = [c for c, t in refused.values()
              if c >= 500 and (enhanced_status(t) or (0, 0, 0))[1] == 7]
    if policy:
        return _operator(f"{text}; a policy refusal (relaying, our sender): check the relay's "
                         "permission for this host and [email] sender", host, port, policy[0])
    transient = any(c < 500 or c == 552 for c in codes)
    return DeliveryError(text, retryable=transient, host=host, port=port,
                         smtp_code=codes[0] if codes else None)


def _classify(exc: BaseException, host: str, port: int) -> DeliveryError:
    """The one place where smtplib and socket errors become :class:`DeliveryError` (the
    module docstring's table)."""
    where = f"{host}:{port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _refused_recipients(exc.recipients, host, port, "refused every recipient")
    if isinstance(exc, smtplib.SMTPAuthenticationError) or (
            isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code in AUTH_CODES):
        return _operator(f"SMTP server {where} rejected the login "
                         f"({_reply(exc.smtp_code, exc.smtp_error)}); check the credentials "
                         "in the environment variables [email] username_env and password_env "
                         "name, and [email] security", host, port, exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = int(exc.smtp_code)
        reply = _reply(code, exc.smtp_error)
        if not 500 <= code < 600:
            return DeliveryError(f"SMTP server {where} temporarily refused the message: "
                                 f"{reply}", retryable=True, host=host, port=port,
                                 smtp_code=code)
        if isinstance(exc, smtplib.SMTPDataError):
            status = enhanced_status(exc.smtp_error)
            content = status is not None and (status[1] == 6 or status[1:] == (3, 4))
            if code == 552 or content:
                return DeliveryError(f"SMTP server {where} permanently rejected this "
                                     f"message: {reply}", retryable=False, host=host,
                                     port=port, smtp_code=code)
            what = "refused the message after DATA"
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            what = f"refused the sender {exc.sender!r} (check [email] sender)"
        else:
            what = "refused the session"
        return _operator(f"SMTP server {where} {what}: {reply}; retried until the server "
                         "accepts it", host, port, code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _operator(f"SMTP server {where} does not support a required extension "
                         f"({exc}); check [email] security", host, port)
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__,
                                                                      TimeoutError):
        return DeliveryError(f"SMTP server {where} did not answer in time: {exc.__context__}",
                             retryable=True, host=host, port=port)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"SMTP server {where} closed the connection: {exc}",
                             retryable=True, host=host, port=port)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"SMTP server {where} did not answer in time: {exc}",
                             retryable=True, host=host, port=port)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _operator(f"SMTP server {where} presented a certificate that does not "
                         f"verify ({exc.verify_message}); set [email] ca_file or fix the "
                         "server", host, port)
    if isinstance(exc, OSError):
        return DeliveryError(f"cannot reach SMTP server {where}: {exc}", retryable=True,
                             host=host, port=port)
    if isinstance(exc, smtplib.SMTPException) and "authentication" in str(exc).lower():
        return _operator(f"SMTP server {where}: {exc}; check [email] security and the "
                         "server's AUTH mechanisms", host, port)
    return DeliveryError(f"SMTP exchange with {where} failed: {exc!r}", retryable=True,
                         host=host, port=port)


class DryRunSender:
    """Writes every message as an ``.eml`` file into ``folder`` and logs one line.

    The file name comes from the ``Message-ID`` (or a hash of the message), so sending the
    same message twice overwrites one file instead of making two.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_for(self, message: EmailMessage) -> Path:
        """Where :meth:`send` writes ``message``."""
        mid = str(message.get("Message-ID", "")).strip("<> ")
        if mid:
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", mid)[:120]
        else:
            stem = hashlib.sha256(message.as_bytes()).hexdigest()[:32]
        return self.folder / f"{stem}.eml"

    def send(self, message: EmailMessage) -> None:
        """Write ``message`` atomically (temporary file, then rename)."""
        path = self.path_for(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # The writer's pid in the name: the daemon removes a killed writer's file
            # (monitor.io.atomic.sweep_orphaned_temp_files).
            tmp = path.with_suffix(f".eml.{os.getpid()}.part")
            tmp.write_bytes(message.as_bytes())
            tmp.replace(path)
        except OSError as exc:
            raise DeliveryError(f"dry-run outbox {self.folder} is not writable: {exc}",
                                retryable=True, host="dry-run", port=0) from exc
        logger.info("dry-run e-mail to %s: %s -> %s", message["To"], message["Subject"], path)


def retry_delay_s(attempts: int, base_s: float = 30.0, cap_s: float = 3600.0) -> float:
    """Delay before the next attempt after ``attempts`` failed ones: exponential, capped.

    ``base_s * 2 ** (attempts - 1)``, at most ``cap_s``: 30, 60, 120 ... 3600 s by default.

    Args:
        attempts: Failed attempts so far (>= 1).
        base_s: Delay after the first failure, seconds (> 0).
        cap_s: Longest delay, seconds (>= base_s).
    """
    if attempts < 1:
        raise InputError(f"retry_delay_s: attempts must be >= 1, got {attempts!r}")
    if not base_s > 0:
        raise InputError(f"retry_delay_s: base_s must be > 0 seconds, got {base_s!r}")
    if not cap_s >= base_s:
        raise InputError(f"retry_delay_s: cap_s ({cap_s!r}) must be >= base_s ({base_s!r})")
    exponent = min(attempts - 1, 62)
    return float(min(cap_s, base_s * 2.0**exponent))
