"""The one HTTP layer of trustpub: :mod:`http.client` underneath, credentials handled with care.

Every network call of trustpub (OIDC runner endpoint, audience, mint-token, upload,
simple and integrity APIs) goes through a :class:`Transport`, which owns one
:class:`~trustpub._connections.ConnectionPool` (thread-safe, connections kept alive
and reused across parallel uploads; routes and proxies are there too), reads through
:mod:`trustpub._wire` (streamed bodies, bounded answers, failures named in fixed
words) and enforces these rules:

- credentials (an ``Authorization`` header, or a body marked ``credentials=True`` such
  as a JWT sent to mint-token) are only ever sent over https, or plain http to a
  loopback address; anything else raises :class:`InsecureTransport` before connecting;
- redirects are followed by hand, at most :data:`MAX_REDIRECTS`: ``Authorization`` is
  kept only when the scheme and host stay the same, and a credential-carrying body is
  never re-sent to another host;
- every request has a timeout and the ``User-Agent`` ``trustpub/<version>``: at most
  :data:`DEFAULT_CONNECT_TIMEOUT` seconds to connect, and :data:`DEFAULT_TIMEOUT`
  seconds (``--timeout``, ``$TRUSTPUB_TIMEOUT``) for the answer, counted twice: no
  read may wait longer, and the whole body must have arrived within that time after
  the headers, so a server that trickles an answer that never ends is cut off too.
  An upload's answer gets the same bound, counted from the last byte sent;
- no answer is read past a size bound: a successful body up to ``max_body`` (default
  :data:`MAX_BODY`; more raises :class:`TransportError`), any other body up to
  :data:`MAX_ERROR_BODY` (the rest is dropped and :attr:`Response.truncated` set),
  so a broken proxy or a hostile server cannot fill the memory of a release job.
  Requests ask for ``Accept-Encoding: identity`` and nothing is decompressed, so the
  bound is on the bytes received and a compressed "bomb" cannot grow past it.

Usage::

    transport = Transport()
    response = transport.request("GET", "https://pypi.org/_/oidc/audience")
    audience = response.json()["audience"]

Network clients in trustpub take a ``transport`` argument, so tests hand them one
pointed at 127.0.0.1 servers rather than patching internals.
"""

from __future__ import annotations

import http.client
import json as _json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from trustpub import __version__
from trustpub._connections import (
    ConnectionPool,
    ProxyNotSupported,
    Route,
    origin,
    proxy_for,
    request_target,
    route,
)
from trustpub._wire import BodySource, _AnswerTooSlow, describe_failure, read_body, refusal_hint
from trustpub.errors import ConfigurationError, TrustpubError
from trustpub.registry import is_loopback_host
from trustpub.secrets import Secret, redact

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MAX_BODY",
    "MAX_ERROR_BODY",
    "MAX_REDIRECTS",
    "TIMEOUT_ENV",
    "USER_AGENT",
    "InsecureTransport",
    "Response",
    "Transport",
    "TransportError",
    "default_transport",
    "proxy_for",
    "resolve_timeout",
    "safe_url",
]

_logger = logging.getLogger(__name__)

USER_AGENT = f"trustpub/{__version__}"
#: Seconds to wait for an answer: for each read, and for the whole body after the
#: headers (uploads included: counted from the last byte sent). ``--timeout`` or
#: ``$TRUSTPUB_TIMEOUT`` change it.
DEFAULT_TIMEOUT = 60.0
#: Seconds to wait for a TCP (and TLS) connection, per attempt (at most the read timeout).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: The environment variable that sets the answer timeout when ``--timeout`` is not given.
TIMEOUT_ENV = "TRUSTPUB_TIMEOUT"
MAX_REDIRECTS = 5
#: Most bytes read from a successful answer: the PEP 691 page of a project with
#: thousands of files is a few MiB, a provenance document a few KiB.
MAX_BODY = 50 * 1024 * 1024
#: Most bytes read from any other answer (errors, redirects): plenty for a message.
MAX_ERROR_BODY = 64 * 1024
#: Connection attempts before giving up (nothing was sent, so retrying is safe).
_CONNECT_ATTEMPTS = 3

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that identify the caller and must not follow a redirect to another host.
_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

