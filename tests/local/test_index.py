"""The local index against warehouse-contract.md, case by case, over raw HTTP.

Every test talks to a running :class:`LocalIndex` with ``http.client`` (so status
lines, reason phrases and bodies are seen exactly as sent), with OIDC tokens from the
local issuer and attestations signed by the real sigstore-python on the local
Sigstore instance. Real clients are exercised too: ``twine upload`` lands a file and
``pip download`` gets the same bytes back. One index serves the whole module (each
test uses its own project names), so the file runs in seconds.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pypi_attestations import Attestation, AttestationType, Distribution
from sigstore.dsse import DigestSet, StatementBuilder, Subject
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from trove_classifiers import deprecated_classifiers

from tests.local._dists import Dist, build_sdist, build_wheel, multipart
from trustpub.local._oidc import JWKS_REFRESH_INTERVAL, MintError, TokenExchange
from trustpub.local.index import LocalIndex
from trustpub.local.issuer import (
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    GitHubIdentity,
    GitLabIdentity,
    OIDCIssuer,
)
from trustpub.local.sigstore import SigstoreInstance

VENV_BIN = Path(sys.executable).parent
CORE_HELP = "See https://packaging.python.org/specifications/core-metadata for more information."
TITLES = {200: "OK", 308: "Permanent Redirect", 400: "Bad Request", 403: "Forbidden", 410: "Gone"}
PUBLISH = AttestationType.PYPI_PUBLISH_V1.value
SLSA = AttestationType.SLSA_PROVENANCE_V1.value
GOOGLE_EMAIL = "release@demo-project.iam.gserviceaccount.com"
OCTET = "application/octet-stream"


# -- HTTP helpers -------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    reason: str
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _request(
    index: LocalIndex,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", index._server.port, timeout=30)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.reason, response.headers, response.read())
    finally:
        conn.close()


def _basic(token: str, username: str = "__token__") -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()


def upload(
    index: LocalIndex,
    dist: Dist,
    token: str | None,
    *,
    fields: Sequence[tuple[str, str]] | None = None,
    extra: Sequence[tuple[str, str]] = (),
    files: Sequence[tuple[str, str, bytes, str]] | None = None,
    content_type: str = OCTET,
    accept: str | None = "application/json",
    path: str = "/legacy/",
    authorization: str | None = None,
) -> Reply:
    """POST ``dist`` to the upload API the way twine does (overridable piece by piece)."""
    form = list(fields if fields is not None else dist.form()) + list(extra)
    parts = files if files is not None else [("content", dist.filename, dist.data, content_type)]
    body, form_type = multipart(form, parts)
    headers = {"Content-Type": form_type}
    if accept is not None:
        headers["Accept"] = accept
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = _basic(token)
    return _request(index, "POST", path, body, headers)


def mint(index: LocalIndex, token: str | None = None, *, body: bytes | None = None) -> Reply:
    payload = body if body is not None else json.dumps({"token": token}).encode()
    return _request(index, "POST", "/_/oidc/mint-token", payload)


def assert_rejected(reply: Reply, status: int, message: str) -> None:
    """PyPI's error delivery: reason phrase, and the JSON body for Accept: application/json."""
    reason = message.encode("latin-1", "replace").decode("latin-1")
    assert (reply.status, reply.reason) == (status, reason), reply.body[:300]
    body = reply.json()
    assert body["code"] == f"{status} {reason}"
    assert body["title"] == TITLES[status]
    assert body["message"].endswith(f"\n\n\n{message}\n\n")


def assert_mint_error(reply: Reply, code: str, description: str) -> None:
    assert reply.status == 422, reply.body
    assert reply.json() == {
        "message": "Token request failed",
        "errors": [{"code": code, "description": description}],
    }


# -- the world ----------------------------------------------------------------------


@dataclass
class World:
    issuer: OIDCIssuer
    sigstore: SigstoreInstance
    trust_config: Path
    context: SigningContext
    index: LocalIndex
    user_token: str

    def minted(self, jwt_token: str | None = None) -> str:
        reply = mint(self.index, jwt_token or self.issuer.mint_github("pypi"))
        assert reply.status == 200, reply.body
        token: str = reply.json()["token"]
        return token

    def attest(self, dist: Dist, identity: GitHubIdentity | None = None) -> Attestation:
        token = IdentityToken(self.issuer.mint_github("sigstore", identity=identity))
        with self.context.signer(token, cache=True) as signer:
            return Attestation.sign(signer, Distribution.from_file(dist.path))

    def attest_statement(self, dist: Dist, predicate_type: str) -> Attestation:
        statement = (
            StatementBuilder()
            .subjects([Subject(name=dist.filename, digest=DigestSet(root={"sha256": dist.sha256}))])
            .predicate_type(predicate_type)
            .predicate({})
            .build()
        )
        token = IdentityToken(self.issuer.mint_github("sigstore"))
        with self.context.signer(token, cache=True) as signer:
            return Attestation.from_bundle(signer.sign_dsse(statement))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("index-world")
    with OIDCIssuer() as issuer, SigstoreInstance(issuer) as sigstore:
        trust_config = sigstore.write_trust_config(tmp / "trust_config.json")
        jwks = {GITHUB_ISSUER: issuer.jwks_url, GITLAB_ISSUER: issuer.jwks_url}
        jwks[GOOGLE_ISSUER] = issuer.jwks_url
        with LocalIndex(tmp / "index", jwks_urls=jwks, trust_config=trust_config) as index:
            index.add_github_publisher("demo", "octo-org/demo", "1234567", "release.yml", "release")
            index.add_github_publisher(
                "demo-two", "octo-org/demo", "1234567", "release.yml", "release"
            )
            index.add_gitlab_publisher("demo-gitlab", "octo-group/demo", ".gitlab-ci.yml")
            index.add_google_publisher("demo-google", GOOGLE_EMAIL)
            index.add_project("unrelated")
            context = SigningContext.from_trust_config(sigstore.client_trust_config())
            yield World(issuer, sigstore, trust_config, context, index, index.add_api_token(None))


@pytest.fixture
def index(world: World) -> Iterator[LocalIndex]:
    """The shared index, with every knob back to its default after the test."""
    yield world.index
    idx = world.index
    idx.disallow_oidc = idx.disallow_pep740 = idx.read_only = idx.disallow_new_uploads = False
    idx.disallow_oidc_services.clear()
    idx.token_lifetime = 900
    idx.audience = "pypi"
    idx.max_file_size = 100 * 1024 * 1024
    idx.max_project_size = 10 * 1024**3
    idx.upload_delay = 0.0
    idx._fail_next.clear()
    idx._reset_next = 0


