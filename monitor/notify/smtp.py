"""Sending alert e-mail: over SMTP, or into a folder (dry run), behind one small protocol.

SMTP errors are mapped in one place (:func:`_classify`) to :class:`DeliveryError`, which says
whether a later attempt may succeed (``retryable``: 4xx replies, refused or dropped
connections, timeouts) or not (5xx replies such as 550 "no such user", authentication
failures, a server without STARTTLS). The caller decides when to retry from that, with
:func:`retry_delay_s`; the outbox that records attempts lives with the store.

Credentials never sit in settings files: :class:`SmtpSettings` holds the *names* of the
environment variables that hold them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
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
        credentials = s.credentials(self._environ)
        try:
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
                refused = client.send_message(message, from_addr=s.sender)
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, s.host, s.port) from exc
        if refused:
            codes = [code for code, _ in refused.values()]
            raise DeliveryError(
                f"SMTP server {self.where} refused recipients {refused!r}",
                retryable=any(400 <= c < 500 for c in codes), host=s.host, port=s.port,
                smtp_code=codes[0])
        logger.info("e-mail %r sent via %s to %s", message["Subject"], self.where,
                    message["To"])

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
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, s.host, s.port) from exc


def _reply(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {body}".strip()


def _classify(exc: BaseException, host: str, port: int) -> DeliveryError:
    """The one place where smtplib and socket errors become :class:`DeliveryError`."""
    where = f"{host}:{port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        retry = any(400 <= c < 500 for c in codes)
        return DeliveryError(f"SMTP server {where} refused every recipient: {exc.recipients!r}",
                             retryable=retry, host=host, port=port,
                             smtp_code=codes[0] if codes else None)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"SMTP server {where} rejected the login ({_reply(exc.smtp_code, exc.smtp_error)}); "
            "check the credential environment variables", retryable=False, host=host,
            port=port, smtp_code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = int(exc.smtp_code)
        retry = not 500 <= code < 600
        kind = "temporarily refused" if retry else "permanently rejected"
        return DeliveryError(f"SMTP server {where} {kind} the message: "
                             f"{_reply(code, exc.smtp_error)}", retryable=retry, host=host,
                             port=port, smtp_code=code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"SMTP server {where} does not support a required extension "
                             f"({exc}); check [email] security", retryable=False, host=host,
                             port=port)
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
        return DeliveryError(f"SMTP server {where} presented a certificate that does not "
                             f"verify ({exc.verify_message}); set [email] ca_file or fix the "
                             "server", retryable=False, host=host, port=port)
    if isinstance(exc, OSError):
        return DeliveryError(f"cannot reach SMTP server {where}: {exc}", retryable=True,
                             host=host, port=port)
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
