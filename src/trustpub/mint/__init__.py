"""Trusted publishing: exchange a CI OIDC token for a short-lived index API token.

The flow of ``warehouse-contract.md`` §6, one function per step:

1. :func:`discover_audience`: ``GET /_/oidc/audience`` (403: turned off, 404: not supported);
2. a **fresh** OIDC token for that audience from the :class:`~trustpub.oidc.OIDCProvider`
   (a JWT is accepted once: every mint, and every retry, gets a new one);
3. :func:`exchange`: ``POST /_/oidc/mint-token``; a 422 becomes :class:`MintRejected`,
   which says what is wrong, shows the token's decoded claims and the trusted
   publisher the index would need to match them. A 200 whose ``success`` is not
   ``true`` is a refusal too, even if it carries a token.

Both answers come from a server this process does not control: a reply larger than
:data:`MAX_REPLY_BYTES` is refused unread, an audience must be a short printable
string, and what the index says is shown escaped and cut short, never raw.

:func:`mint_api_token` does all three. For uploads, :class:`TokenSource` is the
credential source the uploader asks before each file: it re-mints when the current
token is within ``margin`` of expiry (5 minutes, at most half the token's lifetime),
and is safe to share between upload threads::

    source = TokenSource(Registry.parse("pypi"), detect_ci().require_provider())
    for dist in dists:
        creds = source.credentials()     # Credentials("__token__", Secret(...), ...)
        upload(dist, creds.authorization())

The minted token is a :class:`~trustpub.secrets.Secret`; on GitHub Actions it is
also announced to the runner with ``::add-mask::`` so it never shows in a job log.

The parts, one job each (private, behind this ``__init__``): ``_errors``, ``_reply``
(bounded answers, :class:`MintedToken` and its expiry), ``_exchange`` (the audience,
the refusals before any request, the exchange), ``_refusals`` (a 422 explained) and
``_remint`` (:class:`TokenSource`, re-minting near expiry).
"""

from __future__ import annotations

# Credentials is the class of trustpub.auth, importable from here as before the split.
from trustpub.auth import Credentials as Credentials
from trustpub.mint._errors import (
    MintError,
    MintRejected,
    PullRequestTargetRefused,
    TrustedPublishingUnavailable,
)
from trustpub.mint._exchange import (
    check_provider_accepted,
    discover_audience,
    exchange,
    mint_api_token,
)
from trustpub.mint._remint import DEFAULT_MARGIN, TokenSource
from trustpub.mint._reply import MAX_REPLY_BYTES, NOMINAL_LIFETIME, MintedToken

__all__ = [
    "DEFAULT_MARGIN",
    "MAX_REPLY_BYTES",
    "NOMINAL_LIFETIME",
    "MintError",
    "MintRejected",
    "MintedToken",
    "PullRequestTargetRefused",
    "TokenSource",
    "TrustedPublishingUnavailable",
    "check_provider_accepted",
    "discover_audience",
    "exchange",
    "mint_api_token",
]
