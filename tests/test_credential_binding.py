"""Credentials are bound to their index: ``trustpub publish`` as a user runs it, to a real pypiserver.

Every test builds the demo project with hatchling, writes a real ``.pypirc`` in a
temporary HOME where it needs one, and runs the real CLI in a subprocess whose
``HTTPS_PROXY``/``HTTP_PROXY`` point at a dead proxy on 127.0.0.1 (it accepts and
hangs up at once, and notes what was asked of it), with ``NO_PROXY`` letting only
loopback through directly. So a request toward PyPI or any other non-local host
can only reach the dead proxy and fail loudly, never escape; and the test can say
where the bytes went: the pypiserver's storage folder, and the proxy's notes.

The secret of every test is checked to appear nowhere: stdout, stderr, the JSON
document, the journal and every other file trustpub wrote.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.distfactory import build_demo
from tests.servers import RunningIndex

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TRUSTPUB = [sys.executable, "-m", "trustpub"]
_DROPPED_PREFIXES = ("TRUSTPUB_", "TWINE_", "PYPI_", "GITHUB_", "GITLAB", "ACTIONS_", "PYTHON_KEYRING", "UV_", "PIP_")


@dataclass
class DeadProxy:
    """A proxy that answers nothing: accepts, records the request line, hangs up."""

    url: str
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def dead_proxy() -> Iterator[DeadProxy]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    proxy = DeadProxy(f"http://127.0.0.1:{server.getsockname()[1]}")
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    proxy.seen.append(conn.recv(4096).decode("latin-1").split("\r\n", 1)[0])
                except OSError:
                    proxy.seen.append("?")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield proxy
    stop.set()
    thread.join(5)
    server.close()


@pytest.fixture(scope="session")
def demo_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/demo built by hatchling: one wheel and one sdist."""
    out = tmp_path_factory.mktemp("demo-release")
    build_demo(out, timeout=300)
    return out


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    tmp: Path
    elapsed: float

    @property
    def doc(self) -> dict[str, object]:
        parsed: dict[str, object] = json.loads(self.proc.stdout)
        return parsed

    def written(self) -> str:
        """Every file trustpub could have written (state, home, working folder), as text."""
        chunks = []
        for root in (self.tmp / "state", self.tmp / "home", self.tmp / "work"):
            for path in sorted(root.rglob("*")) if root.exists() else []:
                if path.is_file() and path.name not in (".pypirc", "keyring.json"):
                    chunks.append(f"--- {path}\n{path.read_text(errors='replace')}")
        return "\n".join(chunks)

    def returncode_is_refusal(self) -> bool:
        return self.proc.returncode == 1 and "Traceback" not in self.proc.stderr

    def assert_secret_nowhere(self, *secrets: str) -> None:
        everything = "\n".join([self.proc.stdout, self.proc.stderr, self.written()])
        for secret in secrets:
            assert secret not in everything


class Publisher:
    """Runs ``trustpub publish`` in a subprocess, as a user in a fresh HOME would."""

    def __init__(self, tmp: Path, proxy: DeadProxy, release: Path) -> None:
        self.tmp = tmp
        self.proxy = proxy
        self.home = tmp / "home"
        self.home.mkdir()
        (tmp / "work").mkdir()
        self.dist = tmp / "work" / "dist"
        shutil.copytree(release, self.dist)

    def pypirc(self, text: str) -> None:
        (self.home / ".pypirc").write_text(text)

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if not k.upper().startswith(_DROPPED_PREFIXES) and k.upper() not in ("CI", "PYPIRC", "NO_PROXY")
            and not k.lower().endswith("_proxy")
        }  # fmt: skip
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_DATA_HOME=str(self.home / ".local/share"),
            TRUSTPUB_STATE_DIR=str(self.tmp / "state"),
            HTTPS_PROXY=self.proxy.url, HTTP_PROXY=self.proxy.url,
            https_proxy=self.proxy.url, http_proxy=self.proxy.url,
            NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
            # The checkout's own sources first, and the repository for tests.keyring_backends.
            PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
        )  # fmt: skip
        env.update(extra)
        return env

    def run(self, *args: str, env: Mapping[str, str] | None = None, stdin: int | None = subprocess.DEVNULL) -> Run:
        started = time.monotonic()
        proc = subprocess.run(
            [*TRUSTPUB, "publish", "--json", "--no-attestations", *args, str(self.dist)],
            env=self.env(env or {}), cwd=self.tmp / "work", capture_output=True, text=True, timeout=120, stdin=stdin,
        )
        return Run(proc, self.tmp, time.monotonic() - started)

    def landed(self, index: RunningIndex) -> set[str]:
        assert index.packages_dir is not None
        return {p.name for p in index.packages_dir.iterdir()}

    @property
    def files(self) -> set[str]:
        return {p.name for p in self.dist.iterdir()}


