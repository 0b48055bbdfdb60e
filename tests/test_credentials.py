"""Credential resolution (trustpub.credentials, trustpub.target, trustpub.keyring_lookup): tokens,
passwords, .pypirc, twine's variables, URL userinfo, the keyring, auto mode."""

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
from trustpub.keyring_lookup import keyring_provider, keyring_timeout, lookup_password
from trustpub.mint import TokenSource
from trustpub.oidc import MissingIdTokenPermission, NotInCI, StaticProvider
from trustpub.registry import Registry, split_userinfo
from trustpub.request import PublishRequest
from trustpub.secrets import Secret
from trustpub.target import resolve_target

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


# --------------------------------------------------------------------------- the target (trustpub.target)

def test_target_order_and_agreement(tmp_path: Path) -> None:
    path = write_pypirc(tmp_path)
    assert resolve_target(env={}, pypirc=path).registry == PYPI
    assert resolve_target(repository="private", env={}, pypirc=path).registry == PRIVATE
    assert resolve_target(repository="private", to="http://127.0.0.1:9/legacy", env={}, pypirc=path).registry == PRIVATE
    with pytest.raises(ConfigurationError, match=r"--to pypi and --repository private disagree: .* is for http://127.0.0.1:9/legacy/"):
        resolve_target(repository="private", to="pypi", env={}, pypirc=path)
    with pytest.raises(ConfigurationError, match="--testpypi and --to pypi name different indexes"):
        resolve_target(testpypi=True, to="pypi", env={})
    twine_env = {"TWINE_REPOSITORY_URL": "https://twine.example.org/legacy/", "TWINE_REPOSITORY": "private"}
    assert resolve_target(env=twine_env, pypirc=path).origin == "TWINE_REPOSITORY_URL"
    assert resolve_target(env={"TWINE_REPOSITORY": "private"}, pypirc=path).registry == PRIVATE
    assert resolve_target(to="testpypi", env=twine_env, pypirc=path).origin == "--to"  # the flag wins
    with pytest.raises(ConfigurationError, match="TWINE_REPOSITORY 'nope': no such section"):
        resolve_target(env={"TWINE_REPOSITORY": "nope"}, pypirc=path)


def test_a_section_without_url_names_no_index(tmp_path: Path) -> None:
    path = tmp_path / "pypirc"
    path.write_text("[private]\nusername = bob\npassword = pw-CANARY-123\n")
    with pytest.raises(ConfigurationError, match=r"\[private\] section .* has no repository URL") as info:
        resolve_target(repository="private", env={}, pypirc=path)
    assert "CANARY" not in str(info.value)


def test_userinfo_is_split_off_and_never_kept() -> None:
    url = "https://__token__:pypi-CANARYurlTOKEN%2Fabc@pypi.example.org/legacy"
    registry, userinfo = Registry.parse_with_userinfo(url)
    assert registry.upload_url == "https://pypi.example.org/legacy/" and registry.web_url == "https://pypi.example.org"
    assert userinfo is not None and userinfo.username == "__token__"
    assert userinfo.password == Secret("pypi-CANARYurlTOKEN/abc")  # percent-decoded
    assert "CANARY" not in repr(registry) + repr(userinfo) + str(registry)
    assert Registry.parse(url) == registry
    assert split_userinfo("pypi") == ("pypi", None)
    with pytest.raises(ConfigurationError, match="unknown index") as info:
        Registry.parse("ftp://bob:CANARY-pw@example.org/")
    assert "CANARY" not in str(info.value)


def test_same_index() -> None:
    assert Registry.parse("https://Example.org:443/legacy").same_index(Registry.parse("https://example.org/legacy/"))
    assert not Registry.parse("https://example.org/legacy/").same_index(Registry.parse("https://example.org:8443/legacy/"))
    assert not Registry.parse("http://example.org/legacy/").same_index(Registry.parse("https://example.org/legacy/"))
    assert not PYPI.same_index(Registry.parse("testpypi"))


