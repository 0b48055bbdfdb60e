"""The native uploader through the engine, against real indexes, and what the user sees meanwhile.

Real files (one hatchling build with ``python -m build --no-isolation`` plus wheels
from ``tests.distfactory``) go to real pypiserver and devpi processes (with auth) and
to the local PyPI, and come back byte for byte (``pip download`` and the simple
API's links). Re-runs after an interrupted release upload only what is missing,
and a different file under a name the release uses stops it before anything goes up.

The local index's fault knobs drive the retry cases (503, 429, a connection reset
mid-body, a final 400). Two cases it cannot stage are staged by :class:`FaultProxy`,
a TCP proxy in front of it: a 429 carrying ``Retry-After`` (the knob sends none), and
an upload that lands but whose answer never arrives (the engine must find the file
on the index instead of sending it again).

The progress displays are tested here too, on these real uploads.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from tests.distfactory import make_wheel
from tests.servers import RunningIndex, create_devpi_index
from trustpub.dists import Distribution, inspect_many
from trustpub.local.index import LocalIndex
from trustpub.secrets import Secret
from trustpub.transport import Transport
from trustpub.upload._types import UploadRejected, UploadRequest, UploadResult
from trustpub.upload.engine import FileConflict, RetryPolicy, UploadEngine
from trustpub.upload.native import FileChanged, NativeUploader
from trustpub.upload.progress import (
    NullProgress,
    PlainProgress,
    RichProgress,
    UploadProgress,
    progress_for,
)
from trustpub.upload.simple import SimpleIndex

pytestmark = pytest.mark.slow

PROJECT = "tp-realdemo"
STEM = "tp_realdemo"
VERSION = "1.0.0"
EXTRA_TAGS = (
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-win_amd64",
    "cp313-cp313-macosx_11_0_arm64",
)
#: No real waiting between attempts: the engine's sleep is recorded instead.
FAST = RetryPolicy(attempts=4, base=0.01, cap=20.0, total=60.0)


# --- the release ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real wheel and sdist built by hatchling, plus three wheels for other platforms."""
    root = tmp_path_factory.mktemp("real-release")
    project = root / "project"
    (project / "src" / STEM).mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{PROJECT}"
            version = "{VERSION}"
            description = "A real project for upload tests"
            readme = "README.md"
            license = "MIT"
            requires-python = ">=3.10"
            classifiers = ["Programming Language :: Python :: 3"]
            dependencies = ["packaging>=23"]
            """
        )
    )
    (project / "README.md").write_text("# tp-realdemo\n\nUploaded by trustpub's tests.\n")
    (project / "LICENSE").write_text("MIT License\n")
    (project / "src" / STEM / "__init__.py").write_text('__version__ = "1.0.0"\n')
    dist = root / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for tag in EXTRA_TAGS:
        make_wheel(dist, STEM, VERSION, tag=tag, extra_files={f"{STEM}/_native.bin": os.urandom(2048)})
    return dist


@pytest.fixture(scope="session")
def release(release_dir: Path) -> list[Distribution]:
    dists = inspect_many(sorted(release_dir.iterdir()))
    assert sorted(d.filetype or "" for d in dists) == ["bdist_wheel"] * 4 + ["sdist"]
    return dists


# --- where the release goes -----------------------------------------------------------------


@dataclass
class Target:
    """One index as the tests use it: where to upload, how to list and fetch what it holds."""

    kind: str
    upload_url: str
    simple_url: str
    username: str
    password: str
    local: LocalIndex | None = None

    def request_for(self, upload_url: str | None = None) -> Callable[[Distribution], UploadRequest]:
        url = upload_url or self.upload_url
        secret = Secret(self.password)

        def make(dist: Distribution) -> UploadRequest:
            return UploadRequest(
                dist.path, dist.filename, dist.sha256, dist.blake2_256, dist.size, url, self.username, secret
            )

        return make

    def links(self) -> dict[str, str]:
        """{filename: absolute download URL} from the project's simple page (empty if none)."""
        page = f"{self.simple_url}{PROJECT}/"
        request = urllib.request.Request(page, headers={"Accept": "text/html"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                final, html = response.geturl(), response.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return {}
            raise
        parser = _Hrefs()
        parser.feed(html)
        found = {}
        for href in parser.hrefs:
            url = urljoin(final, href).split("#", 1)[0]
            found[unquote(urlsplit(url).path.rsplit("/", 1)[-1])] = url
        return found

    def contents(self) -> dict[str, bytes]:
        """Every file of the project on the index, downloaded."""
        result = {}
        for name, url in self.links().items():
            with urllib.request.urlopen(url, timeout=30) as response:
                result[name] = response.read()
        return result


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _local_target(storage: Path) -> Iterator[Target]:
    with LocalIndex(storage) as index:
        token = index.add_api_token(PROJECT)
        yield Target("local", index.upload_url, index.simple_url, "__token__", token, index)


def _running(index: RunningIndex) -> Target:
    return Target(index.kind, index.upload_url, index.simple_url, index.username, index.password)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Target]:
    """A fresh local PyPI with a project-scoped API token."""
    yield from _local_target(tmp_path / "index")


@pytest.fixture(params=["pypiserver", "devpi", "local"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "local":
        yield from _local_target(tmp_path / "index")
        return
    index: RunningIndex = request.getfixturevalue(f"{request.param}_index")
    yield _running(index)


# --- what the engine did ----------------------------------------------------------------------


@dataclass
class Recorder:
    """An :class:`UploadProgress` that keeps every event (thread-safe)."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _add(self, *event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def begin(self, files: Sequence[tuple[str, int]]) -> None:
        self._add("begin", tuple(files))

    def attempt(self, filename: str, size: int, attempt: int) -> None:
        self._add("attempt", filename, attempt)

    def sent(self, filename: str, nbytes: int) -> None:
        self._add("sent", filename, nbytes)

    def retrying(self, filename: str, attempt: int, reason: str, delay: float) -> None:
        self._add("retrying", filename, attempt, reason, delay)

    def finished(self, result: UploadResult) -> None:
        self._add("finished", result.filename, result.outcome)

    def end(self) -> None:
        self._add("end")

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]

    def attempts(self, filename: str) -> int:
        return sum(1 for e in self.of("attempt") if e[1] == filename)

    def bytes_sent(self, filename: str) -> int:
        """Bytes of the last attempt of ``filename``."""
        total = 0
        for event in self.events:
            if event[0] == "attempt" and event[1] == filename:
                total = 0
            elif event[0] == "sent" and event[1] == filename:
                total += event[2]
        return total


def publish(
    target: Target,
    dists: Sequence[Distribution],
    *,
    progress: UploadProgress | None = None,
    jobs: int = 4,
    upload_url: str | None = None,
    sleep: Callable[[float], None] | None = None,
    retry: RetryPolicy = FAST,
    on_result: Callable[[str, UploadResult], None] | None = None,
) -> list[UploadResult]:
    """The release through the engine and the native uploader, as ``trustpub publish`` does."""
    transport = Transport()
    engine = UploadEngine(
        NativeUploader(transport),
        lookup=SimpleIndex(transport, target.simple_url),
        jobs=jobs,
        retry=retry,
        progress=progress,
        sleep=sleep or (lambda seconds: None),
        on_result=on_result,
    )
    return engine.upload(dists, target.request_for(upload_url))


def assert_holds_exactly(target: Target, dists: Sequence[Distribution]) -> None:
    stored = target.contents()
    assert sorted(stored) == sorted(d.filename for d in dists)
    for dist in dists:
        assert stored[dist.filename] == dist.path.read_bytes(), dist.filename


def pip_download(simple_url: str, requirement: str, dest: Path, *extra: str) -> list[Path]:
    """``pip download --no-deps`` from a loopback index only; returns the new files."""
    assert simple_url.startswith("http://127.0.0.1:"), simple_url
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "HTTP_PROXY", "HTTPS_PROXY"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--index-url", simple_url,
         "-d", str(dest), *extra, requirement],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return sorted(dest.iterdir())


# --- round trips --------------------------------------------------------------------------------


def test_release_round_trip(target: Target, release: list[Distribution], tmp_path: Path) -> None:
    """Every file lands and comes back byte for byte; pip installs from what was uploaded."""
    recorder = Recorder()
    results = publish(target, release, progress=recorder)

    assert [r.outcome for r in results] == ["uploaded"] * len(release)
    assert results[-1].filename.endswith(".tar.gz")  # the sdist goes last
    assert_holds_exactly(target, release)
    (wheel,) = pip_download(target.simple_url, f"{PROJECT}=={VERSION}", tmp_path / "pip")
    assert wheel.name == f"{STEM}-{VERSION}-py3-none-any.whl"
    assert wheel.read_bytes() == next(d for d in release if d.filename == wheel.name).path.read_bytes()
    for dist in release:
        assert recorder.attempts(dist.filename) == 1
        assert recorder.bytes_sent(dist.filename) == dist.size


def test_rerun_uploads_only_what_is_missing(target: Target, release: list[Distribution]) -> None:
    """An interrupted release (two wheels up) is completed by a plain re-run, nothing sent twice."""
    first = [d for d in release if d.is_wheel][:2]
    publish(target, first)

    recorder = Recorder()
    results = publish(target, release, progress=recorder)

    outcomes = {r.filename: r.outcome for r in results}
    assert {outcomes[d.filename] for d in first} == {"already-present"}
    missing = {d.filename for d in release} - {d.filename for d in first}
    assert {e[1] for e in recorder.of("attempt")} == missing
    assert {outcomes[name] for name in missing} == {"uploaded"}
    assert_holds_exactly(target, release)


def test_conflicting_bytes_stop_the_release_before_anything_goes_up(
    target: Target, release: list[Distribution], tmp_path: Path
) -> None:
    """A different file under one of the release's names: FileConflict, and nothing else is sent."""
    victim = next(d for d in release if d.is_wheel and "win_amd64" in d.filename)
    impostor_dir = tmp_path / "impostor"
    impostor_dir.mkdir()
    impostor = make_wheel(impostor_dir, STEM, VERSION, tag=EXTRA_TAGS[1], extra_files={f"{STEM}/other.py": b"x = 1\n"})
    assert impostor.name == victim.filename
    (impostor_dist,) = inspect_many([impostor])
    publish(target, [impostor_dist])

    recorder = Recorder()
    with pytest.raises(FileConflict, match="different file with this name"):
        publish(target, release, progress=recorder)

    assert recorder.of("attempt") == []
    assert target.contents() == {impostor.name: impostor.read_bytes()}


# --- the local index's fault knobs ----------------------------------------------------------


def _one_wheel(release: Sequence[Distribution]) -> list[Distribution]:
    return [next(d for d in release if d.filename.endswith("py3-none-any.whl"))]


@pytest.mark.parametrize("status", [503, 502, 429])
def test_transient_answer_then_success(local: Target, release: list[Distribution], status: int) -> None:
    assert local.local is not None
    local.local.fail_next_uploads(1, status)
    recorder = Recorder()
    dists = _one_wheel(release)

    (result,) = publish(local, dists, progress=recorder)

    assert result.outcome == "uploaded"
    assert recorder.attempts(dists[0].filename) == 2
    ((_, _, attempt, reason, _),) = recorder.of("retrying")
    assert attempt == 1 and reason.startswith(str(status))
    assert_holds_exactly(local, dists)


def test_connection_reset_mid_body_is_looked_up_then_sent_again(
    local: Target, release: list[Distribution]
) -> None:
    assert local.local is not None
    local.local.reset_next_uploads(1)
    recorder = Recorder()
    dists = _one_wheel(release)

    (result,) = publish(local, dists, progress=recorder)

    assert result.outcome == "uploaded"
    assert recorder.attempts(dists[0].filename) == 2
    assert "connection" in recorder.of("retrying")[0][3]
    assert_holds_exactly(local, dists)


def test_final_400_is_not_retried_and_the_sdist_stays_home(local: Target, release: list[Distribution]) -> None:
    assert local.local is not None
    local.local.fail_next_uploads(1, 400)
    recorder = Recorder()

    with pytest.raises(UploadRejected) as info:
        publish(local, release, progress=recorder, jobs=1)

    assert info.value.status == 400 and not info.value.retryable
    assert len(recorder.of("attempt")) < len(release)
    assert recorder.of("retrying") == []
    assert not any(name.endswith(".tar.gz") for name in local.contents())


def test_plain_log_of_a_stopped_release_does_not_say_done(local: Target, release: list[Distribution]) -> None:
    assert local.local is not None
    local.local.fail_next_uploads(1, 400)
    log = io.StringIO()

    with pytest.raises(UploadRejected):
        publish(local, release, progress=PlainProgress(log), jobs=1)

    assert log.getvalue().splitlines()[-1].startswith(f"stopped: {len(release)} not uploaded;")


def test_interrupted_release_on_the_local_index_then_rerun(local: Target, release: list[Distribution]) -> None:
    """The connection of the third upload dies and the run gives up; the re-run sends the rest."""
    assert local.local is not None
    index = local.local
    done: list[str] = []

    def break_after_two(filename: str, result: UploadResult) -> None:
        done.append(filename)
        if len(done) == 2:
            index.reset_next_uploads(1)

    with pytest.raises(UploadRejected, match="connection"):
        publish(local, release, jobs=1, retry=RetryPolicy(attempts=1), on_result=break_after_two)
    assert sorted(local.contents()) == sorted(done)

    recorder = Recorder()
    results = publish(local, release, progress=recorder)

    assert {r.filename for r in results if r.outcome == "already-present"} == set(done)
    assert {e[1] for e in recorder.of("attempt")} == {d.filename for d in release} - set(done)
    assert_holds_exactly(local, release)


# --- faults the knobs cannot stage --------------------------------------------------------------


class FaultProxy:
    """A TCP proxy to ``upstream``; each new connection takes the next fault from ``faults``.

    - ``None``: pass bytes both ways untouched;
    - ``"lose-response"``: relay the request, wait until the server starts answering
      (so the upload was processed), then reset the client's connection instead of
      relaying the answer;
    - ``bytes``: read the whole request (``Content-Length``), answer with these bytes, close.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: list[str | bytes | None] = []
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                fault = self.faults.pop(0) if self.faults else None
            self._spawn(self._serve, self._track(client), fault)

    def _serve(self, client: socket.socket, fault: str | bytes | None) -> None:
        if isinstance(fault, bytes):
            with contextlib.suppress(OSError):
                _read_request(client)
                client.sendall(fault)
            _close(client)
            return
        upstream = self._track(socket.create_connection(self.upstream))
        if fault == "lose-response":
            # One thread only: a socket another thread is reading from cannot be reset.
            with contextlib.suppress(OSError):
                _read_request(client, forward=upstream)
                upstream.recv(1)  # the server processed the upload and is answering
            _close(client, reset=True)
            _close(upstream)
            return
        self._spawn(_pipe, client, upstream)
        _pipe(upstream, client)

    def close(self) -> None:
        _close(self._server)  # shutdown() wakes the accepting thread; close() alone would not
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            _close(sock)
        for thread in [self._accepting, *threads]:
            thread.join(timeout=5)


def _close(sock: socket.socket, *, reset: bool = False) -> None:
    with contextlib.suppress(OSError):
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
    with contextlib.suppress(OSError):
        sock.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


def _read_request(sock: socket.socket, *, forward: socket.socket | None = None) -> None:
    """Read one request (head and ``Content-Length`` body), passing it on to ``forward``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk
    if forward is not None:
        forward.sendall(data)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    left = length - len(body)
    while left > 0:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return
        if forward is not None:
            forward.sendall(chunk)
        left -= len(chunk)


@pytest.fixture
def proxy(local: Target) -> Iterator[FaultProxy]:
    front = FaultProxy(local.upload_url)
    yield front
    front.close()


def test_429_with_retry_after_is_honoured(local: Target, proxy: FaultProxy, release: list[Distribution]) -> None:
    proxy.faults.append(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    slept: list[float] = []
    recorder = Recorder()
    dists = _one_wheel(release)

    (result,) = publish(local, dists, progress=recorder, upload_url=proxy.url + "/legacy/", sleep=slept.append)

    assert result.outcome == "uploaded"
    assert slept == [7.0]
    assert recorder.of("retrying")[0][3].startswith("429") and recorder.of("retrying")[0][4] == 7.0
    assert_holds_exactly(local, dists)


def test_answer_lost_after_landing_is_found_by_the_look_again(
    local: Target, proxy: FaultProxy, release: list[Distribution]
) -> None:
    """The upload landed but the client never heard: the index says so, and nothing is re-sent."""
    proxy.faults.append("lose-response")
    recorder = Recorder()
    dists = _one_wheel(release)

    (result,) = publish(local, dists, progress=recorder, upload_url=proxy.url + "/legacy/")

    assert result.outcome == "uploaded" and "already holds these exact bytes" in result.message
    assert recorder.attempts(dists[0].filename) == 1
    assert proxy.connections == 1
    assert_holds_exactly(local, dists)


# --- the re-hash abort ------------------------------------------------------------------------


def test_file_changed_after_check_leaves_nothing_on_the_index(local: Target, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, STEM, VERSION, tag=EXTRA_TAGS[0], extra_files={f"{STEM}/blob.bin": os.urandom(3 << 20)})
    (checked,) = inspect_many([wheel])
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only a digest can tell
    wheel.write_bytes(bytes(data))
    recorder = Recorder()

    with pytest.raises(FileChanged, match="changed on disk"):
        publish(local, [checked], progress=recorder)

    assert recorder.attempts(checked.filename) == 1 and recorder.of("retrying") == []
    assert 0 < recorder.bytes_sent(checked.filename) < checked.size
    assert local.contents() == {}
    assert local.local is not None and local.local.files(PROJECT) == []
    # The index is unharmed and takes the file once it is rebuilt and checked again.
    rebuilt = make_wheel(tmp_path, STEM, VERSION, tag=EXTRA_TAGS[0], extra_files={f"{STEM}/blob.bin": os.urandom(3 << 20)})
    assert publish(local, inspect_many([rebuilt]))[0].outcome == "uploaded"


# --- progress displays ------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_display_choice() -> None:
    pipe, tty = io.StringIO(), _Terminal()
    assert isinstance(progress_for(stream=tty, environ={}), RichProgress)
    assert isinstance(progress_for(stream=pipe, environ={}), PlainProgress)
    assert isinstance(progress_for(stream=tty, environ={"CI": "true"}), PlainProgress)
    assert isinstance(progress_for(stream=tty, environ={"TERM": "dumb"}), PlainProgress)
    assert isinstance(progress_for(stream=tty, environ={"CI": "false"}), RichProgress)
    assert isinstance(progress_for(quiet=True, stream=tty, environ={}), NullProgress)
    assert isinstance(progress_for("plain", stream=tty), PlainProgress)
    assert isinstance(progress_for("rich", stream=pipe), RichProgress)


def test_plain_lines_in_a_ci_log(local: Target, release: list[Distribution]) -> None:
    assert local.local is not None
    local.local.fail_next_uploads(1, 503)
    log = io.StringIO()

    publish(local, release, progress=progress_for(stream=log, environ={"CI": "true"}), jobs=1)

    lines = log.getvalue().splitlines()
    assert lines[0].startswith(f"uploading {len(release)} files (")
    assert any(" attempt 1 failed (503 " in line and "retrying in" in line for line in lines)
    uploaded = [line for line in lines if line.startswith("uploaded ")]
    assert [line.split()[1] for line in uploaded] == [d.filename for d in sorted(release, key=lambda d: (not d.is_wheel, d.filename))]
    assert lines[-1].startswith(f"done: {len(release)} uploaded;")
    assert all("\r" not in line and "\x1b" not in line for line in lines)

    log = io.StringIO()
    publish(local, release, progress=progress_for(stream=log, environ={"CI": "true"}))
    assert log.getvalue().count("already on the index: ") == len(release)


def test_plain_reports_long_transfers_so_they_do_not_look_hung() -> None:
    log = io.StringIO()
    plain = PlainProgress(log, interval=0.0)
    plain.begin([("big.whl", 300_000_000)])
    plain.attempt("big.whl", 300_000_000, 1)
    plain.sent("big.whl", 150_000_000)
    assert log.getvalue().splitlines()[1:] == ["sending big.whl (300.0 MB)", "sending big.whl: 150.0 MB of 300.0 MB (50%)"]


def test_rich_bars_on_a_terminal(
    local: Target, release: list[Distribution], monkeypatch: pytest.MonkeyPatch
) -> None:
    # rich reads the environment itself: make it an ordinary interactive terminal here.
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "CI"):
        monkeypatch.delenv(name, raising=False)
    screen = _Terminal()
    display = progress_for(stream=screen, environ={})
    assert isinstance(display, RichProgress)

    publish(local, release, progress=display)

    text = screen.getvalue()
    for dist in release:
        assert f"uploaded {dist.filename}" in text
    assert "\x1b[" in text and f"{len(release)} files" in text  # a drawn bar, not log lines


def test_quiet_shows_nothing(local: Target, release: list[Distribution], capsys: pytest.CaptureFixture[str]) -> None:
    publish(local, release, progress=progress_for(quiet=True))
    assert capsys.readouterr() == ("", "")


def test_bytes_are_reported_as_they_stream(local: Target, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, STEM, VERSION, tag=EXTRA_TAGS[2], extra_files={f"{STEM}/blob.bin": os.urandom(5 << 20)})
    dists = inspect_many([wheel])
    recorder = Recorder()
    seen: list[int] = []
    transport = Transport()
    engine = UploadEngine(
        NativeUploader(transport, progress=lambda name, n: seen.append(n)),
        lookup=SimpleIndex(transport, local.simple_url),
        progress=recorder,
    )

    engine.upload(dists, local.request_for())

    chunks = [e[2] for e in recorder.of("sent")]
    assert sum(chunks) == sum(seen) == wheel.stat().st_size
    assert len(chunks) >= 5 and max(chunks) <= 1 << 20


def test_upload_path_imports_nothing_heavy() -> None:
    """Start-up is most of a small release's time: no rich, sigstore or readme_renderer on this path."""
    code = textwrap.dedent(
        """
        import io, sys
        from trustpub.transport import Transport
        from trustpub.dists import inspect_many
        from trustpub.upload.engine import UploadEngine
        from trustpub.upload.native import NativeUploader
        from trustpub.upload.progress import progress_for
        from trustpub.upload.simple import SimpleIndex
        progress_for(stream=io.StringIO())
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "sigstore", "readme_renderer", "pypi_attestations"))
        print(",".join(heavy))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


# --- credentials ----------------------------------------------------------------------------


def test_wrong_credentials_are_final_and_never_echoed(target: Target, release: list[Distribution]) -> None:
    bad = Target(target.kind, target.upload_url, target.simple_url, target.username, "wrong-Secret-4711")
    recorder = Recorder()

    with pytest.raises(UploadRejected) as info:
        publish(bad, _one_wheel(release), progress=recorder)

    assert info.value.status in (401, 403) and not info.value.retryable
    assert recorder.of("retrying") == []
    assert "wrong-Secret-4711" not in str(info.value) + (info.value.hint or "")
    assert target.contents() == {}


def test_two_devpi_indexes_of_one_user_are_independent(devpi_session: RunningIndex, release: list[Distribution]) -> None:
    first = _running(create_devpi_index(devpi_session, f"one-{uuid.uuid4().hex[:8]}"))
    second = _running(create_devpi_index(devpi_session, f"two-{uuid.uuid4().hex[:8]}"))
    publish(first, release[:2])
    results = publish(second, release)
    assert {r.outcome for r in results} == {"uploaded"}
    assert_holds_exactly(first, release[:2])
    assert_holds_exactly(second, release)
