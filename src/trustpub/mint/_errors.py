"""Why trusted publishing gave no API token: one exception class per cause.

:class:`MintRejected` carries the decoded claims and the publisher the index would
need, so that every printer (text, JSON, ``doctor``) shows the same explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trustpub.errors import TrustpubError
from trustpub.oidc import PublisherSettings, shown_claims


class MintError(TrustpubError):
    """Trusted publishing could not produce an API token."""


class TrustedPublishingUnavailable(MintError):
    """The index has trusted publishing turned off (403) or does not offer it (404)."""


class PullRequestTargetRefused(MintError):
    """``pull_request_target`` workflows may not publish; refused before any request."""

    def __init__(self) -> None:
        super().__init__(
            "this workflow was triggered by `pull_request_target`, and PyPI refuses trusted "
            "publishing from it (it runs with the base repository's secrets for untrusted code)",
            hint="publish from a push, tag, release or workflow_dispatch event",
        )


class MintRejected(MintError):
    """The index answered 422 to mint-token: the token or the publisher does not fit.

    ``code`` and ``description`` are the index's first error; ``errors`` all of them.
    ``claims`` are the decoded OIDC claims (never the token), ``publisher`` the
    trusted-publisher settings the index would need to match them.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None,
        code: str,
        description: str,
        errors: tuple[tuple[str, str], ...],
        claims: Mapping[str, Any],
        publisher: PublisherSettings | None,
        settings_url: str | None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.description = description
        self.errors = errors
        self.claims = dict(claims)
        self.publisher = publisher
        self.settings_url = settings_url

    def details(self) -> list[str]:
        """The claims and publisher blocks, as lines (no message, no hint)."""
        lines: list[str] = []
        shown = shown_claims(self.claims)
        if shown:
            lines.append("the OIDC token's claims (decoded; the token itself is never shown):")
            lines.extend(f"    {name}: {value}" for name, value in shown.items())
        if self.publisher is not None:
            lines.append(f"the trusted publisher ({self.publisher.kind}) the index needs for these claims:")
            lines.extend(f"    {line}" for line in self.publisher.lines())
            if self.settings_url:
                lines.append(f"    add or fix it at: {self.settings_url}")
        return lines

    def __str__(self) -> str:
        lines = [self.message, *self.details()]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)
