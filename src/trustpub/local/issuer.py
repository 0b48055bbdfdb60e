"""A local OIDC issuer that mints GitHub-, GitLab- and Google-shaped identity tokens.

Tests and ``trustpub rehearse`` need CI identity tokens without a CI: this issuer
mints them with the claims a real GitHub Actions runner, GitLab job or Google service
account puts in, signed with an RS256 key generated per instance. The tokens carry the
REAL issuer strings as ``iss`` (:data:`GITHUB_ISSUER` and friends), so the real
pypi-attestations publisher policies and PyPI's claim rules apply to them unchanged;
only the local services (the local Sigstore's Fulcio, the local index) trust the local
key, which they get from :meth:`OIDCIssuer.jwks` or over HTTP from :attr:`jwks_url`.

It also serves the GitHub Actions runner's token endpoint, so code that detects
ambient credentials (the ``id`` package, ``sigstore``, gh-action-pypi-publish's shell
snippet ``curl "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=pypi"``) runs unmodified.

Usage::

    from trustpub.local.issuer import OIDCIssuer

    with OIDCIssuer() as issuer:
        token = issuer.mint_github("pypi")                  # a runner's aud=pypi token
        issuer.github.environment = None                      # tests change the identity
        env = {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.github_token_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
        }

Where no ambient provider exists (Google Cloud outside the metadata server, a
laptop), trustpub takes static tokens instead: one for the index's audience and one
for ``sigstore``. :meth:`OIDCIssuer.static_environment` mints that pair::

    env = issuer.static_environment("google", audience="pypi")
    # {"TRUSTPUB_OIDC_TOKEN": <aud pypi>, "TRUSTPUB_SIGSTORE_OIDC_TOKEN": <aud sigstore>}

Endpoints: ``GET /.well-known/openid-configuration``, ``GET /jwks`` (and both under
``/oidc``), ``GET /github-token?audience=X`` (bearer :attr:`OIDCIssuer.request_token`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from trustpub.local._http import (
    LocalServer,
    LocalService,
    Request,
    Response,
    error_response,
    json_response,
)
from trustpub.local._issuers import (
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    SIGSTORE_AUDIENCE,
    STATIC_SIGSTORE_TOKEN_ENV,
    STATIC_TOKEN_ENV,
)

__all__ = [
    "GITHUB_ISSUER",
    "GITLAB_ISSUER",
    "GOOGLE_ISSUER",
    "GitHubIdentity",
    "GitLabIdentity",
    "OIDCIssuer",
]

_logger = logging.getLogger(__name__)


_DEFAULT_SHA = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"


def _ref_type(ref: str) -> str:
    """GitHub's and GitLab's ``ref_type``: tags are ``tag``, everything else ``branch``."""
    return "tag" if ref.startswith("refs/tags/") else "branch"


def _short_ref(ref: str) -> str:
    for prefix in ("refs/tags/", "refs/heads/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


@dataclass
class GitHubIdentity:
    """The workflow run a GitHub Actions token describes.

    ``None`` in a derived field means "compute it the way GitHub does":
    ``job_workflow_ref`` and ``workflow_ref`` become
    ``{repository}/.github/workflows/{workflow_file}@{ref}``, the ``*_sha`` fields
    become ``sha`` and ``repository_owner`` the part of ``repository`` before ``/``.
    Set ``job_workflow_ref`` alone to model a reusable workflow (PyPI checks the
    callee, Sigstore certificates name the caller).
    """

    repository: str = "octo-org/demo"
    repository_owner: str | None = None
    repository_owner_id: str = "1234567"
    repository_id: str = "7654321"
    repository_visibility: str = "public"
    workflow_file: str = "release.yml"
    workflow: str = "Release"
    ref: str = "refs/tags/v1.0.0"
    sha: str = _DEFAULT_SHA
    environment: str | None = "release"
    event_name: str = "push"
    job_workflow_ref: str | None = None
    job_workflow_sha: str | None = None
    workflow_ref: str | None = None
    workflow_sha: str | None = None
    run_id: str = "9876543210"
    run_number: str = "42"
    run_attempt: str = "1"
    actor: str = "octocat"
    actor_id: str = "583231"
    runner_environment: str = "github-hosted"
    ref_protected: bool = True
    head_ref: str = ""
    base_ref: str = ""

    @property
    def owner(self) -> str:
        return self.repository_owner or self.repository.split("/", 1)[0]

    @property
    def subject(self) -> str:
        """``sub`` as GitHub builds it (default subject template)."""
        if self.environment:
            return f"repo:{self.repository}:environment:{self.environment}"
        if self.event_name in ("pull_request", "pull_request_target"):
            return f"repo:{self.repository}:pull_request"
        return f"repo:{self.repository}:ref:{self.ref}"

    def claims(self) -> dict[str, Any]:
        """The run's claims, without ``iss``/``aud`` and the time claims."""
        workflow_path = f"{self.repository}/.github/workflows/{self.workflow_file}@{self.ref}"
        claims: dict[str, Any] = {
            "sub": self.subject,
            "ref": self.ref,
            "sha": self.sha,
            "repository": self.repository,
            "repository_owner": self.owner,
            "repository_owner_id": self.repository_owner_id,
            "repository_id": self.repository_id,
            "repository_visibility": self.repository_visibility,
            "actor": self.actor,
            "actor_id": self.actor_id,
            "workflow": self.workflow,
            "workflow_ref": self.workflow_ref or workflow_path,
            "workflow_sha": self.workflow_sha or self.sha,
            "job_workflow_ref": self.job_workflow_ref or workflow_path,
            "job_workflow_sha": self.job_workflow_sha or self.sha,
            "head_ref": self.head_ref,
            "base_ref": self.base_ref,
            "event_name": self.event_name,
            "ref_type": _ref_type(self.ref),
            "ref_protected": "true" if self.ref_protected else "false",
            "run_id": self.run_id,
            "run_number": self.run_number,
            "run_attempt": self.run_attempt,
            "runner_environment": self.runner_environment,
        }
        if self.environment:
            claims["environment"] = self.environment
        return claims


