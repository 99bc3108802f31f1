"""The one error tree of insar-monitor.

Every error raised on purpose inside the package derives from :class:`MonitorError`
and also from the builtin exception it resembles, so callers that only know the
builtin (``except ValueError``) still catch it. Messages name the file, key, target
or URL involved and say what to do. Only the CLI and the daemon's top level turn
these into exit codes and log lines.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error insar-monitor raises on purpose."""

    #: Exit code the CLI uses when this error reaches it.
    exit_code: int = 1


class ConfigError(MonitorError, ValueError):
    """A configuration file, key or environment override is missing or invalid."""

    exit_code = 2


class InputError(MonitorError, ValueError):
    """An argument or array handed to a function is invalid (shape, range, units)."""

    exit_code = 2


class UnitsError(InputError):
    """Values that cannot be what their declared units say (radians read as metres, a
    coherence map scored as phase, a wavelength in centimetres); the message names the
    file or option and the likely fix."""


class FeedError(InputError):
    """A feed document (CAP, Atom, GeoJSON) that is not valid for its standard; it is not
    published. The message names the alert or target and what the validator said."""


class RasterError(MonitorError, OSError):
    """A raster file cannot be read or written, or its content is unusable."""

    exit_code = 3


class DatasetError(MonitorError, OSError):
    """A synthetic dataset or archive on disk is missing, incomplete or inconsistent."""

    exit_code = 3


class CeosError(DatasetError):
    """A CEOS file (volume directory, leader, image or trailer of an ALOS-2 PALSAR-2
    product) is malformed, truncated or of an unsupported kind. The message names the file,
    the record (sequence number and type) and the field, and says what to do.

    Attributes:
        path: The file.
        record: Sequence number of the record (1-based), when one is concerned.
        record_type: The record's type as the format names it.
        field: The field, when one is concerned.
    """

    def __init__(self, path: object, problem: str | None = None, action: str | None = None,
                 *, record: int | None = None, record_type: str | None = None,
                 field: str | None = None) -> None:
        where = str(path)
        if record is not None:
            where += f": record {record}" + (f" ({record_type})" if record_type else "")
        elif record_type:
            where += f": {record_type}"
        if field:
            where += f", field {field}"
        # With the message alone (as pickle rebuilds it), the message is the first argument.
        super().__init__(where if problem is None else f"{where}: {problem}; {action}")
        self.path = str(path)
        self.record = record
        self.record_type = record_type
        self.field = field


class ArchiveError(MonitorError, OSError):
    """An archive listing or product is invalid."""

    exit_code = 4


class ArchiveUnavailable(ArchiveError, ConnectionError):
    """The archive could not be reached (timeout, refused connection, 5xx)."""

    exit_code = 4


class ArchiveTimeout(ArchiveUnavailable, TimeoutError):
    """The archive did not answer within the request's timeout (retried like any
    :class:`ArchiveUnavailable`)."""

    exit_code = 4


class ArchiveThrottled(ArchiveUnavailable):
    """The archive answered HTTP 429 (or 503) with a ``Retry-After`` longer than the client
    waits (``max_retry_after_s``) or than the request's deadline leaves; retried at a later
    poll like any :class:`ArchiveUnavailable`.

    Attributes:
        retry_after_s: The wait the server asked for, seconds (None when it gave none).
    """

    exit_code = 4

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BrokenProduct(ArchiveError):
    """A fetched product is not what it claims to be (truncated, not a raster, no finite
    value, wrong data type); it is never installed in the cache."""

    exit_code = 4


class StoreError(MonitorError, RuntimeError):
    """The database is unreachable or holds a state the code cannot accept."""

    exit_code = 5


class ModelError(MonitorError, RuntimeError):
    """A detector model file is missing, corrupt or does not match its architecture."""

    exit_code = 6


class DeliveryError(MonitorError, ConnectionError):
    """An e-mail could not be handed to the SMTP server.

    Attributes:
        retryable: True when a later attempt may succeed (4xx, connection, timeout).
        host: SMTP server host.
        port: SMTP server port.
        smtp_code: The server's reply code, when it answered with one.
        needs_operator: The failure is the set-up's, not the message's (a rejected login,
            missing credentials, our sender or relay refused): still retryable, so the fix
            alone makes the message go out, but someone must act.
    """

    exit_code = 7

    def __init__(self, message: str, *, retryable: bool, host: str, port: int,
                 smtp_code: int | None = None, needs_operator: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.host = host
        self.port = port
        self.smtp_code = smtp_code
        self.needs_operator = needs_operator


class ProcessingError(MonitorError, RuntimeError):
    """An external processing program (e.g. SNAPHU, the phase unwrapper of the ALOS-2
    path) failed or returned no usable result; the message names the program, the
    input and what it said."""

    exit_code = 8


class ExecutorError(MonitorError, RuntimeError):
    """A scoring task could not be run where the ``[executor]`` sends it: its worker was
    lost more times than ``task_retries`` allows, or the Dask scheduler cannot be reached.
    Nothing of the step is written; the product is recorded as failed and retried at a
    later poll (it is not quarantined: what it holds is not at fault)."""

    exit_code = 8


class ExecutorTimeout(ExecutorError, TimeoutError):
    """A scoring task did not finish within ``[executor] task_timeout_s``."""

    exit_code = 8
