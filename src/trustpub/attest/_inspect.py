"""Read what an attestation says, without verifying it (``trustpub inspect``).

Three document shapes are understood, told apart by their keys:

* a PEP 740 attestation (``<dist>.publish.attestation`` and friends);
* a PEP 740 provenance document (PyPI's integrity API answer): each attestation in it;
* a Sigstore bundle with a DSSE envelope (the release provenance trustpub writes).

For each: the in-toto statement (subjects, predicate type, predicate), the signing
certificate's identity (issuer, SAN, repository, workflow, ref, sha) and the Rekor
entry (log index, integrated time, log ID). Nothing here is trusted: ``trustpub
verify`` says whether any of it holds.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from trustpub.attest._files import int_or_none, validation_reason
from trustpub.attest._identity import CertificateIdentity, certificate_identity
from trustpub.attest._statements import rfc3339

__all__ = ["InspectedAttestation", "inspect_document"]


@dataclass(frozen=True)
class InspectedAttestation:
    """One signed statement as found in a document."""

    source: str
    kind: str
    statement: dict[str, Any] | None
    statement_error: str | None
    identity: CertificateIdentity | None
    log_index: int | None
    integrated_time: int | None
    log_id: str | None

    @property
    def subjects(self) -> list[tuple[str, str]]:
        if not self.statement:
            return []
        out = []
        for subject in self.statement.get("subject") or []:
            if isinstance(subject, dict):
                digest = subject.get("digest") if isinstance(subject.get("digest"), dict) else {}
                out.append((str(subject.get("name")), str((digest or {}).get("sha256", ""))))
        return out

    @property
    def predicate_type(self) -> str | None:
        return None if not self.statement else str(self.statement.get("predicateType"))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "statement": self.statement,
            "statement_error": self.statement_error,
            "subjects": [{"name": n, "sha256": d} for n, d in self.subjects],
            "predicate_type": self.predicate_type,
            "certificate": None if self.identity is None else self.identity.as_dict(),
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
            "integrated_time_utc": None if self.integrated_time is None else rfc3339(self.integrated_time),
            "log_id": self.log_id,
        }


def _statement(payload: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(payload)
    except ValueError as exc:
        return None, f"the statement is not JSON ({exc})"
    if not isinstance(value, dict):
        return None, "the statement is not a JSON object"
    return value, None


def _from_attestation(data: dict[str, Any], source: str) -> InspectedAttestation:
    from cryptography import x509
    from pypi_attestations import Attestation

    attestation = Attestation.model_validate(data)
    statement, error = _statement(attestation.envelope.statement)
    try:
        identity: CertificateIdentity | None = certificate_identity(
            x509.load_der_x509_certificate(attestation.verification_material.certificate)
        )
    except ValueError:
        identity = None
    entry = attestation.verification_material.transparency_entries[0]
    log_id = (entry.get("logId") or {}).get("keyId") if isinstance(entry.get("logId"), dict) else None
    return InspectedAttestation(
        source,
        "PEP 740 attestation",
        statement,
        error,
        identity,
        int_or_none(entry.get("logIndex")),
        int_or_none(entry.get("integratedTime")),
        base64.b64decode(log_id).hex() if isinstance(log_id, str) else None,
    )


def _from_bundle(text: bytes, source: str) -> InspectedAttestation:
    from sigstore.models import Bundle

    bundle = Bundle.from_json(text)
    envelope = bundle._inner.dsse_envelope
    if envelope is None:
        raise ValueError("a Sigstore bundle without a DSSE envelope (a plain signature, not a statement)")
    statement, error = _statement(envelope.payload)
    entry = bundle.log_entry._inner
    return InspectedAttestation(
        source,
        "Sigstore bundle (DSSE)",
        statement,
        error,
        certificate_identity(bundle.signing_certificate),
        int_or_none(entry.log_index),
        int_or_none(entry.integrated_time),
        entry.log_id.key_id.hex() if entry.log_id and entry.log_id.key_id else None,
    )


def inspect_document(data: bytes, source: str) -> list[InspectedAttestation]:
    """Every signed statement in a document. Raises ``ValueError`` with a one-line reason."""
    from pydantic import ValidationError

    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    try:
        if "verification_material" in document and "envelope" in document:
            return [_from_attestation(document, source)]
        if "attestation_bundles" in document:
            found = []
            for b, bundle in enumerate(document.get("attestation_bundles") or [], start=1):
                for a, attestation in enumerate((bundle or {}).get("attestations") or [], start=1):
                    found.append(_from_attestation(attestation, f"{source} bundle {b} attestation {a}"))
            if not found:
                raise ValueError("a provenance document without attestations")
            return found
        if str(document.get("mediaType", "")).startswith("application/vnd.dev.sigstore.bundle"):
            return [_from_bundle(data, source)]
    except ValidationError as exc:
        raise ValueError(f"malformed ({validation_reason(exc)})") from None
    except ValueError:
        raise
    except Exception as exc:  # sigstore's bundle checks raise their own types
        raise ValueError(f"malformed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    raise ValueError("not an attestation, a provenance document or a Sigstore bundle")
