"""The bytes of one exchange for :mod:`trustpub.transport`: a streamed body, a bounded answer, a named failure.

- :class:`BodySource` reads a streamed request body for http.client and remembers an
  exception the body itself raised (a file that vanished is an :class:`OSError` too),
  so the transport reports that, not a broken connection;
- :func:`read_body` reads an answer within its time and size bounds, and refuses one
  cut short (http.client's ``read1`` ends quietly where urllib3 raised);
- :func:`describe_failure` names a failure in fixed words, never with text the server
  (or a proxy) chose, which could be a page of HTML or an echoed credential;
- :func:`refusal_hint` tells a refused connection (TLS, the proxy's ``CONNECT``), not
  worth another attempt, from one that is.
"""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Iterable, Iterator
from typing import IO

__all__ = [
    "BodySource",
    "describe_failure",
    "read_body",
    "refusal_hint",
]


class _AnswerTooSlow(Exception):
    """The body of an answer did not finish within the read timeout."""


class BodySource:
    """A streamed request body as http.client reads it, remembering an exception the body raised."""

    def __init__(self, body: IO[bytes] | Iterable[bytes]) -> None:
        self.body = body
        self.failure: BaseException | None = None

    def __iter__(self) -> Iterator[bytes]:
        body = self.body
        chunks: Iterator[bytes] = iter(lambda: body.read(_UPLOAD_BLOCK), b"") if hasattr(body, "read") else iter(body)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except BaseException as exc:
                self.failure = exc
                raise
            yield chunk


#: Bytes per read of a file body (http.client's default of 8 KiB is many system calls).
_UPLOAD_BLOCK = 256 * 1024


_READ_SIZE = 64 * 1024


def read_body(response: http.client.HTTPResponse, seconds: float, limit: int) -> bytes:
    """The body, within ``seconds`` of the headers (each read is bounded by the socket
    timeout too); a server that trickles bytes forever raises :class:`_AnswerTooSlow`.

    At most ``limit + 1`` bytes: a longer result tells the caller the body was cut (its
    connection, with bytes still unread, must then be closed rather than reused).
    """
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = response.read1(min(_READ_SIZE, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            raise _AnswerTooSlow()
    if size <= limit:
        if response.length:  # read1 ends quietly at EOF even when Content-Length promised more
            raise http.client.IncompleteRead(b"".join(chunks), response.length)
        response.close()  # read to its end: the connection is ready for the next request
    return b"".join(chunks)


#: What a broken connection is called in messages: never the server's own bytes (a
#: proxy that writes an HTML page instead of an HTTP answer would land in the text).
_BROKEN = (
    ("RemoteDisconnected", "the server closed the connection without answering"),
    ("BadStatusLine", "the server's answer was not HTTP"),
    ("LineTooLong", "the server's answer was not HTTP"),
    ("IncompleteRead", "the answer was cut off before its end"),
    ("ConnectionResetError", "connection reset by the server"),
    ("BrokenPipeError", "the server closed the connection while trustpub was sending"),
    ("ConnectionRefusedError", "connection refused"),
    ("ConnectionAbortedError", "connection aborted"),
    ("InvalidChunkLength", "the answer's chunked encoding was broken"),
)


def describe_failure(exc: BaseException) -> str:
    """A short, fixed description of a transport failure, with no text the server chose."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = {cls.__name__ for cls in type(current).__mro__}
        for name, text in _BROKEN:
            if name in names:
                return text
        if "gaierror" in names:
            return "the host name could not be resolved"
        if "SSLCertVerificationError" in names:
            return "the server's TLS certificate was not accepted"
        if "SSLError" in names:
            return "the TLS handshake failed"
        if isinstance(current, TimeoutError):
            return "timed out"
        tunnel = _TUNNEL_REFUSED.match(str(current)) if type(current) is OSError else None
        if tunnel is not None:
            return f"the proxy refused the tunnel (HTTP {tunnel.group(1)})"
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            args = [a for a in current.args if isinstance(a, BaseException)]
            nested = args[-1] if args else None
        current = nested or current.__cause__ or current.__context__
    return type(exc).__name__


#: http.client's words when a proxy answers CONNECT with an error; only the code is kept.
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})\b")


def refusal_hint(exc: BaseException) -> str | None:
    """What to fix when the other side refused the connection, asking again would not
    help: TLS failed (an untrusted certificate, a broken handshake), or the proxy
    answered ``CONNECT`` with an error. None for a failure worth another attempt."""
    if any(cls.__name__ == "SSLError" for cls in type(exc).__mro__):
        return ("the index's certificate must chain to a CA this system trusts; for a private CA, point "
                "SSL_CERT_FILE at its bundle")
    if type(exc) is OSError and _TUNNEL_REFUSED.match(str(exc)) is not None:
        return "check the proxy in HTTPS_PROXY (for HTTP 407, its user:password), or list the host in NO_PROXY"
    return None
