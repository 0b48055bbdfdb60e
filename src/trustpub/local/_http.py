"""A tiny HTTP server base shared by every service of the local world.

The OIDC issuer, the Sigstore instance and the local index all need the same thing: a
threaded HTTP/1.1 server on ``127.0.0.1`` and a free port, a route table, JSON replies,
and a ``stop()`` that really stops (no serving thread, no handler thread, no socket
left behind), so a test session can start and stop many of them.

Usage::

    from trustpub.local._http import LocalServer, Request, Response, json_response

    def hello(request: Request) -> Response:
        return json_response({"hello": request.param("name", "world")})

    server = LocalServer(name="demo")
    server.route("GET", "/hello", hello)
    with server:
        print(server.url + "/hello?name=you")   # http://127.0.0.1:PORT/hello?name=you

Routes are tried in registration order. A route's path is an exact path, a prefix
(``prefix=True``), or a compiled regular expression that must match the whole path
(its match object is ``request.match``). A path that matches with another method gives
405, no match gives 404, and an exception in a handler gives a JSON 500 (and a log
line), never a dead connection. A handler may also raise :class:`HTTPError` to answer
early.

Large bodies: a route registered with ``stream=True`` gets the body as
``request.stream`` (a file-like ``read(n)`` limited to the body, chunked or not)
instead of ``request.body``, so an upload can go to disk without ever being held in
memory; whatever the handler leaves unread is drained before the reply, so the
connection stays usable. A handler can raise :class:`AbortConnection` to drop the
connection with a TCP reset instead of answering (fault injection), and a
``Response`` may carry an open binary ``file`` that is streamed as the body.

Why not ``http.server`` as is: its ``server_bind`` does a reverse DNS lookup, it
prints to stderr, it leaves keep-alive handler threads blocked on idle client
connections at shutdown, and without ``disable_nagle_algorithm`` every keep-alive
request stalls for the 40 ms delayed-ACK timer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import shutil
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, BinaryIO, TypeVar
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "AbortConnection",
    "BodyStream",
    "HTTPError",
    "Handler",
    "LocalRequestHandler",
    "LocalServer",
    "Request",
    "Response",
    "error_response",
    "json_response",
    "text_response",
]

_logger = logging.getLogger(__name__)

#: Host every local server binds to; the local world never listens beyond loopback.
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request, as a handler sees it.

    ``path`` is the raw path without the query string (not percent-decoded, so a
    handler sees exactly what the client sent); ``query`` maps each parameter to all
    its values in order; ``body`` is the whole body (``Content-Length`` or chunked),
    except on ``stream=True`` routes, where ``body`` is empty and ``stream`` reads it.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    client: tuple[str, int]
    match: re.Match[str] | None = None
    stream: BodyStream | None = None

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``.

        The last one wins because clients that append ``&name=`` to a URL that may
        already carry the parameter mean the appended value.
        """
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, case-insensitively."""
        value = self.headers.get(name)
        return default if value is None else str(value)

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header (scheme case-insensitive)."""
        value = self.header("Authorization")
        if not value:
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def json(self) -> Any:
        """The body parsed as JSON; a malformed body is the client's fault (400)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"request body is not valid JSON: {exc}") from None


@dataclass
class Response:
    """What a handler returns.

    ``reason`` replaces the standard reason phrase of the status line; PyPI puts its
    upload error messages there, so a PyPI-like server needs it (characters outside
    Latin-1 become ``?`` and line breaks spaces, as a status line requires).
    ``file``, when given, is an open binary file sent as the body instead of
    ``body`` (and closed afterwards): downloads are streamed, not loaded.
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    file: BinaryIO | None = None


