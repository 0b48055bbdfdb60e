"""Which Sigstore instance to sign with and verify against: ``--sigstore``.

``production`` and ``staging`` are the public instances; anything else is a file, a
ClientTrustConfig JSON as ``sigstore --trust-config`` takes (a bare TrustedRoot JSON
works too, for verification only). ``TRUSTPUB_SIGSTORE`` sets the default (except
for ``trustpub verify --offline``, whose root only the command line chooses)::

    trust = load_trust_config("production")
    context = trust.signing_context()          # Rekor v1 forced: PEP 740 needs it
    verifier = trust.verifier(offline=True)    # the root shipped in sigstore-python

Offline means *offline*: for production and staging the trusted root is read from
the copy embedded in sigstore-python, directly, so no TUF cache is created or read
and nothing is written under the home folder (``ClientTrustConfig.production(offline=
True)`` would still create and seed the user cache folder). The embedded root is the
one current when sigstore-python 4.5.1 was released; attestations from keys rotated
in later need the online (TUF-refreshed) root.

sigstore is imported inside the methods, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from trustpub.errors import ConfigurationError, TrustpubError

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig, TrustedRoot
    from sigstore.sign import SigningContext
    from sigstore.verify import Verifier

__all__ = ["SIGSTORE_ENV", "TrustTarget", "TrustUnavailable", "load_trust_config"]

_logger = logging.getLogger(__name__)

#: Environment variable naming the default ``--sigstore`` value.
SIGSTORE_ENV = "TRUSTPUB_SIGSTORE"

_PRODUCTION_TUF = "https://tuf-repo-cdn.sigstore.dev"
_STAGING_TUF = "https://tuf-repo-cdn.sigstage.dev"
_CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig"
_TRUSTED_ROOT = "application/vnd.dev.sigstore.trustedroot"

Kind = Literal["production", "staging", "file"]


class TrustUnavailable(TrustpubError):
    """The Sigstore trust root or signing configuration could not be had."""


@dataclass
class _Cache:
    """Parsed material, loaded once per target (a release signs and verifies many times)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    config: dict[bool, ClientTrustConfig] = field(default_factory=dict)
    roots: dict[bool, TrustedRoot] = field(default_factory=dict)
    verifiers: dict[bool, Verifier] = field(default_factory=dict)


