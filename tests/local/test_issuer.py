"""The local OIDC issuer (tokens, JWKS, the runner endpoint) and the shared HTTP base."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import id as ambient_id
import jwt
import pytest

from trustpub.local._http import (
    HTTPError,
    LocalServer,
    Request,
    Response,
    json_response,
    text_response,
)
from trustpub.local.issuer import (
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    GitHubIdentity,
    GitLabIdentity,
    OIDCIssuer,
)

GITHUB_CLAIMS = {
    "iss", "aud", "sub", "jti", "iat", "nbf", "exp", "repository", "repository_owner",
    "repository_owner_id", "repository_id", "repository_visibility", "actor", "actor_id",
    "workflow", "workflow_ref", "workflow_sha", "job_workflow_ref", "job_workflow_sha", "ref",
    "ref_type", "ref_protected", "sha", "event_name", "environment", "run_id", "run_number",
    "run_attempt", "runner_environment", "head_ref", "base_ref",
}  # fmt: skip


@pytest.fixture(scope="module")
def issuer() -> Iterator[OIDCIssuer]:
    with OIDCIssuer() as running:
        yield running


@pytest.fixture
def reset_identity(issuer: OIDCIssuer) -> Iterator[None]:
    saved = issuer.github
    yield
    issuer.github = saved


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# -- tokens and keys -------------------------------------------------------------------


def test_github_token_verifies_against_served_jwks(issuer: OIDCIssuer) -> None:
    token = issuer.mint_github("pypi")
    key = jwt.PyJWKClient(issuer.jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="pypi")
    assert claims["iss"] == GITHUB_ISSUER
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid


def test_openid_configuration_points_at_jwks(issuer: OIDCIssuer) -> None:
    for base in (issuer.url, issuer.url + "/oidc"):
        status, config = _get(base + "/.well-known/openid-configuration")
        assert status == 200
        assert config["jwks_uri"] == base + "/jwks"
        assert "RS256" in config["id_token_signing_alg_values_supported"]
        assert _get(config["jwks_uri"])[1] == issuer.jwks()


def test_token_from_other_issuer_fails_verification(issuer: OIDCIssuer) -> None:
    other = OIDCIssuer()  # never started: keys exist without a server
    token = other.mint_github("pypi")
    with pytest.raises(jwt.InvalidSignatureError):
        issuer.verify_token(token, audience="pypi")
    with pytest.raises(jwt.InvalidAudienceError):
        issuer.verify_token(issuer.mint_github("pypi"), audience="sigstore")


def test_github_token_has_every_runner_claim(issuer: OIDCIssuer) -> None:
    before = int(time.time())
    claims = issuer.verify_token(issuer.mint_github("pypi", lifetime=120), audience="pypi")
    assert set(claims) == GITHUB_CLAIMS
    assert claims["sub"] == "repo:octo-org/demo:environment:release"
    assert (
        claims["job_workflow_ref"] == "octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
    )
    assert claims["workflow_ref"] == claims["job_workflow_ref"]
    assert claims["repository_owner"] == "octo-org"
    assert claims["ref_type"] == "tag"
    assert claims["ref_protected"] == "true"
    assert claims["job_workflow_sha"] == claims["sha"]
    assert re.fullmatch(r"[0-9a-f]{40}", claims["sha"])
    assert claims["exp"] - claims["iat"] == 120
    assert before <= claims["iat"] <= claims["nbf"] + 1
    # Real runners send IDs as strings; PyPI compares repository_owner_id exactly.
    assert all(isinstance(claims[name], str) for name in ("repository_owner_id", "run_id"))


def test_github_subject_follows_environment_and_event(issuer: OIDCIssuer) -> None:
    no_env = GitHubIdentity(environment=None, ref="refs/heads/main")
    claims = _unverified(issuer.mint_github(identity=no_env))
    assert claims["sub"] == "repo:octo-org/demo:ref:refs/heads/main"
    assert claims["ref_type"] == "branch"
    assert "environment" not in claims
    pull = GitHubIdentity(environment=None, event_name="pull_request")
    assert (
        _unverified(issuer.mint_github(identity=pull))["sub"] == "repo:octo-org/demo:pull_request"
    )


def test_reusable_workflow_identity_keeps_caller_workflow_ref(issuer: OIDCIssuer) -> None:
    identity = GitHubIdentity(
        job_workflow_ref="octo-org/shared/.github/workflows/pub.yml@refs/heads/main"
    )
    claims = _unverified(issuer.mint_github(identity=identity))
    assert claims["job_workflow_ref"].startswith("octo-org/shared/")
    assert claims["workflow_ref"] == "octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"


def test_claim_overrides_add_replace_and_remove(issuer: OIDCIssuer) -> None:
    claims = _unverified(
        issuer.mint_github(event_name="pull_request_target", environment=None, extra="x")
    )
    assert claims["event_name"] == "pull_request_target"
    assert "environment" not in claims
    assert claims["extra"] == "x"
    first, second = (_unverified(issuer.mint_github())["jti"] for _ in range(2))
    assert first != second


def test_raw_sign_keeps_odd_claims_and_headers(issuer: OIDCIssuer) -> None:
    token = issuer.sign(
        {"iss": "https://elsewhere.example", "aud": ["a", "b"]}, headers={"kid": "nope"}
    )
    assert jwt.get_unverified_header(token)["kid"] == "nope"
    assert _unverified(token) == {"iss": "https://elsewhere.example", "aud": ["a", "b"]}


def test_gitlab_token_claims(issuer: OIDCIssuer) -> None:
    claims = issuer.verify_token(issuer.mint_gitlab("sigstore"), audience="sigstore")
    assert claims["iss"] == GITLAB_ISSUER
    assert claims["sub"] == "project_path:octo-group/demo:ref_type:tag:ref:v1.0.0"
    assert (
        claims["ci_config_ref_uri"] == "gitlab.com/octo-group/demo//.gitlab-ci.yml@refs/tags/v1.0.0"
    )
    assert claims["namespace_path"] == "octo-group"
    assert claims["ref_path"] == "refs/tags/v1.0.0"
    assert isinstance(claims["runner_id"], int)
    assert {"jti", "project_id", "pipeline_id", "job_id", "user_login", "ci_config_sha"} <= set(
        claims
    )
    branch = GitLabIdentity(ref_path="refs/heads/main", environment="pypi")
    claims = _unverified(issuer.mint_gitlab(identity=branch))
    assert claims["sub"] == "project_path:octo-group/demo:ref_type:branch:ref:main"
    assert claims["environment"] == "pypi"


def test_google_token_claims(issuer: OIDCIssuer) -> None:
    claims = issuer.verify_token(
        issuer.mint_google("sigstore", email="a@b.iam.gserviceaccount.com"), audience="sigstore"
    )
    assert claims["iss"] == GOOGLE_ISSUER
    assert claims["email"] == "a@b.iam.gserviceaccount.com"
    assert claims["email_verified"] is True
    assert claims["sub"] == claims["azp"] and claims["sub"].isdigit()


# -- the GitHub Actions runner endpoint ------------------------------------------------------


def test_runner_endpoint_requires_the_request_token(issuer: OIDCIssuer) -> None:
    assert _get(issuer.github_token_url + "&audience=pypi")[0] == 401
    assert _get(issuer.github_token_url, {"Authorization": "Basic abc"})[0] == 401
    assert _get(issuer.github_token_url, {"Authorization": "Bearer wrong"})[0] == 403


def test_runner_endpoint_with_appended_audience(issuer: OIDCIssuer) -> None:
    # actions/toolkit and shell snippets append "&audience=": the URL already has a query.
    assert "?" in issuer.github_token_url
    headers = {"Authorization": f"bearer {issuer.request_token}"}
    status, body = _get(issuer.github_token_url + "&audience=pypi", headers)
    assert status == 200
    assert issuer.verify_token(body["value"], audience="pypi")["repository"] == "octo-org/demo"


def test_runner_endpoint_default_audience_is_owner_url(issuer: OIDCIssuer) -> None:
    status, body = _get(
        issuer.github_token_url, {"Authorization": f"Bearer {issuer.request_token}"}
    )
    assert status == 200
    assert _unverified(body["value"])["aud"] == "https://github.com/octo-org"


def test_id_package_detects_runner_credentials(
    issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, reset_identity: None
) -> None:
    issuer.github = GitHubIdentity(repository="octo-org/other", environment=None)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", issuer.github_token_url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", issuer.request_token)
    token = ambient_id.detect_credential("pypi")
    assert token is not None
    claims = issuer.verify_token(token, audience="pypi")
    assert claims["repository"] == "octo-org/other"
    assert claims["sub"] == "repo:octo-org/other:ref:refs/tags/v1.0.0"


# -- the shared HTTP base -------------------------------------------------------------


def _boom(request: Request) -> Response:
    raise RuntimeError("handler bug")


def _teapot(request: Request) -> Response:
    raise HTTPError(418, "short and stout")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    local = LocalServer(name="test")
    local.route("GET", "/hello", lambda r: json_response({"name": r.param("name")}))
    local.route("POST", "/echo", lambda r: Response(200, r.body, r.header("Content-Type") or ""))
    local.route(
        "GET",
        re.compile(r"/items/(?P<id>\d+)"),
        lambda r: text_response(r.match["id"] if r.match else ""),
    )
    local.route("GET", "/files/", lambda r: text_response(r.path), prefix=True)
    local.route("GET", "/boom", _boom)
    local.route("GET", "/teapot", _teapot)
    local.route(
        "POST", "/reason", lambda r: Response(400, b"no", reason="Invalid distribution file.")
    )
    with local:
        yield local


def _call(
    server: LocalServer,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_routes_exact_prefix_and_regex(server: LocalServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert _get(server.url + "/hello?name=a&name=b")[1] == {"name": "b"}
    with urllib.request.urlopen(server.url + "/items/42") as response:
        assert response.read() == b"42"
    with urllib.request.urlopen(server.url + "/files/x/y.whl") as response:
        assert response.read() == b"/files/x/y.whl"
    assert _call(server, "GET", "/items/abc").status == 404
    head = _call(server, "HEAD", "/hello")
    assert head.status == 200 and head.getheader("Content-Length") != "0"


def test_errors_are_json_and_never_kill_the_server(server: LocalServer) -> None:
    assert _get(server.url + "/nowhere") == (404, {"code": 404, "message": "no route for /nowhere"})
    assert _get(server.url + "/boom")[0] == 500
    assert _get(server.url + "/teapot") == (418, {"code": 418, "message": "short and stout"})
    response = _call(server, "POST", "/hello", b"")
    assert response.status == 405 and response.getheader("Allow") == "GET"
    assert _call(server, "POST", "/reason", b"").reason == "Invalid distribution file."


def test_chunked_request_body(server: LocalServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("POST", "/echo", body=iter([b"ab", b"", b"cde"]), encode_chunked=True,
                       headers={"Transfer-Encoding": "chunked", "Content-Type": "x/y"})  # fmt: skip
    response = connection.getresponse()
    assert response.read() == b"abcde"
    assert response.getheader("Content-Type") == "x/y"
    connection.close()


def assert_no_thread_left(before: set[threading.Thread]) -> None:
    """The thread count is back to the threads that existed before (minus any that
    ended on their own meanwhile, e.g. handlers of other servers finishing a request)."""
    assert set(threading.enumerate()) <= before
    assert threading.active_count() == sum(t.is_alive() for t in before)


def test_stop_leaves_no_thread_even_with_idle_keepalive() -> None:
    before = set(threading.enumerate())
    issuer = OIDCIssuer().start()
    connection = http.client.HTTPConnection(
        "127.0.0.1", int(issuer.url.rsplit(":", 1)[1]), timeout=5
    )
    connection.request("GET", "/jwks")
    assert connection.getresponse().read()  # the handler thread now waits on keep-alive
    assert set(threading.enumerate()) - before  # serving thread + handler thread
    started = time.perf_counter()
    issuer.stop()
    assert time.perf_counter() - started < 2
    assert_no_thread_left(before)
    connection.close()
    with pytest.raises(RuntimeError):
        _ = issuer.url
    issuer.stop()  # idempotent


def test_server_lifecycle_errors() -> None:
    local = LocalServer(name="twice")
    with pytest.raises(RuntimeError, match="not running"):
        _ = local.url
    with local:
        with pytest.raises(RuntimeError, match="already running"):
            local.start()
        assert local.running
    assert not local.running


@pytest.mark.parametrize("kind", ["github", "gitlab", "google"])
def test_mint_pair_gives_the_index_and_sigstore_tokens_of_one_identity(issuer: OIDCIssuer, kind: str) -> None:
    index_token, sigstore_token = issuer.mint_pair(kind, "testpypi")
    index_claims = issuer.verify_token(index_token, audience="testpypi")
    sigstore_claims = issuer.verify_token(sigstore_token, audience="sigstore")
    assert index_claims["iss"] == sigstore_claims["iss"] and index_claims["sub"] == sigstore_claims["sub"]
    with pytest.raises(jwt.InvalidAudienceError):
        issuer.verify_token(sigstore_token, audience="testpypi")
    env = issuer.static_environment(kind)
    assert issuer.verify_token(env["TRUSTPUB_OIDC_TOKEN"], audience="pypi")["iss"] == index_claims["iss"]
    assert issuer.verify_token(env["TRUSTPUB_SIGSTORE_OIDC_TOKEN"], audience="sigstore")["iss"] == index_claims["iss"]


def test_mint_refuses_an_unknown_kind(issuer: OIDCIssuer) -> None:
    with pytest.raises(ValueError, match="unknown token kind 'jenkins'"):
        issuer.mint("jenkins")
