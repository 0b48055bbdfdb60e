"""The trusted-publishing token exchange of the local index (``POST /_/oidc/mint-token``).

Follows ``warehouse-contract.md`` §1.3-1.5 check by check: payload, unverified
decode, issuer, admin flags, RS256 signature against the issuer's JWKS (``kid``
required, strict single-string ``aud``, 30 s leeway), publisher lookup and claim
checks, one-time ``jti``.  Every failure is a 422 with
``{"message": "Token request failed", "errors": [{"code", "description"}]}``.

Warehouse fetches each issuer's JWKS through ``{iss}/.well-known/openid-configuration``.
The local world's tokens carry the *real* issuer strings, so the index is given an
``iss -> JWKS URL`` map instead and fetches the key set over HTTP, cached like
Warehouse caches it: a known key is used from the cache, an unknown ``kid`` triggers a
refresh at most once every 60 seconds.

Usage::

    exchange = TokenExchange(audience="pypi", jwks_urls={GITHUB_ISSUER: issuer.jwks_url})
    try:
        claims, issuer, service = exchange.verify(body)   # raises MintError
    except MintError as exc:
        response = exc.response()
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from trustpub.local._http import Response
from trustpub.local._publishers import ISSUER_SERVICE_NAMES

__all__ = ["JWKS_REFRESH_INTERVAL", "JWT_LEEWAY", "MintError", "TokenExchange"]

_logger = logging.getLogger(__name__)

#: Warehouse refreshes an issuer's key set at most this often (seconds).
JWKS_REFRESH_INTERVAL = 60.0
#: Clock skew tolerated on ``exp``/``iat``/``nbf`` (seconds).
JWT_LEEWAY = 30


class TokenPayload(BaseModel):
    # Warehouse's pydantic model; inputs are hidden from error texts here so a
    # malformed request can never echo a token back.
    model_config = ConfigDict(hide_input_in_errors=True)

    token: StrictStr


class MintError(Exception):
    """A refused token request: one ``errors[]`` entry of the 422 body."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description

    def response(self) -> Response:
        """The 422 reply Warehouse sends for this failure (Pyramid's JSON rendering)."""
        document = {
            "message": "Token request failed",
            "errors": [{"code": self.code, "description": self.description}],
        }
        return Response(422, json.dumps(document).encode(), "application/json")


def _fetch_json(url: str) -> Any:
    # No proxies: the key sets are on loopback servers of the local world.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as reply:
        return json.loads(reply.read(1024 * 1024))


@dataclass
class _KeySet:
    keys: dict[str, dict[str, Any]]
    refreshed_at: float | None


class TokenExchange:
    """Verifies OIDC JWTs for the mint endpoint (everything before publisher matching)."""

    def __init__(
        self,
        *,
        audience: str,
        jwks_urls: Mapping[str, str],
        custom_issuers: Callable[[], Mapping[str, str]] = dict,
        disallowed: Callable[[str], bool] = lambda _service: False,
        fetch_json: Callable[[str], Any] = _fetch_json,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self._jwks_urls = dict(jwks_urls)
        self._custom_issuers = custom_issuers
        self._disallowed = disallowed
        self._fetch_json = fetch_json
        self._clock = clock
        self._cache: dict[str, _KeySet] = {}
        self._lock = threading.Lock()

    def add_issuer(self, issuer: str, jwks_url: str) -> None:
        """Fetch ``issuer``'s keys from ``jwks_url`` (a self-managed GitLab, say)."""
        with self._lock:
            self._jwks_urls[issuer] = jwks_url
            self._cache.pop(issuer, None)

    def verify(self, body: bytes) -> tuple[dict[str, Any], str, str]:
        """Checks 1-5 of the mint endpoint; returns (claims, issuer, service name)."""
        try:
            unverified_jwt = TokenPayload.model_validate_json(body).token
        except ValidationError as exc:
            raise MintError("invalid-payload", str(exc)) from None
        try:
            unverified = jwt.decode(unverified_jwt, options={"verify_signature": False})
            issuer = unverified["iss"]
        except Exception:
            raise MintError("invalid-payload", "malformed JWT") from None
        service = None
        if isinstance(issuer, str):
            service = ISSUER_SERVICE_NAMES.get(issuer) or self._custom_issuers().get(issuer)
        if service is None:
            _logger.debug("mint refused: unknown issuer %r", issuer)
            raise MintError("invalid-payload", "unknown trusted publishing issuer")
        if self._disallowed(service):
            raise MintError(
                "not-enabled", f"{service} trusted publishing functionality not enabled"
            )
        claims = self._verify_signature(unverified_jwt, issuer)
        if claims is None:
            raise MintError("invalid-token", "malformed or invalid token")
        return claims, issuer, service

    def _verify_signature(self, token: str, issuer: str) -> dict[str, Any] | None:
        try:
            header = jwt.get_unverified_header(token)
            kid = header["kid"]
            key = self._key(str(kid), issuer)
        except (jwt.PyJWTError, KeyError, TypeError) as exc:
            _logger.debug("no usable key for a token from %s: %s", issuer, exc)
            return None
        if key is None:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                options={
                    "verify_signature": True,
                    "require": ["iss", "iat", "exp", "aud"],
                    "verify_iss": True,
                    "verify_iat": True,
                    "verify_exp": True,
                    "verify_aud": True,
                    "verify_nbf": True,
                    "strict_aud": True,
                },
                issuer=issuer,
                audience=self.audience,
                leeway=JWT_LEEWAY,
            )
        except Exception as exc:
            _logger.debug("token from %s failed verification: %s", issuer, exc)
            return None
        return claims

    def _key(self, kid: str, issuer: str) -> jwt.PyJWK | None:
        with self._lock:
            cached = self._cache.setdefault(issuer, _KeySet({}, None))
            if kid not in cached.keys:
                now = self._clock()
                cooling = (
                    cached.refreshed_at is not None
                    and now - cached.refreshed_at < JWKS_REFRESH_INTERVAL
                )
                if not cooling:
                    self._refresh(issuer, cached, now)
            jwk = cached.keys.get(kid)
        if jwk is None:
            _logger.debug("key id %r not found for issuer %s", kid, issuer)
            return None
        return jwt.PyJWK(jwk)

    def _refresh(self, issuer: str, cached: _KeySet, now: float) -> None:
        url = self._jwks_urls.get(issuer)
        if url is None:
            _logger.debug("no JWKS URL configured for issuer %s", issuer)
            return
        try:
            document = self._fetch_json(url)
            keys = {str(key["kid"]): key for key in document.get("keys") or []}
        except Exception as exc:
            # As in Warehouse: a failing issuer keeps its cached keys and no cooldown.
            _logger.debug("fetching JWKS of %s from %s failed: %s", issuer, url, exc)
            return
        if not keys:
            _logger.debug("JWKS of %s at %s has no keys", issuer, url)
            return
        cached.keys = keys
        cached.refreshed_at = now
        _logger.debug("fetched %d key(s) for %s", len(keys), issuer)
