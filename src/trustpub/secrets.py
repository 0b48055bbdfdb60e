"""Secret values: a wrapper that never shows itself, and a redactor for everything else.

A :class:`Secret` holds a token, password or JWT. Its ``str()`` and ``repr()`` are
``***``, so an f-string, a log line or a traceback that touches it by accident shows
nothing; code that really needs the value calls :meth:`Secret.reveal`, at the one
place where it goes on the wire::

    >>> token = Secret("pypi-AgEIcHlwaS5vcmcCJGV4YW1wbGU")
    >>> print(f"token={token}")
    token=***
    >>> redact("Authorization: Basic X19fdG9rZW5fXzpweXBp and pypi-AgEIcHlwaS5vcmcCJGV4YW1wbGU")
    'Authorization: Basic *** and ***'

Every ``Secret`` of at least :data:`MIN_REGISTERED_LENGTH` characters is also
registered with the redactor, and :func:`install_log_redaction` makes every log
record pass through :func:`redact` when it is created, so a secret that slips into a
log message (or a formatted exception) is scrubbed before any handler sees it.

On GitHub Actions, :func:`mask_in_ci` prints ``::add-mask::<value>`` on stdout so the
runner hides the value in the job log: that is the one place a secret is printed, by
design, and only to the runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

__all__ = [
    "MIN_REGISTERED_LENGTH",
    "REDACTED",
    "RedactingFilter",
    "Secret",
    "install_log_redaction",
    "mask_in_ci",
    "redact",
    "register_secret",
    "uninstall_log_redaction",
]

_logger = logging.getLogger(__name__)

REDACTED = "***"

#: Shorter values are not registered for redaction: scrubbing every "abc" from the
#: logs would garble them and protect nothing.
MIN_REGISTERED_LENGTH = 6

# PyPI macaroons: "pypi-" and a long base64url body.
_MACAROON = re.compile(r"pypi-[A-Za-z0-9_\-]{16,}")
# JWTs: three base64url segments, the header always starting with '{"' = "eyJ".
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*")
# Authorization headers, whatever the scheme.
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:basic|bearer|token)\s+)[^\s'\",}]+")
# user:password@ in URLs.
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://)[^/\s@:]*:[^/\s@]*@")

_registered: set[str] = set()
_registered_lock = threading.Lock()


# The scheme word of an Authorization header value ("Basic xxx", "bearer xxx").
_AUTH_SCHEME = re.compile(r"(?i)^(?:basic|bearer|token)\s+(\S+)$")


def register_secret(value: str) -> None:
    """Scrub ``value`` from every later :func:`redact` call (and so from the logs).

    For an ``Authorization`` value (``Basic <base64>``) the credential part is
    registered on its own too: a server that echoes the header back often quotes just
    that part, and the base64 of ``__token__:pypi-…`` is the token itself.
    """
    if len(value) >= MIN_REGISTERED_LENGTH:
        with _registered_lock:
            _registered.add(value)
        header = _AUTH_SCHEME.match(value)
        if header is not None and len(header.group(1)) >= MIN_REGISTERED_LENGTH:
            with _registered_lock:
                _registered.add(header.group(1))


class Secret:
    """A string that shows ``***`` wherever it is printed, logged or repr'd.

    Compare two secrets with ``==``; get the value only with :meth:`reveal`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret holds a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)
        register_secret(value)

    def reveal(self) -> str:
        """The value itself. Call this only where it goes on the wire."""
        value: str = object.__getattribute__(self, "_value")
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return format(REDACTED, format_spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self.reveal() == other.reveal()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self.reveal()))

    def __bool__(self) -> bool:
        return bool(self.reveal())

    def __len__(self) -> int:
        return len(self.reveal())

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def redact(text: str) -> str:
    """``text`` with registered secrets, macaroons, JWTs, auth headers and URL passwords scrubbed."""
    with _registered_lock:
        known = sorted(_registered, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _MACAROON.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the raw message, scrubbed
        message = f"{record.msg} {record.args}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from each record (attach it to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_factory_lock = threading.Lock()
_previous_factory: Callable[..., logging.LogRecord] | None = None


def install_log_redaction() -> None:
    """Redact every log record at creation, whatever logger or handler it goes to.

    Idempotent. Wraps the process-wide log record factory, which is the only hook
    that also covers records of child loggers and handlers added later (a filter on
    a logger only sees records logged on that very logger).
    """
    global _previous_factory
    with _factory_lock:
        if _previous_factory is not None:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _previous_factory = previous
    _logger.debug("log redaction installed")


def uninstall_log_redaction() -> None:
    """Undo :func:`install_log_redaction` (tests use it to prove code leaks nothing on its own)."""
    global _previous_factory
    with _factory_lock:
        if _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
            _previous_factory = None


_mask_on_stderr = False


@contextlib.contextmanager
def mask_on_stderr(enabled: bool = True) -> Iterator[None]:
    """Within the block, send ``::add-mask::`` lines to stderr instead of stdout.

    ``--json`` keeps stdout for its one JSON document; the runner reads workflow
    commands from stderr too. The stream is looked up when a line is written, never
    kept, so a replaced ``sys.stderr`` (a test's capture, a closed pipe) is never used;
    and the setting ends with the block, so a library caller's later output is its own.
    """
    global _mask_on_stderr
    previous = _mask_on_stderr
    _mask_on_stderr = enabled
    try:
        yield
    finally:
        _mask_on_stderr = previous


def mask_in_ci(
    value: Secret | str,
    *,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> bool:
    """On GitHub Actions, ask the runner to hide ``value`` in the job log.

    Prints ``::add-mask::<value>`` on stdout (the runner reads workflow commands
    there and never shows that line). Returns True when the line was printed.
    Elsewhere it prints nothing; the value is registered for log redaction in any case.
    """
    raw = value.reveal() if isinstance(value, Secret) else value
    register_secret(raw)
    environ = os.environ if env is None else env
    if environ.get("GITHUB_ACTIONS") != "true" or not raw:
        return False
    out = stream or (sys.stderr if _mask_on_stderr else sys.stdout)
    out.write(f"::add-mask::{raw}\n")
    out.flush()
    return True
