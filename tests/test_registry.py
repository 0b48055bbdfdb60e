"""Registry URLs: what trustpub derives from --to, so nothing downstream builds URLs by hand."""

from __future__ import annotations

import pytest

from trustpub.errors import ConfigurationError
from trustpub.registry import Registry, RegistryKind


def test_pypi_and_testpypi() -> None:
    pypi = Registry.parse("pypi")
    assert pypi.kind is RegistryKind.PYPI
    assert pypi.upload_url == "https://upload.pypi.org/legacy/"
    assert pypi.audience_url == "https://upload.pypi.org/_/oidc/audience"
    assert pypi.mint_url == "https://upload.pypi.org/_/oidc/mint-token"
    assert pypi.simple_root() == "https://pypi.org/simple/"
    assert pypi.project_url("Demo", "1.0") == "https://pypi.org/project/Demo/1.0/"
    assert pypi.integrity_url("Demo_Pkg", "1.0", "demo_pkg-1.0.tar.gz") == (
        "https://pypi.org/integrity/demo-pkg/1.0/demo_pkg-1.0.tar.gz/provenance"
    )
    test = Registry.parse("https://test.pypi.org/legacy/")
    assert test.kind is RegistryKind.TESTPYPI
    assert test.simple_url("Demo_Pkg") == "https://test.pypi.org/simple/demo-pkg/"


@pytest.mark.parametrize(
    ("url", "upload", "simple_root"),
    [
        ("https://pypi.example.org/legacy", "https://pypi.example.org/legacy/", "https://pypi.example.org/simple/"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/simple/"),
        ("http://127.0.0.1:3141/octo/dev/", "http://127.0.0.1:3141/octo/dev/", "http://127.0.0.1:3141/octo/dev/+simple/"),
    ],
)
def test_custom_indexes(url: str, upload: str, simple_root: str) -> None:
    registry = Registry.parse(url)
    assert registry.kind is RegistryKind.CUSTOM
    assert registry.upload_url == upload
    assert registry.simple_root() == simple_root


def test_plain_http_is_secure_only_on_loopback() -> None:
    assert Registry.parse("http://127.0.0.1:8080/").is_secure
    assert Registry.parse("http://localhost/legacy/").is_secure
    assert not Registry.parse("http://pypi.example.org/legacy/").is_secure
    assert Registry.parse("https://pypi.example.org/legacy/").is_secure


@pytest.mark.parametrize("value", ["ftp://example.org/", "pypy", "example.org/legacy/"])
def test_unknown_index_is_a_usage_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown index"):
        Registry.parse(value)