@dataclass(frozen=True)
class TrustTarget:
    """One Sigstore instance: its trusted root (to verify) and signing config (to sign)."""

    #: ``production``, ``staging`` or the file's path as given.
    name: str
    kind: Kind
    path: Path | None = None
    _cache: _Cache = field(default_factory=_Cache, compare=False, repr=False)

    @property
    def is_public(self) -> bool:
        return self.kind != "file"

    def describe(self) -> str:
        return f"Sigstore {self.name}" if self.is_public else f"the Sigstore instance of {self.name}"

    # -- material ----------------------------------------------------------------

    def _file_document(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the Sigstore trust config {str(self.path)!r}: {exc.strerror}",
                hint=f"pass --sigstore production|staging|FILE (or set {SIGSTORE_ENV})",
            ) from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"{self.path}: not JSON ({exc})", hint="give a ClientTrustConfig JSON file") from None
        if not isinstance(document, dict):
            raise ConfigurationError(f"{self.path}: not a ClientTrustConfig (expected a JSON object)")
        return document

    def client_trust_config(self, *, offline: bool = False) -> ClientTrustConfig:
        """The parsed ClientTrustConfig, with Rekor v1 forced (``force_tlog_version = 1``).

        PEP 740 attestations cannot carry Rekor v2 entries (pypi-attestations drops the
        RFC 3161 timestamps v2 needs), so trustpub signs on v1 only. ``offline`` only
        matters for production and staging: the embedded copies instead of TUF.
        """
        with self._cache.lock:
            cached = self._cache.config.get(offline) or (self._cache.config.get(False) if offline else None)
            if cached is not None:
                return cached
            config = self._load_config(offline)
            config.force_tlog_version = 1
            self._cache.config[offline] = config
            return config

    def _load_config(self, offline: bool) -> ClientTrustConfig:
        from sigstore.models import ClientTrustConfig

        if self.kind == "file":
            document = self._file_document()
            media_type = str(document.get("mediaType", ""))
            if media_type.startswith(_TRUSTED_ROOT):
                raise ConfigurationError(
                    f"{self.path} is a TrustedRoot: it can verify, but signing needs a ClientTrustConfig "
                    "(trusted root plus signing config)",
                    hint="use the file `sigstore --trust-config` takes",
                )
            try:
                return ClientTrustConfig.from_json(json.dumps(document))
            except Exception as exc:
                raise ConfigurationError(
                    f"{self.path} is not a valid ClientTrustConfig: {_first_line(exc)}",
                    hint=f"expected mediaType {_CLIENT_TRUST_CONFIG}.v0.1+json with trustedRoot and signingConfig",
                ) from None
        url = _PRODUCTION_TUF if self.kind == "production" else _STAGING_TUF
        if offline:
            _logger.debug("sigstore %s: embedded trusted root and signing config (offline)", self.kind)
            return _embedded_config(url)
        _logger.debug("sigstore %s: refreshing the trust root from TUF (%s)", self.kind, url)
        try:
            return ClientTrustConfig.production() if self.kind == "production" else ClientTrustConfig.staging()
        except Exception as exc:
            raise TrustUnavailable(
                f"cannot refresh Sigstore {self.kind}'s trust root from {url}: {_first_line(exc)}",
                hint="check the network; to verify without it, use --offline (the root shipped in sigstore-python)",
            ) from None

    def trusted_root(self, *, offline: bool = False) -> TrustedRoot:
        """The trusted root to verify against (see the module docstring for ``offline``).

        Offline, a root already refreshed from TUF in this process is preferred to
        the embedded copy: it is at least as new, and was verified by TUF.
        """
        with self._cache.lock:
            root = self._cache.roots.get(offline)
            online_config = self._cache.config.get(False)
        if root is None:
            if self.kind == "file":
                root = self._file_trusted_root()
            elif offline and online_config is None:
                root = _embedded_trusted_root(_PRODUCTION_TUF if self.kind == "production" else _STAGING_TUF)
            else:
                root = self.client_trust_config(offline=offline).trusted_root
            with self._cache.lock:
                root = self._cache.roots.setdefault(offline, root)
        return root

    def _file_trusted_root(self) -> TrustedRoot:
        from sigstore.models import TrustedRoot

        document = self._file_document()
        if str(document.get("mediaType", "")).startswith(_TRUSTED_ROOT):
            from sigstore_models.trustroot import v1 as trustroot_v1

            try:
                return TrustedRoot(trustroot_v1.TrustedRoot.from_json(json.dumps(document)))
            except Exception as exc:
                raise ConfigurationError(f"{self.path} is not a valid TrustedRoot: {_first_line(exc)}") from None
        return self.client_trust_config().trusted_root

    def signing_context(self) -> SigningContext:
        """A SigningContext for this instance: its Fulcio, its Rekor v1 log, no TSA.

        No RFC 3161 timestamps are requested: PEP 740 attestations cannot carry them
        (pypi-attestations drops them when converting), Rekor v1's signed entry
        timestamp already proves the signing time, and skipping them saves one
        round trip per file. Rekor is reached through :mod:`._rekor`'s pooled client.
        """
        from sigstore.sign import SigningContext

        from trustpub.attest._rekor import pooled_rekor

        config = self.client_trust_config()
        try:
            signing = config.signing_config
            return SigningContext(
                fulcio=signing.get_fulcio(),
                rekor=pooled_rekor(signing.get_tlogs()[0]),
                trusted_root=config.trusted_root,
            )
        except Exception as exc:
            raise ConfigurationError(
                f"{self.describe()} cannot sign PEP 740 attestations: {_first_line(exc)}",
                hint="its signing config needs a Fulcio CA and a Rekor v1 log valid now",
            ) from None

    def verifier(self, offline: bool = False) -> Verifier:
        """A verifier for this instance's trusted root, remembering certificate checks.

        The same verifier is handed out for the same ``offline`` value, so every
        attestation of a release shares one parsed root and one cache.
        """
        from trustpub.attest._verifier import CachingVerifier

        with self._cache.lock:
            existing = self._cache.verifiers.get(offline)
        if existing is not None:
            return existing
        root = self.trusted_root(offline=offline)
        try:
            verifier = CachingVerifier(trusted_root=root)
        except Exception as exc:
            raise ConfigurationError(f"{self.describe()}: unusable trusted root: {_first_line(exc)}") from None
        with self._cache.lock:
            return self._cache.verifiers.setdefault(offline, verifier)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _embedded(name: str, url: str) -> bytes:
    # The copies sigstore-python ships for its own TUF bootstrap (sigstore/_store/).
    from sigstore._utils import read_embedded

    return read_embedded(name, url)


def _embedded_trusted_root(url: str) -> TrustedRoot:
    from sigstore.models import TrustedRoot
    from sigstore_models.trustroot import v1 as trustroot_v1

    return TrustedRoot(trustroot_v1.TrustedRoot.from_json(_embedded("trusted_root.json", url)))


def _embedded_config(url: str) -> ClientTrustConfig:
    from sigstore.models import ClientTrustConfig
    from sigstore_models.trustroot import v1 as trustroot_v1

    return ClientTrustConfig(
        trustroot_v1.ClientTrustConfig(
            media_type=ClientTrustConfig.ClientTrustConfigType.CONFIG_0_1.value,
            trusted_root=trustroot_v1.TrustedRoot.from_json(_embedded("trusted_root.json", url)),
            signing_config=trustroot_v1.SigningConfig.from_json(_embedded("signing_config.v0.2.json", url)),
        )
    )


def load_trust_config(spec: str | None, *, env: Mapping[str, str] = os.environ) -> TrustTarget:
    """``production`` | ``staging`` | a file | None (``$TRUSTPUB_SIGSTORE``, else production).

    Only names and paths are checked here; the material is loaded on first use.
    Raises :class:`~trustpub.errors.ConfigurationError` for a file that does not exist.
    """
    source = "--sigstore"
    if spec is None or not spec.strip():
        spec = env.get(SIGSTORE_ENV) or "production"
        source = SIGSTORE_ENV if env.get(SIGSTORE_ENV) else "default"
    spec = spec.strip()
    if spec.lower() in ("production", "staging"):
        kind: Kind = "production" if spec.lower() == "production" else "staging"
        _logger.debug("sigstore: %s (%s)", kind, source)
        return TrustTarget(kind, kind)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigurationError(
            f"{source}: {spec!r} is neither production, staging nor an existing trust-config file",
            hint="give a ClientTrustConfig JSON (what `sigstore --trust-config` takes)",
        )
    _logger.debug("sigstore: trust config %s (%s)", path, source)
    return TrustTarget(str(path), "file", path)
