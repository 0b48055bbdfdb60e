"""Credential resolution (trustpub.credentials): tokens, passwords, .pypirc, auto mode."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from trustpub.credentials import (
    CredentialKind,
    Credentials,
    CredentialSource,
    StaticCredentials,
    pypirc_path,
    read_pypirc,
    resolve_credentials,
)
from trustpub.errors import ConfigurationError
from trustpub.mint import TokenSource
from trustpub.oidc import MissingIdTokenPermission, NotInCI, StaticProvider
from trustpub.registry import Registry
from trustpub.secrets import Secret

PYPI = Registry.parse("pypi")
PRIVATE = Registry.parse("http://127.0.0.1:9/legacy/")
TOKEN = "pypi-CANARYtokenAAAAAAAAAAAAAAAAAAAA"
NO_PYPIRC = Path("/nonexistent/.pypirc")


def creds(source: CredentialSource) -> Credentials:
    assert isinstance(source, StaticCredentials)
    return source.credentials()


def test_token_from_env() -> None:
    found = creds(resolve_credentials(PYPI, env={"TRUSTPUB_TOKEN": TOKEN}, pypirc=NO_PYPIRC))
    assert found.username == "__token__" and found.password.reveal() == TOKEN
    assert found.kind is CredentialKind.TOKEN and found.source == "TRUSTPUB_TOKEN"
    assert TOKEN not in repr(found) and TOKEN not in found.describe()
    header = found.authorization().reveal()
    assert base64.b64decode(header.split()[1]).decode() == f"__token__:{TOKEN}"
    legacy = creds(resolve_credentials(PYPI, env={"PYPI_API_TOKEN": TOKEN}, pypirc=NO_PYPIRC))
    assert legacy.source == "PYPI_API_TOKEN"


def test_token_without_pypi_prefix_warns(caplog: pytest.LogCaptureFixture) -> None:
    resolve_credentials(PYPI, env={"TRUSTPUB_TOKEN": "not-a-macaroon-CANARY"}, pypirc=NO_PYPIRC)
    assert "does not start with 'pypi-'" in caplog.text
    assert "CANARY" not in caplog.text


def test_username_password_for_private_index_only() -> None:
    env = {"TRUSTPUB_USERNAME": "alice", "TRUSTPUB_PASSWORD": "s3cret-CANARY"}
    found = creds(resolve_credentials(PRIVATE, env=env, pypirc=NO_PYPIRC))
    assert found.kind is CredentialKind.PASSWORD and found.username == "alice"
    with pytest.raises(ConfigurationError, match="does not accept a username and password") as info:
        resolve_credentials(PYPI, env=env, pypirc=NO_PYPIRC)
    assert "CANARY" not in str(info.value)
    with pytest.raises(ConfigurationError, match="TRUSTPUB_PASSWORD is not set"):
        resolve_credentials(PRIVATE, env={"TRUSTPUB_USERNAME": "alice"}, pypirc=NO_PYPIRC)


def test_plain_http_to_a_remote_index_is_refused() -> None:
    remote = Registry.parse("http://packages.example.org/legacy/")
    with pytest.raises(ConfigurationError, match="plain http"):
        resolve_credentials(remote, env={"TRUSTPUB_TOKEN": TOKEN}, pypirc=NO_PYPIRC)


def write_pypirc(tmp_path: Path) -> Path:
    path = tmp_path / "pypirc"
    path.write_text(
        "[distutils]\nindex-servers = pypi testpypi private\n\n"
        f"[pypi]\nusername = __token__\npassword = {TOKEN}\n\n"
        "[testpypi]\npassword = pypi-testTOKENaaaaaaaaaaaaaaaaaa%with%percent\n\n"
        "[private]\nrepository = http://127.0.0.1:9/legacy/\nusername = bob\npassword = pw-CANARY\n\n"
        "[nopassword]\nrepository = https://example.org/legacy/\nusername = carol\n"
    )
    return path


def test_read_pypirc(tmp_path: Path) -> None:
    sections = read_pypirc(write_pypirc(tmp_path))
    assert set(sections) == {"pypi", "testpypi", "private", "nopassword"}
    assert sections["testpypi"].repository == "https://test.pypi.org/legacy/"
    assert sections["testpypi"].password == Secret("pypi-testTOKENaaaaaaaaaaaaaaaaaa%with%percent")
    assert "CANARY" not in repr(sections)
    assert read_pypirc(tmp_path / "missing") == {}


def test_pypirc_path_from_env(tmp_path: Path) -> None:
    assert pypirc_path({"PYPIRC": str(tmp_path / "x")}) == tmp_path / "x"
    assert pypirc_path({"HOME": str(tmp_path)}) == tmp_path / ".pypirc"


def test_repository_option_selects_a_section(tmp_path: Path) -> None:
    path = write_pypirc(tmp_path)
    found = creds(resolve_credentials(PRIVATE, repository="private", env={}, pypirc=path))
    assert found.username == "bob" and found.source == ".pypirc [private]"
    with pytest.raises(ConfigurationError, match=r"no such section .* \(sections: nopassword, private, pypi, testpypi\)"):
        resolve_credentials(PRIVATE, repository="nope", env={}, pypirc=path)
    with pytest.raises(ConfigurationError, match=r"\[nopassword\] section .* has no password"):
        resolve_credentials(Registry.parse("https://example.org/legacy/"), repository="nopassword", env={}, pypirc=path)


def test_pypirc_section_found_by_index(tmp_path: Path) -> None:
    path = write_pypirc(tmp_path)
    assert creds(resolve_credentials(PYPI, env={}, pypirc=path)).source == ".pypirc [pypi]"
    assert creds(resolve_credentials(PRIVATE, env={}, pypirc=path)).source == ".pypirc [private]"


def test_pypirc_parse_error_does_not_echo_content(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_text("password = CANARY-outside-any-section\n")
    with pytest.raises(ConfigurationError, match="cannot parse") as info:
        read_pypirc(path)
    assert "CANARY" not in str(info.value)


def test_auto_prefers_explicit_credentials_over_ci() -> None:
    env = {"TRUSTPUB_TOKEN": TOKEN, "GITHUB_ACTIONS": "true"}
    assert creds(resolve_credentials(PYPI, env=env, pypirc=NO_PYPIRC)).kind is CredentialKind.TOKEN


def test_auto_never_falls_back_after_trusted_publishing_was_detected(tmp_path: Path) -> None:
    # GitHub Actions without id-token: write, and a .pypirc with credentials for
    # another index only: the answer is the permission problem, not "no credentials".
    path = write_pypirc(tmp_path)
    with pytest.raises(MissingIdTokenPermission, match="id-token: write"):
        resolve_credentials(Registry.parse("https://other.example.org/legacy/"), env={"GITHUB_ACTIONS": "true"}, pypirc=path)


def test_auto_prefers_a_pypirc_section_for_the_index_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_pypirc(tmp_path)
    with caplog.at_level("INFO", logger="trustpub.credentials"):
        found = creds(resolve_credentials(PYPI, env={"GITHUB_ACTIONS": "true"}, pypirc=path))
    assert found.source == ".pypirc [pypi]"
    assert "GitHub Actions was also detected; --credentials trusted-publishing would use it" in caplog.text
    source = resolve_credentials(
        PYPI,
        method="trusted-publishing",
        env={},
        pypirc=path,
        provider=StaticProvider("t", token=Secret("eyJhbGciOiJub25lIn0.eyJhdWQiOiJweXBpIn0.")),
    )
    assert isinstance(source, TokenSource)


def test_auto_uses_trusted_publishing_in_ci() -> None:
    provider = StaticProvider("test", token=Secret("eyJhbGciOiJub25lIn0.eyJhdWQiOiJweXBpIn0."))
    source = resolve_credentials(PYPI, env={}, pypirc=NO_PYPIRC, provider=provider)
    assert isinstance(source, TokenSource) and source.kind is CredentialKind.TRUSTED_PUBLISHING
    env_source = resolve_credentials(PYPI, env={"TRUSTPUB_OIDC_TOKEN": "x.y.z"}, pypirc=NO_PYPIRC)
    assert isinstance(env_source, TokenSource)


def test_auto_outside_ci_without_anything() -> None:
    with pytest.raises(ConfigurationError, match="no credentials for pypi: looked for a CI identity"):
        resolve_credentials(PYPI, env={}, pypirc=NO_PYPIRC)


def test_explicit_methods(tmp_path: Path) -> None:
    with pytest.raises(NotInCI):
        resolve_credentials(PYPI, method="trusted-publishing", env={"TRUSTPUB_TOKEN": TOKEN}, pypirc=NO_PYPIRC)
    found = creds(resolve_credentials(PYPI, method="token", env={"TRUSTPUB_TOKEN": TOKEN, "GITHUB_ACTIONS": "true"}, pypirc=NO_PYPIRC))
    assert found.kind is CredentialKind.TOKEN
    with pytest.raises(ConfigurationError, match="no credentials for pypi: looked for TRUSTPUB_TOKEN"):
        resolve_credentials(PYPI, method="token", env={"GITHUB_ACTIONS": "true"}, pypirc=NO_PYPIRC)
    with pytest.raises(ConfigurationError, match="unknown credentials method"):
        resolve_credentials(PYPI, method="magic", env={})
