"""Stable error codes: one per exception class, each the anchor of its troubleshooting entry.

The command line ends every error line with ``see <docs>/troubleshooting.html#<code>``
(:func:`docs_link`); the page (``docs/troubleshooting.rst``) has one section per code,
and ``tests/test_error_codes.py`` fails when a :class:`~trustpub.errors.TrustpubError`
subclass has no code here or no entry there. Codes are keyed by class name, not
module, so a class that moves to another module keeps its code. A code never changes
once released: links in old CI logs must keep pointing at the right entry.

``TRUSTPUB_DOCS_URL`` replaces :data:`DOCS_URL`, e.g. with ``file:///.../docs/_build/html``
for the site ``make docs`` builds.

This module imports nothing of trustpub, so :mod:`trustpub.errors` can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["CODES", "DOCS_URL", "code_for", "docs_link"]

#: Where the documentation site is published; ``$TRUSTPUB_DOCS_URL`` overrides it.
DOCS_URL = "https://trustpub.readthedocs.io/en/latest"

#: Exception class name -> code (the anchor on the troubleshooting page).
CODES: dict[str, str] = {
    # trustpub.errors
    "TrustpubError": "trustpub-error",
    "ConfigurationError": "configuration",
    "CheckFailed": "check-failed",
    "WouldBeRefused": "would-be-refused",
    # explicit targets (trustpub.request_errors)
    "UnknownRegistry": "unknown-registry",
    "NoTargets": "no-targets",
    "EmptyField": "empty-field",
    "UnknownTargetKind": "unknown-target-kind",
    "WrongExtension": "wrong-extension",
    "MalformedDigest": "malformed-sha256",
    "TargetNotFound": "target-not-found",
    "SizeMismatch": "size-mismatch",
    "DuplicateTarget": "duplicate-target",
    "MissingIdentityProvider": "missing-identity-provider",
    "ReleaseMismatch": "release-mismatch",
    "DigestMismatch": "sha256-mismatch",
    # files
    "NotRegularFiles": "not-regular-files",
    "InvalidZip": "invalid-zip",
    "FileChangedError": "file-changed-while-read",
    "FileChanged": "file-changed-during-upload",
    "JournalLocked": "journal-locked",
    # network
    "TransportError": "transport",
    "InsecureTransport": "insecure-transport",
    "ProxyNotSupported": "proxy-not-supported",
    "BadCABundle": "bad-ca-bundle",
    "MalformedIndexResponse": "malformed-index-response",
    # identity
    "OIDCError": "oidc",
    "NotInCI": "not-in-ci",
    "MissingIdTokenPermission": "missing-id-token-permission",
    "ForkPullRequest": "fork-pull-request",
    "IssuerNotAccepted": "issuer-not-accepted",
    "TokenRequestFailed": "token-request-failed",
    "MissingIdTokens": "missing-id-tokens",
    "MintError": "mint",
    "TrustedPublishingUnavailable": "trusted-publishing-unavailable",
    "PullRequestTargetRefused": "pull-request-target-refused",
    "MintRejected": "mint-rejected",
    # attestations
    "AttestationFailed": "attestation-failed",
    "AttestationRejected": "attestation-rejected",
    "SigningError": "signing",
    "TrustUnavailable": "trust-unavailable",
    "AttestationsUnsupported": "attestations-unsupported",
    # upload
    "FileConflict": "file-conflict",
    "UploadRejected": "upload-rejected",
    "_NotStarted": "not-started",
    "VerificationFailed": "verification-failed",
    "Upload2Error": "upload2",
    "SessionGone": "session-gone",
    "SmokeFailed": "smoke-failed",
    # wrappers: a release that stopped shows its cause's code (see code_for)
    "PublishFailed": "publish-failed",
    "MultiPublishFailed": "multi-publish-failed",
    # doctor's workflow lint
    "WorkflowLintError": "workflow-lint",
}


def code_for(exc: BaseException | type[BaseException]) -> str:
    """The code of an exception (or class): its own, else its nearest base class's.

    A wrapper carrying a ``cause`` (``PublishFailed``, ``MultiPublishFailed``) has the
    cause's code: the entry that helps is the one for what went wrong.
    """
    cause = getattr(exc, "cause", None) if isinstance(exc, BaseException) else None
    if isinstance(cause, BaseException) and cause is not exc:
        return code_for(cause)
    cls = exc if isinstance(exc, type) else type(exc)
    for klass in cls.__mro__:
        code = CODES.get(klass.__name__)
        if code is not None:
            return code
    return CODES["TrustpubError"]


def docs_link(exc: BaseException | type[BaseException], env: Mapping[str, str] | None = None) -> str:
    """``<docs>/troubleshooting.html#<code>``: the entry explaining this error."""
    environ = os.environ if env is None else env
    base = (environ.get("TRUSTPUB_DOCS_URL") or DOCS_URL).rstrip("/")
    return f"{base}/troubleshooting.html#{code_for(exc)}"