def fresh(prefix: str = "pkg") -> str:
    """A project name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# == §1 OIDC endpoints ==============================================================


def test_audience(index: LocalIndex) -> None:
    reply = _request(index, "GET", "/_/oidc/audience")
    assert (reply.status, reply.json()) == (200, {"audience": "pypi"})
    index.disallow_oidc = True
    reply = _request(index, "GET", "/_/oidc/audience")
    assert (reply.status, reply.json()) == (
        403,
        {"message": "Trusted publishing functionality not enabled"},
    )


def test_the_audience_is_the_index_setting(world: World, index: LocalIndex) -> None:
    index.audience = "testpypi"
    assert _request(index, "GET", "/_/oidc/audience").json() == {"audience": "testpypi"}
    assert_mint_error(
        mint(index, world.issuer.mint_github("pypi")), "invalid-token", "malformed or invalid token"
    )
    assert mint(index, world.issuer.mint_github("testpypi")).status == 200


def test_mint_success_and_legacy_alias(world: World, index: LocalIndex) -> None:
    before = int(time.time())
    reply = mint(index, world.issuer.mint_github("pypi"))
    document = reply.json()
    assert reply.status == 200
    assert set(document) == {"success", "token", "expires"}
    assert document["success"] is True and document["token"].startswith("pypi-")
    assert isinstance(document["expires"], int)
    assert before + 900 <= document["expires"] <= int(time.time()) + 900
    alias = _request(
        index,
        "POST",
        "/_/oidc/github/mint-token",
        json.dumps({"token": world.issuer.mint_github("pypi"), "ignored": 1}).encode(),
    )
    assert alias.status == 200 and alias.json()["token"].startswith("pypi-")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "Invalid JSON"),
        (b"{}", "Field required"),
        (b'{"token": 5}', "Input should be a valid string"),
        (b'["a"]', "Input should be an object"),
    ],
)
def test_mint_row1_payload_errors(index: LocalIndex, body: bytes, detail: str) -> None:
    reply = mint(index, body=body)
    assert reply.status == 422
    (error,) = reply.json()["errors"]
    assert error["code"] == "invalid-payload"
    assert error["description"].startswith("1 validation error for TokenPayload")
    assert detail in error["description"]


def test_mint_payload_errors_never_echo_a_token(world: World, index: LocalIndex) -> None:
    secret = world.issuer.mint_github("pypi")
    for body in (json.dumps({"tok": secret}).encode(), secret.encode()):
        reply = mint(index, body=body)
        assert reply.status == 422
        assert secret[:20] not in reply.body.decode() and secret[-20:] not in reply.body.decode()


def test_mint_row2_malformed_jwt(world: World, index: LocalIndex) -> None:
    assert_mint_error(mint(index, "not-a-jwt"), "invalid-payload", "malformed JWT")
    no_iss = world.issuer.sign({"aud": "pypi", "sub": "x", "iat": int(time.time())})
    assert_mint_error(mint(index, no_iss), "invalid-payload", "malformed JWT")


def test_mint_row3_unknown_issuer(world: World, index: LocalIndex) -> None:
    token = world.issuer.mint_github("pypi", iss="https://issuer.example.com")
    assert_mint_error(mint(index, token), "invalid-payload", "unknown trusted publishing issuer")


def test_mint_row4_not_enabled(world: World, index: LocalIndex) -> None:
    index.disallow_oidc_services.add("gitlab")
    assert_mint_error(
        mint(index, world.issuer.mint_gitlab("pypi")),
        "not-enabled",
        "gitlab trusted publishing functionality not enabled",
    )
    assert mint(index, world.issuer.mint_github("pypi")).status == 200
    index.disallow_oidc = True
    assert_mint_error(
        mint(index, world.issuer.mint_github("pypi")),
        "not-enabled",
        "github trusted publishing functionality not enabled",
    )


def _foreign_key_token(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


@pytest.mark.parametrize(
    "case",
    [
        "aud-testpypi",
        "aud-list",
        "aud-list-two",
        "expired",
        "nbf",
        "no-iat",
        "foreign-key",
        "no-kid",
        "unknown-kid",
        "hs256",
    ],
)
def test_mint_row5_invalid_token(world: World, index: LocalIndex, case: str) -> None:
    issuer = world.issuer
    now = int(time.time())
    claims = jwt.decode(issuer.mint_github("pypi"), options={"verify_signature": False})
    tokens = {
        "aud-testpypi": lambda: issuer.mint_github("testpypi"),
        "aud-list": lambda: issuer.mint_github("pypi", aud=["pypi"]),
        "aud-list-two": lambda: issuer.mint_github("pypi", aud=["pypi", "sigstore"]),
        "expired": lambda: issuer.mint_github("pypi", exp=now - 40, iat=now - 400, nbf=now - 400),
        "nbf": lambda: issuer.mint_github("pypi", nbf=now + 120),
        "no-iat": lambda: issuer.mint_github("pypi", iat=None),
        "foreign-key": lambda: _foreign_key_token(claims, {"kid": issuer.kid}),
        "no-kid": lambda: _foreign_key_token(claims),
        "unknown-kid": lambda: issuer.sign(claims, headers={"kid": "no-such-key"}),
        "hs256": lambda: jwt.encode(
            claims, "x" * 32, algorithm="HS256", headers={"kid": issuer.kid}
        ),
    }
    assert_mint_error(mint(index, tokens[case]()), "invalid-token", "malformed or invalid token")


def test_mint_row5_leeway_is_30_seconds(world: World, index: LocalIndex) -> None:
    now = int(time.time())
    token = world.issuer.mint_github("pypi", exp=now - 10, iat=now - 300, nbf=now + 10)
    assert mint(index, token).status == 200


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"repository": "octo-org/other"}, "Publisher with matching claims was not found"),
        ({"repository_owner_id": "999"}, "Publisher with matching claims was not found"),
        ({"environment": None}, "Publisher with matching claims was not found"),
        ({"environment": "staging"}, "Publisher with matching claims was not found"),
        ({"event_name": None}, "Missing claim 'event_name'"),
        ({"sha": None}, "Missing claim 'sha'"),
        ({"repository_owner": "Octo-Org"}, "Check failed for required claim 'repository_owner'"),
        (
            {"job_workflow_ref": "octo-org/demo/.github/workflows/release.yml@refs/heads/main"},
            "The job_workflow_ref claim does not match, expecting one of "
            "['octo-org/demo/.github/workflows/release.yml@4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b', "
            "'octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0'], "
            "got 'octo-org/demo/.github/workflows/release.yml@refs/heads/main'",
        ),
        (
            {"job_workflow_ref": "octo-org/demo/.github/workflows/release@refs/tags/v1.0.0"},
            "Could not job extract workflow filename from OIDC claims",
        ),
        (
            {"event_name": "pull_request_target"},
            "Publishing from a workflow invoked via 'pull_request_target' is not supported.",
        ),
    ],
)
def test_mint_row8_invalid_publisher(
    world: World, index: LocalIndex, overrides: dict[str, Any], reason: str
) -> None:
    reply = mint(index, world.issuer.mint_github("pypi", **overrides))
    assert_mint_error(
        reply, "invalid-publisher", f"valid token, but no corresponding publisher ({reason})"
    )


def test_mint_github_unchecked_claims(world: World, index: LocalIndex) -> None:
    # workflow_ref and sub are not checked; the environment compares case-insensitively.
    token = world.issuer.mint_github(
        "pypi",
        workflow_ref="octo-org/demo/.github/workflows/other.yml@refs/tags/v1.0.0",
        sub="repo:someone/else:ref:x",
        environment="RELEASE",
    )
    assert mint(index, token).status == 200


def test_mint_row9_each_jwt_is_exchanged_once(world: World, index: LocalIndex) -> None:
    token = world.issuer.mint_github("pypi")
    assert mint(index, token).status == 200
    assert_mint_error(mint(index, token), "invalid-reuse-token", "invalid token: already used")
    gitlab = world.issuer.mint_gitlab("pypi")
    assert mint(index, gitlab).status == 200
    assert_mint_error(mint(index, gitlab), "invalid-reuse-token", "invalid token: already used")


def test_mint_gitlab_claims(world: World, index: LocalIndex) -> None:
    assert mint(index, world.issuer.mint_gitlab("pypi")).status == 200
    identity = GitLabIdentity(ci_config_path="ci/release.yml")
    assert_mint_error(
        mint(index, world.issuer.mint_gitlab("pypi", identity=identity)),
        "invalid-publisher",
        "valid token, but no corresponding publisher (Publisher with matching claims was not found)",
    )
    assert_mint_error(
        mint(index, world.issuer.mint_gitlab("pypi", sub="project_path:other/proj:ref_type:tag")),
        "invalid-publisher",
        "valid token, but no corresponding publisher (Check failed for required claim 'sub')",
    )


def test_mint_google_claims(world: World, index: LocalIndex) -> None:
    assert mint(index, world.issuer.mint_google("pypi", email=GOOGLE_EMAIL)).status == 200
    assert_mint_error(
        mint(index, world.issuer.mint_google("pypi", email=GOOGLE_EMAIL, email_verified=False)),
        "invalid-publisher",
        "valid token, but no corresponding publisher "
        "(Check failed for required claim 'email_verified')",
    )
    assert_mint_error(
        mint(index, world.issuer.mint_google("pypi", email="x@y.iam.gserviceaccount.com")),
        "invalid-publisher",
        "valid token, but no corresponding publisher (Publisher with matching claims was not found)",
    )


def test_jwks_is_cached_and_refreshed_at_most_every_60_seconds(world: World) -> None:
    fetches: list[str] = []
    now = [1000.0]

    def fetch(url: str) -> Any:
        fetches.append(url)
        return world.issuer.jwks()

    exchange = TokenExchange(
        audience="pypi",
        jwks_urls={GITHUB_ISSUER: "http://127.0.0.1:1/jwks"},
        fetch_json=fetch,
        clock=lambda: now[0],
    )
    good = json.dumps({"token": world.issuer.mint_github("pypi")}).encode()
    exchange.verify(good)
    exchange.verify(good)
    assert len(fetches) == 1
    claims = jwt.decode(world.issuer.mint_github("pypi"), options={"verify_signature": False})
    unknown = json.dumps({"token": world.issuer.sign(claims, headers={"kid": "rotated"})}).encode()
    with pytest.raises(MintError):
        exchange.verify(unknown)
    assert len(fetches) == 1  # within the cooldown
    now[0] += JWKS_REFRESH_INTERVAL
    with pytest.raises(MintError):
        exchange.verify(unknown)
    assert len(fetches) == 2


# == §2.1/§2.6 routing and error delivery ===========================================


def test_legacy_without_slash_is_a_308(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, path="/legacy")
    message = (
        "An upload was attempted to /legacy but the expected upload URL is /legacy/ "
        "(with a trailing slash)"
    )
    assert (reply.status, reply.reason) == (308, message)
    assert reply.headers["Location"] == index.upload_url
    assert reply.json()["code"] == f"308 {message}"


@pytest.mark.parametrize("action", [None, "bogus"])
def test_missing_or_unknown_action_is_a_200_html_page(
    world: World, index: LocalIndex, tmp_path: Path, action: str | None
) -> None:
    dist = build_wheel(tmp_path, fresh())
    fields = dist.form(drop=[":action"]) if action is None else dist.form(**{":action": action})
    reply = upload(index, dist, world.user_token, fields=fields)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"API endpoint" in reply.body
    assert index.files(dist.name) == []
    assert _request(index, "GET", "/legacy/").status == 200


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            "submit",
            "Project pre-registration is no longer required or supported, upload your files instead.",
        ),
        (
            "submit_pkg_info",
            "Project pre-registration is no longer required or supported, upload your files instead.",
        ),
        (
            "doc_upload",
            "Uploading documentation is no longer supported, we recommend using https://readthedocs.org/.",
        ),
    ],
)
def test_removed_actions_are_410(index: LocalIndex, action: str, message: str) -> None:
    reply = _request(
        index, "POST", f"/legacy/?:action={action}", b"", {"Accept": "application/json"}
    )
    assert_rejected(reply, 410, message)


def test_action_in_the_query_string_and_success_body(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(
        index,
        dist,
        world.user_token,
        fields=dist.form(drop=[":action"]),
        path="/legacy/?:action=file_upload",
    )
    assert (reply.status, reply.body) == (200, b"")
    assert index.files(dist.name) == [dist.filename]


def test_error_body_follows_the_accept_header(index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    message = (
        "Invalid or non-existent authentication information. "
        "See https://pypi.org/help/#invalid-auth for more information."
    )
    plain = upload(index, dist, None, accept=None)
    assert (plain.status, plain.reason) == (403, message)
    assert plain.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert plain.body.decode() == (
        f"403 {message}\n\nAccess was denied to this resource.\n\n\n{message}\n\n"
    )
    page = upload(index, dist, None, accept="*/*")
    assert page.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert page.body.startswith(b"<html>") and f"<h1>403 {message}</h1>".encode() in page.body
    assert_rejected(upload(index, dist, None), 403, message)


def test_non_latin1_messages_become_question_marks_in_the_reason(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, extra=[("classifiers", "Ünïcödé :: ☃")])
    assert_rejected(reply, 400, f"'Ünïcödé :: ☃' is not a valid classifier. {CORE_HELP}")
    assert reply.reason.startswith("'Ünïcödé :: ?' is not a valid classifier.")  # Latin-1 kept


# == §2.2 authentication and §2.4 steps 1, 6, 7 =====================================


def test_step1_admin_flags_and_identity(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    index.read_only = True
    assert_rejected(
        upload(index, dist, world.user_token),
        403,
        "Read-only mode: Uploads are temporarily disabled.",
    )
    index.read_only = False
    index.disallow_new_uploads = True
    assert_rejected(
        upload(index, dist, world.user_token),
        403,
        "New uploads are temporarily disabled. "
        "See https://pypi.org/help/#admin-intervention for more information.",
    )
    index.disallow_new_uploads = False
    invalid = (
        "Invalid or non-existent authentication information. "
        "See https://pypi.org/help/#invalid-auth for more information."
    )
    assert_rejected(upload(index, dist, None), 403, invalid)
    assert_rejected(upload(index, dist, "pypi-unknown"), 403, invalid)
    assert_rejected(upload(index, dist, "not-a-pypi-token"), 403, invalid)
    assert_rejected(
        upload(index, dist, None, authorization=_basic("secret", username="alice")),
        403,
        "Username/Password authentication is no longer supported. Migrate to API Tokens or "
        "Trusted Publishers instead. See https://pypi.org/help/#apitoken and "
        "https://pypi.org/help/#trusted-publishers",
    )


@pytest.mark.parametrize("scheme", ["Bearer", "token", "basic-padded"])
def test_other_auth_schemes(world: World, index: LocalIndex, tmp_path: Path, scheme: str) -> None:
    dist = build_wheel(tmp_path, fresh())
    if scheme == "basic-padded":
        authorization = _basic(f"  {world.user_token} ")
    else:
        authorization = f"{scheme} {world.user_token}"
    assert upload(index, dist, None, authorization=authorization).status == 200


def test_step6_publisher_tokens_cannot_create_projects(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    assert_rejected(
        upload(index, dist, world.minted()),
        400,
        "Non-user identities cannot create new projects. This was probably caused by "
        "successfully using a pending publisher but specifying the project name incorrectly "
        "(either in the publisher or in your project's metadata). Please ensure that both "
        "match. See: https://docs.pypi.org/trusted-publishers/troubleshooting/",
    )


def test_step6_project_creation_rules(world: World, index: LocalIndex, tmp_path: Path) -> None:
    stdlib = build_wheel(tmp_path, "os", "1.0")
    assert_rejected(
        upload(index, stdlib, world.user_token),
        400,
        "The name 'os' isn't allowed (conflict with Python Standard Library module name). "
        "See https://pypi.org/help/#project-name for more information.",
    )
    similar = build_wheel(tmp_path, "unre1ated", "1.0")
    assert_rejected(
        upload(index, similar, world.user_token),
        400,
        "The name 'unre1ated' is too similar to an existing project. "
        "See https://pypi.org/help/#project-name for more information.",
    )


def test_step7_token_scopes(world: World, index: LocalIndex, tmp_path: Path) -> None:
    unrelated = build_wheel(tmp_path, "unrelated", "1.0")
    assert_rejected(
        upload(index, unrelated, world.minted()),
        403,
        "Invalid API Token: OIDC scoped token is not valid for project 'unrelated'",
    )
    scoped = index.add_api_token("demo")
    assert_rejected(
        upload(index, unrelated, scoped),
        403,
        "Invalid API Token: project-scoped token is not valid for project: 'unrelated'",
    )
    index.token_lifetime = 0
    expired = world.minted()
    demo = build_wheel(tmp_path, "demo", "0.0.1")
    assert_rejected(upload(index, demo, expired), 403, "Invalid API Token: token is expired")


def test_one_minted_token_covers_every_project_of_its_publisher(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    token = world.minted()
    for name in ("demo", "Demo_Two"):
        dist = build_wheel(tmp_path / name, name, "0.1.0")
        assert upload(index, dist, token).status == 200
    assert index.files("demo-two") == ["demo_two-0.1.0-py3-none-any.whl"]


def test_api_tokens_still_work_on_trusted_publishing_projects(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_sdist(tmp_path, "demo", "0.2.0")
    assert upload(index, dist, index.add_api_token("demo")).status == 200


# == §2.3/§2.4 steps 2-5: the form ==================================================


def test_step2_protocol_version(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, fields=dist.form(protocol_version="2"))
    assert_rejected(reply, 400, "Unknown protocol version.")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"drop": ["name"]},
            f"'' is an invalid value for Name. Error: This field is required. {CORE_HELP}",
        ),
        (
            {"name": "-bad-"},
            "'-bad-' is an invalid value for Name. Error: Start and end with a "
            f"letter or numeral containing only ASCII numeric and '.', '_' and '-'. {CORE_HELP}",
        ),
        ({"filetype": "bdist_egg"}, "Invalid value for filetype. Error: Use a known file type."),
        ({"drop": ["filetype"]}, "Invalid value for filetype. Error: This field is required."),
        (
            {"pyversion": ""},
            "Invalid value for pyversion. Error: Python version is required "
            "for binary distribution uploads.",
        ),
        (
            {"sha256_digest": "abc"},
            "Invalid value for sha256_digest. Error: Use a valid, "
            "hex-encoded, SHA256 message digest.",
        ),
        (
            {"blake2_256_digest": "zz" * 32},
            "Invalid value for blake2_256_digest. Error: Use a "
            "valid, hex-encoded, BLAKE2 message digest.",
        ),
        ({"drop": ["sha256_digest"]}, "Error: Include at least one message digest."),
    ],
)
def test_step3_upload_form(
    world: World, index: LocalIndex, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, fields=dist.form(**change))
    assert_rejected(reply, 400, message)


def test_step3_sdist_pyversion_must_be_source(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_sdist(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, fields=dist.form(pyversion="py3"))
    assert_rejected(
        reply,
        400,
        "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist.",
    )
    assert upload(index, dist, world.user_token, fields=dist.form(drop=["pyversion"])).status == 200


def test_step3_fields_sent_as_files_are_refused(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    files = [("content", dist.filename, dist.data, OCTET), ("summary", "s.txt", b"x", "text/plain")]
    reply = upload(index, dist, world.user_token, fields=dist.form(drop=["summary"]), files=files)
    assert_rejected(reply, 400, "summary: Should not be a tuple.")


def test_unknown_values_names_and_empty_fields(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    # UNKNOWN is dropped (so License does not clash with License-Expression), unknown
    # names are ignored, an empty value counts as absent, twine-style keys repeat.
    dist = build_wheel(tmp_path, fresh(), metadata_version="2.4")
    extra = [
        ("license", "UNKNOWN"),
        ("license_expression", "MIT"),
        ("Description-Content-Type", "not/a-type"),
        ("project-url", "nonsense"),
        ("home_page", ""),
        ("classifiers", "Programming Language :: Python :: 3"),
        ("classifiers", "Operating System :: OS Independent"),
        ("project_urls", "Homepage, https://example.com"),
        ("project_urls", "Source, https://example.com/src"),
        ("keywords", "one,two"),
        ("requires_dist", "packaging>=24"),
        ("platform", "any"),
    ]
    assert upload(index, dist, world.user_token, extra=extra).status == 200


def test_nul_characters_are_escaped_before_validation(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, fields=dist.form(name="demo\x00"))
    assert_rejected(
        reply,
        400,
        "'demo\\\\x00' is an invalid value for Name. Error: Start and end with a letter or "
        f"numeral containing only ASCII numeric and '.', '_' and '-'. {CORE_HELP}",
    )


def _deprecated_classifier() -> tuple[str, list[str]]:
    return next((c, r) for c, r in deprecated_classifiers.items() if r)


@pytest.mark.parametrize(
    ("extra", "metadata_version", "message"),
    [
        ([], "2.0", "'2.0' is not a valid metadata version."),
        ([], "2.6", "'2.6' is not a valid metadata version."),
        (
            [("license_expression", "MIT")],
            "2.1",
            "license-expression introduced in metadata version 2.4, not 2.1.",
        ),
        (
            [("license_file", "LICENSE")],
            "2.3",
            "license-file introduced in metadata version 2.4, not 2.3.",
        ),
        (
            [("description_content_type", "text/markdown")],
            "1.2",
            "description-content-type introduced in metadata version 2.1, not 1.2.",
        ),
        ([("dynamic", "Summary")], "2.1", "dynamic introduced in metadata version 2.2, not 2.1."),
        (
            [("import_name", "demo")],
            "2.4",
            "import-name introduced in metadata version 2.5, not 2.4.",
        ),
        ([("classifiers", "Foo :: Bar")], "2.1", "'Foo :: Bar' is not a valid classifier."),
        (
            [("license", "MIT"), ("license_expression", "MIT")],
            "2.4",
            "License is deprecated when License-Expression is present. Only License-Expression "
            "should be present.",
        ),
        (
            [("license_expression", "Not A License")],
            "2.4",
            "'Not A License' is invalid for 'license-expression'.",
        ),
        (
            [("requires_dist", "foo @ https://example.com/foo-1.0.tar.gz")],
            "2.1",
            "Can't have direct dependency: foo @ https://example.com/foo-1.0.tar.gz.",
        ),
        (
            [("project_urls", "A label longer than thirty-two chars, https://e.com")],
            "2.1",
            "'A label longer than thirty-two chars' must be 32 characters or less.",
        ),
        (
            [("project_urls", "Home, https://a.com"), ("project_urls", "Home, https://b.com")],
            "2.1",
            "'project_urls' has invalid data.",
        ),
        ([("project_urls", "Home, ftp://a.com")], "2.1", "'ftp://a.com' is not a valid url."),
        ([("home_page", "not a url")], "2.1", "'not a url' is not a valid url."),
        ([("keywords", "a"), ("keywords", "b")], "2.1", "'keywords' has invalid data."),
        ([("summary", "second summary")], "2.1", "'summary' has invalid data."),
        ([("dynamic", "Name")], "2.2", "'name' is not allowed as a dynamic field."),
        (
            [("license_file", "../LICENSE")],
            "2.4",
            "'../LICENSE' is invalid for 'license-file', parent directory indicators are not allowed.",
        ),
        ([("requires_python", ">=3.x")], "2.1", "'>=3.x' is invalid for 'requires-python'."),
    ],
)
def test_step4_metadata(
    world: World,
    index: LocalIndex,
    tmp_path: Path,
    extra: list[tuple[str, str]],
    metadata_version: str,
    message: str,
) -> None:
    dist = build_wheel(tmp_path, fresh(), metadata_version=metadata_version)
    reply = upload(index, dist, world.user_token, extra=extra)
    assert_rejected(reply, 400, f"{message} {CORE_HELP}")


def test_step4_summary_length(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, fields=dist.form(summary="x" * 513))
    assert_rejected(reply, 400, f"'summary' field must be 512 characters or less. {CORE_HELP}")
    reply = upload(index, dist, world.user_token, fields=dist.form(summary="two\nlines"))
    assert_rejected(reply, 400, f"'summary' must be a single line. {CORE_HELP}")


def test_step4_metadata_emails_versions_and_deprecations(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, extra=[("author_email", "Bob <bob@example>")])
    assert reply.status == 400
    assert reply.reason.startswith("'bob@example' is not a valid email address: ")
    assert reply.reason.endswith(CORE_HELP)

    reply = upload(index, dist, world.user_token, fields=dist.form(version="1.0+local"))
    assert_rejected(
        reply,
        400,
        "The use of local versions in '1.0+local' is not allowed. See https://packaging."
        "python.org/specifications/version-specifiers/#local-version-identifiers for more "
        "information.",
    )
    classifier, replacements = _deprecated_classifier()
    reply = upload(index, dist, world.user_token, extra=[("classifiers", classifier)])
    assert_rejected(
        reply,
        400,
        f"The classifier {classifier!r} has been deprecated, use one of {replacements} "
        f"instead. {CORE_HELP}",
    )
    reply = upload(index, dist, world.user_token, extra=[("description_content_type", "text/html")])
    assert reply.status == 400
    assert reply.reason.startswith("'description-content-type' must be one of [")


def test_step4_errors_on_name_and_version_come_first(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    fields = dist.form(version="not a version", metadata_version="9.9")
    reply = upload(index, dist, world.user_token, fields=[*fields, ("classifiers", "Bad :: One")])
    assert_rejected(reply, 400, f"'9.9' is not a valid metadata version. {CORE_HELP}")
    fields = dist.form(version="not a version")
    reply = upload(index, dist, world.user_token, fields=[*fields, ("classifiers", "Bad :: One")])
    assert_rejected(reply, 400, f"'not a version' is invalid for 'version'. {CORE_HELP}")


def test_step5_content_is_required(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, files=[])
    assert_rejected(reply, 400, "Upload payload does not have a file.")


# == §2.4 steps 9-18 ================================================================


def test_step9_description_must_render(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    broken = "Title\n=====\n\n`unclosed"
    help_ = "See https://pypi.org/help/#description-content-type for more information."
    reply = upload(index, dist, world.user_token, extra=[("description", broken)])
    assert_rejected(
        reply,
        400,
        f"The description failed to render in the default format of reStructuredText. {help_}",
    )
    extra = [("description", broken), ("description_content_type", "text/x-rst")]
    reply = upload(index, dist, world.user_token, extra=extra)
    assert_rejected(reply, 400, f"The description failed to render for 'text/x-rst'. {help_}")
    extra = [("description", broken), ("description_content_type", "text/markdown")]
    assert upload(index, dist, world.user_token, extra=extra).status == 200


@pytest.mark.parametrize(
    ("filename", "filetype", "message"),
    [
        (
            "demo-1.0.exe",
            "sdist",
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. "
            "See https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ "
            "for more information",
        ),
        (
            "demo-1.0-py3-none-any.whl",
            "sdist",
            "Invalid file extension: Extension .whl is "
            "invalid for filetype sdist. See https://www.python.org/dev/peps/pep-0527 for more "
            "information.",
        ),
        (
            "demo-1.0.TAR.GZ",
            "sdist",
            "Invalid file extension: Extension .TAR.GZ is invalid for "
            "filetype sdist. See https://www.python.org/dev/peps/pep-0527 for more information.",
        ),
        ("demo/x-1.0.tar.gz", "sdist", "Cannot upload a file with '/' or '\\' in the name."),
        (
            "demo\t-1.0.tar.gz",
            "sdist",
            "Cannot upload a file with non-printable characters "
            "(ordinals 0-31) or the DEL character (ordinal 127) in the name.",
        ),
    ],
)
def test_step11_filenames(
    world: World, index: LocalIndex, tmp_path: Path, filename: str, filetype: str, message: str
) -> None:
    dist = build_sdist(tmp_path, fresh())
    files = [("content", filename, dist.data, OCTET)]
    reply = upload(index, dist, world.user_token, fields=dist.form(filetype=filetype), files=files)
    assert_rejected(reply, 400, message)


@pytest.mark.parametrize("content_type", ["", "image/png"])
def test_step12_content_type(
    world: World, index: LocalIndex, tmp_path: Path, content_type: str
) -> None:
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, content_type=content_type)
    assert_rejected(reply, 400, "Invalid distribution file.")


def test_step12_missing_content_type_is_text_plain(world: World, index: LocalIndex, tmp_path: Path) -> None:
    # Warehouse's parser gives a part without the header text/plain; uv uploads that way.
    dist = build_wheel(tmp_path, fresh())
    reply = upload(index, dist, world.user_token, content_type=None)  # type: ignore[arg-type]
    assert reply.status == 200, reply.reason


def test_step13_size_limits(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    index.max_file_size = 1024 * 1024
    big = build_wheel(tmp_path, name, "1.0", payload=os.urandom(1100 * 1024))
    assert_rejected(
        upload(index, big, world.user_token),
        400,
        f"File too large. Limit for project {name!r} is 1 MB. See https://docs.pypi.org/"
        "project-management/storage-limits#requesting-a-file-size-limit-increase for more "
        "information.",
    )
    index.max_file_size = 100 * 1024 * 1024
    index.max_project_size = 1024 * 1024
    assert_rejected(
        upload(index, big, world.user_token),
        400,
        f"Project size too large. Limit for project {name!r} total size is 0 GB. See "
        "https://docs.pypi.org/project-management/storage-limits"
        "#requesting-a-project-size-limit-increase",
    )


def test_step14_every_digest_sent_must_match(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    dist = build_wheel(tmp_path, fresh())
    message = "The digest supplied does not match a digest calculated from the uploaded file."
    wrong = hashlib.sha256(b"other").hexdigest()
    assert_rejected(
        upload(index, dist, world.user_token, fields=dist.form(sha256_digest=wrong)), 400, message
    )
    md5_urlsafe = base64.urlsafe_b64encode(hashlib.md5(dist.data).digest()).rstrip(b"=").decode()
    fields = dist.form(drop=["sha256_digest"], md5_digest=md5_urlsafe)
    assert_rejected(upload(index, dist, world.user_token, fields=fields), 400, message)
    fields = dist.form(
        sha256_digest=dist.sha256.upper(),
        md5_digest=hashlib.md5(dist.data).hexdigest(),
        blake2_256_digest=hashlib.blake2b(dist.data, digest_size=32).hexdigest(),
    )
    assert upload(index, dist, world.user_token, fields=fields).status == 200


def test_step15_duplicates(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    dist = build_wheel(tmp_path / "a", name, "1.0")
    assert upload(index, dist, world.user_token).status == 200
    again = upload(index, dist, world.user_token, extra=[("attestations", "not even json")])
    assert (again.status, again.reason) == (200, "OK")  # idempotent; attestations ignored
    other = build_wheel(tmp_path / "b", name, "1.0")  # same filename, other bytes
    blake2 = hashlib.blake2b(other.data, digest_size=32).hexdigest()
    assert_rejected(
        upload(index, other, world.user_token),
        400,
        f"File already exists ({other.filename!r}, with blake2_256 hash {blake2!r}). "
        "See https://pypi.org/help/#file-name-reuse for more information.",
    )
    renamed = f"{name.replace('-', '_')}-1.0-py2.py3-none-any.whl"
    blake2 = hashlib.blake2b(dist.data, digest_size=32).hexdigest()
    assert_rejected(
        upload(index, dist, world.user_token, files=[("content", renamed, dist.data, OCTET)]),
        400,
        f"File already exists ({renamed!r}, with blake2_256 hash {blake2!r}). "
        "See https://pypi.org/help/#file-name-reuse for more information.",
    )
    assert index.files(name) == [dist.filename]


def test_steps16_to_18_release_rules(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0")
    assert upload(index, wheel, world.user_token).status == 200
    index.delete_file(wheel.filename)
    assert_rejected(
        upload(index, wheel, world.user_token),
        400,
        "This filename was previously used by a file that has since been deleted. Use a "
        "different version. See https://pypi.org/help/#file-name-reuse for more information.",
    )
    sdist = build_sdist(tmp_path, name, "1.0")
    assert upload(index, sdist, world.user_token).status == 200
    second = build_sdist(tmp_path / "zip", name, "1.0")
    zip_name = f"{name.replace('-', '_')}-1.0.zip"
    files = [("content", zip_name, second.data, OCTET)]
    assert_rejected(
        upload(index, second, world.user_token, files=files),
        400,
        "Only one sdist may be uploaded per release.",
    )
    index.backdate_release(name, "1.0", days=15)
    late = build_wheel(tmp_path, name, "1.0", tag="py2-none-any")
    assert_rejected(
        upload(index, late, world.user_token),
        400,
        "Uploading new files to releases older than 14 days is not allowed.",
    )


# == §2.4 steps 19-21: archives =====================================================


def _zip_bytes(
    entries: dict[str, bytes], *, comment: bytes = b"", method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for path, data in entries.items():
            zf.writestr(path, data)
        zf.comment = comment
    return buffer.getvalue()


def test_step19_archive_checks(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    stem = name.replace("-", "_")
    wheel = build_wheel(tmp_path, name, "1.0")
    sdist = build_sdist(tmp_path, name, "1.0")
    wheel_entries = {
        info.filename: zipfile.ZipFile(wheel.path).read(info)
        for info in zipfile.ZipFile(wheel.path).infolist()
    }
    cases: list[tuple[Dist, bytes, str]] = [
        (wheel, b"not a zip at all", "File is not a zipfile"),
        (sdist, b"not a tarball", "File is not a tarfile"),
        (wheel, _zip_bytes({"x.py": b""}), f"WHEEL not found at {stem}-1.0.dist-info/WHEEL"),
        (
            wheel,
            _zip_bytes(wheel_entries, method=zipfile.ZIP_BZIP2),
            "File does not use a supported compression type",
        ),
        (
            wheel,
            wheel.data + b"junk",
            "ZIP archive not accepted: Trailing data. "
            "See https://docs.pypi.org/archives for more information",
        ),
    ]
    for dist, data, reason in cases:
        fields = dist.form(sha256_digest=hashlib.sha256(data).hexdigest())
        files = [("content", dist.filename, data, OCTET)]
        reply = upload(index, dist, world.user_token, fields=fields, files=files)
        assert (reply.status, reply.reason) == (400, f"Invalid distribution file. {reason}")


def test_step19_sdist_layout(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    stem = f"{name.replace('-', '_')}-1.0"
    flat = build_sdist(tmp_path / "flat", name, "1.0", top_level="")
    assert_rejected(
        upload(index, flat, world.user_token),
        400,
        "Invalid distribution file. Incorrect number of top-level directories in sdist",
    )
    missing = build_sdist(tmp_path / "missing", name, "1.0", with_pkg_info=False)
    assert_rejected(
        upload(index, missing, world.user_token),
        400,
        f"Invalid distribution file. PKG-INFO not found at {stem}/PKG-INFO",
    )


def _tar_gz(members: list[tuple[str, bytes, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for path, data, kind in members:
            info = tarfile.TarInfo(path)
            info.size, info.type = len(data), kind
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_step19_sparse_members_and_polyglots(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    name = fresh()
    stem = f"{name.replace('-', '_')}-1.0"
    dist = build_sdist(tmp_path, name, "1.0")
    pkg_info = (f"{stem}/PKG-INFO", b"Metadata-Version: 2.1\n", tarfile.REGTYPE)
    sparse = _tar_gz([pkg_info, (f"{stem}/hole.bin", b"data", tarfile.GNUTYPE_SPARSE)])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", "b")
    polyglot = _tar_gz([pkg_info]) + archive.getvalue()
    cases = [
        (sparse, f"Sparse tar members are not supported: {stem}/hole.bin"),
        (polyglot, "File is both a zip and a tar file"),
    ]
    for data, reason in cases:
        fields = dist.form(sha256_digest=hashlib.sha256(data).hexdigest())
        files = [("content", dist.filename, data, OCTET)]
        reply = upload(index, dist, world.user_token, fields=fields, files=files)
        assert_rejected(reply, 400, f"Invalid distribution file. {reason}")


def test_step19_compression_ratio(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    zeros = b"\0" * (65 * 1024 * 1024)
    dist = build_wheel(tmp_path, name, "1.0", payload=zeros)
    assert_rejected(
        upload(index, dist, world.user_token),
        400,
        "Invalid distribution file. File exceeds compression ratio of 50",
    )


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("other-1.0.tar.gz", "Start filename for {name!r} with {stem!r}."),
        (
            "{upper}-1.0.tar.gz",
            "Filename '{upper}-1.0.tar.gz' is invalid, should be '{stem}-1.0.tar.gz'.",
        ),
        (
            "{stem}-1.0.0.tar.gz",
            "Filename '{stem}-1.0.0.tar.gz' is invalid, should be '{stem}-1.0.tar.gz'.",
        ),
        ("{stem}.tar.gz", "Invalid source distribution filename: {stem}.tar.gz"),
    ],
)
def test_step20_sdist_filenames_pep625(
    world: World, index: LocalIndex, tmp_path: Path, filename: str, message: str
) -> None:
    name = fresh("sd")
    stem = name.replace("-", "_")
    names = {"name": name, "stem": stem, "upper": stem.upper()}
    dist = build_sdist(tmp_path, name, "1.0", filename=filename.format(**names))
    assert_rejected(upload(index, dist, world.user_token), 400, message.format(**names))


def test_step20_sdist_license_files(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    stem = f"{name.replace('-', '_')}-1.0"
    dist = build_sdist(tmp_path, name, "1.0", metadata_version="2.4")
    reply = upload(index, dist, world.user_token, extra=[("license_file", "LICENSE")])
    assert_rejected(
        reply,
        400,
        f"License-File LICENSE does not exist in distribution file {dist.filename} at {stem}/LICENSE",
    )
    good = build_sdist(
        tmp_path / "good", name, "1.0", metadata_version="2.4", members={"LICENSE": b"MIT"}
    )
    assert upload(index, good, world.user_token, extra=[("license_file", "LICENSE")]).status == 200


def test_step21_wheel_filename_rules(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh("wh")
    stem = name.replace("-", "_")
    linux = build_wheel(tmp_path, name, "1.0", tag="cp311-cp311-linux_x86_64")
    assert_rejected(
        upload(index, linux, world.user_token),
        400,
        f"Binary wheel '{linux.filename}' has an unsupported platform tag 'linux_x86_64'.",
    )
    many = build_wheel(tmp_path, name, "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    assert upload(index, many, world.user_token).status == 200
    other = build_wheel(tmp_path, "other-name", "1.0")
    reply = upload(index, other, world.user_token, fields=other.form(name=name))
    assert_rejected(reply, 400, f"Start filename for {name!r} with {stem!r}.")
    upper = build_wheel(tmp_path, name, "1.0", dist_name=stem.upper(), tag="py2-none-any")
    assert_rejected(
        upload(index, upper, world.user_token),
        400,
        f"Filename {upper.filename!r} should contain the normalized project name {stem!r}, "
        f"not {stem.upper()!r}.",
    )
    version = build_wheel(tmp_path, name, "1.0.1")
    reply = upload(index, version, world.user_token, fields=version.form(version="1.0.2"))
    assert_rejected(reply, 400, "Version in filename should be '1.0.2' not '1.0.1'.")
    bad = build_wheel(tmp_path, name, "1.0", filename=f"{stem}-1.0-py3-none.whl")
    assert_rejected(
        upload(index, bad, world.user_token),
        400,
        f"Invalid wheel filename (wrong number of parts): '{stem}-1.0-py3-none'",
    )
    same_version = build_wheel(tmp_path, name, "1.0.0", tag="py3-none-any")
    reply = upload(index, same_version, world.user_token, fields=same_version.form(version="1.0"))
    assert reply.status == 200  # 1.0 == 1.0.0


def test_step21_wheel_members(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh("wm")
    dist_info = f"{name.replace('-', '_')}-1.0.dist-info"
    cases = [
        (
            build_wheel(tmp_path / "1", name, "1.0", omit=["RECORD"]),
            "Wheel '{filename}' does not contain the required RECORD file: "
            + f"{dist_info}/RECORD",
            [],
        ),
        (
            build_wheel(tmp_path / "2", name, "1.0", entry_points="[console_scripts\nx = y:z\n"),
            "Wheel '{filename}' has invalid entry points in the metadata. See "
            "https://packaging.python.org/specifications/entry-points/ for more information.",
            [],
        ),
        (
            build_wheel(tmp_path / "3", name, "1.0", omit=["METADATA"]),
            "Wheel '{filename}' does not contain the required METADATA file: "
            + f"{dist_info}/METADATA",
            [],
        ),
        (
            build_wheel(tmp_path / "4", name, "1.0", metadata_version="2.4"),
            "License-File LICENSE does not exist in distribution file {filename} at "
            + f"{dist_info}/licenses/LICENSE",
            [("license_file", "LICENSE")],
        ),
    ]
    for dist, message, extra in cases:
        reply = upload(index, dist, world.user_token, extra=extra)
        assert_rejected(reply, 400, message.format(filename=dist.filename))
    good = build_wheel(
        tmp_path / "5",
        name,
        "1.0",
        metadata_version="2.4",
        licenses={"LICENSE": b"MIT"},
        entry_points="[console_scripts]\ndemo = demo:main\n",
    )
    assert upload(index, good, world.user_token, extra=[("license_file", "LICENSE")]).status == 200


# == §3 attestations over the upload API, §4 integrity and simple ===================


def _attestation_field(*attestations: Attestation) -> tuple[str, str]:
    return ("attestations", json.dumps([a.model_dump(mode="json") for a in attestations]))


def test_attested_upload_and_provenance(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, "demo", "1.1")
    publish = world.attest(dist)
    slsa = world.attest_statement(dist, SLSA)
    reply = upload(index, dist, world.minted(), extra=[_attestation_field(publish, slsa)])
    assert (reply.status, reply.body) == (200, b"")

    path = f"/integrity/demo/1.1/{dist.filename}/provenance"
    reply = _request(index, "GET", path)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/vnd.pypi.integrity.v1+json"
    assert reply.headers["Vary"] == "Accept"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    provenance = reply.json()
    assert provenance["version"] == 1
    (bundle,) = provenance["attestation_bundles"]
    assert bundle["publisher"] == {
        "kind": "GitHub",
        "repository": "octo-org/demo",
        "workflow": "release.yml",
        "environment": "release",
    }
    assert bundle["attestations"] == [publish.model_dump(mode="json"), slsa.model_dump(mode="json")]
    assert [Attestation.model_validate(a) for a in bundle["attestations"]] == [publish, slsa]

    as_json = _request(
        index, "GET", path.replace("/1.1/", "/1.1.0/"), headers={"Accept": "application/json"}
    )
    assert (as_json.status, as_json.headers["Content-Type"]) == (200, "application/json")
    refused = _request(index, "GET", path, headers={"Accept": "text/html"})
    assert (refused.status, refused.json()) == (406, {"message": "Request not acceptable"})
    index.disallow_pep740 = True
    disabled = _request(index, "GET", path)
    assert (disabled.status, disabled.json()) == (
        403,
        {"message": "Attestations temporarily disabled"},
    )


def test_provenance_absent_or_unknown(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    assert upload(index, dist, world.user_token).status == 200
    path = f"/integrity/{dist.name}/1.0/{dist.filename}/provenance"
    reply = _request(index, "GET", path)
    assert (reply.status, reply.json()) == (
        404,
        {"message": f"No provenance available for {dist.filename}"},
    )
    assert _request(index, "GET", path.replace("1.0", "2.0", 1)).status == 404
    assert _request(index, "GET", f"/integrity/{dist.name}/1.0/nope.whl/provenance").status == 404
    assert _request(index, "GET", f"/integrity/nope/1.0/{dist.filename}/provenance").status == 404


@pytest.mark.parametrize(
    "case", ["api-token", "object", "empty", "three", "same-type", "wrong-workflow", "wrong-file"]
)
def test_attestation_rejections(world: World, index: LocalIndex, tmp_path: Path, case: str) -> None:
    dist = build_wheel(tmp_path, "demo", f"1.2.{abs(hash(case)) % 1000}")
    other = build_wheel(tmp_path / "other", "demo", "9.9")
    prefix = "Invalid attestations supplied during upload: "
    good = world.attest(dist)
    token = world.minted()
    one = json.dumps(good.model_dump(mode="json"))
    wrong_identity = GitHubIdentity(
        workflow_file="other.yml",
        job_workflow_ref="octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0",
    )
    field, message = {
        "api-token": (
            _attestation_field(good),
            "Attestations are only supported when using Trusted Publishing",
        ),
        "object": (
            ("attestations", one),
            "Malformed attestations: 1 validation error for list[Attestation]",
        ),
        "empty": (
            ("attestations", "[]"),
            "Malformed attestations: an empty attestation set is not permitted",
        ),
        "three": (
            _attestation_field(good, good, good),
            "A maximum of 2 attestations per file are supported",
        ),
        "same-type": (
            _attestation_field(good, good),
            f"Multiple attestations for the same file with the same predicate type ({PUBLISH}) are not supported",
        ),
        "wrong-workflow": (
            _attestation_field(world.attest(dist, wrong_identity)),
            "Could not verify the uploaded artifact using the included attestation: Verification "
            "failed: Certificate's Build Config URI",
        ),
        "wrong-file": (
            _attestation_field(world.attest(other)),
            "Could not verify the uploaded artifact using the included attestation: Verification "
            f"failed: subject does not match distribution name: {other.filename} != {dist.filename}",
        ),
    }[case]
    reply = upload(index, dist, world.user_token if case == "api-token" else token, extra=[field])
    assert reply.status == 400
    assert reply.reason.startswith(
        (prefix + message).encode("latin-1", "replace").decode().replace("\n", " ")[:150]
    )
    assert reply.json()["message"].split("\n\n\n", 1)[1].startswith(prefix + message)
    assert dist.filename not in index.files("demo")


def test_attestations_ignored_when_disabled(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    index.disallow_pep740 = True
    dist = build_wheel(tmp_path, "demo", "1.3")
    reply = upload(index, dist, world.minted(), extra=[("attestations", "garbage")])
    assert reply.status == 200
    index.disallow_pep740 = False
    assert _request(index, "GET", f"/integrity/demo/1.3/{dist.filename}/provenance").status == 404


def test_gitlab_and_google_publishers_upload(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    gitlab = build_wheel(tmp_path, "demo-gitlab", "1.0")
    assert upload(index, gitlab, world.minted(world.issuer.mint_gitlab("pypi"))).status == 200
    google = build_wheel(tmp_path, "demo-google", "1.0")
    token = world.minted(world.issuer.mint_google("pypi", email=GOOGLE_EMAIL))
    assert upload(index, google, token).status == 200


def test_simple_api(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = "Demo_Simple"
    token = index.add_api_token(None)
    wheel = build_wheel(tmp_path, name, "2.0", metadata=[("Requires-Python", ">=3.9")])
    sdist = build_sdist(tmp_path, name, "1.0")
    assert upload(index, wheel, token, extra=[("requires_python", ">=3.9")]).status == 200
    assert upload(index, sdist, token).status == 200

    reply = _request(
        index,
        "GET",
        "/simple/demo-simple/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    assert reply.headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    page = reply.json()
    assert page["meta"]["api-version"] == "1.4"
    assert page["name"] == "demo-simple" and page["versions"] == ["1.0", "2.0"]
    by_name = {f["filename"]: f for f in page["files"]}
    entry = by_name[wheel.filename]
    assert entry["hashes"] == {"sha256": wheel.sha256}
    assert entry["size"] == len(wheel.data)
    assert entry["requires-python"] == ">=3.9"
    assert entry["yanked"] is False and entry["provenance"] is None
    assert entry["upload-time"].endswith("Z")
    metadata = zipfile.ZipFile(wheel.path).read("demo_simple-2.0.dist-info/METADATA")
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert by_name[sdist.filename]["core-metadata"] is False
    download = entry["url"].removeprefix(index.url)
    assert _request(index, "GET", download).body == wheel.data
    assert _request(index, "GET", download + ".metadata").body == metadata

    html = _request(index, "GET", "/simple/demo-simple/")
    assert html.headers["Content-Type"].startswith("text/html")
    assert f"#sha256={wheel.sha256}".encode() in html.body
    assert b'data-requires-python="&gt;=3.9"' in html.body
    redirect = _request(index, "GET", "/simple/Demo_Simple/")
    assert (redirect.status, redirect.headers["Location"]) == (
        301,
        f"{index.url}/simple/demo-simple/",
    )
    assert _request(index, "GET", "/simple/no-such-project/").status == 404
    assert b"demo-simple" in _request(index, "GET", "/simple/").body


def test_simple_api_points_to_provenance(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, "demo", "1.4")
    assert (
        upload(index, dist, world.minted(), extra=[_attestation_field(world.attest(dist))]).status
        == 200
    )
    json_page = _request(
        index, "GET", "/simple/demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    ).json()
    url = {f["filename"]: f for f in json_page["files"]}[dist.filename]["provenance"]
    assert url == f"{index.url}/integrity/demo/1.4/{dist.filename}/provenance"
    assert f'data-provenance="{url}"'.encode() in _request(index, "GET", "/simple/demo/").body


# == real clients, persistence, fault knobs, streaming ==============================


def _client_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        HOME=str(tmp_path),
        NO_PROXY="127.0.0.1",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONWARNINGS="ignore",
    )
    return env


def test_twine_upload_then_pip_download(world: World, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh("tw")
    wheel = build_wheel(tmp_path / "dist", name, "1.0")
    token = index.add_api_token(None)
    env = _client_env(tmp_path)
    twine = subprocess.run(
        [
            str(VENV_BIN / "twine"),
            "upload",
            "--repository-url",
            index.upload_url,
            "-u",
            "__token__",
            "-p",
            token,
            "--non-interactive",
            "--disable-progress-bar",
            str(wheel.path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    again = subprocess.run(
        [
            str(VENV_BIN / "twine"),
            "upload",
            "--repository-url",
            index.upload_url,
            "-u",
            "__token__",
            "-p",
            token,
            "--non-interactive",
            "--disable-progress-bar",
            str(wheel.path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr  # identical re-upload: 200

    target = tmp_path / "downloaded"
    pip = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--index-url",
            index.simple_url,
            "--no-cache-dir",
            "-d",
            str(target),
            f"{name}==1.0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (target / wheel.filename).read_bytes() == wheel.data


def test_a_new_index_on_the_same_folder_serves_earlier_uploads(
    world: World, tmp_path: Path
) -> None:
    storage = tmp_path / "persistent"
    jwks = {GITHUB_ISSUER: world.issuer.jwks_url}
    dist = build_wheel(tmp_path, "demo", "3.0")
    with LocalIndex(storage, jwks_urls=jwks, trust_config=world.trust_config) as first:
        first.add_github_publisher("demo", "octo-org/demo", "1234567", "release.yml", "release")
        token = first.add_api_token("demo")
        reply = mint(first, world.issuer.mint_github("pypi"))
        minted = reply.json()["token"]
        attestation = world.attest(dist)
        assert upload(first, dist, minted, extra=[_attestation_field(attestation)]).status == 200
    with LocalIndex(storage, jwks_urls=jwks, trust_config=world.trust_config) as second:
        assert second.files("demo") == [dist.filename]
        page = _request(
            second,
            "GET",
            "/simple/demo/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        (entry,) = page.json()["files"]
        assert _request(second, "GET", entry["url"].removeprefix(second.url)).body == dist.data
        assert entry["provenance"] == f"{second.url}/integrity/demo/3.0/{dist.filename}/provenance"
        assert (
            _request(second, "GET", f"/integrity/demo/3.0/{dist.filename}/provenance").status == 200
        )
        assert upload(second, dist, token).status == 200  # tokens persist (identical file)
        assert mint(second, world.issuer.mint_github("pypi")).status == 200


def test_fault_knobs(world: World, index: LocalIndex, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, fresh())
    index.fail_next_uploads(2, status=503)
    assert upload(index, dist, world.user_token).status == 503
    assert upload(index, dist, world.user_token).status == 503
    index.reset_next_uploads(1)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        big = build_wheel(tmp_path / "big", fresh(), payload=os.urandom(2 * 1024 * 1024))
        upload(index, big, world.user_token)
    index.upload_delay = 0.3
    started = time.monotonic()
    assert upload(index, dist, world.user_token).status == 200
    assert time.monotonic() - started >= 0.3
    assert index.files(dist.name) == [dist.filename]


def test_uploads_stream_to_disk(world: World, index: LocalIndex, tmp_path: Path) -> None:
    """A 64 MiB upload moves through the server without being held in memory."""
    name = fresh("big")
    size = 64 * 1024 * 1024
    stem = name.replace("-", "_")
    path = tmp_path / f"{stem}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        chunk = os.urandom(1024 * 1024)
        with zf.open(f"{stem}/blob.bin", "w", force_zip64=False) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)
        dist_info = f"{stem}-1.0.dist-info"
        zf.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        zf.writestr(
            f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{dist_info}/RECORD", "")
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        for block in iter(lambda: fp.read(1024 * 1024), b""):
            digest.update(block)
    dist = Dist(path, name, "1.0", "bdist_wheel", "py3")
    fields = dist.form(sha256_digest=digest.hexdigest())
    head, content_type = multipart(fields, [("content", path.name, b"", OCTET)])
    head = head[: head.rindex(b"\r\n--")]  # everything before the (empty) file data
    tail = b"\r\n--" + content_type.split("boundary=")[1].encode() + b"--\r\n"

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as fp:
            yield from iter(lambda: fp.read(1024 * 1024), b"")
        yield tail

    length = len(head) + path.stat().st_size + len(tail)
    tracemalloc.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", index._server.port, timeout=60)
        conn.request(
            "POST",
            "/legacy/",
            body(),
            {
                "Content-Type": content_type,
                "Content-Length": str(length),
                "Authorization": _basic(world.user_token),
                "Accept": "application/json",
            },
        )
        response = conn.getresponse()
        status, reply = response.status, response.read()
        conn.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200, reply
    assert peak < 16 * 1024 * 1024, f"peak traced memory {peak / 2**20:.1f} MiB"
    assert index.files(name) == [path.name]


def test_the_environment_specific_publisher_wins(
    world: World, index: LocalIndex, tmp_path: Path
) -> None:
    """§1.7: with a publisher pinned to the token's environment and a general one, the
    pinned one is used; another environment falls back to the general one."""
    index.add_github_publisher("demo-multi", "octo-org/multi", "1234567", "release.yml", "prod")
    index.add_github_publisher("demo-multi", "octo-org/multi", "1234567", "release.yml")
    environments: dict[str, str | None] = {"Prod": "prod", "staging": None}
    for version, (environment, expected) in enumerate(environments.items()):
        identity = GitHubIdentity(repository="octo-org/multi", environment=environment)
        token = world.minted(world.issuer.mint_github("pypi", identity=identity))
        dist = build_wheel(tmp_path, "demo-multi", f"1.{version}")
        field = _attestation_field(world.attest(dist, identity))
        assert upload(index, dist, token, extra=[field]).status == 200
        path = f"/integrity/demo-multi/1.{version}/{dist.filename}/provenance"
        (bundle,) = _request(index, "GET", path).json()["attestation_bundles"]
        assert bundle["publisher"]["environment"] == expected
