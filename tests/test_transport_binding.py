"""A credential for a loopback index never crosses the network through a proxy elsewhere.

Plain http is accepted for 127.0.0.1 because it never leaves the machine; a proxy on
another host, named by HTTP_PROXY, would relay it (Authorization and all) in clear
text. The transport refuses that before connecting. (The loopback proxy case, which
stays on the machine, is tests/test_transport.py's proxy test.)
"""

from __future__ import annotations

import pytest

from trustpub.secrets import Secret
from trustpub.transport import InsecureTransport, Transport, TransportError

LOCAL = "http://127.0.0.1:9/legacy/"


@pytest.fixture
def remote_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.net:3128")


@pytest.mark.usefixtures("remote_proxy")
def test_loopback_credentials_are_not_relayed_by_a_remote_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InsecureTransport, match=r"over plain http through the proxy 'proxy\.example\.net'") as info:
        Transport().request("POST", LOCAL, authorization=Secret("Basic dXNlcjpDQU5BUlktcHJveHk="), body=b"x")
    assert "CANARY" not in str(info.value) and "dXNlcjpDQU5BUlktcHJveHk" not in str(info.value)
    assert "add 127.0.0.1 to NO_PROXY" in str(info.value)
    # Listed in NO_PROXY, the request goes straight to 127.0.0.1 (nobody listens on port 9).
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with pytest.raises(TransportError) as direct:
        Transport().request("POST", LOCAL, authorization=Secret("Basic dXNlcjpDQU5BUlktcHJveHk="), body=b"x")
    assert not isinstance(direct.value, InsecureTransport)