def test_url_userinfo_forms() -> None:
    registry, userinfo = Registry.parse_with_userinfo("http://alice:s3cret-CANARY@127.0.0.1:9/legacy/")
    found = creds(resolve_credentials(registry, env={"TRUSTPUB_TOKEN": TOKEN}, pypirc=NO_PYPIRC,
                                      url_userinfo=userinfo, url_source="the --to URL"))
    assert (found.username, found.password.reveal(), found.source) == ("alice", "s3cret-CANARY", "the --to URL")
    # pip's token form: the token as the user name, no password.
    registry, userinfo = Registry.parse_with_userinfo(f"https://{TOKEN}@upload.pypi.org/legacy/")
    assert registry == PYPI
    found = creds(resolve_credentials(registry, env={}, pypirc=NO_PYPIRC, url_userinfo=userinfo))
    assert found.username == "__token__" and found.password.reveal() == TOKEN
    _, userinfo = Registry.parse_with_userinfo("http://alice@127.0.0.1:9/legacy/")
    with pytest.raises(ConfigurationError, match="the --to URL has a user name but no password"):
        resolve_credentials(PRIVATE, env={}, pypirc=NO_PYPIRC, url_userinfo=userinfo, url_source="the --to URL")
    # PyPI's own rules still apply to URL credentials.
    _, userinfo = Registry.parse_with_userinfo("https://alice:pw-CANARY@upload.pypi.org/legacy/")
    with pytest.raises(ConfigurationError, match="does not accept a username and password") as info:
        resolve_credentials(PYPI, env={}, pypirc=NO_PYPIRC, url_userinfo=userinfo)
    assert "CANARY" not in str(info.value)


def test_request_refuses_userinfo_where_it_is_not_used(tmp_path: Path) -> None:
    _, userinfo = Registry.parse_with_userinfo("http://alice:pw-CANARY@127.0.0.1:9/legacy/")
    with pytest.raises(ConfigurationError, match="carries a user name or password") as info:
        PublishRequest((tmp_path,), PRIVATE, credentials="trusted-publishing", url_credentials=userinfo).validate()
    assert "CANARY" not in str(info.value)
    with pytest.raises(ConfigurationError, match="a user name or password in this URL is not used") as info:
        PublishRequest((tmp_path,), PRIVATE, simple_url="http://alice:pw-CANARY@127.0.0.1:9/simple/").validate()
    assert "CANARY" not in str(info.value)


# --------------------------------------------------------------------------- twine's variables


def test_twine_variables_come_after_trustpubs() -> None:
    twine = {"TWINE_USERNAME": "__token__", "TWINE_PASSWORD": "pypi-twineTOKENbbbbbbbbbbbbbbbbbbbb"}
    assert creds(resolve_credentials(PYPI, env=twine, pypirc=NO_PYPIRC)).source == "TWINE_USERNAME/TWINE_PASSWORD"
    assert creds(resolve_credentials(PYPI, env={**twine, "TRUSTPUB_TOKEN": TOKEN}, pypirc=NO_PYPIRC)).source == "TRUSTPUB_TOKEN"
    # Only the password: an API token, as gh-action-pypi-publish and twine use it.
    only = creds(resolve_credentials(PYPI, env={"TWINE_PASSWORD": TOKEN}, pypirc=NO_PYPIRC))
    assert only.username == "__token__" and only.kind is CredentialKind.TOKEN
    with pytest.raises(ConfigurationError, match="TWINE_PASSWORD is not set"):
        resolve_credentials(PRIVATE, env={"TWINE_USERNAME": "bob"}, pypirc=NO_PYPIRC)


