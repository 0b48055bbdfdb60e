"""Red-team pass over the http.client transport (trustpub.transport, trustpub._connections).

What urllib3 used to guard and the new layer must guard itself, checked on the wire:
real TLS with a throwaway CA, a CONNECT proxy and a forwarding proxy, kept-alive
connections a server drops, cut and trickled answers, streamed uploads, sixteen
threads on one pool, and request lines and headers that try to say more than they
should. Every server is a thread on 127.0.0.1 (or ::1) in this process.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import io
import ipaddress
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trustpub._connections import route
from trustpub.errors import ConfigurationError
from trustpub.secrets import Secret
from trustpub.transport import Transport, TransportError

TOKEN = "pypi-WIRE-CANARY-0123456789"
AUTH = Secret("Basic " + base64.b64encode(f"__token__:{TOKEN}".encode()).decode())


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- a tiny HTTP/1.1 server ---------------------------------------------------------


@dataclass
class Request:
    line: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def method(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.line.split(" ")[1]


def read_request(rfile: BinaryIO) -> Request | None:
    line = rfile.readline(65537)
    if not line:
        return None
    headers: dict[str, str] = {}
    while True:
        raw = rfile.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = rfile.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            parts.append(rfile.read(size))
            rfile.readline()
        body = b"".join(parts)
    return Request(line.decode("latin-1").rstrip("\r\n"), headers, body)


def reply(status: int = 200, body: bytes = b"ok", headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


#: (request, connection number from 1, request number on that connection from 1) ->
#: the bytes to send, or None to close the connection without answering.
Respond = Callable[[Request, int, int], bytes | None]


def echo(request: Request, conn: int, nth: int) -> bytes:
    return reply(200, request.target.encode())


class Server:
    """Accepts on 127.0.0.1 (or ::1), one thread per connection; records connections and requests.

    By default each connection serves requests in turn (kept alive) with ``respond``;
    ``close_after`` closes it after that many answers; ``raw`` replaces the whole
    conversation with a function of the socket.
    """

    def __init__(
        self,
        respond: Respond = echo,
        *,
        raw: Callable[[socket.socket, Server], None] | None = None,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        close_after: int | None = None,
    ) -> None:
        self.respond, self.raw, self.tls, self.close_after = respond, raw, tls, close_after
        self.host = host
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self.closed = 0
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._run, args=(conn, number), daemon=True).start()

    def _run(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(10)
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            if self.raw is not None:
                self.raw(conn, self)
            else:
                self._serve(conn, number)
        except (OSError, ValueError):
            pass  # the client hung up, or refused our certificate
        finally:
            conn.close()
            with self.lock:
                self.closed += 1

    def _serve(self, conn: socket.socket, number: int) -> None:
        rfile = conn.makefile("rb")
        nth = 0
        while True:
            request = read_request(rfile)
            if request is None:
                return
            nth += 1
            with self.lock:
                self.requests.append(request)
            answer = self.respond(request, number, nth)
            if answer is None:
                return
            conn.sendall(answer)
            if b"connection: close" in answer.split(b"\r\n\r\n", 1)[0].lower():
                return
            if self.close_after is not None and nth >= self.close_after:
                return

    def wait_closed(self, count: int) -> None:
        deadline = time.monotonic() + 5
        while self.closed < count:
            assert time.monotonic() < deadline, "the server did not close its connection"
            time.sleep(0.002)
        time.sleep(0.01)  # the FIN is on its way to the client's socket

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the server's thread
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(*args: object, **kwargs: object) -> Server:
        server = Server(*args, **kwargs)  # type: ignore[arg-type]
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


# --- a throwaway CA -------------------------------------------------------------------


@dataclass
class Pki:
    ca_file: Path
    server: ssl.SSLContext  # a certificate for 127.0.0.1, ::1 and localhost
    wrong_name: ssl.SSLContext  # signed by the same CA, for another name only


def _issue(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    sans: list[x509.GeneralName],
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer is not None else (name, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )  # fmt: skip
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _server_context(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> ssl.SSLContext:
    cert_file, key_file = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("trustpub throwaway test CA", ca_key, None, [])
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    ca_pair = (ca.subject, ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("localhost"),
    ]
    good = _server_context(folder, "server", _issue("127.0.0.1", key, ca_pair, sans), key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    wrong = _server_context(
        folder, "other", _issue("other.example", other_key, ca_pair, [x509.DNSName("other.example")]), other_key
    )
    return Pki(folder / "ca.pem", good, wrong)


# --- 1. TLS -------------------------------------------------------------------------------


def test_https_with_the_given_ca_works_and_keeps_the_connection(serve: Callable[..., Server], pki: Pki) -> None:
    server = serve(tls=pki.server)
    transport = Transport(ca_certs=str(pki.ca_file), timeout=5)
    response = transport.get(server.url("/simple/"), authorization=AUTH)
    assert (response.status, response.data) == (200, b"/simple/")
    assert server.requests[0].headers["authorization"] == AUTH.reveal()
    assert transport.get(server.url("/again")).data == b"/again"
    assert server.connections == 1


def _assert_clean(message: str, *secrets: str) -> None:
    assert "Traceback" not in message and 'File "' not in message
    for secret in (TOKEN, AUTH.reveal(), AUTH.reveal().split()[1], *secrets):
        assert secret not in message


@pytest.mark.parametrize("which", ["unknown CA", "wrong name"])
def test_https_certificate_refused_once_with_a_clear_message(
    serve: Callable[..., Server], pki: Pki, which: str
) -> None:
    if which == "unknown CA":
        server, transport = serve(tls=pki.server), Transport(timeout=5)
    else:
        server, transport = serve(tls=pki.wrong_name), Transport(ca_certs=str(pki.ca_file), timeout=5)
    url = server.url("/legacy/")
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        transport.request("POST", url, authorization=AUTH, body=b"payload")
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert url in message and "certificate was not accepted" in message
    assert "SSL_CERT_FILE" in message  # the hint
    _assert_clean(message)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert server.connections == 1  # not retried: the same certificate would be refused again
    assert elapsed < 0.3  # three attempts would also sleep 0.1 + 0.2 s
    assert not server.requests


def test_a_missing_ca_bundle_is_a_configuration_error(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve(tls=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigurationError) as info:
        Transport(ca_certs=str(missing), timeout=5).get(server.url("/"))
    assert str(missing) in str(info.value)
    assert server.connections == 0


# --- 2. proxies ------------------------------------------------------------------------------


@dataclass
class ConnectProxy:
    server: Server
    connects: list[Request]
    relayed: list[bytes]


def _connect_proxy(serve: Callable[..., Server], refuse: bytes | None = None) -> ConnectProxy:
    connects: list[Request] = []
    relayed: list[bytes] = []

    def run(conn: socket.socket, server: Server) -> None:
        request = read_request(conn.makefile("rb"))
        if request is None:
            return
        connects.append(request)
        if refuse is not None:
            conn.sendall(refuse)
            return
        host, _, port = request.target.rpartition(":")
        assert host == "127.0.0.1"
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            while True:
                ready, _, _ = select.select([conn, upstream], [], [], 5)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    relayed.append(data)
                    (upstream if sock is conn else conn).sendall(data)

    return ConnectProxy(serve(raw=run), connects, relayed)


def test_https_tunnels_through_a_connect_proxy_and_each_credential_reaches_its_own_party(
    serve: Callable[..., Server], pki: Pki, no_proxy_env: pytest.MonkeyPatch
) -> None:
    origin = serve(tls=pki.server)
    proxy = _connect_proxy(serve)
    no_proxy_env.setenv("HTTPS_PROXY", f"http://alice:s%40cret@127.0.0.1:{proxy.server.port}")
    transport = Transport(ca_certs=str(pki.ca_file), timeout=5)
    response = transport.get(origin.url("/simple/demo/"), authorization=AUTH)
    assert (response.status, response.data) == (200, b"/simple/demo/")
    assert transport.get(origin.url("/second")).data == b"/second"
    assert proxy.server.connections == 1 and origin.connections == 1  # the tunnel is kept alive

    (connect,) = proxy.connects
    assert connect.line == f"CONNECT 127.0.0.1:{origin.port} HTTP/1.0"
    assert connect.headers["proxy-authorization"] == _basic("alice", "s@cret")
    assert "authorization" not in connect.headers
    assert origin.requests[0].headers["authorization"] == AUTH.reveal()
    assert all("proxy-authorization" not in r.headers for r in origin.requests)
    wire = b"".join(proxy.relayed)
    assert wire and TOKEN.encode() not in wire and AUTH.reveal().encode() not in wire
    assert b"/simple/demo/" not in wire and b"alice" not in wire  # all of it inside TLS


def test_a_proxy_refusing_the_tunnel_is_one_clear_error(
    serve: Callable[..., Server], pki: Pki, no_proxy_env: pytest.MonkeyPatch
) -> None:
    origin = serve(tls=pki.server)
    page = b"<html>PROXY-CHOSEN-TEXT login here</html>"
    proxy = _connect_proxy(
        serve,
        refuse=b"HTTP/1.1 407 PROXY-CHOSEN-TEXT\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n"
        + f"Content-Length: {len(page)}\r\n\r\n".encode() + page,
    )
    no_proxy_env.setenv("HTTPS_PROXY", f"http://alice:s%40cret@127.0.0.1:{proxy.server.port}")
    url = origin.url("/simple/")
    with pytest.raises(TransportError) as info:
        Transport(ca_certs=str(pki.ca_file), timeout=5).get(url, authorization=AUTH)
    message = str(info.value)
    assert url in message and "HTTP 407" in message and "proxy refused the tunnel" in message
    assert "PROXY-CHOSEN-TEXT" not in message and "corp" not in message
    _assert_clean(message, "s@cret", "s%40cret", _basic("alice", "s@cret").split()[1])
    assert proxy.server.connections == 1  # the proxy answered: asking again will not help
    assert origin.connections == 0


def test_plain_http_is_forwarded_with_proxy_authorization_and_it_stays_with_the_proxy(
    serve: Callable[..., Server], pki: Pki, no_proxy_env: pytest.MonkeyPatch
) -> None:
    origin = serve(tls=pki.server)  # direct (no HTTPS_PROXY): where the proxy's answer redirects

    def forward(request: Request, conn: int, nth: int) -> bytes:
        if "redirect" in request.target:
            return reply(302, b"", {"Location": origin.url("/landed")})
        return reply(200, b"via proxy")

    proxy = serve(forward)
    no_proxy_env.setenv("HTTP_PROXY", f"http://bob:pw@127.0.0.1:{proxy.port}")
    transport = Transport(ca_certs=str(pki.ca_file), timeout=5)
    response = transport.get("http://user:hunter2@127.0.0.1:9/simple/demo/?x=1", authorization=AUTH)
    assert response.data == b"via proxy" and "hunter2" not in response.url
    seen = proxy.requests[0]
    assert seen.line == "GET http://127.0.0.1:9/simple/demo/?x=1 HTTP/1.1"
    assert seen.headers["proxy-authorization"] == _basic("bob", "pw")
    assert seen.headers["host"] == "127.0.0.1:9"
    assert seen.headers["authorization"] == AUTH.reveal()  # for the loopback origin, over loopback
    assert "hunter2" not in repr(seen)

    landed = transport.get("http://127.0.0.1:9/redirect", authorization=AUTH)
    assert landed.data == b"/landed"
    assert "proxy-authorization" not in origin.requests[0].headers
    assert "authorization" not in origin.requests[0].headers  # another origin


def test_a_non_ascii_host_is_sent_to_the_proxy_in_punycode(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    proxy = serve(lambda request, conn, nth: reply(200, b"hi"))
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    assert Transport(timeout=5).get("http://B\u00fccher.example/simple/caf\u00e9/").data == b"hi"
    seen = proxy.requests[0]
    assert seen.line == "GET http://xn--bcher-kva.example/simple/caf%C3%A9/ HTTP/1.1"
    assert seen.headers["host"] == "xn--bcher-kva.example"


# --- 3. kept-alive connections and broken answers ----------------------------------------


def test_a_connection_the_server_closed_while_idle_is_not_reused(serve: Callable[..., Server]) -> None:
    server = serve(close_after=1)  # an idle timeout that fires right after each answer
    transport = Transport(timeout=5)
    assert transport.get(server.url("/one")).data == b"/one"
    server.wait_closed(1)
    assert transport.get(server.url("/two")).data == b"/two"
    server.wait_closed(2)
    assert transport.request("POST", server.url("/upload"), body=b"once").data == b"/upload"
    assert [r.body for r in server.requests if r.method == "POST"] == [b"once"]
    assert server.connections == 3


def test_a_get_on_a_dropped_kept_alive_connection_is_replayed_once(serve: Callable[..., Server]) -> None:
    # The second request on a connection is read, then the connection closes unanswered:
    # the race where the server's idle timeout fires as the request goes out.
    server = serve(lambda request, conn, nth: None if nth == 2 else reply(200, request.body or b"got"))
    transport = Transport(timeout=5)
    assert transport.get(server.url("/a")).data == b"got"
    assert transport.get(server.url("/b")).data == b"got"  # dropped on connection 1, replayed on 2
    assert [r.target for r in server.requests] == ["/a", "/b", "/b"]
    assert server.connections == 2


def test_a_post_on_a_dropped_connection_is_sent_once_and_reported(serve: Callable[..., Server]) -> None:
    server = serve(lambda request, conn, nth: None if nth == 2 else reply(200, b"stored"))
    transport = Transport(timeout=5)
    assert transport.request("POST", server.url("/legacy/"), body=b"first").data == b"stored"
    with pytest.raises(TransportError) as info:
        transport.request("POST", server.url("/legacy/"), body=b"second")
    assert "the connection broke (the server closed the connection without answering)" in str(info.value)
    assert "may have restarted" in str(info.value)
    assert [r.body for r in server.requests] == [b"first", b"second"]  # not sent twice
    assert server.connections == 1


def test_connection_close_answers_are_not_pooled(serve: Callable[..., Server]) -> None:
    server = serve(lambda request, conn, nth: reply(200, request.target.encode(), {"Connection": "close"}))
    transport = Transport(timeout=5)
    assert [transport.get(server.url(f"/{i}")).data for i in range(3)] == [b"/0", b"/1", b"/2"]
    assert server.connections == 3


def test_a_chunked_answer_is_read_whole_and_the_connection_reused(serve: Callable[..., Server]) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    server = serve(lambda request, conn, nth: chunked)
    transport = Transport(timeout=5)
    assert transport.get(server.url("/1")).data == b"hello world"
    assert transport.get(server.url("/2")).data == b"hello world"
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\n" + b"x" * 50,
    ],
    ids=["content-length", "chunked", "error-answer"],
)
def test_an_answer_cut_mid_body_is_an_error_not_a_short_body(serve: Callable[..., Server], answer: bytes) -> None:
    def cut(conn: socket.socket, server: Server) -> None:
        read_request(conn.makefile("rb"))
        conn.sendall(answer)

    server = serve(raw=cut)
    url = server.url("/simple/demo/")
    with pytest.raises(TransportError) as info:
        Transport(timeout=5).get(url)
    assert f"GET {url} failed: the connection broke (the answer was cut off before its end)" in str(info.value)
    assert server.connections == 2  # a GET is tried once more, no further


@pytest.mark.parametrize("how", ["trickle", "silent"])
def test_an_answer_slower_than_the_timeout_is_cut_off(serve: Callable[..., Server], how: str) -> None:
    def slow(conn: socket.socket, server: Server) -> None:
        read_request(conn.makefile("rb"))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            if how == "trickle":
                conn.sendall(b"x")
            time.sleep(0.03)

    server = serve(raw=slow)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        Transport(timeout=0.3).get(server.url("/slow"))
    assert "no complete answer within 0.3 s" in str(info.value)
    assert time.monotonic() - started < 1.5
    assert server.connections == 1


def test_an_answer_over_max_body_closes_its_connection(serve: Callable[..., Server]) -> None:
    def respond(request: Request, conn: int, nth: int) -> bytes:
        if request.target == "/big":
            return reply(200, b"b" * 5000)
        if request.target == "/error":
            return reply(500, b"e" * (100 * 1024))
        return reply(200, b"small")

    server = serve(respond)
    transport = Transport(timeout=5)
    with pytest.raises(TransportError, match="answered HTTP 200 with more than 1000 bytes"):
        transport.get(server.url("/big"), max_body=1000)
    assert transport.get(server.url("/small")).data == b"small"
    assert server.connections == 2  # the half-read connection was not reused
    error = transport.get(server.url("/error"))  # an error answer is cut, not raised
    assert error.status == 500 and error.truncated and len(error.data) == 64 * 1024
    assert transport.get(server.url("/small")).data == b"small"
    assert server.connections == 3


def test_an_early_answer_to_an_upload_is_read_not_reported_as_a_broken_pipe(serve: Callable[..., Server]) -> None:
    def too_large(conn: socket.socket, server: Server) -> None:
        rfile = conn.makefile("rb")
        while rfile.readline() not in (b"\r\n", b""):
            pass  # the headers only; the body is never read
        conn.sendall(reply(413, b"too large", {"Connection": "close"}))

    server = serve(raw=too_large)
    response = Transport(timeout=5).request("POST", server.url("/legacy/"), body=b"x" * (8 * 1024 * 1024))
    assert (response.status, response.data) == (413, b"too large")


# --- 4. streamed uploads ------------------------------------------------------------------------


def _digest(request: Request, conn: int, nth: int) -> bytes:
    return reply(200, hashlib.sha256(request.body).hexdigest().encode())


@pytest.mark.parametrize("kind", ["iterator", "file", "file-chunked"])
def test_a_streamed_upload_arrives_byte_identical(serve: Callable[..., Server], kind: str) -> None:
    server = serve(_digest)
    payload = os.urandom(3 * 1024 * 1024 + 7)
    headers = {"Content-Type": "application/octet-stream"}
    body: Iterator[bytes] | io.BytesIO
    if kind == "iterator":
        body = (payload[i : i + 100_000] for i in range(0, len(payload), 100_000))
    else:
        body = io.BytesIO(payload)
    if kind != "file-chunked":
        headers["Content-Length"] = str(len(payload))
    response = Transport(timeout=10).request("POST", server.url("/legacy/"), body=body, headers=headers)
    assert response.data == hashlib.sha256(payload).hexdigest().encode()
    seen = server.requests[0].headers
    if kind == "file-chunked":
        assert seen["transfer-encoding"] == "chunked"
    else:
        assert seen["content-length"] == str(len(payload)) and "transfer-encoding" not in seen


class Boom(Exception):
    pass


@pytest.mark.parametrize("error", [Boom("the file changed"), OSError(5, "disk gone"), KeyError("x")])
def test_a_body_that_raises_propagates_its_exception_and_the_connection_is_dropped(
    serve: Callable[..., Server], error: BaseException
) -> None:
    server = serve(_digest)
    transport = Transport(timeout=5)
    transport.get(server.url("/warm"))

    def body() -> Iterator[bytes]:
        yield b"x" * 1000
        raise error

    with pytest.raises(type(error)) as info:
        transport.request("POST", server.url("/legacy/"), body=body(), headers={"Content-Length": "5000"})
    assert info.value is error  # as it is: not a TransportError, nothing from http.client around it
    assert transport.get(server.url("/after")).status == 200
    assert server.connections == 2  # the half-sent connection went nowhere near the pool


def test_a_file_body_whose_read_fails_propagates_that_error(serve: Callable[..., Server]) -> None:
    server = serve(_digest)
    error = OSError(5, "Input/output error")

    class Failing(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise error

    with pytest.raises(OSError) as info:
        Transport(timeout=5).request("PUT", server.url("/f"), body=Failing(), headers={"Content-Length": "10"})
    assert info.value is error


# --- 5. one transport, sixteen threads -----------------------------------------------------------


def test_sixteen_threads_share_one_pool_without_mixing_answers(serve: Callable[..., Server]) -> None:
    def respond(request: Request, conn: int, nth: int) -> bytes:
        return reply(200, request.target.encode() + b"|" + request.body, {"X-Echo": request.target})

    server = serve(respond)
    transport = Transport(timeout=10, maxsize=16)
    start = threading.Barrier(16)
    mismatches: list[tuple[str, bytes]] = []
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                path = f"/t{n}/r{i}"
                body = f"body-{n}-{i}".encode() * (1 + i)
                method = "POST" if i % 2 else "GET"
                response = transport.request(method, server.url(path), body=body if method == "POST" else None)
                expected = path.encode() + b"|" + (body if method == "POST" else b"")
                if response.data != expected or response.header("X-Echo") != path:
                    mismatches.append((path, response.data))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures and not mismatches
    assert len(server.requests) == 160
    assert server.connections <= 16  # one per thread at most, never one per request


# --- 6. what a request line or a header must not carry -------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Note": "a\r\nX-Injected: yes"},
        {"X-Note": "a\n\tX-Injected: yes"},  # a folded line: http.client would let it through
        {"X-Note": "a\x00b"},
        {"X-Note": "snowman \u2603"},
        {"X-Injected: yes\r\nX-Note": "a"},
        {"Bad Name": "a"},
    ],
)
def test_a_header_that_would_inject_is_refused_before_connecting(
    serve: Callable[..., Server], headers: dict[str, str]
) -> None:
    server = serve()
    with pytest.raises(TransportError) as info:
        Transport(timeout=5).get(server.url("/"), headers=headers)
    assert "X-Injected" not in str(info.value) and "nothing was sent" in str(info.value)
    assert server.connections == 0


def test_a_credential_with_a_stray_newline_is_refused_without_showing_it(serve: Callable[..., Server]) -> None:
    server = serve()
    with pytest.raises(TransportError) as info:
        Transport(timeout=5).get(server.url("/"), authorization=Secret(AUTH.reveal() + "\n"))
    assert "Authorization header" in str(info.value) and "newline" in str(info.value)
    _assert_clean(str(info.value))
    assert server.connections == 0


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/simple/a\r\nX-Injected: yes", "/simple/aX-Injected:%20yes"),
        ("/simple/caf\u00e9 au lait/?q=a b", "/simple/caf%C3%A9%20au%20lait/?q=a%20b"),
        ("/simple/a%2Fb/?x=%41&y=~", "/simple/a%2Fb/?x=%41&y=~"),
        ("/a\x01b\x7f", "/a%01b%7F"),
    ],
)
def test_the_request_line_is_one_line_of_ascii(serve: Callable[..., Server], path: str, target: str) -> None:
    server = serve()
    assert Transport(timeout=5).get(server.url(path)).status == 200
    (seen,) = server.requests
    assert seen.target == target and "x-injected" not in seen.headers


def test_userinfo_in_the_url_is_never_sent(serve: Callable[..., Server]) -> None:
    server = serve()
    response = Transport(timeout=5).get(f"http://user:hunter2@127.0.0.1:{server.port}/x")
    assert response.status == 200 and "hunter2" not in response.url
    (seen,) = server.requests
    assert "authorization" not in seen.headers and seen.line == "GET /x HTTP/1.1"
    assert "hunter2" not in repr(seen) and "user" not in seen.headers["host"]


def test_an_ipv6_loopback_literal(serve: Callable[..., Server]) -> None:
    try:
        server = serve(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    response = Transport(timeout=5).get(server.url("/v6"), authorization=AUTH)  # loopback: credentials allowed
    assert response.data == b"/v6"
    assert server.requests[0].headers["host"] == f"[::1]:{server.port}"


@pytest.mark.parametrize("scheme", ["ftp", "ws", "file"])
def test_a_url_of_another_scheme_is_refused_even_with_a_port(serve: Callable[..., Server], scheme: str) -> None:
    """urllib3 refused an unknown scheme; the new layer must not speak HTTP to ``ftp://host:21``."""
    server = serve()
    with pytest.raises(TransportError, match="is not an http:// or https:// URL"):
        Transport(timeout=5).get(f"{scheme}://127.0.0.1:{server.port}/x")
    assert server.connections == 0


def test_a_route_never_shows_the_proxys_password() -> None:
    via = route("https://pypi.org/legacy/", "http://alice:s%40cret@proxy.example:3128")
    assert via.proxy_authorization == _basic("alice", "s@cret")
    assert "s@cret" not in repr(via) and _basic("alice", "s@cret").split()[1] not in repr(via)
