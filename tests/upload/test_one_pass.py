"""Each byte read as few times as the protocol allows: lazy digests, digests after the file,
plan by name, a verify step that asks the index only what it has not confirmed.

The real-index test at the end sends lazily inspected files (hashed only while they
stream, digests after the content part) to pypiserver, devpi-server and the local index.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.distfactory import make_sdist, make_wheel
from tests.upload.test_native import _parse
from tests.upload.test_real_indexes import (  # noqa: F401 - fixtures used by name
    VERSION,
    Target,
    assert_holds_exactly,
    local,
    release_dir,
    target,
)
from trustpub.dists import Distribution, identical_files, inspect, inspect_many
from trustpub.errors import TrustpubError
from trustpub.orchestrator import Orchestrator, PublishFailed, VerificationFailed
from trustpub.registry import Registry
from trustpub.request import PublishRequest
from trustpub.secrets import Secret
from trustpub.transport import Transport
from trustpub.upload._types import UploadRequest
from trustpub.upload.engine import FileConflict, UploadEngine, plan_release
from trustpub.upload.native import FileChanged, NativeUploader
from trustpub.upload.simple import SimpleIndex

# --- counting reads ---------------------------------------------------------------------------

_opens: dict[str, int] = {}
_counting = threading.Event()


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _counting.is_set() and isinstance(args[0], (str, Path)):
        key = os.fspath(args[0])
        _opens[key] = _opens.get(key, 0) + 1


sys.addaudithook(_audit)


@pytest.fixture
def opens() -> Iterator[dict[str, int]]:
    """How many times each path was opened while the test body ran."""
    _opens.clear()
    _counting.set()
    yield _opens
    _counting.clear()


# --- a capturing index --------------------------------------------------------------------------


class _Index(BaseHTTPRequestHandler):
    """Answers uploads with ``answer`` and the simple API with 404 (nothing stored, ever)."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    listings: ClassVar[list[str]] = []
    answer: ClassVar[bytes] = b""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = b""
        while len(body) < length:
            chunk = self.rfile.read(min(65536, length - len(body)))
            if not chunk:
                break
            body += chunk
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", str(len(type(self).answer)))
        self.end_headers()
        self.wfile.write(type(self).answer)

    def do_GET(self) -> None:
        type(self).listings.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # aborted uploads close the socket before the answer


@pytest.fixture
def index() -> Iterator[tuple[str, type[_Index]]]:
    handler = type("Handler", (_Index,), {"received": [], "listings": [], "answer": b""})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/legacy/", handler
    server.shutdown()
    server.server_close()
    thread.join()


def _lazy_request(dist: Distribution, url: str) -> UploadRequest:
    sha, blake = dist.digests.known()
    return UploadRequest(dist.path, dist.filename, sha, blake, dist.size, url, "__token__", Secret("pypi-secret"))


# --- the uploader ---------------------------------------------------------------------------------


def test_a_file_nothing_hashed_is_read_once_and_its_digest_follows_it(
    tmp_path: Path, index: tuple[str, type[_Index]], opens: dict[str, int]
) -> None:
    url, handler = index
    wheel = make_wheel(tmp_path, extra_files={"demo_pkg/blob.bin": os.urandom(3 * 1024 * 1024)})
    real = hashlib.sha256(wheel.read_bytes()).hexdigest()
    opens.clear()
    (dist,) = inspect_many([wheel], hashes=False)
    inspected = opens.get(str(wheel), 0)  # the archive's directory and METADATA, not a hash pass
    assert dist.digests.known() == (None, None)

    result = NativeUploader(Transport()).upload(_lazy_request(dist, url), dist=dist)

    assert result.outcome == "uploaded" and result.confirmed  # empty 200, as PyPI answers
    assert opens[str(wheel)] == inspected + 1  # exactly one more open: the stream
    assert dist.digests.bytes_read == 0  # no separate hashing pass
    assert dist.digests.known()[0] == real  # the digest of the bytes that were sent
    ((headers, body),) = handler.received
    parts = _parse(headers, body)
    names = [p[0] for p in parts]
    assert names[-2:] == ["content", "sha256_digest"]  # after the file; no BLAKE2b computed just to send it
    assert parts[-2][2] == wheel.read_bytes() and parts[-1][2].decode() == real
    assert int(headers["Content-Length"]) == len(body)


