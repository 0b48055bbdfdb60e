"""Real pypiserver and devpi-server processes on loopback, for tests that upload.

Usage (a context manager, or the pytest fixtures at the end of this module)::

    with pypiserver(tmp_path) as index:
        twine_upload(index.upload_url, index.username, index.password, wheel)
        pip_download(index.simple_url, "demo_pkg==1.0.0")

Register the fixtures with ``pytest_plugins = ["tests.servers"]`` in the root
``conftest.py``. ``pypiserver_session`` and ``devpi_session`` start one server per
test session, lazily; ``pypiserver_index`` and ``devpi_index`` hand each test a clean
index on that server (an emptied packages folder, or a new devpi index), which costs
milliseconds instead of a server start.

Every server binds 127.0.0.1 on a free port, runs in its own process session with
its data under the given temp folder, needs credentials for uploads only (listing
and downloading stay anonymous, like PyPI), and is stopped by PID: SIGTERM, then
SIGKILL to its process group when it does not exit within a few seconds.

Why the odd options (measured in ``/work/shared/docs/registries.md``):

- devpi derives its token-signing key with argon2 (512 MiB, t=16): 11 s and 580 MB
  per start on two cores. The hidden ``--argon2-*`` options make that cheap; they
  do not touch user password hashes.
- devpi checks a real password with argon2id (64 MiB, t=3) on *every* request,
  about 0.25 s of server CPU per upload. The login token from ``POST /+login`` is
  accepted as the Basic-auth password and skips that, so ``RunningIndex.password``
  is the token for devpi.
- devpi indexes are volatile (overwritable) by default; ours are not, so devpi
  refuses changed bytes like PyPI does.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

__all__ = [
    "RunningIndex",
    "ServerStartError",
    "create_devpi_index",
    "devpi",
    "devpi_index",
    "devpi_session",
    "pip_download",
    "pypiserver",
    "pypiserver_index",
    "pypiserver_session",
    "reset_pypiserver",
    "twine_upload",
]

#: Bounds for readiness polling and for shutdown, in seconds.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.02
_START_ATTEMPTS = 3

_BIN = Path(sys.executable).parent


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class RunningIndex:
    """A started index, with everything a client needs to upload to it and read it back."""

    kind: Literal["pypiserver", "devpi"]
    #: The legacy upload URL (pypiserver: ``http://127.0.0.1:PORT/``; devpi:
    #: ``http://127.0.0.1:PORT/USER/INDEX/``).
    upload_url: str
    #: The simple index root for pip and ``uv publish --check-url`` (``.../simple/``,
    #: devpi: ``.../USER/INDEX/+simple/``).
    simple_url: str
    username: str
    #: pypiserver: the htpasswd password. devpi: the login token (see module docstring).
    password: str = dataclasses.field(repr=False)
    #: pypiserver's storage folder (files land there under their own names).
    packages_dir: Path | None
    #: ``http://127.0.0.1:PORT/``: the server root, for raw requests.
    base_url: str
    #: The server process, for tests that check it is gone after stop.
    pid: int


# --- process handling --------------------------------------------------------------


def _free_port() -> int:
    """A port that was free a moment ago; the start is retried if someone takes it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _executable(name: str) -> str:
    """The console script from this interpreter's environment, else from PATH."""
    candidate = _BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServerStartError(f"{name!r} not found next to {sys.executable} nor on PATH")
    return found


def _server_env() -> dict[str, str]:
    """The environment for server processes: quiet, and no proxy between us and loopback."""
    env = dict(os.environ)
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(key, None)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _log_tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, a bounded wait, then SIGKILL to the server's process group."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The leader is alive and unreaped, so its group id is still ours: the server
        # leads its own group (start_new_session), and anything it forked goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail fast if the process exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(
                f"server exited with {proc.returncode} before {url} answered:\n{_log_tail(log)}"
            )
        if _http_ok(url):
            return
        time.sleep(_POLL_INTERVAL)
    raise ServerStartError(f"{url} not ready after {START_TIMEOUT:.0f} s:\n{_log_tail(log)}")


