"""Verify PEP 740 attestations the way PyPI does, against any Sigstore trust root.

PyPI (Warehouse) checks uploaded attestations with ``pypi_attestations.Attestation.verify``,
which always builds the *production* Sigstore verifier itself.  This module performs the
same checks with a :class:`sigstore.verify.Verifier` supplied by the caller, so the
very same code verifies against production Sigstore (``trustpub verify``) and against
the local Sigstore instance used in tests and rehearsals.  Rejections carry PyPI's own
reason text, so a preflight failure here reads like the upload error PyPI would give.

Usage::

    from pypi_attestations import GitHubPublisher
    from sigstore.verify import Verifier

    from trustpub.pep740 import AttestationRejected, verify_attestation_set

    publisher = GitHubPublisher(repository="octo-org/demo", workflow="release.yml")
    try:
        attestations = verify_attestation_set(
            raw_json,  # the text of the ``attestations`` upload field: a JSON array
            filename="demo-1.0-py3-none-any.whl",
            sha256="<lowercase hex digest of the file>",
            publisher=publisher,
            verifier=Verifier.production(offline=True),
        )
    except AttestationRejected as exc:
        print(exc.upload_message)  # "Invalid attestations supplied during upload: ..."

The checks and their order follow ``warehouse-contract.md`` section 3 and
pypi-attestations 0.0.30 ``Attestation.verify``; a cross-check test runs the real
``Attestation.verify`` against the same inputs so any drift shows up.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import sigstore.errors
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from pydantic import TypeAdapter, ValidationError
from pypi_attestations import Attestation, AttestationType, Publisher
from sigstore.dsse import Envelope as _DsseEnvelope
from sigstore.dsse import _Statement

from trustpub.errors import WouldBeRefused

if TYPE_CHECKING:
    from sigstore.verify import Verifier

__all__ = [
    "MAX_ATTESTATIONS",
    "SUPPORTED_PREDICATE_TYPES",
    "UPLOAD_MESSAGE_PREFIX",
    "AttestationRejected",
    "short_reason",
    "verify_attestation",
    "verify_attestation_set",
]

_logger = logging.getLogger(__name__)

#: Predicate types PyPI accepts, one attestation per type and file.
SUPPORTED_PREDICATE_TYPES: frozenset[str] = frozenset(
    {AttestationType.PYPI_PUBLISH_V1.value, AttestationType.SLSA_PROVENANCE_V1.value}
)

#: PyPI allows one attestation per supported predicate type, so at most this many.
MAX_ATTESTATIONS = len(SUPPORTED_PREDICATE_TYPES)

#: What PyPI puts before every attestation rejection in the upload error.
UPLOAD_MESSAGE_PREFIX = "Invalid attestations supplied during upload: "

_VERIFY_PREFIX = "Could not verify the uploaded artifact using the included attestation: "
_UNKNOWN_PREFIX = "Unknown error while trying to verify included attestations: "

# PyPI's sentences around a Sigstore failure; the detail after them is what a user needs.
_PYPI_PREFIXES = (_VERIFY_PREFIX, _UNKNOWN_PREFIX)


# pypi-attestations 0.0.30 puts the repr of the whole X.509 extension in this message.
_EXTENSION_REPR = re.compile(r"\(<Extension\(.*?(https?://[^'\s]+)'\)>\)>\)")
# sigstore 4.5.1 appends the repr of the whole proof (checkpoint included) to this one.
_PROOF_REPR = re.compile(r"(inclusion proof contains invalid root hash): expected .*", re.DOTALL)


def short_reason(reason: str) -> str:
    """PyPI's rejection text without its generic lead-in sentence, made readable.

    ``Certificate's Build Config URI (<Extension(oid=... value=b'\\x0c`https://...'...)>)``
    becomes ``Certificate's Build Config URI (https://...)``.
    """
    for prefix in _PYPI_PREFIXES:
        if reason.startswith(prefix):
            reason = reason[len(prefix) :]
            break
    reason = _EXTENSION_REPR.sub(r"(\1)", reason)
    return _PROOF_REPR.sub(r"\1 (the entry is not the one the log's checkpoint covers)", reason)


# The DSSE payload type of an in-toto statement; PEP 740 fixes it.
_INTOTO_PAYLOAD_TYPE = _DsseEnvelope._TYPE

_ATTESTATION_LIST = TypeAdapter(list[Attestation])


class AttestationRejected(WouldBeRefused):
    """An attestation (set) that PyPI would refuse; see PEP 740 and PyPI's upload docs.

    ``str(exc)`` and :attr:`reason` are PyPI's reason text, e.g. ``"A maximum of 2
    attestations per file are supported"``; :attr:`upload_message` is the full text
    of the 400 response PyPI sends for it.
    """

    @property
    def upload_message(self) -> str:
        """The message of PyPI's ``400`` upload response for this rejection."""
        return UPLOAD_MESSAGE_PREFIX + self.reason


_DistName = tuple[object, ...]


def _parse_dist_filename(filename: str) -> _DistName:
    """Parse a wheel or sdist filename into the tuple PyPI compares.

    Like pypi-attestations, this does not insist on normalized names: two filenames
    that parse to the same (name, version[, build, tags]) are the same distribution.
    Raises :class:`ValueError` for anything else.
    """
    if filename.endswith(".whl"):
        return tuple(parse_wheel_filename(filename))
    if filename.endswith((".tar.gz", ".zip")):
        return tuple(parse_sdist_filename(filename))
    raise ValueError(f"unknown distribution format: {filename}")


def _failed(detail: str) -> AttestationRejected:
    # pypi-attestations' VerificationError prefixes "Verification failed: ";
    # Warehouse then prefixes its own sentence.
    return AttestationRejected(f"{_VERIFY_PREFIX}Verification failed: {detail}")


def verify_attestation(
    attestation: Attestation,
    *,
    filename: str,
    sha256: str,
    publisher: Publisher,
    verifier: Verifier,
) -> str:
    """Verify one attestation for the file ``filename`` with digest ``sha256``.

    Performs what ``Attestation.verify`` does (Sigstore verification of the DSSE
    envelope under the publisher's identity policy, then the statement checks), with
    the caller's ``verifier`` instead of a hard-wired production one.  Returns the
    statement's predicate type.  Raises :class:`AttestationRejected` with PyPI's text.

    ``sha256`` must be the lowercase hex digest, as PyPI computes it; the subject
    digest is compared as a string, exactly like PyPI does.
    """
    try:
        expected_name = _parse_dist_filename(filename)
    except ValueError as exc:
        raise ValueError(f"{filename!r} is not a wheel or sdist filename: {exc}") from exc

    try:
        policy = publisher._as_policy()
        bundle = attestation.to_bundle()
        payload_type, payload = verifier.verify_dsse(bundle, policy)
    except sigstore.errors.VerificationError as exc:
        _logger.debug("sigstore verification failed for %s: %s", filename, exc)
        raise _failed(str(exc)) from exc
    except Exception as exc:
        # Conversion errors (bad certificate, bad log entry), bundle errors and
        # policy lookups on missing extensions land here, as in Warehouse.
        _logger.debug("unexpected error verifying %s: %r", filename, exc)
        raise AttestationRejected(f"{_UNKNOWN_PREFIX}{exc}") from exc

    if payload_type != _INTOTO_PAYLOAD_TYPE:
        raise _failed(f"expected JSON envelope, got {payload_type}")

    try:
        statement = _Statement.model_validate_json(payload)
    except ValidationError as exc:
        raise _failed(f"invalid statement: {exc}") from exc

    if len(statement.subjects) != 1:
        raise _failed("too many subjects in statement (must be exactly one)")
    subject = statement.subjects[0]
    if not subject.name:
        raise _failed("invalid subject: missing name")

    try:
        subject_name = _parse_dist_filename(subject.name)
    except ValueError as exc:
        raise _failed(f"invalid subject: {exc}") from exc
    if subject_name != expected_name:
        raise _failed(f"subject does not match distribution name: {subject.name} != {filename}")

    digest = subject.digest.root.get("sha256")
    if digest is None or digest != sha256:
        raise _failed("subject does not match distribution digest")

    try:
        AttestationType(statement.predicate_type)
    except ValueError as exc:
        raise _failed(f"unknown attestation type: {statement.predicate_type}") from exc

    _logger.debug("attestation for %s verified (%s)", filename, statement.predicate_type)
    return statement.predicate_type


def verify_attestation_set(
    raw_json: str | bytes,
    *,
    filename: str,
    sha256: str,
    publisher: Publisher,
    verifier: Verifier,
) -> list[Attestation]:
    """Parse and verify the ``attestations`` upload field the way PyPI does.

    The field must be a JSON array of one or two attestation objects with distinct,
    supported predicate types; each must verify under :func:`verify_attestation`.
    Returns the parsed attestations (to be stored as provenance) or raises
    :class:`AttestationRejected` with PyPI's reason text for the first failure.
    """
    try:
        attestations = _ATTESTATION_LIST.validate_json(raw_json)
    except ValidationError as exc:
        raise AttestationRejected(f"Malformed attestations: {exc}") from exc

    # Uploading without attestations means leaving the field out, not sending [].
    if not attestations:
        raise AttestationRejected(
            "Malformed attestations: an empty attestation set is not permitted"
        )
    if len(attestations) > MAX_ATTESTATIONS:
        raise AttestationRejected(
            f"A maximum of {MAX_ATTESTATIONS} attestations per file are supported"
        )

    seen: set[str] = set()
    for attestation in attestations:
        predicate_type = verify_attestation(
            attestation,
            filename=filename,
            sha256=sha256,
            publisher=publisher,
            verifier=verifier,
        )
        if predicate_type not in SUPPORTED_PREDICATE_TYPES:
            raise AttestationRejected(
                f"Attestation with unsupported predicate type: {predicate_type}"
            )
        if predicate_type in seen:
            raise AttestationRejected(
                "Multiple attestations for the same file with the same predicate type "
                f"({predicate_type}) are not supported"
            )
        seen.add(predicate_type)
    return attestations