@pytest.fixture
def user(tmp_path: Path, dead_proxy: DeadProxy, demo_release: Path) -> Publisher:
    return Publisher(tmp_path, dead_proxy, demo_release)


def _section(name: str, index: RunningIndex, *, password: bool = True) -> str:
    text = f"[{name}]\nrepository = {index.upload_url}\nusername = {index.username}\n"
    return text + (f"password = {index.password}\n" if password else "")


# --------------------------------------------------------------------------- item 1: --repository


def test_repository_section_url_is_the_target(user: Publisher, pypiserver_index: RunningIndex) -> None:
    user.pypirc("[distutils]\nindex-servers = private\n\n" + _section("private", pypiserver_index))
    run = user.run("--repository", "private")
    assert run.proc.returncode == 0, run.proc.stderr
    assert user.landed(pypiserver_index) == user.files
    assert run.doc["upload_url"] == pypiserver_index.upload_url
    assert run.doc["credentials"] == f"username '{pypiserver_index.username}' and password from .pypirc [private]"
    assert user.proxy.seen == []  # nothing went toward PyPI, or anywhere else
    run.assert_secret_nowhere(pypiserver_index.password)


def test_the_dead_proxy_catches_a_request_toward_pypi(user: Publisher) -> None:
    # The harness itself: a run aimed at PyPI reaches only the dead proxy, and fails.
    run = user.run(env={"TRUSTPUB_TOKEN": "pypi-CANARYdeadPROXYtoken0123456789"})
    assert run.proc.returncode != 0
    assert user.proxy.seen and all(line.startswith("CONNECT pypi.org:443") for line in user.proxy.seen)
    run.assert_secret_nowhere("pypi-CANARYdeadPROXYtoken0123456789")


def test_a_token_section_goes_to_its_own_index_only(user: Publisher, pypiserver_index: RunningIndex) -> None:
    # A token in a section for another index: the index refuses it (pypiserver knows no
    # __token__ user), and the token went there, never toward PyPI.
    token = "pypi-CANARYsectionTOKEN0123456789abcdef"
    user.pypirc(f"[private]\nrepository = {pypiserver_index.upload_url}\nusername = __token__\npassword = {token}\n")
    run = user.run("--repository", "private")
    assert run.returncode_is_refusal()
    assert user.proxy.seen == []
    assert pypiserver_index.upload_url in run.proc.stderr and "403" in run.proc.stderr
    assert user.landed(pypiserver_index) == set()
    run.assert_secret_nowhere(token)


def test_repository_and_a_disagreeing_to_is_an_error(user: Publisher, pypiserver_index: RunningIndex) -> None:
    user.pypirc(_section("private", pypiserver_index))
    run = user.run("--repository", "private", "--to", "pypi")
    assert run.proc.returncode == 2
    assert "--to pypi and --repository private disagree" in run.proc.stderr
    assert f"is for {pypiserver_index.upload_url}" in run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    assert user.landed(pypiserver_index) == set() and user.proxy.seen == []
    run.assert_secret_nowhere(pypiserver_index.password)
    agreeing = user.run("--repository", "private", "--to", pypiserver_index.upload_url.rstrip("/"))
    assert agreeing.proc.returncode == 0, agreeing.proc.stderr
    assert user.landed(pypiserver_index) == user.files


def test_a_pypi_section_pointing_elsewhere_is_never_sent_to_pypi(user: Publisher, pypiserver_index: RunningIndex) -> None:
    # [pypi] names another index: its password belongs there, so a default run (PyPI)
    # finds no credentials instead of sending it to upload.pypi.org.
    user.pypirc(_section("pypi", pypiserver_index))
    run = user.run()
    assert run.proc.returncode == 2
    assert "no credentials for pypi" in run.proc.stderr
    assert user.proxy.seen == []
    run.assert_secret_nowhere(pypiserver_index.password)
    # Named explicitly, the section's URL is the target again.
    named = user.run("--repository", "pypi")
    assert named.proc.returncode == 0, named.proc.stderr
    assert user.landed(pypiserver_index) == user.files and user.proxy.seen == []


def test_section_without_url_is_refused(user: Publisher, pypiserver_index: RunningIndex) -> None:
    user.pypirc(f"[private]\nusername = {pypiserver_index.username}\npassword = {pypiserver_index.password}\n")
    run = user.run("--repository", "private")
    assert run.proc.returncode == 2
    assert "the [private] section of" in run.proc.stderr and "has no repository URL" in run.proc.stderr
    assert user.proxy.seen == [] and user.landed(pypiserver_index) == set()
    run.assert_secret_nowhere(pypiserver_index.password)


