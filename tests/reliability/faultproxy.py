"""A small fault-injecting HTTP proxy on 127.0.0.1, in front of a real index.

The reliability suite puts it between trustpub and pypiserver (or any server) and
scripts what goes wrong, request by request: a storm of 5xx answers, a connection
reset halfway through an upload body, a reset after the upload reached the index
(the file landed, the answer did not), late answers, answers that never end, a 200
HTML page where an index answer belongs, a redirect to another host. Every request
that reaches the proxy is recorded, so a test can assert what the index really saw.

Usage::

    with FaultProxy(index.base_url) as proxy:
        proxy.script(lambda req: Fault.status(503) if req.is_upload else None)
        trustpub publish --to {proxy.url} ...
        proxy.forwarded_uploads()      # filenames the upstream index accepted (2xx)

The proxy is deliberately simple: one request per connection (every answer carries
``Connection: close``), bodies read by ``Content-Length``, the upstream reached with
``http.client``. Every wait is bounded (``socket`` timeouts, a stop event), so a test
can never hang on it.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy", "ProxiedRequest", "Sink"]

#: Upper bound on any single socket wait inside the proxy.
_IO_TIMEOUT = 30.0
_FILENAME = re.compile(rb'name="content"; filename="([^"]+)"')


@dataclass(frozen=True)
class ProxiedRequest:
    """One request as the proxy received it (the body only as far as it was read)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def is_upload(self) -> bool:
        return self.method == "POST" and "multipart/form-data" in self.headers.get("content-type", "")

    @property
    def filename(self) -> str | None:
        """The uploaded file's name, from the multipart head (uploads only)."""
        match = _FILENAME.search(self.body[:65536])
        return match.group(1).decode() if match else None


@dataclass(frozen=True)
class Fault:
    """What the proxy does with one request instead of (or around) forwarding it.

    ``kind`` is one of ``status`` (answer without forwarding), ``reset_mid_body``
    (read ``fraction`` of the body, then a TCP reset), ``reset_after_forward``
    (forward, then reset instead of answering), ``delay`` (forward, answer
    ``seconds`` late), ``trickle`` (headers, then one body byte every ``seconds``,
    forever), ``endless`` (headers, then an endless fast body), ``partial_html``
    (status line, headers and half an HTML page, then a reset), ``bare_html`` (an HTML
    page with no status line, then a reset).
    """

    kind: str
    status_code: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    fraction: float = 0.5

    @classmethod
    def status(cls, code: int, body: bytes = b"", content_type: str = "text/html", headers: tuple[tuple[str, str], ...] = ()) -> Fault:
        return cls("status", status_code=code, body=body, content_type=content_type, headers=headers)

    @classmethod
    def redirect(cls, location: str, code: int = 307) -> Fault:
        return cls("status", status_code=code, headers=(("Location", location),))

    @classmethod
    def reset_mid_body(cls, fraction: float = 0.5) -> Fault:
        return cls("reset_mid_body", fraction=fraction)

    @classmethod
    def reset_after_forward(cls) -> Fault:
        return cls("reset_after_forward")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls("delay", seconds=seconds)

    @classmethod
    def trickle(cls, seconds: float, content_type: str = "application/json") -> Fault:
        return cls("trickle", seconds=seconds, content_type=content_type)

    @classmethod
    def endless(cls, content_type: str = "application/json") -> Fault:
        return cls("endless", content_type=content_type)

    @classmethod
    def partial_html(cls, code: int = 502) -> Fault:
        return cls("partial_html", status_code=code)

    @classmethod
    def bare_html(cls) -> Fault:
        """An HTML error page with no HTTP status line before it, then a reset (some proxies do this)."""
        return cls("bare_html")


Script = Callable[[ProxiedRequest], Fault | None]


