"""Kept-alive HTTP/1.1 connections for :mod:`trustpub.transport`, on :mod:`http.client`.

The transport needs little of an HTTP library: one request at a time per
connection, bodies that stream from disk, idle connections kept per origin so
parallel uploads reuse them, proxies from the environment, and TLS with the
system's (or a given) CA bundle. :mod:`http.client` does all of that and is loaded
anyway; urllib3 on top of it cost a release of small files more start-up time
than its uploads (bench/RESULTS.md), so this module keeps the rest small:

- :class:`Route` says where a URL's bytes really go: straight to the origin, to a
  forwarding proxy (plain http targets, absolute-form request line) or through a
  ``CONNECT`` tunnel (https targets; TLS stays end to end);
- :class:`ConnectionPool` hands out an idle connection for a route, or a new one,
  and takes it back when its answer was read to the end. A connection the server
  closed while it sat idle is noticed before it is reused, not after a request
  was half sent.

Every connection gets ``TCP_NODELAY`` (a body sent after its headers in small
writes would otherwise wait on delayed ACKs) and, once connected, the read
timeout for each socket operation.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from trustpub.errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

__all__ = ["BadCABundle", "ConnectionPool", "ProxyNotSupported", "Route", "origin", "proxy_for", "request_target", "route"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProxyNotSupported(ConfigurationError):
    """A proxy this layer cannot speak through (TLS to the proxy *and* to the origin)."""


class BadCABundle(ConfigurationError):
    """The ``ca_certs`` file could not be loaded as a CA bundle (a local mistake, not the server's)."""


@dataclass(frozen=True)
class Route:
    """Where a request to one origin goes, and how.

    ``host``/``port`` are what the TCP connection reaches: the origin, or the proxy.
    ``tunnel`` is the origin behind a ``CONNECT`` proxy; ``absolute`` says the request
    line names the whole URL (a forwarding proxy). ``proxy_authorization`` is sent to
    the proxy only: in the ``CONNECT`` request, or in each forwarded request. A route
    is its own key in the pool (frozen: equal routes share idle connections).
    """

    scheme: str  # the origin's scheme
    host: str
    port: int
    tls: bool  # TLS on the TCP connection itself (to the origin, or to an https proxy)
    tunnel: tuple[str, int] | None = None
    absolute: bool = False
    #: Not in the repr: a route in a log line or a traceback never shows the proxy's password.
    proxy_authorization: str | None = field(default=None, repr=False)


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, lowercase host (IDNA-encoded, no brackets) and port of ``url``: where it connects."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host and not host.isascii():
        host = host.encode("idna").decode("ascii")
    return scheme, host, parts.port or _DEFAULT_PORTS.get(scheme)


def route(url: str, proxy: str | None) -> Route:
    """The :class:`Route` for ``url``, directly or through ``proxy`` (a proxy URL, or None)."""
    scheme, host, port = origin(url)
    if scheme not in _DEFAULT_PORTS or port is None or not host:
        raise ValueError("not an http:// or https:// URL")
    if proxy is None:
        return Route(scheme, host, port, tls=scheme == "https")
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    proxy_scheme = parts.scheme.lower()
    proxy_host = (parts.hostname or "").lower()
    proxy_port = parts.port or _DEFAULT_PORTS.get(proxy_scheme)
    if proxy_scheme not in _DEFAULT_PORTS or not proxy_host or proxy_port is None:
        raise ProxyNotSupported(f"the proxy address is not http://host:port ({proxy_scheme or '?'}://)")
    authorization = None
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    proxy_tls = proxy_scheme == "https"
    if scheme == "https":
        if proxy_tls:
            raise ProxyNotSupported("an https:// proxy for https:// URLs (TLS inside TLS)")
        return Route(scheme, proxy_host, proxy_port, tls=True, tunnel=(host, port), proxy_authorization=authorization)
    return Route(scheme, proxy_host, proxy_port, tls=proxy_tls, absolute=True, proxy_authorization=authorization)


#: Characters left as they are in a request target: RFC 3986's unreserved and reserved
#: ones and ``%`` (an escape already made); anything else (a space, a control
#: character, non-ASCII) is percent-encoded as UTF-8, as urllib3 did.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


def request_target(url: str, via: Route) -> str:
    """The request line's target: path and query, or the whole URL (no userinfo) for a forwarding proxy.

    Always ASCII with no space or control character, so http.client can send it
    and nothing in it can end the request line early.
    """
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe=_TARGET_SAFE)
    query = quote(parts.query, safe=_TARGET_SAFE)
    if via.absolute:
        scheme, host, _ = origin(url)
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit((scheme, netloc, path, query, ""))
    return urlunsplit(("", "", path, query, ""))


