"""Which CI this process runs in, and its provider: :func:`detect_ci`, without a network call.

Apart from the providers because it is the one place that knows their order, and it
keeps the CI it found even when that CI cannot give a token, so errors can say why.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from trustpub.oidc._ambient import BuildkiteProvider, CircleCIProvider, GoogleCloudProvider
from trustpub.oidc._errors import NotInCI, OIDCError
from trustpub.oidc._github import GitHubActionsProvider
from trustpub.oidc._gitlab import GitLabCIProvider
from trustpub.oidc._static import StaticProvider
from trustpub.oidc._token import OIDCProvider
from trustpub.transport import Transport

# Every part logs as "trustpub.oidc": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.oidc")

_GCP_PRODUCT_NAME_FILE = "/sys/class/dmi/id/product_name"


@dataclass(frozen=True)
class CIDetection:
    """What :func:`detect_ci` found.

    ``ci`` names the CI (None outside CI). ``provider`` is set when it can give
    tokens; otherwise ``error`` says why not (missing permission, fork PR, …).
    """

    ci: str | None
    provider: OIDCProvider | None = None
    error: OIDCError | None = None

    def require_provider(self) -> OIDCProvider:
        """The provider, or the error explaining its absence."""
        if self.provider is not None:
            return self.provider
        raise self.error or NotInCI.default()


def _gcp_detected(environ: Mapping[str, str], product_file: str) -> bool:
    if environ.get("GOOGLE_SERVICE_ACCOUNT_NAME"):
        return True
    try:
        with open(product_file, encoding="utf-8") as handle:
            return handle.read().strip() in ("Google", "Google Compute Engine")
    except OSError:
        return False


def detect_ci(
    env: Mapping[str, str] | None = None,
    *,
    transport: Transport | None = None,
    gcp_product_file: str | None = None,
) -> CIDetection:
    """Find the CI this process runs in and its OIDC provider. Makes no network call.

    Order: an explicit static token (``TRUSTPUB_OIDC_TOKEN[_FILE]``), GitHub Actions,
    GitLab CI, Buildkite, CircleCI, Google Cloud.
    """
    environ = os.environ if env is None else env
    static = StaticProvider.from_env(environ)
    if static is not None:
        _logger.debug("OIDC: using the static token from %s", static.source)
        return CIDetection(static.name, static)
    if environ.get("GITHUB_ACTIONS"):
        try:
            return CIDetection("GitHub Actions", GitHubActionsProvider.from_env(environ, transport=transport))
        except OIDCError as exc:
            _logger.debug("OIDC: GitHub Actions detected, but: %s", exc.message)
            return CIDetection("GitHub Actions", None, exc)
    if environ.get("GITLAB_CI"):
        return CIDetection("GitLab CI", GitLabCIProvider(environ))
    if environ.get("BUILDKITE"):
        return CIDetection("Buildkite", BuildkiteProvider())
    if environ.get("CIRCLECI"):
        return CIDetection("CircleCI", CircleCIProvider())
    # Read at call time, not bound as a default: tests point it at a file of their own.
    if _gcp_detected(environ, gcp_product_file or _GCP_PRODUCT_NAME_FILE):
        return CIDetection("Google Cloud", GoogleCloudProvider())
    _logger.debug("OIDC: no CI detected")
    return CIDetection(None, None, NotInCI.default())
