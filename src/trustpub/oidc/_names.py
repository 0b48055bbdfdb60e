"""The identity vocabulary, defined once: issuers, audiences and the static-token variables.

Apart from the providers so that errors, claims and providers can all name them
without importing one another.
"""

from __future__ import annotations

from collections.abc import Mapping

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"
ACTIVESTATE_ISSUER = "https://platform.activestate.com/api/v1/oauth/oidc"

#: Issuers PyPI mints tokens for (warehouse-contract.md §1.6), and who they are.
ACCEPTED_ISSUERS: Mapping[str, str] = {
    GITHUB_ISSUER: "GitHub Actions",
    GITLAB_ISSUER: "GitLab CI/CD",
    GOOGLE_ISSUER: "Google Cloud",
    ACTIVESTATE_ISSUER: "ActiveState",
}

#: The audience Sigstore's Fulcio wants in the token that signs attestations.
SIGSTORE_AUDIENCE = "sigstore"

#: A static OIDC token for the index (its audience: ``pypi``, ``testpypi``, …), or a file holding one.
STATIC_TOKEN_ENV = "TRUSTPUB_OIDC_TOKEN"
STATIC_TOKEN_FILE_ENV = "TRUSTPUB_OIDC_TOKEN_FILE"
#: A second static token, with audience ``sigstore``, that signs the attestations (or a file).
STATIC_SIGSTORE_TOKEN_ENV = "TRUSTPUB_SIGSTORE_OIDC_TOKEN"
STATIC_SIGSTORE_TOKEN_FILE_ENV = "TRUSTPUB_SIGSTORE_OIDC_TOKEN_FILE"