# --------------------------------------------------------------------------- item 2: twine's variables


def test_twine_repository_url_and_credentials(user: Publisher, pypiserver_index: RunningIndex) -> None:
    run = user.run(env={
        "TWINE_REPOSITORY_URL": pypiserver_index.upload_url,
        "TWINE_USERNAME": pypiserver_index.username,
        "TWINE_PASSWORD": pypiserver_index.password,
    })  # fmt: skip
    assert run.proc.returncode == 0, run.proc.stderr
    assert user.landed(pypiserver_index) == user.files and user.proxy.seen == []
    assert run.doc["credentials"] == (
        f"username '{pypiserver_index.username}' and password from TWINE_USERNAME/TWINE_PASSWORD"
    )
    run.assert_secret_nowhere(pypiserver_index.password)


def test_twine_repository_names_a_pypirc_section(user: Publisher, pypiserver_index: RunningIndex) -> None:
    user.pypirc(_section("private", pypiserver_index))
    run = user.run(env={"TWINE_REPOSITORY": "private"})
    assert run.proc.returncode == 0, run.proc.stderr
    assert user.landed(pypiserver_index) == user.files and user.proxy.seen == []
    assert run.doc["credentials"].endswith("from .pypirc [private]")  # type: ignore[union-attr]
    run.assert_secret_nowhere(pypiserver_index.password)


def test_twine_credentials_stay_with_twines_index(user: Publisher, pypiserver_index: RunningIndex) -> None:
    # TWINE_PASSWORD belongs to TWINE_REPOSITORY_URL's index; --to names another one.
    other = "http://127.0.0.1:9/legacy/"
    run = user.run("--to", pypiserver_index.upload_url, env={
        "TWINE_REPOSITORY_URL": other,
        "TWINE_USERNAME": pypiserver_index.username,
        "TWINE_PASSWORD": pypiserver_index.password,
    })  # fmt: skip
    assert run.proc.returncode == 2
    assert "TWINE_USERNAME/TWINE_PASSWORD were not used: they go with TWINE_REPOSITORY_URL" in run.proc.stderr
    assert user.landed(pypiserver_index) == set()
    run.assert_secret_nowhere(pypiserver_index.password)


def test_trustpub_variables_come_before_twines(user: Publisher, pypiserver_index: RunningIndex) -> None:
    run = user.run("--to", pypiserver_index.upload_url, env={
        "TRUSTPUB_USERNAME": pypiserver_index.username,
        "TRUSTPUB_PASSWORD": pypiserver_index.password,
        "TWINE_USERNAME": "someone-else",
        "TWINE_PASSWORD": "twine-wrong-password-CANARY",
    })  # fmt: skip
    assert run.proc.returncode == 0, run.proc.stderr
    assert "TRUSTPUB_USERNAME/TRUSTPUB_PASSWORD" in run.doc["credentials"]  # type: ignore[operator]
    run.assert_secret_nowhere(pypiserver_index.password, "twine-wrong-password-CANARY")


# --------------------------------------------------------------------------- item 2: the keyring


def _keyring_env(user: Publisher, backend: str, store: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str]:
    if store is not None:
        (user.tmp / "keyring.json").write_text(json.dumps(store))
    return {
        "PYTHON_KEYRING_BACKEND": f"tests.keyring_backends.{backend}",
        "TP_KEYRING_STORE": str(user.tmp / "keyring.json"),
        "TP_KEYRING_LOG": str(user.tmp / "keyring.log"),
    }


def _keyring_log(user: Publisher) -> list[str]:
    log = user.tmp / "keyring.log"
    return log.read_text().splitlines() if log.exists() else []


def test_keyring_password_for_the_index(user: Publisher, pypiserver_index: RunningIndex) -> None:
    index = pypiserver_index
    env = {
        **_keyring_env(user, "StoreKeyring", {index.upload_url: {index.username: index.password}}),
        "TRUSTPUB_USERNAME": index.username,
    }
    # Off by default: the keyring is not asked, and the error says how to turn it on.
    off = user.run("--to", index.upload_url, env=env)
    assert off.proc.returncode == 2
    assert "--keyring-provider import" in off.proc.stderr and _keyring_log(user) == []
    assert user.landed(index) == set()

    run = user.run("--to", index.upload_url, "--keyring-provider", "import", env=env)
    assert run.proc.returncode == 0, run.proc.stderr
    assert user.landed(index) == user.files and user.proxy.seen == []
    assert run.doc["credentials"] == f"username '{index.username}' and password from the keyring ({index.upload_url})"
    assert _keyring_log(user) == [f"StoreKeyring {index.upload_url} {index.username}"]
    run.assert_secret_nowhere(index.password)


