"""The trusted-publishing requests: the audience, the refusals before any request, the exchange.

The flow of ``warehouse-contract.md`` §6, one function per step; :func:`mint_api_token`
does them all. Every mint fetches a fresh OIDC token: the index accepts a JWT once.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from trustpub.mint._errors import MintError, PullRequestTargetRefused, TrustedPublishingUnavailable
from trustpub.mint._refusals import _rejected
from trustpub.mint._reply import MAX_REPLY_BYTES, MintedToken, _check_size, _parse_expires, _utcnow
from trustpub.oidc import (
    IssuerNotAccepted,
    OIDCProvider,
    OIDCToken,
    github_event_name,
    issuer_accepted_by_pypi,
    reusable_workflow_warning,
)
from trustpub.registry import Registry, RegistryKind
from trustpub.secrets import Secret, mask_in_ci
from trustpub.transport import Transport, TransportError, default_transport

# Every part logs as "trustpub.mint": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.mint")

_INDEXES_THAT_ARE_PYPI = (RegistryKind.PYPI, RegistryKind.TESTPYPI)
#: An audience is a short token of printable ASCII (``pypi``, ``testpypi``, a URL).
_AUDIENCE = re.compile(r"[!-~]{1,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def discover_audience(registry: Registry, *, transport: Transport | None = None) -> str:
    """The audience the index wants in OIDC tokens (``pypi``, ``testpypi``, …)."""
    transport = transport or default_transport()
    url = registry.audience_url
    _logger.debug("trusted publishing: asking %s for its audience", url)
    try:
        response, body = transport.get_json(url, max_body=MAX_REPLY_BYTES)
    except TransportError as exc:
        raise TrustedPublishingUnavailable(
            f"cannot ask {registry} for its trusted-publishing audience: {exc.message}", hint=exc.hint
        ) from None
    _check_size(response, url, TrustedPublishingUnavailable, "the index's audience")
    if response.status == 200 and isinstance(body, dict) and isinstance(body.get("audience"), str):
        audience: str = body["audience"]
        if not _AUDIENCE.fullmatch(audience):
            # Not echoed: it may be huge or hold terminal escapes.
            raise TrustedPublishingUnavailable(
                f"{url} answered an audience that is not a short printable string ({len(audience)} characters"
                f"{', with control characters' if _CONTROL.search(audience) else ''}); an OIDC audience is a "
                "word such as 'pypi'",
                hint="check the --to URL; this does not look like a trusted-publishing endpoint",
            )
        _logger.debug("trusted publishing: %s wants audience %r", registry, audience)
        return audience
    if response.status == 403:
        raise TrustedPublishingUnavailable(
            f"{registry} has trusted publishing turned off right now ({url} answered 403)",
            hint="its administrators disabled it; wait and re-run, or use an API token (TRUSTPUB_TOKEN) for this release",
        )
    if response.status == 404:
        raise TrustedPublishingUnavailable(
            f"{registry} does not support trusted publishing ({url} answered 404)",
            hint="check the --to URL; for an index without trusted publishing use --credentials token "
            "with TRUSTPUB_TOKEN, TRUSTPUB_USERNAME/TRUSTPUB_PASSWORD or .pypirc",
        )
    if response.status == 200:
        raise TrustedPublishingUnavailable(
            f"{url} answered 200 without an `audience` string; this is not a trusted-publishing endpoint",
            hint="check the --to URL",
        )
    raise TrustedPublishingUnavailable(
        f"{url} answered HTTP {response.status} {response.reason}".rstrip(),
        hint="the index may be having trouble; wait a few minutes and re-run",
    )


def _check_event(env: Mapping[str, str], claims: Mapping[str, Any] | None = None) -> None:
    if github_event_name(env) == "pull_request_target":
        raise PullRequestTargetRefused()
    if claims is not None and claims.get("event_name") == "pull_request_target":
        raise PullRequestTargetRefused()


def check_provider_accepted(registry: Registry, provider: OIDCProvider) -> None:
    """Refuse, before any request, a CI whose tokens PyPI and TestPyPI never accept.

    Buildkite and CircleCI give OIDC tokens (good for Sigstore), but PyPI has no
    trusted publisher for them: :class:`~trustpub.oidc.IssuerNotAccepted`. Another
    index may accept them, so for a custom URL this only logs a warning.
    """
    if provider.pypi_accepts:
        return
    if registry.kind in _INDEXES_THAT_ARE_PYPI:
        raise IssuerNotAccepted(
            f"{provider.name} gives OIDC tokens that can sign Sigstore attestations, but {registry} "
            "does not accept them for trusted publishing (it takes GitHub Actions, GitLab CI/CD, "
            "Google Cloud and ActiveState)",
            hint="upload with an API token (TRUSTPUB_TOKEN); attestations still need trusted publishing on PyPI",
        )
    _logger.warning(
        "%s tokens are not accepted by PyPI; trying anyway, since %s is another index",
        provider.name,
        registry,
    )


def exchange(
    registry: Registry,
    oidc_token: OIDCToken,
    *,
    transport: Transport | None = None,
    project: str | None = None,
    env: Mapping[str, str] | None = None,
    mask: bool = True,
) -> MintedToken:
    """``POST /_/oidc/mint-token`` with this (unused) OIDC token. Never resend a token.

    ``project`` only improves messages (the link to its publishing settings).
    ``mask`` prints ``::add-mask::`` on GitHub Actions (the default).
    """
    transport = transport or default_transport()
    environ = os.environ if env is None else env
    _check_event(environ, oidc_token.claims)
    url = registry.mint_url
    _logger.debug(
        "trusted publishing: exchanging a %s token (jti %s) at %s",
        oidc_token.provider,
        oidc_token.claims.get("jti"),
        url,
    )
    try:
        response, body = transport.post_json(
            url, {"token": oidc_token.value.reveal()}, credentials=True, max_body=MAX_REPLY_BYTES
        )
    except TransportError as exc:
        raise MintError(f"mint-token request to {registry} failed: {exc.message}", hint=exc.hint) from None
    _check_size(response, url, MintError, "a mint-token answer")
    if response.status == 422:
        raise _rejected(registry, body, oidc_token.claims, project)
    if response.status == 200 and isinstance(body, dict) and "success" in body and body["success"] is not True:
        # A refusal whatever else the answer holds: a token next to success=false is not used.
        raise _rejected(registry, body, oidc_token.claims, project, status="200 with success=false")
    if response.status != 200 or not isinstance(body, dict):
        raise MintError(
            f"{url} answered HTTP {response.status} {response.reason}".rstrip()
            + ("" if isinstance(body, dict) else " without a JSON body"),
            hint="the index may be having trouble; wait a few minutes and re-run (a new OIDC token is fetched each time)",
        )
    raw = body.get("token")
    if not isinstance(raw, str) or not raw:
        raise MintError(f"{url} answered 200 without a `token`", hint="the index's trusted publishing is broken; report it")
    token = Secret(raw)
    if mask:
        # The runner that reads ``::add-mask::`` is the one this process runs on, so the
        # decision follows the real environment, not a simulated one (rehearse, tests).
        mask_in_ci(token)
    minted_at = _utcnow()
    minted = MintedToken(token, _parse_expires(body.get("expires"), minted_at), minted_at, dict(oidc_token.claims))
    _logger.debug("trusted publishing: minted a token for %s, expires %s", registry, minted.expires.isoformat())
    return minted


def mint_api_token(
    registry: Registry,
    provider: OIDCProvider,
    *,
    audience: str | None = None,
    transport: Transport | None = None,
    project: str | None = None,
    env: Mapping[str, str] | None = None,
    mask: bool = True,
    warn: bool = True,
) -> MintedToken:
    """Audience (unless given), a fresh OIDC token, the exchange: one new API token.

    Refuses before any request from ``pull_request_target`` and, for PyPI and
    TestPyPI, from CIs whose tokens PyPI does not accept. With ``warn``, logs a
    warning when the job runs in a reusable workflow.
    """
    environ = os.environ if env is None else env
    _check_event(environ)
    check_provider_accepted(registry, provider)
    if audience is None:
        audience = discover_audience(registry, transport=transport)
    oidc_token = provider.fetch(audience)
    claims = oidc_token.claims
    _check_event(environ, claims)
    if registry.kind in _INDEXES_THAT_ARE_PYPI and oidc_token.issuer and not issuer_accepted_by_pypi(oidc_token.issuer):
        _logger.warning(
            "the OIDC token's issuer %r is not one PyPI accepts by default (only an issuer registered by your "
            "organization would work)",
            oidc_token.issuer,
        )
    if warn:
        message = reusable_workflow_warning(claims)
        if message:
            _logger.warning("%s", message)
    return exchange(registry, oidc_token, transport=transport, project=project, env=environ, mask=mask)
