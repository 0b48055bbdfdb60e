"""A local PyPI: trusted publishing, the legacy upload API, PEP 740, simple and integrity.

:class:`LocalIndex` serves on ``127.0.0.1`` what a publishing client meets on PyPI,
following ``warehouse-contract.md``: the OIDC audience and mint-token endpoints, the
legacy upload API with PyPI's validation order, status codes and messages (in the
reason phrase and in the Accept-negotiated body), PEP 740 attestations verified
against a local Sigstore trust root, the PEP 691 simple API (which pip can install
from) and the integrity API.  Uploads stream to disk; state lives in one folder, so
a new index on the same folder serves what an earlier one accepted.

Usage::

    from trustpub.local.index import LocalIndex
    from trustpub.local.issuer import GITHUB_ISSUER, OIDCIssuer

    with OIDCIssuer() as issuer, LocalIndex(
        tmp_path / "index", jwks_urls={GITHUB_ISSUER: issuer.jwks_url}
    ) as index:
        index.add_github_publisher("demo", "octo-org/demo", "1234567", "release.yml")
        token = index.add_api_token("demo")          # or mint one through OIDC:
        # POST {index.url}/_/oidc/mint-token {"token": issuer.mint_github("pypi")}
        # twine upload --repository-url {index.upload_url} -u __token__ -p {token} ...

Fault knobs for client tests: :meth:`fail_next_uploads`, :meth:`reset_next_uploads`,
``upload_delay`` and ``token_lifetime``; admin flags as attributes
(``disallow_oidc``, ``disallow_pep740``, ``read_only``, ...).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.local._admin import IndexAdmin
from trustpub.local._http import LocalServer, Request, Response
from trustpub.local._legacy import LegacyUploadAPI
from trustpub.local._oidc import MintError, TokenExchange
from trustpub.local._publishers import (
    ISSUER_SERVICE_NAMES,
    GitLabPublisher,
    InvalidPublisher,
    ReusedToken,
    find_publisher,
)
from trustpub.local._read_api import ReadAPI
from trustpub.local._responses import (
    json_response,
)
from trustpub.local._storage import (
    IndexStore,
    TokenRecord,
    token_digest,
)
from trustpub.local._upload2 import Upload2
from trustpub.local._upload_rules import (
    GIB,
    MIB,
)

if TYPE_CHECKING:
    from sigstore.verify import Verifier

    from trustpub.local._upload2 import Upload2

__all__ = ["LocalIndex"]

_logger = logging.getLogger(__name__)


class LocalIndex(IndexAdmin, LegacyUploadAPI, ReadAPI):
    """A PyPI-like index on ``127.0.0.1`` (see the module docstring).

    ``jwks_urls`` maps each OIDC issuer (the real ``iss`` strings the local issuer
    puts in its tokens) to the URL of its key set.  ``trust_config`` is a Sigstore
    ClientTrustConfig file whose trusted root verifies uploaded attestations.
    """

    def __init__(
        self,
        storage: Path | str,
        *,
        audience: str = "pypi",
        jwks_urls: Mapping[str, str] | None = None,
        trust_config: Path | str | None = None,
        upload_delay: float = 0.0,
    ) -> None:
        self.storage = Path(storage)
        #: What ``/_/oidc/audience`` answers and OIDC tokens must carry as ``aud``
        #: (PyPI: ``pypi``, TestPyPI: ``testpypi``).
        self.audience = audience
        self.trust_config = Path(trust_config) if trust_config is not None else None
        #: Seconds to wait before answering each upload (slow-index tests).
        self.upload_delay = upload_delay
        #: Admin flag ``disallow-oidc``: trusted publishing off.
        self.disallow_oidc = False
        #: Per-provider flags (``disallow-github-oidc``...): service names, e.g. ``{"github"}``.
        self.disallow_oidc_services: set[str] = set()
        #: Admin flag ``disable-pep740``: attestations ignored, integrity API 403.
        self.disallow_pep740 = False
        #: Admin flag ``read-only``.
        self.read_only = False
        #: Admin flag ``disallow-new-upload``.
        self.disallow_new_uploads = False
        #: Lifetime of tokens minted through trusted publishing (PyPI: 900 s).
        self.token_lifetime = 900
        #: Per-file upload limit (PyPI's default: 100 MiB).
        self.max_file_size = 100 * MIB
        #: Per-project total limit (PyPI's default: 10 GiB).
        self.max_project_size = 10 * GIB
        #: Every file this process stored, in order: a file stored twice appears twice
        #: (tests assert that a re-run never uploads a file again).
        self.stored_log: list[str] = []
        self._lock = threading.RLock()
        self._store = IndexStore(self.storage)
        self._used_jti: dict[tuple[str, str], float] = {}
        self._fail_next: list[tuple[int, int | None]] = []
        self._reset_next = 0
        self._verifier: Verifier | None = None
        self._exchange = TokenExchange(
            audience=audience,
            jwks_urls=dict(jwks_urls or {}),
            custom_issuers=self._custom_issuers,
            disallowed=self._oidc_disallowed,
        )
        server = LocalServer(name="index")
        server.route("GET", "/_/oidc/audience", self._audience)
        server.route("POST", "/_/oidc/mint-token", self._mint)
        server.route("POST", "/_/oidc/github/mint-token", self._mint)
        server.route("POST", "/legacy", self._missing_slash, stream=True)
        server.route("POST", "/legacy/", self._legacy, stream=True)
        server.route("GET", "/legacy/", self._upload_page)
        self._register_read_side(server)
        #: The Upload 2.0 API (PEP 694) on the same storage and rules: :attr:`upload2_url`.
        self.upload2 = Upload2(self)
        self.upload2.register(server)
        self._server = server

    # -- URLs (start, stop and url come from LocalService) ----------------------

    @property
    def upload_url(self) -> str:
        """The legacy upload URL, with PyPI's required trailing slash."""
        return self.url + "/legacy/"

    @property
    def upload2_url(self) -> str:
        """The Upload 2.0 (PEP 694) root endpoint."""
        return self.upload2.url

    @property
    def simple_url(self) -> str:
        """The simple index URL (for ``pip --index-url``)."""
        return self.url + "/simple/"

    # -- helpers -----------------------------------------------------------------

    def _custom_issuers(self) -> dict[str, str]:
        with self._lock:
            return {
                p.issuer_url: "gitlab"
                for p in self._store.publishers.values()
                if isinstance(p, GitLabPublisher) and p.issuer_url not in ISSUER_SERVICE_NAMES
            }

    def trust_issuer(self, issuer: str, jwks_url: str) -> None:
        """Verify tokens whose ``iss`` is ``issuer`` with the keys at ``jwks_url``.

        With :meth:`add_gitlab_publisher` ``issuer_url=...``, this is a PyPI
        organization registering its self-managed GitLab instance.
        """
        self._exchange.add_issuer(issuer, jwks_url)

    def _oidc_disallowed(self, service: str) -> bool:
        return self.disallow_oidc or service in self.disallow_oidc_services

    # -- OIDC --------------------------------------------------------------------

    def _audience(self, request: Request) -> Response:
        if self.disallow_oidc:
            return json_response({"message": "Trusted publishing functionality not enabled"}, 403)
        return json_response({"audience": self.audience})

    def _jti_seen(self, issuer: str, jti: str) -> bool:
        now = time.time()
        for key in [k for k, until in self._used_jti.items() if until < now]:
            del self._used_jti[key]
        return (issuer, jti) in self._used_jti

    def _mint(self, request: Request) -> Response:
        self._exchange.audience = self.audience  # the attribute may change at run time
        try:
            claims, issuer, service = self._exchange.verify(request.body)
            with self._lock:
                publisher = find_publisher(
                    claims,
                    list(self._store.publishers.values()),
                    issuer=issuer,
                    service=service,
                    jti_seen=lambda jti: self._jti_seen(issuer, jti),
                )
                jti = claims.get("jti")
                if jti is not None:
                    # The atomic "SET NX" of Warehouse: a lost race is a reuse.
                    if self._jti_seen(issuer, str(jti)):
                        raise ReusedToken("invalid token: already used")
                    self._used_jti[(issuer, str(jti))] = float(claims["exp"]) + 5
                not_before = int(time.time())
                expires = not_before + int(self.token_lifetime)
                token = "pypi-" + secrets.token_urlsafe(32)
                self._store.tokens[token_digest(token)] = TokenRecord(
                    digest=token_digest(token),
                    kind="oidc",
                    created=float(not_before),
                    publisher_id=publisher.id,
                    project_names=list(publisher.projects),
                    not_before=float(not_before),
                    expires=float(expires),
                )
                self._store.save()
        except MintError as exc:
            _logger.debug("mint-token refused: %s", exc.code)
            return exc.response()
        except ReusedToken:
            return MintError("invalid-reuse-token", "invalid token: already used").response()
        except InvalidPublisher as exc:
            return MintError(
                "invalid-publisher", f"valid token, but no corresponding publisher ({exc})"
            ).response()
        _logger.debug("minted a token for publisher %s (expires %d)", publisher.id, expires)
        return json_response({"success": True, "token": token, "expires": expires})

    # -- legacy upload -----------------------------------------------------------
