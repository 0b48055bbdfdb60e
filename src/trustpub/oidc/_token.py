"""What every provider hands out and what a provider is: :class:`OIDCToken`, :class:`OIDCProvider`.

A token is read (never verified: the index and Fulcio do that) so that messages can
name its audience, issuer and expiry; the provider protocol is what the mint and the
attester ask for tokens, whatever the CI.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from trustpub.oidc._errors import TokenRequestFailed
from trustpub.oidc._names import ACCEPTED_ISSUERS, SIGSTORE_AUDIENCE
from trustpub.secrets import Secret


def decode_claims(jwt: str) -> dict[str, Any]:
    """The payload of a JWT, without verifying it. Raises :class:`TokenRequestFailed`."""
    try:
        _header, payload, _signature = jwt.strip().split(".")
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenRequestFailed(
            "the OIDC token is not a JWT (expected three base64url parts with a JSON payload)",
            hint="check where the token comes from; it must be the raw JWT",
        ) from None
    if not isinstance(claims, dict):
        raise TokenRequestFailed("the OIDC token's payload is not a JSON object")
    return claims


@dataclass(frozen=True)
class OIDCToken:
    """One OIDC JWT (single-use for PyPI) and its decoded, unverified claims."""

    value: Secret = field(repr=False)
    claims: Mapping[str, Any]
    #: Who gave it: "GitHub Actions", "GitLab CI", "static (TRUSTPUB_OIDC_TOKEN)", …
    provider: str

    @classmethod
    def parse(cls, raw: str, provider: str) -> OIDCToken:
        raw = raw.strip()
        return cls(Secret(raw), decode_claims(raw), provider)

    @property
    def issuer(self) -> str:
        return str(self.claims.get("iss", ""))

    @property
    def audience(self) -> Any:
        return self.claims.get("aud")

    @property
    def expires(self) -> datetime | None:
        exp = self.claims.get("exp")
        if isinstance(exp, (int, float)):
            return datetime.fromtimestamp(exp, tz=timezone.utc)
        return None

    def check_audience(self, audience: str, *, hint: str | None = None) -> None:
        """Raise :class:`TokenRequestFailed` unless ``aud`` is exactly ``audience`` (one string).

        The message names who wants that audience: Sigstore for ``sigstore`` (it is
        Fulcio that refuses another one), the index for any other.
        """
        aud = self.audience
        if aud == audience:
            return
        raise TokenRequestFailed(
            f"the OIDC token from {self.provider} has audience {_shown(aud)}, but {_consumer(audience)} "
            f"expects exactly {audience!r}",
            hint=hint or "request the token with that audience (a list of audiences is refused too)",
        )


def _consumer(audience: str) -> str:
    """Who checks a token of this audience, for messages."""
    return "Sigstore, which signs the attestations," if audience == SIGSTORE_AUDIENCE else "the index"


def _shown(value: Any, limit: int = 80) -> str:
    """``repr`` (control characters escaped), cut to ``limit``: claims come from outside."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def issuer_accepted_by_pypi(issuer: str) -> bool:
    """True for the issuers PyPI and TestPyPI mint tokens for."""
    return issuer.rstrip("/") in ACCEPTED_ISSUERS


@runtime_checkable
class OIDCProvider(Protocol):
    """Something that hands out fresh OIDC tokens for an audience."""

    @property
    def name(self) -> str:
        """Human name of the CI: "GitHub Actions"."""
        ...

    @property
    def pypi_accepts(self) -> bool:
        """Whether PyPI mints tokens for this CI's tokens."""
        ...

    def fetch(self, audience: str) -> OIDCToken:
        """A new token whose ``aud`` is ``audience``. Raises :class:`OIDCError`."""
        ...


def check_audiences(provider: OIDCProvider, audiences: Sequence[str]) -> None:
    """Before a release signs or uploads anything: can ``provider`` serve all these audiences?

    Providers whose tokens are declared up front (GitLab's ``id_tokens:``, static
    tokens) answer without fetching anything, and raise one error naming every
    audience they cannot serve. Providers that fetch on demand (GitHub's runner,
    ``id``) are not asked: fetching would spend a token, and they fail clearly when
    they fetch.
    """
    check = getattr(provider, "check_audiences", None)
    if callable(check):
        check(list(audiences))
