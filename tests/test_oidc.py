"""CI detection and OIDC providers (trustpub.oidc), against the local OIDC issuer."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.identity import clear_ci_env
from trustpub.local.issuer import GitHubIdentity, GitLabIdentity, OIDCIssuer
from trustpub.oidc import (
    GITHUB_ISSUER,
    BuildkiteProvider,
    CircleCIProvider,
    ForkPullRequest,
    GitHubActionsProvider,
    GitLabCIProvider,
    GoogleCloudProvider,
    MissingIdTokenPermission,
    MissingIdTokens,
    NotInCI,
    OIDCProvider,
    StaticProvider,
    TokenRequestFailed,
    check_audiences,
    decode_claims,
    detect_ci,
    diagnose,
    gitlab_env_var,
    gitlab_id_tokens_block,
    publisher_settings,
    reusable_workflow_warning,
)
from trustpub.oidc._github import _with_query
from trustpub.secrets import Secret

NO_GCP = "/nonexistent/product_name"


@pytest.fixture(autouse=True)
def _reset_identity(issuer: OIDCIssuer) -> None:
    issuer.github = GitHubIdentity()


def github_env(issuer: OIDCIssuer, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.github_token_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
        **extra,
    }


@pytest.fixture
def clean_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_ci_env(monkeypatch)


# --------------------------------------------------------------------------- GitHub


def test_github_ambient_detection_through_the_runner_endpoint(
    issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, clean_ci_env: None
) -> None:
    for key, value in github_env(issuer).items():
        monkeypatch.setenv(key, value)
    detection = detect_ci(gcp_product_file=NO_GCP)  # reads os.environ
    assert detection.ci == "GitHub Actions"
    provider = detection.require_provider()
    assert isinstance(provider, GitHubActionsProvider) and isinstance(provider, OIDCProvider)
    token = provider.fetch("pypi")
    assert token.provider == "GitHub Actions"
    assert token.claims["aud"] == "pypi" and token.issuer == GITHUB_ISSUER
    assert token.claims["repository"] == "octo-org/demo"
    assert issuer.verify_token(token.value.reveal(), audience="pypi")["jti"] == token.claims["jti"]
    # Each fetch is a new token (PyPI accepts a JWT once).
    assert provider.fetch("pypi").claims["jti"] != token.claims["jti"]
    assert provider.fetch("testpypi").audience == "testpypi"


def test_audience_is_appended_to_an_existing_query_string() -> None:
    url = _with_query("http://127.0.0.1:1/github-token?api-version=2.0", audience="pypi")
    assert url == "http://127.0.0.1:1/github-token?api-version=2.0&audience=pypi"
    assert _with_query("http://127.0.0.1:1/t?audience=old&x=1", audience="new").endswith("?x=1&audience=new")


def test_github_without_id_token_permission(issuer: OIDCIssuer) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push"}
    detection = detect_ci(env, gcp_product_file=NO_GCP)
    assert detection.ci == "GitHub Actions" and detection.provider is None
    assert isinstance(detection.error, MissingIdTokenPermission)
    assert "ACTIONS_ID_TOKEN_REQUEST_URL is not set" in str(detection.error)
    assert "id-token: write" in str(detection.error)
    with pytest.raises(MissingIdTokenPermission):
        detection.require_provider()
    # A URL without the bearer is the same failure.
    env["ACTIONS_ID_TOKEN_REQUEST_URL"] = issuer.github_token_url
    assert isinstance(detect_ci(env, gcp_product_file=NO_GCP).error, MissingIdTokenPermission)


def test_github_fork_pull_request(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "pull_request": {
                    "head": {"repo": {"fork": True, "full_name": "someone/demo"}},
                    "base": {"repo": {"full_name": "octo-org/demo"}},
                }
            }
        )
    )
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}
    error = detect_ci(env, gcp_product_file=NO_GCP).error
    assert isinstance(error, ForkPullRequest)
    assert "pull request from a fork" in str(error)
    assert [p.id for p in diagnose({}, env)] == ["fork-pull-request"]


def test_github_runner_refuses_a_wrong_bearer(issuer: OIDCIssuer) -> None:
    provider = GitHubActionsProvider.from_env(github_env(issuer, ACTIONS_ID_TOKEN_REQUEST_TOKEN="wrong-bearer-CANARY"))
    with pytest.raises(TokenRequestFailed, match="HTTP 403") as info:
        provider.fetch("pypi")
    assert "CANARY" not in str(info.value)
    assert "CANARY" not in repr(provider)


# --------------------------------------------------------------------------- GitLab


def test_gitlab_token_from_its_env_var(issuer: OIDCIssuer) -> None:
    raw = issuer.mint_gitlab("pypi", identity=GitLabIdentity(environment="release"))
    env = {"GITLAB_CI": "true", "PYPI_ID_TOKEN": raw}
    detection = detect_ci(env, gcp_product_file=NO_GCP)
    assert detection.ci == "GitLab CI" and isinstance(detection.provider, GitLabCIProvider)
    token = detection.provider.fetch("pypi")
    assert token.claims["project_path"] == "octo-group/demo" and token.value.reveal() == raw
    with pytest.raises(TokenRequestFailed, match="TESTPYPI_ID_TOKEN is not set") as info:
        detection.provider.fetch("testpypi")
    assert "id_tokens" in str(info.value)


def test_gitlab_env_var_names() -> None:
    assert gitlab_env_var("pypi") == "PYPI_ID_TOKEN"
    assert gitlab_env_var("testpypi") == "TESTPYPI_ID_TOKEN"
    assert gitlab_env_var("sigstore") == "SIGSTORE_ID_TOKEN"
    assert gitlab_env_var("http://test.audience") == "HTTP___TEST_AUDIENCE_ID_TOKEN"


def test_gitlab_token_with_the_wrong_audience(issuer: OIDCIssuer) -> None:
    env = {"GITLAB_CI": "true", "PYPI_ID_TOKEN": issuer.mint_gitlab("sigstore")}
    with pytest.raises(TokenRequestFailed, match=r"audience 'sigstore'.*expects exactly 'pypi'"):
        GitLabCIProvider(env).fetch("pypi")


# --------------------------------------------------------------------------- others


def test_not_in_ci() -> None:
    detection = detect_ci({}, gcp_product_file=NO_GCP)
    assert detection.ci is None and detection.provider is None
    with pytest.raises(NotInCI, match="needs a CI identity") as info:
        detection.require_provider()
    assert "TRUSTPUB_TOKEN" in str(info.value)


def test_google_cloud_detection(tmp_path: Path) -> None:
    assert isinstance(detect_ci({"GOOGLE_SERVICE_ACCOUNT_NAME": "x@y"}, gcp_product_file=NO_GCP).provider, GoogleCloudProvider)
    product = tmp_path / "product_name"
    product.write_text("Google Compute Engine\n")
    detection = detect_ci({}, gcp_product_file=str(product))
    assert detection.ci == "Google Cloud" and detection.require_provider().pypi_accepts


def _fake_cli(tmp_path: Path, name: str, token: str) -> None:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\necho '{token}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_buildkite_token_through_id(issuer: OIDCIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cli(tmp_path, "buildkite-agent", issuer.sign({"iss": "https://agent.buildkite.com", "aud": "sigstore", "sub": "x"}))
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("BUILDKITE", "true")
    detection = detect_ci({"BUILDKITE": "true"}, gcp_product_file=NO_GCP)
    provider = detection.require_provider()
    assert isinstance(provider, BuildkiteProvider) and provider.pypi_accepts is False
    assert provider.fetch("sigstore").issuer == "https://agent.buildkite.com"
    assert "buildkite" in diagnose(provider.fetch("sigstore").claims)[0].message


def test_circleci_without_its_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CIRCLECI", "true")
    provider = detect_ci({"CIRCLECI": "true"}, gcp_product_file=NO_GCP).require_provider()
    assert isinstance(provider, CircleCIProvider) and not provider.pypi_accepts
    with pytest.raises(TokenRequestFailed, match=r"CircleCI: .*circleci"):
        provider.fetch("sigstore")


def test_static_provider_from_env_and_file(issuer: OIDCIssuer, tmp_path: Path) -> None:
    raw = issuer.mint_github("pypi")
    detection = detect_ci({"TRUSTPUB_OIDC_TOKEN": raw, "GITHUB_ACTIONS": "true"}, gcp_product_file=NO_GCP)
    assert isinstance(detection.provider, StaticProvider)  # explicit beats ambient
    assert detection.provider.fetch("pypi").value.reveal() == raw

    path = tmp_path / "token"
    path.write_text(raw + "\n")
    provider = StaticProvider.from_env({"TRUSTPUB_OIDC_TOKEN_FILE": str(path)})
    assert provider is not None and provider.fetch("pypi").value.reveal() == raw
    fresh = issuer.mint_github("pypi")
    path.write_text(fresh)  # re-read on every fetch
    assert provider.fetch("pypi").value.reveal() == fresh
    with pytest.raises(TokenRequestFailed, match="expects exactly 'testpypi'"):
        provider.fetch("testpypi")
    path.unlink()
    with pytest.raises(TokenRequestFailed, match="cannot read the OIDC token file"):
        provider.fetch("pypi")


def test_list_audience_is_refused(issuer: OIDCIssuer) -> None:
    provider = StaticProvider("test", token=Secret(issuer.mint_github("pypi", aud=["pypi"])))
    with pytest.raises(TokenRequestFailed, match=r"audience \['pypi'\]"):
        provider.fetch("pypi")


def test_decode_claims_of_garbage_does_not_echo_it() -> None:
    with pytest.raises(TokenRequestFailed) as info:
        decode_claims("not-a-jwt-CANARY")
    assert "CANARY" not in str(info.value)


# --------------------------------------------------------------------------- claims


def test_publisher_settings_github(issuer: OIDCIssuer) -> None:
    claims = decode_claims(issuer.mint_github("pypi"))
    settings = publisher_settings(claims)
    assert settings is not None and settings.kind == "GitHub"
    fields = dict(settings.fields)
    assert fields["Owner"] == "octo-org" and fields["Repository name"] == "demo"
    assert fields["Workflow name"] == "release.yml" and fields["Environment name"] == "release"
    assert settings.spec == "github:octo-org/demo/release.yml@release"
    url = settings.settings_url("https://127.0.0.1/manage/project/demo/settings/publishing/")
    assert url.endswith("?provider=github&owner=octo-org&repository=demo&workflow_filename=release.yml&environment=release")


def test_publisher_settings_gitlab_and_google(issuer: OIDCIssuer) -> None:
    gitlab = publisher_settings(decode_claims(issuer.mint_gitlab("pypi", identity=GitLabIdentity(ci_config_path="ci/release.yml"))))
    assert gitlab is not None and gitlab.spec == "gitlab:octo-group/demo/ci/release.yml"
    assert dict(gitlab.fields)["Namespace"] == "octo-group"
    google = publisher_settings(decode_claims(issuer.mint_google("pypi")))
    assert google is not None and google.spec == "google:release@demo-project.iam.gserviceaccount.com"
    assert publisher_settings({"iss": "https://unknown.example"}) is None


def test_diagnose_reusable_workflow_environment_and_sub(issuer: OIDCIssuer) -> None:
    identity = GitHubIdentity(
        environment=None,
        job_workflow_ref="octo-org/demo/.github/workflows/publish-reusable.yml@refs/tags/v1.0.0",
    )
    claims = decode_claims(issuer.mint_github("pypi", identity=identity, sub="repo:octo-org/demo:custom"))
    problems = {p.id: p for p in diagnose(claims, {})}
    assert set(problems) == {"reusable-workflow", "customised-sub", "no-environment"}
    assert "'publish-reusable.yml'" in problems["reusable-workflow"].message
    assert "'release.yml'" in problems["reusable-workflow"].message
    warning = reusable_workflow_warning(claims)
    assert warning is not None and "Sigstore certificate" in warning
    assert diagnose(decode_claims(issuer.mint_github("pypi")), {}) == []


def test_diagnose_pull_request_target(issuer: OIDCIssuer) -> None:
    claims = decode_claims(issuer.mint_github("pypi", identity=GitHubIdentity(event_name="pull_request_target")))
    assert [p.id for p in diagnose(claims, {})] == ["pull-request-target"]
    assert [p.id for p in diagnose({}, {"GITHUB_EVENT_NAME": "pull_request_target"})] == ["pull-request-target"]


# --------------------------------------------------------------------------- two static tokens, audiences


def test_static_provider_serves_a_second_token_for_sigstore(issuer: OIDCIssuer, tmp_path: Path) -> None:
    env = issuer.static_environment("google")
    assert set(env) == {"TRUSTPUB_OIDC_TOKEN", "TRUSTPUB_SIGSTORE_OIDC_TOKEN"}
    detection = detect_ci({**env, "GITHUB_ACTIONS": "true"}, gcp_product_file=NO_GCP)
    provider = detection.require_provider()
    assert isinstance(provider, StaticProvider) and provider.has_sigstore_token
    assert provider.fetch("pypi").value.reveal() == env["TRUSTPUB_OIDC_TOKEN"]
    signing = provider.fetch("sigstore")
    assert signing.value.reveal() == env["TRUSTPUB_SIGSTORE_OIDC_TOKEN"]
    assert signing.provider == "static token (TRUSTPUB_SIGSTORE_OIDC_TOKEN)" and signing.audience == "sigstore"
    provider.check_audiences(["pypi", "sigstore"])  # both there: silent
    # The Sigstore token from a file, re-read at every fetch.
    path = tmp_path / "sigstore.jwt"
    path.write_text(issuer.mint_google("sigstore"))
    from_file = StaticProvider.from_env({"TRUSTPUB_OIDC_TOKEN": env["TRUSTPUB_OIDC_TOKEN"], "TRUSTPUB_SIGSTORE_OIDC_TOKEN_FILE": str(path)})
    assert from_file is not None and from_file.fetch("sigstore").value.reveal() == path.read_text()
    assert "TRUSTPUB_SIGSTORE_OIDC_TOKEN" not in repr(from_file.fetch("sigstore").value)


def test_static_sigstore_errors_name_sigstore_and_the_variable(issuer: OIDCIssuer) -> None:
    only_index = StaticProvider.from_env({"TRUSTPUB_OIDC_TOKEN": issuer.mint_google("pypi")})
    assert only_index is not None
    with pytest.raises(TokenRequestFailed) as info:
        only_index.fetch("sigstore")
    text = str(info.value)
    assert "has audience 'pypi', but Sigstore, which signs the attestations, expects exactly 'sigstore'" in text
    assert "TRUSTPUB_SIGSTORE_OIDC_TOKEN" in text and "the index expects" not in text
    # A single static token for Sigstore still signs (e.g. `trustpub attest`).
    alone = StaticProvider.from_env({"TRUSTPUB_OIDC_TOKEN": issuer.mint_google("sigstore")})
    assert alone is not None and alone.fetch("sigstore").audience == "sigstore"

    wrong = StaticProvider.from_env(issuer.static_environment("google") | {"TRUSTPUB_SIGSTORE_OIDC_TOKEN": issuer.mint_google("pypi")})
    assert wrong is not None
    with pytest.raises(TokenRequestFailed, match=r"static token \(TRUSTPUB_SIGSTORE_OIDC_TOKEN\) has audience 'pypi', but Sigstore"):
        wrong.fetch("sigstore")
    # The index's token with Sigstore's audience: the index is named, and where the other token goes.
    swapped = StaticProvider.from_env({"TRUSTPUB_OIDC_TOKEN": issuer.mint_google("sigstore")})
    assert swapped is not None
    with pytest.raises(TokenRequestFailed, match=r"but the index expects exactly 'pypi'.*TRUSTPUB_SIGSTORE_OIDC_TOKEN"):
        swapped.fetch("pypi")


def test_only_a_sigstore_static_token_signs_and_says_the_index_token_is_missing(issuer: OIDCIssuer) -> None:
    provider = StaticProvider.from_env({"TRUSTPUB_SIGSTORE_OIDC_TOKEN": issuer.mint_google("sigstore")})
    assert provider is not None and provider.fetch("sigstore").audience == "sigstore"
    with pytest.raises(TokenRequestFailed, match=r"no OIDC token for the index \(audience 'pypi'\): TRUSTPUB_OIDC_TOKEN"):
        provider.fetch("pypi")


def test_static_check_audiences_names_every_problem_at_once(issuer: OIDCIssuer) -> None:
    provider = StaticProvider.from_env({"TRUSTPUB_OIDC_TOKEN": issuer.mint_google("testpypi")})
    assert provider is not None
    with pytest.raises(TokenRequestFailed) as info:
        check_audiences(provider, ["pypi", "sigstore"])
    text = str(info.value)
    assert "the index expects exactly 'pypi'" in text and "Sigstore, which signs the attestations, expects exactly 'sigstore'" in text


def test_audience_errors_say_who_wants_the_audience(issuer: OIDCIssuer) -> None:
    env = {"GITLAB_CI": "true", "SIGSTORE_ID_TOKEN": issuer.mint_gitlab("pypi")}
    with pytest.raises(TokenRequestFailed, match=r"audience 'pypi', but Sigstore, which signs the attestations, expects exactly 'sigstore'"):
        GitLabCIProvider(env).fetch("sigstore")
    huge = StaticProvider("test", token=Secret(issuer.mint_github("pypi", aud="\x1b[2J" + "a" * 10_000)))
    with pytest.raises(TokenRequestFailed) as info:
        huge.fetch("pypi")
    assert "\x1b" not in str(info.value) and len(str(info.value)) < 800


# --------------------------------------------------------------------------- GitLab: every missing id_token at once


def test_gitlab_names_every_missing_id_token_and_the_block_that_fixes_them(issuer: OIDCIssuer) -> None:
    provider = GitLabCIProvider({"GITLAB_CI": "true"})
    with pytest.raises(MissingIdTokens) as info:
        check_audiences(provider, ["pypi", "sigstore"])
    error = info.value
    assert error.problems == ("PYPI_ID_TOKEN is not set", "SIGSTORE_ID_TOKEN is not set")
    assert error.block == "id_tokens:\n  PYPI_ID_TOKEN:\n    aud: pypi\n  SIGSTORE_ID_TOKEN:\n    aud: sigstore"
    assert "lacks the OIDC tokens for 'pypi' and 'sigstore'" in str(error) and "--no-attestations" in str(error)
    assert "`id_tokens: {PYPI_ID_TOKEN: {aud: pypi}, SIGSTORE_ID_TOKEN: {aud: sigstore}}`" in str(error)
    # One present with the wrong audience, one missing: both named, one block.
    env = {"GITLAB_CI": "true", "PYPI_ID_TOKEN": issuer.mint_gitlab("sigstore")}
    with pytest.raises(MissingIdTokens) as info:
        GitLabCIProvider(env).check_audiences(["pypi", "sigstore"])
    assert info.value.problems == ("PYPI_ID_TOKEN has audience 'sigstore', not 'pypi'", "SIGSTORE_ID_TOKEN is not set")
    # All declared: nothing to say, and nothing was consumed.
    env.update(PYPI_ID_TOKEN=issuer.mint_gitlab("pypi"), SIGSTORE_ID_TOKEN=issuer.mint_gitlab("sigstore"))
    check_audiences(GitLabCIProvider(env), ["pypi", "sigstore"])
    assert gitlab_id_tokens_block(["testpypi", "sigstore", "testpypi"]) == (
        "id_tokens:\n  TESTPYPI_ID_TOKEN:\n    aud: testpypi\n  SIGSTORE_ID_TOKEN:\n    aud: sigstore"
    )
    assert gitlab_id_tokens_block(["pypi"], flow=True) == "id_tokens: {PYPI_ID_TOKEN: {aud: pypi}}"


def test_providers_that_fetch_on_demand_are_not_asked_up_front(issuer: OIDCIssuer) -> None:
    # Checking would spend a runner token: check_audiences leaves GitHub alone.
    provider = GitHubActionsProvider.from_env(github_env(issuer, ACTIONS_ID_TOKEN_REQUEST_TOKEN="wrong"))
    check_audiences(provider, ["pypi", "sigstore"])


def test_a_huge_runner_answer_is_refused_and_not_echoed() -> None:
    from tests.test_transport import TinyServer

    server = TinyServer().start()
    try:
        server.routes["/token"] = (200, {}, b'{"value": "' + b"D" * (1024 * 1024) + b'"}')
        provider = GitHubActionsProvider(server.url + "/token?api-version=2.0", Secret("bearer-secret"))
        with pytest.raises(TokenRequestFailed, match="more than 64 KiB") as info:
            provider.fetch("pypi")
        assert "DDDD" not in str(info.value) and len(str(info.value)) < 400
    finally:
        server.stop()