Body = bytes | str | IO[bytes] | Iterable[bytes] | None


class TransportError(TrustpubError):
    """The server could not be reached, or its answer could not be used."""


class InsecureTransport(ConfigurationError):
    """Credentials would have gone over plain http to a host that is not loopback."""


def safe_url(url: str) -> str:
    """``url`` without user:password and with any secret-looking part redacted, for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return redact(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")))


def resolve_timeout(timeout: float | None = None, env: Mapping[str, str] | None = None) -> float:
    """The answer timeout in seconds: ``timeout`` when given, else ``$TRUSTPUB_TIMEOUT``, else the default.

    A value that is not a positive number of seconds is a :class:`ConfigurationError`
    naming where it came from, raised before anything is sent.
    """
    import math
    import os

    if timeout is not None:
        source, raw = "--timeout", str(timeout)
    else:
        environ = os.environ if env is None else env
        raw = environ.get(TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_TIMEOUT
        source = f"${TIMEOUT_ENV}"
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"{source} {raw[:40]!r}: not a positive number of seconds",
            hint=f"give the seconds to wait for an answer, e.g. {source.lstrip('$')}=60 (default {DEFAULT_TIMEOUT:g})",
        )
    return value


def _require_unambiguous(url: str, *, redirected_from: str | None = None) -> None:
    """Refuse a URL whose host different parsers read differently, before anything is sent.

    ``http://B\\@A/`` is host A to :func:`urllib.parse.urlsplit` (which the rules,
    the messages and the connection use), host B to other HTTP libraries, and a
    browser reads it a third way: a server that redirects there is after a credential
    meant for one of them. No index needs a backslash or a control character in its
    authority, so such a URL is refused whoever would read it how.
    """
    try:
        netloc = urlsplit(url).netloc
        origin(url)  # the connection's own reading
        unreadable = False
    except ValueError:  # a port that is not a number, a broken [IPv6] literal, a host IDNA cannot spell
        netloc, unreadable = "", True
    controls = any(ord(c) < 0x21 or ord(c) == 0x7F for c in netloc)
    if unreadable or "\\" in netloc or controls:
        where = f"{safe_url(redirected_from)} redirected to" if redirected_from else "the URL"
        raise TransportError(
            f"{where} an ambiguous URL ({redact(url)[:200]!r}: its host reads differently to different parsers); "
            "nothing was sent there",
            hint="use the index's plain URL, scheme://host[:port]/path, without backslashes or control characters",
        )


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A header value may hold a tab, but no other control character: CR or LF would
# start a header (or a request) of their own, NUL ends it early for some servers.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


def _require_sendable(method: str, headers: Mapping[str, str], url: str) -> None:
    """Refuse, before connecting, a method or header http.client would choke on.

    http.client raises a ValueError that quotes the value (a token with a stray
    newline would land in a log) and lets a line fold through; this names the header
    only.
    """
    if not _TOKEN.fullmatch(method):
        raise TransportError(f"not an HTTP method: {method[:20]!r}; nothing was sent to {safe_url(url)}")
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise TransportError(
                f"a header name for {safe_url(url)} is not a single word; nothing was sent",
                hint="header names are letters, digits and -",
            )
        if _BAD_VALUE.search(value):
            raise TransportError(
                f"the {name} header for {safe_url(url)} holds a line break, a control character or a "
                "character outside Latin-1; nothing was sent",
                hint="a token or password read from a file may end with a newline: remove it",
            )


@dataclass(frozen=True)
class Response:
    """A complete HTTP answer (bodies are small JSON or text; uploads stream the request only)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    data: bytes
    #: The URL that gave this answer, after redirects (never with userinfo).
    url: str
    redirects: tuple[str, ...] = field(default=())
    #: The body was longer than :data:`MAX_ERROR_BODY` (an error answer); ``data`` is its start.
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; :class:`TransportError` when it is not JSON."""
        try:
            return _json.loads(self.data)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            raise TransportError(
                f"{self.url} answered HTTP {self.status} with a body that is not JSON",
                hint="check that the URL points at the index itself, not a proxy or login page",
            ) from exc

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class Transport:
    """An HTTP client with one connection pool, timeouts and the credential rules above.

    ``ca_certs`` points at a CA bundle for private indexes; ``maxsize`` is how many
    idle connections are kept per origin (more may be open at once).

    The standard proxy variables are honoured per request, as pip, twine and uv do:
    ``HTTPS_PROXY``/``HTTP_PROXY`` (any case) choose a proxy, ``NO_PROXY`` lists hosts
    reached directly. https goes through a ``CONNECT`` tunnel (TLS end to end), plain
    http is forwarded. Proxy credentials in the URL go in ``Proxy-Authorization``, to
    the proxy only, and never into a message.
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        ca_certs: str | None = None,
        maxsize: int = 10,
        user_agent: str = USER_AGENT,
    ) -> None:
        #: Seconds to wait for an answer (see the module docstring); ``None`` reads
        #: ``$TRUSTPUB_TIMEOUT``, else :data:`DEFAULT_TIMEOUT`.
        self.timeout = resolve_timeout(timeout)
        self.connect_timeout = connect_timeout
        self.user_agent = user_agent
        self._pool = ConnectionPool(maxsize=maxsize, ca_certs=ca_certs or None)

    def close(self) -> None:
        """Close the idle connections (a transport stays usable: it opens new ones)."""
        self._pool.close()

    def _route(self, url: str) -> Route:
        """Where ``url``'s request goes: directly, or through the proxy the environment names."""
        proxy = proxy_for(url)
        try:
            via = route(url, proxy)
        except ProxyNotSupported as exc:
            raise ConfigurationError(
                f"the proxy for {safe_url(url)} ({safe_url(proxy or '')}) cannot be used: {exc.message}",
                hint="give the proxy's http:// address in HTTPS_PROXY (https still goes end to end through "
                "a CONNECT tunnel), or list the host in NO_PROXY",
            ) from None
        except ValueError:
            raise TransportError(
                f"{safe_url(url)} is not an http:// or https:// URL",
                hint="give the index's URL as scheme://host[:port]/path",
            ) from None
        if proxy is not None:
            _logger.debug("HTTP %s via proxy %s:%d", safe_url(url), via.host, via.port)
        return via

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        authorization: Secret | None = None,
        body: Body = None,
        json: Any = None,
        credentials: bool = False,
        timeout: float | None = None,
        max_redirects: int = MAX_REDIRECTS,
        max_body: int = MAX_BODY,
    ) -> Response:
        """Send one request and return the final answer (any status; never raises on 4xx/5xx).

        ``authorization`` is the full ``Authorization`` header value (``Basic …``,
        ``bearer …``) as a :class:`Secret`. ``credentials=True`` marks a body that is
        itself a credential (a JWT for mint-token) so it gets the same protection.
        ``max_redirects=0`` returns a redirect answer as it is, unfollowed.
        ``max_body`` bounds a successful body (a longer one raises
        :class:`TransportError`); other bodies are cut at :data:`MAX_ERROR_BODY`.
        Raises :class:`InsecureTransport` or :class:`TransportError`.
        """
        send_headers: dict[str, str] = {"User-Agent": self.user_agent}
        if headers:
            send_headers.update(headers)
        if authorization is not None:
            send_headers["Authorization"] = authorization.reveal()
        if json is not None:
            if body is not None:
                raise ValueError("give body or json, not both")
            body = _json.dumps(json).encode()
            send_headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        _require_sendable(method, send_headers, url)
        carries_credentials = credentials or any(k.lower() in _SENSITIVE_HEADERS for k in send_headers)
        body_is_credential = credentials

        redirects: list[str] = []
        current_url = url
        current_method = method.upper()
        _require_unambiguous(url)
        while True:
            if carries_credentials:
                self._require_secure(current_url)
            response, data, truncated = self._send(current_method, current_url, send_headers, body, timeout, max_body)
            location = response.headers.get("Location") if response.status in _REDIRECT_STATUSES else None
            if not location or max_redirects == 0:
                return Response(
                    status=response.status,
                    reason=response.reason or "",
                    headers=dict(response.headers.items()),
                    data=data,
                    url=safe_url(current_url),
                    redirects=tuple(redirects),
                    truncated=truncated,
                )
            if len(redirects) >= max_redirects:
                raise TransportError(
                    f"{safe_url(url)} redirected more than {max_redirects} times (last to {safe_url(location)})",
                    hint="use the final URL directly",
                )
            target = urljoin(current_url, location)
            _require_unambiguous(target, redirected_from=current_url)
            same_origin = origin(target) == origin(current_url)
            _logger.debug(
                "HTTP %s %s -> %d redirect to %s%s",
                current_method,
                safe_url(current_url),
                response.status,
                safe_url(target),
                "" if same_origin else " (other origin: credentials dropped)",
            )
            if response.status == 303 or (response.status in (301, 302) and current_method == "POST"):
                current_method = "GET" if current_method != "HEAD" else "HEAD"
                body = None
                send_headers = {k: v for k, v in send_headers.items() if k.lower() not in ("content-type", "content-length")}
            elif body is not None and not isinstance(body, bytes):
                raise TransportError(
                    f"{safe_url(current_url)} redirected a streamed {current_method} to {safe_url(target)}",
                    hint=f"use {safe_url(target)} as the URL",
                )
            if not same_origin:
                if body is not None and body_is_credential:
                    raise TransportError(
                        f"{safe_url(current_url)} redirected a request carrying a credential to another host "
                        f"({safe_url(target)}); it was not sent there",
                        hint="point trustpub at the index's own URL",
                    )
                send_headers = {k: v for k, v in send_headers.items() if k.lower() not in _SENSITIVE_HEADERS}
                carries_credentials = body_is_credential and body is not None
            redirects.append(safe_url(target))
            current_url = target

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def get_json(self, url: str, **kwargs: Any) -> tuple[Response, Any]:
        """GET with ``Accept: application/json``; returns the answer and its parsed body (or None)."""
        headers = {"Accept": "application/json", **dict(kwargs.pop("headers", None) or {})}
        response = self.request("GET", url, headers=headers, **kwargs)
        return response, _maybe_json(response)

    def post_json(self, url: str, payload: Any, **kwargs: Any) -> tuple[Response, Any]:
        """POST a JSON body; returns the answer and its parsed body (or None when not JSON)."""
        headers = {"Accept": "application/json", **dict(kwargs.pop("headers", None) or {})}
        response = self.request("POST", url, json=payload, headers=headers, **kwargs)
        return response, _maybe_json(response)

    def _require_secure(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "https":
            return
        if parts.scheme == "http" and is_loopback_host(parts.hostname):
            # Loopback plain http never leaves the machine, unless a proxy elsewhere
            # relays it: then the credential would cross the network in clear text.
            proxy = proxy_for(url)
            proxy_host = urlsplit(proxy).hostname if proxy else None
            if proxy_host is not None and not is_loopback_host(proxy_host):
                raise InsecureTransport(
                    f"refusing to send credentials for {parts.hostname!r} over plain http through the proxy "
                    f"{proxy_host!r}",
                    hint=f"add {parts.hostname} to NO_PROXY, or use the index's https:// URL",
                )
            return
        raise InsecureTransport(
            f"refusing to send credentials over plain {parts.scheme or '?'}:// to {parts.hostname or safe_url(url)!r}",
            hint="use an https:// URL (plain http is only accepted for a loopback address such as 127.0.0.1)",
        )

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        timeout: float | None,
        max_body: int = MAX_BODY,
    ) -> tuple[http.client.HTTPResponse, bytes, bool]:
        read = self.timeout if timeout is None else timeout
        via = self._route(url)
        target = request_target(url, via)
        send_headers = dict(headers)
        if via.absolute and via.proxy_authorization:
            send_headers["Proxy-Authorization"] = via.proxy_authorization  # forwarded: the proxy reads it
        # A streamed body is read through _BodySource, so an exception of its own (a
        # file that vanished: an OSError too) is told apart from a broken connection.
        source = BodySource(body) if body is not None and not isinstance(body, (bytes, str)) else None
        replayable = source is None
        attempt = 0
        while True:
            attempt += 1
            _logger.debug("HTTP %s %s%s", method, safe_url(url), f" (attempt {attempt})" if attempt > 1 else "")
            try:
                conn, reused = self._pool.connection(via, connect_timeout=min(self.connect_timeout, read), read_timeout=read)
            except OSError as exc:
                # Nothing reached the server: safe to try again, unless TLS or the proxy said no.
                refused = refusal_hint(exc)
                if attempt < _CONNECT_ATTEMPTS and refused is None:
                    time.sleep(0.1 * 2 ** (attempt - 1))
                    continue
                raise TransportError(
                    f"could not reach {safe_url(url)}: {describe_failure(exc)}",
                    hint=refused or "check the URL and the network; for a local index make sure it is running",
                ) from None
            cut_short: OSError | None = None
            try:
                try:
                    conn.request(method, target, body=body if source is None else source, headers=send_headers)
                except (BrokenPipeError, ConnectionResetError) as exc:
                    # The server may have answered before reading the whole body (413,
                    # 401) and closed: that answer says more than the broken pipe.
                    if source is not None and exc is source.failure:
                        raise
                    cut_short = exc
                try:
                    response = conn.getresponse()
                except (http.client.HTTPException, OSError):
                    if cut_short is not None:
                        raise cut_short from None  # the sending failed first: report that
                    raise
                success = 200 <= response.status < 300
                limit = max_body if success else min(max_body, MAX_ERROR_BODY)
                data = read_body(response, read, limit)
            except BaseException as exc:
                conn.close()  # a half-sent request or a half-read answer: the connection is done
                if source is not None and exc is source.failure:
                    raise  # the body's own error, as it is
                if isinstance(exc, (TimeoutError, _AnswerTooSlow)):
                    raise TransportError(
                        f"{method} {safe_url(url)} failed: no complete answer within {read:g} s",
                        hint=f"the server is slow or stuck; --timeout or ${TIMEOUT_ENV} sets how long to wait "
                        f"(default {DEFAULT_TIMEOUT:g} s)",
                    ) from None
                if not isinstance(exc, (http.client.HTTPException, OSError)):
                    raise
                # A kept-alive connection closed under us; only a read can be replayed blindly.
                if method in ("GET", "HEAD") and attempt < 2 and replayable:
                    continue
                raise TransportError(
                    f"{method} {safe_url(url)} failed: the connection broke ({describe_failure(exc)})",
                    hint="try again; the server may have restarted" if reused or attempt > 1 else "try again",
                ) from None
            truncated = len(data) > limit
            if truncated or cut_short is not None or response.will_close or conn.sock is None:
                conn.close()
            else:
                self._pool.give_back(via, conn)
            if truncated and success:
                raise TransportError(
                    f"{method} {safe_url(url)} answered HTTP {response.status} with more than {_size(limit)}; "
                    "trustpub reads no more than that from one answer",
                    hint="check that the URL points at the index itself, not a proxy or something else",
                )
            break
        _logger.debug("HTTP %s %s -> %d", method, safe_url(url), response.status)
        return response, data[:limit], truncated


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MiB"
    return f"{n / 1024:g} KiB" if n >= 1024 else f"{n} bytes"


def _maybe_json(response: Response) -> Any:
    try:
        return _json.loads(response.data) if response.data else None
    except (ValueError, RecursionError):
        return None


_default: Transport | None = None
_default_lock = threading.Lock()


def default_transport() -> Transport:
    """The process-wide :class:`Transport` (one connection pool for everything)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Transport()
        return _default
