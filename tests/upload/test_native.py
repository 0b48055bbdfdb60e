"""The native uploader against a capturing HTTP server on 127.0.0.1: what goes on the wire."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.distfactory import make_metadata, make_wheel
from trustpub.dists import inspect
from trustpub.secrets import Secret
from trustpub.transport import Transport
from trustpub.upload._types import UploadRejected, UploadRequest
from trustpub.upload.form import digest_fields, form_fields
from trustpub.upload.native import FileChanged, NativeUploader


class _Capture(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    answer: ClassVar[tuple[int, str, bytes]] = (200, "OK", b"")


    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = b""
        while len(body) < length:
            chunk = self.rfile.read(min(65536, length - len(body)))
            if not chunk:
                break
            body += chunk
        type(self).received.append((dict(self.headers.items()), body))
        status, reason, payload = type(self).answer
        self.send_response(status, reason)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Aborted uploads (the re-hash test) close the socket before the answer: expected.
        pass


@pytest.fixture
def capture() -> Iterator[tuple[str, type[_Capture]]]:
    handler = type("Handler", (_Capture,), {"received": [], "answer": (200, "OK", b"")})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/legacy/", handler
    server.shutdown()
    server.server_close()
    thread.join()


def _request(path: Path, url: str, **kwargs: object) -> UploadRequest:
    dist = inspect(path)
    return UploadRequest(
        path=path, filename=path.name, sha256=dist.sha256, blake2_256=dist.blake2_256, size=dist.size,
        upload_url=url, username="__token__", password=Secret("pypi-CANARY-secret-token"), **kwargs,  # type: ignore[arg-type]
    )


def _parse(headers: dict[str, str], body: bytes) -> list[tuple[str, str | None, bytes]]:
    raw = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    return [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_payload(decode=True)) for p in msg.iter_parts()]


FULL_METADATA = make_metadata(
    "demo-pkg",
    "1.0.0",
    fields=[
        ("Keywords", "alpha,beta,gamma"),
        ("Home-page", "https://example.org"),
        ("Download-URL", "https://example.org/dl"),
        ("Author", "A. Author"),
        ("Author-email", "a@example.org"),
        ("Maintainer", "M. Aint"),
        ("Maintainer-email", "m@example.org"),
        ("License-Expression", "MIT"),
        ("License-File", "LICENSE"),
        ("Classifier", "Programming Language :: Python :: 3"),
        ("Classifier", "Operating System :: OS Independent"),
        ("Requires-Dist", "packaging>=23"),
        ("Requires-Dist", "rich; extra == 'cli'"),
        ("Requires-Python", ">=3.9"),
        ("Requires-External", "libfoo"),
        ("Project-URL", "Source, https://example.org/src"),
        ("Project-URL", "Docs, https://example.org/docs"),
        ("Provides-Extra", "cli"),
        ("Provides-Dist", "demo-pkg"),
        ("Obsoletes-Dist", "old-demo"),
        ("Platform", "any"),
        ("Supported-Platform", "linux"),
        ("Dynamic", "Requires-Dist"),
    ],
)


def test_form_fields_follow_the_contract(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, metadata=FULL_METADATA, tag="cp312-cp312-manylinux_2_17_x86_64", extra_files={"demo_pkg-1.0.0.dist-info/licenses/LICENSE": b"MIT"})
    dist = inspect(wheel)
    fields = form_fields(dist, attestations=['{"version": 1}', '{"version": 1, "x": 2}'])
    assert fields[:4] == [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("filetype", "bdist_wheel"),
        ("pyversion", "cp312"),
    ]
    # The digests travel after the file part (see test_wire_format).
    assert not any(name.endswith("_digest") for name, _ in fields)
    assert digest_fields(dist.sha256) == [("sha256_digest", dist.sha256)]
    assert digest_fields(dist.sha256, dist.blake2_256)[1] == ("blake2_256_digest", dist.blake2_256)
    got: dict[str, list[str]] = {}
    for name, value in fields:
        got.setdefault(name, []).append(value)
    assert got["metadata_version"] == ["2.4"] and got["name"] == ["demo-pkg"] and got["version"] == ["1.0.0"]
    assert got["keywords"] == ["alpha,beta,gamma"]
    assert got["classifiers"] == ["Programming Language :: Python :: 3", "Operating System :: OS Independent"]
    assert got["requires_dist"] == ["packaging>=23", "rich; extra == 'cli'"]
    assert got["project_urls"] == ["Source, https://example.org/src", "Docs, https://example.org/docs"]
    for singular in ("platform", "supported_platform", "license_file"):
        assert singular in got, singular
    for raw in ("platforms", "supported_platforms", "license_files"):
        assert raw not in got
    assert got["provides_extra"] == ["cli"] and got["dynamic"] == ["Requires-Dist"]
    assert got["license_expression"] == ["MIT"] and got["requires_python"] == [">=3.9"]
    assert got["home_page"] == ["https://example.org"] and got["download_url"] == ["https://example.org/dl"]
    assert got["description_content_type"] == ["text/markdown"] and got["description"][0].startswith("# Demo")
    assert got["attestations"] == ['[{"version":1},{"version":1,"x":2}]']
    assert "md5_digest" not in got


def test_sdist_pyversion_is_source(tmp_path: Path) -> None:
    from tests.distfactory import make_sdist

    fields = dict(form_fields(inspect(make_sdist(tmp_path))))
    assert fields["filetype"] == "sdist" and fields["pyversion"] == "source"


def test_wire_format(tmp_path: Path, capture: tuple[str, type[_Capture]]) -> None:
    url, handler = capture
    wheel = make_wheel(tmp_path, metadata=FULL_METADATA, extra_files={"demo_pkg-1.0.0.dist-info/licenses/LICENSE": b"MIT"})
    att = tmp_path / "a.publish.attestation"
    att.write_text(json.dumps({"version": 1}))
    result = NativeUploader(Transport()).upload(_request(wheel, url, attestations=(att,)))
    assert result.outcome == "uploaded" and result.status == 200
    ((headers, body),) = handler.received
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"].startswith("Basic ")
    assert "Transfer-Encoding" not in headers
    assert int(headers["Content-Length"]) == len(body)
    parts = _parse(headers, body)
    names = [p[0] for p in parts]
    # text fields, the file, then the digests computed while it streamed
    assert names[-3:] == ["content", "sha256_digest", "blake2_256_digest"]
    content = parts[-3]
    assert content[1] == wheel.name
    assert hashlib.sha256(content[2]).hexdigest() == inspect(wheel).sha256
    assert parts[-2][2].decode() == inspect(wheel).sha256 and parts[-1][2].decode() == inspect(wheel).blake2_256
    assert names.count("attestations") == 1 and all(p[1] is None for p in parts if p[0] != "content")
    assert dict((p[0], p[2]) for p in parts)["attestations"] == b'[{"version":1}]'


def test_file_changed_after_check_is_aborted(tmp_path: Path, capture: tuple[str, type[_Capture]]) -> None:
    url, handler = capture
    wheel = make_wheel(tmp_path, extra_files={"demo_pkg/blob.bin": bytes(3 * 1024 * 1024)})
    request = _request(wheel, url)
    checked = inspect(wheel)
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    wheel.write_bytes(bytes(data))
    with pytest.raises(FileChanged, match="changed on disk"):
        NativeUploader(Transport()).upload(request, dist=checked)
    assert all(len(body) < int(h["Content-Length"]) for h, body in handler.received)


@pytest.mark.parametrize(
    ("status", "reason", "payload", "expected", "retryable"),
    [
        (400, "File already exists ('x', with blake2_256 hash 'y').", b"", "400 File already exists", False),
        (400, "Bad Request", json.dumps({"message": "ignored", "code": "400 The description failed to render for 'text/x-rst'.", "title": "Bad Request"}).encode(), "400 The description failed to render", False),
        (403, "Invalid API Token: token is expired", b"", "token is expired", False),
        (503, "Service Unavailable", b"", "503 Service Unavailable", True),
        (429, "Too Many Requests", b"", "429", True),
    ],
)
def test_errors_are_one_line_naming_the_file(
    tmp_path: Path, capture: tuple[str, type[_Capture]], status: int, reason: str, payload: bytes, expected: str, retryable: bool
) -> None:
    url, handler = capture
    handler.answer = (status, reason, payload)
    wheel = make_wheel(tmp_path)
    with pytest.raises(UploadRejected) as info:
        NativeUploader(Transport()).upload(_request(wheel, url))
    text = str(info.value)
    assert text.startswith(f"{wheel.name}: ") and expected in text
    assert "\n" not in text
    assert info.value.retryable is retryable
    assert "CANARY" not in text