@dataclass
class GitLabIdentity:
    """The CI/CD job a GitLab token describes.

    ``ref_path`` is the full ref (``refs/tags/v1.0.0``); ``ref`` and ``ref_type`` are
    derived from it. ``ci_config_ref_uri`` is
    ``{host}/{project_path}//{ci_config_path}@{ref_path}`` as GitLab builds it.
    """

    project_path: str = "octo-group/demo"
    project_id: str = "4242"
    namespace_path: str | None = None
    namespace_id: str = "2121"
    ci_config_path: str = ".gitlab-ci.yml"
    ref_path: str = "refs/tags/v1.0.0"
    sha: str = _DEFAULT_SHA
    ci_config_sha: str | None = None
    environment: str | None = None
    pipeline_id: str = "1100"
    pipeline_source: str = "push"
    job_id: str = "5500"
    user_id: str = "31"
    user_login: str = "octo"
    user_email: str = "octo@example.com"
    user_access_level: str = "maintainer"
    runner_id: int = 12345
    runner_environment: str = "gitlab-hosted"
    project_visibility: str = "public"
    ref_protected: bool = True
    host: str = "gitlab.com"

    @property
    def ref(self) -> str:
        return _short_ref(self.ref_path)

    @property
    def ref_type(self) -> str:
        return _ref_type(self.ref_path)

    @property
    def subject(self) -> str:
        return f"project_path:{self.project_path}:ref_type:{self.ref_type}:ref:{self.ref}"

    @property
    def ci_config_ref_uri(self) -> str:
        return f"{self.host}/{self.project_path}//{self.ci_config_path}@{self.ref_path}"

    def claims(self) -> dict[str, Any]:
        """The job's claims, without ``iss``/``aud`` and the time claims."""
        claims: dict[str, Any] = {
            "sub": self.subject,
            "namespace_id": self.namespace_id,
            "namespace_path": self.namespace_path or self.project_path.rsplit("/", 1)[0],
            "project_id": self.project_id,
            "project_path": self.project_path,
            "user_id": self.user_id,
            "user_login": self.user_login,
            "user_email": self.user_email,
            "user_access_level": self.user_access_level,
            "pipeline_id": self.pipeline_id,
            "pipeline_source": self.pipeline_source,
            "job_id": self.job_id,
            "ref": self.ref,
            "ref_type": self.ref_type,
            "ref_path": self.ref_path,
            "ref_protected": "true" if self.ref_protected else "false",
            "runner_id": self.runner_id,
            "runner_environment": self.runner_environment,
            "sha": self.sha,
            "project_visibility": self.project_visibility,
            "ci_config_ref_uri": self.ci_config_ref_uri,
            "ci_config_sha": self.ci_config_sha or self.sha,
        }
        if self.environment:
            claims["environment"] = self.environment
            claims["environment_protected"] = "false"
            claims["deployment_tier"] = "production"
            claims["environment_action"] = "start"
        return claims


