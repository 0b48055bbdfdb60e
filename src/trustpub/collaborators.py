"""What one release talks to, built from its :class:`~trustpub.request.PublishRequest`.

The credential source (:func:`credential_source`, no network call yet), the reader of
what the index already holds (:func:`index_lookup`), the uploader (:func:`make_uploader`),
whether the index gets attestations (:func:`wants_attestations`) and the signer
(:func:`make_attester`). Each imports what it builds only when called: a token release
never loads mint, oidc or sigstore.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from trustpub.errors import ConfigurationError
from trustpub.registry import Registry
from trustpub.request import PublishRequest

if TYPE_CHECKING:
    from trustpub.attest import Attester
    from trustpub.credentials import CredentialSource
    from trustpub.transport import Transport
    from trustpub.upload import Uploader
    from trustpub.upload.simple import ExistingFiles

__all__ = [
    "credential_source",
    "describe_source",
    "index_lookup",
    "make_attester",
    "make_uploader",
    "wants_attestations",
]

#: The orchestrator's logger: the notices stay where they always were.
_logger = logging.getLogger("trustpub.orchestrator")


def credential_source(request: PublishRequest, registry: Registry, transport: Transport) -> CredentialSource:
    """The credential source ``request`` names for ``registry`` (no network call yet)."""
    from trustpub.credentials import resolve_credentials

    return resolve_credentials(
        registry, method=request.credentials, repository=request.repository, env=request.env, transport=transport,
        url_userinfo=request.url_credentials, url_source=request.url_credentials_source,
        keyring_provider=request.keyring_provider, provider=request.identity,
    )


def index_lookup(request: PublishRequest, transport: Transport, source: CredentialSource) -> ExistingFiles:
    """The simple-API reader; a private index's own password or token goes with it.

    Only static credentials, and only to the upload host: a trusted-publishing
    token is minted later and is for uploads only.
    """
    from urllib.parse import urlsplit

    from trustpub.credentials import StaticCredentials
    from trustpub.upload.simple import SimpleIndex

    root = request.simple_url or request.registry.simple_root()
    authorization = None
    if isinstance(source, StaticCredentials) and urlsplit(root).netloc == urlsplit(request.registry.upload_url).netloc:
        authorization = source.credentials().authorization()
    return SimpleIndex(transport, root, authorization=authorization)


def make_uploader(request: PublishRequest, transport: Transport, uploader: Uploader | None = None) -> Uploader:
    """``uploader`` when one was injected, else the one ``request.uploader`` names."""
    if uploader is not None:
        return uploader
    if request.uploader == "uv":
        from trustpub.upload.uv import UvUploader

        return UvUploader(request.uv_binary)
    from trustpub.upload.native import NativeUploader

    return NativeUploader(transport)


def wants_attestations(request: PublishRequest, source: CredentialSource) -> bool:
    """Whether this index gets attestations with these credentials (may raise)."""
    from trustpub.credentials import CredentialKind

    trusted = source.kind is CredentialKind.TRUSTED_PUBLISHING
    if trusted and request.attestations is not False:
        # ActiveState, self-managed GitLab: PyPI refuses their attestations (trustpub.attestability).
        from trustpub.attestability import unattestable

        refusal = unattestable(getattr(source, "provider", None))
        if refusal is not None:
            if request.attestations:
                raise refusal.error()
            _logger.warning("%s", refusal.notice())
            return False
    if request.attestations is None:
        return trusted
    if request.attestations and not trusted and request.registry.kind.value in ("pypi", "testpypi"):
        raise ConfigurationError(
            "--attestations needs trusted publishing: PyPI refuses attestations uploaded with an API token",
            hint="publish from CI with trusted publishing, or pass --no-attestations",
        )
    return bool(request.attestations)


def make_attester(request: PublishRequest, source: CredentialSource) -> Attester:
    """One signer per release, for the CI identity behind the credentials.

    The publisher the index will check is derived from the signing token's own
    claims, so a reusable workflow or a wrong repository stops here, before
    anything is written to the transparency log.
    """
    from trustpub.attest import Attester, load_trust_config, publisher_from_claims
    from trustpub.mint import TokenSource
    from trustpub.oidc import OIDCProvider, detect_ci

    provider: OIDCProvider
    if isinstance(source, TokenSource):
        # Every token the release needs, checked in one go before anything is signed.
        source.preflight(also=("sigstore",))
        provider = source.provider
    else:
        provider = request.identity or detect_ci(request.env).require_provider()
    env = os.environ if request.env is None else request.env
    trust = load_trust_config(request.sigstore, env=env)
    first = provider.fetch("sigstore")
    publisher = publisher_from_claims(first.claims)
    tokens = [first.value.reveal()]

    def token_source() -> str:
        if tokens:
            return tokens.pop()
        return str(provider.fetch("sigstore").value.reveal())

    return Attester(
        trust, token_source, publisher=publisher, slsa=request.slsa,
        attestations_dir=request.attestations_dir, builder_id=request.builder_id, ci_context=dict(env),
    )


def describe_source(source: CredentialSource) -> str:
    """How the credentials came, as the reports show it (never the secret)."""
    from trustpub.credentials import StaticCredentials

    if isinstance(source, StaticCredentials):
        return source.value.describe()
    from trustpub.mint import TokenSource  # not before: a token release never needs mint or oidc

    if isinstance(source, TokenSource):
        return f"trusted publishing ({source.provider.name})"
    return str(source.kind)
