"""Why no OIDC token could be had: one exception class per cause the user can fix.

Apart from the providers so that detection, providers and the mint refusals raise
and catch the same classes without importing each other.
"""

from __future__ import annotations

from trustpub.errors import TrustpubError
from trustpub.oidc._names import (
    STATIC_SIGSTORE_TOKEN_ENV,
    STATIC_TOKEN_ENV,
    STATIC_TOKEN_FILE_ENV,
)


class OIDCError(TrustpubError):
    """No OIDC token could be had from this CI job."""


class NotInCI(OIDCError):
    """No CI with an OIDC identity was found."""

    @classmethod
    def default(cls) -> NotInCI:
        return cls(
            "trusted publishing needs a CI identity, and none was found: this is not GitHub "
            "Actions, GitLab CI, Google Cloud, Buildkite or CircleCI",
            hint="run in CI, or use an API token (TRUSTPUB_TOKEN), or give an OIDC token in "
            f"{STATIC_TOKEN_ENV} / {STATIC_TOKEN_FILE_ENV} (and one with audience 'sigstore' in "
            f"{STATIC_SIGSTORE_TOKEN_ENV} for attestations)",
        )


class MissingIdTokenPermission(OIDCError):
    """GitHub Actions, but the job may not request an OIDC token."""


class ForkPullRequest(OIDCError):
    """A pull request from a fork: GitHub never gives it an OIDC token."""


class IssuerNotAccepted(OIDCError):
    """The CI can give OIDC tokens, but PyPI does not accept them for publishing."""


class TokenRequestFailed(OIDCError):
    """The CI was asked for a token and did not give a usable one."""


class MissingIdTokens(TokenRequestFailed):
    """GitLab CI: tokens the release needs are not declared under ``id_tokens:``.

    ``problems`` names each variable that is missing or has the wrong audience;
    ``block`` is the ``id_tokens:`` YAML declaring every token the release needs,
    so one edit of the pipeline fixes all of them. The hint carries the same
    block in YAML's one-line flow style, which survives every printer (CI logs,
    JSON, the step summary escape newlines).
    """

    def __init__(self, message: str, *, hint: str | None, problems: tuple[str, ...], block: str) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems
        self.block = block
