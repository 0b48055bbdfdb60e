"""Token exchange and re-minting (trustpub.mint), end to end against the local index."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.distfactory import make_wheel
from tests.test_transport import TinyServer
from trustpub.credentials import Credentials
from trustpub.local.index import LocalIndex
from trustpub.local.issuer import (
    GitHubIdentity,
    GitLabIdentity,
    OIDCIssuer,
)
from trustpub.mint import (
    MintedToken,
    MintError,
    MintRejected,
    PullRequestTargetRefused,
    TokenSource,
    TrustedPublishingUnavailable,
    discover_audience,
    exchange,
    mint_api_token,
)
from trustpub.oidc import (
    BuildkiteProvider,
    GitHubActionsProvider,
    GitLabCIProvider,
    IssuerNotAccepted,
    MissingIdTokens,
    OIDCToken,
    StaticProvider,
)
from trustpub.registry import Registry
from trustpub.secrets import Secret
from trustpub.transport import Transport

PROJECT = "demo-pkg"


@pytest.fixture
def index(trusting_index: LocalIndex) -> LocalIndex:
    trusting_index.add_github_publisher(PROJECT, "octo-org/demo", "1234567", "release.yml", "release")
    return trusting_index


def registry_of(index: LocalIndex) -> Registry:
    return Registry.parse(index.upload_url)


def github(issuer: OIDCIssuer) -> GitHubActionsProvider:
    return GitHubActionsProvider.from_env(
        {"ACTIONS_ID_TOKEN_REQUEST_URL": issuer.github_token_url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token}
    )


def static(raw: str) -> StaticProvider:
    return StaticProvider("test", token=Secret(raw))


def rejected(index: LocalIndex, raw: str) -> MintRejected:
    with pytest.raises(MintRejected) as info:
        exchange(registry_of(index), OIDCToken.parse(raw, "test"), env={}, project=PROJECT)
    return info.value


def upload(index: LocalIndex, creds: Credentials, wheel: Path) -> urllib3.BaseHTTPResponse | Any:
    """A minimal legacy upload, to prove a token is accepted."""
    data = wheel.read_bytes()
    name, version = wheel.name.split("-")[:2]
    body, content_type = urllib3.encode_multipart_formdata(
        {
            ":action": "file_upload",
            "protocol_version": "1",
            "metadata_version": "2.4",
            "name": name.replace("_", "-"),
            "version": version,
            "summary": "A demo package",
            "filetype": "bdist_wheel",
            "pyversion": "py3",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
            "content": (wheel.name, data, "application/octet-stream"),
        }
    )
    return Transport().request(
        "POST",
        index.upload_url,
        body=body,
        headers={"Content-Type": content_type, "Accept": "application/json"},
        authorization=creds.authorization(),
    )


# --------------------------------------------------------------------------- audience


def test_discover_audience(index: LocalIndex, issuer: OIDCIssuer, tmp_path: Path) -> None:
    assert discover_audience(registry_of(index)) == "pypi"
    with LocalIndex(tmp_path / "test", audience="testpypi") as testpypi:
        assert discover_audience(registry_of(testpypi)) == "testpypi"
    index.disallow_oidc = True
    with pytest.raises(TrustedPublishingUnavailable, match=r"turned off right now .*answered 403"):
        discover_audience(registry_of(index))
    # The issuer's server has no /_/oidc/audience: an index without trusted publishing.
    with pytest.raises(TrustedPublishingUnavailable, match=r"does not support trusted publishing .*404") as info:
        discover_audience(Registry.parse(issuer.url + "/legacy/"))
    assert "--credentials token" in str(info.value)


# --------------------------------------------------------------------------- success


def test_mint_through_the_github_runner(index: LocalIndex, issuer: OIDCIssuer) -> None:
    before = datetime.now(timezone.utc)
    minted = mint_api_token(registry_of(index), github(issuer), env={})
    assert isinstance(minted, MintedToken)
    assert minted.token.reveal().startswith("pypi-") and "pypi-" not in repr(minted)
    assert minted.expires.tzinfo is timezone.utc
    assert timedelta(seconds=895) <= minted.expires - before <= timedelta(seconds=901)
    assert timedelta(seconds=895) <= minted.lifetime <= timedelta(seconds=901)
    assert minted.oidc_claims["repository"] == "octo-org/demo"


def test_mint_through_gitlab(index: LocalIndex, issuer: OIDCIssuer) -> None:
    index.add_gitlab_publisher(PROJECT, "octo-group/demo", ".gitlab-ci.yml")
    env = {"GITLAB_CI": "true", "PYPI_ID_TOKEN": issuer.mint_gitlab("pypi", identity=GitLabIdentity())}
    minted = mint_api_token(registry_of(index), GitLabCIProvider(env), env=env)
    assert minted.token.reveal().startswith("pypi-")


def test_minted_token_is_masked_on_github_actions(
    index: LocalIndex, issuer: OIDCIssuer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Masking follows the real environment (the runner reading stdout), not the one passed in.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    minted = mint_api_token(registry_of(index), github(issuer), env={})
    assert capsys.readouterr().out == f"::add-mask::{minted.token.reveal()}\n"
    monkeypatch.delenv("GITHUB_ACTIONS")
    mint_api_token(registry_of(index), github(issuer), env={"GITHUB_ACTIONS": "true"})
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- every 422


def test_invalid_payload_malformed_jwt(index: LocalIndex, issuer: OIDCIssuer) -> None:
    exc = rejected(index, issuer.sign({"aud": "pypi", "sub": "no-issuer"}))
    assert (exc.code, exc.description) == ("invalid-payload", "malformed JWT")
    assert "could not read the OIDC token as a JWT" in str(exc)


def test_invalid_payload_unknown_issuer(index: LocalIndex, issuer: OIDCIssuer) -> None:
    exc = rejected(index, issuer.sign({"iss": "https://ci.example.org", "aud": "pypi", "sub": "x"}))
    assert exc.description == "unknown trusted publishing issuer"
    assert "does not know the token's issuer 'https://ci.example.org'" in str(exc)
    assert "GitHub Actions, GitLab CI/CD, Google Cloud and ActiveState" in str(exc)


def test_not_enabled(index: LocalIndex, issuer: OIDCIssuer) -> None:
    index.disallow_oidc_services = {"github"}
    exc = rejected(index, issuer.mint_github("pypi"))
    assert exc.code == "not-enabled" and "github trusted publishing functionality not enabled" in str(exc)
    assert "turned off for this provider" in str(exc) and "TRUSTPUB_TOKEN" in str(exc)


def test_invalid_token_wrong_audience_and_expired(index: LocalIndex, issuer: OIDCIssuer) -> None:
    exc = rejected(index, issuer.mint_github("testpypi"))
    assert exc.code == "invalid-token"
    text = str(exc)
    assert "aud='testpypi'" in text and "audience is not the index's" in text
    assert "repository: octo-org/demo" in text  # decoded claims are shown
    expired = rejected(index, issuer.mint_github("pypi", lifetime=-120))
    assert expired.code == "invalid-token" and "exp=" in str(expired) and "expired" in str(expired)


def test_invalid_publisher_no_match_shows_the_settings_to_enter(index: LocalIndex, issuer: OIDCIssuer) -> None:
    exc = rejected(index, issuer.mint_github("pypi", identity=GitHubIdentity(environment="staging")))
    assert exc.code == "invalid-publisher"
    assert "Publisher with matching claims was not found" in exc.description
    text = str(exc)
    assert "does not say which one differs" in text and "--publisher SPEC" in text
    assert "environment: staging" in text
    assert "Environment name:" in text and "staging" in text
    assert exc.publisher is not None and exc.publisher.spec == "github:octo-org/demo/release.yml@staging"
    assert exc.settings_url is not None
    assert exc.settings_url.startswith(f"{index.url}/manage/project/{PROJECT}/settings/publishing/?provider=github")
    assert exc.claims["repository_owner_id"] == "1234567"


def test_invalid_publisher_names_the_claim(index: LocalIndex, issuer: OIDCIssuer) -> None:
    # A reusable workflow from another repository with the same file name.
    identity = GitHubIdentity(job_workflow_ref="octo-org/shared/.github/workflows/release.yml@refs/heads/main")
    exc = rejected(index, issuer.mint_github("pypi", identity=identity))
    assert "The job_workflow_ref claim does not match" in exc.description
    assert "the claim 'job_workflow_ref' does not match the trusted publisher" in str(exc)
    assert "reusable workflow" in str(exc)

    missing = rejected(index, issuer.mint_github("pypi", repository_owner_id=None))
    assert missing.description.endswith("(Missing claim 'repository_owner_id')")
    assert "lacks the claim 'repository_owner_id'" in str(missing)

    owner = rejected(index, issuer.mint_github("pypi", repository_owner="someone-else"))
    assert "Check failed for required claim 'repository_owner'" in owner.description
    assert "the claim 'repository_owner' does not match" in str(owner)


def test_invalid_reuse_token(index: LocalIndex, issuer: OIDCIssuer) -> None:
    token = OIDCToken.parse(issuer.mint_github("pypi"), "test")
    exchange(registry_of(index), token, env={})
    with pytest.raises(MintRejected) as info:
        exchange(registry_of(index), token, env={})
    assert info.value.code == "invalid-reuse-token"
    assert "already exchanged once" in str(info.value) and token.claims["jti"] in str(info.value)


def test_a_static_token_serves_one_mint_only(index: LocalIndex, issuer: OIDCIssuer) -> None:
    source = TokenSource(registry_of(index), static(issuer.mint_github("pypi")), env={})
    source.token()
    source.invalidate()
    with pytest.raises(MintRejected, match="invalid-reuse-token"):
        source.token()


@pytest.fixture
def canned() -> Iterator[TinyServer]:
    server = TinyServer().start()
    server.routes["/_/oidc/audience"] = (200, {}, b'{"audience": "pypi"}')
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("code", "description", "expected"),
    [
        ("invalid-pending-publisher", "valid token, but project already exists", "add the trusted publisher to the existing project"),
        ("invalid-payload", "The name 'demo' is too similar to an existing project.", "could not be created under that name"),
        ("brand-new-code", "something new", "brand-new-code: something new"),
    ],
)
def test_codes_the_local_index_cannot_produce(
    canned: TinyServer, issuer: OIDCIssuer, code: str, description: str, expected: str
) -> None:
    body = f'{{"message": "Token request failed", "errors": [{{"code": "{code}", "description": "{description}"}}]}}'
    canned.routes["/_/oidc/mint-token"] = (422, {}, body.encode())
    with pytest.raises(MintRejected) as info:
        mint_api_token(Registry.parse(canned.url + "/legacy/"), github(issuer), env={})
    assert info.value.code == code and expected in str(info.value)


def test_unexpected_mint_answers(canned: TinyServer, issuer: OIDCIssuer) -> None:
    registry = Registry.parse(canned.url + "/legacy/")
    canned.routes["/_/oidc/mint-token"] = (502, {}, b"<html>bad gateway</html>")
    with pytest.raises(MintError, match=r"answered HTTP 502 .*without a JSON body"):
        mint_api_token(registry, github(issuer), env={})
    canned.routes["/_/oidc/mint-token"] = (200, {}, b'{"success": true}')
    with pytest.raises(MintError, match="without a `token`"):
        mint_api_token(registry, github(issuer), env={})
    # No `expires`: assume PyPI's 15 minutes.
    canned.routes["/_/oidc/mint-token"] = (200, {}, b'{"success": true, "token": "pypi-AAAAAAAAAAAAAAAAAAAAAAAA"}')
    assert timedelta(minutes=14) < mint_api_token(registry, github(issuer), env={}).lifetime <= timedelta(minutes=15)


# --------------------------------------------------------------------------- refused up front


class CountingProvider:
    name = "counting"
    pypi_accepts = True

    def __init__(self, inner: GitHubActionsProvider) -> None:
        self.inner = inner
        self.fetches = 0

    def fetch(self, audience: str) -> OIDCToken:
        self.fetches += 1
        return self.inner.fetch(audience)


def test_pull_request_target_is_refused_before_any_request(canned: TinyServer, issuer: OIDCIssuer) -> None:
    provider = CountingProvider(github(issuer))
    registry = Registry.parse(canned.url + "/legacy/")
    with pytest.raises(PullRequestTargetRefused, match="pull_request_target"):
        mint_api_token(registry, provider, env={"GITHUB_EVENT_NAME": "pull_request_target"})
    assert canned.seen == [] and provider.fetches == 0
    # Claims alone are enough too: the token is never sent.
    issuer.github = GitHubIdentity(event_name="pull_request_target")
    with pytest.raises(PullRequestTargetRefused):
        mint_api_token(registry, provider, env={})
    assert [s.path for s in canned.seen] == ["/_/oidc/audience"]
    issuer.github = GitHubIdentity()


def test_buildkite_is_refused_for_pypi_before_any_request() -> None:
    with pytest.raises(IssuerNotAccepted, match="Buildkite gives OIDC tokens that can sign Sigstore"):
        mint_api_token(Registry.parse("pypi"), BuildkiteProvider(), env={})


def test_reusable_workflow_warning(index: LocalIndex, issuer: OIDCIssuer, caplog: pytest.LogCaptureFixture) -> None:
    issuer.github = GitHubIdentity(workflow_ref="octo-org/demo/.github/workflows/ci.yml@refs/tags/v1.0.0")
    source = TokenSource(registry_of(index), github(issuer), env={})
    with caplog.at_level(logging.WARNING, logger="trustpub.mint"):
        source.token()
        source.invalidate()
        source.token()
    warnings = [r.getMessage() for r in caplog.records if "reusable workflow" in r.getMessage()]
    assert len(warnings) == 1  # once per source, not once per mint
    assert "'release.yml'" in warnings[0] and "'ci.yml'" in warnings[0]


# --------------------------------------------------------------------------- re-minting


def test_a_long_release_gets_fresh_valid_tokens(index: LocalIndex, issuer: OIDCIssuer, tmp_path: Path) -> None:
    """A 40-minute release, scaled down: tokens live 2 s, uploads come every 0.45 s for 5.4 s."""
    index.token_lifetime = 2
    source = TokenSource(registry_of(index), github(issuer), env={})
    seen: set[str] = set()
    for n in range(12):
        wheel = make_wheel(tmp_path, "demo_pkg", f"1.0.{n}")
        creds = source.credentials()
        seen.add(creds.password.reveal())
        response = upload(index, creds, wheel)
        assert response.status == 200, (n, response.reason, response.text)
        time.sleep(0.45)
    assert source.mint_count >= 4  # 5.4 s of uploads / (2 s lifetime - 1 s margin)
    assert len(seen) == source.mint_count
    assert len(index.files(PROJECT)) == 12


def test_without_re_minting_the_token_expires(index: LocalIndex, issuer: OIDCIssuer, tmp_path: Path) -> None:
    """The control experiment: one token for the whole release fails midway (GHA#307)."""
    index.token_lifetime = 1
    creds = mint_api_token(registry_of(index), github(issuer), env={}).credentials("test")
    assert upload(index, creds, make_wheel(tmp_path, "demo_pkg", "2.0.0")).status == 200
    time.sleep(1.1)
    response = upload(index, creds, make_wheel(tmp_path, "demo_pkg", "2.0.1"))
    assert response.status == 403 and "expired" in response.text


def test_margin_is_five_minutes_on_a_fifteen_minute_token(index: LocalIndex, issuer: OIDCIssuer) -> None:
    now = [time.time()]
    source = TokenSource(registry_of(index), github(issuer), env={}, clock=lambda: now[0])
    first = source.token()
    now[0] += 599
    assert source.token() is first
    now[0] += 2  # 601 s in: less than 5 minutes left
    assert source.token() is not first and source.mint_count == 2
    now[0] = time.time()
    custom = TokenSource(registry_of(index), github(issuer), env={}, margin=timedelta(minutes=1), clock=lambda: now[0])
    token = custom.token()
    now[0] += 839
    assert custom.token() is token
    now[0] += 2
    assert custom.token() is not token


def test_a_clock_far_off_falls_back_to_the_nominal_lifetime(
    index: LocalIndex, issuer: OIDCIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    now = [time.time() + 3600]  # this machine thinks it is an hour later
    source = TokenSource(registry_of(index), github(issuer), env={}, clock=lambda: now[0])
    first = source.token()
    assert "clock, which is probably wrong" in caplog.text
    now[0] += 599
    assert source.token() is first  # not a mint on every call


def test_token_source_is_thread_safe(index: LocalIndex, issuer: OIDCIssuer) -> None:
    source = TokenSource(registry_of(index), github(issuer), env={})
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(source.credentials().password.reveal())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1 and source.mint_count == 1


# --------------------------------------------------------------------------- answers from a hostile or broken index


def test_success_false_is_a_refusal_even_with_a_token(canned: TinyServer, issuer: OIDCIssuer) -> None:
    registry = Registry.parse(canned.url + "/legacy/")
    canned.routes["/_/oidc/mint-token"] = (
        200,
        {},
        b'{"success": false, "token": "pypi-CANARYAAAAAAAAAAAAAAAAAA", "expires": 9999999999,'
        b' "errors": [{"code": "invalid-publisher", "description": "no publisher"}]}',
    )
    with pytest.raises(MintRejected) as info:
        mint_api_token(registry, github(issuer), env={})
    assert info.value.code == "invalid-publisher" and "refused to mint a token" in str(info.value)
    assert "CANARY" not in str(info.value)
    # Without an errors list, and with a success that is not the JSON true.
    for answer in (b'{"success": false, "token": "pypi-CANARYAAAAAAAAAAAAAAAAAA"}', b'{"success": "yes", "token": "pypi-x"}'):
        canned.routes["/_/oidc/mint-token"] = (200, {}, answer)
        with pytest.raises(MintRejected, match="answered 200 with success=false without an errors list") as info:
            mint_api_token(registry, github(issuer), env={})
        assert "CANARY" not in str(info.value)


@pytest.mark.parametrize(
    ("expires", "expected"),
    [
        ("1900000000", datetime(2030, 3, 17, 17, 46, 40, tzinfo=timezone.utc)),
        ('"2030-03-17T17:46:40Z"', datetime(2030, 3, 17, 17, 46, 40, tzinfo=timezone.utc)),
        ('"2030-03-17T19:46:40.5+02:00"', datetime(2030, 3, 17, 17, 46, 40, 500000, tzinfo=timezone.utc)),
        ('"2030-03-17 17:46:40z"', datetime(2030, 3, 17, 17, 46, 40, tzinfo=timezone.utc)),
    ],
)
def test_expires_as_epoch_seconds_or_rfc3339(canned: TinyServer, issuer: OIDCIssuer, expires: str, expected: datetime) -> None:
    canned.routes["/_/oidc/mint-token"] = (
        200, {}, f'{{"success": true, "token": "pypi-AAAAAAAAAAAAAAAAAAAAAAAA", "expires": {expires}}}'.encode()
    )
    minted = mint_api_token(Registry.parse(canned.url + "/legacy/"), github(issuer), env={})
    assert minted.expires == expected and minted.expires.tzinfo is not None


@pytest.mark.parametrize("expires", ['"2030-03-17T17:46:40"', '"tomorrow"', "1e400", "true", '"2030-13-45T99:00:00Z"'])
def test_unusable_expires_means_the_nominal_lifetime(canned: TinyServer, issuer: OIDCIssuer, expires: str) -> None:
    # No offset (zone unknown), not a time, out of range, a boolean, an impossible date.
    canned.routes["/_/oidc/mint-token"] = (
        200, {}, f'{{"success": true, "token": "pypi-AAAAAAAAAAAAAAAAAAAAAAAA", "expires": {expires}}}'.encode()
    )
    minted = mint_api_token(Registry.parse(canned.url + "/legacy/"), github(issuer), env={})
    assert timedelta(minutes=14) < minted.lifetime <= timedelta(minutes=15)


def test_a_huge_or_unprintable_audience_is_refused_and_not_echoed(canned: TinyServer) -> None:
    registry = Registry.parse(canned.url + "/legacy/")
    canned.routes["/_/oidc/audience"] = (200, {}, b'{"audience": "' + b"A" * (8 * 1024 * 1024) + b'"}')
    with pytest.raises(TrustedPublishingUnavailable) as info:
        discover_audience(registry)
    assert "64 KiB" in str(info.value) and len(str(info.value)) < 600 and "AAAA" not in str(info.value)
    for audience, detail in ((b"x" * 1000, "1000 characters"), (b"py\\u001b[2Jpi", "with control characters"), (b"", "0 characters")):
        canned.routes["/_/oidc/audience"] = (200, {}, b'{"audience": "' + audience + b'"}')
        with pytest.raises(TrustedPublishingUnavailable, match="not a short printable string") as info:
            discover_audience(registry)
        assert detail in str(info.value) and "\x1b" not in str(info.value) and "xxxx" not in str(info.value)


def test_a_huge_mint_answer_is_refused_and_not_echoed(canned: TinyServer, issuer: OIDCIssuer) -> None:
    registry = Registry.parse(canned.url + "/legacy/")
    errors = ",".join('{"code": "invalid-publisher", "description": "' + "B" * 1000 + '"}' for _ in range(5000))
    canned.routes["/_/oidc/mint-token"] = (422, {}, f'{{"errors": [{errors}]}}'.encode())
    with pytest.raises(MintError) as info:
        mint_api_token(registry, github(issuer), env={})
    assert not isinstance(info.value, MintRejected)
    assert "64 KiB" in str(info.value) and "BBBB" not in str(info.value) and len(str(info.value)) < 600


def test_error_descriptions_are_escaped_and_cut_short(canned: TinyServer, issuer: OIDCIssuer) -> None:
    description = "bad\\u001b]0;pwned\\u0007\\n::warning::x " + "C" * 2000
    errors = ",".join(f'{{"code": "invalid-publisher", "description": "{description}"}}' for _ in range(20))
    canned.routes["/_/oidc/mint-token"] = (422, {}, f'{{"errors": [{errors}]}}'.encode())
    with pytest.raises(MintRejected) as info:
        mint_api_token(Registry.parse(canned.url + "/legacy/"), github(issuer), env={})
    text = str(info.value)
    assert "\x1b" not in text and "\x07" not in text and "\n::warning::" not in text
    assert "bad\\x1b]0;pwned\\x07\\n::warning::x" in info.value.description
    assert len(info.value.description) <= 300 and info.value.description.endswith("…")
    assert len(info.value.errors) == 10


# --------------------------------------------------------------------------- preflight: every token at once


def test_preflight_names_every_missing_gitlab_token_before_any_mint(index: LocalIndex) -> None:
    source = TokenSource(registry_of(index), GitLabCIProvider({"GITLAB_CI": "true"}), env={})
    with pytest.raises(MissingIdTokens) as info:
        source.preflight(also=("sigstore",))
    text = str(info.value)
    assert "PYPI_ID_TOKEN is not set" in text and "SIGSTORE_ID_TOKEN is not set" in text
    assert "id_tokens: {PYPI_ID_TOKEN: {aud: pypi}, SIGSTORE_ID_TOKEN: {aud: sigstore}}" in text
    assert source.mint_count == 0 and source.audience == "pypi"


def test_preflight_asks_the_index_its_audience(trusting_index: LocalIndex, issuer: OIDCIssuer, tmp_path: Path) -> None:
    with LocalIndex(tmp_path / "test", audience="testpypi") as testpypi:
        env = {"GITLAB_CI": "true", "PYPI_ID_TOKEN": issuer.mint_gitlab("pypi"), "SIGSTORE_ID_TOKEN": issuer.mint_gitlab("sigstore")}
        source = TokenSource(registry_of(testpypi), GitLabCIProvider(env), env={})
        with pytest.raises(MissingIdTokens) as info:
            source.preflight(also=("sigstore",))
        assert info.value.problems == ("TESTPYPI_ID_TOKEN is not set",)
        assert "id_tokens: {TESTPYPI_ID_TOKEN: {aud: testpypi}, SIGSTORE_ID_TOKEN: {aud: sigstore}}" in str(info.value)
        env["TESTPYPI_ID_TOKEN"] = issuer.mint_gitlab("testpypi")
        source.preflight(also=("sigstore",))  # all there: nothing to say
