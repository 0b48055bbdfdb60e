"""The shared HTTP layer (trustpub.transport) against tiny 127.0.0.1 servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from trustpub import __version__
from trustpub.secrets import Secret
from trustpub.transport import InsecureTransport, Transport, TransportError, safe_url

AUTH = Secret("Basic X19fdG9rZW5fXzpweXBpLUNBTkFSWQ==")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class TinyServer:
    """Answers each path from ``routes`` (status, headers, body) and records requests."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TinyServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                owner.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                status, headers, payload = owner.routes.get(path, (404, {}, b"not found"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[TinyServer, TinyServer]]:
    a, b = TinyServer().start(), TinyServer().start()
    yield a, b
    a.stop()
    b.stop()


def test_get_json_sends_user_agent_and_parses(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/_/oidc/audience"] = (200, {"Content-Type": "application/json"}, b'{"audience": "pypi"}')
    response, body = Transport().get_json(a.url + "/_/oidc/audience")
    assert response.status == 200 and body == {"audience": "pypi"}
    assert a.seen[0].headers["User-Agent"] == f"trustpub/{__version__}"
    assert a.seen[0].headers["Accept"] == "application/json"


def test_post_json_body(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/mint"] = (422, {}, b'{"errors": []}')
    response, body = Transport().post_json(a.url + "/mint", {"token": "x"})
    assert response.status == 422 and body == {"errors": []}
    assert json.loads(a.seen[0].body) == {"token": "x"}
    assert a.seen[0].headers["Content-Type"] == "application/json"


def test_non_json_body_is_none_and_json_raises(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/html"] = (200, {}, b"<html>login</html>")
    response, body = Transport().get_json(a.url + "/html")
    assert body is None
    with pytest.raises(TransportError, match="not JSON"):
        response.json()


@pytest.mark.parametrize("url", ["http://pypi.example.org/legacy/", "http://10.1.2.3/simple/"])
def test_plain_http_to_a_remote_host_is_refused_with_credentials(url: str) -> None:
    with pytest.raises(InsecureTransport, match="refusing to send credentials over plain http"):
        Transport().request("POST", url, authorization=AUTH, body=b"x")
    with pytest.raises(InsecureTransport):
        Transport().request("POST", url, json={"token": "eyJ.x.y"}, credentials=True)
    with pytest.raises(InsecureTransport):
        Transport().request("GET", url, headers={"Authorization": "bearer abc"})


def test_plain_http_to_loopback_is_fine(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/legacy/"] = (200, {}, b"")
    assert Transport().request("POST", a.url + "/legacy/", authorization=AUTH, body=b"x").status == 200
    assert a.seen[0].headers["Authorization"] == AUTH.reveal()


def test_same_origin_redirect_keeps_authorization(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/legacy"] = (308, {"Location": "/legacy/"}, b"")
    a.routes["/legacy/"] = (200, {}, b"ok")
    response = Transport().request("POST", a.url + "/legacy", authorization=AUTH, body=b"payload")
    assert response.status == 200 and response.redirects == (a.url + "/legacy/",)
    assert [s.path for s in a.seen] == ["/legacy", "/legacy/"]
    assert a.seen[1].method == "POST" and a.seen[1].body == b"payload"
    assert a.seen[1].headers["Authorization"] == AUTH.reveal()


def test_cross_host_redirect_drops_authorization(servers: tuple[TinyServer, TinyServer]) -> None:
    a, b = servers
    a.routes["/simple/demo/"] = (302, {"Location": b.url + "/elsewhere/"}, b"")
    b.routes["/elsewhere/"] = (200, {}, b"{}")
    response = Transport().request(
        "GET", a.url + "/simple/demo/", authorization=AUTH, headers={"Cookie": "session=CANARY"}
    )
    assert response.status == 200 and response.url == b.url + "/elsewhere/"
    assert a.seen[0].headers["Authorization"] == AUTH.reveal()
    forwarded = b.seen[0].headers
    assert "Authorization" not in forwarded and "Cookie" not in forwarded


def test_credential_body_is_never_sent_to_another_host(servers: tuple[TinyServer, TinyServer]) -> None:
    a, b = servers
    a.routes["/_/oidc/mint-token"] = (307, {"Location": b.url + "/_/oidc/mint-token"}, b"")
    with pytest.raises(TransportError, match="not sent there"):
        Transport().request("POST", a.url + "/_/oidc/mint-token", json={"token": "jwt"}, credentials=True)
    assert b.seen == []


def test_303_turns_post_into_get_without_body(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/form"] = (303, {"Location": "/done"}, b"")
    a.routes["/done"] = (200, {}, b"done")
    response = Transport().request("POST", a.url + "/form", body=b"data")
    assert response.text == "done"
    assert a.seen[1].method == "GET" and a.seen[1].body == b""


def test_redirect_limit(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(TransportError, match="more than 5 times"):
        Transport().request("GET", a.url + "/loop")
    assert len(a.seen) == 6


def test_max_redirects_zero_returns_the_redirect(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/legacy"] = (308, {"Location": "/legacy/"}, b"")
    response = Transport().request("POST", a.url + "/legacy", body=b"x", max_redirects=0)
    assert response.status == 308 and response.header("location") == "/legacy/"
    assert len(a.seen) == 1


def test_streamed_body_redirect_is_refused(servers: tuple[TinyServer, TinyServer]) -> None:
    a, _ = servers
    a.routes["/up"] = (307, {"Location": "/up2"}, b"")
    with pytest.raises(TransportError, match=r"use .*/up2"):
        Transport().request("POST", a.url + "/up", body=iter([b"chunk"]), headers={"Content-Length": "5"})


def test_unreachable_server_is_a_clear_error() -> None:
    with TinyServerClosedPort() as url, pytest.raises(TransportError, match="could not reach"):
        Transport(timeout=2).request("GET", url + "/x")


class TinyServerClosedPort:
    """A 127.0.0.1 port that was just free: connecting to it is refused."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        pass


def test_safe_url_strips_userinfo() -> None:
    assert safe_url("https://user:CANARY@example.org/legacy/") == "https://example.org/legacy/"


# -- proxies from the environment ------------------------------------------------------


def test_proxy_for_follows_the_environment() -> None:
    from trustpub.transport import proxy_for

    env = {"HTTPS_PROXY": "http://proxy.internal:3128", "http_proxy": "http://p2:8080", "NO_PROXY": "localhost,.corp.example,10.1.2.3,pypi.mirror:8443"}
    assert proxy_for("https://upload.pypi.org/legacy/", env) == "http://proxy.internal:3128"
    assert proxy_for("http://files.example.org/", env) == "http://p2:8080"
    assert proxy_for("https://index.corp.example/legacy/", env) is None
    assert proxy_for("https://corp.example/", env) is None
    assert proxy_for("http://10.1.2.3/", env) is None
    assert proxy_for("https://pypi.mirror:8443/", env) is None
    assert proxy_for("https://pypi.mirror/", env) == "http://proxy.internal:3128"
    assert proxy_for("https://upload.pypi.org/", {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}) is None
    assert proxy_for("https://upload.pypi.org/", {}) is None


def test_requests_go_through_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forwarding proxy on loopback sees the request, with Proxy-Authorization; NO_PROXY bypasses it."""
    import base64
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from trustpub.transport import Transport

    seen: list[tuple[str, str | None]] = []

    class Origin(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"origin"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # absolute-form request line: forward it
            seen.append((self.path, self.headers.get("Proxy-Authorization")))
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(self.path) as upstream:
                body = upstream.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), h) for h in (Origin, Proxy)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        origin = f"http://127.0.0.1:{servers[0].server_address[1]}/simple/"
        proxy_port = servers[1].server_address[1]
        for key in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://user:s3cret@127.0.0.1:{proxy_port}")
        response = Transport().get(origin)
        assert response.status == 200 and response.data == b"origin"
        ((path, auth),) = seen
        assert path == origin
        assert auth == "Basic " + base64.b64encode(b"user:s3cret").decode()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert Transport().get(origin).data == b"origin"
        assert len(seen) == 1  # direct this time
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
