"""Google Cloud, Buildkite and CircleCI: providers served by ``id``'s ambient detectors.

``id`` (and its private ``ambient`` module, see tests/test_private_imports.py) is
imported only when a token is fetched, so detecting the CI costs nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from trustpub.oidc._errors import TokenRequestFailed
from trustpub.oidc._token import OIDCToken
from trustpub.secrets import redact

# Every part logs as "trustpub.oidc": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.oidc")


@dataclass(frozen=True)
class _IdProvider:
    """A provider served by one of ``id``'s ambient detectors."""

    detector: ClassVar[str] = ""
    name: ClassVar[str] = ""
    pypi_accepts: ClassVar[bool] = False

    def fetch(self, audience: str) -> OIDCToken:
        try:
            from id import IdentityError
            from id._internal.oidc import ambient
        except ImportError:  # pragma: no cover - id is a dependency
            raise TokenRequestFailed(f"{self.name}: the `id` package is not installed") from None
        _logger.debug("%s: requesting an OIDC token for audience %r through id", self.name, audience)
        try:
            raw = getattr(ambient, self.detector)(audience)
        except IdentityError as exc:
            raise TokenRequestFailed(f"{self.name}: {redact(str(exc))}") from None
        if not raw:
            raise TokenRequestFailed(f"{self.name}: no OIDC token available in this environment")
        token = OIDCToken.parse(raw, self.name)
        token.check_audience(audience)
        return token


@dataclass(frozen=True)
class GoogleCloudProvider(_IdProvider):
    """Google Cloud: the metadata server, or service-account impersonation."""

    detector: ClassVar[str] = "detect_gcp"
    name: ClassVar[str] = "Google Cloud"
    pypi_accepts: ClassVar[bool] = True


@dataclass(frozen=True)
class BuildkiteProvider(_IdProvider):
    """Buildkite: ``buildkite-agent oidc request-token``. Good for Sigstore, not for PyPI."""

    detector: ClassVar[str] = "detect_buildkite"
    name: ClassVar[str] = "Buildkite"
    pypi_accepts: ClassVar[bool] = False


@dataclass(frozen=True)
class CircleCIProvider(_IdProvider):
    """CircleCI: ``circleci run oidc get``. Good for Sigstore, not for PyPI."""

    detector: ClassVar[str] = "detect_circleci"
    name: ClassVar[str] = "CircleCI"
    pypi_accepts: ClassVar[bool] = False
