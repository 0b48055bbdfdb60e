"""A local Sigstore instance: Fulcio, its CT log and Rekor v1 on one 127.0.0.1 port.

The unmodified sigstore-python client signs against it and the unmodified verifier
verifies its bundles, given its trust config; nothing reaches the internet. Fulcio
trusts exactly one :class:`~trustpub.local.issuer.OIDCIssuer` (tokens signed with its
key, ``aud`` ``sigstore``, not expired) and issues certificates with Fulcio's
GitHub, GitLab or email profile, so pypi-attestations' publisher policies apply.
Keys are fresh per instance and live in memory; fault knobs (attributes) make the
services misbehave on purpose so tests can watch the client or verifier catch it.

Usage::

    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext
    from sigstore.verify import Verifier
    from trustpub.local.issuer import OIDCIssuer
    from trustpub.local.sigstore import SigstoreInstance

    with OIDCIssuer() as issuer, SigstoreInstance(issuer) as sigstore:
        config = ClientTrustConfig.from_json(sigstore.trust_config_json())
        config.force_tlog_version = 1            # PEP 740 needs Rekor v1 (no TSA)
        context = SigningContext.from_trust_config(config)
        with context.signer(IdentityToken(issuer.mint_github("sigstore"))) as signer:
            bundle = signer.sign_artifact(b"hello")
        verifier = Verifier(trusted_root=config.trusted_root)

Endpoints: ``POST /api/v2/signingCert``, ``GET /api/v2/trustBundle`` (Fulcio);
``POST /api/v1/log/entries``, ``GET /api/v1/log/entries?logIndex=N``,
``GET /api/v1/log/entries/{uuid}``, ``GET /api/v1/log`` (Rekor v1).
Fulcio sits at the host root because the client builds its URL with ``urljoin``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from trustpub.local._fulcio import FulcioCA, spki_der
from trustpub.local._http import (
    HTTPError,
    LocalServer,
    LocalService,
    Request,
    Response,
    error_response,
    json_response,
)
from trustpub.local._principals import principal_from_claims
from trustpub.local._rekor import RekorError, RekorLog
from trustpub.local.issuer import OIDCIssuer

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig

__all__ = ["SigstoreInstance"]

_logger = logging.getLogger(__name__)

_CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
# sigstore-python 4.5.1 rejects TrustedRoot v0.2 and SigningConfig v0.1.
_TRUSTED_ROOT = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
_SIGNING_CONFIG = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
_OPERATOR = "trustpub-local"
_ENTRY_UUID = re.compile(r"/api/v1/log/entries/(?P<uuid>[0-9a-fA-F]{64,80})")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SigstoreInstance(LocalService):
    """Fulcio + CT log + Rekor v1 for the local world (see the module docstring).

    Fault knobs, all off by default, read at each request so tests may flip them
    on a running instance:

    * ``fulcio_fail_next``: the next N ``signingCert`` calls answer
      ``fulcio_fail_status`` (default 500; 401 mimics a refused token).
    * ``fulcio_bad_sct``: certificates carry an SCT signed by a key outside the
      trust root (the client refuses the certificate at sign time).
    * ``cert_lifetime``: leaf validity (Fulcio's 10 minutes by default; zero gives
      certificates that are already expired when the client signs).
    * ``rekor_fail_next``: the next N entry submissions answer ``rekor_fail_status``.
    * ``rekor_bad_inclusion_proof``: entry replies carry a corrupted audit path.
    * ``rekor_wrong_key``: checkpoints and SETs are signed by a key outside the
      trust root (signing succeeds, because the client does not check the log's
      reply; verification fails).
    """

    def __init__(self, issuer: OIDCIssuer) -> None:
        self.issuer = issuer
        self.valid_from = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
        self.ca = FulcioCA(valid_from=self.valid_from)
        self.rekor = RekorLog()
        self._rogue_key = ec.generate_private_key(ec.SECP256R1())
        self._knob_lock = threading.Lock()

        self.fulcio_fail_next = 0
        self.fulcio_fail_status = 500
        self.fulcio_bad_sct = False
        self.cert_lifetime = timedelta(minutes=10)
        self.rekor_fail_next = 0
        self.rekor_fail_status = 500
        self.rekor_bad_inclusion_proof = False
        self.rekor_wrong_key = False

        self._server = LocalServer(name="sigstore")
        self._server.route("POST", "/api/v2/signingCert", self._signing_cert)
        self._server.route("GET", "/api/v2/trustBundle", self._trust_bundle)
        self._server.route("POST", "/api/v1/log/entries", self._create_entry)
        self._server.route("GET", "/api/v1/log/entries", self._entry_by_index)
        self._server.route("GET", _ENTRY_UUID, self._entry_by_uuid)
        self._server.route("GET", "/api/v1/log", self._log_info)

    # -- trust material -------------------------------------------------------------

    def trusted_root(self) -> dict[str, Any]:
        """The TrustedRoot v0.1 document (also what ``Verifier(trusted_root=...)`` needs)."""
        start = {"start": _iso(self.valid_from)}

        def log(key_der: bytes, log_id: bytes) -> dict[str, Any]:
            return {
                "baseUrl": self.url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(key_der),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": start,
                },
                "logId": {"keyId": _b64(log_id)},
            }

        return {
            "mediaType": _TRUSTED_ROOT,
            "tlogs": [log(spki_der(self.rekor.key.public_key()), self.rekor.log_id)],
            "certificateAuthorities": [
                {
                    "subject": {
                        "organization": "trustpub local",
                        "commonName": "trustpub local fulcio",
                    },
                    "uri": self.url,
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))}
                            for cert in self.ca.chain
                        ]
                    },
                    "validFor": start,
                }
            ],
            "ctlogs": [log(spki_der(self.ca.ct_key.public_key()), self.ca.ct_log_id)],
            "timestampAuthorities": [],
        }

    def signing_config(self) -> dict[str, Any]:
        """The SigningConfig v0.2 document: this Fulcio and this Rekor v1, no TSA."""

        def service(url: str) -> dict[str, Any]:
            return {
                "url": url,
                "majorApiVersion": 1,
                "validFor": {"start": _iso(self.valid_from)},
                "operator": _OPERATOR,
            }

        return {
            "mediaType": _SIGNING_CONFIG,
            "caUrls": [service(self.url)],
            "oidcUrls": [service(self.issuer.url)] if self.issuer.running else [],
            "rekorTlogUrls": [service(self.url)],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaUrls": [],
            "tsaConfig": {"selector": "ANY"},
        }

    def trust_config_json(self) -> str:
        """The ClientTrustConfig JSON for ``ClientTrustConfig.from_json`` or
        ``sigstore --trust-config`` (set ``force_tlog_version = 1`` / ``--rekor-version 1``
        when signing PEP 740 attestations)."""
        return json.dumps(
            {
                "mediaType": _CLIENT_TRUST_CONFIG,
                "trustedRoot": self.trusted_root(),
                "signingConfig": self.signing_config(),
            },
            indent=2,
        )

    def write_trust_config(self, path: str | Path) -> Path:
        """Write :meth:`trust_config_json` to ``path`` (parents created); returns it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.trust_config_json(), encoding="utf-8")
        return target

    def client_trust_config(self) -> ClientTrustConfig:
        """A parsed ``ClientTrustConfig`` with ``force_tlog_version = 1`` already set."""
        from sigstore.models import ClientTrustConfig

        config = ClientTrustConfig.from_json(self.trust_config_json())
        config.force_tlog_version = 1
        return config

    # -- fault bookkeeping ---------------------------------------------------------

    def _take_failure(self, service: str) -> int | None:
        """Consume one queued failure of ``service``; its HTTP status, or None."""
        with self._knob_lock:
            pending: int = getattr(self, f"{service}_fail_next")
            if pending <= 0:
                return None
            setattr(self, f"{service}_fail_next", pending - 1)
            status: int = getattr(self, f"{service}_fail_status")
            return status

    @property
    def _rekor_faults(self) -> dict[str, Any]:
        return {
            "signing_key": self._rogue_key if self.rekor_wrong_key else None,
            "bad_inclusion_proof": self.rekor_bad_inclusion_proof,
        }

    # -- Fulcio --------------------------------------------------------------------

    def _signing_cert(self, request: Request) -> Response:
        status = self._take_failure("fulcio")
        if status is not None:
            return error_response(status, "injected failure (fulcio_fail_next)")
        token = request.bearer_token()
        if token is None:
            return error_response(401, "missing bearer token")
        try:
            claims = self.issuer.verify_token(token, audience="sigstore")
        except jwt.InvalidTokenError as exc:
            # The reason names the failed check, never the token itself.
            return error_response(401, f"invalid identity token: {exc}")
        body = request.json()
        csr = self._load_csr(body)
        try:
            principal = principal_from_claims(claims)
        except ValueError as exc:
            return error_response(400, f"cannot issue a certificate for this token: {exc}")
        leaf = self.ca.issue(
            csr.public_key(),
            principal,
            lifetime=self.cert_lifetime,
            sct_key=self._rogue_key if self.fulcio_bad_sct else None,
        )
        chain = [leaf, *self.ca.chain]
        pems = [cert.public_bytes(serialization.Encoding.PEM).decode() for cert in chain]
        return json_response(
            {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}, 201
        )

    @staticmethod
    def _load_csr(body: Any) -> x509.CertificateSigningRequest:
        encoded = body.get("certificateSigningRequest") if isinstance(body, dict) else None
        if not isinstance(encoded, str):
            raise HTTPError(400, "request needs certificateSigningRequest (base64 PEM)")
        try:
            csr = x509.load_pem_x509_csr(base64.b64decode(encoded))
        except ValueError as exc:
            raise HTTPError(400, f"invalid certificate signing request: {exc}") from None
        # The CSR signature is the proof of possession of the key being certified.
        if not csr.is_signature_valid:
            raise HTTPError(400, "certificate signing request signature does not verify")
        return csr

    def _trust_bundle(self, request: Request) -> Response:
        pems = [cert.public_bytes(serialization.Encoding.PEM).decode() for cert in self.ca.chain]
        return json_response({"chains": [{"certificates": pems}]})

    # -- Rekor ---------------------------------------------------------------------

    def _create_entry(self, request: Request) -> Response:
        status = self._take_failure("rekor")
        if status is not None:
            return error_response(status, "injected failure (rekor_fail_next)")
        try:
            reply = self.rekor.add(request.json(), **self._rekor_faults)
        except RekorError as exc:
            return error_response(exc.status, exc.message)
        uuid = next(iter(reply))
        return json_response(
            reply, 201, headers={"Location": f"/api/v1/log/entries/{uuid}", "ETag": uuid}
        )

    def _entry_by_index(self, request: Request) -> Response:
        raw = request.param("logIndex")
        if raw is None or not raw.isdigit():
            return error_response(400, "logIndex query parameter required")
        try:
            return json_response(self.rekor.get(int(raw), **self._rekor_faults))
        except KeyError:
            return error_response(404, f"no entry at index {raw}")

    def _entry_by_uuid(self, request: Request) -> Response:
        assert request.match is not None
        index = self.rekor.index_of(request.match["uuid"])
        if index is None:
            return error_response(404, "no such entry")
        return json_response(self.rekor.get(index, **self._rekor_faults))

    def _log_info(self, request: Request) -> Response:
        return json_response(self.rekor.log_info(signing_key=self._rekor_faults["signing_key"]))