@contextlib.contextmanager
def _serve(
    argv_for_port: Callable[[int], list[str]], ready_path: str, log: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Start ``argv_for_port(port)`` until one attempt gets ready; stop it on exit.

    A free port can be taken between our probe and the server's bind; then the
    server exits at once and another port is tried.
    """
    proc: subprocess.Popen[bytes] | None = None
    port = 0
    for attempt in range(1, _START_ATTEMPTS + 1):
        port = _free_port()
        with log.open("ab") as log_file:
            proc = subprocess.Popen(
                argv_for_port(port),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=_server_env(),
                start_new_session=True,
            )
        try:
            _wait_ready(proc, f"http://127.0.0.1:{port}{ready_path}", log)
        except ServerStartError:
            exited_early = proc.poll() is not None
            _stop(proc)
            if attempt == _START_ATTEMPTS or not exited_early:
                raise
            continue
        except BaseException:  # Ctrl-C while waiting: leave no server behind
            _stop(proc)
            raise
        break
    assert proc is not None
    try:
        yield port, proc
    finally:
        _stop(proc)


# --- pypiserver ----------------------------------------------------------------------


def _write_htpasswd(path: Path, username: str, password: str) -> None:
    with warnings.catch_warnings():  # passlib imports the deprecated stdlib crypt module
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.apache import HtpasswdFile  # type: ignore[import-untyped]

    htpasswd = HtpasswdFile(str(path), new=True)
    htpasswd.set_password(username, password)
    htpasswd.save()


@contextlib.contextmanager
def pypiserver(tmp: Path, *, overwrite: bool = False) -> Iterator[RunningIndex]:
    """pypiserver with uploads behind Basic auth; files are stored in ``tmp/packages``."""
    tmp.mkdir(parents=True, exist_ok=True)
    packages = tmp / "packages"
    packages.mkdir(exist_ok=True)
    username, password = "uploader", secrets.token_urlsafe(16)
    _write_htpasswd(tmp / "htpasswd", username, password)

    def argv(port: int) -> list[str]:
        # --disable-fallback: unknown projects must 404, never redirect to pypi.org.
        return [
            _executable("pypi-server"), "run",
            "--host", "127.0.0.1", "--port", str(port),
            "--authenticate", "update", "--passwords", str(tmp / "htpasswd"),
            "--disable-fallback", "--log-stream", "stderr",
            *(["--overwrite"] if overwrite else []),
            str(packages),
        ]  # fmt: skip

    with _serve(argv, "/health", tmp / "pypiserver.log") as (port, proc):
        base = f"http://127.0.0.1:{port}/"
        yield RunningIndex(
            kind="pypiserver",
            upload_url=base,
            simple_url=f"{base}simple/",
            username=username,
            password=password,
            packages_dir=packages,
            base_url=base,
            pid=proc.pid,
        )


def reset_pypiserver(index: RunningIndex) -> None:
    """Empty the packages folder; pypiserver has no cache here, so it sees that at once."""
    assert index.packages_dir is not None
    for entry in index.packages_dir.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


# --- devpi -------------------------------------------------------------------------------


def _devpi_request(
    method: str, url: str, body: dict[str, Any], auth: tuple[str, str] | None = None
) -> Any:
    """One devpi REST call; returns the ``result`` member of the JSON answer."""
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    if auth is not None:
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise ServerStartError(f"devpi {method} {url}: {exc.code} {exc.read()[:500]!r}") from exc
    return payload.get("result")


def _devpi_argv(server_dir: Path, secret_file: Path) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        # The --argon2-* options are hidden but real: see the module docstring.
        return [
            _executable("devpi-server"),
            "--serverdir", str(server_dir),
            "--host", "127.0.0.1", "--port", str(port),
            "--offline-mode", "--secretfile", str(secret_file),
            "--argon2-memory-cost", "8", "--argon2-time-cost", "1", "--argon2-parallelism", "1",
        ]  # fmt: skip

    return argv


def _devpi_init(tmp: Path) -> tuple[Path, Path]:
    server_dir = tmp / "server"
    argv = [
        _executable("devpi-init"),
        "--serverdir", str(server_dir),
        "--no-root-pypi",  # no mirror of pypi.org: nothing may reach the internet
        # "=" form: a random password may start with "-".
        f"--root-passwd={secrets.token_urlsafe(16)}",
    ]  # fmt: skip
    done = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=_server_env(),
        timeout=START_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise ServerStartError(f"devpi-init failed ({done.returncode}): {done.stderr[-2000:]!r}")
    secret_file = tmp / "secret"
    secret_file.write_bytes(base64.b64encode(os.urandom(32)))
    secret_file.chmod(0o600)
    return server_dir, secret_file


def create_devpi_index(index: RunningIndex, name: str) -> RunningIndex:
    """A new non-volatile (PyPI-like: no overwrites) index for the same user."""
    _devpi_request(
        "PUT",
        f"{index.base_url}{index.username}/{name}",
        {"bases": [], "volatile": False},
        auth=(index.username, index.password),
    )
    upload = f"{index.base_url}{index.username}/{name}/"
    return dataclasses.replace(index, upload_url=upload, simple_url=f"{upload}+simple/")


@contextlib.contextmanager
def devpi(tmp: Path) -> Iterator[RunningIndex]:
    """devpi-server with one user and one non-volatile index ``USER/dev``."""
    tmp.mkdir(parents=True, exist_ok=True)
    server_dir, secret_file = _devpi_init(tmp)
    with _serve(_devpi_argv(server_dir, secret_file), "/+api", tmp / "devpi.log") as (port, proc):
        base = f"http://127.0.0.1:{port}/"
        username, password = "uploader", secrets.token_urlsafe(16)
        # Anonymous users may create users on a fresh devpi (its default).
        _devpi_request("PUT", f"{base}{username}", {"password": password})
        login = _devpi_request("POST", f"{base}+login", {"user": username, "password": password})
        session = RunningIndex(
            kind="devpi",
            upload_url=base,
            simple_url=base,
            username=username,
            password=login["password"],
            packages_dir=None,
            base_url=base,
            pid=proc.pid,
        )
        yield create_devpi_index(session, "dev")


# --- clients ------------------------------------------------------------------------------


def _client_env() -> dict[str, str]:
    """No user config, proxies or index settings may redirect a client away from loopback."""
    env = {
        k: v
        for k, v in _server_env().items()
        if not k.upper().startswith(("PIP_", "TWINE_", "UV_"))
    }
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _require_loopback(url: str) -> str:
    # twine falls back to upload.pypi.org on an empty URL; refuse anything not local.
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"refusing a non-loopback index URL in tests: {url!r}")
    return url


def twine_upload(
    index: RunningIndex, *files: Path, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``twine upload`` to ``index`` with an explicit URL; the caller checks the result."""
    argv = [
        _executable("twine"), "upload",
        "--repository-url", _require_loopback(index.upload_url),
        # "=" forms: a random password may start with "-".
        f"--username={index.username}",
        f"--password={index.password if password is None else password}",
        "--non-interactive", "--disable-progress-bar",
        *map(str, files),
    ]  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, env=_client_env(), timeout=120, check=False
    )


