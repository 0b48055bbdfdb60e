"""Can this CI identity attest? Decided from the job's declared tokens, before signing.

PyPI verifies each PEP 740 attestation against the trusted publisher that minted the
upload token (``warehouse-contract.md`` §3), and two kinds of publisher can never pass:

- **ActiveState**: PyPI refuses attestations from ActiveState publishers outright
  ("Attestations are not currently supported with ActiveState publishers"), although
  its documentation lists ActiveState among those that can attest.
- **Self-managed GitLab** (an issuer a PyPI organization registered): the token is
  accepted for publishing, but pypi-attestations checks GitLab certificates against
  the issuer ``https://gitlab.com`` only, so the attestations fail verification.

Signing them anyway would write entries to the public transparency log for files the
index then refuses. So trustpub looks at the job's tokens first: with
``--attestations`` given it stops with PyPI's reason; by default (attestations on
where trusted publishing is used) it publishes without them and says why::

    refusal = unattestable(provider)
    if refusal is not None:
        raise refusal.error()          # AttestationsUnsupported, exit 2

Only tokens declared up front are read (GitLab's ``id_tokens:``, static tokens): they
can be decoded without being spent. GitHub Actions and Google Cloud identities attest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trustpub.errors import ConfigurationError
from trustpub.oidc import (
    ACTIVESTATE_ISSUER,
    GITLAB_ISSUER,
    GitLabCIProvider,
    OIDCProvider,
    StaticProvider,
    TokenRequestFailed,
    decode_claims,
    gitlab_env_var,
)
from trustpub.secrets import Secret

__all__ = [
    "ACTIVESTATE_REFUSAL",
    "SELF_MANAGED_GITLAB_REFUSAL",
    "AttestationsUnsupported",
    "NoAttestations",
    "attestation_refusal",
    "declared_claims",
    "unattestable",
]

#: PyPI's words for an ActiveState publisher's attestations (HTTP 400 on upload).
ACTIVESTATE_REFUSAL = "Attestations are not currently supported with ActiveState publishers"
#: Why a self-managed GitLab's attestations cannot verify on PyPI.
SELF_MANAGED_GITLAB_REFUSAL = (
    "PyPI verifies GitLab attestations only for the issuer https://gitlab.com (pypi-attestations "
    "pins it), so attestations signed with a token from {issuer} fail verification"
)


class AttestationsUnsupported(ConfigurationError):
    """``--attestations`` was asked for, and this CI identity can never attest on the index."""


@dataclass(frozen=True)
class NoAttestations:
    """Why this identity's attestations would be refused, in PyPI's terms."""

    #: Who the identity is: "ActiveState", "self-managed GitLab (https://gitlab.example.com)".
    publisher: str
    #: The reason, as PyPI gives it (or as its verification would fail).
    reason: str

    def error(self) -> AttestationsUnsupported:
        return AttestationsUnsupported(
            f"--attestations cannot be honoured for this {self.publisher} identity: {self.reason}",
            hint="publish with --no-attestations from this CI (trusted publishing itself works), or attest from "
            "GitHub Actions, gitlab.com or Google Cloud",
        )

    def notice(self) -> str:
        """The line printed when attestations are off by default for this identity."""
        return f"attestations: off for this {self.publisher} identity: {self.reason}; publishing without them"


def attestation_refusal(claims: Mapping[str, Any]) -> NoAttestations | None:
    """The refusal awaiting attestations signed with these claims' identity, or None."""
    iss = str(claims.get("iss", "")).rstrip("/")
    if iss == ACTIVESTATE_ISSUER:
        return NoAttestations("ActiveState", f"PyPI says: {ACTIVESTATE_REFUSAL!r}")
    gitlab_shaped = claims.get("project_path") is not None and claims.get("ci_config_ref_uri") is not None
    if gitlab_shaped and iss and iss != GITLAB_ISSUER:
        return NoAttestations(f"self-managed GitLab ({iss})", SELF_MANAGED_GITLAB_REFUSAL.format(issuer=iss))
    return None


def _decoded(raw: str | None) -> Mapping[str, Any] | None:
    if not raw or not raw.strip():
        return None
    try:
        return decode_claims(raw)
    except TokenRequestFailed:
        return None  # the release's own token checks name a broken token


def _static_value(token: Secret | None, path: Any) -> str | None:
    if token is not None:
        return token.reveal()
    if path is not None:
        try:
            return str(path.read_text(encoding="utf-8"))
        except OSError:
            return None
    return None


def declared_claims(provider: OIDCProvider | None) -> Mapping[str, Any] | None:
    """The claims of a token the job already holds, read without spending it; None when none is.

    GitLab: ``SIGSTORE_ID_TOKEN``, else any other ``*_ID_TOKEN``. Static tokens: the
    Sigstore one, else the index's. Providers that fetch on demand give None.
    """
    if isinstance(provider, GitLabCIProvider):
        env = os.environ if provider.env is None else provider.env
        first = gitlab_env_var("sigstore")
        names = [first, *sorted(k for k in env if k.endswith("_ID_TOKEN") and k != first)]
        for name in names:
            claims = _decoded(env.get(name))
            if claims is not None:
                return claims
        return None
    if isinstance(provider, StaticProvider):
        for token, path in ((provider.sigstore_token, provider.sigstore_path), (provider.token, provider.path)):
            claims = _decoded(_static_value(token, path))
            if claims is not None:
                return claims
    return None


def unattestable(provider: OIDCProvider | None) -> NoAttestations | None:
    """Why ``provider``'s identity cannot attest, or None (also when it cannot be told)."""
    claims = declared_claims(provider)
    return attestation_refusal(claims) if claims is not None else None
