"""Secret wrapper, redaction and CI masking (trustpub.secrets)."""

from __future__ import annotations

import io
import logging
import os
import pickle
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from trustpub.cli import main
from trustpub.credentials import CredentialKind, Credentials, read_pypirc, resolve_credentials
from trustpub.local.index import LocalIndex
from trustpub.local.issuer import GITHUB_ISSUER, OIDCIssuer
from trustpub.mint import TokenSource, exchange
from trustpub.oidc import GitHubActionsProvider, GitLabCIProvider, OIDCToken, StaticProvider
from trustpub.registry import Registry
from trustpub.secrets import (
    REDACTED,
    RedactingFilter,
    Secret,
    install_log_redaction,
    mask_in_ci,
    redact,
    register_secret,
    uninstall_log_redaction,
)
from trustpub.transport import Transport

MACAROON = "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz"
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ."
    "eyJpc3MiOiJodHRwczovL3Rva2VuLmFjdGlvbnMuZ2l0aHVidXNlcmNvbnRlbnQuY29tIn0."
    "c2lnbmF0dXJlLWJ5dGVz"
)


def test_secret_never_shows_its_value() -> None:
    secret = Secret("hunter2-CANARY-password")
    rendered = [str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret:>30}", "%s" % (secret,)]  # noqa: UP031
    assert all("CANARY" not in text for text in rendered)
    assert str(secret) == REDACTED
    assert secret.reveal() == "hunter2-CANARY-password"
    assert "CANARY" not in repr([secret, {"k": secret}])


def test_secret_equality_hash_and_immutability() -> None:
    assert Secret("abcdefgh") == Secret("abcdefgh")
    assert Secret("abcdefgh") != Secret("abcdefgX")
    assert Secret("abcdefgh") != "abcdefgh"  # never equal to the plain string
    assert len({Secret("abcdefgh"), Secret("abcdefgh")}) == 1
    assert not Secret("")
    with pytest.raises(AttributeError):
        Secret("abcdefgh")._value = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pickle.dumps(Secret("abcdefgh"))
    assert Secret(Secret("nested-value")).reveal() == "nested-value"


def test_redact_patterns() -> None:
    text = f"token {MACAROON} jwt {JWT} header Authorization: Basic X19fdG9rZW5fXzpzZWNyZXQ= url https://u:pw@host/x"
    out = redact(text)
    assert MACAROON not in out and JWT not in out
    assert "X19fdG9rZW5fXzpzZWNyZXQ=" not in out
    assert ":pw@" not in out
    assert "https://***@host/x" in out
    # Ordinary text survives.
    assert redact("upload.pypi.org token.actions.githubusercontent.com") == (
        "upload.pypi.org token.actions.githubusercontent.com"
    )


def test_redact_registered_values_only_when_long_enough() -> None:
    register_secret("tiny")
    register_secret("a-registered-CANARY-value")
    assert redact("x tiny y") == "x tiny y"
    assert redact("x a-registered-CANARY-value y") == "x *** y"