def test_a_file_changed_after_inspection_is_aborted_before_its_last_byte(
    tmp_path: Path, index: tuple[str, type[_Index]]
) -> None:
    url, handler = index
    wheel = make_wheel(tmp_path, extra_files={"demo_pkg/blob.bin": bytes(3 * 1024 * 1024)})
    (dist,) = inspect_many([wheel], hashes=False)
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only the stat stamp can tell
    wheel.write_bytes(bytes(data))
    stat = wheel.stat()
    os.utime(wheel, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(FileChanged, match="changed on disk"):
        NativeUploader(Transport()).upload(_lazy_request(dist, url), dist=dist)
    assert all(len(body) < int(h["Content-Length"]) for h, body in handler.received)
    assert dist.digests.known()[0] is None  # nothing vouches for bytes that were never fully sent


def test_a_lazily_hashed_file_that_changed_is_refused_not_hashed(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    dist = inspect(wheel, lazy=True)
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    with pytest.raises(TrustpubError, match="changed on disk"):
        _ = dist.sha256


# --- plan and preflight ---------------------------------------------------------------------------


class _Listing:
    def __init__(self, files: dict[str, str]) -> None:
        self.listed = files

    def files(self, project: str, *, refresh: bool = False) -> dict[str, str]:
        return self.listed


def test_the_plan_hashes_only_files_whose_names_the_index_has(tmp_path: Path) -> None:
    paths = [make_wheel(tmp_path, tag=tag) for tag in ("py3-none-any", "cp312-cp312-win_amd64")] + [make_sdist(tmp_path)]
    dists = inspect_many(paths, hashes=False)
    first = dists[0]
    real = hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert plan_release(dists, _Listing({first.filename: real})) == {first.filename: real}
    assert first.digests.bytes_read == first.size
    assert [d.digests.bytes_read for d in dists[1:]] == [0, 0]

    with pytest.raises(FileConflict, match="different file with this name"):
        plan_release(inspect_many(paths, hashes=False), _Listing({first.filename: "0" * 64}))


def test_identical_files_hashes_only_same_size_files_with_the_same_ends(tmp_path: Path) -> None:
    for sub in ("a", "b", "c"):
        (tmp_path / sub).mkdir()
    a = make_wheel(tmp_path / "a", extra_files={"demo_pkg/x.bin": os.urandom(300_000)})
    b = make_wheel(tmp_path / "b", tag="cp312-cp312-win_amd64", extra_files={"demo_pkg/x.bin": os.urandom(300_000)})
    copy = tmp_path / "c" / a.name.replace("py3-none-any", "cp313-cp313-win_amd64")
    copy.write_bytes(a.read_bytes())
    dists = inspect_many([a, b, copy], hashes=False)
    assert identical_files(dists) == {copy.name: a.name}
    # a and its copy had to be hashed to be sure; b (other bytes at its ends) never was
    assert [d.digests.bytes_read > 0 for d in dists] == [True, False, True]


# --- the verify step --------------------------------------------------------------------------------


def _publish(url: str, dist_dir: Path, state: Path) -> object:
    dist_dir.mkdir(exist_ok=True)
    request = PublishRequest(
        paths=(dist_dir,), registry=Registry.parse(url), credentials="token", attestations=False, state_dir=state,
        env={"TRUSTPUB_USERNAME": "__token__", "TRUSTPUB_PASSWORD": "pypi-secret"},
    )  # fmt: skip
    return Orchestrator().publish(request)


def test_verify_asks_nothing_when_the_index_confirmed_every_upload(
    tmp_path: Path, index: tuple[str, type[_Index]]
) -> None:
    url, handler = index
    (tmp_path / "dist").mkdir()
    make_wheel(tmp_path / "dist")
    make_sdist(tmp_path / "dist")
    _publish(url, tmp_path / "dist", tmp_path / "state")
    assert len(handler.received) == 2
    assert len(handler.listings) == 1  # the plan; no second listing after the upload


def test_verify_catches_an_index_that_answers_with_a_page_and_stores_nothing(
    tmp_path: Path, index: tuple[str, type[_Index]]
) -> None:
    url, handler = index
    handler.answer = b"<html><body>API endpoint</body></html>"  # Warehouse's catch-all page, 200
    (tmp_path / "dist").mkdir()
    make_wheel(tmp_path / "dist")
    with pytest.raises(PublishFailed, match="does not list our sha256") as failed:
        _publish(url, tmp_path / "dist", tmp_path / "state")
    assert isinstance(failed.value.cause, VerificationFailed)
    assert len(handler.listings) == 2  # the plan, then the verify step asked


# --- real indexes -----------------------------------------------------------------------------------


def test_lazily_hashed_release_lands_byte_for_byte(target: Target, release_dir: Path) -> None:  # noqa: F811
    """pypiserver, devpi-server and the local index take the one-pass form (digests last)."""
    dists = inspect_many(sorted(release_dir.iterdir()), hashes=False)
    transport = Transport()
    engine = UploadEngine(NativeUploader(transport), lookup=SimpleIndex(transport, target.simple_url), jobs=4)
    secret = Secret(target.password)
    results = engine.upload(
        dists,
        lambda d: UploadRequest(d.path, d.filename, None, None, d.size, target.upload_url, target.username, secret),
    )
    assert [r.outcome for r in results] == ["uploaded"] * len(dists)
    assert all(d.digests.bytes_read == 0 for d in dists)
    assert all(d.digests.known()[0] == hashlib.sha256(d.path.read_bytes()).hexdigest() for d in dists)
    assert_holds_exactly(target, dists)
    assert VERSION in dists[0].filename


def test_large_files_go_one_at_a_time_small_ones_beside_them(tmp_path: Path) -> None:
    """Parallelism is for latency; large files share one pipe, so only one is in flight."""
    import time

    from trustpub.upload import engine as engine_module
    from trustpub.upload.engine import UploadEngine
    from trustpub.upload.recording import RecordingUploader

    class Slow(RecordingUploader):
        def __init__(self) -> None:
            super().__init__()
            self.active: dict[str, int] = {"large": 0, "small": 0}
            self.peak: dict[str, int] = {"large": 0, "small": 0}
            self.guard = threading.Lock()

        def upload(self, request: UploadRequest):  # type: ignore[no-untyped-def]
            kind = "large" if request.size >= engine_module.LARGE_FILE else "small"
            with self.guard:
                self.active[kind] += 1
                self.peak[kind] = max(self.peak[kind], self.active[kind])
            time.sleep(0.05)
            with self.guard:
                self.active[kind] -= 1
            return super().upload(request)

    tags = ["cp310-cp310-win_amd64", "cp311-cp311-win_amd64", "cp312-cp312-win_amd64", "cp313-cp313-win_amd64"]
    wheels = [
        make_wheel(tmp_path, tag=tag, extra_files={"demo_pkg/x.bin": os.urandom(200_000 if i < 2 else 10)})
        for i, tag in enumerate(tags)
    ]
    dists = inspect_many(wheels, hashes=False)
    uploader = Slow()
    original = engine_module.LARGE_FILE
    engine_module.LARGE_FILE = min(d.size for d in dists[:2])  # the first two count as large here
    try:
        results = UploadEngine(uploader, lookup=None, jobs=4).upload(
            dists, lambda d: _lazy_request(d, "http://127.0.0.1:9/legacy/")
        )
        assert uploader.peak == {"large": 1, "small": 2}
    finally:
        engine_module.LARGE_FILE = original
    assert [r.outcome for r in results] == ["skipped"] * 4