def pip_download(index: RunningIndex, requirement: str, dest: Path) -> list[Path]:
    """``pip download --no-deps`` of one requirement from ``index``; returns the new files."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    argv = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
        "--index-url", _require_loopback(index.simple_url), "-d", str(dest), requirement,
    ]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, env=_client_env(), timeout=120, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"pip download {requirement} failed:\n{done.stdout}\n{done.stderr}")
    return sorted(set(dest.iterdir()) - before)


# --- pytest fixtures ----------------------------------------------------------------------

_index_names = itertools.count(1)


@pytest.fixture(scope="session")
def pypiserver_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIndex]:
    """One pypiserver for the whole test session (started on first use)."""
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as index:
        yield index


@pytest.fixture(scope="session")
def devpi_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIndex]:
    """One devpi-server for the whole test session (started on first use)."""
    with devpi(tmp_path_factory.mktemp("devpi")) as index:
        yield index


@pytest.fixture
def pypiserver_index(pypiserver_session: RunningIndex) -> RunningIndex:
    """The session's pypiserver, emptied for this test."""
    reset_pypiserver(pypiserver_session)
    return pypiserver_session


@pytest.fixture
def devpi_index(devpi_session: RunningIndex) -> RunningIndex:
    """A fresh non-volatile index on the session's devpi, for this test only."""
    return create_devpi_index(devpi_session, f"t{next(_index_names)}")
