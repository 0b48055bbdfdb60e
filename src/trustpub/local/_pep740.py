"""PEP 740 on the local index: the ``attestations`` upload field, checked as PyPI checks it.

Written for the local world from ``warehouse-contract.md`` §3, in the shape of PyPI's
upload path: the field is parsed into a list of attestation objects and its size
checked (PyPI's "extract attestations from the request"), then each attestation is
verified under the trusted publisher's identity for the uploaded file, and the
predicate types are checked across the set (PyPI's ``parse_attestations``).

PyPI verifies with pypi-attestations' ``Attestation.verify``, which always builds the
*production* Sigstore verifier itself; the local index has its own Sigstore trust
root, so it runs the same sequence of checks here with the verifier it is given.  It
shares pypi-attestations' models and sigstore-python's verifier with PyPI (the
libraries PyPI runs), but none of trustpub's client code: trustpub's preflight copy
(``trustpub.pep740``) is the implementation this one is compared against.

Usage::

    from trustpub.local._pep740 import AttestationsRefused, parse_attestations

    try:
        attestations = parse_attestations(field_text, filename, sha256, publisher, verifier)
    except AttestationsRefused as exc:
        ...  # 400 "Invalid attestations supplied during upload: {exc}"
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from pydantic import TypeAdapter, ValidationError
from pypi_attestations import Attestation, AttestationType

if TYPE_CHECKING:
    from pypi_attestations import Publisher
    from sigstore.verify import Verifier

__all__ = ["SUPPORTED_TYPES", "AttestationsRefused", "parse_attestations"]

_logger = logging.getLogger(__name__)

#: One attestation per supported predicate type, so at most two per file.
SUPPORTED_TYPES = frozenset(
    {AttestationType.PYPI_PUBLISH_V1.value, AttestationType.SLSA_PROVENANCE_V1.value}
)
_INTOTO_PAYLOAD = "application/vnd.in-toto+json"
_ATTESTATIONS = TypeAdapter(list[Attestation])


class AttestationsRefused(Exception):
    """The reason text PyPI puts after "Invalid attestations supplied during upload: "."""


class _NotVerified(Exception):
    """What pypi-attestations calls a VerificationError (its text follows "Verification failed: ")."""


def _extract(field_text: str) -> list[Attestation]:
    try:
        attestations = _ATTESTATIONS.validate_json(field_text)
    except ValidationError as exc:
        raise AttestationsRefused(f"Malformed attestations: {exc}") from None
    if not attestations:
        raise AttestationsRefused(
            "Malformed attestations: an empty attestation set is not permitted"
        )
    if len(attestations) > len(SUPPORTED_TYPES):
        raise AttestationsRefused(
            f"A maximum of {len(SUPPORTED_TYPES)} attestations per file are supported"
        )
    return attestations


def _dist_identity(filename: str) -> tuple[Any, ...]:
    """What two filenames must share to name one distribution (names need not be normalized)."""
    if filename.endswith(".whl"):
        return tuple(parse_wheel_filename(filename))
    if filename.endswith((".tar.gz", ".zip")):
        return tuple(parse_sdist_filename(filename))
    raise ValueError(f"unknown distribution format: {filename}")


def _statement(payload: bytes) -> dict[str, Any]:
    """The in-toto v1 statement, validated the way sigstore-python's model validates it."""
    from sigstore.dsse import Statement
    from sigstore.errors import Error

    try:
        Statement(payload)
    except Error as exc:
        detail = str(exc).removeprefix("malformed in-toto statement: ")
        raise _NotVerified(f"invalid statement: {detail}") from None
    document: dict[str, Any] = json.loads(payload)
    return document


def _verify_one(
    attestation: Attestation, filename: str, sha256: str, publisher: Publisher, verifier: Verifier
) -> str:
    """Sigstore, then the statement; returns the predicate type."""
    import sigstore.errors

    policy = publisher._as_policy()
    try:
        payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), policy)
    except sigstore.errors.VerificationError as exc:
        raise _NotVerified(str(exc)) from None
    if payload_type != _INTOTO_PAYLOAD:
        raise _NotVerified(f"expected JSON envelope, got {payload_type}")
    statement = _statement(payload)
    # The model accepts its field names as well as the in-toto keys.
    subjects = statement.get("subject", statement.get("subjects"))
    predicate_type = statement.get("predicateType", statement.get("predicate_type"))
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise _NotVerified("too many subjects in statement (must be exactly one)")
    name = subjects[0].get("name")
    if not name:
        raise _NotVerified("invalid subject: missing name")
    try:
        subject_identity = _dist_identity(name)
    except ValueError as exc:
        raise _NotVerified(f"invalid subject: {exc}") from None
    if subject_identity != _dist_identity(filename):
        raise _NotVerified(f"subject does not match distribution name: {name} != {filename}")
    if subjects[0].get("digest", {}).get("sha256") != sha256:
        raise _NotVerified("subject does not match distribution digest")
    if predicate_type not in {kind.value for kind in AttestationType}:
        raise _NotVerified(f"unknown attestation type: {predicate_type}")
    return str(predicate_type)


def parse_attestations(
    field_text: str,
    filename: str,
    sha256: str,
    publisher: Publisher,
    verifier: Verifier,
) -> list[Attestation]:
    """The verified attestations of one upload, or :class:`AttestationsRefused`.

    ``sha256`` is the index's own lowercase hex digest of the file; ``publisher`` is
    the trusted publisher the upload token was minted for.
    """
    attestations = _extract(field_text)
    _dist_identity(filename)  # the index only gets here with a parseable filename
    seen: set[str] = set()
    for attestation in attestations:
        try:
            predicate_type = _verify_one(attestation, filename, sha256, publisher, verifier)
        except _NotVerified as exc:
            raise AttestationsRefused(
                "Could not verify the uploaded artifact using the included attestation: "
                f"Verification failed: {exc}"
            ) from None
        except Exception as exc:  # as on PyPI: any other failure is reported, not raised
            _logger.debug("unexpected error verifying an attestation for %s: %r", filename, exc)
            raise AttestationsRefused(
                f"Unknown error while trying to verify included attestations: {exc}"
            ) from None
        if predicate_type not in SUPPORTED_TYPES:
            raise AttestationsRefused(
                f"Attestation with unsupported predicate type: {predicate_type}"
            )
        if predicate_type in seen:
            raise AttestationsRefused(
                "Multiple attestations for the same file with the same predicate type "
                f"({predicate_type}) are not supported"
            )
        seen.add(predicate_type)
    return attestations