class ConnectionPool:
    """Idle kept-alive connections per :class:`Route`; thread-safe, each connection used by one thread.

    At most ``maxsize`` idle connections are kept per route; more can be open at once
    (a connection given back to a full pool is closed). ``ca_certs`` names a CA
    bundle for TLS instead of the system's.
    """

    def __init__(self, *, maxsize: int = 10, ca_certs: str | None = None) -> None:
        self.maxsize = maxsize
        self.ca_certs = ca_certs
        self._idle: dict[Route, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None

    def connection(self, via: Route, *, connect_timeout: float, read_timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """An open connection for ``via`` and whether it is reused (so a failure may be stale).

        A new connection is made within ``connect_timeout`` (TCP, then the proxy's
        ``CONNECT`` and TLS); its socket then waits at most ``read_timeout`` per operation.
        Raises :class:`OSError` (and its subclasses) when it cannot connect.
        """
        with self._lock:
            idle = self._idle.get(via)
            while idle:
                conn = idle.pop()
                if _still_open(conn):
                    _set_timeout(conn, read_timeout)
                    return conn, True
                conn.close()
        conn = self._new(via, connect_timeout)
        try:
            conn.connect()
            _set_timeout(conn, read_timeout)
            if conn.sock is not None:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            conn.close()
            raise
        return conn, False

    def give_back(self, via: Route, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` for the next request to ``via`` (its last answer was read to the end)."""
        with self._lock:
            idle = self._idle.setdefault(via, [])
            if len(idle) < self.maxsize:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _new(self, via: Route, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if via.tls:
            conn = http.client.HTTPSConnection(via.host, via.port, timeout=timeout, context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(via.host, via.port, timeout=timeout)
        if via.tunnel is not None:
            headers = {"Proxy-Authorization": via.proxy_authorization} if via.proxy_authorization else None
            conn.set_tunnel(via.tunnel[0], via.tunnel[1], headers=headers)
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        # Made on the first https connection (loading the CA store costs time); a loopback
        # index never needs it. The ssl module itself is already loaded by http.client.
        with self._lock:
            if self._context is None:
                import ssl

                try:
                    self._context = ssl.create_default_context(cafile=self.ca_certs)
                except (OSError, ValueError) as exc:  # no such file; not PEM (ssl.SSLError)
                    raise BadCABundle(
                        f"the CA bundle {self.ca_certs!r} could not be loaded ({type(exc).__name__})",
                        hint="give a readable PEM file of CA certificates",
                    ) from None
            return self._context


def _set_timeout(conn: http.client.HTTPConnection, seconds: float) -> None:
    conn.timeout = seconds
    if conn.sock is not None:
        conn.sock.settimeout(seconds)


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """False when the server closed (or wrote to) an idle connection: it must not be reused."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable
    except (OSError, ValueError):
        return False


def proxy_for(url: str, env: Mapping[str, str] | None = None, *, all_proxy: bool = False) -> str | None:
    """The proxy URL the environment names for ``url``, or None for a direct connection.

    ``all_proxy`` True also reads ``ALL_PROXY`` when no scheme's variable is set, as
    curl and uv (reqwest) do; trustpub's own transport does not use it.
    """
    import os

    environ = os.environ if env is None else env
    proxies: dict[str, str] = {}
    no_proxy = ""
    for key, value in environ.items():
        lowered = key.lower()
        if lowered in ("http_proxy", "https_proxy", "all_proxy") and value:
            proxies[lowered[: -len("_proxy")]] = value
        elif lowered == "no_proxy":
            no_proxy = value
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or (proxies.get("all") if all_proxy else None)
    if not proxy or not parts.hostname:
        return None
    if no_proxy and _bypassed(parts.hostname, parts.port, no_proxy):
        return None
    return proxy


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """``NO_PROXY`` as curl and requests read it: ``*``, hosts, ``.domain`` suffixes, optional ``:port``."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and (port is None or entry_port != str(port)):
            continue
        name = name.strip("[]").lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False