def test_twine_credentials_are_bound_to_twines_index(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_pypirc(tmp_path)
    env = {"TWINE_REPOSITORY_URL": "https://twine.example.org/legacy/", "TWINE_PASSWORD": TOKEN}
    with pytest.raises(ConfigurationError, match="TWINE_USERNAME/TWINE_PASSWORD were not used: they go with TWINE_REPOSITORY_URL"):
        resolve_credentials(PYPI, method="token", env=env, pypirc=NO_PYPIRC)
    assert TOKEN not in caplog.text
    # Passed over, the next source for this index still applies.
    assert creds(resolve_credentials(PYPI, env=env, pypirc=path)).source == ".pypirc [pypi]"
    named = {"TWINE_REPOSITORY": "private", "TWINE_USERNAME": "bob", "TWINE_PASSWORD": "pw-CANARY-twine"}
    assert creds(resolve_credentials(PRIVATE, env=named, pypirc=path)).source == "TWINE_USERNAME/TWINE_PASSWORD"
    with pytest.raises(ConfigurationError, match="no credentials"):
        resolve_credentials(Registry.parse("https://elsewhere.example.org/legacy/"), method="token", env=named, pypirc=path)


def test_pypirc_credentials_are_bound_to_the_section_url(tmp_path: Path) -> None:
    path = tmp_path / "pypirc"
    path.write_text(f"[pypi]\nrepository = https://mirror.example.org/legacy/\npassword = {TOKEN}\n")
    with pytest.raises(ConfigurationError, match="no credentials for pypi"):
        resolve_credentials(PYPI, method="token", env={}, pypirc=path)
    with pytest.raises(ConfigurationError, match=r"is for https://mirror.example.org/legacy/, not https://upload.pypi.org/legacy/"):
        resolve_credentials(PYPI, repository="pypi", env={}, pypirc=path)
    mirror = Registry.parse("https://mirror.example.org/legacy")
    assert creds(resolve_credentials(mirror, env={}, pypirc=path)).source == ".pypirc [pypi]"


# --------------------------------------------------------------------------- the keyring


@pytest.fixture
def store_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real keyring library with tests.keyring_backends.StoreKeyring; returns its store file."""
    store = tmp_path / "keyring.json"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backends.StoreKeyring")
    monkeypatch.setenv("TP_KEYRING_STORE", str(store))
    monkeypatch.setenv("TP_KEYRING_LOG", str(tmp_path / "keyring.log"))
    return store


def test_keyring_is_opt_in_and_bound_to_the_index(store_keyring: Path, tmp_path: Path) -> None:
    import json

    store_keyring.write_text(json.dumps({
        PRIVATE.upload_url: {"bob": "pw-CANARY-keyring"},
        "https://elsewhere.example.org/legacy/": {"__token__": "pypi-elsewhereTOKENccccccccccccccc"},
        "upload.pypi.org": {"__token__": TOKEN},
    }))  # fmt: skip
    env = {"TRUSTPUB_USERNAME": "bob"}
    with pytest.raises(ConfigurationError, match="--keyring-provider import"):
        resolve_credentials(PRIVATE, env=env, pypirc=NO_PYPIRC)
    assert not (tmp_path / "keyring.log").exists()
    found = creds(resolve_credentials(PRIVATE, env=env, pypirc=NO_PYPIRC, keyring_provider="import"))
    assert found.password.reveal() == "pw-CANARY-keyring" and found.source == f"the keyring ({PRIVATE.upload_url})"
    found = creds(resolve_credentials(PYPI, env={"TRUSTPUB_KEYRING_PROVIDER": "import"}, pypirc=NO_PYPIRC))
    assert found.username == "__token__" and found.password.reveal() == TOKEN
    asked = (tmp_path / "keyring.log").read_text().split()
    assert "https://elsewhere.example.org/legacy/" not in asked


def test_keyring_settings() -> None:
    assert keyring_provider(None, {}) == "disabled"
    assert keyring_provider(None, {"TRUSTPUB_KEYRING_PROVIDER": "import"}) == "import"
    assert keyring_provider("disabled", {"TRUSTPUB_KEYRING_PROVIDER": "import"}) == "disabled"
    with pytest.raises(ConfigurationError, match="TRUSTPUB_KEYRING_PROVIDER 'subprocess': unknown keyring provider"):
        keyring_provider(None, {"TRUSTPUB_KEYRING_PROVIDER": "subprocess"})
    assert keyring_timeout({}) == 5.0 and keyring_timeout({"TRUSTPUB_KEYRING_TIMEOUT": "0.5"}) == 0.5
    with pytest.raises(ConfigurationError, match="TRUSTPUB_KEYRING_TIMEOUT"):
        keyring_timeout({"TRUSTPUB_KEYRING_TIMEOUT": "forever"})


def test_keyring_lookup_is_time_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from tests import keyring_backends

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backends.HangingKeyring")
    keyring_backends.RELEASE.clear()
    try:
        started = time.monotonic()
        answer = lookup_password(["https://example.org/legacy/"], "__token__", timeout=0.3)
        assert time.monotonic() - started < 3
        assert answer.password is None and answer.skipped is not None and "within 0.3 s" in answer.skipped
    finally:
        keyring_backends.RELEASE.set()


def test_prompting_backends_are_left_out_without_a_terminal(store_keyring: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    store_keyring.write_text(json.dumps({"https://example.org/legacy/": {"__token__": "pw-CANARY-prompt"}}))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backends.PromptingKeyring")
    headless = lookup_password(["https://example.org/legacy/"], "__token__", interactive=False)
    assert headless.password is None and headless.skipped is not None and "no terminal" in headless.skipped
    with_tty = lookup_password(["https://example.org/legacy/"], "__token__", interactive=True)
    assert with_tty.password == Secret("pw-CANARY-prompt")


def test_url_with_password_only_is_a_token() -> None:
    _, userinfo = Registry.parse_with_userinfo(f"https://:{TOKEN}@upload.pypi.org/legacy/")
    found = creds(resolve_credentials(PYPI, env={}, pypirc=NO_PYPIRC, url_userinfo=userinfo))
    assert found.username == "__token__" and found.kind is CredentialKind.TOKEN