@dataclass
class _Log:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[tuple[ProxiedRequest, str, int | None]] = field(default_factory=list)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(_IO_TIMEOUT)
        reader = sock.makefile("rb")
        try:
            request = self._read_head(reader)
        except (OSError, ValueError):
            return
        if request is None:
            return
        method, path, headers = request
        length = int(headers.get("content-length") or 0)
        proxy = self.server.owner
        probe = ProxiedRequest(method, path, headers, reader.read(min(length, 65536)) if length else b"")
        fault = proxy.fault_for(probe)
        rest = length - len(probe.body)
        try:
            if fault is not None and fault.kind == "reset_mid_body":
                want = max(0, int(length * fault.fraction) - len(probe.body))
                if want:
                    reader.read(want)
                proxy.record(probe, "reset_mid_body", None)
                _reset(sock)
                return
            body = probe.body + (reader.read(rest) if rest > 0 else b"")
            full = ProxiedRequest(method, path, headers, body)
            if fault is not None and fault.kind == "status":
                proxy.record(full, "status", fault.status_code)
                self._answer(sock, fault.status_code, fault.content_type, fault.body, fault.headers)
                return
            if fault is not None and fault.kind in ("trickle", "endless", "partial_html", "bare_html"):
                proxy.record(full, fault.kind, fault.status_code)
                self._misbehave(sock, fault)
                return
            status, resp_headers, resp_body = proxy.forward(full)
            proxy.record(full, fault.kind if fault else "forward", status)
            if fault is not None and fault.kind == "reset_after_forward":
                _reset(sock)
                return
            if fault is not None and fault.kind == "delay":
                proxy.stopped.wait(fault.seconds)
            self._answer(sock, status, resp_headers.get("content-type", ""), resp_body,
                         tuple((k, v) for k, v in resp_headers.items() if k in ("location", "retry-after")))
        except OSError:
            return

    @staticmethod
    def _read_head(reader: Any) -> tuple[str, str, dict[str, str]] | None:
        line = reader.readline(65537)
        if not line:
            return None
        method, path, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: dict[str, str] = {}
        for _ in range(200):
            raw = reader.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, path, headers

    @staticmethod
    def _answer(sock: socket.socket, status: int, content_type: str, body: bytes, extra: tuple[tuple[str, str], ...]) -> None:
        reason = http.client.responses.get(status, "Unknown")
        head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
        if content_type:
            head.append(f"Content-Type: {content_type}")
        head.extend(f"{k}: {v}" for k, v in extra)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    def _misbehave(self, sock: socket.socket, fault: Fault) -> None:
        stopped = self.server.owner.stopped
        if fault.kind == "bare_html":
            sock.sendall(b"<html><head><title>Connection reset</title></head><body>upstream reset by nginx"
                         b"</body></html>\r\n")
            _reset(sock)
            return
        if fault.kind == "partial_html":
            page = (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
                    b"</h1></center><hr><center>nginx</center></body></html>\n")
            sock.sendall(
                f"HTTP/1.1 {fault.status_code} Bad Gateway\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n".encode() + page[: len(page) // 2]
            )
            _reset(sock)
            return
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {fault.content_type}\r\nConnection: close\r\n\r\n".encode())
        deadline = time.monotonic() + 120  # bounded even if the client never gives up
        if fault.kind == "trickle":
            sock.sendall(b'{"')
            while not stopped.is_set() and time.monotonic() < deadline:
                sock.sendall(b"a")
                stopped.wait(fault.seconds)
        else:
            chunk = b'{"a": ' * 8192
            while not stopped.is_set() and time.monotonic() < deadline:
                sock.sendall(chunk)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN: "connection reset by peer"."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FaultProxy


class FaultProxy:
    """Forwards to ``upstream`` (``http://127.0.0.1:PORT/``) except where the script says otherwise."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the fault proxy only forwards to loopback, not {upstream!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self._script: Script = lambda request: None
        self._log = _Log()
        self.stopped = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=True)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def script(self, script: Script) -> None:
        """``script(request)`` returns the fault for that request, or None to forward it."""
        self._script = script

    def fault_for(self, request: ProxiedRequest) -> Fault | None:
        with self._log.lock:
            return self._script(request)

    def record(self, request: ProxiedRequest, action: str, status: int | None) -> None:
        with self._log.lock:
            self._log.requests.append((request, action, status))

    @property
    def requests(self) -> list[tuple[ProxiedRequest, str, int | None]]:
        with self._log.lock:
            return list(self._log.requests)

    def forwarded_uploads(self) -> list[str]:
        """Filenames of uploads the upstream accepted (2xx), in order: a file twice shows twice."""
        return [r.filename or "?" for r, action, status in self.requests
                if r.is_upload and action in ("forward", "delay", "reset_after_forward") and status and 200 <= status < 300]

    def forward(self, request: ProxiedRequest) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(*self._upstream, timeout=_IO_TIMEOUT)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in ("connection", "keep-alive", "host")}
            headers["Host"] = f"{self._upstream[0]}:{self._upstream[1]}"
            conn.request(request.method, request.path, body=request.body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()


class Sink:
    """A loopback server that answers 200 to anything and records what reached it.

    The "other host" of a redirect test: whatever trustpub sends here (headers,
    bodies) is kept, so a test can assert that no credential followed the redirect.
    """

    def __init__(self) -> None:
        self.received: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(_IO_TIMEOUT)
                reader = sock.makefile("rb")
                try:
                    head = _Handler._read_head(reader)
                    if head is None:
                        return
                    method, path, headers = head
                    length = int(headers.get("content-length") or 0)
                    body = reader.read(length) if length else b""
                    with outer._lock:
                        outer.received.append(ProxiedRequest(method, path, headers, body))
                    _Handler._answer(sock, 200, "application/json", b'{"ok": true}', ())
                except (OSError, ValueError):
                    return

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
