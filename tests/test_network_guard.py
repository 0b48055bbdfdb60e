import socket

import pytest

from tests.conftest import PublicNetworkBlocked


def test_public_address_is_refused() -> None:
    with socket.socket() as s, pytest.raises(PublicNetworkBlocked):
        s.connect(("151.101.0.223", 443))  # a public PyPI address


def test_public_name_is_refused() -> None:
    with pytest.raises(PublicNetworkBlocked):
        socket.getaddrinfo("upload.pypi.org", 443)


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
