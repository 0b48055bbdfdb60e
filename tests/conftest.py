"""Test-session guards shared by every test.

No test may reach a public index: sockets to any address outside 127.0.0.0/8 (and
::1) are refused for the whole session, so a mistake fails loudly instead of
uploading. Subprocesses get the same protection from their own explicit 127.0.0.1
URLs; the guard here covers in-process code.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Real pypiserver and devpi-server fixtures (started on 127.0.0.1 by the tests).
pytest_plugins = ["tests.servers", "tests.identity"]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class PublicNetworkBlocked(RuntimeError):
    """Raised when a test tries to reach an address outside loopback."""


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family == socket.AF_UNIX:
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback(host):
        raise PublicNetworkBlocked(f"test tried to connect to {address!r}; only 127.0.0.0/8 is allowed")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not _is_loopback(host):
        raise PublicNetworkBlocked(f"test tried to resolve {host!r}; only 127.0.0.0/8 is allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


# Tests talk to 127.0.0.1 servers directly: a proxy from the machine's environment
# (which the transport honours, as pip and twine do) must not sit in between.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep sigstore's TUF cache and any config out of the real home folder."""
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")}
    os.environ["HOME"] = str(home)
    os.environ["XDG_CACHE_HOME"] = str(home / ".cache")
    os.environ["XDG_DATA_HOME"] = str(home / ".local/share")
    os.environ["XDG_CONFIG_HOME"] = str(home / ".config")
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The workplace's shared folder (corpora and docs), read in place, never copied."""
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED}")
    return SHARED
