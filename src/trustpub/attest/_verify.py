"""Verify a distribution's attestations (files, or PyPI's provenance) as PyPI does.

Every check goes through :func:`trustpub.pep740.verify_attestation`, PyPI's own rules
with the caller's verifier, so "verified here" means "PyPI accepts it" (on the same
trust root). Results are values, never exceptions, so one bad file does not hide the
verdict on the others::

    verifier = load_trust_config("production").verifier(offline=True)
    result = verify_files("dist/demo-1.0.tar.gz", sha256, paths, publisher, verifier)
    print(result.ok, result.reason)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustpub.attest._files import load_attestation, log_position, validation_reason

if TYPE_CHECKING:
    from pypi_attestations import Attestation, Publisher
    from sigstore.verify import Verifier

__all__ = ["AttestationCheck", "FileVerification", "short_reason", "verify_files", "verify_provenance"]

_logger = logging.getLogger(__name__)

def short_reason(reason: str) -> str:
    """PyPI's rejection text made readable: :func:`trustpub.pep740.short_reason`.

    pep740 writes PyPI's sentences, so it owns their reading; this stays so that
    ``trustpub.attest`` offers it without importing pep740 (and so sigstore) early.
    """
    from trustpub.pep740 import short_reason as readable

    return readable(reason)


@dataclass(frozen=True)
class AttestationCheck:
    """The verdict on one attestation; ``source`` names it (a path, or a place in a document)."""

    source: str
    ok: bool
    predicate_type: str | None = None
    log_index: int | None = None
    integrated_time: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "predicate_type": self.predicate_type,
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FileVerification:
    """All verdicts for one distribution; ``reason`` is set when there was nothing to check."""

    filename: str
    sha256: str
    checks: tuple[AttestationCheck, ...] = ()
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.reason is None and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failure(self) -> str | None:
        """One line saying why the file is not verified (None when it is)."""
        if self.ok:
            return None
        if self.reason is not None:
            return self.reason
        bad = next(c for c in self.checks if not c.ok)
        return f"{bad.source}: {bad.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "sha256": self.sha256,
            "verified": self.ok,
            "reason": self.failure,
            "attestations": [c.to_json() for c in self.checks],
            "notes": list(self.notes),
        }


def _check(attestation: Attestation, source: str, filename: str, sha256: str, publisher: Publisher, verifier: Verifier) -> AttestationCheck:
    from trustpub.pep740 import AttestationRejected, verify_attestation

    index, integrated = log_position(attestation)
    try:
        predicate_type = verify_attestation(
            attestation, filename=filename, sha256=sha256, publisher=publisher, verifier=verifier
        )
    except AttestationRejected as exc:
        _logger.debug("%s: rejected: %s", source, exc.reason)
        return AttestationCheck(source, False, None, index, integrated, short_reason(exc.reason))
    except ValueError as exc:  # the dist filename itself is not a wheel or sdist name
        return AttestationCheck(source, False, None, index, integrated, str(exc))
    return AttestationCheck(source, True, predicate_type, index, integrated)


def verify_files(
    filename: str,
    sha256: str,
    paths: Sequence[Path],
    publisher: Publisher,
    verifier: Verifier,
) -> FileVerification:
    """Verify each attestation file in ``paths`` for the file ``filename`` / ``sha256``."""
    if not paths:
        return FileVerification(filename, sha256, reason="no attestation found")
    checks: list[AttestationCheck] = []
    for path in paths:
        try:
            attestation = load_attestation(path)
        except ValueError as exc:
            checks.append(AttestationCheck(path.name, False, reason=str(exc)))
            continue
        checks.append(_check(attestation, path.name, filename, sha256, publisher, verifier))
    return FileVerification(filename, sha256, tuple(checks))


def verify_provenance(
    document: bytes,
    filename: str,
    sha256: str,
    publisher: Publisher,
    verifier: Verifier,
    *,
    source: str = "provenance",
) -> FileVerification:
    """Verify a PEP 740 provenance document (PyPI's integrity API answer) for one file.

    Each attestation is checked against ``publisher`` (what the caller expects), not
    against the publisher the document names: the document only reports it. A
    document naming another publisher gets a note.
    """
    from pydantic import ValidationError
    from pypi_attestations import Provenance

    try:
        provenance = Provenance.model_validate_json(document)
    except ValidationError as exc:
        return FileVerification(filename, sha256, reason=f"{source}: not a PEP 740 provenance document ({validation_reason(exc)})")
    checks: list[AttestationCheck] = []
    notes: list[str] = []
    expected = publisher.model_dump(exclude={"environment"})
    for b, bundle in enumerate(provenance.attestation_bundles, start=1):
        named = bundle.publisher.model_dump(exclude={"environment"})
        if named != expected:
            notes.append(f"{source}: bundle {b} names publisher {named}, not the expected {expected}")
        for a, attestation in enumerate(bundle.attestations, start=1):
            label = f"{source} bundle {b} attestation {a}"
            checks.append(_check(attestation, label, filename, sha256, publisher, verifier))
    if not checks:
        return FileVerification(filename, sha256, reason=f"{source}: the document holds no attestations", notes=tuple(notes))
    return FileVerification(filename, sha256, tuple(checks), notes=tuple(notes))
