"""The real index servers the suite uploads to: they start, authenticate, store, serve, stop.

These tests also pin down the server behaviour the upload engine relies on (which
simple-API format each one speaks, and how it answers a bad password), so a server
upgrade that changes it fails here first, with a clear name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import servers
from tests.distfactory import make_sdist, make_wheel
from tests.servers import RunningIndex, devpi, pip_download, pypiserver, twine_upload

pytestmark = pytest.mark.slow

_JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(params=["pypiserver", "devpi"])
def index(request: pytest.FixtureRequest) -> RunningIndex:
    """A clean index on each kind of server."""
    fixture = {"pypiserver": "pypiserver_index", "devpi": "devpi_index"}[request.param]
    result: RunningIndex = request.getfixturevalue(fixture)
    return result


def _get(url: str, accept: str) -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers.get("Content-Type", ""), response.read()


def test_twine_upload_lands_and_pip_downloads_same_bytes(
    index: RunningIndex, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel, sdist = make_wheel(dist), make_sdist(dist)

    done = twine_upload(index, wheel, sdist)

    assert done.returncode == 0, done.stdout + done.stderr
    if index.packages_dir is not None:
        assert sorted(p.name for p in index.packages_dir.iterdir()) == sorted(
            [wheel.name, sdist.name]
        )
    (fetched,) = pip_download(index, "demo_pkg==1.0.0", tmp_path / "down")
    assert fetched.name == wheel.name
    assert fetched.read_bytes() == wheel.read_bytes()


def test_wrong_password_is_refused_and_nothing_lands(index: RunningIndex, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, version="2.0.0")

    done = twine_upload(index, wheel, password="not-the-password")

    assert done.returncode != 0
    # pypiserver: 403 without a challenge; devpi: 401 with one (registries.md §4).
    expected = {"pypiserver": "403", "devpi": "401"}[index.kind]
    assert expected in done.stdout + done.stderr
    if index.packages_dir is not None:
        assert list(index.packages_dir.iterdir()) == []
    with pytest.raises(AssertionError, match="pip download"):
        pip_download(index, "demo_pkg==2.0.0", tmp_path / "down")


def test_indexes_are_isolated_per_test(index: RunningIndex) -> None:
    """The function-scoped fixtures hand out an empty index (uploads above are gone)."""
    try:
        _get(f"{index.simple_url}demo-pkg/", "text/html")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    else:
        pytest.fail("demo-pkg is still on a supposedly fresh index")


def test_simple_api_formats(index: RunningIndex, tmp_path: Path) -> None:
    """What "which files exist, with which sha256" looks like on each server.

    pypiserver 2.4.2 ignores ``Accept`` and always answers PEP 503 HTML with
    ``#sha256=`` fragments; devpi 6.20 answers PEP 691 JSON v1 (sha256 only) and
    HTML otherwise.
    """
    wheel = make_wheel(tmp_path)
    assert twine_upload(index, wheel).returncode == 0
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()

    content_type, body = _get(f"{index.simple_url}demo-pkg/", f"{_JSON}, text/html;q=0.1")

    if index.kind == "pypiserver":
        assert content_type.startswith("text/html")
        assert f"{wheel.name}#sha256={sha256}".encode() in body
    else:
        assert content_type == _JSON
        doc = json.loads(body)
        assert doc["meta"]["api-version"] == "1.0"
        assert doc["files"] == [
            {
                "filename": wheel.name,
                "url": doc["files"][0]["url"],
                "hashes": {"sha256": sha256},
                "requires-python": "",
            }
        ]


@pytest.mark.parametrize("start", [pypiserver, devpi], ids=["pypiserver", "devpi"])
def test_stop_closes_port_and_ends_process(
    start: Callable[[Path], contextlib.AbstractContextManager[RunningIndex]], tmp_path: Path
) -> None:
    with start(tmp_path) as running:
        port = int(running.base_url.rsplit(":", 1)[1].strip("/"))
        pid = running.pid
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass

    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=5),
    ):
        pass
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _python_server(ignore_sigterm: bool) -> Callable[[int], list[str]]:
    code = (
        "import http.server, signal, sys\n"
        + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_sigterm else "")
        + "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])),"
        " http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    return lambda port: [sys.executable, "-c", code, str(port)]


def test_server_ignoring_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "STOP_TIMEOUT", 0.5)
    with servers._serve(_python_server(ignore_sigterm=True), "/", tmp_path / "log") as (port, proc):
        pid = proc.pid

    assert proc.returncode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=5),
    ):
        pass


def test_server_that_dies_at_start_reports_its_log(tmp_path: Path) -> None:
    def argv(port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('cannot bind, giving up'); sys.exit(3)"]

    with (
        pytest.raises(servers.ServerStartError, match="cannot bind, giving up"),
        servers._serve(argv, "/", tmp_path / "log"),
    ):
        pytest.fail("must not start")
    # tried again on new ports, in case the port was taken between probe and bind
    assert (tmp_path / "log").read_text().count("cannot bind") == servers._START_ATTEMPTS