def _apply(claims: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides win; an override of ``None`` removes the claim."""
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


class OIDCIssuer(LocalService):
    """An OIDC identity provider for the local world (see the module docstring).

    The signing key exists only in memory, for this instance's lifetime.
    """

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key: rsa.RSAPublicKey = self._key.public_key()
        self._jwk: dict[str, Any] = dict(RSAAlgorithm.to_jwk(self.public_key, as_dict=True))
        #: RFC 7638 thumbprint of the public key, sent as the ``kid`` header.
        self.kid = _jwk_thumbprint(self._jwk)
        # "use" instead of pyjwt's "key_ops": RFC 7517 §4.3 advises against both.
        self._jwk.pop("key_ops", None)
        self._jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        #: The runner endpoint's bearer secret (``ACTIONS_ID_TOKEN_REQUEST_TOKEN``).
        self.request_token = secrets.token_urlsafe(32)
        #: The identity the runner endpoint mints for; tests change it freely.
        self.github = GitHubIdentity()
        self._server = LocalServer(name="oidc-issuer")
        for base in ("", "/oidc"):
            self._server.route("GET", f"{base}/.well-known/openid-configuration", self._discovery)
            self._server.route("GET", f"{base}/jwks", self._serve_jwks)
        self._server.route("GET", "/github-token", self._github_token)

    # -- URLs (start, stop and url come from LocalService) ----------------------

    @property
    def jwks_url(self) -> str:
        return self.url + "/jwks"

    @property
    def github_token_url(self) -> str:
        """The value for ``ACTIONS_ID_TOKEN_REQUEST_URL``.

        Like a real runner's URL it already has a query string, so clients that
        append ``&audience=X`` (actions/toolkit, shell snippets) and clients that
        merge ``audience`` into the query (the ``id`` package) both work.
        """
        return self.url + "/github-token?api-version=2.0"

    # -- tokens ------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        """The public key set, as served at :attr:`jwks_url`."""
        return {"keys": [dict(self._jwk)]}

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        """Sign ``claims`` exactly as given (RS256, ``kid`` header), for odd test tokens.

        ``headers`` are merged over ``{"kid": ..., "typ": "JWT"}``.
        """
        return jwt.encode(
            claims,
            self._key,
            algorithm="RS256",
            headers={"kid": self.kid, "typ": "JWT", **(headers or {})},
        )

    def mint_github(
        self,
        audience: str = "pypi",
        *,
        identity: GitHubIdentity | None = None,
        lifetime: int = 300,
        **claims: Any,
    ) -> str:
        """A GitHub Actions token for ``identity`` (default :attr:`github`)."""
        body = {
            "iss": GITHUB_ISSUER,
            "aud": audience,
            "jti": str(uuid.uuid4()),
            **(identity or self.github).claims(),
            **self._times(lifetime),
        }
        return self.sign(_apply(body, claims))

    def mint_gitlab(
        self,
        audience: str = "pypi",
        *,
        identity: GitLabIdentity | None = None,
        lifetime: int = 300,
        **claims: Any,
    ) -> str:
        """A GitLab CI/CD ``id_tokens`` token for ``identity`` (default values)."""
        body = {
            "iss": GITLAB_ISSUER,
            "aud": audience,
            "jti": str(uuid.uuid4()),
            **(identity or GitLabIdentity()).claims(),
            **self._times(lifetime),
        }
        return self.sign(_apply(body, claims))

    def mint_google(
        self,
        audience: str = "pypi",
        *,
        email: str = "release@demo-project.iam.gserviceaccount.com",
        lifetime: int = 300,
        **claims: Any,
    ) -> str:
        """A Google service-account ID token (no ``jti``, no ``nbf``, like Google's)."""
        now = int(time.time())
        account_id = str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big"))
        body: dict[str, Any] = {
            "iss": GOOGLE_ISSUER,
            "aud": audience,
            "azp": account_id,
            "sub": account_id,
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + lifetime,
        }
        return self.sign(_apply(body, claims))

    def mint(self, kind: str, audience: str = "pypi", **kwargs: Any) -> str:
        """A token of ``kind`` (``github``, ``gitlab`` or ``google``): :meth:`mint_github` and friends."""
        if kind == "github":
            return self.mint_github(audience, **kwargs)
        if kind == "gitlab":
            return self.mint_gitlab(audience, **kwargs)
        if kind == "google":
            return self.mint_google(audience, **kwargs)
        raise ValueError(f"unknown token kind {kind!r}; use github, gitlab or google")

    def mint_pair(self, kind: str = "github", audience: str = "pypi", **kwargs: Any) -> tuple[str, str]:
        """Two tokens of the same identity: one for the index's ``audience``, one for ``sigstore``.

        What a job without an ambient provider is handed: trusted publishing needs
        the first, signing attestations the second (a JWT has one audience).
        ``kwargs`` go to both (``identity=``, ``email=``, claim overrides).
        """
        return self.mint(kind, audience, **kwargs), self.mint(kind, SIGSTORE_AUDIENCE, **kwargs)

    def static_environment(self, kind: str = "github", audience: str = "pypi", **kwargs: Any) -> dict[str, str]:
        """:meth:`mint_pair` as the variables trustpub reads static tokens from."""
        index_token, sigstore_token = self.mint_pair(kind, audience, **kwargs)
        return {STATIC_TOKEN_ENV: index_token, STATIC_SIGSTORE_TOKEN_ENV: sigstore_token}

    def verify_token(self, token: str, *, audience: str, leeway: float = 5) -> dict[str, Any]:
        """Check a token's signature (this issuer's key), audience and times.

        Raises :class:`jwt.InvalidTokenError`. The issuer string is not checked:
        tokens carry the real providers' ``iss``.
        """
        claims: dict[str, Any] = jwt.decode(
            token,
            self.public_key,
            algorithms=["RS256"],
            audience=audience,
            leeway=leeway,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
        return claims

    @staticmethod
    def _times(lifetime: int) -> dict[str, int]:
        now = int(time.time())
        return {"iat": now, "nbf": now, "exp": now + lifetime}

    # -- HTTP --------------------------------------------------------------------

    def _discovery(self, request: Request) -> Response:
        base = self.url + ("/oidc" if request.path.startswith("/oidc/") else "")
        return json_response(
            {
                "issuer": base,
                "jwks_uri": base + "/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public", "pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
            }
        )

    def _serve_jwks(self, request: Request) -> Response:
        return json_response(self.jwks())

    def _github_token(self, request: Request) -> Response:
        """The runner's ``ACTIONS_ID_TOKEN_REQUEST_URL`` endpoint.

        Without a bearer token: 401; with the wrong one: 403. Without ``audience``
        the token's audience is the repository owner's URL, as on GitHub.
        """
        presented = request.bearer_token()
        if presented is None:
            return error_response(401, "missing bearer token")
        if not secrets.compare_digest(presented, self.request_token):
            return error_response(403, "invalid bearer token")
        identity = self.github
        audience = request.param("audience") or f"https://github.com/{identity.owner}"
        _logger.debug("runner endpoint: minting for %s, aud %s", identity.repository, audience)
        return json_response({"count": 1, "value": self.mint_github(audience, identity=identity)})


def _jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an RSA JWK: a stable, key-derived ``kid``."""
    members = {name: jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