def test_keyring_via_environment_and_a_pypirc_section_without_password(
    user: Publisher, pypiserver_index: RunningIndex
) -> None:
    index = pypiserver_index
    host = index.upload_url.split("//", 1)[1].split("/", 1)[0].split(":")[0]
    user.pypirc(_section("private", index, password=False))
    env = {
        **_keyring_env(user, "StoreKeyring", {host: {index.username: index.password}}),
        "TRUSTPUB_KEYRING_PROVIDER": "import",
    }
    run = user.run("--repository", "private", env=env)
    assert run.proc.returncode == 0, run.proc.stderr
    assert user.landed(index) == user.files
    # twine's service name (the upload URL) first, then the host, as pip and uv store it.
    assert _keyring_log(user)[0] == f"StoreKeyring {index.upload_url} {index.username}"
    assert _keyring_log(user)[-1] == f"StoreKeyring {host} {index.username}"
    run.assert_secret_nowhere(index.password)


def test_a_hanging_keyring_is_cut_off(user: Publisher, pypiserver_index: RunningIndex) -> None:
    env = {
        **_keyring_env(user, "HangingKeyring"),
        "TRUSTPUB_USERNAME": pypiserver_index.username,
        "TRUSTPUB_KEYRING_TIMEOUT": "1",
    }
    run = user.run("--to", pypiserver_index.upload_url, "--keyring-provider", "import", env=env)
    assert run.proc.returncode == 2
    assert "keyring skipped: the keyring did not answer within 1 s" in run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    assert run.elapsed < 30  # the 1 s bound, plus interpreter start-up; never the backend's hour
    assert _keyring_log(user) == [f"HangingKeyring {pypiserver_index.upload_url} {pypiserver_index.username}"]
    assert user.landed(pypiserver_index) == set()


def test_a_prompting_keyring_is_not_used_without_a_terminal(user: Publisher, pypiserver_index: RunningIndex) -> None:
    index = pypiserver_index
    env = {
        **_keyring_env(user, "PromptingKeyring", {index.upload_url: {index.username: index.password}}),
        "TRUSTPUB_USERNAME": index.username,
    }
    run = user.run("--to", index.upload_url, "--keyring-provider", "import", env=env)
    assert run.proc.returncode == 2
    assert "may prompt, and there is no terminal to answer it" in run.proc.stderr
    assert _keyring_log(user) == [] and user.landed(index) == set()
    # With a terminal on stdin, the same backend is asked (a human could answer it).
    leader, follower = pty.openpty()
    try:
        tty = user.run("--to", index.upload_url, "--keyring-provider", "import", env=env, stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert tty.proc.returncode == 0, tty.proc.stderr
    assert _keyring_log(user) == [f"PromptingKeyring {index.upload_url} {index.username}"]
    assert user.landed(index) == user.files
    tty.assert_secret_nowhere(index.password)


# --------------------------------------------------------------------------- item 5: user:password@ in the URL


def _with_userinfo(index: RunningIndex, userinfo: str) -> str:
    scheme, rest = index.upload_url.split("//", 1)
    return f"{scheme}//{userinfo}@{rest}"


def test_userinfo_in_the_url_is_the_credential_and_never_shown(user: Publisher, pypiserver_index: RunningIndex) -> None:
    index = pypiserver_index
    url = _with_userinfo(index, f"{index.username}:{index.password}")
    plan = user.run("--to", url, "--dry-run")
    assert plan.proc.returncode == 0, plan.proc.stderr
    assert plan.doc["upload_url"] == index.upload_url
    plan.assert_secret_nowhere(index.password, url)

    run = user.run("--to", url, "-v")
    assert run.proc.returncode == 0, run.proc.stderr
    assert user.landed(index) == user.files and user.proxy.seen == []
    assert run.doc["upload_url"] == index.upload_url and run.doc["registry"] == index.upload_url
    assert run.doc["credentials"] == f"username '{index.username}' and password from the --to URL"
    assert "can be read by other users of this machine" in run.proc.stderr
    run.assert_secret_nowhere(index.password, url, f"{index.username}:")
    journals = list((user.tmp / "state").rglob("*.json"))
    assert journals and all(json.loads(j.read_text()).get("registry") in (None, index.upload_url) for j in journals)


def test_userinfo_with_trusted_publishing_is_refused(user: Publisher, pypiserver_index: RunningIndex) -> None:
    url = _with_userinfo(pypiserver_index, f"{pypiserver_index.username}:{pypiserver_index.password}")
    run = user.run("--to", url, "--credentials", "trusted-publishing")
    assert run.proc.returncode == 2
    assert "the --to URL carries a user name or password" in run.proc.stderr
    assert user.landed(pypiserver_index) == set()
    run.assert_secret_nowhere(pypiserver_index.password, url)
