"""PEP 740 attestations: sign a release, verify what PyPI will verify, write the files.

::

    from trustpub.attest import Attester, load_trust_config, publisher_from_claims

    token = provider.fetch("sigstore")                      # an OIDCProvider of trustpub.oidc
    attester = Attester(
        load_trust_config("production"),
        lambda: provider.fetch("sigstore").value.reveal(),  # a fresh JWT per certificate
        publisher=publisher_from_claims(token.claims),      # what the index will check
        slsa=True,
    )
    files = attester.attest(dists)                           # reuse, sign, verify, write
    attester.release_provenance(dists, out_dir=default_provenance_dir())

The modules, one job each: ``_statements`` (in-toto statements and their canonical
bytes), ``_trust`` (``--sigstore``: which instance, offline roots), ``_identity``
(publishers and certificate identities), ``_signing`` (one certificate per release,
renewed before it expires), ``_verifier`` (chain checks remembered per certificate),
``_files`` (names and atomic writes), ``_attester`` (the whole step), ``_verify``
(verdicts on files and provenance documents), ``_inspect`` (reading without trusting). sigstore and
pypi-attestations are imported only when something is signed or verified.
"""

from __future__ import annotations

from trustpub.attest._attester import (
    AttestationFailed,
    AttestedFile,
    Attester,
    DistLike,
    unsigned_statements,
)
from trustpub.attest._files import (
    attestation_path,
    default_provenance_dir,
    existing_attestations,
    load_attestation,
    release_provenance_name,
)
from trustpub.attest._identity import (
    CertificateIdentity,
    certificate_identity,
    describe_publisher,
    parse_publisher_spec,
    predict_rejection,
    publisher_from_claims,
)
from trustpub.attest._inspect import InspectedAttestation, inspect_document
from trustpub.attest._signing import SigningError
from trustpub.attest._statements import (
    DEFAULT_BUILDER_ID,
    DEFAULT_INVOCATION_ID,
    PUBLISH_V1,
    SLSA_PROVENANCE_V1,
    STATEMENT_V1,
    CIContext,
    Subject,
    build_statement,
    encode_statement,
    file_slsa_statement,
    publish_statement,
    release_statement,
    rfc3339,
)
from trustpub.attest._trust import SIGSTORE_ENV, TrustTarget, TrustUnavailable, load_trust_config
from trustpub.attest._verify import (
    AttestationCheck,
    FileVerification,
    short_reason,
    verify_files,
    verify_provenance,
)

__all__ = [
    "DEFAULT_BUILDER_ID",
    "DEFAULT_INVOCATION_ID",
    "PUBLISH_V1",
    "SIGSTORE_ENV",
    "SLSA_PROVENANCE_V1",
    "STATEMENT_V1",
    "AttestationCheck",
    "AttestationFailed",
    "AttestedFile",
    "Attester",
    "CIContext",
    "CertificateIdentity",
    "DistLike",
    "FileVerification",
    "InspectedAttestation",
    "SigningError",
    "Subject",
    "TrustTarget",
    "TrustUnavailable",
    "attestation_path",
    "build_statement",
    "certificate_identity",
    "default_provenance_dir",
    "describe_publisher",
    "encode_statement",
    "existing_attestations",
    "file_slsa_statement",
    "inspect_document",
    "load_attestation",
    "load_trust_config",
    "parse_publisher_spec",
    "predict_rejection",
    "publish_statement",
    "publisher_from_claims",
    "release_provenance_name",
    "release_statement",
    "rfc3339",
    "short_reason",
    "unsigned_statements",
    "verify_files",
    "verify_provenance",
]