def test_redacting_filter_on_a_handler() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("trustpub.test.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("got %s and %s", MACAROON, JWT)
        try:
            raise ValueError(f"boom {MACAROON}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert MACAROON not in stream.getvalue() and JWT not in stream.getvalue()
    assert "got *** and ***" in stream.getvalue()


def test_install_log_redaction_covers_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    caplog.set_level(logging.DEBUG)
    try:
        logging.getLogger("some.other.library").debug("header Authorization: bearer %s", "abcdefghijklmnop")
        logging.getLogger("trustpub.mint").info("minted %s", MACAROON)
    finally:
        uninstall_log_redaction()
    logging.getLogger("trustpub.mint").info("after uninstall %s", "plain-visible-value")
    assert "plain-visible-value" in caplog.text
    text = caplog.text + " ".join(r.getMessage() for r in caplog.records)
    assert "abcdefghijklmnop" not in text
    assert MACAROON not in text


def test_mask_in_ci_only_on_github_actions() -> None:
    out = io.StringIO()
    assert mask_in_ci(Secret(MACAROON), env={}, stream=out) is False
    assert out.getvalue() == ""
    assert mask_in_ci(Secret(MACAROON), env={"GITHUB_ACTIONS": "true"}, stream=out) is True
    assert out.getvalue() == f"::add-mask::{MACAROON}\n"


# --------------------------------------------------------------------------- the canary


def test_secret_canary_never_leaks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Recognisable secrets through every failure path; none may show up anywhere.

    Log redaction is off here, so this proves the code never emits them, rather
    than that the safety net catches them. The only allowed appearance is the one
    ``::add-mask::`` line per minted token on GitHub Actions.
    """
    uninstall_log_redaction()
    caplog.set_level(logging.DEBUG)
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "ACTIONS_", "GITLAB", "TRUSTPUB_", "PYPI_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("trustpub.oidc._detect._GCP_PRODUCT_NAME_FILE", "/nonexistent/product_name")
    monkeypatch.chdir(tmp_path)
    api_token = "pypi-CANARYapiTOKEN0123456789abcdefghij"
    password = "CANARY-password-0123456789"
    secrets: list[str] = [api_token, password]
    errors: list[str] = []
    inputs = tmp_path / "inputs"
    inputs.mkdir()

    def expect_failure(call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as exc:
            errors.extend([str(exc), repr(exc), repr(vars(exc))])
        else:  # pragma: no cover - every call here must fail
            raise AssertionError(f"{call} did not fail")

    pypi = Registry.parse("pypi")
    # Credentials: every refusal with the API token and the password in play.
    resolve_credentials(pypi, env={"TRUSTPUB_TOKEN": "CANARY-not-a-macaroon-token"}, pypirc=inputs / "none")
    secrets.append("CANARY-not-a-macaroon-token")
    remote = Registry.parse("http://packages.example.org/legacy/")
    expect_failure(lambda: resolve_credentials(remote, env={"TRUSTPUB_TOKEN": api_token}))
    expect_failure(
        lambda: resolve_credentials(pypi, env={"TRUSTPUB_USERNAME": "alice", "TRUSTPUB_PASSWORD": password})
    )
    bad_pypirc = inputs / "pypirc"
    bad_pypirc.write_text(f"password = {password}\n[pypi]\npassword = {api_token}\n")
    expect_failure(lambda: read_pypirc(bad_pypirc))
    good_pypirc = inputs / "pypirc-ok"
    good_pypirc.write_text(f"[private]\nrepository = http://packages.example.org/legacy/\npassword = {password}\n")
    expect_failure(lambda: resolve_credentials(remote, repository="private", env={}, pypirc=good_pypirc))
    creds = Credentials("__token__", Secret(api_token), "test", CredentialKind.TOKEN)
    expect_failure(
        lambda: Transport().request("POST", "http://packages.example.org/legacy/", authorization=creds.authorization())
    )
    secrets.append(creds.authorization().reveal().split()[1])

    with OIDCIssuer() as issuer, LocalIndex(tmp_path / "index", jwks_urls={GITHUB_ISSUER: issuer.jwks_url}) as index:
        secrets.append(issuer.request_token)
        registry = Registry.parse(index.upload_url)
        env = {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.github_token_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
        }
        provider = GitHubActionsProvider.from_env(env)
        # OIDC failures.
        wrong = GitHubActionsProvider.from_env({**env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "CANARY-bearer-0123456789"})
        secrets.append("CANARY-bearer-0123456789")
        expect_failure(lambda: wrong.fetch("pypi"))
        gitlab_jwt = issuer.mint_gitlab("sigstore")
        secrets.append(gitlab_jwt)
        expect_failure(lambda: GitLabCIProvider({"PYPI_ID_TOKEN": gitlab_jwt}).fetch("pypi"))
        expect_failure(lambda: StaticProvider("t", token=Secret(gitlab_jwt)).fetch("pypi"))

        # Every mint refusal the local index can give, with the JWTs recorded.
        def refused(raw: str) -> None:
            secrets.append(raw)
            expect_failure(lambda: exchange(registry, OIDCToken.parse(raw, "t"), env={}))

        refused(issuer.sign({"aud": "pypi", "sub": "x"}))
        refused(issuer.sign({"iss": "https://ci.example.org", "aud": "pypi", "sub": "x"}))
        refused(issuer.mint_github("testpypi"))
        refused(issuer.mint_github("pypi"))  # no publisher yet
        index.add_github_publisher("demo-pkg", "octo-org/demo", "1234567", "release.yml")
        index.disallow_oidc_services = {"github"}
        refused(issuer.mint_github("pypi"))
        index.disallow_oidc_services = set()
        used = OIDCToken.parse(issuer.mint_github("pypi"), "t")
        secrets.append(used.value.reveal())
        secrets.append(exchange(registry, used, env={}).token.reveal())
        expect_failure(lambda: exchange(registry, used, env={}))

        # Re-minting on GitHub Actions: each token masked once, nothing else printed.
        index.token_lifetime = 2
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        source = TokenSource(registry, provider, env={"GITHUB_ACTIONS": "true"})
        minted_tokens: list[str] = []
        for _ in range(3):
            minted = source.token()
            if minted.token.reveal() not in minted_tokens:
                minted_tokens.append(minted.token.reveal())
            secrets.append(minted.credentials("t").authorization().reveal().split()[1])
            time.sleep(0.6)
        secrets.extend(minted_tokens)
        assert capsys.readouterr().out.splitlines() == [f"::add-mask::{t}" for t in minted_tokens]
        assert len(minted_tokens) == source.mint_count >= 2
        monkeypatch.delenv("GITHUB_ACTIONS")

        # The doctor, succeeding and failing (it installs redaction: take it off again).
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(["doctor", "--to", index.upload_url, "--mint", "--json"]) == 0
        uninstall_log_redaction()
        assert main(["doctor", "--to", index.upload_url, "--mint", "--publisher", "github:octo-org/demo/x.yml"]) == 1
        uninstall_log_redaction()
        down_registry = Registry.parse(index.upload_url)

    # The index is gone while a JWT is on its way to it.
    with OIDCIssuer() as issuer2:
        raw = issuer2.mint_github("pypi")
        secrets.append(raw)
        expect_failure(lambda: exchange(down_registry, OIDCToken.parse(raw, "t"), env={}))

    captured = capsys.readouterr()
    outputs = {
        "stdout": captured.out,
        "stderr": captured.err,
        "caplog": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "exceptions": "\n".join(errors),
    }
    for path in tmp_path.rglob("*"):
        if path.is_file() and inputs not in path.parents:
            outputs[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    assert len(secrets) >= 20
    for secret in secrets:
        for where, text in outputs.items():
            assert secret not in text, f"a secret leaked into {where}"
    everything = "".join(outputs.values())
    assert "CANARY" not in everything
    # Tokens this test never saw (the doctor's mint) are caught by their shape.
    assert not re.search(r"pypi-[A-Za-z0-9_\-]{16,}", everything)
    assert not re.search(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.", everything)