class HTTPError(Exception):
    """Raised inside a handler to answer with an error at once.

    The reply is :func:`error_response` unless ``response`` is given.
    """

    def __init__(self, status: int, message: str, *, response: Response | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.response = response


class AbortConnection(Exception):
    """Raised inside a handler to drop the connection with a TCP reset, unanswered.

    Fault injection for client tests: "the connection was reset mid-upload".
    """


class BodyStream:
    """The request body of a ``stream=True`` route, read on demand.

    ``read(n)`` returns at most ``n`` bytes and ``b""`` at the end of the body; it
    handles ``Content-Length`` and chunked bodies alike. A malformed body raises
    :class:`HTTPError` (400).
    """

    _CHUNK = 1024 * 1024

    def __init__(self, rfile: io.BufferedIOBase | BinaryIO, headers: Message) -> None:
        self._rfile = rfile
        self._chunked = "chunked" in str(headers.get("Transfer-Encoding", "")).lower()
        self._left = 0  # bytes left in the body (or in the current chunk)
        self._done = False
        if not self._chunked:
            length = headers.get("Content-Length")
            try:
                self._left = int(length) if length else 0
            except ValueError:
                raise HTTPError(400, f"invalid Content-Length {length!r}") from None
            if self._left < 0:
                raise HTTPError(400, f"invalid Content-Length {length!r}")
            self._done = self._left == 0

    @property
    def finished(self) -> bool:
        """Whether the whole body has been read."""
        return self._done

    def _next_chunk(self) -> None:
        line = self._rfile.readline(65537)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HTTPError(400, "malformed chunked body") from None
        if size == 0:
            while self._rfile.readline(65537).strip():
                pass  # trailer section
            self._done = True
        self._left = size

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the body (all the rest when ``size < 0``)."""
        if size < 0:
            return b"".join(iter(lambda: self.read(self._CHUNK), b""))
        if self._done or size == 0:
            return b""
        if self._chunked and self._left == 0:
            self._next_chunk()
            if self._done:
                return b""
        data = self._rfile.read(min(size, self._left))
        if not data:
            raise HTTPError(400, "request body ended early")
        self._left -= len(data)
        if self._left == 0:
            if self._chunked:
                self._rfile.readline(3)  # CRLF after the chunk data
            else:
                self._done = True
        return data

    def drain(self) -> None:
        """Read and discard the rest of the body."""
        while self.read(self._CHUNK):
            pass


Handler = Callable[[Request], Response]


def json_response(
    data: Any, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """A JSON reply (compact, UTF-8)."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, body, "application/json", dict(headers or {}))


def text_response(
    text: str,
    status: int = 200,
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> Response:
    """A text reply."""
    return Response(status, text.encode(), content_type, dict(headers or {}))


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None) -> Response:
    """A JSON error in the shape Sigstore's services use: ``{"code": N, "message": "..."}``."""
    return json_response({"code": status, "message": message}, status, headers=headers)


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: str | re.Pattern[str]
    handler: Handler
    prefix: bool
    stream: bool = False

    def matches(self, path: str) -> tuple[bool, re.Match[str] | None]:
        if isinstance(self.pattern, re.Pattern):
            found = self.pattern.fullmatch(path)
            return found is not None, found
        if self.prefix:
            return path.startswith(self.pattern), None
        return path == self.pattern, None


class LocalRequestHandler(BaseHTTPRequestHandler):
    """Dispatches each request to the route table of its :class:`LocalServer`.

    Subclass it (and pass ``handler_class=`` to :class:`LocalServer`) only to change
    transport details; application logic belongs in route handlers.
    """

    protocol_version = "HTTP/1.1"
    # Keep-alive with separate header and body writes otherwise waits for the
    # peer's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True
    # An idle keep-alive connection may not pin a thread forever.
    timeout = 60
    server: _ThreadingServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # http.server writes every request to stderr; route it to debug logging.
        if _logger.isEnabledFor(logging.DEBUG):
            _logger.debug("%s: %s - %s", self.server.label, self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise HTTPError(400, f"invalid Content-Length {length!r}") from None
        if size < 0:
            raise HTTPError(400, f"invalid Content-Length {length!r}")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HTTPError(400, "malformed chunked body") from None
            if size == 0:
                # Trailer section: header lines up to an empty line.
                while self.rfile.readline(65537).strip():
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)  # CRLF after the chunk data

    def _streams(self, path: str, method: str) -> bool:
        for route in self.server.routes:
            if route.method == method and route.matches(path)[0]:
                return route.stream
        return False

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        method = "GET" if self.command == "HEAD" else self.command
        stream: BodyStream | None = None
        try:
            try:
                if self._streams(split.path, method):
                    stream = BodyStream(self.rfile, self.headers)
                    body = b""
                else:
                    body = self._read_body()
            except HTTPError:
                # The rest of the body is unread: the connection cannot be reused.
                self.close_connection = True
                raise
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers=self.headers,
                body=body,
                client=(str(self.client_address[0]), int(self.client_address[1])),
                stream=stream,
            )
            response = self._route(request, method)
        except AbortConnection:
            self._abort()
            return
        except HTTPError as exc:
            response = exc.response or error_response(exc.status, exc.message)
        except Exception:
            _logger.exception("%s: %s %s failed", self.server.label, self.command, split.path)
            response = error_response(500, "internal error in the local server")
        if stream is not None and not stream.finished:
            try:
                stream.drain()
            except (HTTPError, OSError):
                self.close_connection = True
        self._send(response)

    def _abort(self) -> None:
        """Close the connection with a reset (SO_LINGER 0), without answering."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()

    def _route(self, request: Request, method: str) -> Response:
        allowed: list[str] = []
        for route in self.server.routes:
            ok, found = route.matches(request.path)
            if not ok:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            if found is not None:
                request = dataclasses.replace(request, match=found)
            return route.handler(request)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            return error_response(
                405, f"method {request.method} not allowed", headers={"Allow": allow}
            )
        return error_response(404, f"no route for {request.path}")

    def _send(self, response: Response) -> None:
        reason = response.reason
        if reason is not None:
            reason = reason.encode("latin-1", "replace").decode("latin-1")
            reason = reason.replace("\r", " ").replace("\n", " ")
        if response.file is not None:
            with response.file as fp:
                length = os.fstat(fp.fileno()).st_size
                self._send_head(response, reason, length)
                if self.command != "HEAD":
                    shutil.copyfileobj(fp, self.wfile, 1024 * 1024)
            return
        self._send_head(response, reason, len(response.body))
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _send_head(self, response: Response, reason: str | None, length: int) -> None:
        self.send_response(response.status, reason)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(length))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()


class _ThreadingServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its handler threads and can end them on stop.

    Handler threads are daemons (a forgotten server never blocks interpreter exit),
    but the standard mixin does not join daemon threads in ``server_close()``, so
    this class keeps its own list and :meth:`close_connections` joins them.
    """

    daemon_threads = True

    def __init__(
        self,
        port: int,
        handler_class: type[LocalRequestHandler],
        label: str,
        routes: list[_Route],
    ) -> None:
        self.label = label
        self.routes = routes
        self._open: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._open_lock = threading.Lock()
        super().__init__((LOOPBACK, port), handler_class)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(): a reverse DNS lookup that
        # can take seconds and is never needed for a loopback server.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"trustpub-local-{self.label}-conn",
            daemon=True,
        )
        with self._open_lock:
            self._open.add(request)
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Wake every handler thread blocked on a keep-alive connection, then join them."""
        with self._open_lock:
            connections = list(self._open)
            handlers = list(self._handlers)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in handlers:
            thread.join(timeout)
            if thread.is_alive():
                _logger.warning(
                    "%s: a handler thread did not finish within %ss", self.label, timeout
                )

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is normal in tests; keep stderr clean.
        _logger.debug("%s: error while serving %s", self.label, client_address, exc_info=True)


class LocalServer:
    """A threaded HTTP server on ``127.0.0.1``, with a route table.

    ``port=0`` (the default) takes a free port; :attr:`url` is known once started.
    The server can be started again after :meth:`stop` (on a new port, unless a
    fixed one was given).
    """

    def __init__(
        self,
        *,
        name: str = "local",
        port: int = 0,
        handler_class: type[LocalRequestHandler] = LocalRequestHandler,
    ) -> None:
        self.name = name
        self._port = port
        self._handler_class = handler_class
        self._routes: list[_Route] = []
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def route(
        self,
        method: str,
        path: str | re.Pattern[str],
        handler: Handler,
        *,
        prefix: bool = False,
        stream: bool = False,
    ) -> None:
        """Register ``handler`` for ``method`` on ``path``.

        ``path`` is an exact path, a prefix when ``prefix=True``, or a compiled
        regular expression matched against the whole path. HEAD requests are served
        by the GET route, without the body. With ``stream=True`` the handler reads
        the body from ``request.stream`` instead of getting it in ``request.body``.
        """
        if prefix and isinstance(path, re.Pattern):
            raise ValueError("prefix=True applies to string paths only")
        self._routes.append(_Route(method.upper(), path, handler, prefix, stream))

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (only while running)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} server is not running; call start() first")
        return self._server.server_port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash (only while running)."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LocalServer:
        """Bind and serve in a background thread; returns ``self`` for chaining."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} server is already running at {self.url}")
        server = _ThreadingServer(self._port, self._handler_class, self.name, self._routes)
        thread = threading.Thread(
            target=server.serve_forever,
            # How long stop() may wait for the accept loop to notice; a select() every
            # 20 ms costs nothing measurable.
            kwargs={"poll_interval": 0.02},
            name=f"trustpub-local-{self.name}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        _logger.debug("%s server listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        url = self.url
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join()
        _logger.debug("%s server at %s stopped", self.name, url)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_S = TypeVar("_S", bound="LocalService")


class LocalService:
    """The lifecycle every local service shares: one :class:`LocalServer` in ``_server``.

    Subclasses create ``self._server`` and register their routes in ``__init__``;
    ``start``/``stop``/``with`` and ``url`` come from here.
    """

    _server: LocalServer

    def start(self: _S) -> _S:
        """Serve on a free port of ``127.0.0.1``; returns ``self``."""
        self._server.start()
        _logger.debug("%s at %s", type(self).__name__, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and join every thread. Idempotent."""
        self._server.stop()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server.running

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (only while running)."""
        return self._server.url
