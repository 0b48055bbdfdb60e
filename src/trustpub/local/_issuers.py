"""The OIDC issuers and token hand-off names the local world speaks, defined here on purpose.

The local index matches tokens to trusted publishers by issuer URL, and the local
issuer hands its tokens to trustpub under the environment variables trustpub reads.
The client keeps its own copies (``trustpub.oidc``); the local world does not import
them, so a typo on either side shows up as a failed mint or a missing token in the
tests instead of being agreed on by construction (``make layers`` enforces this).

Usage::

    from trustpub.local._issuers import GITHUB_ISSUER
"""

from __future__ import annotations

__all__ = [
    "ACTIVESTATE_ISSUER",
    "GITHUB_ISSUER",
    "GITLAB_ISSUER",
    "GOOGLE_ISSUER",
    "SIGSTORE_AUDIENCE",
    "STATIC_SIGSTORE_TOKEN_ENV",
    "STATIC_TOKEN_ENV",
]

#: ``iss`` of the publisher kinds PyPI knows (warehouse-contract.md §1.6).
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"
ACTIVESTATE_ISSUER = "https://platform.activestate.com/api/v1/oauth/oidc"

#: The audience of the second token a job requests, for Sigstore's Fulcio.
SIGSTORE_AUDIENCE = "sigstore"

#: Where trustpub reads static tokens (the index's audience, and ``sigstore``) from.
STATIC_TOKEN_ENV = "TRUSTPUB_OIDC_TOKEN"
STATIC_SIGSTORE_TOKEN_ENV = "TRUSTPUB_SIGSTORE_OIDC_TOKEN"
