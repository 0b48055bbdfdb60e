"""A local OIDC issuer that mints GitHub-, GitLab-, Google- and ActiveState-shaped tokens.

Tests and ``trustpub rehearse`` need CI identity tokens without a CI: this issuer
mints them with the claims a real GitHub Actions runner, GitLab job or Google service
account puts in, signed with an RS256 key generated per instance. The tokens carry the
REAL issuer strings as ``iss`` (:data:`GITHUB_ISSUER` and friends; a self-managed
GitLab host's URL for ``GitLabIdentity(host=...)``), so the real
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
from collections.abc import Callable
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
from trustpub.local._identities import ActiveStateIdentity, GitHubIdentity, GitLabIdentity
from trustpub.local._issuers import (
    ACTIVESTATE_ISSUER,
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    SIGSTORE_AUDIENCE,
    STATIC_SIGSTORE_TOKEN_ENV,
    STATIC_TOKEN_ENV,
)

__all__ = [
    "ACTIVESTATE_ISSUER",
    "GITHUB_ISSUER",
    "GITLAB_ISSUER",
    "GOOGLE_ISSUER",
    "ActiveStateIdentity",
    "GitHubIdentity",
    "GitLabIdentity",
    "OIDCIssuer",
]

_logger = logging.getLogger(__name__)


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
        """A GitLab CI/CD ``id_tokens`` token for ``identity`` (default values).

        ``iss`` is the identity's instance: gitlab.com, or a self-managed host
        (``GitLabIdentity(host="gitlab.example.com")``).
        """
        identity = identity or GitLabIdentity()
        body = {
            "iss": identity.issuer,
            "aud": audience,
            "jti": str(uuid.uuid4()),
            **identity.claims(),
            **self._times(lifetime),
        }
        return self.sign(_apply(body, claims))

    def mint_activestate(
        self,
        audience: str = "pypi",
        *,
        identity: ActiveStateIdentity | None = None,
        lifetime: int = 300,
        **claims: Any,
    ) -> str:
        """An ActiveState Platform token (``builder: pypi-publisher``) for ``identity``."""
        body = {
            "iss": ACTIVESTATE_ISSUER,
            "aud": audience,
            "jti": str(uuid.uuid4()),
            **(identity or ActiveStateIdentity()).claims(),
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
        """A token of ``kind`` (``github``, ``gitlab``, ``google``, ``activestate``): :meth:`mint_github` and friends."""
        minters: dict[str, Callable[..., str]] = {
            "github": self.mint_github,
            "gitlab": self.mint_gitlab,
            "google": self.mint_google,
            "activestate": self.mint_activestate,
        }
        if kind not in minters:
            raise ValueError(f"unknown token kind {kind!r}; use github, gitlab, google or activestate")
        return minters[kind](audience, **kwargs)

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
