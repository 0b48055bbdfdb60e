"""Red-team pass over issue 11: where a credential could leave for another host, or a
secret reach a message. Each test drives real HTTP on 127.0.0.1 (small ``http.server``
stand-ins) and asserts what arrived where, or what a user would read.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.distfactory import make_wheel
from trustpub.secrets import Secret
from trustpub.transport import Transport, TransportError
from trustpub.upload._types import UploadRejected, UploadRequest
from trustpub.upload.native import NativeUploader

#: What a stand-in answers: (status, headers, body), from the request path and its headers.
Answer = Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]


@dataclass
class StandIn:
    """One server on 127.0.0.1 that records every request's path and headers."""

    port: int
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    answer: Answer = lambda path, headers: (200, {}, b"ok")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def authorizations(self) -> list[str]:
        return [h["authorization"] for _, _, h in self.seen if "authorization" in h]


def _start(stand_in_factory: Callable[[int], StandIn]) -> tuple[ThreadingHTTPServer, StandIn]:
    holder: list[StandIn] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    self.rfile.read(size + 2)
                    if size == 0:
                        break
            headers = {k.lower(): v for k, v in self.headers.items()}
            me = holder[0]
            me.seen.append((self.command, self.path, headers))
            status, extra, body = me.answer(self.path, headers)
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(stand_in_factory(server.server_address[1]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, holder[0]


@pytest.fixture
def servers() -> Iterator[Callable[[], StandIn]]:
    started: list[ThreadingHTTPServer] = []

    def make() -> StandIn:
        server, stand_in = _start(lambda port: StandIn(port))
        started.append(server)
        return stand_in

    yield make
    for server in started:
        server.shutdown()
        server.server_close()


SECRET = "pypi-AgEIcHlwaS5vcmcredteamSecretValue0123456789abcdefghijklmnopqrstuvwxyz"


def _basic() -> Secret:
    return Secret("Basic " + base64.b64encode(f"__token__:{SECRET}".encode()).decode())


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# --------------------------------------------------------------------------- redirects


def test_backslash_redirect_does_not_carry_authorization_to_another_origin(
    servers: Callable[[], StandIn], direct: None
) -> None:
    """``http://B\\@A/``: urlsplit reads host A (same origin: keep Authorization),
    other HTTP clients (urllib3, a browser) read B. The credential must not reach B."""
    index, other = servers(), servers()
    tricky = f"http://127.0.0.1:{other.port}\\@127.0.0.1:{index.port}/landing"
    index.answer = lambda path, headers: (307, {"Location": tricky}, b"") if path == "/legacy/" else (200, {}, b"")

    with pytest.raises(TransportError, match="ambiguous"):
        Transport().request("POST", f"{index.origin}/legacy/", authorization=_basic(), body=b"x")

    assert other.seen == []  # not even without the header: the URL means two things
    assert len(index.authorizations()) == 1


def test_backslash_url_given_directly_is_refused_before_connecting(
    servers: Callable[[], StandIn], direct: None
) -> None:
    other = servers()
    with pytest.raises(TransportError, match="ambiguous"):
        Transport().request("GET", f"http://127.0.0.1:{other.port}\\@127.0.0.1:1/simple/", authorization=_basic())
    assert other.seen == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_port_drops_authorization(
    servers: Callable[[], StandIn], direct: None, status: int
) -> None:
    index, other = servers(), servers()
    index.answer = lambda path, headers: (status, {"Location": f"{other.origin}/elsewhere/"}, b"")

    response = Transport().request("GET", f"{index.origin}/simple/demo/", authorization=_basic())

    assert response.status == 200
    assert other.seen and other.authorizations() == []


def test_redirect_same_origin_spelled_differently_keeps_authorization(
    servers: Callable[[], StandIn], direct: None
) -> None:
    """Uppercase scheme and host are the same origin: the credential follows (no false drop)."""
    index = servers()
    moved = f"HTTP://127.0.0.1:{index.port}/moved/"
    index.answer = lambda path, headers: (308, {"Location": moved}, b"") if path == "/simple/" else (200, {}, b"")

    Transport().request("GET", f"{index.origin}/simple/", authorization=_basic())

    assert [p for _, p, h in index.seen if "authorization" in h] == ["/simple/", "/moved/"]


# --------------------------------------------------------------------------- echoed secrets


def _wheel(tmp_path: Path) -> UploadRequest:
    wheel = make_wheel(tmp_path)
    return UploadRequest(
        wheel, wheel.name, None, None, wheel.stat().st_size, "", "__token__", Secret(SECRET)
    )


@pytest.mark.parametrize("offset", [300, 420, 480, 495])
def test_error_body_echoing_the_authorization_value_never_shows_part_of_it(
    servers: Callable[[], StandIn], direct: None, tmp_path: Path, offset: int
) -> None:
    """A server that echoes the header value in its message, placed so the 500-character
    cut of the excerpt falls inside it: no piece of the credential may be shown."""
    index = servers()

    def echo(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        value = headers.get("authorization", "")
        message = "x" * offset + " got " + value.split(" ", 1)[-1]
        return 403, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode()

    index.answer = echo
    request = _wheel(tmp_path)
    request = UploadRequest(**{**request.__dict__, "upload_url": f"{index.origin}/legacy/"})

    with pytest.raises(UploadRejected) as caught:
        NativeUploader(Transport()).upload(request)

    encoded = base64.b64encode(f"__token__:{SECRET}".encode()).decode()
    shown = str(caught.value) + repr(caught.value)
    # Any 12 characters in a row of the header value or the token is a leak.
    for secret in (encoded, SECRET):
        for start in range(0, len(secret) - 12):
            assert secret[start : start + 12] not in shown, (offset, shown)


# --------------------------------------------------------------------------- uv's proxies


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_uv_is_not_run_for_plain_http_through_a_proxy_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: None, variable: str
) -> None:
    """uv (reqwest) sends a loopback http:// upload, Authorization and all, through
    HTTP_PROXY or ALL_PROXY (checked against uv 0.13 with a recording proxy). The
    native transport refuses a proxy on another machine; the uv path must too, before uv
    runs. The "uv" here only records that it ran, so nothing can leave even unfixed."""
    from trustpub.transport import InsecureTransport
    from trustpub.upload.uv import UvUploader

    ran = tmp_path / "uv-ran"
    fake = tmp_path / "uv"
    fake.write_text(f"#!/bin/sh\ntouch {ran}\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv(variable, "http://proxy.corp.invalid:3128")
    request = UploadRequest(**{**_wheel(tmp_path).__dict__, "upload_url": "http://127.0.0.1:9/legacy/"})

    with pytest.raises(InsecureTransport, match="NO_PROXY"):
        UvUploader(str(fake)).upload(request)
    assert not ran.exists()

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the way out the message names
    assert UvUploader(str(fake)).upload(request).outcome == "uploaded"
    assert ran.exists()
